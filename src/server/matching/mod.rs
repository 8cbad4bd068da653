//! Matching: who is searching, who is in a call with whom, who won a call's connection race.
//!
//! This is the design's GetRandomUser / Sendmatch / Checkmatch rule, made atomic:
//! - **GetRandomUser**: a search picks a random other searching session: never itself, never
//!   the stranger it just left while anyone else who would take it waits; with preferences
//!   (shared interests, language, text-only) only among those who share one, until the
//!   preference wait ends; never a stranger either of the two blocked ([`blocks`], "never
//!   again"). A pick costs O(1) however many wait (plus one look per waiting stranger the
//!   two blocked).
//! - **Sendmatch**: the pick is recorded on both sides.
//! - **Checkmatch**: the pair is confirmed only when each selected the other and both still
//!   have Call pressed; both then enter one new call and are told. Picking and confirming
//!   happen in one atomic step, so nobody is ever picked by two searches.
//!
//! The switchboard hands a back end one [`Op`] at a time and gets [`Effect`]s back. Two back
//! ends state the rule: [`memory::Matchmaker`] (one server) and [`redis`] (a Lua script that
//! every node runs in Redis). `tests/matching_differential.rs` drives both with the same steps
//! and compares what every visitor sees; [`rules`] states the invariants both must keep.

pub mod blocks;
pub mod memory;
pub mod redis;
pub mod rules;

use crate::protocol::{CallId, EndReason, ErrorCode, Role};
use crate::server::session::{NodeId, SessionId};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub use blocks::Visitor;

/// Something that happened to a session, for the matching back end to act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Call pressed with these (already normalised) preferences; ignored unless idle.
    Call {
        session: SessionId,
        addr: IpAddr,
        /// Who the session is, for blocks.
        #[serde(default)]
        visitor: Visitor,
        interests: Vec<String>,
        text_only: bool,
        /// The preferred language's code, or empty.
        #[serde(default)]
        language: String,
    },
    /// Next: leave the call (the partner searches too) and search; or search from idle.
    Next {
        session: SessionId,
        addr: IpAddr,
        #[serde(default)]
        visitor: Visitor,
    },
    /// End: leave the call or the search and stay idle; the partner searches again.
    End { session: SessionId },
    /// The tab closed: forget the session; its partner searches again.
    Leave { session: SessionId },
    /// A side's connection `role` reached `connected`: the first report of a call wins.
    Connected {
        session: SessionId,
        call: CallId,
        role: Role,
    },
    /// The connect timeout of `call` ran out: unless it connected (or is text-only), both
    /// sides search again.
    Expire { call: CallId },
    /// The preference wait of search number `search` of `session` is over: from now on it
    /// takes anyone.
    Open { session: SessionId, search: u64 },
    /// The tab of `session` lost its socket in a call and may come back: until it does, a call
    /// of its that ends does not make it search again; it leaves matching instead.
    Away { session: SessionId },
    /// The tab of `session` is back with a new socket (after [`Op::Away`]): it is not away any
    /// more, and its call goes on as it stands (its winner too: the tab may have kept the
    /// connection, or races it anew with [`Op::Rejoin`]).
    Back { session: SessionId },
    /// `session` races its call's connections anew (back after a reload, or its connection
    /// could not be brought back in place): the winner of the race is forgotten (and the
    /// connect timeout applies again).
    Rejoin { session: SessionId, call: CallId },
    /// Visitor key `by` never meets `stranger` again, until `until` (Unix seconds).
    Block {
        by: String,
        stranger: Visitor,
        until: i64,
    },
    /// Visitor key `by` clears every block it made, from `session`, which (if searching) looks
    /// again at once: it may take strangers it would not before.
    Unblock { by: String, session: SessionId },
}

/// What a step of matching asks the switchboard of `to`'s node to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Effect {
    /// `to` waits; a search that is not `open` takes anyone after the preference wait, which
    /// ends with [`Op::Open`] for search number `search`.
    Searching {
        to: SessionId,
        search: u64,
        open: bool,
    },
    /// `to` is in a new call with `partner`.
    Matched {
        to: SessionId,
        call: CallId,
        partner: SessionId,
        partner_node: NodeId,
        partner_addr: IpAddr,
        /// The partner's visitor key (whom a block from `to` names; never sent to a browser).
        #[serde(default)]
        partner_key: String,
        /// The interests both listed (empty when none made the match).
        #[serde(default)]
        shared_interests: Vec<String>,
        /// The language both prefer, or empty.
        #[serde(default)]
        shared_language: String,
        partner_text_only: bool,
        /// Either side is text-only: no WebRTC connection to wait for, so no connect timeout.
        text_only: bool,
        /// `to` is the side whose search made the pair: one side of each pair, so the match
        /// is counted and its connect timeout armed once.
        first: bool,
    },
    /// `to`'s call is over for `reason`; `to` searches again (a `searching` or `matched`
    /// follows in the same step).
    Ended {
        to: SessionId,
        call: CallId,
        reason: EndReason,
    },
    /// `to` pressed End (or never pressed Call): it is idle.
    Idle { to: SessionId },
    /// The connection `role` (as `to` names it) won `call`'s race.
    Winner {
        to: SessionId,
        call: CallId,
        role: Role,
    },
    /// `to`'s tab, away from this node, came back on another node, which took the session
    /// over in its call: this node forgets it without ending anything. (Redis only.)
    Moved { to: SessionId },
    /// `to`'s partner in `call` lives on `node` now (its tab came back there). (Redis only.)
    PartnerMoved {
        to: SessionId,
        call: CallId,
        node: NodeId,
    },
}

impl Effect {
    /// The session this effect is for.
    pub fn to(&self) -> SessionId {
        match self {
            Effect::Searching { to, .. }
            | Effect::Matched { to, .. }
            | Effect::Ended { to, .. }
            | Effect::Idle { to }
            | Effect::Winner { to, .. }
            | Effect::Moved { to }
            | Effect::PartnerMoved { to, .. } => *to,
        }
    }
}

/// Why a back end did not carry out an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The op was refused; nothing changed (`not_in_call`, `stale_call`).
    #[error("refused: {0:?}")]
    Refused(ErrorCode),
    /// The back end cannot be reached (Redis lost, or this node was taken for dead).
    #[error("matching is unavailable")]
    Unavailable,
}

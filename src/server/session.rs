//! What every server module says about sessions: their ids, the nodes they live on, where
//! they stand, and why a message of theirs was refused. Imports nothing from the server's
//! other modules, so everything above may use it.

use crate::protocol::{CallId, ErrorCode, ServerMsg, MAX_CHAT_CHARS};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// A connected tab. Drawn at random by the server and never sent to any browser (nodes
/// sharing a Redis name sessions to each other as 32 hex digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct SessionId(pub u128);

impl SessionId {
    /// A fresh unguessable id.
    pub fn random() -> SessionId {
        SessionId(rand::random())
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        format!("{:032x}", id.0)
    }
}

impl TryFrom<String> for SessionId {
    type Error = std::num::ParseIntError;
    fn try_from(hex: String) -> Result<Self, Self::Error> {
        u128::from_str_radix(&hex, 16).map(SessionId)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs show only a prefix: enough to follow one session, useless to impersonate it.
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}

/// One server process among those sharing a Redis (alone, the one node is [`NodeId::local`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// The only node of a server that runs alone.
    pub fn local() -> NodeId {
        NodeId("local".into())
    }

    /// A fresh random id for a node joining the others.
    pub fn random() -> NodeId {
        NodeId(format!("{:016x}", rand::random::<u64>()).into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for NodeId {
    fn from(name: &str) -> NodeId {
        NodeId(name.into())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The other side of a call: who, on which node, from which address (whom a report is
/// about), and its visitor key (whom a block names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub id: SessionId,
    pub node: NodeId,
    pub addr: IpAddr,
    #[serde(default)]
    pub key: String,
}

/// The anonymous key a browser keeps and sends when it connects (`/ws?visitor=…`): 32 hex
/// digits drawn by the server on the visitor's first visit. It is never shown to another
/// visitor; blocks are made by it ("never again").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VisitorKey(String);

impl VisitorKey {
    /// A fresh unguessable key.
    pub fn random() -> VisitorKey {
        VisitorKey(format!("{:032x}", rand::random::<u128>()))
    }

    /// The key a browser sent, if it is one this server could have issued.
    pub fn parse(sent: &str) -> Option<VisitorKey> {
        let well_formed =
            sent.len() == 32 && sent.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        well_formed.then(|| VisitorKey(sent.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A call that ended a moment ago, still open to a report or a block from this side (the
/// page lists it under "Recent strangers"), for [`crate::protocol::RECENT_CALL_SECS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentCall {
    pub call: CallId,
    pub partner: Partner,
    pub shown: bool,
    pub reported: bool,
    pub ended: tokio::time::Instant,
}

/// Where a session stands, as far as the messages it was sent say: the switchboard's view of
/// the design's `Idle` → `Searching` → `InCall` cycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Connected, Call not pressed (or End pressed).
    Idle,
    /// Call pressed, waiting for a stranger.
    Searching,
    /// Paired with `partner` in `call`.
    InCall {
        call: CallId,
        partner: Partner,
        /// The call could show this side something: the partner's own browser reported its
        /// connection up (its media can flow), or the partner wrote to it. Only then may the
        /// partner be reported, so a report cannot be aimed at a stranger who showed nothing.
        shown: bool,
        /// This side already reported the partner: one report per reporter per call.
        reported: bool,
        /// What `matched` told this side, told again if its tab comes back (`resumed`).
        met: Met,
    },
}

/// What a match told one side about the other: what they share, and whether the stranger is
/// text-only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Met {
    pub shared_interests: Vec<String>,
    pub shared_language: String,
    pub partner_text_only: bool,
}

/// Why the server cut a session off: it closes the socket (1008) with this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Its browser did not read fast enough: the queue of messages for it overflowed.
    TooSlow,
    /// Its address was banned.
    Banned,
    /// Its tab came back on a new socket, which took the session over.
    Replaced,
}

impl Cut {
    /// The close frame's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Cut::TooSlow => "too slow: messages for this tab piled up unread",
            Cut::Replaced => "replaced: this tab continues on a newer connection",
            Cut::Banned => "banned",
        }
    }
}

/// A refusal of a client message. The session goes on; nothing was sent to anyone else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("not in a call")]
    NotInCall,
    #[error("call {0} is not your current call")]
    StaleCall(CallId),
    #[error("chat lines may be at most {MAX_CHAT_CHARS} characters long")]
    ChatTooLong,
    #[error("{0}")]
    BadInterests(String),
    #[error("Matching is paused for a moment: this server lost touch with the others. Press Call again shortly.")]
    MatchingUnavailable,
    #[error("There is nothing to report yet: this stranger has not shown or written anything.")]
    NothingShown,
    #[error("You have already reported this stranger.")]
    AlreadyReported,
    #[error("Not a valid message: the SDP is not valid text.")]
    BadSdp,
}

impl SessionError {
    /// The protocol's code for this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::NotInCall => ErrorCode::NotInCall,
            SessionError::StaleCall(_) => ErrorCode::StaleCall,
            SessionError::ChatTooLong => ErrorCode::ChatRefused,
            SessionError::BadInterests(_) => ErrorCode::BadInterests,
            SessionError::MatchingUnavailable => ErrorCode::MatchingUnavailable,
            SessionError::NothingShown | SessionError::AlreadyReported => ErrorCode::ReportRefused,
            SessionError::BadSdp => ErrorCode::BadMessage,
        }
    }

    /// The message that tells the client why.
    pub fn to_msg(&self) -> ServerMsg {
        ServerMsg::error(self.code(), self.to_string())
    }
}

//! The matching rule stated once, as checks on what a back end holds: both back ends'
//! property tests and the differential test call [`check`] after every step and
//! [`check_step`] across it, so the in-memory matchmaker and the Lua script are held to the
//! same invariants:
//! - never with oneself, never in two calls, both sides and the call agree;
//! - a session is in the search pools exactly while it searches;
//! - matching is instant: no two waiting strangers who would take each other;
//! - never again: never a pair either of whom blocked the other;
//! - no rematch with the stranger just left while another who would take you waits;
//! - shared interests (and a shared language) first until the preference wait ends, text-only
//!   with text-only first:
//!   a new pair shares a preference, or both sides take anyone.

use super::blocks::{Blocks, Visitor};
use crate::protocol::CallId;
use crate::server::session::SessionId;
use std::collections::{HashMap, HashSet};

/// What a back end holds, in the words of the rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub sessions: HashMap<SessionId, SessionView>,
    /// Every live call and its two sides.
    pub calls: HashMap<CallId, [SessionId; 2]>,
    /// Who blocked whom.
    pub blocks: Blocks,
}

/// One session, as the rule sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub state: State,
    /// Waits in at least one search pool.
    pub in_pools: bool,
    /// Its last search takes anyone (it had no preferences, or their wait is over).
    pub open: bool,
    /// The stranger of its last finished call.
    pub last_partner: Option<SessionId>,
    pub interests: Vec<String>,
    pub text_only: bool,
    /// The preferred language (empty: any).
    pub language: String,
    /// Who it is, for blocks.
    pub visitor: Visitor,
    /// Its tab lost its socket in a call and may come back.
    pub away: bool,
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Searching,
    InCall { call: CallId, partner: SessionId },
}

impl Snapshot {
    fn get(&self, id: SessionId) -> Option<&SessionView> {
        self.sessions.get(&id)
    }

    /// `a` and `b` just left each other (one is the other's last stranger).
    pub fn just_left(&self, a: SessionId, b: SessionId) -> bool {
        let last = |x| self.get(x).and_then(|s| s.last_partner);
        last(a) == Some(b) || last(b) == Some(a)
    }

    /// Either of `a` and `b` blocked the other.
    pub fn blocked(&self, a: SessionId, b: SessionId) -> bool {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => self.blocks.between(&x.visitor, &y.visitor),
            _ => false,
        }
    }

    /// `a` and `b` share an interest, or both are text-only, or both came for video and prefer
    /// the same language.
    pub fn share_a_preference(&self, a: SessionId, b: SessionId) -> bool {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => {
                (x.text_only && y.text_only)
                    || (!x.text_only
                        && !y.text_only
                        && !x.language.is_empty()
                        && x.language == y.language)
                    || x.interests.iter().any(|t| y.interests.contains(t))
            }
            _ => false,
        }
    }

    /// Whether `who`'s search would take the waiting `other`: both take anyone, or `who` is
    /// still looking for a shared preference and `other` has one.
    pub fn would_take(&self, who: SessionId, other: SessionId) -> bool {
        if self.blocked(who, other) {
            return false;
        }
        match (self.get(who), self.get(other)) {
            (Some(w), Some(o)) if w.open => o.open,
            (Some(_), Some(_)) => self.share_a_preference(who, other),
            _ => false,
        }
    }

    fn searching(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == State::Searching)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }
}

/// The invariants of one moment; the first broken one, in words.
pub fn check(now: &Snapshot) -> Result<(), String> {
    let mut seen_in_calls: HashSet<SessionId> = HashSet::new();
    for (call, [a, b]) in &now.calls {
        if a == b {
            return Err(format!("call {call} has one session on both sides"));
        }
        for (me, other) in [(*a, *b), (*b, *a)] {
            if !seen_in_calls.insert(me) {
                return Err(format!("session {me} is in two calls"));
            }
            let state = now.get(me).map(|s| s.state);
            if state
                != Some(State::InCall {
                    call: *call,
                    partner: other,
                })
            {
                return Err(format!(
                    "call {call} names {me}, which stands {state:?} instead"
                ));
            }
        }
    }
    for (id, s) in &now.sessions {
        match s.state {
            State::InCall { partner, .. } if partner == *id => {
                return Err(format!("session {id} is in a call with itself"))
            }
            State::InCall { call, .. } if !now.calls.contains_key(&call) => {
                return Err(format!(
                    "session {id} is in call {call}, which does not exist"
                ))
            }
            _ => {}
        }
        if s.in_pools != (s.state == State::Searching) {
            return Err(format!(
                "session {id} stands {:?} but is{} in the search pools",
                s.state,
                if s.in_pools { "" } else { " not" }
            ));
        }
    }
    let waiting = now.searching();
    for (i, x) in waiting.iter().enumerate() {
        for y in &waiting[i + 1..] {
            let would = (now.would_take(*x, *y) && now.would_take(*y, *x))
                || now.share_a_preference(*x, *y);
            if would && !now.just_left(*x, *y) && !now.blocked(*x, *y) {
                return Err(format!(
                    "{x} and {y} would take each other, yet both are waiting"
                ));
            }
        }
    }
    Ok(())
}

/// The rules of one step, from `before` to `after`: how new pairs may be made.
pub fn check_step(before: &Snapshot, after: &Snapshot) -> Result<(), String> {
    for (call, [a, b]) in &after.calls {
        if before.calls.contains_key(call) {
            continue;
        }
        let (a, b) = (*a, *b);
        if after.blocked(a, b) {
            return Err(format!(
                "{a} and {b} were paired though one blocked the other"
            ));
        }
        let both_open =
            after.get(a).is_some_and(|s| s.open) && after.get(b).is_some_and(|s| s.open);
        if !both_open && !after.share_a_preference(a, b) {
            return Err(format!(
                "{a} and {b} were paired before the preference wait ended, with no preference in common"
            ));
        }
        if !after.just_left(a, b) {
            continue;
        }
        // Only strangers who waited all through the step count: one who started searching in
        // it (the partner a Next left behind searches after the one who pressed it) may not
        // have been waiting yet when the pair was picked.
        let waited_before = before.searching();
        for z in after.searching() {
            if z == a || z == b || !waited_before.contains(&z) {
                continue;
            }
            for side in [a, b] {
                if after.would_take(side, z) && !after.just_left(side, z) {
                    return Err(format!(
                        "{a} and {b} met again just after leaving each other while {z}, who \
                         {side} would take, waits"
                    ));
                }
            }
        }
    }
    Ok(())
}

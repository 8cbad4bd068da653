//! The matchmaker: who is online, who is searching, who is in a call with whom.
//!
//! This is the seed's GetRandomUser / Sendmatch / Checkmatch rule, run on the server as a
//! synchronous state machine: no sockets, no `.await`, no clock. Every method takes one event
//! (Call pressed, Next, End, a relayed signal, a disconnect) and returns the messages to send
//! and to whom. [`crate::server::hub::Hub`] owns one behind a lock and does the delivery, so
//! every transition is atomic and this file can be tested with plain `#[test]`s.

use crate::protocol::{CallId, ClientMsg, EndReason, ErrorCode, Role, ServerMsg};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::fmt;

/// A connected tab. Drawn at random by the server and never sent to any browser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u128);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs show only a prefix: enough to follow one session, useless to impersonate it.
        write!(f, "{:08x}", (self.0 >> 96) as u32)
    }
}

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected, Call not pressed.
    Idle,
    /// Call pressed, waiting in the pool for a stranger.
    Searching,
    /// Paired with `partner` in `call`.
    InCall { call: CallId, partner: SessionId },
}

/// What the matchmaker knows of one session.
#[derive(Clone, Debug)]
struct Session {
    state: SessionState,
    /// The seed's `calling_clicked`: Call is pressed (searching or in a call).
    calling_clicked: bool,
    /// The seed's Sendmatch: the stranger this session selected, or was selected by, while the
    /// match is being checked. Cleared once the pair is confirmed.
    selected: Option<SessionId>,
    /// The stranger of the last call, so Next never leads straight back to them while someone
    /// else waits.
    last_partner: Option<SessionId>,
}

/// One live call.
#[derive(Clone, Debug)]
struct Call {
    /// The two sides, in the order they were paired.
    sides: [SessionId; 2],
    /// The session whose offer (its `peer1`) carries the call, once a side reported
    /// `connected`. The first report wins; later ones are ignored.
    winner_offerer: Option<SessionId>,
}

/// A refusal of a client message. The session goes on; nothing was sent to anyone else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    #[error("not in a call")]
    NotInCall,
    #[error("call {0} is not your current call")]
    StaleCall(CallId),
}

impl RelayError {
    /// The message that tells the client why.
    pub fn to_msg(&self) -> ServerMsg {
        let code = match self {
            RelayError::NotInCall => ErrorCode::NotInCall,
            RelayError::StaleCall(_) => ErrorCode::StaleCall,
        };
        ServerMsg::error(code, self.to_string())
    }
}

/// What a transition asks the caller to do.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// Messages to deliver, in order.
    pub messages: Vec<(SessionId, ServerMsg)>,
    /// Calls formed by this transition; the hub gives up on each one that does not connect in
    /// time by calling [`Matchmaker::expire`].
    pub new_calls: Vec<CallId>,
}

impl Effects {
    fn send(&mut self, to: SessionId, msg: ServerMsg) {
        self.messages.push((to, msg));
    }
}

/// The set of searching sessions, with O(1) insert, remove and random pick.
#[derive(Debug, Default)]
struct SearchPool {
    members: Vec<SessionId>,
    index: HashMap<SessionId, usize>,
}

impl SearchPool {
    fn insert(&mut self, id: SessionId) {
        if !self.index.contains_key(&id) {
            self.index.insert(id, self.members.len());
            self.members.push(id);
        }
    }

    fn remove(&mut self, id: SessionId) {
        if let Some(at) = self.index.remove(&id) {
            self.members.swap_remove(at);
            if let Some(moved) = self.members.get(at) {
                self.index.insert(*moved, at);
            }
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }
}

/// The whole matching state. See the module header.
pub struct Matchmaker {
    sessions: HashMap<SessionId, Session>,
    pool: SearchPool,
    calls: HashMap<CallId, Call>,
    rng: StdRng,
}

impl Default for Matchmaker {
    fn default() -> Self {
        Self::new(StdRng::from_os_rng())
    }
}

impl Matchmaker {
    /// A matchmaker drawing ids and picks from `rng` (seeded in tests, from the OS otherwise).
    pub fn new(rng: StdRng) -> Self {
        Matchmaker {
            sessions: HashMap::new(),
            pool: SearchPool::default(),
            calls: HashMap::new(),
            rng,
        }
    }

    /// Registers a new session and returns its fresh random id.
    pub fn join(&mut self) -> SessionId {
        let id = loop {
            let id = SessionId(self.rng.random());
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.sessions.insert(
            id,
            Session {
                state: SessionState::Idle,
                calling_clicked: false,
                selected: None,
                last_partner: None,
            },
        );
        id
    }

    /// Forgets a session whose socket closed; its partner, if any, is told and searches again.
    pub fn leave(&mut self, id: SessionId) -> Effects {
        let mut fx = Effects::default();
        let partner = self.hang_up(id, EndReason::PartnerLeft, &mut fx);
        self.pool.remove(id);
        self.sessions.remove(&id);
        if let Some(partner) = partner {
            self.search(partner, &mut fx);
        }
        fx
    }

    /// Handles one message from session `id`.
    pub fn handle(&mut self, id: SessionId, msg: ClientMsg) -> Result<Effects, RelayError> {
        let mut fx = Effects::default();
        match msg {
            ClientMsg::Call => {
                if self.state(id) == Some(SessionState::Idle) {
                    self.search(id, &mut fx);
                }
            }
            ClientMsg::Next => match self.state(id) {
                Some(SessionState::InCall { .. }) => {
                    // The one who pressed Next searches first, so a waiting stranger meets them.
                    let partner = self.hang_up(id, EndReason::PartnerNext, &mut fx);
                    self.search(id, &mut fx);
                    if let Some(partner) = partner {
                        self.search(partner, &mut fx);
                    }
                }
                Some(SessionState::Idle) => self.search(id, &mut fx),
                Some(SessionState::Searching) | None => {}
            },
            ClientMsg::End => {
                let partner = self.hang_up(id, EndReason::PartnerEnded, &mut fx);
                self.pool.remove(id);
                if let Some(me) = self.sessions.get_mut(&id) {
                    me.state = SessionState::Idle;
                    me.calling_clicked = false;
                    fx.send(id, ServerMsg::Idle);
                }
                if let Some(partner) = partner {
                    self.search(partner, &mut fx);
                }
            }
            ClientMsg::Offer { call_id, sdp } => {
                let partner = self.partner_in(id, call_id)?;
                fx.send(partner, ServerMsg::Offer { call_id, sdp });
            }
            ClientMsg::Answer { call_id, sdp } => {
                let partner = self.partner_in(id, call_id)?;
                fx.send(partner, ServerMsg::Answer { call_id, sdp });
            }
            ClientMsg::Ice {
                call_id,
                role,
                candidate,
            } => {
                let partner = self.partner_in(id, call_id)?;
                // The sender's peer1 talks to the partner's peer2, and the other way round.
                fx.send(
                    partner,
                    ServerMsg::Ice {
                        call_id,
                        role: role.counterpart(),
                        candidate,
                    },
                );
            }
            // Recording a report is the moderation store's job (see `ws.rs`); the matching
            // state only vouches that the call is the sender's own.
            ClientMsg::Report { call_id, .. } => {
                self.partner_in(id, call_id)?;
            }
            ClientMsg::Connected { call_id, role } => {
                let partner = self.partner_in(id, call_id)?;
                let call = self
                    .calls
                    .get_mut(&call_id)
                    .ok_or(RelayError::StaleCall(call_id))?;
                if call.winner_offerer.is_none() {
                    let offerer = match role {
                        Role::Peer1 => id,
                        Role::Peer2 => partner,
                    };
                    call.winner_offerer = Some(offerer);
                    for side in [id, partner] {
                        // Each side names the winning connection from its own point of view.
                        let role = if side == offerer {
                            Role::Peer1
                        } else {
                            Role::Peer2
                        };
                        fx.send(side, ServerMsg::Winner { call_id, role });
                    }
                }
            }
        }
        Ok(fx)
    }

    /// Gives up on a call that has not connected yet; both sides are told and search again.
    /// Does nothing if the call is over or connected.
    pub fn expire(&mut self, call_id: CallId) -> Effects {
        let mut fx = Effects::default();
        let Some(call) = self.calls.get(&call_id) else {
            return fx;
        };
        if call.winner_offerer.is_some() {
            return fx;
        }
        let [a, b] = call.sides;
        self.calls.remove(&call_id);
        for side in [a, b] {
            self.set_last_call_over(side, if side == a { b } else { a });
            fx.send(
                side,
                ServerMsg::CallEnded {
                    call_id,
                    reason: EndReason::ConnectTimeout,
                },
            );
        }
        self.search(a, &mut fx);
        self.search(b, &mut fx);
        fx
    }

    /// Sessions online.
    pub fn online(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions waiting in the pool.
    pub fn searching(&self) -> usize {
        self.pool.len()
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Where session `id` stands, if it is online.
    pub fn state(&self, id: SessionId) -> Option<SessionState> {
        self.sessions.get(&id).map(|s| s.state)
    }

    /// The stranger of `id`'s last finished call.
    pub fn last_partner(&self, id: SessionId) -> Option<SessionId> {
        self.sessions.get(&id).and_then(|s| s.last_partner)
    }

    /// Whether `id` has Call pressed (the seed's `calling_clicked`).
    pub fn calling_clicked(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.calling_clicked)
    }

    /// The two sides of every live call, for checks in tests.
    pub fn call_sides(&self) -> Vec<(CallId, [SessionId; 2])> {
        self.calls.iter().map(|(id, c)| (*id, c.sides)).collect()
    }

    /// Every online session id, for checks in tests.
    pub fn session_ids(&self) -> Vec<SessionId> {
        self.sessions.keys().copied().collect()
    }

    /// The partner of `id` if `id` is in call `call_id`; the refusal otherwise.
    pub fn partner_in(&self, id: SessionId, call_id: CallId) -> Result<SessionId, RelayError> {
        match self.state(id) {
            Some(SessionState::InCall { call, partner }) if call == call_id => Ok(partner),
            Some(SessionState::InCall { .. }) => Err(RelayError::StaleCall(call_id)),
            _ => Err(RelayError::NotInCall),
        }
    }

    /// Ends `id`'s call, if it has one: the partner is told why and left without a call (the
    /// caller decides what each side does next). Returns the partner.
    fn hang_up(&mut self, id: SessionId, reason: EndReason, fx: &mut Effects) -> Option<SessionId> {
        let SessionState::InCall { call, partner } = self.state(id)? else {
            return None;
        };
        self.calls.remove(&call);
        self.set_last_call_over(id, partner);
        self.set_last_call_over(partner, id);
        fx.send(
            partner,
            ServerMsg::CallEnded {
                call_id: call,
                reason,
            },
        );
        Some(partner)
    }

    /// Marks `id` as out of its call with `partner`, remembering whom it left.
    fn set_last_call_over(&mut self, id: SessionId, partner: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.state = SessionState::Idle;
            s.selected = None;
            s.last_partner = Some(partner);
        }
    }

    /// Call is pressed for `id`: pair it with a waiting stranger at once, or make it wait.
    fn search(&mut self, id: SessionId, fx: &mut Effects) {
        let Some(me) = self.sessions.get_mut(&id) else {
            return;
        };
        me.calling_clicked = true;
        me.state = SessionState::Searching;
        if let Some(other) = self.get_random_user(id) {
            self.send_match(id, other);
            if self.check_match(id, other) {
                self.pair(id, other, fx);
                return;
            }
            // Checkmatch failing here would be a bug in the bookkeeping above; waiting in the
            // pool is still a safe place to be.
            self.clear_selection(id, other);
        }
        self.pool.insert(id);
        fx.send(id, ServerMsg::Searching);
    }

    /// GetRandomUser: a random waiting stranger for `id`, never `id` itself, and not the
    /// stranger it just left unless nobody else waits.
    ///
    /// Starts at a random place in the pool and walks on past the excluded few (the stranger
    /// `id` just left, and those who just left `id`), so a pick costs O(1) however many wait.
    fn get_random_user(&mut self, id: SessionId) -> Option<SessionId> {
        let n = self.pool.len();
        if n == 0 {
            return None;
        }
        let my_last = self.sessions.get(&id).and_then(|s| s.last_partner);
        let start = self.rng.random_range(0..n);
        let mut fallback = None;
        for step in 0..n {
            let candidate = self.pool.members[(start + step) % n];
            if candidate == id {
                continue;
            }
            let their_last = self.sessions.get(&candidate).and_then(|s| s.last_partner);
            if my_last == Some(candidate) || their_last == Some(id) {
                fallback.get_or_insert(candidate);
                continue;
            }
            return Some(candidate);
        }
        fallback
    }

    /// Sendmatch: record that `a` selected `b`; a waiting `b` accepts whoever selects it.
    fn send_match(&mut self, a: SessionId, b: SessionId) {
        if let Some(s) = self.sessions.get_mut(&a) {
            s.selected = Some(b);
        }
        if let Some(s) = self.sessions.get_mut(&b) {
            s.selected.get_or_insert(a);
        }
    }

    /// Checkmatch: both selected each other and both still have Call pressed and are searching.
    fn check_match(&self, a: SessionId, b: SessionId) -> bool {
        let (Some(sa), Some(sb)) = (self.sessions.get(&a), self.sessions.get(&b)) else {
            return false;
        };
        a != b
            && sa.selected == Some(b)
            && sb.selected == Some(a)
            && sa.calling_clicked
            && sb.calling_clicked
            && sa.state == SessionState::Searching
            && sb.state == SessionState::Searching
    }

    fn clear_selection(&mut self, a: SessionId, b: SessionId) {
        for id in [a, b] {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.selected = None;
            }
        }
    }

    /// Moves a confirmed pair out of the pool into a new call and tells both sides.
    fn pair(&mut self, a: SessionId, b: SessionId, fx: &mut Effects) {
        self.pool.remove(a);
        self.pool.remove(b);
        let call_id = loop {
            let id = CallId(self.rng.random());
            if !self.calls.contains_key(&id) {
                break id;
            }
        };
        self.calls.insert(
            call_id,
            Call {
                sides: [a, b],
                winner_offerer: None,
            },
        );
        for (me, partner) in [(a, b), (b, a)] {
            if let Some(s) = self.sessions.get_mut(&me) {
                s.state = SessionState::InCall {
                    call: call_id,
                    partner,
                };
                s.selected = None;
            }
            fx.send(me, ServerMsg::Matched { call_id });
        }
        fx.new_calls.push(call_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::IceCandidate;

    fn seeded() -> Matchmaker {
        Matchmaker::new(StdRng::seed_from_u64(7))
    }

    fn call_of(mm: &Matchmaker, id: SessionId) -> Option<(CallId, SessionId)> {
        match mm.state(id) {
            Some(SessionState::InCall { call, partner }) => Some((call, partner)),
            _ => None,
        }
    }

    #[test]
    fn a_lone_caller_waits_and_the_next_one_pairs_with_it() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        let fx = mm.handle(a, ClientMsg::Call).unwrap();
        assert_eq!(fx.messages, vec![(a, ServerMsg::Searching)]);
        assert_eq!(mm.searching(), 1);

        let fx = mm.handle(b, ClientMsg::Call).unwrap();
        let (call, partner) = call_of(&mm, b).unwrap();
        assert_eq!(partner, a);
        assert_eq!(call_of(&mm, a), Some((call, b)));
        assert_eq!(fx.new_calls, vec![call]);
        assert!(fx
            .messages
            .contains(&(a, ServerMsg::Matched { call_id: call })));
        assert!(fx
            .messages
            .contains(&(b, ServerMsg::Matched { call_id: call })));
        assert_eq!(mm.searching(), 0);
    }

    #[test]
    fn idle_sessions_are_never_picked() {
        let mut mm = seeded();
        let (a, _idle) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        assert_eq!(mm.state(a), Some(SessionState::Searching));
    }

    #[test]
    fn pressing_call_twice_changes_nothing() {
        let mut mm = seeded();
        let a = mm.join();
        mm.handle(a, ClientMsg::Call).unwrap();
        let fx = mm.handle(a, ClientMsg::Call).unwrap();
        assert!(fx.messages.is_empty());
        assert_eq!(mm.searching(), 1);
    }

    #[test]
    fn next_prefers_a_waiting_stranger_over_the_one_just_left() {
        let mut mm = seeded();
        let (a, b, c) = (mm.join(), mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        mm.handle(c, ClientMsg::Call).unwrap();
        assert_eq!(mm.state(c), Some(SessionState::Searching));

        let (old_call, _) = call_of(&mm, a).unwrap();
        let fx = mm.handle(a, ClientMsg::Next).unwrap();
        assert!(fx.messages.contains(&(
            b,
            ServerMsg::CallEnded {
                call_id: old_call,
                reason: EndReason::PartnerNext
            }
        )));
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(c));
        assert_eq!(mm.state(b), Some(SessionState::Searching));
    }

    #[test]
    fn with_nobody_else_waiting_the_two_may_meet_again() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        mm.handle(a, ClientMsg::Next).unwrap();
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(b));
    }

    #[test]
    fn end_makes_one_side_idle_and_sends_the_other_searching() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let fx = mm.handle(a, ClientMsg::End).unwrap();
        assert!(fx.messages.contains(&(a, ServerMsg::Idle)));
        assert!(fx.messages.contains(&(b, ServerMsg::Searching)));
        assert_eq!(mm.state(a), Some(SessionState::Idle));
        assert!(!mm.calling_clicked(a));
        assert_eq!(mm.state(b), Some(SessionState::Searching));
    }

    #[test]
    fn leaving_frees_the_partner_and_forgets_the_session() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        let fx = mm.leave(a);
        assert_eq!(
            fx.messages[0],
            (
                b,
                ServerMsg::CallEnded {
                    call_id: call,
                    reason: EndReason::PartnerLeft
                }
            )
        );
        assert_eq!(mm.state(b), Some(SessionState::Searching));
        assert_eq!(mm.online(), 1);
        assert_eq!(mm.calls(), 0);
    }

    #[test]
    fn signals_reach_only_the_partner_of_the_named_call() {
        let mut mm = seeded();
        let (a, b, c) = (mm.join(), mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();

        let fx = mm
            .handle(
                a,
                ClientMsg::Offer {
                    call_id: call,
                    sdp: "v=0".into(),
                },
            )
            .unwrap();
        assert_eq!(
            fx.messages,
            vec![(
                b,
                ServerMsg::Offer {
                    call_id: call,
                    sdp: "v=0".into()
                }
            )]
        );

        let stale = CallId(call.0 ^ 1);
        assert_eq!(
            mm.handle(
                a,
                ClientMsg::Answer {
                    call_id: stale,
                    sdp: "x".into()
                }
            ),
            Err(RelayError::StaleCall(stale))
        );
        assert_eq!(
            mm.handle(
                c,
                ClientMsg::Offer {
                    call_id: call,
                    sdp: "x".into()
                }
            ),
            Err(RelayError::NotInCall)
        );
    }

    #[test]
    fn ice_is_delivered_to_the_counterpart_connection() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        let candidate = IceCandidate {
            candidate: "c".into(),
            sdp_mid: None,
            sdp_m_line_index: None,
        };
        let fx = mm
            .handle(
                a,
                ClientMsg::Ice {
                    call_id: call,
                    role: Role::Peer1,
                    candidate: candidate.clone(),
                },
            )
            .unwrap();
        assert_eq!(
            fx.messages,
            vec![(
                b,
                ServerMsg::Ice {
                    call_id: call,
                    role: Role::Peer2,
                    candidate
                }
            )]
        );
    }

    #[test]
    fn the_first_connected_report_wins_and_both_sides_agree() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        // Both connect at once: a reports its peer2 (b's offer), b reports its peer1 (b's offer)
        // and then its peer2 (a's offer). b's offer wins for both.
        let fx = mm
            .handle(
                a,
                ClientMsg::Connected {
                    call_id: call,
                    role: Role::Peer2,
                },
            )
            .unwrap();
        assert_eq!(
            fx.messages,
            vec![
                (
                    a,
                    ServerMsg::Winner {
                        call_id: call,
                        role: Role::Peer2
                    }
                ),
                (
                    b,
                    ServerMsg::Winner {
                        call_id: call,
                        role: Role::Peer1
                    }
                ),
            ]
        );
        for role in [Role::Peer1, Role::Peer2] {
            let fx = mm
                .handle(
                    b,
                    ClientMsg::Connected {
                        call_id: call,
                        role,
                    },
                )
                .unwrap();
            assert!(fx.messages.is_empty(), "only the first report counts");
        }
    }

    #[test]
    fn a_call_that_never_connects_expires_and_both_search_again() {
        let mut mm = seeded();
        let (a, b, c) = (mm.join(), mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        mm.handle(c, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        let fx = mm.expire(call);
        assert!(fx.messages.contains(&(
            a,
            ServerMsg::CallEnded {
                call_id: call,
                reason: EndReason::ConnectTimeout
            }
        )));
        // One of them meets c, the other waits: never straight back to each other.
        let paired_with_c = [a, b]
            .into_iter()
            .filter(|s| call_of(&mm, *s).map(|(_, p)| p) == Some(c))
            .count();
        assert_eq!(paired_with_c, 1);
        assert_eq!(mm.searching(), 1);
    }

    #[test]
    fn a_connected_call_does_not_expire() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::Call).unwrap();
        mm.handle(b, ClientMsg::Call).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        mm.handle(
            a,
            ClientMsg::Connected {
                call_id: call,
                role: Role::Peer1,
            },
        )
        .unwrap();
        assert_eq!(mm.expire(call), Effects::default());
        assert_eq!(mm.calls(), 1);
    }
}

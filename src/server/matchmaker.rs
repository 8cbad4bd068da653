//! The matchmaker: who is online, who is searching, who is in a call with whom.
//!
//! This is the seed's GetRandomUser / Sendmatch / Checkmatch rule, run on the server as a
//! synchronous state machine: no sockets, no `.await`, no clock. Every method takes one event
//! (Call pressed, Next, End, a relayed signal, a disconnect, a timer) and returns the messages
//! to send and to whom. [`crate::server::hub::Hub`] owns one behind a lock and does the
//! delivery and the timers, so every transition is atomic and this file is tested with plain
//! `#[test]`s.
//!
//! A search with preferences (shared interests, text-only) first looks only among strangers
//! who share one, through an index by preference, never a scan; after a wait (a timer the hub
//! runs, ending in [`Matchmaker::open_search`]) it takes anyone.

use crate::protocol::{
    normalize_interests, CallId, ClientMsg, EndReason, ErrorCode, Role, ServerMsg, MAX_CHAT_CHARS,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::fmt;

/// A connected tab. Drawn at random by the server and never sent to any browser (nodes
/// sharing a Redis name sessions to each other as 32 hex digits).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct SessionId(pub u128);

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

/// Where a session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected, Call not pressed.
    Idle,
    /// Call pressed, waiting for a stranger.
    Searching,
    /// Paired with `partner` in `call`.
    InCall { call: CallId, partner: SessionId },
}

/// What a search looks for first, before it takes anyone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Preference {
    Interest(String),
    TextOnly,
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
    /// Interests given with the last Call (normalised).
    interests: Vec<String>,
    /// Text only, as given with the last Call.
    text_only: bool,
    /// Counts searches, so the preference timer of an earlier search does nothing.
    search_gen: u64,
    /// The current search takes anyone (it had no preferences, or their wait is over).
    open: bool,
}

impl Session {
    fn preferences(&self) -> Vec<Preference> {
        let mut prefs: Vec<Preference> = self
            .interests
            .iter()
            .cloned()
            .map(Preference::Interest)
            .collect();
        if self.text_only {
            prefs.push(Preference::TextOnly);
        }
        prefs
    }
}

/// One live call.
#[derive(Clone, Debug)]
struct Call {
    /// The two sides, in the order they were paired.
    sides: [SessionId; 2],
    /// The session whose offer (its `peer1`) carries the call, once a side reported
    /// `connected`. The first report wins; later ones are ignored.
    winner_offerer: Option<SessionId>,
    /// Either side is text-only: the call is chat only, with no WebRTC connection to wait for.
    text_only: bool,
}

/// A refusal of a client message. The session goes on; nothing was sent to anyone else.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
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
}

impl RelayError {
    /// The message that tells the client why.
    pub fn to_msg(&self) -> ServerMsg {
        let code = match self {
            RelayError::NotInCall => ErrorCode::NotInCall,
            RelayError::StaleCall(_) => ErrorCode::StaleCall,
            RelayError::ChatTooLong => ErrorCode::ChatRefused,
            RelayError::BadInterests(_) => ErrorCode::BadInterests,
            RelayError::MatchingUnavailable => ErrorCode::MatchingUnavailable,
        };
        ServerMsg::error(code, self.to_string())
    }
}

/// The server's own rules for what one side sends the other: chat lines have a length limit.
pub fn check_relayable(msg: &ServerMsg) -> Result<(), RelayError> {
    match msg {
        ServerMsg::Chat { text, .. } if text.chars().count() > MAX_CHAT_CHARS => {
            Err(RelayError::ChatTooLong)
        }
        _ => Ok(()),
    }
}

/// What a transition asks the caller to do.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    /// Messages to deliver, in order.
    pub messages: Vec<(SessionId, ServerMsg)>,
    /// Video calls formed by this transition; the hub gives up on each one that does not
    /// connect in time by calling [`Matchmaker::expire`].
    pub new_calls: Vec<CallId>,
    /// Searches that wait for a preferred stranger; after the preference wait the hub calls
    /// [`Matchmaker::open_search`] with the session and its search number.
    pub preference_waits: Vec<(SessionId, u64)>,
}

impl Effects {
    fn send(&mut self, to: SessionId, msg: ServerMsg) {
        self.messages.push((to, msg));
    }
}

/// A set of searching sessions, with O(1) insert, remove and random pick.
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

    fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// The outcome of looking through one pool.
enum Pick {
    /// A stranger to pair with.
    Found(SessionId),
    /// Only strangers just left (the first one seen), or nobody.
    Excluded(Option<SessionId>),
}

/// The whole matching state. See the module header.
pub struct Matchmaker {
    sessions: HashMap<SessionId, Session>,
    /// Searching sessions that take anyone.
    open_pool: SearchPool,
    /// Searching sessions by preference (open or not yet), so a search finds a stranger with a
    /// shared interest without scanning anyone.
    by_preference: HashMap<Preference, SearchPool>,
    /// How many sessions are searching (in any pool).
    waiting: usize,
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
            open_pool: SearchPool::default(),
            by_preference: HashMap::new(),
            waiting: 0,
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
                interests: Vec::new(),
                text_only: false,
                search_gen: 0,
                open: false,
            },
        );
        id
    }

    /// Forgets a session whose socket closed; its partner, if any, is told and searches again.
    pub fn leave(&mut self, id: SessionId) -> Effects {
        let mut fx = Effects::default();
        let partner = self.hang_up(id, EndReason::PartnerLeft, &mut fx);
        self.leave_pool(id);
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
            ClientMsg::Call {
                interests,
                text_only,
            } => {
                let interests =
                    normalize_interests(&interests).map_err(RelayError::BadInterests)?;
                if let Some(me) = self.sessions.get_mut(&id) {
                    if me.state == SessionState::Idle {
                        me.interests = interests;
                        me.text_only = text_only;
                        self.search(id, &mut fx);
                    }
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
                self.leave_pool(id);
                if let Some(me) = self.sessions.get_mut(&id) {
                    me.state = SessionState::Idle;
                    me.calling_clicked = false;
                    fx.send(id, ServerMsg::Idle);
                }
                if let Some(partner) = partner {
                    self.search(partner, &mut fx);
                }
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
            // What is left is passed on to the partner, within the sender's own call only.
            relayed => {
                if let Ok((call_id, relayed)) = relayed.for_partner() {
                    let partner = self.partner_in(id, call_id)?;
                    check_relayable(&relayed)?;
                    fx.send(partner, relayed);
                }
            }
        }
        Ok(fx)
    }

    /// Gives up on a video call that has not connected yet; both sides are told and search
    /// again. Does nothing if the call is over, connected, or text-only.
    pub fn expire(&mut self, call_id: CallId) -> Effects {
        let mut fx = Effects::default();
        let Some(call) = self.calls.get(&call_id) else {
            return fx;
        };
        if call.winner_offerer.is_some() || call.text_only {
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

    /// The preference wait of search number `search_gen` of `id` is over: from now on it
    /// takes anyone. Does nothing if that search has ended.
    pub fn open_search(&mut self, id: SessionId, search_gen: u64) -> Effects {
        let mut fx = Effects::default();
        let Some(me) = self.sessions.get_mut(&id) else {
            return fx;
        };
        if me.state != SessionState::Searching || me.search_gen != search_gen || me.open {
            return fx;
        }
        me.open = true;
        match self.pick_in_open_pool(id) {
            Some(other) => self.confirm(id, other, &mut fx),
            None => self.open_pool.insert(id),
        }
        fx
    }

    /// Sessions online.
    pub fn online(&self) -> usize {
        self.sessions.len()
    }

    /// Sessions waiting for a stranger.
    pub fn searching(&self) -> usize {
        self.waiting
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

    /// Whether `id`'s search takes anyone (checks in tests).
    pub fn takes_anyone(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.open)
    }

    /// Whether `a` and `b` would prefer each other: a shared interest, or both text-only.
    pub fn share_a_preference(&self, a: SessionId, b: SessionId) -> bool {
        match (self.sessions.get(&a), self.sessions.get(&b)) {
            (Some(sa), Some(sb)) => {
                let theirs = sb.preferences();
                sa.preferences().iter().any(|p| theirs.contains(p))
            }
            _ => false,
        }
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
        me.search_gen += 1;
        let prefs = me.preferences();
        me.open = prefs.is_empty();
        let (open, search_gen) = (me.open, me.search_gen);

        let found = if open {
            self.pick_in_open_pool(id)
        } else {
            self.pick_by_preference(id, &prefs)
        };
        if let Some(other) = found {
            self.confirm(id, other, fx);
            if self.state(id) != Some(SessionState::Searching) {
                return;
            }
        }
        self.waiting += 1;
        for pref in prefs {
            self.by_preference.entry(pref).or_default().insert(id);
        }
        if open {
            self.open_pool.insert(id);
        } else {
            fx.preference_waits.push((id, search_gen));
        }
        fx.send(id, ServerMsg::Searching);
    }

    /// Sendmatch and Checkmatch for `id` and the `other` it picked; pairs them if confirmed.
    fn confirm(&mut self, id: SessionId, other: SessionId, fx: &mut Effects) {
        self.send_match(id, other);
        if self.check_match(id, other) {
            self.pair(id, other, fx);
        } else {
            // Checkmatch failing here would be a bug in the bookkeeping above; waiting is
            // still a safe place to be.
            self.clear_selection(id, other);
        }
    }

    /// Takes `id` out of every pool it waits in.
    fn leave_pool(&mut self, id: SessionId) {
        let Some(prefs) = self.sessions.get(&id).map(Session::preferences) else {
            return;
        };
        let was_waiting = self.open_pool.index.contains_key(&id)
            || prefs.iter().any(|p| {
                self.by_preference
                    .get(p)
                    .is_some_and(|pool| pool.index.contains_key(&id))
            });
        if !was_waiting {
            return;
        }
        self.waiting -= 1;
        self.open_pool.remove(id);
        for pref in prefs {
            if let Some(pool) = self.by_preference.get_mut(&pref) {
                pool.remove(id);
                if pool.is_empty() {
                    self.by_preference.remove(&pref);
                }
            }
        }
    }

    /// GetRandomUser among those who take anyone.
    fn pick_in_open_pool(&mut self, id: SessionId) -> Option<SessionId> {
        let pick = Self::pick_in(&self.open_pool, id, &self.sessions, &mut self.rng);
        self.settle(pick)
    }

    /// GetRandomUser among those who share one of `prefs`, trying the preferences in a random
    /// order.
    fn pick_by_preference(&mut self, id: SessionId, prefs: &[Preference]) -> Option<SessionId> {
        let start = self.rng.random_range(0..prefs.len());
        let mut excluded = None;
        for step in 0..prefs.len() {
            let Some(pool) = self.by_preference.get(&prefs[(start + step) % prefs.len()]) else {
                continue;
            };
            match Self::pick_in(pool, id, &self.sessions, &mut self.rng) {
                Pick::Found(other) => return Some(other),
                Pick::Excluded(first) => excluded = excluded.or(first),
            }
        }
        self.settle(Pick::Excluded(excluded))
    }

    /// A pick, allowing the stranger just left only when nobody else this search would take
    /// is waiting. (Strangers waiting for other interests do not count: they would not take
    /// this session, and counting them would leave both waiting for nobody.)
    fn settle(&self, pick: Pick) -> Option<SessionId> {
        match pick {
            Pick::Found(other) => Some(other),
            Pick::Excluded(only) => only,
        }
    }

    /// GetRandomUser in one pool: a random member that is not `id`, not the stranger `id`
    /// just left, and did not just leave `id`. Starts at a random place and walks past the
    /// excluded few, so a pick costs O(1) however many wait.
    fn pick_in(
        pool: &SearchPool,
        id: SessionId,
        sessions: &HashMap<SessionId, Session>,
        rng: &mut StdRng,
    ) -> Pick {
        let n = pool.len();
        if n == 0 {
            return Pick::Excluded(None);
        }
        let my_last = sessions.get(&id).and_then(|s| s.last_partner);
        let start = rng.random_range(0..n);
        let mut excluded = None;
        for step in 0..n {
            let candidate = pool.members[(start + step) % n];
            if candidate == id {
                continue;
            }
            let their_last = sessions.get(&candidate).and_then(|s| s.last_partner);
            if my_last == Some(candidate) || their_last == Some(id) {
                excluded.get_or_insert(candidate);
                continue;
            }
            return Pick::Found(candidate);
        }
        Pick::Excluded(excluded)
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

    /// Moves a confirmed pair out of the pools into a new call and tells both sides.
    fn pair(&mut self, a: SessionId, b: SessionId, fx: &mut Effects) {
        self.leave_pool(a);
        self.leave_pool(b);
        let call_id = loop {
            let id = CallId(self.rng.random());
            if !self.calls.contains_key(&id) {
                break id;
            }
        };
        let (Some(sa), Some(sb)) = (self.sessions.get(&a), self.sessions.get(&b)) else {
            return;
        };
        let shared: Vec<String> = sa
            .interests
            .iter()
            .filter(|tag| sb.interests.contains(tag))
            .cloned()
            .collect();
        let text_only = sa.text_only || sb.text_only;
        let partner_text_only = [(a, sb.text_only), (b, sa.text_only)];
        self.calls.insert(
            call_id,
            Call {
                sides: [a, b],
                winner_offerer: None,
                text_only,
            },
        );
        for ((me, partner), (_, partner_text_only)) in
            [(a, b), (b, a)].into_iter().zip(partner_text_only)
        {
            if let Some(s) = self.sessions.get_mut(&me) {
                s.state = SessionState::InCall {
                    call: call_id,
                    partner,
                };
                s.selected = None;
            }
            fx.send(
                me,
                ServerMsg::Matched {
                    call_id,
                    shared_interests: shared.clone(),
                    partner_text_only,
                },
            );
        }
        if !text_only {
            fx.new_calls.push(call_id);
        }
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
        let fx = mm.handle(a, ClientMsg::call()).unwrap();
        assert_eq!(fx.messages, vec![(a, ServerMsg::Searching)]);
        assert_eq!(mm.searching(), 1);

        let fx = mm.handle(b, ClientMsg::call()).unwrap();
        let (call, partner) = call_of(&mm, b).unwrap();
        assert_eq!(partner, a);
        assert_eq!(call_of(&mm, a), Some((call, b)));
        assert_eq!(fx.new_calls, vec![call]);
        assert!(fx.messages.contains(&(
            a,
            ServerMsg::Matched {
                call_id: call,
                shared_interests: vec![],
                partner_text_only: false
            }
        )));
        assert!(fx.messages.contains(&(
            b,
            ServerMsg::Matched {
                call_id: call,
                shared_interests: vec![],
                partner_text_only: false
            }
        )));
        assert_eq!(mm.searching(), 0);
    }

    #[test]
    fn idle_sessions_are_never_picked() {
        let mut mm = seeded();
        let (a, _idle) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::call()).unwrap();
        assert_eq!(mm.state(a), Some(SessionState::Searching));
    }

    #[test]
    fn pressing_call_twice_changes_nothing() {
        let mut mm = seeded();
        let a = mm.join();
        mm.handle(a, ClientMsg::call()).unwrap();
        let fx = mm.handle(a, ClientMsg::call()).unwrap();
        assert!(fx.messages.is_empty());
        assert_eq!(mm.searching(), 1);
    }

    #[test]
    fn next_prefers_a_waiting_stranger_over_the_one_just_left() {
        let mut mm = seeded();
        let (a, b, c) = (mm.join(), mm.join(), mm.join());
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
        mm.handle(c, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
        mm.handle(a, ClientMsg::Next).unwrap();
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(b));
    }

    #[test]
    fn end_makes_one_side_idle_and_sends_the_other_searching() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
        mm.handle(c, ClientMsg::call()).unwrap();
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

    fn call_with(interests: &[&str], text_only: bool) -> ClientMsg {
        ClientMsg::Call {
            interests: interests.iter().map(|s| s.to_string()).collect(),
            text_only,
        }
    }

    fn matched_msg(fx: &Effects, to: SessionId) -> Option<ServerMsg> {
        fx.messages
            .iter()
            .find(|(who, m)| *who == to && matches!(m, ServerMsg::Matched { .. }))
            .map(|(_, m)| m.clone())
    }

    #[test]
    fn a_shared_interest_is_preferred_over_whoever_waits() {
        let mut mm = seeded();
        let (anyone, jazz_fan, chess_fan) = (mm.join(), mm.join(), mm.join());
        mm.handle(anyone, ClientMsg::call()).unwrap();
        let fx = mm.handle(jazz_fan, call_with(&["Jazz"], false)).unwrap();
        // jazz_fan waits for a fellow fan rather than taking `anyone` at once.
        assert_eq!(mm.state(jazz_fan), Some(SessionState::Searching));
        let (_, gen) = fx.preference_waits[0];
        let fx = mm
            .handle(chess_fan, call_with(&["chess", "jazz"], false))
            .unwrap();
        let Some(ServerMsg::Matched {
            shared_interests, ..
        }) = matched_msg(&fx, chess_fan)
        else {
            panic!("chess_fan should meet jazz_fan")
        };
        assert_eq!(shared_interests, vec!["jazz".to_owned()]);
        assert_eq!(call_of(&mm, jazz_fan).map(|(_, p)| p), Some(chess_fan));
        // The old wait's timer finds the search over and does nothing.
        assert_eq!(mm.open_search(jazz_fan, gen), Effects::default());
        assert_eq!(mm.state(anyone), Some(SessionState::Searching));
    }

    #[test]
    fn after_the_wait_a_search_with_interests_takes_anyone() {
        let mut mm = seeded();
        let (anyone, jazz_fan) = (mm.join(), mm.join());
        mm.handle(anyone, ClientMsg::call()).unwrap();
        let fx = mm.handle(jazz_fan, call_with(&["jazz"], false)).unwrap();
        let (id, gen) = fx.preference_waits[0];
        let fx = mm.open_search(id, gen);
        let Some(ServerMsg::Matched {
            shared_interests, ..
        }) = matched_msg(&fx, jazz_fan)
        else {
            panic!("jazz_fan should meet anyone now")
        };
        assert!(shared_interests.is_empty());
        assert!(mm.takes_anyone(jazz_fan) || mm.state(jazz_fan) != Some(SessionState::Searching));
    }

    #[test]
    fn text_only_visitors_meet_each_other_in_a_call_with_no_connect_timeout() {
        let mut mm = seeded();
        let (video, text_a, text_b) = (mm.join(), mm.join(), mm.join());
        mm.handle(video, ClientMsg::call()).unwrap();
        mm.handle(text_a, call_with(&[], true)).unwrap();
        let fx = mm.handle(text_b, call_with(&[], true)).unwrap();
        assert_eq!(call_of(&mm, text_a).map(|(_, p)| p), Some(text_b));
        assert!(fx.new_calls.is_empty(), "no WebRTC to wait for");
        assert_eq!(
            matched_msg(&fx, text_a),
            Some(ServerMsg::Matched {
                call_id: call_of(&mm, text_a).unwrap().0,
                shared_interests: vec![],
                partner_text_only: true
            })
        );
        let (call, _) = call_of(&mm, text_a).unwrap();
        assert_eq!(mm.expire(call), Effects::default());
    }

    #[test]
    fn bad_interests_are_refused_and_nothing_changes() {
        let mut mm = seeded();
        let a = mm.join();
        let long = "x".repeat(40);
        assert!(matches!(
            mm.handle(a, call_with(&[long.as_str()], false)),
            Err(RelayError::BadInterests(_))
        ));
        assert_eq!(mm.state(a), Some(SessionState::Idle));
    }

    #[test]
    fn chat_typing_and_media_reach_the_partner_only_and_long_lines_are_refused() {
        let mut mm = seeded();
        let (a, b, _c) = (mm.join(), mm.join(), mm.join());
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
        let (call, _) = call_of(&mm, a).unwrap();
        let fx = mm
            .handle(
                a,
                ClientMsg::Chat {
                    call_id: call,
                    text: "<b>hi</b>".into(),
                },
            )
            .unwrap();
        assert_eq!(
            fx.messages,
            vec![(
                b,
                ServerMsg::Chat {
                    call_id: call,
                    text: "<b>hi</b>".into()
                }
            )]
        );
        assert_eq!(
            mm.handle(
                a,
                ClientMsg::Chat {
                    call_id: call,
                    text: "y".repeat(MAX_CHAT_CHARS + 1)
                }
            ),
            Err(RelayError::ChatTooLong)
        );
        let fx = mm
            .handle(
                b,
                ClientMsg::Media {
                    call_id: call,
                    mic: false,
                    camera: true,
                },
            )
            .unwrap();
        assert_eq!(fx.messages[0].0, a);
    }

    #[test]
    fn strangers_waiting_for_other_interests_do_not_keep_two_who_just_left_apart() {
        let mut mm = seeded();
        let (fan, a, b) = (mm.join(), mm.join(), mm.join());
        // Someone waits, but only for a fellow chess fan.
        mm.handle(fan, call_with(&["chess"], false)).unwrap();
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
        mm.handle(a, ClientMsg::Next).unwrap();
        // Nobody else would take either of them, so they meet again rather than both wait.
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(b));
        assert_eq!(mm.state(fan), Some(SessionState::Searching));
    }

    #[test]
    fn a_connected_call_does_not_expire() {
        let mut mm = seeded();
        let (a, b) = (mm.join(), mm.join());
        mm.handle(a, ClientMsg::call()).unwrap();
        mm.handle(b, ClientMsg::call()).unwrap();
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

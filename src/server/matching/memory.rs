//! The matchmaker of a server that runs alone: the design's GetRandomUser / Sendmatch /
//! Checkmatch rule (see [`crate::server::matching`]) as a synchronous state machine: no
//! sockets, no `.await`, no clock. Each [`Op`] goes in, the [`Effect`]s come out; the
//! switchboard holds it behind one lock and does the delivery and the timers, so every step is
//! atomic and this file is tested with plain `#[test]`s. Its twin for several nodes is
//! `redis/matchmaker.lua`; the differential test keeps the two in step.
//!
//! A search with preferences (shared interests, text-only) first looks only among strangers
//! who share one, through an index by preference, never a scan; after the preference wait
//! ([`Op::Open`]) it takes anyone.

use super::blocks::{Blocks, Visitor};
use super::rules::{self, Snapshot};
use super::{Effect, MatchError, Op};
use crate::protocol::{CallId, EndReason, ErrorCode, Role};
use crate::server::session::{NodeId, SessionId};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::IpAddr;

/// Where a session stands in the matchmaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Call not pressed.
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
    Language(String),
    TextOnly,
}

/// What the matchmaker knows of one session: made when it first presses Call or Next,
/// forgotten when its tab closes.
#[derive(Clone, Debug)]
struct Session {
    /// The node the session's socket is on, and its address (whom a report is about).
    node: NodeId,
    addr: IpAddr,
    /// Who it is, for blocks.
    visitor: Visitor,
    state: SessionState,
    /// The design's `calling_clicked`: Call is pressed (searching or in a call).
    calling_clicked: bool,
    /// The design's Sendmatch: the stranger this session selected, or was selected by, while
    /// the match is being checked. Cleared once the pair is confirmed.
    selected: Option<SessionId>,
    /// The stranger of the last call, so Next never leads straight back to them while someone
    /// else waits.
    last_partner: Option<SessionId>,
    /// Interests given with the last Call (normalised).
    interests: Vec<String>,
    /// Text only, as given with the last Call.
    text_only: bool,
    /// The preferred language, as given with the last Call (empty: any).
    language: String,
    /// Counts searches, so the preference timer of an earlier search does nothing.
    search_gen: u64,
    /// Its tab lost its socket in a call and may come back (see [`Op::Away`]).
    away: bool,
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
        // A text-only visitor looks for text-only strangers first, whatever their language: a
        // shared language would otherwise pair most of them with people who came for video.
        if !self.language.is_empty() && !self.text_only {
            prefs.push(Preference::Language(self.language.clone()));
        }
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

    fn contains(&self, id: SessionId) -> bool {
        self.index.contains_key(&id)
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
    /// "Never again": who blocked whom.
    blocks: Blocks,
    rng: StdRng,
    /// Picks the next [`Matchmaker::apply`] should make where the rule allows them (searcher
    /// to stranger): how the differential test has this matchmaker follow the Lua script's
    /// random choices. Empty outside that test.
    steer: HashMap<SessionId, SessionId>,
}

impl Default for Matchmaker {
    fn default() -> Self {
        Self::new(StdRng::from_os_rng())
    }
}

impl Matchmaker {
    /// A matchmaker drawing call ids and picks from `rng` (seeded in tests, from the OS
    /// otherwise).
    pub fn new(rng: StdRng) -> Self {
        Matchmaker {
            sessions: HashMap::new(),
            open_pool: SearchPool::default(),
            by_preference: HashMap::new(),
            waiting: 0,
            calls: HashMap::new(),
            blocks: Blocks::default(),
            rng,
            steer: HashMap::new(),
        }
    }

    /// Carries out `op` for a session of `node` and returns what each session must be told,
    /// in order. A refusal changes nothing.
    pub fn apply(&mut self, node: &NodeId, op: Op) -> Result<Vec<Effect>, MatchError> {
        let mut fx = Vec::new();
        let result = self.step(node, op, &mut fx);
        self.steer.clear();
        result.map(|()| fx)
    }

    /// For the next [`Matchmaker::apply`] only: when `searcher` picks and the rule allows
    /// `stranger`, pick `stranger`. (The differential test makes the picks of the Lua script.)
    pub fn steer(&mut self, searcher: SessionId, stranger: SessionId) {
        self.steer.insert(searcher, stranger);
    }

    fn step(&mut self, node: &NodeId, op: Op, fx: &mut Vec<Effect>) -> Result<(), MatchError> {
        match op {
            Op::Call {
                session,
                addr,
                visitor,
                interests,
                text_only,
                language,
            } => {
                let me = self.ensure(session, node, addr, visitor);
                if me.state == SessionState::Idle {
                    me.interests = interests;
                    me.text_only = text_only;
                    me.language = language;
                    self.search(session, fx);
                }
            }
            Op::Next {
                session,
                addr,
                visitor,
            } => match self.ensure(session, node, addr, visitor).state {
                SessionState::InCall { .. } => {
                    // The one who pressed Next searches first, so a waiting stranger meets them.
                    let partner = self.hang_up(session, EndReason::PartnerNext, fx);
                    self.search(session, fx);
                    if let Some(partner) = partner {
                        self.search_again(partner, fx);
                    }
                }
                SessionState::Idle => self.search(session, fx),
                SessionState::Searching => {}
            },
            Op::End { session } => {
                let partner = self.hang_up(session, EndReason::PartnerEnded, fx);
                self.leave_pool(session);
                if let Some(me) = self.sessions.get_mut(&session) {
                    me.state = SessionState::Idle;
                    me.calling_clicked = false;
                }
                // Never pressing Call is idle too: End is always confirmed.
                fx.push(Effect::Idle { to: session });
                if let Some(partner) = partner {
                    self.search_again(partner, fx);
                }
            }
            Op::Leave { session } => {
                let partner = self.hang_up(session, EndReason::PartnerLeft, fx);
                self.leave_pool(session);
                self.sessions.remove(&session);
                if let Some(partner) = partner {
                    self.search_again(partner, fx);
                }
            }
            Op::Connected {
                session,
                call: call_id,
                role,
            } => {
                let partner = self.partner_in(session, call_id)?;
                let call = self
                    .calls
                    .get_mut(&call_id)
                    .ok_or(MatchError::Refused(ErrorCode::StaleCall))?;
                if call.winner_offerer.is_none() {
                    let offerer = match role {
                        Role::Peer1 => session,
                        Role::Peer2 => partner,
                    };
                    call.winner_offerer = Some(offerer);
                    for side in [session, partner] {
                        // Each side names the winning connection from its own point of view.
                        let role = if side == offerer {
                            Role::Peer1
                        } else {
                            Role::Peer2
                        };
                        fx.push(Effect::Winner {
                            to: side,
                            call: call_id,
                            role,
                        });
                    }
                }
            }
            Op::Expire { call } => self.expire(call, fx),
            Op::Away { session } => {
                if let Some(me) = self.sessions.get_mut(&session) {
                    if matches!(me.state, SessionState::InCall { .. }) {
                        me.away = true;
                    }
                }
            }
            Op::Back { session } => {
                if let Some(me) = self.sessions.get_mut(&session) {
                    me.away = false;
                }
            }
            Op::Rejoin { session, call } => {
                if let Some(me) = self.sessions.get_mut(&session) {
                    me.away = false;
                }
                if let Some(call) = self.calls.get_mut(&call) {
                    call.winner_offerer = None;
                }
            }
            Op::Open { session, search } => self.open_search(session, search, fx),
            Op::Block {
                by,
                stranger,
                until,
            } => self.blocks.add(&by, &stranger, until),
            Op::Unblock { by, session } => {
                self.blocks.clear(&by);
                self.look_again(session, fx);
            }
        }
        Ok(())
    }

    /// The record of `id`, made on its first Call or Next.
    fn ensure(
        &mut self,
        id: SessionId,
        node: &NodeId,
        addr: IpAddr,
        visitor: Visitor,
    ) -> &mut Session {
        let session = self.sessions.entry(id).or_insert_with(|| Session {
            node: node.clone(),
            addr,
            visitor: Visitor::default(),
            state: SessionState::Idle,
            calling_clicked: false,
            selected: None,
            last_partner: None,
            interests: Vec::new(),
            text_only: false,
            language: String::new(),
            search_gen: 0,
            away: false,
            open: false,
        });
        session.addr = addr;
        session.visitor = visitor;
        session
    }

    /// Forgets blocks that ended before `now` (Unix seconds). Redis lets them expire; here the
    /// switchboard's housekeeping calls this.
    pub fn forget_ended_blocks(&mut self, now: i64) {
        self.blocks.forget_ended(now);
    }

    /// Gives up on a video call that has not connected yet; both sides are told and search
    /// again. Does nothing if the call is over, connected, or text-only.
    fn expire(&mut self, call_id: CallId, fx: &mut Vec<Effect>) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if call.winner_offerer.is_some() || call.text_only {
            return;
        }
        let [a, b] = call.sides;
        self.calls.remove(&call_id);
        for (side, other) in [(a, b), (b, a)] {
            self.set_last_call_over(side, other);
            fx.push(Effect::Ended {
                to: side,
                call: call_id,
                reason: EndReason::ConnectTimeout,
            });
        }
        self.search_again(a, fx);
        self.search_again(b, fx);
    }

    /// The preference wait of search number `search_gen` of `id` is over: from now on it
    /// takes anyone. Does nothing if that search has ended.
    fn open_search(&mut self, id: SessionId, search_gen: u64, fx: &mut Vec<Effect>) {
        let Some(me) = self.sessions.get_mut(&id) else {
            return;
        };
        if me.state != SessionState::Searching || me.search_gen != search_gen || me.open {
            return;
        }
        me.open = true;
        match self.pick_in_open_pool(id) {
            Some(other) => self.confirm(id, other, fx),
            None => self.open_pool.insert(id),
        }
    }

    /// A search that may take strangers it would not before (its blocks were cleared) looks
    /// again, as it did when it began, without starting over.
    fn look_again(&mut self, id: SessionId, fx: &mut Vec<Effect>) {
        let Some(me) = self.sessions.get(&id) else {
            return;
        };
        if me.state != SessionState::Searching {
            return;
        }
        let (open, prefs) = (me.open, me.preferences());
        // An open search also waits in its preferences' pools, where the strangers who share
        // one would take it: the block may have kept it from one of those too.
        let pick = match open {
            true => match self.open_pick(id) {
                Pick::Excluded(first) => match self.preference_pick(id, &prefs) {
                    Pick::Excluded(second) => Pick::Excluded(first.or(second)),
                    found => found,
                },
                found => found,
            },
            false => self.preference_pick(id, &prefs),
        };
        if let Some(other) = settle(pick) {
            self.confirm(id, other, fx);
        }
    }

    /// Sessions waiting for a stranger.
    pub fn searching(&self) -> usize {
        self.waiting
    }

    /// Calls in progress.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Where session `id` stands, if it ever pressed Call.
    pub fn state(&self, id: SessionId) -> Option<SessionState> {
        self.sessions.get(&id).map(|s| s.state)
    }

    /// Everything the rules speak of, for [`rules::check`] in tests.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for (id, s) in &self.sessions {
            let in_pools = self.open_pool.contains(*id)
                || s.preferences().iter().any(|p| {
                    self.by_preference
                        .get(p)
                        .is_some_and(|pool| pool.contains(*id))
                });
            snapshot.sessions.insert(
                *id,
                rules::SessionView {
                    state: match s.state {
                        SessionState::Idle => rules::State::Idle,
                        SessionState::Searching => rules::State::Searching,
                        SessionState::InCall { call, partner } => {
                            rules::State::InCall { call, partner }
                        }
                    },
                    in_pools,
                    open: s.open,
                    last_partner: s.last_partner,
                    interests: s.interests.clone(),
                    text_only: s.text_only,
                    language: s.language.clone(),
                    visitor: s.visitor.clone(),
                    away: s.away,
                },
            );
        }
        for (id, call) in &self.calls {
            snapshot.calls.insert(*id, call.sides);
        }
        snapshot.blocks = self.blocks.clone();
        snapshot
    }

    /// The partner of `id` if `id` is in call `call_id`; the refusal otherwise.
    fn partner_in(&self, id: SessionId, call_id: CallId) -> Result<SessionId, MatchError> {
        match self.state(id) {
            Some(SessionState::InCall { call, partner }) if call == call_id => Ok(partner),
            Some(SessionState::InCall { .. }) => Err(MatchError::Refused(ErrorCode::StaleCall)),
            _ => Err(MatchError::Refused(ErrorCode::NotInCall)),
        }
    }

    /// Ends `id`'s call, if it has one: the partner is told why and left without a call (the
    /// caller decides what each side does next). Returns the partner.
    fn hang_up(
        &mut self,
        id: SessionId,
        reason: EndReason,
        fx: &mut Vec<Effect>,
    ) -> Option<SessionId> {
        let SessionState::InCall { call, partner } = self.state(id)? else {
            return None;
        };
        self.calls.remove(&call);
        self.set_last_call_over(id, partner);
        self.set_last_call_over(partner, id);
        fx.push(Effect::Ended {
            to: partner,
            call,
            reason,
        });
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

    /// `id`'s call is over and it searches again, as the design says: unless its tab is away
    /// (see [`Op::Away`]); then there is nothing to come back to, and it leaves matching.
    fn search_again(&mut self, id: SessionId, fx: &mut Vec<Effect>) {
        if self.sessions.get(&id).is_some_and(|s| s.away) {
            self.leave_pool(id);
            self.sessions.remove(&id);
        } else {
            self.search(id, fx);
        }
    }

    /// Call is pressed for `id`: pair it with a waiting stranger at once, or make it wait.
    fn search(&mut self, id: SessionId, fx: &mut Vec<Effect>) {
        let Some(me) = self.sessions.get_mut(&id) else {
            return;
        };
        me.calling_clicked = true;
        me.state = SessionState::Searching;
        me.search_gen += 1;
        let prefs = me.preferences();
        me.open = prefs.is_empty();
        let (open, search_gen) = (me.open, me.search_gen);

        if let Some(other) = self.pick(id, open, &prefs) {
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
        }
        fx.push(Effect::Searching {
            to: id,
            search: search_gen,
            open,
        });
    }

    /// Sendmatch and Checkmatch for `id` and the `other` it picked; pairs them if confirmed.
    fn confirm(&mut self, id: SessionId, other: SessionId, fx: &mut Vec<Effect>) {
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
        let was_waiting = self.open_pool.contains(id)
            || prefs.iter().any(|p| {
                self.by_preference
                    .get(p)
                    .is_some_and(|pool| pool.contains(id))
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

    /// GetRandomUser for `id`'s search: among those who take anyone if it is `open`, else
    /// among those who share one of its `prefs`.
    fn pick(&mut self, id: SessionId, open: bool, prefs: &[Preference]) -> Option<SessionId> {
        match open {
            true => self.pick_in_open_pool(id),
            false => self.pick_by_preference(id, prefs),
        }
    }

    /// GetRandomUser among those who take anyone.
    fn pick_in_open_pool(&mut self, id: SessionId) -> Option<SessionId> {
        settle(self.open_pick(id))
    }

    fn open_pick(&mut self, id: SessionId) -> Pick {
        let steer = self.steer.get(&id).copied();
        let known = Known {
            sessions: &self.sessions,
            blocks: &self.blocks,
        };
        Self::pick_in(&self.open_pool, id, steer, known, &mut self.rng)
    }

    /// GetRandomUser among those who share one of `prefs`, trying the preferences in a random
    /// order.
    fn pick_by_preference(&mut self, id: SessionId, prefs: &[Preference]) -> Option<SessionId> {
        settle(self.preference_pick(id, prefs))
    }

    fn preference_pick(&mut self, id: SessionId, prefs: &[Preference]) -> Pick {
        if prefs.is_empty() {
            return Pick::Excluded(None);
        }
        let steer = self.steer.get(&id).copied();
        let known = Known {
            sessions: &self.sessions,
            blocks: &self.blocks,
        };
        let allowed =
            |w: &SessionId| *w != id && !known.just_left(id, *w) && !known.blocked(id, *w);
        if let Some(wanted) = steer.filter(allowed) {
            let waits_for_me = prefs.iter().any(|p| {
                self.by_preference
                    .get(p)
                    .is_some_and(|pool| pool.contains(wanted))
            });
            if waits_for_me {
                return Pick::Found(wanted);
            }
        }
        let start = self.rng.random_range(0..prefs.len());
        let mut excluded = None;
        for step in 0..prefs.len() {
            let Some(pool) = self.by_preference.get(&prefs[(start + step) % prefs.len()]) else {
                continue;
            };
            match Self::pick_in(pool, id, steer, known, &mut self.rng) {
                Pick::Found(other) => return Pick::Found(other),
                Pick::Excluded(first) if first.is_some() && first == steer => excluded = first,
                Pick::Excluded(first) => excluded = excluded.or(first),
            }
        }
        Pick::Excluded(excluded)
    }

    /// GetRandomUser in one pool: a random member that is not `id`, not blocked by or
    /// blocking `id`, not the stranger `id` just left, and did not just leave `id`. Starts at a
    /// random place and walks past the excluded few, so a pick costs O(1) however many wait
    /// (plus one look per waiting stranger the two blocked). `steer` (tests only) is taken
    /// when it waits here and the rule allows it.
    fn pick_in(
        pool: &SearchPool,
        id: SessionId,
        steer: Option<SessionId>,
        known: Known,
        rng: &mut StdRng,
    ) -> Pick {
        let n = pool.len();
        if n == 0 {
            return Pick::Excluded(None);
        }
        let just_left = |candidate| known.just_left(id, candidate);
        let blocked = |candidate| known.blocked(id, candidate);
        if let Some(wanted) = steer.filter(|w| *w != id && pool.contains(*w) && !blocked(*w)) {
            if !just_left(wanted) {
                return Pick::Found(wanted);
            }
        }
        let start = rng.random_range(0..n);
        let mut excluded = None;
        for step in 0..n {
            let candidate = pool.members[(start + step) % n];
            if candidate == id || blocked(candidate) {
                continue;
            }
            if just_left(candidate) {
                if steer == Some(candidate) {
                    excluded = Some(candidate);
                } else {
                    excluded.get_or_insert(candidate);
                }
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

    /// Moves a confirmed pair out of the pools into a new call and tells both sides; `a` is
    /// the side whose search made the pair.
    fn pair(&mut self, a: SessionId, b: SessionId, fx: &mut Vec<Effect>) {
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
        let shared_language = match sa.language == sb.language {
            true => sa.language.clone(),
            false => String::new(),
        };
        let effects = [(a, sb, true), (b, sa, false)].map(|(to, partner_side, first)| {
            let partner = if to == a { b } else { a };
            Effect::Matched {
                to,
                call: call_id,
                partner,
                partner_node: partner_side.node.clone(),
                partner_addr: partner_side.addr,
                partner_key: partner_side.visitor.key.clone(),
                shared_interests: shared.clone(),
                shared_language: shared_language.clone(),
                partner_text_only: partner_side.text_only,
                text_only,
                first,
            }
        });
        self.calls.insert(
            call_id,
            Call {
                sides: [a, b],
                winner_offerer: None,
                text_only,
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
        }
        fx.extend(effects);
    }
}

/// A pick, allowing the stranger just left only when nobody else this search would take is
/// waiting. (Strangers waiting for other interests do not count: they would not take this
/// session, and counting them would leave both waiting for nobody.)
fn settle(pick: Pick) -> Option<SessionId> {
    match pick {
        Pick::Found(other) => Some(other),
        Pick::Excluded(only) => only,
    }
}

/// What a pick looks up about candidates.
#[derive(Clone, Copy)]
struct Known<'a> {
    sessions: &'a HashMap<SessionId, Session>,
    blocks: &'a Blocks,
}

impl Known<'_> {
    /// Whether `a` and `b` just left each other: the one pairing the design never makes while
    /// anyone else who would take them waits.
    fn just_left(&self, a: SessionId, b: SessionId) -> bool {
        let last = |x: SessionId| self.sessions.get(&x).and_then(|s| s.last_partner);
        last(a) == Some(b) || last(b) == Some(a)
    }

    /// Whether either of `a` and `b` blocked the other: the pairing never made.
    fn blocked(&self, a: SessionId, b: SessionId) -> bool {
        match (self.sessions.get(&a), self.sessions.get(&b)) {
            (Some(x), Some(y)) => self.blocks.between(&x.visitor, &y.visitor),
            _ => false,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn seeded() -> Matchmaker {
        Matchmaker::new(StdRng::seed_from_u64(7))
    }

    fn node() -> NodeId {
        NodeId::local()
    }

    fn ids<const N: usize>() -> [SessionId; N] {
        std::array::from_fn(|i| SessionId(i as u128 + 1))
    }

    fn run(mm: &mut Matchmaker, op: Op) -> Vec<Effect> {
        mm.apply(&node(), op).expect("accepted")
    }

    fn call_with(
        mm: &mut Matchmaker,
        id: SessionId,
        interests: &[&str],
        text_only: bool,
    ) -> Vec<Effect> {
        let interests = interests.iter().map(|s| s.to_string()).collect();
        run(
            mm,
            Op::Call {
                language: String::new(),
                session: id,
                addr: ADDR,
                visitor: visitor(id),
                interests,
                text_only,
            },
        )
    }

    fn call(mm: &mut Matchmaker, id: SessionId) -> Vec<Effect> {
        call_with(mm, id, &[], false)
    }

    /// Each test session is its own visitor, from its own address.
    fn visitor(id: SessionId) -> Visitor {
        Visitor {
            key: format!("k{}", id.0),
            addr: format!("a{}", id.0),
        }
    }

    #[test]
    fn strangers_who_blocked_each_other_wait_rather_than_meet_and_others_still_meet_them() {
        let mut mm = seeded();
        let [a, b, c, d] = ids();
        let block = |mm: &mut Matchmaker, by: SessionId, stranger: Visitor| {
            run(
                mm,
                Op::Block {
                    by: visitor(by).key,
                    stranger,
                    until: i64::MAX,
                },
            )
        };
        block(&mut mm, a, visitor(b));
        call(&mut mm, a);
        call(&mut mm, b);
        assert_eq!(mm.searching(), 2, "a blocked b: neither takes the other");
        rules::check(&mm.snapshot()).unwrap();
        call(&mut mm, c);
        assert_eq!(mm.searching(), 1);
        // b from a new browser (a new key) at the same address is still blocked for a.
        let (_, partner_of_c) = call_of(&mm, c).unwrap();
        let waiting = if partner_of_c == a { b } else { a };
        let b_again = Visitor {
            key: "fresh".into(),
            addr: visitor(b).addr,
        };
        let fx = run(
            &mut mm,
            Op::Call {
                language: String::new(),
                session: d,
                addr: ADDR,
                visitor: b_again,
                interests: vec![],
                text_only: false,
            },
        );
        assert_eq!(waiting == a, mm.searching() == 2, "{fx:?}");
        // Cleared: a waiting `a` meets the waiting `d` at once.
        run(
            &mut mm,
            Op::Unblock {
                by: visitor(a).key,
                session: a,
            },
        );
        assert_eq!(mm.searching(), 0);
        rules::check(&mm.snapshot()).unwrap();
    }

    fn next(mm: &mut Matchmaker, id: SessionId) -> Vec<Effect> {
        run(
            mm,
            Op::Next {
                session: id,
                addr: ADDR,
                visitor: visitor(id),
            },
        )
    }

    fn call_of(mm: &Matchmaker, id: SessionId) -> Option<(CallId, SessionId)> {
        match mm.state(id) {
            Some(SessionState::InCall { call, partner }) => Some((call, partner)),
            _ => None,
        }
    }

    fn matched(fx: &[Effect], to: SessionId) -> Option<&Effect> {
        fx.iter()
            .find(|e| matches!(e, Effect::Matched { to: t, .. } if *t == to))
    }

    fn waits(fx: &[Effect]) -> Vec<(SessionId, u64)> {
        fx.iter()
            .filter_map(|e| match e {
                Effect::Searching {
                    to,
                    search,
                    open: false,
                } => Some((*to, *search)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_lone_caller_waits_and_the_next_one_pairs_with_it() {
        let mut mm = seeded();
        let [a, b] = ids();
        let fx = call(&mut mm, a);
        assert_eq!(
            fx,
            vec![Effect::Searching {
                to: a,
                search: 1,
                open: true
            }]
        );
        assert_eq!(mm.searching(), 1);

        let fx = call(&mut mm, b);
        let (call, partner) = call_of(&mm, b).unwrap();
        assert_eq!(partner, a);
        assert_eq!(call_of(&mm, a), Some((call, b)));
        assert_eq!(
            fx,
            vec![
                Effect::Matched {
                    shared_language: String::new(),
                    to: b,
                    call,
                    partner: a,
                    partner_node: node(),
                    partner_addr: ADDR,
                    partner_key: visitor(a).key,
                    shared_interests: vec![],
                    partner_text_only: false,
                    text_only: false,
                    first: true
                },
                Effect::Matched {
                    shared_language: String::new(),
                    to: a,
                    call,
                    partner: b,
                    partner_node: node(),
                    partner_addr: ADDR,
                    partner_key: visitor(b).key,
                    shared_interests: vec![],
                    partner_text_only: false,
                    text_only: false,
                    first: false
                },
            ]
        );
        assert_eq!(mm.searching(), 0);
    }

    #[test]
    fn pressing_call_twice_changes_nothing() {
        let mut mm = seeded();
        let [a] = ids();
        call(&mut mm, a);
        assert!(call(&mut mm, a).is_empty());
        assert_eq!(mm.searching(), 1);
    }

    #[test]
    fn next_prefers_a_waiting_stranger_over_the_one_just_left() {
        let mut mm = seeded();
        let [a, b, c] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        call(&mut mm, c);
        assert_eq!(mm.state(c), Some(SessionState::Searching));
        let (old_call, _) = call_of(&mm, a).unwrap();
        let fx = next(&mut mm, a);
        assert!(fx.contains(&Effect::Ended {
            to: b,
            call: old_call,
            reason: EndReason::PartnerNext
        }));
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(c));
        assert_eq!(mm.state(b), Some(SessionState::Searching));
    }

    #[test]
    fn with_nobody_else_waiting_the_two_may_meet_again() {
        let mut mm = seeded();
        let [a, b] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        next(&mut mm, a);
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(b));
    }

    #[test]
    fn end_makes_one_side_idle_and_sends_the_other_searching() {
        let mut mm = seeded();
        let [a, b] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        let fx = run(&mut mm, Op::End { session: a });
        assert!(fx.contains(&Effect::Idle { to: a }));
        assert!(fx.contains(&Effect::Searching {
            to: b,
            search: 2,
            open: true
        }));
        assert_eq!(mm.state(a), Some(SessionState::Idle));
        assert_eq!(mm.state(b), Some(SessionState::Searching));
    }

    #[test]
    fn end_before_any_call_is_confirmed_with_idle() {
        let mut mm = seeded();
        let [a] = ids();
        assert_eq!(
            run(&mut mm, Op::End { session: a }),
            vec![Effect::Idle { to: a }]
        );
    }

    #[test]
    fn leaving_frees_the_partner_and_forgets_the_session() {
        let mut mm = seeded();
        let [a, b] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        let (call, _) = call_of(&mm, a).unwrap();
        let fx = run(&mut mm, Op::Leave { session: a });
        assert_eq!(
            fx[0],
            Effect::Ended {
                to: b,
                call,
                reason: EndReason::PartnerLeft
            }
        );
        assert_eq!(mm.state(b), Some(SessionState::Searching));
        assert_eq!(mm.state(a), None);
        assert_eq!(mm.calls(), 0);
    }

    #[test]
    fn connected_is_refused_outside_ones_own_call() {
        let mut mm = seeded();
        let [a, b, c] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        let (call, _) = call_of(&mm, a).unwrap();
        let stale = CallId(call.0 ^ 1);
        let connected = |session, call| Op::Connected {
            session,
            call,
            role: Role::Peer1,
        };
        assert_eq!(
            mm.apply(&node(), connected(a, stale)),
            Err(MatchError::Refused(ErrorCode::StaleCall))
        );
        assert_eq!(
            mm.apply(&node(), connected(c, call)),
            Err(MatchError::Refused(ErrorCode::NotInCall))
        );
    }

    #[test]
    fn the_first_connected_report_wins_and_both_sides_agree() {
        let mut mm = seeded();
        let [a, b] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        let (call, _) = call_of(&mm, a).unwrap();
        // Both connect at once: a reports its peer2 (b's offer), b reports its peer1 (b's offer)
        // and then its peer2 (a's offer). b's offer wins for both.
        let fx = run(
            &mut mm,
            Op::Connected {
                session: a,
                call,
                role: Role::Peer2,
            },
        );
        assert_eq!(
            fx,
            vec![
                Effect::Winner {
                    to: a,
                    call,
                    role: Role::Peer2
                },
                Effect::Winner {
                    to: b,
                    call,
                    role: Role::Peer1
                },
            ]
        );
        for role in [Role::Peer1, Role::Peer2] {
            let fx = run(
                &mut mm,
                Op::Connected {
                    session: b,
                    call,
                    role,
                },
            );
            assert!(fx.is_empty(), "only the first report counts");
        }
        assert!(
            run(&mut mm, Op::Expire { call }).is_empty(),
            "a connected call does not expire"
        );
    }

    #[test]
    fn a_call_that_never_connects_expires_and_both_search_again() {
        let mut mm = seeded();
        let [a, b, c] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        call(&mut mm, c);
        let (call, _) = call_of(&mm, a).unwrap();
        let fx = run(&mut mm, Op::Expire { call });
        assert!(fx.contains(&Effect::Ended {
            to: a,
            call,
            reason: EndReason::ConnectTimeout
        }));
        // One of them meets c, the other waits: never straight back to each other.
        let paired_with_c = [a, b]
            .into_iter()
            .filter(|s| call_of(&mm, *s).map(|(_, p)| p) == Some(c))
            .count();
        assert_eq!(paired_with_c, 1);
        assert_eq!(mm.searching(), 1);
    }

    #[test]
    fn a_shared_interest_is_preferred_over_whoever_waits() {
        let mut mm = seeded();
        let [anyone, jazz_fan, chess_fan] = ids();
        call(&mut mm, anyone);
        let fx = call_with(&mut mm, jazz_fan, &["jazz"], false);
        // jazz_fan waits for a fellow fan rather than taking `anyone` at once.
        assert_eq!(mm.state(jazz_fan), Some(SessionState::Searching));
        let [(_, search)] = waits(&fx)[..] else {
            panic!("a preference wait")
        };
        let fx = call_with(&mut mm, chess_fan, &["chess", "jazz"], false);
        let Some(Effect::Matched {
            shared_interests, ..
        }) = matched(&fx, chess_fan)
        else {
            panic!("chess_fan should meet jazz_fan")
        };
        assert_eq!(shared_interests, &vec!["jazz".to_owned()]);
        assert_eq!(call_of(&mm, jazz_fan).map(|(_, p)| p), Some(chess_fan));
        // The old wait's timer finds the search over and does nothing.
        let open = Op::Open {
            session: jazz_fan,
            search,
        };
        assert!(run(&mut mm, open).is_empty());
        assert_eq!(mm.state(anyone), Some(SessionState::Searching));
    }

    #[test]
    fn after_the_wait_a_search_with_interests_takes_anyone() {
        let mut mm = seeded();
        let [anyone, jazz_fan] = ids();
        call(&mut mm, anyone);
        let fx = call_with(&mut mm, jazz_fan, &["jazz"], false);
        let [(session, search)] = waits(&fx)[..] else {
            panic!("a preference wait")
        };
        let fx = run(&mut mm, Op::Open { session, search });
        let Some(Effect::Matched {
            shared_interests, ..
        }) = matched(&fx, jazz_fan)
        else {
            panic!("jazz_fan should meet anyone now")
        };
        assert!(shared_interests.is_empty());
    }

    #[test]
    fn text_only_visitors_meet_each_other_in_a_call_with_no_connect_timeout() {
        let mut mm = seeded();
        let [video, text_a, text_b] = ids();
        call(&mut mm, video);
        call_with(&mut mm, text_a, &[], true);
        let fx = call_with(&mut mm, text_b, &[], true);
        let (call, partner) = call_of(&mm, text_a).unwrap();
        assert_eq!(partner, text_b);
        assert!(matches!(
            matched(&fx, text_a),
            Some(Effect::Matched {
                partner_text_only: true,
                text_only: true,
                ..
            })
        ));
        assert!(run(&mut mm, Op::Expire { call }).is_empty());
    }

    #[test]
    fn strangers_waiting_for_other_interests_do_not_keep_two_who_just_left_apart() {
        let mut mm = seeded();
        let [fan, a, b] = ids();
        // Someone waits, but only for a fellow chess fan.
        call_with(&mut mm, fan, &["chess"], false);
        call(&mut mm, a);
        call(&mut mm, b);
        next(&mut mm, a);
        // Nobody else would take either of them, so they meet again rather than both wait.
        assert_eq!(call_of(&mm, a).map(|(_, p)| p), Some(b));
        assert_eq!(mm.state(fan), Some(SessionState::Searching));
    }

    #[test]
    fn steering_takes_an_allowed_pick_and_refuses_one_the_rule_forbids() {
        let mut mm = seeded();
        let [a, b, c, d] = ids();
        call(&mut mm, a);
        call(&mut mm, b);
        call(&mut mm, c);
        // a and b are in a call; c waits. Steer d to c: allowed.
        mm.steer(d, c);
        call(&mut mm, d);
        assert_eq!(call_of(&mm, d).map(|(_, p)| p), Some(c));
        // a and b are still in their call; e waits. Steering a's Next back to b is not
        // allowed while e waits.
        let e = SessionId(5);
        call(&mut mm, e);
        mm.steer(a, b);
        next(&mut mm, a);
        let partner_of_a = call_of(&mm, a).map(|(_, p)| p);
        assert_eq!(partner_of_a, Some(e));
    }
}

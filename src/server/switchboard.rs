//! The switchboard: every session of this server, written once for both matching back ends.
//!
//! It owns what does not depend on where matching runs: session ids, each session's outbound
//! queue and address, where each session stands ([`Standing`]), input validation, delivery,
//! the timers and the metrics. Matching itself is a narrow back end that turns [`Op`]s into
//! [`Effect`]s: in this process ([`Matchmaker`]) or in Redis ([`RedisEngine`], whose effects
//! arrive through [`NodeHooks`]). Either way [`Board::apply`] turns effects into standing,
//! messages, timers and metrics, here and nowhere else.
//!
//! Relaying follows the pair-only rule twice: a message is accepted only from a session in a
//! call and only for its own call id (the server addresses the partner itself), and it is
//! delivered only while the receiver is still in the call the message names.
//!
//! Delivery never waits: each session's queue holds encoded frames, bounded in count and in
//! bytes. A session whose queue overflows is cut off ([`Cut::TooSlow`]): it leaves matching
//! at once (its partner is told) and its socket task closes the socket, so one slow browser
//! never stalls anybody else and is never matched again.

use crate::protocol::{
    self, check_interests, check_language, CallId, ClientMsg, ErrorCode, RawSdp, ServerMsg,
};
use crate::protocol::{MAX_CHAT_CHARS, RECENT_CALLS, RECENT_CALL_SECS};
use crate::server::matching::memory::Matchmaker;
use crate::server::matching::redis::events::NodeMessage;
use crate::server::matching::redis::{self, Arrival, ConnectError, NodeHooks, RedisEngine};
use crate::server::matching::{Effect, MatchError, Op, Visitor};
use crate::server::metrics::{Metrics, Stats};
use crate::server::session::{
    Cut, Met, NodeId, Partner, RecentCall, SessionError, SessionId, Standing,
};
use crate::server::timers::Timers;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// How the switchboard runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How long a new video call may take to connect before both sides search again.
    pub connect_timeout: Duration,
    /// How long a search with preferences looks only for a stranger who shares one.
    pub preference_wait: Duration,
    /// How many messages may wait for one slow browser before it is cut off.
    pub outbox_capacity: usize,
    /// How many bytes of messages may wait for one slow browser before it is cut off.
    pub outbox_bytes: usize,
    /// How long a session whose tab lost its socket in a call waits for the tab to come back.
    pub reload_grace: Duration,
    /// Share matching with other nodes through this Redis; alone when `None`.
    pub redis: Option<redis::Settings>,
}

/// A cheap-to-clone handle on every session of this server.
#[derive(Clone)]
pub struct Switchboard {
    board: Arc<Board>,
    engine: Arc<Engine>,
}

/// Where matching runs.
enum Engine {
    /// In this process. A std mutex, not a tokio one: each step is short and synchronous, and
    /// its effects are applied before the lock is released, so sessions see steps in order.
    Memory(Box<Mutex<Matchmaker>>),
    /// In Redis, shared with other nodes.
    Redis(RedisEngine),
}

/// A timer the switchboard arms.
#[derive(Debug)]
enum Timer {
    /// The connect timeout of a new video call.
    Expire(CallId),
    /// The end of a search's preference wait.
    OpenSearch(SessionId, u64),
    /// The end of the wait for a tab that lost its socket to come back with this token.
    Linger(SessionId, ResumeToken),
}

/// The sessions and everything that acts on them without the engine.
struct Board {
    node: NodeId,
    /// A std mutex: every critical section is short and never awaits.
    sessions: Mutex<HashMap<SessionId, Entry>>,
    /// How many `sessions` holds, kept by [`Board::add`] and [`Board::remove`] so presence reads
    /// it without the lock (every tab in the lobby looks at it once per interval).
    online: AtomicUsize,
    settings: Settings,
    metrics: Metrics,
    timers: Timers<Timer>,
    /// What other nodes broadcast (moderation), for the moderation service.
    broadcasts: mpsc::Sender<String>,
    /// Sessions cut off, to take out of matching at once (a task runs `Op::Leave` for each).
    evictions: mpsc::UnboundedSender<SessionId>,
    /// Every session by its resume token: a tab coming back finds its session by it, whether
    /// the session lingers (the server saw the old socket go) or not (it did not, yet).
    tokens: Mutex<HashMap<ResumeToken, SessionId>>,
}

/// A tab's secret for coming back to its session (see [`ServerMsg::Visitor`]).
pub type ResumeToken = u128;

/// A session a returning tab took over: what its socket task needs.
pub struct Resumption {
    pub id: SessionId,
    pub outbox: Outbox,
    /// The tab's next resume token (each is good for one return).
    pub resume: ResumeToken,
    /// What the tab is told: its call, as `matched` told it.
    pub resumed: ServerMsg,
}

/// A session in a call whose tab lost its socket, as its node leaves it in Redis for the
/// grace: a tab that comes back on another node of the site takes it over from this, in
/// the same call (its partner's node is told where it went). Its recent calls stay behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handover {
    pub session: SessionId,
    /// Its client address when the call began: whom a report about it concerns.
    pub addr: IpAddr,
    /// Who it is, for blocks.
    pub visitor: Visitor,
    pub call: CallId,
    pub partner: Partner,
    pub shown: bool,
    pub reported: bool,
    pub met: Met,
}

/// What a tab back in its call is told: the call, as `matched` told it.
fn resumed(call: CallId, met: &Met) -> ServerMsg {
    ServerMsg::Resumed {
        call_id: call,
        shared_interests: met.shared_interests.clone(),
        partner_text_only: met.partner_text_only,
        shared_language: met.shared_language.clone(),
    }
}

/// One message, encoded for the wire once, when it is queued.
pub type Frame = String;

/// One session of this server.
struct Entry {
    /// Its queue of frames, and why it was cut off; shared with the socket task.
    link: Arc<Link>,
    /// Its client address: whom a report is about, whom a ban removes.
    addr: IpAddr,
    /// Who it is, for blocks (its visitor key and address hash).
    visitor: Visitor,
    standing: Standing,
    /// Its last few calls, newest last, for a report or a block after Next.
    recent: VecDeque<RecentCall>,
    /// What its tab sends to come back to it after losing the socket.
    resume: ResumeToken,
    /// Its tab lost the socket in a call and may come back (see [`Switchboard::disconnected`]).
    away: bool,
}

/// What a session's queue and its socket task share.
///
/// The queue is a plain deque behind a lock, not a channel: it is empty almost all the time,
/// and an empty deque costs nothing, where a channel per session cost ~1.3 KiB even idle.
#[derive(Default)]
struct Link {
    /// Encoded frames not yet written, oldest first.
    frames: Mutex<VecDeque<Frame>>,
    /// Wakes the socket task when a frame is queued or the session is cut off.
    ready: Notify,
    /// Bytes queued and not yet written to the socket.
    queued: AtomicUsize,
    /// Set once, when the switchboard cuts the session off.
    cut: OnceLock<Cut>,
    /// Whether the session is in a call (its tab then shows no online count; see `presence`).
    in_call: AtomicBool,
}

/// The socket task's end of a session's queue.
pub struct Outbox {
    link: Arc<Link>,
}

impl Link {
    fn frames(&self) -> MutexGuard<'_, VecDeque<Frame>> {
        // Only pushes and pops happen under this lock; a poisoned one still holds frames.
        self.frames
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// The next frame to write; `Err` with the reason once the session is cut off (after what
    /// was queued before the cut).
    pub async fn next(&mut self) -> Result<Frame, Cut> {
        loop {
            if let Some(frame) = self.link.frames().pop_front() {
                return Ok(frame);
            }
            if let Some(cut) = self.link.cut.get() {
                return Err(*cut);
            }
            // A frame queued since the look above left a permit: this returns at once.
            self.link.ready.notified().await;
        }
    }

    /// The next frame if one is queued already, without waiting.
    pub fn try_next(&mut self) -> Option<Frame> {
        self.link.frames().pop_front()
    }

    /// Whether the session is in a call now.
    pub fn in_call(&self) -> bool {
        self.link.in_call.load(Ordering::Relaxed)
    }

    /// A frame of `len` bytes was written: its bytes no longer wait.
    pub fn written(&self, len: usize) {
        self.link.queued.fetch_sub(len, Ordering::Relaxed);
    }
}

impl Switchboard {
    /// Starts the switchboard: alone, or joined to the other nodes through Redis (which must
    /// answer at start). Also returns what other nodes broadcast, for the moderation service.
    pub async fn start(
        settings: Settings,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<(Switchboard, mpsc::Receiver<String>), ConnectError> {
        let (timers, timer_queue) = Timers::new();
        let (broadcasts, broadcast_rx) = mpsc::channel(1024);
        let (evictions, mut evicted) = mpsc::unbounded_channel();
        let node = match settings.redis {
            Some(_) => NodeId::random(),
            None => NodeId::local(),
        };
        let board = Arc::new(Board {
            node: node.clone(),
            sessions: Mutex::new(HashMap::new()),
            online: AtomicUsize::new(0),
            settings: settings.clone(),
            metrics,
            timers,
            broadcasts,
            evictions,
            tokens: Mutex::new(HashMap::new()),
        });
        let engine = match settings.redis {
            None => Engine::Memory(Box::new(Mutex::new(Matchmaker::default()))),
            Some(redis) => Engine::Redis(
                RedisEngine::connect(redis, node, shutdown.clone(), board.clone()).await?,
            ),
        };
        let switchboard = Switchboard {
            board,
            engine: Arc::new(engine),
        };
        let firing = switchboard.clone();
        Timers::run(timer_queue, shutdown, move |timer| {
            let switchboard = firing.clone();
            let op = match timer {
                Timer::Expire(call) => Op::Expire { call },
                Timer::OpenSearch(session, search) => Op::Open { session, search },
                Timer::Linger(session, token) => {
                    tokio::spawn(async move { switchboard.linger_over(session, token).await });
                    return;
                }
            };
            tokio::spawn(async move {
                let _ = switchboard.run(op).await;
            });
        });
        let evicting = switchboard.clone();
        tokio::spawn(async move {
            while let Some(session) = evicted.recv().await {
                let _ = evicting.run(Op::Leave { session }).await;
            }
        });
        Ok((switchboard, broadcast_rx))
    }

    /// Adds a session from `addr`, who is `visitor`; returns its id, the queue its socket
    /// task sends from, and its resume token. The matching back end hears of it only when it
    /// presses Call.
    pub fn register(&self, addr: IpAddr, visitor: Visitor) -> (SessionId, Outbox, ResumeToken) {
        let link = Arc::new(Link::default());
        let mut sessions = self.board.lock();
        let id = loop {
            let id = SessionId::random();
            if !sessions.contains_key(&id) {
                break id;
            }
        };
        let resume = self.board.add(
            &mut sessions,
            id,
            link.clone(),
            addr,
            visitor,
            Standing::Idle,
        );
        (id, Outbox { link }, resume)
    }

    /// Session `id`'s socket is gone. If its tab may come back (it did not end the session
    /// itself, and was not cut off) and it is in a call, the session lingers for
    /// `--reload-grace`: its partner is told the stranger is away, and the call goes on. Any
    /// other session leaves at once (see [`Switchboard::unregister`]).
    pub async fn disconnected(&self, id: SessionId, outbox: &Outbox, may_return: bool) {
        // Taken over by the tab's newer socket: that one speaks for the session now.
        if !self.board.owns(id, outbox) {
            return;
        }
        let grace = self.board.settings.reload_grace;
        if may_return && !grace.is_zero() {
            if let Some((call, token)) = self.board.linger(id) {
                // Matching too: if the call ends meanwhile, the session is not searched for.
                let _ = self.run(Op::Away { session: id }).await;
                let _ = self
                    .relay(id, call, ServerMsg::PartnerAway { call_id: call })
                    .await;
                self.board.timers.arm(Timer::Linger(id, token), grace);
                // On a site of several nodes, the tab may come back on another one.
                if let (Engine::Redis(redis), Some(handover)) =
                    (&*self.engine, self.board.handover(id))
                {
                    let record = serde_json::to_string(&handover).unwrap_or_default();
                    let visitor = handover.visitor.key;
                    redis
                        .linger(id, format!("{token:032x}"), visitor, record, grace)
                        .await;
                }
                return;
            }
        }
        self.unregister(id).await;
    }

    /// The wait for session `id`'s tab is over: unless it came back, the session leaves (its
    /// partner is told the stranger left).
    async fn linger_over(&self, id: SessionId, token: ResumeToken) {
        let gone = {
            let sessions = self.board.lock();
            match sessions.get(&id) {
                Some(entry) => entry.away && entry.resume == token,
                None => false,
            }
        };
        if gone {
            self.unregister(id).await;
        }
    }

    /// A tab that lost its socket comes back with `token`, as visitor key `visitor` (its
    /// hash): if its session still lingers, here or on another node of the site, the new socket
    /// takes it over, in the same call.
    pub async fn resume(&self, token: ResumeToken, visitor: &str) -> Option<Resumption> {
        if let Some(back) = self.resume_here(token, visitor) {
            return Some(back);
        }
        let Engine::Redis(redis) = &*self.engine else {
            return None;
        };
        let (record, partner_node) = redis
            .adopt(format!("{token:032x}"), visitor.to_owned())
            .await?;
        match serde_json::from_str::<Handover>(&record) {
            Ok(handover) => Some(self.board.adopt(handover, partner_node)),
            Err(e) => {
                tracing::warn!("unreadable handover from another node: {e}");
                None
            }
        }
    }

    /// [`Switchboard::resume`] for a session of this node in a call. Usually it lingers (the
    /// server saw the old socket go); but a phone that changed networks may come back before
    /// the server learns that its old socket is dead (nothing arrives from an address that is
    /// gone, until the heartbeat times out): the new socket takes the session over, and the
    /// old one is closed (`Cut::Replaced`), ending nothing.
    fn resume_here(&self, token: ResumeToken, visitor: &str) -> Option<Resumption> {
        let mut sessions = self.board.lock();
        let mut tokens = self.board.tokens();
        let id = *tokens.get(&token)?;
        let entry = sessions.get_mut(&id)?;
        // The token alone is not enough: the browser's own key must come with it.
        if entry.visitor.key != visitor || entry.link.cut.get().is_some() {
            return None;
        }
        let Standing::InCall { call, met, .. } = &entry.standing else {
            return None;
        };
        let resumed = resumed(*call, met);
        if !entry.away {
            let _ = entry.link.cut.set(Cut::Replaced);
            entry.link.ready.notify_one();
        }
        tokens.remove(&token);
        let link = Arc::new(Link::default());
        link.in_call.store(true, Ordering::Relaxed);
        entry.link = link.clone();
        entry.away = false;
        entry.resume = rand::random();
        tokens.insert(entry.resume, id);
        Some(Resumption {
            id,
            outbox: Outbox { link },
            resume: entry.resume,
            resumed,
        })
    }

    /// Session `id`'s tab is back in its call with a new socket: matching stops treating it as
    /// away. Its partner hears it is back from the tab itself ([`ClientMsg::Reconnect`]), since
    /// only the tab knows whether it kept its connection (a lost socket) or must race anew (a
    /// reload).
    pub async fn back(&self, id: SessionId) {
        let _ = self.run(Op::Back { session: id }).await;
    }

    /// Session `id` is back in `call`: its partner is told (`partner_back`). In place, the call
    /// and its winning connection stand; otherwise the two race their connections anew (with
    /// the connect timeout, as after a match).
    async fn rejoined(&self, id: SessionId, call: CallId, in_place: bool) {
        let _ = self
            .relay(
                id,
                call,
                ServerMsg::PartnerBack {
                    call_id: call,
                    in_place,
                },
            )
            .await;
        if in_place {
            return;
        }
        let _ = self.run(Op::Rejoin { session: id, call }).await;
        self.board
            .timers
            .arm(Timer::Expire(call), self.board.settings.connect_timeout);
    }

    /// Removes a session whose socket is gone; its partner, wherever it is, is told.
    pub async fn unregister(&self, id: SessionId) {
        self.board.forget(id);
        // While Redis cannot be reached there is nothing to tell: starting over forgets the
        // session there.
        if self.matching_available() {
            let _ = self.run(Op::Leave { session: id }).await;
        }
    }

    /// Handles one message from session `id` (a report is the moderation service's); a
    /// refusal is returned for the caller to tell the client.
    pub async fn handle(&self, id: SessionId, msg: ClientMsg) -> Result<(), SessionError> {
        match msg {
            ClientMsg::Call {
                interests,
                text_only,
                language,
            } => {
                let interests = check_interests(&interests).map_err(SessionError::BadInterests)?;
                let language = check_language(&language).map_err(SessionError::BadInterests)?;
                self.require_available()?;
                // Call is ignored while searching or in a call.
                let Some((addr, visitor)) =
                    self.board.start_searching(id, |s| *s == Standing::Idle)
                else {
                    return Ok(());
                };
                self.run(Op::Call {
                    session: id,
                    addr,
                    visitor,
                    interests,
                    text_only,
                    language,
                })
                .await
            }
            ClientMsg::Next => {
                self.require_available()?;
                // From here on the old call's signals are refused.
                let Some((addr, visitor)) = self
                    .board
                    .start_searching(id, |s| *s != Standing::Searching)
                else {
                    return Ok(());
                };
                self.run(Op::Next {
                    session: id,
                    addr,
                    visitor,
                })
                .await
            }
            ClientMsg::End => {
                // A match on its way is not for this session any more.
                if self.board.set_standing(id, Standing::Idle).is_none() {
                    return Ok(());
                }
                if !self.matching_available() {
                    self.board.deliver(id, &ServerMsg::Idle);
                    return Ok(());
                }
                self.run(Op::End { session: id }).await
            }
            ClientMsg::Connected { call_id, role } => {
                let partner = self.board.partner_of(id, call_id)?;
                self.require_available()?;
                // This side's own connection is up: the call shows its partner something, so
                // the partner may report it from now on. Told before the engine runs, so the
                // partner is marked before its `winner` can arrive. (A side cannot mark itself:
                // a faked report of its own connection lets it report nobody.)
                self.shown(&partner, call_id).await?;
                self.run(Op::Connected {
                    session: id,
                    call: call_id,
                    role,
                })
                .await
            }
            ClientMsg::Reconnect { call_id, in_place } => {
                self.board.partner_of(id, call_id)?;
                self.require_available()?;
                self.rejoined(id, call_id, in_place).await;
                Ok(())
            }
            // The moderation service's (see `socket`).
            ClientMsg::Report { .. } | ClientMsg::Block { .. } | ClientMsg::ClearBlocks => Ok(()),
            relayed => match relayed.for_partner() {
                Ok((call_id, msg)) => self.relay(id, call_id, msg).await,
                Err(_) => Ok(()),
            },
        }
    }

    /// The address of the stranger `id` met in call `call_id` (its current call, or one of
    /// its recent ones), whom `id` reports now: only once the call could show `id` something,
    /// and only once per call.
    pub fn report_target(&self, id: SessionId, call_id: CallId) -> Result<IpAddr, SessionError> {
        let mut sessions = self.board.lock();
        let entry = sessions.get_mut(&id).ok_or(SessionError::NotInCall)?;
        let (partner, shown, reported) = entry.call_or_recent(call_id)?;
        if !*shown {
            return Err(SessionError::NothingShown);
        }
        if std::mem::replace(reported, true) {
            return Err(SessionError::AlreadyReported);
        }
        Ok(partner.addr)
    }

    /// The stranger `id` met in call `call_id` (its current call, or one of its recent ones),
    /// whom `id` blocks now.
    pub fn block_target(&self, id: SessionId, call_id: CallId) -> Result<Partner, SessionError> {
        let mut sessions = self.board.lock();
        let entry = sessions.get_mut(&id).ok_or(SessionError::NotInCall)?;
        entry
            .call_or_recent(call_id)
            .map(|(partner, ..)| partner.clone())
    }

    /// Visitor key `by` never meets `stranger` again, until `until` (Unix seconds), on every
    /// node: the back end holds blocks where it matches.
    pub async fn block(&self, by: &str, stranger: Visitor, until: i64) -> Result<(), SessionError> {
        self.run(Op::Block {
            by: by.to_string(),
            stranger,
            until,
        })
        .await
    }

    /// Visitor key `by` clears its blocks, from `session` (which looks again if searching).
    pub async fn unblock(&self, by: &str, session: SessionId) -> Result<(), SessionError> {
        self.run(Op::Unblock {
            by: by.to_string(),
            session,
        })
        .await
    }

    /// Forgets blocks that ended before `now` (Unix seconds). Only the in-memory back end
    /// needs telling: Redis expires them itself.
    pub fn forget_ended_blocks(&self, now: i64) {
        if let Engine::Memory(matchmaker) = &*self.engine {
            matchmaker
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .forget_ended_blocks(now);
        }
    }

    /// Sends `farewell` to every session of this server whose address passes `banned`, and
    /// disconnects them (a new ban). Returns once they have left matching, so whatever the
    /// caller does next (the reporter's Next) can never meet them again.
    pub async fn disconnect_where(&self, banned: impl Fn(IpAddr) -> bool, farewell: ServerMsg) {
        let farewell = protocol::encode(&farewell);
        let mut cut = Vec::new();
        {
            let mut sessions = self.board.lock();
            for (id, entry) in sessions.iter_mut().filter(|(_, e)| banned(e.addr)) {
                // The farewell goes out before the socket closes.
                entry.queue(farewell.clone(), *id, &self.board);
                if entry.cut(Cut::Banned) {
                    cut.push(*id);
                }
            }
        }
        for session in cut {
            let _ = self.run(Op::Leave { session }).await;
        }
    }

    /// Tells every other node `payload` (nothing to do alone).
    pub async fn broadcast(&self, payload: String) {
        if let Engine::Redis(redis) = &*self.engine {
            redis.broadcast(payload).await;
        }
    }

    /// Agrees with the other nodes on the key addresses are hashed with (alone: `mine`).
    pub async fn agree_on_key(&self, mine: [u8; 32]) -> Result<[u8; 32], ConnectError> {
        match &*self.engine {
            Engine::Memory(_) => Ok(mine),
            Engine::Redis(redis) => redis.agree_on_key(mine).await,
        }
    }

    /// Sessions online on the whole site: with Redis, this node's now and the others' as of
    /// the last beat.
    pub fn online(&self) -> usize {
        let here = self.board.online.load(Ordering::Relaxed);
        match &*self.engine {
            Engine::Memory(_) => here,
            Engine::Redis(redis) => here + redis.others_online(),
        }
    }

    /// This server's online, searching and in-call counts, read at one instant.
    pub fn stats(&self) -> Stats {
        let sessions = self.board.lock();
        let mut searching = 0;
        let mut sides_here = 0;
        let mut calls_elsewhere = 0;
        for entry in sessions.values() {
            match &entry.standing {
                Standing::Idle => {}
                Standing::Searching => searching += 1,
                Standing::InCall { partner, .. } if partner.node == self.board.node => {
                    sides_here += 1
                }
                Standing::InCall { .. } => calls_elsewhere += 1,
            }
        }
        Stats {
            online: sessions.len(),
            searching,
            calls: sides_here / 2 + calls_elsewhere,
            in_call: sides_here + calls_elsewhere,
        }
    }

    /// Whether this server shares matching with other nodes.
    pub fn clustered(&self) -> bool {
        matches!(&*self.engine, Engine::Redis(_))
    }

    /// Whether matching works: always alone; with Redis, while this node reaches it.
    pub fn matching_available(&self) -> bool {
        match &*self.engine {
            Engine::Memory(_) => true,
            Engine::Redis(redis) => redis.healthy(),
        }
    }

    /// On shutdown, after the sockets closed: with Redis, the other nodes forget this one now.
    pub async fn leave_site(&self) {
        if let Engine::Redis(redis) = &*self.engine {
            redis.leave_site().await;
        }
    }

    fn require_available(&self) -> Result<(), SessionError> {
        if self.matching_available() {
            Ok(())
        } else {
            Err(SessionError::MatchingUnavailable)
        }
    }

    /// Runs one step of matching. In memory its effects are applied before the matchmaker's
    /// lock is released; with Redis they arrive on this node's channel.
    async fn run(&self, op: Op) -> Result<(), SessionError> {
        let named_call = match &op {
            Op::Connected { call, .. } => Some(*call),
            _ => None,
        };
        let result = match &*self.engine {
            Engine::Memory(matchmaker) => {
                let mut matchmaker = matchmaker
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                matchmaker
                    .apply(&self.board.node, op)
                    .map(|effects| self.board.apply(effects))
            }
            Engine::Redis(redis) => redis.run(&op).await,
        };
        result.map_err(|e| match (e, named_call) {
            (MatchError::Refused(ErrorCode::StaleCall), Some(call)) => {
                SessionError::StaleCall(call)
            }
            (MatchError::Refused(_), _) => SessionError::NotInCall,
            (MatchError::Unavailable, _) => SessionError::MatchingUnavailable,
        })
    }

    /// Passes `msg` from `from` to its partner in `call_id`: directly when the partner is on
    /// this node, through the partner node's channel otherwise.
    async fn relay(
        &self,
        from: SessionId,
        call_id: CallId,
        msg: ServerMsg,
    ) -> Result<(), SessionError> {
        let partner = self.board.partner_of(from, call_id)?;
        check_relayable(&msg)?;
        self.board.metrics.relayed(&msg);
        if partner.node == self.board.node {
            self.board.deliver_in_call(partner.id, &msg);
            return Ok(());
        }
        self.relay_elsewhere(&partner, msg).await
    }

    /// Passes an offer or answer from `from` to its partner, its SDP as the browser wrote it
    /// (see [`RawSdp`]); decoded only to cross to another node.
    pub async fn relay_sdp(&self, from: SessionId, sdp: &RawSdp<'_>) -> Result<(), SessionError> {
        let elsewhere =
            self.board
                .deliver_to_partner(from, sdp.call_id, sdp.frame_for_partner())?;
        self.board.metrics.relayed_kind(sdp.kind);
        let Some(partner) = elsewhere else {
            return Ok(());
        };
        let msg = sdp.to_server_msg().map_err(|_| SessionError::BadSdp)?;
        self.relay_elsewhere(&partner, msg).await
    }

    /// Sends `msg` to `partner` on its node (not this one).
    async fn relay_elsewhere(&self, partner: &Partner, msg: ServerMsg) -> Result<(), SessionError> {
        let to = partner.id;
        self.forward(partner, NodeMessage::Relay { to, msg }).await
    }

    /// Marks `partner`'s call `call` as showing it something, wherever it is.
    async fn shown(&self, partner: &Partner, call: CallId) -> Result<(), SessionError> {
        if partner.node == self.board.node {
            self.board.mark_shown(partner.id, call);
            return Ok(());
        }
        self.forward(
            partner,
            NodeMessage::Shown {
                to: partner.id,
                call,
            },
        )
        .await
    }

    /// Sends `message` to `partner`'s node.
    async fn forward(&self, partner: &Partner, message: NodeMessage) -> Result<(), SessionError> {
        match &*self.engine {
            Engine::Redis(redis) => redis
                .forward(&partner.node, &message)
                .await
                .map_err(|_| SessionError::MatchingUnavailable),
            // Alone, every partner is on this node.
            Engine::Memory(_) => Ok(()),
        }
    }
}

/// The server's own rules for what one side sends the other: chat lines have a length limit.
fn check_relayable(msg: &ServerMsg) -> Result<(), SessionError> {
    match msg {
        ServerMsg::Chat { text, .. } if text.chars().count() > MAX_CHAT_CHARS => {
            Err(SessionError::ChatTooLong)
        }
        _ => Ok(()),
    }
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Entry>> {
        // A panic elsewhere while holding the lock must not take every later session down.
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds session `id` to `sessions` (this board's, locked by the caller), with a fresh
    /// resume token by which its tab finds it again; returns the token.
    fn add(
        &self,
        sessions: &mut HashMap<SessionId, Entry>,
        id: SessionId,
        link: Arc<Link>,
        addr: IpAddr,
        visitor: Visitor,
        standing: Standing,
    ) -> ResumeToken {
        let resume = rand::random();
        self.tokens().insert(resume, id);
        let entry = Entry {
            link,
            addr,
            visitor,
            standing,
            recent: VecDeque::new(),
            resume,
            away: false,
        };
        sessions.insert(id, entry);
        self.online.store(sessions.len(), Ordering::Relaxed);
        resume
    }

    /// Removes session `id` from `sessions` (this board's, locked by the caller), and its
    /// resume token with it.
    fn remove(&self, sessions: &mut HashMap<SessionId, Entry>, id: SessionId) {
        if let Some(entry) = sessions.remove(&id) {
            self.tokens().remove(&entry.resume);
            self.online.store(sessions.len(), Ordering::Relaxed);
        }
    }

    /// Removes session `id` and its token.
    fn forget(&self, id: SessionId) {
        self.remove(&mut self.lock(), id);
    }

    /// Whether `outbox`'s socket task still speaks for session `id` (a newer socket of the
    /// same tab may have taken it over).
    fn owns(&self, id: SessionId, outbox: &Outbox) -> bool {
        self.lock()
            .get(&id)
            .is_some_and(|entry| Arc::ptr_eq(&entry.link, &outbox.link))
    }

    fn tokens(&self) -> MutexGuard<'_, HashMap<ResumeToken, SessionId>> {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What another node needs to take session `id` over (it is away in a call).
    fn handover(&self, id: SessionId) -> Option<Handover> {
        let sessions = self.lock();
        let entry = sessions.get(&id)?;
        let Standing::InCall {
            call,
            partner,
            shown,
            reported,
            met,
        } = &entry.standing
        else {
            return None;
        };
        Some(Handover {
            session: id,
            addr: entry.addr,
            visitor: entry.visitor.clone(),
            call: *call,
            partner: partner.clone(),
            shown: *shown,
            reported: *reported,
            met: met.clone(),
        })
    }

    /// Takes over the session another node handed over (its tab came back here); its partner
    /// is on `partner_node` now.
    fn adopt(&self, handover: Handover, partner_node: NodeId) -> Resumption {
        let Handover {
            session: id,
            addr,
            visitor,
            call,
            partner,
            shown,
            reported,
            met,
        } = handover;
        let link = Arc::new(Link::default());
        link.in_call.store(true, Ordering::Relaxed);
        let resumed = resumed(call, &met);
        let partner = Partner {
            node: partner_node,
            ..partner
        };
        let standing = Standing::InCall {
            call,
            partner,
            shown,
            reported,
            met,
        };
        let mut sessions = self.lock();
        let resume = self.add(&mut sessions, id, link.clone(), addr, visitor, standing);
        Resumption {
            id,
            outbox: Outbox { link },
            resume,
            resumed,
        }
    }

    /// Marks session `id`, whose tab lost its socket, as away if it is in a call (and was not
    /// cut off): its call and resume token then.
    fn linger(&self, id: SessionId) -> Option<(CallId, ResumeToken)> {
        let mut sessions = self.lock();
        let entry = sessions.get_mut(&id)?;
        let Standing::InCall { call, .. } = &entry.standing else {
            return None;
        };
        if entry.link.cut.get().is_some() {
            return None;
        }
        let call = *call;
        entry.away = true;
        Some((call, entry.resume))
    }

    /// Turns one step's effects into standing, messages, timers and metrics.
    fn apply(&self, effects: Vec<Effect>) {
        let mut sessions = self.lock();
        // Sessions whose tab is away and whose call is over: nothing to come back to.
        let mut gone = Vec::new();
        for effect in effects {
            let to = effect.to();
            // A match is counted, and its connect timeout armed, once per pair, whether or
            // not the side it is told to is still here.
            if let Effect::Matched {
                call,
                text_only,
                first: true,
                ..
            } = &effect
            {
                self.metrics.matches.inc();
                if !text_only {
                    self.timers
                        .arm(Timer::Expire(*call), self.settings.connect_timeout);
                }
            }
            let Some(entry) = sessions.get_mut(&to) else {
                continue;
            };
            // The session went to another node, or its partner did: nothing ends, nobody is
            // told (the tab that came back tells the partner itself).
            match effect {
                Effect::Moved { .. } => {
                    if entry.away {
                        self.remove(&mut sessions, to);
                    }
                    continue;
                }
                Effect::PartnerMoved { call, node, .. } => {
                    if let Standing::InCall {
                        call: current,
                        partner,
                        ..
                    } = &mut entry.standing
                    {
                        if *current == call {
                            partner.node = node;
                        }
                    }
                    continue;
                }
                _ => {}
            }
            if entry.away && !matches!(effect, Effect::Winner { .. }) {
                // Matching forgot it when its call ended (`Op::Away`); a search or a match
                // (from before matching heard it was away) is undone by leaving.
                let searched = !matches!(effect, Effect::Ended { .. });
                gone.push((to, searched));
                continue;
            }
            match effect {
                Effect::Searching { search, open, .. } => {
                    // Only a session that asked to search (End or a loss may have come since).
                    if entry.standing == Standing::Idle {
                        continue;
                    }
                    entry.stand(Standing::Searching);
                    entry.tell(&ServerMsg::Searching, to, self);
                    if !open {
                        self.timers
                            .arm(Timer::OpenSearch(to, search), self.settings.preference_wait);
                    }
                }
                Effect::Matched {
                    call,
                    partner,
                    partner_node,
                    partner_addr,
                    partner_key,
                    shared_interests,
                    shared_language,
                    partner_text_only,
                    ..
                } => {
                    if entry.standing == Standing::Idle {
                        continue;
                    }
                    let matched = ServerMsg::Matched {
                        call_id: call,
                        shared_interests: shared_interests.clone(),
                        shared_language: shared_language.clone(),
                        partner_text_only,
                    };
                    entry.stand(Standing::InCall {
                        call,
                        partner: Partner {
                            id: partner,
                            node: partner_node,
                            addr: partner_addr,
                            key: partner_key,
                        },
                        shown: false,
                        reported: false,
                        met: Met {
                            shared_interests,
                            shared_language,
                            partner_text_only,
                        },
                    });
                    entry.tell(&matched, to, self);
                }
                Effect::Ended { call, reason, .. } => {
                    if !entry.in_call(call) {
                        continue;
                    }
                    // The back end has this side searching again already.
                    entry.stand(Standing::Searching);
                    let ended = ServerMsg::CallEnded {
                        call_id: call,
                        reason,
                    };
                    entry.tell(&ended, to, self);
                }
                Effect::Idle { .. } => {
                    entry.stand(Standing::Idle);
                    entry.tell(&ServerMsg::Idle, to, self);
                }
                Effect::Winner { call, role, .. } => {
                    if entry.in_call(call) {
                        let winner = ServerMsg::Winner {
                            call_id: call,
                            role,
                        };
                        entry.tell(&winner, to, self);
                    }
                }
                // Handled above.
                Effect::Moved { .. } | Effect::PartnerMoved { .. } => {}
            }
        }
        for (id, searched) in gone {
            self.remove(&mut sessions, id);
            if searched {
                let _ = self.evictions.send(id);
            }
        }
    }

    /// Delivers `msg` (about a call) to `to` only while `to` is in that call. Encoded before
    /// the lock is taken: an SDP can be tens of kilobytes.
    fn deliver_in_call(&self, to: SessionId, msg: &ServerMsg) {
        let Some(call) = msg.call_id() else {
            return;
        };
        // A line from the stranger is something shown.
        let shows = matches!(msg, ServerMsg::Chat { .. });
        self.deliver_frame_in_call(to, call, protocol::encode(msg), shows);
    }

    /// Queues an encoded `frame` about `call` for `to` only while `to` is in that call;
    /// `shows`: the frame shows `to` something of the partner (see [`Standing::InCall`]).
    fn deliver_frame_in_call(&self, to: SessionId, call: CallId, frame: Frame, shows: bool) {
        self.queue_in_call(&mut self.lock(), to, call, frame, shows);
    }

    /// Queues `frame` (made before the lock, like every frame) for `from`'s partner in `call`
    /// if the partner is on this node, in one look at the sessions: every relayed offer and
    /// answer takes this path. Hands back the partner if it is on another node.
    fn deliver_to_partner(
        &self,
        from: SessionId,
        call: CallId,
        frame: Frame,
    ) -> Result<Option<Partner>, SessionError> {
        let mut sessions = self.lock();
        let partner = partner_in(&sessions, from, call)?;
        if partner.node != self.node {
            return Ok(Some(partner.clone()));
        }
        let to = partner.id;
        self.queue_in_call(&mut sessions, to, call, frame, false);
        Ok(None)
    }

    /// [`Board::deliver_frame_in_call`] with the sessions already locked.
    fn queue_in_call(
        &self,
        sessions: &mut HashMap<SessionId, Entry>,
        to: SessionId,
        call: CallId,
        frame: Frame,
        shows: bool,
    ) {
        if let Some(entry) = sessions.get_mut(&to) {
            if entry.in_call(call) {
                if shows {
                    entry.mark_shown();
                }
                entry.queue(frame, to, self);
            }
        }
    }

    /// `to`'s partner in `call` showed it something (see [`Standing::InCall`]).
    fn mark_shown(&self, to: SessionId, call: CallId) {
        if let Some(entry) = self.lock().get_mut(&to) {
            if entry.in_call(call) {
                entry.mark_shown();
            }
        }
    }

    fn deliver(&self, to: SessionId, msg: &ServerMsg) {
        if let Some(entry) = self.lock().get_mut(&to) {
            entry.tell(msg, to, self);
        }
    }

    /// Sets `id`'s standing; returns the one before (None if the session is gone).
    fn set_standing(&self, id: SessionId, standing: Standing) -> Option<Standing> {
        let mut sessions = self.lock();
        let entry = sessions.get_mut(&id)?;
        Some(entry.stand(standing))
    }

    /// Marks `id` searching if its standing passes `allowed`; returns its address and who it
    /// is for the back end (which records them, for reports and blocks), or None when the
    /// press is to be ignored.
    fn start_searching(
        &self,
        id: SessionId,
        allowed: impl Fn(&Standing) -> bool,
    ) -> Option<(IpAddr, Visitor)> {
        let mut sessions = self.lock();
        let entry = sessions.get_mut(&id)?;
        // A session cut off never searches again.
        if entry.link.cut.get().is_some() || !allowed(&entry.standing) {
            return None;
        }
        entry.stand(Standing::Searching);
        Some((entry.addr, entry.visitor.clone()))
    }

    /// The partner of `id` if `id` is in call `call_id`; the refusal otherwise.
    fn partner_of(&self, id: SessionId, call_id: CallId) -> Result<Partner, SessionError> {
        partner_in(&self.lock(), id, call_id).cloned()
    }
}

/// `id`'s partner in `call_id` among `sessions`, or why it has none.
fn partner_in(
    sessions: &HashMap<SessionId, Entry>,
    id: SessionId,
    call_id: CallId,
) -> Result<&Partner, SessionError> {
    match sessions.get(&id).map(|e| &e.standing) {
        Some(Standing::InCall { call, partner, .. }) if *call == call_id => Ok(partner),
        Some(Standing::InCall { .. }) => Err(SessionError::StaleCall(call_id)),
        _ => Err(SessionError::NotInCall),
    }
}

impl Entry {
    /// Sets the session's standing (its socket task sees whether it is in a call); returns
    /// the one before.
    fn stand(&mut self, standing: Standing) -> Standing {
        let in_call = matches!(standing, Standing::InCall { .. });
        self.link.in_call.store(in_call, Ordering::Relaxed);
        let before = std::mem::replace(&mut self.standing, standing);
        if let Standing::InCall {
            call,
            partner,
            shown,
            reported,
            ..
        } = &before
        {
            self.remember(RecentCall {
                call: *call,
                partner: partner.clone(),
                shown: *shown,
                reported: *reported,
                ended: tokio::time::Instant::now(),
            });
        }
        before
    }

    /// Keeps a call that just ended among the recent ones, forgetting the oldest and any past
    /// [`RECENT_CALL_SECS`].
    fn remember(&mut self, ended: RecentCall) {
        self.forget_old_calls();
        if self.recent.len() >= RECENT_CALLS {
            self.recent.pop_front();
        }
        self.recent.push_back(ended);
    }

    fn forget_old_calls(&mut self) {
        let window = Duration::from_secs(RECENT_CALL_SECS);
        self.recent.retain(|recent| recent.ended.elapsed() < window);
    }

    /// The partner of call `call_id` and this side's marks for it (something shown, already
    /// reported): the current call, or a recent one.
    fn call_or_recent(
        &mut self,
        call_id: CallId,
    ) -> Result<(&Partner, &mut bool, &mut bool), SessionError> {
        self.forget_old_calls();
        let in_a_call = matches!(self.standing, Standing::InCall { .. });
        match &mut self.standing {
            Standing::InCall {
                call,
                partner,
                shown,
                reported,
                ..
            } if *call == call_id => return Ok((partner, shown, reported)),
            _ => {}
        }
        match self.recent.iter_mut().find(|r| r.call == call_id) {
            Some(recent) => Ok((&recent.partner, &mut recent.shown, &mut recent.reported)),
            None if in_a_call => Err(SessionError::StaleCall(call_id)),
            None => Err(SessionError::NotInCall),
        }
    }

    fn in_call(&self, call_id: CallId) -> bool {
        matches!(&self.standing, Standing::InCall { call, .. } if *call == call_id)
    }

    fn mark_shown(&mut self) {
        if let Standing::InCall { shown, .. } = &mut self.standing {
            *shown = true;
        }
    }

    /// Encodes `msg` and queues it (see [`Entry::queue`]).
    fn tell(&mut self, msg: &ServerMsg, id: SessionId, board: &Board) {
        self.queue(protocol::encode(msg), id, board);
    }

    /// Puts `frame` in the session's queue without waiting. A queue that is full, in messages
    /// or in bytes, cuts the session off.
    fn queue(&mut self, frame: Frame, id: SessionId, board: &Board) {
        // Cut off, or its socket task is gone (its teardown removes the session).
        if self.link.cut.get().is_some() || Arc::strong_count(&self.link) == 1 {
            return;
        }
        let len = frame.len();
        if self.link.queued.load(Ordering::Relaxed) + len > board.settings.outbox_bytes {
            tracing::warn!(session = %id, "outbound queue over its byte limit; cutting off slow client");
            return self.cut_slow(id, board);
        }
        {
            let mut frames = self.link.frames();
            if frames.len() >= board.settings.outbox_capacity.max(1) {
                drop(frames);
                tracing::warn!(session = %id, "outbound queue full; cutting off slow client");
                return self.cut_slow(id, board);
            }
            frames.push_back(frame);
        }
        self.link.queued.fetch_add(len, Ordering::Relaxed);
        self.link.ready.notify_one();
    }

    /// Cuts the session off: its queue closes (its socket task closes the socket with the
    /// reason) and it stands idle, refusing Call. True if it was not cut before; the caller
    /// then takes it out of matching.
    fn cut(&mut self, why: Cut) -> bool {
        if self.link.cut.set(why).is_err() {
            return false;
        }
        self.link.ready.notify_one();
        self.stand(Standing::Idle);
        true
    }

    /// Cuts off a session too slow to read, and has it leave matching at once (from the
    /// eviction task: this runs with the lock held).
    fn cut_slow(&mut self, id: SessionId, board: &Board) {
        if self.cut(Cut::TooSlow) {
            let _ = board.evictions.send(id);
        }
    }
}

impl NodeHooks for Board {
    fn arrived(&self, arrival: Arrival) {
        match arrival {
            Arrival::Effects(effects) => self.apply(effects),
            Arrival::Relay { to, msg } => self.deliver_in_call(to, &msg),
            Arrival::Shown { to, call } => self.mark_shown(to, call),
            Arrival::Broadcast(payload) => {
                if let Err(e) = self.broadcasts.try_send(payload) {
                    tracing::warn!("what another node told every node was dropped: {e}");
                }
            }
        }
    }

    /// Every session goes idle; those that were searching or in a call are told.
    fn lost(&self) {
        let paused = SessionError::MatchingUnavailable.to_msg();
        for (id, entry) in self.lock().iter_mut() {
            if entry.standing != Standing::Idle {
                entry.stand(Standing::Idle);
                entry.tell(&paused, *id, self);
            }
        }
    }

    fn online_here(&self) -> usize {
        self.lock().len()
    }
}

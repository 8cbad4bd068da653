//! The hub of a node among several: the nodes share one pool of strangers through Redis.
//!
//! Who is searching, who is in a call with whom and who won a call's connection race live in
//! Redis, and every change to them is one run of `matchmaker.lua` (the same rules as
//! [`crate::server::matchmaker`], atomic across all nodes because Redis runs a script alone).
//! The script tells each node what to say to its own sessions by publishing on the node's
//! channel (`duet:events:<node>`); this node applies what arrives and keeps, for each of its
//! sessions, where it stands ([`Standing`]), so relaying is a check and a `PUBLISH`, with no
//! script on the hot path.
//!
//! The pair-only rule holds twice: a node relays only within the sender's current call, and
//! a node delivers a relayed message only to its own session, only while that session is in
//! the call the message names.
//!
//! Each node beats (`duet:node:<node>` with a time to live of `--node-timeout`); a node whose
//! beat expires is reaped by the next beat of any other node: its sessions leave the pool and
//! their partners are told the stranger left. A node that loses Redis pauses matching (its
//! sessions' calls and searches end with an explanation, Call is refused with one), reports
//! it on `/healthz`, and starts over by itself when Redis answers again.

use crate::protocol::{normalize_interests, CallId, ClientMsg, EndReason, Role, ServerMsg};
use crate::server::hub::{deliver, disconnect, HubStats, Outboxes};
use crate::server::matchmaker::{check_relayable, RelayError, SessionId};
use crate::server::metrics::Metrics;
use crate::server::moderation::Shared as SharedModeration;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::{FromRedisValue, RedisResult, Script};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

/// The whole matchmaker, as one script (see its header for the keys it keeps).
const MATCHMAKER: &str = include_str!("matchmaker.lua");
/// The channel every node listens to, for what concerns all of them (moderation).
const BROADCAST: &str = "duet:events:all";
/// How long one Redis request may take before this node counts Redis as lost.
const REDIS_PATIENCE: Duration = Duration::from_secs(2);

/// How a node joins the others.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `redis://host:port/db` (or `rediss://` for TLS, `redis+unix://` for a socket).
    pub url: String,
    /// A node not heard from for this long is taken for dead; it beats five times as often.
    pub node_timeout: Duration,
    /// How long a new video call may take to connect.
    pub connect_timeout: Duration,
    /// How long a search with preferences looks only for a stranger who shares one.
    pub preference_wait: Duration,
    /// How many messages may wait for one slow browser before it is cut off.
    pub outbox_capacity: usize,
}

/// A cheap-to-clone handle on this node's side of the shared matchmaker.
#[derive(Clone)]
pub struct RedisHub {
    shared: Arc<Shared>,
}

struct Shared {
    /// This node's random id: its sessions' records and its channel carry it.
    node: Arc<str>,
    client: redis::Client,
    /// Commands (scripts, relays); reconnects by itself.
    redis: ConnectionManager,
    script: Script,
    sessions: Mutex<Sessions>,
    /// Redis answers and this node's channel is subscribed: matching works.
    healthy: AtomicBool,
    /// The subscriber holds a live subscription.
    subscribed: AtomicBool,
    /// Asks the subscriber to drop its connection and subscribe afresh (after a loss the old
    /// one may be half dead without knowing).
    resubscribe: Notify,
    /// The other nodes' sessions, as of the last beat.
    others_online: AtomicUsize,
    settings: Settings,
    metrics: Metrics,
    shutdown: CancellationToken,
    /// Where moderation shared by other nodes goes (the server stores it).
    moderation: mpsc::Sender<SharedModeration>,
}

/// This node's sessions.
#[derive(Default)]
struct Sessions {
    outboxes: Outboxes,
    addresses: HashMap<SessionId, IpAddr>,
    standing: HashMap<SessionId, Standing>,
}

/// Where one of this node's sessions stands, as far as the messages it was sent say.
#[derive(Clone, Debug, PartialEq)]
enum Standing {
    Idle,
    Searching,
    InCall {
        call: CallId,
        partner: SessionId,
        partner_node: Arc<str>,
    },
}

/// What the script (or another node) tells this node to do for one of its sessions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
enum Event {
    /// `to` waits; a search that is not `open` takes anyone after the preference wait.
    Searching {
        to: SessionId,
        gen: u64,
        open: bool,
    },
    Matched {
        to: SessionId,
        call: CallId,
        partner: SessionId,
        partner_node: String,
        /// The shared interests as a JSON list (see the script for why text).
        shared: String,
        partner_text: bool,
        /// The call is text-only: no connection to wait for.
        text: bool,
        /// One side of each pair: counts the match once.
        first: bool,
    },
    Ended {
        to: SessionId,
        call: CallId,
        reason: EndReason,
    },
    Idle {
        to: SessionId,
    },
    Winner {
        to: SessionId,
        call: CallId,
        role: Role,
    },
    /// A message from `to`'s partner on another node.
    Relay {
        to: SessionId,
        msg: ServerMsg,
    },
    /// Moderation on node `origin`, for the other nodes' stores.
    Moderation {
        origin: String,
        shared: SharedModeration,
    },
}

/// Why a node could not join the others at start.
#[derive(Debug, thiserror::Error)]
#[error("cannot use Redis at {url}: {source}")]
pub struct ConnectError {
    url: String,
    source: redis::RedisError,
}

impl ConnectError {
    pub fn new(url: &str, source: redis::RedisError) -> Self {
        ConnectError {
            url: without_password(url),
            source,
        }
    }
}

/// `url` fit for a log: any user and password replaced by `***`.
fn without_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl RedisHub {
    /// Connects to Redis, subscribes to this node's channel, says hello and starts beating.
    /// Fails (rather than starting half-working) when Redis cannot be reached at start.
    pub async fn connect(
        settings: Settings,
        metrics: Metrics,
        shutdown: CancellationToken,
        moderation: mpsc::Sender<SharedModeration>,
    ) -> Result<RedisHub, ConnectError> {
        let url = settings.url.clone();
        let failed = |source| ConnectError::new(&url, source);
        let client = redis::Client::open(settings.url.as_str()).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_PATIENCE))
            .set_response_timeout(Some(REDIS_PATIENCE))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let redis = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(failed)?;
        let hub = RedisHub {
            shared: Arc::new(Shared {
                node: format!("{:016x}", rand::random::<u64>()).into(),
                client,
                redis,
                script: Script::new(MATCHMAKER),
                sessions: Mutex::new(Sessions::default()),
                healthy: AtomicBool::new(false),
                subscribed: AtomicBool::new(false),
                resubscribe: Notify::new(),
                others_online: AtomicUsize::new(0),
                settings,
                metrics,
                shutdown,
                moderation,
            }),
        };
        let pubsub = hub.subscribe().await.map_err(failed)?;
        hub.shared.subscribed.store(true, Ordering::SeqCst);
        hub.start_over().await.map_err(failed)?;
        tracing::info!(node = %hub.shared.node, "joined the other nodes through Redis");
        tokio::spawn(hub.clone().listen(pubsub));
        tokio::spawn(hub.clone().keep_beating());
        Ok(hub)
    }

    /// Adds a session from `address`; returns its id and the queue its socket task sends from.
    /// Redis hears of it only when it presses Call.
    pub fn register(&self, address: IpAddr) -> (SessionId, mpsc::Receiver<ServerMsg>) {
        let (tx, rx) = mpsc::channel(self.shared.settings.outbox_capacity.max(1));
        let mut sessions = self.sessions();
        let id = loop {
            let id = SessionId(rand::random());
            if !sessions.standing.contains_key(&id) {
                break id;
            }
        };
        sessions.outboxes.insert(id, tx);
        sessions.addresses.insert(id, address);
        sessions.standing.insert(id, Standing::Idle);
        (id, rx)
    }

    /// Removes a session whose socket is gone; its partner, wherever it is, is told.
    pub async fn unregister(&self, id: SessionId) {
        {
            let mut sessions = self.sessions();
            sessions.outboxes.remove(&id);
            sessions.addresses.remove(&id);
            sessions.standing.remove(&id);
        }
        // Without Redis there is nothing to tell; starting over forgets the session there.
        if self.healthy() {
            let _ = self.run("leave", &[&String::from(id)]).await;
        }
    }

    /// Handles one message from session `id`.
    pub async fn handle(&self, id: SessionId, msg: ClientMsg) -> Result<(), RelayError> {
        match msg {
            ClientMsg::Call {
                interests,
                text_only,
            } => {
                let interests =
                    normalize_interests(&interests).map_err(RelayError::BadInterests)?;
                self.require_healthy()?;
                // Call is ignored while searching or in a call, as on one server.
                let Some(address) = self.move_to_searching(id, |s| *s == Standing::Idle) else {
                    return Ok(());
                };
                let tags = serde_json::to_string(&interests).unwrap_or_else(|_| "[]".into());
                let text = if text_only { "1" } else { "0" };
                self.run_ok("call", &[&String::from(id), &address, &tags, text])
                    .await
            }
            ClientMsg::Next => {
                self.require_healthy()?;
                // From here on the old call's signals are refused, as on one server.
                let Some(address) = self.move_to_searching(id, |s| *s != Standing::Searching)
                else {
                    return Ok(());
                };
                self.run_ok("next", &[&String::from(id), &address]).await
            }
            ClientMsg::End => {
                // A match on its way is not for this session any more.
                let was = self.set_standing(id, Standing::Idle);
                if !self.healthy() || was.is_none() {
                    let mut sessions = self.sessions();
                    deliver(&mut sessions.outboxes, id, ServerMsg::Idle);
                    return Ok(());
                }
                self.run_ok("end", &[&String::from(id)]).await
            }
            ClientMsg::Connected { call_id, role } => {
                self.partner_of(id, call_id)?;
                self.require_healthy()?;
                let role = match role {
                    Role::Peer1 => "peer1",
                    Role::Peer2 => "peer2",
                };
                match self
                    .run(
                        "connected",
                        &[&String::from(id), &call_id.to_string(), role],
                    )
                    .await?
                    .as_str()
                {
                    "not_in_call" => Err(RelayError::NotInCall),
                    "stale_call" => Err(RelayError::StaleCall(call_id)),
                    _ => Ok(()),
                }
            }
            ClientMsg::Report { call_id, .. } => self.partner_of(id, call_id).map(drop),
            relayed => match relayed.for_partner() {
                Ok((call_id, msg)) => self.relay(id, call_id, msg).await,
                Err(_) => Ok(()),
            },
        }
    }

    /// The address of the stranger `id` is in call `call_id` with: whom a report is about.
    pub async fn report_target(
        &self,
        id: SessionId,
        call_id: CallId,
    ) -> Result<IpAddr, RelayError> {
        let (partner, partner_node) = self.partner_of(id, call_id)?;
        if partner_node == self.shared.node {
            return self
                .sessions()
                .addresses
                .get(&partner)
                .copied()
                .ok_or(RelayError::NotInCall);
        }
        let address: Option<String> = redis::cmd("HGET")
            .arg(format!("duet:s:{}", String::from(partner)))
            .arg("addr")
            .query_async(&mut self.shared.redis.clone())
            .await
            .map_err(|e| self.lose(&e.to_string()))?;
        address
            .and_then(|a| a.parse().ok())
            .ok_or(RelayError::NotInCall)
    }

    /// Sends `farewell` to this node's sessions whose address passes `banned` and
    /// disconnects them. (The other nodes do the same when the ban reaches them.)
    pub fn disconnect_where(&self, banned: impl Fn(IpAddr) -> bool, farewell: ServerMsg) {
        let mut sessions = self.sessions();
        let Sessions {
            outboxes,
            addresses,
            ..
        } = &mut *sessions;
        disconnect(outboxes, addresses, banned, &farewell);
    }

    /// Tells every other node about a report, a ban or a lifted ban.
    pub async fn share_moderation(&self, shared: SharedModeration) {
        let origin = self.shared.node.to_string();
        let batch = encode_batch(&[Event::Moderation { origin, shared }]);
        if let Err(e) = self.publish(BROADCAST, batch).await {
            tracing::warn!("could not tell the other nodes about moderation: {e}");
        }
    }

    /// Agrees with the other nodes on the key addresses are hashed with: the first node's
    /// wins, so a hash means the same address on every node.
    pub async fn agree_on_key(&self, mine: [u8; 32]) -> RedisResult<[u8; 32]> {
        const KEY: &str = "duet:moderation-key";
        let mut redis = self.shared.redis.clone();
        let _: Option<String> = redis::cmd("SET")
            .arg(KEY)
            .arg(hex::encode(mine))
            .arg("NX")
            .query_async(&mut redis)
            .await?;
        let agreed: String = redis::cmd("GET").arg(KEY).query_async(&mut redis).await?;
        Ok(hex::decode(agreed)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .unwrap_or(mine))
    }

    /// Sessions online on the whole site: this node's now, the others' as of the last beat.
    pub fn online(&self) -> usize {
        self.sessions().outboxes.len() + self.shared.others_online.load(Ordering::Relaxed)
    }

    /// This node's online, searching and in-call counts.
    pub fn stats(&self) -> HubStats {
        let sessions = self.sessions();
        let mut searching = 0;
        let mut call_sides = 0;
        let mut calls_elsewhere = 0;
        for standing in sessions.standing.values() {
            match standing {
                Standing::Idle => {}
                Standing::Searching => searching += 1,
                Standing::InCall { partner_node, .. } if *partner_node == self.shared.node => {
                    call_sides += 1
                }
                Standing::InCall { .. } => calls_elsewhere += 1,
            }
        }
        HubStats {
            online: sessions.outboxes.len(),
            searching,
            calls: call_sides / 2 + calls_elsewhere,
        }
    }

    /// Leaves the site on shutdown: stops beating and has Redis forget this node's sessions at
    /// once, so their partners on other nodes are told now, not after the node timeout.
    pub async fn leave_site(&self) {
        self.shared.healthy.store(false, Ordering::SeqCst);
        if let Err(e) = self.invoke::<String>("bye", &[]).await {
            tracing::warn!("could not say goodbye to the other nodes: {e}");
        }
    }

    /// Whether matching works: Redis answers and this node's channel is subscribed.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::SeqCst)
    }

    fn require_healthy(&self) -> Result<(), RelayError> {
        if self.healthy() {
            Ok(())
        } else {
            Err(RelayError::MatchingUnavailable)
        }
    }

    fn sessions(&self) -> MutexGuard<'_, Sessions> {
        // A panic elsewhere while holding the lock must not take every later session down.
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets `id`'s standing; returns the one before (None if the session is gone).
    fn set_standing(&self, id: SessionId, standing: Standing) -> Option<Standing> {
        let mut sessions = self.sessions();
        let slot = sessions.standing.get_mut(&id)?;
        Some(std::mem::replace(slot, standing))
    }

    /// Marks `id` searching if its standing passes `allowed`; returns its address for the
    /// script (which records it, for reports), or None when the press is to be ignored.
    fn move_to_searching(
        &self,
        id: SessionId,
        allowed: impl Fn(&Standing) -> bool,
    ) -> Option<String> {
        let mut sessions = self.sessions();
        let standing = sessions.standing.get_mut(&id)?;
        if !allowed(standing) {
            return None;
        }
        *standing = Standing::Searching;
        sessions.addresses.get(&id).map(IpAddr::to_string)
    }

    /// The partner of `id` and its node, if `id` is in call `call_id`; the refusal otherwise.
    fn partner_of(
        &self,
        id: SessionId,
        call_id: CallId,
    ) -> Result<(SessionId, Arc<str>), RelayError> {
        match self.sessions().standing.get(&id) {
            Some(Standing::InCall {
                call,
                partner,
                partner_node,
            }) if *call == call_id => Ok((*partner, partner_node.clone())),
            Some(Standing::InCall { .. }) => Err(RelayError::StaleCall(call_id)),
            _ => Err(RelayError::NotInCall),
        }
    }

    /// Passes `msg` from `id` to its partner in `call_id`: directly when the partner is on
    /// this node, through the partner node's channel otherwise.
    async fn relay(
        &self,
        id: SessionId,
        call_id: CallId,
        msg: ServerMsg,
    ) -> Result<(), RelayError> {
        let (partner, partner_node) = self.partner_of(id, call_id)?;
        check_relayable(&msg)?;
        if partner_node == self.shared.node {
            self.shared.metrics.relayed(&msg);
            deliver_in_call(&mut self.sessions(), partner, msg);
        } else {
            let relay = [Event::Relay { to: partner, msg }];
            self.publish(&format!("duet:events:{partner_node}"), encode_batch(&relay))
                .await
                .map_err(|e| self.lose(&e.to_string()))?;
            if let [Event::Relay { msg, .. }] = &relay {
                self.shared.metrics.relayed(msg);
            }
        }
        Ok(())
    }

    async fn publish(&self, channel: &str, payload: String) -> RedisResult<()> {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut self.shared.redis.clone())
            .await
    }

    /// Runs one step of the script; its reply is "ok" or a refusal's name.
    async fn run(&self, op: &str, args: &[&str]) -> Result<String, RelayError> {
        let reply: String = self
            .invoke(op, args)
            .await
            .map_err(|e| self.lose(&e.to_string()))?;
        if reply == "node_lost" {
            return Err(self.lose("this node's heartbeat had expired"));
        }
        Ok(reply)
    }

    async fn run_ok(&self, op: &str, args: &[&str]) -> Result<(), RelayError> {
        self.run(op, args).await.map(drop)
    }

    async fn invoke<T: FromRedisValue>(&self, op: &str, args: &[&str]) -> RedisResult<T> {
        let seed = format!("{:032x}", rand::random::<u128>());
        let mut invocation = self.shared.script.prepare_invoke();
        invocation.arg(op).arg(&*self.shared.node).arg(seed);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation
            .invoke_async(&mut self.shared.redis.clone())
            .await
    }

    /// Redis is gone (or this node was taken for dead): pause matching, end every call and
    /// search of this node with an explanation, and have the subscription renewed. The
    /// heartbeat starts over once Redis answers. Returns the refusal for the caller.
    fn lose(&self, reason: &str) -> RelayError {
        if self.shared.healthy.swap(false, Ordering::SeqCst) {
            tracing::warn!(
                reason,
                "lost Redis: matching paused on this node until it is back"
            );
            self.shared.resubscribe.notify_waiters();
            self.end_everything();
        }
        RelayError::MatchingUnavailable
    }

    /// Every session of this node goes idle; those that were searching or in a call are told.
    fn end_everything(&self) {
        let mut sessions = self.sessions();
        let mut told = Vec::new();
        for (id, standing) in sessions.standing.iter_mut() {
            if *standing != Standing::Idle {
                *standing = Standing::Idle;
                told.push(*id);
            }
        }
        let paused = RelayError::MatchingUnavailable.to_msg();
        for id in told {
            deliver(&mut sessions.outboxes, id, paused.clone());
        }
    }

    /// Says hello: whatever Redis holds of this node's sessions is forgotten (their partners
    /// elsewhere are told), every session here is idle, and matching resumes.
    async fn start_over(&self) -> RedisResult<()> {
        self.end_everything();
        let count = self.sessions().outboxes.len().to_string();
        let ttl = self.ttl_ms();
        let _: String = self.invoke("hello", &[&count, &ttl]).await?;
        self.shared.healthy.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn ttl_ms(&self) -> String {
        self.shared
            .settings
            .node_timeout
            .as_millis()
            .max(1)
            .to_string()
    }

    /// Beats five times per node timeout; notices a lost Redis, and starts over once it is
    /// back and this node's channel is subscribed again.
    async fn keep_beating(self) {
        let period = (self.shared.settings.node_timeout / 5).max(Duration::from_millis(50));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.shared.shutdown.cancelled() => return,
            }
            if self.healthy() {
                let count = self.sessions().outboxes.len();
                match self
                    .invoke::<i64>("beat", &[&count.to_string(), &self.ttl_ms()])
                    .await
                {
                    Ok(total) if total >= 0 => {
                        let others = usize::try_from(total).unwrap_or(0).saturating_sub(count);
                        self.shared.others_online.store(others, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        self.lose(
                            "this node's heartbeat had expired (stalled, or Redis restarted)",
                        );
                    }
                    Err(e) => {
                        self.lose(&e.to_string());
                    }
                }
            }
            if !self.healthy() && self.shared.subscribed.load(Ordering::SeqCst) {
                match self.start_over().await {
                    Ok(()) => tracing::info!("Redis is back: matching resumed on this node"),
                    Err(e) => tracing::debug!("Redis still unavailable: {e}"),
                }
            }
        }
    }

    async fn subscribe(&self) -> RedisResult<PubSub> {
        let timed_out =
            || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let mut pubsub =
            tokio::time::timeout(REDIS_PATIENCE, self.shared.client.get_async_pubsub())
                .await
                .map_err(|_| timed_out())??;
        pubsub
            .subscribe(format!("duet:events:{}", self.shared.node))
            .await?;
        pubsub.subscribe(BROADCAST).await?;
        Ok(pubsub)
    }

    /// Applies what arrives on this node's channel; subscribes again whenever the
    /// subscription drops.
    async fn listen(self, mut pubsub: PubSub) {
        loop {
            {
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => match message.get_payload::<String>() {
                                Ok(payload) => self.apply(&payload),
                                Err(e) => tracing::warn!("unreadable message from Redis: {e}"),
                            },
                            None => break,
                        },
                        _ = self.shared.resubscribe.notified() => break,
                        _ = self.shared.shutdown.cancelled() => return,
                    }
                }
            }
            self.shared.subscribed.store(false, Ordering::SeqCst);
            self.lose("the subscription to this node's channel dropped");
            let mut retry = tokio::time::interval(Duration::from_millis(250));
            pubsub = loop {
                tokio::select! {
                    _ = retry.tick() => {}
                    _ = self.shared.shutdown.cancelled() => return,
                }
                match self.subscribe().await {
                    Ok(pubsub) => break pubsub,
                    Err(e) => tracing::debug!("cannot subscribe yet: {e}"),
                }
            };
            self.shared.subscribed.store(true, Ordering::SeqCst);
        }
    }

    /// Applies one batch of events (one step of the script, or one relayed message).
    fn apply(&self, payload: &str) {
        let events: Vec<Event> = match serde_json::from_str(payload) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!("unreadable event batch from Redis: {e}");
                return;
            }
        };
        let mut timers = Vec::new();
        {
            let mut sessions = self.sessions();
            for event in events {
                if let Some(timer) = self.apply_one(&mut sessions, event) {
                    timers.push(timer);
                }
            }
        }
        for timer in timers {
            let hub = self.clone();
            tokio::spawn(async move {
                match timer {
                    Timer::OpenSearch(id, gen) => {
                        tokio::time::sleep(hub.shared.settings.preference_wait).await;
                        let _ = hub
                            .run("open", &[&String::from(id), &gen.to_string()])
                            .await;
                    }
                    Timer::Expire(call) => {
                        tokio::time::sleep(hub.shared.settings.connect_timeout).await;
                        let _ = hub.run("expire", &[&call.to_string()]).await;
                    }
                }
            });
        }
    }

    fn apply_one(&self, sessions: &mut Sessions, event: Event) -> Option<Timer> {
        let mut timer = None;
        match event {
            Event::Searching { to, gen, open } => {
                let standing = sessions.standing.get_mut(&to)?;
                // Only a session that asked to search (End or a loss may have come since).
                if *standing == Standing::Idle {
                    return None;
                }
                *standing = Standing::Searching;
                deliver(&mut sessions.outboxes, to, ServerMsg::Searching);
                if !open {
                    timer = Some(Timer::OpenSearch(to, gen));
                }
            }
            Event::Matched {
                to,
                call,
                partner,
                partner_node,
                shared,
                partner_text,
                text,
                first,
            } => {
                let standing = sessions.standing.get_mut(&to)?;
                if *standing == Standing::Idle {
                    return None;
                }
                *standing = Standing::InCall {
                    call,
                    partner,
                    partner_node: partner_node.into(),
                };
                let shared_interests = serde_json::from_str(&shared).unwrap_or_default();
                deliver(
                    &mut sessions.outboxes,
                    to,
                    ServerMsg::Matched {
                        call_id: call,
                        shared_interests,
                        partner_text_only: partner_text,
                    },
                );
                if first {
                    self.shared.metrics.matches.inc();
                }
                if !text {
                    timer = Some(Timer::Expire(call));
                }
            }
            Event::Ended { to, call, reason } => {
                let standing = sessions.standing.get_mut(&to)?;
                if !matches!(standing, Standing::InCall { call: c, .. } if *c == call) {
                    return None;
                }
                // The script has this side searching again already.
                *standing = Standing::Searching;
                deliver(
                    &mut sessions.outboxes,
                    to,
                    ServerMsg::CallEnded {
                        call_id: call,
                        reason,
                    },
                );
            }
            Event::Idle { to } => {
                *sessions.standing.get_mut(&to)? = Standing::Idle;
                deliver(&mut sessions.outboxes, to, ServerMsg::Idle);
            }
            Event::Winner { to, call, role } => {
                deliver_in_call(
                    sessions,
                    to,
                    ServerMsg::Winner {
                        call_id: call,
                        role,
                    },
                );
            }
            Event::Relay { to, msg } => deliver_in_call(sessions, to, msg),
            Event::Moderation { origin, shared } => {
                if *origin != *self.shared.node {
                    if let Err(e) = self.shared.moderation.try_send(shared) {
                        tracing::warn!("moderation from another node dropped: {e}");
                    }
                }
            }
        }
        timer
    }
}

/// A timer an event arms on this node.
enum Timer {
    /// The end of a search's preference wait.
    OpenSearch(SessionId, u64),
    /// The connect timeout of a new video call.
    Expire(CallId),
}

/// Delivers `msg` (about a call) to `to` only while `to` is in that call.
fn deliver_in_call(sessions: &mut Sessions, to: SessionId, msg: ServerMsg) {
    let in_that_call = matches!(
        (sessions.standing.get(&to), msg.call_id()),
        (Some(Standing::InCall { call, .. }), Some(named)) if *call == named
    );
    if in_that_call {
        deliver(&mut sessions.outboxes, to, msg);
    }
}

fn encode_batch(events: &[Event]) -> String {
    serde_json::to_string(events).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_redis_password_never_reaches_the_log() {
        assert_eq!(
            without_password("redis://user:s3cret@10.0.0.5:6379/0"),
            "redis://***@10.0.0.5:6379/0"
        );
        assert_eq!(
            without_password("rediss://:p@ss@host/"),
            "rediss://***@host/"
        );
        assert_eq!(without_password("redis://host:6379/"), "redis://host:6379/");
    }
}

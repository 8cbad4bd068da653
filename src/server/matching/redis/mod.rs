//! The matching back end of a node among several: the nodes share one pool of strangers
//! through Redis.
//!
//! Who is searching, who is in a call with whom and who won a call's connection race live in
//! Redis, and every change to them is one run of `matchmaker.lua` ([`script`]; the same rule
//! as [`super::memory`], atomic across all nodes because Redis runs a script alone). The
//! script tells each node what to say to its own sessions by publishing [`Effect`]s on the
//! node's channel; this engine hands what arrives to the node's switchboard
//! ([`NodeHooks::arrived`]). Relayed messages go node to node on the same channels with one
//! `PUBLISH`, no script.
//!
//! Link health: each node beats (`--node-timeout`); a node whose beat expires is reaped by
//! the next beat of any other node (its sessions leave, their partners are told). A node that
//! loses Redis pauses matching ([`NodeHooks::lost`]), reports it on `/healthz`, and starts
//! over by itself when Redis answers again.

pub mod events;
pub mod keys;
pub mod script;

use super::{Effect, MatchError, Op};
use crate::protocol::{CallId, ServerMsg};
use crate::server::secret::Secret;
use crate::server::session::{NodeId, SessionId};
use events::NodeMessage;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::RedisResult;
use script::{Command, NodeOp, Reply};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long one Redis request may take before this node counts Redis as lost.
const REDIS_PATIENCE: Duration = Duration::from_secs(2);

/// How a node joins the others.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `redis://host:port/db` (or `rediss://` for TLS, `redis+unix://` for a socket); it may
    /// hold a password, so it never shows in `Debug` output.
    pub url: Secret,
    /// A node not heard from for this long is taken for dead; it beats five times as often.
    pub node_timeout: Duration,
}

/// What the engine needs from the node it serves (the switchboard implements it).
pub trait NodeHooks: Send + Sync + 'static {
    /// Something arrived for this node's sessions: one step's effects, or a relayed message.
    fn arrived(&self, arrival: Arrival);
    /// Matching stopped working here: every call and search of this node ends, with an
    /// explanation.
    fn lost(&self);
    /// How many sessions this node has (its share of the site's online count).
    fn online_here(&self) -> usize;
}

/// What arrives for a node.
#[derive(Debug)]
pub enum Arrival {
    Effects(Vec<Effect>),
    Relay {
        to: SessionId,
        msg: ServerMsg,
    },
    /// `to`'s partner in `call` reported its connection up.
    Shown {
        to: SessionId,
        call: CallId,
    },
    /// What another node told every node (moderation), for the node's services.
    Broadcast(String),
}

/// A cheap-to-clone handle on this node's link to Redis.
#[derive(Clone)]
pub struct RedisEngine {
    shared: Arc<Shared>,
}

struct Shared {
    /// This node's random id: its sessions' records and its channel carry it.
    node: NodeId,
    client: redis::Client,
    /// Commands (scripts, relays); reconnects by itself.
    redis: ConnectionManager,
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
    shutdown: CancellationToken,
    hooks: Arc<dyn NodeHooks>,
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

impl RedisEngine {
    /// Connects to Redis, subscribes to this node's channel, says hello and starts beating.
    /// Fails (rather than starting half-working) when Redis cannot be reached at start.
    pub async fn connect(
        settings: Settings,
        node: NodeId,
        shutdown: CancellationToken,
        hooks: Arc<dyn NodeHooks>,
    ) -> Result<RedisEngine, ConnectError> {
        let url = settings.url.clone();
        let failed = |source| ConnectError::new(url.expose(), source);
        let client = redis::Client::open(settings.url.expose()).map_err(failed)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_PATIENCE))
            .set_response_timeout(Some(REDIS_PATIENCE))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let redis = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(failed)?;
        let engine = RedisEngine {
            shared: Arc::new(Shared {
                node,
                client,
                redis,
                healthy: AtomicBool::new(false),
                subscribed: AtomicBool::new(false),
                resubscribe: Notify::new(),
                others_online: AtomicUsize::new(0),
                settings,
                shutdown,
                hooks,
            }),
        };
        let pubsub = engine.subscribe().await.map_err(failed)?;
        engine.shared.subscribed.store(true, Ordering::SeqCst);
        engine.start_over().await.map_err(failed)?;
        tracing::info!(node = %engine.shared.node, "joined the other nodes through Redis");
        tokio::spawn(engine.clone().listen(pubsub));
        tokio::spawn(engine.clone().keep_beating());
        Ok(engine)
    }

    /// Runs one step of the matchmaker; its effects arrive on the nodes' channels.
    pub async fn run(&self, op: &Op) -> Result<(), MatchError> {
        match self.invoke(Command::Session(op)).await? {
            Reply::Ok | Reply::Online(_) | Reply::Adopted { .. } | Reply::Gone => Ok(()),
            Reply::Refused(code) => Err(MatchError::Refused(code)),
            Reply::NodeLost => Err(self.lose("this node's heartbeat had expired")),
        }
    }

    /// Leaves `record` in Redis for `ttl` under resume `token`: what another node needs to take
    /// `session` over, should its tab come back there with a key hashing to `visitor`.
    pub async fn linger(
        &self,
        session: SessionId,
        token: String,
        visitor: String,
        record: String,
        ttl: Duration,
    ) {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let linger = NodeOp::Linger {
            session,
            token,
            visitor,
            record,
            ttl_ms,
        };
        // Without it the tab can still come back to this node; only a return elsewhere fails.
        let _ = self.invoke(Command::Node(linger)).await;
    }

    /// Takes over the session another node left under resume `token` for a tab whose key
    /// hashes to `visitor`: its record, and the node its partner is on; `None` if there is
    /// none to take (or Redis is unavailable).
    pub async fn adopt(&self, token: String, visitor: String) -> Option<(String, NodeId)> {
        match self
            .invoke(Command::Node(NodeOp::Adopt { token, visitor }))
            .await
        {
            Ok(Reply::Adopted {
                record,
                partner_node,
            }) => Some((record, partner_node)),
            _ => None,
        }
    }

    /// Passes `message` (a relayed message, or a `Shown`) to its session on node `node`.
    pub async fn forward(&self, node: &NodeId, message: &NodeMessage) -> Result<(), MatchError> {
        self.publish(&keys::channel(node), events::encode(message))
            .await
            .map_err(|e| self.lose(&e.to_string()))
    }

    /// Tells every other node `payload` (moderation).
    pub async fn broadcast(&self, payload: String) {
        let message = NodeMessage::Broadcast {
            origin: self.shared.node.clone(),
            payload,
        };
        if let Err(e) = self
            .publish(keys::broadcast(), events::encode(&message))
            .await
        {
            tracing::warn!("could not tell the other nodes: {e}");
        }
    }

    /// Agrees with the other nodes on the key addresses are hashed with: the first node's
    /// wins, so a hash means the same address on every node.
    pub async fn agree_on_key(&self, mine: [u8; 32]) -> Result<[u8; 32], ConnectError> {
        let agree = async {
            let mut redis = self.shared.redis.clone();
            let _: Option<String> = redis::cmd("SET")
                .arg(keys::MODERATION_KEY)
                .arg(hex::encode(mine))
                .arg("NX")
                .query_async(&mut redis)
                .await?;
            redis::cmd("GET")
                .arg(keys::MODERATION_KEY)
                .query_async::<String>(&mut redis)
                .await
        };
        let agreed = agree
            .await
            .map_err(|e| ConnectError::new(self.shared.settings.url.expose(), e))?;
        Ok(hex::decode(agreed)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
            .unwrap_or(mine))
    }

    /// The other nodes' sessions, as of the last beat.
    pub fn others_online(&self) -> usize {
        self.shared.others_online.load(Ordering::Relaxed)
    }

    /// Leaves the site on shutdown: stops beating and has Redis forget this node's sessions at
    /// once, so their partners on other nodes are told now, not after the node timeout.
    pub async fn leave_site(&self) {
        self.shared.healthy.store(false, Ordering::SeqCst);
        if let Err(e) = self.invoke(Command::Node(NodeOp::Bye)).await {
            tracing::warn!("could not say goodbye to the other nodes: {e}");
        }
    }

    /// Whether matching works: Redis answers and this node's channel is subscribed.
    pub fn healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::SeqCst)
    }

    async fn publish(&self, channel: &str, payload: String) -> RedisResult<()> {
        redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut self.shared.redis.clone())
            .await
    }

    /// Runs the script; a lost Redis, or a reply it cannot read, pauses matching here.
    async fn invoke(&self, command: Command<'_>) -> Result<Reply, MatchError> {
        let text: String = script::invocation(&self.shared.node, &command)
            .invoke_async(&mut self.shared.redis.clone())
            .await
            .map_err(|e| self.lose(&e.to_string()))?;
        script::read_reply(&text).map_err(|e| self.lose(&format!("unreadable reply: {e}")))
    }

    /// Redis is gone (or this node was taken for dead): pause matching, end every call and
    /// search of this node with an explanation, and have the subscription renewed. The
    /// heartbeat starts over once Redis answers.
    fn lose(&self, reason: &str) -> MatchError {
        if self.shared.healthy.swap(false, Ordering::SeqCst) {
            tracing::warn!(
                reason,
                "lost Redis: matching paused on this node until it is back"
            );
            self.shared.resubscribe.notify_waiters();
            self.shared.hooks.lost();
        }
        MatchError::Unavailable
    }

    /// Says hello: whatever Redis holds of this node's sessions is forgotten (their partners
    /// elsewhere are told), every session here is idle, and matching resumes.
    async fn start_over(&self) -> RedisResult<()> {
        self.shared.hooks.lost();
        let hello = NodeOp::Hello {
            online: self.shared.hooks.online_here(),
            ttl_ms: self.ttl_ms(),
        };
        script::invocation(&self.shared.node, &Command::Node(hello))
            .invoke_async::<String>(&mut self.shared.redis.clone())
            .await?;
        self.shared.healthy.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn ttl_ms(&self) -> u64 {
        let ms = self.shared.settings.node_timeout.as_millis().max(1);
        u64::try_from(ms).unwrap_or(u64::MAX)
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
                let online = self.shared.hooks.online_here();
                let beat = NodeOp::Beat {
                    online,
                    ttl_ms: self.ttl_ms(),
                };
                match self.invoke(Command::Node(beat)).await {
                    Ok(Reply::Online(total)) => {
                        let total = usize::try_from(total).unwrap_or(usize::MAX);
                        let others = total.saturating_sub(online);
                        self.shared.others_online.store(others, Ordering::Relaxed);
                    }
                    Ok(_) => {
                        self.lose(
                            "this node's heartbeat had expired (stalled, or Redis restarted)",
                        );
                    }
                    Err(_) => {}
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
        pubsub.subscribe(keys::channel(&self.shared.node)).await?;
        pubsub.subscribe(keys::broadcast()).await?;
        Ok(pubsub)
    }

    /// Hands on what arrives on this node's channels; subscribes again whenever the
    /// subscription drops.
    async fn listen(self, mut pubsub: PubSub) {
        loop {
            {
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(message) => match message.get_payload::<String>() {
                                Ok(payload) => self.arrived(&payload),
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

    fn arrived(&self, payload: &str) {
        let arrival = match events::decode(payload) {
            Ok(NodeMessage::Effects { effects }) => Arrival::Effects(effects),
            Ok(NodeMessage::Relay { to, msg }) => Arrival::Relay { to, msg },
            Ok(NodeMessage::Shown { to, call }) => Arrival::Shown { to, call },
            Ok(NodeMessage::Broadcast { origin, .. }) if origin == self.shared.node => return,
            Ok(NodeMessage::Broadcast { payload, .. }) => Arrival::Broadcast(payload),
            Err(e) => {
                tracing::warn!("unreadable message from Redis: {e}");
                return;
            }
        };
        self.shared.hooks.arrived(arrival);
    }
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

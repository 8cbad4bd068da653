//! The hub: where sessions meet. The seam between one server and many.
//!
//! Presence, matching and relaying go through [`Hub`], which has two back ends:
//! - [`LocalHub`]: everything in this process (the default; one server needs nothing else);
//! - [`RedisHub`]: several servers ("nodes") share one pool of strangers through Redis
//!   (`--redis-url`).
//!
//! Socket tasks and server functions only ever see this enum, so they cannot tell which one
//! runs.

use crate::protocol::{CallId, ClientMsg, ServerMsg};
use crate::server::local_hub::LocalHub;
use crate::server::matchmaker::{RelayError, SessionId};
use crate::server::moderation::Shared;
use crate::server::redis_hub::RedisHub;
use std::collections::HashMap;
use std::net::IpAddr;
use tokio::sync::mpsc;

/// Sessions, matching and relaying, in this process or shared through Redis.
#[derive(Clone)]
pub enum Hub {
    Local(LocalHub),
    Redis(RedisHub),
}

/// Counts for `/healthz`, `/metrics` and tests: this server's own sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    pub online: usize,
    pub searching: usize,
    pub calls: usize,
}

impl Hub {
    /// Adds a session from `address`; returns its id and the queue its socket task sends from.
    pub fn register(&self, address: IpAddr) -> (SessionId, mpsc::Receiver<ServerMsg>) {
        match self {
            Hub::Local(hub) => hub.register(address),
            Hub::Redis(hub) => hub.register(address),
        }
    }

    /// Removes a session whose socket is gone, telling its partner.
    pub async fn unregister(&self, id: SessionId) {
        match self {
            Hub::Local(hub) => hub.unregister(id),
            Hub::Redis(hub) => hub.unregister(id).await,
        }
    }

    /// Handles one message from session `id`; a refusal is returned for the caller to report.
    pub async fn handle(&self, id: SessionId, msg: ClientMsg) -> Result<(), RelayError> {
        match self {
            Hub::Local(hub) => hub.handle(id, msg),
            Hub::Redis(hub) => hub.handle(id, msg).await,
        }
    }

    /// The address of the stranger `id` is in call `call_id` with: whom a report is about.
    pub async fn report_target(
        &self,
        id: SessionId,
        call_id: CallId,
    ) -> Result<IpAddr, RelayError> {
        match self {
            Hub::Local(hub) => hub.report_target(id, call_id),
            Hub::Redis(hub) => hub.report_target(id, call_id).await,
        }
    }

    /// Sends `farewell` to every session of this server whose address passes `banned`, and
    /// disconnects them (a new ban).
    pub fn disconnect_where(&self, banned: impl Fn(IpAddr) -> bool, farewell: ServerMsg) {
        match self {
            Hub::Local(hub) => hub.disconnect_where(banned, farewell),
            Hub::Redis(hub) => hub.disconnect_where(banned, farewell),
        }
    }

    /// Tells the other nodes about a report, a ban or a lifted ban (nothing to do alone).
    pub async fn share_moderation(&self, shared: Shared) {
        if let Hub::Redis(hub) = self {
            hub.share_moderation(shared).await;
        }
    }

    /// Sessions online on the whole site.
    pub fn online(&self) -> usize {
        match self {
            Hub::Local(hub) => hub.online(),
            Hub::Redis(hub) => hub.online(),
        }
    }

    /// This server's online, searching and in-call counts.
    pub fn stats(&self) -> HubStats {
        match self {
            Hub::Local(hub) => hub.stats(),
            Hub::Redis(hub) => hub.stats(),
        }
    }

    /// On shutdown, after the sockets closed: with Redis, the other nodes forget this one now.
    pub async fn leave_site(&self) {
        if let Hub::Redis(hub) = self {
            hub.leave_site().await;
        }
    }

    /// Whether matching works: always with one server; with Redis, while this node reaches it.
    pub fn matching_available(&self) -> bool {
        match self {
            Hub::Local(_) => true,
            Hub::Redis(hub) => hub.healthy(),
        }
    }
}

/// Each session's queue of messages for its socket task.
pub type Outboxes = HashMap<SessionId, mpsc::Sender<ServerMsg>>;

/// Puts `msg` in `to`'s queue without waiting. A session whose queue is full is cut off
/// (dropping the sender closes the queue, so its socket task ends and the session leaves
/// through the normal teardown): one slow browser never stalls anybody else.
pub fn deliver(outboxes: &mut Outboxes, to: SessionId, msg: ServerMsg) {
    let Some(outbox) = outboxes.get(&to) else {
        return;
    };
    if let Err(mpsc::error::TrySendError::Full(_)) = outbox.try_send(msg) {
        tracing::warn!(session = %to, "outbound queue full; disconnecting slow client");
        outboxes.remove(&to);
    }
}

/// Sends `farewell` to every session whose address passes `banned` and closes their queues,
/// which ends their socket tasks (a new ban).
pub fn disconnect(
    outboxes: &mut Outboxes,
    addresses: &HashMap<SessionId, IpAddr>,
    banned: impl Fn(IpAddr) -> bool,
    farewell: &ServerMsg,
) {
    for (id, _) in addresses.iter().filter(|(_, a)| banned(**a)) {
        // Dropping the queue after the farewell closes the socket once it is sent.
        if let Some(outbox) = outboxes.remove(id) {
            let _ = outbox.try_send(farewell.clone());
        }
    }
}

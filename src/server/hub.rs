//! The hub: the one place where all sessions of this server meet.
//!
//! It owns the [`Matchmaker`] and each session's outbound queue behind one lock, so a match,
//! a relay or a hang-up is decided and delivered in one atomic step. Delivery never waits:
//! a session whose queue is full is cut off (its socket task sees the queue close), so one
//! slow browser can never stall anybody else.

use crate::protocol::{CallId, ClientMsg, ServerMsg};
use crate::server::matchmaker::{Effects, Matchmaker, RelayError, SessionId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// A cheap-to-clone handle on the shared state.
#[derive(Clone)]
pub struct Hub {
    /// A std mutex, not a tokio one: every critical section is short and synchronous (no
    /// `.await` inside), which is exactly what a std mutex is for.
    inner: Arc<Mutex<HubState>>,
    /// How long a new call may take to connect before both sides are sent searching again.
    connect_timeout: Duration,
    /// How many messages may wait for one slow browser before it is cut off.
    outbox_capacity: usize,
}

struct HubState {
    matchmaker: Matchmaker,
    /// Each online session's queue of messages for its socket task.
    outboxes: HashMap<SessionId, mpsc::Sender<ServerMsg>>,
}

/// Counts for logs, `/healthz` and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HubStats {
    pub online: usize,
    pub searching: usize,
    pub calls: usize,
}

impl Hub {
    /// An empty hub.
    pub fn new(connect_timeout: Duration, outbox_capacity: usize) -> Self {
        Hub {
            inner: Arc::new(Mutex::new(HubState {
                matchmaker: Matchmaker::default(),
                outboxes: HashMap::new(),
            })),
            connect_timeout,
            outbox_capacity: outbox_capacity.max(1),
        }
    }

    /// Adds a session; returns its id and the queue its socket task sends from.
    pub fn register(&self) -> (SessionId, mpsc::Receiver<ServerMsg>) {
        let (tx, rx) = mpsc::channel(self.outbox_capacity);
        let mut state = self.lock();
        let id = state.matchmaker.join();
        state.outboxes.insert(id, tx);
        (id, rx)
    }

    /// Removes a session whose socket is gone, telling its partner.
    pub fn unregister(&self, id: SessionId) {
        let mut state = self.lock();
        state.outboxes.remove(&id);
        let fx = state.matchmaker.leave(id);
        self.apply(&mut state, fx);
    }

    /// Handles one message from session `id`; a refusal is returned for the caller to report.
    pub fn handle(&self, id: SessionId, msg: ClientMsg) -> Result<(), RelayError> {
        let mut state = self.lock();
        let fx = state.matchmaker.handle(id, msg)?;
        self.apply(&mut state, fx);
        Ok(())
    }

    /// Sessions online on this server.
    pub fn online(&self) -> usize {
        self.lock().matchmaker.online()
    }

    /// Online, searching and in-call counts, read at one instant.
    pub fn stats(&self) -> HubStats {
        let state = self.lock();
        HubStats {
            online: state.matchmaker.online(),
            searching: state.matchmaker.searching(),
            calls: state.matchmaker.calls(),
        }
    }

    fn expire(&self, call: CallId) {
        let mut state = self.lock();
        let fx = state.matchmaker.expire(call);
        self.apply(&mut state, fx);
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic elsewhere while holding the lock must not take every later session down with
        // it: the matchmaker's state is updated field by field and stays usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delivers a transition's messages and arms a connect timer for each new call.
    fn apply(&self, state: &mut HubState, fx: Effects) {
        for (to, msg) in fx.messages {
            let Some(outbox) = state.outboxes.get(&to) else {
                continue;
            };
            match outbox.try_send(msg) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    // Dropping the sender closes the queue: that socket task ends and the
                    // session leaves through the normal teardown.
                    tracing::warn!(session = %to, "outbound queue full; disconnecting slow client");
                    state.outboxes.remove(&to);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        for call in fx.new_calls {
            let hub = self.clone();
            let wait = self.connect_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                hub.expire(call);
            });
        }
    }
}

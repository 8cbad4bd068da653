//! The hub of a single server: every session, the matching and the relaying in this process.
//!
//! It owns the [`Matchmaker`] and each session's outbound queue behind one lock, so a match,
//! a relay or a hang-up is decided and delivered in one atomic step. Delivery never waits:
//! a session whose queue is full is cut off (its socket task sees the queue close), so one
//! slow browser can never stall anybody else.

use crate::protocol::{CallId, ClientMsg, ServerMsg};
use crate::server::hub::{deliver, disconnect, HubStats, Outboxes};
use crate::server::matchmaker::{Effects, Matchmaker, RelayError, SessionId};
use crate::server::metrics::Metrics;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// A cheap-to-clone handle on the shared state.
#[derive(Clone)]
pub struct LocalHub {
    /// A std mutex, not a tokio one: every critical section is short and synchronous (no
    /// `.await` inside), which is exactly what a std mutex is for.
    inner: Arc<Mutex<HubState>>,
    /// How long a new call may take to connect before both sides are sent searching again.
    connect_timeout: Duration,
    /// How long a search with preferences looks only for a stranger who shares one.
    preference_wait: Duration,
    /// How many messages may wait for one slow browser before it is cut off.
    outbox_capacity: usize,
    /// Counts matches and relayed messages.
    metrics: Metrics,
}

struct HubState {
    matchmaker: Matchmaker,
    /// Each online session's queue of messages for its socket task.
    outboxes: Outboxes,
    /// Each online session's client address: whom a report is about, whom a ban removes.
    addresses: HashMap<SessionId, IpAddr>,
}

impl LocalHub {
    /// An empty hub.
    pub fn new(
        connect_timeout: Duration,
        preference_wait: Duration,
        outbox_capacity: usize,
        metrics: Metrics,
    ) -> Self {
        LocalHub {
            inner: Arc::new(Mutex::new(HubState {
                matchmaker: Matchmaker::default(),
                outboxes: HashMap::new(),
                addresses: HashMap::new(),
            })),
            connect_timeout,
            preference_wait,
            outbox_capacity: outbox_capacity.max(1),
            metrics,
        }
    }

    /// Adds a session from `address`; returns its id and the queue its socket task sends from.
    pub fn register(&self, address: IpAddr) -> (SessionId, mpsc::Receiver<ServerMsg>) {
        let (tx, rx) = mpsc::channel(self.outbox_capacity);
        let mut state = self.lock();
        let id = state.matchmaker.join();
        state.outboxes.insert(id, tx);
        state.addresses.insert(id, address);
        (id, rx)
    }

    /// Removes a session whose socket is gone, telling its partner.
    pub fn unregister(&self, id: SessionId) {
        let mut state = self.lock();
        state.outboxes.remove(&id);
        state.addresses.remove(&id);
        let fx = state.matchmaker.leave(id);
        self.apply(&mut state, fx);
    }

    /// Handles one message from session `id`; a refusal is returned for the caller to report.
    pub fn handle(&self, id: SessionId, msg: ClientMsg) -> Result<(), RelayError> {
        let mut state = self.lock();
        let fx = state.matchmaker.handle(id, msg)?;
        // Offers, answers and candidates in a client's transition can only be relays.
        for (_, sent) in &fx.messages {
            self.metrics.relayed(sent);
        }
        self.apply(&mut state, fx);
        Ok(())
    }

    /// The address of the stranger `id` is in call `call_id` with: whom a report is about.
    pub fn report_target(&self, id: SessionId, call_id: CallId) -> Result<IpAddr, RelayError> {
        let state = self.lock();
        let partner = state.matchmaker.partner_in(id, call_id)?;
        state
            .addresses
            .get(&partner)
            .copied()
            .ok_or(RelayError::NotInCall)
    }

    /// Sends `farewell` to every session whose address passes `banned` and disconnects them.
    pub fn disconnect_where(&self, banned: impl Fn(IpAddr) -> bool, farewell: ServerMsg) {
        let mut state = self.lock();
        let HubState {
            outboxes,
            addresses,
            ..
        } = &mut *state;
        disconnect(outboxes, addresses, banned, &farewell);
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

    fn open_search(&self, id: SessionId, search_gen: u64) {
        let mut state = self.lock();
        let fx = state.matchmaker.open_search(id, search_gen);
        self.apply(&mut state, fx);
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        // A panic elsewhere while holding the lock must not take every later session down with
        // it: the matchmaker's state is updated field by field and stays usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delivers a transition's messages and arms its timers: a connect timeout for each new
    /// video call, the end of the preference wait for each search that has one.
    fn apply(&self, state: &mut HubState, fx: Effects) {
        for (to, msg) in fx.messages {
            deliver(&mut state.outboxes, to, msg);
        }
        for _ in &fx.new_calls {
            self.metrics.matches.inc();
        }
        for call in fx.new_calls {
            let hub = self.clone();
            let wait = self.connect_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                hub.expire(call);
            });
        }
        for (id, search_gen) in fx.preference_waits {
            let hub = self.clone();
            let wait = self.preference_wait;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                hub.open_search(id, search_gen);
            });
        }
    }
}

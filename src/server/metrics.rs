//! `/metrics` in Prometheus' text format.
//!
//! One registry per server (prometheus-client keeps no global state, so tests can run several
//! servers in one process). Counters are bumped where things happen; the gauges for sessions
//! and calls are read from the switchboard when scraped, so they can never drift. Label
//! values are the protocol's own wire names ([`wire_name`]), never spelled here.

use crate::protocol::{wire_name, CallId, ClientKind, ErrorCode, IceCandidate, Role, ServerMsg};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// A label with one fixed-vocabulary value.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: String,
}

/// Counts for `/healthz`, `/metrics` and tests: this server's own sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub online: usize,
    pub searching: usize,
    /// Calls with at least one side here.
    pub calls: usize,
    /// Sessions here that are in a call.
    pub in_call: usize,
}

/// A label naming why a connection was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

/// Every metric duet exports; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    online: Gauge,
    searching: Gauge,
    calls: Gauge,
    /// 1 while matching works (always alone; with Redis, while this node reaches it).
    matching_available: Gauge,
    /// Pairs formed.
    pub matches: Counter,
    /// Offers, answers and candidates delivered to a partner, by kind.
    relayed: Family<Kind, Counter>,
    /// The three counters of `relayed`, made once: offer, answer, ice.
    relayed_by_kind: [Counter; 3],
    /// Error messages sent to clients, by error code.
    pub errors: Family<Kind, Counter>,
    /// Sockets refused or closed at connect, by reason.
    pub rejected: Family<Reason, Counter>,
    /// Reports recorded.
    pub reports: Counter,
    /// Bans issued.
    pub bans: Counter,
    /// Strangers blocked ("never again").
    pub blocks: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("duet");
        let metrics = Metrics {
            registry: Arc::new(Registry::default()),
            online: Gauge::default(),
            searching: Gauge::default(),
            calls: Gauge::default(),
            matching_available: Gauge::default(),
            matches: Counter::default(),
            relayed: Family::default(),
            relayed_by_kind: Default::default(),
            errors: Family::default(),
            rejected: Family::default(),
            reports: Counter::default(),
            bans: Counter::default(),
            blocks: Counter::default(),
        };
        registry.register(
            "sessions_online",
            "Sessions (open tabs) online",
            metrics.online.clone(),
        );
        registry.register(
            "sessions_searching",
            "Sessions waiting for a stranger",
            metrics.searching.clone(),
        );
        registry.register("calls_active", "Calls in progress", metrics.calls.clone());
        registry.register(
            "matching_available",
            "1 while matching works (with Redis: while this node reaches it), else 0",
            metrics.matching_available.clone(),
        );
        registry.register("matches", "Pairs formed", metrics.matches.clone());
        registry.register(
            "messages_relayed",
            "Signaling messages delivered to a partner",
            metrics.relayed.clone(),
        );
        registry.register(
            "errors",
            "Error messages sent to clients, by code",
            metrics.errors.clone(),
        );
        registry.register(
            "connections_rejected",
            "Connections refused, by reason",
            metrics.rejected.clone(),
        );
        registry.register("reports", "Reports recorded", metrics.reports.clone());
        registry.register("bans", "Bans issued", metrics.bans.clone());
        registry.register(
            "blocks",
            "Strangers blocked by visitors",
            metrics.blocks.clone(),
        );
        // Label each counter with the message type as it travels.
        let (call_id, sdp) = (CallId(0), String::new());
        let candidate = IceCandidate {
            candidate: String::new(),
            sdp_mid: None,
            sdp_m_line_index: None,
        };
        let samples = [
            ServerMsg::Offer {
                call_id,
                sdp: sdp.clone(),
            },
            ServerMsg::Answer { call_id, sdp },
            ServerMsg::Ice {
                call_id,
                role: Role::Peer1,
                candidate,
            },
        ];
        let relayed_by_kind = samples.map(|sample| {
            metrics
                .relayed
                .get_or_create(&Kind {
                    kind: wire_name(&sample),
                })
                .clone()
        });
        Metrics {
            registry: Arc::new(registry),
            relayed_by_kind,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts an error message sent to a client.
    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&Kind {
                kind: wire_name(&code),
            })
            .inc();
    }

    /// Counts a refused connection.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&Reason { reason }).inc();
    }

    /// Counts `msg` if it is a signaling message (offer, answer, candidate) passed on to a
    /// partner; other messages are not counted here.
    pub fn relayed(&self, msg: &ServerMsg) {
        let kind = match msg {
            ServerMsg::Offer { .. } => ClientKind::Offer,
            ServerMsg::Answer { .. } => ClientKind::Answer,
            ServerMsg::Ice { .. } => ClientKind::Ice,
            _ => return,
        };
        self.relayed_kind(kind);
    }

    /// Counts a signaling message of `kind` passed on to a partner (an offer or answer passed
    /// on as the browser wrote it, see `protocol::RawSdp`, is counted here directly).
    pub fn relayed_kind(&self, kind: ClientKind) {
        let counter = match kind {
            ClientKind::Offer => 0,
            ClientKind::Answer => 1,
            ClientKind::Ice => 2,
            _ => return,
        };
        self.relayed_by_kind[counter].inc();
    }

    /// The text exposition, with the gauges set from `stats` and `matching_available`.
    pub fn render(&self, stats: Stats, matching_available: bool) -> String {
        self.matching_available.set(i64::from(matching_available));
        self.online.set(gauge_value(stats.online));
        self.searching.set(gauge_value(stats.searching));
        self.calls.set(gauge_value(stats.calls));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

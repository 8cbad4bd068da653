//! The server build: the router, the shared state and start-up.
//!
//! `/ws` is the signaling socket ([`ws`]), `/healthz` a liveness probe; every other path is
//! the Leptos app (pages, server functions, the built site under `/pkg`).

pub mod client_ip;
pub mod config;
pub mod headers;
pub mod hub;
pub mod limits;
pub mod local_hub;
pub mod matchmaker;
pub mod metrics;
pub mod moderation;
pub mod presence;
pub mod redis_hub;
pub mod turn;
pub mod ws;

use crate::app::{shell, App};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use config::Config;
use hub::{Hub, HubStats};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use limits::ConnectionLimiter;
use local_hub::LocalHub;
use metrics::Metrics;
use moderation::{Moderation, ModerationError, Shared};
use redis_hub::RedisHub;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// Everything handlers and server functions share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Leptos' settings (site root, output name), needed to render pages and serve `/pkg`.
    pub leptos_options: LeptosOptions,
    /// The flags this server was started with.
    pub config: Arc<Config>,
    /// Sessions, matching and relaying.
    pub hub: Hub,
    /// The online count, sampled for socket tasks to push (see [`presence`]).
    pub presence: watch::Receiver<u32>,
    /// Cancelled when the server shuts down, so socket tasks close themselves: axum's graceful
    /// shutdown does not wait for upgraded WebSockets.
    pub shutdown: CancellationToken,
    /// Every live socket task, so shutdown can wait (a bounded time) for them to finish.
    pub sessions: TaskTracker,
    /// Open sockets and new connections per client address.
    pub limiter: ConnectionLimiter,
    /// Reports and bans.
    pub moderation: Moderation,
    /// What `/metrics` exports.
    pub metrics: Metrics,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// Builds the state for `config`: opens the moderation database, joins the other nodes
    /// when there is a Redis, and starts the background tasks (presence, housekeeping).
    pub async fn new(config: Config) -> Result<Self, StartError> {
        let metrics = Metrics::default();
        let shutdown = CancellationToken::new();
        let mut moderation = Moderation::open(config.moderation())?;
        // What other nodes share about moderation (with Redis), for this node's store.
        let (shared_tx, shared_rx) = mpsc::channel(1024);
        let hub = match &config.redis_url {
            None => Hub::Local(LocalHub::new(
                config.connect_timeout,
                config.interest_wait,
                config.outbox_capacity,
                metrics.clone(),
            )),
            Some(url) => {
                let redis = RedisHub::connect(
                    redis_hub::Settings {
                        url: url.clone(),
                        node_timeout: config.node_timeout,
                        connect_timeout: config.connect_timeout,
                        preference_wait: config.interest_wait,
                        outbox_capacity: config.outbox_capacity,
                    },
                    metrics.clone(),
                    shutdown.clone(),
                    shared_tx,
                )
                .await?;
                // One hashing key for every node, so an address hash means the same everywhere.
                let agreed = redis
                    .agree_on_key(moderation.key())
                    .await
                    .map_err(|source| redis_hub::ConnectError::new(url, source))?;
                if agreed != moderation.key() {
                    tracing::info!("adopted the other nodes' key for hashing addresses");
                }
                moderation.adopt_key(agreed)?;
                Hub::Redis(redis)
            }
        };
        let presence = presence::spawn(hub.clone(), config.presence_interval);
        let state = AppState {
            leptos_options: leptos_options(&config),
            moderation,
            limiter: ConnectionLimiter::new(
                config.max_connections_per_ip,
                config.connections_per_minute,
            ),
            config: Arc::new(config),
            hub,
            presence,
            shutdown,
            sessions: TaskTracker::new(),
            metrics,
        };
        tokio::spawn(housekeeping(state.clone()));
        tokio::spawn(store_shared_moderation(state.clone(), shared_rx));
        Ok(state)
    }
}

/// Stores what other nodes share (reports, bans, lifted bans), so this node enforces the
/// whole site's bans; a new ban also disconnects this node's sessions from that address.
async fn store_shared_moderation(state: AppState, mut shared: mpsc::Receiver<Shared>) {
    while let Some(item) = shared.recv().await {
        let stored = match item {
            Shared::Report(report) => state
                .moderation
                .record_report(report, false)
                .await
                .map(drop),
            Shared::Ban(ban) => {
                let (subject, until) = (ban.subject.clone(), ban.until);
                let stored = state.moderation.record_ban(ban).await;
                let moderation = state.moderation.clone();
                state.hub.disconnect_where(
                    move |ip| moderation.is_subject(ip, &subject),
                    ws::banned(until),
                );
                stored
            }
            Shared::Lift { subject } => state.moderation.lift_subject(subject).await,
        };
        if let Err(e) = stored {
            tracing::warn!("could not store moderation shared by another node: {e}");
        }
    }
}

/// Forgets idle addresses in the connection limiter every minute, and deletes reports past
/// their retention at start and every hour.
async fn housekeeping(state: AppState) {
    let mut minute = tokio::time::interval(Duration::from_secs(60));
    let mut minutes = 0u64;
    loop {
        tokio::select! {
            _ = minute.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        state.limiter.sweep(tokio::time::Instant::now());
        if minutes.is_multiple_of(60) {
            match state.moderation.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "purged reports and bans past retention"),
                Err(e) => tracing::warn!("could not purge old reports: {e}"),
            }
        }
        minutes += 1;
    }
}

/// Whether `given` is the admin token, compared in constant time (over digests, so the
/// comparison does not depend on where the strings differ or on their lengths).
pub fn admin_token_matches(expected: &str, given: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (a, b) = (
        Sha256::digest(expected.as_bytes()),
        Sha256::digest(given.as_bytes()),
    );
    a.ct_eq(&b).into()
}

/// Leptos' options from its environment variables, with our flags for address and root.
fn leptos_options(config: &Config) -> LeptosOptions {
    let fallback = || LeptosOptions::builder().output_name("duet").build();
    // Leptos complains on stderr when its variables are missing (a binary built by plain
    // cargo, as the tests do); then its defaults are all we need.
    let set_up = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
        || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = if set_up {
        get_configuration(None)
            .map(|conf| conf.leptos_options)
            .unwrap_or_else(|_| fallback())
    } else {
        fallback()
    };
    if options.output_name.is_empty() {
        options.output_name = env!("CARGO_PKG_NAME").into();
    }
    options.site_addr = config.site_addr;
    options.site_root = config.site_root.as_str().into();
    options
}

/// The whole application as one router, ready to serve (tests serve it on port 0).
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context_state = state.clone();
    let shell_options = state.leptos_options.clone();
    let router = Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(context_state.clone());
                leptos::nonce::provide_nonce();
            },
            move || shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell));
    headers::add_to(router)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /metrics`: Prometheus text format.
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state
            .metrics
            .render(state.hub.stats(), state.hub.matching_available()),
    )
}

/// `GET /healthz`: the server is up, with the counts it sees. With Redis, also whether this
/// node reaches it: while it does not, matching is paused here and the answer is a 503, so a
/// load balancer sends new visitors to a node that works.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let HubStats {
        online,
        searching,
        calls,
    } = state.hub.stats();
    let mut body = serde_json::json!({
        "status": "ok",
        "online": online,
        "searching": searching,
        "calls": calls,
    });
    let mut code = StatusCode::OK;
    if let Hub::Redis(_) = &state.hub {
        let up = state.hub.matching_available();
        body["redis"] = if up { "up" } else { "down" }.into();
        body["site_online"] = state.hub.online().into();
        if !up {
            body["status"] = "redis_unavailable".into();
            code = StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    (code, Json(body))
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Moderation(#[from] ModerationError),
    #[error(transparent)]
    Redis(#[from] redis_hub::ConnectError),
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

/// Binds the configured address and serves until Ctrl-C or SIGTERM, then drains: stops
/// accepting, tells every open socket, and waits at most `--shutdown-grace` for them to close.
pub async fn run(config: Config) -> Result<(), StartError> {
    let addr = config.site_addr;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })?;
    let state = AppState::new(config).await?;
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: closing every socket");
        shutdown.cancel();
    });
    serve(listener, state.clone()).await?;
    state.sessions.close();
    if tokio::time::timeout(state.config.shutdown_grace, state.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            still_open = state.sessions.len(),
            "sockets still open after the shutdown grace period; exiting anyway"
        );
    }
    state.hub.leave_site().await;
    tracing::info!("stopped");
    Ok(())
}

/// Serves the app on `listener` until `state.shutdown` is cancelled.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let shutdown = state.shutdown.clone();
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // Signaling messages are small and latency matters: no Nagle delay.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
    });
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

//! The server build: the router, the shared state and start-up.
//!
//! `/ws` is the signaling socket ([`ws`]), `/healthz` a liveness probe; every other path is
//! the Leptos app (pages, server functions, the built site under `/pkg`).

pub mod config;
pub mod hub;
pub mod matchmaker;
pub mod presence;
pub mod ws;

use crate::app::{shell, App};
use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use config::Config;
use hub::{Hub, HubStats};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl AppState {
    /// Builds the state for `config`. Must run inside a tokio runtime (it starts presence).
    pub fn new(config: Config) -> Self {
        let hub = Hub::new(config.connect_timeout, config.outbox_capacity);
        let presence = presence::spawn(hub.clone(), config.presence_interval);
        AppState {
            leptos_options: leptos_options(&config),
            config: Arc::new(config),
            hub,
            presence,
            shutdown: CancellationToken::new(),
        }
    }
}

/// Leptos' options from its environment variables, with our flags for address and root.
fn leptos_options(config: &Config) -> LeptosOptions {
    let mut options = get_configuration(None)
        .map(|conf| conf.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("duet").build());
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
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(context_state.clone()),
            move || shell(shell_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// `GET /healthz`: the server is up; with the counts it sees.
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let HubStats {
        online,
        searching,
        calls,
    } = state.hub.stats();
    Json(serde_json::json!({
        "status": "ok",
        "online": online,
        "searching": searching,
        "calls": calls,
    }))
}

/// Binds the configured address and serves until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.site_addr).await?;
    let state = AppState::new(config);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    serve(listener, state).await
}

/// Serves the app on `listener` until `state.shutdown` is cancelled, then closes every socket.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let shutdown = state.shutdown.clone();
    tracing::info!("listening on http://{}", listener.local_addr()?);
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

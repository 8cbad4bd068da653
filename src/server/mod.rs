//! The server build: the router, the shared state and start-up.
//!
//! `/ws` is the signaling socket ([`socket`]), `/healthz` a liveness probe; every other path is
//! the Leptos app (pages, server functions, the built site under `/pkg`).

pub(crate) mod client_ip;
pub mod config;
pub(crate) mod headers;
pub(crate) mod limits;
pub mod matching;
pub mod metrics;
pub mod moderation;
pub(crate) mod presence;
pub(crate) mod proof;
pub mod screening;
pub mod secret;
pub mod session;
pub(crate) mod socket;
pub mod state;
pub mod switchboard;
pub(crate) mod timers;
pub mod turn;

use crate::app::shell;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use config::Config;
use leptos::prelude::*;
use leptos_axum::{AxumRouteListing, LeptosRoutes};
use leptos_router::SsrMode;
use metrics::Stats;
use state::{AppState, StartError};
use std::net::SocketAddr;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

/// The whole application as one router, ready to serve (tests serve it on port 0).
pub fn app(state: AppState) -> Router {
    // The app's pages (see `App`), listed by hand: it picks its page from the path without
    // a router, so there is no route tree to read them from.
    let routes = crate::app::PAGES
        .iter()
        .map(|path| {
            AxumRouteListing::new(
                (*path).to_owned(),
                SsrMode::OutOfOrder,
                [leptos_router::Method::Get],
                vec![],
            )
        })
        .collect();
    let context_state = state.clone();
    let shell_options = state.leptos_options.clone();
    let router = Router::new()
        .route("/ws", get(socket::upgrade))
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
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(axum::middleware::from_fn(screening::headers));
    let behind_tls = state.config.behind_tls;
    headers::add_to(router, behind_tls)
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
        state.metrics.render(
            state.switchboard.stats(),
            state.switchboard.matching_available(),
        ),
    )
}

/// `GET /healthz`: the server is up, with the counts it sees. With Redis, also whether this
/// node reaches it: while it does not, matching is paused here and the answer is a 503, so a
/// load balancer sends new visitors to a node that works.
async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let Stats {
        online,
        searching,
        calls,
        ..
    } = state.switchboard.stats();
    let mut body = serde_json::json!({
        "status": "ok",
        "online": online,
        "searching": searching,
        "calls": calls,
    });
    let mut code = StatusCode::OK;
    if state.switchboard.clustered() {
        let up = state.switchboard.matching_available();
        body["redis"] = if up { "up" } else { "down" }.into();
        body["site_online"] = state.switchboard.online().into();
        if !up {
            body["status"] = "redis_unavailable".into();
            code = StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    (code, Json(body))
}

/// Binds the configured address and serves until Ctrl-C or SIGTERM, then drains: stops
/// accepting, tells every open socket, and waits at most `--shutdown-grace` for them to close.
pub async fn run(mut config: Config) -> Result<(), StartError> {
    config.max_connections = limits::sockets_within_open_files(config.max_connections);
    // Installed before anything can connect: a SIGTERM that came before the handlers would
    // kill the process outright, and its sockets would never hear why.
    let signalled = shutdown_signal();
    let addr = config.site_addr;
    let listener = listen(addr, config.listen_backlog)
        .map_err(|source| StartError::Listen { addr, source })?;
    let state = AppState::new(config).await?;
    let site_root = std::path::Path::new(&*state.leptos_options.site_root);
    drop_stale_precompressed(site_root);
    warn_if_not_split(&state.leptos_options);
    let shutdown = state.shutdown.clone();
    tokio::spawn(async move {
        signalled.await;
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
    state.switchboard.leave_site().await;
    tracing::info!("stopped");
    Ok(())
}

/// A listening socket on `addr` with room for `backlog` connections not yet accepted (tokio's
/// `TcpListener::bind` leaves the library default, 128 or 1,024).
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // A restarted node takes its port back at once, while old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Removes every `.br` / `.gz` file of the site that is older than the file it compresses.
///
/// `cargo leptos build --release --precompress` writes brotli-11 and gzip copies of the built
/// site next to it, and the static file handler sends those to browsers that accept them (a
/// third smaller than compressing on the fly). A later build without `--precompress` leaves
/// the old copies behind; served, they would pair an old wasm with new JavaScript. So a copy
/// older than its file goes, and that file is compressed on the fly instead.
fn drop_stale_precompressed(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            drop_stale_precompressed(&path);
            continue;
        }
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("br" | "gz")) {
            continue;
        }
        let original = path.with_extension("");
        let stale = match (modified(&path), modified(&original)) {
            (Ok(copy), Ok(file)) => copy < file,
            // The file it compressed is gone.
            (_, Err(_)) => true,
            (Err(_), Ok(_)) => false,
        };
        if stale {
            tracing::warn!(path = %path.display(), "removing a precompressed copy older than its file");
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), "could not remove it: {e}");
            }
        }
    }
}

/// Says so, loudly, when the site was built without `cargo leptos build --split`: the bundle
/// then keeps an import of the split tool's placeholder that nothing provides, and no page
/// hydrates (the lobby's Call stays off). The split writes its manifest next to the bundle.
fn warn_if_not_split(options: &LeptosOptions) {
    let pkg_dir = std::path::Path::new(&*options.site_root).join(&*options.site_pkg_dir);
    let wasm = pkg_dir.join(format!("{}.wasm", options.output_name));
    if wasm.exists() && !pkg_dir.join("__wasm_split_manifest.json").exists() {
        tracing::error!(
            dir = %pkg_dir.display(),
            "the site was built without --split: pages will not hydrate; build it with \
             `make build` (cargo leptos build --release --precompress --split)"
        );
    }
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
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await
}

/// Resolves on the first Ctrl-C or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, Signal, SignalKind};
        async fn next(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                // No handler (the runtime could not install it): that signal never ends us.
                None => std::future::pending().await,
            }
        }
        let interrupt = next(signal(SignalKind::interrupt()).ok());
        let terminate = next(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                _ = interrupt => {},
                _ = terminate => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::drop_stale_precompressed;
    use std::fs::{self, File};
    use std::time::{Duration, SystemTime};

    /// A copy older than its file, or whose file is gone, is removed; a fresh one stays, in
    /// nested folders too.
    #[test]
    fn only_stale_precompressed_copies_are_removed() {
        let site = tempfile::tempdir().unwrap();
        let pkg = site.path().join("pkg");
        fs::create_dir(&pkg).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let write = |name: &str, modified: Option<SystemTime>| {
            let path = pkg.join(name);
            fs::write(&path, name).unwrap();
            if let Some(time) = modified {
                File::options()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_modified(time)
                    .unwrap();
            }
        };
        write("duet.wasm", None);
        write("duet.wasm.br", Some(hour_ago));
        write("duet.wasm.gz", Some(hour_ago));
        write("duet.js", Some(hour_ago));
        write("duet.js.br", None);
        write("gone.css.gz", None);
        drop_stale_precompressed(site.path());
        let mut left: Vec<_> = fs::read_dir(&pkg)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["duet.js", "duet.js.br", "duet.wasm"]);
    }
}

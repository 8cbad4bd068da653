//! [`AppState`]: what every handler and server function shares, and how it is built at
//! start-up.

use crate::server::config::{Config, ConfigError};
use crate::server::limits::{ConnectionLimiter, VisitorQuota};
use crate::server::matching::redis::{self, ConnectError};
use crate::server::metrics::Metrics;
use crate::server::moderation::store::{ModerationError, Store};
use crate::server::moderation::Moderation;
use crate::server::presence::Presence;
use crate::server::switchboard::{self, Switchboard};
use axum::extract::FromRef;
use leptos::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Everything handlers and server functions share: one pointer, cheap to clone. Every socket
/// task holds one, so it is a single `Arc` rather than the parts side by side (which made
/// each idle session carry their copies, about 600 bytes, twice).
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

/// What an [`AppState`] points to.
pub struct AppStateInner {
    /// Leptos' settings (site root, output name), needed to render pages and serve `/pkg`.
    pub leptos_options: LeptosOptions,
    /// The flags this server was started with.
    pub config: Arc<Config>,
    /// Sessions, matching and relaying.
    pub switchboard: Switchboard,
    /// The online count, published for socket tasks to push (see [`Presence`]).
    pub presence: Presence,
    /// Cancelled when the server shuts down, so socket tasks close themselves: axum's graceful
    /// shutdown does not wait for upgraded WebSockets.
    pub shutdown: CancellationToken,
    /// Every live socket task, so shutdown can wait (a bounded time) for them to finish.
    pub sessions: TaskTracker,
    /// Open sockets in total, and open sockets and new connections per visitor.
    pub limiter: ConnectionLimiter,
    /// Wrong admin tokens per visitor per minute.
    pub admin_guesses: VisitorQuota,
    /// TURN credentials per visitor per hour.
    pub turn_credentials: VisitorQuota,
    /// Reports and bans.
    pub moderation: Moderation,
    /// What `/metrics` exports.
    pub metrics: Metrics,
    /// The video screening's files, as the build's manifest names them (none when missing).
    pub screening: Option<crate::server::screening::ScreeningFiles>,
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Moderation(#[from] ModerationError),
    #[error(transparent)]
    Redis(#[from] ConnectError),
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

impl AppState {
    /// Builds the state for `config`: opens the moderation database, joins the other nodes
    /// when there is a Redis, and starts the background tasks (presence, housekeeping).
    pub async fn new(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let metrics = Metrics::default();
        let shutdown = CancellationToken::new();
        let mut store = Store::open(config.moderation())?;
        let (switchboard, broadcasts) = Switchboard::start(
            switchboard::Settings {
                connect_timeout: config.connect_timeout,
                preference_wait: config.interest_wait,
                outbox_capacity: config.outbox_capacity,
                outbox_bytes: config.outbox_bytes,
                reload_grace: config.reload_grace,
                redis: config.redis_url.as_ref().map(|url| redis::Settings {
                    url: url.clone(),
                    node_timeout: config.node_timeout,
                }),
            },
            metrics.clone(),
            shutdown.clone(),
        )
        .await?;
        // One hashing key for every node, so an address hash means the same everywhere.
        let agreed = switchboard.agree_on_key(store.key()).await?;
        if agreed != store.key() {
            tracing::info!("adopted the other nodes' key for hashing addresses");
        }
        store.adopt_key(agreed)?;
        let moderation = Moderation::start(store, switchboard.clone(), metrics.clone(), broadcasts);
        moderation.restore_blocks().await?;
        let presence = Presence::spawn(switchboard.clone(), config.presence_interval);
        let screening = crate::server::screening::load(std::path::Path::new(&config.site_root));
        let state = AppState(Arc::new(AppStateInner {
            screening,
            leptos_options: leptos_options(&config),
            moderation,
            limiter: ConnectionLimiter::new(config.connection_limits()),
            admin_guesses: VisitorQuota::new(
                config.admin_guesses_per_minute,
                Duration::from_secs(60),
                config.prefixes(),
            ),
            turn_credentials: VisitorQuota::new(
                config.turn_credentials_per_hour,
                Duration::from_secs(60 * 60),
                config.prefixes(),
            ),
            config: Arc::new(config),
            switchboard,
            presence,
            shutdown,
            sessions: TaskTracker::new(),
            metrics,
        }));
        tokio::spawn(housekeeping(state.clone()));
        Ok(state)
    }
}

/// Forgets idle visitors in the connection limiter and the quotas every minute, and deletes
/// reports past their retention and blocks that ended at start and every hour.
async fn housekeeping(state: AppState) {
    let mut minute = tokio::time::interval(Duration::from_secs(60));
    let mut minutes = 0u64;
    loop {
        tokio::select! {
            _ = minute.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        let now = tokio::time::Instant::now();
        state.limiter.sweep(now);
        state.admin_guesses.sweep(now);
        state.turn_credentials.sweep(now);
        if minutes.is_multiple_of(60) {
            match state.moderation.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "purged reports, bans and blocks past their time"
                ),
                Err(e) => tracing::warn!("could not purge old reports: {e}"),
            }
        }
        minutes += 1;
    }
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

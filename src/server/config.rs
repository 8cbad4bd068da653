//! Server configuration: command-line flags, each with an environment variable fallback.
//!
//! `duet --help` lists them all. The site address and root use Leptos' own variable names, so
//! `cargo leptos serve` and a bare `target/release/duet` read the same settings.

use crate::api::IceServer;
use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;

/// duet: random video chat. Serves the lobby, the site bundle and the signaling socket.
#[derive(Parser, Clone, Debug)]
#[command(name = "duet", version, about)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,

    /// Folder holding the built site (`pkg/` with the wasm, JS and CSS, plus public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// How often the server pings each browser.
    #[arg(long, env = "DUET_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// A browser not heard from (not even a pong) for this long is disconnected.
    #[arg(long, env = "DUET_HEARTBEAT_TIMEOUT", default_value = "40s", value_parser = humantime::parse_duration)]
    pub heartbeat_timeout: Duration,

    /// A match whose WebRTC connection is not up within this time is given up on both sides.
    #[arg(long, env = "DUET_CONNECT_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// How often the online count is sampled and pushed to browsers when it changed.
    #[arg(long, env = "DUET_PRESENCE_INTERVAL", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub presence_interval: Duration,

    /// Largest WebSocket message accepted, in bytes (room for a real SDP offer).
    #[arg(long, env = "DUET_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Messages that may wait for one slow browser before it is disconnected.
    #[arg(long, env = "DUET_OUTBOX_CAPACITY", default_value_t = 256)]
    pub outbox_capacity: usize,

    /// STUN/TURN server URLs handed to browsers, comma-separated
    /// (e.g. `stun:stun.example.org:3478,turn:turn.example.org:3478`). None by default, which
    /// works on one machine and on a LAN.
    #[arg(long, env = "DUET_ICE_URLS", value_delimiter = ',')]
    pub ice_urls: Vec<String>,

    /// Username for the TURN URLs, if they need one.
    #[arg(long, env = "DUET_ICE_USERNAME")]
    pub ice_username: Option<String>,

    /// Credential for the TURN URLs, if they need one.
    #[arg(long, env = "DUET_ICE_CREDENTIAL", hide_env_values = true)]
    pub ice_credential: Option<String>,

    /// Log filter in `tracing` syntax (e.g. `info`, `duet=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

impl Config {
    /// The ICE servers browsers should use, as the `ice_servers` server function returns them.
    pub fn ice_servers(&self) -> Vec<IceServer> {
        let urls: Vec<String> = self
            .ice_urls
            .iter()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Vec::new();
        }
        vec![IceServer {
            urls,
            username: self.ice_username.clone(),
            credential: self.ice_credential.clone(),
        }]
    }
}

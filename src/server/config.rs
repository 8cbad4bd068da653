//! Server configuration: command-line flags, each with an environment variable fallback.
//!
//! `duet --help` lists them all. The site address and root use Leptos' own variable names, so
//! `cargo leptos serve` and a bare `target/release/duet` read the same settings.

use crate::model::IceServer;
use crate::server::client_ip::AddressPrefixes;
use crate::server::limits::ConnectionLimits;
use crate::server::moderation::store;
use crate::server::secret::Secret;
use crate::server::turn::TurnSettings;
use clap::Parser;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// duet: random video chat. Serves the lobby, the site bundle and the signaling socket.
///
/// Secrets are [`Secret`]s, so this struct's `Debug` output shows `***` for them. Every
/// duration is range-checked as it is parsed (see [`timing`] and [`period`]), so no flag can
/// make a timer or a date overflow later.
#[derive(Parser, Clone, Debug)]
#[command(name = "duet", version, about)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port; the log says which).
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub site_addr: SocketAddr,

    /// Connections the kernel may hold for duet before it accepts them (the listen backlog).
    /// A connection storm (a restart, a link shared on a big site) overflows a short queue,
    /// and every dropped attempt costs that visitor a one-second retry. The kernel caps it at
    /// `net.core.somaxconn` (4,096 on current Linux; raise both together).
    #[arg(long, env = "DUET_LISTEN_BACKLOG", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub listen_backlog: u32,

    /// Folder holding the built site (`pkg/` with the wasm, JS and CSS, plus public assets).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    pub site_root: String,

    /// How often the server pings each browser.
    #[arg(long, env = "DUET_HEARTBEAT_INTERVAL", default_value = "15s", value_parser = timing)]
    pub heartbeat_interval: Duration,

    /// A browser not heard from (not even a pong) for this long is disconnected.
    #[arg(long, env = "DUET_HEARTBEAT_TIMEOUT", default_value = "40s", value_parser = timing)]
    pub heartbeat_timeout: Duration,

    /// A match whose WebRTC connection is not up within this time is given up on both sides.
    #[arg(long, env = "DUET_CONNECT_TIMEOUT", default_value = "20s", value_parser = timing)]
    pub connect_timeout: Duration,

    /// How long a tab that lost its socket in a call (a reload, a network change) may take to
    /// come back to the same call; its partner meanwhile sees "Stranger is reconnecting…".
    /// 0 ends the call at once, as a closed tab does.
    #[arg(long, env = "DUET_RELOAD_GRACE", default_value = "10s", value_parser = timing_or_zero)]
    pub reload_grace: Duration,

    /// How long a visitor with interests (or text-only) waits for a stranger who shares one
    /// before meeting anyone.
    #[arg(long, env = "DUET_INTEREST_WAIT", default_value = "5s", value_parser = timing_or_zero)]
    pub interest_wait: Duration,

    /// Chat lines per second one session may send, on average.
    #[arg(long, env = "DUET_CHAT_RATE", default_value_t = 2.0)]
    pub chat_rate: f64,

    /// Chat lines one session may send in a burst.
    #[arg(long, env = "DUET_CHAT_BURST", default_value_t = 10)]
    pub chat_burst: u32,

    /// A tab in the lobby or searching hears at most one online count per interval, and only
    /// when it moved (a tab in a call hears none); the tabs' counts go out spread over it.
    #[arg(long, env = "DUET_PRESENCE_INTERVAL", default_value = "2s", value_parser = timing)]
    pub presence_interval: Duration,

    /// Largest WebSocket message accepted, in bytes (room for a real SDP offer).
    #[arg(long, env = "DUET_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub max_message_bytes: usize,

    /// Messages that may wait for one slow browser before it is disconnected.
    #[arg(long, env = "DUET_OUTBOX_CAPACITY", default_value_t = 256)]
    pub outbox_capacity: usize,

    /// How many bytes of messages may wait for one browser before it is cut off (1008): a
    /// tab that stops reading while its partner sends cannot hold more memory than this.
    #[arg(long, env = "DUET_OUTBOX_BYTES", default_value_t = 1024 * 1024)]
    pub outbox_bytes: usize,

    /// How long one write to a socket may take before the tab is taken for stuck and closed.
    #[arg(long, env = "DUET_WRITE_TIMEOUT", default_value = "10s", value_parser = timing)]
    pub write_timeout: Duration,

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
    pub ice_credential: Option<Secret>,

    /// TURN server URLs for which duet hands out short-lived credentials (coturn's REST
    /// scheme), comma-separated, e.g. `turn:turn.example.org:3478,turns:turn.example.org:5349`.
    #[arg(long, env = "DUET_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The secret shared with the TURN server (coturn's `static-auth-secret`). Never sent to
    /// browsers.
    #[arg(long, env = "DUET_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<Secret>,

    /// How long TURN credentials handed to a browser stay valid.
    #[arg(long, env = "DUET_TURN_TTL", default_value = "1h", value_parser = timing)]
    pub turn_ttl: Duration,

    /// Log filter in `tracing` syntax (e.g. `info`, `duet=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,

    /// Other page origins allowed to open the signaling socket, comma-separated (e.g.
    /// `https://duet.example`). The site's own origin is always allowed.
    #[arg(long, env = "DUET_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Reverse proxies whose `X-Forwarded-For` is believed, comma-separated addresses or
    /// networks (e.g. `127.0.0.1,10.0.0.0/8`). Nobody else's is.
    #[arg(long, env = "DUET_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,

    /// Messages per second one session may send, on average.
    #[arg(long, env = "DUET_MESSAGE_RATE", default_value_t = 20.0)]
    pub message_rate: f64,

    /// Messages one session may send in a burst (ICE candidates come in bursts).
    #[arg(long, env = "DUET_MESSAGE_BURST", default_value_t = 100)]
    pub message_burst: u32,

    /// Next presses per second one session may make, on average.
    #[arg(long, env = "DUET_NEXT_RATE", default_value_t = 0.5)]
    pub next_rate: f64,

    /// Next presses one session may make in a burst.
    #[arg(long, env = "DUET_NEXT_BURST", default_value_t = 10)]
    pub next_burst: u32,

    /// Open signaling sockets allowed per visitor (client address prefix, see
    /// `--ipv6-prefix`).
    #[arg(long, env = "DUET_MAX_CONNECTIONS_PER_IP", default_value_t = 10)]
    pub max_connections_per_ip: u32,

    /// New signaling sockets allowed per visitor (client address prefix) per minute.
    #[arg(long, env = "DUET_CONNECTIONS_PER_MINUTE", default_value_t = 60)]
    pub connections_per_minute: u32,

    /// On SIGTERM, how long to wait for open sockets to close before exiting anyway.
    #[arg(long, env = "DUET_SHUTDOWN_GRACE", default_value = "5s", value_parser = timing_or_zero)]
    pub shutdown_grace: Duration,

    /// Where duet keeps its database of reports and bans.
    #[arg(long, env = "DUET_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Distinct reporters (address prefixes) whose reports within `--report-window` ban an
    /// address prefix.
    #[arg(long, env = "DUET_BAN_AFTER_REPORTS", default_value_t = 3)]
    pub ban_after_reports: u32,

    /// How many strangers one visitor (address prefix) may report in an hour; reports past it
    /// are refused and not stored, so one visitor cannot ban people by reporting everyone.
    #[arg(long, env = "DUET_REPORTS_PER_HOUR", default_value_t = 10)]
    pub reports_per_hour: u32,

    /// The window in which reports about one address are counted together.
    #[arg(long, env = "DUET_REPORT_WINDOW", default_value = "1h", value_parser = period)]
    pub report_window: Duration,

    /// How long a ban lasts.
    #[arg(long, env = "DUET_BAN_DURATION", default_value = "24h", value_parser = period)]
    pub ban_duration: Duration,

    /// How long "Don't match me with this stranger again" holds.
    #[arg(long, env = "DUET_BLOCK_DURATION", default_value = "30days", value_parser = period)]
    pub block_duration: Duration,

    /// How long reports (and ended bans) are kept before they are deleted.
    #[arg(long, env = "DUET_REPORT_RETENTION", default_value = "30days", value_parser = period_or_zero)]
    pub report_retention: Duration,

    /// Redis shared by several duet nodes, e.g. `redis://10.0.0.5:6379/0`: with it, presence,
    /// matching and relaying span every node using that Redis. Without it, this server works
    /// alone, in memory.
    #[arg(long, env = "DUET_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// With Redis: a node not heard from for this long is taken for dead; its visitors leave
    /// the pool and their partners on other nodes are told. Nodes beat five times as often.
    #[arg(long, env = "DUET_NODE_TIMEOUT", default_value = "5s", value_parser = timing)]
    pub node_timeout: Duration,

    /// Token for the moderators' page at /admin, at least 16 characters. Without one, the
    /// page is switched off.
    #[arg(long, env = "DUET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Wrong admin tokens one visitor (address prefix) may try per minute; after that, every
    /// try is refused with HTTP 429 until the minute has passed.
    #[arg(long, env = "DUET_ADMIN_GUESSES_PER_MINUTE", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub admin_guesses_per_minute: u32,

    /// Open signaling sockets allowed on this server in total, from everyone.
    #[arg(long, env = "DUET_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Prefix length that makes one visitor of IPv4 addresses, for every per-address limit,
    /// ban and report (32: each address on its own).
    #[arg(long, env = "DUET_IPV4_PREFIX", default_value_t = 32, value_parser = clap::value_parser!(u8).range(8..=32))]
    pub ipv4_prefix: u8,

    /// Prefix length that makes one visitor of IPv6 addresses (64: one subscriber's network,
    /// whose addresses its owner picks at will).
    #[arg(long, env = "DUET_IPV6_PREFIX", default_value_t = 64, value_parser = clap::value_parser!(u8).range(16..=128))]
    pub ipv6_prefix: u8,

    /// TURN credentials one visitor (address prefix) may get per hour. Only a visitor with a
    /// signaling socket open gets any.
    #[arg(long, env = "DUET_TURN_CREDENTIALS_PER_HOUR", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub turn_credentials_per_hour: u32,

    /// The site is served over HTTPS (a TLS proxy in front): every response then carries
    /// `Strict-Transport-Security`, so browsers never use plain HTTP for it again.
    #[arg(long, env = "DUET_BEHIND_TLS")]
    pub behind_tls: bool,

    /// Proof of work asked of every socket before it may call, in leading zero bits of a
    /// SHA-256 hash (0: none asked). Each bit doubles the work, 2^bits hashes on average; at
    /// the default a phone's browser needs about a third of a second, while the page loads.
    #[arg(long, env = "DUET_POW_BITS", default_value_t = 16,
          value_parser = clap::value_parser!(u8).range(0..=i64::from(MAX_POW_BITS)))]
    pub pow_bits: u8,

    /// One more bit of proof of work for every this many new sockets a visitor (address
    /// prefix) opened in the last minute, at most `+4` bits (16 times the work); 0 asks the
    /// same of everyone.
    #[arg(long, env = "DUET_POW_CONNECTS_PER_BIT", default_value_t = 10)]
    pub pow_connects_per_bit: u32,

    /// How long a socket has to answer its proof-of-work challenge; a later answer is refused
    /// and a new challenge sent, so no proof can be worked out ahead of time and kept.
    #[arg(long, env = "DUET_POW_TTL", default_value = "60s", value_parser = timing)]
    pub pow_ttl: Duration,

    /// Whether visitors' browsers screen the stranger's video by default: `on` shows it
    /// blurred until an on-device classifier found a frame clean (README, "Video screening");
    /// `off` shows it at once. Either way each visitor can switch it for themselves.
    #[arg(long, env = "DUET_SCREENING", value_enum, default_value_t = Screening::On)]
    pub screening: Screening,

    /// How sure the classifier must be that a frame is sexual (its Porn and Hentai
    /// probabilities added) to blur it: from 0 (every frame) to 1 (only certainties).
    #[arg(long, env = "DUET_SCREENING_THRESHOLD", default_value_t = DEFAULT_SCREENING_THRESHOLD,
          value_parser = probability)]
    pub screening_threshold: f64,

    /// How often the browser checks a frame of the stranger's video, once the first frame
    /// was found clean (from 100ms to 1m): shorter notices sooner and costs more battery.
    #[arg(long, env = "DUET_SCREENING_INTERVAL", default_value = "1s", value_parser = screening_interval)]
    pub screening_interval: Duration,
}

/// `--screening`: the visitor's default.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screening {
    On,
    Off,
}

/// The default `--screening-threshold`. nsfwjs' MobileNetV2 puts explicit frames well above
/// it and the ordinary webcam frames we tried (faces, rooms, Chromium's test pattern) at a few
/// hundredths (docs/BENCHMARKS.md, "Video screening"); between the two, a false positive only
/// costs a click on "Show anyway", a missed frame costs more.
pub const DEFAULT_SCREENING_THRESHOLD: f64 = 0.5;

/// A number from 0 to 1.
fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number (write one from 0 to 1, like 0.5)"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err("must be from 0 to 1 (0 blurs every frame, 1 only certainties)".into());
    }
    Ok(value)
}

/// A sampling interval: at least 100ms (ten frames a second is already more than a phone
/// should spend on this), at most a minute.
fn screening_interval(text: &str) -> Result<Duration, String> {
    let interval = duration_within(text, Duration::from_secs(60), false)?;
    if interval < Duration::from_millis(100) {
        return Err("must be at least 100ms".into());
    }
    Ok(interval)
}

/// The highest `--pow-bits`: with the extra bits for busy addresses, 2^28 hashes is minutes
/// in a browser, far past where the flag is useful.
pub const MAX_POW_BITS: u8 = 24;

/// The shortest admin token accepted: 16 random characters are beyond guessing at
/// `--admin-guesses-per-minute`.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 16;

/// Settings that are each valid but not acceptable (checked at start-up).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "the admin token (--admin-token / DUET_ADMIN_TOKEN) has {0} characters; it needs at \
         least {MIN_ADMIN_TOKEN_CHARS} (for example `openssl rand -hex 16`), or leave it unset \
         to switch /admin off"
    )]
    ShortAdminToken(usize),
}

/// The longest a timing flag may be: nothing in duet waits a day, and timers refuse deadlines
/// a couple of years away (`DelayQueue` panics), so the bound keeps far from that.
const MAX_TIMING: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest a moderation period (ban, report window, retention) may be: ten years, which
/// keeps every date duet computes or shows far inside what it can write.
/// Years as humantime counts them (365.25 days), so `10years` is exactly the bound.
const MAX_PERIOD: Duration = Duration::from_secs(10 * 31_557_600);

/// A duration over zero and at most a day (heartbeats, timeouts, intervals).
fn timing(text: &str) -> Result<Duration, String> {
    duration_within(text, MAX_TIMING, false)
}

/// A duration of at most a day, zero allowed (a wait that may be skipped).
fn timing_or_zero(text: &str) -> Result<Duration, String> {
    duration_within(text, MAX_TIMING, true)
}

/// A duration over zero and at most ten years (ban duration, report window).
fn period(text: &str) -> Result<Duration, String> {
    duration_within(text, MAX_PERIOD, false)
}

/// A duration of at most ten years, zero allowed (retention: keep nothing).
fn period_or_zero(text: &str) -> Result<Duration, String> {
    duration_within(text, MAX_PERIOD, true)
}

fn duration_within(text: &str, max: Duration, zero_allowed: bool) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("{e} (write a duration with units, like 500ms, 15s, 2m, 24h or 30days)")
    })?;
    if duration.is_zero() && !zero_allowed {
        return Err("must be longer than zero".into());
    }
    if duration > max {
        return Err(format!(
            "must be at most {}",
            humantime::format_duration(max)
        ));
    }
    Ok(duration)
}

/// URLs as given, trimmed, without empties.
fn clean(urls: &[String]) -> Vec<String> {
    urls.iter()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .collect()
}

/// An address (`127.0.0.1`, a network of one) or a network (`10.0.0.0/8`).
fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a network like 10.0.0.0/8"))
}

impl Config {
    /// Refuses settings that parse but must not be used. Called at start-up.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token {
            let chars = token.expose().chars().count();
            // An empty token (an empty environment variable) means "off", as no token does.
            if chars > 0 && chars < MIN_ADMIN_TOKEN_CHARS {
                return Err(ConfigError::ShortAdminToken(chars));
            }
        }
        Ok(())
    }

    /// The admin token, unless the moderators' page is off.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token
            .as_ref()
            .map(Secret::expose)
            .filter(|token| !token.is_empty())
    }

    /// What counts as one visitor.
    pub fn prefixes(&self) -> AddressPrefixes {
        AddressPrefixes {
            ipv4: self.ipv4_prefix,
            ipv6: self.ipv6_prefix,
        }
    }

    /// The connection limiter's settings.
    pub fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_total: self.max_connections,
            max_per_visitor: self.max_connections_per_ip,
            per_minute: self.connections_per_minute,
            prefixes: self.prefixes(),
        }
    }

    /// The proof-of-work settings.
    pub fn proof(&self) -> crate::server::proof::Difficulty {
        crate::server::proof::Difficulty {
            bits: self.pow_bits,
            connects_per_bit: self.pow_connects_per_bit,
            ttl: self.pow_ttl,
        }
    }

    /// The moderation store's settings.
    pub fn moderation(&self) -> store::Settings {
        store::Settings {
            data_dir: self.data_dir.clone(),
            ban_after_reports: self.ban_after_reports.max(1),
            reports_per_hour: self.reports_per_hour,
            report_window: self.report_window,
            ban_duration: self.ban_duration,
            block_duration: self.block_duration,
            retention: self.report_retention,
            prefixes: self.prefixes(),
        }
    }

    /// The ICE servers browsers should use, as the `ice_servers` server function returns them:
    /// the fixed ones, and the TURN servers with fresh credentials.
    pub fn ice_servers(&self, now: std::time::SystemTime) -> Vec<IceServer> {
        let mut servers = Vec::new();
        let fixed = clean(&self.ice_urls);
        if !fixed.is_empty() {
            servers.push(IceServer {
                urls: fixed,
                username: self.ice_username.clone(),
                credential: self.ice_credential.as_ref().map(|c| c.expose().to_owned()),
            });
        }
        if let Some(turn) = self.turn() {
            servers.push(turn.credentials(now));
        }
        servers
    }

    /// The TURN settings, when both URLs and a secret are given.
    pub fn turn(&self) -> Option<TurnSettings> {
        let urls = clean(&self.turn_urls);
        let secret = self.turn_secret.clone().filter(|s| !s.is_empty())?;
        (!urls.is_empty()).then_some(TurnSettings {
            urls,
            secret,
            ttl: self.turn_ttl,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("duet").chain(flags.iter().copied()))
    }

    #[test]
    fn debug_output_shows_no_secret() {
        let config = parse(&[
            "--admin-token",
            "admin-token-0123456789",
            "--turn-secret",
            "turn-secret-0123456789",
            "--ice-credential",
            "ice-credential-0123456789",
            "--redis-url",
            "redis://duet:redis-password-0123@10.0.0.5:6379/0",
            "--turn-urls",
            "turn:turn.example:3478",
        ])
        .unwrap();
        let printed = format!("{config:?} {:?}", config.turn());
        for secret in [
            "admin-token-0123456789",
            "turn-secret-0123456789",
            "ice-credential-0123456789",
            "redis-password-0123",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("admin_token: Some(***)"), "{printed}");
    }

    #[test]
    fn durations_are_bounded_and_positive_where_zero_makes_no_sense() {
        for (flag, value) in [
            ("--ban-duration", "1000000years"),
            ("--ban-duration", "11years"),
            ("--ban-duration", "0s"),
            ("--report-window", "0s"),
            ("--heartbeat-interval", "0s"),
            ("--heartbeat-interval", "2days"),
            ("--connect-timeout", "3years"),
            ("--node-timeout", "0s"),
            ("--presence-interval", "0ms"),
            ("--turn-ttl", "0s"),
            ("--report-retention", "20years"),
            ("--ban-duration", "soon"),
        ] {
            let error = parse(&[flag, value])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value}"));
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{flag} {value}"
            );
        }
        let config = parse(&[
            "--ban-duration",
            "10years",
            "--interest-wait",
            "0s",
            "--report-retention",
            "0s",
            "--shutdown-grace",
            "0s",
        ])
        .unwrap();
        assert_eq!(config.ban_duration, MAX_PERIOD);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_short_admin_token_is_refused_and_not_repeated() {
        let config = parse(&["--admin-token", "s3cret"]).unwrap();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("at least 16"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        assert!(parse(&["--admin-token", "0123456789abcdef"])
            .unwrap()
            .validate()
            .is_ok());
        // Empty is "off", like no token at all.
        let off = parse(&["--admin-token", ""]).unwrap();
        assert!(off.validate().is_ok());
        assert_eq!(off.admin_token(), None);
    }

    #[test]
    fn prefix_lengths_are_range_checked() {
        assert!(parse(&["--ipv6-prefix", "129"]).is_err());
        assert!(parse(&["--ipv6-prefix", "0"]).is_err());
        assert!(parse(&["--ipv4-prefix", "33"]).is_err());
        let config = parse(&["--ipv6-prefix", "56", "--ipv4-prefix", "24"]).unwrap();
        assert_eq!(config.prefixes(), AddressPrefixes { ipv4: 24, ipv6: 56 });
    }

    #[test]
    fn screening_flags_are_checked() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.screening, Screening::On);
        assert_eq!(config.screening_threshold, DEFAULT_SCREENING_THRESHOLD);
        assert_eq!(config.screening_interval, Duration::from_secs(1));
        for (flag, value) in [
            ("--screening", "maybe"),
            ("--screening-threshold", "1.5"),
            ("--screening-threshold", "-0.1"),
            ("--screening-threshold", "NaN"),
            ("--screening-threshold", "half"),
            ("--screening-interval", "50ms"),
            ("--screening-interval", "2m"),
            ("--screening-interval", "0s"),
        ] {
            // `flag=value`: a lone "-0.1" would read as a flag.
            let error = parse(&[&format!("{flag}={value}")])
                .err()
                .unwrap_or_else(|| panic!("{flag} {value}"));
            assert!(
                matches!(
                    error.kind(),
                    clap::error::ErrorKind::ValueValidation | clap::error::ErrorKind::InvalidValue
                ),
                "{flag} {value}: {error}"
            );
        }
        let config = parse(&[
            "--screening",
            "off",
            "--screening-threshold",
            "0",
            "--screening-interval",
            "250ms",
        ])
        .unwrap();
        assert_eq!(config.screening, Screening::Off);
        assert_eq!(config.screening_threshold, 0.0);
        assert_eq!(config.screening_interval, Duration::from_millis(250));
        assert_eq!(
            parse(&["--screening-threshold", "1"])
                .unwrap()
                .screening_threshold,
            1.0
        );
    }
}

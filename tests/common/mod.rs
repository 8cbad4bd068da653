//! Shared by the integration tests: a real duet server on a free port, and a WebSocket client
//! speaking the real protocol to it.
#![allow(dead_code)] // each test file uses its own part of this module

pub mod visitors;

use clap::Parser;
use duet::protocol::{self, CallId, ClientMsg, ReportReason, ServerMsg};
use duet::server::config::Config;
use duet::server::state::AppState;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{
    self, client::IntoClientRequest, protocol::CloseFrame, Message,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected message may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The flags a test server gets unless the test names them: `--pow-bits 0` (most tests are
/// about something else and would only spend time hashing; tests/proof_of_work.rs is about
/// it) and `--reload-grace 0` (a closed tab's partner is told at once; the tests of coming
/// back name a grace).
pub fn test_defaults(flags: &[&str]) -> Vec<&'static str> {
    let named = |flag: &str| flags.iter().any(|f| f.starts_with(flag));
    let mut defaults = Vec::new();
    if !named("--pow-bits") {
        defaults.extend(["--pow-bits", "0"]);
    }
    if !named("--reload-grace") {
        defaults.extend(["--reload-grace", "0"]);
    }
    defaults
}

/// A server running inside the test process on 127.0.0.1 and a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The data directory (reports, bans), deleted when the last user drops it.
    pub data_dir: Arc<TempDir>,
}

impl TestServer {
    /// Starts a server with these command-line flags (defaults for the rest) and a fresh data
    /// directory.
    pub async fn start(flags: &[&str]) -> TestServer {
        Self::start_with_data(flags, Arc::new(TempDir::new().unwrap())).await
    }

    /// Starts a server on an existing data directory (to see what survives a restart).
    pub async fn start_with_data(flags: &[&str], data_dir: Arc<TempDir>) -> TestServer {
        // DUET_TEST_LOG=debug shows the servers' logs when a test needs explaining.
        if let Ok(filter) = std::env::var("DUET_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
        let dir = data_dir.path().to_str().unwrap().to_owned();
        let args = ["duet", "--data-dir", &dir]
            .into_iter()
            .chain(test_defaults(flags))
            .chain(flags.iter().copied());
        let config = Config::parse_from(args);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(config).await.expect("server state");
        tokio::spawn(duet::server::serve(listener, state.clone()));
        TestServer {
            addr,
            state,
            data_dir,
        }
    }

    /// Stops the server: every socket is told and closed.
    pub fn stop(&self) {
        self.state.shutdown.cancel();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What `/metrics` exports now, as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The moderators' overview (reports and active bans), asked with `token`.
    pub async fn admin_overview(&self, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(self.url("/api/admin/overview"))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Lifts ban `id` as a moderator with `token`; whether there was such a ban.
    pub async fn lift_ban(&self, token: &str, id: i64) -> bool {
        reqwest::Client::new()
            .post(self.url("/api/admin/lift_ban"))
            .form(&[("token", token), ("id", &id.to_string())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Opens a signaling socket and reads the greeting (the online count, then the visitor
    /// key the browser would keep).
    pub async fn connect(&self) -> Client {
        self.connect_with(&[]).await
    }

    /// Like [`TestServer::connect`], with extra request headers.
    pub async fn connect_with(&self, headers: &[(&str, &str)]) -> Client {
        let client = self.open_with(headers).await.expect("WebSocket connects");
        greeted(client).await
    }

    /// A visitor from address `ip` (the server must trust 127.0.0.1 as its proxy), whose
    /// browser kept visitor key `key` if any.
    pub async fn connect_from(&self, ip: &str, key: Option<&str>) -> Client {
        let path = key.map_or_else(|| "/ws".to_string(), |key| format!("/ws?visitor={key}"));
        let client = open_at(self.addr, &path, &[("x-forwarded-for", ip)])
            .await
            .expect("WebSocket connects");
        greeted(client).await
    }

    /// `tab`'s new socket after it lost the old one (a reload): the same visitor key and its
    /// resume token.
    pub async fn reconnect(&self, tab: &Client) -> Client {
        self.reconnect_with(&tab.key(), tab.resume.as_deref().expect("greeted"))
            .await
    }

    /// A socket that says it is visitor `key` coming back with resume token `resume`.
    pub async fn reconnect_with(&self, key: &str, resume: &str) -> Client {
        let client = open_at(
            self.addr,
            &format!("/ws?visitor={key}&resume={resume}"),
            &[],
        )
        .await
        .expect("WebSocket connects");
        greeted(client).await
    }

    /// Opens a socket without reading anything; the upgrade's HTTP error if refused.
    pub async fn open_with(&self, headers: &[(&str, &str)]) -> Result<Client, tungstenite::Error> {
        open_socket(self.addr, headers).await
    }
}

/// Opens a signaling socket to the server at `addr` without reading anything.
pub async fn open_socket(
    addr: SocketAddr,
    headers: &[(&str, &str)],
) -> Result<Client, tungstenite::Error> {
    open_at(addr, "/ws", headers).await
}

/// Reads the greeting every socket gets first: the online count, then the visitor key.
async fn greeted(mut client: Client) -> Client {
    match client.next_any().await {
        Some(ServerMsg::Online { .. }) => {}
        other => panic!("expected the online count first, got {other:?}"),
    }
    match client.next_any().await {
        Some(ServerMsg::Visitor {
            key,
            blocked,
            resume,
        }) => {
            client.visitor = Some((key, blocked));
            client.resume = Some(resume);
            client
        }
        other => panic!("expected the visitor key next, got {other:?}"),
    }
}

/// Opens a socket to `path` (with its query) at `addr` without reading anything.
async fn open_at(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Client, tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Client {
        ws,
        close: None,
        visitor: None,
        resume: None,
    })
}

/// Opens a signaling socket to `addr` and reads the greeting.
pub async fn connect_to(addr: SocketAddr) -> Client {
    let client = open_socket(addr, &[]).await.expect("WebSocket connects");
    greeted(client).await
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Which matching back end a behaviour test runs against: the behaviour suite
/// (`tests/signaling.rs`) runs every test body on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// One server, matching in memory.
    Memory,
    /// One node on a real Redis.
    RedisOneNode,
    /// Two nodes on one real Redis; visitors connect to them in turn, so pairs cross nodes.
    RedisTwoNodes,
}

/// A whole site on one back end: one server, or nodes sharing a real Redis.
pub struct Site {
    pub nodes: Vec<TestServer>,
    next: std::sync::atomic::AtomicUsize,
    /// Kept alive as long as the nodes use it.
    _redis: Option<TestRedis>,
}

impl Site {
    /// Starts the site with these flags on every node (with Redis, a short node timeout too,
    /// so the site-wide online count follows within a fifth of a second).
    pub async fn start(backend: Backend, flags: &[&str]) -> Site {
        let (redis, nodes) = match backend {
            Backend::Memory => (None, 1),
            Backend::RedisOneNode => (Some(TestRedis::start().await), 1),
            Backend::RedisTwoNodes => (Some(TestRedis::start().await), 2),
        };
        let url = redis.as_ref().map(TestRedis::url).unwrap_or_default();
        let mut all: Vec<&str> = Vec::new();
        if redis.is_some() {
            all.extend(["--redis-url", &url, "--node-timeout", "1s"]);
        }
        all.extend_from_slice(flags);
        let mut servers = Vec::new();
        for _ in 0..nodes {
            servers.push(TestServer::start(&all).await);
        }
        Site {
            nodes: servers,
            next: Default::default(),
            _redis: redis,
        }
    }

    /// A new visitor, on the next node in turn.
    pub async fn connect(&self) -> Client {
        self.next_node().connect().await
    }

    /// Like [`TestServer::connect_from`], on the next node in turn.
    pub async fn connect_from(&self, ip: &str, key: Option<&str>) -> Client {
        self.next_node().connect_from(ip, key).await
    }

    fn next_node(&self) -> &TestServer {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.nodes[i % self.nodes.len()]
    }

    /// Online, searching and in-call sessions on the whole site, as (online, searching,
    /// calls).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut total = (0, 0, 0);
        for node in &self.nodes {
            let stats = node.state.switchboard.stats();
            total.0 += stats.online;
            total.1 += stats.searching;
            total.2 += stats.in_call;
        }
        (total.0, total.1, total.2 / 2)
    }

    /// The sum over every node of the metric sample that starts with `line` (for example
    /// `duet_matches_total`).
    pub async fn metric(&self, line: &str) -> f64 {
        let mut sum = 0.0;
        for node in &self.nodes {
            let text = node.metrics().await;
            sum += text
                .lines()
                .filter(|l| l.starts_with(line) && l[line.len()..].starts_with(' '))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>();
        }
        sum
    }

    /// Shuts every node down: every socket is told and closed.
    pub fn stop(&self) {
        for node in &self.nodes {
            node.stop();
        }
    }
}

/// A real `redis-server` (Debian's package) on a free loopback port, with nothing saved to
/// disk; stopped when dropped.
pub struct TestRedis {
    pub port: u16,
    child: Option<tokio::process::Child>,
}

impl TestRedis {
    pub async fn start() -> TestRedis {
        // The free port may be taken before redis binds it (by another test's outgoing
        // socket, which draws its port from the same range): then it exits, and a new port
        // is tried.
        for _ in 0..5 {
            let mut redis = TestRedis {
                port: free_port(),
                child: None,
            };
            if redis.launch().await {
                return redis;
            }
        }
        panic!("redis-server could not start on five free ports in a row");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port, empty, and waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(
            self.launch().await,
            "redis-server starts again on port {}",
            self.port
        );
    }

    /// Starts on this port and waits until it accepts connections; `false` if it exited first
    /// (its port was taken).
    async fn launch(&mut self) -> bool {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let port = self.port.to_string();
        let mut child = tokio::process::Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--protected-mode", "no"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh --test installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = tokio::time::timeout(PATIENCE, lines.next_line())
                .await
                .expect("redis-server starts in time")
                .unwrap();
            match line {
                Some(line) if line.contains("Ready to accept connections") => break,
                Some(_) => {}
                None => return false,
            }
        }
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
        true
    }

    /// Kills the server at once (as a crash would), and waits until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    /// Runs one command with redis-cli and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// The real duet binary as a separate process (a node that can be killed), on a free port.
pub struct ChildServer {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    _data_dir: TempDir,
}

impl ChildServer {
    pub async fn start(flags: &[&str]) -> ChildServer {
        ChildServer::start_at("127.0.0.1:0", flags).await
    }

    /// Starts the binary on `addr` (a restarted node takes its address back).
    pub async fn start_at(addr: &str, flags: &[&str]) -> ChildServer {
        ChildServer::spawn(addr, flags, None).await
    }

    /// Starts the binary with an open-files limit (soft and hard) of `files`.
    pub async fn start_with_open_files(files: u64, flags: &[&str]) -> ChildServer {
        ChildServer::spawn("127.0.0.1:0", flags, Some(files)).await
    }

    async fn spawn(addr: &str, flags: &[&str], open_files: Option<u64>) -> ChildServer {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let data_dir = TempDir::new().unwrap();
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_duet"));
        command
            .args(["--site-addr", addr, "--data-dir"])
            .arg(data_dir.path())
            .args(test_defaults(flags))
            .args(flags)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(files) = open_files {
            // SAFETY: runs in the child between fork and exec, and only makes one system call
            // (setrlimit), which is async-signal-safe.
            unsafe {
                command.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, files, files));
            }
        }
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = tokio::time::timeout(PATIENCE, lines.next_line())
                .await
                .expect("the server starts in time")
                .unwrap()
                .expect("the server logs its address");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.trim().parse().unwrap();
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ChildServer {
            addr,
            child,
            _data_dir: data_dir,
        }
    }

    /// SIGKILL: the node dies without a word to anyone.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// Sends SIGTERM: the server starts shutting down cleanly.
    pub fn send_sigterm(&self) {
        self.signal("-TERM");
    }

    /// Sends a signal (`-TERM`, `-STOP`, `-CONT`) to the server.
    pub fn signal(&self, which: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let sent = std::process::Command::new("kill")
            .args([which, &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits (a bounded time) until the server has exited; whether it exited with success.
    pub async fn exited(&mut self) -> bool {
        tokio::time::timeout(PATIENCE * 2, self.child.wait())
            .await
            .expect("the server exits in time")
            .unwrap()
            .success()
    }

    /// SIGTERM, then waits until it has exited; whether it exited with success.
    pub async fn terminate(&mut self) -> bool {
        self.send_sigterm();
        self.exited().await
    }
}

/// Pairs two idle clients: `a` calls and waits, `b` calls and both are matched.
pub async fn pair(a: &mut Client, b: &mut Client) -> CallId {
    a.send(&ClientMsg::call()).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
    b.send(&ClientMsg::call()).await;
    let ServerMsg::Matched { call_id, .. } = a.recv().await else {
        panic!("a should be matched")
    };
    assert!(matches!(b.recv().await, ServerMsg::Matched { call_id: c, .. } if c == call_id));
    call_id
}

/// `shown`'s browser reports its connection of `call_id` up, as an honest browser does; both
/// sides hear the winner. From then on the call has shown `viewer` something: `viewer` may
/// report `shown`.
pub async fn connect_media(shown: &mut Client, viewer: &mut Client, call_id: CallId) {
    shown
        .send(&ClientMsg::Connected {
            call_id,
            role: protocol::Role::Peer1,
        })
        .await;
    assert!(matches!(shown.recv().await, ServerMsg::Winner { .. }));
    assert!(matches!(viewer.recv().await, ServerMsg::Winner { .. }));
}

/// `tab`, back in `call_id`, says whether it kept its connection (`in_place`), and its
/// `partner` hears `partner_back` saying the same.
pub async fn say_back(tab: &mut Client, partner: &mut Client, call_id: CallId, in_place: bool) {
    tab.send(&ClientMsg::Reconnect { call_id, in_place }).await;
    assert_eq!(
        partner.recv().await,
        ServerMsg::PartnerBack { call_id, in_place }
    );
}

/// A socket on `node` that brings resume token `token` but not its browser's key gets a
/// session of its own, not the token's.
pub async fn thief_gets_nothing(node: &TestServer, token: &str) {
    let mut thief = node.reconnect_with(&"0".repeat(32), token).await;
    thief.send(&ClientMsg::End).await;
    assert_eq!(thief.recv().await, ServerMsg::Idle, "a session of its own");
}

/// Pairs two idle clients in a text-only call (both ask for text only), as [`pair`] does.
pub async fn pair_text_only(a: &mut Client, b: &mut Client) -> CallId {
    let text_only = ClientMsg::Call {
        language: String::new(),
        interests: vec![],
        text_only: true,
    };
    a.send(&text_only).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
    b.send(&text_only).await;
    let ServerMsg::Matched { call_id, .. } = a.recv().await else {
        panic!("a meets b by text")
    };
    assert!(matches!(b.recv().await, ServerMsg::Matched { call_id: c, .. } if c == call_id));
    call_id
}

/// `reporter` reports the stranger of `call_id` (whose media connected), and the server
/// confirms.
pub async fn report(reporter: &mut Client, call_id: CallId) {
    reporter
        .send(&ClientMsg::Report {
            call_id,
            reason: ReportReason::Harassment,
            screened: false,
        })
        .await;
    assert_eq!(reporter.recv().await, ServerMsg::Reported { call_id });
}

/// `leaver` ends its call; `partner`, told and searching again, ends too, so both are idle
/// (where [`pair`] starts).
pub async fn both_end(leaver: &mut Client, partner: &mut Client) {
    leaver.send(&ClientMsg::End).await;
    assert_eq!(leaver.recv().await, ServerMsg::Idle);
    assert!(matches!(partner.recv().await, ServerMsg::CallEnded { .. }));
    assert_eq!(partner.recv().await, ServerMsg::Searching);
    partner.send(&ClientMsg::End).await;
    assert_eq!(partner.recv().await, ServerMsg::Idle);
}

/// One browser tab, as far as the server can tell.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The close frame the server sent, once it closed the socket.
    pub close: Option<CloseFrame>,
    /// The visitor key the greeting gave, and how many strangers it had blocked.
    pub visitor: Option<(String, u32)>,
    /// The tab's resume token the greeting gave.
    pub resume: Option<String>,
}

impl Client {
    /// The visitor key the greeting gave.
    pub fn key(&self) -> String {
        self.visitor.clone().expect("greeted").0
    }

    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_text(&protocol::encode(msg)).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// The next protocol message, online counts included; `None` once the socket closed.
    pub async fn next_any(&mut self) -> Option<ServerMsg> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a message within the patience limit");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Some(protocol::decode_server(&text).expect("server sends valid JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    self.close = frame;
                    return None;
                }
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next message that is not an online count or the greeting's visitor key.
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            match self.next_any().await {
                Some(ServerMsg::Online { .. } | ServerMsg::Visitor { .. }) => continue,
                Some(msg) => return msg,
                None => panic!("socket closed while waiting for a message"),
            }
        }
    }

    /// Waits until the pushed online count reads `count`.
    pub async fn until_online(&mut self, count: u32) {
        loop {
            match self.next_any().await {
                Some(ServerMsg::Online { count: now }) if now == count => return,
                Some(_) => continue,
                None => panic!("socket closed while waiting for {count} online"),
            }
        }
    }

    /// Reads until the server closes this socket; returns every message before the close.
    pub async fn until_closed(&mut self) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        while let Some(msg) = self.next_any().await {
            seen.push(msg);
        }
        seen
    }

    /// The close code the server sent.
    pub fn close_code(&self) -> Option<u16> {
        self.close.as_ref().map(|frame| u16::from(frame.code))
    }
}

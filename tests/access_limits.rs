//! Who gets in, and how much one visitor may take, on a real server: limits and bans keyed on
//! address prefixes (an IPv6 /64 is one visitor), the server-wide socket cap,
//! `X-Forwarded-For` junk, admin token guesses, TURN credentials, HSTS, and the start-up
//! checks of flags (durations, the admin token's length, secrets kept out of `Debug`).
//!
//! Addresses come through `X-Forwarded-For` from a trusted proxy (the test itself, on
//! 127.0.0.1), so one loopback client can be many visitors.
#![cfg(feature = "ssr")]

mod common;

use common::{pair, ChildServer, Client, TestServer, PATIENCE};
use duet::protocol::{CallId, ClientMsg, ErrorCode, ServerMsg};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

const FROM_PROXY: &[&str] = &["--trusted-proxies", "127.0.0.1"];
const ADMIN_TOKEN: &str = "a-moderators-token-of-some-length";
const TURN: &[&str] = &[
    "--turn-urls",
    "turn:127.0.0.1:3478",
    "--turn-secret",
    "turn-secret-for-tests",
];

fn error_code(msg: &ServerMsg) -> Option<ErrorCode> {
    match msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn from(addr: &str) -> [(&'static str, &str); 1] {
    [("x-forwarded-for", addr)]
}

/// Opens a socket whose `X-Forwarded-For` is `raw` bytes (not necessarily text).
async fn open_raw(server: &TestServer, raw: &[u8]) -> Result<Client, tungstenite::Error> {
    let mut request = format!("ws://{}/ws", server.addr).into_client_request()?;
    request
        .headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_bytes(raw).unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(Client {
        ws,
        close: None,
        visitor: None,
        resume: None,
    })
}

/// The first thing a socket the server refuses says before closing, and the close code.
async fn refusal(mut client: Client) -> (Option<ErrorCode>, Option<u16>) {
    let said = client.until_closed().await;
    (said.first().and_then(error_code), client.close_code())
}

/// `reporter` reports the stranger of `call_id` once the stranger's own browser said its
/// connection is up (a report counts only once the call could show something), and the server
/// confirms.
async fn report_connected_call(reporter: &mut Client, reported: &mut Client, call_id: CallId) {
    common::connect_media(reported, reporter, call_id).await;
    common::report(reporter, call_id).await;
}

#[tokio::test]
async fn addresses_of_one_ipv6_64_share_one_socket_limit() {
    let flags = [FROM_PROXY, &["--max-connections-per-ip", "2"]].concat();
    let server = TestServer::start(&flags).await;
    let _one = server.connect_with(&from("2001:db8:1:1::1")).await;
    let _two = server.connect_with(&from("2001:db8:1:1:aaaa::2")).await;
    let third = server
        .open_with(&from("2001:db8:1:1:bbbb::3"))
        .await
        .unwrap();
    assert_eq!(
        refusal(third).await,
        (Some(ErrorCode::TooManyConnections), Some(1008))
    );
    // The next /64 is another visitor; so is an IPv4 address.
    let _next_network = server.connect_with(&from("2001:db8:1:2::1")).await;
    let _v4 = server.connect_with(&from("203.0.113.1")).await;
}

#[tokio::test]
async fn the_ipv4_prefix_is_configurable_and_mapped_addresses_count_as_ipv4() {
    let flags = [
        FROM_PROXY,
        &["--max-connections-per-ip", "1", "--ipv4-prefix", "24"],
    ]
    .concat();
    let server = TestServer::start(&flags).await;
    let _one = server.connect_with(&from("203.0.113.1")).await;
    for same in ["203.0.113.200", "::ffff:203.0.113.7"] {
        let refused = server.open_with(&from(same)).await.unwrap();
        assert_eq!(
            refusal(refused).await.0,
            Some(ErrorCode::TooManyConnections),
            "{same}"
        );
    }
    let _other = server.connect_with(&from("203.0.114.1")).await;
}

#[tokio::test]
async fn a_ban_holds_for_the_whole_64_and_disconnects_all_of_it() {
    let flags = [FROM_PROXY, &["--ban-after-reports", "1"]].concat();
    let server = TestServer::start(&flags).await;
    let mut bad = server.connect_with(&from("2001:db8:66::1")).await;
    // A second tab of the same visitor, from another address of its /64.
    let mut bad_elsewhere = server.connect_with(&from("2001:db8:66:0:ffff::2")).await;
    let mut reporter = server.connect_with(&from("2001:db8:1::1")).await;
    let call_id = pair(&mut bad, &mut reporter).await;
    report_connected_call(&mut reporter, &mut bad, call_id).await;
    for tab in [&mut bad, &mut bad_elsewhere] {
        let said = tab.until_closed().await;
        assert_eq!(said.last().and_then(error_code), Some(ErrorCode::Banned));
        assert_eq!(tab.close_code(), Some(1008));
    }
    // Any other address of the /64 is refused; the next /64 is not.
    let again = server.open_with(&from("2001:db8:66::abcd")).await.unwrap();
    assert_eq!(refusal(again).await.0, Some(ErrorCode::Banned));
    let _neighbour = server.connect_with(&from("2001:db8:67::1")).await;
}

#[tokio::test]
async fn reporters_from_one_64_count_as_one() {
    let flags = [FROM_PROXY, &["--ban-after-reports", "2"]].concat();
    let server = TestServer::start(&flags).await;
    let bad_ip = "2001:db8:66::1";
    let mut bad = server.connect_with(&from(bad_ip)).await;
    for reporter_ip in ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:0:1::3"] {
        let mut reporter = server.connect_with(&from(reporter_ip)).await;
        let call_id = pair(&mut bad, &mut reporter).await;
        report_connected_call(&mut reporter, &mut bad, call_id).await;
        assert_eq!(
            server
                .state
                .moderation
                .store()
                .banned_until(bad_ip.parse().unwrap()),
            None,
            "three addresses of one /64 are one reporter"
        );
        reporter.send(&ClientMsg::End).await;
        assert_eq!(reporter.recv().await, ServerMsg::Idle);
        assert!(matches!(bad.recv().await, ServerMsg::CallEnded { .. }));
        assert_eq!(bad.recv().await, ServerMsg::Searching);
        bad.send(&ClientMsg::End).await;
        assert_eq!(bad.recv().await, ServerMsg::Idle);
    }
    let mut second = server.connect_with(&from("2001:db8:2::1")).await;
    let call_id = pair(&mut bad, &mut second).await;
    report_connected_call(&mut second, &mut bad, call_id).await;
    assert!(server
        .state
        .moderation
        .store()
        .banned_until(bad_ip.parse().unwrap())
        .is_some());
}

#[tokio::test]
async fn past_max_connections_everyone_is_told_the_server_is_full() {
    let flags = [FROM_PROXY, &["--max-connections", "2"]].concat();
    let server = TestServer::start(&flags).await;
    let _first = server.connect_with(&from("203.0.113.1")).await;
    let _second = server.connect_with(&from("198.51.100.1")).await;
    for late in ["192.0.2.1", "2001:db8::1"] {
        let refused = server.open_with(&from(late)).await.unwrap();
        assert_eq!(
            refusal(refused).await,
            (Some(ErrorCode::ServerFull), Some(1008))
        );
    }
    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"duet_connections_rejected_total{reason="server_full"} 2"#));
}

/// A node whose open-files limit is below `--max-connections` turns the crowd past the limit
/// away with `server_full`, as it does past the flag, instead of leaving it waiting in the
/// listen backlog for an accept the kernel refuses.
#[tokio::test]
async fn past_the_open_files_limit_a_crowd_is_told_the_server_is_full() {
    const FILES: u64 = 160;
    // The node keeps 64 files for itself (`limits::OWN_FILES`).
    const SOCKETS: u64 = FILES - 64;
    let flags = [
        "--max-connections-per-ip",
        "1000",
        "--connections-per-minute",
        "100000",
    ];
    let server = ChildServer::start_with_open_files(FILES, &flags).await;
    let (mut held, mut full) = (Vec::new(), 0);
    for _ in 0..FILES {
        let mut client = tokio::time::timeout(PATIENCE, common::open_socket(server.addr, &[]))
            .await
            .expect("every socket is answered, none left waiting")
            .expect("the upgrade succeeds");
        match client.next_any().await {
            Some(ServerMsg::Online { .. }) => held.push(client),
            Some(ServerMsg::Error {
                code: ErrorCode::ServerFull,
                ..
            }) => full += 1,
            other => panic!("expected a greeting or server_full, got {other:?}"),
        }
    }
    assert_eq!(held.len() as u64, SOCKETS);
    assert_eq!(full, FILES - SOCKETS);
}

#[tokio::test]
async fn junk_in_forwarded_for_never_lets_a_banned_visitor_in_as_the_proxy() {
    let flags = [FROM_PROXY, &["--ban-after-reports", "1"]].concat();
    let server = TestServer::start(&flags).await;
    let mut bad = server.connect_with(&from("198.51.100.9")).await;
    let mut reporter = server.connect_with(&from("203.0.113.1")).await;
    let call_id = pair(&mut bad, &mut reporter).await;
    report_connected_call(&mut reporter, &mut bad, call_id).await;
    bad.until_closed().await;

    // The visitor sends a non-ASCII byte of its own; the proxy appends the real address.
    let again = open_raw(&server, b"\xff\xfe, 198.51.100.9").await.unwrap();
    assert_eq!(refusal(again).await.0, Some(ErrorCode::Banned));
    let again = open_raw(&server, b"nonsense, 198.51.100.9").await.unwrap();
    assert_eq!(refusal(again).await.0, Some(ErrorCode::Banned));
    // Where the proxy's entry should be, junk: nobody can tell who this is, so no socket.
    match open_raw(&server, b"198.51.100.9, \xff").await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 400),
        Ok(_) => panic!("a visitor nobody can identify was let in"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Asks for the moderators' overview with `token`, from `addr` behind the proxy.
async fn admin_try(server: &TestServer, addr: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/admin/overview"))
        .header("x-forwarded-for", addr)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn wrong_admin_tokens_are_limited_per_64_then_refused_with_429() {
    let flags = [FROM_PROXY, &["--admin-token", ADMIN_TOKEN]].concat();
    let server = TestServer::start(&flags).await;
    // The right token does not use up guesses.
    for _ in 0..10 {
        assert_eq!(
            admin_try(&server, "2001:db8:9::1", ADMIN_TOKEN)
                .await
                .status(),
            200
        );
    }
    for n in 0..5 {
        let guesser = format!("2001:db8:9::{}", 100 + n);
        assert_eq!(admin_try(&server, &guesser, "guess").await.status(), 403);
    }
    // The sixth guess from the /64 is refused unread, and so is the right token.
    for token in ["guess", ADMIN_TOKEN] {
        let refused = admin_try(&server, "2001:db8:9::ffff", token).await;
        assert_eq!(refused.status(), 429);
        let wait: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
        assert!(refused.text().await.unwrap().contains("TooManyGuesses"));
    }
    // A moderator elsewhere is not locked out.
    assert_eq!(
        admin_try(&server, "2001:db8:a::1", ADMIN_TOKEN)
            .await
            .status(),
        200
    );
}

/// Runs the real binary with `flags`, which must make it refuse to start: its output.
async fn refused_start(flags: &[&str]) -> String {
    let data_dir = tempfile::TempDir::new().unwrap();
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_duet"))
        .args(["--site-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir.path())
        .args(flags)
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("the server refuses to start rather than running")
        .unwrap();
    assert!(!out.status.success());
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn a_short_admin_token_stops_the_start_with_a_clear_error() {
    let said = refused_start(&["--admin-token", "s3cret"]).await;
    assert!(said.contains("at least 16"), "{said}");
    assert!(
        !said.contains("s3cret"),
        "the token itself is never printed: {said}"
    );
}

#[tokio::test]
async fn durations_out_of_range_stop_the_start_with_a_clear_error() {
    let said = refused_start(&["--ban-duration", "1000000years"]).await;
    assert!(said.contains("--ban-duration"), "{said}");
    assert!(said.contains("must be at most 10years"), "{said}");
    let said = refused_start(&["--heartbeat-interval", "0s"]).await;
    assert!(said.contains("must be longer than zero"), "{said}");
}

#[tokio::test]
async fn the_longest_ban_is_made_shown_and_enforced() {
    let flags = [
        FROM_PROXY,
        &[
            "--ban-after-reports",
            "1",
            "--ban-duration",
            "10years",
            "--report-window",
            "10years",
            "--admin-token",
            ADMIN_TOKEN,
        ],
    ]
    .concat();
    let server = TestServer::start(&flags).await;
    let mut bad = server.connect_with(&from("203.0.113.66")).await;
    let mut reporter = server.connect_with(&from("198.51.100.1")).await;
    let call_id = pair(&mut bad, &mut reporter).await;
    report_connected_call(&mut reporter, &mut bad, call_id).await;
    assert_eq!(
        bad.until_closed().await.last().and_then(error_code),
        Some(ErrorCode::Banned)
    );
    let again = server.open_with(&from("203.0.113.66")).await.unwrap();
    assert_eq!(refusal(again).await.0, Some(ErrorCode::Banned));
    let overview = server.admin_overview(ADMIN_TOKEN).await;
    assert_eq!(overview["bans"].as_array().unwrap().len(), 1, "{overview}");
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let secrets = [
        ADMIN_TOKEN,
        "turn-secret-for-tests",
        "fixed-ice-credential",
        "redis-password",
    ];
    let config = {
        use clap::Parser;
        duet::server::config::Config::try_parse_from([
            "duet",
            "--admin-token",
            secrets[0],
            "--turn-urls",
            "turn:127.0.0.1:3478",
            "--turn-secret",
            secrets[1],
            "--ice-urls",
            "turn:127.0.0.1:3478",
            "--ice-credential",
            secrets[2],
            "--redis-url",
            "redis://duet:redis-password@127.0.0.1:1/0",
        ])
        .unwrap()
    };
    let printed = format!("{config:?} {:?}", config.turn());
    for secret in secrets {
        assert!(!printed.contains(secret), "{secret} shows in {printed}");
    }
}

#[tokio::test]
async fn behind_tls_every_response_carries_hsts() {
    let server = TestServer::start(&["--behind-tls"]).await;
    for path in ["/", "/healthz", "/metrics", "/no-such-page"] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000",
            "{path}"
        );
    }
    let plain = TestServer::start(&[]).await;
    let response = reqwest::get(plain.url("/")).await.unwrap();
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
}

/// Asks for ICE servers from `addr` behind the proxy.
async fn ice_servers(server: &TestServer, addr: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/ice_servers"))
        .header("x-forwarded-for", addr)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn turn_credentials_need_an_open_socket_and_are_limited_per_64_per_hour() {
    let flags = [FROM_PROXY, TURN, &["--turn-credentials-per-hour", "3"]].concat();
    let server = TestServer::start(&flags).await;
    // Nobody from this network has duet open: no credentials (after a short wait for a socket
    // that might be on its way).
    let refused = ice_servers(&server, "2001:db8:5::1").await;
    assert_eq!(refused.status(), 403);

    let _tab = server.connect_with(&from("2001:db8:5::1")).await;
    for n in 0..3 {
        // Any address of the /64 counts as the visitor with the socket, and against its quota.
        let response = ice_servers(&server, &format!("2001:db8:5::{}", n + 10)).await;
        assert_eq!(response.status(), 200);
        let servers: serde_json::Value = response.json().await.unwrap();
        assert!(servers[0]["credential"].is_string(), "{servers}");
    }
    let refused = ice_servers(&server, "2001:db8:5::99").await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&wait), "Retry-After {wait}");
}

#[tokio::test]
async fn ice_servers_wait_for_a_socket_that_opens_at_the_same_time() {
    let server = TestServer::start(&[FROM_PROXY, TURN].concat()).await;
    let visitor = from("203.0.113.5");
    let (response, _tab) = tokio::join!(
        ice_servers(&server, "203.0.113.5"),
        server.connect_with(&visitor)
    );
    assert_eq!(response.status(), 200);
}

#[test]
fn readmes_coturn_configuration_denies_what_the_relay_test_denies() {
    let root = env!("CARGO_MANIFEST_DIR");
    let denials = std::fs::read_to_string(format!("{root}/docs/coturn-denied-peers.conf")).unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let fixtures = std::fs::read_to_string(format!("{root}/end2end/tests/fixtures.ts")).unwrap();
    let rules: Vec<&str> = denials
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect();
    for network in [
        "10.0.0.0-",
        "127.0.0.0-",
        "169.254.0.0-",
        "172.16.0.0-",
        "192.168.0.0-",
        "::1",
        "fc00::-",
        "fe80::-",
    ] {
        assert!(
            rules
                .iter()
                .any(|rule| rule.starts_with("denied-peer-ip=") && rule.contains(network)),
            "{network} is not denied"
        );
    }
    for rule in &rules {
        assert!(
            readme.lines().any(|line| line == *rule),
            "README lacks {rule}"
        );
    }
    assert!(fixtures.contains("docs/coturn-denied-peers.conf"));
}

//! Attacks on a real server: bad input, oversized frames, foreign origins, floods, bans,
//! moderators' endpoints, headers, metrics and shutdown.
#![cfg(feature = "ssr")]

mod common;

use common::{both_end, connect_media, connect_to, pair, report, ChildServer, TestServer};
use duet::protocol::{self, ClientMsg, EndReason, ErrorCode, ReportReason, ServerMsg};
use futures_util::SinkExt;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::{self, Message};

fn error_code(msg: &ServerMsg) -> Option<ErrorCode> {
    match msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    }
}

const FROM_PROXY: &[&str] = &["--trusted-proxies", "127.0.0.1"];

#[tokio::test]
async fn bad_input_is_refused_and_nobody_else_notices() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    let mut attacker = server.connect().await;

    let junk = [
        "{\"type\":\"offer\",\"call_id\":",
        "[1,2,3]",
        r#"{"type":"sudo"}"#,
        r#"{"type":"offer","call_id":42,"sdp":"x"}"#,
        r#"{"type":"ice","call_id":"00","role":"peer9","candidate":{}}"#,
    ];
    for text in junk {
        attacker.send_text(text).await;
        assert_eq!(
            error_code(&attacker.recv().await),
            Some(ErrorCode::BadMessage),
            "{text}"
        );
    }
    attacker
        .send(&ClientMsg::Offer {
            call_id,
            sdp: "hijack".into(),
        })
        .await;
    assert_eq!(
        error_code(&attacker.recv().await),
        Some(ErrorCode::NotInCall)
    );
    attacker
        .ws
        .send(Message::Binary(vec![0, 159, 146, 150].into()))
        .await
        .unwrap();
    assert_eq!(
        error_code(&attacker.recv().await),
        Some(ErrorCode::BadMessage)
    );

    // The call goes on untouched: b's next message is a's.
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "real".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Offer {
            call_id,
            sdp: "real".into()
        }
    );
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_socket_with_1009() {
    let server = TestServer::start(&["--max-message-bytes", "4096"]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    let huge = format!(
        r#"{{"type":"offer","call_id":"{call_id}","sdp":"{}"}}"#,
        "x".repeat(10_000)
    );
    a.send_text(&huge).await;
    let before_close = a.until_closed().await;
    assert_eq!(a.close_code(), Some(1009));
    assert!(before_close
        .iter()
        .any(|m| error_code(m) == Some(ErrorCode::MessageTooBig)));
    // Only a's socket: b is told its stranger left and carries on.
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(b.recv().await, ServerMsg::Searching);
}

#[tokio::test]
async fn a_real_sized_sdp_fits_the_default_limit() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    let sdp = "a=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host\r\n".repeat(200);
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: sdp.clone(),
    })
    .await;
    assert_eq!(b.recv().await, ServerMsg::Offer { call_id, sdp });
}

#[tokio::test]
async fn sockets_from_foreign_pages_are_refused_with_403() {
    let server = TestServer::start(&["--allowed-origins", "https://partner.example"]).await;
    let own = format!("http://{}", server.addr);
    assert!(server.open_with(&[("origin", own.as_str())]).await.is_ok());
    assert!(server
        .open_with(&[("origin", "https://partner.example")])
        .await
        .is_ok());
    match server
        .open_with(&[("origin", "https://evil.example")])
        .await
    {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        Ok(_) => panic!("a foreign origin was let in"),
        Err(e) => panic!("unexpected error {e}"),
    }
    let metrics = server.metrics().await;
    assert!(metrics.contains(r#"duet_connections_rejected_total{reason="origin"} 1"#));
}

#[tokio::test]
async fn a_flooding_session_is_told_and_its_excess_dropped() {
    let server = TestServer::start(&["--message-rate", "0.001", "--message-burst", "3"]).await;
    let mut a = server.connect().await;
    for _ in 0..3 {
        a.send(&ClientMsg::call()).await;
    }
    assert_eq!(a.recv().await, ServerMsg::Searching);
    a.send(&ClientMsg::End).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::RateLimited));
    // The dropped End did nothing: the session is still searching.
    assert_eq!(server.state.switchboard.stats().searching, 1);
}

#[tokio::test]
async fn pressing_next_too_fast_is_refused() {
    let server = TestServer::start(&["--next-burst", "2", "--next-rate", "0.001"]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    pair(&mut a, &mut b).await;
    a.send(&ClientMsg::Next).await;
    a.send(&ClientMsg::Next).await;
    a.send(&ClientMsg::Next).await;
    let mut seen = Vec::new();
    loop {
        let msg = a.recv().await;
        let done = error_code(&msg) == Some(ErrorCode::NextTooFast);
        seen.push(msg);
        if done {
            break;
        }
    }
    assert!(
        seen.len() >= 2,
        "the first two presses went through: {seen:?}"
    );
}

#[tokio::test]
async fn open_sockets_per_address_are_capped_but_not_across_addresses() {
    let flags = [FROM_PROXY, &["--max-connections-per-ip", "2"]].concat();
    let server = TestServer::start(&flags).await;
    let here = [("x-forwarded-for", "203.0.113.1")];
    let _one = server.connect_with(&here).await;
    let _two = server.connect_with(&here).await;
    let mut three = server.open_with(&here).await.unwrap();
    let said = three.until_closed().await;
    assert_eq!(
        said.first().and_then(error_code),
        Some(ErrorCode::TooManyConnections)
    );
    assert_eq!(three.close_code(), Some(1008));
    // Another address behind the same proxy is its own visitor.
    let _other = server
        .connect_with(&[("x-forwarded-for", "203.0.113.2")])
        .await;
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = TestServer::start(&["--max-connections-per-ip", "1"]).await;
    let _one = server
        .connect_with(&[("x-forwarded-for", "203.0.113.1")])
        .await;
    // Claiming another address does not make a second visitor of the same peer.
    let mut two = server
        .open_with(&[("x-forwarded-for", "203.0.113.2")])
        .await
        .unwrap();
    let said = two.until_closed().await;
    assert_eq!(
        said.first().and_then(error_code),
        Some(ErrorCode::TooManyConnections)
    );
}

#[tokio::test]
async fn new_connections_per_minute_are_capped() {
    let server = TestServer::start(&["--connections-per-minute", "2"]).await;
    for _ in 0..2 {
        let mut c = server.connect().await;
        c.ws.close(None).await.unwrap();
    }
    let mut third = server.open_with(&[]).await.unwrap();
    let said = third.until_closed().await;
    assert_eq!(
        said.first().and_then(error_code),
        Some(ErrorCode::ConnectingTooFast)
    );
}

#[tokio::test]
async fn reports_from_distinct_visitors_ban_an_address_across_restarts_until_lifted() {
    let flags = [
        FROM_PROXY,
        &[
            "--ban-after-reports",
            "2",
            "--admin-token",
            "s3cret-moderator-token",
        ],
    ]
    .concat();
    let server = TestServer::start(&flags).await;
    let bad_addr = [("x-forwarded-for", "203.0.113.66")];
    let mut bad = server.connect_with(&bad_addr).await;

    for (n, reporter_addr) in ["198.51.100.1", "198.51.100.2"].into_iter().enumerate() {
        let mut reporter = server
            .connect_with(&[("x-forwarded-for", reporter_addr)])
            .await;
        let call_id = pair(&mut bad, &mut reporter).await;
        connect_media(&mut bad, &mut reporter, call_id).await;
        report(&mut reporter, call_id).await;
        if n == 0 {
            // Below the threshold: the call simply ends.
            both_end(&mut reporter, &mut bad).await;
        }
    }
    // The second report completes the threshold: bad is told and disconnected.
    let said = bad.until_closed().await;
    assert_eq!(said.last().and_then(error_code), Some(ErrorCode::Banned));
    assert_eq!(bad.close_code(), Some(1008));

    // Coming back is refused with the same message...
    let mut again = server.open_with(&bad_addr).await.unwrap();
    assert_eq!(
        again.until_closed().await.first().and_then(error_code),
        Some(ErrorCode::Banned)
    );
    // ...also after a restart on the same data directory.
    server.stop();
    let data = Arc::clone(&server.data_dir);
    let restarted = TestServer::start_with_data(&flags, data).await;
    let mut again = restarted.open_with(&bad_addr).await.unwrap();
    assert_eq!(
        again.until_closed().await.first().and_then(error_code),
        Some(ErrorCode::Banned)
    );

    // A moderator sees the reports and the ban, and lifts it.
    let http = reqwest::Client::new();
    let wrong = http
        .post(restarted.url("/api/admin/overview"))
        .form(&[("token", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    assert!(wrong.text().await.unwrap().contains("WrongToken"));
    let overview = restarted.admin_overview("s3cret-moderator-token").await;
    assert_eq!(overview["reports"].as_array().unwrap().len(), 2);
    let ban_id = overview["bans"][0]["id"].as_i64().unwrap();
    assert!(restarted.lift_ban("s3cret-moderator-token", ban_id).await);
    let _welcome_back = restarted.connect_with(&bad_addr).await;
}

#[tokio::test]
async fn a_report_outside_ones_own_call_is_refused() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    let mut outsider = server.connect().await;
    outsider
        .send(&ClientMsg::Report {
            call_id,
            reason: ReportReason::Spam,
            screened: false,
        })
        .await;
    assert_eq!(
        error_code(&outsider.recv().await),
        Some(ErrorCode::NotInCall)
    );
}

#[tokio::test]
async fn the_admin_endpoints_are_off_without_a_token() {
    let server = TestServer::start(&[]).await;
    let response = reqwest::Client::new()
        .post(server.url("/api/admin/overview"))
        .form(&[("token", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Disabled"));
}

#[tokio::test]
async fn pages_carry_a_nonce_csp_and_hardening_headers() {
    let server = TestServer::start(&[]).await;
    let response = reqwest::get(server.url("/")).await.unwrap();
    let headers = response.headers().clone();
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the page's CSP names a nonce")
        .to_owned();
    assert!(csp.contains("script-src 'self' 'nonce-"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(
        headers["permissions-policy"].to_str().unwrap(),
        "camera=(self), microphone=(self), display-capture=(), geolocation=(), payment=(), usb=()"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")));

    // A second page load gets a different nonce.
    let again = reqwest::get(server.url("/")).await.unwrap();
    assert!(!again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    // Non-page responses get the strict default.
    let health = reqwest::get(server.url("/healthz")).await.unwrap();
    assert!(health.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
}

#[tokio::test]
async fn metrics_count_sessions_matches_relays_and_errors() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "v=0".into(),
    })
    .await;
    b.recv().await;
    a.send_text("nonsense").await;
    a.recv().await;
    let text = server.metrics().await;
    for line in [
        "duet_sessions_online 2",
        "duet_sessions_searching 0",
        "duet_calls_active 1",
        "duet_matches_total 1",
        r#"duet_messages_relayed_total{kind="offer"} 1"#,
        r#"duet_errors_total{kind="bad_message"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// The real binary: SIGTERM tells every socket, closes it, and exits 0.
#[tokio::test]
async fn sigterm_drains_and_exits_cleanly() {
    let mut server = ChildServer::start(&[]).await;
    // Connected (greeting read), so the session is registered before the signal.
    let mut client = connect_to(server.addr).await;
    server.send_sigterm();
    let said = client.until_closed().await;
    assert!(
        said.contains(&ServerMsg::ShuttingDown),
        "the client was told the server is shutting down: {said:?}"
    );
    assert_eq!(client.close_code(), Some(1001));
    assert!(server.exited().await, "exits with success");
}

/// A Call frame packed with interests, as an attacker sends it.
fn packed_call(tags: usize) -> String {
    let interests: Vec<String> = (0..tags).map(|i| format!("t{i:05}")).collect();
    protocol::encode(&ClientMsg::Call {
        language: String::new(),
        interests,
        text_only: false,
    })
}

#[tokio::test]
async fn messages_are_held_to_their_kinds_size_and_a_call_to_five_interests() {
    let server = TestServer::start(&[]).await;
    let mut a = server.connect().await;
    // Far below the 64 KiB frame limit, far above what a call can hold.
    a.send_text(&packed_call(1_000)).await;
    let reply = a.recv().await;
    assert_eq!(error_code(&reply), Some(ErrorCode::BadMessage), "{reply:?}");
    // Small enough to be read, too many to be taken.
    a.send_text(&packed_call(6)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::BadInterests));
    a.send_text(&packed_call(5)).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
    // A frame naming two types is measured as the first and refused.
    a.send_text(r#"{"type":"end","type":"call"}"#).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::BadMessage));
    // A `next` carrying a long string for padding is refused too.
    let padded = format!(r#"{{"type":"next","pad":"{}"}}"#, "x".repeat(4_000));
    a.send_text(&padded).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::BadMessage));
}

#[tokio::test]
async fn honest_strangers_are_matched_fast_while_five_sockets_flood_interests() {
    let server = TestServer::start(&[]).await;
    let flood = packed_call(5_400); // just under 64 KiB, as in the attack
    assert!(flood.len() < 64 * 1024);
    let stop = tokio_util::sync::CancellationToken::new();
    let mut flooders = Vec::new();
    for _ in 0..5 {
        let mut attacker = server.connect().await;
        let (flood, stop) = (flood.clone(), stop.clone());
        flooders.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                attacker.send_text(&flood).await;
                // Drain the refusals so the attacker's own socket never backs up.
                while let Ok(Some(_)) =
                    tokio::time::timeout(std::time::Duration::ZERO, attacker.next_any()).await
                {
                }
            }
        }));
    }
    let mut took = Vec::new();
    for _ in 0..20 {
        let (mut a, mut b) = (server.connect().await, server.connect().await);
        a.send(&ClientMsg::call()).await;
        assert_eq!(a.recv().await, ServerMsg::Searching);
        let started = std::time::Instant::now();
        b.send(&ClientMsg::call()).await;
        assert!(matches!(b.recv().await, ServerMsg::Matched { .. }));
        took.push(started.elapsed());
    }
    let lobby_started = std::time::Instant::now();
    let page = reqwest::get(server.url("/")).await.unwrap();
    assert!(page.status().is_success());
    let lobby = lobby_started.elapsed();
    stop.cancel();
    for flooder in flooders {
        flooder.await.unwrap();
    }
    took.sort();
    let p99 = took[took.len() * 99 / 100 - 1];
    assert!(
        p99 < std::time::Duration::from_millis(50),
        "match p99 {p99:?}"
    );
    assert!(
        lobby < std::time::Duration::from_millis(100),
        "lobby {lobby:?}"
    );
}

#[tokio::test]
async fn a_tab_that_stops_reading_is_closed_and_never_matched_again() {
    let server = TestServer::start(&[
        "--write-timeout",
        "1s",
        "--message-burst",
        "1000",
        "--message-rate",
        "1000",
    ])
    .await;
    let (mut stuck, mut flooder) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut stuck, &mut flooder).await;
    // `stuck` reads nothing from here on; its partner sends it 60 KB offers until the
    // server gives up on it.
    let sdp = "v".repeat(60_000);
    let mut sent = 0;
    let told = loop {
        flooder
            .send(&ClientMsg::Offer {
                call_id,
                sdp: sdp.clone(),
            })
            .await;
        sent += 1;
        assert!(sent < 2_000, "the stuck tab was never cut off");
        if let Ok(Some(msg)) =
            tokio::time::timeout(std::time::Duration::ZERO, flooder.next_any()).await
        {
            if !matches!(msg, ServerMsg::Online { .. }) {
                break msg;
            }
        }
    };
    assert_eq!(
        told,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(flooder.recv().await, ServerMsg::Searching);
    // The next stranger meets the flooder, never the stuck tab.
    let mut next = server.connect().await;
    next.send(&ClientMsg::call()).await;
    assert!(matches!(next.recv().await, ServerMsg::Matched { .. }));
    // Offers the flooder sent before it read CallEnded are refused (it is no longer in a
    // call) ahead of the match.
    let matched = loop {
        match flooder.recv().await {
            msg if error_code(&msg) == Some(ErrorCode::NotInCall) => continue,
            msg => break msg,
        }
    };
    assert!(matches!(matched, ServerMsg::Matched { .. }), "{matched:?}");
    // The stuck tab, reading at last, finds its socket closed with a reason (1008).
    stuck.until_closed().await;
    assert_eq!(stuck.close_code(), Some(1008));
}

#[tokio::test]
async fn binary_frames_count_against_the_message_limit() {
    let server = TestServer::start(&["--message-burst", "3", "--message-rate", "0.01"]).await;
    let mut a = server.connect().await;
    let mut codes = Vec::new();
    for _ in 0..4 {
        a.ws.send(Message::Binary(vec![1, 2, 3].into()))
            .await
            .unwrap();
        codes.push(error_code(&a.recv().await));
    }
    assert_eq!(codes[3], Some(ErrorCode::RateLimited), "{codes:?}");
}

#[tokio::test]
async fn call_after_end_counts_with_next() {
    let server = TestServer::start(&["--next-burst", "2", "--next-rate", "0.01"]).await;
    let mut a = server.connect().await;
    // The first Call is free; the two after it use up the Next allowance.
    for _ in 0..3 {
        a.send(&ClientMsg::call()).await;
        assert_eq!(a.recv().await, ServerMsg::Searching);
        a.send(&ClientMsg::End).await;
        assert_eq!(a.recv().await, ServerMsg::Idle);
    }
    a.send(&ClientMsg::call()).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::NextTooFast));
}

#[tokio::test]
async fn a_report_counts_only_once_the_call_showed_something_and_once_per_call() {
    let server = TestServer::start(&["--reports-per-hour", "2"]).await;
    let report_msg = |call_id| ClientMsg::Report {
        call_id,
        reason: ReportReason::Nudity,
        screened: false,
    };
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = pair(&mut a, &mut b).await;
    // Matched, nothing shown yet: refused.
    a.send(&report_msg(call_id)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    // a claiming its own connection is up shows a nothing of b: still refused.
    connect_media(&mut a, &mut b, call_id).await;
    a.send(&report_msg(call_id)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    // b's browser reports its connection up: b's video can reach a now.
    b.send(&ClientMsg::Connected {
        call_id,
        role: protocol::Role::Peer2,
    })
    .await;
    // (No reply to a second report; a refused frame shows b's socket got that far.)
    b.send_text("sync").await;
    assert_eq!(error_code(&b.recv().await), Some(ErrorCode::BadMessage));
    report(&mut a, call_id).await;
    // The same call again: refused.
    a.send(&report_msg(call_id)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    both_end(&mut a, &mut b).await;

    // A text-only call shows something once the stranger writes.
    let call_id = common::pair_text_only(&mut a, &mut b).await;
    a.send(&report_msg(call_id)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    b.send(&ClientMsg::Chat {
        call_id,
        text: "hello".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMsg::Chat { .. }));
    report(&mut a, call_id).await;
    both_end(&mut a, &mut b).await;

    // Two reports an hour from one visitor: the third is refused, and not stored.
    let mut c = server.connect().await;
    let call_id = pair(&mut a, &mut c).await;
    connect_media(&mut c, &mut a, call_id).await;
    a.send(&report_msg(call_id)).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    let overview = server.state.moderation.overview(10).await.unwrap();
    assert_eq!(overview.reports.len(), 2);
}

/// Blocks are stored: after a restart on the same data directory the visitor's key still
/// counts its block, and the two still never meet (the matchmaker starts from the database).
#[tokio::test]
async fn blocks_survive_a_restart() {
    let server = TestServer::start(FROM_PROXY).await;
    let mut a = server.connect_from("198.51.100.1", None).await;
    let mut b = server.connect_from("198.51.100.2", None).await;
    let call_id = common::pair(&mut a, &mut b).await;
    a.send(&ClientMsg::Block { call_id }).await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Blocked {
            call_id,
            blocked: 1
        }
    );
    let (a_key, b_key) = (a.key(), b.key());
    server.stop();
    let restarted = TestServer::start_with_data(FROM_PROXY, Arc::clone(&server.data_dir)).await;
    let mut a = restarted.connect_from("198.51.100.1", Some(&a_key)).await;
    assert_eq!(a.visitor, Some((a_key, 1)));
    let mut b = restarted.connect_from("198.51.100.2", Some(&b_key)).await;
    for searcher in [&mut a, &mut b] {
        searcher.send(&ClientMsg::call()).await;
        assert_eq!(searcher.recv().await, ServerMsg::Searching);
    }
    assert_eq!(restarted.state.switchboard.stats().searching, 2);
}

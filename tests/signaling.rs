//! The signaling server over real WebSockets: pairing, relay rules, partner-left, heartbeat,
//! stale calls and cleanup.
#![cfg(feature = "ssr")]

mod common;

use common::{Client, TestServer};
use duet::protocol::{CallId, ClientMsg, EndReason, ErrorCode, IceCandidate, Role, ServerMsg};

/// Connects two clients and pairs them; returns them with their call id.
async fn pair(server: &TestServer) -> (Client, Client, CallId) {
    let (mut a, mut b) = (server.connect().await, server.connect().await);
    let call_id = common::pair(&mut a, &mut b).await;
    (a, b, call_id)
}

fn candidate(text: &str) -> IceCandidate {
    IceCandidate {
        candidate: text.into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

#[tokio::test]
async fn two_callers_are_paired_with_the_same_call_id() {
    let server = TestServer::start(&[]).await;
    let (_a, _b, _call) = pair(&server).await;
    let stats = server.state.switchboard.stats();
    assert_eq!((stats.online, stats.searching, stats.calls), (2, 0, 1));
}

#[tokio::test]
async fn offers_answers_and_candidates_reach_the_partner_only() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b, call_id) = pair(&server).await;
    let mut c = server.connect().await;

    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "offer-from-a".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Offer {
            call_id,
            sdp: "offer-from-a".into()
        }
    );
    b.send(&ClientMsg::Answer {
        call_id,
        sdp: "answer-from-b".into(),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Answer {
            call_id,
            sdp: "answer-from-b".into()
        }
    );
    // a's peer1 candidate is for b's peer2.
    a.send(&ClientMsg::Ice {
        call_id,
        role: Role::Peer1,
        candidate: candidate("c1"),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Ice {
            call_id,
            role: Role::Peer2,
            candidate: candidate("c1")
        }
    );

    // An outsider who learned the call id can neither inject into the call...
    c.send(&ClientMsg::Offer {
        call_id,
        sdp: "intruder".into(),
    })
    .await;
    assert!(matches!(
        c.recv().await,
        ServerMsg::Error {
            code: ErrorCode::NotInCall,
            ..
        }
    ));
    // ...nor reach b: the next thing b hears is a's next message.
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "second".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Offer {
            call_id,
            sdp: "second".into()
        }
    );
}

#[tokio::test]
async fn signals_for_an_old_call_are_refused_and_reach_nobody() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b, old_call) = pair(&server).await;
    let mut c = server.connect().await;
    c.send(&ClientMsg::call()).await;
    assert_eq!(c.recv().await, ServerMsg::Searching);

    // a moves on to c; b searches.
    a.send(&ClientMsg::Next).await;
    let ServerMsg::Matched {
        call_id: new_call, ..
    } = a.recv().await
    else {
        panic!("a should meet c")
    };
    assert_eq!(
        c.recv().await,
        ServerMsg::Matched {
            call_id: new_call,
            shared_interests: vec![],
            partner_text_only: false
        }
    );
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id: old_call,
            reason: EndReason::PartnerNext
        }
    );
    assert_eq!(b.recv().await, ServerMsg::Searching);

    // A late candidate for the old call is refused, and c never sees it.
    a.send(&ClientMsg::Ice {
        call_id: old_call,
        role: Role::Peer1,
        candidate: candidate("late"),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::error(
            ErrorCode::StaleCall,
            format!("call {old_call} is not your current call")
        )
    );
    a.send(&ClientMsg::Offer {
        call_id: new_call,
        sdp: "fresh".into(),
    })
    .await;
    assert_eq!(
        c.recv().await,
        ServerMsg::Offer {
            call_id: new_call,
            sdp: "fresh".into()
        }
    );
    // b, searching, cannot use its old call id either.
    b.send(&ClientMsg::Answer {
        call_id: old_call,
        sdp: "x".into(),
    })
    .await;
    assert!(matches!(
        b.recv().await,
        ServerMsg::Error {
            code: ErrorCode::NotInCall,
            ..
        }
    ));
}

#[tokio::test]
async fn the_first_connected_report_wins_for_both_sides() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b, call_id) = pair(&server).await;
    // Both report at once, about different connections.
    a.send(&ClientMsg::Connected {
        call_id,
        role: Role::Peer1,
    })
    .await;
    b.send(&ClientMsg::Connected {
        call_id,
        role: Role::Peer1,
    })
    .await;
    let for_a = a.recv().await;
    let for_b = b.recv().await;
    let (ServerMsg::Winner { role: ra, .. }, ServerMsg::Winner { role: rb, .. }) = (&for_a, &for_b)
    else {
        panic!("both sides hear the winner: {for_a:?} {for_b:?}")
    };
    // Same connection: one side's peer1 is the other's peer2.
    assert_eq!(*rb, ra.counterpart());
}

#[tokio::test]
async fn a_closed_tab_frees_its_partner_who_searches_again() {
    let server = TestServer::start(&[]).await;
    let (a, mut b, call_id) = pair(&server).await;
    drop(a);
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
async fn end_makes_the_partner_search_and_the_ender_idle() {
    let server = TestServer::start(&[]).await;
    let (mut a, mut b, call_id) = pair(&server).await;
    a.send(&ClientMsg::End).await;
    assert_eq!(a.recv().await, ServerMsg::Idle);
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerEnded
        }
    );
    assert_eq!(b.recv().await, ServerMsg::Searching);
}

#[tokio::test]
async fn a_silent_socket_is_dropped_by_the_heartbeat_and_its_partner_told() {
    let server = TestServer::start(&[
        "--heartbeat-interval",
        "100ms",
        "--heartbeat-timeout",
        "300ms",
    ])
    .await;
    let (a, mut b, call_id) = pair(&server).await;
    // a stops reading, so it never answers a ping; b keeps reading (and so answers).
    let _silent = a;
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
}

#[tokio::test]
async fn a_call_that_does_not_connect_in_time_is_given_up_on_both_sides() {
    let server = TestServer::start(&["--connect-timeout", "200ms"]).await;
    let (mut a, mut b, call_id) = pair(&server).await;
    for side in [&mut a, &mut b] {
        assert_eq!(
            side.recv().await,
            ServerMsg::CallEnded {
                call_id,
                reason: EndReason::ConnectTimeout
            }
        );
    }
}

#[tokio::test]
async fn bad_frames_get_an_error_and_the_session_goes_on() {
    let server = TestServer::start(&[]).await;
    let mut a = server.connect().await;
    for junk in ["not json", r#"{"type":"teleport"}"#, r#"{"type":"offer"}"#] {
        a.send_text(junk).await;
        assert!(matches!(
            a.recv().await,
            ServerMsg::Error {
                code: ErrorCode::BadMessage,
                ..
            }
        ));
    }
    a.send(&ClientMsg::call()).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
}

#[tokio::test]
async fn presence_is_pushed_and_no_session_is_left_behind() {
    let server = TestServer::start(&["--presence-interval", "20ms"]).await;
    let mut watcher = server.connect().await;
    let (a, b, _) = pair(&server).await;
    let mut c = server.connect().await;
    c.send(&ClientMsg::call()).await;
    assert_eq!(c.recv().await, ServerMsg::Searching);
    watcher.until_online(4).await;

    drop((a, b, c));
    watcher.until_online(1).await;
    let stats = server.state.switchboard.stats();
    assert_eq!((stats.online, stats.searching, stats.calls), (1, 0, 0));
}

#[tokio::test]
async fn shutdown_closes_every_socket() {
    let server = TestServer::start(&[]).await;
    let mut a = server.connect().await;
    server.state.shutdown.cancel();
    a.until_closed().await;
}

#[tokio::test]
async fn server_functions_and_health_answer() {
    let server = TestServer::start(&["--ice-urls", "stun:stun.example.org:3478"]).await;
    let _a = server.connect().await;
    let http = reqwest::Client::new();
    let online: u32 = http
        .post(server.url("/api/online_count"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(online, 1);
    let ice: serde_json::Value = http
        .post(server.url("/api/ice_servers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ice[0]["urls"][0], "stun:stun.example.org:3478");
    let health: serde_json::Value = http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["online"], 1);
}

#[tokio::test]
async fn turn_credentials_are_fresh_short_lived_and_never_reveal_the_secret() {
    let server = TestServer::start(&[
        "--turn-urls",
        "turn:127.0.0.1:3478",
        "--turn-secret",
        "the-shared-secret",
        "--turn-ttl",
        "10m",
    ])
    .await;
    let fetch = || async {
        reqwest::Client::new()
            .post(server.url("/api/ice_servers"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (first, second) = (fetch().await, fetch().await);
    assert!(!first.contains("the-shared-secret"));
    let servers: Vec<duet::model::IceServer> = serde_json::from_str(&first).unwrap();
    let turn = &servers[0];
    assert_eq!(turn.urls, vec!["turn:127.0.0.1:3478".to_owned()]);
    let username = turn.username.clone().unwrap();
    let expiry: u64 = username.split(':').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 590..=now + 610).contains(&expiry),
        "{expiry} vs {now}"
    );
    assert_eq!(
        turn.credential.as_deref(),
        Some(duet::server::turn::password("the-shared-secret", &username).as_str())
    );
    assert_ne!(first, second, "each browser gets its own credentials");
}

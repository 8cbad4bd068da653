//! The behaviour suite: signaling over real WebSockets (pairing, the pair-only relay rule,
//! the peer1/peer2 race, partner-left, Next and End, heartbeat, stale calls, preferences,
//! presence, metrics and cleanup). Every test body runs three times: against one server
//! matching in memory, one node on a real Redis, and two nodes sharing one (where visitors
//! alternate between the nodes, so pairs cross them). What only several nodes have (a node
//! dying, Redis lost, moderation between nodes) is in `tests/cluster.rs`.
#![cfg(feature = "ssr")]

mod common;

use common::{Backend, Client, Site, TestServer};
use duet::protocol::{CallId, ClientMsg, EndReason, ErrorCode, IceCandidate, Role, ServerMsg};
use std::time::{Duration, Instant};

/// Runs each named test body (an `async fn(Backend)`) on every back end.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod in_memory {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Memory).await
            })*
        }
        mod redis_one_node {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::RedisOneNode).await
            })*
        }
        mod redis_two_nodes {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::RedisTwoNodes).await
            })*
        }
    };
}

on_every_backend!(
    two_callers_are_paired_with_the_same_call_id,
    offers_answers_and_candidates_reach_the_partner_only,
    a_burst_of_signals_reaches_the_partner_whole_and_in_order,
    signals_for_an_old_call_are_refused_and_reach_nobody,
    the_first_connected_report_wins_for_both_sides,
    a_closed_tab_frees_its_partner_who_searches_again,
    end_makes_the_partner_search_and_the_ender_idle,
    a_silent_socket_is_dropped_by_the_heartbeat_and_its_partner_told,
    a_call_that_does_not_connect_in_time_is_given_up_on_both_sides,
    bad_frames_get_an_error_and_the_session_goes_on,
    presence_is_pushed_and_no_session_is_left_behind,
    presence_skips_tabs_in_a_call_and_tells_the_lobby_at_most_once_per_interval,
    shutdown_closes_every_socket,
    strangers_meet_and_signal_each_other_both_ways,
    signals_pass_only_within_the_senders_own_call,
    next_end_and_closed_tabs_free_the_partner,
    shared_interests_come_first_and_unconnected_calls_expire,
    every_metric_counts_video_and_text_only_calls_alike,
    a_blocked_stranger_is_never_met_again_by_key_or_by_address_until_cleared,
    the_last_strangers_can_be_reported_and_blocked_after_next,
    a_shared_language_comes_first_then_anyone,
    a_tab_back_within_the_grace_returns_to_its_call_and_both_negotiate_anew,
    a_tab_back_before_its_old_socket_is_seen_gone_takes_its_call_over,
    a_tab_that_does_not_come_back_leaves_its_partner_after_the_grace,
    a_failed_connection_is_raced_anew_in_the_same_call,
    a_tab_back_with_its_connection_keeps_the_call_and_restarts_ice_in_place,
    a_stranger_away_is_never_searched_for_once_the_partner_moves_on,
);

fn error_code(msg: &ServerMsg) -> Option<ErrorCode> {
    match msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    }
}

/// Connects two clients and pairs them; returns them with their call id.
async fn pair(site: &Site) -> (Client, Client, CallId) {
    let (mut a, mut b) = (site.connect().await, site.connect().await);
    let call_id = common::pair(&mut a, &mut b).await;
    (a, b, call_id)
}

/// The behaviour suite's visitors come from distinct addresses, as people do (blocks name
/// addresses too).
const BEHIND_PROXY: &[&str] = &["--trusted-proxies", "127.0.0.1"];

/// Reads `client`'s messages until it is matched; the call id.
async fn until_matched(client: &mut Client) -> CallId {
    loop {
        if let ServerMsg::Matched { call_id, .. } = client.recv().await {
            return call_id;
        }
    }
}

fn candidate(text: &str) -> IceCandidate {
    IceCandidate {
        candidate: text.into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

async fn two_callers_are_paired_with_the_same_call_id(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (_a, _b, _call) = pair(&site).await;
    assert_eq!(site.counts(), (2, 0, 1));
}

async fn offers_answers_and_candidates_reach_the_partner_only(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
    let mut c = site.connect().await;

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

/// A tab sends its offer and candidates in a burst; the partner's socket writes what its
/// queue holds in one go (see `Writer::send_queued`): every message arrives, once, whole and
/// in the order sent, the SDP-sized offers among the candidates too.
async fn a_burst_of_signals_reaches_the_partner_whole_and_in_order(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
    // Within the default burst allowance (100 messages); offers as long as real ones. Each
    // message beside what the partner should hear of it.
    let burst: Vec<(ClientMsg, ServerMsg)> = (0..90)
        .map(|i| match i % 30 {
            0 => {
                let sdp = format!("v=0 offer {i} {}", "a".repeat(3000));
                let heard = ServerMsg::Offer {
                    call_id,
                    sdp: sdp.clone(),
                };
                (ClientMsg::Offer { call_id, sdp }, heard)
            }
            _ => {
                let candidate = candidate(&format!("candidate {i}"));
                let heard = ServerMsg::Ice {
                    call_id,
                    role: Role::Peer2,
                    candidate: candidate.clone(),
                };
                let sent = ClientMsg::Ice {
                    call_id,
                    role: Role::Peer1,
                    candidate,
                };
                (sent, heard)
            }
        })
        .collect();
    // All sent before b reads a thing, so they wait in b's queue together.
    for (sent, _) in &burst {
        a.send(sent).await;
    }
    for (i, (_, heard)) in burst.into_iter().enumerate() {
        assert_eq!(b.recv().await, heard, "message {i}");
    }
    // And nothing after them: the next thing b hears is a's next message.
    a.send(&ClientMsg::Answer {
        call_id,
        sdp: "last".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Answer {
            call_id,
            sdp: "last".into()
        }
    );
}

async fn signals_for_an_old_call_are_refused_and_reach_nobody(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, old_call) = pair(&site).await;
    let mut c = site.connect().await;
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
            shared_language: String::new(),
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

async fn the_first_connected_report_wins_for_both_sides(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
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

async fn a_closed_tab_frees_its_partner_who_searches_again(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (a, mut b, call_id) = pair(&site).await;
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

async fn end_makes_the_partner_search_and_the_ender_idle(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
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

async fn a_silent_socket_is_dropped_by_the_heartbeat_and_its_partner_told(backend: Backend) {
    let site = Site::start(
        backend,
        &[
            "--heartbeat-interval",
            "100ms",
            "--heartbeat-timeout",
            "300ms",
        ],
    )
    .await;
    let (a, mut b, call_id) = pair(&site).await;
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

async fn a_call_that_does_not_connect_in_time_is_given_up_on_both_sides(backend: Backend) {
    let site = Site::start(backend, &["--connect-timeout", "200ms"]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
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

async fn bad_frames_get_an_error_and_the_session_goes_on(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let mut a = site.connect().await;
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

async fn presence_is_pushed_and_no_session_is_left_behind(backend: Backend) {
    let site = Site::start(backend, &["--presence-interval", "20ms"]).await;
    let mut watcher = site.connect().await;
    let (a, b, _) = pair(&site).await;
    let mut c = site.connect().await;
    c.send(&ClientMsg::call()).await;
    assert_eq!(c.recv().await, ServerMsg::Searching);
    watcher.until_online(4).await;

    drop((a, b, c));
    watcher.until_online(1).await;
    assert_eq!(site.counts(), (1, 0, 0));
}

async fn presence_skips_tabs_in_a_call_and_tells_the_lobby_at_most_once_per_interval(
    backend: Backend,
) {
    let interval = Duration::from_millis(300);
    let site = Site::start(backend, &["--presence-interval", "300ms"]).await;
    let mut lobby = site.connect().await;
    let (mut a, mut b, call_id) = pair(&site).await;
    lobby.until_online(3).await;

    // Six visitors arrive faster than the interval; the lobby hears the count catch up, one
    // count per interval at most, and never one it already had.
    let mut crowd = Vec::new();
    for _ in 0..6 {
        crowd.push(site.connect().await);
    }
    let mut heard = vec![(Instant::now(), 3)];
    while heard.last().map(|h| h.1) != Some(9) {
        match lobby.next_any().await {
            Some(ServerMsg::Online { count }) => heard.push((Instant::now(), count)),
            other => panic!("the lobby expected counts, got {other:?}"),
        }
    }
    for pair in heard.windows(2).skip(1) {
        let gap = pair[1].0 - pair[0].0;
        // Delivery jitter may shorten what the server spaced by a full interval, not halve it.
        assert!(gap >= interval / 2, "two counts {gap:?} apart: {heard:?}");
        assert_ne!(pair[0].1, pair[1].1, "a count told twice: {heard:?}");
    }
    crowd.truncate(2);
    lobby.until_online(5).await;

    // The pair in the call heard none of it: the first thing after all that is the offer.
    b.send(&ClientMsg::Offer {
        call_id,
        sdp: "after the crowd".into(),
    })
    .await;
    assert!(
        matches!(a.next_any().await, Some(ServerMsg::Offer { .. })),
        "a tab in a call was told a count"
    );
    // Back in the lobby, it is told the count it missed (the moment it is out of the call, so
    // maybe just before the `idle` that says so). With two nodes, a node knows the other's
    // count as of its last beat, so what it says at once may be a beat behind; it is right
    // by the next count.
    a.send(&ClientMsg::End).await;
    let mut next_two = [a.next_any().await, a.next_any().await];
    next_two.sort_by_key(|m| matches!(m, Some(ServerMsg::Online { .. })));
    let Some(ServerMsg::Online { count }) = next_two[1] else {
        panic!("a tab back from its call was not told the count: {next_two:?}");
    };
    assert_eq!(next_two[0], Some(ServerMsg::Idle));
    if count != 5 {
        assert_eq!(backend, Backend::RedisTwoNodes, "told {count} of 5");
        a.until_online(5).await;
    }
}

/// The count a tab shows is right within one interval, also just after its greeting and just
/// after it left a call: moments that fall anywhere between two refreshes of a slot.
#[tokio::test]
async fn a_moved_count_reaches_a_tab_within_one_interval_of_its_greeting_or_its_call() {
    let interval = Duration::from_secs(1);
    // What a busy machine may add (delivery, scheduling): well short of the second interval a
    // tab could once wait for its slot.
    let slack = Duration::from_millis(500);
    let server = TestServer::start(&[
        "--presence-interval",
        "1s",
        "--max-connections-per-ip",
        "100",
    ])
    .await;
    let within = |since: Instant, what: &str| {
        let after = since.elapsed();
        assert!(after <= interval + slack, "heard {after:?} after {what}");
    };
    // Once a tab has heard a moved count, every slot has been refreshed once: from here on
    // a slot's next refresh may fall anywhere in the interval after a greeting.
    let mut first = server.connect().await;
    let mut crowd = vec![server.connect().await];
    first.until_online(2).await;
    let mut online = 2;

    let mut tabs = Vec::new();
    for _ in 0..3 {
        let mut tab = server.connect().await;
        let greeted = Instant::now();
        let other = server.connect().await;
        online += 2;
        tab.until_online(online).await;
        within(greeted, "the greeting");
        tabs.push((tab, other));
    }
    // In a call a tab hears nothing; on leaving, it is told at once the count that moved
    // meanwhile, and then the next one within an interval.
    for (tab, other) in &mut tabs {
        common::pair(tab, other).await;
        crowd.push(server.connect().await);
        online += 1;
        tab.send(&ClientMsg::End).await;
        tab.until_online(online).await;
        let left = Instant::now();
        // The partner, searching again, stops: the next pair is to meet each other.
        other.send(&ClientMsg::End).await;
        while other.recv().await != ServerMsg::Idle {}
        crowd.push(server.connect().await);
        online += 1;
        tab.until_online(online).await;
        within(left, "leaving the call");
    }
}

async fn shutdown_closes_every_socket(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let mut a = site.connect().await;
    site.stop();
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
    // Credentials are only for a visitor with a socket open.
    let _tab = server.connect().await;
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

async fn strangers_meet_and_signal_each_other_both_ways(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let mut a = site.connect().await;
    let mut b = site.connect().await;
    // The online count is the whole site's (a saw 1 when it came, b may have come to 2).
    a.until_online(2).await;

    let call_id = common::pair(&mut a, &mut b).await;

    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "offer-sdp".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Offer {
            call_id,
            sdp: "offer-sdp".into()
        }
    );
    b.send(&ClientMsg::Answer {
        call_id,
        sdp: "answer-sdp".into(),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Answer {
            call_id,
            sdp: "answer-sdp".into()
        }
    );
    b.send(&ClientMsg::Ice {
        call_id,
        role: Role::Peer1,
        candidate: candidate("candidate:1"),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Ice {
            call_id,
            role: Role::Peer2,
            candidate: candidate("candidate:1")
        }
    );
    a.send(&ClientMsg::Chat {
        call_id,
        text: "hello from node one".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Chat {
            call_id,
            text: "hello from node one".into()
        }
    );

    // The first `connected` wins for both sides.
    b.send(&ClientMsg::Connected {
        call_id,
        role: Role::Peer2,
    })
    .await;
    a.send(&ClientMsg::Connected {
        call_id,
        role: Role::Peer2,
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Winner {
            call_id,
            role: Role::Peer2
        }
    );
    assert_eq!(
        a.recv().await,
        ServerMsg::Winner {
            call_id,
            role: Role::Peer1
        }
    );
    assert_eq!(site.counts(), (2, 0, 1));
}

async fn signals_pass_only_within_the_senders_own_call(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let mut a = site.connect().await;
    let mut b = site.connect().await;
    let call_id = common::pair(&mut a, &mut b).await;
    let mut c = site.connect().await;
    let mut d = site.connect().await;
    // End before ever calling is confirmed, as on one server.
    c.send(&ClientMsg::End).await;
    assert_eq!(c.recv().await, ServerMsg::Idle);

    // A stranger not in any call names the call: refused, nobody hears it.
    c.send(&ClientMsg::Offer {
        call_id,
        sdp: "intruder".into(),
    })
    .await;
    assert_eq!(error_code(&c.recv().await), Some(ErrorCode::NotInCall));

    // c and d in a call of their own name a's call: refused as stale.
    let other = common::pair(&mut c, &mut d).await;
    assert_ne!(other, call_id);
    d.send(&ClientMsg::Chat {
        call_id,
        text: "not yours".into(),
    })
    .await;
    assert_eq!(error_code(&d.recv().await), Some(ErrorCode::StaleCall));
    // An offer takes a path of its own (its SDP is passed on unparsed): refused the same.
    d.send(&ClientMsg::Offer {
        call_id,
        sdp: "not yours".into(),
    })
    .await;
    assert_eq!(error_code(&d.recv().await), Some(ErrorCode::StaleCall));

    // a and b hear only each other.
    a.send(&ClientMsg::Chat {
        call_id,
        text: "only b".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Chat {
            call_id,
            text: "only b".into()
        }
    );
    c.send(&ClientMsg::Chat {
        call_id: other,
        text: "only d".into(),
    })
    .await;
    assert_eq!(
        d.recv().await,
        ServerMsg::Chat {
            call_id: other,
            text: "only d".into()
        }
    );
}

async fn next_end_and_closed_tabs_free_the_partner(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let mut a = site.connect().await;
    let mut b = site.connect().await;
    let first = common::pair(&mut a, &mut b).await;

    // c waits ; a presses Next: b is told, a meets c (not b again).
    let mut c = site.connect().await;
    c.send(&ClientMsg::call()).await;
    assert_eq!(c.recv().await, ServerMsg::Searching);
    a.send(&ClientMsg::Next).await;
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id: first,
            reason: EndReason::PartnerNext
        }
    );
    let ServerMsg::Matched {
        call_id: second, ..
    } = a.recv().await
    else {
        panic!("a meets the waiting stranger")
    };
    assert!(matches!(c.recv().await, ServerMsg::Matched { call_id, .. } if call_id == second));
    // b, with nobody else waiting, searches.
    assert_eq!(b.recv().await, ServerMsg::Searching);

    // c presses End: a searches again and meets b, the only one waiting (a's last stranger
    // was c now).
    c.send(&ClientMsg::End).await;
    assert_eq!(c.recv().await, ServerMsg::Idle);
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id: second,
            reason: EndReason::PartnerEnded
        }
    );
    let ServerMsg::Matched { call_id: third, .. } = a.recv().await else {
        panic!("a meets b")
    };
    assert!(matches!(b.recv().await, ServerMsg::Matched { call_id, .. } if call_id == third));

    // b closes the tab: a is told and searches.
    drop(b);
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id: third,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(a.recv().await, ServerMsg::Searching);
}

async fn shared_interests_come_first_and_unconnected_calls_expire(backend: Backend) {
    let flags = ["--interest-wait", "30s", "--connect-timeout", "1s"];
    let site = Site::start(backend, &flags).await;
    let call_with = |tags: &[&str]| ClientMsg::Call {
        language: String::new(),
        interests: tags.iter().map(|t| t.to_string()).collect(),
        text_only: false,
    };
    // Someone who takes anyone waits; a chess fan does not take them yet.
    let mut anyone = site.connect().await;
    anyone.send(&ClientMsg::call()).await;
    assert_eq!(anyone.recv().await, ServerMsg::Searching);
    let mut fan = site.connect().await;
    fan.send(&call_with(&["chess", "jazz"])).await;
    assert_eq!(fan.recv().await, ServerMsg::Searching);
    // Another chess fan  meets the first, with the shared interest named.
    let mut other_fan = site.connect().await;
    other_fan.send(&call_with(&["Chess"])).await;
    let ServerMsg::Matched {
        call_id,
        shared_interests,
        ..
    } = other_fan.recv().await
    else {
        panic!("the two chess fans meet")
    };
    assert_eq!(shared_interests, vec!["chess".to_string()]);
    assert!(matches!(fan.recv().await, ServerMsg::Matched { call_id: c, .. } if c == call_id));

    // Nobody reports `connected`: after the connect timeout both are told and search again.
    for side in [&mut fan, &mut other_fan] {
        assert_eq!(
            side.recv().await,
            ServerMsg::CallEnded {
                call_id,
                reason: EndReason::ConnectTimeout
            }
        );
    }
    // Both are searching again; the next message each gets is about the new search.
    let next_fan = fan.recv().await;
    let next_other = other_fan.recv().await;
    assert!(
        matches!(next_fan, ServerMsg::Searching | ServerMsg::Matched { .. }),
        "{next_fan:?}"
    );
    assert!(
        matches!(next_other, ServerMsg::Searching | ServerMsg::Matched { .. }),
        "{next_other:?}"
    );
    let _ = anyone;
}

async fn every_metric_counts_video_and_text_only_calls_alike(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    // A video call with one offer, one answer and one candidate relayed.
    let (mut a, mut b, call_id) = pair(&site).await;
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "o".into(),
    })
    .await;
    assert!(matches!(b.recv().await, ServerMsg::Offer { .. }));
    b.send(&ClientMsg::Answer {
        call_id,
        sdp: "a".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMsg::Answer { .. }));
    a.send(&ClientMsg::Ice {
        call_id,
        role: Role::Peer1,
        candidate: candidate("c"),
    })
    .await;
    assert!(matches!(b.recv().await, ServerMsg::Ice { .. }));
    common::both_end(&mut a, &mut b).await;
    // A text-only call with one chat line.
    let call_id = common::pair_text_only(&mut a, &mut b).await;
    a.send(&ClientMsg::Chat {
        call_id,
        text: "hi".into(),
    })
    .await;
    assert!(matches!(b.recv().await, ServerMsg::Chat { .. }));
    // A refused message, once.
    a.send_text("nonsense").await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::BadMessage));

    assert_eq!(
        site.metric("duet_matches_total").await,
        2.0,
        "both calls count"
    );
    for kind in ["offer", "answer", "ice"] {
        let sample = format!("duet_messages_relayed_total{{kind=\"{kind}\"}}");
        assert_eq!(site.metric(&sample).await, 1.0, "{kind}");
    }
    let refused = "duet_errors_total{kind=\"bad_message\"}";
    assert_eq!(site.metric(refused).await, 1.0);
    assert_eq!(site.counts(), (2, 0, 1));
}

/// "Never again": A blocks B. A and B then wait side by side rather than meet, whether B comes
/// back with a new browser (key) or from a new address, and whether A opens a new tab; others
/// still meet both. Cleared, A meets B again.
async fn a_blocked_stranger_is_never_met_again_by_key_or_by_address_until_cleared(
    backend: Backend,
) {
    let site = Site::start(backend, BEHIND_PROXY).await;
    let mut a = site.connect_from("198.51.100.1", None).await;
    let mut b = site.connect_from("198.51.100.2", None).await;
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
    a.send(&ClientMsg::Next).await;
    assert_eq!(a.recv().await, ServerMsg::Searching);
    assert!(matches!(b.recv().await, ServerMsg::CallEnded { .. }));
    assert_eq!(b.recv().await, ServerMsg::Searching);
    assert_eq!(site.counts(), (2, 2, 0), "a and b wait rather than meet");

    // A new tab of A (same key) counts the block; B from a new address with the same key,
    // and B with a new key from the same address, are still blocked.
    drop(a);
    let mut a = site.connect_from("198.51.100.1", Some(&a_key)).await;
    assert_eq!(a.visitor, Some((a_key.clone(), 1)));
    drop(b);
    let mut b = site.connect_from("203.0.113.9", Some(&b_key)).await;
    for searcher in [&mut a, &mut b] {
        searcher.send(&ClientMsg::call()).await;
        assert_eq!(searcher.recv().await, ServerMsg::Searching);
    }
    assert_eq!(site.counts().1, 2, "B's key is blocked from anywhere");
    b.send(&ClientMsg::End).await;
    assert_eq!(b.recv().await, ServerMsg::Idle);
    let mut b_fresh = site.connect_from("198.51.100.2", None).await;
    b_fresh.send(&ClientMsg::call()).await;
    assert_eq!(b_fresh.recv().await, ServerMsg::Searching);
    assert_eq!(site.counts().1, 2, "B's address is blocked with any key");
    // C and D, from elsewhere, meet the two: A meets one of them, never B.
    let mut c = site.connect_from("192.0.2.3", None).await;
    let mut d = site.connect_from("192.0.2.4", None).await;
    let mut others = Vec::new();
    for other in [&mut c, &mut d] {
        other.send(&ClientMsg::call()).await;
        others.push(until_matched(other).await);
    }
    let a_call = until_matched(&mut a).await;
    assert!(others.contains(&a_call), "A met C or D");
    assert!(others.contains(&until_matched(&mut b_fresh).await));

    // Cleared: A meets a B again.
    let mut a = site.connect_from("198.51.100.1", Some(&a_key)).await;
    a.send(&ClientMsg::ClearBlocks).await;
    let cleared = loop {
        match a.next_any().await {
            Some(ServerMsg::Online { .. }) => continue,
            other => break other,
        }
    };
    assert_eq!(
        cleared,
        Some(ServerMsg::Visitor {
            key: a_key.clone(),
            blocked: 0,
            resume: String::new(),
        })
    );
    let mut b = site.connect_from("198.51.100.2", Some(&b_key)).await;
    common::pair(&mut a, &mut b).await;
    let mut again = site.connect_from("198.51.100.1", Some(&a_key)).await;
    again.send(&ClientMsg::End).await;
    assert_eq!(again.recv().await, ServerMsg::Idle);
    assert_eq!(again.visitor, Some((a_key, 0)));
}

/// "Recent strangers": after Next, the last stranger can still be reported (counting as a
/// report made in the call, so only if the call showed something) and blocked; a stranger
/// beyond the last three, or of someone else's call, cannot.
async fn the_last_strangers_can_be_reported_and_blocked_after_next(backend: Backend) {
    let site = Site::start(backend, BEHIND_PROXY).await;
    let mut a = site.connect_from("198.51.100.1", None).await;
    let mut calls = Vec::new();
    for n in 0..4 {
        let mut stranger = site
            .connect_from(&format!("203.0.113.{}", n + 1), None)
            .await;
        let call_id = common::pair(&mut a, &mut stranger).await;
        // The stranger's connection comes up: the call shows A something.
        common::connect_media(&mut stranger, &mut a, call_id).await;
        a.send(&ClientMsg::End).await;
        assert_eq!(a.recv().await, ServerMsg::Idle);
        calls.push(call_id);
    }
    let report = |call_id| ClientMsg::Report {
        call_id,
        reason: duet::protocol::ReportReason::Nudity,
        screened: false,
    };
    // The oldest of the four is forgotten.
    a.send(&report(calls[0])).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::NotInCall));
    a.send(&report(calls[3])).await;
    assert_eq!(a.recv().await, ServerMsg::Reported { call_id: calls[3] });
    a.send(&report(calls[3])).await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::ReportRefused));
    a.send(&ClientMsg::Block { call_id: calls[2] }).await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Blocked {
            call_id: calls[2],
            blocked: 1
        }
    );
    // Someone who was never in the call cannot name it.
    let mut outsider = site.connect_from("192.0.2.50", None).await;
    outsider.send(&report(calls[1])).await;
    assert_eq!(
        error_code(&outsider.recv().await),
        Some(ErrorCode::NotInCall)
    );
    outsider.send(&ClientMsg::Block { call_id: calls[1] }).await;
    assert_eq!(
        error_code(&outsider.recv().await),
        Some(ErrorCode::NotInCall)
    );
}

/// Language works the way interests do: a stranger who speaks it first, named in `matched`;
/// after the preference wait, anyone. A language duet does not offer is refused.
async fn a_shared_language_comes_first_then_anyone(backend: Backend) {
    let site = Site::start(backend, &["--interest-wait", "1s"]).await;
    let call_in = |language: &str| ClientMsg::Call {
        interests: vec![],
        text_only: false,
        language: language.into(),
    };
    let mut english = site.connect().await;
    english.send(&call_in("en")).await;
    assert_eq!(english.recv().await, ServerMsg::Searching);
    let mut spanish = site.connect().await;
    spanish.send(&call_in("es")).await;
    assert_eq!(spanish.recv().await, ServerMsg::Searching);
    let mut english_too = site.connect().await;
    english_too.send(&call_in("en")).await;
    let ServerMsg::Matched {
        call_id,
        shared_language,
        ..
    } = english_too.recv().await
    else {
        panic!("the two English speakers meet")
    };
    assert_eq!(shared_language, "en");
    assert!(matches!(english.recv().await, ServerMsg::Matched { call_id: c, .. } if c == call_id));

    // Alone with someone who takes anyone, the Spanish speaker meets them once the wait ends.
    let mut anyone = site.connect().await;
    anyone.send(&ClientMsg::call()).await;
    assert_eq!(anyone.recv().await, ServerMsg::Searching);
    let ServerMsg::Matched {
        shared_language, ..
    } = spanish.recv().await
    else {
        panic!("after the wait, anyone")
    };
    assert_eq!(shared_language, "");

    let mut klingon = site.connect().await;
    klingon.send(&call_in("tlh")).await;
    assert_eq!(
        error_code(&klingon.recv().await),
        Some(ErrorCode::BadInterests)
    );
}

/// A reload: the tab's new socket, with its visitor key and resume token, returns to the same
/// call on its node; the partner heard "away", then, once the tab asks for a new race, "back",
/// and the two race their connections anew. A token without its visitor key, or spent,
/// returns nobody.
async fn a_tab_back_within_the_grace_returns_to_its_call_and_both_negotiate_anew(backend: Backend) {
    let site = Site::start(backend, &["--reload-grace", "10s"]).await;
    let home = &site.nodes[0];
    let mut a = home.connect().await;
    let mut b = site.nodes[site.nodes.len() - 1].connect().await;
    let call_id = common::pair(&mut a, &mut b).await;
    common::connect_media(&mut a, &mut b, call_id).await;
    let (key, token) = (a.key(), a.resume.clone().unwrap());
    drop(a);
    assert_eq!(b.recv().await, ServerMsg::PartnerAway { call_id });

    // Someone with the token but not the browser's key gets a session of their own.
    common::thief_gets_nothing(home, &token).await;

    let mut a = home.reconnect_with(&key, &token).await;
    assert_ne!(
        a.resume.as_ref(),
        Some(&token),
        "a new token for the next time"
    );
    let ServerMsg::Resumed { call_id: back, .. } = a.recv().await else {
        panic!("the tab is back in its call")
    };
    assert_eq!(back, call_id);
    // A reloaded tab holds no connection: it races anew.
    common::say_back(&mut a, &mut b, call_id, false).await;
    // Signals flow both ways again, and the race is run anew.
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "offer again".into(),
    })
    .await;
    assert!(matches!(b.recv().await, ServerMsg::Offer { .. }));
    common::connect_media(&mut b, &mut a, call_id).await;
    assert_eq!(site.counts().2, 1, "still the one call");

    // The spent token returns nobody.
    let mut again = home.reconnect_with(&key, &token).await;
    again.send(&ClientMsg::End).await;
    assert_eq!(again.recv().await, ServerMsg::Idle);
}

/// A phone that changed networks: its tab comes back on a new socket before the server learned
/// that the old one is dead (nothing arrives from an address that is gone). The new socket
/// takes the session over, in its call; the old one is closed and ends nothing (the partner
/// never hears "away"). Without the browser's key nobody takes anything over.
async fn a_tab_back_before_its_old_socket_is_seen_gone_takes_its_call_over(backend: Backend) {
    let site = Site::start(backend, &["--reload-grace", "10s"]).await;
    let home = &site.nodes[0];
    let mut a = home.connect().await;
    let mut b = site.nodes[site.nodes.len() - 1].connect().await;
    let call_id = common::pair(&mut a, &mut b).await;
    common::connect_media(&mut a, &mut b, call_id).await;
    let (key, token) = (a.key(), a.resume.clone().unwrap());

    common::thief_gets_nothing(home, &token).await;

    let mut phone = home.reconnect_with(&key, &token).await;
    let ServerMsg::Resumed { call_id: back, .. } = phone.recv().await else {
        panic!("the new socket is back in the call")
    };
    assert_eq!(back, call_id);
    // The server closes the old socket (had it still been alive, its tab would know why).
    a.until_closed().await;
    assert_eq!(a.close_code(), Some(1008));
    // The phone kept its media connection: it says so, and the partner keeps its own.
    // No partner_away: nothing ended.
    common::say_back(&mut phone, &mut b, call_id, true).await;
    b.send(&ClientMsg::Chat {
        call_id,
        text: "still there?".into(),
    })
    .await;
    assert!(matches!(phone.recv().await, ServerMsg::Chat { .. }));
    assert_eq!(site.counts().2, 1, "still the one call");
}

/// A closed tab (or one that never comes back): its partner hears "away", then, once the
/// grace is over, that the stranger left, and searches again.
async fn a_tab_that_does_not_come_back_leaves_its_partner_after_the_grace(backend: Backend) {
    let site = Site::start(backend, &["--reload-grace", "300ms"]).await;
    let (a, mut b, call_id) = pair(&site).await;
    drop(a);
    assert_eq!(b.recv().await, ServerMsg::PartnerAway { call_id });
    assert_eq!(
        b.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(b.recv().await, ServerMsg::Searching);
}

/// A side whose connection failed (a network change) asks for a new race: its partner is told
/// `partner_back`, and the first `connected` names a winner again. Only for its own call.
async fn a_failed_connection_is_raced_anew_in_the_same_call(backend: Backend) {
    let site = Site::start(backend, &[]).await;
    let (mut a, mut b, call_id) = pair(&site).await;
    common::connect_media(&mut a, &mut b, call_id).await;
    common::say_back(&mut a, &mut b, call_id, false).await;
    common::connect_media(&mut b, &mut a, call_id).await;
    a.send(&ClientMsg::Reconnect {
        call_id: CallId(call_id.0 ^ 1),
        in_place: false,
    })
    .await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::StaleCall));
}

/// A tab that lost only its socket comes back holding its connection: it says so, its partner
/// is told `partner_back` in place, and the call's winner stands: a restart's offer and answer
/// (ICE restarted on the winning connection) pass both ways, a `connected` report names no new
/// winner, and the connect timeout does not end the call. A stranger of another call cannot
/// send either.
async fn a_tab_back_with_its_connection_keeps_the_call_and_restarts_ice_in_place(backend: Backend) {
    let flags = ["--reload-grace", "10s", "--connect-timeout", "300ms"];
    let site = Site::start(backend, &flags).await;
    let home = &site.nodes[0];
    let mut a = home.connect().await;
    let mut b = site.nodes[site.nodes.len() - 1].connect().await;
    let call_id = common::pair(&mut a, &mut b).await;
    // a's peer1 wins: a offers the winning connection.
    common::connect_media(&mut a, &mut b, call_id).await;
    let (key, token) = (a.key(), a.resume.clone().unwrap());
    drop(a);
    assert_eq!(b.recv().await, ServerMsg::PartnerAway { call_id });
    let mut a = home.reconnect_with(&key, &token).await;
    assert!(matches!(a.recv().await, ServerMsg::Resumed { call_id: c, .. } if c == call_id));
    common::say_back(&mut a, &mut b, call_id, true).await;
    // The restart: a's new offer for b's peer2, b's answer for a's peer1, candidates by role.
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "ice restart".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Offer {
            call_id,
            sdp: "ice restart".into()
        }
    );
    b.send(&ClientMsg::Answer {
        call_id,
        sdp: "restarted".into(),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Answer {
            call_id,
            sdp: "restarted".into()
        }
    );
    // The connection is back: reported again, it names no new winner.
    b.send(&ClientMsg::Connected {
        call_id,
        role: Role::Peer2,
    })
    .await;
    // Past the connect timeout, the call still carries chat (a winner keeps it alive).
    tokio::time::sleep(Duration::from_millis(600)).await;
    b.send(&ClientMsg::Chat {
        call_id,
        text: "still here".into(),
    })
    .await;
    assert_eq!(
        a.recv().await,
        ServerMsg::Chat {
            call_id,
            text: "still here".into()
        }
    );
    assert_eq!(site.counts().2, 1, "still the one call");
    // Only for its own call.
    a.send(&ClientMsg::Reconnect {
        call_id: CallId(call_id.0 ^ 1),
        in_place: true,
    })
    .await;
    assert_eq!(error_code(&a.recv().await), Some(ErrorCode::StaleCall));
}

/// The partner of a tab that is away presses Next: the away session is not searched for (a
/// ghost nobody could see), so the partner meets the next real stranger, and the site counts
/// the ghost gone.
async fn a_stranger_away_is_never_searched_for_once_the_partner_moves_on(backend: Backend) {
    let site = Site::start(backend, &["--reload-grace", "10s"]).await;
    let (a, mut b, call_id) = pair(&site).await;
    drop(a);
    assert_eq!(b.recv().await, ServerMsg::PartnerAway { call_id });
    b.send(&ClientMsg::Next).await;
    assert_eq!(b.recv().await, ServerMsg::Searching);
    let mut c = site.connect().await;
    c.send(&ClientMsg::call()).await;
    let met = until_matched(&mut c).await;
    assert_eq!(until_matched(&mut b).await, met, "b meets c, not the ghost");
    assert_eq!(site.counts(), (2, 0, 1));
}

//! Several duet nodes sharing one real `redis-server`: strangers on different nodes meet,
//! signals cross between nodes only within a call, a dead node's calls end, and a node that
//! loses Redis pauses and recovers by itself; reports and bans hold across nodes.

mod common;

use common::{
    both_end, connect_media, connect_to, pair, report, ChildServer, Client, TestRedis, TestServer,
    PATIENCE,
};
use duet::protocol::{CallId, ClientMsg, EndReason, ErrorCode, ServerMsg};
use duet::server::matching::redis::keys;
use std::collections::HashMap;
use std::time::Duration;

/// A node on `redis` with a short node timeout, plus any other flags.
async fn node(redis: &TestRedis, flags: &[&str]) -> TestServer {
    let url = redis.url();
    let mut all = vec!["--redis-url", &url, "--node-timeout", "1s"];
    all.extend_from_slice(flags);
    TestServer::start(&all).await
}

fn error_code(msg: &ServerMsg) -> Option<ErrorCode> {
    match msg {
        ServerMsg::Error { code, .. } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn a_killed_node_is_noticed_and_its_strangers_partners_are_told() {
    let redis = TestRedis::start().await;
    let one = node(&redis, &[]).await;
    let url = redis.url();
    let mut two = ChildServer::start(&["--redis-url", &url, "--node-timeout", "1s"]).await;
    let mut a = one.connect().await;
    let mut b = connect_to(two.addr).await;
    // The count is site-wide (and told only outside calls).
    a.until_online(2).await;
    let call_id = pair(&mut a, &mut b).await;

    let killed_at = std::time::Instant::now();
    two.kill().await;
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    let noticed = killed_at.elapsed();
    // Within the node timeout (1 s) plus one beat of the surviving node (0.2 s), with room for
    // a busy test machine; nothing else (the browsers' 15 s heartbeat) could tell a so soon.
    assert!(noticed < Duration::from_millis(2_500), "took {noticed:?}");
    assert_eq!(a.recv().await, ServerMsg::Searching);
    a.until_online(1).await;
    // Nothing of the dead node is left in Redis.
    assert_eq!(redis.cli(&["SCARD", keys::nodes()]), "1");
    assert_eq!(redis.cli(&["SCARD", keys::open_pool()]), "1");
}

#[tokio::test]
async fn a_node_that_stalls_is_taken_for_dead_then_starts_over_by_itself() {
    let redis = TestRedis::start().await;
    let one = node(&redis, &[]).await;
    let url = redis.url();
    let two = ChildServer::start(&["--redis-url", &url, "--node-timeout", "1s"]).await;
    let mut a = one.connect().await;
    let mut b = connect_to(two.addr).await;
    let call_id = pair(&mut a, &mut b).await;

    // Node two freezes (SIGSTOP) past its node timeout: node one gives up on it.
    two.signal("-STOP");
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(a.recv().await, ServerMsg::Searching);

    // Node two wakes up, finds it was taken for dead, tells its visitor and starts over.
    two.signal("-CONT");
    assert_eq!(
        error_code(&b.recv().await),
        Some(ErrorCode::MatchingUnavailable)
    );
    // Once it is healthy again, b calls and meets a, who was waiting.
    until_healthy_at(two.addr).await;
    b.send(&ClientMsg::call()).await;
    let ServerMsg::Matched { call_id, .. } = b.recv().await else {
        panic!("b meets a")
    };
    let matched = Some(call_id);
    assert!(
        matches!(a.recv().await, ServerMsg::Matched { call_id, .. } if Some(call_id) == matched)
    );
}

#[tokio::test]
async fn a_node_shutting_down_tells_the_others_at_once() {
    let redis = TestRedis::start().await;
    let url = redis.url();
    // A node timeout far longer than the test: only the goodbye can explain a quick notice.
    let flags = ["--redis-url", url.as_str(), "--node-timeout", "60s"];
    let one = TestServer::start(&flags).await;
    let mut two = ChildServer::start(&flags).await;
    let mut a = one.connect().await;
    let mut b = connect_to(two.addr).await;
    let call_id = pair(&mut a, &mut b).await;

    assert!(two.terminate().await, "the node exits cleanly");
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerLeft
        }
    );
    assert_eq!(a.recv().await, ServerMsg::Searching);
    // Redis holds nothing of the node that left.
    assert_eq!(redis.cli(&["SCARD", keys::nodes()]), "1");
}

#[tokio::test]
async fn losing_redis_pauses_matching_and_it_resumes_by_itself() {
    let mut redis = TestRedis::start().await;
    let (one, two) = (node(&redis, &[]).await, node(&redis, &[]).await);
    let mut a = one.connect().await;
    let mut b = two.connect().await;
    pair(&mut a, &mut b).await;
    let mut c = one.connect().await;
    c.send(&ClientMsg::call()).await;
    assert_eq!(c.recv().await, ServerMsg::Searching);

    redis.kill().await;
    // Everyone in a call or searching is told; the call and the search are over.
    for side in [&mut a, &mut b, &mut c] {
        assert_eq!(
            error_code(&side.recv().await),
            Some(ErrorCode::MatchingUnavailable)
        );
    }
    let health = reqwest::get(one.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["redis"], "down");
    let metrics = one.metrics().await;
    assert!(metrics.contains("duet_matching_available 0"), "{metrics}");
    // A new search is refused with a clear message.
    a.send(&ClientMsg::call()).await;
    match a.recv().await {
        ServerMsg::Error { code, message } => {
            assert_eq!(code, ErrorCode::MatchingUnavailable);
            assert!(message.contains("Press Call again"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Redis comes back (empty): both nodes notice by themselves.
    redis.restart().await;
    for server in [&one, &two] {
        until_healthy(server).await;
    }
    let call_id = pair(&mut a, &mut b).await;
    a.send(&ClientMsg::Chat {
        call_id,
        text: "back".into(),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMsg::Chat {
            call_id,
            text: "back".into()
        }
    );
}

/// Waits until the node's `/healthz` says Redis is up again.
async fn until_healthy(server: &TestServer) {
    until_healthy_at(server.addr).await;
    assert!(server.state.switchboard.matching_available());
}

/// Waits until `/healthz` of the node at `addr` answers 200 (Redis up, matching on).
async fn until_healthy_at(addr: std::net::SocketAddr) {
    let url = format!("http://{addr}/healthz");
    eventually(async || reqwest::get(&url).await.unwrap().status() == 200).await;
}

/// Many strangers on three nodes pressing Call and Next at once: every call has at most two
/// sides, and when everyone has ended, Redis holds no call and no searcher.
#[tokio::test]
async fn a_crowd_on_three_nodes_never_shares_a_stranger() {
    let redis = TestRedis::start().await;
    let flags = [
        "--next-burst",
        "1000",
        "--next-rate",
        "1000",
        "--message-burst",
        "1000",
        "--message-rate",
        "1000",
    ];
    let nodes = [
        node(&redis, &flags).await,
        node(&redis, &flags).await,
        node(&redis, &flags).await,
    ];
    const PEOPLE: usize = 24;
    const CALLS_EACH: usize = 3;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (reached, mut reports) = tokio::sync::mpsc::channel(PEOPLE);
    let mut tasks = Vec::new();
    for person in 0..PEOPLE {
        let addr = nodes[person % 3].addr;
        let mut stopped = stopped.clone();
        let reached = reached.clone();
        tasks.push(tokio::spawn(async move {
            let mut me = connect_to(addr).await;
            me.send(&ClientMsg::call()).await;
            let mut calls: Vec<CallId> = Vec::new();
            // Everyone presses Next on every match until all have had a few calls.
            loop {
                tokio::select! {
                    msg = me.recv() => match msg {
                        ServerMsg::Matched { call_id, .. } => {
                            calls.push(call_id);
                            if calls.len() == CALLS_EACH {
                                reached.send(()).await.unwrap();
                            }
                            me.send(&ClientMsg::Next).await;
                        }
                        ServerMsg::Searching | ServerMsg::CallEnded { .. } => {}
                        other => panic!("unexpected {other:?}"),
                    },
                    _ = stopped.changed() => break,
                }
            }
            me.send(&ClientMsg::End).await;
            loop {
                match me.recv().await {
                    ServerMsg::Idle => break,
                    ServerMsg::Matched { call_id, .. } => calls.push(call_id),
                    _ => {}
                }
            }
            (calls, me)
        }));
    }
    for _ in 0..PEOPLE {
        tokio::time::timeout(PATIENCE, reports.recv())
            .await
            .expect("everyone gets a few calls")
            .unwrap();
    }
    stop.send(true).unwrap();
    let mut sides: HashMap<CallId, usize> = HashMap::new();
    let mut everyone: Vec<Client> = Vec::new();
    for task in tasks {
        let (calls, me) = task.await.unwrap();
        for call in calls {
            *sides.entry(call).or_default() += 1;
        }
        everyone.push(me);
    }
    for (call, count) in &sides {
        assert!(*count <= 2, "call {call} had {count} sides");
    }
    let full_calls = sides.values().filter(|c| **c == 2).count();
    assert!(full_calls >= PEOPLE * CALLS_EACH / 2, "{full_calls} calls");
    assert_eq!(redis.cli(&["SCARD", keys::open_pool()]), "0");
    assert_eq!(redis.cli(&["--scan", "--pattern", &keys::every_call()]), "");
}

/// Waits until `done` holds (something another node shares arrives asynchronously).
async fn eventually(mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        poll.tick().await;
        if done().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "it never happened");
    }
}

#[tokio::test]
async fn reports_made_on_two_nodes_ban_on_every_node_until_lifted() {
    let redis = TestRedis::start().await;
    let flags = [
        "--trusted-proxies",
        "127.0.0.1",
        "--ban-after-reports",
        "2",
        "--admin-token",
        "s3cret-moderator-token",
    ];
    let (one, two) = (node(&redis, &flags).await, node(&redis, &flags).await);
    let bad_ip: std::net::IpAddr = "203.0.113.66".parse().unwrap();
    let bad_addr = [("x-forwarded-for", "203.0.113.66")];
    let mut bad = two.connect_with(&bad_addr).await;

    let reporters = [(&one, "198.51.100.1"), (&two, "198.51.100.2")];
    for (n, (server, reporter_addr)) in reporters.into_iter().enumerate() {
        let mut reporter = server
            .connect_with(&[("x-forwarded-for", reporter_addr)])
            .await;
        let call_id = pair(&mut bad, &mut reporter).await;
        connect_media(&mut bad, &mut reporter, call_id).await;
        report(&mut reporter, call_id).await;
        if n == 0 {
            // Below the threshold; the report made on node one reaches node two's store.
            eventually(async || {
                two.state
                    .moderation
                    .overview(10)
                    .await
                    .unwrap()
                    .reports
                    .len()
                    == 1
            })
            .await;
            both_end(&mut reporter, &mut bad).await;
        }
    }
    // The report on node two completes the threshold with the one made on node one.
    let said = bad.until_closed().await;
    assert_eq!(said.last().and_then(error_code), Some(ErrorCode::Banned));

    // Every node refuses the address now.
    eventually(async || one.state.moderation.store().banned_until(bad_ip).is_some()).await;
    for server in [&one, &two] {
        let mut again = server.open_with(&bad_addr).await.unwrap();
        assert_eq!(
            again.until_closed().await.first().and_then(error_code),
            Some(ErrorCode::Banned)
        );
    }

    // A moderator lifts the ban on node one; node two lifts it too.
    let overview = one.admin_overview("s3cret-moderator-token").await;
    assert_eq!(overview["reports"].as_array().unwrap().len(), 2);
    let ban_id = overview["bans"][0]["id"].as_i64().unwrap();
    assert!(one.lift_ban("s3cret-moderator-token", ban_id).await);
    eventually(async || two.state.moderation.store().banned_until(bad_ip).is_none()).await;
    let _welcome_back = two.connect_with(&bad_addr).await;
}

/// A tab that lost its socket comes back on another node of the site (a load balancer may
/// send it anywhere): that node takes its session over, in the same call. The partner hears
/// "away", then "back"; signals flow both ways; the call's state carries over (the stranger
/// can still be reported, once); and when the node the tab left ends its wait, nothing ends.
/// A token without its browser's key takes nothing over and spends nothing.
#[tokio::test]
async fn a_tab_back_on_another_node_returns_to_its_call() {
    let redis = TestRedis::start().await;
    let grace = ["--reload-grace", "1s"];
    let one = node(&redis, &grace).await;
    let two = node(&redis, &grace).await;
    let three = node(&redis, &grace).await;
    let mut a = one.connect().await;
    let mut b = two.connect().await;
    let call_id = pair(&mut a, &mut b).await;
    connect_media(&mut b, &mut a, call_id).await;
    let (key, token) = (a.key(), a.resume.clone().expect("greeted"));
    drop(a);
    assert_eq!(b.recv().await, ServerMsg::PartnerAway { call_id });

    common::thief_gets_nothing(&three, &token).await;

    let mut a = three.reconnect_with(&key, &token).await;
    let ServerMsg::Resumed { call_id: back, .. } = a.recv().await else {
        panic!("the tab is back in its call, on node three")
    };
    assert_eq!(back, call_id);
    // A reloaded tab holds no connection: it races anew.
    common::say_back(&mut a, &mut b, call_id, false).await;
    a.send(&ClientMsg::Offer {
        call_id,
        sdp: "offer again".into(),
    })
    .await;
    assert!(matches!(b.recv().await, ServerMsg::Offer { .. }));
    b.send(&ClientMsg::Answer {
        call_id,
        sdp: "answer again".into(),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMsg::Answer { .. }));
    connect_media(&mut a, &mut b, call_id).await;
    report(&mut a, call_id).await;

    // Node one's wait for the tab ends (the grace is 1 s): an absence, so only time shows it.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    b.send(&ClientMsg::Chat {
        call_id,
        text: "still here?".into(),
    })
    .await;
    assert!(
        matches!(a.recv().await, ServerMsg::Chat { .. }),
        "the call goes on"
    );

    // The spent token returns nobody, on any node.
    let mut again = one.reconnect_with(&key, &token).await;
    again.send(&ClientMsg::End).await;
    assert_eq!(again.recv().await, ServerMsg::Idle);
    // The call ends as any call does.
    b.send(&ClientMsg::Next).await;
    assert_eq!(
        a.recv().await,
        ServerMsg::CallEnded {
            call_id,
            reason: EndReason::PartnerNext
        }
    );
}

//! A node restarted under a crowd: every tab comes back by the browser's reconnect rule
//! (`duet::reconnect`: a random wait in a window that doubles per failed attempt) and is
//! matched again, without the crowd arriving in one burst.

mod common;

use common::{open_socket, ChildServer, Client};
use duet::protocol::{ClientMsg, ServerMsg};
use duet::reconnect;
use futures_util::StreamExt;
use rand::Rng;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const TABS: usize = 5_000;
/// The bound: every tab of the restarted node matched again within this time.
const REMATCHED_WITHIN: Duration = Duration::from_secs(10);

/// The abuse limits are for strangers on the internet, not for this crowd on one address.
const CROWD_FLAGS: [&str; 6] = [
    "--max-connections-per-ip",
    "100000",
    "--connections-per-minute",
    "1000000",
    "--max-connections",
    "100000",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_has_all_5000_tabs_matched_again_within_10_s() {
    assert_open_files_allow(2 * TABS + 500);
    let server = ChildServer::start(&CROWD_FLAGS).await;
    let addr = server.addr;
    // How many tabs were matched in the first life of the node, and in the second.
    let (matched, mut seen) = watch::channel([0usize; 2]);
    let mut tabs = tokio::task::JoinSet::new();
    for _ in 0..TABS {
        let matched = matched.clone();
        tabs.spawn(tab(addr, matched));
    }
    wait_for(&mut seen, 0, Duration::from_secs(120)).await;

    let restarted = Instant::now();
    let mut server = server;
    assert!(server.terminate().await, "the node stops cleanly");
    let stopped = restarted.elapsed();
    let _again = ChildServer::start_at(&addr.to_string(), &CROWD_FLAGS).await;
    let down = restarted.elapsed();
    wait_for(&mut seen, 1, REMATCHED_WITHIN).await;
    println!(
        "restart: all {TABS} tabs matched again {:.1} s after the node was told to stop \
         (it took {:.1} s to stop and was back {:.1} s after the signal)",
        restarted.elapsed().as_secs_f64(),
        stopped.as_secs_f64(),
        down.as_secs_f64()
    );
    tabs.abort_all();
}

/// Waits until every tab was matched in `life` of the node.
async fn wait_for(seen: &mut watch::Receiver<[usize; 2]>, life: usize, within: Duration) {
    let reached = tokio::time::timeout(within, seen.wait_for(|m| m[life] == TABS))
        .await
        .is_ok_and(|r| r.is_ok());
    let now = seen.borrow()[life];
    assert!(
        reached,
        "only {now} of {TABS} tabs matched within {within:?} (life {life} of the node)"
    );
}

/// One browser tab: connects, presses Call, and when its socket is lost, reconnects the way
/// the browser does and presses Call again.
async fn tab(addr: SocketAddr, matched: watch::Sender<[usize; 2]>) {
    let mut attempt = None;
    for life in 0..2 {
        let mut client = loop {
            if let Some(n) = attempt {
                let jitter: f64 = rand::rng().random();
                // The node said goodbye, so no call waits for the tab (the page let it go).
                let wait = reconnect::delay(n, reconnect::Waiting::Nothing, jitter);
                tokio::time::sleep(wait).await;
            }
            // A node on its way down may take the connection and never answer it.
            let opened = tokio::time::timeout(Duration::from_secs(5), open_socket(addr, &[])).await;
            match opened {
                Ok(Ok(client)) => break client,
                _ => attempt = Some(attempt.map_or(0, |n| n + 1)),
            }
        };
        client.send(&ClientMsg::call()).await;
        while !matches!(next(&mut client).await, Some(ServerMsg::Matched { .. })) {}
        matched.send_modify(|m| m[life] += 1);
        // Hold the call until the node goes away.
        while next(&mut client).await.is_some() {}
        attempt = Some(0);
    }
}

/// The next message, or None once the socket is gone; no time limit (the test has one).
async fn next(client: &mut Client) -> Option<ServerMsg> {
    loop {
        match client.ws.next().await? {
            Ok(Message::Text(text)) => return duet::protocol::decode_server(&text).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// Fails with what to do when this process may not open enough sockets.
fn assert_open_files_allow(needed: usize) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    assert!(
        soft >= needed,
        "this test opens {needed} files but the limit is {soft}: run `ulimit -n {needed}` first \
         (`make unit` raises it to the hard limit)"
    );
}

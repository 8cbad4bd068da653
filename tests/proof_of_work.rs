//! The proof of work over a real socket: nothing that starts matching goes through before a
//! right, timely proof for that very socket; a visitor who connects often is asked for more;
//! `--pow-bits 0` asks nothing.

mod common;

use common::{open_socket, Client, TestServer};
use duet::proof;
use duet::protocol::{ClientMsg, ErrorCode, ServerMsg};
use std::time::Duration;

/// A socket's challenge, as the server sent it first.
struct Challenge {
    seed: String,
    bits: u8,
}

/// Opens a socket (with extra headers) and reads the challenge and the greeting after it.
async fn challenged(server: &TestServer, headers: &[(&str, &str)]) -> (Client, Challenge) {
    let mut client = open_socket(server.addr, headers).await.expect("connects");
    let challenge = match client.next_any().await {
        Some(ServerMsg::Challenge {
            seed,
            bits,
            expires_in,
        }) => {
            assert!(expires_in > 0);
            Challenge { seed, bits }
        }
        other => panic!("expected a challenge first, got {other:?}"),
    };
    assert!(matches!(
        client.next_any().await,
        Some(ServerMsg::Online { .. })
    ));
    (client, challenge)
}

fn refusal(msg: ServerMsg) -> ErrorCode {
    match msg {
        ServerMsg::Error { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn prove(client: &mut Client, challenge: &Challenge) {
    let nonce = proof::solve(&challenge.seed, challenge.bits);
    client.send(&ClientMsg::Proof { nonce }).await;
    assert_eq!(client.recv().await, ServerMsg::ProofAccepted);
}

#[tokio::test]
async fn call_waits_for_the_proof_and_works_right_after_it() {
    let server = TestServer::start(&["--pow-bits", "8"]).await;
    let (mut client, challenge) = challenged(&server, &[]).await;
    assert_eq!(challenge.bits, 8);
    assert_eq!(challenge.seed.len(), 32);
    client.send(&ClientMsg::call()).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::ProofRequired);
    client.send(&ClientMsg::Next).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::ProofRequired);
    prove(&mut client, &challenge).await;
    client.send(&ClientMsg::call()).await;
    assert_eq!(client.recv().await, ServerMsg::Searching);
    // A second proof changes nothing and earns no reply; End still answers.
    client
        .send(&ClientMsg::Proof {
            nonce: proof::solve(&challenge.seed, challenge.bits),
        })
        .await;
    client.send(&ClientMsg::End).await;
    assert_eq!(client.recv().await, ServerMsg::Idle);
}

#[tokio::test]
async fn a_wrong_nonce_is_refused_counted_and_the_challenge_stands() {
    let server = TestServer::start(&["--pow-bits", "8"]).await;
    let (mut client, challenge) = challenged(&server, &[]).await;
    let wrong = (0..)
        .find(|n| !proof::is_solution(&challenge.seed, challenge.bits, *n))
        .unwrap();
    client.send(&ClientMsg::Proof { nonce: wrong }).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::BadProof);
    client.send(&ClientMsg::call()).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::ProofRequired);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"duet_errors_total{kind="bad_proof"} 1"#),
        "{metrics}"
    );
    prove(&mut client, &challenge).await;
    client.send(&ClientMsg::call()).await;
    assert_eq!(client.recv().await, ServerMsg::Searching);
}

#[tokio::test]
async fn a_proof_for_another_sockets_challenge_is_refused() {
    let server = TestServer::start(&["--pow-bits", "10"]).await;
    let (mut mine, my_challenge) = challenged(&server, &[]).await;
    let (_theirs, their_challenge) = challenged(&server, &[]).await;
    assert_ne!(my_challenge.seed, their_challenge.seed);
    // Their proof, one that does not happen to solve mine as well.
    let mut from = 0;
    let borrowed = loop {
        let nonce = proof::search(&their_challenge.seed, 10, from, u64::MAX).unwrap();
        if !proof::is_solution(&my_challenge.seed, 10, nonce) {
            break nonce;
        }
        from = nonce + 1;
    };
    mine.send(&ClientMsg::Proof { nonce: borrowed }).await;
    assert_eq!(refusal(mine.recv().await), ErrorCode::BadProof);
    mine.send(&ClientMsg::call()).await;
    assert_eq!(refusal(mine.recv().await), ErrorCode::ProofRequired);
}

#[tokio::test]
async fn a_late_proof_is_refused_and_a_new_challenge_follows() {
    let server = TestServer::start(&["--pow-bits", "8", "--pow-ttl", "300ms"]).await;
    let (mut client, first) = challenged(&server, &[]).await;
    let nonce = proof::solve(&first.seed, first.bits);
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.send(&ClientMsg::Proof { nonce }).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::ProofExpired);
    let second = match client.recv().await {
        ServerMsg::Challenge { seed, bits, .. } => Challenge { seed, bits },
        other => panic!("expected a new challenge, got {other:?}"),
    };
    assert_ne!(second.seed, first.seed);
    // Calling late renews it too.
    tokio::time::sleep(Duration::from_millis(400)).await;
    client.send(&ClientMsg::call()).await;
    assert_eq!(refusal(client.recv().await), ErrorCode::ProofExpired);
    let third = match client.recv().await {
        ServerMsg::Challenge { seed, bits, .. } => Challenge { seed, bits },
        other => panic!("expected a new challenge, got {other:?}"),
    };
    // The replaced challenge's answer is no good (unless it happens to solve this one too);
    // a timely one for the new challenge is.
    let stale = proof::solve(&second.seed, second.bits);
    if !proof::is_solution(&third.seed, third.bits, stale) {
        client.send(&ClientMsg::Proof { nonce: stale }).await;
        assert_eq!(refusal(client.recv().await), ErrorCode::BadProof);
    }
    prove(&mut client, &third).await;
    client.send(&ClientMsg::call()).await;
    assert_eq!(client.recv().await, ServerMsg::Searching);
}

#[tokio::test]
async fn no_bits_means_no_challenge_and_call_works_at_once() {
    let server = TestServer::start(&["--pow-bits", "0"]).await;
    // `connect` insists on the online count first.
    let mut a = server.connect().await;
    let mut b = server.connect().await;
    common::pair(&mut a, &mut b).await;
}

#[tokio::test]
async fn an_address_that_connects_often_is_asked_for_more() {
    let server = TestServer::start(&[
        "--pow-bits",
        "6",
        "--pow-connects-per-bit",
        "2",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let mut asked = Vec::new();
    for _ in 0..5 {
        let (_client, challenge) = challenged(&server, &from("192.0.2.7")).await;
        asked.push(challenge.bits);
    }
    // One more bit per two sockets in the last minute, this one included.
    assert_eq!(asked, [6, 7, 7, 8, 8]);
    let (_neighbour, challenge) = challenged(&server, &from("192.0.2.8")).await;
    assert_eq!(challenge.bits, 6, "another visitor is not affected");
    // At most four more, however often.
    for _ in 0..20 {
        let (_client, challenge) = challenged(&server, &from("192.0.2.9")).await;
        asked.push(challenge.bits);
    }
    assert_eq!(asked.last(), Some(&10));
}

//! The call's rules, one test each, with typed assertions on the machine's commands and on the
//! page it derives. The comment above each test names the Playwright spec that checks the same
//! rule end to end (CLIENT_NOTES.md has the full table).

use super::*;
use crate::protocol::IceCandidate;

const A: CallId = CallId(0xa);
const B: CallId = CallId(0xb);

fn choices() -> Choices {
    Choices {
        terms_accepted: true,
        ..Choices::default()
    }
}

fn text_only() -> Choices {
    Choices {
        text_only: true,
        ..choices()
    }
}

fn hiding_ip() -> Choices {
    Choices {
        hide_ip: true,
        ..choices()
    }
}

/// The site's ICE servers: one TURN server, so hiding the IP is possible.
fn turn_server() -> Input {
    Input::IceServers(vec![IceServer {
        urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
        username: Some("u".into()),
        credential: Some("p".into()),
    }])
}

/// A hydrated page with its socket open.
fn page() -> Machine {
    let mut m = Machine::new();
    m.handle(Input::Hydrated);
    m.handle(Input::SocketOpened);
    m
}

/// A page searching for a video call (its camera is open).
fn searching() -> Machine {
    let mut m = page();
    m.handle(Input::Call(choices()));
    m.handle(Input::CameraOpened);
    m
}

fn matched(id: CallId) -> Input {
    Input::Server(ServerMsg::Matched {
        shared_language: String::new(),
        call_id: id,
        shared_interests: vec![],
        partner_text_only: false,
    })
}

/// The partner's offer in call `id`.
fn partner_offer(id: CallId) -> Input {
    Input::Server(ServerMsg::Offer {
        call_id: id,
        sdp: "their offer".into(),
    })
}

/// What a page does to offer in call `id`: peer1 made, and its offer.
fn peer1_offers(id: CallId) -> Vec<PeerCommand> {
    vec![
        PeerCommand::Open {
            call_id: id,
            role: Role::Peer1,
            relay_only: false,
        },
        PeerCommand::CreateOffer { call_id: id },
    ]
}

/// A page with the camera allowed already, matched in call `id` while its camera opens, that
/// has the partner's offer (answered by peer2; its own peer1 waits for the camera).
fn answering_while_the_camera_opens(id: CallId) -> Machine {
    let mut m = page();
    m.handle(Input::CameraPermitted);
    m.handle(Input::Call(choices()));
    m.handle(matched(id));
    m.handle(partner_offer(id));
    m
}

/// A page in a connected video call `id`, whose peer1 won the race.
fn in_call(id: CallId) -> Machine {
    let mut m = searching();
    m.handle(matched(id));
    m.handle(Input::Server(ServerMsg::Winner {
        call_id: id,
        role: Role::Peer1,
    }));
    m
}

fn sent(commands: &[Command]) -> Vec<ClientMsg> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Send(msg) => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn peer(commands: &[Command]) -> Vec<PeerCommand> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Peer(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn shown(commands: &[Command]) -> Vec<Field> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Show(f) => Some(f.clone()),
            _ => None,
        })
        .collect()
}

fn report(id: CallId, role: Role, event: PeerEvent) -> Input {
    Input::Peer(PeerReport {
        call_id: id,
        role,
        event,
    })
}

fn candidate(n: u8) -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:{n} 1 udp 1 127.0.0.1 9 typ host"),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

fn assert_state(m: &Machine, state: CallState, status: &str) {
    let page = m.page();
    assert_eq!((page.call_state, page.status.as_str()), (state, status));
}

fn ended(id: CallId, reason: EndReason) -> Input {
    Input::Server(ServerMsg::CallEnded {
        call_id: id,
        reason,
    })
}

// lobby.spec "the server renders the whole lobby": the first page is idle, with the prompt,
// and the controls wait for hydration.
#[test]
fn a_fresh_page_is_idle_and_not_ready_until_hydrated() {
    let mut m = Machine::new();
    assert_state(&m, CallState::Idle, IDLE_STATUS);
    assert!(!m.page().ready);
    assert_eq!(shown(&m.handle(Input::Hydrated)), vec![Field::Ready(true)]);
}

// lobby.spec "the page hydrates: Call turns on and responds": Call opens the camera, then looks
// for a stranger.
#[test]
fn call_opens_the_camera_then_searches() {
    let mut m = page();
    let out = m.handle(Input::Call(choices()));
    assert!(out.contains(&Command::OpenCamera));
    assert!(sent(&out).is_empty(), "nothing goes out before the camera");
    assert_state(&m, CallState::Searching, "Starting your camera…");
    // A second click while the camera opens does nothing.
    assert!(m.handle(Input::Call(choices())).is_empty());

    let out = m.handle(Input::CameraOpened);
    assert_eq!(sent(&out), vec![ClientMsg::call()]);
    assert_state(&m, CallState::Searching, "Looking for a stranger…");
}

// lobby.spec "the count goes live"; calls.spec "2 online" after a tab closes.
#[test]
fn the_online_count_follows_the_server_and_is_forgotten_when_the_socket_drops() {
    let mut m = page();
    let out = m.handle(Input::Server(ServerMsg::Online { count: 3 }));
    assert_eq!(shown(&out), vec![Field::Online(Some(3))]);
    m.handle(Input::SocketLost);
    assert_eq!(m.page().online, None);
}

// conversation.spec "the rules must be accepted before the first call".
#[test]
fn call_does_nothing_until_the_rules_are_accepted() {
    let mut m = page();
    let out = m.handle(Input::Call(Choices::default()));
    assert!(out.is_empty());
    assert_state(&m, CallState::Idle, IDLE_STATUS);
}

// calls.spec "both connections race": on `matched` peer1 is created and offers; the media
// switches are told first.
#[test]
fn matched_creates_peer1_and_offers() {
    let mut m = searching();
    let out = m.handle(matched(A));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Media {
            call_id: A,
            mic: true,
            camera: true
        }]
    );
    assert_eq!(peer(&out), peer1_offers(A));
    assert_state(&m, CallState::Connecting, "Stranger found. Connecting…");

    let out = m.handle(report(
        A,
        Role::Peer1,
        PeerEvent::LocalDescription("offer".into()),
    ));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Offer {
            call_id: A,
            sdp: "offer".into()
        }]
    );
}

// calls.spec "both connections race": the partner's offer is answered by peer2, whose answer
// goes back once the offer is set.
#[test]
fn the_partners_offer_is_answered_by_peer2() {
    let mut m = searching();
    m.handle(matched(A));
    let out = m.handle(partner_offer(A));
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::Open {
                call_id: A,
                role: Role::Peer2,
                relay_only: false
            },
            PeerCommand::SetRemote {
                call_id: A,
                role: Role::Peer2,
                sdp: "their offer".into()
            },
        ]
    );
    let out = m.handle(report(A, Role::Peer2, PeerEvent::RemoteDescribed));
    assert_eq!(peer(&out), vec![PeerCommand::CreateAnswer { call_id: A }]);
    let out = m.handle(report(
        A,
        Role::Peer2,
        PeerEvent::LocalDescription("answer".into()),
    ));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Answer {
            call_id: A,
            sdp: "answer".into()
        }]
    );
    // One offer per call: a repeat would tear the working peer2 down.
    let out = m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "again".into(),
    }));
    assert!(peer(&out).is_empty());
}

// calls.spec "both connections race": the partner's answer goes to peer1.
#[test]
fn the_partners_answer_goes_to_peer1() {
    let mut m = searching();
    m.handle(matched(A));
    let out = m.handle(Input::Server(ServerMsg::Answer {
        call_id: A,
        sdp: "their answer".into(),
    }));
    assert_eq!(
        peer(&out),
        vec![PeerCommand::SetRemote {
            call_id: A,
            role: Role::Peer1,
            sdp: "their answer".into()
        }]
    );
}

// relay.spec (candidates reach the page and are added): candidates carry their role, wait for
// their connection's remote description, and are flushed then.
#[test]
fn candidates_wait_for_their_connections_remote_description() {
    let mut m = searching();
    m.handle(matched(A));
    let ice = |role, n| {
        Input::Server(ServerMsg::Ice {
            call_id: A,
            role,
            candidate: candidate(n),
        })
    };
    // peer2 does not exist yet and peer1 has no answer: both wait.
    assert!(peer(&m.handle(ice(Role::Peer2, 1))).is_empty());
    assert!(peer(&m.handle(ice(Role::Peer1, 2))).is_empty());
    m.handle(Input::Server(ServerMsg::Answer {
        call_id: A,
        sdp: "answer".into(),
    }));
    let out = m.handle(report(A, Role::Peer1, PeerEvent::RemoteDescribed));
    assert_eq!(
        peer(&out),
        vec![PeerCommand::AddIce {
            call_id: A,
            role: Role::Peer1,
            candidate: candidate(2)
        }]
    );
    // Described now: the next one goes straight in.
    assert_eq!(
        peer(&m.handle(ice(Role::Peer1, 3))),
        vec![PeerCommand::AddIce {
            call_id: A,
            role: Role::Peer1,
            candidate: candidate(3)
        }]
    );
    // peer2's candidate still waits for the partner's offer.
    m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "offer".into(),
    }));
    let out = m.handle(report(A, Role::Peer2, PeerEvent::RemoteDescribed));
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::AddIce {
                call_id: A,
                role: Role::Peer2,
                candidate: candidate(1)
            },
            PeerCommand::CreateAnswer { call_id: A },
        ]
    );
}

// relay.spec: this side's candidates go to the partner tagged with the connection's role.
#[test]
fn own_candidates_go_out_with_their_role() {
    let mut m = searching();
    m.handle(matched(A));
    let out = m.handle(report(
        A,
        Role::Peer2,
        PeerEvent::LocalCandidate(candidate(7)),
    ));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Ice {
            call_id: A,
            role: Role::Peer2,
            candidate: candidate(7)
        }]
    );
}

// calls.spec "both connections race, both sides keep the same winner and close the other":
// each connection that comes up is reported; the server's winner is kept, the loser closed.
#[test]
fn the_winner_is_kept_and_the_loser_closed() {
    let mut m = searching();
    m.handle(matched(A));
    m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "offer".into(),
    }));
    for role in [Role::Peer2, Role::Peer1] {
        let out = m.handle(report(A, role, PeerEvent::Connected));
        assert_eq!(sent(&out), vec![ClientMsg::Connected { call_id: A, role }]);
    }
    // The server kept the partner's first report: peer1 here, not the first one up here.
    let out = m.handle(Input::Server(ServerMsg::Winner {
        call_id: A,
        role: Role::Peer1,
    }));
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::ShowRemote(Some(Role::Peer1)),
            PeerCommand::Close(Role::Peer2),
            PeerCommand::Measure {
                call_id: A,
                role: Role::Peer1
            },
        ]
    );
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
    // Candidates for the loser are dropped, not queued for ever.
    let out = m.handle(Input::Server(ServerMsg::Ice {
        call_id: A,
        role: Role::Peer2,
        candidate: candidate(1),
    }));
    assert!(peer(&out).is_empty());
}

// screening.spec "every frame positive" (Report): the partner's report named this side's
// peer1 the winner before it came up here; when it does, it is still reported, since only that
// report lets the partner report what this side showed.
#[test]
fn a_winner_named_before_it_came_up_here_is_reported_when_it_does() {
    let mut m = in_call(A);
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Connected));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Connected {
            call_id: A,
            role: Role::Peer1
        }]
    );
}

// calls.spec "two strangers…" (click to video): the first connection up here is shown before
// the server names the winner; when it wins, the winner's message only closes the loser.
#[test]
fn the_first_connection_up_is_shown_before_the_winner_is_named() {
    let mut m = searching();
    m.handle(matched(A));
    m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "offer".into(),
    }));
    let out = m.handle(report(A, Role::Peer2, PeerEvent::Connected));
    assert_eq!(peer(&out), vec![PeerCommand::ShowRemote(Some(Role::Peer2))]);
    // Still connecting as far as the page says: the server has not named the winner.
    assert_state(&m, CallState::Connecting, "Stranger found. Connecting…");
    // The second one up changes nothing on screen.
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Connected));
    assert!(peer(&out).is_empty());
    let out = m.handle(Input::Server(ServerMsg::Winner {
        call_id: A,
        role: Role::Peer2,
    }));
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::Close(Role::Peer1),
            PeerCommand::Measure {
                call_id: A,
                role: Role::Peer2
            },
        ]
    );
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
    // Leaving before the winner is named still empties the pane.
    let mut m = searching();
    m.handle(matched(B));
    m.handle(report(B, Role::Peer1, PeerEvent::Connected));
    let out = m.handle(Input::Next);
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::Close(Role::Peer1),
            PeerCommand::ShowRemote(None)
        ]
    );
}

// calls.spec "a burst of Next presses never mixes strangers": anything naming another call
// than the current one is dropped, from the server and from old connections alike.
#[test]
fn messages_for_another_call_are_dropped() {
    let mut m = in_call(A);
    m.handle(Input::Next);
    m.handle(matched(B));
    let stale: Vec<Input> = vec![
        Input::Server(ServerMsg::Offer {
            call_id: A,
            sdp: "x".into(),
        }),
        Input::Server(ServerMsg::Answer {
            call_id: A,
            sdp: "x".into(),
        }),
        Input::Server(ServerMsg::Ice {
            call_id: A,
            role: Role::Peer1,
            candidate: candidate(1),
        }),
        Input::Server(ServerMsg::Winner {
            call_id: A,
            role: Role::Peer1,
        }),
        Input::Server(ServerMsg::Chat {
            call_id: A,
            text: "old".into(),
        }),
        Input::Server(ServerMsg::Typing {
            call_id: A,
            typing: true,
        }),
        Input::Server(ServerMsg::Media {
            call_id: A,
            mic: false,
            camera: false,
        }),
        ended(A, EndReason::PartnerNext),
        report(A, Role::Peer1, PeerEvent::LocalDescription("x".into())),
        report(A, Role::Peer1, PeerEvent::LocalCandidate(candidate(2))),
        report(A, Role::Peer1, PeerEvent::Connected),
        report(A, Role::Peer1, PeerEvent::Failed),
        report(A, Role::Peer1, PeerEvent::Quality("RTT 1 ms".into())),
    ];
    for input in stale {
        let out = m.handle(input.clone());
        assert!(out.is_empty(), "{input:?} should be dropped, got {out:?}");
    }
    assert_state(&m, CallState::Connecting, "Stranger found. Connecting…");
}

// calls.spec "two strangers…": Next leaves the stranger (the design's ending: both connections
// closed, the remote stream gone) and searches again.
#[test]
fn next_hangs_up_and_searches_again() {
    let mut m = in_call(A);
    let out = m.handle(Input::Next);
    assert_eq!(
        peer(&out),
        vec![
            PeerCommand::Close(Role::Peer1),
            PeerCommand::ShowRemote(None),
            PeerCommand::StopMeasuring,
        ]
    );
    assert_eq!(sent(&out), vec![ClientMsg::Next]);
    assert_state(&m, CallState::Searching, "Looking for someone new…");
    // No camera command: the camera stays on between calls.
    assert!(!out.iter().any(|c| matches!(c, Command::OpenCamera)));
}

// calls.spec "click to video…" (timeline: "peer1 taken ready"): a peer1 waits ready exactly
// while the page searches for a video call, with the search's hide-my-IP choice.
#[test]
fn a_peer1_is_kept_ready_only_while_searching_for_a_video_call() {
    let mut m = page();
    assert_eq!(m.video_search(), None, "idle");
    m.handle(Input::Call(hiding_ip()));
    assert_eq!(m.video_search(), None, "hiding the IP needs a TURN server");
    m.handle(turn_server());
    m.handle(Input::Call(hiding_ip()));
    assert_eq!(m.video_search(), None, "not while the camera opens");
    m.handle(Input::CameraOpened);
    assert_eq!(m.video_search(), Some(true), "searching, the camera open");
    m.handle(matched(A));
    assert_eq!(m.video_search(), None, "in a call: the match took it");
    m.handle(Input::Next);
    assert_eq!(m.video_search(), Some(true), "searching again after Next");
    m.handle(Input::End);
    assert_eq!(m.video_search(), None, "ended");
    m.handle(Input::Call(text_only()));
    assert_eq!(
        m.video_search(),
        None,
        "a text-only search needs no connection"
    );
}

// calls.spec "C presses End: C goes idle… The camera stays on between calls", and "C calls
// again and meets A" (no second camera prompt).
#[test]
fn end_goes_idle_and_keeps_the_camera_for_the_next_call() {
    let mut m = in_call(A);
    let out = m.handle(Input::End);
    assert_eq!(sent(&out), vec![ClientMsg::End]);
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer1)));
    assert_state(
        &m,
        CallState::Idle,
        "Call ended. Press Call to meet someone new.",
    );
    let out = m.handle(Input::Call(choices()));
    assert!(!out.contains(&Command::OpenCamera));
    assert_eq!(sent(&out), vec![ClientMsg::call()]);
    assert_state(&m, CallState::Searching, "Looking for a stranger…");
}

// The design's rule behind every spec that presses End quickly: a match that arrives after End
// is ignored (the server ends it once the End lands).
#[test]
fn a_match_after_end_is_ignored() {
    let mut m = searching();
    m.handle(Input::End);
    let out = m.handle(matched(A));
    assert!(out.is_empty());
    assert_state(
        &m,
        CallState::Idle,
        "Call ended. Press Call to meet someone new.",
    );
}

// calls.spec "B closes the tab: A is told and searches again by itself" (and the remote pane
// is emptied); nodes.spec "B is told and searches … moved on".
#[test]
fn the_partner_leaving_is_explained_and_the_page_searches_again() {
    for (reason, status) in [
        (
            EndReason::PartnerLeft,
            "The stranger left. Finding someone new…",
        ),
        (
            EndReason::PartnerNext,
            "The stranger moved on. Finding someone new…",
        ),
        (
            EndReason::PartnerEnded,
            "The stranger ended the call. Finding someone new…",
        ),
        (
            EndReason::ConnectTimeout,
            "Couldn't connect to that stranger. Finding someone new…",
        ),
    ] {
        let mut m = in_call(A);
        let out = m.handle(ended(A, reason));
        assert!(peer(&out).contains(&PeerCommand::ShowRemote(None)));
        assert!(sent(&out).is_empty(), "the server searches by itself");
        assert_state(&m, CallState::Searching, status);
    }
}

// calls.spec "the page reconnects by itself when the server comes back, and calls again".
#[test]
fn a_restart_is_explained_and_the_page_calls_again_on_reconnect() {
    let mut m = in_call(A);
    m.handle(Input::Server(ServerMsg::ShuttingDown));
    let out = m.handle(Input::SocketLost);
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer1)));
    // The call ended with the server: nothing waits, and a crowd spreads out.
    assert!(out.contains(&Command::Reconnect(Waiting::Nothing)));
    assert_state(
        &m,
        CallState::Searching,
        "duet is restarting. Reconnecting…",
    );
    // Attempts that fail while the server is down are still the restart.
    m.handle(Input::SocketLost);
    m.handle(Input::SocketLost);
    assert_state(
        &m,
        CallState::Searching,
        "duet is restarting. Reconnecting…",
    );
    let out = m.handle(Input::SocketOpened);
    assert_eq!(sent(&out), vec![ClientMsg::call()]);
    assert_state(&m, CallState::Searching, "Looking for a stranger…");
    m.handle(matched(B));
    assert_eq!(m.page().call_state, CallState::Connecting);
}

// The same reconnect without a goodbye (a network blip), and while idle.
#[test]
fn a_lost_socket_says_reconnecting_and_an_idle_page_recovers() {
    // A call is held meanwhile (see a_lost_socket_holds_the_call_and_the_tab_comes_back_in_place).
    let mut m = in_call(A);
    m.handle(Input::SocketLost);
    assert_state(
        &m,
        CallState::Connected,
        "Connection to duet lost. Reconnecting…",
    );

    let mut m = page();
    m.handle(Input::SocketLost);
    assert_state(
        &m,
        CallState::Idle,
        "Connection to duet lost. Reconnecting…",
    );
    let out = m.handle(Input::SocketOpened);
    assert!(sent(&out).is_empty(), "an idle page does not call");
    assert_state(&m, CallState::Idle, IDLE_STATUS);
}

// A Call pressed before the socket opened goes out once it does.
#[test]
fn call_is_sent_again_when_the_socket_opens() {
    let mut m = Machine::new();
    m.handle(Input::Hydrated);
    m.handle(Input::Call(text_only()));
    let out = m.handle(Input::SocketOpened);
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Call {
            language: String::new(),
            interests: vec![],
            text_only: true
        }]
    );
}

// camera-denied.spec "a blocked camera is explained".
#[test]
fn a_blocked_camera_is_explained_and_leaves_the_page_idle() {
    let mut m = page();
    m.handle(Input::Call(choices()));
    let out = m.handle(Input::CameraFailed(
        "Camera or microphone blocked. Allow access in your browser, then press Call.".into(),
    ));
    assert!(sent(&out).is_empty());
    assert_state(
        &m,
        CallState::Idle,
        "Camera or microphone blocked. Allow access in your browser, then press Call. Or tick \"Text only\" to meet strangers by chat.",
    );
}

// calls.spec "two strangers see each other" (its pages have the camera allowed already).
#[test]
fn with_the_camera_allowed_already_a_call_searches_while_it_opens() {
    let mut m = page();
    m.handle(Input::CameraPermitted);
    let out = m.handle(Input::Call(choices()));
    assert!(out.contains(&Command::OpenCamera));
    assert_eq!(sent(&out).len(), 1, "Call goes out at once: {out:?}");
    assert_eq!(m.page().call_state, CallState::Searching);
    // A stranger met before the camera opened: the race starts with the partner's offer,
    // answered at once (the camera's tracks join the connection once it is open)...
    let out = m.handle(matched(A));
    assert!(peer(&out).is_empty(), "peer1 waits for the camera: {out:?}");
    assert_eq!(m.page().call_state, CallState::Connecting);
    let out = m.handle(partner_offer(A));
    assert_eq!(peer(&out).len(), 2, "peer2 answers: {out:?}");
    // ...and peer1 offers once the camera is open. It searches no second time.
    let out = m.handle(Input::CameraOpened);
    assert!(sent(&out).is_empty());
    assert_eq!(peer(&out), peer1_offers(A));
    assert_eq!(m.page().call_state, CallState::Connecting);
}

// The same, when the partner's offer won the race before the camera opened: peer1 is never
// made, since it could only lose.
#[test]
fn a_race_won_before_the_camera_opened_makes_no_peer1() {
    let mut m = answering_while_the_camera_opens(A);
    m.handle(Input::Server(ServerMsg::Winner {
        call_id: A,
        role: Role::Peer2,
    }));
    let out = m.handle(Input::CameraOpened);
    assert!(peer(&out).is_empty(), "{out:?}");
}

// camera-denied.spec "a camera that fails after the search began ends the call".
#[test]
fn a_camera_allowed_but_failing_ends_the_call_it_opened_for() {
    let mut m = answering_while_the_camera_opens(A);
    let out = m.handle(Input::CameraFailed(
        "Your camera is busy in another app. Close it, then press Call.".into(),
    ));
    assert_eq!(sent(&out), vec![ClientMsg::End]);
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer2)));
    assert_state(
        &m,
        CallState::Idle,
        "Your camera is busy in another app. Close it, then press Call. Or tick \"Text only\" to meet strangers by chat.",
    );
    // Call again: the camera is asked for again.
    let out = m.handle(Input::Call(choices()));
    assert!(out.contains(&Command::OpenCamera));
}

// camera-denied.spec "text-only still meets strangers"; conversation.spec "text-only visitors
// are paired with each other first": no camera, no WebRTC, connected at once, chat works.
#[test]
fn a_text_only_call_needs_no_camera_and_no_connection() {
    let mut m = page();
    let out = m.handle(Input::Call(text_only()));
    assert!(!out.contains(&Command::OpenCamera));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Call {
            language: String::new(),
            interests: vec![],
            text_only: true
        }]
    );
    let out = m.handle(Input::Server(ServerMsg::Matched {
        shared_language: String::new(),
        call_id: A,
        shared_interests: vec![],
        partner_text_only: true,
    }));
    assert!(peer(&out).is_empty());
    assert!(sent(&out).is_empty());
    assert_state(&m, CallState::Connected, "Connected by text. Say hi!");
    assert!(m.page().partner_text_only);
    let out = m.handle(Input::SendChat("no camera, no problem".into()));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Chat {
            call_id: A,
            text: "no camera, no problem".into()
        }]
    );
}

// conversation.spec "a video visitor paired with a text-only one sees a placeholder": the
// call is text-only for the video visitor too.
#[test]
fn a_video_visitor_meeting_a_text_only_one_gets_a_text_call() {
    let mut m = searching();
    let out = m.handle(Input::Server(ServerMsg::Matched {
        shared_language: String::new(),
        call_id: A,
        shared_interests: vec![],
        partner_text_only: true,
    }));
    assert!(peer(&out).is_empty());
    assert!(shown(&out).contains(&Field::PartnerTextOnly(true)));
    assert_state(&m, CallState::Connected, "Connected by text. Say hi!");
    m.handle(Input::Next);
    assert!(!m.page().partner_text_only, "cleared with the call");
}

// conversation.spec "chat: lines go to the stranger as text … the log clears after the call".
#[test]
fn chat_lines_go_both_ways_and_clear_with_the_call() {
    let mut m = in_call(A);
    let out = m.handle(Input::SendChat("hi <b>there</b>".into()));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Chat {
            call_id: A,
            text: "hi <b>there</b>".into()
        }]
    );
    m.handle(Input::Server(ServerMsg::Chat {
        call_id: A,
        text: "hello".into(),
    }));
    let lines = m.page().chat;
    assert_eq!(
        lines
            .iter()
            .map(|l| (l.from_me, l.text.as_str()))
            .collect::<Vec<_>>(),
        vec![(true, "hi <b>there</b>"), (false, "hello")]
    );
    assert_ne!(lines[0].id, lines[1].id, "keys stay unique");
    let out = m.handle(Input::Next);
    assert!(shown(&out).contains(&Field::Chat(vec![])));
    // Outside a call there is nobody to chat with.
    assert!(m.handle(Input::SendChat("anyone?".into())).is_empty());
}

// conversation.spec "typing shows and clears": this side says it types once, and stops when
// the line is sent.
#[test]
fn typing_is_told_once_and_withdrawn_when_the_line_is_sent() {
    let mut m = in_call(A);
    let out = m.handle(Input::Typing {
        active: true,
        now: 1_000,
    });
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Typing {
            call_id: A,
            typing: true
        }]
    );
    assert!(out.contains(&Command::StartTimer {
        timer: Timer::TypingIdle(A),
        after: TYPING_IDLE
    }));
    let again = m.handle(Input::Typing {
        active: true,
        now: 1_500,
    });
    assert!(sent(&again).is_empty(), "told once until it stops");
    let out = m.handle(Input::SendChat("hi".into()));
    assert_eq!(
        sent(&out),
        vec![
            ClientMsg::Typing {
                call_id: A,
                typing: false
            },
            ClientMsg::Chat {
                call_id: A,
                text: "hi".into()
            }
        ]
    );
}

// conversation.spec "typing without sending: the indicator clears by itself once A stops".
#[test]
fn typing_stops_by_itself_after_a_quiet_spell() {
    let mut m = in_call(A);
    m.handle(Input::Typing {
        active: true,
        now: 0,
    });
    m.handle(Input::Typing {
        active: true,
        now: 2_000,
    });
    // Typed 1 s ago: check again later.
    let out = m.handle(Input::TimerFired {
        timer: Timer::TypingIdle(A),
        now: 3_000,
    });
    assert!(sent(&out).is_empty());
    assert!(out.contains(&Command::StartTimer {
        timer: Timer::TypingIdle(A),
        after: TYPING_IDLE
    }));
    let out = m.handle(Input::TimerFired {
        timer: Timer::TypingIdle(A),
        now: 6_000,
    });
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Typing {
            call_id: A,
            typing: false
        }]
    );
}

// conversation.spec "typing shows and clears": the stranger's typing shows, clears with their
// line, and fades if not refreshed.
#[test]
fn the_strangers_typing_shows_clears_and_fades() {
    let mut m = in_call(A);
    let typing = |typing| Input::Server(ServerMsg::Typing { call_id: A, typing });
    let out = m.handle(typing(true));
    assert!(shown(&out).contains(&Field::StrangerTyping(true)));
    let first_fade = out
        .iter()
        .find_map(|c| match c {
            Command::StartTimer { timer, after } if *after == TYPING_FADE => Some(*timer),
            _ => None,
        })
        .expect("a fade timer");
    m.handle(Input::Server(ServerMsg::Chat {
        call_id: A,
        text: "hi".into(),
    }));
    assert!(!m.page().stranger_typing, "a line ends the typing");

    m.handle(typing(true));
    // The first fade timer is outdated by the second "typing".
    m.handle(Input::TimerFired {
        timer: first_fade,
        now: 0,
    });
    assert!(m.page().stranger_typing);
    m.handle(Input::TimerFired {
        timer: Timer::TypingFade(m.typing_fades),
        now: 0,
    });
    assert!(!m.page().stranger_typing);
}

// conversation.spec "a stranger with a shared interest is preferred, both see which".
#[test]
fn interests_are_normalised_into_call_and_shared_ones_shown_during_the_call() {
    let mut m = page();
    let out = m.handle(Input::Call(Choices {
        interests: " Jazz, chess ".into(),
        ..text_only()
    }));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Call {
            language: String::new(),
            interests: vec!["jazz".into(), "chess".into()],
            text_only: true
        }]
    );
    m.handle(Input::Server(ServerMsg::Matched {
        shared_language: String::new(),
        call_id: A,
        shared_interests: vec!["jazz".into()],
        partner_text_only: false,
    }));
    assert_eq!(m.page().shared_interests, vec!["jazz".to_owned()]);
    m.handle(Input::End);
    assert!(m.page().shared_interests.is_empty());
}

// conversation.spec "too many interests are explained before calling".
#[test]
fn too_many_interests_are_explained_and_nothing_is_sent() {
    let mut m = page();
    let out = m.handle(Input::Call(Choices {
        interests: "a, b, c, d, e, f".into(),
        ..choices()
    }));
    assert!(sent(&out).is_empty());
    assert!(!out.contains(&Command::OpenCamera));
    assert_state(&m, CallState::Idle, "At most 5 interests, please.");
}

// conversation.spec "mute and camera-off reach the stranger": the tracks are disabled (not
// removed) and the stranger is told; the stranger's switches show.
#[test]
fn mute_and_camera_off_disable_tracks_and_reach_the_stranger() {
    let mut m = in_call(A);
    let out = m.handle(Input::ToggleMic);
    assert!(out.contains(&Command::EnableTracks {
        track: Track::Audio,
        on: false
    }));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Media {
            call_id: A,
            mic: false,
            camera: true
        }]
    );
    let out = m.handle(Input::ToggleCamera);
    assert!(out.contains(&Command::EnableTracks {
        track: Track::Video,
        on: false
    }));
    assert_eq!(
        shown(&out),
        vec![Field::CameraOn(false)],
        "the switch shows it"
    );

    m.handle(Input::Server(ServerMsg::Media {
        call_id: A,
        mic: false,
        camera: false,
    }));
    let page = m.page();
    assert_eq!((page.stranger_mic, page.stranger_camera), (false, false));
    m.handle(Input::Next);
    let page = m.page();
    assert_eq!((page.stranger_mic, page.stranger_camera), (true, true));
}

// A switch turned off before the camera opened holds for its tracks once it opens.
#[test]
fn a_switch_set_before_the_camera_opens_applies_to_its_tracks() {
    let mut m = page();
    let out = m.handle(Input::ToggleMic);
    assert!(!out
        .iter()
        .any(|c| matches!(c, Command::EnableTracks { .. })));
    m.handle(Input::Call(choices()));
    let out = m.handle(Input::CameraOpened);
    assert!(out.contains(&Command::EnableTracks {
        track: Track::Audio,
        on: false
    }));
}

// conversation.spec "the quality shows": measurements of the winning connection show, and go
// with the call.
#[test]
fn the_quality_shows_during_the_call_only() {
    let mut m = in_call(A);
    let out = m.handle(report(
        A,
        Role::Peer1,
        PeerEvent::Quality("RTT 12 ms · loss 0.0%".into()),
    ));
    assert_eq!(
        shown(&out),
        vec![Field::Quality(Some("RTT 12 ms · loss 0.0%".into()))]
    );
    let out = m.handle(Input::End);
    assert!(shown(&out).contains(&Field::Quality(None)));
}

// conversation.spec "Esc is Next": Esc leaves the stranger, but only once Call was pressed and
// the page works.
#[test]
fn escape_is_next_once_call_was_pressed() {
    let mut m = in_call(A);
    let out = m.handle(Input::Escape);
    assert_eq!(sent(&out), vec![ClientMsg::Next]);

    let mut idle = page();
    assert!(idle.handle(Input::Escape).is_empty());

    let mut not_hydrated = Machine::new();
    not_hydrated.handle(Input::Call(text_only()));
    assert!(sent(&not_hydrated.handle(Input::Escape)).is_empty());
}

// safety.spec "a reported stranger is banned and told": Report → next.
#[test]
fn report_reports_leaves_and_looks_for_someone_new() {
    let mut m = in_call(A);
    let out = m.handle(Input::Report(ReportReason::Harassment));
    assert_eq!(
        sent(&out),
        vec![
            ClientMsg::Report {
                call_id: A,
                reason: ReportReason::Harassment,
                screened: false,
            },
            ClientMsg::Next
        ]
    );
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer1)));
    assert_state(
        &m,
        CallState::Searching,
        "Thanks, the stranger was reported. Finding someone new…",
    );
    // Without a stranger there is nobody to report.
    assert!(searching()
        .handle(Input::Report(ReportReason::Spam))
        .is_empty());
}

// screening.spec "Report under the blur …": nudity, flagged by screening, then someone new.
#[test]
fn a_report_from_the_screening_blur_says_so_and_moves_on() {
    let mut m = in_call(A);
    let out = m.handle(Input::ReportScreened);
    assert_eq!(
        sent(&out),
        vec![
            ClientMsg::Report {
                call_id: A,
                reason: ReportReason::Nudity,
                screened: true,
            },
            ClientMsg::Next
        ]
    );
    assert_state(
        &m,
        CallState::Searching,
        "Thanks, the stranger was reported. Finding someone new…",
    );
}

// safety.spec "… banned and told": the ban's message stays, the page goes idle, its buttons
// off, and it stops reconnecting.
#[test]
fn a_ban_is_shown_disables_the_page_and_stops_reconnecting() {
    let mut m = in_call(A);
    let message = "You have been banned after reports from other visitors, until tomorrow.";
    let out = m.handle(Input::Server(ServerMsg::error(ErrorCode::Banned, message)));
    assert!(out.contains(&Command::StopReconnecting));
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer1)));
    assert_state(&m, CallState::Idle, message);
    assert!(!m.page().ready);
    // The socket closes next: the ban, not "reconnecting", stays on screen.
    m.handle(Input::SocketLost);
    assert_state(&m, CallState::Idle, message);
    assert!(m.handle(Input::Escape).is_empty());
}

// safety.spec "pressing Next too fast is explained, and leaves the visitor idle".
#[test]
fn next_too_fast_ends_the_call_and_says_why() {
    let mut m = in_call(A);
    m.handle(Input::Next);
    let message = "Slow down: wait a moment before pressing Next again.";
    let out = m.handle(Input::Server(ServerMsg::error(
        ErrorCode::NextTooFast,
        message,
    )));
    assert_eq!(sent(&out), vec![ClientMsg::End]);
    assert_state(&m, CallState::Idle, message);
}

// nodes.spec "without Redis matching pauses with a clear message, and resumes by itself".
#[test]
fn matching_unavailable_goes_idle_with_the_message_and_call_works_again() {
    let mut m = in_call(A);
    let message = "Matching is paused: duet lost its shared store. Try again in a moment.";
    let unavailable = || Input::Server(ServerMsg::error(ErrorCode::MatchingUnavailable, message));
    let out = m.handle(unavailable());
    assert!(sent(&out).is_empty());
    assert_state(&m, CallState::Idle, message);
    let out = m.handle(Input::Call(choices()));
    assert_eq!(sent(&out), vec![ClientMsg::call()]);
    m.handle(unavailable());
    assert_state(&m, CallState::Idle, message);
    assert!(m.page().ready, "Call keeps working");
}

// The other refusals: expected races are only logged; the rest show their message, and one
// that closes the socket stays on screen instead of "reconnecting".
#[test]
fn other_refusals_are_logged_or_shown() {
    let mut m = in_call(A);
    let out = m.handle(Input::Server(ServerMsg::error(ErrorCode::StaleCall, "old")));
    assert!(matches!(out.as_slice(), [Command::Warn(_)]));
    m.handle(Input::Server(ServerMsg::error(
        ErrorCode::ChatRefused,
        "Too long.",
    )));
    assert_state(&m, CallState::Connected, "Too long.");

    let mut m = page();
    m.handle(Input::Server(ServerMsg::error(
        ErrorCode::TooManyConnections,
        "Too many tabs.",
    )));
    m.handle(Input::SocketLost);
    assert_state(&m, CallState::Idle, "Too many tabs.");
}

// relay.spec "with both visitors relay-only, the call goes through TURN": hiding the IP makes
// both connections relay-only.
#[test]
fn hiding_the_ip_makes_both_connections_relay_only() {
    let mut m = page();
    m.handle(turn_server());
    m.handle(Input::Call(hiding_ip()));
    m.handle(Input::CameraOpened);
    let out = m.handle(matched(A));
    assert!(peer(&out).contains(&PeerCommand::Open {
        call_id: A,
        role: Role::Peer1,
        relay_only: true
    }));
    let out = m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "offer".into(),
    }));
    assert!(peer(&out).contains(&PeerCommand::Open {
        call_id: A,
        role: Role::Peer2,
        relay_only: true
    }));
}

// relay.spec "relay-only calls fail with a clear status line, not a black pane" (and the
// direct equivalent).
#[test]
fn a_failed_connection_while_connecting_is_explained() {
    let mut m = page();
    m.handle(Input::IceServers(vec![IceServer {
        urls: vec!["turns:relay.example:443".into()],
        username: None,
        credential: None,
    }]));
    m.handle(Input::Call(hiding_ip()));
    m.handle(Input::CameraOpened);
    m.handle(matched(A));
    m.handle(report(A, Role::Peer1, PeerEvent::Failed));
    assert_state(
        &m,
        CallState::Connecting,
        "Could not connect through the relay server (TURN), so the call cannot start. duet will try someone else.",
    );

    let mut m = searching();
    m.handle(matched(A));
    m.handle(report(A, Role::Peer2, PeerEvent::Failed));
    assert_state(
        &m,
        CallState::Connecting,
        "Could not connect to this stranger's browser. duet will try someone else.",
    );
    // Once connected, a failure of the other connection says nothing.
    let mut m = in_call(A);
    m.handle(report(A, Role::Peer2, PeerEvent::Failed));
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
}

// relay.spec "hiding the IP without a TURN server is explained before calling".
#[test]
fn hiding_the_ip_without_a_turn_server_is_explained_before_calling() {
    let mut m = page();
    m.handle(Input::IceServers(vec![IceServer {
        urls: vec!["stun:stun.example:3478".into()],
        username: None,
        credential: None,
    }]));
    let out = m.handle(Input::Call(hiding_ip()));
    assert!(sent(&out).is_empty());
    assert!(!out.contains(&Command::OpenCamera));
    assert_state(
        &m,
        CallState::Idle,
        "Hiding your IP needs a relay (TURN) server, and this site has none set up. Untick it to call.",
    );
    // Text-only calls need no relay.
    let out = m.handle(Input::Call(Choices {
        hide_ip: true,
        ..text_only()
    }));
    assert_eq!(sent(&out).len(), 1);
}

// Only what changed is shown, so the page's signals fire only for real changes.
#[test]
fn only_changed_fields_are_shown() {
    let mut m = searching();
    let out = m.handle(Input::Server(ServerMsg::Searching));
    assert!(out.is_empty());
    let out = m.handle(matched(A));
    assert_eq!(
        shown(&out),
        vec![
            Field::CallState(CallState::Connecting),
            Field::Status("Stranger found. Connecting…".into())
        ]
    );
}

// calls.spec "the call timer": the time counts from the moment the call connected, not from
// the match, and the next stranger starts from zero; nothing is counted outside a call.
#[test]
fn the_call_time_counts_from_the_connection_and_restarts_with_each_stranger() {
    let mut m = searching();
    assert_eq!(m.page().call_since, None);
    m.set_time(1_000);
    m.handle(matched(A));
    assert_eq!(m.page().call_since, None, "connecting is not yet talking");
    m.set_time(2_500);
    let out = m.handle(Input::Server(ServerMsg::Winner {
        call_id: A,
        role: Role::Peer1,
    }));
    assert!(shown(&out).contains(&Field::CallSince(Some(2_500))));
    // Later news about the same call does not restart it.
    m.set_time(9_000);
    m.handle(report(A, Role::Peer1, PeerEvent::Quality("20 ms".into())));
    assert_eq!(m.page().call_since, Some(2_500));

    // Next: searching shows no time; the next stranger counts from their own connection.
    let out = m.handle(Input::Next);
    assert!(shown(&out).contains(&Field::CallSince(None)));
    m.set_time(12_000);
    m.handle(matched(B));
    m.set_time(13_000);
    m.handle(Input::Server(ServerMsg::Winner {
        call_id: B,
        role: Role::Peer2,
    }));
    assert_eq!(m.page().call_since, Some(13_000));

    let out = m.handle(Input::End);
    assert!(shown(&out).contains(&Field::CallSince(None)));
}

// The call timer in a text-only call (here only): it has nothing to connect, so it counts from
// the match.
#[test]
fn a_text_call_counts_from_the_match() {
    let mut m = page();
    m.handle(Input::Call(text_only()));
    m.set_time(4_000);
    let out = m.handle(matched(A));
    assert!(shown(&out).contains(&Field::CallSince(Some(4_000))));
}

// alert.spec: a stranger found while the tab is hidden chimes and marks the tab until the
// visitor looks at it; found in front, nothing is announced.
#[test]
fn a_stranger_found_in_a_background_tab_is_announced_until_seen() {
    let mut m = searching();
    let out = m.handle(matched(A));
    assert!(!out.contains(&Command::Chime), "the visitor is looking");
    assert!(!m.page().unseen_stranger);

    m.handle(Input::Next);
    m.handle(Input::Visibility { hidden: true });
    let out = m.handle(matched(B));
    assert_eq!(out.iter().filter(|c| **c == Command::Chime).count(), 1);
    assert!(shown(&out).contains(&Field::UnseenStranger(true)));
    // The call connecting changes nothing: still unseen, no second chime.
    let out = m.handle(Input::Server(ServerMsg::Winner {
        call_id: B,
        role: Role::Peer1,
    }));
    assert!(!out.contains(&Command::Chime));
    assert!(m.page().unseen_stranger);

    let out = m.handle(Input::Visibility { hidden: false });
    assert_eq!(shown(&out), vec![Field::UnseenStranger(false)]);
}

// alert.spec: when the announced stranger leaves before the visitor looks, the tab's mark
// goes with them, and the next stranger is announced again.
#[test]
fn the_announcement_ends_with_the_call() {
    let mut m = searching();
    m.handle(Input::Visibility { hidden: true });
    m.handle(matched(A));
    let out = m.handle(ended(A, EndReason::PartnerLeft));
    assert!(shown(&out).contains(&Field::UnseenStranger(false)));
    let out = m.handle(matched(B));
    assert!(out.contains(&Command::Chime));
    assert!(m.page().unseen_stranger);
}

// reconnect.spec: a reload or a lost socket returns the tab to its call; the side that stayed
// waits through "Stranger is reconnecting…" and races its connections anew when it is back.
#[test]
fn the_partner_away_then_back_keeps_the_call_and_races_anew() {
    let mut m = in_call(A);
    m.handle(Input::Server(ServerMsg::Chat {
        call_id: A,
        text: "hi".into(),
    }));
    m.handle(Input::Server(ServerMsg::PartnerAway { call_id: A }));
    assert_state(&m, CallState::Connected, "Stranger is reconnecting…");
    let out = m.handle(Input::Server(ServerMsg::PartnerBack {
        call_id: A,
        in_place: false,
    }));
    let commands = peer(&out);
    assert_eq!(commands[0], PeerCommand::Close(Role::Peer1), "{out:?}");
    assert!(
        commands.contains(&PeerCommand::CreateOffer { call_id: A }),
        "{out:?}"
    );
    assert_state(&m, CallState::Connecting, "Stranger found. Connecting…");
    assert_eq!(m.page().chat.len(), 1, "the chat goes on");
}

// reconnect.spec "a reload…": a reloaded page back in its call opens its camera and offers.
#[test]
fn a_reloaded_page_back_in_its_call_opens_the_camera_and_offers() {
    let mut m = page();
    m.handle(Input::Choices(choices()));
    let out = m.handle(Input::Server(ServerMsg::Resumed {
        call_id: A,
        shared_interests: vec![],
        partner_text_only: false,
        shared_language: "en".into(),
    }));
    assert!(out.contains(&Command::OpenCamera), "{out:?}");
    // A reloaded tab holds no connection: both race anew (the partner starts at once).
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Reconnect {
            call_id: A,
            in_place: false
        }]
    );
    let out = m.handle(Input::CameraOpened);
    assert!(
        peer(&out).contains(&PeerCommand::CreateOffer { call_id: A }),
        "{out:?}"
    );
    assert_eq!(m.page().call_state, CallState::Connecting);
    assert_eq!(m.page().shared_language, "en");
    // Next works as after a Call: the choices the page held are the Call's.
    let out = m.handle(Input::Next);
    assert_eq!(sent(&out), vec![ClientMsg::Next]);
}

/// The timers `commands` start, with their delays.
fn timers(commands: &[Command]) -> Vec<(Timer, Duration)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::StartTimer { timer, after } => Some((*timer, *after)),
            _ => None,
        })
        .collect()
}

/// The mending timer `commands` started for `step` (any retry for `Retry(0)`).
fn ice_timer(commands: &[Command], step: IceStep) -> Input {
    let timer = timers(commands)
        .into_iter()
        .map(|(timer, _)| timer)
        .find(|timer| match (timer, step) {
            (
                Timer::Ice {
                    step: IceStep::Retry(_),
                    ..
                },
                IceStep::Retry(0),
            ) => true,
            (Timer::Ice { step: s, .. }, _) => *s == step,
            _ => false,
        })
        .unwrap_or_else(|| panic!("no {step:?} timer in {commands:?}"));
    Input::TimerFired { timer, now: 0 }
}

/// A page in a connected video call `id` whose peer2 won: the partner offered the winner.
fn answering_in_call(id: CallId) -> Machine {
    let mut m = searching();
    m.handle(matched(id));
    m.handle(Input::Server(ServerMsg::Offer {
        call_id: id,
        sdp: "offer".into(),
    }));
    m.handle(report(id, Role::Peer2, PeerEvent::RemoteDescribed));
    m.handle(Input::Server(ServerMsg::Winner {
        call_id: id,
        role: Role::Peer2,
    }));
    m
}

// reconnect.spec "ICE restarts in place…": the winner going `disconnected` gets a grace, then
// the side that offered it restarts ICE on the same connection; nothing else changes.
#[test]
fn a_winner_down_past_the_grace_is_restarted_in_place_by_its_offerer() {
    let mut m = in_call(A);
    // The loser (closed long ago) means nothing.
    let out = m.handle(report(A, Role::Peer2, PeerEvent::Disconnected));
    assert!(timers(&out).is_empty());
    // A blip: back within the grace, nothing happens.
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Disconnected));
    assert_eq!(timers(&out)[0].1, RESTART_GRACE);
    let grace = ice_timer(&out, IceStep::Grace);
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Connected));
    assert!(
        sent(&out).is_empty(),
        "the winner was named long ago: {out:?}"
    );
    assert!(m.handle(grace).is_empty());

    // A real drop: past the grace, peer1 restarts ICE.
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Disconnected));
    let out = m.handle(ice_timer(&out, IceStep::Grace));
    assert_eq!(peer(&out), vec![PeerCommand::RestartIce { call_id: A }]);
    let after: Vec<Duration> = timers(&out).iter().map(|(_, after)| *after).collect();
    assert_eq!(after, vec![RESTART_BOUND, RESTART_RETRY]);
    assert_state(
        &m,
        CallState::Connected,
        "Connection to the stranger lost. Reconnecting…",
    );
    // The new offer goes out as any offer; the answer comes back to the same peer1.
    let out = m.handle(report(
        A,
        Role::Peer1,
        PeerEvent::LocalDescription("o".into()),
    ));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Offer {
            call_id: A,
            sdp: "o".into()
        }]
    );
    let out = m.handle(Input::Server(ServerMsg::Answer {
        call_id: A,
        sdp: "a".into(),
    }));
    assert_eq!(
        peer(&out),
        vec![PeerCommand::SetRemote {
            call_id: A,
            role: Role::Peer1,
            sdp: "a".into()
        }]
    );
    m.handle(report(A, Role::Peer1, PeerEvent::RemoteDescribed));
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Connected));
    assert!(sent(&out).is_empty() && peer(&out).is_empty(), "{out:?}");
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
}

// A failed winner is restarted at once; an answered restart that did not help is tried again;
// past the bound both race anew in the same call, as before there were restarts.
#[test]
fn a_failed_winner_is_restarted_again_and_raced_anew_past_the_bound() {
    let mut m = in_call(A);
    let first = m.handle(report(A, Role::Peer1, PeerEvent::Failed));
    assert_eq!(peer(&first), vec![PeerCommand::RestartIce { call_id: A }]);
    // Its answer has not come yet: no second offer crosses it.
    assert!(peer(&m.handle(ice_timer(&first, IceStep::Retry(0)))).is_empty());
    m.handle(Input::Server(ServerMsg::Answer {
        call_id: A,
        sdp: "a".into(),
    }));
    m.handle(report(A, Role::Peer1, PeerEvent::RemoteDescribed));
    // Failing again while mending changes nothing.
    assert!(peer(&m.handle(report(A, Role::Peer1, PeerEvent::Failed))).is_empty());
    let second = m.handle(ice_timer(&first, IceStep::Retry(0)));
    assert_eq!(peer(&second), vec![PeerCommand::RestartIce { call_id: A }]);

    let out = m.handle(ice_timer(&first, IceStep::GiveUp));
    assert_eq!(
        sent(&out)[0],
        ClientMsg::Reconnect {
            call_id: A,
            in_place: false
        }
    );
    let commands = peer(&out);
    assert_eq!(commands[0], PeerCommand::Close(Role::Peer1));
    assert!(commands.contains(&PeerCommand::CreateOffer { call_id: A }));
    assert_eq!(m.page().call_state, CallState::Connecting);
    // The old restart's timers are over with it.
    assert!(peer(&m.handle(ice_timer(&second, IceStep::Retry(0)))).is_empty());
}

// The side whose peer2 won never restarts: it answers the partner's restart on the same
// connection, and gives up later than the partner would.
#[test]
fn the_answering_side_waits_for_the_restart_and_answers_on_the_same_connection() {
    let mut m = answering_in_call(A);
    let out = m.handle(report(A, Role::Peer2, PeerEvent::Failed));
    assert!(peer(&out).is_empty(), "{out:?}");
    assert_eq!(timers(&out), vec![(ice_timer_of(&out), ANSWERER_BOUND)]);
    let out = m.handle(Input::Server(ServerMsg::Offer {
        call_id: A,
        sdp: "restart".into(),
    }));
    assert_eq!(
        peer(&out),
        vec![PeerCommand::SetRemote {
            call_id: A,
            role: Role::Peer2,
            sdp: "restart".into()
        }]
    );
    let out = m.handle(report(A, Role::Peer2, PeerEvent::RemoteDescribed));
    assert_eq!(peer(&out), vec![PeerCommand::CreateAnswer { call_id: A }]);
    let out = m.handle(report(
        A,
        Role::Peer2,
        PeerEvent::LocalDescription("a".into()),
    ));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Answer {
            call_id: A,
            sdp: "a".into()
        }]
    );
    let out = m.handle(report(A, Role::Peer2, PeerEvent::Connected));
    assert!(sent(&out).is_empty());
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
}

fn ice_timer_of(commands: &[Command]) -> Timer {
    timers(commands)[0].0
}

// reconnect.spec "a socket cut…": the call is held while the socket is away, its connection
// untouched; back in the call, the tab tells the partner it kept it.
#[test]
fn a_lost_socket_holds_the_call_and_the_tab_comes_back_in_place() {
    let mut m = in_call(A);
    m.handle(Input::Server(ServerMsg::Chat {
        call_id: A,
        text: "hi".into(),
    }));
    let out = m.handle(Input::SocketLost);
    assert!(peer(&out).is_empty(), "nothing torn down: {out:?}");
    // The server keeps the call only for a while: the socket comes back soon.
    assert!(out.contains(&Command::Reconnect(Waiting::Call)));
    assert_state(
        &m,
        CallState::Connected,
        "Connection to duet lost. Reconnecting…",
    );
    // The new socket calls (a server that kept the call ignores it).
    let out = m.handle(Input::SocketOpened);
    assert_eq!(sent(&out), vec![ClientMsg::call()]);
    let out = m.handle(Input::Server(ServerMsg::Resumed {
        call_id: A,
        shared_interests: vec![],
        partner_text_only: false,
        shared_language: String::new(),
    }));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Reconnect {
            call_id: A,
            in_place: true
        }]
    );
    assert!(peer(&out).is_empty(), "{out:?}");
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
    assert_eq!(m.page().chat.len(), 1, "the same call");
}

// A drop while the socket is away (a phone leaving Wi-Fi loses both): the restart waits until
// the tab is back in its call; one while the partner is away waits for the partner.
#[test]
fn a_restart_waits_until_the_partner_can_be_reached() {
    let mut m = in_call(A);
    m.handle(Input::SocketLost);
    let out = m.handle(report(A, Role::Peer1, PeerEvent::Failed));
    assert!(peer(&out).is_empty(), "{out:?}");
    m.handle(Input::SocketOpened);
    let out = m.handle(Input::Server(ServerMsg::Resumed {
        call_id: A,
        shared_interests: vec![],
        partner_text_only: false,
        shared_language: String::new(),
    }));
    assert_eq!(
        sent(&out)[0],
        ClientMsg::Reconnect {
            call_id: A,
            in_place: true
        }
    );
    assert_eq!(peer(&out), vec![PeerCommand::RestartIce { call_id: A }]);

    let mut m = in_call(B);
    m.handle(Input::Server(ServerMsg::PartnerAway { call_id: B }));
    let out = m.handle(report(B, Role::Peer1, PeerEvent::Failed));
    assert!(peer(&out).is_empty(), "{out:?}");
    let out = m.handle(Input::Server(ServerMsg::PartnerBack {
        call_id: B,
        in_place: true,
    }));
    assert_eq!(peer(&out), vec![PeerCommand::RestartIce { call_id: B }]);
    assert_state(
        &m,
        CallState::Connected,
        "Connection to the stranger lost. Reconnecting…",
    );
}

// A held call that was still connecting has no winner to keep: both race anew. One the
// server did not keep (the grace ran out) ends when the new session searches.
#[test]
fn a_held_call_without_a_winner_races_anew_and_one_not_kept_ends() {
    let mut m = searching();
    m.handle(matched(A));
    m.handle(Input::SocketLost);
    m.handle(Input::SocketOpened);
    let out = m.handle(Input::Server(ServerMsg::Resumed {
        call_id: A,
        shared_interests: vec![],
        partner_text_only: false,
        shared_language: String::new(),
    }));
    assert_eq!(
        sent(&out)[0],
        ClientMsg::Reconnect {
            call_id: A,
            in_place: false
        }
    );
    assert!(peer(&out).contains(&PeerCommand::CreateOffer { call_id: A }));

    let mut m = in_call(B);
    m.handle(Input::SocketLost);
    m.handle(Input::SocketOpened);
    let out = m.handle(Input::Server(ServerMsg::Searching));
    assert!(peer(&out).contains(&PeerCommand::Close(Role::Peer1)));
    assert_state(&m, CallState::Searching, "Looking for a stranger…");
}

// The partner side: a stranger back in place keeps the connection as it is.
#[test]
fn a_stranger_back_in_place_keeps_the_connection() {
    let mut m = in_call(A);
    m.handle(Input::Server(ServerMsg::PartnerAway { call_id: A }));
    let out = m.handle(Input::Server(ServerMsg::PartnerBack {
        call_id: A,
        in_place: true,
    }));
    assert!(peer(&out).is_empty() && sent(&out).is_empty(), "{out:?}");
    assert_state(&m, CallState::Connected, "Connected. Say hi!");
}

// The visitor pressed End (or Next) while the socket was down: the button works at once, and
// when the socket comes back to the call the server kept for the tab, the tab leaves it as
// asked instead of going back into it.
#[test]
fn a_call_left_while_the_socket_was_down_is_left_when_it_comes_back() {
    let resumed = |id| {
        Input::Server(ServerMsg::Resumed {
            call_id: id,
            shared_interests: vec![],
            partner_text_only: false,
            shared_language: String::new(),
        })
    };
    for (button, message, state) in [
        (Input::End, ClientMsg::End, CallState::Idle),
        (Input::Next, ClientMsg::Next, CallState::Searching),
    ] {
        let mut m = in_call(A);
        m.handle(Input::SocketLost);
        m.handle(button);
        m.handle(Input::SocketOpened);
        let out = m.handle(resumed(A));
        assert_eq!(sent(&out), vec![message]);
        assert!(peer(&out).is_empty(), "{out:?}");
        assert_eq!(m.page().call_state, state);
    }
    // A reloaded page, which left nothing, goes back into its call.
    let mut m = page();
    let out = m.handle(resumed(A));
    assert_eq!(
        sent(&out),
        vec![ClientMsg::Reconnect {
            call_id: A,
            in_place: false
        }]
    );
}

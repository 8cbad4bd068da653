//! The two peer connections of a video call, the design's peer1/peer2 race.
//!
//! - **peer1** is the connection this side offers: on `matched` both sides create their peer1
//!   and send its offer. A side whose camera is still opening offers once it is open
//!   ([`Negotiation::answer_first`]; why is the machine's `race`).
//! - **peer2** answers the partner's offer (the partner's peer1).
//! - **ICE routing**: every candidate carries the role of the connection it belongs to (the
//!   server swaps the role on the way, since the sender's peer1 talks to the receiver's peer2).
//!   A candidate that arrives before its connection has the remote description waits in that
//!   connection's queue, and the queue is flushed once the description is set: a browser
//!   refuses candidates before that.
//! - **The race**: both connections try to come up at once. Each one that reaches `connected`
//!   is reported; the server accepts the first report of the call and names that connection
//!   to both sides in `winner`. The winner's stream is shown and the loser is closed, so both
//!   sides keep the same connection. Until `winner` arrives, the first connection that came up
//!   here is shown already (its picture is ready one server round trip earlier); the winner
//!   takes the pane over if it is the other one.
//! - **ICE restart in place**: once the race is won, a network change (a phone leaving Wi-Fi,
//!   a relay that went away) is mended on the winning connection itself: the side that offered
//!   it (whose winner is its peer1) restarts ICE and offers again on the same connection, and
//!   the partner's peer2 takes the new offer and answers. The tracks, the remote stream and the
//!   call stay; no new connection is made. Only the winner's offerer ever restarts, so two
//!   offers never cross. When to restart is the machine's (`super::machine`).
//!
//! - **peer1 made ready**: while the page searches for a video call with its camera open,
//!   `Peers` keeps a peer1 created and offered, gathering candidates; the match's `Open` takes
//!   it when it fits the call (the same hide-my-IP choice and ICE servers, under a minute
//!   old), and its offer goes out at once instead of being made after `matched`. For the rules
//!   it is the peer1 `Open` creates.
//!
//! [`Negotiation`] holds these rules as pure bookkeeping (no web-sys, no clock), driven by
//! [`crate::client::machine`] and answered with [`PeerCommand`]s. Under `hydrate`, `Peers`
//! owns the real `RTCPeerConnection`s (through [`super::rtc`]), carries the commands out and
//! reports back with [`PeerReport`]s.

use crate::protocol::{CallId, IceCandidate, Role};

/// What to do to the browser's peer connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerCommand {
    /// Create connection `role` for `call_id`, sending the camera's tracks (once the camera is
    /// open: a search may meet a stranger while it opens). With `relay_only` it gathers only
    /// TURN relay candidates (the visitor hides their IP).
    Open {
        call_id: CallId,
        role: Role,
        relay_only: bool,
    },
    /// peer1: create an offer and set it as the local description; report its SDP.
    CreateOffer { call_id: CallId },
    /// peer1, the winning connection: restart ICE on it (new credentials, new candidates) with
    /// a new offer, set as the local description; report its SDP.
    RestartIce { call_id: CallId },
    /// Set the partner's description on `role`: the answer for peer1, the offer for peer2.
    /// Report when it is set.
    SetRemote {
        call_id: CallId,
        role: Role,
        sdp: String,
    },
    /// peer2: create the answer to the offer just set; report its SDP.
    CreateAnswer { call_id: CallId },
    /// Add one of the partner's candidates to connection `role`.
    AddIce {
        call_id: CallId,
        role: Role,
        candidate: IceCandidate,
    },
    /// Remove the tracks from connection `role` and close it.
    Close(Role),
    /// Show this connection's incoming stream in the remote pane, or nothing.
    ShowRemote(Option<Role>),
    /// Measure the quality (round-trip time, loss) of connection `role` every few seconds.
    Measure { call_id: CallId, role: Role },
    /// Stop measuring.
    StopMeasuring,
}

/// Something that happened to one of the browser's peer connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The offer (peer1) or answer (peer2) is ready and set as the local description.
    LocalDescription(String),
    /// The partner's description is set: candidates can be added now.
    RemoteDescribed,
    /// The connection gathered a candidate of its own, for the partner.
    LocalCandidate(IceCandidate),
    /// The connection reached `connected` (the first time, or again after a restart).
    Connected,
    /// The connection went `disconnected`: its checks stopped getting answers, and it may come
    /// back by itself (or fail).
    Disconnected,
    /// The connection failed (or, relay-only, gathered no relay candidate at all).
    Failed,
    /// A quality measurement, e.g. "RTT 12 ms · loss 0.0%".
    Quality(String),
}

/// A [`PeerEvent`] and the connection it happened to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReport {
    /// The call the connection was created for.
    pub call_id: CallId,
    /// Which of the two connections.
    pub role: Role,
    /// What happened.
    pub event: PeerEvent,
}

/// Where one connection stands, as far as the rules care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Link {
    /// Not created (peer2 until the partner's offer arrives).
    #[default]
    Absent,
    /// Created (or restarted), without the partner's description for its offer.
    Open,
    /// The partner's description is being set.
    Describing,
    /// The partner's description is set: candidates go straight in.
    Described,
    /// Closed after losing the race; it never comes back in this call.
    Closed,
}

impl Link {
    fn is_live(self) -> bool {
        matches!(self, Link::Open | Link::Describing | Link::Described)
    }
}

#[derive(Debug, Default)]
struct Slot {
    link: Link,
    /// Candidates that arrived before the remote description.
    queued: Vec<IceCandidate>,
}

/// The two connections of one video call.
#[derive(Debug)]
pub(crate) struct Negotiation {
    call_id: CallId,
    relay_only: bool,
    slots: [Slot; 2],
    winner: Option<Role>,
    /// The connection whose stream the remote pane shows.
    shown: Option<Role>,
}

impl Negotiation {
    /// The connection that won the race, once the server named it.
    pub(crate) fn winner(&self) -> Option<Role> {
        self.winner
    }

    /// A new call: create peer1 and offer with it.
    pub(crate) fn start(call_id: CallId, relay_only: bool) -> (Self, Vec<PeerCommand>) {
        let mut negotiation = Negotiation::answer_first(call_id, relay_only);
        let commands = negotiation.offer();
        (negotiation, commands)
    }

    /// A new call whose peer1 offers later ([`Negotiation::offer`]); the partner's offer is
    /// answered meanwhile, as always.
    pub(crate) fn answer_first(call_id: CallId, relay_only: bool) -> Self {
        Negotiation {
            call_id,
            relay_only,
            slots: Default::default(),
            winner: None,
            shown: None,
        }
    }

    /// Create peer1 and offer with it, unless it was created already or the race is over
    /// (peer2 won before peer1 ever offered).
    pub(crate) fn offer(&mut self) -> Vec<PeerCommand> {
        let (call_id, relay_only) = (self.call_id, self.relay_only);
        let peer1 = self.slot(Role::Peer1);
        if peer1.link != Link::Absent {
            return Vec::new();
        }
        peer1.link = Link::Open;
        vec![
            PeerCommand::Open {
                call_id,
                role: Role::Peer1,
                relay_only,
            },
            PeerCommand::CreateOffer { call_id },
        ]
    }

    /// Whether this side offered the winning connection (its peer1 won), so it is the one to
    /// restart ICE on it.
    pub(crate) fn offers_the_winner(&self) -> bool {
        self.winner == Some(Role::Peer1)
    }

    /// ICE restart in place: peer1, the winner, offers again on the same connection and waits
    /// for the answer (candidates that arrive meanwhile wait in its queue). Nothing unless this
    /// side offered the winner; a restart still waiting for its answer is offered again.
    pub(crate) fn restart(&mut self) -> Vec<PeerCommand> {
        let call_id = self.call_id;
        if !self.offers_the_winner() {
            return Vec::new();
        }
        let slot = self.slot(Role::Peer1);
        if !matches!(slot.link, Link::Described | Link::Open) {
            return Vec::new();
        }
        slot.link = Link::Open;
        slot.queued.clear();
        vec![PeerCommand::RestartIce { call_id }]
    }

    /// The partner's offer: answered by peer2. Before the race is won, one offer per call: a
    /// repeat would only tear a connection down, so it is ignored. Once peer2 won, a new offer
    /// is the partner restarting ICE on it, and is answered on the same connection.
    pub(crate) fn on_offer(&mut self, sdp: String) -> Vec<PeerCommand> {
        let call_id = self.call_id;
        if self.winner == Some(Role::Peer2) && self.slot(Role::Peer2).link == Link::Described {
            self.slot(Role::Peer2).link = Link::Describing;
            return vec![PeerCommand::SetRemote {
                call_id,
                role: Role::Peer2,
                sdp,
            }];
        }
        if self.slot(Role::Peer2).link != Link::Absent {
            return Vec::new();
        }
        self.slot(Role::Peer2).link = Link::Describing;
        vec![
            PeerCommand::Open {
                call_id: self.call_id,
                role: Role::Peer2,
                relay_only: self.relay_only,
            },
            PeerCommand::SetRemote {
                call_id: self.call_id,
                role: Role::Peer2,
                sdp,
            },
        ]
    }

    /// The partner's answer to peer1's offer.
    pub(crate) fn on_answer(&mut self, sdp: String) -> Vec<PeerCommand> {
        if self.slot(Role::Peer1).link != Link::Open {
            return Vec::new();
        }
        self.slot(Role::Peer1).link = Link::Describing;
        vec![PeerCommand::SetRemote {
            call_id: self.call_id,
            role: Role::Peer1,
            sdp,
        }]
    }

    /// A partner's candidate for connection `role`: added now if that connection has its
    /// remote description, queued if it may still get one, dropped if it lost the race.
    pub(crate) fn on_ice(&mut self, role: Role, candidate: IceCandidate) -> Vec<PeerCommand> {
        let call_id = self.call_id;
        let slot = self.slot(role);
        match slot.link {
            Link::Described => vec![PeerCommand::AddIce {
                call_id,
                role,
                candidate,
            }],
            Link::Closed => Vec::new(),
            Link::Absent | Link::Open | Link::Describing => {
                slot.queued.push(candidate);
                Vec::new()
            }
        }
    }

    /// Connection `role` has the partner's description: flush its queued candidates, and
    /// peer2 answers.
    pub(crate) fn on_described(&mut self, role: Role) -> Vec<PeerCommand> {
        let call_id = self.call_id;
        let slot = self.slot(role);
        if slot.link != Link::Describing {
            return Vec::new();
        }
        slot.link = Link::Described;
        let mut commands: Vec<PeerCommand> = std::mem::take(&mut slot.queued)
            .into_iter()
            .map(|candidate| PeerCommand::AddIce {
                call_id,
                role,
                candidate,
            })
            .collect();
        if role == Role::Peer2 {
            commands.push(PeerCommand::CreateAnswer { call_id });
        }
        commands
    }

    /// Connection `role` came up here. The first one to do so before the server names the
    /// winner is shown at once: waiting for `winner` would only add a round trip to the
    /// server before the stranger appears.
    pub(crate) fn on_connected(&mut self, role: Role) -> Vec<PeerCommand> {
        if self.winner.is_some() || self.shown.is_some() || !self.slot(role).link.is_live() {
            return Vec::new();
        }
        self.shown = Some(role);
        vec![PeerCommand::ShowRemote(Some(role))]
    }

    /// The server named the race's winner: show it (if it is not shown already) and measure
    /// it, close the loser. The winner is shown first: closing a connection takes the
    /// browser a while, and the picture need not wait for it.
    pub(crate) fn on_winner(&mut self, winner: Role) -> Vec<PeerCommand> {
        let mut commands = Vec::new();
        if self.shown != Some(winner) {
            commands.push(PeerCommand::ShowRemote(Some(winner)));
        }
        self.shown = Some(winner);
        let loser = self.slot(winner.counterpart());
        if loser.link.is_live() {
            commands.push(PeerCommand::Close(winner.counterpart()));
        }
        loser.link = Link::Closed;
        loser.queued.clear();
        self.winner = Some(winner);
        commands.push(PeerCommand::Measure {
            call_id: self.call_id,
            role: winner,
        });
        commands
    }

    /// The design's ending for the connections: queued candidates are dropped with `self`, both
    /// connections close (their tracks removed), the remote stream goes.
    pub(crate) fn close(self) -> Vec<PeerCommand> {
        let mut commands = Vec::new();
        for role in [Role::Peer1, Role::Peer2] {
            if self.slots[index(role)].link.is_live() {
                commands.push(PeerCommand::Close(role));
            }
        }
        if self.shown.is_some() {
            commands.push(PeerCommand::ShowRemote(None));
        }
        if self.winner.is_some() {
            commands.push(PeerCommand::StopMeasuring);
        }
        commands
    }

    /// How many candidates wait for connection `role`'s remote description.
    #[cfg(test)]
    pub(crate) fn queued(&self, role: Role) -> usize {
        self.slots[index(role)].queued.len()
    }

    fn slot(&mut self, role: Role) -> &mut Slot {
        &mut self.slots[index(role)]
    }
}

fn index(role: Role) -> usize {
    match role {
        Role::Peer1 => 0,
        Role::Peer2 => 1,
    }
}

#[cfg(feature = "hydrate")]
pub(crate) use browser::Peers;

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: CallId = CallId(1);

    fn candidate(n: u8) -> IceCandidate {
        IceCandidate {
            candidate: format!("candidate:{n} 1 udp 1 10.0.0.1 9 typ host"),
            sdp_mid: None,
            sdp_m_line_index: Some(0),
        }
    }

    #[test]
    fn starting_opens_peer1_and_offers() {
        let (_, commands) = Negotiation::start(CALL, true);
        assert_eq!(
            commands,
            vec![
                PeerCommand::Open {
                    call_id: CALL,
                    role: Role::Peer1,
                    relay_only: true
                },
                PeerCommand::CreateOffer { call_id: CALL },
            ]
        );
    }

    #[test]
    fn answering_first_offers_once_later_and_never_after_peer2_won() {
        let mut n = Negotiation::answer_first(CALL, false);
        assert_eq!(
            n.on_offer("offer".into()).len(),
            2,
            "peer2 answers meanwhile"
        );
        assert_eq!(n.offer().len(), 2, "peer1 opens and offers");
        assert!(n.offer().is_empty(), "once");

        let mut n = Negotiation::answer_first(CALL, false);
        n.on_offer("offer".into());
        n.on_winner(Role::Peer2);
        assert!(n.offer().is_empty(), "the race is over");
    }

    #[test]
    fn candidates_queue_per_role_until_described() {
        let (mut n, _) = Negotiation::start(CALL, false);
        assert!(n.on_ice(Role::Peer1, candidate(1)).is_empty());
        assert!(n.on_ice(Role::Peer2, candidate(2)).is_empty());
        assert!(n.on_ice(Role::Peer2, candidate(3)).is_empty());
        assert_eq!((n.queued(Role::Peer1), n.queued(Role::Peer2)), (1, 2));
        // Described without being asked (say, a late report): nothing to flush.
        assert!(n.on_described(Role::Peer2).is_empty());
        n.on_offer("offer".into());
        let flushed = n.on_described(Role::Peer2);
        assert_eq!(
            flushed.len(),
            3,
            "two candidates and the answer: {flushed:?}"
        );
        assert_eq!(n.queued(Role::Peer2), 0);
        assert_eq!(n.queued(Role::Peer1), 1, "peer1's queue is its own");
    }

    #[test]
    fn an_answer_before_peer1_offered_or_twice_is_ignored() {
        let (mut n, _) = Negotiation::start(CALL, false);
        assert_eq!(n.on_answer("a".into()).len(), 1);
        assert!(n.on_answer("again".into()).is_empty());
    }

    #[test]
    fn closing_before_a_winner_closes_what_exists() {
        let (n, _) = Negotiation::start(CALL, false);
        assert_eq!(n.close(), vec![PeerCommand::Close(Role::Peer1)]);
    }

    #[test]
    fn only_the_winners_offerer_restarts_and_the_partner_answers_on_the_same_connection() {
        // This side's peer1 won: it restarts, and the answer goes to the same peer1.
        let (mut offerer, _) = Negotiation::start(CALL, true);
        assert!(offerer.restart().is_empty(), "no restart before a winner");
        offerer.on_answer("answer".into());
        offerer.on_described(Role::Peer1);
        offerer.on_winner(Role::Peer1);
        assert_eq!(
            offerer.restart(),
            vec![PeerCommand::RestartIce { call_id: CALL }]
        );
        // The partner's new candidates wait for the new answer.
        assert!(offerer.on_ice(Role::Peer1, candidate(1)).is_empty());
        assert_eq!(
            offerer.on_answer("new answer".into()),
            vec![PeerCommand::SetRemote {
                call_id: CALL,
                role: Role::Peer1,
                sdp: "new answer".into()
            }]
        );
        assert_eq!(offerer.on_described(Role::Peer1).len(), 1, "the candidate");
        assert!(offerer.on_answer("again".into()).is_empty());

        // The partner's peer2 won: it never restarts, and takes the new offer on peer2.
        let (mut answerer, _) = Negotiation::start(CALL, true);
        answerer.on_offer("offer".into());
        answerer.on_described(Role::Peer2);
        answerer.on_winner(Role::Peer2);
        assert!(answerer.restart().is_empty(), "only the offerer restarts");
        assert_eq!(
            answerer.on_offer("restart".into()),
            vec![PeerCommand::SetRemote {
                call_id: CALL,
                role: Role::Peer2,
                sdp: "restart".into()
            }]
        );
        assert!(
            answerer.on_offer("crossing".into()).is_empty(),
            "one restart at a time"
        );
        assert_eq!(
            answerer.on_described(Role::Peer2),
            vec![PeerCommand::CreateAnswer { call_id: CALL }]
        );
    }

    #[test]
    fn a_second_offer_before_the_winner_is_ignored() {
        let (mut n, _) = Negotiation::start(CALL, false);
        assert_eq!(n.on_offer("offer".into()).len(), 2);
        n.on_described(Role::Peer2);
        assert!(n.on_offer("again".into()).is_empty());
        // Nor after, when peer1 won: peer2 is closed.
        n.on_winner(Role::Peer1);
        assert!(n.on_offer("later".into()).is_empty());
    }

    #[test]
    fn the_loser_never_comes_back() {
        let (mut n, _) = Negotiation::start(CALL, false);
        // peer1 won before the partner's offer arrived: peer2 stays closed.
        n.on_winner(Role::Peer1);
        assert!(n.on_offer("late offer".into()).is_empty());
        assert!(n.on_ice(Role::Peer2, candidate(1)).is_empty());
        assert_eq!(n.queued(Role::Peer2), 0);
        assert_eq!(
            n.close(),
            vec![
                PeerCommand::Close(Role::Peer1),
                PeerCommand::ShowRemote(None),
                PeerCommand::StopMeasuring
            ]
        );
    }
}

/// The browser half: the real connections, carrying out [`PeerCommand`]s.
#[cfg(feature = "hydrate")]
mod browser {
    use super::{PeerCommand, PeerEvent, PeerReport};
    use crate::client::rtc::{self, LinkState, PeerLink};
    use crate::client::{stats, timeline};
    use crate::model::IceServer;
    use crate::protocol::{CallId, IceCandidate, Role};
    use leptos::html::Video;
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{MediaStream, RtcPeerConnection, RtcSdpType};

    /// How often the winning connection's quality is measured.
    const QUALITY_EVERY: Duration = Duration::from_secs(2);

    /// How long a ready peer1 waits for a match, in milliseconds, before a fresh one replaces
    /// it: its candidates are those of the network it was made on, and a laptop that left its
    /// Wi-Fi meanwhile would offer addresses it no longer has.
    const READY_FOR_MS: f64 = 60_000.0;

    /// A peer1, created and offering before a call takes it (see [`make_peer1`]). Kept ready
    /// while the page searches, it is offered and gathering before any stranger is found, so
    /// that on `matched` its offer goes out at once (making one takes the browser 30-150 ms, on
    /// the way to the stranger's first frame); with none ready, `Open` makes one the same way.
    struct Ready {
        link: PeerLink,
        news: Rc<RefCell<News>>,
        relay_only: bool,
        ice_servers: Vec<IceServer>,
        made_at: f64,
    }

    impl Ready {
        /// Whether a match for a call with these settings can take it.
        fn fits(&self, relay_only: bool, ice_servers: &[IceServer]) -> bool {
            self.relay_only == relay_only
                && self.ice_servers == ice_servers
                && js_sys::Date::now() - self.made_at < READY_FOR_MS
                && !self.news.borrow().failed
        }
    }

    /// What a ready peer1 said before a call took it, held for that call; once taken, the
    /// call it reports to.
    #[derive(Default)]
    struct News {
        offer: Option<String>,
        candidates: Vec<IceCandidate>,
        /// Relay-only, it gathered no relay candidate: a call must not take it.
        failed: bool,
        call: Option<(CallId, Reporter)>,
    }

    /// Where a connection's reports go: the controller, which feeds them to the machine.
    type Reporter = Rc<dyn Fn(PeerReport)>;

    /// Tells `news`' call about `event`, or holds it until a call takes the connection.
    fn tell(news: &RefCell<News>, event: PeerEvent) {
        let call = {
            let mut held = news.borrow_mut();
            match &held.call {
                Some(call) => call.clone(),
                None => {
                    match event {
                        PeerEvent::LocalDescription(sdp) => held.offer = Some(sdp),
                        PeerEvent::LocalCandidate(candidate) => held.candidates.push(candidate),
                        PeerEvent::Failed => held.failed = true,
                        _ => {}
                    }
                    return;
                }
            }
        };
        // Reported with the borrow released: the report runs the machine's commands.
        let (call_id, report) = call;
        report(PeerReport {
            call_id,
            role: Role::Peer1,
            event,
        });
    }

    /// What a connection's state means to the call.
    fn event_of(state: LinkState) -> PeerEvent {
        match state {
            LinkState::Connected => PeerEvent::Connected,
            LinkState::Disconnected => PeerEvent::Disconnected,
            LinkState::Failed => PeerEvent::Failed,
        }
    }

    /// The new connection, or `None` with the browser's reason in the console.
    fn created(link: Result<PeerLink, wasm_bindgen::JsValue>) -> Option<PeerLink> {
        link.map_err(|e| leptos::logging::warn!("could not create a peer connection: {e:?}"))
            .ok()
    }

    /// Makes a peer1 and its offer, for no call yet: what it says is held in its [`News`]
    /// until a call takes it (`Open` then `CreateOffer`), at once on a match or while the page
    /// searches (see [`Peers::keep_ready`]).
    fn make_peer1(relay_only: bool, ice_servers: &[IceServer]) -> Option<Ready> {
        let news = Rc::new(RefCell::new(News::default()));
        let (candidates, states) = (news.clone(), news.clone());
        // No call yet: the call that takes it sets its call id.
        let link = PeerLink::new(
            CallId(0),
            ice_servers,
            relay_only,
            true,
            move |candidate| tell(&candidates, PeerEvent::LocalCandidate(candidate)),
            move |state| tell(&states, event_of(state)),
        );
        let link = created(link)?;
        timeline::mark(|| Some("peer1 made".into()));
        let pc = link.pc.clone();
        let offered = news.clone();
        spawn_local(async move {
            match rtc::make_offer(&pc).await {
                Ok(sdp) => tell(&offered, PeerEvent::LocalDescription(sdp)),
                Err(e) => leptos::logging::warn!("could not make an offer: {e:?}"),
            }
        });
        Some(Ready {
            link,
            news,
            relay_only,
            ice_servers: ice_servers.to_vec(),
            made_at: js_sys::Date::now(),
        })
    }

    /// peer1, peer2 and the remote pane's stream; cheap to copy into callbacks.
    #[derive(Clone, Copy)]
    pub(crate) struct Peers {
        peer1: StoredValue<Option<PeerLink>, LocalStorage>,
        peer2: StoredValue<Option<PeerLink>, LocalStorage>,
        /// The winning connection's incoming stream, shown in the remote pane.
        remote_stream: RwSignal<Option<MediaStream>, LocalStorage>,
        /// The camera, once open (the controller's): what every connection sends.
        camera: RwSignal<Option<MediaStream>, LocalStorage>,
        quality_timer: StoredValue<Option<IntervalHandle>>,
        /// The peer1 kept ready while the page searches (see [`Peers::keep_ready`]).
        ready: StoredValue<Option<Ready>, LocalStorage>,
        /// The news of the ready peer1 the current call took, until its `CreateOffer`.
        taken: StoredValue<Option<Rc<RefCell<News>>>, LocalStorage>,
    }

    impl Peers {
        /// No connections yet; the remote pane follows whichever stream is shown, and the
        /// connections send `camera` once it is open.
        pub(crate) fn new(
            remote_video: NodeRef<Video>,
            camera: RwSignal<Option<MediaStream>, LocalStorage>,
        ) -> Self {
            let peers = Peers {
                peer1: StoredValue::new_local(None),
                peer2: StoredValue::new_local(None),
                remote_stream: RwSignal::new_local(None),
                camera,
                quality_timer: StoredValue::new(None),
                ready: StoredValue::new_local(None),
                taken: StoredValue::new_local(None),
            };
            Effect::new(move |_| {
                let stream = peers.remote_stream.get();
                if let Some(video) = remote_video.get() {
                    video.set_src_object(stream.as_ref());
                    if stream.is_some() {
                        play(&video);
                    }
                }
            });
            peers
        }

        /// The camera has opened: its tracks go to the connections open already (later ones
        /// get them as they are made). A connection made before (a Call searches while the
        /// camera opens) has offered or answered already; its senders take the tracks in place.
        pub(crate) fn send_camera(self) {
            for role in [Role::Peer1, Role::Peer2] {
                self.send_local(role);
            }
        }

        /// Keeps a peer1 ready for the next match while the page searches for a video call
        /// (`Some`, with whether it hides the visitor's address), and none otherwise. A ready
        /// one that no longer fits (the visitor's choice changed, new ICE servers, it waited
        /// too long, it failed) is closed and made anew.
        pub(crate) fn keep_ready(self, relay_only: Option<bool>, ice_servers: &[IceServer]) {
            let fits = self.ready.with_value(|ready| {
                ready
                    .as_ref()
                    .zip(relay_only)
                    .is_some_and(|(ready, relay_only)| ready.fits(relay_only, ice_servers))
            });
            if fits {
                return;
            }
            if let Some(old) = self.ready.try_update_value(Option::take).flatten() {
                old.link.close();
            }
            let Some(relay_only) = relay_only else { return };
            if let Some(ready) = make_peer1(relay_only, ice_servers) {
                self.ready.set_value(Some(ready));
            }
        }

        /// The ready peer1, if a call with these settings can take it (one that cannot is
        /// closed).
        fn take_ready(self, relay_only: bool, ice_servers: &[IceServer]) -> Option<Ready> {
            let ready = self.ready.try_update_value(Option::take).flatten()?;
            if ready.fits(relay_only, ice_servers) {
                return Some(ready);
            }
            ready.link.close();
            None
        }

        /// Carries out one command. `Open` needs the ICE servers; everything the
        /// connections do later is told to `report`.
        pub(crate) fn run(
            self,
            command: PeerCommand,
            ice_servers: &[IceServer],
            report: impl Fn(PeerReport) + Copy + 'static,
        ) {
            match command {
                PeerCommand::Open {
                    call_id,
                    role,
                    relay_only,
                } => self.open(call_id, role, relay_only, ice_servers, report),
                PeerCommand::CreateOffer { call_id } => {
                    // peer1 offered as it was made (while the page searched, or just now in
                    // `Open`): what it said so far goes out now, and the rest goes straight to
                    // this call.
                    let Some(news) = self.taken.try_update_value(Option::take).flatten() else {
                        return;
                    };
                    let (offer, candidates) = {
                        let mut held = news.borrow_mut();
                        held.call = Some((call_id, Rc::new(report)));
                        (held.offer.take(), std::mem::take(&mut held.candidates))
                    };
                    let held = offer
                        .map(PeerEvent::LocalDescription)
                        .into_iter()
                        .chain(candidates.into_iter().map(PeerEvent::LocalCandidate));
                    for event in held {
                        tell(&news, event);
                    }
                }
                PeerCommand::RestartIce { call_id } => {
                    let Some(pc) = self.pc(Role::Peer1, call_id) else {
                        return;
                    };
                    spawn_local(async move {
                        match rtc::make_restart_offer(&pc).await {
                            Ok(sdp) => report(PeerReport {
                                call_id,
                                role: Role::Peer1,
                                event: PeerEvent::LocalDescription(sdp),
                            }),
                            Err(e) => leptos::logging::warn!("could not restart ICE: {e:?}"),
                        }
                    });
                }
                PeerCommand::SetRemote { call_id, role, sdp } => {
                    let Some(pc) = self.pc(role, call_id) else {
                        return;
                    };
                    // peer1 offered, so it takes an answer; peer2 takes the partner's offer.
                    let kind = match role {
                        Role::Peer1 => RtcSdpType::Answer,
                        Role::Peer2 => RtcSdpType::Offer,
                    };
                    spawn_local(async move {
                        match rtc::set_remote(&pc, kind, &sdp).await {
                            Ok(()) => {
                                // peer2's transceivers exist now: they send before the answer.
                                self.send_local(role);
                                report(PeerReport {
                                    call_id,
                                    role,
                                    event: PeerEvent::RemoteDescribed,
                                })
                            }
                            Err(e) => leptos::logging::warn!(
                                "could not take the stranger's description: {e:?}"
                            ),
                        }
                    });
                }
                PeerCommand::CreateAnswer { call_id } => {
                    let Some(pc) = self.pc(Role::Peer2, call_id) else {
                        return;
                    };
                    spawn_local(async move {
                        match rtc::make_answer(&pc).await {
                            Ok(sdp) => report(PeerReport {
                                call_id,
                                role: Role::Peer2,
                                event: PeerEvent::LocalDescription(sdp),
                            }),
                            Err(e) => leptos::logging::warn!("could not answer: {e:?}"),
                        }
                    });
                }
                PeerCommand::AddIce {
                    call_id,
                    role,
                    candidate,
                } => {
                    if let Some(pc) = self.pc(role, call_id) {
                        spawn_local(add_candidate(pc, candidate));
                    }
                }
                PeerCommand::Close(role) => {
                    if let Some(old) = self.link(role).try_update_value(Option::take).flatten() {
                        old.close();
                    }
                }
                PeerCommand::ShowRemote(role) => {
                    // `Clone::clone`, not `.clone()`: MediaStream's own clone() makes a new
                    // stream.
                    let stream = role.and_then(|role| {
                        self.link(role)
                            .with_value(|l| l.as_ref().map(|l| Clone::clone(&l.stream)))
                    });
                    self.remote_stream.set(stream);
                }
                PeerCommand::Measure { call_id, role } => self.measure(call_id, role, report),
                PeerCommand::StopMeasuring => {
                    if let Some(timer) = self.quality_timer.try_update_value(Option::take).flatten()
                    {
                        timer.clear();
                    }
                }
            }
        }

        fn open(
            self,
            call_id: CallId,
            role: Role,
            relay_only: bool,
            ice_servers: &[IceServer],
            report: impl Fn(PeerReport) + Copy + 'static,
        ) {
            let link = match role {
                // The peer1 made while the page searched, if it fits this call; else a new one.
                Role::Peer1 => {
                    let ready = self.take_ready(relay_only, ice_servers);
                    if ready.is_some() {
                        timeline::mark(|| Some("peer1 taken ready".into()));
                    }
                    ready.or_else(|| make_peer1(relay_only, ice_servers)).map(
                        |Ready { mut link, news, .. }| {
                            link.call_id = call_id;
                            self.taken.set_value(Some(news));
                            link
                        },
                    )
                }
                Role::Peer2 => created(PeerLink::new(
                    call_id,
                    ice_servers,
                    relay_only,
                    false,
                    move |candidate| {
                        report(PeerReport {
                            call_id,
                            role,
                            event: PeerEvent::LocalCandidate(candidate),
                        })
                    },
                    move |state| {
                        report(PeerReport {
                            call_id,
                            role,
                            event: event_of(state),
                        })
                    },
                )),
            };
            let Some(link) = link else { return };
            let old = self
                .link(role)
                .try_update_value(|slot| slot.replace(link))
                .flatten();
            if let Some(old) = old {
                old.close();
            }
            self.send_local(role);
        }

        /// Samples the connection's round-trip time and loss every [`QUALITY_EVERY`].
        fn measure(
            self,
            call_id: CallId,
            role: Role,
            report: impl Fn(PeerReport) + Copy + 'static,
        ) {
            let timer = set_interval_with_handle(
                move || {
                    let Some(pc) = self.pc(role, call_id) else {
                        return;
                    };
                    spawn_local(async move {
                        if let Some(summary) = stats::quality(&pc).await {
                            report(PeerReport {
                                call_id,
                                role,
                                event: PeerEvent::Quality(summary),
                            });
                        }
                    });
                },
                QUALITY_EVERY,
            );
            if let Some(old) = self
                .quality_timer
                .try_update_value(|t| std::mem::replace(t, timer.ok()))
                .flatten()
            {
                old.clear();
            }
        }

        /// Connection `role` sends the camera, if it is open yet.
        fn send_local(self, role: Role) {
            self.camera.with_untracked(|local| {
                self.link(role)
                    .with_value(|link| link.as_ref().map(|l| l.send(local.as_ref())))
            });
        }

        fn link(self, role: Role) -> StoredValue<Option<PeerLink>, LocalStorage> {
            match role {
                Role::Peer1 => self.peer1,
                Role::Peer2 => self.peer2,
            }
        }

        /// Connection `role`, if it belongs to `call_id` (a late command for an older call
        /// finds nothing).
        fn pc(self, role: Role, call_id: CallId) -> Option<RtcPeerConnection> {
            self.link(role).with_value(|link| {
                link.as_ref()
                    .filter(|l| l.call_id == call_id)
                    .map(|l| l.pc.clone())
            })
        }
    }

    async fn add_candidate(pc: RtcPeerConnection, candidate: IceCandidate) {
        if let Err(e) = rtc::add_candidate(&pc, &candidate).await {
            leptos::logging::warn!("could not add a candidate: {e:?}");
        }
    }

    /// Starts playback; a refusal (say, autoplay blocked) leaves the pane as it is.
    fn play(video: &web_sys::HtmlVideoElement) {
        if let Ok(promise) = video.play() {
            spawn_local(async move {
                let _ = JsFuture::from(promise).await;
            });
        }
    }
}

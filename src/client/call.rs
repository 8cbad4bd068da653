//! A call as the browser sees it: the seed's peer1/peer2, ICE routing, the race, the ending.
//!
//! On `matched` this side offers with peer1; the partner's offer is answered with peer2.
//! Candidates carry their role and wait in a queue until their connection has its remote
//! description. The first connection to reach `connected` is reported; the server picks the
//! first report of the call and tells both sides, and the other connection is closed. Every
//! server message names its call, and anything for a call that is not the current one is
//! dropped, so a fast Next never mixes two strangers.

use super::media;
use super::rtc::{self, PeerLink};
use super::signaling::{SignalEvent, Signaling};
use super::stats;
use crate::api::ice_servers;
use crate::app::state::{Action, CallState, ChatLine, PageState, IDLE_STATUS};
use crate::model::IceServer;
use crate::protocol::{
    normalize_interests, CallId, ClientMsg, EndReason, ErrorCode, IceCandidate, ReportReason, Role,
    ServerMsg,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{MediaStream, MediaStreamTrack, RtcSdpType};

const LOOKING: &str = "Looking for a stranger…";
const CONNECTING: &str = "Stranger found. Connecting…";
const CONNECTED: &str = "Connected. Say hi!";
const RECONNECTING: &str = "Connection to duet lost. Reconnecting…";
const ENDED: &str = "Call ended. Press Call to meet someone new.";
const REPORTED: &str = "Thanks, the stranger was reported. Finding someone new…";
const RESTARTING: &str = "duet is restarting. Reconnecting…";
const TEXT_CONNECTED: &str = "Connected by text. Say hi!";
const RELAY_FAILED: &str =
    "Could not connect through the relay server (TURN), so the call cannot start. duet will try someone else.";
const DIRECT_FAILED: &str =
    "Could not connect to this stranger's browser. duet will try someone else.";
const NO_RELAY: &str =
    "Hiding your IP needs a relay (TURN) server, and this site has none set up. Untick it to call.";

/// After this long without a keystroke, this side tells the stranger it stopped typing.
const TYPING_IDLE: Duration = Duration::from_secs(3);
/// A "typing" from the stranger that is not refreshed or withdrawn fades after this long.
const TYPING_FADE: Duration = Duration::from_secs(6);
/// How often the call's quality is measured.
const QUALITY_EVERY: Duration = Duration::from_secs(2);

/// Candidates that arrived before their connection could take them, by role.
#[derive(Default)]
struct PendingIce([Vec<IceCandidate>; 2]);

impl PendingIce {
    fn slot(role: Role) -> usize {
        match role {
            Role::Peer1 => 0,
            Role::Peer2 => 1,
        }
    }
    fn push(&mut self, role: Role, candidate: IceCandidate) {
        self.0[Self::slot(role)].push(candidate);
    }
    fn take(&mut self, role: Role) -> Vec<IceCandidate> {
        std::mem::take(&mut self.0[Self::slot(role)])
    }
}

/// The call's state, all in signals; cheap to copy into every callback.
#[derive(Clone, Copy)]
pub struct CallController {
    state: PageState,
    signaling: StoredValue<Option<Signaling>, LocalStorage>,
    /// The seed's `calling_clicked`: Call is pressed (searching or in a call).
    calling_clicked: RwSignal<bool>,
    /// The call the server put us in; signals for any other call are dropped.
    call_id: RwSignal<Option<CallId>>,
    /// The connection this side offered.
    peer1: RwSignal<Option<PeerLink>, LocalStorage>,
    /// The connection answering the partner's offer.
    peer2: RwSignal<Option<PeerLink>, LocalStorage>,
    /// The winning connection's incoming stream, shown in the remote pane.
    remote_stream: RwSignal<Option<MediaStream>, LocalStorage>,
    /// The camera; opened on the first Call and kept on between calls.
    local_stream: RwSignal<Option<MediaStream>, LocalStorage>,
    pending_ice: StoredValue<PendingIce, LocalStorage>,
    ice_servers: StoredValue<Vec<IceServer>>,
    /// Why the server is about to close the socket, to show instead of "reconnecting".
    closing_reason: StoredValue<Option<String>>,
    /// Chat lines numbered within the page's life.
    next_line: StoredValue<u32>,
    /// This side told the stranger it is typing, and when it last typed (ms since epoch).
    typing_since: StoredValue<Option<f64>>,
    /// Bumped by every "typing" from the stranger, so an older fade timer does nothing.
    typing_fade: StoredValue<u32>,
    /// The running quality measurement, while a video call is connected.
    quality_timer: StoredValue<Option<IntervalHandle>>,
}

impl CallController {
    pub fn new(state: PageState) -> Self {
        let controller = CallController {
            state,
            signaling: StoredValue::new_local(None),
            calling_clicked: RwSignal::new(false),
            call_id: RwSignal::new(None),
            peer1: RwSignal::new_local(None),
            peer2: RwSignal::new_local(None),
            remote_stream: RwSignal::new_local(None),
            local_stream: RwSignal::new_local(None),
            pending_ice: StoredValue::new_local(PendingIce::default()),
            ice_servers: StoredValue::new(Vec::new()),
            closing_reason: StoredValue::new(None),
            next_line: StoredValue::new(0),
            typing_since: StoredValue::new(None),
            typing_fade: StoredValue::new(0),
            quality_timer: StoredValue::new(None),
        };
        Effect::new(move |_| {
            let stream = controller.local_stream.get();
            if let Some(video) = state.media.local_video.get() {
                video.set_src_object(stream.as_ref());
            }
        });
        Effect::new(move |_| {
            let stream = controller.remote_stream.get();
            if let Some(video) = state.call.remote_video.get() {
                video.set_src_object(stream.as_ref());
                if stream.is_some() {
                    play(&video);
                }
            }
        });
        controller
    }

    /// Opens the signaling socket and fetches the ICE servers.
    pub fn connect(self) {
        let signaling = Signaling::connect(move |event| self.on_signal(event));
        self.signaling.set_value(Some(signaling));
        spawn_local(async move {
            match ice_servers().await {
                Ok(servers) => self.ice_servers.set_value(servers),
                Err(e) => leptos::logging::warn!("no ICE servers, calls use host candidates: {e}"),
            }
        });
    }

    /// A button was pressed.
    pub fn act(self, action: Action) {
        match action {
            Action::Call => spawn_local(self.call()),
            Action::Next => self.next(),
            Action::End => self.end(),
            Action::Report(reason) => self.report(reason),
            Action::SendChat(text) => self.send_chat(text),
            Action::Typing(active) => self.typing(active),
            Action::ToggleMic => self.toggle_media(true),
            Action::ToggleCamera => self.toggle_media(false),
        }
    }

    fn send_chat(self, text: String) {
        let Some(call_id) = self.call_id.get_untracked() else {
            return;
        };
        self.typing(false);
        self.send(&ClientMsg::Chat {
            call_id,
            text: text.clone(),
        });
        self.add_line(true, text);
    }

    fn add_line(self, from_me: bool, text: String) {
        let id = self.next_line.get_value();
        self.next_line.set_value(id.wrapping_add(1));
        self.state
            .chat
            .lines
            .update(|lines| lines.push(ChatLine { id, from_me, text }));
    }

    /// Tells the stranger this side is typing, at most once until it stops: after
    /// [`TYPING_IDLE`] without a keystroke, or when the line is sent or erased.
    fn typing(self, active: bool) {
        let Some(call_id) = self.call_id.get_untracked() else {
            return;
        };
        let now = js_sys::Date::now();
        let was = self.typing_since.get_value();
        if active {
            self.typing_since.set_value(Some(now));
            if was.is_none() {
                self.send(&ClientMsg::Typing {
                    call_id,
                    typing: true,
                });
                self.check_typing_later(call_id);
            }
        } else if was.is_some() {
            self.typing_since.set_value(None);
            self.send(&ClientMsg::Typing {
                call_id,
                typing: false,
            });
        }
    }

    fn check_typing_later(self, call_id: CallId) {
        set_timeout(
            move || {
                let Some(last) = self.typing_since.get_value() else {
                    return;
                };
                if !self.is_current(call_id) {
                    self.typing_since.set_value(None);
                } else if js_sys::Date::now() - last >= TYPING_IDLE.as_millis() as f64 {
                    self.typing(false);
                } else {
                    self.check_typing_later(call_id);
                }
            },
            TYPING_IDLE,
        );
    }

    /// Switches the microphone (`mic`) or the camera on or off: the track keeps flowing, only
    /// disabled, so nothing is renegotiated. The stranger is told.
    fn toggle_media(self, mic: bool) {
        let switch = if mic {
            self.state.media.mic_on
        } else {
            self.state.media.camera_on
        };
        switch.update(|on| *on = !*on);
        let on = switch.get_untracked();
        self.local_stream.with_untracked(|stream| {
            let Some(stream) = stream else { return };
            let tracks = if mic {
                stream.get_audio_tracks()
            } else {
                stream.get_video_tracks()
            };
            for track in tracks.iter() {
                if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                    track.set_enabled(on);
                }
            }
        });
        self.tell_media();
    }

    /// Tells the stranger of the current call whether this side's mic and camera are on.
    fn tell_media(self) {
        if let Some(call_id) = self.call_id.get_untracked() {
            self.send(&ClientMsg::Media {
                call_id,
                mic: self.state.media.mic_on.get_untracked(),
                camera: self.state.media.camera_on.get_untracked(),
            });
        }
    }

    /// Reports the current stranger and moves on to the next one.
    fn report(self, reason: ReportReason) {
        let Some(call_id) = self.call_id.get_untracked() else {
            return;
        };
        self.send(&ClientMsg::Report { call_id, reason });
        self.hang_up();
        self.state.call.state.set(CallState::Searching);
        self.state.call.status.set(REPORTED.into());
        self.send(&ClientMsg::Next);
    }

    async fn call(self) {
        if self.state.call.state.get_untracked() != CallState::Idle
            || !self.state.prefs.terms_accepted.get_untracked()
        {
            return;
        }
        let call = match self.call_msg() {
            Ok(call) => call,
            Err(problem) => {
                self.state.call.status.set(problem);
                return;
            }
        };
        let text_only = self.state.prefs.text_only.get_untracked();
        if self.state.prefs.hide_ip.get_untracked() && !text_only && !self.has_relay() {
            self.state.call.status.set(NO_RELAY.into());
            return;
        }
        // Searching at once, so a second click while the camera opens does nothing.
        self.state.call.state.set(CallState::Searching);
        if !text_only && self.local_stream.with_untracked(Option::is_none) {
            self.state.call.status.set("Starting your camera…".into());
            match media::open_camera().await {
                Ok(stream) => self.local_stream.set(Some(stream)),
                Err(e) => {
                    self.state.call.state.set(CallState::Idle);
                    self.state.call.status.set(format!(
                        "{e} Or tick \"Text only\" to meet strangers by chat."
                    ));
                    return;
                }
            }
        }
        self.calling_clicked.set(true);
        self.state.call.status.set(LOOKING.into());
        // If the socket is down, `on_open` sends Call once it is back.
        self.send(&call);
    }

    /// Whether the site gave us a TURN server to relay through.
    fn has_relay(self) -> bool {
        self.ice_servers.with_value(|servers| {
            servers
                .iter()
                .flat_map(|s| &s.urls)
                .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
        })
    }

    /// Call, with this visitor's interests and text-only choice; or what is wrong with the
    /// interests. (The fields cannot change while searching or in a call.)
    fn call_msg(self) -> Result<ClientMsg, String> {
        let typed = self.state.prefs.interests.get_untracked();
        Ok(ClientMsg::Call {
            interests: normalize_interests(&typed.split(',').collect::<Vec<_>>())?,
            text_only: self.state.prefs.text_only.get_untracked(),
        })
    }

    fn next(self) {
        if !self.calling_clicked.get_untracked() {
            spawn_local(self.call());
            return;
        }
        self.hang_up();
        self.state.call.state.set(CallState::Searching);
        self.state
            .call
            .status
            .set("Looking for someone new…".into());
        self.send(&ClientMsg::Next);
    }

    fn end(self) {
        self.hang_up();
        self.calling_clicked.set(false);
        self.state.call.state.set(CallState::Idle);
        self.state.call.status.set(ENDED.into());
        self.send(&ClientMsg::End);
    }

    fn on_signal(self, event: SignalEvent) {
        match event {
            SignalEvent::Open => {
                if self.calling_clicked.get_untracked() {
                    self.state.call.state.set(CallState::Searching);
                    self.state.call.status.set(LOOKING.into());
                    self.send(&self.call_msg().unwrap_or_else(|_| ClientMsg::call()));
                } else if self.state.call.status.get_untracked() == RECONNECTING {
                    self.state.call.status.set(IDLE_STATUS.into());
                }
            }
            SignalEvent::Lost => {
                // The server ends the call for the partner; this side cleans up the same way.
                self.hang_up();
                self.state.presence.online.set(None);
                let status = self
                    .closing_reason
                    .try_update_value(Option::take)
                    .flatten()
                    .unwrap_or_else(|| RECONNECTING.into());
                self.state.call.status.set(status);
                if self.calling_clicked.get_untracked() {
                    self.state.call.state.set(CallState::Searching);
                }
            }
            SignalEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(self, msg: ServerMsg) {
        match msg {
            ServerMsg::Online { count } => self.state.presence.online.set(Some(count)),
            // After `call_ended` the state is already searching and the status says why.
            ServerMsg::Searching
                if self.calling_clicked.get_untracked()
                    && self.state.call.state.get_untracked() != CallState::Searching =>
            {
                self.state.call.state.set(CallState::Searching);
                self.state.call.status.set(LOOKING.into());
            }
            ServerMsg::Matched {
                call_id,
                shared_interests,
                partner_text_only,
            } => {
                // An End still on its way to the server will end this call there.
                if !self.calling_clicked.get_untracked() {
                    return;
                }
                self.hang_up();
                self.call_id.set(Some(call_id));
                self.state.call.shared_interests.set(shared_interests);
                self.state.call.partner_text_only.set(partner_text_only);
                if self.state.prefs.text_only.get_untracked() || partner_text_only {
                    // Nothing to connect: the chat goes through the server.
                    self.state.call.state.set(CallState::Connected);
                    self.state.call.status.set(TEXT_CONNECTED.into());
                } else {
                    self.state.call.state.set(CallState::Connecting);
                    self.state.call.status.set(CONNECTING.into());
                    self.tell_media();
                    spawn_local(self.offer(call_id));
                }
            }
            ServerMsg::Chat { call_id, text } if self.is_current(call_id) => {
                self.state.chat.stranger_typing.set(false);
                self.add_line(false, text);
            }
            ServerMsg::Typing { call_id, typing } if self.is_current(call_id) => {
                self.state.chat.stranger_typing.set(typing);
                let fade = self.typing_fade.get_value().wrapping_add(1);
                self.typing_fade.set_value(fade);
                if typing {
                    set_timeout(
                        move || {
                            if self.typing_fade.get_value() == fade {
                                self.state.chat.stranger_typing.set(false);
                            }
                        },
                        TYPING_FADE,
                    );
                }
            }
            ServerMsg::Media {
                call_id,
                mic,
                camera,
            } if self.is_current(call_id) => {
                self.state.media.stranger_mic.set(mic);
                self.state.media.stranger_camera.set(camera);
            }
            ServerMsg::Offer { call_id, sdp } if self.is_current(call_id) => {
                spawn_local(self.answer(call_id, sdp));
            }
            ServerMsg::Answer { call_id, sdp } if self.is_current(call_id) => {
                spawn_local(self.accept_answer(call_id, sdp));
            }
            ServerMsg::Ice {
                call_id,
                role,
                candidate,
            } if self.is_current(call_id) => self.take_candidate(call_id, role, candidate),
            ServerMsg::Winner { call_id, role } if self.is_current(call_id) => {
                self.crown(role);
            }
            ServerMsg::CallEnded { call_id, reason } if self.is_current(call_id) => {
                self.hang_up();
                if self.calling_clicked.get_untracked() {
                    self.state.call.state.set(CallState::Searching);
                    self.state.call.status.set(ended_status(reason).into());
                }
            }
            ServerMsg::Error { code, message } => self.refused(code, message),
            ServerMsg::ShuttingDown => self.closing_reason.set_value(Some(RESTARTING.into())),
            // Idle confirms an End; anything else names a call that is over.
            _ => {}
        }
    }

    /// The server refused something; say so where it matters to the visitor.
    fn refused(self, code: ErrorCode, message: String) {
        match code {
            // Races the protocol expects (a late signal after Next); nothing to tell anyone.
            ErrorCode::BadMessage | ErrorCode::NotInCall | ErrorCode::StaleCall => {
                leptos::logging::warn!("server refused a message ({code:?}): {message}");
            }
            ErrorCode::Banned => {
                self.hang_up();
                self.calling_clicked.set(false);
                self.state.call.state.set(CallState::Idle);
                // Nothing works while banned, so the buttons say so.
                self.state.presence.ready.set(false);
                if let Some(signaling) = self.signaling.get_value() {
                    signaling.stop();
                }
                self.closing_reason.set_value(Some(message.clone()));
                self.state.call.status.set(message);
            }
            ErrorCode::MatchingUnavailable => {
                // The server ended this side's call or search; Call works again shortly.
                self.hang_up();
                self.calling_clicked.set(false);
                self.state.call.state.set(CallState::Idle);
                self.state.call.status.set(message);
            }
            ErrorCode::NextTooFast => {
                // The server kept us in the call this side already left: end it properly.
                self.end();
                self.state.call.status.set(message);
            }
            code if code.closes_socket() => {
                self.closing_reason.set_value(Some(message.clone()));
                self.state.call.status.set(message);
            }
            _ => self.state.call.status.set(message),
        }
    }

    /// peer1: offer to the stranger.
    async fn offer(self, call_id: CallId) {
        let Some(pc) = self.open_link(Role::Peer1, call_id) else {
            return;
        };
        match rtc::make_offer(&pc).await {
            Ok(sdp) => self.send_for(call_id, ClientMsg::Offer { call_id, sdp }),
            Err(e) => leptos::logging::warn!("could not make an offer: {e:?}"),
        }
    }

    /// peer2: answer the stranger's offer.
    async fn answer(self, call_id: CallId, offer: String) {
        // One offer per call; a repeat would only tear a working connection down.
        if self.peer2.with_untracked(Option::is_some) {
            return;
        }
        let Some(pc) = self.open_link(Role::Peer2, call_id) else {
            return;
        };
        if let Err(e) = rtc::set_remote(&pc, RtcSdpType::Offer, &offer).await {
            leptos::logging::warn!("could not take the stranger's offer: {e:?}");
            return;
        }
        if !self.is_current(call_id) {
            return;
        }
        self.remote_described(Role::Peer2);
        match rtc::make_answer(&pc).await {
            Ok(sdp) => self.send_for(call_id, ClientMsg::Answer { call_id, sdp }),
            Err(e) => leptos::logging::warn!("could not answer: {e:?}"),
        }
    }

    /// peer1: the stranger answered our offer.
    async fn accept_answer(self, call_id: CallId, answer: String) {
        let Some(pc) = self.link_pc(Role::Peer1, call_id) else {
            return;
        };
        if let Err(e) = rtc::set_remote(&pc, RtcSdpType::Answer, &answer).await {
            leptos::logging::warn!("could not take the stranger's answer: {e:?}");
            return;
        }
        if self.is_current(call_id) {
            self.remote_described(Role::Peer1);
        }
    }

    /// Creates the connection `role` for `call_id` and returns it.
    fn open_link(self, role: Role, call_id: CallId) -> Option<web_sys::RtcPeerConnection> {
        let local = self.local_stream.get_untracked()?;
        let servers = self.ice_servers.get_value();
        let link = PeerLink::new(
            call_id,
            &servers,
            self.state.prefs.hide_ip.get_untracked(),
            &local,
            move |candidate| {
                self.send_for(
                    call_id,
                    ClientMsg::Ice {
                        call_id,
                        role,
                        candidate,
                    },
                )
            },
            move |up| {
                if up {
                    self.send_for(call_id, ClientMsg::Connected { call_id, role });
                } else if self.is_current(call_id)
                    && self.state.call.state.get_untracked() == CallState::Connecting
                {
                    // The server gives up on the match after the connect timeout; until then,
                    // say why the pane stays dark.
                    self.state
                        .call
                        .status
                        .set(if self.state.prefs.hide_ip.get_untracked() {
                            RELAY_FAILED.into()
                        } else {
                            DIRECT_FAILED.into()
                        });
                }
            },
        );
        match link {
            Ok(link) => {
                let pc = link.pc.clone();
                self.link(role).set(Some(link));
                Some(pc)
            }
            Err(e) => {
                leptos::logging::warn!("could not create a peer connection: {e:?}");
                None
            }
        }
    }

    /// A candidate for our connection `role`: added now, or queued until it can be.
    fn take_candidate(self, call_id: CallId, role: Role, candidate: IceCandidate) {
        let ready = self.link(role).with_untracked(|link| {
            link.as_ref()
                .filter(|l| l.call_id == call_id && l.remote_described)
                .map(|l| l.pc.clone())
        });
        match ready {
            Some(pc) => spawn_local(add_candidate(pc, candidate)),
            None => self
                .pending_ice
                .update_value(|pending| pending.push(role, candidate)),
        }
    }

    /// Connection `role` has its remote description: flush the candidates waiting for it.
    fn remote_described(self, role: Role) {
        self.link(role).update(|link| {
            if let Some(link) = link {
                link.remote_described = true;
            }
        });
        let Some(pc) = self
            .link(role)
            .with_untracked(|l| l.as_ref().map(|l| l.pc.clone()))
        else {
            return;
        };
        let queued = self
            .pending_ice
            .try_update_value(|pending| pending.take(role))
            .unwrap_or_default();
        for candidate in queued {
            spawn_local(add_candidate(pc.clone(), candidate));
        }
    }

    /// The server named the winning connection: show it, close the other.
    fn crown(self, winner: Role) {
        close_link(self.link(winner.counterpart()));
        // `Clone::clone`, not `.clone()`: MediaStream's own clone() makes a new stream.
        let stream = self
            .link(winner)
            .with_untracked(|l| l.as_ref().map(|l| Clone::clone(&l.stream)));
        self.remote_stream.set(stream);
        self.state.call.state.set(CallState::Connected);
        self.state.call.status.set(CONNECTED.into());
        self.measure_quality(winner);
    }

    /// Samples the winning connection's round-trip time and loss every [`QUALITY_EVERY`].
    fn measure_quality(self, winner: Role) {
        let timer = set_interval_with_handle(
            move || {
                let Some(pc) = self
                    .link(winner)
                    .with_untracked(|l| l.as_ref().map(|l| l.pc.clone()))
                else {
                    return;
                };
                spawn_local(async move {
                    if let Some(summary) = stats::quality(&pc).await {
                        self.state.call.quality.set(Some(summary));
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

    /// The seed's ending, on this side: clear queued candidates, remove tracks from and close
    /// both connections, forget the remote stream and the call. The camera stays on.
    fn hang_up(self) {
        self.pending_ice.set_value(PendingIce::default());
        close_link(self.peer1);
        close_link(self.peer2);
        self.remote_stream.set(None);
        self.call_id.set(None);
        // What belonged to this stranger goes with them.
        if let Some(timer) = self.quality_timer.try_update_value(Option::take).flatten() {
            timer.clear();
        }
        self.typing_since.set_value(None);
        let v = self.state;
        v.call.quality.set(None);
        v.chat.lines.set(Vec::new());
        v.chat.stranger_typing.set(false);
        v.call.shared_interests.set(Vec::new());
        v.call.partner_text_only.set(false);
        v.media.stranger_mic.set(true);
        v.media.stranger_camera.set(true);
    }

    fn link(self, role: Role) -> RwSignal<Option<PeerLink>, LocalStorage> {
        match role {
            Role::Peer1 => self.peer1,
            Role::Peer2 => self.peer2,
        }
    }

    fn link_pc(self, role: Role, call_id: CallId) -> Option<web_sys::RtcPeerConnection> {
        self.link(role).with_untracked(|link| {
            link.as_ref()
                .filter(|l| l.call_id == call_id)
                .map(|l| l.pc.clone())
        })
    }

    fn is_current(self, call_id: CallId) -> bool {
        self.call_id.get_untracked() == Some(call_id)
    }

    fn send(self, msg: &ClientMsg) {
        if let Some(signaling) = self.signaling.get_value() {
            signaling.send(msg);
        }
    }

    /// Sends a message about `call_id`, unless that call is already over here.
    fn send_for(self, call_id: CallId, msg: ClientMsg) {
        if self.is_current(call_id) {
            self.send(&msg);
        }
    }
}

fn close_link(link: RwSignal<Option<PeerLink>, LocalStorage>) {
    if let Some(old) = link.try_update(Option::take).flatten() {
        old.close();
    }
}

async fn add_candidate(pc: web_sys::RtcPeerConnection, candidate: IceCandidate) {
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

fn ended_status(reason: EndReason) -> &'static str {
    match reason {
        EndReason::PartnerNext => "The stranger moved on. Finding someone new…",
        EndReason::PartnerEnded => "The stranger ended the call. Finding someone new…",
        EndReason::PartnerLeft => "The stranger left. Finding someone new…",
        EndReason::ConnectTimeout => "Couldn't connect to that stranger. Finding someone new…",
    }
}

//! The thin controller: feeds everything that happens in the browser into the
//! [`Machine`](super::machine::Machine) and carries out its commands with web-sys and Leptos.
//!
//! No rule of the call lives here: which message to send, which connection to open or close,
//! what the page says, all of it is the machine's. This module only knows how: the socket
//! ([`super::signaling`]), the camera ([`super::media`]), the peer connections
//! ([`super::negotiation::Peers`]), timers, the background alert ([`super::alert`]), and the
//! page's signals ([`PageState`]).

use super::alert;
use super::machine::{Choices, Command, Field, Input, Machine, Track};
use super::media;
use super::negotiation::Peers;
use super::prefs;
use super::recent::Recent;
use super::screening::browser::{Screener, Settings as ScreeningSettings};
use super::screening::Event as ScreeningEvent;
use super::signaling::{SignalEvent, Signaling};
use super::timeline;
use crate::app::state::{Action, PageState};
use crate::model::IceServer;
use crate::protocol::{ClientMsg, ServerMsg, RECENT_CALL_SECS};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack};

/// The machine and the browser objects its commands act on; cheap to copy into callbacks.
#[derive(Clone, Copy)]
pub(crate) struct Controller {
    state: PageState,
    machine: StoredValue<Machine>,
    signaling: StoredValue<Option<Signaling>, LocalStorage>,
    peers: Peers,
    /// The camera; opened on the first video Call and kept on between calls.
    local_stream: RwSignal<Option<MediaStream>, LocalStorage>,
    ice_servers: StoredValue<Vec<IceServer>>,
    /// The strangers met a moment ago (see `recent`).
    recent: StoredValue<Recent>,
    /// The page's own title, put back once a stranger found in the background was seen.
    title: StoredValue<String>,
    /// The video screening of the stranger's video.
    screener: Screener,
}

impl Controller {
    /// A controller for the lobby's `state`; the local pane follows the camera's stream.
    pub(crate) fn new(state: PageState, screening: ScreeningSettings) -> Self {
        let local_stream = RwSignal::new_local(None);
        let controller = Controller {
            state,
            machine: StoredValue::new(Machine::new()),
            signaling: StoredValue::new_local(None),
            peers: Peers::new(state.call.remote_video, local_stream),
            local_stream,
            ice_servers: StoredValue::new(Vec::new()),
            recent: StoredValue::new(Recent::default()),
            title: StoredValue::new(document().title()),
            screener: Screener::new(state, screening),
        };
        // The visitor's switch; the model loads only while it is on, when the browser is idle
        // after the lobby hydrated (effects run only after hydration).
        let screen_video = state.prefs.screen_video;
        let screener = controller.screener;
        Effect::new(move |_| {
            let on = screen_video.get();
            screener.handle(ScreeningEvent::Enabled(on));
            if on {
                screener.load_when_idle();
            }
        });
        let local_video = state.media.local_video;
        Effect::new(move |_| {
            let stream = controller.local_stream.get();
            if let Some(video) = local_video.get() {
                video.set_src_object(stream.as_ref());
            }
        });
        controller
    }

    /// Opens the signaling socket and fetches the ICE servers.
    pub(crate) fn connect(self) {
        let signaling = Signaling::connect(move |event| {
            self.feed(match event {
                SignalEvent::Open => Input::SocketOpened,
                SignalEvent::Lost => Input::SocketLost,
                SignalEvent::Message(msg) => {
                    self.heard(&msg);
                    Input::Server(msg)
                }
            })
        });
        self.signaling.set_value(Some(signaling));
        spawn_local(async move {
            if media::camera_permitted().await {
                self.feed(Input::CameraPermitted);
            }
        });
        spawn_local(async move {
            match crate::wire::fetch_ice_servers().await {
                Ok(servers) => {
                    self.ice_servers.set_value(servers.clone());
                    self.feed(Input::IceServers(servers));
                }
                Err(e) => leptos::logging::warn!("no ICE servers, calls use host candidates: {e}"),
            }
        });
    }

    /// A button was pressed.
    pub(crate) fn act(self, action: Action) {
        self.feed(match action {
            Action::Call => Input::Call(self.choices()),
            Action::Next => Input::Next,
            Action::End => Input::End,
            Action::Report(reason) => Input::Report(reason),
            Action::Block => Input::Block,
            // About a call that is over: nothing changes for the current one.
            Action::ReportRecent(call_id, reason) => {
                return self.send(&ClientMsg::Report {
                    call_id,
                    reason,
                    screened: false,
                })
            }
            Action::BlockRecent(call_id) => return self.send(&ClientMsg::Block { call_id }),
            Action::ClearBlocks => return self.send(&ClientMsg::ClearBlocks),
            Action::SendChat(text) => Input::SendChat(text),
            Action::Typing(active) => Input::Typing { active, now: now() },
            Action::ToggleMic => Input::ToggleMic,
            Action::ToggleCamera => Input::ToggleCamera,
            Action::ReportScreened => Input::ReportScreened,
            Action::ShowAnyway => return self.screener.handle(ScreeningEvent::ShowAnyway),
        });
    }

    /// What the machine leaves to the controller: the visitor key, the count of blocks, and the
    /// marks on recent strangers.
    fn heard(self, msg: &ServerMsg) {
        match msg {
            ServerMsg::Visitor {
                key,
                blocked,
                resume,
            } => {
                prefs::keep_visitor_key(key);
                if !resume.is_empty() {
                    prefs::keep_resume_token(resume);
                }
                self.state.recent.blocked.set(*blocked);
            }
            // Back in its call: the machine takes the choices the page holds, as Call would.
            ServerMsg::Resumed { .. } => self.feed(Input::Choices(self.choices())),
            ServerMsg::Blocked { call_id, blocked } => {
                self.state.recent.blocked.set(*blocked);
                self.recent.update_value(|recent| recent.blocked(*call_id));
                self.show_recent();
            }
            ServerMsg::Reported { call_id } => {
                self.recent.update_value(|recent| recent.reported(*call_id));
                self.show_recent();
            }
            _ => {}
        }
    }

    fn send(self, msg: &ClientMsg) {
        if let Some(signaling) = self.signaling.get_value() {
            signaling.send(msg);
        }
    }

    /// Shows the recent strangers as of now.
    fn show_recent(self) {
        let strangers = self
            .recent
            .try_update_value(|recent| recent.visible(now()))
            .unwrap_or_default();
        self.state.recent.strangers.set(strangers);
    }

    /// Hands `input` to the machine, then runs what it asks for.
    pub(crate) fn feed(self, input: Input) {
        timeline::mark_input(&input);
        // The machine is released before any command runs, so a command may feed again.
        let commands = self
            .machine
            .try_update_value(|machine| {
                machine.set_time(now());
                machine.handle(input)
            })
            .unwrap_or_default();
        for command in commands {
            self.run(command);
        }
        // The screening follows the call with the stranger's video: a new one is blurred
        // from its first frame.
        let call = self.state.call;
        let text_call =
            self.state.prefs.text_only.get_untracked() || call.partner_text_only.get_untracked();
        let video_call = self
            .machine
            .with_value(|machine| machine.call_id())
            .filter(|_| !text_call);
        self.screener.handle(ScreeningEvent::Call(video_call));
        // While the page searches for a video call, a peer1 waits ready for the match.
        let relay_only = self.machine.with_value(|machine| machine.video_search());
        self.ice_servers
            .with_value(|servers| self.peers.keep_ready(relay_only, servers));
    }

    /// The visitor's choices as the page holds them now.
    fn choices(self) -> Choices {
        let prefs = self.state.prefs;
        Choices {
            terms_accepted: prefs.terms_accepted.get_untracked(),
            interests: prefs.interests.get_untracked(),
            text_only: prefs.text_only.get_untracked(),
            hide_ip: prefs.hide_ip.get_untracked(),
            language: prefs.language.get_untracked(),
        }
    }

    fn run(self, command: Command) {
        timeline::mark_command(&command);
        match command {
            Command::Send(msg) => self.send(&msg),
            // A Call searches while the camera opens (when the browser allows it already), so
            // the connections may be made and described before there is a stream to send.
            Command::OpenCamera => {
                let opening = media::open_camera();
                spawn_local(async move {
                    match opening.await {
                        // The machine hears first, so a mic or camera switched off meanwhile is off
                        // on the tracks before any connection sends them.
                        Ok(stream) => {
                            self.local_stream.set(Some(stream));
                            self.feed(Input::CameraOpened);
                            self.peers.send_camera();
                        }
                        // The machine hangs up a call made meanwhile.
                        Err(e) => self.feed(Input::CameraFailed(e.to_string())),
                    }
                })
            }
            Command::EnableTracks { track, on } => self.local_stream.with_untracked(|stream| {
                let Some(stream) = stream else { return };
                let tracks = match track {
                    Track::Audio => stream.get_audio_tracks(),
                    Track::Video => stream.get_video_tracks(),
                };
                for track in tracks.iter() {
                    if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                        track.set_enabled(on);
                    }
                }
            }),
            Command::Peer(command) => {
                let report = move |report| self.feed(Input::Peer(report));
                self.ice_servers
                    .with_value(|servers| self.peers.run(command, servers, report));
            }
            Command::StartTimer { timer, after } => set_timeout(
                move || self.feed(Input::TimerFired { timer, now: now() }),
                after,
            ),
            Command::Reconnect(waiting) => {
                if let Some(signaling) = self.signaling.get_value() {
                    signaling.pace(waiting);
                }
            }
            Command::StopReconnecting => {
                if let Some(signaling) = self.signaling.get_value() {
                    signaling.stop();
                }
            }
            Command::MetStranger(call_id) => self
                .recent
                .update_value(|recent| recent.met(call_id, now())),
            Command::LeftStranger {
                call_id,
                shared_interests,
            } => {
                self.recent
                    .update_value(|recent| recent.left(call_id, shared_interests, now()));
                self.show_recent();
                // Gone from the list when the server forgets the call too.
                let window = std::time::Duration::from_secs(RECENT_CALL_SECS);
                set_timeout(move || self.show_recent(), window);
            }
            Command::Warn(message) => leptos::logging::warn!("{message}"),
            Command::Chime => {
                if self.state.prefs.found_sound.get_untracked() {
                    alert::chime();
                }
            }
            Command::Show(field) => self.show(field),
        }
    }

    /// Writes one changed field to its signal.
    fn show(self, field: Field) {
        let PageState {
            call,
            chat,
            media,
            presence,
            ..
        } = self.state;
        match field {
            Field::CallState(state) => call.state.set(state),
            Field::Status(status) => call.status.set(status),
            Field::Online(count) => presence.online.set(count),
            Field::Ready(ready) => presence.ready.set(ready),
            Field::Chat(lines) => chat.lines.set(lines),
            Field::StrangerTyping(typing) => chat.stranger_typing.set(typing),
            Field::SharedInterests(tags) => call.shared_interests.set(tags),
            Field::SharedLanguage(code) => call.shared_language.set(code),
            Field::PartnerTextOnly(text_only) => call.partner_text_only.set(text_only),
            Field::MicOn(on) => media.mic_on.set(on),
            Field::CameraOn(on) => media.camera_on.set(on),
            Field::StrangerMic(on) => media.stranger_mic.set(on),
            Field::StrangerCamera(on) => media.stranger_camera.set(on),
            Field::Quality(quality) => call.quality.set(quality),
            Field::CallSince(since) => call.connected_since.set(since),
            Field::UnseenStranger(unseen) => self
                .title
                .with_value(|title| alert::mark_title(unseen, title)),
        }
    }
}

/// The browser's clock, in milliseconds since the epoch.
fn now() -> u64 {
    js_sys::Date::now() as u64
}

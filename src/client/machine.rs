//! The browser's call logic as a pure state machine: every rule of a call as the page lives
//! it, with no web-sys, no Leptos signals, no `.await` and no clock of its own (the controller
//! tells it the time, see [`Machine::set_time`]).
//!
//! [`Machine::handle`] takes one [`Input`] (a button, a server message, the socket opening or
//! closing, a peer connection's news, the camera's answer, a timer firing: times come in with
//! the inputs) and returns the [`Command`]s that carry it out (send this message, open the
//! camera, create or close peer1/peer2, start a timer, show this on the page). The thin
//! controller (`controller.rs`, browser build only) feeds it and runs the commands, so the
//! rules are tested here with plain `#[test]`s.
//!
//! Where the call stands is a [`Phase`] enum, never a display string: the page's `data-state`
//! and status sentence are derived from it (plus a transient [`Notice`], such as a refusal
//! from the server) by [`Machine::page`]. Everything the page shows is computed the same way,
//! and `handle` emits [`Command::Show`] for exactly the fields that changed.
//!
//! The rules by name:
//! - **calling_clicked** (the design's flag): Call was pressed and not ended. Holds in
//!   `Searching`, `Connecting`, `Connected` and `Reconnecting`. Only then is a `matched`
//!   taken: a match that arrives after End is ignored (the server ends it when the End lands).
//! - **Current call only**: every call message names its call id; anything for another call
//!   than the current one is dropped, so a burst of Next never mixes two strangers.
//! - **peer1/peer2 and the race**: see [`super::negotiation`].
//! - **Hang-up** (the design's ending): queued ICE candidates are dropped, both connections
//!   close with their tracks removed, the remote stream goes, and what belonged to the
//!   stranger (chat, typing, shared interests, their media switches, the quality) is cleared.
//!   The camera stays on between calls.
//! - **Reconnect**: when the socket drops in a call, the page holds the call (its connection
//!   may well still carry the stranger) and says it is reconnecting; when it drops while
//!   searching, the page searches again once a new socket opens. The new socket sends Call: a
//!   server that kept the tab's session in its call (`resumed`, within `--reload-grace`)
//!   ignores it, and the held call goes on; a server that started a new session searches
//!   (`searching` or `matched` then end the held call). Back in the call, the tab tells its
//!   partner how (`reconnect`): *in place* when it still holds the call's winning connection
//!   (a text-only call too), so both keep it; otherwise (a reload, or a race not yet won) both
//!   race their connections anew. The side that stayed shows "Stranger is reconnecting…"
//!   meanwhile (`partner_away`), and does as told on `partner_back`. A `shutting_down` or a
//!   refusal that closes the socket (say, banned) is shown instead of "reconnecting".
//! - **ICE restart in place**: when the winning connection goes `disconnected` for
//!   [`RESTART_GRACE`], or `failed`, the side that offered it restarts ICE on it (see
//!   [`super::negotiation`]), once it can reach the partner (its socket is back in the call,
//!   the partner is not away); an answered restart that did not bring the connection back is
//!   tried again after [`RESTART_RETRY`]. A connection still down [`RESTART_BOUND`] after the
//!   restarts began is raced anew in the same call (`reconnect`); the partner, who never
//!   restarts, waits [`ANSWERER_BOUND`], a little longer, so the offerer's word comes first.
//! - **Report → next**, **block → next**: reporting or blocking the current stranger leaves
//!   them and looks for the next one. (A stranger of a recent call is reported or blocked by
//!   the controller directly: that changes nothing about the current call.)
//! - **Next too fast**: the server kept this side in the call it already left, so the page
//!   ends it properly and says why; the visitor is idle.
//! - **Call time**: a call counts from the moment it connected (a text-only call from the
//!   match); each stranger starts from zero.
//! - **Background alert**: a stranger found while the tab is hidden is announced (a chime, the
//!   tab's title) until the visitor looks at the tab or the call ends.

use super::negotiation::{Negotiation, PeerCommand, PeerEvent, PeerReport};
use crate::app::state::{CallState, ChatLine, IDLE_STATUS};
use crate::model::IceServer;
use crate::protocol::{
    normalize_interests, CallId, ClientMsg, EndReason, ErrorCode, ReportReason, Role, ServerMsg,
};
use crate::reconnect::Waiting;
use std::time::Duration;

/// After this long without a keystroke, this side tells the stranger it stopped typing.
pub const TYPING_IDLE: Duration = Duration::from_secs(3);
/// A "typing" from the stranger that is not refreshed or withdrawn fades after this long.
pub const TYPING_FADE: Duration = Duration::from_secs(6);
/// How long the call's connection may stay `disconnected` before ICE is restarted on it.
/// Chromium says `disconnected` only after seconds without an answer to its checks (5 to 7 s
/// after the relay stopped, in reconnect.spec), so the picture is frozen already; a Wi-Fi
/// hiccup or a roam between access points that got that far usually mends itself within a
/// second or two more, and a restart then would only cost a round trip and new relay
/// allocations. Waiting longer only lengthens the freeze of a real network change (`failed`
/// comes much later, if at all).
pub const RESTART_GRACE: Duration = Duration::from_secs(2);
/// An answered restart that has not brought the connection back by then is tried again (the
/// new network may not have been ready for the last one).
pub const RESTART_RETRY: Duration = Duration::from_secs(4);
/// A connection not back this long after its restarts began is raced anew in the same call. A
/// restart takes one round trip through duet and a relay allocation, well under a second on a
/// working network; this leaves three tries.
pub const RESTART_BOUND: Duration = Duration::from_secs(12);
/// The side that does not restart gives up this long after the drop, later than the offerer, so
/// the offerer's new race (or its restart) normally comes first.
pub const ANSWERER_BOUND: Duration = Duration::from_secs(16);

const STARTING_CAMERA: &str = "Starting your camera…";
const LOOKING: &str = "Looking for a stranger…";
const LOOKING_AGAIN: &str = "Looking for someone new…";
const CONNECTING: &str = "Stranger found. Connecting…";
const CONNECTED: &str = "Connected. Say hi!";
const TEXT_CONNECTED: &str = "Connected by text. Say hi!";
const RECONNECTING: &str = "Connection to duet lost. Reconnecting…";
const RESTARTING: &str = "duet is restarting. Reconnecting…";
const PARTNER_AWAY: &str = "Stranger is reconnecting…";
const RESTORING: &str = "Connection to the stranger lost. Reconnecting…";
const ENDED: &str = "Call ended. Press Call to meet someone new.";
const REPORTED: &str = "Thanks, the stranger was reported. Finding someone new…";
const BLOCKED: &str = "You won't meet that stranger again. Finding someone new…";
const RELAY_FAILED: &str =
    "Could not connect through the relay server (TURN), so the call cannot start. duet will try someone else.";
const DIRECT_FAILED: &str =
    "Could not connect to this stranger's browser. duet will try someone else.";
const NO_RELAY: &str =
    "Hiding your IP needs a relay (TURN) server, and this site has none set up. Untick it to call.";

/// Milliseconds since the epoch, as the browser's clock gives them.
pub type Millis = u64;

/// What the visitor chose, as it stands when Call is pressed. The page locks these fields
/// while searching or in a call, so they hold until the next Call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    /// The rules are accepted; Call does nothing otherwise.
    pub terms_accepted: bool,
    /// The interests field as typed (comma-separated).
    pub interests: String,
    /// Meet strangers by text only: no camera, no WebRTC.
    pub text_only: bool,
    /// Connect through the TURN relay only.
    pub hide_ip: bool,
    /// The language this visitor would like to speak (a code, or empty for any).
    pub language: String,
}

/// Everything that can happen to the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The page hydrated: its controls work from now on.
    Hydrated,
    /// The Call button, with the visitor's choices at that moment.
    Call(Choices),
    /// The visitor's choices as the page holds them, for a reloaded tab the server put back in
    /// its call (`resumed` follows): they hold for its Next as if Call had been pressed.
    Choices(Choices),
    /// The Next button.
    Next,
    /// The End button.
    End,
    /// The Esc key: Next, whenever the page works and Call was pressed.
    Escape,
    /// Report the stranger for this reason (then move on).
    Report(ReportReason),
    /// Report the stranger for nudity from the blur of the video screening, which flagged
    /// their video (then move on, as any report).
    ReportScreened,
    /// Never meet this stranger again (then move on).
    Block,
    /// Send this chat line (already trimmed, not empty).
    SendChat(String),
    /// The chat input has (`true`) or no longer has text typed, at `now`.
    Typing { active: bool, now: Millis },
    /// The microphone switch.
    ToggleMic,
    /// The camera switch.
    ToggleCamera,
    /// The site's STUN/TURN servers arrived.
    IceServers(Vec<IceServer>),
    /// The browser already lets this site use the camera and microphone (asked at load), so
    /// a Call need not wait for the camera before searching.
    CameraPermitted,
    /// The camera (and microphone) opened.
    CameraOpened,
    /// The camera could not be opened; the sentence says why.
    CameraFailed(String),
    /// A signaling socket opened (the first, or a new one after a loss).
    SocketOpened,
    /// The signaling socket closed (a new one is on its way unless told to stop).
    SocketLost,
    /// A message from the server.
    Server(ServerMsg),
    /// News from one of the peer connections.
    Peer(PeerReport),
    /// A timer started by [`Command::StartTimer`] fired, at `now`.
    TimerFired { timer: Timer, now: Millis },
    /// The tab went to the background (`hidden`) or came back to the front.
    Visibility { hidden: bool },
}

/// The timers the machine starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Check whether this side stopped typing in this call.
    TypingIdle(CallId),
    /// Fade the stranger's "typing", unless a newer "typing" came since (the number counts
    /// them).
    TypingFade(u32),
    /// A step of mending this call's winning connection, unless it moved on since (`epoch`,
    /// see `Recovery`).
    Ice {
        call: CallId,
        epoch: u32,
        step: IceStep,
    },
}

/// What an [`Timer::Ice`] checks when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceStep {
    /// [`RESTART_GRACE`] after `disconnected`: still not back, so restart.
    Grace,
    /// [`RESTART_RETRY`] after restart number `n`: answered but not back, so try again.
    Retry(u32),
    /// [`RESTART_BOUND`] (or [`ANSWERER_BOUND`]) after the restarts began: race anew.
    GiveUp,
}

/// The camera's two kinds of track.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// The microphone.
    Audio,
    /// The camera.
    Video,
}

/// What the machine asks the browser to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Send this message on the signaling socket (dropped if it is down: reconnecting
    /// sends Call again by itself).
    Send(ClientMsg),
    /// Ask for camera and microphone; answer with [`Input::CameraOpened`] or
    /// [`Input::CameraFailed`].
    OpenCamera,
    /// Enable or disable the camera's tracks of this kind (they keep flowing, only
    /// disabled, so nothing is renegotiated).
    EnableTracks { track: Track, on: bool },
    /// Something to do to the peer connections (see [`super::negotiation`]).
    Peer(PeerCommand),
    /// Fire [`Input::TimerFired`] with `timer` after this long.
    StartTimer { timer: Timer, after: Duration },
    /// The socket is lost: pace the attempts to open a new one for what waits for this tab.
    Reconnect(Waiting),
    /// Do not open a new socket once this one closes (the visitor is banned).
    StopReconnecting,
    /// A call with a stranger began (for the list of recent strangers).
    MetStranger(CallId),
    /// The call with a stranger is over: it joins the list of recent strangers.
    LeftStranger {
        call_id: CallId,
        shared_interests: Vec<String>,
    },
    /// Log this for developers; the visitor need not know.
    Warn(String),
    /// Play the short "stranger found" sound (unless the visitor switched it off).
    Chime,
    /// Show this on the page.
    Show(Field),
}

/// Everything the lobby shows that the call decides, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// `data-state` of the status line.
    pub call_state: CallState,
    /// The status line's sentence.
    pub status: String,
    /// How many are online, once the socket said so.
    pub online: Option<u32>,
    /// The controls work: hydrated and not banned.
    pub ready: bool,
    /// This call's chat.
    pub chat: Vec<ChatLine>,
    /// The stranger is typing.
    pub stranger_typing: bool,
    /// The interests both listed, when they made the match.
    pub shared_interests: Vec<String>,
    /// The language both prefer (a code), or empty.
    pub shared_language: String,
    /// The stranger meets by text only.
    pub partner_text_only: bool,
    /// This visitor's microphone switch.
    pub mic_on: bool,
    /// This visitor's camera switch.
    pub camera_on: bool,
    /// The stranger's microphone switch.
    pub stranger_mic: bool,
    /// The stranger's camera switch.
    pub stranger_camera: bool,
    /// The call's round-trip time and loss, once measured.
    pub quality: Option<String>,
    /// When the current call connected (ms since the epoch); none outside a connected call.
    pub call_since: Option<Millis>,
    /// A stranger was found while the tab was hidden, and the visitor has not looked yet.
    pub unseen_stranger: bool,
}

/// One changed field of the [`Page`], named after it, with its new value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    CallState(CallState),
    Status(String),
    Online(Option<u32>),
    Ready(bool),
    Chat(Vec<ChatLine>),
    StrangerTyping(bool),
    SharedInterests(Vec<String>),
    SharedLanguage(String),
    PartnerTextOnly(bool),
    MicOn(bool),
    CameraOn(bool),
    StrangerMic(bool),
    StrangerCamera(bool),
    Quality(Option<String>),
    CallSince(Option<Millis>),
    UnseenStranger(bool),
}

/// Where the camera is: it opens on the first video Call and stays open between calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Camera {
    Closed,
    Opening,
    Open,
}

/// Where the call stands.
#[derive(Debug)]
enum Phase {
    /// Call not pressed (or ended).
    Idle(IdleWhy),
    /// Call pressed; the camera is opening. Call goes out once it is open. Not yet
    /// calling_clicked: the server knows nothing.
    OpeningCamera,
    /// In the pool, waiting for a stranger.
    Searching(SearchWhy),
    /// Matched; the connections race (a text-only call skips this).
    Connecting(Call),
    /// Seeing the stranger (the race has a winner), or chatting in a text-only call.
    Connected(Call),
    /// The socket dropped while calling: Call goes out again once a new socket opens.
    Reconnecting,
}

/// How the visitor came to be idle, for the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdleWhy {
    /// Nothing happened yet (or the socket came back).
    Fresh,
    /// The visitor pressed End (or the page ended the call for them).
    Ended,
}

/// How the visitor came to be searching, for the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SearchWhy {
    Call,
    Next,
    Reported,
    Blocked,
    PartnerGone(EndReason),
}

/// A sentence that stands in for the phase's own until the phase changes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Notice {
    /// The socket closed unexpectedly; a new one is on its way.
    ConnectionLost,
    /// The server said it is shutting down before the socket closed.
    Restarting,
    /// The server refused something, in its own words.
    Server(String),
    /// The camera could not be opened.
    Camera(String),
    /// The interests break the rules.
    Interests(String),
    /// Hiding the IP needs a TURN server and the site has none.
    NoRelay,
    /// A connection failed while connecting (through the relay or directly).
    CannotConnect { relay: bool },
    /// The stranger lost their socket and may come back.
    PartnerAway,
}

impl Notice {
    fn text(&self) -> String {
        match self {
            Notice::ConnectionLost => RECONNECTING.into(),
            Notice::Restarting => RESTARTING.into(),
            Notice::Server(message) | Notice::Interests(message) => message.clone(),
            Notice::Camera(why) => {
                format!("{why} Or tick \"Text only\" to meet strangers by chat.")
            }
            Notice::NoRelay => NO_RELAY.into(),
            Notice::CannotConnect { relay: true } => RELAY_FAILED.into(),
            Notice::CannotConnect { relay: false } => DIRECT_FAILED.into(),
            Notice::PartnerAway => PARTNER_AWAY.into(),
        }
    }
}

/// What the two of a new call have in common, as the server said.
#[derive(Debug)]
struct Shared {
    interests: Vec<String>,
    language: String,
}

/// How the call's winning connection is doing, once the race is won.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Health {
    #[default]
    Up,
    /// `disconnected`, for less than [`RESTART_GRACE`] so far.
    Wavering,
    /// `failed`, or `disconnected` past the grace: ICE is (to be) restarted.
    Down,
}

/// The winning connection's way back after a network change (see the module documentation).
#[derive(Debug, Default)]
struct Recovery {
    health: Health,
    /// Moves on whenever what a pending timer was armed for changed (the connection came back,
    /// the partner became reachable or unreachable), so that timer does nothing.
    epoch: u32,
    /// A restart's offer waits for its answer: no other restart until it arrives.
    in_flight: bool,
    /// Restarts made since the partner was last reachable.
    attempts: u32,
}

impl Recovery {
    /// Nothing to mend any more: healthy, and every pending timer void.
    fn over(&mut self) {
        *self = Recovery {
            epoch: self.epoch.wrapping_add(1),
            ..Recovery::default()
        };
    }
}

/// One call: a match with one stranger, and what belongs to it.
#[derive(Debug)]
struct Call {
    id: CallId,
    shared_interests: Vec<String>,
    /// The language both prefer (a code), or empty.
    shared_language: String,
    partner_text_only: bool,
    /// peer1 and peer2; none in a text-only call (the chat goes through the server).
    negotiation: Option<Negotiation>,
    chat: Vec<ChatLine>,
    stranger_typing: bool,
    stranger_mic: bool,
    stranger_camera: bool,
    quality: Option<String>,
    /// When the call first connected; it keeps counting from there until it ends.
    connected_at: Option<Millis>,
    /// This tab lost its socket during the call, and no new socket has said the call is still
    /// its own (`resumed`) yet. Nothing said to the partner meanwhile reaches it.
    unconfirmed: bool,
    /// The stranger lost their socket (`partner_away`) and is not back yet.
    partner_away: bool,
    recovery: Recovery,
}

/// The browser's side of calls; see the module documentation.
#[derive(Debug)]
pub struct Machine {
    phase: Phase,
    notice: Option<Notice>,
    /// What to show once the socket closes, instead of "reconnecting" (set by
    /// `shutting_down` and by refusals that close the socket).
    closing: Option<Notice>,
    /// The choices of the last Call, and the Call message they made.
    choices: Choices,
    call_msg: ClientMsg,
    hydrated: bool,
    /// Banned: nothing works until the page is reloaded after the ban is lifted.
    banned: bool,
    online: Option<u32>,
    /// The site has a TURN server, so hiding the IP can work.
    has_relay: bool,
    /// The camera: closed, opening, or open (it stays open between calls).
    camera: Camera,
    /// The browser already lets this site use the camera: a Call searches while it opens.
    camera_permitted: bool,
    mic_on: bool,
    camera_on: bool,
    /// When this side last typed, while the stranger is told it is typing.
    typing_since: Option<Millis>,
    /// Counts the stranger's "typing" messages, so an older fade timer does nothing.
    typing_fades: u32,
    /// Chat lines numbered within the page's life, for the list's keys.
    next_line: u32,
    /// A reloaded tab back in its call, waiting for the camera to open.
    resuming: Option<(CallId, Shared, bool)>,
    /// The last call this page left (End, Next, a report, a block, or the stranger left): if
    /// the server still holds it for this tab when the socket comes back, the tab left it
    /// while the socket was down, and ends it now.
    left: Option<CallId>,
    /// The time of the input being handled, as the controller last set it.
    now: Millis,
    /// The tab is in the background.
    hidden: bool,
    /// A stranger was found while the tab was hidden and it has not been in front since.
    unseen_stranger: bool,
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

impl Machine {
    /// A freshly loaded page: idle, the socket not yet open.
    pub fn new() -> Self {
        Machine {
            phase: Phase::Idle(IdleWhy::Fresh),
            notice: None,
            closing: None,
            choices: Choices::default(),
            call_msg: ClientMsg::call(),
            hydrated: false,
            banned: false,
            online: None,
            has_relay: false,
            camera: Camera::Closed,
            camera_permitted: false,
            mic_on: true,
            camera_on: true,
            typing_since: None,
            typing_fades: 0,
            next_line: 0,
            resuming: None,
            left: None,
            now: 0,
            hidden: false,
            unseen_stranger: false,
        }
    }

    /// Sets the clock for the inputs that follow. The controller sets it before every input,
    /// so what an input starts (a call's time) is stamped with the moment it arrived, while
    /// the rules stay free of any real clock and tests choose the time.
    pub fn set_time(&mut self, now: Millis) {
        self.now = now;
    }

    /// Takes one input; returns what to do, ending with the page fields that changed.
    pub fn handle(&mut self, input: Input) -> Vec<Command> {
        let before = self.page();
        let mut out = Vec::new();
        self.step(input, &mut out);
        diff(&before, &self.page(), &mut out);
        out
    }

    /// What the page shows now.
    pub fn page(&self) -> Page {
        let call = self.call();
        Page {
            call_state: match &self.phase {
                Phase::Idle(_) => CallState::Idle,
                Phase::OpeningCamera | Phase::Searching(_) | Phase::Reconnecting => {
                    CallState::Searching
                }
                Phase::Connecting(_) => CallState::Connecting,
                Phase::Connected(_) => CallState::Connected,
            },
            status: self.status(),
            online: self.online,
            ready: self.hydrated && !self.banned,
            chat: call.map(|c| c.chat.clone()).unwrap_or_default(),
            stranger_typing: call.is_some_and(|c| c.stranger_typing),
            shared_interests: call.map(|c| c.shared_interests.clone()).unwrap_or_default(),
            shared_language: call.map(|c| c.shared_language.clone()).unwrap_or_default(),
            partner_text_only: call.is_some_and(|c| c.partner_text_only),
            mic_on: self.mic_on,
            camera_on: self.camera_on,
            stranger_mic: call.is_none_or(|c| c.stranger_mic),
            stranger_camera: call.is_none_or(|c| c.stranger_camera),
            quality: call.and_then(|c| c.quality.clone()),
            call_since: match &self.phase {
                Phase::Connected(call) => call.connected_at,
                _ => None,
            },
            unseen_stranger: self.unseen_stranger && call.is_some(),
        }
    }

    /// The status line: the notice if there is one, else the phase's own sentence.
    fn status(&self) -> String {
        if let Some(notice) = &self.notice {
            return notice.text();
        }
        match &self.phase {
            Phase::Idle(IdleWhy::Fresh) => IDLE_STATUS.into(),
            Phase::Idle(IdleWhy::Ended) => ENDED.into(),
            Phase::OpeningCamera => STARTING_CAMERA.into(),
            Phase::Searching(SearchWhy::Call) => LOOKING.into(),
            Phase::Searching(SearchWhy::Next) => LOOKING_AGAIN.into(),
            Phase::Searching(SearchWhy::Reported) => REPORTED.into(),
            Phase::Searching(SearchWhy::Blocked) => BLOCKED.into(),
            Phase::Searching(SearchWhy::PartnerGone(reason)) => ended_status(*reason).into(),
            Phase::Connecting(_) => CONNECTING.into(),
            Phase::Connected(call) if call.negotiation.is_none() => TEXT_CONNECTED.into(),
            Phase::Connected(call) if call.recovery.health == Health::Down => RESTORING.into(),
            Phase::Connected(_) => CONNECTED.into(),
            Phase::Reconnecting => RECONNECTING.into(),
        }
    }

    fn step(&mut self, input: Input, out: &mut Vec<Command>) {
        match input {
            Input::Hydrated => self.hydrated = true,
            Input::Call(choices) => self.call_pressed(choices, out),
            Input::Choices(choices) => {
                if !self.calling() {
                    let _ = self.adopt(choices);
                }
            }
            Input::Next => self.next(out),
            Input::End => self.end(out),
            Input::Escape => {
                // Esc is Next wherever the focus is, once the page works and Call was pressed.
                if self.hydrated && !self.banned && !matches!(self.phase, Phase::Idle(_)) {
                    self.next(out);
                }
            }
            Input::Report(reason) => self.report(reason, false, out),
            Input::ReportScreened => self.report(ReportReason::Nudity, true, out),
            Input::Block => self.block(out),
            Input::SendChat(text) => self.send_chat(text, out),
            Input::Typing { active, now } => self.typing(active, now, out),
            Input::ToggleMic => {
                self.mic_on = !self.mic_on;
                self.enable_tracks(Track::Audio, self.mic_on, out);
                self.tell_media(out);
            }
            Input::ToggleCamera => {
                self.camera_on = !self.camera_on;
                self.enable_tracks(Track::Video, self.camera_on, out);
                self.tell_media(out);
            }
            Input::IceServers(servers) => self.has_relay = has_relay(&servers),
            Input::CameraPermitted => self.camera_permitted = true,
            Input::CameraOpened => {
                self.camera = Camera::Open;
                // A switch turned off before the camera opened holds for its tracks too.
                if !self.mic_on {
                    self.enable_tracks(Track::Audio, false, out);
                }
                if !self.camera_on {
                    self.enable_tracks(Track::Video, false, out);
                }
                // A call met while the camera opened: its peer1 offers now (see `race`).
                if let Some(negotiation) = self.call_mut().and_then(|c| c.negotiation.as_mut()) {
                    peer_commands(negotiation.offer(), out);
                }
                if matches!(self.phase, Phase::OpeningCamera) {
                    match self.resuming.take() {
                        // A reloaded tab back in its call: now it can show the stranger.
                        Some((call_id, shared, partner_text_only)) => {
                            self.enter(Phase::Searching(SearchWhy::Call));
                            self.matched(call_id, shared, partner_text_only, out);
                        }
                        None => self.search(SearchWhy::Call, out),
                    }
                }
            }
            Input::CameraFailed(why) => {
                self.camera = Camera::Closed;
                self.resuming = None;
                if matches!(self.phase, Phase::OpeningCamera) {
                    self.enter(Phase::Idle(IdleWhy::Fresh));
                    self.notice = Some(Notice::Camera(why));
                } else if self.calling() && !self.choices.text_only {
                    // It opened while the server searched (the browser had allowed it), and
                    // failed after all: a video call cannot go on without it.
                    self.end(out);
                    self.notice = Some(Notice::Camera(why));
                }
            }
            Input::SocketOpened => self.socket_opened(out),
            Input::SocketLost => {
                // A reconnect attempt that fails while the server restarts is still the restart.
                let restarting = self.notice == Some(Notice::Restarting);
                let calling = self.calling();
                self.online = None;
                // Lost without a goodbye (a stopping server's sessions are gone with it): the
                // call is held, since its connection may still carry the stranger and the
                // server keeps the call for a while (`resumed` tells).
                let goodbye = self.closing.is_some();
                if let Some(call) = self.call_mut().filter(|_| !goodbye) {
                    call.unconfirmed = true;
                    self.unreachable();
                    // The server keeps the call for `--reload-grace` only: come back soon.
                    out.push(Command::Reconnect(Waiting::Call));
                } else {
                    out.push(Command::Reconnect(Waiting::Nothing));
                    self.hang_up(out);
                    if calling {
                        self.enter(Phase::Reconnecting);
                    }
                }
                let why = match self.closing.take() {
                    Some(why) => why,
                    None if restarting => Notice::Restarting,
                    None => Notice::ConnectionLost,
                };
                self.notice = Some(why);
            }
            Input::Server(msg) => self.server(msg, out),
            Input::Peer(report) => self.peer(report, out),
            Input::TimerFired { timer, now } => self.timer(timer, now, out),
            Input::Visibility { hidden } => {
                self.hidden = hidden;
                if !hidden {
                    self.unseen_stranger = false;
                }
            }
        }
    }

    /// Call: check the choices, open the camera if a video call needs it, then search.
    fn call_pressed(&mut self, choices: Choices, out: &mut Vec<Command>) {
        if !matches!(self.phase, Phase::Idle(_)) || !choices.terms_accepted {
            return;
        }
        if let Err(notice) = self.adopt(choices) {
            self.notice = Some(notice);
            return;
        }
        let needs_camera = !self.choices.text_only && self.camera == Camera::Closed;
        if needs_camera && !self.camera_permitted {
            // The browser may ask the visitor first, and the answer may be no: the search
            // waits for the camera. Searching at once (as the page shows it), so a second
            // click does nothing.
            self.open_camera(out);
            self.enter(Phase::OpeningCamera);
        } else {
            // Allowed already: the camera opens while the server searches, and the
            // connections wait for it in the controller (a real camera takes a good part of
            // a second to start).
            if needs_camera {
                self.open_camera(out);
            }
            self.search(SearchWhy::Call, out);
        }
    }

    /// Takes the visitor's choices for the calls to come, and the Call message they make; or
    /// says why they cannot be.
    fn adopt(&mut self, choices: Choices) -> Result<(), Notice> {
        let typed: Vec<&str> = choices.interests.split(',').collect();
        let interests = normalize_interests(&typed).map_err(Notice::Interests)?;
        if choices.hide_ip && !choices.text_only && !self.has_relay {
            return Err(Notice::NoRelay);
        }
        self.call_msg = ClientMsg::Call {
            interests,
            text_only: choices.text_only,
            language: choices.language.clone(),
        };
        self.choices = choices;
        Ok(())
    }

    /// Sends Call (if the socket is down, it goes out again once a new one opens).
    fn search(&mut self, why: SearchWhy, out: &mut Vec<Command>) {
        self.enter(Phase::Searching(why));
        out.push(Command::Send(self.call_msg.clone()));
    }

    fn next(&mut self, out: &mut Vec<Command>) {
        // Before calling_clicked Next has nothing to leave. (It is reachable only while the
        // camera opens, since the button and Esc are off when idle.)
        if !self.calling() {
            return;
        }
        self.hang_up(out);
        self.enter(Phase::Searching(SearchWhy::Next));
        out.push(Command::Send(ClientMsg::Next));
    }

    fn end(&mut self, out: &mut Vec<Command>) {
        self.hang_up(out);
        self.enter(Phase::Idle(IdleWhy::Ended));
        out.push(Command::Send(ClientMsg::End));
    }

    /// Report → next: report the current stranger, leave them and look for someone new.
    fn report(&mut self, reason: ReportReason, screened: bool, out: &mut Vec<Command>) {
        let Some(call_id) = self.call_id() else {
            return;
        };
        out.push(Command::Send(ClientMsg::Report {
            call_id,
            reason,
            screened,
        }));
        self.hang_up(out);
        self.enter(Phase::Searching(SearchWhy::Reported));
        out.push(Command::Send(ClientMsg::Next));
    }

    /// Block → next: never meet the current stranger again, and look for someone new.
    fn block(&mut self, out: &mut Vec<Command>) {
        let Some(call_id) = self.call_id() else {
            return;
        };
        out.push(Command::Send(ClientMsg::Block { call_id }));
        self.hang_up(out);
        self.enter(Phase::Searching(SearchWhy::Blocked));
        out.push(Command::Send(ClientMsg::Next));
    }

    fn send_chat(&mut self, text: String, out: &mut Vec<Command>) {
        let Some(call_id) = self.call_id() else {
            return;
        };
        self.stop_typing(call_id, out);
        out.push(Command::Send(ClientMsg::Chat {
            call_id,
            text: text.clone(),
        }));
        self.add_line(true, text);
    }

    /// Tells the stranger this side is typing, at most once until it stops: after
    /// [`TYPING_IDLE`] without a keystroke, or when the line is sent or erased.
    fn typing(&mut self, active: bool, now: Millis, out: &mut Vec<Command>) {
        let Some(call_id) = self.call_id() else {
            return;
        };
        if !active {
            self.stop_typing(call_id, out);
        } else if self.typing_since.replace(now).is_none() {
            out.push(Command::Send(ClientMsg::Typing {
                call_id,
                typing: true,
            }));
            out.push(Command::StartTimer {
                timer: Timer::TypingIdle(call_id),
                after: TYPING_IDLE,
            });
        }
    }

    fn stop_typing(&mut self, call_id: CallId, out: &mut Vec<Command>) {
        if self.typing_since.take().is_some() {
            out.push(Command::Send(ClientMsg::Typing {
                call_id,
                typing: false,
            }));
        }
    }

    fn timer(&mut self, timer: Timer, now: Millis, out: &mut Vec<Command>) {
        match timer {
            Timer::TypingIdle(call_id) => {
                // A timer of an earlier call: that call's hang-up already stopped typing.
                if self.call_id() != Some(call_id) {
                    return;
                }
                let Some(last) = self.typing_since else {
                    return;
                };
                if now.saturating_sub(last) >= TYPING_IDLE.as_millis() as Millis {
                    self.stop_typing(call_id, out);
                } else {
                    out.push(Command::StartTimer {
                        timer,
                        after: TYPING_IDLE,
                    });
                }
            }
            Timer::TypingFade(count) => {
                if count == self.typing_fades {
                    if let Some(call) = self.call_mut() {
                        call.stranger_typing = false;
                    }
                }
            }
            Timer::Ice { call, epoch, step } => self.ice_timer(call, epoch, step, out),
        }
    }

    /// Whether `role` is the winning connection of the current call `call_id`, as it stands
    /// connected (a call being raced anew has no winner yet).
    fn is_winner(&mut self, call_id: CallId, role: Role) -> bool {
        matches!(self.phase, Phase::Connected(_))
            && self.negotiation(call_id).and_then(|n| n.winner()) == Some(role)
    }

    /// Whether call `call_id`'s winning connection went down since it came up (and is being
    /// waited for or restarted).
    fn mending(&mut self, call_id: CallId) -> bool {
        self.current(call_id)
            .is_some_and(|call| call.recovery.health != Health::Up)
    }

    /// The winning connection is back (by itself, or restarted).
    fn winner_up(&mut self, call_id: CallId) {
        if let Some(call) = self.current(call_id) {
            call.recovery.over();
        }
    }

    /// The winning connection went `disconnected`: it has [`RESTART_GRACE`] to come back.
    fn winner_wavers(&mut self, call_id: CallId, out: &mut Vec<Command>) {
        let Some(call) = self.current(call_id) else {
            return;
        };
        if call.recovery.health != Health::Up {
            return;
        }
        call.recovery.health = Health::Wavering;
        call.recovery.epoch = call.recovery.epoch.wrapping_add(1);
        out.push(Command::StartTimer {
            timer: Timer::Ice {
                call: call_id,
                epoch: call.recovery.epoch,
                step: IceStep::Grace,
            },
            after: RESTART_GRACE,
        });
    }

    /// The winning connection is down (failed, or disconnected past the grace): mend it, now
    /// if the partner can be reached, else once it can.
    fn winner_down(&mut self, call_id: CallId, out: &mut Vec<Command>) {
        let Some(call) = self.current(call_id) else {
            return;
        };
        if call.recovery.health == Health::Down {
            return;
        }
        call.recovery.health = Health::Down;
        self.reachable(out);
    }

    /// Nothing reaches the partner now (this tab's socket or theirs is gone): timers armed
    /// until now do nothing, and a restart's offer in flight is lost.
    fn unreachable(&mut self) {
        if let Some(call) = self.call_mut() {
            call.recovery.epoch = call.recovery.epoch.wrapping_add(1);
            call.recovery.in_flight = false;
        }
    }

    /// The partner may be reachable again (or the connection just went down): if both sockets
    /// are in the call, mending starts over: the bound starts now, and the winner's offerer
    /// restarts. A connection that was wavering gets its grace again.
    fn reachable(&mut self, out: &mut Vec<Command>) {
        let Some(call) = self.call_mut() else {
            return;
        };
        let call_id = call.id;
        if call.unconfirmed || call.partner_away {
            return;
        }
        let Some(negotiation) = &call.negotiation else {
            return;
        };
        let offerer = negotiation.offers_the_winner();
        let recovery = &mut call.recovery;
        let (step, after) = match recovery.health {
            Health::Up => return,
            Health::Wavering => (IceStep::Grace, RESTART_GRACE),
            Health::Down if offerer => (IceStep::GiveUp, RESTART_BOUND),
            Health::Down => (IceStep::GiveUp, ANSWERER_BOUND),
        };
        recovery.epoch = recovery.epoch.wrapping_add(1);
        recovery.in_flight = false;
        recovery.attempts = 0;
        let epoch = recovery.epoch;
        out.push(Command::StartTimer {
            timer: Timer::Ice {
                call: call_id,
                epoch,
                step,
            },
            after,
        });
        if recovery.health == Health::Down {
            self.restart_ice(call_id, out);
        }
    }

    /// The winner's offerer restarts ICE on it, unless a restart waits for its answer. (The
    /// other side waits for the offer.)
    fn restart_ice(&mut self, call_id: CallId, out: &mut Vec<Command>) {
        let Some(call) = self.current(call_id) else {
            return;
        };
        let Some(negotiation) = call.negotiation.as_mut() else {
            return;
        };
        if call.recovery.in_flight || !negotiation.offers_the_winner() {
            return;
        }
        let commands = negotiation.restart();
        if commands.is_empty() {
            return;
        }
        peer_commands(commands, out);
        let recovery = &mut call.recovery;
        recovery.in_flight = true;
        recovery.attempts += 1;
        out.push(Command::StartTimer {
            timer: Timer::Ice {
                call: call_id,
                epoch: recovery.epoch,
                step: IceStep::Retry(recovery.attempts),
            },
            after: RESTART_RETRY,
        });
    }

    fn ice_timer(&mut self, call_id: CallId, epoch: u32, step: IceStep, out: &mut Vec<Command>) {
        let Some(call) = self.current(call_id) else {
            return;
        };
        // Armed for a moment that is over (the connection came back, a socket went or came).
        if call.recovery.epoch != epoch {
            return;
        }
        match (step, call.recovery.health) {
            (IceStep::Grace, Health::Wavering) => self.winner_down(call_id, out),
            (IceStep::Retry(n), Health::Down) if n == call.recovery.attempts => {
                self.restart_ice(call_id, out)
            }
            (IceStep::GiveUp, Health::Down) => {
                // Not back in place: both race anew, in the same call.
                out.push(Command::Send(ClientMsg::Reconnect {
                    call_id,
                    in_place: false,
                }));
                self.partner_back(call_id, out);
            }
            _ => {}
        }
    }

    fn open_camera(&mut self, out: &mut Vec<Command>) {
        self.camera = Camera::Opening;
        out.push(Command::OpenCamera);
    }

    fn enable_tracks(&mut self, track: Track, on: bool, out: &mut Vec<Command>) {
        if self.camera == Camera::Open {
            out.push(Command::EnableTracks { track, on });
        }
    }

    /// Tells the stranger of the current call whether this side's mic and camera are on.
    fn tell_media(&mut self, out: &mut Vec<Command>) {
        if let Some(call_id) = self.call_id() {
            out.push(Command::Send(ClientMsg::Media {
                call_id,
                mic: self.mic_on,
                camera: self.camera_on,
            }));
        }
    }

    fn socket_opened(&mut self, out: &mut Vec<Command>) {
        if self.call().is_some() {
            // The held call: a server that kept it ignores this Call and says `resumed`; one
            // that did not searches, and the held call ends then.
            out.push(Command::Send(self.call_msg.clone()));
        } else if self.calling() {
            // A new socket is a new session to the server: call again.
            self.hang_up(out);
            self.search(SearchWhy::Call, out);
        } else if matches!(
            self.notice,
            Some(Notice::ConnectionLost | Notice::Restarting)
        ) {
            if matches!(self.phase, Phase::Idle(_)) {
                self.enter(Phase::Idle(IdleWhy::Fresh));
            } else {
                self.notice = None;
            }
        }
    }

    fn server(&mut self, msg: ServerMsg, out: &mut Vec<Command>) {
        match msg {
            ServerMsg::Online { count } => self.online = Some(count),
            ServerMsg::Searching => {
                // After `call_ended` the page already searches and its status says why.
                if matches!(self.phase, Phase::Connecting(_) | Phase::Connected(_)) {
                    self.hang_up(out);
                    self.enter(Phase::Searching(SearchWhy::Call));
                }
            }
            ServerMsg::Matched {
                call_id,
                shared_interests: interests,
                partner_text_only,
                shared_language: language,
            } => {
                let shared = Shared {
                    interests,
                    language,
                };
                self.matched(call_id, shared, partner_text_only, out)
            }
            ServerMsg::Chat { call_id, text } => {
                if let Some(call) = self.current(call_id) {
                    call.stranger_typing = false;
                    self.add_line(false, text);
                }
            }
            ServerMsg::Typing { call_id, typing } => {
                let Some(call) = self.current(call_id) else {
                    return;
                };
                call.stranger_typing = typing;
                self.typing_fades = self.typing_fades.wrapping_add(1);
                if typing {
                    out.push(Command::StartTimer {
                        timer: Timer::TypingFade(self.typing_fades),
                        after: TYPING_FADE,
                    });
                }
            }
            ServerMsg::Media {
                call_id,
                mic,
                camera,
            } => {
                if let Some(call) = self.current(call_id) {
                    call.stranger_mic = mic;
                    call.stranger_camera = camera;
                }
            }
            ServerMsg::Offer { call_id, sdp } => {
                if let Some(negotiation) = self.negotiation(call_id) {
                    let commands = negotiation.on_offer(sdp);
                    peer_commands(commands, out);
                }
            }
            ServerMsg::Answer { call_id, sdp } => {
                if let Some(negotiation) = self.negotiation(call_id) {
                    let commands = negotiation.on_answer(sdp);
                    peer_commands(commands, out);
                }
            }
            ServerMsg::Ice {
                call_id,
                role,
                candidate,
            } => {
                if let Some(negotiation) = self.negotiation(call_id) {
                    let commands = negotiation.on_ice(role, candidate);
                    peer_commands(commands, out);
                }
            }
            ServerMsg::Winner { call_id, role } => self.winner(call_id, role, out),
            ServerMsg::Resumed {
                call_id,
                shared_interests: interests,
                partner_text_only,
                shared_language: language,
            } => {
                let shared = Shared {
                    interests,
                    language,
                };
                self.resumed(call_id, shared, partner_text_only, out)
            }
            ServerMsg::PartnerAway { call_id } => {
                if let Some(call) = self.current(call_id) {
                    call.partner_away = true;
                    self.notice = Some(Notice::PartnerAway);
                    self.unreachable();
                }
            }
            ServerMsg::PartnerBack {
                call_id,
                in_place: true,
            } => {
                let Some(call) = self.current(call_id) else {
                    return;
                };
                call.partner_away = false;
                if self.notice == Some(Notice::PartnerAway) {
                    self.notice = None;
                }
                self.reachable(out);
            }
            ServerMsg::PartnerBack {
                call_id,
                in_place: false,
            } => self.partner_back(call_id, out),
            ServerMsg::CallEnded { call_id, reason } => {
                if self.current(call_id).is_some() {
                    self.hang_up(out);
                    self.enter(Phase::Searching(SearchWhy::PartnerGone(reason)));
                }
            }
            ServerMsg::Error { code, message } => self.refused(code, message, out),
            ServerMsg::ShuttingDown => self.closing = Some(Notice::Restarting),
            // Idle confirms an End; the rest confirm what the page already acted on (the
            // controller keeps the visitor key and the list of recent strangers).
            ServerMsg::Idle
            | ServerMsg::Reported { .. }
            | ServerMsg::Visitor { .. }
            | ServerMsg::Blocked { .. } => {}
            // The proof of work is the socket's business (`client::proof`): it holds Call
            // until the proof is accepted, so the machine never waits for it.
            ServerMsg::Challenge { .. } | ServerMsg::ProofAccepted => {}
        }
    }

    /// A new stranger: a text-only call is connected at once; a video call starts the race
    /// with peer1's offer.
    fn matched(
        &mut self,
        call_id: CallId,
        shared: Shared,
        partner_text_only: bool,
        out: &mut Vec<Command>,
    ) {
        // An End still on its way to the server will end this call there.
        if !self.calling() {
            return;
        }
        self.hang_up(out);
        out.push(Command::MetStranger(call_id));
        let mut call = Call {
            id: call_id,
            shared_interests: shared.interests,
            shared_language: shared.language,
            partner_text_only,
            negotiation: None,
            chat: Vec::new(),
            stranger_typing: false,
            stranger_mic: true,
            stranger_camera: true,
            quality: None,
            connected_at: None,
            unconfirmed: false,
            partner_away: false,
            recovery: Recovery::default(),
        };
        if self.hidden {
            // The visitor is in another tab, maybe waiting for a long time: tell them.
            self.unseen_stranger = true;
            out.push(Command::Chime);
        }
        if self.choices.text_only || partner_text_only {
            // Nothing to connect: the chat goes through the server.
            self.enter_connected(call);
        } else {
            let (negotiation, commands) = self.race(call_id);
            call.negotiation = Some(negotiation);
            self.enter(Phase::Connecting(call));
            self.tell_media(out);
            peer_commands(commands, out);
        }
    }

    /// The connections of a video call, raced (see `super::negotiation`). peer1 offers at
    /// once, unless the camera is still opening: then the partner's offer is answered first
    /// and peer1 offers once the camera is open (`CameraOpened`). Opening the camera is a
    /// chain of round trips between the page and the browser, each waiting behind the page's
    /// other work; making and offering peer1 meanwhile held the camera up by a hundred
    /// milliseconds or more, and the partner's offer, made while it searched, is the one
    /// that connects first anyway (docs/BENCHMARKS.md, row 5).
    fn race(&self, call_id: CallId) -> (Negotiation, Vec<PeerCommand>) {
        let relay_only = self.choices.hide_ip;
        match self.camera {
            Camera::Opening => (Negotiation::answer_first(call_id, relay_only), Vec::new()),
            Camera::Open | Camera::Closed => Negotiation::start(call_id, relay_only),
        }
    }

    /// This tab is back in its call (see the module documentation). The call it held goes on,
    /// in place if it still has its winning connection, raced anew if not. Otherwise both race
    /// anew: a page that was calling takes it as a new match; a reloaded page opens the camera
    /// first if the call has video.
    fn resumed(
        &mut self,
        call_id: CallId,
        shared: Shared,
        partner_text_only: bool,
        out: &mut Vec<Command>,
    ) {
        if let Some(call) = self.current(call_id).filter(|c| c.unconfirmed) {
            call.unconfirmed = false;
            let in_place = call
                .negotiation
                .as_ref()
                .is_none_or(|n| n.winner().is_some());
            if self.notice == Some(Notice::ConnectionLost) {
                self.notice = None;
            }
            out.push(Command::Send(ClientMsg::Reconnect { call_id, in_place }));
            return match in_place {
                true => self.reachable(out),
                false => self.partner_back(call_id, out),
            };
        }
        if self.left == Some(call_id) {
            // Left while the socket was down (the button worked, its message was lost): the
            // server kept the call for this tab, and ends it now as the visitor asked.
            let leave = match self.calling() {
                true => ClientMsg::Next,
                false => ClientMsg::End,
            };
            return out.push(Command::Send(leave));
        }
        out.push(Command::Send(ClientMsg::Reconnect {
            call_id,
            in_place: false,
        }));
        if self.calling() {
            return self.matched(call_id, shared, partner_text_only, out);
        }
        if !self.choices.text_only && !partner_text_only && self.camera != Camera::Open {
            self.resuming = Some((call_id, shared, partner_text_only));
            if self.camera == Camera::Closed {
                self.open_camera(out);
            }
            self.enter(Phase::OpeningCamera);
            return;
        }
        self.enter(Phase::Searching(SearchWhy::Call));
        self.matched(call_id, shared, partner_text_only, out);
    }

    /// The stranger is back in the call (or this side's connection failed): the connections
    /// are raced anew, the chat goes on.
    fn partner_back(&mut self, call_id: CallId, out: &mut Vec<Command>) {
        if self.current(call_id).is_none() {
            return;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Idle(IdleWhy::Fresh));
        let (Phase::Connecting(mut call) | Phase::Connected(mut call)) = phase else {
            unreachable!("the current call is connecting or connected");
        };
        match call.negotiation.take() {
            Some(old) => {
                peer_commands(old.close(), out);
                let (negotiation, commands) = self.race(call_id);
                call.negotiation = Some(negotiation);
                call.partner_away = false;
                // Whatever mending was under way is over: a new race has no winner to mend.
                call.recovery.over();
                self.enter(Phase::Connecting(call));
                self.tell_media(out);
                peer_commands(commands, out);
            }
            // A text-only call has nothing to connect.
            None => self.enter(Phase::Connected(call)),
        }
    }

    /// The server named the race's winner: the call is connected.
    fn winner(&mut self, call_id: CallId, role: Role, out: &mut Vec<Command>) {
        let Some(negotiation) = self.negotiation(call_id) else {
            return;
        };
        let commands = negotiation.on_winner(role);
        peer_commands(commands, out);
        let phase = std::mem::replace(&mut self.phase, Phase::Idle(IdleWhy::Fresh));
        let (Phase::Connecting(call) | Phase::Connected(call)) = phase else {
            unreachable!("a negotiation lives only in a call");
        };
        self.enter_connected(call);
    }

    fn peer(&mut self, report: PeerReport, out: &mut Vec<Command>) {
        let PeerReport {
            call_id,
            role,
            event,
        } = report;
        // Anything about an earlier call is over here.
        if self.negotiation(call_id).is_none() {
            return;
        }
        match event {
            PeerEvent::LocalDescription(sdp) => out.push(Command::Send(match role {
                Role::Peer1 => ClientMsg::Offer { call_id, sdp },
                Role::Peer2 => ClientMsg::Answer { call_id, sdp },
            })),
            PeerEvent::RemoteDescribed => {
                if let Some(negotiation) = self.negotiation(call_id) {
                    let commands = negotiation.on_described(role);
                    peer_commands(commands, out);
                }
                // A restart's answer arrived: the next one may go when it is due.
                if role == Role::Peer1 {
                    if let Some(call) = self.current(call_id) {
                        call.recovery.in_flight = false;
                    }
                }
            }
            PeerEvent::LocalCandidate(candidate) => out.push(Command::Send(ClientMsg::Ice {
                call_id,
                role,
                candidate,
            })),
            // Every connection that comes up is reported; the server keeps the first. The
            // first one up here is shown before the server's answer.
            PeerEvent::Connected => {
                if self.is_winner(call_id, role) && self.mending(call_id) {
                    // Back after a drop: the server named this winner long ago.
                    return self.winner_up(call_id);
                }
                // Every connection that comes up is reported once, the winner too when the
                // partner's report named it first: only this report lets the partner report
                // what this side showed.
                out.push(Command::Send(ClientMsg::Connected { call_id, role }));
                if let Some(negotiation) = self.negotiation(call_id) {
                    let commands = negotiation.on_connected(role);
                    peer_commands(commands, out);
                }
            }
            PeerEvent::Failed => {
                // The server gives up on the match after the connect timeout; until then, say
                // why the pane stays dark.
                if matches!(self.phase, Phase::Connecting(_)) {
                    self.notice = Some(Notice::CannotConnect {
                        relay: self.choices.hide_ip,
                    });
                }
                // The call's own connection failed (a network change under a phone): mend it
                // in place.
                if self.is_winner(call_id, role) {
                    self.winner_down(call_id, out);
                }
            }
            PeerEvent::Disconnected => {
                if self.is_winner(call_id, role) {
                    self.winner_wavers(call_id, out);
                }
            }
            PeerEvent::Quality(summary) => {
                if let Some(call) = self.current(call_id) {
                    call.quality = Some(summary);
                }
            }
        }
    }

    /// The server refused something; say so where it matters to the visitor.
    fn refused(&mut self, code: ErrorCode, message: String, out: &mut Vec<Command>) {
        match code {
            // Races the protocol expects (a late signal after Next); nothing to tell anyone.
            ErrorCode::BadMessage | ErrorCode::NotInCall | ErrorCode::StaleCall => {
                out.push(Command::Warn(format!(
                    "server refused a message ({code:?}): {message}"
                )));
            }
            ErrorCode::Banned => {
                self.hang_up(out);
                self.enter(Phase::Idle(IdleWhy::Fresh));
                // Nothing works while banned, so the buttons say so, and the page stops
                // knocking.
                self.banned = true;
                out.push(Command::StopReconnecting);
                self.closing = Some(Notice::Server(message.clone()));
                self.notice = Some(Notice::Server(message));
            }
            ErrorCode::MatchingUnavailable => {
                // The server ended this side's call or search; Call works again shortly.
                self.hang_up(out);
                self.enter(Phase::Idle(IdleWhy::Fresh));
                self.notice = Some(Notice::Server(message));
            }
            // The socket holds Call until its proof is accepted, so these mean a bug or a
            // server that changed its mind; the search did not start, and Call works again.
            ErrorCode::ProofRequired => {
                self.hang_up(out);
                self.enter(Phase::Idle(IdleWhy::Fresh));
                self.notice = Some(Notice::Server(message));
            }
            // The socket solves the challenge that follows; nothing for the visitor.
            ErrorCode::BadProof | ErrorCode::ProofExpired => {
                out.push(Command::Warn(format!("proof of work refused: {message}")));
            }
            ErrorCode::NextTooFast => {
                // The server kept us in the call this side already left: end it properly.
                self.end(out);
                self.notice = Some(Notice::Server(message));
            }
            code if code.closes_socket() => {
                self.closing = Some(Notice::Server(message.clone()));
                self.notice = Some(Notice::Server(message));
            }
            _ => self.notice = Some(Notice::Server(message)),
        }
    }

    /// The design's ending on this side (see the module documentation). The phase is left for
    /// the caller to set; the camera stays on.
    fn hang_up(&mut self, out: &mut Vec<Command>) {
        self.typing_since = None;
        // The stranger announced is gone; the next one is announced afresh.
        self.unseen_stranger = false;
        if !matches!(self.phase, Phase::Connecting(_) | Phase::Connected(_)) {
            return;
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Idle(IdleWhy::Fresh));
        if let Phase::Connecting(call) | Phase::Connected(call) = phase {
            self.left = Some(call.id);
            if let Some(negotiation) = call.negotiation {
                peer_commands(negotiation.close(), out);
            }
            out.push(Command::LeftStranger {
                call_id: call.id,
                shared_interests: call.shared_interests,
            });
        }
    }

    /// Moves to `phase`; its own status sentence replaces any notice.
    fn enter(&mut self, phase: Phase) {
        self.notice = None;
        self.phase = phase;
    }

    /// Moves to `Connected`; the call's time starts now unless it already connected.
    fn enter_connected(&mut self, mut call: Call) {
        call.connected_at.get_or_insert(self.now);
        self.enter(Phase::Connected(call));
    }

    /// calling_clicked: Call was pressed and reached the server (or will, on reconnect).
    fn calling(&self) -> bool {
        matches!(
            self.phase,
            Phase::Searching(_) | Phase::Connecting(_) | Phase::Connected(_) | Phase::Reconnecting
        )
    }

    fn call(&self) -> Option<&Call> {
        match &self.phase {
            Phase::Connecting(call) | Phase::Connected(call) => Some(call),
            _ => None,
        }
    }

    fn call_mut(&mut self) -> Option<&mut Call> {
        match &mut self.phase {
            Phase::Connecting(call) | Phase::Connected(call) => Some(call),
            _ => None,
        }
    }

    pub(crate) fn call_id(&self) -> Option<CallId> {
        self.call().map(|c| c.id)
    }

    /// While the page searches for a video call with its camera open, whether that call's
    /// connections are to be relay-only (the visitor hides their IP); `None` otherwise. The
    /// controller keeps a peer1 ready for the match meanwhile (see
    /// `negotiation::Peers::keep_ready`); not while the camera opens (see `race`).
    pub fn video_search(&self) -> Option<bool> {
        let searching = matches!(
            self.phase,
            Phase::OpeningCamera | Phase::Searching(_) | Phase::Reconnecting
        );
        let ready = searching && !self.choices.text_only && self.camera == Camera::Open;
        ready.then_some(self.choices.hide_ip)
    }

    /// The current call, if it is `call_id`: messages for any other call are dropped.
    fn current(&mut self, call_id: CallId) -> Option<&mut Call> {
        self.call_mut().filter(|c| c.id == call_id)
    }

    /// The current call's connections, if it is `call_id` and has video.
    fn negotiation(&mut self, call_id: CallId) -> Option<&mut Negotiation> {
        self.current(call_id)?.negotiation.as_mut()
    }

    fn add_line(&mut self, from_me: bool, text: String) {
        let id = self.next_line;
        self.next_line = id.wrapping_add(1);
        if let Some(call) = self.call_mut() {
            call.chat.push(ChatLine { id, from_me, text });
        }
    }
}

fn peer_commands(commands: Vec<PeerCommand>, out: &mut Vec<Command>) {
    out.extend(commands.into_iter().map(Command::Peer));
}

/// Whether the site gave us a TURN server to relay through.
fn has_relay(servers: &[IceServer]) -> bool {
    servers
        .iter()
        .flat_map(|s| &s.urls)
        .any(|u| u.starts_with("turn:") || u.starts_with("turns:"))
}

fn ended_status(reason: EndReason) -> &'static str {
    match reason {
        EndReason::PartnerNext => "The stranger moved on. Finding someone new…",
        EndReason::PartnerEnded => "The stranger ended the call. Finding someone new…",
        EndReason::PartnerLeft => "The stranger left. Finding someone new…",
        EndReason::ConnectTimeout => "Couldn't connect to that stranger. Finding someone new…",
    }
}

/// Emits [`Command::Show`] for every field that differs.
fn diff(before: &Page, after: &Page, out: &mut Vec<Command>) {
    let mut show = |changed: bool, field: Field| {
        if changed {
            out.push(Command::Show(field));
        }
    };
    show(
        before.call_state != after.call_state,
        Field::CallState(after.call_state),
    );
    show(
        before.status != after.status,
        Field::Status(after.status.clone()),
    );
    show(before.online != after.online, Field::Online(after.online));
    show(before.ready != after.ready, Field::Ready(after.ready));
    show(before.chat != after.chat, Field::Chat(after.chat.clone()));
    show(
        before.stranger_typing != after.stranger_typing,
        Field::StrangerTyping(after.stranger_typing),
    );
    show(
        before.shared_interests != after.shared_interests,
        Field::SharedInterests(after.shared_interests.clone()),
    );
    show(
        before.shared_language != after.shared_language,
        Field::SharedLanguage(after.shared_language.clone()),
    );
    show(
        before.partner_text_only != after.partner_text_only,
        Field::PartnerTextOnly(after.partner_text_only),
    );
    show(before.mic_on != after.mic_on, Field::MicOn(after.mic_on));
    show(
        before.camera_on != after.camera_on,
        Field::CameraOn(after.camera_on),
    );
    show(
        before.stranger_mic != after.stranger_mic,
        Field::StrangerMic(after.stranger_mic),
    );
    show(
        before.stranger_camera != after.stranger_camera,
        Field::StrangerCamera(after.stranger_camera),
    );
    show(
        before.quality != after.quality,
        Field::Quality(after.quality.clone()),
    );
    show(
        before.call_since != after.call_since,
        Field::CallSince(after.call_since),
    );
    show(
        before.unseen_stranger != after.unseen_stranger,
        Field::UnseenStranger(after.unseen_stranger),
    );
}

#[cfg(test)]
mod tests;

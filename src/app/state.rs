//! The lobby's state, grouped by concern: the call, its chat, the media switches, the
//! visitor's preferences and the site's presence. Components take the groups they show, so
//! they import this module and never each other; the browser build writes the same groups.
//!
//! Also the plain vocabulary the page and the browser build share ([`CallState`],
//! [`ChatLine`], [`Action`]) and the [`Driver`] through which the browser build plugs its
//! behaviour in without `app` importing it.

use crate::protocol::{CallId, ReportReason};
use leptos::html::Video;
use leptos::prelude::*;

/// Where the visitor's call stands, as the page shows it (and tests read it, from
/// `data-state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CallState {
    /// Call not pressed.
    #[default]
    Idle,
    /// Waiting for a stranger.
    Searching,
    /// Matched; the WebRTC connection is coming up.
    Connecting,
    /// Seeing and hearing the stranger (or chatting, in a text-only call).
    Connected,
}

impl CallState {
    /// The `data-state` value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Idle => "idle",
            CallState::Searching => "searching",
            CallState::Connecting => "connecting",
            CallState::Connected => "connected",
        }
    }

    /// Matched with a stranger (connecting or connected).
    pub fn in_call(self) -> bool {
        matches!(self, CallState::Connecting | CallState::Connected)
    }
}

/// What the video screening does to the stranger's video (README, "Video screening"); tests
/// read it from the video's `data-screening`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Veil {
    /// Shown as it comes: screening is off, or there is no stranger's video.
    #[default]
    Off,
    /// Blurred: the model is still loading. The visitor may show the video anyway.
    Waiting,
    /// Blurred until the first frame is checked (well under a second).
    Checking,
    /// Sharp: the last frame checked was clean. Frames are still checked.
    Clear,
    /// Blurred: a frame was flagged. The visitor may show it anyway or report the stranger.
    Flagged,
    /// Blurred: screening cannot run in this browser. The visitor may show the video anyway.
    Unavailable,
    /// Sharp for the rest of this call: the visitor chose to see it.
    Shown,
}

impl Veil {
    /// The `data-screening` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Veil::Off => "off",
            Veil::Waiting => "waiting",
            Veil::Checking => "checking",
            Veil::Clear => "clear",
            Veil::Flagged => "flagged",
            Veil::Unavailable => "unavailable",
            Veil::Shown => "shown",
        }
    }

    /// The stranger's video is blurred.
    pub fn blurred(self) -> bool {
        matches!(
            self,
            Veil::Waiting | Veil::Checking | Veil::Flagged | Veil::Unavailable
        )
    }

    /// What the blur says, and whether "Show anyway" and "Report" are offered.
    pub fn label(self) -> Option<(&'static str, bool, bool)> {
        match self {
            Veil::Waiting => Some(("Checking video… (loading the check)", true, false)),
            Veil::Checking => Some(("Checking video…", false, false)),
            Veil::Flagged => Some(("This video may show nudity, so it is blurred.", true, true)),
            Veil::Unavailable => Some((
                "The video check does not work in this browser, so the video is blurred.",
                true,
                false,
            )),
            Veil::Off | Veil::Clear | Veil::Shown => None,
        }
    }
}

/// One line of the chat log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// Numbers lines within the page's life, for the list's keys.
    pub id: u32,
    /// Written by this visitor (otherwise by the stranger).
    pub from_me: bool,
    /// The line, shown as text (never as HTML).
    pub text: String,
}

/// What a person can ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start looking for a stranger.
    Call,
    /// Leave this stranger and find another.
    Next,
    /// Stop.
    End,
    /// Report the stranger for this reason, then move on.
    Report(ReportReason),
    /// Report the stranger for nudity from the video screening's blur, then move on.
    ReportScreened,
    /// Unblur the stranger's video for the rest of this call.
    ShowAnyway,
    /// Never meet this stranger again, then move on.
    Block,
    /// Report the stranger of a recent call.
    ReportRecent(CallId, ReportReason),
    /// Never meet the stranger of a recent call again.
    BlockRecent(CallId),
    /// Forget every stranger this visitor blocked.
    ClearBlocks,
    /// Send a chat line to the stranger.
    SendChat(String),
    /// The chat input has (true) or no longer has (false) text being typed.
    Typing(bool),
    /// Switch the microphone off or back on.
    ToggleMic,
    /// Switch the camera off or back on.
    ToggleCamera,
}

/// The status line before anything happened.
pub const IDLE_STATUS: &str = "Press Call to meet a random stranger.";

/// The call: where it stands, what the status line says, what the match brought.
#[derive(Clone, Copy)]
pub struct CallView {
    /// Where the call stands.
    pub state: RwSignal<CallState>,
    /// The status line, in words a person understands.
    pub status: RwSignal<String>,
    /// The interests both listed, when they made the match.
    pub shared_interests: RwSignal<Vec<String>>,
    /// The language both prefer (a code), or empty.
    pub shared_language: RwSignal<String>,
    /// The stranger meets by text only.
    pub partner_text_only: RwSignal<bool>,
    /// Round-trip time and packet loss of the call, once measured.
    pub quality: RwSignal<Option<String>>,
    /// When the call connected (ms since the epoch, the browser's clock); none outside a
    /// connected call.
    pub connected_since: RwSignal<Option<u64>>,
    /// The stranger's video.
    pub remote_video: NodeRef<Video>,
    /// Whether the video screening blurs the stranger's video.
    pub veil: RwSignal<Veil>,
}

/// The call's text chat.
#[derive(Clone, Copy)]
pub struct ChatView {
    /// This call's lines, cleared when the call ends.
    pub lines: RwSignal<Vec<ChatLine>>,
    /// The stranger is typing right now.
    pub stranger_typing: RwSignal<bool>,
}

/// The cameras and microphones on both sides.
#[derive(Clone, Copy)]
pub struct MediaView {
    /// The visitor's own camera.
    pub local_video: NodeRef<Video>,
    /// This visitor's microphone is on.
    pub mic_on: RwSignal<bool>,
    /// This visitor's camera is on.
    pub camera_on: RwSignal<bool>,
    /// The stranger's microphone is on.
    pub stranger_mic: RwSignal<bool>,
    /// The stranger's camera is on.
    pub stranger_camera: RwSignal<bool>,
}

/// A stranger of a recent call, as the page lists it: nothing that identifies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentStranger {
    pub call_id: CallId,
    /// When the call ended (milliseconds since the epoch).
    pub ended_at: u64,
    /// How long it lasted.
    pub seconds: u32,
    /// The interests the two shared.
    pub shared_interests: Vec<String>,
    pub reported: bool,
    pub blocked: bool,
}

/// The strangers met a moment ago, and those blocked for good.
#[derive(Clone, Copy)]
pub struct RecentView {
    /// The last few strangers, newest first (see `client::recent`).
    pub strangers: RwSignal<Vec<RecentStranger>>,
    /// How many strangers this visitor has blocked, once the server said.
    pub blocked: RwSignal<u32>,
}

/// What the visitor chose; the browser build remembers it for the next visit.
#[derive(Clone, Copy)]
pub struct Preferences {
    /// The visitor accepted the rules (18+, behave); Call works only then.
    pub terms_accepted: RwSignal<bool>,
    /// The interests field, as typed (comma-separated).
    pub interests: RwSignal<String>,
    /// Meet strangers by text only.
    pub text_only: RwSignal<bool>,
    /// The language to speak (a code of `protocol::LANGUAGES`, or empty for any); the browser
    /// build starts from the browser's own.
    pub language: RwSignal<String>,
    /// Calls go only through the TURN relay, so strangers never see this visitor's address.
    pub hide_ip: RwSignal<bool>,
    /// A short sound plays when a stranger is found while the tab is in the background.
    pub found_sound: RwSignal<bool>,
    /// The stranger's video is screened on this device, blurred until checked (the operator's
    /// `--screening` until the visitor chooses).
    pub screen_video: RwSignal<bool>,
}

/// The site around the visitor: who is online, and whether the page works yet.
#[derive(Clone, Copy)]
pub struct Presence {
    /// The live online count from the signaling socket, once it has spoken.
    pub online: RwSignal<Option<u32>>,
    /// The page has hydrated and its controls work (false again if the visitor is banned).
    pub ready: RwSignal<bool>,
}

/// All of the lobby's state, one group per concern.
#[derive(Clone, Copy)]
pub struct PageState {
    /// The call and its status line.
    pub call: CallView,
    /// The call's chat.
    pub chat: ChatView,
    /// Cameras and microphones.
    pub media: MediaView,
    /// The visitor's choices.
    pub prefs: Preferences,
    /// Who is online; whether the page works.
    pub presence: Presence,
    /// Recent strangers and blocks.
    pub recent: RecentView,
}

impl PageState {
    /// The state of a freshly loaded lobby.
    pub(crate) fn new() -> Self {
        PageState {
            call: CallView {
                state: RwSignal::new(CallState::Idle),
                status: RwSignal::new(IDLE_STATUS.to_owned()),
                shared_interests: RwSignal::new(Vec::new()),
                shared_language: RwSignal::new(String::new()),
                partner_text_only: RwSignal::new(false),
                quality: RwSignal::new(None),
                connected_since: RwSignal::new(None),
                remote_video: NodeRef::new(),
                veil: RwSignal::new(Veil::Off),
            },
            chat: ChatView {
                lines: RwSignal::new(Vec::new()),
                stranger_typing: RwSignal::new(false),
            },
            media: MediaView {
                local_video: NodeRef::new(),
                mic_on: RwSignal::new(true),
                camera_on: RwSignal::new(true),
                stranger_mic: RwSignal::new(true),
                stranger_camera: RwSignal::new(true),
            },
            prefs: Preferences {
                terms_accepted: RwSignal::new(false),
                interests: RwSignal::new(String::new()),
                text_only: RwSignal::new(false),
                language: RwSignal::new(String::new()),
                hide_ip: RwSignal::new(false),
                found_sound: RwSignal::new(true),
                screen_video: RwSignal::new(true),
            },
            presence: Presence {
                online: RwSignal::new(None),
                ready: RwSignal::new(false),
            },
            recent: RecentView {
                strangers: RwSignal::new(Vec::new()),
                blocked: RwSignal::new(0),
            },
        }
    }
}

/// Whether a call has no video: this visitor or the stranger is text-only.
pub fn text_call(call: CallView, prefs: Preferences) -> bool {
    prefs.text_only.get() || call.partner_text_only.get()
}

/// The browser build's behaviour, plugged in from outside `app` (see `crate::hydrate`): given
/// the page's state, it starts everything and returns what the buttons call. The server
/// renders without one, and the buttons stay disabled until it runs.
#[derive(Clone, Copy)]
pub struct Driver(pub fn(PageState) -> Callback<Action>);

//! The lobby: the one page of duet. Shows the online count, both videos, the status line, the
//! call buttons and the chat. The browser build drives it through [`LobbyView`].

use super::chat::ChatPanel;
use super::controls::{Action, CallControls};
use super::preferences::{Preferences, TermsGate};
use super::video::{LocalVideo, RemoteVideo};
use crate::api::online_count;
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

/// One line of the chat log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatLine {
    /// Numbers lines within a call, for the list's keys.
    pub id: u32,
    /// Written by this visitor (otherwise by the stranger).
    pub from_me: bool,
    pub text: String,
}

/// The lobby's reactive state: what the page shows, written by the browser build.
#[derive(Clone, Copy)]
pub struct LobbyView {
    /// Where the call stands.
    pub call_state: RwSignal<CallState>,
    /// The status line, in words a person understands.
    pub status: RwSignal<String>,
    /// The live online count from the signaling socket, once it has spoken.
    pub online: RwSignal<Option<u32>>,
    /// The page has hydrated and its controls work (false again if the visitor is banned).
    pub ready: RwSignal<bool>,
    pub local_video: NodeRef<Video>,
    pub remote_video: NodeRef<Video>,
    /// This call's chat, cleared when the call ends.
    pub chat: RwSignal<Vec<ChatLine>>,
    /// The stranger is typing right now.
    pub stranger_typing: RwSignal<bool>,
    /// The interests both listed, when they made the match.
    pub shared_interests: RwSignal<Vec<String>>,
    /// The interests field, as typed (comma-separated).
    pub interests: RwSignal<String>,
    /// Meet strangers by text only.
    pub text_only: RwSignal<bool>,
    /// The stranger meets by text only.
    pub partner_text_only: RwSignal<bool>,
    /// This visitor's microphone and camera are on.
    pub mic_on: RwSignal<bool>,
    pub camera_on: RwSignal<bool>,
    /// The stranger's microphone and camera are on.
    pub stranger_mic: RwSignal<bool>,
    pub stranger_camera: RwSignal<bool>,
    /// Round-trip time and packet loss of the call, once measured.
    pub quality: RwSignal<Option<String>>,
    /// The visitor accepted the rules (18+, behave); Call works only then.
    pub terms_accepted: RwSignal<bool>,
    /// Calls go only through the TURN relay, so strangers never see this visitor's address.
    pub hide_ip: RwSignal<bool>,
}

impl LobbyView {
    fn new() -> Self {
        LobbyView {
            call_state: RwSignal::new(CallState::Idle),
            status: RwSignal::new(IDLE_STATUS.to_owned()),
            online: RwSignal::new(None),
            ready: RwSignal::new(false),
            local_video: NodeRef::new(),
            remote_video: NodeRef::new(),
            chat: RwSignal::new(Vec::new()),
            stranger_typing: RwSignal::new(false),
            shared_interests: RwSignal::new(Vec::new()),
            interests: RwSignal::new(String::new()),
            text_only: RwSignal::new(false),
            partner_text_only: RwSignal::new(false),
            mic_on: RwSignal::new(true),
            camera_on: RwSignal::new(true),
            stranger_mic: RwSignal::new(true),
            stranger_camera: RwSignal::new(true),
            quality: RwSignal::new(None),
            terms_accepted: RwSignal::new(false),
            hide_ip: RwSignal::new(false),
        }
    }

    /// Whether this call has no video: this visitor or the stranger is text-only.
    pub fn text_call(&self) -> bool {
        self.text_only.get() || self.partner_text_only.get()
    }
}

/// The status line before anything happened.
pub const IDLE_STATUS: &str = "Press Call to meet a random stranger.";

/// The lobby page.
#[component]
pub fn Lobby() -> impl IntoView {
    let view = LobbyView::new();
    let first_count = Resource::new(|| (), |_| online_count());

    // The server renders the page; only the browser build can act on a click.
    #[cfg(feature = "hydrate")]
    let on_action: Callback<Action> = crate::client::start(view);
    #[cfg(not(feature = "hydrate"))]
    let on_action: Callback<Action> = Callback::new(|_| {});

    let online_text = move || {
        view.online
            .get()
            .or_else(|| first_count.get().and_then(Result::ok))
            .map(|n| format!("{n} online"))
    };

    view! {
        <main class="lobby">
            <header class="topbar">
                <h1>"duet"</h1>
                <p class="online" data-testid="online-count">
                    <Suspense fallback=|| "…">{online_text}</Suspense>
                </p>
            </header>
            <TermsGate view=view/>
            <section class="stage">
                <RemoteVideo view=view/>
                <LocalVideo view=view on_action=on_action/>
            </section>
            <p
                class="status"
                role="status"
                aria-live="polite"
                data-testid="call-state"
                data-state=move || view.call_state.get().as_str()
            >
                {move || view.status.get()}
            </p>
            <Show when=move || !view.shared_interests.get().is_empty()>
                <p class="shared" data-testid="shared-interests">
                    "You both like: " {move || view.shared_interests.get().join(", ")}
                </p>
            </Show>
            <CallControls view=view on_action=on_action/>
            <Preferences view=view/>
            <ChatPanel view=view on_action=on_action/>
            <noscript>
                <p class="noscript">"duet needs JavaScript for video calls."</p>
            </noscript>
        </main>
    }
}

//! The lobby: the one page of duet. Shows the online count, both videos, the status line and
//! the call buttons. The browser build drives it through [`LobbyView`].

use super::controls::{Action, CallControls};
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
    /// Seeing and hearing the stranger.
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
    /// The page has hydrated: the buttons work.
    pub ready: RwSignal<bool>,
    pub local_video: NodeRef<Video>,
    pub remote_video: NodeRef<Video>,
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
        }
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
            <section class="stage">
                <RemoteVideo node_ref=view.remote_video/>
                <LocalVideo node_ref=view.local_video/>
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
            <CallControls view=view on_action=on_action/>
            <noscript>
                <p class="noscript">"duet needs JavaScript for video calls."</p>
            </noscript>
        </main>
    }
}

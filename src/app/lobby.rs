//! The lobby: the one page of duet. Shows the online count, both videos, the status line, the
//! call buttons and the chat. It owns the page's [`PageState`] and hands each component the
//! groups it shows; the browser build, plugged in as a [`Driver`], writes the same state.
//!
//! Two columns on a desktop (style/main.css): the videos on the left, everything else beside
//! them in `.side`, so the whole call fits one screen. On a phone `.side` is no box of its own
//! and everything stacks in this order.

use super::chat::ChatPanel;
use super::controls::CallControls;
use super::preferences::{PreferencesForm, TermsGate};
use super::recent::RecentStrangers;
use super::state::{Action, Driver, PageState};
use super::timer::CallTimer;
use super::video::{LocalVideo, RemoteVideo};
use crate::api::online_at_render;
use crate::protocol::language_name;
use leptos::prelude::*;

/// The lobby page.
#[component]
pub fn Lobby() -> impl IntoView {
    let state = PageState::new();
    // The first paint's count, read while the server renders (None in the browser). No
    // resource and no request: hydration adopts the server's text nodes as they are, so the
    // page shows the server's count until the socket's first `online` replaces it.
    let first_count = online_at_render();

    // The server renders the page without a driver; only the browser build can act on a click.
    let on_action: Callback<Action> = match use_context::<Driver>() {
        Some(Driver(start)) => start(state),
        None => Callback::new(|_| {}),
    };

    let PageState {
        call,
        chat,
        media,
        prefs,
        presence,
        recent,
    } = state;
    let online_text = move || {
        presence
            .online
            .get()
            .or(first_count)
            .map_or_else(|| "…".to_owned(), |n| format!("{n} online"))
    };

    view! {
        <main class="lobby">
            <header class="topbar">
                <h1>"duet"</h1>
                <p class="online" data-testid="online-count">
                    {online_text}
                </p>
            </header>
            <TermsGate prefs=prefs presence=presence/>
            <section class="stage">
                <RemoteVideo call=call media=media prefs=prefs on_action=on_action>
                    <CallTimer call=call/>
                </RemoteVideo>
                <LocalVideo media=media prefs=prefs presence=presence on_action=on_action/>
            </section>
            <div class="side">
                <p
                    class="status"
                    role="status"
                    aria-live="polite"
                    data-testid="call-state"
                    data-state=move || call.state.get().as_str()
                >
                    {move || call.status.get()}
                </p>
                <Show when=move || !call.shared_interests.get().is_empty()>
                    <p class="shared" data-testid="shared-interests">
                        "You both like: " {move || call.shared_interests.get().join(", ")}
                    </p>
                </Show>
                <Show when=move || language_name(&call.shared_language.get()).is_some()>
                    <p class="shared" data-testid="shared-language">
                        "You both speak " {move || language_name(&call.shared_language.get())}
                    </p>
                </Show>
                <CallControls call=call presence=presence prefs=prefs on_action=on_action/>
                <RecentStrangers recent=recent presence=presence on_action=on_action/>
                <PreferencesForm call=call prefs=prefs presence=presence/>
                <ChatPanel call=call chat=chat presence=presence on_action=on_action/>
            </div>
            <noscript>
                <p class="noscript">"duet needs JavaScript for video calls."</p>
            </noscript>
        </main>
    }
}

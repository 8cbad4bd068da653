//! The browser build's behaviour: the signaling socket, the camera, and the call itself.
//! The `app` components stay presentational; [`start`] wires them to all of this.

mod call;
mod media;
mod prefs;
mod rtc;
mod signaling;
mod stats;

use crate::app::{Action, CallState, LobbyView};
use call::CallController;
use leptos::prelude::*;

/// Starts the lobby's behaviour once the page hydrates: opens the signaling socket, fetches the
/// ICE servers, and returns what the buttons call.
pub fn start(view: LobbyView) -> Callback<Action> {
    let controller = CallController::new(view);
    controller.connect();
    prefs::remember(view);
    // Effects run only after hydration, so the buttons turn on exactly when they work.
    Effect::new(move |_| view.ready.set(true));
    // Esc is Next, wherever the focus is (the page shows the hint).
    let _esc = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape"
            && view.ready.get_untracked()
            && view.call_state.get_untracked() != CallState::Idle
        {
            controller.act(Action::Next);
        }
    });
    Callback::new(move |action| controller.act(action))
}

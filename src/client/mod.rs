//! The browser's side of duet: the call logic and what carries it out.
//!
//! [`machine`] holds every rule of a call as a pure state machine and [`negotiation`] the
//! seed's peer1/peer2 race; both compile in every build, so their unit tests run natively
//! with the server's (`cargo test --features ssr`). The rest is the browser build's: the
//! signaling socket, the camera, and (for now) the call controller. The `app` components stay
//! presentational; `start`, plugged into the page as an `app::state::Driver` by
//! `crate::hydrate`, wires them to all of this (`app` never imports `client`).

pub mod machine;
pub mod negotiation;

#[cfg(feature = "hydrate")]
mod call;
#[cfg(feature = "hydrate")]
mod media;
#[cfg(feature = "hydrate")]
mod prefs;
#[cfg(feature = "hydrate")]
mod rtc;
#[cfg(feature = "hydrate")]
mod signaling;
#[cfg(feature = "hydrate")]
mod stats;

#[cfg(feature = "hydrate")]
use crate::app::state::{Action, CallState, PageState};
#[cfg(feature = "hydrate")]
use call::CallController;
#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Starts the lobby's behaviour once the page hydrates: opens the signaling socket, fetches the
/// ICE servers, and returns what the buttons call.
#[cfg(feature = "hydrate")]
pub fn start(state: PageState) -> Callback<Action> {
    let controller = CallController::new(state);
    controller.connect();
    prefs::remember(state.prefs);
    // Effects run only after hydration, so the buttons turn on exactly when they work.
    Effect::new(move |_| state.presence.ready.set(true));
    // Esc is Next, wherever the focus is (the page shows the hint).
    let _esc = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape"
            && state.presence.ready.get_untracked()
            && state.call.state.get_untracked() != CallState::Idle
        {
            controller.act(Action::Next);
        }
    });
    Callback::new(move |action| controller.act(action))
}

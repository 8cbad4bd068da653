//! The browser's side of duet: the call logic and what carries it out.
//!
//! - [`machine`]: every rule of a call as a pure state machine. Compiled in every build, so
//!   its unit tests run natively with the server's (`cargo test --features ssr`).
//! - [`negotiation`]: the design's peer1/peer2 race: the pure rules always, and under `hydrate`
//!   the real peer connections.
//! - [`recent`]: the list of recent strangers, who can still be reported or blocked.
//! - [`sdp`]: the video start rate added to the descriptions a page sends.
//! - Browser build only: the controller that feeds the machine and runs its commands, the
//!   signaling socket and its proof of work (`proof`), the camera, one peer connection
//!   (`rtc`), call quality (`stats`), the remembered preferences (`prefs`), the background
//!   tab's alert (`alert`) and an opt-in
//!   timeline of a call (`timeline`).
//!
//! `client` reads `crate::app::state`; `app` never imports `client`: [`start`] is plugged
//! into the page as an `app::state::Driver` by `crate::hydrate`.

pub mod machine;
pub mod negotiation;
pub mod recent;
pub mod screening;
pub mod sdp;

#[cfg(feature = "hydrate")]
mod alert;
#[cfg(feature = "hydrate")]
mod controller;
#[cfg(feature = "hydrate")]
mod media;
#[cfg(feature = "hydrate")]
mod prefs;
#[cfg(feature = "hydrate")]
mod proof;
#[cfg(feature = "hydrate")]
mod rtc;
#[cfg(feature = "hydrate")]
mod signaling;
#[cfg(feature = "hydrate")]
mod stats;
#[cfg(feature = "hydrate")]
mod timeline;

/// Starts the lobby's behaviour once the page hydrates: opens the signaling socket, fetches the
/// ICE servers, and returns what the buttons call.
#[cfg(feature = "hydrate")]
pub fn start(
    state: crate::app::state::PageState,
) -> leptos::prelude::Callback<crate::app::state::Action> {
    use leptos::prelude::*;
    use machine::Input;

    let screening = screening::browser::Settings::read();
    prefs::remember(state.prefs, screening.default_on);
    let controller = controller::Controller::new(state, screening);
    controller.connect();
    // Effects run only after hydration, so the buttons turn on exactly when they work.
    Effect::new(move |_| controller.feed(Input::Hydrated));
    // Esc is Next, wherever the focus is (the page shows the hint); the machine decides when.
    let _esc = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" {
            controller.feed(Input::Escape);
        }
    });
    // Whether the tab is in the background, now and on every change (the event is fired at
    // the document and bubbles to the window).
    let hidden = || document().hidden();
    controller.feed(Input::Visibility { hidden: hidden() });
    let _visibility = window_event_listener_untyped("visibilitychange", move |_| {
        controller.feed(Input::Visibility { hidden: hidden() })
    });
    Callback::new(move |action| controller.act(action))
}

//! The browser build's behaviour: the signaling socket, the camera, and the call itself.
//! The `app` components stay presentational; [`start`] wires them to all of this.

mod call;
mod media;
mod rtc;
mod signaling;

use crate::app::{Action, LobbyView};
use call::CallController;
use leptos::prelude::*;

/// Starts the lobby's behaviour once the page hydrates: opens the signaling socket, fetches the
/// ICE servers, and returns what the buttons call.
pub fn start(view: LobbyView) -> Callback<Action> {
    let controller = CallController::new(view);
    controller.connect();
    // Effects run only after hydration, so the buttons turn on exactly when they work.
    Effect::new(move |_| view.ready.set(true));
    Callback::new(move |action| controller.act(action))
}

//! The Call / Next / End buttons.

use super::lobby::{CallState, LobbyView};
use leptos::prelude::*;

/// What a person can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start looking for a stranger.
    Call,
    /// Leave this stranger and find another.
    Next,
    /// Stop.
    End,
}

/// The call buttons. Until the page has hydrated they are disabled, so an early click is
/// never silently lost.
#[component]
pub fn CallControls(view: LobbyView, on_action: Callback<Action>) -> impl IntoView {
    let idle = move || view.call_state.get() == CallState::Idle;
    view! {
        <nav class="controls" aria-label="Call controls">
            <button
                class="call"
                disabled=move || !view.ready.get() || !idle()
                on:click=move |_| on_action.run(Action::Call)
            >
                "Call"
            </button>
            <button
                class="next"
                disabled=move || !view.ready.get() || idle()
                on:click=move |_| on_action.run(Action::Next)
            >
                "Next"
            </button>
            <button
                class="end"
                disabled=move || !view.ready.get() || idle()
                on:click=move |_| on_action.run(Action::End)
            >
                "End"
            </button>
        </nav>
    }
}

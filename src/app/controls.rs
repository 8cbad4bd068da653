//! The Call / Next / End buttons.

use super::lobby::{CallState, LobbyView};
use crate::protocol::ReportReason;
use leptos::prelude::*;

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
    /// Send a chat line to the stranger.
    SendChat(String),
    /// The chat input has (true) or no longer has (false) text being typed.
    Typing(bool),
    /// Switch the microphone off or back on.
    ToggleMic,
    /// Switch the camera off or back on.
    ToggleCamera,
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
                disabled=move || !view.ready.get() || !idle() || !view.terms_accepted.get()
                on:click=move |_| on_action.run(Action::Call)
            >
                "Call"
            </button>
            <button
                class="next"
                disabled=move || !view.ready.get() || idle()
                on:click=move |_| on_action.run(Action::Next)
                aria-keyshortcuts="Escape"
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
            <ReportMenu view=view on_action=on_action/>
        </nav>
        <p class="hint" aria-hidden="true">"Press " <kbd>"Esc"</kbd> " for the next stranger."</p>
    }
}

/// Report the current stranger: a menu of reasons, shown only during a call.
#[component]
fn ReportMenu(view: LobbyView, on_action: Callback<Action>) -> impl IntoView {
    let in_call = move || view.ready.get() && view.call_state.get().in_call();
    view! {
        <Show when=in_call>
            <details class="report">
                <summary>"Report"</summary>
                <div class="reasons" role="group" aria-label="Why are you reporting this stranger?">
                    {ReportReason::ALL
                        .into_iter()
                        .map(|reason| {
                            view! {
                                <button on:click=move |_| on_action.run(Action::Report(reason))>
                                    {reason.label()}
                                </button>
                            }
                        })
                        .collect_view()}
                </div>
            </details>
        </Show>
    }
}

//! The Call / Next / End buttons, the Report menu and "Don't match again".

use super::state::{Action, CallState, CallView, Preferences, Presence};
use crate::protocol::ReportReason;
use leptos::prelude::*;

/// The call buttons. Until the page has hydrated they are disabled, so an early click is
/// never silently lost.
#[component]
pub fn CallControls(
    call: CallView,
    presence: Presence,
    prefs: Preferences,
    on_action: Callback<Action>,
) -> impl IntoView {
    let idle = move || call.state.get() == CallState::Idle;
    view! {
        <nav class="controls" aria-label="Call controls">
            <button
                class="call"
                disabled=move || !presence.ready.get() || !idle() || !prefs.terms_accepted.get()
                on:click=move |_| on_action.run(Action::Call)
            >
                "Call"
            </button>
            <button
                class="next"
                disabled=move || !presence.ready.get() || idle()
                on:click=move |_| on_action.run(Action::Next)
                aria-keyshortcuts="Escape"
            >
                "Next"
            </button>
            <button
                class="end"
                disabled=move || !presence.ready.get() || idle()
                on:click=move |_| on_action.run(Action::End)
            >
                "End"
            </button>
            <ReportMenu call=call presence=presence on_action=on_action/>
        </nav>
        <p class="hint" aria-hidden="true">"Press " <kbd>"Esc"</kbd> " for the next stranger."</p>
    }
}

/// Report the current stranger (a menu of reasons) or never meet them again; shown only
/// during a call. Either moves on to the next stranger.
#[component]
fn ReportMenu(call: CallView, presence: Presence, on_action: Callback<Action>) -> impl IntoView {
    let in_call = move || presence.ready.get() && call.state.get().in_call();
    view! {
        <Show when=in_call>
            <ReasonMenu on_pick=Callback::new(move |reason| on_action.run(Action::Report(reason)))/>
            <button
                class="block"
                title="Don't match me with this stranger again"
                on:click=move |_| on_action.run(Action::Block)
            >
                "Don't match again"
            </button>
        </Show>
    }
}

/// The Report menu: a button per reason.
#[component]
pub(super) fn ReasonMenu(on_pick: Callback<ReportReason>) -> impl IntoView {
    view! {
        <details class="report">
            <summary>"Report"</summary>
            <div class="reasons" role="group" aria-label="Why are you reporting this stranger?">
                {ReportReason::ALL
                    .into_iter()
                    .map(|reason| {
                        view! {
                            <button on:click=move |_| on_pick.run(reason)>{reason.label()}</button>
                        }
                    })
                    .collect_view()}
            </div>
        </details>
    }
}

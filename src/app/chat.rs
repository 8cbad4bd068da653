//! Text chat beside the video, within the call only. Lines are rendered as text, never as
//! HTML; the log clears when the call ends.

use super::state::{Action, CallView, ChatView, Presence};
use crate::protocol::MAX_CHAT_CHARS;
use leptos::prelude::*;

/// The chat log, the "Stranger is typing…" line and the input (Enter sends).
#[component]
pub fn ChatPanel(
    call: CallView,
    chat: ChatView,
    presence: Presence,
    on_action: Callback<Action>,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let in_call = move || presence.ready.get() && call.state.get().in_call();
    let send = move || {
        let text = draft.get_untracked().trim().to_owned();
        if !text.is_empty() {
            on_action.run(Action::SendChat(text));
            draft.set(String::new());
        }
    };
    view! {
        <section class="chat" aria-label="Chat with the stranger">
            <ol class="log" data-testid="chat-log" aria-live="polite">
                <For each=move || chat.lines.get() key=|line| line.id let:line>
                    <li data-from=if line.from_me { "me" } else { "stranger" }>
                        <span class="who">{if line.from_me { "You: " } else { "Stranger: " }}</span>
                        {line.text}
                    </li>
                </For>
            </ol>
            <Show when=move || chat.stranger_typing.get()>
                <p class="typing" data-testid="typing-indicator">"Stranger is typing…"</p>
            </Show>
            <input
                type="text"
                data-testid="chat-input"
                aria-label="Message"
                placeholder=move || {
                    if in_call() { "Type a message, Enter sends" } else { "Chat opens when you meet a stranger" }
                }
                maxlength=MAX_CHAT_CHARS.to_string()
                disabled=move || !in_call()
                prop:value=draft
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    on_action.run(Action::Typing(!text.trim().is_empty()));
                    draft.set(text);
                }
                on:keydown=move |ev| {
                    if ev.key() == "Enter" {
                        ev.prevent_default();
                        send();
                    }
                }
            />
        </section>
    }
}

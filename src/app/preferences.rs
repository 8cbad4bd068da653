//! What a visitor chooses before calling: interests, language, text-only, hiding the IP, the
//! sound when a stranger is found, and accepting the rules. The browser build remembers them
//! all for the next visit.

use super::state::{CallState, CallView, Preferences, Presence};
use crate::protocol::{LANGUAGES, MAX_INTERESTS, MAX_INTEREST_CHARS};
use leptos::prelude::*;

/// Interests (comma-separated tags), text-only and hiding the IP, fixed while searching or in
/// a call (they apply from the next Call); and the sound when a stranger is found.
#[component]
pub fn PreferencesForm(call: CallView, prefs: Preferences, presence: Presence) -> impl IntoView {
    let locked = move || !presence.ready.get() || call.state.get() != CallState::Idle;
    view! {
        <section class="preferences">
            <label class="interests">
                "Interests "
                <input
                    type="text"
                    data-testid="interests"
                    placeholder="music, chess, travel"
                    title=format!(
                        "Up to {MAX_INTERESTS} tags of at most {MAX_INTEREST_CHARS} characters, separated by commas"
                    )
                    prop:value=prefs.interests
                    disabled=locked
                    on:input=move |ev| prefs.interests.set(event_target_value(&ev))
                />
            </label>
            <label class="language">
                "Language "
                <select
                    data-testid="language"
                    title="Strangers who speak it are preferred for the first few seconds, then anyone"
                    prop:value=prefs.language
                    disabled=locked
                    on:change=move |ev| prefs.language.set(event_target_value(&ev))
                >
                    <option value="">"Any"</option>
                    {LANGUAGES
                        .iter()
                        .map(|(code, name)| view! { <option value=*code>{*name}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="text-only">
                <input
                    type="checkbox"
                    data-testid="text-only"
                    prop:checked=prefs.text_only
                    disabled=locked
                    on:change=move |ev| prefs.text_only.set(event_target_checked(&ev))
                />
                " Text only (no camera)"
            </label>
            <label class="hide-ip">
                <input
                    type="checkbox"
                    data-testid="hide-ip"
                    prop:checked=prefs.hide_ip
                    disabled=locked
                    on:change=move |ev| prefs.hide_ip.set(event_target_checked(&ev))
                />
                " Hide my IP from strangers (calls go through a relay)"
            </label>
            // Not locked during a call: it only decides whether the next alert sounds.
            <label class="found-sound">
                <input
                    type="checkbox"
                    data-testid="found-sound"
                    prop:checked=prefs.found_sound
                    disabled=move || !presence.ready.get()
                    on:change=move |ev| prefs.found_sound.set(event_target_checked(&ev))
                />
                " Sound when a stranger is found"
            </label>
            // Not locked during a call either: switched off, the video shows at once.
            <label class="screen-video">
                <input
                    type="checkbox"
                    data-testid="screen-video"
                    prop:checked=prefs.screen_video
                    disabled=move || !presence.ready.get()
                    on:change=move |ev| prefs.screen_video.set(event_target_checked(&ev))
                />
                " Screen stranger's video (blurred until checked on this device)"
            </label>
        </section>
    }
}

/// The first-visit notice: 18+ and the rules, to accept before Call works.
#[component]
pub fn TermsGate(prefs: Preferences, presence: Presence) -> impl IntoView {
    view! {
        <Show when=move || !prefs.terms_accepted.get()>
            <section class="terms" aria-labelledby="terms-title">
                <h2 id="terms-title">"Before you call"</h2>
                <ul>
                    <li>"You must be 18 or older."</li>
                    <li>"No nudity, harassment, hate or spam. Strangers can report you, and reports lead to bans."</li>
                    <li>"Calls go directly between browsers and are not recorded by duet; the stranger could still record you."</li>
                </ul>
                <button
                    data-testid="terms-accept"
                    disabled=move || !presence.ready.get()
                    on:click=move |_| prefs.terms_accepted.set(true)
                >
                    "I am 18+ and accept the rules"
                </button>
            </section>
        </Show>
    }
}

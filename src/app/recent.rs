//! "Recent strangers": the last few strangers, for a few minutes after the call, each of whom
//! can still be reported or blocked; and how many strangers this visitor has blocked, with a
//! way to forget them all.

use super::controls::ReasonMenu;
use super::state::{Action, Presence, RecentStranger, RecentView};
use leptos::either::Either;
use leptos::prelude::*;

/// The list of recent strangers, shown once there is one.
#[component]
pub fn RecentStrangers(
    recent: RecentView,
    presence: Presence,
    on_action: Callback<Action>,
) -> impl IntoView {
    let any = move || presence.ready.get() && !recent.strangers.get().is_empty();
    let some_blocked = move || presence.ready.get() && recent.blocked.get() != 0;
    view! {
        <Show when=any>
            <section class="recent" data-testid="recent-strangers" aria-label="Recent strangers">
                <h2>"Recent strangers"</h2>
                <ul>
                    <For
                        each=move || recent.strangers.get()
                        key=|s| (s.call_id, s.reported, s.blocked)
                        let:stranger
                    >
                        <RecentItem stranger=stranger on_action=on_action/>
                    </For>
                </ul>
            </section>
        </Show>
        <Show when=some_blocked>
            <p class="blocked" data-testid="blocked-count">
                {move || match recent.blocked.get() {
                    1 => "You have blocked 1 stranger.".to_owned(),
                    n => format!("You have blocked {n} strangers."),
                }}
                " "
                <button class="link" on:click=move |_| on_action.run(Action::ClearBlocks)>
                    "Unblock all"
                </button>
            </p>
        </Show>
    }
}

/// One recent stranger: when, how long, what you shared; Report and Block.
#[component]
fn RecentItem(stranger: RecentStranger, on_action: Callback<Action>) -> impl IntoView {
    let call_id = stranger.call_id;
    let mut about = format!(
        "{} · {}",
        clock(stranger.ended_at),
        duration(stranger.seconds)
    );
    if !stranger.shared_interests.is_empty() {
        about.push_str(" · you both like ");
        about.push_str(&stranger.shared_interests.join(", "));
    }
    // `Either`, not `.into_any()`: an `AnyView` brings every way of hydrating its view into
    // the bundle (see `App`).
    let report = match stranger.reported {
        true => Either::Left(view! { <span class="done">"Reported"</span> }),
        false => Either::Right(view! {
            <ReasonMenu on_pick=Callback::new(move |reason| {
                on_action.run(Action::ReportRecent(call_id, reason))
            })/>
        }),
    };
    let block = match stranger.blocked {
        true => Either::Left(view! { <span class="done">"Blocked"</span> }),
        false => Either::Right(view! {
            <button class="block" on:click=move |_| on_action.run(Action::BlockRecent(call_id))>
                "Don't match again"
            </button>
        }),
    };
    view! {
        <li data-testid="recent-stranger">
            <span class="about">{about}</span>
            {report}
            {block}
        </li>
    }
}

/// The time of day a call ended, in the browser's own zone (this list exists only there).
fn clock(ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"hour".into(), &"2-digit".into());
        let _ = js_sys::Reflect::set(&options, &"minute".into(), &"2-digit".into());
        String::from(date.to_locale_time_string_with_options("default", &options))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let minutes = ms / 60_000;
        format!("{:02}:{:02} UTC", (minutes / 60) % 24, minutes % 60)
    }
}

/// How long a call lasted, as people say it.
fn duration(seconds: u32) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        _ => format!("{} min {} s", seconds / 60, seconds % 60),
    }
}

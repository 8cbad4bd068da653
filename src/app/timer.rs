//! How long the visitor has been talking to this stranger: m:ss, or h:mm:ss past an hour.
//! The call's start comes from the call itself (`CallView::connected_since`, stamped by the
//! browser build when the call connected); this only ticks the display.

use super::state::CallView;
use leptos::prelude::*;
use std::time::Duration;

/// The time in the current call, shown only while connected. Hidden rather than left out
/// (`Show`): the same outcome, in less of the browser's bundle.
#[component]
pub fn CallTimer(call: CallView) -> impl IntoView {
    let now = RwSignal::new(0);
    // Ticks once a second during a call only. Effects run only in the browser; the server
    // renders the timer hidden (no call is connected yet).
    Effect::new(move |ticking: Option<Option<IntervalHandle>>| {
        if let Some(Some(interval)) = ticking {
            interval.clear();
        }
        call.connected_since.get()?;
        now.set(clock());
        set_interval_with_handle(move || now.set(clock()), Duration::from_secs(1)).ok()
    });
    let text = move || {
        let since = call.connected_since.get().unwrap_or_default();
        elapsed_text(now.get().saturating_sub(since))
    };
    view! {
        <p
            class="call-timer"
            data-testid="call-timer"
            title="Time in this call"
            hidden=move || call.connected_since.get().is_none()
        >
            {text}
        </p>
    }
}

/// `ms` as m:ss, or h:mm:ss from an hour on.
pub fn elapsed_text(ms: u64) -> String {
    let seconds = ms / 1000;
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{seconds:02}")
    } else {
        format!("{minutes}:{seconds:02}")
    }
}

/// The browser's clock in ms since the epoch: the one the call's start was stamped with.
#[cfg(feature = "hydrate")]
fn clock() -> u64 {
    js_sys::Date::now() as u64
}

/// The server never ticks (effects do not run there).
#[cfg(not(feature = "hydrate"))]
fn clock() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::elapsed_text;

    #[test]
    fn minutes_and_seconds_then_hours() {
        assert_eq!(elapsed_text(0), "0:00");
        assert_eq!(elapsed_text(9_999), "0:09");
        assert_eq!(elapsed_text(61_000), "1:01");
        assert_eq!(elapsed_text(3_599_000), "59:59");
        assert_eq!(elapsed_text(3_600_000), "1:00:00");
        assert_eq!(elapsed_text(36_062_000), "10:01:02");
    }
}

//! Solving the server's proof-of-work challenge in the page, without freezing it.
//!
//! The hashing is `crate::proof`, the same code the server checks with. It runs here in
//! slices of a few milliseconds; between slices the page yields to the browser, so clicks,
//! typing and the video keep going while it works. It yields with a `MessageChannel` message
//! rather than a zero-delay timeout: nested timeouts are clamped to 4 ms (a quarter of the
//! time lost at these slice lengths), and timeouts in a background tab run once a second,
//! while messages run at once in both cases. A Web Worker would keep the hashing off the page's
//! thread entirely, but it needs a second entry point to the wasm that the build does not make;
//! at a third of a second in all, slices are enough.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// How long one slice hashes before yielding: well under a frame (16 ms), so the page stays
/// smooth.
const SLICE_MS: f64 = 8.0;
/// Hashes between looks at the clock: about a millisecond's work on a slow phone.
const CHUNK: u64 = 1024;

/// Finds the nonce for (`seed`, `bits`); `None` if `still_wanted` turned false on the way (the
/// socket closed or a newer challenge came).
pub(crate) async fn solve(seed: &str, bits: u8, still_wanted: impl Fn() -> bool) -> Option<u64> {
    let mut next = 0u64;
    loop {
        let slice_start = now_ms();
        while now_ms() - slice_start < SLICE_MS {
            if let Some(nonce) = crate::proof::search(seed, bits, next, CHUNK) {
                return Some(nonce);
            }
            next = next.saturating_add(CHUNK);
        }
        yield_to_page().await;
        if !still_wanted() {
            return None;
        }
    }
}

/// The page's clock, in milliseconds.
pub(crate) fn now_ms() -> f64 {
    leptos::prelude::window()
        .performance()
        .map(|p| p.now())
        .unwrap_or_else(js_sys::Date::now)
}

/// Lets the browser run whatever is waiting (input, rendering, socket messages), then
/// carries on.
async fn yield_to_page() {
    let Ok(channel) = web_sys::MessageChannel::new() else {
        return;
    };
    let woken = Promise::new(&mut |resolve, _| {
        channel.port1().set_onmessage(Some(&resolve));
    });
    if channel.port2().post_message(&JsValue::NULL).is_err() {
        return;
    }
    let _ = JsFuture::from(woken).await;
}

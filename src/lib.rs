//! duet: random video chat. One crate, built twice: the `ssr` server binary and the `hydrate`
//! browser bundle (see README's architecture section).

pub mod api;
pub mod app;
pub mod client;
pub mod model;
pub mod proof;
pub mod protocol;
pub mod reconnect;
#[cfg(feature = "ssr")]
pub mod server;
pub mod wire;

/// The browser's entry point: take over the server-rendered page, with the browser build's
/// behaviour plugged into it (the page itself never imports `client`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    if app::current_page() == app::Page::Admin {
        // The moderators' page comes in a wasm chunk of its own, fetched only here.
        wasm_bindgen_futures::spawn_local(app::hydrate_admin_page());
        return;
    }
    leptos::mount::hydrate_body(|| {
        leptos::prelude::provide_context(app::state::Driver(client::start));
        leptos::view! { <app::App/> }
    });
}

//! The user interface, rendered on the server and hydrated in the browser.
//!
//! Every component reads the groups of [`state`] it shows; none imports another's page, and
//! nothing here imports the browser build (`crate::client`): that plugs in through
//! [`state::Driver`].

mod admin;
mod chat;
mod controls;
mod lobby;
mod preferences;
mod recent;
pub mod state;
mod timer;
mod video;

#[cfg(feature = "hydrate")]
pub use admin::hydrate_admin_page;
pub use admin::AdminPage;
pub use lobby::Lobby;

use leptos::either::EitherOf3;
use leptos::prelude::*;

/// The HTML document around the app. The title and the stylesheet are written here, in the
/// server-only shell, rather than with `leptos_meta`'s components in the app: the page has one
/// title, and the browser's bundle then carries no `leptos_meta`.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        crate::server::headers::set_page_csp(&options);
        crate::server::headers::set_page_preloads(&options);
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <meta name="description" content="Press Call, meet a random stranger by video."/>
                <title>"duet: random video chat"</title>
                <link rel="stylesheet" id="leptos" href="/pkg/duet.css"/>
                {screening_settings()}
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The operator's video screening settings and the files of its worker, for the browser build
/// to read (`client::screening`): a `<meta>` in the server-only head, so the settings need no
/// request of their own and the hydrated body stays the same for every setting.
fn screening_settings() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        let state = use_context::<crate::server::state::AppState>()?;
        let settings =
            crate::server::screening::page_settings(&state.config, state.screening.as_ref());
        Some(view! {
            <meta
                name="duet-screening"
                data-default=settings.default
                data-threshold=settings.threshold
                data-interval-ms=settings.interval_ms
                data-worker=settings.worker
                data-files=settings.files
            />
        })
    }
}

/// The app: the lobby at `/`, the moderators' page at `/admin`.
///
/// Two fixed pages need no router: the page is picked from the path, the same way on the
/// server (the request's) and in the browser (the location's), so hydration meets the page the
/// server rendered. `leptos_router` weighed ~35 KB of the browser's wasm for this one match.
/// The server routes the same two paths (`PAGES`); any other path reaches its fallback, which
/// answers 404 with the "not found" branch.
#[component]
pub fn App() -> impl IntoView {
    // `EitherOf3`, not `.into_any()`: an `AnyView` keeps every way of hydrating its view,
    // async hydration too, which no page here uses (~95 KB of wasm before optimisation).
    match current_page() {
        Page::Lobby => EitherOf3::A(view! { <Lobby/> }),
        Page::Admin => EitherOf3::B(admin_page()),
        Page::NotFound => EitherOf3::C(view! { <p class="not-found">"Page not found."</p> }),
    }
}

/// The pages of the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Lobby,
    Admin,
    NotFound,
}

/// The page the current path shows.
pub fn current_page() -> Page {
    match current_path().trim_end_matches('/') {
        "" => Page::Lobby,
        "/admin" => Page::Admin,
        _ => Page::NotFound,
    }
}

/// The moderators' page, as the server renders it.
#[cfg(not(feature = "hydrate"))]
fn admin_page() -> impl IntoView {
    view! { <AdminPage/> }
}

/// In the browser, `App` never shows the moderators' page: `crate::hydrate` hydrates `/admin`
/// from a wasm chunk of its own ([`admin::hydrate_admin_page`]), so the lobby's bundle does
/// not carry it.
#[cfg(feature = "hydrate")]
fn admin_page() -> impl IntoView {}

/// The paths of the pages [`App`] renders, for the server's routes.
pub const PAGES: [&str; 2] = ["/", "/admin"];

/// The path of the page being rendered: the request's on the server, the location's in the
/// browser.
fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()
            .map(|parts| parts.uri.path().to_owned())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    {
        window().location().pathname().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    /// Each module of `app` with its source, as compiled.
    const MODULES: [(&str, &str); 8] = [
        ("admin", include_str!("admin.rs")),
        ("chat", include_str!("chat.rs")),
        ("controls", include_str!("controls.rs")),
        ("lobby", include_str!("lobby.rs")),
        ("preferences", include_str!("preferences.rs")),
        ("state", include_str!("state.rs")),
        ("timer", include_str!("timer.rs")),
        ("video", include_str!("video.rs")),
    ];

    /// `client` imports `app::state`, so `app` importing `client` would make a circle; the
    /// browser build plugs in through `state::Driver` instead.
    #[test]
    fn app_never_imports_the_browser_build() {
        for (name, source) in MODULES {
            assert!(
                !source.contains("crate::client"),
                "app/{name}.rs imports crate::client"
            );
        }
    }

    /// Components read `state`; only the lobby, which lays the page out, uses the others.
    /// `state` itself imports no other module of `app`.
    #[test]
    fn components_import_state_never_each_other() {
        for (name, source) in MODULES {
            for (other, _) in MODULES {
                let import = format!("super::{other}");
                let allowed = other == "state" && name != "state" || name == "lobby";
                assert!(
                    allowed || !source.contains(&import),
                    "app/{name}.rs imports app/{other}.rs"
                );
            }
        }
    }
}

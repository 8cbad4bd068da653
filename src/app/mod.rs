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
pub mod state;
mod video;

pub use admin::AdminPage;
pub use lobby::Lobby;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment};

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::server::headers::set_page_csp(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <meta name="description" content="Press Call, meet a random stranger by video."/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The app: one page, the lobby.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/duet.css"/>
        <Title text="duet: random video chat"/>
        <Router>
            // Async: the first paint waits for the online count, so the page reads right
            // without JavaScript.
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                <Route path=StaticSegment("") view=Lobby ssr=SsrMode::Async/>
                <Route path=StaticSegment("admin") view=AdminPage/>
            </Routes>
        </Router>
    }
}

#[cfg(test)]
mod tests {
    /// Each module of `app` with its source, as compiled.
    const MODULES: [(&str, &str); 7] = [
        ("admin", include_str!("admin.rs")),
        ("chat", include_str!("chat.rs")),
        ("controls", include_str!("controls.rs")),
        ("lobby", include_str!("lobby.rs")),
        ("preferences", include_str!("preferences.rs")),
        ("state", include_str!("state.rs")),
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

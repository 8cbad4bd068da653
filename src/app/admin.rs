//! The moderators' page at `/admin`: recent reports, bans in force, and lifting a ban.
//!
//! Everything goes through token-checked server functions; the page itself holds the token
//! only in memory (never in the URL, so it never reaches a log).

use crate::api::{fetch_lift_ban, fetch_overview};
use crate::model::{AdminError, ModerationOverview};
use leptos::either::Either;
use leptos::prelude::*;

/// Hydrates the moderators' page. A split point: with `cargo leptos build --split`, this and
/// everything only it reaches (the page's views, its resource and action, the moderators'
/// requests and answers, ~33 KB of the gzipped bundle) go into a wasm chunk of their own,
/// which the browser fetches only on `/admin`.
#[cfg(feature = "hydrate")]
#[leptos::lazy]
pub fn hydrate_admin_page() {
    leptos::mount::hydrate_body(AdminPage);
}

/// The moderators' page.
#[component]
pub fn AdminPage() -> impl IntoView {
    // Read from the field itself when Sign in is pressed: a moderator on a slow link may type
    // before the page hydrates, and that text is in the field but was never seen by a handler.
    let field = NodeRef::<leptos::html::Input>::new();
    let token = RwSignal::new(None::<String>);
    let refresh = RwSignal::new(0u32);
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // Local: it loads only after a sign-in in the browser, so nothing of it is rendered on the
    // server or serialised for hydration.
    let overview = LocalResource::new(move || {
        let (token, _) = (token.get(), refresh.get());
        async move {
            match token {
                Some(token) => Some(fetch_overview(token).await),
                None => None,
            }
        }
    });
    let lift = Action::new_local(move |id: &i64| {
        let (token, id) = (token.get_untracked().unwrap_or_default(), *id);
        async move {
            let result = fetch_lift_ban(token, id).await;
            refresh.update(|n| *n += 1);
            result
        }
    });

    view! {
        <main class="admin">
            <h1>"duet moderators"</h1>
            <div class="signin">
                <label>
                    "Admin token "
                    <input
                        type="password"
                        autocomplete="off"
                        data-testid="admin-token"
                        node_ref=field
                    />
                </label>
                <button
                    disabled=move || !hydrated.get()
                    on:click=move |_| token.set(field.get_untracked().map(|input| input.value()))
                >
                    "Sign in"
                </button>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || {
                    overview
                        .get()
                        .flatten()
                        .map(|result| match result {
                            // `Either`, not `.into_any()` (see `App`).
                            Ok(data) => Either::Left(view! { <Overview data lift/> }),
                            Err(e) => Either::Right(view! { <p class="error" role="alert">{e.to_string()}</p> }),
                        })
                }}
            </Transition>
        </main>
    }
}

#[component]
fn Overview(
    data: ModerationOverview,
    lift: Action<i64, Result<bool, AdminError>>,
) -> impl IntoView {
    let bans = data.bans.into_iter().map(|ban| {
        let id = ban.id;
        view! {
            <tr>
                <td>{ban.subject}</td>
                <td>{ban.since}</td>
                <td>{ban.until}</td>
                <td>{ban.reason}</td>
                <td>
                    <button on:click=move |_| {
                        lift.dispatch(id);
                    }>"Lift ban"</button>
                </td>
            </tr>
        }
    });
    let reports = data.reports.into_iter().map(|report| {
        view! {
            <tr>
                <td>{report.at}</td>
                <td>{report.reported}</td>
                <td>{report.reporter}</td>
                <td>{report.reason}</td>
                // The reporter's own video screening had blurred the stranger's video.
                <td data-testid="screened">{report.screened.then_some("flagged by screening")}</td>
            </tr>
        }
    });
    view! {
        <section data-testid="bans">
            <h2>"Bans in force"</h2>
            <table>
                <thead>
                    <tr><th>"Address (hash)"</th><th>"Since"</th><th>"Until"</th><th>"Why"</th><th></th></tr>
                </thead>
                <tbody>{bans.collect_view()}</tbody>
            </table>
        </section>
        <section data-testid="reports">
            <h2>"Recent reports"</h2>
            <table>
                <thead>
                    <tr><th>"When"</th><th>"Reported (hash)"</th><th>"By (hash)"</th><th>"Reason"</th><th>"Screening"</th></tr>
                </thead>
                <tbody>{reports.collect_view()}</tbody>
            </table>
        </section>
    }
}

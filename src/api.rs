//! Server functions: plain verbs the page calls over HTTP (and the server calls directly while
//! rendering). Each is a public endpoint, so each takes no input it does not check.

use crate::model::{AdminError, IceServer, ModerationOverview};
use leptos::prelude::*;

/// How many visitors are online now, for the lobby's first paint.
#[server(endpoint = "online_count")]
pub async fn online_count() -> Result<u32, ServerFnError> {
    let state = server_state()?;
    Ok(crate::server::presence::count(&state.switchboard))
}

/// The STUN/TURN servers the browser should use for its calls (none by default), with
/// short-lived TURN credentials made for this browser.
#[server(endpoint = "ice_servers")]
pub async fn ice_servers() -> Result<Vec<IceServer>, ServerFnError> {
    Ok(server_state()?
        .config
        .ice_servers(std::time::SystemTime::now()))
}

#[cfg(feature = "ssr")]
fn server_state() -> Result<crate::server::state::AppState, ServerFnError> {
    use_context::<crate::server::state::AppState>()
        .ok_or_else(|| ServerFnError::new("server state is missing from the request context"))
}

/// Recent reports and active bans. Needs the admin token.
#[server(endpoint = "admin/overview")]
pub async fn admin_overview(token: String) -> Result<ModerationOverview, AdminError> {
    let state = admin_state(&token)?;
    state
        .moderation
        .overview(200)
        .await
        .map_err(|e| AdminError::Server(e.to_string()))
}

/// Lifts ban `id`. Needs the admin token.
#[server(endpoint = "admin/lift_ban")]
pub async fn lift_ban(token: String, id: i64) -> Result<bool, AdminError> {
    let state = admin_state(&token)?;
    state
        .moderation
        .lift(id)
        .await
        .map_err(|e| AdminError::Server(e.to_string()))
}

/// The server state, once `token` is checked against the configured admin token.
#[cfg(feature = "ssr")]
fn admin_state(token: &str) -> Result<crate::server::state::AppState, AdminError> {
    let state = use_context::<crate::server::state::AppState>()
        .ok_or_else(|| AdminError::Server("server state is missing".into()))?;
    let refuse = |status: axum::http::StatusCode, error: AdminError| {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(status);
        }
        Err(error)
    };
    match state.config.admin_token.as_deref() {
        None | Some("") => refuse(axum::http::StatusCode::NOT_FOUND, AdminError::Disabled),
        Some(expected) if crate::server::config::admin_token_matches(expected, token) => Ok(state),
        Some(_) => refuse(axum::http::StatusCode::FORBIDDEN, AdminError::WrongToken),
    }
}

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

/// How many visitors are online, for the lobby's first paint: read directly while the server
/// renders the page, `None` in the browser (which hears the count from its socket).
pub fn online_at_render() -> Option<u32> {
    #[cfg(feature = "ssr")]
    {
        server_state()
            .ok()
            .map(|state| crate::server::presence::count(&state.switchboard))
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// The STUN/TURN servers the browser should use for its calls (none by default), with
/// short-lived TURN credentials made for this browser. TURN credentials go only to a visitor
/// with a signaling socket open, at most `--turn-credentials-per-hour` times an hour: they
/// let their holder relay traffic through the site's TURN server.
#[server(endpoint = "ice_servers")]
pub async fn ice_servers() -> Result<Vec<IceServer>, ServerFnError> {
    let state = server_state()?;
    if state.config.turn().is_some() {
        may_have_turn_credentials(&state).await?;
    }
    Ok(state.config.ice_servers(std::time::SystemTime::now()))
}

/// How long `ice_servers` waits for the asking visitor's socket: the page opens its socket and
/// asks for ICE servers at the same moment, so the request may arrive first.
#[cfg(feature = "ssr")]
const SOCKET_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether the visitor asking may have TURN credentials now: it holds a socket, and has not
/// had its hourly quota. Takes one of the quota.
#[cfg(feature = "ssr")]
async fn may_have_turn_credentials(
    state: &crate::server::state::AppState,
) -> Result<(), ServerFnError> {
    use axum::http::StatusCode;
    let ip = visitor_address(state).await.map_err(ServerFnError::new)?;
    // With several nodes the page's socket may be on another node, which this one cannot
    // see; there only the quota applies (README, "TURN").
    let clustered = state.switchboard.clustered();
    if !clustered && !state.limiter.wait_for_open(ip, SOCKET_PATIENCE).await {
        refuse_request(StatusCode::FORBIDDEN, None);
        return Err(ServerFnError::new(
            "TURN credentials are only for visitors with duet open.",
        ));
    }
    if let Err(wait) = state
        .turn_credentials
        .try_take(ip, tokio::time::Instant::now())
    {
        refuse_request(StatusCode::TOO_MANY_REQUESTS, Some(wait));
        return Err(ServerFnError::new(
            "Your address has had too many TURN credentials this hour; try again later.",
        ));
    }
    Ok(())
}

/// The address of the visitor making this request, as the socket handler works it out (see
/// [`crate::server::client_ip::client_ip`]); an error (and HTTP 400) when a trusted proxy's
/// `X-Forwarded-For` names no readable client.
#[cfg(feature = "ssr")]
async fn visitor_address(
    state: &crate::server::state::AppState,
) -> Result<std::net::IpAddr, String> {
    use axum::extract::ConnectInfo;
    use axum::http::{HeaderMap, StatusCode};
    let (ConnectInfo(peer), headers) =
        leptos_axum::extract::<(ConnectInfo<std::net::SocketAddr>, HeaderMap)>()
            .await
            .map_err(|e| format!("the request's address is unknown: {e}"))?;
    crate::server::client_ip::client_ip(peer, &headers, &state.config.trusted_proxies).ok_or_else(
        || {
            refuse_request(StatusCode::BAD_REQUEST, None);
            "The proxy in front of duet sent an X-Forwarded-For header without a readable client \
             address."
                .to_owned()
        },
    )
}

/// Sets this server function's response status, and `Retry-After` (whole seconds, at least
/// one) when the refusal ends after `retry_after`.
#[cfg(feature = "ssr")]
fn refuse_request(status: axum::http::StatusCode, retry_after: Option<std::time::Duration>) {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    response.set_status(status);
    if let Some(wait) = retry_after {
        response.insert_header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(whole_seconds(wait)),
        );
    }
}

/// `wait` rounded up to whole seconds, at least one.
#[cfg(feature = "ssr")]
fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(feature = "ssr")]
fn server_state() -> Result<crate::server::state::AppState, ServerFnError> {
    use_context::<crate::server::state::AppState>()
        .ok_or_else(|| ServerFnError::new("server state is missing from the request context"))
}

/// [`admin_overview`], as the moderators' page calls it: in the browser with a plain request
/// read by [`crate::wire`] (the server functions' own client would bring `serde_json` into
/// the bundle), on the server directly.
pub async fn fetch_overview(token: String) -> Result<ModerationOverview, AdminError> {
    #[cfg(feature = "hydrate")]
    {
        use crate::wire;
        match wire::call_server_fn("/api/admin/overview", &[("token", &token)]).await {
            Ok((true, text)) => {
                wire::decode_overview(&text).map_err(|e| AdminError::Server(e.to_string()))
            }
            Ok((false, text)) => Err(wire::decode_admin_error(&text)),
            Err(e) => Err(AdminError::Server(e)),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        admin_overview(token).await
    }
}

/// [`lift_ban`], as the moderators' page calls it (see [`fetch_overview`]).
pub async fn fetch_lift_ban(token: String, id: i64) -> Result<bool, AdminError> {
    #[cfg(feature = "hydrate")]
    {
        use crate::wire;
        let id = id.to_string();
        match wire::call_server_fn("/api/admin/lift_ban", &[("token", &token), ("id", &id)]).await {
            Ok((true, text)) => {
                wire::decode_bool(&text).map_err(|e| AdminError::Server(e.to_string()))
            }
            Ok((false, text)) => Err(wire::decode_admin_error(&text)),
            Err(e) => Err(AdminError::Server(e)),
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        lift_ban(token, id).await
    }
}

/// Recent reports and active bans. Needs the admin token.
#[server(endpoint = "admin/overview")]
pub async fn admin_overview(token: String) -> Result<ModerationOverview, AdminError> {
    let state = admin_state(&token).await?;
    state
        .moderation
        .overview(200)
        .await
        .map_err(|e| AdminError::Server(e.to_string()))
}

/// Lifts ban `id`. Needs the admin token.
#[server(endpoint = "admin/lift_ban")]
pub async fn lift_ban(token: String, id: i64) -> Result<bool, AdminError> {
    let state = admin_state(&token).await?;
    state
        .moderation
        .lift(id)
        .await
        .map_err(|e| AdminError::Server(e.to_string()))
}

/// The server state, once `token` is checked against the configured admin token. Each visitor
/// (address prefix) may get it wrong `--admin-guesses-per-minute` times a minute; after that,
/// every try is refused with 429 and `Retry-After`, right token or not, until a guess is free
/// again.
#[cfg(feature = "ssr")]
async fn admin_state(token: &str) -> Result<crate::server::state::AppState, AdminError> {
    use axum::http::StatusCode;
    let state = use_context::<crate::server::state::AppState>()
        .ok_or_else(|| AdminError::Server("server state is missing".into()))?;
    let Some(expected) = state.config.admin_token() else {
        refuse_request(StatusCode::NOT_FOUND, None);
        return Err(AdminError::Disabled);
    };
    let ip = visitor_address(&state).await.map_err(AdminError::Server)?;
    let now = tokio::time::Instant::now();
    // Every try uses a guess before the comparison, so guesses sent in parallel cannot slip
    // past the count; a right token gives its guess back.
    if let Err(wait) = state.admin_guesses.try_take(ip, now) {
        refuse_request(StatusCode::TOO_MANY_REQUESTS, Some(wait));
        return Err(AdminError::TooManyGuesses {
            retry_after_secs: whole_seconds(wait),
        });
    }
    if crate::server::config::admin_token_matches(expected, token) {
        state.admin_guesses.give_back(ip, now);
        Ok(state)
    } else {
        refuse_request(StatusCode::FORBIDDEN, None);
        Err(AdminError::WrongToken)
    }
}

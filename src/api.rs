//! Server functions: plain verbs the page calls over HTTP (and the server calls directly while
//! rendering). Each is a public endpoint, so each takes no input it does not check.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One STUN or TURN server as `RTCIceServer` takes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// How many visitors are online now, for the lobby's first paint.
#[server(endpoint = "online_count")]
pub async fn online_count() -> Result<u32, ServerFnError> {
    let state = server_state()?;
    Ok(crate::server::presence::count(&state.hub))
}

/// The STUN/TURN servers the browser should use for its calls (none by default).
#[server(endpoint = "ice_servers")]
pub async fn ice_servers() -> Result<Vec<IceServer>, ServerFnError> {
    Ok(server_state()?.config.ice_servers())
}

#[cfg(feature = "ssr")]
fn server_state() -> Result<crate::server::AppState, ServerFnError> {
    use_context::<crate::server::AppState>()
        .ok_or_else(|| ServerFnError::new("server state is missing from the request context"))
}

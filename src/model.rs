//! Types the page and the server functions share: what crosses an HTTP call of a server
//! function, as opposed to the signaling socket (see [`crate::protocol`]). Imports nothing from
//! the modules that use it.

use serde::{Deserialize, Serialize};

/// One STUN or TURN server as `RTCIceServer` takes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// Shows the URLs and the username; never the credential, which lets its holder relay through
/// the site's TURN server.
impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field("credential", &self.credential.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What the moderators' page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationOverview {
    /// The newest reports first.
    pub reports: Vec<ReportEntry>,
    /// Bans in force, newest first.
    pub bans: Vec<BanEntry>,
}

/// One report. Addresses appear only as short prefixes of their keyed hashes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportEntry {
    pub id: i64,
    pub at: String,
    pub reporter: String,
    pub reported: String,
    pub reason: String,
    /// The reporter's own video screening had flagged the stranger's video.
    #[serde(default)]
    pub screened: bool,
}

/// One ban in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanEntry {
    pub id: i64,
    pub subject: String,
    pub since: String,
    pub until: String,
    pub reason: String,
}

/// Why a moderator request failed; the page shows each case differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AdminError {
    #[error("The moderators' page is switched off on this server (no admin token is set).")]
    Disabled,
    #[error("Wrong token.")]
    WrongToken,
    #[error("Too many wrong tokens from your address; try again in {retry_after_secs} s.")]
    TooManyGuesses { retry_after_secs: u64 },
    #[error("The server could not do that: {0}")]
    Server(String),
}

impl leptos::server_fn::error::FromServerFnError for AdminError {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        AdminError::Server(value.to_string())
    }
}

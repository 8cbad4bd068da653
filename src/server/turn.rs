//! Short-lived TURN credentials in coturn's REST scheme (`use-auth-secret`).
//!
//! The username is `<expiry unix time>:<random tag>` and the password is
//! base64(HMAC-SHA1(shared secret, username)). coturn, given the same secret, checks the
//! password and refuses it once the expiry has passed. The secret itself never leaves the
//! server; each browser gets its own credentials, valid for `--turn-ttl`.

use crate::model::IceServer;
use crate::server::secret::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The TURN servers and the secret they share with duet.
#[derive(Clone, Debug)]
pub struct TurnSettings {
    pub urls: Vec<String>,
    pub secret: Secret,
    pub ttl: Duration,
}

impl TurnSettings {
    /// Fresh credentials for one browser, valid from `now` for the configured time.
    pub fn credentials(&self, now: SystemTime) -> IceServer {
        let expiry = now
            .checked_add(self.ttl)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let tag: u64 = rand::random();
        let username = format!("{expiry}:{tag:016x}");
        IceServer {
            urls: self.urls.clone(),
            credential: Some(password(self.secret.expose(), &username)),
            username: Some(username),
        }
    }
}

/// base64(HMAC-SHA1(secret, username)), the password coturn expects.
pub fn password(secret: &str, username: &str) -> String {
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_base64_hmac_sha1() {
        // RFC 2104-style test vector (HMAC-SHA1, key "key"), base64 of de7c9b85…c9db4d9.
        assert_eq!(
            password("key", "The quick brown fox jumps over the lazy dog"),
            "3nybhbi3iqa8ino29wqQcBydtNk="
        );
    }

    #[test]
    fn credentials_expire_after_the_ttl_and_differ_per_browser() {
        let settings = TurnSettings {
            urls: vec!["turn:127.0.0.1:3478".into()],
            secret: Secret::new("s3cret"),
            ttl: Duration::from_secs(600),
        };
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let a = settings.credentials(now);
        let b = settings.credentials(now);
        let user = a.username.clone().unwrap();
        assert!(user.starts_with("1000600:"), "{user}");
        assert_eq!(a.credential.unwrap(), password("s3cret", &user));
        assert_ne!(a.username, b.username);
        assert!(!format!("{b:?} {settings:?}").contains("s3cret"));
    }
}

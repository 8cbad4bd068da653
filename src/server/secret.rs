//! [`Secret`]: a string that never shows itself in `Debug` output.
//!
//! The admin token, the TURN secret, fixed ICE credentials and the Redis URL (which may hold a
//! password) are kept in a `Secret`, so printing the configuration, or anything built from it,
//! with `{:?}` shows `***` in their place. Reading one takes an explicit [`Secret::expose`],
//! which is easy to find when checking where a secret goes.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// A string that prints as `***`. Deliberately not `PartialEq`: secrets are compared in
/// constant time where they are checked (see `config::admin_token_matches`).
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (a hash, a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// So clap can take a secret from a flag or an environment variable.
impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(text: &str) -> Result<Self, Infallible> {
        Ok(Secret::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_value() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }
}

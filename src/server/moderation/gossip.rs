//! Moderation between nodes: what one node tells the others, so every node's store holds the
//! whole site's reports, bans, lifted bans and blocks. Carried by the switchboard's broadcast (Redis
//! pub/sub); alone there is nobody to tell.

use super::blocks::Block;
use super::store::{Ban, Report};
use serde::{Deserialize, Serialize};

/// One piece of moderation news.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shared {
    /// A report made on the sending node (which alone decides whether it leads to a ban).
    Report(Report),
    /// A ban the sending node issued.
    Ban(Ban),
    /// A moderator lifted the bans of this subject on the sending node.
    Lift { subject: String },
    /// A visitor blocked a stranger (matching already holds it: Redis is shared).
    Block(Block),
    /// A visitor cleared its blocks.
    Unblock { by: String },
}

impl Shared {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(payload: &str) -> Result<Shared, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

//! Every Redis key and channel duet uses, spelled once. Rust builds names with the functions
//! below; the Lua script gets the same prefixes as a table `KEY` written before it
//! ([`lua_prelude`]), so neither restates a name.

use crate::protocol::CallId;
use crate::server::session::{NodeId, SessionId};

/// Everything duet keeps in Redis starts with this, so a Redis shared with other programs
/// stays tidy.
const PREFIX: &str = "duet:";
const SESSION: &str = "duet:s:";
const CALL: &str = "duet:c:";
const OPEN_POOL: &str = "duet:pool:open";
const PREFERENCE_POOL: &str = "duet:pool:p:";
const NODE: &str = "duet:node:";
const NODE_SESSIONS_SUFFIX: &str = ":sessions";
const NODES: &str = "duet:nodes";
const CHANNEL: &str = "duet:events:";
const BLOCKS: &str = "duet:blocks:";
const RESUME: &str = "duet:resume:";
/// The channel every node listens to, for what concerns all of them (moderation).
const BROADCAST: &str = "duet:broadcast";
/// The key nodes hash addresses with, agreed on by the first node to start.
pub const MODERATION_KEY: &str = "duet:moderation-key";

/// A session's record (a hash).
pub fn session(id: SessionId) -> String {
    format!("{SESSION}{}", String::from(id))
}

/// A call's record (a hash).
pub fn call(id: CallId) -> String {
    format!("{CALL}{id}")
}

/// The set of searching sessions that take anyone.
pub fn open_pool() -> &'static str {
    OPEN_POOL
}

/// The set of searching sessions that prefer `pref` (`i:<interest>` or `text`).
pub fn preference_pool(pref: &str) -> String {
    format!("{PREFERENCE_POOL}{pref}")
}

/// A node's heartbeat.
pub fn node(node: &NodeId) -> String {
    format!("{NODE}{node}")
}

/// The set of every node that has beaten.
pub fn nodes() -> &'static str {
    NODES
}

/// The blocks a visitor key made (a hash: `k:<key>` or `a:<address hash>` → until, in Unix
/// seconds; see `matching::blocks`).
pub fn blocks(by: &str) -> String {
    format!("{BLOCKS}{by}")
}

/// What a node leaves for a tab that lost its socket in a call, under the tab's resume token,
/// should the tab come back on another node (a hash: session, visitor, record).
pub fn resume(token: &str) -> String {
    format!("{RESUME}{token}")
}

/// A pattern matching every call record (for `SCAN` in tests).
pub fn every_call() -> String {
    format!("{CALL}*")
}

/// The channel a node hears its sessions' effects and relayed messages on.
pub fn channel(node: &NodeId) -> String {
    format!("{CHANNEL}{node}")
}

/// The channel every node hears.
pub fn broadcast() -> &'static str {
    BROADCAST
}

/// Every key duet may have made, for tests that check nothing is left behind.
pub fn everything() -> String {
    format!("{PREFIX}*")
}

/// The key names for the Lua script, as the table `KEY`.
pub fn lua_prelude() -> String {
    format!(
        "local KEY = {{ session = '{SESSION}', call = '{CALL}', open_pool = '{OPEN_POOL}', \
         pool = '{PREFERENCE_POOL}', node = '{NODE}', \
         node_sessions_suffix = '{NODE_SESSIONS_SUFFIX}', nodes = '{NODES}', \
         channel = '{CHANNEL}', blocks = '{BLOCKS}', resume = '{RESUME}' }}\n"
    )
}

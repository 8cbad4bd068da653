//! The typed boundary with `matchmaker.lua`: what Rust asks the script ([`Command`]) and what
//! it answers ([`Reply`]), both JSON, both spelled by serde from these types and from
//! [`crate::server::matching::Op`], so no op name, field or refusal code is restated by hand.

use super::keys;
use crate::protocol::ErrorCode;
use crate::server::matching::Op;
use crate::server::session::{NodeId, SessionId};
use redis::{Script, ScriptInvocation};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

/// The whole matchmaker: the key names, then the script.
static SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{}{}",
        keys::lua_prelude(),
        include_str!("matchmaker.lua")
    ))
});

/// One run of the script.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Command<'a> {
    /// Something that happened to a session.
    Session(&'a Op),
    /// Something about the calling node itself.
    Node(NodeOp),
}

/// What a node asks for itself rather than for one session's matching: it joins, beats and
/// leaves, and hands sessions over to the node their tab comes back on.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NodeOp {
    /// The node starts (or starts over): Redis forgets whatever it held of the node's
    /// sessions, then the node beats with `online` sessions.
    Hello { online: usize, ttl_ms: u64 },
    /// The heartbeat, every fifth of the node timeout.
    Beat { online: usize, ttl_ms: u64 },
    /// The node shuts down: its sessions are forgotten at once.
    Bye,
    /// `session`'s tab lost its socket in a call: `record` (what another node needs to take
    /// it over) is kept under the tab's resume `token` for `ttl_ms`, for the browser whose
    /// key hashes to `visitor`.
    Linger {
        session: SessionId,
        token: String,
        visitor: String,
        record: String,
        ttl_ms: u64,
    },
    /// A tab came back to this node with resume `token` and a key hashing to `visitor`: take
    /// its session over from the node it lingers on, if it still does.
    Adopt { token: String, visitor: String },
}

/// What the script answers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Done; the effects went out on the nodes' channels.
    Ok,
    /// Not done, for this reason; nothing changed.
    Refused(ErrorCode),
    /// This node's heartbeat had expired (it stalled, or Redis restarted): it may have been
    /// reaped and must start over.
    NodeLost,
    /// The beat's answer: sessions online on the whole site.
    Online(u64),
    /// This node took a session over: its `record` (as the node it left kept it), and the node
    /// its partner is on.
    Adopted {
        record: String,
        partner_node: NodeId,
    },
    /// Nothing to take over: the token or the key is wrong, or the session left meanwhile.
    Gone,
}

/// The script run that carries out `command` for `node`, with fresh random bits for the call
/// ids it may mint. Async code invokes it with `invoke_async`, tests with `invoke`.
pub fn invocation(node: &NodeId, command: &Command<'_>) -> ScriptInvocation<'static> {
    let seed = format!("{:032x}", rand::random::<u128>());
    let mut invocation = SCRIPT.prepare_invoke();
    invocation
        .arg(node.as_str())
        .arg(seed)
        .arg(serde_json::to_string(command).unwrap_or_default());
    invocation
}

/// Reads the script's answer.
pub fn read_reply(text: &str) -> Result<Reply, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_tagged_by_op() {
        let op = Op::Open {
            session: SessionId(1),
            search: 3,
        };
        assert_eq!(
            serde_json::to_string(&Command::Session(&op)).unwrap(),
            r#"{"op":"open","session":"00000000000000000000000000000001","search":3}"#
        );
        assert_eq!(
            serde_json::to_string(&Command::Node(NodeOp::Beat {
                online: 2,
                ttl_ms: 5000
            }))
            .unwrap(),
            r#"{"op":"beat","online":2,"ttl_ms":5000}"#
        );
    }

    #[test]
    fn replies_are_read_as_the_script_writes_them() {
        assert_eq!(read_reply(r#""ok""#).unwrap(), Reply::Ok);
        assert_eq!(
            read_reply(r#"{"refused":"stale_call"}"#).unwrap(),
            Reply::Refused(ErrorCode::StaleCall)
        );
        assert_eq!(read_reply(r#""node_lost""#).unwrap(), Reply::NodeLost);
        assert_eq!(read_reply(r#"{"online":12}"#).unwrap(), Reply::Online(12));
        assert_eq!(read_reply(r#""gone""#).unwrap(), Reply::Gone);
        assert_eq!(
            read_reply(r#"{"adopted":{"record":"{}","partner_node":"n2"}}"#).unwrap(),
            Reply::Adopted {
                record: "{}".into(),
                partner_node: NodeId::from("n2")
            }
        );
        assert!(read_reply(r#""launch""#).is_err());
    }
}

//! The visitors of the matching tests (the Rust and Redis property tests and the
//! differential test): their ids, nodes and interests, and effects described in words for
//! failure messages.

use duet::protocol::CallId;
use duet::server::matching::{Effect, Visitor};
use duet::server::session::{NodeId, SessionId};

/// The nodes the visitors are spread over.
pub const NODES: [&str; 3] = ["node0", "node1", "node2"];
/// A call id no call ever had, in either back end.
pub const NO_CALL: CallId = CallId(0xdead);

/// Visitor `who`'s id (visitors are numbered from 1): its short form in messages (the high
/// 32 bits) is `who` too.
pub fn session(who: usize) -> SessionId {
    SessionId(((who as u128) << 96) | who as u128)
}

/// Who visitor `who` is, for blocks: its own key and address hash.
pub fn identity(who: usize) -> Visitor {
    Visitor {
        key: format!("key{who}"),
        addr: format!("addr{who}"),
    }
}

/// The visitor number of `id`.
pub fn visitor(id: SessionId) -> usize {
    (id.0 & 0xff) as usize
}

/// The node visitor `who` is on.
pub fn node_of(who: usize) -> NodeId {
    NodeId::from(NODES[who % NODES.len()])
}

/// The interests among `names` whose bits are set in `bits`.
pub fn tags(bits: u8, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, t)| t.to_string())
        .collect()
}

/// The language whose bit (after the interests' three) is set in `bits`: `en` (8), `es` (16),
/// or none.
pub fn language(bits: u8) -> String {
    match bits {
        b if b & 8 != 0 => "en".into(),
        b if b & 16 != 0 => "es".into(),
        _ => String::new(),
    }
}

/// An effect in a few words, for failure messages.
pub fn describe(effect: &Effect) -> String {
    match effect {
        Effect::Searching { search, open, .. } => {
            format!("searching #{search}{}", if *open { " (open)" } else { "" })
        }
        Effect::Matched {
            call,
            partner,
            partner_node,
            partner_addr,
            shared_interests,
            partner_text_only,
            text_only,
            first,
            ..
        } => format!(
            "matched in {call} with v{} ({partner_node}, {partner_addr}{}), shared {:?}{}{}",
            visitor(*partner),
            if *partner_text_only {
                ", text only"
            } else {
                ""
            },
            shared_interests,
            if *text_only { ", text-only call" } else { "" },
            if *first { ", first" } else { "" },
        ),
        Effect::Ended { call, reason, .. } => format!("{call} ended: {reason:?}"),
        Effect::Idle { .. } => "idle".into(),
        Effect::Winner { call, role, .. } => format!("{call} won by {role:?}"),
        Effect::Moved { .. } => "moved to another node".into(),
        Effect::PartnerMoved { call, node, .. } => format!("partner in {call} moved to {node}"),
    }
}

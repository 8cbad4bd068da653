//! What arrives on a node's channel, turned into what the switchboard acts on. Pure: the
//! listener hands each payload to [`decode`] and passes the result on.

use crate::protocol::{CallId, ServerMsg};
use crate::server::matching::Effect;
use crate::server::session::{NodeId, SessionId};
use serde::{Deserialize, Serialize};

/// One message on a node's channel (or on the broadcast channel).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeMessage {
    /// One step of the script: what this node's sessions must be told, in order.
    Effects { effects: Vec<Effect> },
    /// A message from `to`'s partner on another node (an offer, a chat line…).
    Relay { to: SessionId, msg: ServerMsg },
    /// `to`'s partner in `call` reported its own connection up: the call shows `to`
    /// something now (so `to` may report the partner).
    Shown { to: SessionId, call: CallId },
    /// Something node `origin` tells every node (moderation); opaque here.
    Broadcast { origin: NodeId, payload: String },
}

/// Reads one payload.
pub fn decode(payload: &str) -> Result<NodeMessage, serde_json::Error> {
    serde_json::from_str(payload)
}

/// Writes one payload.
pub fn encode(message: &NodeMessage) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EndReason, Role};

    const A: &str = "0000000000000000000000000000000a";
    const B: &str = "0000000000000000000000000000000b";

    #[test]
    fn a_step_of_the_script_becomes_effects_in_order() {
        // As cjson writes it: an empty list of shared interests is left out, numbers bare.
        let payload = format!(
            r#"{{"kind":"effects","effects":[
              {{"ev":"ended","to":"{A}","call":"00000000000000c1","reason":"partner_next"}},
              {{"ev":"searching","to":"{A}","search":4,"open":true}},
              {{"ev":"matched","to":"{A}","call":"00000000000000c2","partner":"{B}",
                "partner_node":"n2","partner_addr":"2001:db8::7","partner_text_only":false,
                "text_only":false,"first":true}},
              {{"ev":"winner","to":"{A}","call":"00000000000000c2","role":"peer2"}},
              {{"ev":"idle","to":"{B}"}},
              {{"ev":"moved","to":"{A}"}},
              {{"ev":"partner_moved","to":"{B}","call":"00000000000000c2","node":"n3"}}]}}"#
        );
        let NodeMessage::Effects { effects } = decode(&payload).unwrap() else {
            panic!("effects expected");
        };
        let (a, b) = (SessionId(0xa), SessionId(0xb));
        assert_eq!(
            effects,
            vec![
                Effect::Ended {
                    to: a,
                    call: CallId(0xc1),
                    reason: EndReason::PartnerNext
                },
                Effect::Searching {
                    to: a,
                    search: 4,
                    open: true
                },
                Effect::Matched {
                    shared_language: String::new(),
                    to: a,
                    call: CallId(0xc2),
                    partner: b,
                    partner_node: NodeId::from("n2"),
                    partner_addr: "2001:db8::7".parse().unwrap(),
                    partner_key: String::new(),
                    shared_interests: vec![],
                    partner_text_only: false,
                    text_only: false,
                    first: true
                },
                Effect::Winner {
                    to: a,
                    call: CallId(0xc2),
                    role: Role::Peer2
                },
                Effect::Idle { to: b },
                Effect::Moved { to: a },
                Effect::PartnerMoved {
                    to: b,
                    call: CallId(0xc2),
                    node: NodeId::from("n3")
                },
            ]
        );
    }

    #[test]
    fn relays_and_broadcasts_round_trip() {
        for message in [
            NodeMessage::Relay {
                to: SessionId(7),
                msg: ServerMsg::Chat {
                    call_id: CallId(9),
                    text: "hi".into(),
                },
            },
            NodeMessage::Broadcast {
                origin: NodeId::from("n1"),
                payload: "{}".into(),
            },
            NodeMessage::Shown {
                to: SessionId(3),
                call: CallId(4),
            },
        ] {
            assert_eq!(decode(&encode(&message)).unwrap(), message);
        }
    }

    #[test]
    fn junk_is_an_error_not_a_panic() {
        for payload in [
            "",
            "[]",
            r#"{"kind":"effects","effects":{}}"#,
            r#"{"kind":"x"}"#,
        ] {
            assert!(decode(payload).is_err(), "{payload}");
        }
    }
}

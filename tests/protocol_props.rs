//! Bounded property run of the protocol decoder, inside the normal test suite (the open-ended
//! run is the `cargo fuzz` target in `fuzz/`): hostile JSON never panics the decoder, and
//! every message round-trips through the encoder, and an SDP passed on as the browser wrote it
//! reaches the partner as the decoded message would; and the browser's hand-written wire
//! format (`duet::wire`) writes what the server reads and reads what the server writes.

use duet::protocol::{
    decode_client, decode_server, encode, CallId, ClientMsg, EndReason, ErrorCode, IceCandidate,
    RawSdp, ReportReason, Role, ServerMsg,
};
use duet::wire;
use proptest::prelude::*;
use serde_json::{json, Value};
use strum::VariantArray;

/// JSON values of any shape, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects that look like messages: a real or made-up type and fields of any shape.
fn message_like() -> impl Strategy<Value = Value> {
    let types = prop_oneof![
        Just("call"),
        Just("next"),
        Just("end"),
        Just("offer"),
        Just("answer"),
        Just("ice"),
        Just("connected"),
        Just("report"),
        Just("admin"),
        Just(""),
        Just("proof"),
        Just("challenge"),
        Just("proof_accepted"),
    ];
    let field_names = prop_oneof![
        Just("call_id"),
        Just("sdp"),
        Just("role"),
        Just("candidate"),
        Just("reason"),
        Just("type"),
        Just("nonce"),
        Just("seed"),
        Just("bits"),
        Just("expires_in"),
    ];
    (
        types,
        prop::collection::vec((field_names, any_json()), 0..5),
    )
        .prop_map(|(ty, fields)| {
            let mut object = serde_json::Map::new();
            object.insert("type".into(), json!(ty));
            for (name, value) in fields {
                object.insert(name.into(), value);
            }
            Value::Object(object)
        })
}

fn any_client_msg() -> impl Strategy<Value = ClientMsg> {
    let call_id = any::<u64>().prop_map(CallId);
    let role = prop_oneof![Just(Role::Peer1), Just(Role::Peer2)];
    let reason = prop::sample::select(ReportReason::ALL.to_vec());
    prop_oneof![
        (
            prop::collection::vec("[a-z]{1,8}", 0..5),
            any::<bool>(),
            ".{0,3}"
        )
            .prop_map(|(interests, text_only, language)| ClientMsg::Call {
                interests,
                text_only,
                language,
            }),
        Just(ClientMsg::Next),
        Just(ClientMsg::End),
        (call_id.clone(), ".{0,200}").prop_map(|(call_id, sdp)| ClientMsg::Offer { call_id, sdp }),
        (call_id.clone(), ".{0,200}").prop_map(|(call_id, sdp)| ClientMsg::Answer { call_id, sdp }),
        (
            call_id.clone(),
            role.clone(),
            ".{0,80}",
            proptest::option::of(".{0,4}"),
            proptest::option::of(any::<u16>())
        )
            .prop_map(|(call_id, role, candidate, sdp_mid, sdp_m_line_index)| {
                ClientMsg::Ice {
                    call_id,
                    role,
                    candidate: IceCandidate {
                        candidate,
                        sdp_mid,
                        sdp_m_line_index,
                    },
                }
            }),
        (call_id.clone(), role).prop_map(|(call_id, role)| ClientMsg::Connected { call_id, role }),
        (call_id.clone(), reason, any::<bool>()).prop_map(|(call_id, reason, screened)| {
            ClientMsg::Report {
                call_id,
                reason,
                screened,
            }
        }),
        (call_id.clone(), ".{0,120}").prop_map(|(call_id, text)| ClientMsg::Chat { call_id, text }),
        (call_id.clone(), any::<bool>())
            .prop_map(|(call_id, typing)| ClientMsg::Typing { call_id, typing }),
        (call_id.clone(), any::<bool>(), any::<bool>()).prop_map(|(call_id, mic, camera)| {
            ClientMsg::Media {
                call_id,
                mic,
                camera,
            }
        }),
        call_id.prop_map(|call_id| ClientMsg::Block { call_id }),
        Just(ClientMsg::ClearBlocks),
        (any::<u64>(), any::<bool>()).prop_map(|(id, in_place)| ClientMsg::Reconnect {
            call_id: CallId(id),
            in_place,
        }),
        any::<u64>().prop_map(|nonce| ClientMsg::Proof { nonce }),
    ]
}

fn any_candidate() -> impl Strategy<Value = IceCandidate> {
    (
        ".{0,80}",
        proptest::option::of(".{0,4}"),
        proptest::option::of(any::<u16>()),
    )
        .prop_map(|(candidate, sdp_mid, sdp_m_line_index)| IceCandidate {
            candidate,
            sdp_mid,
            sdp_m_line_index,
        })
}

fn any_server_msg() -> impl Strategy<Value = ServerMsg> {
    let call_id = any::<u64>().prop_map(CallId);
    let role = prop_oneof![Just(Role::Peer1), Just(Role::Peer2)];
    prop_oneof![
        any::<u32>().prop_map(|count| ServerMsg::Online { count }),
        Just(ServerMsg::Searching),
        (
            call_id.clone(),
            prop::collection::vec(".{1,24}", 0..5),
            any::<bool>(),
            ".{0,3}"
        )
            .prop_map(
                |(call_id, shared_interests, partner_text_only, shared_language)| {
                    ServerMsg::Matched {
                        call_id,
                        shared_interests,
                        partner_text_only,
                        shared_language,
                    }
                }
            ),
        (call_id.clone(), ".{0,200}").prop_map(|(call_id, sdp)| ServerMsg::Offer { call_id, sdp }),
        (call_id.clone(), ".{0,200}").prop_map(|(call_id, sdp)| ServerMsg::Answer { call_id, sdp }),
        (call_id.clone(), role.clone(), any_candidate()).prop_map(|(call_id, role, candidate)| {
            ServerMsg::Ice {
                call_id,
                role,
                candidate,
            }
        }),
        (call_id.clone(), role).prop_map(|(call_id, role)| ServerMsg::Winner { call_id, role }),
        (
            call_id.clone(),
            prop::sample::select(EndReason::VARIANTS.to_vec())
        )
            .prop_map(|(call_id, reason)| ServerMsg::CallEnded { call_id, reason }),
        Just(ServerMsg::Idle),
        call_id
            .clone()
            .prop_map(|call_id| ServerMsg::Reported { call_id }),
        ("[0-9a-f]{32}", any::<u32>(), "([0-9a-f]{32})?").prop_map(|(key, blocked, resume)| {
            ServerMsg::Visitor {
                key,
                blocked,
                resume,
            }
        }),
        (
            call_id.clone(),
            prop::collection::vec(".{1,24}", 0..3),
            any::<bool>(),
            ".{0,3}"
        )
            .prop_map(
                |(call_id, shared_interests, partner_text_only, shared_language)| {
                    ServerMsg::Resumed {
                        call_id,
                        shared_interests,
                        partner_text_only,
                        shared_language,
                    }
                }
            ),
        call_id
            .clone()
            .prop_map(|call_id| ServerMsg::PartnerAway { call_id }),
        (call_id.clone(), any::<bool>())
            .prop_map(|(call_id, in_place)| ServerMsg::PartnerBack { call_id, in_place }),
        (call_id.clone(), any::<u32>())
            .prop_map(|(call_id, blocked)| ServerMsg::Blocked { call_id, blocked }),
        (call_id.clone(), ".{0,120}").prop_map(|(call_id, text)| ServerMsg::Chat { call_id, text }),
        (call_id.clone(), any::<bool>())
            .prop_map(|(call_id, typing)| ServerMsg::Typing { call_id, typing }),
        (call_id, any::<bool>(), any::<bool>()).prop_map(|(call_id, mic, camera)| {
            ServerMsg::Media {
                call_id,
                mic,
                camera,
            }
        }),
        Just(ServerMsg::ShuttingDown),
        (".{0,40}", any::<u8>(), any::<u32>()).prop_map(|(seed, bits, expires_in)| {
            ServerMsg::Challenge {
                seed,
                bits,
                expires_in,
            }
        }),
        Just(ServerMsg::ProofAccepted),
        (
            prop::sample::select(ErrorCode::VARIANTS.to_vec()),
            ".{0,80}"
        )
            .prop_map(|(code, message)| ServerMsg::Error { code, message }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_the_decoder(text in ".{0,300}") {
        let _ = decode_client(&text);
    }

    #[test]
    fn message_like_json_decodes_or_errors_and_what_decodes_round_trips(value in message_like()) {
        if let Ok(msg) = decode_client(&value.to_string()) {
            prop_assert_eq!(decode_client(&encode(&msg)).unwrap(), msg);
        }
    }

    #[test]
    fn every_message_round_trips(msg in any_client_msg()) {
        prop_assert_eq!(decode_client(&encode(&msg)).unwrap(), msg);
    }

    #[test]
    fn an_sdp_passed_on_as_written_reads_as_the_decoded_message_would(
        msg in any_client_msg(),
        extra in proptest::option::of(any_json()),
    ) {
        let mut value: Value = serde_json::from_str(&encode(&msg)).unwrap();
        // Fields the server does not know are dropped, not passed on.
        if let Some(extra) = extra {
            value["smuggled"] = extra;
        }
        let text = value.to_string();
        match (RawSdp::decode(&text), msg.clone().for_partner()) {
            (Ok(sdp), Ok((_, expected))) => {
                let frame = sdp.frame_for_partner();
                prop_assert!(!frame.contains("smuggled"));
                prop_assert_eq!(decode_server(&frame).unwrap(), expected.clone());
                prop_assert_eq!(sdp.to_server_msg().unwrap(), expected);
            }
            (Ok(_), Err(_)) => prop_assert!(false, "{} read as an SDP", text),
            (Err(_), Ok((_, expected))) => prop_assert!(
                !matches!(msg, ClientMsg::Offer { .. } | ClientMsg::Answer { .. }),
                "{} refused, expected {:?}", text, expected
            ),
            (Err(_), Err(_)) => {}
        }
    }

    #[test]
    fn message_like_json_is_an_sdp_only_if_it_decodes_as_an_offer_or_answer(value in message_like()) {
        let text = value.to_string();
        if let Ok(sdp) = RawSdp::decode(&text) {
            let decoded = decode_client(&text);
            prop_assert!(
                matches!(decoded, Ok(ClientMsg::Offer { .. } | ClientMsg::Answer { .. })),
                "{} read as an SDP but decodes as {:?}", text, decoded
            );
            prop_assert!(decode_server(&sdp.frame_for_partner()).is_ok());
        }
    }

    #[test]
    fn what_the_browser_writes_the_server_reads(msg in any_client_msg()) {
        let text = wire::encode(&msg);
        prop_assert_eq!(decode_client(&text).unwrap(), msg);
        // The server reads a frame's kind from its first bytes when it starts with it.
        prop_assert!(text.starts_with(r#"{"type":""#), "{}", text);
    }

    #[test]
    fn what_the_server_writes_the_browser_reads(msg in any_server_msg()) {
        prop_assert_eq!(wire::decode(&encode(&msg)).unwrap(), msg);
    }

    #[test]
    fn an_sdp_the_browser_wrote_reaches_the_partner_as_written(
        call_id in any::<u64>().prop_map(CallId),
        sdp in ".{0,300}",
        answer in any::<bool>(),
    ) {
        let (sent, expected) = if answer {
            (ClientMsg::Answer { call_id, sdp: sdp.clone() }, ServerMsg::Answer { call_id, sdp })
        } else {
            (ClientMsg::Offer { call_id, sdp: sdp.clone() }, ServerMsg::Offer { call_id, sdp })
        };
        let text = wire::encode(&sent);
        let frame = RawSdp::decode(&text).unwrap().frame_for_partner();
        prop_assert_eq!(wire::decode(&frame).unwrap(), expected);
    }

    #[test]
    fn arbitrary_text_never_panics_the_browsers_reader(text in ".{0,300}") {
        let _ = wire::decode(&text);
    }

    #[test]
    fn message_like_json_reads_the_same_in_the_browser_as_on_the_server(value in message_like()) {
        let text = value.to_string();
        if let (Ok(server), Ok(browser)) = (decode_server(&text), wire::decode(&text)) {
            prop_assert_eq!(server, browser);
        }
    }
}

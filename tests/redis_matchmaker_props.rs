//! A property test of `matchmaker.lua` itself, against a real `redis-server`: random
//! interleavings of Call (with interests, text-only), Next, End, tab closes, `connected`
//! reports (current or stale call), connect timeouts, the end of preference waits, and nodes
//! dying and coming back, from sessions on three nodes.
//!
//! After every step what Redis holds, read back as a [`rules::Snapshot`], must keep the rule
//! stated once in `matching::rules` ([`rules::check`], and [`rules::check_step`] across the
//! step), and the keys must agree with each other (pools, call records, node session sets).
#![cfg(feature = "ssr")]

mod common;

use common::visitors::{identity, node_of, session, tags, NODES, NO_CALL};

use common::TestRedis;
use duet::protocol::{CallId, Role};
use duet::server::matching::redis::keys;
use duet::server::matching::redis::script::{self, Command, NodeOp, Reply};
use duet::server::matching::rules::{self, SessionView, Snapshot, State};
use duet::server::matching::{Op, Visitor};
use duet::server::session::{NodeId, SessionId};
use proptest::prelude::*;
use redis::{Commands, Connection};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

const PEOPLE: usize = 8;
const TAGS: [&str; 3] = ["chess", "jazz", "go"];
const TTL_MS: u64 = 60_000;

#[derive(Clone, Debug)]
enum Step {
    /// Call with the interests whose bits are set in `tags`.
    Call {
        who: usize,
        tags: u8,
        text: bool,
    },
    Next {
        who: usize,
    },
    End {
        who: usize,
    },
    Leave {
        who: usize,
    },
    /// A `connected` report for the current call, or (`stale`) for the last one before it.
    Connected {
        who: usize,
        peer1: bool,
        stale: bool,
    },
    /// The connect timeout of `who`'s current call.
    Expire {
        who: usize,
    },
    /// The end of the preference wait of `who`'s current search, or (`stale`) of the one
    /// before.
    Open {
        who: usize,
        stale: bool,
    },
    /// The node's heartbeat expires; another node's beat reaps it; it says hello again.
    KillNode {
        node: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 1..=PEOPLE;
    prop_oneof![
        4 => (who.clone(), 0u8..8, proptest::bool::weighted(0.25))
            .prop_map(|(who, tags, text)| Step::Call { who, tags, text }),
        3 => who.clone().prop_map(|who| Step::Next { who }),
        2 => who.clone().prop_map(|who| Step::End { who }),
        1 => who.clone().prop_map(|who| Step::Leave { who }),
        2 => (who.clone(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(who, peer1, stale)| Step::Connected { who, peer1, stale }),
        1 => who.clone().prop_map(|who| Step::Expire { who }),
        2 => (who.clone(), proptest::bool::weighted(0.2))
            .prop_map(|(who, stale)| Step::Open { who, stale }),
        1 => (0..NODES.len()).prop_map(|node| Step::KillNode { node }),
    ]
}

fn addr_of(who: usize) -> IpAddr {
    format!("10.0.0.{who}").parse().unwrap()
}

/// Every pool a session may wait in.
fn pool_keys() -> Vec<String> {
    let mut pools = vec![keys::open_pool().to_string()];
    pools.extend(
        TAGS.iter()
            .map(|t| keys::preference_pool(&format!("i:{t}"))),
    );
    pools.push(keys::preference_pool("text"));
    pools
}

/// The set of a node's sessions (keys.rs has no function for it: the script alone uses it).
fn node_sessions(node: &NodeId) -> String {
    format!("{}:sessions", keys::node(node))
}

struct Site {
    conn: Connection,
    /// The calls each visitor was in, in order (for stale `connected` reports).
    calls: HashMap<usize, Vec<CallId>>,
}

impl Site {
    fn run(&mut self, node: &NodeId, command: &Command<'_>) -> Reply {
        let text: String = script::invocation(node, command)
            .invoke(&mut self.conn)
            .unwrap_or_else(|e| panic!("{command:?} failed: {e}"));
        script::read_reply(&text).unwrap_or_else(|e| panic!("{command:?}: reply {text}: {e}"))
    }

    fn session_op(&mut self, who: usize, op: Op) -> Result<(), TestCaseError> {
        match self.run(&node_of(who), &Command::Session(&op)) {
            Reply::Ok => Ok(()),
            Reply::Refused(_) if matches!(op, Op::Connected { .. }) => Ok(()),
            other => Err(TestCaseError::fail(format!("{op:?} answered {other:?}"))),
        }
    }

    fn record(&mut self, who: usize) -> HashMap<String, String> {
        self.conn.hgetall(keys::session(session(who))).unwrap()
    }

    fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Call {
                who,
                tags: bits,
                text,
            } => self.session_op(
                who,
                Op::Call {
                    language: String::new(),
                    session: session(who),
                    addr: addr_of(who),
                    visitor: identity(who),
                    interests: tags(bits, &TAGS),
                    text_only: text,
                },
            ),
            Step::Next { who } => self.session_op(
                who,
                Op::Next {
                    session: session(who),
                    addr: addr_of(who),
                    visitor: identity(who),
                },
            ),
            Step::End { who } => self.session_op(
                who,
                Op::End {
                    session: session(who),
                },
            ),
            Step::Leave { who } => self.session_op(
                who,
                Op::Leave {
                    session: session(who),
                },
            ),
            Step::Connected { who, peer1, stale } => {
                let current = self.record(who).get("call").map(|c| c.parse().unwrap());
                let calls = self.calls.get(&who).cloned().unwrap_or_default();
                let earlier = calls.iter().rev().find(|c| Some(**c) != current).copied();
                let call = if stale { earlier } else { current };
                self.session_op(
                    who,
                    Op::Connected {
                        session: session(who),
                        call: call.unwrap_or(NO_CALL),
                        role: if peer1 { Role::Peer1 } else { Role::Peer2 },
                    },
                )
            }
            Step::Expire { who } => {
                let call = self.record(who).get("call").map(|c| c.parse().unwrap());
                self.session_op(
                    who,
                    Op::Expire {
                        call: call.unwrap_or(NO_CALL),
                    },
                )
            }
            Step::Open { who, stale } => {
                let gen: u64 = self
                    .record(who)
                    .get("gen")
                    .map_or(0, |g| g.parse().unwrap());
                self.session_op(
                    who,
                    Op::Open {
                        session: session(who),
                        search: gen.saturating_sub(stale as u64),
                    },
                )
            }
            Step::KillNode { node } => {
                let dead = NodeId::from(NODES[node]);
                let survivor = NodeId::from(NODES[(node + 1) % NODES.len()]);
                let _: () = self.conn.del(keys::node(&dead)).unwrap();
                let beat = NodeOp::Beat {
                    online: 0,
                    ttl_ms: TTL_MS,
                };
                prop_assert!(matches!(
                    self.run(&survivor, &Command::Node(beat)),
                    Reply::Online(_)
                ));
                // The dead node learns it was taken for dead, and starts over.
                let lost = self.run(
                    &dead,
                    &Command::Session(&Op::End {
                        session: session(node),
                    }),
                );
                prop_assert_eq!(lost, Reply::NodeLost);
                let hello = NodeOp::Hello {
                    online: 0,
                    ttl_ms: TTL_MS,
                };
                prop_assert_eq!(self.run(&dead, &Command::Node(hello)), Reply::Ok);
                Ok(())
            }
        }
    }

    /// What Redis holds, in the words of the rule; and the checks only Redis needs (its keys
    /// agree with each other).
    fn snapshot(&mut self) -> Result<Snapshot, TestCaseError> {
        // One round trip for the sessions, the pools, the nodes' sets and the calls' names.
        let node_sets: Vec<String> = NODES
            .iter()
            .map(|n| node_sessions(&NodeId::from(*n)))
            .collect();
        let mut pipe = redis::pipe();
        for who in 1..=PEOPLE {
            pipe.hgetall(keys::session(session(who)));
        }
        for key in pool_keys().iter().chain(&node_sets) {
            pipe.smembers(key);
        }
        pipe.keys(keys::every_call());
        let mut replies: Vec<redis::Value> = pipe.query(&mut self.conn).unwrap();
        let call_keys: Vec<String> = redis::from_redis_value(replies.pop().unwrap()).unwrap();
        let mut sets = replies
            .split_off(PEOPLE)
            .into_iter()
            .map(|set| redis::from_redis_value::<HashSet<String>>(set).unwrap());
        let pools: Vec<(String, HashSet<String>)> =
            pool_keys().into_iter().zip(sets.by_ref()).collect();
        let node_sets: Vec<(String, HashSet<String>)> = node_sets.into_iter().zip(sets).collect();

        let mut snapshot = Snapshot::default();
        let mut records = HashMap::new();
        for (who, r) in (1..=PEOPLE).zip(replies) {
            let r: HashMap<String, String> = redis::from_redis_value(r).unwrap();
            if r.is_empty() {
                continue;
            }
            let id = session(who);
            let hex = String::from(id);
            prop_assert_eq!(&r["node"], &node_of(who).to_string());
            prop_assert!(
                node_sets[who % NODES.len()].1.contains(&hex),
                "{hex} missing from its node's set"
            );
            let state = match r["state"].as_str() {
                "idle" => State::Idle,
                "searching" => State::Searching,
                "call" => State::InCall {
                    call: r["call"].parse().unwrap(),
                    partner: SessionId::try_from(r["partner"].clone()).unwrap(),
                },
                other => return Err(TestCaseError::fail(format!("{hex} stands {other:?}"))),
            };
            let in_call = matches!(state, State::InCall { .. });
            prop_assert!(
                r.contains_key("call") == in_call && r.contains_key("partner") == in_call,
                "{hex}: a call and a partner exactly while in a call: {r:?}"
            );
            let interests: Vec<String> = serde_json::from_str(&r["tags"]).unwrap();
            let text_only = r["text"] == "1";
            let open = r["open"] == "1";
            // Each search waits in exactly the pools of its preferences, and in the open pool
            // once it takes anyone.
            let searching = state == State::Searching;
            for (key, members) in &pools {
                let belongs = if key == keys::open_pool() {
                    open
                } else if *key == keys::preference_pool("text") {
                    text_only
                } else {
                    interests
                        .iter()
                        .any(|t| *key == keys::preference_pool(&format!("i:{t}")))
                };
                prop_assert_eq!(
                    members.contains(&hex),
                    searching && belongs,
                    "{} in {}: {:?}",
                    hex,
                    key,
                    r
                );
            }
            snapshot.sessions.insert(
                id,
                SessionView {
                    language: r.get("lang").cloned().unwrap_or_default(),
                    state,
                    in_pools: pools.iter().any(|(_, m)| m.contains(&hex)),
                    open,
                    last_partner: r
                        .get("last")
                        .map(|l| SessionId::try_from(l.clone()).unwrap()),
                    interests,
                    text_only,
                    visitor: Visitor {
                        key: r.get("vk").cloned().unwrap_or_default(),
                        addr: r.get("vh").cloned().unwrap_or_default(),
                    },
                    away: r.get("away").is_some_and(|a| a == "1"),
                },
            );
            records.insert(hex, r);
        }
        // Pools and node sets hold only sessions that exist.
        for (key, members) in &pools {
            for m in members {
                prop_assert!(records.contains_key(m), "{key} holds {m}, which is gone");
            }
        }
        for (set, members) in &node_sets {
            for m in members {
                prop_assert!(records.contains_key(m), "{set} holds {m}, which is gone");
            }
        }
        let mut pipe = redis::pipe();
        for key in &call_keys {
            pipe.hgetall(key);
        }
        let calls: Vec<HashMap<String, String>> = if call_keys.is_empty() {
            Vec::new()
        } else {
            pipe.query(&mut self.conn).unwrap()
        };
        for (key, c) in call_keys.into_iter().zip(calls) {
            let id: CallId = key.rsplit(':').next().unwrap().parse().unwrap();
            prop_assert_eq!(key, keys::call(id));
            let side = |s: &str| SessionId::try_from(c[s].clone()).unwrap();
            snapshot.calls.insert(id, [side("a"), side("b")]);
        }
        Ok(snapshot)
    }
}

#[test]
fn the_redis_matchmaker_keeps_the_rule() {
    // One redis-server for every case (each starts from an empty database).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = runtime.block_on(TestRedis::start());
    let client = redis::Client::open(redis.url()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 128,
        ..ProptestConfig::default()
    });
    let result = runner.run(&prop::collection::vec(step(), 1..80), |steps| {
        let mut site = Site {
            conn: client.get_connection().unwrap(),
            calls: HashMap::new(),
        };
        let _: () = redis::cmd("FLUSHALL").query(&mut site.conn).unwrap();
        for node in NODES {
            let hello = NodeOp::Hello {
                online: 0,
                ttl_ms: TTL_MS,
            };
            prop_assert_eq!(
                site.run(&NodeId::from(node), &Command::Node(hello)),
                Reply::Ok
            );
        }
        let mut before = site.snapshot()?;
        for step in &steps {
            site.apply(step)
                .map_err(|e| TestCaseError::fail(format!("{step:?}: {e}")))?;
            let after = site
                .snapshot()
                .map_err(|e| TestCaseError::fail(format!("after {step:?}: {e}")))?;
            rules::check(&after)
                .map_err(|e| TestCaseError::fail(format!("after {step:?}: {e}")))?;
            rules::check_step(&before, &after)
                .map_err(|e| TestCaseError::fail(format!("across {step:?}: {e}")))?;
            for (call, sides) in &after.calls {
                if !before.calls.contains_key(call) {
                    for side in sides {
                        let who = (side.0 & 0xff) as usize;
                        site.calls.entry(who).or_default().push(*call);
                    }
                }
            }
            before = after;
        }
        Ok(())
    });
    drop(redis);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

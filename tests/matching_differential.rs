//! The two matching back ends side by side: the same random steps (Call with interests and
//! text-only, Next, End, tab closes, `connected` reports for the current or a stale call,
//! connect timeouts, the end of preference waits, blocks and clearing them, from sessions on
//! three nodes) go through the
//! in-memory [`Matchmaker`] and through `matchmaker.lua` on a real `redis-server`, and after
//! every step every visitor must have been told the same things, in the same order, by both:
//! search numbers, call ends and their reasons, matches (partner, its node and address, shared
//! interests, text-only), winners and refusals. Call ids differ (each back end draws its own),
//! so the Lua script's are mapped to the matchmaker's through the matches of the same step.
//! The rule stated once in `matching::rules` is checked on the matchmaker after every step too.
//!
//! Both back ends pick strangers at random. Each step runs on the Lua script first; every
//! pair it made is then *steered* into the matchmaker (`Matchmaker::steer`), which takes the
//! script's pick only where its own rule allows it. So the comparison is not a coin toss: the
//! two agree exactly when every pick the script made is one the matchmaker's rule allows (and
//! the matchmaker finds nobody where the script found nobody). A script that picks a stranger
//! the rule forbids (the one just left while someone else waits, one without a shared
//! interest before the preference wait ends) makes the matchmaker pick someone else or
//! nobody, and the step's effects differ. (The other way round, a matchmaker whose rule
//! allowed more than the script's would still follow the script's picks here; the
//! matchmaker's own property test, where it picks alone, holds it to `rules::check_step`.)
//!
//! What the script publishes is read from the nodes' channels. To know that all of one step's
//! messages are in, a marker is published on every channel after the step: Redis delivers a
//! connection's messages in order, so once each channel's marker has arrived, so has all the
//! step published before it (no sleeping, no waiting for silence).
#![cfg(feature = "ssr")]

mod common;

use common::visitors::{
    describe, identity, language, node_of, session, tags, visitor, NODES, NO_CALL,
};

use common::TestRedis;
use duet::protocol::{CallId, Role};
use duet::server::matching::memory::Matchmaker;
use duet::server::matching::redis::events::{self, NodeMessage};
use duet::server::matching::redis::keys;
use duet::server::matching::redis::script::{self, Command, NodeOp, Reply};
use duet::server::matching::rules::{self, SessionView, Snapshot, State};
use duet::server::matching::{Effect, MatchError, Op, Visitor};
use duet::server::session::{NodeId, SessionId};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use redis::{Connection, PubSub};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

/// Visitors are numbered from 1 to `PEOPLE`. At most eight strangers wait in a pool, so the
/// script's sample of a pool (eight members) always sees all of it, as the matchmaker does.
const PEOPLE: usize = 7;
/// Interests as the script must carry them through JSON and key names unchanged.
const TAGS: [&str; 3] = ["chess", "jazz/blues", "café \"go\" 囲碁"];
const TTL_MS: u64 = 600_000;
/// Blocks in this test hold until 2100.
const BLOCKED_UNTIL: i64 = 4_102_444_800;

#[derive(Clone, Debug)]
enum Step {
    /// Call with the interests (and the language) whose bits are set in `tags` (see
    /// `visitors::language`), from address number `addr`.
    Call {
        who: usize,
        tags: u8,
        text: bool,
        addr: u8,
    },
    Next {
        who: usize,
        addr: u8,
    },
    End {
        who: usize,
    },
    Leave {
        who: usize,
    },
    /// A `connected` report for the current call, or (`stale`) for an earlier one.
    Connected {
        who: usize,
        peer1: bool,
        stale: bool,
    },
    /// The connect timeout of `who`'s current call, or (`stale`) of an earlier one.
    Expire {
        who: usize,
        stale: bool,
    },
    /// The end of the preference wait of `who`'s current search, or (`stale`) of the one
    /// before.
    Open {
        who: usize,
        stale: bool,
    },
    /// `who` never meets `stranger` again.
    Block {
        who: usize,
        stranger: usize,
    },
    /// `who` clears its blocks.
    Unblock {
        who: usize,
    },
    /// `who`'s tab loses its socket in a call and may come back.
    Away {
        who: usize,
    },
    /// `who`'s tab is back with a new socket; its call stands.
    Back {
        who: usize,
    },
    /// `who` races its current call's connections anew.
    Rejoin {
        who: usize,
    },
}

impl Step {
    /// The visitor the step is about; the step runs on its node.
    fn who(&self) -> usize {
        match *self {
            Step::Call { who, .. }
            | Step::Next { who, .. }
            | Step::End { who }
            | Step::Leave { who }
            | Step::Connected { who, .. }
            | Step::Expire { who, .. }
            | Step::Open { who, .. }
            | Step::Block { who, .. }
            | Step::Unblock { who }
            | Step::Away { who }
            | Step::Back { who }
            | Step::Rejoin { who } => who,
        }
    }
}

fn step() -> impl Strategy<Value = Step> {
    let who = 1..=PEOPLE;
    prop_oneof![
        4 => (who.clone(), 0u8..32, proptest::bool::weighted(0.25), 0u8..3)
            .prop_map(|(who, tags, text, addr)| Step::Call { who, tags, text, addr }),
        3 => (who.clone(), 0u8..3).prop_map(|(who, addr)| Step::Next { who, addr }),
        2 => who.clone().prop_map(|who| Step::End { who }),
        1 => who.clone().prop_map(|who| Step::Leave { who }),
        2 => (who.clone(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(who, peer1, stale)| Step::Connected { who, peer1, stale }),
        1 => (who.clone(), proptest::bool::weighted(0.2))
            .prop_map(|(who, stale)| Step::Expire { who, stale }),
        1 => (who.clone(), who.clone()).prop_map(|(who, stranger)| Step::Block { who, stranger }),
        1 => who.clone().prop_map(|who| Step::Unblock { who }),
        1 => who.clone().prop_map(|who| Step::Away { who }),
        1 => who.clone().prop_map(|who| Step::Back { who }),
        1 => who.clone().prop_map(|who| Step::Rejoin { who }),
        2 => (who.clone(), proptest::bool::weighted(0.2))
            .prop_map(|(who, stale)| Step::Open { who, stale }),
    ]
}

fn describe_all(effects: Option<&Vec<Effect>>) -> String {
    let words: Vec<String> = effects.into_iter().flatten().map(describe).collect();
    format!("[{}]", words.join("; "))
}

/// Address number `n` of visitor `who`: IPv4 or IPv6, as the switchboard passes them on.
fn addr_of(who: usize, n: u8) -> IpAddr {
    if n.is_multiple_of(2) {
        format!("10.0.{who}.{n}").parse().unwrap()
    } else {
        format!("2001:db8::{who}:{n}").parse().unwrap()
    }
}

/// What a visitor has been told so far (by the matchmaker; the script told it the same).
#[derive(Clone, Debug, Default)]
struct Told {
    state: Option<State>,
    /// The number of its last search.
    search: u64,
    /// Every call it was matched into, the current one last.
    calls: Vec<CallId>,
}

/// Effects by visitor, each visitor's in order.
type ByVisitor = BTreeMap<SessionId, Vec<Effect>>;

fn by_visitor(effects: impl IntoIterator<Item = Effect>) -> ByVisitor {
    let mut map = ByVisitor::new();
    for effect in effects {
        map.entry(effect.to()).or_default().push(effect);
    }
    map
}

/// The script on a real Redis, and what it publishes.
struct Lua<'a> {
    conn: Connection,
    events: PubSub<'a>,
    markers: u64,
}

impl Lua<'_> {
    fn run(&mut self, node: &NodeId, command: &Command<'_>) -> Reply {
        let text: String = script::invocation(node, command)
            .invoke(&mut self.conn)
            .unwrap_or_else(|e| panic!("{command:?} failed: {e}"));
        script::read_reply(&text).unwrap_or_else(|e| panic!("{command:?}: reply {text}: {e}"))
    }

    /// What Redis holds, in the words of the rule (`matching::rules`), with the script's call
    /// ids in the matchmaker's names.
    fn snapshot(&mut self, ids: &CallIds) -> Snapshot {
        let mut pools = vec![keys::open_pool().to_string()];
        pools.extend(
            TAGS.iter()
                .map(|t| keys::preference_pool(&format!("i:{t}"))),
        );
        pools.push(keys::preference_pool("text"));
        pools.extend(["l:en", "l:es"].map(keys::preference_pool));
        // One round trip for the sessions, the pools and the calls' names.
        let mut pipe = redis::pipe();
        for who in 1..=PEOPLE {
            pipe.hgetall(keys::session(session(who)));
        }
        for who in 1..=PEOPLE {
            pipe.hgetall(keys::blocks(&identity(who).key));
        }
        for pool in &pools {
            pipe.smembers(pool);
        }
        pipe.keys(keys::every_call());
        let mut replies: Vec<redis::Value> = pipe.query(&mut self.conn).unwrap();
        let calls: Vec<String> = redis::from_redis_value(replies.pop().unwrap()).unwrap();
        let waiting: Vec<HashSet<String>> = replies
            .split_off(2 * PEOPLE)
            .into_iter()
            .map(|pool| redis::from_redis_value(pool).unwrap())
            .collect();
        let blocks: Vec<HashMap<String, i64>> = replies
            .split_off(PEOPLE)
            .into_iter()
            .map(|b| redis::from_redis_value(b).unwrap())
            .collect();
        let records = replies.into_iter().map(|r| {
            let record: HashMap<String, String> = redis::from_redis_value(r).unwrap();
            record
        });
        let mut snapshot = Snapshot::default();
        for (who, mine) in (1..=PEOPLE).zip(blocks) {
            for (target, until) in mine {
                snapshot
                    .blocks
                    .insert_target(&identity(who).key, target, until);
            }
        }
        for (who, r) in (1..=PEOPLE).zip(records) {
            if r.is_empty() {
                continue;
            }
            let id = session(who);
            let state = match r["state"].as_str() {
                "idle" => State::Idle,
                "searching" => State::Searching,
                _ => State::InCall {
                    call: ids.rust(r["call"].parse().unwrap()),
                    partner: SessionId::try_from(r["partner"].clone()).unwrap(),
                },
            };
            let session = SessionView {
                language: r.get("lang").cloned().unwrap_or_default(),
                state,
                in_pools: waiting.iter().any(|pool| pool.contains(&String::from(id))),
                open: r["open"] == "1",
                last_partner: r
                    .get("last")
                    .map(|l| SessionId::try_from(l.clone()).unwrap()),
                interests: serde_json::from_str(&r["tags"]).unwrap(),
                text_only: r["text"] == "1",
                visitor: Visitor {
                    key: r.get("vk").cloned().unwrap_or_default(),
                    addr: r.get("vh").cloned().unwrap_or_default(),
                },
                away: r.get("away").is_some_and(|a| a == "1"),
            };
            snapshot.sessions.insert(id, session);
        }
        let mut pipe = redis::pipe();
        for key in &calls {
            pipe.cmd("HMGET").arg(key).arg("a").arg("b");
        }
        let sides: Vec<(String, String)> = if calls.is_empty() {
            Vec::new()
        } else {
            pipe.query(&mut self.conn).unwrap()
        };
        for (key, (a, b)) in calls.iter().zip(sides) {
            let call: CallId = key.rsplit(':').next().unwrap().parse().unwrap();
            let side = |s: String| SessionId::try_from(s).unwrap();
            snapshot.calls.insert(ids.rust(call), [side(a), side(b)]);
        }
        snapshot
    }

    /// Everything published on the nodes' channels since the last call: the effects, each
    /// checked to be on the channel of its visitor's node, at most one message per node.
    fn published(&mut self) -> Result<Vec<Effect>, TestCaseError> {
        self.markers += 1;
        let marker = format!("marker {}", self.markers);
        let mut pipe = redis::pipe();
        for node in NODES {
            pipe.publish(keys::channel(&NodeId::from(node)), &marker)
                .ignore();
        }
        let _: () = pipe.query(&mut self.conn).unwrap();
        let channels: HashMap<String, NodeId> = NODES
            .iter()
            .map(|n| (keys::channel(&NodeId::from(*n)), NodeId::from(*n)))
            .collect();
        let mut effects = Vec::new();
        let mut heard: HashMap<NodeId, usize> = HashMap::new();
        let mut markers_in = 0;
        while markers_in < NODES.len() {
            let message = self
                .events
                .get_message()
                .expect("a message (or the marker)");
            let node = channels[message.get_channel_name()].clone();
            let payload: String = message.get_payload().unwrap();
            if payload == marker {
                markers_in += 1;
                continue;
            }
            let Ok(NodeMessage::Effects { effects: batch }) = events::decode(&payload) else {
                return Err(TestCaseError::fail(format!("on {node}: {payload}")));
            };
            *heard.entry(node.clone()).or_default() += 1;
            prop_assert!(heard[&node] == 1, "two messages for {} in one step", node);
            for effect in batch {
                let who = visitor(effect.to());
                prop_assert_eq!(&node, &node_of(who), "{:?} on the wrong node", effect);
                effects.push(effect);
            }
        }
        Ok(effects)
    }
}

/// Lua's call ids and the matchmaker's, one to one.
#[derive(Default)]
struct CallIds {
    to_rust: HashMap<CallId, CallId>,
    to_lua: HashMap<CallId, CallId>,
}

impl CallIds {
    fn learn(&mut self, lua: CallId, rust: CallId) -> Result<(), TestCaseError> {
        let known_rust = *self.to_rust.entry(lua).or_insert(rust);
        let known_lua = *self.to_lua.entry(rust).or_insert(lua);
        prop_assert!(
            known_rust == rust && known_lua == lua,
            "call {} (Lua) is {} (Rust), yet was {} and {}",
            lua,
            rust,
            known_rust,
            known_lua
        );
        Ok(())
    }

    /// The matchmaker's name of a call the script named (an unknown call keeps its id).
    fn rust(&self, lua: CallId) -> CallId {
        self.to_rust.get(&lua).copied().unwrap_or(lua)
    }

    fn lua(&self, rust: CallId) -> CallId {
        self.to_lua.get(&rust).copied().unwrap_or(rust)
    }
}

/// `effect` with the script's call id replaced by the matchmaker's.
fn in_rust_ids(mut effect: Effect, ids: &CallIds) -> Effect {
    match &mut effect {
        Effect::Matched { call, .. }
        | Effect::Ended { call, .. }
        | Effect::Winner { call, .. }
        | Effect::PartnerMoved { call, .. } => {
            *call = ids.rust(*call);
        }
        Effect::Searching { .. } | Effect::Idle { .. } | Effect::Moved { .. } => {}
    }
    effect
}

struct Differential<'a> {
    lua: Lua<'a>,
    rust: Matchmaker,
    ids: CallIds,
    told: HashMap<SessionId, Told>,
}

impl Differential<'_> {
    /// The op for `step`, in the matchmaker's call ids, from what the visitor was told.
    fn op(&self, step: &Step) -> Op {
        let told = self
            .told
            .get(&session(step.who()))
            .cloned()
            .unwrap_or_default();
        let current = match told.state {
            Some(State::InCall { call, .. }) => Some(call),
            _ => None,
        };
        let earlier = told
            .calls
            .len()
            .checked_sub(if current.is_some() { 2 } else { 1 })
            .map(|at| told.calls[at]);
        let call = |stale: bool| if stale { earlier } else { current }.unwrap_or(NO_CALL);
        match *step {
            Step::Call {
                who,
                tags: bits,
                text,
                addr,
            } => Op::Call {
                language: language(bits),
                session: session(who),
                addr: addr_of(who, addr),
                visitor: identity(who),
                interests: tags(bits, &TAGS),
                text_only: text,
            },
            Step::Next { who, addr } => Op::Next {
                session: session(who),
                addr: addr_of(who, addr),
                visitor: identity(who),
            },
            Step::End { who } => Op::End {
                session: session(who),
            },
            Step::Leave { who } => Op::Leave {
                session: session(who),
            },
            Step::Connected { who, peer1, stale } => Op::Connected {
                session: session(who),
                call: call(stale),
                role: if peer1 { Role::Peer1 } else { Role::Peer2 },
            },
            Step::Expire { stale, .. } => Op::Expire { call: call(stale) },
            Step::Open { who, stale } => Op::Open {
                session: session(who),
                search: told.search.saturating_sub(stale as u64),
            },
            Step::Block { who, stranger } => Op::Block {
                by: identity(who).key,
                stranger: identity(stranger),
                until: BLOCKED_UNTIL,
            },
            Step::Unblock { who } => Op::Unblock {
                by: identity(who).key,
                session: session(who),
            },
            Step::Away { who } => Op::Away {
                session: session(who),
            },
            Step::Back { who } => Op::Back {
                session: session(who),
            },
            Step::Rejoin { who } => Op::Rejoin {
                session: session(who),
                call: call(false),
            },
        }
    }

    /// One step through both back ends; what they said must agree.
    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let node = node_of(step.who());
        let rust_op = self.op(step);
        let mut lua_op = rust_op.clone();
        match &mut lua_op {
            Op::Connected { call, .. } | Op::Expire { call } | Op::Rejoin { call, .. } => {
                *call = self.ids.lua(*call)
            }
            _ => {}
        }

        let lua_reply = self.lua.run(&node, &Command::Session(&lua_op));
        let lua_effects = self.lua.published()?;
        for effect in &lua_effects {
            if let Effect::Matched {
                to,
                partner,
                first: true,
                ..
            } = effect
            {
                self.rust.steer(*to, *partner);
            }
        }
        let before = self.rust.snapshot();
        let rust_result = self.rust.apply(&node, rust_op.clone());
        let after = self.rust.snapshot();

        let rust_effects = match (&lua_reply, rust_result) {
            (Reply::Ok, Ok(effects)) => effects,
            (Reply::Refused(lua), Err(MatchError::Refused(rust))) if *lua == rust => {
                prop_assert!(lua_effects.is_empty(), "the script refused, yet told");
                prop_assert_eq!(&before, &after, "the matchmaker refused, yet changed");
                Vec::new()
            }
            (lua, rust) => {
                return Err(TestCaseError::fail(format!(
                    "the script answered {lua:?}, the matchmaker {rust:?}"
                )))
            }
        };

        let lua_seen = by_visitor(lua_effects);
        let rust_seen = by_visitor(rust_effects.iter().cloned());
        // Learn the script's new call ids from the matches each visitor was told of.
        for (to, rust_list) in &rust_seen {
            for (l, r) in lua_seen.get(to).into_iter().flatten().zip(rust_list) {
                if let (
                    Effect::Matched { call: lua_call, .. },
                    Effect::Matched {
                        call: rust_call, ..
                    },
                ) = (l, r)
                {
                    self.ids.learn(*lua_call, *rust_call)?;
                }
            }
        }
        let lua_seen: ByVisitor = lua_seen
            .into_iter()
            .map(|(to, list)| {
                let list = list.into_iter().map(|e| in_rust_ids(e, &self.ids));
                (to, list.collect())
            })
            .collect();
        if lua_seen != rust_seen {
            let mut diff = String::new();
            let visitors: BTreeSet<&SessionId> = lua_seen.keys().chain(rust_seen.keys()).collect();
            for to in visitors {
                let (l, r) = (lua_seen.get(to), rust_seen.get(to));
                let (l, r) = (describe_all(l), describe_all(r));
                let mark = if l == r { "  " } else { "≠ " };
                diff += &format!("\n{mark}v{}:\n    Lua  {l}\n    Rust {r}", visitor(*to));
            }
            return Err(TestCaseError::fail(format!(
                "the back ends told visitors different things (≠):{diff}"
            )));
        }

        // What the two hold agrees too (so a difference shows at once, not only once some
        // later step tells someone).
        let lua_after = self.lua.snapshot(&self.ids);
        if lua_after != after {
            let mut diff = String::new();
            let ids: BTreeSet<&SessionId> = lua_after
                .sessions
                .keys()
                .chain(after.sessions.keys())
                .collect();
            for id in ids {
                let (l, r) = (lua_after.sessions.get(id), after.sessions.get(id));
                if l != r {
                    diff += &format!("\n  v{}:\n    Lua  {l:?}\n    Rust {r:?}", visitor(*id));
                }
            }
            if lua_after.calls != after.calls {
                diff += &format!(
                    "\n  calls:\n    Lua  {:?}\n    Rust {:?}",
                    lua_after.calls, after.calls
                );
            }
            return Err(TestCaseError::fail(format!(
                "the back ends hold different things:{diff}"
            )));
        }
        rules::check(&after).map_err(TestCaseError::fail)?;
        rules::check_step(&before, &after).map_err(TestCaseError::fail)?;
        self.remember(&rust_op, &rust_effects);
        Ok(())
    }

    fn remember(&mut self, op: &Op, effects: &[Effect]) {
        if let Op::Leave { session } = op {
            self.told.remove(session);
        }
        for effect in effects {
            let told = self.told.entry(effect.to()).or_default();
            match effect {
                Effect::Searching { search, .. } => {
                    told.search = *search;
                    told.state = Some(State::Searching);
                }
                Effect::Matched { call, partner, .. } => {
                    told.calls.push(*call);
                    told.state = Some(State::InCall {
                        call: *call,
                        partner: *partner,
                    });
                }
                Effect::Ended { .. } | Effect::Idle { .. } => told.state = Some(State::Idle),
                // Neither happens on one node, where these steps run.
                Effect::Winner { .. } | Effect::Moved { .. } | Effect::PartnerMoved { .. } => {}
            }
        }
    }
}

#[test]
fn the_lua_script_and_the_matchmaker_tell_every_visitor_the_same() {
    // One redis-server for every case (each starts from an empty database).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let redis = runtime.block_on(TestRedis::start());
    let client = redis::Client::open(redis.url()).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (any::<u64>(), prop::collection::vec(step(), 1..60));
    let result = runner.run(&strategy, |(seed, steps)| {
        let mut subscriber = client.get_connection().unwrap();
        let mut events = subscriber.as_pubsub();
        // Not how the test waits (the markers are): only so that a lost message fails the
        // test instead of hanging it.
        events
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for node in NODES {
            events
                .subscribe(keys::channel(&NodeId::from(node)))
                .unwrap();
        }
        let mut lua = Lua {
            conn: client.get_connection().unwrap(),
            events,
            markers: 0,
        };
        let _: () = redis::cmd("FLUSHALL").query(&mut lua.conn).unwrap();
        for node in NODES {
            let hello = NodeOp::Hello {
                online: 0,
                ttl_ms: TTL_MS,
            };
            prop_assert_eq!(
                lua.run(&NodeId::from(node), &Command::Node(hello)),
                Reply::Ok
            );
        }
        prop_assert!(lua.published()?.is_empty());
        let mut both = Differential {
            lua,
            rust: Matchmaker::new(StdRng::seed_from_u64(seed)),
            ids: CallIds::default(),
            told: HashMap::new(),
        };
        for (i, step) in steps.iter().enumerate() {
            both.step(step)
                .map_err(|e| TestCaseError::fail(format!("step {i}, {step:?}: {e}")))?;
        }
        Ok(())
    });
    drop(redis);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

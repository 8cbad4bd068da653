//! A property test of `matchmaker.lua` itself, against a real `redis-server`: random
//! interleavings of Call (with interests, text-only), Next, End, tab closes, `connected`
//! reports, connect timeouts, the end of preference waits, and nodes dying and coming back,
//! from sessions on three nodes. After every step, what Redis holds must make sense: nobody
//! is in two calls or with themselves, both sides of every call agree, pools hold only
//! searching sessions, and no two strangers who would take each other are left waiting.

mod common;

use common::TestRedis;
use proptest::prelude::*;
use redis::{Commands, Connection, Script};
use std::collections::{HashMap, HashSet};

const SCRIPT: &str = include_str!("../src/server/redis_hub/matchmaker.lua");
const NODES: [&str; 3] = ["node0", "node1", "node2"];
const PEOPLE: usize = 8;
const TAGS: [&str; 2] = ["chess", "jazz"];

#[derive(Clone, Debug)]
enum Step {
    Call { who: usize, tags: u8, text: bool },
    Next { who: usize },
    End { who: usize },
    Leave { who: usize },
    Connected { who: usize, peer1: bool },
    Expire { who: usize },
    OpenSearch { who: usize },
    KillNode { node: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let who = 0..PEOPLE;
    prop_oneof![
        4 => (who.clone(), 0u8..4, proptest::bool::weighted(0.2))
            .prop_map(|(who, tags, text)| Step::Call { who, tags, text }),
        3 => who.clone().prop_map(|who| Step::Next { who }),
        2 => who.clone().prop_map(|who| Step::End { who }),
        1 => who.clone().prop_map(|who| Step::Leave { who }),
        2 => (who.clone(), any::<bool>()).prop_map(|(who, peer1)| Step::Connected { who, peer1 }),
        1 => who.clone().prop_map(|who| Step::Expire { who }),
        2 => who.clone().prop_map(|who| Step::OpenSearch { who }),
        1 => (0..NODES.len()).prop_map(|node| Step::KillNode { node }),
    ]
}

fn session(who: usize) -> String {
    format!("{who:032x}")
}

fn node_of(who: usize) -> &'static str {
    NODES[who % NODES.len()]
}

struct Site {
    conn: Connection,
    script: Script,
    seed: u64,
}

impl Site {
    fn run(&mut self, op: &str, node: &str, args: &[String]) -> redis::Value {
        self.seed += 1;
        let mut call = self.script.prepare_invoke();
        call.arg(op).arg(node).arg(format!("{:032x}", self.seed));
        for arg in args {
            call.arg(arg);
        }
        call.invoke(&mut self.conn)
            .unwrap_or_else(|e| panic!("{op} failed: {e}"))
    }

    fn record(&mut self, who: usize) -> HashMap<String, String> {
        self.conn
            .hgetall(format!("duet:s:{}", session(who)))
            .unwrap()
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Call { who, tags, text } => {
                let chosen: Vec<&str> = TAGS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| tags & (1 << i) != 0)
                    .map(|(_, t)| *t)
                    .collect();
                let args = [
                    session(who),
                    "127.0.0.1".into(),
                    serde_json::to_string(&chosen).unwrap(),
                    if text { "1" } else { "0" }.into(),
                ];
                self.run("call", node_of(who), &args);
            }
            Step::Next { who } => {
                self.run("next", node_of(who), &[session(who), "127.0.0.1".into()]);
            }
            Step::End { who } => {
                self.run("end", node_of(who), &[session(who)]);
            }
            Step::Leave { who } => {
                self.run("leave", node_of(who), &[session(who)]);
            }
            Step::Connected { who, peer1 } => {
                let call = self
                    .record(who)
                    .get("call")
                    .cloned()
                    .unwrap_or_else(|| "00000000000000aa".into());
                let role = if peer1 { "peer1" } else { "peer2" };
                self.run(
                    "connected",
                    node_of(who),
                    &[session(who), call, role.into()],
                );
            }
            Step::Expire { who } => {
                if let Some(call) = self.record(who).get("call").cloned() {
                    self.run("expire", node_of(who), &[call]);
                }
            }
            Step::OpenSearch { who } => {
                let gen = self.record(who).get("gen").cloned().unwrap_or_default();
                self.run("open", node_of(who), &[session(who), gen]);
            }
            Step::KillNode { node } => {
                // The node's heartbeat expires; another node's beat reaps it; it comes back.
                let _: () = self.conn.del(format!("duet:node:{}", NODES[node])).unwrap();
                let survivor = NODES[(node + 1) % NODES.len()];
                self.run("beat", survivor, &["0".into(), "60000".into()]);
                self.run("hello", NODES[node], &["0".into(), "60000".into()]);
            }
        }
    }

    fn members(&mut self, key: &str) -> HashSet<String> {
        self.conn.smembers(key).unwrap()
    }

    /// Everything Redis holds must make sense together.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let mut records = HashMap::new();
        for who in 0..PEOPLE {
            let record = self.record(who);
            if !record.is_empty() {
                records.insert(session(who), record);
            }
        }
        let calls: Vec<String> = self.conn.keys("duet:c:*").unwrap();
        for (id, r) in &records {
            prop_assert!(NODES.contains(&r["node"].as_str()));
            if r["state"] == "call" {
                let partner = &r["partner"];
                prop_assert_ne!(partner, id, "a session in a call with itself");
                let theirs = records.get(partner).expect("the partner exists");
                prop_assert_eq!(&theirs["state"], "call");
                prop_assert_eq!(&theirs["partner"], id, "both sides name each other");
                prop_assert_eq!(&theirs["call"], &r["call"], "both sides name one call");
                let sides: Vec<Option<String>> = redis::cmd("HMGET")
                    .arg(format!("duet:c:{}", r["call"]))
                    .arg("a")
                    .arg("b")
                    .query(&mut self.conn)
                    .unwrap();
                let sides: HashSet<String> = sides.into_iter().flatten().collect();
                prop_assert_eq!(sides, HashSet::from([id.clone(), partner.clone()]));
            } else {
                prop_assert!(!r.contains_key("call") && !r.contains_key("partner"));
            }
        }
        let in_calls = records.values().filter(|r| r["state"] == "call").count();
        prop_assert_eq!(
            calls.len() * 2,
            in_calls,
            "a call key for every pair, no more"
        );

        // Pools hold only searching sessions, each in the pools its search belongs to.
        let open = self.members("duet:pool:open");
        let mut pools: HashMap<String, HashSet<String>> = HashMap::new();
        for pref in TAGS.iter().map(|t| format!("i:{t}")).chain(["text".into()]) {
            let members = self.members(&format!("duet:pool:p:{pref}"));
            pools.insert(pref, members);
        }
        for id in open.iter().chain(pools.values().flatten()) {
            prop_assert_eq!(
                records.get(id).map(|r| r["state"].as_str()),
                Some("searching"),
                "only searching sessions wait in pools"
            );
        }
        for (id, r) in &records {
            if r["state"] != "searching" {
                continue;
            }
            let tags: Vec<String> = serde_json::from_str(&r["tags"]).unwrap();
            let mut prefs: Vec<String> = tags.iter().map(|t| format!("i:{t}")).collect();
            if r["text"] == "1" {
                prefs.push("text".into());
            }
            prop_assert_eq!(
                open.contains(id),
                r["open"] == "1",
                "in the open pool iff open"
            );
            for pref in &prefs {
                prop_assert!(pools[pref].contains(id), "in the pool of each preference");
            }
        }
        // Nobody waits beside a stranger who would take them.
        prop_assert!(open.len() <= 1, "two waiting who take anyone: {open:?}");
        for (pref, members) in &pools {
            prop_assert!(members.len() <= 1, "two waiting who share {pref}");
        }
        Ok(())
    }
}

#[test]
fn the_redis_matchmaker_keeps_its_invariants() {
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
            script: Script::new(SCRIPT),
            seed: 0,
        };
        let _: () = redis::cmd("FLUSHALL").query(&mut site.conn).unwrap();
        for node in NODES {
            site.run("hello", node, &["0".into(), "60000".into()]);
        }
        for step in &steps {
            site.apply(step);
            site.check()
                .map_err(|e| TestCaseError::fail(format!("after {step:?}: {e}")))?;
        }
        Ok(())
    });
    drop(redis);
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

//! "Never again": a visitor's blocks, as matching reads them.
//!
//! duet has no accounts. A visitor is known by two things, neither ever shown to anyone else:
//! the anonymous visitor key its browser keeps (issued by the server on its first visit) and
//! the keyed hash of its address. A block made by visitor key `k` names both of the blocked
//! stranger's: a new key from the same address is still blocked, and so is the same key from
//! a new address. Matching never pairs two visitors when either blocked the other; the check
//! is a few hash lookups per candidate, never a scan of anyone's list.
//!
//! [`Blocks`] is the in-memory back end's copy and the rule's; `redis/matchmaker.lua` keeps
//! the same pairs as keys (`block <blocker>|<target>`) with the block's expiry.

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Who a session is, for blocks. Either part may be empty (unknown), and then names nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Visitor {
    /// The anonymous visitor key the browser keeps.
    pub key: String,
    /// The keyed hash of the visitor's address (an IPv6 address by its /64).
    pub addr: String,
}

impl Visitor {
    /// What a block of this visitor names: its key and its address hash, as `k:…` and `a:…`.
    pub fn targets(&self) -> Vec<String> {
        let mut targets = Vec::with_capacity(2);
        if !self.key.is_empty() {
            targets.push(format!("k:{}", self.key));
        }
        if !self.addr.is_empty() {
            targets.push(format!("a:{}", self.addr));
        }
        targets
    }
}

/// Every block in force: blocker key → what it blocked, until when (Unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocks {
    by_blocker: HashMap<String, HashMap<String, i64>>,
}

impl Blocks {
    /// `blocker` (a visitor key) blocks `stranger` until `until`.
    pub fn add(&mut self, blocker: &str, stranger: &Visitor, until: i64) {
        if blocker.is_empty() {
            return;
        }
        let mine = self.by_blocker.entry(blocker.to_string()).or_default();
        for target in stranger.targets() {
            let at = mine.entry(target).or_insert(until);
            *at = (*at).max(until);
        }
    }

    /// One (blocker, target) pair as a back end's store lists it (`k:…` or `a:…`).
    pub fn insert_target(&mut self, blocker: &str, target: String, until: i64) {
        let mine = self.by_blocker.entry(blocker.to_string()).or_default();
        let at = mine.entry(target).or_insert(until);
        *at = (*at).max(until);
    }

    /// `blocker` clears every block it made.
    pub fn clear(&mut self, blocker: &str) {
        self.by_blocker.remove(blocker);
    }

    /// Forgets blocks that ended before `now` (Unix seconds).
    pub fn forget_ended(&mut self, now: i64) {
        self.by_blocker.retain(|_, mine| {
            mine.retain(|_, until| *until > now);
            !mine.is_empty()
        });
    }

    /// Whether `a` blocked `b` or `b` blocked `a`: at most four lookups.
    pub fn between(&self, a: &Visitor, b: &Visitor) -> bool {
        self.blocked(a, b) || self.blocked(b, a)
    }

    fn blocked(&self, blocker: &Visitor, stranger: &Visitor) -> bool {
        if blocker.key.is_empty() {
            return false;
        }
        let Some(mine) = self.by_blocker.get(&blocker.key) else {
            return false;
        };
        stranger.targets().iter().any(|t| mine.contains_key(t))
    }

    /// Every (blocker, target) pair, for comparing back ends in tests.
    pub fn pairs(&self) -> HashSet<(String, String)> {
        self.by_blocker
            .iter()
            .flat_map(|(by, mine)| mine.keys().map(move |t| (by.clone(), t.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor(key: &str, addr: &str) -> Visitor {
        Visitor {
            key: key.into(),
            addr: addr.into(),
        }
    }

    #[test]
    fn a_block_holds_both_ways_for_the_key_and_for_the_address() {
        let mut blocks = Blocks::default();
        let (a, b) = (visitor("ka", "aa"), visitor("kb", "ab"));
        blocks.add(&a.key, &b, 100);
        assert!(blocks.between(&a, &b));
        assert!(blocks.between(&b, &a));
        // B with a new key from the same address, or the same key from elsewhere.
        assert!(blocks.between(&a, &visitor("kb2", "ab")));
        assert!(blocks.between(&a, &visitor("kb", "elsewhere")));
        assert!(!blocks.between(&a, &visitor("kc", "ac")));
        // A with a new key has blocked nobody.
        assert!(!blocks.between(&visitor("ka2", "aa"), &visitor("kc", "ac")));
    }

    #[test]
    fn unknown_parts_name_nobody_and_blocks_end_or_are_cleared() {
        let mut blocks = Blocks::default();
        let (a, b) = (visitor("ka", ""), visitor("kb", ""));
        blocks.add(&a.key, &b, 100);
        assert!(!blocks.between(&a, &visitor("kc", "")));
        blocks.add("", &a, 100);
        assert_eq!(blocks.pairs().len(), 1);
        blocks.forget_ended(99);
        assert!(blocks.between(&a, &b));
        blocks.forget_ended(100);
        assert!(!blocks.between(&a, &b));
        blocks.add(&a.key, &b, 200);
        blocks.clear(&a.key);
        assert!(!blocks.between(&a, &b));
    }
}

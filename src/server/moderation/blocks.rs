//! "Don't match me with this stranger again": blocks, stored in the moderation database.
//!
//! A visitor blocks the stranger of its current call, or of one of its recent calls, for
//! `--block-duration` (30 days by default). The block is made by the visitor's key (see
//! [`VisitorKey`]) and names the stranger's key and address hash, all three stored only as
//! keyed hashes. Matching holds the blocks it checks ([`crate::server::matching::blocks`]);
//! the database keeps them across restarts, and other nodes store what this one shares.

use super::store::{seconds, unix_now, ModerationError, Store};
use crate::server::matching::Visitor;
use rusqlite::params;
use serde::{Deserialize, Serialize};

/// One block as it is stored and shared: `by` (a hashed visitor key) never meets `stranger`
/// again until `until` (Unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub by: String,
    pub stranger: Visitor,
    pub at: i64,
    pub until: i64,
}

impl Store {
    /// A block by `by` of `stranger`, from now for `--block-duration`.
    pub fn new_block(&self, by: &str, stranger: Visitor) -> Block {
        let at = unix_now();
        Block {
            by: by.to_string(),
            stranger,
            at,
            until: at.saturating_add(seconds(self.settings().block_duration)),
        }
    }

    /// Stores `block` (made here, or shared by another node); returns how many strangers its
    /// blocker has blocked now.
    pub async fn record_block(&self, block: Block) -> Result<u32, ModerationError> {
        self.with_db(move |db| {
            db.execute(
                "INSERT INTO blocks (blocker, stranger_key, stranger_addr, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (blocker, stranger_key, stranger_addr)
                 DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)",
                params![
                    block.by,
                    block.stranger.key,
                    block.stranger.addr,
                    block.at,
                    block.until
                ],
            )?;
            count(db, &block.by)
        })
        .await
    }

    /// How many strangers `by` has blocked (blocks in force).
    pub async fn blocked_count(&self, by: &str) -> Result<u32, ModerationError> {
        let by = by.to_string();
        self.with_db(move |db| count(db, &by)).await
    }

    /// Forgets every block `by` made.
    pub async fn clear_blocks(&self, by: &str) -> Result<(), ModerationError> {
        let by = by.to_string();
        self.with_db(move |db| {
            db.execute("DELETE FROM blocks WHERE blocker = ?1", [by])
                .map(drop)
        })
        .await
    }

    /// Every block in force, for a matchmaker starting up.
    pub async fn active_blocks(&self) -> Result<Vec<Block>, ModerationError> {
        self.with_db(|db| {
            let mut stmt = db.prepare(
                "SELECT blocker, stranger_key, stranger_addr, created_at, expires_at FROM blocks
                 WHERE expires_at > ?1",
            )?;
            let rows = stmt.query_map([unix_now()], |row| {
                Ok(Block {
                    by: row.get(0)?,
                    stranger: Visitor {
                        key: row.get(1)?,
                        addr: row.get(2)?,
                    },
                    at: row.get(3)?,
                    until: row.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }
}

fn count(db: &rusqlite::Connection, by: &str) -> Result<u32, rusqlite::Error> {
    db.query_row(
        "SELECT COUNT(*) FROM blocks WHERE blocker = ?1 AND expires_at > ?2",
        params![by, unix_now()],
        |row| row.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::client_ip::AddressPrefixes;
    use crate::server::moderation::store::Settings;
    use std::time::Duration;

    fn store(dir: &std::path::Path) -> Store {
        Store::open(Settings {
            data_dir: dir.to_owned(),
            ban_after_reports: 2,
            reports_per_hour: 10,
            report_window: Duration::from_secs(600),
            ban_duration: Duration::from_secs(3600),
            block_duration: Duration::from_secs(60),
            retention: Duration::from_secs(86_400),
            prefixes: AddressPrefixes::default(),
        })
        .unwrap()
    }

    fn stranger(key: &str) -> Visitor {
        Visitor {
            key: key.into(),
            addr: "addr".into(),
        }
    }

    #[tokio::test]
    async fn blocks_are_counted_per_blocker_survive_a_restart_and_can_be_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(dir.path());
        assert_eq!(
            db.record_block(db.new_block("a", stranger("x")))
                .await
                .unwrap(),
            1
        );
        // The same stranger twice is one block.
        assert_eq!(
            db.record_block(db.new_block("a", stranger("x")))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            db.record_block(db.new_block("a", stranger("y")))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            db.record_block(db.new_block("b", stranger("x")))
                .await
                .unwrap(),
            1
        );
        drop(db);
        let db = store(dir.path());
        assert_eq!(db.blocked_count("a").await.unwrap(), 2);
        assert_eq!(db.active_blocks().await.unwrap().len(), 3);
        db.clear_blocks("a").await.unwrap();
        assert_eq!(db.blocked_count("a").await.unwrap(), 0);
        assert_eq!(db.blocked_count("b").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_block_that_ended_counts_for_nothing_and_is_purged() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(dir.path());
        db.record_block(db.new_block("a", stranger("x")))
            .await
            .unwrap();
        assert_eq!(db.purge_at(unix_now() + 59).await.unwrap(), 0);
        assert_eq!(db.purge_at(unix_now() + 61).await.unwrap(), 1);
        assert!(db.active_blocks().await.unwrap().is_empty());
    }

    #[test]
    fn visitor_keys_are_known_only_by_their_keyed_hash() {
        let dir = tempfile::tempdir().unwrap();
        let db = store(dir.path());
        let key = crate::server::session::VisitorKey::random();
        let hash = db.visitor_hash(&key);
        assert_eq!(hash.len(), 32);
        assert_ne!(hash, key.as_str());
        assert_eq!(hash, db.visitor_hash(&key));
    }
}

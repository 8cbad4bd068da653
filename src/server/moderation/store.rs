//! Reports and bans, stored durably in SQLite under the data directory.
//!
//! A visitor reports the stranger of their current call. When enough distinct reporters
//! (`--ban-after-reports`) report the same visitor within `--report-window`, that visitor is
//! banned for `--ban-duration`. A visitor is an address prefix (an IPv6 /64 by default, see
//! [`AddressPrefixes`]): reporters count once per prefix, and a ban holds for the whole
//! prefix. Addresses are stored only as keyed hashes of their prefix (see the migration).
//! Active bans are mirrored in memory, so the check on every new connection is a map lookup.
//!
//! With several nodes (Redis), the nodes agree on one hashing key, so a hash means the same
//! address everywhere, and share every report, ban and lifted ban as it happens (see
//! [`super::gossip`]): each node's database holds the whole site's moderation from the time
//! it joined.

use crate::model::{BanEntry, ModerationOverview, ReportEntry};
use crate::protocol::ReportReason;
use crate::server::client_ip::AddressPrefixes;
use crate::server::session::VisitorKey;
use hmac::{Hmac, Mac};
use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The settings moderation runs with (from the command line).
#[derive(Clone, Debug)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub ban_after_reports: u32,
    /// How many reports one visitor (address prefix) may make in an hour.
    pub reports_per_hour: u32,
    pub report_window: Duration,
    pub ban_duration: Duration,
    /// How long a "never again" block lasts.
    pub block_duration: Duration,
    pub retention: Duration,
    /// What counts as one visitor. Nodes sharing a Redis must use the same prefixes, or their
    /// hashes of one visitor differ.
    pub prefixes: AddressPrefixes,
}

/// What can go wrong with the moderation store.
#[derive(Debug, thiserror::Error)]
pub enum ModerationError {
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("the database task stopped unexpectedly")]
    TaskFailed,
}

/// A report as it is stored: addresses as keyed hashes, the time in unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub at: i64,
    pub reporter: String,
    pub reported: String,
    pub reason: ReportReason,
    /// Made from the blur of the reporter's video screening.
    #[serde(default)]
    pub screened: bool,
}

/// A ban as it is stored: the banned address as a keyed hash, times in unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ban {
    pub subject: String,
    pub at: i64,
    /// When it ends.
    pub until: i64,
    pub reason: String,
}

/// Handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// One connection behind a std mutex: statements are short, and they run on the blocking
    /// pool (`spawn_blocking`), never on the async workers.
    db: Arc<Mutex<Connection>>,
    /// Active bans: subject hash to expiry (unix seconds).
    bans: Arc<Mutex<HashMap<String, i64>>>,
    /// The secret that keys address hashes; kept in the data directory so hashes survive
    /// restarts.
    key: Arc<[u8; 32]>,
    settings: Arc<Settings>,
}

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!(
        "../../../migrations/0001_reports_and_bans.sql"
    )),
    M::up(include_str!(
        "../../../migrations/0002_reports_by_reporter.sql"
    )),
    M::up(include_str!("../../../migrations/0003_blocks.sql")),
    M::up(include_str!(
        "../../../migrations/0004_screened_reports.sql"
    )),
];

impl Store {
    /// Opens (or creates) the database in the data directory and applies migrations.
    pub fn open(settings: Settings) -> Result<Self, ModerationError> {
        let dir = &settings.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| ModerationError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut conn = Connection::open(dir.join("duet.sqlite3"))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Migrations::from_slice(MIGRATIONS).to_latest(&mut conn)?;
        let now = unix_now();
        let bans = {
            let mut stmt = conn.prepare(
                "SELECT subject, MAX(expires_at) FROM bans
                 WHERE lifted_at IS NULL AND expires_at > ?1 GROUP BY subject",
            )?;
            let rows = stmt.query_map([now], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect::<Result<HashMap<String, i64>, _>>()?
        };
        Ok(Store {
            db: Arc::new(Mutex::new(conn)),
            bans: Arc::new(Mutex::new(bans)),
            key: Arc::new(key),
            settings: Arc::new(settings),
        })
    }

    /// The keyed hash that stands for `ip`'s visitor (its address prefix) in the database.
    pub fn subject(&self, ip: IpAddr) -> String {
        let visitor = self.settings.prefixes.key(ip);
        // A whole address is hashed as the address alone, as before prefixes existed, so
        // bans of IPv4 addresses made then still hold at the default /32.
        let name = if visitor.prefix_len() == visitor.max_prefix_len() {
            visitor.addr().to_string()
        } else {
            visitor.to_string()
        };
        self.keyed_hash(&name)
    }

    /// The keyed hash a browser's visitor key is known by, in matching and in the database:
    /// the key itself is a secret between the browser and the server.
    pub fn visitor_hash(&self, key: &VisitorKey) -> String {
        self.keyed_hash(&format!("visitor {}", key.as_str()))
    }

    fn keyed_hash(&self, name: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key[..])
            .expect("HMAC takes keys of any length");
        mac.update(name.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The settings the store runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The end of `ip`'s active ban, if it is banned now.
    pub fn banned_until(&self, ip: IpAddr) -> Option<i64> {
        self.subject_banned_until(&self.subject(ip))
    }

    /// The end of the active ban of `subject` (see [`Store::subject`]), if it is banned now.
    pub fn subject_banned_until(&self, subject: &str) -> Option<i64> {
        let now = unix_now();
        let mut bans = lock(&self.bans);
        match bans.get(subject) {
            Some(until) if *until > now => Some(*until),
            Some(_) => {
                bans.remove(subject);
                None
            }
            None => None,
        }
    }

    /// Records a report by `reporter` about `reported`; bans `reported` if this report
    /// completes the threshold. Returns the report as stored and the new ban, or `None` when
    /// `reporter` used up its hourly quota (the report is not recorded, so nobody can be
    /// banned by one visitor reporting everyone).
    pub async fn report(
        &self,
        reporter: IpAddr,
        reported: IpAddr,
        reason: ReportReason,
        screened: bool,
    ) -> Result<Option<(Report, Option<Ban>)>, ModerationError> {
        let report = Report {
            at: unix_now(),
            reporter: self.subject(reporter),
            reported: self.subject(reported),
            reason,
            screened,
        };
        let (by, since) = (report.reporter.clone(), report.at.saturating_sub(3600));
        let made: u32 = self
            .with_db(move |db| {
                db.query_row(
                    "SELECT COUNT(*) FROM reports WHERE reporter = ?1 AND created_at >= ?2",
                    params![by, since],
                    |row| row.get(0),
                )
            })
            .await?;
        if made >= self.settings.reports_per_hour {
            return Ok(None);
        }
        let ban = self.record_report(report.clone(), true).await?;
        Ok(Some((report, ban)))
    }

    /// Stores a report (made here, or shared by another node). With `decide`, bans its
    /// subject if it completes the threshold and returns the new ban.
    pub async fn record_report(
        &self,
        report: Report,
        decide: bool,
    ) -> Result<Option<Ban>, ModerationError> {
        let settings = self.settings.clone();
        let ban = self
            .with_db(move |db| {
                db.execute(
                    "INSERT INTO reports (created_at, reporter, reported, reason, screened) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![report.at, report.reporter, report.reported, report.reason.name(), report.screened],
                )?;
                if !decide {
                    return Ok(None);
                }
                let now = unix_now();
                let since = now.saturating_sub(seconds(settings.report_window));
                let reporters: u32 = db.query_row(
                    "SELECT COUNT(DISTINCT reporter) FROM reports WHERE reported = ?1 AND created_at >= ?2",
                    params![report.reported, since],
                    |row| row.get(0),
                )?;
                if reporters < settings.ban_after_reports || active_ban(db, &report.reported, now)? {
                    return Ok(None);
                }
                let ban = Ban {
                    subject: report.reported,
                    at: now,
                    until: now.saturating_add(seconds(settings.ban_duration)),
                    reason: format!(
                        "{reporters} reports within {}",
                        humantime::format_duration(settings.report_window)
                    ),
                };
                insert_ban(db, &ban)?;
                Ok(Some(ban))
            })
            .await?;
        if let Some(ban) = &ban {
            lock(&self.bans).insert(ban.subject.clone(), ban.until);
        }
        Ok(ban)
    }

    /// Stores a ban another node issued, unless its subject is banned here already.
    pub async fn record_ban(&self, ban: Ban) -> Result<(), ModerationError> {
        let (subject, until) = (ban.subject.clone(), ban.until);
        let stored = self
            .with_db(move |db| {
                if active_ban(db, &ban.subject, unix_now())? {
                    return Ok(false);
                }
                insert_ban(db, &ban)?;
                Ok(true)
            })
            .await?;
        if stored {
            lock(&self.bans).insert(subject, until);
        }
        Ok(())
    }

    /// Whether `ip` is the address `subject` stands for.
    pub fn is_subject(&self, ip: IpAddr, subject: &str) -> bool {
        self.subject(ip) == subject
    }

    /// The key address hashes are made with (nodes sharing a Redis agree on one).
    pub fn key(&self) -> [u8; 32] {
        *self.key
    }

    /// Hashes addresses with `key` from now on, and keeps it in the data directory. Bans
    /// stored under an earlier key no longer match anyone.
    pub fn adopt_key(&mut self, key: [u8; 32]) -> Result<(), ModerationError> {
        if key != *self.key {
            write_key(&self.settings.data_dir.join(KEY_FILE), &key)?;
            self.key = Arc::new(key);
        }
        Ok(())
    }

    /// Recent reports and active bans, for the moderators' page.
    pub async fn overview(&self, limit: u32) -> Result<ModerationOverview, ModerationError> {
        self.with_db(move |db| {
            let now = unix_now();
            let mut stmt = db.prepare(
                "SELECT id, created_at, reporter, reported, reason, screened FROM reports ORDER BY id DESC LIMIT ?1",
            )?;
            let reports = stmt
                .query_map([limit], |row| {
                    Ok(ReportEntry {
                        id: row.get(0)?,
                        at: timestamp(row.get(1)?),
                        reporter: short(row.get(2)?),
                        reported: short(row.get(3)?),
                        reason: row.get(4)?,
                        screened: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = db.prepare(
                "SELECT id, subject, created_at, expires_at, reason FROM bans
                 WHERE lifted_at IS NULL AND expires_at > ?1 ORDER BY id DESC",
            )?;
            let bans = stmt
                .query_map([now], |row| {
                    Ok(BanEntry {
                        id: row.get(0)?,
                        subject: short(row.get(1)?),
                        since: timestamp(row.get(2)?),
                        until: timestamp(row.get(3)?),
                        reason: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ModerationOverview { reports, bans })
        })
        .await
    }

    /// Lifts ban `id`; returns the subject it banned, if there was such an active ban.
    pub async fn lift_ban(&self, id: i64) -> Result<Option<String>, ModerationError> {
        let lifted = self
            .with_db(move |db| {
                let subject: Option<String> = db
                    .query_row(
                        "UPDATE bans SET lifted_at = ?1 WHERE id = ?2 AND lifted_at IS NULL RETURNING subject",
                        params![unix_now(), id],
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(subject)
            })
            .await?;
        if let Some(subject) = &lifted {
            lock(&self.bans).remove(subject);
        }
        Ok(lifted)
    }

    /// Lifts every active ban of `subject` (a moderator lifted it on another node).
    pub async fn lift_subject(&self, subject: String) -> Result<(), ModerationError> {
        lock(&self.bans).remove(&subject);
        self.with_db(move |db| {
            db.execute(
                "UPDATE bans SET lifted_at = ?1 WHERE subject = ?2 AND lifted_at IS NULL",
                params![unix_now(), subject],
            )
            .map(drop)
        })
        .await
    }

    /// Deletes reports older than the retention period and bans that ended before it.
    pub async fn purge(&self) -> Result<usize, ModerationError> {
        self.purge_at(unix_now()).await
    }

    /// [`Store::purge`] as if the time were `now` (unix seconds).
    pub async fn purge_at(&self, now: i64) -> Result<usize, ModerationError> {
        let cutoff = now.saturating_sub(seconds(self.settings.retention));
        self.with_db(move |db| {
            let reports = db.execute("DELETE FROM reports WHERE created_at < ?1", [cutoff])?;
            let bans = db.execute("DELETE FROM bans WHERE expires_at < ?1", [cutoff])?;
            // A block that ended protects nobody, and names a visitor: gone at once.
            let blocks = db.execute("DELETE FROM blocks WHERE expires_at <= ?1", [now])?;
            Ok(reports + bans + blocks)
        })
        .await
    }

    pub(super) async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, ModerationError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&lock(&db)))
            .await
            .map_err(|_| ModerationError::TaskFailed)?
            .map_err(ModerationError::from)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether `subject` has an active ban.
fn active_ban(db: &Connection, subject: &str, now: i64) -> Result<bool, rusqlite::Error> {
    db.query_row(
        "SELECT id FROM bans WHERE subject = ?1 AND lifted_at IS NULL AND expires_at > ?2",
        params![subject, now],
        |row| row.get::<_, i64>(0),
    )
    .optional()
    .map(|id| id.is_some())
}

fn insert_ban(db: &Connection, ban: &Ban) -> Result<(), rusqlite::Error> {
    db.execute(
        "INSERT INTO bans (subject, created_at, expires_at, reason) VALUES (?1, ?2, ?3, ?4)",
        params![ban.subject, ban.at, ban.until, ban.reason],
    )
    .map(drop)
}

/// The file in the data directory that holds the hashing key.
const KEY_FILE: &str = "address-key";

fn load_or_create_key(path: &Path) -> Result<[u8; 32], ModerationError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(bytes) = hex::decode(text.trim()) {
            if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
        }
    }
    let key: [u8; 32] = rand::random();
    write_key(path, &key)?;
    Ok(key)
}

/// Writes the key readable by its owner only.
fn write_key(path: &Path, key: &[u8; 32]) -> Result<(), ModerationError> {
    let io = |source| ModerationError::DataDir {
        path: path.to_owned(),
        source,
    };
    std::fs::write(path, hex::encode(key)).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    Ok(())
}

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(super) fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The last second RFC 3339 (and humantime, which panics past it) can write:
/// 9999-12-31T23:59:59Z.
const LAST_WRITABLE: i64 = 253_402_300_799;

/// A unix time as an RFC 3339 string (UTC). Times past year 9999 (a ban from a node with other
/// limits, or a corrupt row) are shown as the last second that can be written, never a panic.
pub fn timestamp(unix: i64) -> String {
    let seconds = u64::try_from(unix.clamp(0, LAST_WRITABLE)).unwrap_or(0);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string()
}

/// Enough of a hash to tell entries apart on the moderators' page.
fn short(hash: String) -> String {
    hash.chars().take(10).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(dir: &Path) -> Settings {
        Settings {
            data_dir: dir.to_owned(),
            ban_after_reports: 2,
            reports_per_hour: 10,
            report_window: Duration::from_secs(600),
            ban_duration: Duration::from_secs(3600),
            block_duration: Duration::from_secs(30 * 86_400),
            retention: Duration::from_secs(86_400),
            prefixes: AddressPrefixes::default(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn distinct_reporters_ban_and_the_ban_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(settings(dir.path())).unwrap();
        let bad = ip("203.0.113.5");
        // The same reporter twice counts once.
        for _ in 0..2 {
            let (_, ban) = store
                .report(ip("198.51.100.1"), bad, ReportReason::Spam, false)
                .await
                .unwrap()
                .expect("within the quota");
            assert_eq!(ban, None);
        }
        let (_, ban) = store
            .report(ip("198.51.100.2"), bad, ReportReason::Nudity, true)
            .await
            .unwrap()
            .expect("within the quota");
        let ban = ban.expect("a second reporter completes the threshold");
        assert_eq!(store.banned_until(bad), Some(ban.until));
        assert_eq!(store.banned_until(ip("198.51.100.1")), None);
        drop(store);

        let reopened = Store::open(settings(dir.path())).unwrap();
        assert_eq!(reopened.banned_until(bad), Some(ban.until));
        let overview = reopened.overview(10).await.unwrap();
        assert_eq!(overview.reports.len(), 3);
        assert_eq!(overview.bans.len(), 1);
        assert!(reopened
            .lift_ban(overview.bans[0].id)
            .await
            .unwrap()
            .is_some());
        assert_eq!(reopened.banned_until(bad), None);
        assert!(reopened
            .lift_ban(overview.bans[0].id)
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn what_another_node_shares_is_stored_and_enforced() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Store::open(settings(one.path())).unwrap();
        let mut second = Store::open(settings(two.path())).unwrap();
        second.adopt_key(first.key()).unwrap();
        let bad = ip("203.0.113.5");
        // A report made on the first node counts on the second, which then bans.
        let (shared, _) = first
            .report(ip("198.51.100.1"), bad, ReportReason::Spam, false)
            .await
            .unwrap()
            .expect("within the quota");
        assert_eq!(second.record_report(shared, false).await.unwrap(), None);
        let (_, ban) = second
            .report(ip("198.51.100.2"), bad, ReportReason::Spam, false)
            .await
            .unwrap()
            .expect("within the quota");
        let ban = ban.expect("two distinct reporters across the nodes");
        // The ban reaches the first node, which enforces it, once.
        first.record_ban(ban.clone()).await.unwrap();
        first.record_ban(ban.clone()).await.unwrap();
        assert_eq!(first.banned_until(bad), Some(ban.until));
        assert_eq!(first.overview(10).await.unwrap().bans.len(), 1);
        // Lifted on one node, lifted on the other.
        first.lift_subject(ban.subject.clone()).await.unwrap();
        assert_eq!(first.banned_until(bad), None);
        assert!(first.overview(10).await.unwrap().bans.is_empty());
        // The adopted key survives a restart.
        drop(second);
        let reopened = Store::open(settings(two.path())).unwrap();
        assert!(reopened.is_subject(bad, &ban.subject));
    }

    #[tokio::test]
    async fn addresses_are_stored_only_as_keyed_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(settings(dir.path())).unwrap();
        store
            .report(
                ip("198.51.100.77"),
                ip("203.0.113.88"),
                ReportReason::Other,
                false,
            )
            .await
            .unwrap()
            .expect("within the quota");
        drop(store);
        let raw = std::fs::read(dir.path().join("duet.sqlite3")).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(!text.contains("198.51.100.77") && !text.contains("203.0.113.88"));
    }

    #[tokio::test]
    async fn purge_drops_what_is_past_retention() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.retention = Duration::ZERO;
        let store = Store::open(s).unwrap();
        store
            .report(
                ip("198.51.100.1"),
                ip("203.0.113.5"),
                ReportReason::Spam,
                false,
            )
            .await
            .unwrap()
            .expect("within the quota");
        assert_eq!(store.purge_at(unix_now() - 1).await.unwrap(), 0);
        assert_eq!(store.purge_at(unix_now() + 1).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn one_ipv6_64_is_one_reporter_and_one_banned_visitor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(settings(dir.path())).unwrap();
        let bad = ip("2001:db8:66::1");
        for reporter in ["2001:db8:1::1", "2001:db8:1::2", "2001:db8:1:0:ffff::3"] {
            let (_, ban) = store
                .report(ip(reporter), bad, ReportReason::Spam, false)
                .await
                .unwrap()
                .expect("within the quota");
            assert_eq!(ban, None, "one /64 reports as one visitor");
        }
        let (_, ban) = store
            .report(ip("2001:db8:2::1"), bad, ReportReason::Spam, false)
            .await
            .unwrap()
            .expect("within the quota");
        let ban = ban.expect("a second /64 completes the threshold");
        assert_eq!(store.banned_until(ip("2001:db8:66::beef")), Some(ban.until));
        assert!(store.is_subject(ip("2001:db8:66:0:1:2:3:4"), &ban.subject));
        assert_eq!(store.banned_until(ip("2001:db8:66:1::1")), None);
        // IPv4 at /32: the same hash as before prefixes, and mapped addresses are the same.
        assert_eq!(
            store.subject(ip("::ffff:203.0.113.5")),
            store.subject(ip("203.0.113.5"))
        );
    }

    #[tokio::test]
    async fn a_ban_of_the_longest_duration_is_made_shown_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path());
        s.ban_after_reports = 1;
        s.ban_duration = Duration::from_secs(10 * 365 * 86_400);
        s.report_window = Duration::MAX;
        s.retention = Duration::MAX;
        let store = Store::open(s).unwrap();
        let bad = ip("203.0.113.5");
        let (_, ban) = store
            .report(ip("198.51.100.1"), bad, ReportReason::Spam, false)
            .await
            .unwrap()
            .expect("within the quota");
        assert!(ban.is_some());
        assert!(store.banned_until(bad).is_some());
        assert_eq!(store.overview(10).await.unwrap().bans.len(), 1);
        store.purge().await.unwrap();
        // A ban shared by another node that ends after year 9999 is shown, not a panic.
        assert_eq!(timestamp(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(timestamp(i64::MIN), "1970-01-01T00:00:00Z");
    }
}

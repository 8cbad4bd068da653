//! Moderation: reports, bans and lifted bans, and visitors' "never again" blocks ([`blocks`]),
//! in one service that the signaling socket and the moderators' server functions each call
//! once.
//!
//! A visitor reports the stranger of their current call (or of a recent one); enough distinct reporters within the
//! report window ban the stranger's address. A ban disconnects that address's sessions at
//! once, here and on every other node (through [`gossip`]), and refuses it at connect until it
//! ends or a moderator lifts it. The [`store`] keeps everything in SQLite, addresses only as
//! keyed hashes.

pub mod blocks;
pub mod gossip;
pub mod store;

use crate::model::ModerationOverview;
use crate::protocol::{CallId, ErrorCode, ReportReason, ServerMsg};
use crate::server::matching::Visitor;
use crate::server::metrics::Metrics;
use crate::server::session::{SessionId, VisitorKey};
use crate::server::switchboard::Switchboard;
use gossip::Shared;
use std::net::IpAddr;
use store::{timestamp, ModerationError, Store};
use tokio::sync::mpsc;

/// The moderation service; cheap to clone.
#[derive(Clone)]
pub struct Moderation {
    store: Store,
    /// Whom a report is about, whom a ban disconnects, and how other nodes hear of it.
    switchboard: Switchboard,
    metrics: Metrics,
}

impl Moderation {
    /// The service over `store`; starts storing what other nodes share (`broadcasts`).
    pub fn start(
        store: Store,
        switchboard: Switchboard,
        metrics: Metrics,
        broadcasts: mpsc::Receiver<String>,
    ) -> Moderation {
        let moderation = Moderation {
            store,
            switchboard,
            metrics,
        };
        tokio::spawn(moderation.clone().receive(broadcasts));
        moderation
    }

    /// The store, for housekeeping and start-up checks.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The end of the active ban of `subject` (an address's keyed hash, see
    /// [`Store::subject`]), if it is banned now.
    pub fn banned_until(&self, subject: &str) -> Option<i64> {
        self.store.subject_banned_until(subject)
    }

    /// Session `reporter` (from `reporter_ip`) reports the stranger of its call `call_id`. The
    /// report is stored and shared; if it completes the threshold, the stranger's address is
    /// banned and disconnected everywhere. Returns the reply for the reporter.
    pub async fn report(
        &self,
        reporter: SessionId,
        reporter_ip: IpAddr,
        call_id: CallId,
        reason: ReportReason,
        screened: bool,
    ) -> ServerMsg {
        let reported = match self.switchboard.report_target(reporter, call_id) {
            Ok(ip) => ip,
            Err(e) => return e.to_msg(),
        };
        match self
            .store
            .report(reporter_ip, reported, reason, screened)
            .await
        {
            Ok(None) => ServerMsg::error(
                ErrorCode::ReportRefused,
                "You have reported many strangers in the last hour; this report was not recorded.",
            ),
            Ok(Some((report, ban))) => {
                self.metrics.reports.inc();
                self.share(Shared::Report(report)).await;
                if let Some(ban) = ban {
                    self.metrics.bans.inc();
                    tracing::info!("an address was banned after reports");
                    let (subject, until) = (ban.subject.clone(), ban.until);
                    self.share(Shared::Ban(ban)).await;
                    // Every session of the banned prefix, not only the reported address.
                    let store = self.store.clone();
                    self.switchboard
                        .disconnect_where(move |ip| store.is_subject(ip, &subject), farewell(until))
                        .await;
                }
                ServerMsg::Reported { call_id }
            }
            Err(e) => {
                tracing::warn!("could not record a report: {e}");
                unavailable("The report could not be recorded; please try again.")
            }
        }
    }

    /// Session `id`, of browser key `key`, blocks the stranger of its call `call_id` (current
    /// or recent): matching never pairs the two again, here or on any node, for
    /// `--block-duration`. Returns the reply for the visitor.
    pub async fn block(&self, id: SessionId, key: &VisitorKey, call_id: CallId) -> ServerMsg {
        let by = &self.store.visitor_hash(key);
        let partner = match self.switchboard.block_target(id, call_id) {
            Ok(partner) => partner,
            Err(e) => return e.to_msg(),
        };
        let stranger = Visitor {
            key: partner.key,
            addr: self.store.subject(partner.addr),
        };
        let block = self.store.new_block(by, stranger.clone());
        // Matching first: from the moment the visitor is told, Next never meets them again.
        if let Err(e) = self.switchboard.block(by, stranger, block.until).await {
            return e.to_msg();
        }
        match self.store.record_block(block.clone()).await {
            Ok(blocked) => {
                self.metrics.blocks.inc();
                self.share(Shared::Block(block)).await;
                ServerMsg::Blocked { call_id, blocked }
            }
            Err(e) => {
                tracing::warn!("could not store a block: {e}");
                unavailable("The block could not be stored; please try again.")
            }
        }
    }

    /// The visitor of browser key `key` forgets every stranger it blocked, here and on every
    /// node. Returns the reply: the visitor's greeting with no blocks.
    pub async fn clear_blocks(&self, id: SessionId, key: &VisitorKey) -> ServerMsg {
        let by = &self.store.visitor_hash(key);
        if let Err(e) = self.switchboard.unblock(by, id).await {
            return e.to_msg();
        }
        if let Err(e) = self.store.clear_blocks(by).await {
            tracing::warn!("could not clear blocks: {e}");
            return unavailable("The blocks could not be cleared; please try again.");
        }
        self.share(Shared::Unblock { by: by.to_string() }).await;
        ServerMsg::Visitor {
            key: key.as_str().to_string(),
            blocked: 0,
            // The tab keeps the token it has.
            resume: String::new(),
        }
    }

    /// How many strangers visitor `by` has blocked (0 if the database cannot tell).
    pub async fn blocked_count(&self, by: &str) -> u32 {
        self.store.blocked_count(by).await.unwrap_or_else(|e| {
            tracing::warn!("could not count blocks: {e}");
            0
        })
    }

    /// Deletes reports past their retention and bans and blocks that ended, here and in the
    /// in-memory matchmaker's blocks, as of one moment. Returns how many rows went.
    pub async fn purge(&self) -> Result<usize, ModerationError> {
        let now = store::unix_now();
        self.switchboard.forget_ended_blocks(now);
        self.store.purge_at(now).await
    }

    /// Alone, the matchmaker starts empty: it is given the blocks in force from the database.
    /// (With Redis, matching keeps them there.)
    pub async fn restore_blocks(&self) -> Result<(), ModerationError> {
        if self.switchboard.clustered() {
            return Ok(());
        }
        for block in self.store.active_blocks().await? {
            let _ = self
                .switchboard
                .block(&block.by, block.stranger, block.until)
                .await;
        }
        Ok(())
    }

    /// A moderator lifts ban `id`, here and on every node. False if no such ban is active.
    pub async fn lift(&self, id: i64) -> Result<bool, ModerationError> {
        let Some(subject) = self.store.lift_ban(id).await? else {
            return Ok(false);
        };
        tracing::info!(ban = id, "ban lifted by a moderator");
        self.share(Shared::Lift { subject }).await;
        Ok(true)
    }

    /// Recent reports and active bans, for the moderators' page.
    pub async fn overview(&self, limit: u32) -> Result<ModerationOverview, ModerationError> {
        self.store.overview(limit).await
    }

    async fn share(&self, shared: Shared) {
        self.switchboard.broadcast(shared.encode()).await;
    }

    /// Stores what other nodes share, so this node enforces the whole site's bans; a new ban
    /// also disconnects this node's sessions from that address.
    async fn receive(self, mut broadcasts: mpsc::Receiver<String>) {
        while let Some(payload) = broadcasts.recv().await {
            let shared = match Shared::decode(&payload) {
                Ok(shared) => shared,
                Err(e) => {
                    tracing::warn!("unreadable moderation from another node: {e}");
                    continue;
                }
            };
            let stored = match shared {
                Shared::Report(report) => self.store.record_report(report, false).await.map(drop),
                Shared::Ban(ban) => {
                    let (subject, until) = (ban.subject.clone(), ban.until);
                    let stored = self.store.record_ban(ban).await;
                    let store = self.store.clone();
                    self.switchboard
                        .disconnect_where(move |ip| store.is_subject(ip, &subject), farewell(until))
                        .await;
                    stored
                }
                Shared::Lift { subject } => self.store.lift_subject(subject).await,
                Shared::Block(block) => self.store.record_block(block).await.map(drop),
                Shared::Unblock { by } => self.store.clear_blocks(&by).await,
            };
            if let Err(e) = stored {
                tracing::warn!("could not store moderation shared by another node: {e}");
            }
        }
    }
}

fn unavailable(message: &str) -> ServerMsg {
    ServerMsg::error(ErrorCode::Unavailable, message)
}

/// The message a banned visitor gets, at connect or when the ban is made.
pub fn farewell(until: i64) -> ServerMsg {
    ServerMsg::error(
        ErrorCode::Banned,
        format!(
            "You have been banned after reports from other visitors, until {} (UTC).",
            timestamp(until)
        ),
    )
}

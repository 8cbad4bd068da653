//! Presence: the online count, pushed to every open tab when it changes.
//!
//! One task samples the switchboard a few times a second and publishes the count on a `watch`
//! channel; each socket task forwards it. A `watch` keeps only the newest value, so under
//! churn a tab gets at most one update per sampling period, never one per connect.

use crate::server::switchboard::Switchboard;
use std::time::Duration;
use tokio::sync::watch;

/// Starts the sampling task and returns the channel socket tasks subscribe to.
pub fn spawn(switchboard: Switchboard, period: Duration) -> watch::Receiver<u32> {
    let (tx, rx) = watch::channel(count(&switchboard));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = count(&switchboard);
            tx.send_if_modified(|published| std::mem::replace(published, now) != now);
            if tx.is_closed() {
                break;
            }
        }
    });
    rx
}

/// The online count as the wire carries it.
pub fn count(switchboard: &Switchboard) -> u32 {
    u32::try_from(switchboard.online()).unwrap_or(u32::MAX)
}

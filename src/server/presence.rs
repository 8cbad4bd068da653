//! Presence: how many are online, a count (never a list), told to the tabs that show it.
//!
//! What it costs is O(1) per visitor per interval, whatever the crowd: one task samples the
//! switchboard once per `--presence-interval` and publishes the count on a `watch` channel
//! only when it moved; each socket task keeps a [`Feed`] that decides whether its tab hears
//! it. A tab in a call shows no count and hears nothing; a tab in the lobby or searching hears
//! at most one count per interval, and only one that differs from what it was last told. So
//! the count a tab shows is right within one interval, and at 100,000 online the server sends
//! at most 100,000 / interval messages a second, not one per tab per connect.

use crate::server::switchboard::Switchboard;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// What one tab was told of the count, and when: the rule for whether it hears the next one.
#[derive(Debug)]
pub struct Feed {
    interval: Duration,
    told: u32,
    told_at: Instant,
    /// When a count the tab is owed may go out (it heard one less than an interval before).
    owed_at: Option<Instant>,
}

impl Feed {
    /// A tab that was just greeted with `told`.
    pub fn new(interval: Duration, told: u32, now: Instant) -> Feed {
        Feed {
            interval,
            told,
            told_at: now,
            owed_at: None,
        }
    }

    /// The count to send the tab now, if any. Asked when the published count moves, when the
    /// tab may have left a call, and at [`Feed::owed_at`].
    pub fn poll(&mut self, count: u32, in_call: bool, now: Instant) -> Option<u32> {
        self.owed_at = None;
        if in_call || count == self.told {
            return None;
        }
        let allowed = self.told_at + self.interval;
        if now < allowed {
            self.owed_at = Some(allowed);
            return None;
        }
        self.told = count;
        self.told_at = now;
        Some(count)
    }

    /// When to ask again: the tab is owed a count that had to wait for its interval.
    pub fn owed_at(&self) -> Option<Instant> {
        self.owed_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_tab_hears_a_moved_count_at_most_once_per_interval() {
        let start = Instant::now();
        let mut feed = Feed::new(2 * SECOND, 10, start);
        assert_eq!(feed.poll(10, false, start + 3 * SECOND), None);
        assert_eq!(feed.poll(11, false, start + SECOND), None);
        assert_eq!(feed.owed_at(), Some(start + 2 * SECOND));
        assert_eq!(feed.poll(11, false, start + 2 * SECOND), Some(11));
        assert_eq!(feed.owed_at(), None);
        assert_eq!(feed.poll(12, false, start + 3 * SECOND), None);
        assert_eq!(feed.owed_at(), Some(start + 4 * SECOND));
        // Back to what it was told: nothing is owed any more.
        assert_eq!(feed.poll(11, false, start + 3 * SECOND), None);
        assert_eq!(feed.owed_at(), None);
    }

    #[test]
    fn a_tab_in_a_call_hears_nothing_and_is_told_the_count_when_it_leaves() {
        let start = Instant::now();
        let mut feed = Feed::new(2 * SECOND, 10, start);
        for s in 2..60 {
            assert_eq!(feed.poll(10 + s, true, start + s * SECOND), None);
            assert_eq!(feed.owed_at(), None);
        }
        assert_eq!(feed.poll(70, false, start + 61 * SECOND), Some(70));
    }
}

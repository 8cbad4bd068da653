//! Presence: how many are online, a count (never a list), told to the tabs that show it.
//!
//! What it costs is O(1) per visitor per interval, whatever the crowd. The count is published
//! on `watch` channels, only when it moved; each socket task keeps a [`Feed`] that decides
//! whether its tab hears it. A tab in a call shows no count and hears nothing; a tab in the
//! lobby or searching hears at most one count per interval, and only one that differs from
//! what it was last told. So the count a tab shows is right within one interval (two, just
//! after it connected or left a call: see [`Feed::poll`]), and at 100,000 online the server
//! sends at most 100,000 / interval messages a second, not one per tab per connect.
//!
//! The tabs are dealt into slots, each with its own channel, and one task refreshes the slots
//! in turn, each once per `--presence-interval`: a moved count reaches the crowd spread over
//! the interval, a slot at a time. One channel for all would wake every tab in the lobby in
//! the same instant and send each its count, and every offer and match behind that burst
//! would wait for it (docs/BENCHMARKS.md, row 10).

use crate::server::switchboard::Switchboard;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often the task refreshes a slot: an interval has as many slots as fit (200 for the
/// default 2 s), so what a refresh sends is a 200th of the lobby.
const SLOT_STEP: Duration = Duration::from_millis(10);

/// The published count, by slot (see the module's introduction).
pub struct Presence {
    slots: Arc<[watch::Sender<u32>]>,
    /// The slot the next tab is dealt into: in turn, so the slots stay even.
    next: AtomicUsize,
}

impl Presence {
    /// Starts the task that refreshes the slots with the switchboard's count, each once per
    /// `interval`.
    pub fn spawn(switchboard: Switchboard, interval: Duration) -> Presence {
        Presence::start(interval, move || count(&switchboard))
    }

    fn start(interval: Duration, count: impl Fn() -> u32 + Send + 'static) -> Presence {
        let steps = (interval.as_nanos() / SLOT_STEP.as_nanos()).clamp(1, 1000) as u32;
        let slots: Arc<[watch::Sender<u32>]> =
            (0..steps).map(|_| watch::Sender::new(count())).collect();
        let refreshed = slots.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / steps);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            for slot in refreshed.iter().cycle() {
                tick.tick().await;
                let now = count();
                slot.send_if_modified(|published| std::mem::replace(published, now) != now);
                if Arc::strong_count(&refreshed) == 1 {
                    break;
                }
            }
        });
        Presence {
            slots,
            next: AtomicUsize::new(0),
        }
    }

    /// The channel of the slot a new tab is dealt into, its count seen.
    pub fn subscribe(&self) -> watch::Receiver<u32> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        self.slots[slot].subscribe()
    }
}

/// The online count as the wire carries it (a load of a counter: no lock).
pub fn count(switchboard: &Switchboard) -> u32 {
    u32::try_from(switchboard.online()).unwrap_or(u32::MAX)
}

/// What one tab was told of the count, and when: the rule for whether it hears the next one.
#[derive(Debug)]
pub struct Feed {
    interval: Duration,
    told: u32,
    told_at: Instant,
    /// When the tab looks again at a count it could not hear yet (see [`Feed::poll`]).
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

    /// The count to send the tab now, if any. Asked when its slot's count moves, when the tab
    /// may have left a call, and at [`Feed::owed_at`].
    ///
    /// A tab hears counts at least an interval apart (less one slot step: its task may run a
    /// little sooner after one refresh of its slot than after the last). A count that comes
    /// sooner waits one whole interval, to the slot's next refresh, not to the end of the
    /// tab's own interval: the tab falls back in step with its slot, so tabs greeted in the
    /// same instant do not stay together. Such a count (the first after the greeting, or
    /// after a call) is shown up to two intervals late; every other within one.
    pub fn poll(&mut self, count: u32, in_call: bool, now: Instant) -> Option<u32> {
        if in_call || count == self.told {
            self.owed_at = None;
            return None;
        }
        let spacing = self
            .interval
            .saturating_sub(SLOT_STEP)
            .max(self.interval / 2);
        if now < self.told_at + spacing {
            self.owed_at.get_or_insert(now + self.interval);
            return None;
        }
        self.owed_at = None;
        self.told = count;
        self.told_at = now;
        Some(count)
    }

    /// When to ask again: the tab is owed a count that came too soon.
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
        // Too soon after the greeting: it waits for the slot's next refresh, an interval on.
        assert_eq!(feed.poll(11, false, start + SECOND), None);
        assert_eq!(feed.owed_at(), Some(start + 3 * SECOND));
        // A count that moves again in between does not put the look off.
        assert_eq!(feed.poll(12, false, start + 3 * SECOND / 2), None);
        assert_eq!(feed.owed_at(), Some(start + 3 * SECOND));
        assert_eq!(feed.poll(12, false, start + 3 * SECOND), Some(12));
        assert_eq!(feed.owed_at(), None);
        // The next refresh of its slot, an interval on, give or take a slot step.
        assert_eq!(
            feed.poll(13, false, start + 5 * SECOND - SLOT_STEP),
            Some(13)
        );
        assert_eq!(feed.poll(14, false, start + 6 * SECOND), None);
        assert_eq!(feed.owed_at(), Some(start + 8 * SECOND));
        // Back to what it was told: nothing is owed any more.
        assert_eq!(feed.poll(13, false, start + 7 * SECOND), None);
        assert_eq!(feed.owed_at(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_moved_count_reaches_the_slots_one_step_apart_within_an_interval() {
        let online = Arc::new(std::sync::atomic::AtomicU32::new(10));
        let source = online.clone();
        let presence = Presence::start(SLOT_STEP * 4, move || source.load(Ordering::Relaxed));
        // Six tabs in four slots: the fifth and sixth share the first two's.
        let mut tabs: Vec<_> = (0..6).map(|_| presence.subscribe()).collect();
        tokio::time::sleep(SLOT_STEP * 8).await;
        online.store(11, Ordering::Relaxed);
        let moved = Instant::now();
        let heard = futures_util::future::join_all(tabs.iter_mut().map(|tab| async move {
            tab.changed().await.unwrap();
            assert_eq!(*tab.borrow_and_update(), 11);
            Instant::now() - moved
        }))
        .await;
        assert!(
            heard.iter().all(|&after| after <= SLOT_STEP * 4),
            "{heard:?}"
        );
        let mut moments = heard[..4].to_vec();
        moments.sort();
        moments.dedup();
        assert_eq!(moments.len(), 4, "four slots, four moments: {heard:?}");
        assert!(
            moments.windows(2).all(|w| w[1] - w[0] == SLOT_STEP),
            "{heard:?}"
        );
        assert_eq!(heard[4], heard[0]);
        assert_eq!(heard[5], heard[1]);
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

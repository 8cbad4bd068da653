//! Presence: how many are online, a count (never a list), told to the tabs that show it.
//!
//! What it costs is O(1) per visitor per interval, whatever the crowd. The count is published
//! on `watch` channels, only when it moved; each socket task keeps a [`Feed`] that decides
//! whether its tab hears it. A tab in a call shows no count and hears nothing; a tab in the
//! lobby or searching hears at most one count per interval (half of one, once, after it joins
//! a slot: see below), and only one that differs from what it was last told. So the count a
//! tab shows is right within one interval, and at 100,000 online the server sends at most
//! 100,000 / interval messages a second, not one per tab per connect.
//!
//! The tabs are dealt into slots, each with its own channel, and one task refreshes the slots
//! in turn, each once per `--presence-interval`: a moved count reaches the crowd spread over
//! the interval, a slot at a time. One channel for all would wake every tab in the lobby in
//! the same instant and send each its count, and every offer and match behind that burst
//! would wait for it (docs/BENCHMARKS.md, row 10).
//!
//! A tab joins a slot when it is greeted, and again whenever it is told a count outside its
//! slot's refreshes (leaving a call, or a count it was owed): one of the slots refreshed in the
//! last half of the interval, in turn. Their next refreshes come at most an interval after
//! what the tab was told, so no tab waits longer than that for a moved count; and a crowd that
//! connects in one instant is spread over half the interval, not met in a few slots (with a
//! tenth, the first counts of 9,000 tabs connected together held the relay's p99 up to 16 ms:
//! docs/BENCHMARKS.md, row 3). The price: a tab's first count after it joins may come half an
//! interval after the last it was told; every later one comes a whole interval after the one
//! before.

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
    /// The slot refreshed last.
    last: Arc<AtomicUsize>,
    /// Counts the tabs that joined, to deal them in turn among the slots refreshed lately.
    joined: AtomicUsize,
}

/// How many slots an interval has: one per [`SLOT_STEP`], within reason.
fn slot_count(interval: Duration) -> u32 {
    (interval.as_nanos() / SLOT_STEP.as_nanos()).clamp(1, 1000) as u32
}

/// Among how many of the slots refreshed last a joining tab is dealt: half of them.
fn join_spread(slots: u32) -> u32 {
    (slots / 2).max(1)
}

/// The least time between two counts a tab hears: an interval, less the time it takes to
/// refresh the slots a tab may join (the slot it joined was refreshed up to that long before
/// the tab was last told, so its next refresh comes that much sooner than a whole interval).
fn spacing(interval: Duration) -> Duration {
    let slots = slot_count(interval);
    let joinable = interval / slots * join_spread(slots);
    interval.saturating_sub(joinable).max(interval / 2)
}

impl Presence {
    /// Starts the task that refreshes the slots with the switchboard's count, each once per
    /// `interval`.
    pub fn spawn(switchboard: Switchboard, interval: Duration) -> Presence {
        Presence::start(interval, move || count(&switchboard))
    }

    fn start(interval: Duration, count: impl Fn() -> u32 + Send + 'static) -> Presence {
        let steps = slot_count(interval);
        let slots: Arc<[watch::Sender<u32>]> =
            (0..steps).map(|_| watch::Sender::new(count())).collect();
        let last = Arc::new(AtomicUsize::new(0));
        let (refreshed, refreshing) = (slots.clone(), last.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / steps);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            for (index, slot) in refreshed.iter().enumerate().cycle() {
                tick.tick().await;
                let now = count();
                slot.send_if_modified(|published| std::mem::replace(published, now) != now);
                refreshing.store(index, Ordering::Relaxed);
                if Arc::strong_count(&refreshed) == 1 {
                    break;
                }
            }
        });
        Presence {
            slots,
            last,
            joined: AtomicUsize::new(0),
        }
    }

    /// The channel of a slot for a tab just told the count, its count seen: one of the slots
    /// refreshed lately, in turn (see the module's introduction).
    pub fn subscribe(&self) -> watch::Receiver<u32> {
        let steps = self.slots.len();
        let spread = join_spread(steps as u32) as usize;
        let back = self.joined.fetch_add(1, Ordering::Relaxed) % spread;
        let slot = (self.last.load(Ordering::Relaxed) + steps - back) % steps;
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
    /// When the tab may hear a count that came too soon (see [`Feed::poll`]).
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
    /// A tab hears counts at least [`spacing`] apart: a whole interval from the slot it is in,
    /// half of one from a slot it just joined. A count that comes sooner (on leaving a short
    /// call, or at a refresh that ran late) is owed until the interval is over, so it is still
    /// heard within one.
    pub fn poll(&mut self, count: u32, in_call: bool, now: Instant) -> Option<u32> {
        if in_call || count == self.told {
            self.owed_at = None;
            return None;
        }
        if now < self.told_at + spacing(self.interval) {
            self.owed_at = Some(self.told_at + self.interval);
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
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_tab_hears_a_moved_count_at_most_once_per_interval_and_within_one() {
        let start = Instant::now();
        let mut feed = Feed::new(2 * SECOND, 10, start);
        assert_eq!(feed.poll(10, false, start + 250 * MS), None);
        // Sooner than half an interval after the greeting: owed until the interval is over.
        assert_eq!(feed.poll(11, false, start + 500 * MS), None);
        assert_eq!(feed.owed_at(), Some(start + 2 * SECOND));
        // A count that moves again in between does not put it off.
        assert_eq!(feed.poll(12, false, start + 750 * MS), None);
        assert_eq!(feed.owed_at(), Some(start + 2 * SECOND));
        assert_eq!(feed.poll(12, false, start + 2 * SECOND), Some(12));
        assert_eq!(feed.owed_at(), None);
        // The first refresh of the slot it then joined: at least half an interval on.
        assert_eq!(feed.poll(13, false, start + 3 * SECOND), Some(13));
        assert_eq!(feed.poll(14, false, start + 3500 * MS), None);
        assert_eq!(
            feed.owed_at(),
            Some(start + 5 * SECOND),
            "an interval after the last count, not after this one"
        );
        // Back to what it was told: nothing is owed any more.
        assert_eq!(feed.poll(13, false, start + 4 * SECOND), None);
        assert_eq!(feed.owed_at(), None);
    }

    #[test]
    fn a_tab_may_hear_again_half_an_interval_after_it_joined_a_slot() {
        assert_eq!(spacing(2 * SECOND), SECOND);
        assert_eq!(spacing(SLOT_STEP * 4), SLOT_STEP * 2);
        // One slot: the one refreshed last, up to an interval before.
        assert_eq!(spacing(SLOT_STEP), SLOT_STEP / 2);
    }

    /// A counter to publish, and the presence that publishes it, on tokio's paused clock.
    fn counter(interval: Duration) -> (Arc<std::sync::atomic::AtomicU32>, Presence) {
        let online = Arc::new(std::sync::atomic::AtomicU32::new(10));
        let source = online.clone();
        let presence = Presence::start(interval, move || source.load(Ordering::Relaxed));
        (online, presence)
    }

    #[tokio::test(start_paused = true)]
    async fn whenever_a_tab_joins_its_first_look_is_half_an_interval_to_an_interval_later() {
        let interval = SLOT_STEP * 40;
        let (online, presence) = counter(interval);
        tokio::time::sleep(interval).await;
        // Tabs joining at all sorts of moments, each seeing the count move at once.
        for k in 0..30 {
            tokio::time::sleep(SLOT_STEP * 7 / 3).await;
            let joined = Instant::now();
            let mut tab = presence.subscribe();
            online.store(11 + k, Ordering::Relaxed);
            tab.changed().await.unwrap();
            let after = Instant::now() - joined;
            assert!(
                after >= spacing(interval) && after <= interval,
                "tab {k}: {after:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tabs_greeted_in_one_instant_are_spread_over_half_the_interval() {
        let interval = SLOT_STEP * 40;
        let (online, presence) = counter(interval);
        tokio::time::sleep(interval * 2 + SLOT_STEP / 2).await;
        let joined = Instant::now();
        let mut tabs: Vec<_> = (0..40).map(|_| presence.subscribe()).collect();
        online.store(11, Ordering::Relaxed);
        let heard = futures_util::future::join_all(tabs.iter_mut().map(|tab| async move {
            tab.changed().await.unwrap();
            Instant::now() - joined
        }))
        .await;
        assert!(
            heard
                .iter()
                .all(|&after| after >= spacing(interval) && after <= interval),
            "{heard:?}"
        );
        // Forty tabs over the twenty slots refreshed in the last half interval, two to a
        // slot, one slot a step after another.
        let mut moments = heard.clone();
        moments.sort();
        moments.dedup();
        assert_eq!(moments.len(), 20, "{heard:?}");
        assert!(
            moments.windows(2).all(|w| w[1] - w[0] == SLOT_STEP),
            "{heard:?}"
        );
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

//! "Recent strangers": the last few strangers this tab met, for a few minutes after the call,
//! so a stranger who showed something and was left at once (Next) can still be reported or
//! blocked. The server keeps the same calls for as long ([`RECENT_CALLS`],
//! [`RECENT_CALL_SECS`]) and counts such a report as if it were made during the call.
//!
//! Nothing here identifies a stranger: when the call was, how long it lasted, and the interests
//! the two shared. Pure and clock-free like the machine (times come in), so it is unit-tested
//! natively.

use crate::app::state::RecentStranger;
use crate::protocol::{CallId, RECENT_CALLS, RECENT_CALL_SECS};

/// Milliseconds since the epoch, as the browser's clock gives them.
pub type Millis = u64;

/// The list, newest first, and the call in progress.
#[derive(Debug, Default)]
pub struct Recent {
    current: Option<(CallId, Millis)>,
    strangers: Vec<RecentStranger>,
}

impl Recent {
    /// A call with a stranger began at `now` (or came back after a lost socket: then it is
    /// no longer a recent one).
    pub fn met(&mut self, call_id: CallId, now: Millis) {
        self.strangers.retain(|s| s.call_id != call_id);
        self.current = Some((call_id, now));
    }

    /// The call `call_id` is over at `now`: the stranger heads the list.
    pub fn left(&mut self, call_id: CallId, shared_interests: Vec<String>, now: Millis) {
        let began = match self.current.take() {
            Some((current, began)) if current == call_id => began,
            _ => now,
        };
        self.strangers.insert(
            0,
            RecentStranger {
                call_id,
                ended_at: now,
                seconds: (now.saturating_sub(began) / 1000) as u32,
                shared_interests,
                reported: false,
                blocked: false,
            },
        );
        self.strangers.truncate(RECENT_CALLS);
    }

    /// The stranger of `call_id` was reported (and the server said so).
    pub fn reported(&mut self, call_id: CallId) {
        if let Some(s) = self.find(call_id) {
            s.reported = true;
        }
    }

    /// The stranger of `call_id` was blocked.
    pub fn blocked(&mut self, call_id: CallId) {
        if let Some(s) = self.find(call_id) {
            s.blocked = true;
        }
    }

    /// The strangers still listed at `now`: at most [`RECENT_CALLS`], none older than
    /// [`RECENT_CALL_SECS`] (after that the server forgets them too).
    pub fn visible(&mut self, now: Millis) -> Vec<RecentStranger> {
        let window = RECENT_CALL_SECS * 1000;
        self.strangers
            .retain(|s| now.saturating_sub(s.ended_at) < window);
        self.strangers.clone()
    }

    fn find(&mut self, call_id: CallId) -> Option<&mut RecentStranger> {
        self.strangers.iter_mut().find(|s| s.call_id == call_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_three_strangers_for_five_minutes_with_how_long_each_call_was() {
        let mut recent = Recent::default();
        for n in 1..=4u64 {
            recent.met(CallId(n), n * 100_000);
            recent.left(CallId(n), vec![format!("tag{n}")], n * 100_000 + 65_000);
        }
        let shown = recent.visible(465_000);
        let calls: Vec<u64> = shown.iter().map(|s| s.call_id.0).collect();
        assert_eq!(calls, [4, 3, 2]);
        assert_eq!(shown[0].seconds, 65);
        assert_eq!(shown[0].shared_interests, ["tag4"]);
        // Five minutes after the second call ended it is gone.
        let later = 265_000 + RECENT_CALL_SECS * 1000;
        let calls: Vec<u64> = recent.visible(later).iter().map(|s| s.call_id.0).collect();
        assert_eq!(calls, [4, 3]);
    }

    #[test]
    fn reports_and_blocks_are_marked_on_their_own_stranger() {
        let mut recent = Recent::default();
        recent.met(CallId(1), 0);
        recent.left(CallId(1), vec![], 1_000);
        recent.met(CallId(2), 2_000);
        recent.left(CallId(2), vec![], 3_000);
        recent.reported(CallId(1));
        recent.blocked(CallId(2));
        recent.blocked(CallId(9));
        let shown = recent.visible(4_000);
        assert!(shown[1].reported && !shown[1].blocked);
        assert!(shown[0].blocked && !shown[0].reported);
    }

    #[test]
    fn a_call_that_comes_back_is_no_longer_recent() {
        let mut recent = Recent::default();
        recent.met(CallId(1), 0);
        recent.left(CallId(1), vec![], 1_000);
        recent.met(CallId(1), 2_000);
        assert!(recent.visible(3_000).is_empty());
    }
}

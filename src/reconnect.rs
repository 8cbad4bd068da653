//! When a tab opens its signaling socket again after losing it: soon, but never every tab at
//! once.
//!
//! A node that restarts drops all its sockets in the same instant. If every tab came back
//! after the same delay, the new node would meet its whole crowd in one burst, overflow its
//! listen queue and make most of them wait for the kernel's one-second retry. So each attempt
//! waits a random time within a window that doubles with every failed attempt ("full jitter"):
//! a crowd comes back spread over the window, and a lone tab after a network blip is back
//! within a quarter of a second on average. The browser ([`crate::client`]) and the restart test
//! (`tests/restart.rs`) both follow this one rule.
//!
//! A tab that lost its socket in the middle of a call is waited for: the server keeps its call
//! only `--reload-grace` (10 s by default). Its window stops growing at [`CALL_WINDOW`], so a
//! network back within the grace finds the tab back within it too, where a window of
//! [`MAX_WINDOW`] could put its next attempt past the grace. Such tabs still spread out: a
//! node that died under them meets them over two seconds, not in one burst.

use std::time::Duration;

/// The window of the first attempt after a socket was lost.
pub const FIRST_WINDOW: Duration = Duration::from_millis(500);
/// The widest window, reached after four failed attempts.
pub const MAX_WINDOW: Duration = Duration::from_secs(8);
/// The widest window of a tab whose call the server keeps for it, reached after two.
pub const CALL_WINDOW: Duration = Duration::from_secs(2);

/// What waits for the tab while it reconnects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// Nothing: the tab may come back whenever, and a crowd spreads over [`MAX_WINDOW`].
    Nothing,
    /// Its call, for `--reload-grace` only: attempts stay within [`CALL_WINDOW`].
    Call,
}

/// How long to wait before attempt `attempt` (0 for the first after losing the socket), given
/// what waits for the tab and `jitter`, a uniformly random number in [0, 1).
pub fn delay(attempt: u32, waiting: Waiting, jitter: f64) -> Duration {
    let widest = match waiting {
        Waiting::Nothing => MAX_WINDOW,
        Waiting::Call => CALL_WINDOW,
    };
    let window = FIRST_WINDOW
        .saturating_mul(1u32 << attempt.min(4))
        .min(widest);
    // Whatever the random source gives, the wait stays within the window.
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    window.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_doubles_per_failed_attempt_up_to_its_cap() {
        let widest = |attempt| delay(attempt, Waiting::Nothing, 1.0);
        assert_eq!(widest(0), Duration::from_millis(500));
        assert_eq!(widest(1), Duration::from_secs(1));
        assert_eq!(widest(3), Duration::from_secs(4));
        assert_eq!(widest(4), MAX_WINDOW);
        assert_eq!(widest(u32::MAX), MAX_WINDOW);
    }

    #[test]
    fn a_tab_whose_call_waits_for_it_never_waits_more_than_two_seconds() {
        let widest = |attempt| delay(attempt, Waiting::Call, 1.0);
        assert_eq!(widest(0), Duration::from_millis(500));
        assert_eq!(widest(1), Duration::from_secs(1));
        assert_eq!(widest(2), CALL_WINDOW);
        assert_eq!(widest(u32::MAX), CALL_WINDOW);
    }

    #[test]
    fn the_delay_spreads_over_the_window_and_stays_within_it() {
        let delay = |attempt, jitter| delay(attempt, Waiting::Nothing, jitter);
        assert_eq!(delay(2, 0.0), Duration::ZERO);
        assert_eq!(delay(2, 0.5), Duration::from_secs(1));
        assert_eq!(delay(2, 0.25), Duration::from_millis(500));
        assert_eq!(delay(2, f64::NAN), Duration::ZERO);
        assert_eq!(delay(0, 7.0), FIRST_WINDOW);
        assert_eq!(delay(0, -1.0), Duration::ZERO);
    }
}

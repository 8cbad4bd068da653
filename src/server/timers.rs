//! One task for every timer a server arms (connect timeouts, the ends of preference waits),
//! instead of one sleeping task each: a [`DelayQueue`] fed through a channel.

use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;

/// Arms timers on the timer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Timers<T> {
    arm: mpsc::UnboundedSender<(T, Duration)>,
}

/// The other end of [`Timers`], until [`Timers::run`] starts the task.
pub struct TimerQueue<T>(mpsc::UnboundedReceiver<(T, Duration)>);

impl<T: Send + 'static> Timers<T> {
    /// A handle to arm timers with, and the queue to run once the firing side exists.
    pub fn new() -> (Timers<T>, TimerQueue<T>) {
        let (arm, queue) = mpsc::unbounded_channel();
        (Timers { arm }, TimerQueue(queue))
    }

    /// `timer` fires after `after`.
    pub fn arm(&self, timer: T, after: Duration) {
        // The task is gone only on shutdown, when no timer matters any more.
        let _ = self.arm.send((timer, after));
    }

    /// Runs the timer task until `shutdown`, calling `fire` with each timer that is due.
    pub fn run(
        queue: TimerQueue<T>,
        shutdown: CancellationToken,
        fire: impl Fn(T) + Send + 'static,
    ) {
        let TimerQueue(mut incoming) = queue;
        tokio::spawn(async move {
            let mut due = DelayQueue::new();
            loop {
                tokio::select! {
                    armed = incoming.recv() => match armed {
                        Some((timer, after)) => {
                            due.insert(timer, after);
                        }
                        None => return,
                    },
                    Some(expired) = due.next(), if !due.is_empty() => fire(expired.into_inner()),
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn timers_fire_in_order_of_their_deadlines() {
        let (timers, queue) = Timers::new();
        let (fired, mut seen) = mpsc::unbounded_channel();
        Timers::run(queue, CancellationToken::new(), move |t: u32| {
            let _ = fired.send(t);
        });
        timers.arm(2, Duration::from_millis(40));
        timers.arm(1, Duration::from_millis(20));
        assert_eq!(seen.recv().await, Some(1));
        assert_eq!(seen.recv().await, Some(2));
    }
}

//! Rate and connection limits: how much any one visitor may ask of the server.
//!
//! A [`TokenBucket`] caps one session's messages and Next presses; the
//! [`ConnectionLimiter`] caps open sockets and new connections per client address. Both are
//! plain data plus a clock reading, so they are tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::Instant;

/// The classic token bucket: up to `capacity` at once, refilled at `per_second`.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_second: f64, now: Instant) -> Self {
        TokenBucket {
            capacity: f64::from(capacity.max(1)),
            per_second: per_second.max(0.0),
            tokens: f64::from(capacity.max(1)),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether the bucket is full again (nothing to remember about its owner).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.capacity
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The address already has the maximum number of sockets open.
    TooManyOpen,
    /// The address opened too many sockets in the last minute.
    TooFast,
}

/// Per-address limits on open sockets and on new connections per minute.
#[derive(Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Mutex<HashMap<IpAddr, AddressUse>>>,
    max_open: u32,
    per_minute: u32,
}

struct AddressUse {
    open: u32,
    recent: TokenBucket,
}

/// Held for as long as a socket is open; gives its place back when dropped.
pub struct ConnectionPermit {
    limiter: ConnectionLimiter,
    ip: IpAddr,
}

impl ConnectionLimiter {
    pub fn new(max_open: u32, per_minute: u32) -> Self {
        ConnectionLimiter {
            inner: Arc::new(Mutex::new(HashMap::new())),
            max_open: max_open.max(1),
            per_minute: per_minute.max(1),
        }
    }

    /// Admits one more socket from `ip`, or says why not.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<ConnectionPermit, Refusal> {
        let per_minute = self.per_minute;
        let mut map = self.lock();
        let entry = map.entry(ip).or_insert_with(|| AddressUse {
            open: 0,
            recent: TokenBucket::new(per_minute, f64::from(per_minute) / 60.0, now),
        });
        if entry.open >= self.max_open {
            return Err(Refusal::TooManyOpen);
        }
        if !entry.recent.try_take(now) {
            return Err(Refusal::TooFast);
        }
        entry.open += 1;
        Ok(ConnectionPermit {
            limiter: self.clone(),
            ip,
        })
    }

    /// Forgets addresses with nothing open and a full bucket, so the map does not grow with
    /// every address ever seen. Called periodically.
    pub fn sweep(&self, now: Instant) {
        self.lock()
            .retain(|_, entry| entry.open > 0 || !entry.recent.is_full(now));
    }

    /// Addresses currently remembered (for tests).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, AddressUse>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        if let Some(entry) = self.limiter.lock().get_mut(&self.ip) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_allows_its_burst_then_refills_over_time() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(3, 2.0, t0);
        assert!((0..3).all(|_| bucket.try_take(t0)));
        assert!(!bucket.try_take(t0));
        assert!(bucket.try_take(t0 + Duration::from_millis(500)));
        assert!(!bucket.try_take(t0 + Duration::from_millis(500)));
        assert!(bucket.is_full(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn open_sockets_per_address_are_capped_and_given_back() {
        let t0 = Instant::now();
        let limiter = ConnectionLimiter::new(2, 100);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = limiter.admit(ip, t0).unwrap();
        let _second = limiter.admit(ip, t0).unwrap();
        assert_eq!(limiter.admit(ip, t0).err(), Some(Refusal::TooManyOpen));
        // Another address is not affected.
        assert!(limiter.admit("192.0.2.2".parse().unwrap(), t0).is_ok());
        drop(first);
        assert!(limiter.admit(ip, t0).is_ok());
    }

    #[test]
    fn new_connections_per_minute_are_capped() {
        let t0 = Instant::now();
        let limiter = ConnectionLimiter::new(100, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            drop(limiter.admit(ip, t0).unwrap());
        }
        assert_eq!(limiter.admit(ip, t0).err(), Some(Refusal::TooFast));
        assert!(limiter.admit(ip, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn sweeping_forgets_idle_addresses_only() {
        let t0 = Instant::now();
        let limiter = ConnectionLimiter::new(5, 60);
        let kept = limiter.admit("192.0.2.1".parse().unwrap(), t0).unwrap();
        drop(limiter.admit("192.0.2.2".parse().unwrap(), t0).unwrap());
        limiter.sweep(t0 + Duration::from_secs(120));
        assert_eq!(limiter.tracked(), 1);
        drop(kept);
    }
}

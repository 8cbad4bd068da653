//! Rate and connection limits: how much any one visitor may ask of the server.
//!
//! A [`TokenBucket`] caps one session's messages and Next presses; the
//! [`ConnectionLimiter`] caps open sockets in total, and open sockets and new connections per
//! visitor; a [`VisitorQuota`] caps anything else a visitor may do so often (wrong admin
//! tokens, TURN credentials). A visitor is an address prefix ([`AddressPrefixes::key`]), so
//! one IPv6 network cannot pass for many visitors. All of them are plain data plus a clock
//! reading, so they are tested without waiting.
//!
//! At start, [`sockets_within_open_files`] fits the total cap under the process's open-files
//! limit, the one limit here that the operating system sets rather than a flag.

use crate::server::client_ip::AddressPrefixes;
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;
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

    /// Puts back one token taken for something that turned out not to count.
    pub fn give_back(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }

    /// How many tokens are missing from a full bucket: for a bucket that allows so many of
    /// something per period, about how many happened in the last period.
    pub fn used(&mut self, now: Instant) -> u32 {
        self.refill(now);
        (self.capacity - self.tokens).round() as u32
    }

    /// How long until a token is there to take (zero if one is there now; a day if the
    /// bucket never refills).
    pub fn time_to_next(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        if missing == 0.0 {
            return Duration::ZERO;
        }
        if self.per_second <= 0.0 {
            return Duration::from_secs(86_400);
        }
        Duration::try_from_secs_f64(missing / self.per_second)
            .unwrap_or(Duration::from_secs(86_400))
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
    /// The visitor already has the maximum number of sockets open.
    TooManyOpen,
    /// The server has `--max-connections` sockets open.
    ServerFull,
    /// The visitor opened too many sockets in the last minute.
    TooFast,
}

/// How many sockets the server and each visitor may have.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open sockets on this server, from everyone.
    pub max_total: u32,
    /// Open sockets per visitor.
    pub max_per_visitor: u32,
    /// New sockets per visitor per minute.
    pub per_minute: u32,
    /// What counts as one visitor.
    pub prefixes: AddressPrefixes,
}

/// Caps on open sockets (in total and per visitor) and on new connections per visitor per
/// minute.
#[derive(Clone)]
pub struct ConnectionLimiter {
    inner: Arc<Mutex<Usage>>,
    limits: ConnectionLimits,
}

#[derive(Default)]
struct Usage {
    visitors: HashMap<IpNet, VisitorUse>,
    open: u32,
}

struct VisitorUse {
    open: u32,
    recent: TokenBucket,
    /// Woken when this visitor is admitted a socket, for [`ConnectionLimiter::wait_for_open`].
    /// One per visitor, so an admission wakes only the requests waiting for that visitor, and
    /// waiting requests cost nobody else any work.
    admitted: Arc<Notify>,
}

impl VisitorUse {
    fn new(per_minute: u32, now: Instant) -> Self {
        VisitorUse {
            open: 0,
            recent: TokenBucket::new(per_minute, f64::from(per_minute) / 60.0, now),
            admitted: Arc::default(),
        }
    }
}

/// Held for as long as a socket is open; gives its place back when dropped.
pub struct ConnectionPermit {
    limiter: ConnectionLimiter,
    visitor: IpNet,
    /// New sockets the visitor opened in about the last minute, this one included (the proof
    /// of work asks more of a visitor who connects often).
    pub recent_connects: u32,
}

impl ConnectionLimiter {
    pub fn new(limits: ConnectionLimits) -> Self {
        ConnectionLimiter {
            inner: Arc::default(),
            limits: ConnectionLimits {
                max_total: limits.max_total.max(1),
                max_per_visitor: limits.max_per_visitor.max(1),
                per_minute: limits.per_minute.max(1),
                prefixes: limits.prefixes,
            },
        }
    }

    /// Admits one more socket from `ip`, or says why not. A refusal for a full server does not
    /// use up the visitor's connections for the minute: it was not their doing.
    pub fn admit(&self, ip: IpAddr, now: Instant) -> Result<ConnectionPermit, Refusal> {
        let ConnectionLimits {
            max_total,
            max_per_visitor,
            per_minute,
            prefixes,
        } = self.limits;
        let visitor = prefixes.key(ip);
        let mut usage = self.lock();
        let total = usage.open;
        let entry = usage
            .visitors
            .entry(visitor)
            .or_insert_with(|| VisitorUse::new(per_minute, now));
        if entry.open >= max_per_visitor {
            return Err(Refusal::TooManyOpen);
        }
        if total >= max_total {
            return Err(Refusal::ServerFull);
        }
        if !entry.recent.try_take(now) {
            return Err(Refusal::TooFast);
        }
        entry.open += 1;
        let recent_connects = entry.recent.used(now);
        let admitted = entry.admitted.clone();
        usage.open += 1;
        drop(usage);
        admitted.notify_waiters();
        Ok(ConnectionPermit {
            limiter: self.clone(),
            visitor,
            recent_connects,
        })
    }

    /// Whether `ip`'s visitor has at least one socket open now.
    pub fn has_open(&self, ip: IpAddr) -> bool {
        let visitor = self.limits.prefixes.key(ip);
        self.lock()
            .visitors
            .get(&visitor)
            .is_some_and(|entry| entry.open > 0)
    }

    /// Waits at most `patience` until `ip`'s visitor has a socket open; whether it has. A page
    /// opens its socket and asks for ICE servers at the same moment, so either may reach the
    /// server first.
    pub async fn wait_for_open(&self, ip: IpAddr, patience: Duration) -> bool {
        let visitor = self.limits.prefixes.key(ip);
        let opened = async {
            loop {
                let admitted = {
                    let mut usage = self.lock();
                    let entry = usage
                        .visitors
                        .entry(visitor)
                        .or_insert_with(|| VisitorUse::new(self.limits.per_minute, Instant::now()));
                    if entry.open > 0 {
                        return;
                    }
                    entry.admitted.clone()
                };
                let notified = admitted.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                // Checked again once registered, so an admission in between is not missed.
                if self.has_open(ip) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(patience, opened).await.is_ok()
    }

    /// Forgets visitors with nothing open, a full bucket and no request waiting for them, so
    /// the map does not grow with every address ever seen. Called periodically.
    pub fn sweep(&self, now: Instant) {
        self.lock().visitors.retain(|_, entry| {
            entry.open > 0 || !entry.recent.is_full(now) || Arc::strong_count(&entry.admitted) > 1
        });
    }

    /// Visitors currently remembered (for tests).
    pub fn tracked(&self) -> usize {
        self.lock().visitors.len()
    }

    fn lock(&self) -> MutexGuard<'_, Usage> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut usage = self.limiter.lock();
        usage.open = usage.open.saturating_sub(1);
        if let Some(entry) = usage.visitors.get_mut(&self.visitor) {
            entry.open = entry.open.saturating_sub(1);
        }
    }
}

/// Files a node keeps open besides its signaling sockets: the listener, the database and its
/// journal, Redis, the runtime's own, and the page loads and static files being served.
const OWN_FILES: u64 = 64;

/// Raises this process's open-files limit as far as the system lets it (the soft limit up to
/// the hard one, as `ulimit -n "$(ulimit -Hn)"` does), and returns how many signaling sockets
/// fit under it: `wanted` (`--max-connections`), or fewer. Past the limit the kernel refuses to
/// accept, and a crowd would wait in the listen backlog for nothing; within it, a visitor past
/// the cap is told `server_full` at once.
pub fn sockets_within_open_files(wanted: u32) -> u32 {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!("could not read or raise the open-files limit: {e}");
            return wanted;
        }
    };
    let fits = sockets_within(limit, wanted);
    if fits < wanted {
        tracing::warn!(
            "the open-files limit ({limit}) is below --max-connections ({wanted}): serving at \
             most {fits} sockets; raise the limit (LimitNOFILE= in systemd, ulimit -n) to serve more"
        );
    }
    fits
}

/// How many sockets fit in `limit` open files: at most `wanted`, and at least one.
fn sockets_within(limit: u64, wanted: u32) -> u32 {
    let room = limit.saturating_sub(OWN_FILES).max(1);
    u32::try_from(room).unwrap_or(u32::MAX).min(wanted)
}

/// So many of something per visitor per period (a token bucket per address prefix): wrong
/// admin tokens per minute, TURN credentials per hour.
#[derive(Clone)]
pub struct VisitorQuota {
    buckets: Arc<Mutex<HashMap<IpNet, TokenBucket>>>,
    prefixes: AddressPrefixes,
    allowance: u32,
    per_second: f64,
}

impl VisitorQuota {
    /// `allowance` per `period` for each visitor, all of it usable at once.
    pub fn new(allowance: u32, period: Duration, prefixes: AddressPrefixes) -> Self {
        let allowance = allowance.max(1);
        VisitorQuota {
            buckets: Arc::default(),
            prefixes,
            allowance,
            per_second: f64::from(allowance) / period.as_secs_f64().max(1.0),
        }
    }

    /// Uses one of `ip`'s visitor's allowance, or says how long until one is free again.
    pub fn try_take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.lock();
        let bucket = buckets
            .entry(self.prefixes.key(ip))
            .or_insert_with(|| TokenBucket::new(self.allowance, self.per_second, now));
        if bucket.try_take(now) {
            Ok(())
        } else {
            Err(bucket.time_to_next(now))
        }
    }

    /// Gives back one taken with [`VisitorQuota::try_take`] for an attempt that does not count
    /// (a right admin token).
    pub fn give_back(&self, ip: IpAddr, now: Instant) {
        if let Some(bucket) = self.lock().get_mut(&self.prefixes.key(ip)) {
            bucket.give_back(now);
        }
    }

    /// Forgets visitors whose allowance is whole again. Called periodically.
    pub fn sweep(&self, now: Instant) {
        self.lock().retain(|_, bucket| !bucket.is_full(now));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpNet, TokenBucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_total: u32, max_per_visitor: u32, per_minute: u32) -> ConnectionLimiter {
        ConnectionLimiter::new(ConnectionLimits {
            max_total,
            max_per_visitor,
            per_minute,
            prefixes: AddressPrefixes::default(),
        })
    }

    #[test]
    fn sockets_fit_under_the_open_files_limit_less_the_nodes_own_files() {
        assert_eq!(sockets_within(20_000, 10_000), 10_000);
        assert_eq!(sockets_within(1_024, 10_000), 1_024 - 64);
        assert_eq!(sockets_within(u64::MAX, 10_000), 10_000);
        assert_eq!(sockets_within(10, 10_000), 1);
    }

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
        let limiter = limiter(100, 2, 100);
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
        let limiter = limiter(100, 100, 3);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            drop(limiter.admit(ip, t0).unwrap());
        }
        assert_eq!(limiter.admit(ip, t0).err(), Some(Refusal::TooFast));
        assert!(limiter.admit(ip, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn a_permit_counts_the_visitors_recent_connections() {
        let t0 = Instant::now();
        let limiter = limiter(100, 100, 60);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let counts: Vec<u32> = (0..3)
            .map(|_| limiter.admit(ip, t0).unwrap().recent_connects)
            .collect();
        assert_eq!(counts, [1, 2, 3]);
        // A minute later the bucket has refilled: the visitor starts over.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(limiter.admit(ip, later).unwrap().recent_connects, 1);
        let other = limiter.admit("192.0.2.2".parse().unwrap(), later).unwrap();
        assert_eq!(other.recent_connects, 1);
    }

    #[test]
    fn sweeping_forgets_idle_addresses_only() {
        let t0 = Instant::now();
        let limiter = limiter(100, 5, 60);
        let kept = limiter.admit("192.0.2.1".parse().unwrap(), t0).unwrap();
        drop(limiter.admit("192.0.2.2".parse().unwrap(), t0).unwrap());
        limiter.sweep(t0 + Duration::from_secs(120));
        assert_eq!(limiter.tracked(), 1);
        drop(kept);
    }

    #[test]
    fn one_ipv6_64_is_one_visitor() {
        let t0 = Instant::now();
        let limiter = limiter(100, 2, 100);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let _a = limiter.admit(ip("2001:db8:0:1::1"), t0).unwrap();
        let _b = limiter.admit(ip("2001:db8:0:1::2"), t0).unwrap();
        assert_eq!(
            limiter.admit(ip("2001:db8:0:1:ffff::3"), t0).err(),
            Some(Refusal::TooManyOpen)
        );
        assert!(limiter.has_open(ip("2001:db8:0:1::99")));
        assert!(!limiter.has_open(ip("2001:db8:0:2::1")));
        assert!(limiter.admit(ip("2001:db8:0:2::1"), t0).is_ok());
    }

    #[test]
    fn the_server_wide_cap_refuses_everyone_without_using_their_minute() {
        let t0 = Instant::now();
        let limiter = limiter(2, 5, 1);
        let a = limiter.admit("192.0.2.1".parse().unwrap(), t0).unwrap();
        let _b = limiter.admit("192.0.2.2".parse().unwrap(), t0).unwrap();
        let late: IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(limiter.admit(late, t0).err(), Some(Refusal::ServerFull));
        drop(a);
        // Its one connection of the minute is still there.
        assert!(limiter.admit(late, t0).is_ok());
    }

    #[test]
    fn a_quota_refuses_with_the_time_to_wait_and_takes_back_what_did_not_count() {
        let t0 = Instant::now();
        let quota = VisitorQuota::new(2, Duration::from_secs(60), AddressPrefixes::default());
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(quota.try_take(ip, t0).is_ok());
        assert!(quota.try_take(neighbour, t0).is_ok());
        let wait = quota.try_take(ip, t0).unwrap_err();
        assert!((29..=30).contains(&wait.as_secs()), "{wait:?}");
        quota.give_back(ip, t0);
        assert!(quota.try_take(neighbour, t0).is_ok());
        assert!(quota.try_take("2001:db8:1::1".parse().unwrap(), t0).is_ok());
        quota.sweep(t0 + Duration::from_secs(120));
        assert!(quota.lock().is_empty());
    }

    #[tokio::test]
    async fn waiting_for_a_socket_ends_when_one_opens() {
        let limiter = limiter(10, 10, 10);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(!limiter.wait_for_open(ip, Duration::from_millis(10)).await);
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.wait_for_open(ip, Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        // Another visitor's socket is not this one's.
        let _other = limiter
            .admit("192.0.2.2".parse().unwrap(), Instant::now())
            .unwrap();
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let _permit = limiter.admit(ip, Instant::now()).unwrap();
        assert!(waiting.await.unwrap());
    }
}

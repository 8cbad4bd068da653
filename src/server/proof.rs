//! The server's half of the proof of work: a challenge per socket, and the gate that keeps
//! Call and Next shut until it is answered.
//!
//! Without it a bot opens a socket and calls at once, as often as the limits allow, for the
//! price of a few bytes; with it every socket first spends 2^bits hashes (a third of a second
//! of a phone's time at the default, while the page loads) and the server one hash to check
//! them. The hash itself is `crate::proof`, shared with the browser and the load generator.
//!
//! The challenge lives only in its socket's task, so a proof is good for that socket alone;
//! its seed is fresh randomness, so no proof can be worked out before the socket opens; and it
//! expires (`--pow-ttl`), so none can be worked out on one socket's time and kept.

use crate::protocol::{ErrorCode, ServerMsg};
use rand::Rng;
use std::time::Duration;
use tokio::time::Instant;

/// How many bits a busy visitor may be asked for beyond `--pow-bits`: 16 times the work.
/// Capped because one address is sometimes many people (a school, a mobile carrier's NAT).
pub const MAX_EXTRA_BITS: u32 = 4;

/// How hard the challenges are (from `--pow-bits`, `--pow-connects-per-bit`, `--pow-ttl`).
#[derive(Clone, Copy, Debug)]
pub struct Difficulty {
    /// Leading zero bits asked of every socket; 0 switches the proof off.
    pub bits: u8,
    /// One more bit per this many new sockets from the visitor in the last minute (0: never).
    pub connects_per_bit: u32,
    /// How long a challenge stands.
    pub ttl: Duration,
}

impl Difficulty {
    /// The bits asked of a visitor who opened `recent_connects` sockets in the last minute,
    /// this one included.
    pub fn bits_for(&self, recent_connects: u32) -> u8 {
        if self.bits == 0 {
            return 0;
        }
        let extra = recent_connects
            .checked_div(self.connects_per_bit)
            .unwrap_or(0)
            .min(MAX_EXTRA_BITS);
        // `--pow-bits` is at most 24, so this stays well inside a u8 and `proof::MAX_BITS`.
        self.bits.saturating_add(extra as u8)
    }
}

/// One socket's standing with the proof of work.
pub struct ProofGate {
    /// The challenge to answer; `None` once answered (or when no proof is asked).
    pending: Option<Challenge>,
    /// A new challenge to send after the current reply (the last one expired).
    reissued: bool,
    ttl: Duration,
}

struct Challenge {
    /// 16 random bytes in hex: what the client hashes its nonces with.
    seed: String,
    bits: u8,
    expires: Instant,
}

impl Challenge {
    fn new(bits: u8, ttl: Duration, now: Instant) -> Self {
        Challenge {
            seed: hex::encode(rand::rng().random::<[u8; 16]>()),
            bits,
            expires: now + ttl,
        }
    }
}

impl ProofGate {
    /// The gate for a new socket asked for `bits` (0: open from the start).
    pub fn new(bits: u8, ttl: Duration, now: Instant) -> Self {
        ProofGate {
            pending: (bits > 0).then(|| Challenge::new(bits, ttl, now)),
            reissued: false,
            ttl,
        }
    }

    /// The challenge to send: on connect, and after one expired. `None` when none is pending.
    pub fn challenge(&self) -> Option<ServerMsg> {
        self.pending.as_ref().map(|c| ServerMsg::Challenge {
            seed: c.seed.clone(),
            bits: c.bits,
            // Rounded up, so a sub-second TTL (tests) does not read as "already expired".
            expires_in: u32::try_from(self.ttl.as_millis().div_ceil(1000)).unwrap_or(u32::MAX),
        })
    }

    /// A new challenge, once, after a reply that said the last one expired.
    pub fn take_reissued(&mut self) -> Option<ServerMsg> {
        if std::mem::take(&mut self.reissued) {
            self.challenge()
        } else {
            None
        }
    }

    /// Checks an answer. The reply: accepted, wrong (the challenge stands, so a client that
    /// got it wrong may try again), or too late (a new challenge follows). Nothing once the
    /// gate is open: a repeated proof changes nothing.
    pub fn answer(&mut self, nonce: u64, now: Instant) -> Option<ServerMsg> {
        let challenge = self.pending.as_ref()?;
        if now >= challenge.expires {
            return Some(self.renew(now));
        }
        if !crate::proof::is_solution(&challenge.seed, challenge.bits, nonce) {
            return Some(ServerMsg::error(
                ErrorCode::BadProof,
                "That proof of work does not solve this connection's challenge.",
            ));
        }
        self.pending = None;
        Some(ServerMsg::ProofAccepted)
    }

    /// Nothing if the socket may call; otherwise the refusal (and, if the challenge expired
    /// meanwhile, a new one after it).
    pub fn refuse_unproven(&mut self, now: Instant) -> Option<ServerMsg> {
        let expired = now >= self.pending.as_ref()?.expires;
        if expired {
            return Some(self.renew(now));
        }
        Some(ServerMsg::error(
            ErrorCode::ProofRequired,
            "Your browser has not finished checking in yet (a moment's work); call again shortly.",
        ))
    }

    /// Replaces an expired challenge; the reply that says so.
    fn renew(&mut self, now: Instant) -> ServerMsg {
        if let Some(old) = self.pending.take() {
            self.pending = Some(Challenge::new(old.bits, self.ttl, now));
            self.reissued = true;
        }
        ServerMsg::error(
            ErrorCode::ProofExpired,
            "The proof-of-work challenge expired; a new one follows.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn seed_and_bits(msg: Option<ServerMsg>) -> (String, u8) {
        match msg {
            Some(ServerMsg::Challenge { seed, bits, .. }) => (seed, bits),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn code(msg: Option<ServerMsg>) -> Option<ErrorCode> {
        match msg {
            Some(ServerMsg::Error { code, .. }) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn busy_visitors_get_more_bits_up_to_a_cap() {
        let d = Difficulty {
            bits: 16,
            connects_per_bit: 10,
            ttl: TTL,
        };
        assert_eq!(d.bits_for(1), 16);
        assert_eq!(d.bits_for(9), 16);
        assert_eq!(d.bits_for(10), 17);
        assert_eq!(d.bits_for(35), 19);
        assert_eq!(d.bits_for(1000), 20);
        assert_eq!(
            Difficulty {
                connects_per_bit: 0,
                ..d
            }
            .bits_for(1000),
            16
        );
        assert_eq!(Difficulty { bits: 0, ..d }.bits_for(1000), 0);
    }

    #[test]
    fn no_bits_means_an_open_gate_and_no_challenge() {
        let mut gate = ProofGate::new(0, TTL, Instant::now());
        assert!(gate.challenge().is_none());
        assert!(gate.refuse_unproven(Instant::now()).is_none());
        assert!(gate.answer(1, Instant::now()).is_none());
    }

    #[test]
    fn the_right_nonce_opens_the_gate_and_a_wrong_one_does_not() {
        let t0 = Instant::now();
        let mut gate = ProofGate::new(8, TTL, t0);
        let (seed, bits) = seed_and_bits(gate.challenge());
        assert_eq!(seed.len(), 32);
        assert_eq!(
            code(gate.refuse_unproven(t0)),
            Some(ErrorCode::ProofRequired)
        );
        let nonce = crate::proof::solve(&seed, bits);
        let wrong = (0..).find(|n| !crate::proof::is_solution(&seed, bits, *n));
        assert_eq!(
            code(gate.answer(wrong.unwrap(), t0)),
            Some(ErrorCode::BadProof)
        );
        assert_eq!(gate.answer(nonce, t0), Some(ServerMsg::ProofAccepted));
        assert!(gate.refuse_unproven(t0).is_none());
        assert!(gate.answer(nonce, t0).is_none(), "nothing more to prove");
    }

    #[test]
    fn seeds_are_fresh_for_every_socket() {
        let t0 = Instant::now();
        let a = seed_and_bits(ProofGate::new(8, TTL, t0).challenge());
        let b = seed_and_bits(ProofGate::new(8, TTL, t0).challenge());
        assert_ne!(a.0, b.0);
    }

    #[test]
    fn a_late_answer_is_refused_and_a_new_challenge_follows() {
        let t0 = Instant::now();
        let mut gate = ProofGate::new(8, TTL, t0);
        let (seed, bits) = seed_and_bits(gate.challenge());
        let nonce = crate::proof::solve(&seed, bits);
        let late = t0 + TTL;
        assert!(gate.take_reissued().is_none());
        assert_eq!(
            code(gate.answer(nonce, late)),
            Some(ErrorCode::ProofExpired)
        );
        let (renewed, _) = seed_and_bits(gate.take_reissued());
        assert_ne!(renewed, seed);
        assert!(gate.take_reissued().is_none(), "sent once");
        // The new challenge has a full TTL from when it was made.
        let nonce = crate::proof::solve(&renewed, bits);
        assert_eq!(
            gate.answer(nonce, late + TTL / 2),
            Some(ServerMsg::ProofAccepted)
        );
        // Calling after expiry renews too.
        let mut gate = ProofGate::new(8, TTL, t0);
        assert_eq!(
            code(gate.refuse_unproven(late)),
            Some(ErrorCode::ProofExpired)
        );
        assert!(gate.take_reissued().is_some());
    }
}

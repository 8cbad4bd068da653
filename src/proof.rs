//! The proof of work a socket shows before it may call: hashcash over SHA-256.
//!
//! The server hands each socket a fresh random `seed` and a difficulty `bits`; the client finds
//! a `nonce` such that SHA-256(`seed` ":" `nonce`) starts with at least `bits` zero bits, the
//! nonce written in decimal. Finding one takes 2^`bits` hashes on average; checking one takes
//! a single hash. Shared by the server (which checks), the browser (which solves in slices, so
//! the page never freezes) and the load generator (which solves in one go), so the three cannot
//! disagree on what is hashed.

use sha2::{Digest, Sha256};

/// The most bits a challenge may ask for. Far past what a person would wait for (2^32 hashes
/// is minutes on a fast machine), so a difficulty can never be unsolvable by mistake.
pub const MAX_BITS: u8 = 32;

/// Whether `nonce` solves the challenge (`seed`, `bits`).
pub fn is_solution(seed: &str, bits: u8, nonce: u64) -> bool {
    leading_zero_bits(&digest(seed, nonce)) >= u32::from(bits.min(MAX_BITS))
}

/// Tries the `count` nonces from `first` on; the first that solves the challenge, if any.
/// The browser calls this a slice at a time, yielding to the page in between.
pub fn search(seed: &str, bits: u8, first: u64, count: u64) -> Option<u64> {
    let bits = u32::from(bits.min(MAX_BITS));
    // The seed's part of the message is the same for every nonce: hashed once, then cloned.
    let mut prefix = Sha256::new();
    prefix.update(seed.as_bytes());
    prefix.update(b":");
    let mut digits = [0u8; 20];
    (first..first.saturating_add(count)).find(|&nonce| {
        let mut hasher = prefix.clone();
        hasher.update(decimal(nonce, &mut digits));
        leading_zero_bits(&hasher.finalize().into()) >= bits
    })
}

/// Solves the challenge in one go (the load generator; tests). Always finds one for
/// `bits` up to [`MAX_BITS`] long before the nonces run out.
pub fn solve(seed: &str, bits: u8) -> u64 {
    search(seed, bits, 0, u64::MAX).unwrap_or(u64::MAX)
}

fn digest(seed: &str, nonce: u64) -> [u8; 32] {
    let mut digits = [0u8; 20];
    let mut hasher = Sha256::new();
    hasher.update(seed.as_bytes());
    hasher.update(b":");
    hasher.update(decimal(nonce, &mut digits));
    hasher.finalize().into()
}

/// `n` in decimal, written into `buf` without allocating (this runs once per hash).
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

fn leading_zero_bits(hash: &[u8; 32]) -> u32 {
    let mut zeros = 0;
    for byte in hash {
        zeros += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    zeros
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_hashed_in_decimal() {
        let mut buf = [0; 20];
        assert_eq!(decimal(0, &mut buf), b"0");
        assert_eq!(decimal(1234567890, &mut buf), b"1234567890");
        assert_eq!(decimal(u64::MAX, &mut buf), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn zero_bits_are_counted_across_bytes() {
        let mut hash = [0xffu8; 32];
        assert_eq!(leading_zero_bits(&hash), 0);
        hash[0] = 0;
        hash[1] = 0x10;
        assert_eq!(leading_zero_bits(&hash), 11);
        assert_eq!(leading_zero_bits(&[0; 32]), 256);
    }

    #[test]
    fn a_found_nonce_is_a_solution_and_the_hash_is_plain_sha256() {
        let seed = "00112233445566778899aabbccddeeff";
        let nonce = solve(seed, 12);
        assert!(is_solution(seed, 12, nonce));
        // The same hash as any SHA-256 of the text "seed:nonce".
        let text = format!("{seed}:{nonce}");
        let hash: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert!(leading_zero_bits(&hash) >= 12);
        // Nothing before it solves it: `search` returns the first.
        assert_eq!(search(seed, 12, 0, nonce), None);
        // It solves this seed's challenge, not another's.
        assert!(!is_solution("ffeeddccbbaa99887766554433221100", 12, nonce));
    }

    #[test]
    fn zero_bits_take_anything() {
        assert!(is_solution("seed", 0, 0));
        assert_eq!(search("seed", 0, 7, 1), Some(7));
        assert_eq!(search("seed", 20, 0, 0), None);
    }
}

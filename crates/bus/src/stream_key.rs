//! Stream keys: how they are made, what they may contain, how they are
//! compared and indexed without ever being logged or listed.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::BusError;

const KEY_PREFIX: &str = "key.";
const MIN_KEY_LEN: usize = 8;
const MAX_KEY_LEN: usize = 256;
const GENERATED_KEY_LEN: usize = 32;

/// A new random stream key: 32 characters of `[A-Za-z0-9]`.
pub fn generate_stream_key() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(GENERATED_KEY_LEN)
        .map(char::from)
        .collect()
}

/// Checks the stream key rules: 8 to 256 characters of `[A-Za-z0-9_-]`.
/// The error never contains the key.
pub fn validate_stream_key(key: &str) -> Result<(), BusError> {
    if key.len() < MIN_KEY_LEN {
        return Err(BusError::InvalidStreamKey(
            "a stream key needs at least 8 characters",
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(BusError::InvalidStreamKey(
            "a stream key has at most 256 characters",
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(BusError::InvalidStreamKey(
            "a stream key may contain only A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(())
}

/// Compares without an early exit, so the time does not tell how much of a
/// guessed key was right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub(crate) fn index_key(stream_key: &str) -> String {
    let digest = Sha256::digest(stream_key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{KEY_PREFIX}{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_key_rules() {
        assert!(validate_stream_key("abcd_EF-9").is_ok());
        assert!(validate_stream_key("short").is_err());
        assert!(validate_stream_key("has space in it").is_err());
        assert!(validate_stream_key(&"a".repeat(300)).is_err());
        let k = generate_stream_key();
        assert_eq!(k.len(), GENERATED_KEY_LEN);
        assert!(validate_stream_key(&k).is_ok());
        assert_ne!(k, generate_stream_key());
    }

    #[test]
    fn compares_and_indexes_keys() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let idx = index_key("supersecretkey");
        assert!(idx.starts_with("key.") && idx.len() == 4 + 64 && !idx.contains("secret"));
    }
}

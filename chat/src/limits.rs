//! The token bucket behind the per-connection send rate.

use std::time::Instant;

/// `capacity` tokens, refilled at `capacity / per_s` tokens a second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    at: Option<Instant>,
}

impl TokenBucket {
    pub fn new(capacity: u32, per_s: f64) -> Self {
        let capacity = f64::from(capacity.max(1));
        Self {
            capacity,
            per_second: capacity / per_s.max(0.001),
            tokens: capacity,
            at: None,
        }
    }

    /// Takes a token at `now` if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.at {
            let elapsed = now.saturating_duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        }
        self.at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn three_per_two_seconds() {
        let mut b = TokenBucket::new(3, 2.0);
        let t0 = Instant::now();
        assert!(b.take(t0) && b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        // 1.5 tokens a second: one more after 0.7 s, not after 0.1 s more.
        assert!(b.take(t0 + Duration::from_millis(700)));
        assert!(!b.take(t0 + Duration::from_millis(800)));
        assert!(b.take(t0 + Duration::from_secs(10)));
    }
}

//! In-process rate limits (what Redis did for the gateway), keyed by client address or account.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::{Error, Result};

/// Forget idle keys every this many checks, so the key map cannot grow without bound.
const PRUNE_EVERY: u64 = 4096;

/// A limit of N events per minute per key (a token bucket of N, refilled evenly); `0` means no limit.
pub struct RateLimiter {
    inner: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl RateLimiter {
    /// Allows `per_minute` events per key per minute, in bursts of up to `per_minute`.
    pub fn per_minute(per_minute: u32) -> RateLimiter {
        RateLimiter {
            inner: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one event for `key`; `RateLimited` with the seconds to wait when over the limit.
    pub fn check(&self, key: &str) -> Result<()> {
        let Some(limiter) = &self.inner else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_and_says_how_long_to_wait() {
        let l = RateLimiter::per_minute(3);
        for _ in 0..3 {
            l.check("a").unwrap();
        }
        match l.check("a") {
            Err(Error::RateLimited { retry_after_secs }) => {
                assert!((1..=20).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("expected rate limited, got {other:?}"),
        }
        l.check("b").unwrap();
    }

    #[test]
    fn zero_means_unlimited() {
        let l = RateLimiter::per_minute(0);
        for _ in 0..1000 {
            l.check("a").unwrap();
        }
    }
}

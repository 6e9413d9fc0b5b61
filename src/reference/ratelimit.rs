//! A fixed-window rate limiter for `/login` and `/register` (CS § Rate limiting).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most `per_window` requests per `window`, server-wide.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_window: u32,
    window: Duration,
    current: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    count: u32,
}

impl RateLimiter {
    pub(crate) fn new(per_window: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            per_window,
            window,
            current: Mutex::new(Window {
                started: Instant::now(),
                count: 0,
            }),
        }
    }

    /// Counts one request; `Err(wait)` when it is over the limit, with the time until the window
    /// ends.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if now.duration_since(current.started) >= self.window {
            *current = Window {
                started: now,
                count: 0,
            };
        }
        if current.count >= self.per_window {
            let ends = current.started + self.window;
            return Err(ends
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)));
        }
        current.count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_then_resets() {
        let limiter = RateLimiter::new(2, Duration::from_secs(1));
        let start = Instant::now();
        assert!(limiter.check(start).is_ok());
        assert!(limiter.check(start).is_ok());
        let wait = limiter
            .check(start + Duration::from_millis(300))
            .unwrap_err();
        assert!(
            wait <= Duration::from_millis(700) && wait > Duration::from_millis(600),
            "{wait:?}"
        );
        assert!(limiter.check(start + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn zero_allows_nothing() {
        let limiter = RateLimiter::new(0, Duration::from_secs(1));
        assert!(limiter.check(Instant::now()).is_err());
    }
}

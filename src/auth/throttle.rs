//! Failed-login throttling: a sliding window of failures per key (username or client address).

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Above this many keys, stale ones are swept on the next write so memory stays bounded.
const SWEEP_ABOVE: usize = 10_000;

pub struct Throttle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds)` to wait when `key` has used up its failures in the window.
    pub fn retry_after(&self, key: &str) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let entry = map.get_mut(key)?;
        self.prune(entry, now);
        let max = self.max_failures as usize;
        if entry.len() < max {
            return None;
        }
        // Locked until the failure that completed the limit leaves the window.
        let unlock = entry[entry.len() - max] + self.window;
        Some(
            unlock
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil()
                .max(1.0) as u64,
        )
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, v| {
                v.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let entry = map.entry(key.to_owned()).or_default();
        self.prune(entry, now);
        entry.push_back(now);
        // Only the newest `max_failures` matter for the lock.
        while entry.len() > self.max_failures as usize {
            entry.pop_front();
        }
    }

    pub fn clear(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    fn prune(&self, entry: &mut VecDeque<Instant>, now: Instant) {
        while entry
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            entry.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_and_clears() {
        let t = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.record_failure("a");
        }
        assert_eq!(t.retry_after("a"), None);
        t.record_failure("a");
        let wait = t.retry_after("a").expect("locked");
        assert!((59..=60).contains(&wait), "{wait}");
        assert_eq!(t.retry_after("b"), None);
        t.clear("a");
        assert_eq!(t.retry_after("a"), None);
    }

    #[test]
    fn failures_expire_with_the_window() {
        let t = Throttle::new(1, Duration::from_millis(0));
        t.record_failure("a");
        assert_eq!(t.retry_after("a"), None);
    }
}

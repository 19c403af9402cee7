//! Failed-login backoff, pure: the caller passes the time in.
//!
//! Each key (an account, an address) may fail [`Backoff::free_failures`] times freely; after
//! that every further attempt must wait `base * 2^(extra failures - 1)`, capped at `max`. A
//! success forgets the key; a key idle for `forget_after` is forgotten too. The table is
//! bounded: when full, the entry idle longest is dropped (which only ever helps an attacker
//! with more keys than the table holds, and never locks anyone out).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free_failures: u32,
    pub base: Duration,
    pub max: Duration,
    pub forget_after: Duration,
    pub capacity: usize,
}

impl Default for Backoff {
    /// Three free tries, then 1 s, 2 s, 4 s ... up to 5 minutes; forgotten after an hour.
    fn default() -> Self {
        Backoff {
            free_failures: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            forget_after: Duration::from_secs(3600),
            capacity: 65_536,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
    next_allowed: Instant,
}

/// Failure counts per key.
#[derive(Debug)]
pub struct LoginLimiter<K> {
    policy: Backoff,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> LoginLimiter<K> {
    pub fn new(policy: Backoff) -> Self {
        LoginLimiter {
            policy,
            entries: HashMap::new(),
        }
    }

    /// May this key try now? `Err(wait)` says how long until it may.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key) {
            Some(e) if now < e.next_allowed && !self.forgotten(e, now) => Err(e.next_allowed - now),
            _ => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failure(&mut self, key: &K, now: Instant) {
        if !self.entries.contains_key(key) && self.entries.len() >= self.policy.capacity {
            self.evict(now);
        }
        let policy = self.policy;
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last: now,
            next_allowed: now,
        });
        if now.saturating_duration_since(entry.last) >= policy.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        entry.next_allowed = now + delay(&policy, entry.failures);
    }

    /// A success: the key starts afresh.
    pub fn success(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops entries idle past `forget_after`; call now and then (e.g. once a minute).
    pub fn sweep(&mut self, now: Instant) {
        let forget = self.policy.forget_after;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.last) < forget);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn forgotten(&self, e: &Entry, now: Instant) -> bool {
        now.saturating_duration_since(e.last) >= self.policy.forget_after
    }

    fn evict(&mut self, now: Instant) {
        self.sweep(now);
        if self.entries.len() < self.policy.capacity {
            return;
        }
        if let Some(oldest) = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.last)
            .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }
}

fn delay(policy: &Backoff, failures: u32) -> Duration {
    let extra = failures.saturating_sub(policy.free_failures);
    if extra == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32.checked_shl(extra - 1).unwrap_or(u32::MAX);
    policy.base.saturating_mul(factor).min(policy.max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter<&'static str> {
        LoginLimiter::new(Backoff {
            capacity: 3,
            ..Backoff::default()
        })
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn free_tries_then_doubling_waits() {
        let mut l = limiter();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(&"alice", t0), Ok(()));
            l.failure(&"alice", t0);
        }
        assert_eq!(l.check(&"alice", t0), Ok(()));
        l.failure(&"alice", t0); // 4th failure: wait 1 s
        assert_eq!(l.check(&"alice", t0), Err(S));
        assert_eq!(l.check(&"alice", t0 + S), Ok(()));
        l.failure(&"alice", t0 + S); // 5th: 2 s
        assert_eq!(l.check(&"alice", t0 + S), Err(2 * S));
        l.failure(&"alice", t0 + 3 * S); // 6th: 4 s
        assert_eq!(l.check(&"alice", t0 + 4 * S), Err(3 * S));
        // Others are not affected.
        assert_eq!(l.check(&"bob", t0), Ok(()));
    }

    #[test]
    fn waits_are_capped() {
        let mut l = limiter();
        let t0 = Instant::now();
        for _ in 0..100 {
            l.failure(&"alice", t0);
        }
        assert_eq!(l.check(&"alice", t0), Err(Duration::from_secs(300)));
    }

    #[test]
    fn success_and_idleness_forget() {
        let mut l = limiter();
        let t0 = Instant::now();
        for _ in 0..5 {
            l.failure(&"alice", t0);
        }
        assert!(l.check(&"alice", t0).is_err());
        l.success(&"alice");
        assert_eq!(l.check(&"alice", t0), Ok(()));

        for _ in 0..10 {
            l.failure(&"bob", t0);
        }
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(l.check(&"bob", later), Ok(()));
        l.failure(&"bob", later); // counts from one again: free
        assert_eq!(l.check(&"bob", later), Ok(()));
        l.sweep(later + Duration::from_secs(3600));
        assert!(l.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let mut l = limiter();
        let t0 = Instant::now();
        for (i, k) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            l.failure(k, t0 + S * i as u32);
        }
        assert_eq!(l.len(), 3);
        // The idlest went first.
        assert!(!l.entries.contains_key("a") && !l.entries.contains_key("b"));
        assert!(l.entries.contains_key("e"));
    }
}

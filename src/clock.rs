//! The time as the loop sees it: read once per pass and passed down, so every command in a
//! pass sees the same instant and tests can drive time by hand.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One reading of both clocks: `mono` for deadlines, `unix_ms` for what users are told
/// (server-time tags, topic times, history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub mono: Instant,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// `mono` as [`nanos_of`] gives it, worked out once per reading: a session notes the
    /// time of every line it reads.
    pub mono_nanos: u64,
}

impl Clock {
    pub fn now() -> Clock {
        let mono = Instant::now();
        Clock {
            mono,
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            mono_nanos: nanos_of(mono),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms / 1000
    }

    /// The same reading moved on by `by` (tests drive time with this).
    pub fn after(&self, by: Duration) -> Clock {
        let mono = self.mono + by;
        Clock {
            mono,
            unix_ms: self.unix_ms + by.as_millis() as u64,
            mono_nanos: nanos_of(mono),
        }
    }
}

/// Where [`nanos_of`] counts from: an hour before it was first asked for (an instant before
/// that counts as the epoch itself; tests make instants a little before their first use).
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(|| {
        let now = Instant::now();
        now.checked_sub(Duration::from_secs(3600)).unwrap_or(now)
    })
}

/// `at` as nanoseconds since one epoch of the process: an instant that every connection
/// keeps in 8 bytes, where an `Instant` takes 16. Exact back through [`instant_of`].
pub fn nanos_of(at: Instant) -> u64 {
    let since = at.saturating_duration_since(epoch());
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The instant [`nanos_of`] gave `nanos` for.
pub fn instant_of(nanos: u64) -> Instant {
    epoch() + Duration::from_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_goes_to_nanoseconds_and_back_exactly() {
        let now = Instant::now();
        for at in [
            now,
            now + Duration::from_nanos(1),
            now + Duration::from_secs(86_400),
        ] {
            assert_eq!(instant_of(nanos_of(at)), at);
        }
        assert!(nanos_of(now) < nanos_of(now + Duration::from_nanos(1)));
    }
}

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
}

impl Clock {
    pub fn now() -> Clock {
        Clock {
            mono: Instant::now(),
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms / 1000
    }

    /// The same reading moved on by `by` (tests drive time with this).
    pub fn after(&self, by: Duration) -> Clock {
        Clock {
            mono: self.mono + by,
            unix_ms: self.unix_ms + by.as_millis() as u64,
        }
    }
}

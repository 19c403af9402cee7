//! The connections' timers: one binary heap of 16-byte entries (every IRC connection has
//! one armed for its ping, so the entry's size is paid per connection).
//!
//! An entry is the deadline in nanoseconds since the heap was made (exact: the `Instant` a
//! timer was armed for is given back as it was, which the partial-line deadline compares),
//! the connection's slab key with the timer's kind in its top bits, and the connection's
//! serial (to tell a later connection under the same key).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::link::Serial;
use crate::hub::ClientId;

/// What a connection's timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimerKind {
    /// Take an unfinished line as whole.
    PartialLine,
    /// A flood-limited connection may send again.
    Flood,
    /// The front end asked to be woken (IRC registration and ping deadlines).
    Session,
    /// A TLS handshake must be done by now.
    Handshake,
    /// A WebSocket's keepalive: ping it if it has been silent, drop it if a ping went
    /// unanswered.
    WsPing,
    /// A connection held for an answer from off the loop has waited long enough.
    Held,
}

const KINDS: [TimerKind; 6] = [
    TimerKind::PartialLine,
    TimerKind::Flood,
    TimerKind::Session,
    TimerKind::Handshake,
    TimerKind::WsPing,
    TimerKind::Held,
];

/// Bits of an entry's second word that hold the slab key; the kind is above them.
const KEY_BITS: u32 = 28;
const KEY_MASK: u32 = (1 << KEY_BITS) - 1;

/// A timer that is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Due {
    pub at: Instant,
    pub id: ClientId,
    /// The serial the connection had.
    pub serial: Serial,
    pub kind: TimerKind,
}

pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(u64, u32, Serial)>>,
    base: Instant,
}

impl Timers {
    /// Timers for deadlines from `base` on (earlier ones fire at once).
    pub(super) fn new(base: Instant) -> Timers {
        Timers {
            heap: BinaryHeap::new(),
            base,
        }
    }

    /// Arms a timer for the connection with key `id` and serial `serial`; a key too large
    /// for an entry (more than 268 million connections) is never given by the loop.
    pub(super) fn push(&mut self, at: Instant, id: ClientId, serial: Serial, kind: TimerKind) {
        let Some(key) = u32::try_from(id).ok().filter(|&k| k <= KEY_MASK) else {
            log::warn!("client {id}: timer not armed (key too large)");
            return;
        };
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
        let word = key | (kind as u32) << KEY_BITS;
        self.heap.push(Reverse((nanos, word, serial)));
    }

    /// When the next timer is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.heap
            .peek()
            .map(|Reverse((nanos, _, _))| self.at(*nanos))
    }

    /// The next timer due by `now`, taken out.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Due> {
        let &Reverse((nanos, word, serial)) = self.heap.peek()?;
        let at = self.at(nanos);
        if at > now {
            return None;
        }
        self.heap.pop();
        let kind = KINDS
            .get((word >> KEY_BITS) as usize)
            .copied()
            .unwrap_or(TimerKind::Session);
        Some(Due {
            at,
            id: (word & KEY_MASK) as ClientId,
            serial,
            kind,
        })
    }

    fn at(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Reverse<(u64, u32, u32)>>(), 16);
    }

    #[test]
    fn timers_fire_in_deadline_order_with_what_they_were_armed_with() {
        let base = Instant::now();
        let mut timers = Timers::new(base);
        let at = |ms| base + Duration::from_millis(ms) + Duration::from_nanos(7);
        timers.push(at(30), 3, 300, TimerKind::Held);
        timers.push(at(10), 1, u32::MAX - 5, TimerKind::PartialLine);
        timers.push(at(20), 2, 200, TimerKind::WsPing);
        assert_eq!(timers.next_at(), Some(at(10)));
        assert_eq!(timers.pop_due(at(5)), None, "nothing due yet");
        let first = timers.pop_due(at(25)).expect("the first is due");
        assert_eq!(
            first,
            Due {
                at: at(10),
                id: 1,
                serial: u32::MAX - 5,
                kind: TimerKind::PartialLine,
            }
        );
        let second = timers.pop_due(at(25)).expect("the second is due");
        assert_eq!(
            (second.id, second.kind, second.at),
            (2, TimerKind::WsPing, at(20))
        );
        assert_eq!(timers.pop_due(at(25)), None);
        assert_eq!(timers.len(), 1);
        let third = timers.pop_due(at(30)).expect("due at its deadline");
        assert_eq!(
            (third.id, third.serial, third.kind),
            (3, 300, TimerKind::Held)
        );
        assert_eq!(timers.next_at(), None);
    }

    #[test]
    fn every_kind_and_the_largest_key_come_back() {
        let base = Instant::now();
        let mut timers = Timers::new(base);
        for (i, kind) in KINDS.into_iter().enumerate() {
            timers.push(
                base + Duration::from_secs(i as u64),
                KEY_MASK as usize,
                1,
                kind,
            );
        }
        let later = base + Duration::from_secs(60);
        for kind in KINDS {
            let due = timers.pop_due(later).expect("due");
            assert_eq!((due.kind, due.id), (kind, KEY_MASK as usize));
        }
    }

    #[test]
    fn a_deadline_before_the_base_is_due_at_once_and_a_huge_key_is_refused() {
        let now = Instant::now();
        let base = now + Duration::from_secs(1);
        let mut timers = Timers::new(base);
        timers.push(now, 1, 1, TimerKind::Flood);
        assert_eq!(timers.pop_due(base).map(|d| d.id), Some(1));
        timers.push(base, KEY_MASK as usize + 1, 1, TimerKind::Flood);
        assert_eq!(timers.len(), 0);
    }
}

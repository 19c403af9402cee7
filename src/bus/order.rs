//! In order, once, per sender: every [`super::Bus::publish`] carries `Snak-Node: <node id>` and
//! `Snak-Seq: <n>`, n counting per subject from 1 on each node (numbers are given only to
//! what the bus accepted, so a refused publish leaves no hole). A receiver keeps the last
//! number seen per (node, subject): a number not above it is a duplicate and is dropped; a
//! jump says how many were lost (a connection that died with bytes in flight), which the
//! message reports as `missed`. Node ids are new at every start, so a restarted node counts
//! from 1 again without being taken for a replay.

use std::collections::HashMap;

pub const NODE: &str = "Snak-Node";
pub const SEQ: &str = "Snak-Seq";

/// At most this many (node, subject) pairs are remembered; past it the table is cleared
/// (what that costs: one message per pair may be taken for new, never one dropped).
pub const MAX_TRACKED: usize = 1 << 20;

/// The sending side: the next number per subject.
#[derive(Debug, Default)]
pub struct Outgoing {
    next: HashMap<String, u64>,
}

impl Outgoing {
    pub fn next(&mut self, subject: &str) -> u64 {
        if let Some(n) = self.next.get_mut(subject) {
            *n += 1;
            return *n;
        }
        if self.next.len() >= MAX_TRACKED {
            // Numbers restart, but receivers would then drop them: keep counting high.
            let high = self.next.values().copied().max().unwrap_or(0);
            self.next.clear();
            self.next.insert(subject.to_string(), high + 1);
            return high + 1;
        }
        self.next.insert(subject.to_string(), 1);
        1
    }
}

/// What the receiving side makes of a stamped message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// New; `missed` messages before it never arrived.
    Deliver {
        missed: u64,
    },
    Duplicate,
}

#[derive(Debug, Default)]
pub struct Incoming {
    last: HashMap<(String, String), u64>,
    pub duplicates: u64,
    pub missed: u64,
}

impl Incoming {
    pub fn check(&mut self, node: &str, subject: &str, seq: u64) -> Verdict {
        if self.last.len() >= MAX_TRACKED {
            self.last.clear();
        }
        let slot = self
            .last
            .entry((node.to_string(), subject.to_string()))
            .or_insert(0);
        if seq <= *slot {
            self.duplicates += 1;
            return Verdict::Duplicate;
        }
        // The first message seen from a sender on a subject starts the count: joining a
        // room late is not a loss.
        let missed = if *slot == 0 { 0 } else { seq - *slot - 1 };
        *slot = seq;
        self.missed += missed;
        Verdict::Deliver { missed }
    }

    /// Forgets a subject (after an unsubscribe: a later subscription starts afresh).
    pub fn forget_subject(&mut self, subject: &str) {
        self.last.retain(|(_, s), _| s != subject);
    }

    /// Forgets a node (it is gone; its id never comes back).
    pub fn forget_node(&mut self, node: &str) {
        self.last.retain(|(n, _), _| n != node);
    }
}

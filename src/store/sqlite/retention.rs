//! Retention, in bounded rounds on the store thread: each round deletes at most
//! [`ROWS_PER_ROUND`] rows by age and checks at most [`CONVERSATIONS_PER_ROUND`] conversations
//! against the per-target count, so a group commit is never held up for long.
//!
//! Age: the oldest rows by insertion order are examined, so a round costs the same however
//! big the table is. Count: conversations that received messages since their last check come
//! first; a cursor also walks every conversation in turn, so a lowered limit reaches rooms
//! that are quiet now. The count limit is therefore a soft one: a conversation can exceed it
//! until its turn comes (seconds when busy, at worst one full walk).

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};

use super::sql_error;
use crate::store::backend::{Retention, RetentionReport, StoreError};
use crate::store::types::Millis;

pub const ROWS_PER_ROUND: u64 = 2000;
pub const CONVERSATIONS_PER_ROUND: usize = 16;

#[derive(Debug, Default)]
pub struct RetentionState {
    /// Conversations written to since their last count check.
    pub dirty: HashSet<String>,
    /// Where the walk over all conversations stands.
    cursor: Option<String>,
}

/// At most this many conversations wait for a count check by name; past it (or with no
/// count limit at all, when nothing drains the set) the walk over all conversations still
/// reaches the others, and memory stays bounded.
const DIRTY_MAX: usize = 100_000;

impl RetentionState {
    pub fn touched(&mut self, conv: String) {
        if self.dirty.len() < DIRTY_MAX {
            self.dirty.insert(conv);
        }
    }
}

pub fn round(
    conn: &Connection,
    state: &mut RetentionState,
    policy: &Retention,
    now: Millis,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    if let Some(max_age) = policy.max_age_ms {
        let cutoff = now.saturating_sub(max_age);
        let n = conn
            .prepare_cached(
                "DELETE FROM history WHERE seq IN
                 (SELECT seq FROM history ORDER BY seq LIMIT ?1) AND time_ms < ?2",
            )
            .and_then(|mut s| s.execute(params![ROWS_PER_ROUND as i64, cutoff]))
            .map_err(sql_error)? as u64;
        report.deleted += n;
        report.more |= n == ROWS_PER_ROUND;
    }
    let Some(max) = policy.max_per_target else {
        state.dirty.clear();
        return Ok(report);
    };
    let mut todo: Vec<String> = Vec::with_capacity(CONVERSATIONS_PER_ROUND);
    while todo.len() < CONVERSATIONS_PER_ROUND / 2 {
        let Some(conv) = state.dirty.iter().next().cloned() else {
            break;
        };
        state.dirty.remove(&conv);
        todo.push(conv);
    }
    while todo.len() < CONVERSATIONS_PER_ROUND {
        let next: Option<String> = conn
            .prepare_cached("SELECT conv FROM history WHERE conv > ?1 ORDER BY conv LIMIT 1")
            .and_then(|mut s| {
                s.query_row(params![state.cursor.as_deref().unwrap_or("")], |r| r.get(0))
                    .optional()
            })
            .map_err(sql_error)?;
        match next {
            Some(conv) => {
                state.cursor = Some(conv.clone());
                todo.push(conv);
            }
            None => {
                state.cursor = None;
                break;
            }
        }
    }
    let budget = ROWS_PER_ROUND.saturating_sub(report.deleted).max(1);
    for conv in todo {
        let boundary: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT time_ms, seq FROM history WHERE conv = ?1
                 ORDER BY time_ms DESC, seq DESC LIMIT 1 OFFSET ?2",
            )
            .and_then(|mut s| {
                s.query_row(params![conv, max as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(sql_error)?;
        let Some((t, seq)) = boundary else { continue };
        let n = conn
            .prepare_cached(
                "DELETE FROM history WHERE seq IN
                 (SELECT seq FROM history WHERE conv = ?1 AND (time_ms, seq) <= (?2, ?3)
                  ORDER BY time_ms, seq LIMIT ?4)",
            )
            .and_then(|mut s| s.execute(params![conv, t, seq, budget as i64]))
            .map_err(sql_error)? as u64;
        report.deleted += n;
        if n == budget {
            report.more = true;
            state.dirty.insert(conv);
        }
    }
    Ok(report)
}

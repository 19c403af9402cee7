//! Retention, in bounded rounds on the store thread, as for SQLite: each round deletes at
//! most [`ROWS_PER_ROUND`] lines by age and checks at most [`CONVERSATIONS_PER_ROUND`]
//! conversations against the per-target count (those written to since their last check
//! first, then a cursor over all of them). Every node sharing the database runs it; two
//! nodes deleting the same lines only wait for each other's row locks.

use std::collections::HashSet;

use super::{Db, Pg};
use crate::store::backend::{Retention, RetentionReport};
use crate::store::types::Millis;

pub const ROWS_PER_ROUND: u64 = 2000;
pub const CONVERSATIONS_PER_ROUND: usize = 16;
/// At most this many conversations wait for a count check by name (memory stays bounded; the
/// cursor still reaches the others).
const DIRTY_MAX: usize = 100_000;

#[derive(Debug, Default)]
pub struct RetentionState {
    dirty: HashSet<String>,
    cursor: Option<String>,
}

impl RetentionState {
    pub fn touched(&mut self, conv: &str) {
        if self.dirty.len() < DIRTY_MAX && !self.dirty.contains(conv) {
            self.dirty.insert(conv.to_owned());
        }
    }
}

pub fn round(
    db: &mut Db<'_>,
    state: &mut RetentionState,
    policy: &Retention,
    now: Millis,
) -> Pg<RetentionReport> {
    let mut report = RetentionReport::default();
    if let Some(max_age) = policy.max_age_ms {
        let cutoff = now.saturating_sub(max_age);
        let n = db.exec(
            "DELETE FROM history WHERE seq IN (SELECT seq FROM history WHERE time_ms < $1
             ORDER BY time_ms LIMIT $2)",
            &[&cutoff, &(ROWS_PER_ROUND as i64)],
        )?;
        report.deleted += n;
        report.more |= n >= ROWS_PER_ROUND;
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
        let next = match &state.cursor {
            None => db.query_opt("SELECT conv FROM history ORDER BY conv LIMIT 1", &[])?,
            Some(c) => db.query_opt(
                "SELECT conv FROM history WHERE conv > $1 ORDER BY conv LIMIT 1",
                &[c],
            )?,
        };
        match next {
            Some(r) => {
                let conv: String = r.try_get(0)?;
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
    let keep = i64::try_from(max).unwrap_or(i64::MAX);
    for conv in todo {
        // The newest line past the limit, if any: it and everything older goes.
        let edge = db.query_opt(
            "SELECT time_ms, seq FROM history WHERE conv = $1
             ORDER BY time_ms DESC, seq DESC OFFSET $2 LIMIT 1",
            &[&conv, &keep],
        )?;
        let Some(edge) = edge else { continue };
        let (t, s): (i64, i64) = (edge.try_get(0)?, edge.try_get(1)?);
        let n = db.exec(
            "DELETE FROM history WHERE seq IN (SELECT seq FROM history WHERE conv = $1
             AND (time_ms, seq) <= ($2, $3) ORDER BY time_ms, seq LIMIT $4)",
            &[&conv, &t, &s, &(budget as i64)],
        )?;
        report.deleted += n;
        if n >= budget {
            report.more = true;
            state.touched(&conv);
        }
    }
    Ok(report)
}

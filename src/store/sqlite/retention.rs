//! Retention, in bounded rounds on the store thread: each round deletes at most
//! [`ROWS_PER_ROUND`] lines by age and checks at most [`CONVERSATIONS_PER_ROUND`]
//! conversations against the per-target count, so a group commit is never held up for long.
//!
//! History is kept in blocks ([`super::block`]): a block whose lines all go is deleted
//! whole; one that loses only some (the age limit falls inside it, or the count limit does)
//! is decoded and written again without them, so both limits are exact to the line.
//!
//! Age: the oldest blocks by insertion order are examined, so a round costs the same however
//! big the table is. Count: conversations that received messages since their last check come
//! first; a cursor also walks every conversation in turn, so a lowered limit reaches rooms
//! that are quiet now. The count limit is therefore a soft one: a conversation can exceed it
//! until its turn comes (seconds when busy, at worst one full walk).

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};

use super::block::{self, Line};
use super::sql_error;
use crate::store::backend::{Retention, RetentionReport, StoreError};
use crate::store::types::Millis;

pub const ROWS_PER_ROUND: u64 = 2000;
/// The age limit looks at this many of the oldest blocks a round.
pub const BLOCKS_PER_ROUND: i64 = 64;
pub const CONVERSATIONS_PER_ROUND: usize = 16;

#[derive(Debug, Default)]
pub struct RetentionState {
    /// Conversations (by number) written to since their last count check.
    pub dirty: HashSet<i64>,
    /// Where the walk over all conversations stands.
    cursor: Option<i64>,
}

/// At most this many conversations wait for a count check by name; past it (or with no
/// count limit at all, when nothing drains the set) the walk over all conversations still
/// reaches the others, and memory stays bounded.
const DIRTY_MAX: usize = 100_000;

impl RetentionState {
    pub fn touched(&mut self, conv: i64) {
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
        let oldest: Vec<Meta> = conn
            .prepare_cached(
                "SELECT id, conv, first_ms, last_ms, lines FROM history_blocks
                 ORDER BY id LIMIT ?1",
            )
            .and_then(|mut s| {
                s.query_map(params![BLOCKS_PER_ROUND], Meta::of)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql_error)?;
        for m in &oldest {
            let budget = ROWS_PER_ROUND - report.deleted;
            if budget == 0 {
                break;
            }
            if m.first_ms >= cutoff {
                continue;
            }
            report.deleted += if m.last_ms < cutoff && m.lines <= budget {
                delete(conn, m.id)?;
                m.lines
            } else {
                trim(conn, m, budget, |l| l.time < cutoff)?
            };
        }
        report.more |= report.deleted == ROWS_PER_ROUND;
    }
    let Some(max) = policy.max_per_target else {
        state.dirty.clear();
        return Ok(report);
    };
    let mut todo: Vec<i64> = Vec::with_capacity(CONVERSATIONS_PER_ROUND);
    while todo.len() < CONVERSATIONS_PER_ROUND / 2 {
        let Some(conv) = state.dirty.iter().next().copied() else {
            break;
        };
        state.dirty.remove(&conv);
        todo.push(conv);
    }
    while todo.len() < CONVERSATIONS_PER_ROUND {
        let next: Option<i64> = conn
            .prepare_cached("SELECT id FROM conversations WHERE id > ?1 ORDER BY id LIMIT 1")
            .and_then(|mut s| {
                s.query_row(params![state.cursor.unwrap_or(i64::MIN)], |r| r.get(0))
                    .optional()
            })
            .map_err(sql_error)?;
        match next {
            Some(conv) => {
                state.cursor = Some(conv);
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
        let total: Option<i64> = conn
            .prepare_cached("SELECT SUM(lines) FROM history_blocks WHERE conv = ?1")
            .and_then(|mut s| s.query_row(params![conv], |r| r.get(0)))
            .map_err(sql_error)?;
        let excess = (total.unwrap_or(0).max(0) as u64).saturating_sub(max);
        if excess == 0 {
            continue;
        }
        // The oldest blocks first; a whole block goes while it fits what must go.
        let blocks: Vec<Meta> = conn
            .prepare_cached(
                "SELECT id, conv, first_ms, last_ms, lines FROM history_blocks
                 WHERE conv = ?1 ORDER BY last_ms, first_ms",
            )
            .and_then(|mut s| {
                s.query_map(params![conv], Meta::of)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(sql_error)?;
        let mut n = 0;
        let goal = excess.min(budget);
        for m in &blocks {
            if n >= goal {
                break;
            }
            n += if m.lines <= goal - n {
                delete(conn, m.id)?;
                m.lines
            } else {
                trim(conn, m, goal - n, |_| true)?
            };
        }
        report.deleted += n;
        if n == budget {
            report.more = true;
            state.dirty.insert(conv);
        }
    }
    Ok(report)
}

/// A block as retention sees it (no data).
struct Meta {
    id: i64,
    first_ms: Millis,
    last_ms: Millis,
    lines: u64,
}

impl Meta {
    fn of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Meta> {
        Ok(Meta {
            id: r.get(0)?,
            first_ms: r.get(2)?,
            last_ms: r.get(3)?,
            lines: r.get::<_, i64>(4)?.max(0) as u64,
        })
    }
}

fn delete(conn: &Connection, id: i64) -> Result<(), StoreError> {
    conn.prepare_cached("DELETE FROM history_blocks WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id]))
        .map_err(sql_error)?;
    Ok(())
}

/// Removes from block `m` at most `budget` of its lines that `doomed` picks, oldest first,
/// and writes the rest back (or deletes the block if none is left). Returns how many went.
fn trim(
    conn: &Connection,
    m: &Meta,
    budget: u64,
    doomed: impl Fn(&Line<'_>) -> bool,
) -> Result<u64, StoreError> {
    let (conv, data): (String, Vec<u8>) = conn
        .prepare_cached(
            "SELECT c.key, b.data FROM history_blocks b JOIN conversations c ON c.id = b.conv
             WHERE b.id = ?1",
        )
        .and_then(|mut s| s.query_row(params![m.id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(sql_error)?;
    let lines = block::decode(&data)
        .map_err(|e| StoreError::row(format!("history block {} is damaged: {}", m.id, e.0)))?;
    let mut order: Vec<usize> = (0..lines.len()).filter(|&i| doomed(&lines[i])).collect();
    order.sort_by_key(|&i| (lines[i].time, i));
    order.truncate(budget as usize);
    if order.is_empty() {
        return Ok(0);
    }
    let mut gone = vec![false; lines.len()];
    for &i in &order {
        gone[i] = true;
    }
    let rest = block::encode(
        lines
            .iter()
            .zip(&gone)
            .filter(|(_, g)| !**g)
            .map(|(l, _)| l.parts(&conv)),
    );
    if rest.is_empty() {
        delete(conn, m.id)?;
    } else {
        conn.prepare_cached(
            "UPDATE history_blocks SET first_ms = ?2, last_ms = ?3, lines = ?4, data = ?5
             WHERE id = ?1",
        )
        .and_then(|mut s| {
            s.execute(params![
                m.id,
                rest.first_ms,
                rest.last_ms,
                rest.lines as i64,
                rest.data
            ])
        })
        .map_err(sql_error)?;
    }
    Ok(order.len() as u64)
}

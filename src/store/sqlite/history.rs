//! History rows: insert, the `draft/chathistory` selectors, TARGETS, and the latest lines per
//! room for the recent window at start.
//!
//! Order is `(time_ms, seq)`: server time, ties broken by insertion order. An anchor becomes
//! two exclusive bounds: a msgid is its own row's position both ways; a timestamp `t` is
//! `(t, MIN)` as an upper bound (everything strictly earlier) and `(t, MAX)` as a lower bound
//! (everything strictly later), so messages *at* a timestamp are excluded both ways, as the
//! spec's "excluding" asks.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::sql_error;
use crate::store::backend::StoreError;
use crate::store::types::*;

/// No query returns more rows than this, whatever limit it asks (the loop should advertise
/// less in `CHATHISTORY=`).
pub const MAX_QUERY_ROWS: usize = 1000;

type Pos = (i64, i64);

const COLUMNS: &str = "seq, time_ms, msgid, kind, conv, dm_from, dm_to, target_name, nick, \
                       user, host, account, text, tags";

pub fn insert(conn: &Connection, m: &HistoryMessage) -> Result<String, StoreError> {
    let conversation = m.target.conversation();
    if !conversation.is_valid() {
        return Err(StoreError::row("a participant key holds a newline"));
    }
    let conv = conversation.key();
    let (dm_from, dm_to) = match &m.target {
        Target::Room(_) => (None, None),
        Target::Direct { from, to } => (Some(from.as_str()), Some(to.as_str())),
    };
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO history (conv, time_ms, msgid, msgid_hash, kind, dm_from, dm_to,
             target_name, nick, user, host, account, text, tags)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .map_err(sql_error)?;
    stmt.execute(params![
        conv,
        m.time,
        m.msgid,
        msgid_hash(&m.msgid),
        m.kind.code(),
        dm_from,
        dm_to,
        m.target_name,
        m.sender.nick,
        m.sender.user,
        m.sender.host,
        m.sender.account,
        m.text,
        m.tags,
    ])
    .map_err(sql_error)?;
    Ok(conv)
}

/// FNV-1a, 64 bits, as a signed integer for SQLite: stable across versions and machines
/// (it is stored), and spreads ids that share a prefix.
pub(super) fn msgid_hash(msgid: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in msgid.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h as i64
}

fn row_to_message(r: &Row<'_>) -> rusqlite::Result<HistoryMessage> {
    let conv: String = r.get(4)?;
    let dm_from: Option<String> = r.get(5)?;
    let dm_to: Option<String> = r.get(6)?;
    let target = match (dm_from, dm_to) {
        (Some(from), Some(to)) => Target::Direct { from, to },
        _ => Target::Room(conv),
    };
    let kind: i64 = r.get(3)?;
    Ok(HistoryMessage {
        time: r.get(1)?,
        msgid: r.get(2)?,
        // An unknown code can only come from a newer snak; show it as a plain message.
        kind: MessageKind::from_code(kind).unwrap_or(MessageKind::Privmsg),
        target,
        target_name: r.get(7)?,
        sender: Sender {
            nick: r.get(8)?,
            user: r.get(9)?,
            host: r.get(10)?,
            account: r.get(11)?,
        },
        text: r.get(12)?,
        tags: r.get(13)?,
    })
}

/// The two exclusive bounds of an anchor: (upper bound for "before", lower for "after").
fn bounds(
    conn: &Connection,
    conv: &str,
    anchor: &Anchor,
) -> Result<Option<(Pos, Pos)>, StoreError> {
    match anchor {
        Anchor::Time(t) => Ok(Some(((*t, i64::MIN), (*t, i64::MAX)))),
        Anchor::MsgId(id) => {
            let mut stmt = conn
                .prepare_cached(
                    // INDEXED BY: without statistics the planner could pick the
                    // conversation index and walk a whole busy room.
                    "SELECT time_ms, seq FROM history INDEXED BY history_by_msgid
                     WHERE msgid_hash = ?1 AND conv = ?2 AND msgid = ?3",
                )
                .map_err(sql_error)?;
            let pos: Option<Pos> = stmt
                .query_row(params![msgid_hash(id), conv, id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sql_error)?;
            Ok(pos.map(|p| (p, p)))
        }
    }
}

#[derive(Clone, Copy)]
enum Dir {
    /// Oldest first from the lower bound.
    Up,
    /// Newest first from the upper bound (reversed before returning).
    Down,
}

/// Rows of `conv` strictly inside (lo, hi) (`lo_inclusive`: `>=` at the bottom), `limit` of
/// them counted from the bottom (`Up`) or the top (`Down`), returned oldest first.
fn page(
    conn: &Connection,
    conv: &str,
    lo: Option<Pos>,
    lo_inclusive: bool,
    hi: Option<Pos>,
    dir: Dir,
    limit: usize,
) -> Result<Vec<HistoryMessage>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let lo_op = if lo_inclusive { ">=" } else { ">" };
    let order = match dir {
        Dir::Up => "ASC",
        Dir::Down => "DESC",
    };
    // Open bounds become the widest positions, so one statement shape serves every query
    // (and stays in the statement cache).
    let (lo, hi) = (
        lo.unwrap_or((i64::MIN, i64::MIN)),
        hi.unwrap_or((i64::MAX, i64::MAX)),
    );
    let sql = format!(
        "SELECT {COLUMNS} FROM history WHERE conv = ?1 \
         AND (time_ms, seq) {lo_op} (?2, ?3) AND (time_ms, seq) < (?4, ?5) \
         ORDER BY time_ms {order}, seq {order} LIMIT ?6"
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(sql_error)?;
    let limit = limit.min(MAX_QUERY_ROWS) as i64;
    let rows = stmt
        .query_map(params![conv, lo.0, lo.1, hi.0, hi.1, limit], row_to_message)
        .map_err(sql_error)?;
    let mut out = rows.collect::<Result<Vec<_>, _>>().map_err(sql_error)?;
    if matches!(dir, Dir::Down) {
        out.reverse();
    }
    Ok(out)
}

pub fn query(
    conn: &Connection,
    q: &HistoryQuery,
) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError> {
    let conv = q.conversation.key();
    let n = q.limit;
    macro_rules! resolve {
        ($a:expr) => {
            match bounds(conn, &conv, $a)? {
                Some(b) => b,
                None => {
                    let Anchor::MsgId(id) = $a else {
                        unreachable!()
                    };
                    return Ok(Err(HistoryError::UnknownMsgId(id.clone())));
                }
            }
        };
    }
    let rows = match &q.selector {
        Selector::Latest(None) => page(conn, &conv, None, false, None, Dir::Down, n)?,
        Selector::Latest(Some(a)) => {
            let (_, lo) = resolve!(a);
            page(conn, &conv, Some(lo), false, None, Dir::Down, n)?
        }
        Selector::Before(a) => {
            let (hi, _) = resolve!(a);
            page(conn, &conv, None, false, Some(hi), Dir::Down, n)?
        }
        Selector::After(a) => {
            let (_, lo) = resolve!(a);
            page(conn, &conv, Some(lo), false, None, Dir::Up, n)?
        }
        Selector::Around(a) => {
            // Half before, the rest from the anchor on; a side with fewer lines leaves its
            // share to the other.
            let (hi, _) = resolve!(a);
            let n = n.min(MAX_QUERY_ROWS);
            let mut before = page(conn, &conv, None, false, Some(hi), Dir::Down, n)?;
            let mut after = page(conn, &conv, Some(hi), true, None, Dir::Up, n)?;
            let mut take_before = before.len().min(n / 2);
            let take_after = after.len().min(n - take_before);
            take_before = before.len().min(n - take_after);
            before.drain(..before.len() - take_before);
            after.truncate(take_after);
            before.extend(after);
            before
        }
        Selector::Between(a, b) => {
            let (a_hi, a_lo) = resolve!(a);
            let (b_hi, b_lo) = resolve!(b);
            if a_hi <= b_hi {
                page(conn, &conv, Some(a_lo), false, Some(b_hi), Dir::Up, n)?
            } else {
                page(conn, &conv, Some(b_lo), false, Some(a_hi), Dir::Down, n)?
            }
        }
    };
    Ok(Ok(rows))
}

pub fn targets(conn: &Connection, q: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError> {
    let mut found = Vec::new();
    {
        let mut stmt = conn
            .prepare_cached(
                "SELECT time_ms, target_name FROM history WHERE conv = ?1 \
                 ORDER BY time_ms DESC, seq DESC LIMIT 1",
            )
            .map_err(sql_error)?;
        for room in &q.rooms {
            let latest: Option<(i64, String)> = stmt
                .query_row(params![Conversation::Room(room.clone()).key()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(sql_error)?;
            if let Some((latest, name)) = latest {
                found.push(TargetLatest {
                    target: TargetId::Room(room.clone()),
                    name,
                    latest,
                });
            }
        }
    }
    // SQLite takes the bare columns of a MAX() aggregate from the row holding the maximum:
    // the latest message of each conversation, in one pass over the user's DM rows.
    let mut stmt = conn
        .prepare_cached(
            "SELECT MAX(time_ms), dm_from, dm_to, nick, target_name FROM history \
             WHERE dm_from = ?1 OR dm_to = ?1 GROUP BY conv",
        )
        .map_err(sql_error)?;
    let rows = stmt
        .query_map(params![q.user], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(sql_error)?;
    for row in rows {
        let (latest, from, to, nick, target_name) = row.map_err(sql_error)?;
        let (peer, name) = if from == q.user {
            (to, target_name)
        } else {
            (from, nick)
        };
        found.push(TargetLatest {
            target: TargetId::Peer(peer),
            name,
            latest,
        });
    }
    let (lo, hi, backwards) = if q.from <= q.to {
        (q.from, q.to, false)
    } else {
        (q.to, q.from, true)
    };
    found.retain(|t| t.latest > lo && t.latest < hi);
    found.sort_by_key(|t| t.latest);
    let n = q.limit.min(MAX_QUERY_ROWS);
    if backwards {
        let skip = found.len().saturating_sub(n);
        found.drain(..skip);
    } else {
        found.truncate(n);
    }
    Ok(found)
}

/// The latest `per_room` lines of every room conversation, oldest first within each room,
/// at most `max_rows` in all (rooms with the most recent activity first).
pub fn recent_per_room(
    conn: &Connection,
    per_room: usize,
    max_rows: usize,
) -> Result<Vec<HistoryMessage>, StoreError> {
    if per_room == 0 || max_rows == 0 {
        return Ok(Vec::new());
    }
    // Walk the distinct room keys through the index; direct keys start with "\n" and sort
    // before any room key.
    let mut rooms: Vec<(i64, String)> = Vec::new();
    {
        let mut next = conn
            .prepare("SELECT conv FROM history WHERE conv > ?1 ORDER BY conv LIMIT 1")
            .map_err(sql_error)?;
        let mut latest = conn
            .prepare("SELECT MAX(time_ms) FROM history WHERE conv = ?1")
            .map_err(sql_error)?;
        let mut cursor = String::from("\n\u{10FFFF}");
        while let Some(conv) = next
            .query_row(params![cursor], |r| r.get::<_, String>(0))
            .optional()
            .map_err(sql_error)?
        {
            if !conv.starts_with('\n') {
                let t: i64 = latest
                    .query_row(params![conv], |r| r.get(0))
                    .map_err(sql_error)?;
                rooms.push((t, conv.clone()));
            }
            cursor = conv;
        }
    }
    // The most recently active rooms are loaded when `max_rows` cannot hold them all; they
    // come last, so a window that fills up evicts the stalest rooms' lines first.
    rooms.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut chunks = Vec::new();
    let mut total = 0;
    for (_, conv) in rooms {
        if total >= max_rows {
            break;
        }
        let rows = page(
            conn,
            &conv,
            None,
            false,
            None,
            Dir::Down,
            per_room.min(max_rows - total),
        )?;
        total += rows.len();
        chunks.push(rows);
    }
    Ok(chunks.into_iter().rev().flatten().collect())
}

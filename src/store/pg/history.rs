//! History as rows: one per line, ordered by `(time_ms, seq)` (server time, ties broken by
//! insertion order network-wide: `seq` comes from one sequence). Every `draft/chathistory`
//! selector is one or two index range scans over `(conv, time_ms, seq)`; a msgid is found
//! through the unique `(conv, msgid)` index. Anchors become exclusive bounds as in the SQLite
//! backend: a msgid is its own line's position both ways, a timestamp `t` is `(t, MIN)` from
//! above and `(t, MAX)` from below, so lines *at* a timestamp are excluded both ways.
//!
//! A pass's lines go in as one statement (`UNNEST` of one array per column): one round trip
//! for the batch, whatever its size.

use std::collections::HashSet;

use postgres::Row;

use super::{pg_error, storable, Db, Pg};
use crate::store::backend::StoreError;
use crate::store::batch::{LineBatch, TargetParts};
use crate::store::selector::{self, Dir, Pages, Pos, MAX_QUERY_ROWS};
use crate::store::types::*;

/// The columns a message is read from, in [`message`]'s order.
macro_rules! cols {
    () => {
        "time_ms, seq, msgid, kind, dm_from, dm_to, target_name, nick, username, host, account, \
         body, tags"
    };
}

/// A pass's lines as columns, ready for one INSERT.
pub struct Rows<'a> {
    conv: Vec<String>,
    time: Vec<i64>,
    msgid: Vec<&'a str>,
    kind: Vec<i64>,
    dm_from: Vec<Option<&'a str>>,
    dm_to: Vec<Option<&'a str>>,
    target_name: Vec<&'a str>,
    nick: Vec<&'a str>,
    user: Vec<&'a str>,
    host: Vec<&'a str>,
    account: Vec<Option<&'a str>>,
    text: Vec<&'a str>,
    tags: Vec<&'a str>,
    /// Lines that cannot be stored (a participant key with a newline, a NUL in a text).
    pub refused: u64,
}

impl<'a> Rows<'a> {
    pub fn of(lines: &'a LineBatch) -> Rows<'a> {
        let n = lines.len();
        let mut rows = Rows {
            conv: Vec::with_capacity(n),
            time: Vec::with_capacity(n),
            msgid: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            dm_from: Vec::with_capacity(n),
            dm_to: Vec::with_capacity(n),
            target_name: Vec::with_capacity(n),
            nick: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            host: Vec::with_capacity(n),
            account: Vec::with_capacity(n),
            text: Vec::with_capacity(n),
            tags: Vec::with_capacity(n),
            refused: 0,
        };
        for p in lines.iter() {
            let (conv, from, to) = match p.target {
                TargetParts::Room(k) => (Conversation::Room(k.to_owned()), None, None),
                TargetParts::Direct { from, to } => (
                    Conversation::Direct(from.to_owned(), to.to_owned()),
                    Some(from),
                    Some(to),
                ),
            };
            let texts = [
                p.msgid,
                p.nick,
                p.user,
                p.host,
                p.target_name,
                p.text,
                p.tags,
                p.account.unwrap_or(""),
                from.unwrap_or(""),
                to.unwrap_or(""),
            ];
            if !conv.is_valid() || !texts.iter().all(|s| storable(s)) {
                rows.refused += 1;
                continue;
            }
            rows.conv.push(conv.key());
            rows.time.push(p.time);
            rows.msgid.push(p.msgid);
            rows.kind.push(p.kind.code());
            rows.dm_from.push(from);
            rows.dm_to.push(to);
            rows.target_name.push(p.target_name);
            rows.nick.push(p.nick);
            rows.user.push(p.user);
            rows.host.push(p.host);
            rows.account.push(p.account);
            rows.text.push(p.text);
            rows.tags.push(p.tags);
        }
        rows
    }

    pub fn is_empty(&self) -> bool {
        self.conv.is_empty()
    }

    pub fn len(&self) -> usize {
        self.conv.len()
    }

    /// The conversations written to (for retention's count limit).
    pub fn conversations(&self) -> impl Iterator<Item = &str> {
        let mut seen = HashSet::new();
        self.conv
            .iter()
            .map(String::as_str)
            .filter(move |c| seen.insert(*c))
    }

    /// One INSERT for all the lines. A msgid already in its conversation (the same group
    /// retried after a commit whose answer was lost) is skipped.
    pub fn insert(&self, db: &mut Db<'_>) -> Pg<()> {
        db.exec(
            "INSERT INTO history (conv, time_ms, msgid, kind, dm_from, dm_to, target_name, nick,
             username, host, account, body, tags)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[],
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
             $12::text[], $13::text[])
             ON CONFLICT (conv, msgid) DO NOTHING",
            &[
                &self.conv,
                &self.time,
                &self.msgid,
                &self.kind,
                &self.dm_from,
                &self.dm_to,
                &self.target_name,
                &self.nick,
                &self.user,
                &self.host,
                &self.account,
                &self.text,
                &self.tags,
            ],
        )
        .map(drop)
    }
}

/// A row of [`cols!`] as a message of the conversation `conv`.
fn message(conv: &str, r: &Row) -> Pg<HistoryMessage> {
    let from: Option<String> = r.try_get(4)?;
    let to: Option<String> = r.try_get(5)?;
    let target = match (from, to) {
        (Some(from), Some(to)) => Target::Direct { from, to },
        _ => Target::Room(conv.to_owned()),
    };
    Ok(HistoryMessage {
        msgid: r.try_get(2)?,
        time: r.try_get(0)?,
        sender: Sender {
            nick: r.try_get(7)?,
            user: r.try_get(8)?,
            host: r.try_get(9)?,
            account: r.try_get(10)?,
        },
        target,
        target_name: r.try_get(6)?,
        kind: MessageKind::from_code(r.try_get(3)?).unwrap_or(MessageKind::Privmsg),
        text: r.try_get(11)?,
        tags: r.try_get(12)?,
    })
}

/// Lines of `conv` strictly inside (lo, hi) (`lo_inclusive`: `>=` at the bottom), `limit` of
/// them counted from the bottom (`Up`) or the top (`Down`), returned oldest first.
fn page(
    db: &mut Db<'_>,
    conv: &str,
    lo: Option<Pos>,
    lo_inclusive: bool,
    hi: Option<Pos>,
    dir: Dir,
    limit: usize,
) -> Pg<Vec<HistoryMessage>> {
    let limit = limit.min(MAX_QUERY_ROWS) as i64;
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (lo, hi) = (
        lo.unwrap_or((i64::MIN, i64::MIN)),
        hi.unwrap_or((i64::MAX, i64::MAX)),
    );
    let sql = match (dir, lo_inclusive) {
        (Dir::Down, false) => concat!(
            "SELECT ",
            cols!(),
            " FROM history WHERE conv = $1 AND (time_ms, seq) > ($2, $3)
             AND (time_ms, seq) < ($4, $5) ORDER BY time_ms DESC, seq DESC LIMIT $6"
        ),
        (Dir::Down, true) => concat!(
            "SELECT ",
            cols!(),
            " FROM history WHERE conv = $1 AND (time_ms, seq) >= ($2, $3)
             AND (time_ms, seq) < ($4, $5) ORDER BY time_ms DESC, seq DESC LIMIT $6"
        ),
        (Dir::Up, false) => concat!(
            "SELECT ",
            cols!(),
            " FROM history WHERE conv = $1 AND (time_ms, seq) > ($2, $3)
             AND (time_ms, seq) < ($4, $5) ORDER BY time_ms, seq LIMIT $6"
        ),
        (Dir::Up, true) => concat!(
            "SELECT ",
            cols!(),
            " FROM history WHERE conv = $1 AND (time_ms, seq) >= ($2, $3)
             AND (time_ms, seq) < ($4, $5) ORDER BY time_ms, seq LIMIT $6"
        ),
    };
    let rows = db.query(sql, &[&conv, &lo.0, &lo.1, &hi.0, &hi.1, &limit])?;
    let mut out = rows
        .iter()
        .map(|r| message(conv, r))
        .collect::<Pg<Vec<_>>>()?;
    if matches!(dir, Dir::Down) {
        out.reverse();
    }
    Ok(out)
}

/// Where a msgid is in `conv`.
fn find_msgid(db: &mut Db<'_>, conv: &str, id: &str) -> Pg<Option<Pos>> {
    if !storable(id) {
        return Ok(None);
    }
    db.query_opt(
        "SELECT time_ms, seq FROM history WHERE conv = $1 AND msgid = $2",
        &[&conv, &id],
    )?
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .transpose()
}

/// The two exclusive bounds of an anchor: (upper bound for "before", lower for "after").
fn bounds(db: &mut Db<'_>, conv: &str, anchor: &Anchor) -> Pg<Option<(Pos, Pos)>> {
    match anchor {
        Anchor::Time(t) => Ok(Some(((*t, i64::MIN), (*t, i64::MAX)))),
        Anchor::MsgId(id) => Ok(find_msgid(db, conv, id)?.map(|p| (p, p))),
    }
}

pub fn query(
    db: &mut Db<'_>,
    q: &HistoryQuery,
) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError> {
    run(db, q).map_err(pg_error)
}

fn run(db: &mut Db<'_>, q: &HistoryQuery) -> Pg<Result<Vec<HistoryMessage>, HistoryError>> {
    if !q.conversation.is_valid() {
        return Ok(Ok(Vec::new()));
    }
    let key = q.conversation.key();
    if !storable(&key) {
        return Ok(Ok(Vec::new()));
    }
    selector::select(&mut ConvPages { db, conv: &key }, &q.selector, q.limit)
}

/// One conversation's lines, for [`selector::select`].
struct ConvPages<'d, 'c, 'k> {
    db: &'d mut Db<'c>,
    conv: &'k str,
}

impl Pages for ConvPages<'_, '_, '_> {
    type Error = postgres::Error;

    fn bounds(&mut self, anchor: &Anchor) -> Pg<Option<(Pos, Pos)>> {
        bounds(self.db, self.conv, anchor)
    }

    fn page(
        &mut self,
        lo: Option<Pos>,
        lo_inclusive: bool,
        hi: Option<Pos>,
        dir: Dir,
        limit: usize,
    ) -> Pg<Vec<HistoryMessage>> {
        page(self.db, self.conv, lo, lo_inclusive, hi, dir, limit)
    }
}

pub fn targets(db: &mut Db<'_>, q: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError> {
    find_targets(db, q).map_err(pg_error)
}

fn find_targets(db: &mut Db<'_>, q: &TargetsQuery) -> Pg<Vec<TargetLatest>> {
    let mut found = Vec::new();
    let rooms: Vec<&str> = q
        .rooms
        .iter()
        .map(String::as_str)
        .filter(|r| storable(r))
        .collect();
    // Each room's newest line, one index probe per room.
    for r in db.query(
        "SELECT r.conv, h.time_ms, h.target_name FROM UNNEST($1::text[]) AS r(conv)
         CROSS JOIN LATERAL (SELECT time_ms, target_name FROM history WHERE conv = r.conv
         ORDER BY time_ms DESC, seq DESC LIMIT 1) h",
        &[&rooms],
    )? {
        found.push(TargetLatest {
            target: TargetId::Room(r.try_get(0)?),
            name: r.try_get(2)?,
            latest: r.try_get(1)?,
        });
    }
    // The user's direct conversations (through the participant indexes), the newest line of
    // each.
    if storable(&q.user) {
        let user = q.user.as_str();
        for r in db.query(
            "SELECT h.time_ms, h.dm_from, h.dm_to, h.target_name, h.nick FROM
             (SELECT DISTINCT conv FROM history WHERE dm_from = $1 OR dm_to = $1) c
             CROSS JOIN LATERAL (SELECT time_ms, dm_from, dm_to, target_name, nick FROM history
             WHERE conv = c.conv ORDER BY time_ms DESC, seq DESC LIMIT 1) h",
            &[&user],
        )? {
            let from: Option<String> = r.try_get(1)?;
            let to: Option<String> = r.try_get(2)?;
            let (from, to) = (from.unwrap_or_default(), to.unwrap_or_default());
            let (peer, name): (String, String) = if from == user {
                (to, r.try_get(3)?)
            } else {
                (from, r.try_get(4)?)
            };
            found.push(TargetLatest {
                target: TargetId::Peer(peer),
                name,
                latest: r.try_get(0)?,
            });
        }
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

/// Every conversation key, through the index (a skip scan: one probe per conversation).
const CONVERSATIONS: &str = "WITH RECURSIVE c AS (
        (SELECT conv FROM history ORDER BY conv LIMIT 1)
        UNION ALL
        SELECT (SELECT h.conv FROM history h WHERE h.conv > c.conv ORDER BY h.conv LIMIT 1)
        FROM c WHERE c.conv IS NOT NULL
    ) SELECT conv FROM c WHERE conv IS NOT NULL";

/// The latest `per_room` lines of every room conversation, oldest first within each room,
/// at most `max_rows` in all (rooms with the most recent activity first).
pub fn recent_per_room(
    db: &mut Db<'_>,
    per_room: usize,
    max_rows: usize,
) -> Result<Vec<HistoryMessage>, StoreError> {
    recent(db, per_room, max_rows).map_err(pg_error)
}

fn recent(db: &mut Db<'_>, per_room: usize, max_rows: usize) -> Pg<Vec<HistoryMessage>> {
    if per_room == 0 || max_rows == 0 {
        return Ok(Vec::new());
    }
    let mut rooms: Vec<(i64, String)> = Vec::new();
    let keys: Vec<String> = db
        .query(CONVERSATIONS, &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Pg<_>>()?;
    for key in keys {
        // Direct conversations' keys start with a newline.
        if key.starts_with('\n') {
            continue;
        }
        let newest: Option<i64> = db
            .query_opt(
                "SELECT time_ms FROM history WHERE conv = $1 ORDER BY time_ms DESC, seq DESC
                 LIMIT 1",
                &[&key],
            )?
            .map(|r| r.try_get(0))
            .transpose()?;
        if let Some(t) = newest {
            rooms.push((t, key));
        }
    }
    // The most recently active rooms are loaded when `max_rows` cannot hold them all; they
    // come last, so a window that fills up evicts the stalest rooms' lines first.
    rooms.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut chunks = Vec::new();
    let mut total = 0;
    for (_, key) in rooms {
        if total >= max_rows {
            break;
        }
        let rows = page(
            db,
            &key,
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

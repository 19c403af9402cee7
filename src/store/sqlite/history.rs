//! History: lines packed in blocks (one row per conversation and commit group, see
//! [`super::block`]), the `draft/chathistory` selectors over them, TARGETS, and the latest
//! lines per room for the recent window at start.
//!
//! Order is `(time_ms, seq)`: server time, ties broken by insertion order, where a line's
//! `seq` is its block's id times 2^16 plus its index in the block. An anchor becomes two
//! exclusive bounds: a msgid is its own line's position both ways; a timestamp `t` is
//! `(t, MIN)` as an upper bound (everything strictly earlier) and `(t, MAX)` as a lower bound
//! (everything strictly later), so messages *at* a timestamp are excluded both ways, as the
//! spec's "excluding" asks.
//!
//! A conversation is named by a number (`conversations`): the one index over blocks,
//! `(conv, last_ms, first_ms, lines)`, then has small entries, and a commit touches fewer of
//! its pages. Blocks of one conversation may overlap in time (a clock step back, a remote
//! server's lines arriving late), so a page walks blocks from the anchor outwards by their
//! newest time and stops only when no block left can hold a line nearer than the ones it
//! has. A block spans at most [`block::MAX_SPAN_MS`], which bounds that walk.

use crate::fast_map::FastMap as HashMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::block::{self, Builder, Line, MAX_SPAN_MS};
use super::sql_error;
use crate::store::backend::StoreError;
use crate::store::batch::{LineParts, TargetParts};
pub use crate::store::selector::MAX_QUERY_ROWS;
use crate::store::selector::{self, Dir, Pages, Pos};
use crate::store::types::*;

/// A msgid is looked for in at most this many blocks: those that may hold its time when it
/// is one of snak's (the time is in the id), else the conversation's newest.
pub const MSGID_SCAN_BLOCKS: i64 = 256;

fn seq(block: i64, index: usize) -> i64 {
    (block << 16) | index as i64
}

fn corrupt(block: i64, e: block::Corrupt) -> StoreError {
    StoreError::row(format!("history block {block} is damaged: {}", e.0))
}

/// The lines of the open group, one block per conversation, written as rows when the group
/// commits or something reads history (a read sees the group's writes).
#[derive(Debug, Default)]
pub struct Pending {
    open: HashMap<String, Builder>,
    /// The direct conversation key being built (reused: no allocation per line).
    key: String,
    /// Conversation numbers already looked up (or made) in this database.
    ids: HashMap<String, i64>,
}

/// A conversation: its number (in SQL) and its key (in the messages made).
#[derive(Debug, Clone, Copy)]
pub(super) struct Conv<'a> {
    pub id: i64,
    pub key: &'a str,
}

/// At most this many conversation numbers are remembered (then forgotten all at once).
const IDS_MAX: usize = 100_000;

/// The number of an existing conversation.
pub(super) fn conv_id(conn: &Connection, key: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM conversations WHERE key = ?1")?
        .query_row(params![key], |r| r.get(0))
        .optional()
}

/// The number of a conversation, made (with a direct one's parties) if it is new.
fn make_conv(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    if let Some(id) = conv_id(conn, key)? {
        return Ok(id);
    }
    conn.prepare_cached("INSERT INTO conversations (key) VALUES (?1)")?
        .execute(params![key])?;
    let id = conn.last_insert_rowid();
    if let Some((a, b)) = direct_pair(key) {
        let mut stmt = conn
            .prepare_cached("INSERT OR IGNORE INTO direct_parties (party, conv) VALUES (?1, ?2)")?;
        stmt.execute(params![a, id])?;
        stmt.execute(params![b, id])?;
    }
    Ok(id)
}

impl Pending {
    /// Adds one line; a block that is full is written at once.
    pub fn push(&mut self, conn: &Connection, p: &LineParts<'_>) -> Result<(), StoreError> {
        let key: &str = match p.target {
            TargetParts::Room(k) if !k.contains('\n') => k,
            TargetParts::Direct { from, to } if !from.contains('\n') && !to.contains('\n') => {
                let (lo, hi) = if from <= to { (from, to) } else { (to, from) };
                self.key.clear();
                for s in ["\n", lo, "\n", hi] {
                    self.key.push_str(s);
                }
                &self.key
            }
            _ => return Err(StoreError::row("a participant key holds a newline")),
        };
        match self.open.get_mut(key) {
            Some(b) => {
                if !b.fits(p.time) {
                    let full = std::mem::take(b);
                    let id = Pending::id(&mut self.ids, conn, key)?;
                    write_block(conn, id, &full)?;
                }
                b.push(p);
            }
            None => {
                let mut b = Builder::default();
                b.push(p);
                self.open.insert(key.to_owned(), b);
            }
        }
        Ok(())
    }

    fn id(ids: &mut HashMap<String, i64>, conn: &Connection, key: &str) -> Result<i64, StoreError> {
        if let Some(&id) = ids.get(key) {
            return Ok(id);
        }
        let id = make_conv(conn, key).map_err(sql_error)?;
        if ids.len() >= IDS_MAX {
            ids.clear();
        }
        ids.insert(key.to_owned(), id);
        Ok(id)
    }

    /// Writes every open block; `touched` hears of each conversation written to.
    pub fn flush(
        &mut self,
        conn: &Connection,
        mut touched: impl FnMut(i64),
    ) -> Result<(), StoreError> {
        for (conv, b) in self.open.drain() {
            if !b.is_empty() {
                let id = Pending::id(&mut self.ids, conn, &conv)?;
                write_block(conn, id, &b)?;
                touched(id);
            }
        }
        Ok(())
    }

    /// Forgets the open blocks and the numbers learnt (the group was rolled back, and the
    /// conversations it made with it; its writes come again).
    pub fn clear(&mut self) {
        self.open.clear();
        self.ids.clear();
    }
}

/// The two participants of a direct conversation's key.
fn direct_pair(conv: &str) -> Option<(&str, &str)> {
    conv.strip_prefix('\n')?.split_once('\n')
}

fn write_block(conn: &Connection, conv: i64, b: &Builder) -> Result<(), StoreError> {
    insert_block(conn, conv, b).map_err(sql_error)
}

fn insert_block(conn: &Connection, conv: i64, b: &Builder) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO history_blocks (conv, first_ms, last_ms, lines, data)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![conv, b.first_ms, b.last_ms, b.lines as i64, b.data])?;
    Ok(())
}

/// The two exclusive bounds of an anchor: (upper bound for "before", lower for "after").
fn bounds(
    conn: &Connection,
    conv: Conv<'_>,
    anchor: &Anchor,
) -> Result<Option<(Pos, Pos)>, StoreError> {
    match anchor {
        Anchor::Time(t) => Ok(Some(((*t, i64::MIN), (*t, i64::MAX)))),
        Anchor::MsgId(id) => Ok(find_msgid(conn, conv, id)?.map(|p| (p, p))),
    }
}

/// Where a msgid is in `conv`. snak's msgids hold the time they were made, at or after
/// their line's time ([`crate::event::MsgId::latest_time_ms`]): the search starts at the
/// blocks that may hold that time and walks back. Other ids (none of snak's making) are
/// looked for among the conversation's newest blocks.
fn find_msgid(conn: &Connection, conv: Conv<'_>, id: &str) -> Result<Option<Pos>, StoreError> {
    let top = crate::event::MsgId::parse(id)
        .and_then(|m| i64::try_from(m.latest_time_ms()).ok())
        .unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, data FROM history_blocks WHERE conv = ?1 AND last_ms <= ?2
             AND first_ms <= ?3 ORDER BY last_ms DESC LIMIT ?4",
        )
        .map_err(sql_error)?;
    let mut rows = stmt
        .query(params![
            conv.id,
            top.saturating_add(MAX_SPAN_MS),
            top,
            MSGID_SCAN_BLOCKS
        ])
        .map_err(sql_error)?;
    while let Some(r) = rows.next().map_err(sql_error)? {
        let bid: i64 = r.get(0).map_err(sql_error)?;
        let data = blob(r, bid)?;
        let lines = block::decode(data).map_err(|e| corrupt(bid, e))?;
        if let Some(i) = lines.iter().position(|l| l.msgid == id) {
            return Ok(Some((lines[i].time, seq(bid, i))));
        }
    }
    Ok(None)
}

/// Lines of `conv` strictly inside (lo, hi) (`lo_inclusive`: `>=` at the bottom), `limit` of
/// them counted from the bottom (`Up`) or the top (`Down`), returned oldest first.
fn page(
    conn: &Connection,
    conv: Conv<'_>,
    lo: Option<Pos>,
    lo_inclusive: bool,
    hi: Option<Pos>,
    dir: Dir,
    limit: usize,
) -> Result<Vec<HistoryMessage>, StoreError> {
    let limit = limit.min(MAX_QUERY_ROWS);
    if limit == 0 {
        return Ok(Vec::new());
    }
    let (lo, hi) = (
        lo.unwrap_or((i64::MIN, i64::MIN)),
        hi.unwrap_or((i64::MAX, i64::MAX)),
    );
    let inside = |p: Pos| (if lo_inclusive { p >= lo } else { p > lo }) && p < hi;
    // Blocks by their edge nearest the side counted from: the newest end going down, the
    // oldest end going up; a block's other edge is within MAX_SPAN_MS of it.
    let (sql, a, b, c) = match dir {
        Dir::Down => (
            "SELECT id, last_ms, data FROM history_blocks WHERE conv = ?1 AND last_ms >= ?2
             AND last_ms <= ?3 AND first_ms <= ?4 ORDER BY last_ms DESC",
            lo.0,
            hi.0.saturating_add(MAX_SPAN_MS),
            hi.0,
        ),
        Dir::Up => (
            "SELECT id, first_ms, data FROM history_blocks WHERE conv = ?1 AND first_ms >= ?2
             AND first_ms <= ?3 AND last_ms >= ?4 ORDER BY first_ms ASC",
            lo.0.saturating_sub(MAX_SPAN_MS),
            hi.0,
            lo.0,
        ),
    };
    // Nearest first: descending positions going down, ascending going up.
    let nearer = |x: &Pos, y: &Pos| match dir {
        Dir::Down => y.cmp(x),
        Dir::Up => x.cmp(y),
    };
    let mut stmt = conn.prepare_cached(sql).map_err(sql_error)?;
    let mut rows = stmt.query(params![conv.id, a, b, c]).map_err(sql_error)?;
    let mut found: Vec<(Pos, HistoryMessage)> = Vec::new();
    while let Some(r) = rows.next().map_err(sql_error)? {
        let bid: i64 = r.get(0).map_err(sql_error)?;
        let edge: i64 = r.get(1).map_err(sql_error)?;
        // Every line left is at or before `edge` going down, at or after `edge` minus the
        // span going up: done once the limit is met nearer than that.
        if found.len() >= limit {
            let far = found[limit - 1].0 .0;
            let done = match dir {
                Dir::Down => far > edge,
                Dir::Up => far < edge.saturating_sub(MAX_SPAN_MS),
            };
            if done {
                break;
            }
        }
        let data = r
            .get_ref(2)
            .map_err(sql_error)?
            .as_blob()
            .map_err(|e| StoreError::row(format!("history block {bid} is not a blob: {e}")))?;
        let lines = block::decode(data).map_err(|e| corrupt(bid, e))?;
        let mut here: Vec<(Pos, usize)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.time, seq(bid, i)), i))
            .filter(|(p, _)| inside(*p))
            .collect();
        here.sort_by(|x, y| nearer(&x.0, &y.0));
        here.truncate(limit);
        found.extend(
            here.into_iter()
                .map(|(p, i)| (p, lines[i].to_message(conv.key))),
        );
        found.sort_by(|x, y| nearer(&x.0, &y.0));
        found.truncate(limit);
    }
    let mut out: Vec<HistoryMessage> = found.into_iter().map(|(_, m)| m).collect();
    if matches!(dir, Dir::Down) {
        out.reverse();
    }
    Ok(out)
}

pub fn query(
    conn: &Connection,
    q: &HistoryQuery,
) -> Result<Result<Vec<HistoryMessage>, HistoryError>, StoreError> {
    let key = q.conversation.key();
    let Some(id) = conv_id(conn, &key).map_err(sql_error)? else {
        // Nothing kept: a msgid anchor names nothing here.
        let anchors = match &q.selector {
            Selector::Latest(None) => vec![],
            Selector::Latest(Some(a))
            | Selector::Before(a)
            | Selector::After(a)
            | Selector::Around(a) => vec![a],
            Selector::Between(a, b) => vec![a, b],
        };
        for a in anchors {
            if let Anchor::MsgId(id) = a {
                return Ok(Err(HistoryError::UnknownMsgId(id.clone())));
            }
        }
        return Ok(Ok(Vec::new()));
    };
    let conv = Conv { id, key: &key };
    selector::select(&mut ConvPages { conn, conv }, &q.selector, q.limit)
}

/// One conversation's lines, for [`selector::select`].
struct ConvPages<'c> {
    conn: &'c Connection,
    conv: Conv<'c>,
}

impl Pages for ConvPages<'_> {
    type Error = StoreError;

    fn bounds(&mut self, anchor: &Anchor) -> Result<Option<(Pos, Pos)>, StoreError> {
        bounds(self.conn, self.conv, anchor)
    }

    fn page(
        &mut self,
        lo: Option<Pos>,
        lo_inclusive: bool,
        hi: Option<Pos>,
        dir: Dir,
        limit: usize,
    ) -> Result<Vec<HistoryMessage>, StoreError> {
        page(self.conn, self.conv, lo, lo_inclusive, hi, dir, limit)
    }
}

/// The newest line of `conv`, handed to `f`, if it has any.
fn latest<R>(
    conn: &Connection,
    conv: i64,
    f: impl FnOnce(&Line<'_>) -> R,
) -> Result<Option<R>, StoreError> {
    // Every block ending at the newest time (usually one): the newest line is among them.
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, data FROM history_blocks WHERE conv = ?1
             AND last_ms = (SELECT MAX(last_ms) FROM history_blocks WHERE conv = ?1)",
        )
        .map_err(sql_error)?;
    let mut rows = stmt.query(params![conv]).map_err(sql_error)?;
    let mut best: Option<(Pos, Vec<u8>, usize)> = None;
    while let Some(r) = rows.next().map_err(sql_error)? {
        let bid: i64 = r.get(0).map_err(sql_error)?;
        let data = blob(r, bid)?;
        let lines = block::decode(data).map_err(|e| corrupt(bid, e))?;
        let newest = lines
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.time, seq(bid, i)), i))
            .max();
        if let Some((pos, i)) = newest {
            if best.as_ref().is_none_or(|b| pos > b.0) {
                best = Some((pos, data.to_vec(), i));
            }
        }
    }
    let Some((_, data, i)) = best else {
        return Ok(None);
    };
    let lines = block::decode(&data).map_err(|e| corrupt(-1, e))?;
    Ok(lines.get(i).map(f))
}

/// A row's blob column 1.
fn blob<'r>(r: &'r rusqlite::Row<'_>, bid: i64) -> Result<&'r [u8], StoreError> {
    r.get_ref(1)
        .map_err(sql_error)?
        .as_blob()
        .map_err(|e| StoreError::row(format!("history block {bid} is not a blob: {e}")))
}

pub fn targets(conn: &Connection, q: &TargetsQuery) -> Result<Vec<TargetLatest>, StoreError> {
    let mut found = Vec::new();
    for room in &q.rooms {
        let Some(conv) = conv_id(conn, room).map_err(sql_error)? else {
            continue;
        };
        if let Some((latest, name)) = latest(conn, conv, |l| (l.time, l.target_name.to_owned()))? {
            found.push(TargetLatest {
                target: TargetId::Room(room.clone()),
                name,
                latest,
            });
        }
    }
    // The user's direct conversations, through the participant indexes; then the newest
    // line of each.
    let convs: Vec<i64> = {
        let mut stmt = conn
            .prepare_cached("SELECT conv FROM direct_parties WHERE party = ?1")
            .map_err(sql_error)?;
        let rows = stmt
            .query_map(params![q.user], |r| r.get::<_, i64>(0))
            .map_err(sql_error)?;
        rows.collect::<Result<_, _>>().map_err(sql_error)?
    };
    for conv in convs {
        let user = q.user.as_str();
        let found_one = latest(conn, conv, |l| {
            let (from, to) = l.direct.unwrap_or(("", ""));
            let (peer, name) = if from == user {
                (to, l.target_name)
            } else {
                (from, l.nick)
            };
            TargetLatest {
                target: TargetId::Peer(peer.to_owned()),
                name: name.to_owned(),
                latest: l.time,
            }
        })?;
        found.extend(found_one);
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
    // Every room conversation with its newest time (direct keys start with "\n").
    let mut rooms: Vec<(i64, i64, String)> = Vec::new();
    {
        let mut all = conn
            .prepare(
                "SELECT c.id, c.key, (SELECT MAX(last_ms) FROM history_blocks b
                 WHERE b.conv = c.id) FROM conversations c",
            )
            .map_err(sql_error)?;
        let mut rows = all.query([]).map_err(sql_error)?;
        while let Some(r) = rows.next().map_err(sql_error)? {
            let key: String = r.get(1).map_err(sql_error)?;
            let newest: Option<i64> = r.get(2).map_err(sql_error)?;
            if let (false, Some(t)) = (key.starts_with('\n'), newest) {
                rooms.push((t, r.get(0).map_err(sql_error)?, key));
            }
        }
    }
    // The most recently active rooms are loaded when `max_rows` cannot hold them all; they
    // come last, so a window that fills up evicts the stalest rooms' lines first.
    rooms.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut chunks = Vec::new();
    let mut total = 0;
    for (_, id, key) in rooms {
        if total >= max_rows {
            break;
        }
        let rows = page(
            conn,
            Conv { id, key: &key },
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

/// Migration 4: the rows of the per-line table of schema 3, packed into blocks (each
/// conversation's lines in their order, blocks closed as the store closes them).
pub(super) fn blocks_from_rows(conn: &Connection) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare(
        "SELECT conv, time_ms, msgid, kind, dm_from, dm_to, target_name, nick, user, host,
         account, text, tags FROM history ORDER BY conv, time_ms, seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut conv = String::new();
    let mut id = 0;
    let mut b = Builder::default();
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        let text = |i: usize| -> rusqlite::Result<&str> { Ok(r.get_ref(i)?.as_str()?) };
        let opt =
            |i: usize| -> rusqlite::Result<Option<&str>> { Ok(r.get_ref(i)?.as_str_or_null()?) };
        let this = text(0)?;
        let time: i64 = r.get(1)?;
        if this != conv || !b.fits(time) {
            if !b.is_empty() {
                insert_block(conn, id, &std::mem::take(&mut b))?;
            }
            if this != conv {
                this.clone_into(&mut conv);
                id = make_conv(conn, this)?;
            }
        }
        let kind: i64 = r.get(3)?;
        let (dm_from, dm_to, account) = (opt(4)?, opt(5)?, opt(10)?);
        let target = match (dm_from, dm_to) {
            (Some(from), Some(to)) => TargetParts::Direct { from, to },
            _ => TargetParts::Room(this),
        };
        b.push(&LineParts {
            msgid: text(2)?,
            time,
            nick: text(7)?,
            user: text(8)?,
            host: text(9)?,
            account,
            target,
            target_name: text(6)?,
            kind: MessageKind::from_code(kind).unwrap_or(MessageKind::Privmsg),
            text: text(11)?,
            tags: text(12)?,
        });
        n += 1;
    }
    if !b.is_empty() {
        insert_block(conn, id, &b)?;
    }
    Ok(n)
}

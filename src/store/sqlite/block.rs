//! History blocks: the lines one conversation received in one commit group, packed in one
//! blob, so the store pays one row (and its index entries) per block rather than per line.
//!
//! The record format (version 1), documented in docs/OPERATIONS.md ("How history is kept"):
//! one byte `1`, then each line in the order received:
//!
//! ```text
//! time      zigzag varint: the line's time in ms minus the previous line's (0 before the first)
//! kind      one byte (0 PRIVMSG, 1 NOTICE, 2 ACTION, 3 TAGMSG, 4 file offer)
//! flags     one byte: 1 the sender had an account, 2 a direct message
//! same      one byte: bit i set when string i of the list below is the previous line's
//!           (then it is not written again): 0 nick, 1 user, 2 host, 3 account, 4 target
//!           name, 5 tags, 6 from key, 7 to key
//! strings   each a varint length then UTF-8: msgid, nick, user, host, [account], target
//!           name, tags, text, [direct: from key, to key], leaving out those marked same
//! ```
//!
//! A conversation's lines mostly repeat their sender and target, so a block holds little
//! more than each line's id, time and text.
//!
//! Decoding checks every length against what is left and every string's UTF-8: a damaged
//! blob is an error for the query that met it, never a panic.

use crate::store::batch::{LineParts, TargetParts};
use crate::store::types::*;

pub const FORMAT: u8 = 1;

/// A block is closed at this many lines (a line's place in a conversation is its block's id
/// times 2^16 plus its index, so this must stay below 65 536) ...
pub const MAX_LINES: usize = 4096;
/// ... or this many bytes ...
pub const MAX_BYTES: usize = 256 << 10;
/// ... or when its lines would span more than this. Queries rely on it: a block that holds
/// a line at time t ends no later than t plus this, and a page counted from the oldest end
/// reads the blocks up to this much past its last line. A commit group lasts 50 ms, so
/// only a burst after a failing disk, or the lines migrated from schema 3, meet it.
pub const MAX_SPAN_MS: Millis = 1000;

const ACCOUNT: u8 = 1;
const DIRECT: u8 = 2;

/// The strings that may repeat the previous line's (their bit in `same`).
const REPEATABLE: usize = 8;

/// A block being filled.
#[derive(Debug, Clone)]
pub struct Builder {
    pub data: Vec<u8>,
    pub lines: usize,
    pub first_ms: Millis,
    pub last_ms: Millis,
    prev_ms: Millis,
    /// Where the previous line's repeatable strings are in `data` (None: it had none).
    prev: [Option<(usize, usize)>; REPEATABLE],
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            data: vec![FORMAT],
            lines: 0,
            first_ms: 0,
            last_ms: 0,
            prev_ms: 0,
            prev: [None; REPEATABLE],
        }
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn string(out: &mut Vec<u8>, s: &str) {
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

impl Builder {
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Whether `time` may join this block (else close it first).
    pub fn fits(&self, time: Millis) -> bool {
        if self.lines == 0 {
            return true;
        }
        self.lines < MAX_LINES
            && self.data.len() < MAX_BYTES
            && time
                .max(self.last_ms)
                .saturating_sub(time.min(self.first_ms))
                <= MAX_SPAN_MS
    }

    pub fn push(&mut self, p: &LineParts<'_>) {
        if self.lines == 0 {
            self.first_ms = p.time;
            self.last_ms = p.time;
        } else {
            self.first_ms = self.first_ms.min(p.time);
            self.last_ms = self.last_ms.max(p.time);
        }
        let delta = p.time.wrapping_sub(self.prev_ms);
        self.prev_ms = p.time;
        varint(&mut self.data, ((delta << 1) ^ (delta >> 63)) as u64);
        let mut flags = 0;
        if p.account.is_some() {
            flags |= ACCOUNT;
        }
        if matches!(p.target, TargetParts::Direct { .. }) {
            flags |= DIRECT;
        }
        let (from, to) = match p.target {
            TargetParts::Direct { from, to } => (Some(from), Some(to)),
            TargetParts::Room(_) => (None, None),
        };
        let repeatable = [
            Some(p.nick),
            Some(p.user),
            Some(p.host),
            p.account,
            Some(p.target_name),
            Some(p.tags),
            from,
            to,
        ];
        let mut same = 0u8;
        for (i, v) in repeatable.iter().enumerate() {
            if let (Some(v), Some((start, end))) = (v, self.prev[i]) {
                if self.data.get(start..end) == Some(v.as_bytes()) {
                    same |= 1 << i;
                }
            }
        }
        self.data.push(p.kind.code() as u8);
        self.data.push(flags);
        self.data.push(same);
        string(&mut self.data, p.msgid);
        for (i, v) in repeatable.iter().enumerate() {
            if i == 6 {
                // The text goes between the room fields and the direct ones.
                string(&mut self.data, p.text);
            }
            match v {
                Some(_) if same & (1 << i) != 0 => {}
                Some(v) => {
                    varint(&mut self.data, v.len() as u64);
                    let start = self.data.len();
                    self.data.extend_from_slice(v.as_bytes());
                    self.prev[i] = Some((start, self.data.len()));
                }
                None => self.prev[i] = None,
            }
        }
        self.lines += 1;
    }
}

/// One line of a decoded block, borrowing the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub time: Millis,
    pub kind: MessageKind,
    pub msgid: &'a str,
    pub nick: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub account: Option<&'a str>,
    pub target_name: &'a str,
    pub tags: &'a str,
    pub text: &'a str,
    /// A direct message's (from, to) keys.
    pub direct: Option<(&'a str, &'a str)>,
}

impl<'a> Line<'a> {
    pub fn parts(&self, room_key: &'a str) -> LineParts<'a> {
        LineParts {
            msgid: self.msgid,
            time: self.time,
            nick: self.nick,
            user: self.user,
            host: self.host,
            account: self.account,
            target: match self.direct {
                Some((from, to)) => TargetParts::Direct { from, to },
                None => TargetParts::Room(room_key),
            },
            target_name: self.target_name,
            kind: self.kind,
            text: self.text,
            tags: self.tags,
        }
    }

    /// The line as a message of conversation `conv` (a room's key; direct lines carry theirs).
    pub fn to_message(self, conv: &str) -> HistoryMessage {
        self.parts(conv).to_message()
    }
}

/// Why a blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let b = *self.data.get(self.at).ok_or(Corrupt("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Corrupt("a number runs past 64 bits"))
    }

    fn string(&mut self) -> Result<&'a str, Corrupt> {
        let len = usize::try_from(self.varint()?).map_err(|_| Corrupt("a length overflows"))?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.data.len())
            .ok_or(Corrupt("a string runs past the end"))?;
        let s = std::str::from_utf8(&self.data[self.at..end])
            .map_err(|_| Corrupt("a string is not UTF-8"))?;
        self.at = end;
        Ok(s)
    }
}

/// Every line of a blob, in the order received.
pub fn decode(data: &[u8]) -> Result<Vec<Line<'_>>, Corrupt> {
    match data.first() {
        Some(&FORMAT) => {}
        Some(_) => return Err(Corrupt("unknown block format")),
        None => return Err(Corrupt("empty block")),
    }
    let mut r = Reader { data, at: 1 };
    let mut lines = Vec::new();
    let mut time: Millis = 0;
    let mut prev: [Option<&str>; REPEATABLE] = [None; REPEATABLE];
    while r.at < data.len() {
        if lines.len() >= MAX_LINES {
            return Err(Corrupt("too many lines"));
        }
        let z = r.varint()?;
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        time = time.wrapping_add(delta);
        let kind = MessageKind::from_code(i64::from(r.byte()?))
            // An unknown code can only come from a newer snak; show it as a plain message.
            .unwrap_or(MessageKind::Privmsg);
        let flags = r.byte()?;
        let same = r.byte()?;
        let msgid = r.string()?;
        let present = [
            true,
            true,
            true,
            flags & ACCOUNT != 0,
            true,
            true,
            flags & DIRECT != 0,
            flags & DIRECT != 0,
        ];
        let mut v: [Option<&str>; REPEATABLE] = [None; REPEATABLE];
        let mut text = "";
        for i in 0..REPEATABLE {
            if i == 6 {
                text = r.string()?;
            }
            v[i] = if !present[i] {
                if same & (1 << i) != 0 {
                    return Err(Corrupt("a missing string is marked as repeated"));
                }
                None
            } else if same & (1 << i) != 0 {
                Some(prev[i].ok_or(Corrupt("a string repeats one the line before lacks"))?)
            } else {
                Some(r.string()?)
            };
        }
        prev = v;
        let s = |i: usize| v[i].unwrap_or("");
        let (nick, user, host, account) = (s(0), s(1), s(2), v[3]);
        let (target_name, tags) = (s(4), s(5));
        let direct = v[6].zip(v[7]);
        lines.push(Line {
            time,
            kind,
            msgid,
            nick,
            user,
            host,
            account,
            target_name,
            tags,
            text,
            direct,
        });
    }
    Ok(lines)
}

/// A block of `lines` (re-encoding what is left of one after a trim).
pub fn encode<'a>(lines: impl IntoIterator<Item = LineParts<'a>>) -> Builder {
    let mut b = Builder::default();
    for l in lines {
        b.push(&l);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(i: i64, direct: bool) -> LineParts<'static> {
        LineParts {
            msgid: "0192f3a4b5c6d7e8",
            time: 1_700_000_000_000 + [0, 5, -3, 40_000][i as usize % 4],
            nick: "ñick",
            user: "u",
            host: "h",
            account: (i % 2 == 0).then_some("Acct"),
            target: if direct {
                TargetParts::Direct {
                    from: "a",
                    to: "session 1",
                }
            } else {
                TargetParts::Room("#r")
            },
            target_name: "#R",
            kind: if i % 3 == 0 {
                MessageKind::Action
            } else {
                MessageKind::Tagmsg
            },
            text: if i == 2 { "" } else { "text ✓" },
            tags: "+x=y",
        }
    }

    #[test]
    fn lines_come_back_as_they_went_in() {
        let all: Vec<LineParts<'static>> = (0..9).map(|i| parts(i, i % 2 == 1)).collect();
        let b = encode(all.iter().copied());
        assert_eq!(
            (b.lines, b.first_ms, b.last_ms),
            (9, all[2].time, all[3].time)
        );
        let got = decode(&b.data).unwrap();
        let back: Vec<LineParts<'_>> = got.iter().map(|l| l.parts("#r")).collect();
        assert_eq!(back, all);
        assert_eq!(decode(&[FORMAT]).unwrap(), vec![]);
    }

    #[test]
    fn a_conversation_repeats_its_sender_and_target_for_free() {
        let one = encode([parts(1, true)]).data.len() - 1;
        let hundred = encode((0..100).map(|_| parts(1, true))).data.len() - 1;
        // Each line after the first: time, kind, flags, same, msgid and text only.
        let rest = 1 + 3 + 17 + 1 + "text ✓".len();
        assert_eq!(hundred, one + 99 * rest);
        // A change of sender is written out again, and read back as changed.
        let mut other = parts(1, true);
        other.nick = "bob";
        let lines = [parts(1, true), other, parts(1, true)];
        let b = encode(lines);
        let got = decode(&b.data).unwrap();
        let nicks: Vec<&str> = got.iter().map(|l| l.nick).collect();
        assert_eq!(nicks, ["ñick", "bob", "ñick"]);
        assert!(got.iter().all(|l| l.direct == Some(("a", "session 1"))));
    }

    #[test]
    fn a_damaged_blob_is_an_error_never_a_panic() {
        let b = encode((0..4).map(|i| parts(i, i == 3)));
        assert!(decode(&[]).is_err());
        assert_eq!(decode(&[9]), Err(Corrupt("unknown block format")));
        // Every truncation and every single-byte change: an error or lines, never a panic.
        for end in 1..b.data.len() {
            if let Ok(lines) = decode(&b.data[..end]) {
                assert!(
                    lines.len() < 4,
                    "cut at {end}: only at a line's end, fewer lines"
                );
            }
        }
        for i in 1..b.data.len() {
            for x in [0x00, 0x7f, 0x80, 0xff] {
                let mut d = b.data.clone();
                d[i] = x;
                let _ = decode(&d);
            }
        }
        assert!(
            decode(&[FORMAT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err()
        );
    }

    #[test]
    fn blocks_close_on_lines_bytes_and_span() {
        let mut b = Builder::default();
        let p = parts(0, false);
        assert!(b.fits(p.time));
        b.push(&p);
        assert!(b.fits(p.time + MAX_SPAN_MS));
        assert!(!b.fits(p.time + MAX_SPAN_MS + 1));
        assert!(!b.fits(p.time - MAX_SPAN_MS - 1));
        for _ in 1..MAX_LINES {
            b.push(&p);
        }
        assert!(!b.fits(p.time));
    }
}

//! The recent window: the last lines of each room in memory, so a join replays history
//! without a disk read. Pure and owned by the loop; filled at start from the snapshot and fed
//! as messages are sent.
//!
//! Bounded twice: at most `per_room` lines per room, and at most `max_bytes` in all (by the
//! window's own count: each line's struct and text plus a fixed overhead), evicting the
//! oldest line of all rooms first. Each line is one allocation: its strings laid end to end.

use std::collections::VecDeque;

use crate::fast_map::FastMap as HashMap;

use super::batch::LineParts;
use super::types::*;

/// What a line costs beyond its struct and text: the allocator's header and the global
/// order entry. An estimate; the `store_bench` example measures the real figure.
const LINE_OVERHEAD: usize = 16 + std::mem::size_of::<(u32, u64)>();

/// One line, compact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowLine {
    time: Millis,
    stamp: u64,
    /// msgid, nick, user, host, account, target_name, tags, text, end to end.
    buf: Box<str>,
    ends: [u32; 7],
    kind: MessageKind,
    has_account: bool,
}

impl WindowLine {
    fn new(m: &LineParts<'_>, stamp: u64) -> WindowLine {
        let parts = [
            m.msgid,
            m.nick,
            m.user,
            m.host,
            m.account.unwrap_or(""),
            m.target_name,
            m.tags,
            m.text,
        ];
        let mut buf = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 7];
        for (i, p) in parts.iter().enumerate() {
            buf.push_str(p);
            if i < 7 {
                ends[i] = buf.len() as u32;
            }
        }
        WindowLine {
            time: m.time,
            stamp,
            buf: buf.into_boxed_str(),
            ends,
            kind: m.kind,
            has_account: m.account.is_some(),
        }
    }

    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        let end = if i == 7 {
            self.buf.len()
        } else {
            self.ends[i] as usize
        };
        &self.buf[start..end]
    }

    pub fn time(&self) -> Millis {
        self.time
    }
    pub fn kind(&self) -> MessageKind {
        self.kind
    }
    pub fn msgid(&self) -> &str {
        self.part(0)
    }
    pub fn nick(&self) -> &str {
        self.part(1)
    }
    pub fn user(&self) -> &str {
        self.part(2)
    }
    pub fn host(&self) -> &str {
        self.part(3)
    }
    pub fn account(&self) -> Option<&str> {
        self.has_account.then(|| self.part(4))
    }
    pub fn target_name(&self) -> &str {
        self.part(5)
    }
    pub fn tags(&self) -> &str {
        self.part(6)
    }
    pub fn text(&self) -> &str {
        self.part(7)
    }

    fn cost(&self) -> usize {
        std::mem::size_of::<WindowLine>() + self.buf.len() + LINE_OVERHEAD
    }

    /// Back to a full message (for tests and the native `/history` path).
    pub fn to_message(&self, room_key: &str) -> HistoryMessage {
        HistoryMessage {
            msgid: self.msgid().to_owned(),
            time: self.time,
            sender: Sender {
                nick: self.nick().to_owned(),
                user: self.user().to_owned(),
                host: self.host().to_owned(),
                account: self.account().map(str::to_owned),
            },
            target: Target::Room(room_key.to_owned()),
            target_name: self.target_name().to_owned(),
            kind: self.kind,
            text: self.text().to_owned(),
            tags: self.tags().to_owned(),
        }
    }
}

struct Ring {
    key: String,
    lines: VecDeque<WindowLine>,
}

/// The recent lines of every room.
pub struct RecentWindow {
    per_room: usize,
    max_bytes: usize,
    bytes: usize,
    lines: usize,
    next_stamp: u64,
    slots: Vec<Option<Ring>>,
    free: Vec<u32>,
    index: HashMap<String, u32>,
    /// (slot, stamp) of every line in the order pushed; entries of lines already gone
    /// (evicted by their room's own bound, or their room forgotten) are skipped when met
    /// and swept out when they outnumber the live ones.
    order: VecDeque<(u32, u64)>,
}

impl RecentWindow {
    pub fn new(per_room: usize, max_bytes: usize) -> RecentWindow {
        RecentWindow {
            per_room,
            max_bytes,
            bytes: 0,
            lines: 0,
            next_stamp: 0,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    /// Adds a room message (DMs have no place here).
    pub fn push(&mut self, room_key: &str, m: &HistoryMessage) {
        self.push_parts(room_key, &m.parts());
    }

    /// [`RecentWindow::push`] from borrowed parts (the loop's hot path: no message made).
    pub fn push_parts(&mut self, room_key: &str, m: &LineParts<'_>) {
        if self.per_room == 0 {
            return;
        }
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        let line = WindowLine::new(m, stamp);
        let cost = line.cost();
        if cost > self.max_bytes {
            return;
        }
        let slot = self.slot_for(room_key);
        let Some(ring) = self.slots[slot as usize].as_mut() else {
            return; // slot_for always returns a live slot
        };
        // `while`: the bound may have been lowered since the room's last line.
        while ring.lines.len() >= self.per_room {
            let Some(old) = ring.lines.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.lines -= 1;
        }
        ring.lines.push_back(line);
        self.bytes += cost;
        self.lines += 1;
        self.order.push_back((slot, stamp));
        while self.bytes > self.max_bytes {
            self.evict_oldest();
        }
        if self.order.len() > 2 * self.lines + 1024 {
            self.compact();
        }
    }

    /// A new bound per room (a reload): a room's lines past it go as its next line comes.
    pub fn set_per_room(&mut self, per_room: usize) {
        self.per_room = per_room;
    }

    /// The last `n` lines of a room, oldest first.
    pub fn recent(&self, room_key: &str, n: usize) -> impl Iterator<Item = &WindowLine> + '_ {
        let lines = self
            .index
            .get(room_key)
            .and_then(|&s| self.slots[s as usize].as_ref())
            .map(|r| &r.lines);
        let skip = lines.map_or(0, |l| l.len().saturating_sub(n));
        lines.into_iter().flat_map(move |l| l.iter().skip(skip))
    }

    /// Drops a room's lines (the room is gone, or was unregistered and emptied).
    pub fn forget(&mut self, room_key: &str) {
        if let Some(slot) = self.index.remove(room_key) {
            if let Some(ring) = self.slots[slot as usize].take() {
                for l in &ring.lines {
                    self.bytes -= l.cost();
                }
                self.lines -= ring.lines.len();
            }
            self.free.push(slot);
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
    pub fn lines(&self) -> usize {
        self.lines
    }
    pub fn rooms(&self) -> usize {
        self.index.len()
    }

    fn slot_for(&mut self, room_key: &str) -> u32 {
        if let Some(&s) = self.index.get(room_key) {
            return s;
        }
        let ring = Ring {
            key: room_key.to_owned(),
            lines: VecDeque::new(),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(ring);
                s
            }
            None => {
                self.slots.push(Some(ring));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(room_key.to_owned(), slot);
        slot
    }

    fn evict_oldest(&mut self) {
        while let Some((slot, stamp)) = self.order.pop_front() {
            let Some(ring) = self.slots[slot as usize].as_mut() else {
                continue;
            };
            if ring.lines.front().map(|l| l.stamp) != Some(stamp) {
                continue; // already gone
            }
            if let Some(old) = ring.lines.pop_front() {
                self.bytes -= old.cost();
                self.lines -= 1;
            }
            if ring.lines.is_empty() {
                let key = ring.key.clone();
                self.forget(&key);
            }
            return;
        }
    }

    fn compact(&mut self) {
        let slots = &self.slots;
        self.order.retain(|&(slot, stamp)| {
            slots[slot as usize]
                .as_ref()
                .is_some_and(|r| r.lines.binary_search_by_key(&stamp, |l| l.stamp).is_ok())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: usize, text: &str) -> HistoryMessage {
        HistoryMessage {
            msgid: format!("id{i}"),
            time: i as i64,
            sender: Sender {
                nick: "nick".into(),
                user: "user".into(),
                host: "host".into(),
                account: i.is_multiple_of(2).then(|| "acct".into()),
            },
            target: Target::Room("#r".into()),
            target_name: "#R".into(),
            kind: MessageKind::Privmsg,
            text: text.into(),
            tags: if i.is_multiple_of(3) {
                "+x=y".into()
            } else {
                String::new()
            },
        }
    }

    #[test]
    fn lines_come_back_whole_and_in_order() {
        let mut w = RecentWindow::new(50, 1 << 20);
        for i in 0..5 {
            w.push("#r", &msg(i, &format!("text {i}")));
        }
        let got: Vec<HistoryMessage> = w.recent("#r", 10).map(|l| l.to_message("#r")).collect();
        assert_eq!(
            got,
            (0..5)
                .map(|i| msg(i, &format!("text {i}")))
                .collect::<Vec<_>>()
        );
        let last2: Vec<&str> = w.recent("#r", 2).map(|l| l.msgid()).collect();
        assert_eq!(last2, ["id3", "id4"]);
        assert_eq!(w.recent("#none", 5).count(), 0);
        assert_eq!(w.recent("#r", 0).count(), 0);
    }

    #[test]
    fn per_room_bound() {
        let mut w = RecentWindow::new(3, 1 << 20);
        for i in 0..10 {
            w.push("#r", &msg(i, "x"));
        }
        let ids: Vec<&str> = w.recent("#r", 10).map(|l| l.msgid()).collect();
        assert_eq!(ids, ["id7", "id8", "id9"]);
        assert_eq!(w.lines(), 3);
    }

    #[test]
    fn byte_bound_evicts_the_oldest_of_all_rooms() {
        let one = WindowLine::new(&msg(0, "0123456789").parts(), 0).cost();
        let mut w = RecentWindow::new(100, one * 4);
        w.push("#a", &msg(0, "0123456789"));
        w.push("#b", &msg(0, "0123456789"));
        w.push("#a", &msg(0, "0123456789"));
        w.push("#b", &msg(0, "0123456789"));
        assert_eq!(w.lines(), 4);
        w.push("#c", &msg(0, "0123456789"));
        assert_eq!(w.lines(), 4);
        assert!(w.bytes() <= one * 4);
        assert_eq!(w.recent("#a", 10).count(), 1, "the first #a line went");
        w.push("#c", &msg(0, "0123456789"));
        assert_eq!(w.recent("#b", 10).count(), 1);
        w.push("#c", &msg(0, "0123456789"));
        w.push("#c", &msg(0, "0123456789"));
        // #a and #b emptied and forgotten.
        assert_eq!(w.rooms(), 1);
    }

    #[test]
    fn forgetting_and_stale_order_entries() {
        let mut w = RecentWindow::new(2, 1 << 30);
        for i in 0..5000 {
            w.push("#r", &msg(i, "x"));
        }
        // The per-room bound left stale entries; compaction keeps the order list small.
        assert!(w.order.len() <= 2 * w.lines() + 1024, "{}", w.order.len());
        w.forget("#r");
        assert_eq!((w.lines(), w.bytes(), w.rooms()), (0, 0, 0));
        // The slot is reused; the old room's entries must not evict the new room's lines.
        w.push("#s", &msg(1, "first"));
        w.push("#s", &msg(2, "second"));
        w.evict_oldest();
        let left: Vec<&str> = w.recent("#s", 10).map(|l| l.text()).collect();
        assert_eq!(left, ["second"]);
    }

    #[test]
    fn zero_sized_windows_hold_nothing() {
        let mut w = RecentWindow::new(0, 1 << 20);
        w.push("#r", &msg(0, "x"));
        assert_eq!(w.lines(), 0);
        let mut w = RecentWindow::new(10, 8);
        w.push("#r", &msg(0, "x"));
        assert_eq!(w.lines(), 0);
    }
}

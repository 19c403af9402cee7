//! Outbound bytes: encoded once, shared by every recipient, written with one `writev` each.
//!
//! During a loop pass every event is encoded once per protocol into one arena; a recipient's
//! queue is a linked list of spans into that arena (no copy, no allocation per recipient).
//! At the end of the pass each connection with spans gets one vectored write, with adjacent
//! spans merged. Whatever the socket did not take is copied into that connection's own
//! backlog, which exists only while the connection is behind and is freed when it catches up:
//! an idle connection holds no buffer.

use std::io::{self, IoSlice, Write};

/// A range of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    len: u32,
}

impl Span {
    pub const EMPTY: Span = Span { start: 0, len: 0 };

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `next` starts where this span ends (the two are one range of the arena).
    pub fn is_followed_by(&self, next: Span) -> bool {
        self.start.checked_add(self.len) == Some(next.start)
    }

    /// This span lengthened by `next`, which must follow it ([`Span::is_followed_by`]).
    pub fn joined(self, next: Span) -> Span {
        debug_assert!(self.is_empty() || self.is_followed_by(next));
        if self.is_empty() {
            return next;
        }
        Span {
            start: self.start,
            len: self.len + next.len,
        }
    }
}

const NONE: u32 = u32::MAX;
/// How many slices one `writev` gets (Linux allows 1024).
const MAX_IOV: usize = 256;
/// The arena is given back whole if a burst made it larger than this.
const ARENA_MAX: usize = 4 << 20;
/// The span list is given back whole if a burst made it longer than this.
const ITEMS_MAX: usize = 64 << 10;
/// What the arena and the span list keep once the loop is quiet ([`Outbox::give_back`]):
/// enough for an ordinary pass.
const ARENA_KEEP: usize = 64 << 10;
const ITEMS_KEEP: usize = 4 << 10;

/// The slice list of vectored writes, kept between them: an array of [`MAX_IOV`] slices on
/// the stack was set up (4 KiB of stores) for every write, however few it used.
#[derive(Default)]
pub struct Gather(Vec<IoSlice<'static>>);

impl Gather {
    /// The kept list, empty, for slices borrowed for one write.
    fn lend<'a>(&mut self) -> Vec<IoSlice<'a>> {
        let mut slices = relabel(std::mem::take(&mut self.0));
        slices.reserve(MAX_IOV);
        slices
    }

    fn give_back(&mut self, slices: Vec<IoSlice<'_>>) {
        self.0 = relabel(slices);
    }
}

/// `slices` emptied, as a list for slices of another lifetime: the same allocation (an
/// emptied list collected again keeps its buffer).
fn relabel<'b>(mut slices: Vec<IoSlice<'_>>) -> Vec<IoSlice<'b>> {
    slices.clear();
    slices.into_iter().map(|_| IoSlice::new(&[])).collect()
}

#[derive(Debug, Clone, Copy)]
struct Item {
    span: Span,
    next: u32,
}

/// One connection's outbound state; costs no heap memory while nothing is pending.
#[derive(Debug)]
pub struct OutQueue {
    head: u32,
    tail: u32,
    pending: u32,
    /// Only while behind: boxed, so an idle connection pays one pointer for it.
    backlog: Option<Box<Backlog>>,
}

/// What a connection's socket did not take yet: `buf[pos..]`.
#[derive(Debug, Default)]
struct Backlog {
    buf: Vec<u8>,
    pos: usize,
}

impl Default for OutQueue {
    fn default() -> OutQueue {
        OutQueue {
            head: NONE,
            tail: NONE,
            pending: 0,
            backlog: None,
        }
    }
}

impl OutQueue {
    /// Bytes waiting for this connection, this pass's and older.
    pub fn queued(&self) -> usize {
        self.pending as usize + self.backlog()
    }

    /// Bytes left over from earlier passes (a slow reader's debt).
    pub fn backlog(&self) -> usize {
        self.backlog.as_ref().map_or(0, |b| b.buf.len() - b.pos)
    }

    fn backlog_bytes(&self) -> &[u8] {
        self.backlog.as_ref().map_or(&[], |b| &b.buf[b.pos..])
    }

    fn backlog_extend(&mut self, bytes: &[u8]) {
        self.backlog
            .get_or_insert_with(Box::default)
            .buf
            .extend_from_slice(bytes);
    }

    /// `n` bytes of the backlog were written; a backlog written whole is given back.
    fn backlog_written(&mut self, n: usize) {
        if let Some(b) = &mut self.backlog {
            b.pos = (b.pos + n).min(b.buf.len());
            if b.pos == b.buf.len() {
                self.backlog = None;
            }
        }
    }

    /// Moves the unwritten bytes to the front once most of the buffer is written.
    fn backlog_compact(&mut self, always: bool) {
        if let Some(b) = &mut self.backlog {
            if b.pos > 0 && (always || b.pos > b.buf.len() / 2) {
                b.buf.drain(..b.pos);
                b.pos = 0;
            }
        }
    }

    fn has_items(&self) -> bool {
        self.head != NONE
    }

    /// Drops everything queued: the connection will never be written to.
    pub fn forget(&mut self) {
        *self = OutQueue::default();
    }
}

/// What a flush achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// The socket is full; the rest waits in the backlog for writable readiness.
    Blocked,
}

#[derive(Default)]
pub struct Outbox {
    arena: Vec<u8>,
    items: Vec<Item>,
    /// Connections with spans this pass, each once.
    dirty: Vec<usize>,
    /// Bytes written to sockets so far (for metrics).
    pub written: u64,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Encodes into the arena; returns the span written. The caller keeps the arena far
    /// below 4 GiB by flushing between events; an encoding that would pass that is dropped.
    pub fn encode(&mut self, f: impl FnOnce(&mut Vec<u8>)) -> Span {
        let start = self.arena.len();
        f(&mut self.arena);
        match (
            u32::try_from(start),
            u32::try_from(self.arena.len() - start),
        ) {
            (Ok(start), Ok(len)) if start.checked_add(len).is_some() => Span { start, len },
            _ => {
                self.arena.truncate(start);
                Span::EMPTY
            }
        }
    }

    /// The bytes of a span of this pass.
    pub fn bytes(&self, span: Span) -> &[u8] {
        let (s, e) = (span.start as usize, (span.start + span.len) as usize);
        self.arena.get(s..e).unwrap_or_default()
    }

    /// Queues `span` for connection `id`.
    pub fn push(&mut self, q: &mut OutQueue, id: usize, span: Span) {
        if span.len == 0 {
            return;
        }
        if q.backlog() > 0 {
            // Behind already: keep order by appending to the backlog; the writable event sends it.
            let (s, e) = (span.start as usize, (span.start + span.len) as usize);
            q.backlog_extend(&self.arena[s..e]);
            return;
        }
        if q.has_items() {
            // Messages encoded one after another sit back to back in the arena: lengthen the
            // last span instead of adding one, so a busy recipient gets one slice per writev.
            let last = &mut self.items[q.tail as usize].span;
            if last.start + last.len == span.start {
                last.len += span.len;
                q.pending += span.len;
                return;
            }
        }
        let index = self.items.len() as u32;
        self.items.push(Item { span, next: NONE });
        if q.has_items() {
            self.items[q.tail as usize].next = index;
        } else {
            q.head = index;
            self.dirty.push(id);
        }
        q.tail = index;
        q.pending += span.len;
    }

    /// The connections with something queued this pass; call [`Outbox::write`] for each, then
    /// [`Outbox::end_pass`].
    pub fn take_dirty(&mut self, into: &mut Vec<usize>) {
        into.clear();
        std::mem::swap(into, &mut self.dirty);
    }

    /// Writes this pass's spans for one connection (after its backlog, if any) with vectored
    /// writes; keeps what the socket does not take. Its slice list is its own: a pass that
    /// writes many connections shares one through [`Outbox::write_gathered`].
    pub fn write(&mut self, q: &mut OutQueue, socket: &mut impl Write) -> io::Result<Flushed> {
        self.write_gathered(q, socket, &mut Gather::default())
    }

    /// [`Outbox::write`] with the slice list of `gather`, kept by the caller for the pass's
    /// other connections.
    pub fn write_gathered(
        &mut self,
        q: &mut OutQueue,
        socket: &mut impl Write,
        gather: &mut Gather,
    ) -> io::Result<Flushed> {
        let mut cursor = q.head;
        // Bytes of the item at `cursor` already written.
        let mut skip = 0u32;
        q.head = NONE;
        q.tail = NONE;
        q.pending = 0;
        loop {
            let mut slices = gather.lend();
            if q.backlog() > 0 {
                slices.push(IoSlice::new(q.backlog_bytes()));
            }
            let (mut c, mut sk) = (cursor, skip);
            let mut run: Option<(usize, usize)> = None;
            while c != NONE && slices.len() < MAX_IOV {
                let item = self.items[c as usize];
                let (s, e) = (
                    (item.span.start + sk) as usize,
                    (item.span.start + item.span.len) as usize,
                );
                run = match run {
                    Some((rs, re)) if re == s => Some((rs, e)),
                    Some((rs, re)) => {
                        slices.push(IoSlice::new(&self.arena[rs..re]));
                        Some((s, e))
                    }
                    None => Some((s, e)),
                };
                c = item.next;
                sk = 0;
            }
            // With no slot left, the last run waits for the next round.
            if let Some((rs, re)) = run.filter(|_| slices.len() < MAX_IOV) {
                slices.push(IoSlice::new(&self.arena[rs..re]));
            }
            if slices.is_empty() {
                gather.give_back(slices);
                q.backlog = None;
                return Ok(Flushed::All);
            }
            let wrote = socket.write_vectored(&slices);
            gather.give_back(slices);
            match wrote {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(mut written) => {
                    self.written += written as u64;
                    let from_backlog = written.min(q.backlog());
                    q.backlog_written(from_backlog);
                    written -= from_backlog;
                    while written > 0 && cursor != NONE {
                        let item = self.items[cursor as usize];
                        let left = (item.span.len - skip) as usize;
                        if written >= left {
                            written -= left;
                            cursor = item.next;
                            skip = 0;
                        } else {
                            skip += written as u32;
                            written = 0;
                        }
                    }
                    // All taken (the usual case): no second round to find nothing left.
                    if cursor == NONE && q.backlog() == 0 {
                        q.backlog = None;
                        return Ok(Flushed::All);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.keep_rest(q, cursor, skip);
                    return Ok(Flushed::Blocked);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies the unwritten spans into the connection's backlog.
    fn keep_rest(&self, q: &mut OutQueue, mut cursor: u32, mut skip: u32) {
        q.backlog_compact(true);
        while cursor != NONE {
            let item = self.items[cursor as usize];
            let (s, e) = (
                (item.span.start + skip) as usize,
                (item.span.start + item.span.len) as usize,
            );
            q.backlog_extend(&self.arena[s..e]);
            cursor = item.next;
            skip = 0;
        }
    }

    /// Writes a connection's backlog (on writable readiness); counts what went in `written`.
    pub fn write_backlog(
        q: &mut OutQueue,
        socket: &mut impl Write,
        written: &mut u64,
    ) -> io::Result<Flushed> {
        while q.backlog() > 0 {
            match socket.write(q.backlog_bytes()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    q.backlog_written(n);
                    *written += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    q.backlog_compact(false);
                    return Ok(Flushed::Blocked);
                }
                Err(e) => return Err(e),
            }
        }
        q.backlog = None;
        Ok(Flushed::All)
    }

    /// Forgets this pass's arena and spans (every queue has been written or kept). What a
    /// burst made them grow to is kept for the passes after it, up to a limit; see
    /// [`Outbox::give_back`] for the rest.
    pub fn end_pass(&mut self) {
        self.items.clear();
        if self.items.capacity() > ITEMS_MAX {
            self.items = Vec::new();
        }
        if self.arena.capacity() > ARENA_MAX {
            self.arena = Vec::new();
        } else {
            self.arena.clear();
        }
    }

    /// Gives back what a burst made the arena and the span list grow to past what they keep
    /// ([`Outbox::holds_burst`]): for the loop once it is quiet (a burst of registrations
    /// otherwise left up to a megabyte here for as long as the server was idle). Between
    /// passes only; shrinking keeps what is still queued (a file's next chunk may be queued
    /// after the pass's flush, for the next one).
    pub fn give_back(&mut self) {
        self.items.shrink_to(ITEMS_KEEP);
        self.arena.shrink_to(ARENA_KEEP);
    }

    /// Whether a burst left more capacity than an ordinary pass keeps: the loop comes back
    /// for it soon even when nothing else happens, and that empty pass gives it back.
    pub fn holds_burst(&self) -> bool {
        self.arena.capacity() > ARENA_KEEP || self.items.capacity() > ITEMS_KEEP
    }

    /// Bytes encoded this pass (for tests and statistics).
    pub fn arena_len(&self) -> usize {
        self.arena.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` bytes, then blocks, and counts its calls.
    struct Tight {
        got: Vec<u8>,
        room: usize,
        calls: usize,
    }

    impl Write for Tight {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.calls += 1;
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.room);
                self.got.extend_from_slice(&b[..take]);
                self.room -= take;
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn one_encoding_many_recipients_one_write_each() {
        let mut ob = Outbox::new();
        let (mut a, mut b) = (OutQueue::default(), OutQueue::default());
        for msg in ["one\n", "two\n", "three\n"] {
            let span = ob.encode(|buf| buf.extend_from_slice(msg.as_bytes()));
            ob.push(&mut a, 0, span);
            ob.push(&mut b, 1, span);
        }
        assert_eq!(ob.arena_len(), 14, "each message encoded once");
        assert_eq!(
            ob.items.len(),
            2,
            "back-to-back messages make one span per recipient"
        );
        let mut dirty = Vec::new();
        ob.take_dirty(&mut dirty);
        assert_eq!(dirty, vec![0, 1]);
        let mut sa = Tight {
            got: vec![],
            room: 1 << 20,
            calls: 0,
        };
        assert_eq!(ob.write(&mut a, &mut sa).unwrap(), Flushed::All);
        assert_eq!(sa.got, b"one\ntwo\nthree\n");
        assert_eq!(sa.calls, 1, "three messages, one write");
        assert_eq!(a.queued(), 0);
        assert!(a.backlog.is_none(), "nothing held after catching up");
    }

    #[test]
    fn a_bursts_capacity_is_kept_for_the_next_passes_and_given_back_when_quiet() {
        let mut ob = Outbox::new();
        let mut q = OutQueue::default();
        let mut pass = |ob: &mut Outbox, bytes: usize| {
            let span = ob.encode(|buf| buf.resize(buf.len() + bytes, b'x'));
            ob.push(&mut q, 0, span);
            ob.write(&mut q, &mut io::sink()).unwrap();
            ob.end_pass();
            ob.arena.capacity()
        };
        let burst = pass(&mut ob, 1 << 20);
        assert!(burst >= 1 << 20);
        assert_eq!(pass(&mut ob, 100), burst, "kept for the passes after it");
        assert!(ob.holds_burst());
        ob.give_back();
        assert!(!ob.holds_burst());
        assert!(ob.arena.capacity() <= ARENA_KEEP);
        assert_eq!(pass(&mut ob, 5 << 20), 0, "past the most kept, all goes");
    }

    #[test]
    fn giving_back_keeps_what_is_still_queued() {
        let mut ob = Outbox::new();
        let mut q = OutQueue::default();
        let span = ob.encode(|buf| buf.resize(buf.len() + (1 << 20), b'x'));
        ob.push(&mut q, 0, span);
        ob.write(&mut q, &mut io::sink()).unwrap();
        ob.end_pass();
        // Queued after the pass's flush (as a file's next chunk is), then the loop goes quiet.
        let span = ob.encode(|buf| buf.extend_from_slice(b"next chunk\n"));
        ob.push(&mut q, 0, span);
        ob.give_back();
        let mut got = Vec::new();
        ob.write(&mut q, &mut got).unwrap();
        assert_eq!(got, b"next chunk\n");
    }

    #[test]
    fn many_separate_spans_are_written_whole_and_in_order() {
        // Interleaved with another recipient's, no two spans of `q` are adjacent: a run
        // each, a few, tens, and past the writev limit.
        for count in [1, 15, 16, 17, MAX_IOV + 7] {
            let mut ob = Outbox::new();
            let (mut q, mut other) = (OutQueue::default(), OutQueue::default());
            let mut want = Vec::new();
            for i in 0..count {
                let line = format!("m{i}\n");
                want.extend_from_slice(line.as_bytes());
                let span = ob.encode(|buf| buf.extend_from_slice(line.as_bytes()));
                ob.push(&mut q, 0, span);
                let gap = ob.encode(|buf| buf.extend_from_slice(b"x\n"));
                ob.push(&mut other, 1, gap);
            }
            let mut s = Tight {
                got: vec![],
                room: 1 << 20,
                calls: 0,
            };
            assert_eq!(ob.write(&mut q, &mut s).unwrap(), Flushed::All, "{count}");
            assert_eq!(s.got, want, "{count}");
            assert_eq!(s.calls, count.div_ceil(MAX_IOV), "{count}: writes");
            // Behind: the rest goes to the backlog and comes first next time.
            let mut q = OutQueue::default();
            for i in 0..count {
                let span = ob.encode(|buf| buf.extend_from_slice(format!("n{i}\n").as_bytes()));
                ob.push(&mut q, 0, span);
                let gap = ob.encode(|buf| buf.extend_from_slice(b"x\n"));
                ob.push(&mut other, 1, gap);
            }
            let mut tight = Tight {
                got: vec![],
                room: 2,
                calls: 0,
            };
            assert_eq!(ob.write(&mut q, &mut tight).unwrap(), Flushed::Blocked);
            tight.room = 1 << 20;
            assert_eq!(
                Outbox::write_backlog(&mut q, &mut tight, &mut 0).unwrap(),
                Flushed::All
            );
            let want: Vec<u8> = (0..count)
                .flat_map(|i| format!("n{i}\n").into_bytes())
                .collect();
            assert_eq!(tight.got, want, "{count}: behind");
        }
    }

    #[test]
    fn a_slow_reader_keeps_the_rest_in_order() {
        let mut ob = Outbox::new();
        let mut q = OutQueue::default();
        for msg in ["alpha\n", "beta\n", "gamma\n"] {
            let span = ob.encode(|buf| buf.extend_from_slice(msg.as_bytes()));
            ob.push(&mut q, 0, span);
        }
        let mut s = Tight {
            got: vec![],
            room: 8,
            calls: 0,
        };
        assert_eq!(ob.write(&mut q, &mut s).unwrap(), Flushed::Blocked);
        ob.end_pass();
        assert_eq!(q.backlog(), 17 - 8);
        // Next pass: new messages queue behind the backlog.
        let span = ob.encode(|buf| buf.extend_from_slice(b"delta\n"));
        ob.push(&mut q, 0, span);
        s.room = 3;
        assert_eq!(
            Outbox::write_backlog(&mut q, &mut s, &mut 0).unwrap(),
            Flushed::Blocked
        );
        s.room = 100;
        assert_eq!(
            Outbox::write_backlog(&mut q, &mut s, &mut 0).unwrap(),
            Flushed::All
        );
        assert_eq!(s.got, b"alpha\nbeta\ngamma\ndelta\n");
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn many_spans_are_written_in_several_rounds() {
        let mut ob = Outbox::new();
        let mut q = OutQueue::default();
        let mut want = Vec::new();
        for i in 0..1000u32 {
            let text = format!("m{i}\n");
            // Interleave an unrelated encoding so spans are not adjacent.
            ob.encode(|buf| buf.push(b'x'));
            let span = ob.encode(|buf| buf.extend_from_slice(text.as_bytes()));
            ob.push(&mut q, 0, span);
            want.extend_from_slice(text.as_bytes());
        }
        let mut s = Tight {
            got: vec![],
            room: 1 << 20,
            calls: 0,
        };
        assert_eq!(ob.write(&mut q, &mut s).unwrap(), Flushed::All);
        assert_eq!(s.got, want);
        assert!(s.calls >= 1000 / MAX_IOV);
    }
}

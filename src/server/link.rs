//! One connection as the loop sees it: its transport, its buffers, what its front end expects
//! written, its flood state, and why it is closing. The protocol state lives apart, in the
//! connection's [`crate::front::Session`], so the output side can reach every link while a
//! front end handles a line.

use std::net::IpAddr;
use std::time::Instant;

use crate::front::{CloseReason, DataFrame, Wire};
use crate::limits::{Counted, FloodGate};
use crate::outbox::OutQueue;
use crate::proto::frame::Framing;
use crate::transport::Transport;

/// Tells a connection from a later one that reuses its slab key (timers, answers from off
/// the loop). 32 bits: a stale timer or answer would have to outlive four billion newer
/// connections to be taken for a later one's.
pub type Serial = u32;

/// Every connection pays for a `Link` in the slab (96 bytes; what a busy one needs is
/// boxed in [`Cold`]).
pub struct Link {
    pub transport: Transport,
    /// How events are written for this connection.
    pub wire: Wire,
    pub peer: IpAddr,
    /// How the per-address limits count this connection (with `peer`).
    pub counted: Counted,
    pub serial: Serial,
    pub out: OutQueue,
    /// What only a connection in the middle of something has, a partial line or frame among
    /// it (see [`Cold`]); nothing while idle.
    cold: ColdBox,
    flags: Flags,
    pub flood: FloodGate,
    /// The WebSocket under the front end, once an HTTP connection upgraded.
    pub ws: Option<Box<WsLink>>,
}

/// [`Flag`]s, a bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags(u8);

impl Flags {
    pub fn has(self, flag: Flag) -> bool {
        self.0 & flag as u8 != 0
    }

    pub fn set(&mut self, flag: Flag, on: bool) {
        if on {
            self.0 |= flag as u8;
        } else {
            self.0 &= !(flag as u8);
        }
    }
}

/// What a connection is or is not, a bit each of [`Link::has`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Known to the hub (native: from accept; IRC: after registration).
    InHub = 1,
    /// Not read while a file recipient catches up.
    Paused = 2,
    /// Over the flood limit: lines wait until the gate opens.
    Throttled = 4,
    /// Told about the flood limit in this episode already.
    WarnedFlood = 8,
    /// Write interest is armed in the poll.
    WriteArmed = 16,
}

/// The state of a connection mid-frame, mid-line, behind or closing: boxed apart so an idle
/// connection (most of them, most of the time) holds a pointer instead.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cold {
    /// Unprocessed input: a partial line or frame.
    inbuf: Vec<u8>,
    framing: Framing,
    /// Meaningful while `framing` is `Raw`.
    data: DataFrame,
    /// When the partial line in `inbuf` is taken as whole (the tutorial's client).
    partial_deadline: Option<Instant>,
    /// Since when the backlog has been over the soft send-queue limit.
    over_soft_since: Option<Instant>,
    /// Since when this file sender has waited for its recipient.
    paused_since: Option<Instant>,
    /// Since when the front end waits for work done off the loop (a password check): the
    /// connection's next lines wait, so that its commands are answered in the order sent.
    held: Option<Instant>,
    closing: Option<CloseReason>,
}

/// What a link without [`Cold`] state reads.
static IDLE: Cold = Cold::IDLE;

/// A link's [`Cold`] state: allocated when something in it is busy, given back once all of it
/// is idle again.
#[derive(Debug, Default)]
struct ColdBox(Option<Box<Cold>>);

impl ColdBox {
    fn get(&self) -> &Cold {
        self.0.as_deref().unwrap_or(&IDLE)
    }

    fn with(&mut self, f: impl FnOnce(&mut Cold)) {
        let cold = self.0.get_or_insert_with(|| Box::new(Cold::IDLE));
        f(cold);
        if **cold == Cold::IDLE {
            self.0 = None;
        }
    }

    fn input_len(&self) -> usize {
        self.get().inbuf.len()
    }

    fn take_input(&mut self) -> Vec<u8> {
        if self.input_len() == 0 {
            return Vec::new();
        }
        let mut taken = Vec::new();
        self.with(|c| taken = std::mem::take(&mut c.inbuf));
        taken
    }

    fn put_input(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() || self.input_len() > 0 {
            self.with(|c| c.inbuf = bytes);
        }
    }

    fn extend_input(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.with(|c| c.inbuf.extend_from_slice(bytes));
        }
    }
}

impl Cold {
    const IDLE: Cold = Cold {
        inbuf: Vec::new(),
        framing: Framing::Lines,
        data: DataFrame {
            transfer: 0,
            to: None,
        },
        partial_deadline: None,
        over_soft_since: None,
        paused_since: None,
        held: None,
        closing: None,
    };
}

/// A WebSocket's input state: the frame decoder, a fragmented message being put together,
/// a message held back by the flood limit, and the keepalive.
pub struct WsLink {
    pub decoder: crate::proto::ws::Decoder,
    /// The fragments of a message so far (a message in one frame never comes here).
    pub message: Vec<u8>,
    /// A whole message that waits for the flood limit.
    pub held: Option<Vec<u8>>,
    /// When the last frame came, and whether a ping is out since.
    pub last_input: Instant,
    pub ping_out: bool,
    /// A close frame was queued already: the teardown sends no second one (a peer that
    /// gets two counts the close as unclean).
    pub close_sent: bool,
}

impl WsLink {
    pub fn new(max_message: u64, now: Instant) -> WsLink {
        let limits = crate::proto::ws::Limits {
            max_frame: max_message,
            max_message,
        };
        WsLink {
            decoder: crate::proto::ws::Decoder::new(limits),
            message: Vec::new(),
            held: None,
            last_input: now,
            ping_out: false,
            close_sent: false,
        }
    }
}

/// How much may be queued for a connection that does not keep up: past `hard` it is dropped
/// at once; past `soft` for longer than `soft_for`, too (Redis's client-output-buffer-limit).
#[derive(Debug, Clone, Copy)]
pub struct SendqLimits {
    pub hard: usize,
    pub soft: usize,
    pub soft_for: std::time::Duration,
}

impl Link {
    pub fn new(
        transport: Transport,
        wire: Wire,
        peer: IpAddr,
        serial: Serial,
        now: Instant,
    ) -> Link {
        Link {
            transport,
            wire,
            peer,
            counted: Counted::NOT,
            serial,
            out: OutQueue::default(),
            cold: ColdBox::default(),
            flags: Flags::default(),
            flood: FloodGate::new(now),
            ws: None,
        }
    }

    pub fn has(&self, flag: Flag) -> bool {
        self.flags.has(flag)
    }

    pub fn set(&mut self, flag: Flag, on: bool) {
        self.flags.set(flag, on);
    }

    fn cold(&self) -> &Cold {
        self.cold.get()
    }

    /// Changes the cold state; it is given back once everything in it is idle again.
    fn with_cold(&mut self, f: impl FnOnce(&mut Cold)) {
        self.cold.with(f);
    }

    /// Bytes of input not handled yet (a partial line or frame).
    pub fn input_len(&self) -> usize {
        self.cold.input_len()
    }

    /// The input not handled yet, taken out (none is left after).
    pub fn take_input(&mut self) -> Vec<u8> {
        self.cold.take_input()
    }

    /// Keeps `bytes` as the input not handled yet (an empty vector is given back at once).
    pub fn put_input(&mut self, bytes: Vec<u8>) {
        self.cold.put_input(bytes);
    }

    /// Adds `bytes` to the input not handled yet.
    pub fn extend_input(&mut self, bytes: &[u8]) {
        self.cold.extend_input(bytes);
    }

    pub fn framing(&self) -> Framing {
        self.cold().framing
    }

    pub fn set_framing(&mut self, framing: Framing) {
        if framing != self.framing() {
            self.with_cold(|c| c.framing = framing);
        }
    }

    /// The data frame being read, meaningful while the framing is `Raw`.
    pub fn data(&self) -> DataFrame {
        self.cold().data
    }

    pub fn set_data(&mut self, data: DataFrame) {
        if data != self.data() {
            self.with_cold(|c| c.data = data);
        }
    }

    /// When the partial line in the input is taken as whole (the tutorial's client).
    pub fn partial_deadline(&self) -> Option<Instant> {
        self.cold().partial_deadline
    }

    pub fn set_partial_deadline(&mut self, at: Option<Instant>) {
        if at != self.partial_deadline() {
            self.with_cold(|c| c.partial_deadline = at);
        }
    }

    /// Since when this file sender has waited for its recipient.
    pub fn paused_since(&self) -> Option<Instant> {
        self.cold().paused_since
    }

    pub fn set_paused_since(&mut self, since: Option<Instant>) {
        if since != self.paused_since() {
            self.with_cold(|c| c.paused_since = since);
        }
    }

    /// Since when the connection's input waits for its front end's answer from off the loop.
    pub fn held(&self) -> Option<Instant> {
        self.cold().held
    }

    pub fn set_held(&mut self, since: Option<Instant>) {
        if since != self.held() {
            self.with_cold(|c| c.held = since);
        }
    }

    /// The backlog is no longer over the soft limit.
    pub fn caught_up(&mut self) {
        if self.cold().over_soft_since.is_some() {
            self.with_cold(|c| c.over_soft_since = None);
        }
    }

    /// Why the connection is closing, once it is.
    pub fn closing(&self) -> Option<&CloseReason> {
        self.cold().closing.as_ref()
    }

    pub fn is_closing(&self) -> bool {
        self.closing().is_some()
    }

    /// Marks the connection closing for `reason`; the first reason stays. Whether it was new.
    pub fn set_closing(&mut self, reason: CloseReason) -> bool {
        if self.is_closing() {
            return false;
        }
        self.with_cold(|c| c.closing = Some(reason));
        true
    }

    /// Bytes waiting for this connection, queued this pass and left over from earlier ones.
    pub fn queued(&self) -> usize {
        self.out.queued()
    }

    /// Whether the backlog is over the limits now, given the time; keeps the soft-limit clock.
    pub fn sendq_verdict(&mut self, limits: SendqLimits, now: Instant) -> Option<CloseReason> {
        let backlog = self.out.backlog();
        if backlog > limits.hard {
            return Some(CloseReason::SendqExceeded { soft: false });
        }
        if backlog <= limits.soft {
            self.caught_up();
            return None;
        }
        let since = match self.cold().over_soft_since {
            Some(since) => since,
            None => {
                self.with_cold(|c| c.over_soft_since = Some(now));
                now
            }
        };
        (now.duration_since(since) > limits.soft_for)
            .then_some(CloseReason::SendqExceeded { soft: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection pays for a `Link` in the slab: what only a busy one needs is boxed.
    #[test]
    fn a_link_keeps_its_cold_state_apart() {
        let size = std::mem::size_of::<Link>();
        println!("Link {size} B, Cold {} B", std::mem::size_of::<Cold>());
        // mio's sockets carry a selector id in debug builds (8 B more in the transport).
        let debug_extra = if cfg!(debug_assertions) { 8 } else { 0 };
        assert!(size <= 96 + debug_extra, "Link grew to {size} B");
    }

    #[test]
    fn flags_are_set_and_cleared_one_by_one() {
        let mut flags = Flags::default();
        for flag in [
            Flag::InHub,
            Flag::Paused,
            Flag::Throttled,
            Flag::WarnedFlood,
            Flag::WriteArmed,
        ] {
            assert!(!flags.has(flag));
            flags.set(flag, true);
            assert!(flags.has(flag));
        }
        flags.set(Flag::Paused, false);
        assert!(!flags.has(Flag::Paused) && flags.has(Flag::InHub) && flags.has(Flag::WriteArmed));
    }

    #[test]
    fn input_left_over_is_kept_cold_and_given_back_when_taken() {
        let mut cold = ColdBox::default();
        cold.extend_input(b"");
        assert!(cold.0.is_none(), "nothing kept, nothing allocated");
        cold.extend_input(b"PRIV");
        cold.extend_input(b"MSG");
        assert_eq!(cold.input_len(), 7);
        let mut taken = cold.take_input();
        assert_eq!(taken, b"PRIVMSG");
        assert!(
            cold.input_len() == 0 && cold.0.is_none(),
            "given back when taken"
        );
        taken.clear();
        cold.put_input(taken);
        assert!(cold.0.is_none(), "an empty vector is not kept");
        cold.put_input(b"x".to_vec());
        assert_eq!(cold.input_len(), 1);
        // The cold state stays while anything else in it is busy.
        cold.with(|c| c.framing = Framing::Raw { left: 3 });
        assert_eq!(cold.take_input(), b"x");
        assert!(cold.0.is_some());
        cold.with(|c| c.framing = Framing::Lines);
        assert!(cold.0.is_none());
    }
}

//! One connection as the loop sees it: its transport, its buffers, what its front end expects
//! written, its flood state, and why it is closing. The protocol state lives apart, in the
//! connection's [`crate::front::Session`], so the output side can reach every link while a
//! front end handles a line.

use std::net::IpAddr;
use std::time::Instant;

use crate::front::{CloseReason, DataFrame, Wire};
use crate::limits::FloodGate;
use crate::outbox::OutQueue;
use crate::proto::frame::Framing;
use crate::transport::Transport;

pub struct Link {
    pub transport: Transport,
    /// How events are written for this connection.
    pub wire: Wire,
    pub peer: IpAddr,
    /// The key the per-address limits count this connection under (None: exempt).
    pub counted_as: Option<IpAddr>,
    /// Distinguishes this connection from a later one that reuses its slab key (for timers).
    pub serial: u64,
    pub out: OutQueue,
    /// Unprocessed input: a partial line or frame; empty (no allocation) most of the time.
    pub inbuf: Vec<u8>,
    pub framing: Framing,
    /// Meaningful while `framing` is `Raw`.
    pub data: DataFrame,
    /// When the partial line in `inbuf` is taken as whole (the tutorial's client).
    pub partial_deadline: Option<Instant>,
    /// Known to the hub (native: from accept; IRC: after registration).
    pub in_hub: bool,
    /// Not read while a file recipient catches up.
    pub paused: bool,
    /// Over the flood limit: lines wait until the gate opens.
    pub throttled: bool,
    /// Jobs handed off the loop and not answered yet: until they are, nothing more is read
    /// or handled (a client's commands are answered in the order sent).
    pub awaiting: u32,
    /// Told about the flood limit in this episode already.
    pub warned_flood: bool,
    pub flood: FloodGate,
    pub write_armed: bool,
    /// Since when the backlog has been over the soft send-queue limit.
    pub over_soft_since: Option<Instant>,
    /// Since when this file sender has waited for its recipient.
    pub paused_since: Option<Instant>,
    pub closing: Option<CloseReason>,
    /// The WebSocket under the front end, once an HTTP connection upgraded.
    pub ws: Option<Box<WsLink>>,
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
    pub fn new(transport: Transport, wire: Wire, peer: IpAddr, serial: u64, now: Instant) -> Link {
        Link {
            transport,
            wire,
            peer,
            counted_as: None,
            serial,
            out: OutQueue::default(),
            inbuf: Vec::new(),
            framing: Framing::Lines,
            data: DataFrame::default(),
            partial_deadline: None,
            in_hub: false,
            paused: false,
            throttled: false,
            awaiting: 0,
            warned_flood: false,
            flood: FloodGate::new(now),
            write_armed: false,
            over_soft_since: None,
            paused_since: None,
            closing: None,
            ws: None,
        }
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
            self.over_soft_since = None;
            return None;
        }
        let since = *self.over_soft_since.get_or_insert(now);
        (now.duration_since(since) > limits.soft_for)
            .then_some(CloseReason::SendqExceeded { soft: true })
    }
}

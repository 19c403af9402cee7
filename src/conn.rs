//! One connection: its socket, its buffers, its protocol state and why it is closing.

use std::io::{self, Read};
use std::net::IpAddr;
use std::time::Instant;

use mio::net::TcpStream;

use crate::limits::FloodGate;
use crate::outbox::OutQueue;
use crate::proto::frame::Framing;

/// Which protocol a connection speaks: a property of the listener it came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Native,
    Irc,
}

/// The data frame being received: its transfer, and its recipient (None: skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame {
    pub transfer: u64,
    pub to: Option<usize>,
}

/// Why a connection is closed; told to its peers where it makes sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client asked, with an optional reason of its own.
    Quit(Option<Box<str>>),
    PeerClosed,
    Error(String),
    SendqExceeded,
    Shutdown,
    Other(&'static str),
}

impl CloseReason {
    /// The reason peers are told.
    pub fn public_text(&self) -> Option<&str> {
        match self {
            CloseReason::Quit(r) => r.as_deref(),
            CloseReason::PeerClosed => Some("connection closed"),
            CloseReason::Error(_) => Some("connection error"),
            CloseReason::SendqExceeded => Some("sendq exceeded"),
            CloseReason::Shutdown => Some("server shutting down"),
            CloseReason::Other(why) => Some(why),
        }
    }
}

/// The outcome of one read, sorted once so no caller inspects `io::ErrorKind`.
pub enum ReadOutcome {
    Data(usize),
    WouldBlock,
    Closed,
    Failed(io::Error),
}

pub fn read_some(socket: &mut TcpStream, buf: &mut [u8]) -> ReadOutcome {
    loop {
        return match socket.read(buf) {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => ReadOutcome::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => ReadOutcome::Closed,
            Err(e) => ReadOutcome::Failed(e),
        };
    }
}

pub struct Conn {
    pub socket: TcpStream,
    pub proto: Proto,
    pub peer: IpAddr,
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
    /// Told about the flood limit in this episode already.
    pub warned_flood: bool,
    pub flood: FloodGate,
    pub write_armed: bool,
    pub closing: Option<CloseReason>,
    /// IRC registration and protocol state; taken out while a line is handled.
    pub irc: Option<Box<crate::irc::IrcSession>>,
    /// The IRC client negotiated `multi-prefix` (copied from its session after each line, so
    /// replies can be encoded while the session is out for handling).
    pub multi_prefix: bool,
}

impl Conn {
    pub fn new(socket: TcpStream, proto: Proto, peer: IpAddr, serial: u64, now: Instant) -> Conn {
        Conn {
            socket,
            proto,
            peer,
            serial,
            out: OutQueue::default(),
            inbuf: Vec::new(),
            framing: Framing::Lines,
            data: DataFrame {
                transfer: 0,
                to: None,
            },
            partial_deadline: None,
            in_hub: false,
            paused: false,
            throttled: false,
            warned_flood: false,
            flood: FloodGate::new(now),
            write_armed: false,
            closing: None,
            irc: None,
            multi_prefix: false,
        }
    }
}

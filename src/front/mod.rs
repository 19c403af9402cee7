//! Front ends: one per protocol. Each turns framed input (lines, data frames) into hub
//! commands and knows how its protocol writes hub events.
//!
//! A front end never sees the loop, a socket or a slab. It gets a [`Ctx`] (who, when, from
//! where, with what configuration) and an [`Output`]: the hub's [`Sink`] plus the few things a
//! front end may ask of its own connection (raw protocol lines, a timer, a close, a change of
//! the bytes it expects). The server implements `Output`; tests use a recorder, so every front
//! end is tested without sockets. This module is the one place that matches on which protocol
//! a connection speaks.

use std::net::IpAddr;
use std::time::Instant;

use crate::clock::Clock;
use crate::config::Config;
use crate::event::Event;
use crate::hub::{ClientId, Hub, Sink};

pub mod accounts;
pub mod history;
pub mod irc;
pub mod native;
pub mod operator;
pub mod web;

#[cfg(test)]
pub(crate) mod recorder;

/// The hub's part of the configuration.
pub fn hub_config(cfg: &Config) -> crate::hub::HubConfig {
    crate::hub::HubConfig {
        max_file_size: cfg.max_file_size,
        quiet_room_size: cfg.quiet_room_size,
        offer_timeout: cfg.offer_timeout,
        max_targets: cfg.max_targets,
        max_rooms_per_user: cfg.max_rooms_per_user,
        max_rooms: cfg.max_rooms,
        max_transfers_per_user: cfg.max_transfers,
        transfer_idle: cfg.file_idle,
        names: crate::names::NameRules::ascii_only(cfg.ascii_names),
        nick_grace: cfg.nick_grace,
    }
}

/// Which front end a connection speaks. A listener gives the first (native, IRC, or web for
/// HTTP); a WebSocket upgrade turns a web connection into a native or IRC one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Native,
    Irc,
    /// HTTP: the page, WebSocket upgrades, file links.
    Web,
    /// HTTP for `GET /metrics` only (a private listener).
    Metrics,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Native => "native",
            Proto::Irc => "irc",
            Proto::Web => "web",
            Proto::Metrics => "metrics",
        }
    }
}

/// How a connection's protocol lines travel: as a byte stream, or one per WebSocket message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    Stream,
    /// Each line a text message (`text.ircv3.net`, `snak.native`).
    WsText,
    /// Each line a binary message (`binary.ircv3.net`).
    WsBinary,
}

/// The bytes a connection expects: its protocol, how lines are framed, and the negotiated
/// options that change how an event is written (IRC capabilities). Recipients with equal
/// `Wire`s get the same bytes, so an event is encoded once per distinct `Wire` among its
/// recipients: a room of TCP and WebSocket IRC users costs two encodings, not one a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wire {
    pub proto: Proto,
    pub framing: Framing,
    /// IRC capability bits (see [`crate::proto::irc::caps`]); always 0 for native.
    pub caps: u32,
}

impl Wire {
    pub const NATIVE: Wire = Wire::of(Proto::Native);
    pub const IRC: Wire = Wire::of(Proto::Irc);

    pub const fn of(proto: Proto) -> Wire {
        Wire {
            proto,
            framing: Framing::Stream,
            caps: 0,
        }
    }

    /// The part of this wire that matters for `event`: recipients that differ only in
    /// options the event does not use share one encoding.
    pub fn for_event(self, event: &Event<'_>) -> Wire {
        self.for_event_caps(crate::proto::irc::caps::relevant(event))
    }

    /// The wire for events whose encoding depends on the caps in `relevant` alone.
    pub fn for_event_caps(self, relevant: u32) -> Wire {
        match self.proto {
            Proto::Native | Proto::Web | Proto::Metrics => self,
            Proto::Irc => Wire {
                caps: self.caps & relevant,
                ..self
            },
        }
    }
}

/// Appends `event` as `wire`'s protocol writes it (lines ending in `\n` or `\r\n`), told to
/// the client `me`; `now_ms` (ms since the Unix epoch, the pass's clock) dates events that
/// carry no time of their own. The caller frames the lines for WebSocket wires (see
/// [`frame_lines`]).
pub fn encode(
    wire: Wire,
    event: &Event<'_>,
    me: &str,
    server_name: &str,
    now_ms: u64,
    out: &mut Vec<u8>,
) {
    match wire.proto {
        Proto::Native => crate::proto::line::encode(event, me, out),
        Proto::Irc => {
            crate::proto::irc::encode_with(event, me, server_name, wire.caps, now_ms, out)
        }
        Proto::Web | Proto::Metrics => web::encode(event, out),
    }
}

/// Appends the bytes of one forwarded file data frame as `wire` carries them.
pub fn encode_file_data(wire: Wire, transfer: u64, bytes: &[u8], out: &mut Vec<u8>) {
    match wire.proto {
        Proto::Native => {
            crate::proto::line::encode_data_header(transfer, bytes.len(), out);
            out.extend_from_slice(bytes);
        }
        // A download link's response body: the bytes themselves.
        Proto::Web => out.extend_from_slice(bytes),
        // IRC connections never receive file data: they get links.
        Proto::Irc | Proto::Metrics => {}
    }
}

/// Appends `lines` (as the encoders write them) to `out` as `framing` carries them: a stream
/// as it is, a WebSocket one message per line, without its line ending.
pub fn frame_lines(framing: Framing, lines: &[u8], out: &mut Vec<u8>) {
    use crate::proto::ws;
    let opcode = match framing {
        Framing::Stream => return out.extend_from_slice(lines),
        Framing::WsText => ws::Opcode::Text,
        Framing::WsBinary => ws::Opcode::Binary,
    };
    for line in lines.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.is_empty() {
            ws::write_frame(out, opcode, line);
        }
    }
}

/// Why a connection is closed; told to its peers where it makes sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The client asked, with an optional reason of its own.
    Quit(Option<Box<str>>),
    PeerClosed,
    Error(String),
    /// Too much queued for a reader that does not keep up: over the hard limit at once, or
    /// over the soft limit for longer than allowed (`soft`).
    SendqExceeded {
        soft: bool,
    },
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
            CloseReason::SendqExceeded { .. } => Some("sendq exceeded"),
            CloseReason::Shutdown => Some("server shutting down"),
            CloseReason::Other(why) => Some(why),
        }
    }
}

/// Who is asking, when, from where, under which configuration.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub id: ClientId,
    pub clock: Clock,
    pub peer: IpAddr,
    /// The connection is encrypted (TLS).
    pub secure: bool,
    pub cfg: &'a Config,
    /// The port of the server's first IRC listener over TLS, as bound (for `sts`).
    pub irc_tls_port: Option<u16>,
}

/// What the transport knows of a new connection once it is ready for its front end.
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    /// The SHA-256 fingerprint of the TLS client certificate, if one was shown.
    pub certfp: Option<Box<str>>,
}

/// What a front end may do besides telling the hub's events: the server implements it.
pub trait Output: Sink {
    /// Protocol bytes for one connection, written by `f` (a CAP reply, the welcome burst).
    fn raw(&mut self, to: ClientId, f: impl FnOnce(&mut Vec<u8>));
    /// One data frame of a file for `to`, written as its protocol carries file data.
    fn file_data(&mut self, to: ClientId, transfer: u64, bytes: &[u8]);
    /// Bytes waiting to be written to `id`.
    fn queued(&self, id: ClientId) -> usize;
    /// Closes `id` at the end of the pass (after what is queued for it is flushed).
    fn close(&mut self, id: ClientId, reason: CloseReason);
    /// `id` negotiated these IRC capabilities: its events are written for them from now on.
    fn set_caps(&mut self, id: ClientId, caps: u32);
    /// Calls the front end's timer for `id` at `at`.
    fn wake_at(&mut self, id: ClientId, at: Instant);
    /// `id` is now a user in the hub (its disconnect must be told to the hub).
    fn entered_hub(&mut self, id: ClientId);
    /// Hands `job` off the loop (the store, a password check); its answer comes back to
    /// `id`'s front end through [`Session::answer`] with `tag`.
    fn submit(&mut self, id: ClientId, tag: u32, job: Job);
    /// Hands `job` to the file thread (FILEHOST uploads and downloads); its answer comes
    /// back to `id`'s front end through [`Session::disk`]. False if it could not be queued
    /// (no file thread, or its queue is full).
    fn disk(&mut self, id: ClientId, job: crate::filehost::Job) -> bool {
        let _ = (id, job);
        false
    }
    /// Calls [`Session::drained`] for `id` once what is queued for it is mostly written.
    fn when_drained(&mut self, id: ClientId) {
        let _ = id;
    }
    /// Queues a write for the store that nobody waits for (a certificate forgotten).
    fn store_write(&mut self, write: crate::store::Write);
    /// Asks the server itself for something only it has (a reload, its figures), for a
    /// server operator; the answer comes back to `id`'s front end through [`Session::told`].
    fn ask_server(&mut self, id: ClientId, ask: ServerAsk);
    /// Holds back what is queued for `id` from now on (the replies to a labeled command),
    /// until [`Output::release`].
    fn capture(&mut self, id: ClientId);
    /// Stops holding back for `id`: `wrap` gets what was held and writes what is queued
    /// instead (one tagged line, a batch, or an acknowledgement).
    fn release(&mut self, id: ClientId, wrap: impl FnOnce(&[u8], &mut Vec<u8>));
    /// The newest `n` lines of the room with key `room_key`, oldest first, if the recent
    /// window in memory holds that many (then no store query is needed).
    fn history_window(
        &self,
        room_key: &str,
        n: usize,
    ) -> Option<Vec<crate::store::HistoryMessage>> {
        let _ = (room_key, n);
        None
    }
}

/// What a front end asks of the server itself, for a server operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerAsk {
    /// Read the configuration again (IRC `REHASH`, native `/rehash`).
    Reload,
    /// The live figures (IRC `STATS f`, native `/stats`).
    Figures,
}

/// The server's answer to a [`ServerAsk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAnswer {
    /// Where the configuration was read from, and what changed (empty: nothing) or why
    /// nothing did.
    Reloaded {
        source: String,
        outcome: Result<Vec<String>, Vec<String>>,
    },
    /// `(name, value)` pairs, named as `/metrics` names them.
    Figures(Vec<(String, String)>),
}

/// Work a front end hands off the loop: a store call (accounts, history) or a password check.
pub type Job = crate::store::Call;
/// Its answer.
pub type Answer = crate::store::CallResult;

/// What the input side should do next with a connection's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on framing lines.
    Lines,
    /// The next `len` bytes are raw data of `frame`.
    Raw { len: u64, frame: DataFrame },
    /// Stop reading this connection until its file recipient catches up; the same bytes are
    /// offered again then.
    Paused,
    /// The HTTP connection became a WebSocket speaking `proto` in `framing`.
    Upgrade { proto: Proto, framing: Framing },
    /// Answer with the metrics (the loop has them); close after unless `keep_alive`.
    Metrics { keep_alive: bool, head_only: bool },
}

/// A file data frame being received: its transfer and its recipient (None: skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataFrame {
    pub transfer: u64,
    pub to: Option<ClientId>,
}

/// One connection's protocol state.
pub enum Session {
    Native(native::Native),
    Irc(Box<irc::IrcSession>),
    Web(Box<web::Http>),
}

impl Session {
    /// The session a new connection of `proto` starts with; it is told it has started.
    pub fn start(
        proto: Proto,
        ctx: &Ctx<'_>,
        arrival: Arrival,
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Session {
        match proto {
            Proto::Native => Session::Native(native::Native::start(ctx, arrival, hub, out)),
            Proto::Irc => Session::Irc(Box::new(irc::IrcSession::start(ctx, arrival, out))),
            Proto::Web => Session::Web(Box::new(web::Http::start(ctx, false, out))),
            Proto::Metrics => Session::Web(Box::new(web::Http::start(ctx, true, out))),
        }
    }

    /// Whether the front end waits for the answer to work it handed off: the connection's
    /// next lines wait for it, so that commands are answered in the order they came.
    pub fn waits(&self) -> bool {
        match self {
            Session::Native(s) => s.waits(),
            Session::Irc(s) => s.waits(),
            Session::Web(s) => s.waits(),
        }
    }

    /// Whether the front end reads the byte stream itself (HTTP) rather than lines.
    pub fn reads_stream(&self) -> bool {
        matches!(self, Session::Web(_))
    }

    /// Stream input for front ends that read it themselves: the bytes used and what next.
    pub fn stream(
        &mut self,
        ctx: &Ctx<'_>,
        data: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> (usize, Flow) {
        match self {
            Session::Web(s) => s.input(ctx, data, hub, out),
            Session::Native(_) | Session::Irc(_) => (0, Flow::Lines),
        }
    }

    /// The connection is closing (after its goodbye): what it carried ends with it.
    pub fn closed(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        if let Session::Web(s) = self {
            s.closed(ctx, hub, out);
        }
    }

    /// The longest line this protocol accepts, without its line ending.
    pub fn max_line(&self, cfg: &Config) -> usize {
        match self {
            Session::Native(_) => cfg.max_line,
            Session::Irc(_) => crate::proto::irc_msg::MAX_LINE_LEN,
            Session::Web(_) => crate::proto::http::MAX_HEAD,
        }
    }

    /// Whether a line that sits unfinished for a while is taken as whole (the tutorial's
    /// clients send text with no line ending).
    pub fn takes_partial_lines(&self) -> bool {
        matches!(self, Session::Native(_))
    }

    /// Lines the flood limit does not charge: file data frame headers, paced by backpressure.
    pub fn flood_exempt(&self, line: &[u8]) -> bool {
        match self {
            Session::Native(_) => native::is_data_header(line),
            Session::Irc(_) | Session::Web(_) => false,
        }
    }

    /// One complete line, without its line ending.
    pub fn line(
        &mut self,
        ctx: &Ctx<'_>,
        line: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        match self {
            Session::Native(s) => s.line(ctx, line, hub, out),
            Session::Irc(s) => {
                s.line(ctx, Some(line), hub, out);
                Flow::Lines
            }
            Session::Web(_) => Flow::Lines,
        }
    }

    /// A line longer than [`Session::max_line`] was dropped.
    pub fn too_long(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        match self {
            Session::Native(_) => native::too_long(ctx, hub, out),
            Session::Irc(s) => s.line(ctx, None, hub, out),
            Session::Web(_) => {}
        }
    }

    /// Raw bytes of the data frame announced by the last [`Flow::Raw`].
    pub fn raw(
        &mut self,
        ctx: &Ctx<'_>,
        frame: DataFrame,
        bytes: &[u8],
        hub: &mut Hub,
        out: &mut impl Output,
    ) -> Flow {
        match self {
            Session::Native(_) => native::forward(ctx, frame, bytes, hub, out),
            Session::Web(s) => s.raw(ctx, frame, bytes, hub, out),
            Session::Irc(_) => Flow::Lines,
        }
    }

    /// The answer to a job handed off with [`Output::submit`].
    pub fn answer(
        &mut self,
        ctx: &Ctx<'_>,
        tag: u32,
        answer: Answer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        match self {
            Session::Native(s) => s.answer(ctx, tag, answer, hub, out),
            Session::Irc(s) => s.answer(ctx, tag, answer, hub, out),
            Session::Web(s) => s.answer(ctx, tag, answer, hub, out),
        }
    }

    /// The file thread's answer to a job handed off with [`Output::disk`].
    pub fn disk(
        &mut self,
        ctx: &Ctx<'_>,
        done: crate::filehost::Done,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        if let Session::Web(s) = self {
            s.disk(ctx, done, hub, out);
        }
    }

    /// What was queued for the connection is mostly written (see [`Output::when_drained`]).
    pub fn drained(&mut self, ctx: &Ctx<'_>, out: &mut impl Output) {
        if let Session::Web(s) = self {
            s.drained(ctx, out);
        }
    }

    /// On a network: the answer to the claim of the nick a registration waited for (see
    /// [`Hub::hold_registration`]).
    pub fn nick_claimed(&mut self, ctx: &Ctx<'_>, ok: bool, hub: &mut Hub, out: &mut impl Output) {
        if let Session::Irc(s) = self {
            s.nick_claimed(ctx, ok, hub, out);
        }
    }

    /// The server's answer to [`Output::ask_server`].
    pub fn told(
        &mut self,
        ctx: &Ctx<'_>,
        answer: ServerAnswer,
        hub: &mut Hub,
        out: &mut impl Output,
    ) {
        match self {
            Session::Native(_) => operator::told(ctx, answer, out),
            Session::Irc(s) => s.told(ctx, answer, hub, out),
            Session::Web(_) => {}
        }
    }

    /// A timer asked for with [`Output::wake_at`] is due.
    pub fn timer(&mut self, ctx: &Ctx<'_>, hub: &mut Hub, out: &mut impl Output) {
        match self {
            Session::Native(_) => {}
            Session::Irc(s) => s.timer(ctx, hub, out),
            Session::Web(s) => s.timer(ctx, hub, out),
        }
    }
}

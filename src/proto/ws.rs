//! WebSocket, server side (RFC 6455), pure: the opening handshake, an incremental parser
//! for client frames, and an encoder for server frames. No I/O, no clock.
//!
//! **Handshake.** [`check_upgrade`] validates a parsed [`Request`] (GET, HTTP/1.1,
//! `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13`, a key of 16
//! base64 bytes), negotiates a [`Subprotocol`] and returns an [`Accepted`] that owns what the
//! 101 response needs, so the request's input buffer can be released before writing it.
//! Check the `Origin` first with [`http::origin_allowed`] (answer 403 if refused). A refusal is a [`HandshakeError`] that names its status and
//! writes its own answer (426 carries `Sec-WebSocket-Version: 13`).
//!
//! **Subprotocols**, per the IRCv3 WebSocket specification: `binary.ircv3.net` and
//! `text.ircv3.net` (one IRC line per message, no CR or LF in it; binary or text messages
//! respectively), and snak's own `snak.native` (native-protocol lines). The server picks the
//! first one in the *client's* order that it supports, as that specification requires. If
//! the client offers none it supports (or none at all) the handshake still succeeds without a
//! `Sec-WebSocket-Protocol` header (the specification allows it; a browser that asked for
//! protocols will then fail the connection itself). What such a connection speaks is
//! implementation-defined; the specification suggests IRC, accepting text and binary
//! messages and sending a fixed type.
//!
//! **Frames in.** A [`Decoder`] per connection (a few dozen bytes) is fed the connection's
//! input buffer and returns one [`Piece`] and how many bytes it used, or `Ok(None)` when it
//! needs more. Data arrive as pieces of payload as soon as they are there, unmasked in the
//! caller's buffer, so the caller can copy them into its own message buffer (bounded by
//! [`Limits::max_message`]) or stream them on without holding a whole frame. Every protocol
//! violation is a [`FrameError`] naming the close code to send ([`FrameError::close_code`]).
//!
//! **Frames out.** Server frames are never masked. [`write_frame`] writes header and payload;
//! [`FrameHead`] and [`write_frame_header`] give just the header, so a line encoded once can be
//! framed once per wire variant: a room message encoded as one IRC line is framed as a text
//! message for `text.ircv3.net` and as a binary one for `binary.ircv3.net`, and each framed
//! copy is shared by every recipient of that variant.
//!
//! Limits (parameters in [`Limits`], defaults in brackets): the largest frame payload
//! [`DEFAULT_MAX_FRAME`] = 64 KiB and the largest message, all its fragments together,
//! [`DEFAULT_MAX_MESSAGE`] = 64 KiB (over either: close 1009); control frames at most
//! [`MAX_CONTROL_PAYLOAD`] = 125 bytes (RFC; over it: 1002).
//!
//! # Driving it from the loop
//!
//! After the 101, the connection's input buffer holds client frames; the decoder unmasks
//! data in place and the front end gathers each message into a buffer of its own:
//!
//! ```
//! use snak::proto::ws::{self, Decoder, Limits, Opcode, Piece};
//!
//! let mut input = Vec::new(); // as a browser would send it
//! ws::write_masked_frame(&mut input, Opcode::Text, false, [1, 2, 3, 4], b"NICK ");
//! ws::write_masked_frame(&mut input, Opcode::Ping, true, [5, 6, 7, 8], b"t1");
//! ws::write_masked_frame(&mut input, Opcode::Continuation, true, [9, 9, 9, 9], b"alice");
//! ws::write_masked_frame(&mut input, Opcode::Text, true, [1, 2, 3, 4], b"QUIT");
//! input.truncate(input.len() - 5); // the last frame's header is not all there yet
//!
//! let limits = Limits::default();
//! let mut decoder = Decoder::new(limits);
//! let mut message = Vec::new(); // at most limits.max_message bytes
//! let mut output = Vec::new();
//! let mut pos = 0;
//! loop {
//!     match decoder.decode(&mut input[pos..]) {
//!         Ok(None) => break, // read more
//!         Ok(Some((piece, used))) => {
//!             match piece {
//!                 Piece::Data { bytes, last, .. } => {
//!                     message.extend_from_slice(bytes);
//!                     if last {
//!                         // One IRC line: hand it to the IRC front end.
//!                         assert_eq!(message, b"NICK alice");
//!                         message.clear();
//!                     }
//!                 }
//!                 Piece::Ping(payload) => ws::write_frame(&mut output, Opcode::Pong, payload),
//!                 Piece::Pong(_) => {} // the keepalive is answered
//!                 Piece::Close { code, .. } => {
//!                     ws::write_close(&mut output, code.unwrap_or(ws::close::NORMAL), "");
//!                     break; // then close
//!                 }
//!             }
//!             pos += used;
//!         }
//!         Err(e) => {
//!             e.write_close(&mut output); // then close
//!             break;
//!         }
//!     }
//! }
//! input.drain(..pos);
//! assert_eq!(output, [0x8A, 2, b't', b'1']);
//! assert_eq!(input.len(), 5); // the incomplete frame waits for the rest
//!
//! // Encode once, frame once per variant: the line as the IRC front end encoded it for TCP,
//! // without its CRLF, framed for every text.ircv3.net recipient (and again, as Binary, for
//! // binary.ircv3.net ones).
//! let line = b":alice!a@h PRIVMSG #snak :hi\r\n";
//! let body = &line[..line.len() - 2];
//! let mut for_text_clients = Vec::new();
//! ws::write_frame(&mut for_text_clients, Opcode::Text, body);
//! assert_eq!(for_text_clients[..2], [0x81, body.len() as u8]);
//! ```

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::{Digest, Sha1};

use super::http::{self, Request, Status, Version};

/// The only WebSocket protocol version there is (RFC 6455).
pub const VERSION: &str = "13";

/// The GUID the RFC appends to the client's key before hashing it.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default cap on one frame's payload.
pub const DEFAULT_MAX_FRAME: u64 = 64 * 1024;

/// Default cap on one message, all its fragments together.
pub const DEFAULT_MAX_MESSAGE: u64 = 64 * 1024;

/// Longest control frame payload (RFC 6455 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Longest close reason: a close payload is a control payload, and the code takes two bytes.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Longest server frame header: two bytes and an 8-byte length, no mask.
pub const MAX_SERVER_HEADER: usize = 10;

/// Close codes (RFC 6455 7.4.1, and the IANA registry for 1012-1014).
pub mod close {
    /// The purpose of the connection is fulfilled.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away: a server shutting down, a page navigated from.
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A type of data the endpoint cannot accept (say binary where only text is understood).
    pub const UNSUPPORTED_DATA: u16 = 1003;
    /// Never sent: stands for a close frame without a code.
    pub const NO_STATUS: u16 = 1005;
    /// Never sent: stands for a connection that ended without a close frame.
    pub const ABNORMAL: u16 = 1006;
    /// Data inconsistent with the message type (text that is not UTF-8).
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message that violates the endpoint's policy (a generic code, when no other fits).
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message too big to process.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// Sent by a client: the server did not negotiate an extension the client requires.
    pub const MANDATORY_EXTENSION: u16 = 1010;
    /// The server met an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The server is restarting; the client may reconnect.
    pub const SERVICE_RESTART: u16 = 1012;
    /// The server is overloaded; try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// A gateway got a bad answer from upstream.
    pub const BAD_GATEWAY: u16 = 1014;
    /// Never sent: stands for a failed TLS handshake.
    pub const TLS_HANDSHAKE: u16 = 1015;

    /// Whether a close frame may carry `code`: the defined codes that may be sent, and the
    /// ranges for libraries and applications (3000-4999).
    pub fn valid_on_wire(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

/// The subprotocols snak speaks over a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subprotocol {
    /// `text.ircv3.net`: one IRC line per text message.
    IrcText,
    /// `binary.ircv3.net`: one IRC line per binary message.
    IrcBinary,
    /// `snak.native`: the native line protocol.
    Native,
}

impl Subprotocol {
    /// Every subprotocol, in the order snak lists them.
    pub const ALL: [Subprotocol; 3] = [
        Subprotocol::IrcText,
        Subprotocol::IrcBinary,
        Subprotocol::Native,
    ];

    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Subprotocol::IrcText => "text.ircv3.net",
            Subprotocol::IrcBinary => "binary.ircv3.net",
            Subprotocol::Native => "snak.native",
        }
    }

    /// The subprotocol called `name` (exactly: subprotocol names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Subprotocol> {
        Subprotocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// The first of `offered` (the client's list, in its order of preference) that is in
/// `supported`, or None: the client's order decides, as the IRCv3 specification requires.
pub fn negotiate<'a>(
    offered: impl IntoIterator<Item = &'a str>,
    supported: &[Subprotocol],
) -> Option<Subprotocol> {
    offered
        .into_iter()
        .filter_map(Subprotocol::from_name)
        .find(|p| supported.contains(p))
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let mut buf = [0u8; 28];
    let len = accept_into(key, &mut buf);
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

fn accept_into(key: &str, out: &mut [u8; 28]) -> usize {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID);
    let digest = sha.finalize();
    // 20 bytes are always 28 base64 characters, so this cannot fail.
    BASE64.encode_slice(digest, out).unwrap_or(0)
}

/// Why a WebSocket handshake was refused. Each says its status and writes its own answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// Not a GET (405, with `Allow: GET`).
    NotGet,
    /// HTTP/1.0 (426): the upgrade needs HTTP/1.1.
    NotHttp11,
    /// No `Upgrade: websocket` or no `Connection: upgrade` (426).
    NotUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13 (426, with `Sec-WebSocket-Version: 13`).
    BadVersion,
    /// `Sec-WebSocket-Key` missing, or not 16 bytes in base64 (400).
    BadKey,
    /// The handshake has a body (400).
    HasBody,
}

impl HandshakeError {
    pub fn status(self) -> Status {
        match self {
            HandshakeError::NotGet => Status::METHOD_NOT_ALLOWED,
            HandshakeError::NotHttp11 | HandshakeError::NotUpgrade | HandshakeError::BadVersion => {
                Status::UPGRADE_REQUIRED
            }
            HandshakeError::BadKey | HandshakeError::HasBody => Status::BAD_REQUEST,
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            HandshakeError::NotGet => "a WebSocket handshake is a GET",
            HandshakeError::NotHttp11 => "a WebSocket handshake needs HTTP/1.1",
            HandshakeError::NotUpgrade => "this is a WebSocket endpoint: send Upgrade: websocket",
            HandshakeError::BadVersion => "only WebSocket version 13 is supported",
            HandshakeError::BadKey => "bad Sec-WebSocket-Key",
            HandshakeError::HasBody => "a WebSocket handshake has no body",
        }
    }

    /// Appends the answer, with the headers its status calls for. The request was well
    /// framed, so the connection may stay open when the request allowed it (`keep_alive`).
    pub fn write_response(self, out: &mut Vec<u8>, keep_alive: bool) {
        let extra: &[(&str, &str)] = match self.status() {
            Status::METHOD_NOT_ALLOWED => &[("Allow", "GET")],
            Status::UPGRADE_REQUIRED => {
                &[("Upgrade", "websocket"), ("Sec-WebSocket-Version", VERSION)]
            }
            _ => &[],
        };
        http::write_error(out, self.status(), self.detail(), keep_alive, extra);
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.detail())
    }
}

impl std::error::Error for HandshakeError {}

/// A handshake that may go on: what the 101 response needs, owned (a few dozen bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    accept: [u8; 28],
    /// The negotiated subprotocol; None if the client offered none that `supported` has.
    pub protocol: Option<Subprotocol>,
}

impl Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub fn accept_key(&self) -> &str {
        std::str::from_utf8(&self.accept).unwrap_or("")
    }

    /// Appends the `101 Switching Protocols` response. Frames may follow it at once.
    pub fn write_response(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
        out.extend_from_slice(&self.accept);
        out.extend_from_slice(b"\r\n");
        if let Some(p) = self.protocol {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(p.name().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Validates an opening handshake (RFC 6455 4.2.1) and negotiates a subprotocol from
/// `supported`. Does not look at `Origin`: check it first with `http::origin_allowed`.
/// Extensions (`Sec-WebSocket-Extensions`) are never accepted, so none is echoed.
pub fn check_upgrade(
    req: &Request<'_>,
    supported: &[Subprotocol],
) -> Result<Accepted, HandshakeError> {
    if req.method != "GET" {
        return Err(HandshakeError::NotGet);
    }
    if req.version != Version::Http11 {
        return Err(HandshakeError::NotHttp11);
    }
    if !req.upgrade_websocket || !req.connection_upgrade {
        return Err(HandshakeError::NotUpgrade);
    }
    if req.ws_version != Some(VERSION) {
        return Err(HandshakeError::BadVersion);
    }
    let key = req.ws_key.ok_or(HandshakeError::BadKey)?;
    let mut raw = [0u8; 18];
    let decoded = (key.len() == 24)
        .then(|| BASE64.decode_slice(key, &mut raw).ok())
        .flatten();
    if decoded != Some(16) {
        return Err(HandshakeError::BadKey);
    }
    if req.content_length != 0 {
        return Err(HandshakeError::HasBody);
    }
    let mut accept = [0u8; 28];
    accept_into(key, &mut accept);
    Ok(Accepted {
        accept,
        protocol: negotiate(req.ws_protocols(), supported),
    })
}

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    /// The opcode's 4-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// The opcode for a 4-bit value, None for the reserved ones.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes.
    pub fn is_control(self) -> bool {
        self.bits() & 0x8 != 0
    }
}

/// The two kinds of data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// UTF-8 text; the decoder checks it across fragments.
    Text,
    Binary,
}

impl DataKind {
    /// The opcode that starts a message of this kind.
    pub fn opcode(self) -> Opcode {
        match self {
            DataKind::Text => Opcode::Text,
            DataKind::Binary => Opcode::Binary,
        }
    }
}

/// Why a client's frames were refused: a protocol violation, after which the server sends
/// a close frame with [`close_code`](FrameError::close_code) and stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A client frame without the mask bit (1002).
    Unmasked,
    /// An RSV bit set with no extension negotiated (1002).
    ReservedBits,
    /// A reserved opcode (1002).
    UnknownOpcode(u8),
    /// A control frame longer than 125 bytes (1002).
    ControlTooLong,
    /// A control frame without FIN (1002).
    ControlFragmented,
    /// A continuation frame with no message in progress (1002).
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress (1002).
    ExpectedContinuation,
    /// A length not in its shortest form, or a 64-bit length with its top bit set (1002).
    BadLength,
    /// A close frame with a one-byte payload (1002).
    BadClosePayload,
    /// A close frame with a code that may not be sent (1002).
    BadCloseCode(u16),
    /// A frame payload over [`Limits::max_frame`] (1009).
    FrameTooLarge,
    /// A message over [`Limits::max_message`] (1009).
    MessageTooLarge,
    /// A text message, or a close reason, that is not UTF-8 (1007).
    InvalidUtf8,
}

impl FrameError {
    /// The code to close with.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::FrameTooLarge | FrameError::MessageTooLarge => close::MESSAGE_TOO_BIG,
            FrameError::InvalidUtf8 => close::INVALID_PAYLOAD,
            _ => close::PROTOCOL_ERROR,
        }
    }

    /// A short reason for the close frame.
    pub fn reason(self) -> &'static str {
        match self {
            FrameError::Unmasked => "client frames must be masked",
            FrameError::ReservedBits => "reserved bits set",
            FrameError::UnknownOpcode(_) => "reserved opcode",
            FrameError::ControlTooLong => "control frame too long",
            FrameError::ControlFragmented => "fragmented control frame",
            FrameError::UnexpectedContinuation => "continuation without a message",
            FrameError::ExpectedContinuation => "new message inside a fragmented one",
            FrameError::BadLength => "bad payload length",
            FrameError::BadClosePayload => "bad close payload",
            FrameError::BadCloseCode(_) => "bad close code",
            FrameError::FrameTooLarge => "frame too large",
            FrameError::MessageTooLarge => "message too large",
            FrameError::InvalidUtf8 => "invalid UTF-8",
        }
    }

    /// Appends the close frame that answers this error.
    pub fn write_close(self, out: &mut Vec<u8>) {
        write_close(out, self.close_code(), self.reason());
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.close_code())
    }
}

impl std::error::Error for FrameError {}

/// The decoder's caps on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one data frame.
    pub max_frame: u64,
    /// Largest message, all its fragments together.
    pub max_message: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame: DEFAULT_MAX_FRAME,
            max_message: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// What the decoder found next in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Payload bytes of a text or binary message, unmasked, in order; a frame's payload may
    /// come in several pieces, and a message in several frames. `last` is set on the piece
    /// that ends the message (which may be empty). A text message's bytes are checked as
    /// UTF-8 as they come; a piece may end inside a character that the next one completes.
    Data {
        kind: DataKind,
        bytes: &'a [u8],
        last: bool,
    },
    /// A ping: answer with a pong carrying the same payload ([`write_frame`] with
    /// [`Opcode::Pong`]). May come between the fragments of a message.
    Ping(&'a [u8]),
    /// A pong, solicited or not.
    Pong(&'a [u8]),
    /// The client is closing: `code` is None for a close frame without payload. Answer with
    /// a close frame (echoing `code`, or 1000 if there was none), then close the connection.
    /// The decoder yields nothing after this.
    Close { code: Option<u16>, reason: &'a str },
}

/// Where a decoder is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a frame boundary.
    Header,
    /// Inside a data frame's payload: `left` bytes to go, `phase` bytes of it already
    /// unmasked (mod 4), `fin` as the frame's header said.
    Payload {
        left: u64,
        mask: [u8; 4],
        phase: u8,
        fin: bool,
    },
    /// A close frame came.
    Closed,
    /// The client broke the protocol; the same error again.
    Failed(FrameError),
}

/// An incomplete UTF-8 sequence at the end of what a text message has delivered so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Utf8Tail {
    bytes: [u8; 4],
    len: u8,
}

impl Utf8Tail {
    /// Checks the next bytes of a text message, keeping an incomplete last character back.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), FrameError> {
        if self.len > 0 {
            let have = usize::from(self.len);
            let need = match self.bytes[0] {
                0xF0..=0xF7 => 4,
                0xE0..=0xEF => 3,
                _ => 2,
            };
            let take = (need - have).min(bytes.len());
            let mut seq = self.bytes;
            seq[have..have + take].copy_from_slice(&bytes[..take]);
            match std::str::from_utf8(&seq[..have + take]) {
                Ok(_) => {
                    self.len = 0;
                    bytes = &bytes[take..];
                }
                // Still a valid start of a character: all of `bytes` went into it.
                Err(e) if e.error_len().is_none() => {
                    self.bytes = seq;
                    self.len = (have + take) as u8;
                    return Ok(());
                }
                Err(_) => return Err(FrameError::InvalidUtf8),
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let rest = &bytes[e.valid_up_to()..];
                self.bytes[..rest.len()].copy_from_slice(rest);
                self.len = rest.len() as u8;
                Ok(())
            }
            Err(_) => Err(FrameError::InvalidUtf8),
        }
    }
}

/// A parsed client frame header.
struct Head {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    len: u64,
    /// Bytes the header takes: 2, the extended length (0, 2 or 8), the mask (4).
    size: usize,
}

/// Parses a client frame header: Ok(None) until it is all there; errors as soon as the
/// bytes in hand show one. `in_message`: a fragmented message is in progress.
fn parse_head(buf: &[u8], in_message: bool) -> Result<Option<Head>, FrameError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::UnknownOpcode(b0 & 0x0F))?;
    let fin = b0 & 0x80 != 0;
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let len7 = b1 & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(FrameError::ControlFragmented);
        }
        if usize::from(len7) > MAX_CONTROL_PAYLOAD {
            return Err(FrameError::ControlTooLong);
        }
    } else if opcode == Opcode::Continuation && !in_message {
        return Err(FrameError::UnexpectedContinuation);
    } else if opcode != Opcode::Continuation && in_message {
        return Err(FrameError::ExpectedContinuation);
    }
    let (len, ext) = match len7 {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(None);
            };
            let len = u64::from(u16::from_be_bytes([b[0], b[1]]));
            if len < 126 {
                return Err(FrameError::BadLength);
            }
            (len, 2)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            let len = u64::from_be_bytes(be);
            if len >> 63 != 0 || len <= u64::from(u16::MAX) {
                return Err(FrameError::BadLength);
            }
            (len, 8)
        }
        n => (u64::from(n), 0),
    };
    let Some(m) = buf.get(2 + ext..6 + ext) else {
        return Ok(None);
    };
    Ok(Some(Head {
        fin,
        opcode,
        mask: [m[0], m[1], m[2], m[3]],
        len,
        size: 6 + ext,
    }))
}

/// XORs `bytes` with the mask, starting `phase` bytes into it.
fn unmask(bytes: &mut [u8], mask: [u8; 4], phase: usize) {
    let m: [u8; 4] = std::array::from_fn(|i| mask[(phase + i) % 4]);
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut words = bytes.chunks_exact_mut(8);
    for chunk in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in words.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// The incremental parser of one connection's client frames. See [`Decoder::decode`].
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: Limits,
    state: State,
    /// The kind of the message in progress (from its first frame to the end of its last).
    message: Option<DataKind>,
    /// Payload bytes of the message in progress, counting frames whose headers came.
    message_len: u64,
    utf8: Utf8Tail,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            state: State::Header,
            message: None,
            message_len: 0,
            utf8: Utf8Tail::default(),
        }
    }

    /// Decodes the next piece at the start of `buf`, the unused input: `Ok(None)` when more
    /// bytes are needed (none were used), else the piece and how many bytes of `buf` it used.
    /// The bytes of a data piece are unmasked in place, in `buf`; bytes not used are left as
    /// they were. The caller drops the used bytes and calls again with what follows. After a
    /// [`Piece::Close`] or an error it returns `Ok(None)` or the error again: stop reading.
    ///
    /// Payload is handed out as soon as any of it is there, so a frame need not fit in the
    /// caller's buffer; control frames (at most 125 bytes) come whole. However the input was
    /// chunked, the same messages, control frames and error come out.
    pub fn decode<'a>(
        &mut self,
        buf: &'a mut [u8],
    ) -> Result<Option<(Piece<'a>, usize)>, FrameError> {
        let got = self.next(buf);
        if let Err(e) = got {
            self.state = State::Failed(e);
        }
        got
    }

    fn next<'a>(&mut self, buf: &'a mut [u8]) -> Result<Option<(Piece<'a>, usize)>, FrameError> {
        match self.state {
            State::Closed => Ok(None),
            State::Failed(e) => Err(e),
            State::Payload { .. } => self.payload(buf, 0),
            State::Header => {
                let Some(head) = parse_head(buf, self.message.is_some())? else {
                    return Ok(None);
                };
                if head.opcode.is_control() {
                    return self.control(buf, &head);
                }
                if head.len > self.limits.max_frame {
                    return Err(FrameError::FrameTooLarge);
                }
                let before = if head.opcode == Opcode::Continuation {
                    self.message_len
                } else {
                    0
                };
                if before.saturating_add(head.len) > self.limits.max_message {
                    return Err(FrameError::MessageTooLarge);
                }
                // A header alone is not worth a piece: wait for some payload.
                if head.len > 0 && buf.len() == head.size {
                    return Ok(None);
                }
                match head.opcode {
                    Opcode::Text => self.start(DataKind::Text),
                    Opcode::Binary => self.start(DataKind::Binary),
                    _ => {}
                }
                self.message_len = before + head.len;
                self.state = State::Payload {
                    left: head.len,
                    mask: head.mask,
                    phase: 0,
                    fin: head.fin,
                };
                self.payload(buf, head.size)
            }
        }
    }

    /// Whether a message has started and not yet ended.
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    /// Whether a close frame has come.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    fn start(&mut self, kind: DataKind) {
        self.message = Some(kind);
        self.utf8 = Utf8Tail::default();
    }

    fn control<'a>(
        &mut self,
        buf: &'a mut [u8],
        head: &Head,
    ) -> Result<Option<(Piece<'a>, usize)>, FrameError> {
        // At most 125: parse_head checked.
        let end = head.size + head.len as usize;
        let Some(payload) = buf.get_mut(head.size..end) else {
            return Ok(None);
        };
        unmask(payload, head.mask, 0);
        let payload = &*payload;
        let piece = match head.opcode {
            Opcode::Ping => Piece::Ping(payload),
            Opcode::Pong => Piece::Pong(payload),
            _ => {
                let (code, reason) = parse_close(payload)?;
                self.state = State::Closed;
                Piece::Close { code, reason }
            }
        };
        Ok(Some((piece, end)))
    }

    /// Hands out the payload in `buf[start..]` of the data frame in progress.
    fn payload<'a>(
        &mut self,
        buf: &'a mut [u8],
        start: usize,
    ) -> Result<Option<(Piece<'a>, usize)>, FrameError> {
        let State::Payload {
            left,
            mask,
            phase,
            fin,
        } = self.state
        else {
            return Ok(None);
        };
        let Some(kind) = self.message else {
            return Ok(None);
        };
        let avail = buf.len().saturating_sub(start);
        if avail == 0 && left > 0 {
            return Ok(None);
        }
        // `take` is at most `avail`, a usize.
        let take = left.min(avail as u64) as usize;
        let bytes = &mut buf[start..start + take];
        unmask(bytes, mask, usize::from(phase));
        if kind == DataKind::Text {
            self.utf8.feed(bytes)?;
        }
        let left = left - take as u64;
        let last = left == 0 && fin;
        if left > 0 {
            self.state = State::Payload {
                left,
                mask,
                phase: ((usize::from(phase) + take) % 4) as u8,
                fin,
            };
        } else {
            self.state = State::Header;
            if fin {
                if self.utf8.len > 0 {
                    return Err(FrameError::InvalidUtf8);
                }
                self.message = None;
                self.message_len = 0;
            }
        }
        Ok(Some((
            Piece::Data {
                kind,
                bytes: &*bytes,
                last,
            },
            start + take,
        )))
    }
}

/// Parses a close frame's payload: nothing, or a code that may be sent and a UTF-8 reason.
pub fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), FrameError> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(FrameError::BadClosePayload),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !close::valid_on_wire(code) {
                return Err(FrameError::BadCloseCode(code));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| FrameError::InvalidUtf8)?;
            Ok((Some(code), reason))
        }
    }
}

/// One server frame's header, on the stack: prepend it to a payload written elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_SERVER_HEADER],
    len: u8,
}

impl FrameHead {
    /// The header of an unmasked frame of `opcode` with a `payload_len`-byte payload; `fin`
    /// unset only on all but the last frame of a fragmented message. A control frame's
    /// payload must be at most 125 bytes (the header says whatever length it is given).
    pub fn new(opcode: Opcode, fin: bool, payload_len: u64) -> FrameHead {
        let mut bytes = [0u8; MAX_SERVER_HEADER];
        bytes[0] = (u8::from(fin) << 7) | opcode.bits();
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&payload_len.to_be_bytes());
            10
        };
        FrameHead { bytes, len }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Appends one server frame header for a payload the caller writes after it.
pub fn write_frame_header(out: &mut Vec<u8>, opcode: Opcode, fin: bool, payload_len: u64) {
    out.extend_from_slice(FrameHead::new(opcode, fin, payload_len).as_bytes());
}

/// Appends one whole, unfragmented server frame. A control frame's payload is cut to 125
/// bytes (a pong echoing a ping's payload always fits).
pub fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    let payload = if opcode.is_control() {
        &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)]
    } else {
        payload
    };
    write_frame_header(out, opcode, true, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// The messages of whole, unmasked frames as [`write_frame`] writes them, each appended to
/// `out` as a line ending in `\r\n`; control frames are left out. This undoes the server's
/// own framing (output held back for a labeled response and framed again later); input that
/// is not such frames stops the reading where it goes wrong.
pub fn unframe_lines(mut frames: &[u8], out: &mut Vec<u8>) {
    while frames.len() >= 2 {
        let control = frames[0] & 0x08 != 0;
        let (len, head) = match frames[1] & 0x7f {
            126 if frames.len() >= 4 => (u64::from(u16::from_be_bytes([frames[2], frames[3]])), 4),
            127 if frames.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&frames[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            126 | 127 => return,
            n => (u64::from(n), 2),
        };
        let Some(end) = usize::try_from(len).ok().and_then(|l| l.checked_add(head)) else {
            return;
        };
        let Some(payload) = frames.get(head..end) else {
            return;
        };
        if !control {
            out.extend_from_slice(payload);
            out.extend_from_slice(b"\r\n");
        }
        frames = &frames[end..];
    }
}

/// Appends a close frame with `code` and `reason`, the reason cut to 123 bytes at a
/// character boundary.
pub fn write_close(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    write_frame_header(out, Opcode::Close, true, 2 + cut as u64);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..cut]);
}

/// Appends a frame as a *client* sends it, masked with `mask`: for tests and tools that
/// talk to snak, never for the server's own output.
pub fn write_masked_frame(
    out: &mut Vec<u8>,
    opcode: Opcode,
    fin: bool,
    mask: [u8; 4],
    payload: &[u8],
) {
    let head = FrameHead::new(opcode, fin, payload.len() as u64);
    let bytes = head.as_bytes();
    out.push(bytes[0]);
    out.push(bytes[1] | 0x80);
    out.extend_from_slice(&bytes[2..]);
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    unmask(&mut out[start..], mask, 0);
}

/// Feeds a stream of client frames that arrives in `chunks` through a [`Decoder`] the way
/// the event loop does, keeping unused bytes from one chunk to the next and gathering each
/// message's pieces, and hands `each` every whole message (as one [`Piece::Data`] with
/// `last` set), every control frame, and the error that ends the stream. The loop itself
/// cannot use this (it streams and stops for backpressure); tests and fuzz targets use it to
/// check that however a stream is chunked, the same messages come out.
pub fn replay(
    chunks: &[&[u8]],
    limits: Limits,
    mut each: impl FnMut(Result<Piece<'_>, FrameError>),
) {
    let mut decoder = Decoder::new(limits);
    let mut pending: Vec<u8> = Vec::new();
    let mut message: Vec<u8> = Vec::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            match decoder.decode(&mut pending[pos..]) {
                Ok(None) => break,
                Ok(Some((piece, used))) => {
                    pos += used;
                    match piece {
                        Piece::Data { kind, bytes, last } => {
                            message.extend_from_slice(bytes);
                            if last {
                                each(Ok(Piece::Data {
                                    kind,
                                    bytes: &message,
                                    last,
                                }));
                                message.clear();
                            }
                        }
                        control => each(Ok(control)),
                    }
                }
                Err(e) => {
                    each(Err(e));
                    return;
                }
            }
        }
        pending.drain(..pos);
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_servers_own_frames_unframe_into_lines_without_control_frames() {
        let long = "x".repeat(300);
        let mut frames = Vec::new();
        write_frame(&mut frames, Opcode::Text, b":srv 311 me a b c * d");
        write_frame(&mut frames, Opcode::Pong, b"p");
        write_frame(&mut frames, Opcode::Binary, long.as_bytes());
        let mut lines = Vec::new();
        unframe_lines(&frames, &mut lines);
        assert_eq!(
            lines,
            format!(":srv 311 me a b c * d\r\n{long}\r\n").into_bytes()
        );
        // A cut frame stops the reading; nothing panics.
        let mut cut = Vec::new();
        unframe_lines(&frames[..frames.len() - 1], &mut cut);
        assert_eq!(cut, b":srv 311 me a b c * d\r\n");
    }
    use super::*;
    use crate::proto::http::{parse_request, Limits as HttpLimits};
    use proptest::prelude::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn handshake(extra: &str) -> String {
        format!(
            "GET /ws HTTP/1.1\r\nHost: snak.example\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\
             {extra}\r\n"
        )
    }

    fn check(head: &str, supported: &[Subprotocol]) -> Result<Accepted, HandshakeError> {
        let (req, _) = parse_request(head.as_bytes(), &HttpLimits::default())
            .unwrap()
            .unwrap();
        check_upgrade(&req, supported)
    }

    #[test]
    fn the_accept_key_is_the_rfcs() {
        assert_eq!(accept_key(KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_valid_handshake_gets_its_101() {
        let head = handshake("Sec-WebSocket-Protocol: binary.ircv3.net, text.ircv3.net\r\n");
        let accepted = check(&head, &Subprotocol::ALL).unwrap();
        assert_eq!(
            accepted.protocol,
            Some(Subprotocol::IrcBinary),
            "the client's order"
        );
        assert_eq!(accepted.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut out = Vec::new();
        accepted.write_response(&mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: binary.ircv3.net\r\n\r\n"
        );
        let plain = check(&handshake(""), &Subprotocol::ALL).unwrap();
        let mut out = Vec::new();
        plain.write_response(&mut out);
        assert_eq!(plain.protocol, None);
        assert!(!String::from_utf8(out)
            .unwrap()
            .contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn subprotocols_follow_the_clients_order_among_those_supported() {
        let offer = ["x.example", "snak.native", "text.ircv3.net"];
        assert_eq!(
            negotiate(offer, &Subprotocol::ALL),
            Some(Subprotocol::Native)
        );
        let irc = [Subprotocol::IrcText, Subprotocol::IrcBinary];
        assert_eq!(negotiate(offer, &irc), Some(Subprotocol::IrcText));
        assert_eq!(negotiate(["x.example"], &Subprotocol::ALL), None);
        assert_eq!(
            negotiate(["TEXT.IRCV3.NET"], &Subprotocol::ALL),
            None,
            "case-sensitive"
        );
        assert_eq!(negotiate([], &Subprotocol::ALL), None);
        let head =
            handshake("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: text.ircv3.net\r\n");
        assert_eq!(
            check(&head, &irc).unwrap().protocol,
            Some(Subprotocol::IrcText)
        );
        for p in Subprotocol::ALL {
            assert_eq!(Subprotocol::from_name(p.name()), Some(p));
        }
    }

    fn refusal(head: &str) -> (HandshakeError, String) {
        let e = check(head, &Subprotocol::ALL).unwrap_err();
        let mut out = Vec::new();
        e.write_response(&mut out, false);
        (e, String::from_utf8(out).unwrap())
    }

    #[test]
    fn bad_handshakes_are_refused_with_the_right_status() {
        let good = handshake("");
        let (e, out) = refusal(&good.replacen("GET", "POST", 1));
        assert_eq!(e, HandshakeError::NotGet);
        assert!(
            out.starts_with("HTTP/1.1 405 ") && out.contains("\r\nAllow: GET\r\n"),
            "{out}"
        );
        for (head, why) in [
            (
                good.replacen("HTTP/1.1", "HTTP/1.0", 1),
                HandshakeError::NotHttp11,
            ),
            (
                good.replacen("Upgrade: websocket", "Upgrade: h2c", 1),
                HandshakeError::NotUpgrade,
            ),
            (
                good.replacen("Connection: Upgrade", "Connection: keep-alive", 1),
                HandshakeError::NotUpgrade,
            ),
            (
                good.replacen("Version: 13", "Version: 8", 1),
                HandshakeError::BadVersion,
            ),
            (
                good.replacen("Sec-WebSocket-Version: 13\r\n", "", 1),
                HandshakeError::BadVersion,
            ),
        ] {
            let (e, out) = refusal(&head);
            assert_eq!(e, why, "{head}");
            assert!(
                out.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
                "{out}"
            );
            assert!(out.contains("\r\nSec-WebSocket-Version: 13\r\n"), "{out}");
            assert!(out.contains("\r\nUpgrade: websocket\r\n"), "{out}");
        }
        for key in [
            "",
            "abc",
            "AAAAAAAAAAAAAAAAAAAAAAAA",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25jZQ=!",
            "dGhlIHNhbXBsZSBub25jZ===",
            "dGhlIHNhbXBsZSBub25jZQ== x",
        ] {
            let (e, out) = refusal(&good.replacen(KEY, key, 1));
            assert_eq!(e, HandshakeError::BadKey, "{key:?}");
            assert!(out.starts_with("HTTP/1.1 400 "), "{out}");
        }
        let (e, _) = refusal(&good.replacen(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "", 1));
        assert_eq!(e, HandshakeError::BadKey);
        let (e, _) = refusal(&handshake("Content-Length: 2\r\n"));
        assert_eq!(e, HandshakeError::HasBody);
    }

    /// A client frame, as a browser sends it.
    fn client(opcode: Opcode, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_masked_frame(&mut out, opcode, fin, [0x37, 0xfa, 0x21, 0x3d], payload);
        out
    }

    /// Everything the decoder makes of `stream`, whole messages gathered, as text.
    fn drive(chunks: &[&[u8]], limits: Limits) -> Vec<String> {
        let mut out = Vec::new();
        replay(chunks, limits, |got| out.push(format!("{got:?}")));
        out
    }

    fn one(stream: &[u8]) -> Vec<String> {
        drive(&[stream], Limits::default())
    }

    fn data(kind: DataKind, bytes: &[u8]) -> String {
        format!(
            "{:?}",
            Ok::<_, FrameError>(Piece::Data {
                kind,
                bytes,
                last: true
            })
        )
    }

    fn error(e: FrameError) -> String {
        format!("{:?}", Err::<Piece<'_>, _>(e))
    }

    #[test]
    fn a_masked_text_frame_is_unmasked_in_place() {
        let mut buf = client(Opcode::Text, true, b"Hello");
        assert_eq!(buf[..2], [0x81, 0x85]);
        let mut dec = Decoder::new(Limits::default());
        let (piece, used) = dec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            piece,
            Piece::Data {
                kind: DataKind::Text,
                bytes: b"Hello",
                last: true
            }
        );
        assert_eq!(used, 11);
        assert_eq!(&buf[6..], b"Hello");
        assert!(dec.decode(&mut []).unwrap().is_none());
        assert!(!dec.in_message());
    }

    #[test]
    fn payload_comes_out_as_it_arrives_with_the_mask_in_phase() {
        let payload: Vec<u8> = (0..23).collect();
        let frame = client(Opcode::Binary, true, &payload);
        let mut dec = Decoder::new(Limits::default());
        // The header alone is not used.
        let mut head = frame[..6].to_vec();
        assert!(dec.decode(&mut head).unwrap().is_none());
        let mut got = Vec::new();
        let mut rest = frame.clone();
        let mut pos = 0;
        for step in [7, 1, 5, 2, 100] {
            let end = (pos + step).min(rest.len());
            let Some((piece, used)) = dec.decode(&mut rest[pos..end]).unwrap() else {
                panic!("no piece at {pos}")
            };
            let Piece::Data { bytes, last, .. } = piece else {
                panic!("{piece:?}")
            };
            got.extend_from_slice(bytes);
            pos += used;
            assert_eq!(last, pos == frame.len());
            if last {
                break;
            }
        }
        assert_eq!(got, payload);
    }

    #[test]
    fn fragments_reassemble_with_pings_between_and_utf8_across() {
        let text = "snak \u{e9}\u{1F980}!".as_bytes();
        let mut stream = client(Opcode::Text, false, &text[..6]); // inside the é
        stream.extend(client(Opcode::Ping, true, b"are you there"));
        stream.extend(client(Opcode::Continuation, false, &text[6..9])); // inside the crab
        stream.extend(client(Opcode::Continuation, false, b""));
        stream.extend(client(Opcode::Continuation, true, &text[9..]));
        stream.extend(client(Opcode::Binary, true, b"\xff\x00"));
        stream.extend(client(Opcode::Pong, true, b""));
        stream.extend(client(Opcode::Close, true, b"\x03\xe8bye"));
        stream.extend(client(Opcode::Text, true, b"after close"));
        let got = one(&stream);
        let ping = format!("{:?}", Ok::<_, FrameError>(Piece::Ping(b"are you there")));
        let pong = format!("{:?}", Ok::<_, FrameError>(Piece::Pong(b"")));
        let close = format!(
            "{:?}",
            Ok::<_, FrameError>(Piece::Close {
                code: Some(1000),
                reason: "bye"
            })
        );
        assert_eq!(
            got,
            [
                ping,
                data(DataKind::Text, text),
                data(DataKind::Binary, b"\xff\x00"),
                pong,
                close
            ]
        );
    }

    #[test]
    fn protocol_errors_have_their_close_codes() {
        let mut unmasked = client(Opcode::Text, true, b"hi");
        unmasked[1] &= 0x7f;
        let mut rsv = client(Opcode::Text, true, b"hi");
        rsv[0] |= 0x40;
        let mut reserved_op = client(Opcode::Text, true, b"hi");
        reserved_op[0] = 0x83;
        let mut reserved_control = client(Opcode::Ping, true, b"");
        reserved_control[0] = 0x8B;
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (unmasked, FrameError::Unmasked),
            (rsv, FrameError::ReservedBits),
            (reserved_op, FrameError::UnknownOpcode(3)),
            (reserved_control, FrameError::UnknownOpcode(0xB)),
            (
                client(Opcode::Ping, true, &[0; 126]),
                FrameError::ControlTooLong,
            ),
            (
                client(Opcode::Ping, false, b"x"),
                FrameError::ControlFragmented,
            ),
            (
                client(Opcode::Continuation, true, b"x"),
                FrameError::UnexpectedContinuation,
            ),
            (
                [
                    client(Opcode::Text, false, b"a"),
                    client(Opcode::Binary, true, b"b"),
                ]
                .concat(),
                FrameError::ExpectedContinuation,
            ),
            // 5 bytes given in the 16-bit form, then in the 64-bit form.
            (
                vec![0x81, 0xFE, 0, 5, 0, 0, 0, 0, 1, 2, 3, 4, 5],
                FrameError::BadLength,
            ),
            (
                vec![0x81, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0, 0],
                FrameError::BadLength,
            ),
            (
                vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                FrameError::BadLength,
            ),
            (
                client(Opcode::Text, true, b"\xc3\x28"),
                FrameError::InvalidUtf8,
            ),
            (
                client(Opcode::Text, true, b"a\xc3"),
                FrameError::InvalidUtf8,
            ),
            (
                [
                    client(Opcode::Text, false, b"\xe2\x82"),
                    client(Opcode::Continuation, true, b""),
                ]
                .concat(),
                FrameError::InvalidUtf8,
            ),
            (
                [
                    client(Opcode::Text, false, b"\xe2\x82"),
                    client(Opcode::Continuation, true, b"("),
                ]
                .concat(),
                FrameError::InvalidUtf8,
            ),
            (
                client(Opcode::Text, true, b"\xed\xa0\x80"),
                FrameError::InvalidUtf8,
            ),
            (
                client(Opcode::Close, true, b"\x03"),
                FrameError::BadClosePayload,
            ),
            (
                client(Opcode::Close, true, b"\x03\xed"),
                FrameError::BadCloseCode(1005),
            ),
            (
                client(Opcode::Close, true, b"\x03\xe8\xff"),
                FrameError::InvalidUtf8,
            ),
        ];
        for (stream, want) in cases {
            let got = one(&stream);
            assert_eq!(got.last(), Some(&error(want)), "{stream:02x?}");
            let code = match want {
                FrameError::InvalidUtf8 => 1007,
                _ => 1002,
            };
            assert_eq!(want.close_code(), code);
        }
    }

    #[test]
    fn frame_and_message_limits_are_1009() {
        let limits = Limits {
            max_frame: 10,
            max_message: 25,
        };
        let big = client(Opcode::Binary, true, &[1; 11]);
        assert_eq!(drive(&[&big], limits), [error(FrameError::FrameTooLarge)]);
        // Refused from the header alone, before the payload is there.
        assert_eq!(
            drive(&[&big[..6]], limits),
            [error(FrameError::FrameTooLarge)]
        );
        let mut three = client(Opcode::Text, false, &[b'a'; 10]);
        three.extend(client(Opcode::Continuation, false, &[b'b'; 10]));
        let fits = [
            three.clone(),
            client(Opcode::Continuation, true, &[b'c'; 5]),
        ]
        .concat();
        assert_eq!(drive(&[&fits], limits).len(), 1);
        three.extend(client(Opcode::Continuation, true, &[b'c'; 6]));
        let got = drive(&[&three], limits);
        assert_eq!(got, [error(FrameError::MessageTooLarge)]);
        assert_eq!(
            FrameError::MessageTooLarge.close_code(),
            close::MESSAGE_TOO_BIG
        );
        // The count starts again with each message.
        let again = [fits.clone(), fits].concat();
        assert_eq!(drive(&[&again], limits).len(), 2);
    }

    #[test]
    fn extended_lengths_round_trip() {
        let limits = Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
        };
        for len in [125usize, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let frame = client(Opcode::Binary, true, &payload);
            let head = match len {
                0..=125 => 6,
                126..=65535 => 8,
                _ => 14,
            };
            assert_eq!(frame.len(), head + len);
            assert_eq!(drive(&[&frame], limits), [data(DataKind::Binary, &payload)]);
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(b""), Ok((None, "")));
        assert_eq!(parse_close(b"\x03\xe8"), Ok((Some(1000), "")));
        assert_eq!(parse_close(b"\x0f\xa0ok"), Ok((Some(4000), "ok")));
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let payload = code.to_be_bytes();
            assert_eq!(
                parse_close(&payload),
                Err(FrameError::BadCloseCode(code)),
                "{code}"
            );
        }
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
        ] {
            assert!(parse_close(&code.to_be_bytes()).is_ok(), "{code}");
        }
        // After a close, nothing more comes out, whatever follows.
        let mut dec = Decoder::new(Limits::default());
        let mut stream = client(Opcode::Close, true, b"");
        stream.extend(b"\x00\x00garbage");
        let (piece, used) = dec.decode(&mut stream).unwrap().unwrap();
        assert_eq!(
            piece,
            Piece::Close {
                code: None,
                reason: ""
            }
        );
        assert!(dec.is_closed());
        assert!(dec.decode(&mut stream[used..]).unwrap().is_none());
    }

    #[test]
    fn a_decoder_is_small() {
        // One per WebSocket connection, idle ones included.
        let size = std::mem::size_of::<Decoder>();
        assert!(size <= 64, "{size}");
    }

    #[test]
    fn errors_stay() {
        let mut dec = Decoder::new(Limits::default());
        let mut bad = client(Opcode::Text, true, b"\xff");
        assert_eq!(dec.decode(&mut bad).unwrap_err(), FrameError::InvalidUtf8);
        let mut good = client(Opcode::Text, true, b"ok");
        assert_eq!(dec.decode(&mut good).unwrap_err(), FrameError::InvalidUtf8);
    }

    #[test]
    fn server_frames_are_unmasked_with_the_shortest_length() {
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Text, b"hi");
        assert_eq!(out, [0x81, 0x02, b'h', b'i']);
        assert_eq!(
            FrameHead::new(Opcode::Binary, true, 126).as_bytes(),
            [0x82, 126, 0, 126]
        );
        assert_eq!(
            FrameHead::new(Opcode::Binary, false, 65535).as_bytes(),
            [0x02, 126, 0xff, 0xff]
        );
        assert_eq!(
            FrameHead::new(Opcode::Continuation, true, 65536).as_bytes(),
            [0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        let mut out = Vec::new();
        write_frame(&mut out, Opcode::Pong, &[7; 200]);
        assert_eq!(out[..2], [0x8A, 125]);
        assert_eq!(out.len(), 127);
        let mut out = Vec::new();
        write_close(&mut out, close::GOING_AWAY, &"\u{e9}".repeat(100));
        assert_eq!(out[..4], [0x88, 124, 0x03, 0xe9]);
        assert!(std::str::from_utf8(&out[4..]).is_ok());
        let mut out = Vec::new();
        FrameError::Unmasked.write_close(&mut out);
        assert_eq!(out[2..4], 1002u16.to_be_bytes());
        assert_eq!(&out[4..], b"client frames must be masked");
    }

    #[test]
    fn one_line_framed_once_per_variant() {
        // What the loop does with a room message encoded once as an IRC line.
        let line = b":alice!a@h PRIVMSG #snak :hi\r\n";
        let body = &line[..line.len() - 2];
        let text = FrameHead::new(Opcode::Text, true, body.len() as u64);
        let binary = FrameHead::new(Opcode::Binary, true, body.len() as u64);
        let framed_text = [text.as_bytes(), body].concat();
        let framed_binary = [binary.as_bytes(), body].concat();
        let parsed = server_frames(&framed_text);
        assert_eq!(parsed, [(true, Opcode::Text, body.to_vec())]);
        assert_eq!(server_frames(&framed_binary)[0].1, Opcode::Binary);
    }

    /// Parses unmasked server frames, as a client would.
    fn server_frames(mut bytes: &[u8]) -> Vec<(bool, Opcode, Vec<u8>)> {
        let mut frames = Vec::new();
        while !bytes.is_empty() {
            let fin = bytes[0] & 0x80 != 0;
            let opcode = Opcode::from_bits(bytes[0] & 0x0f).unwrap();
            assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
            let (len, at) = match bytes[1] {
                126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
                127 => (
                    u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                    10,
                ),
                n => (n as usize, 2),
            };
            frames.push((fin, opcode, bytes[at..at + len].to_vec()));
            bytes = &bytes[at + len..];
        }
        frames
    }

    fn cut<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&data[last..p]);
            last = p;
        }
        chunks.push(&data[last..]);
        chunks
    }

    /// A message as a client might send it: kind, payload, where it is cut into fragments,
    /// and its mask (which also decides whether pings go between the fragments).
    type Message = (DataKind, Vec<u8>, Vec<usize>, [u8; 4]);

    fn message() -> impl Strategy<Value = Message> {
        let kind = prop_oneof![Just(DataKind::Text), Just(DataKind::Binary)];
        let payload = prop_oneof![
            "\\PC{0,40}".prop_map(String::into_bytes),
            prop::collection::vec(any::<u8>(), 0..300),
        ];
        (
            kind,
            payload,
            prop::collection::vec(any::<usize>(), 0..4),
            any::<[u8; 4]>(),
        )
    }

    /// Encodes messages as client frames; returns the stream and what should come out.
    fn encode(messages: &[Message]) -> (Vec<u8>, Vec<String>) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (kind, payload, cuts, mask) in messages {
            let valid = *kind == DataKind::Binary || std::str::from_utf8(payload).is_ok();
            let pieces = cut(payload, cuts);
            for (i, piece) in pieces.iter().enumerate() {
                let opcode = if i == 0 {
                    kind.opcode()
                } else {
                    Opcode::Continuation
                };
                let fin = i + 1 == pieces.len();
                write_masked_frame(&mut stream, opcode, fin, *mask, piece);
                if !fin && mask[0] % 3 == 0 {
                    write_masked_frame(&mut stream, Opcode::Ping, true, *mask, &mask[..]);
                    if valid {
                        want.push(format!("{:?}", Ok::<_, FrameError>(Piece::Ping(&mask[..]))));
                    }
                }
            }
            if !valid {
                break;
            }
            want.push(data(*kind, payload));
        }
        (stream, want)
    }

    proptest! {
        #[test]
        fn messages_round_trip_however_they_are_chunked(
            messages in prop::collection::vec(message(), 0..6),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
        ) {
            let (stream, want) = encode(&messages);
            let limits = Limits { max_frame: 1024, max_message: 1024 };
            let whole = drive(&[&stream], limits);
            // An invalid text message ends the stream with 1007 (what came before it stands).
            if whole.len() > want.len() {
                prop_assert_eq!(whole.last().unwrap(), &error(FrameError::InvalidUtf8));
            }
            prop_assert_eq!(&whole[..want.len()], &want[..]);
            prop_assert_eq!(drive(&cut(&stream, &cuts), limits), whole.clone());
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(drive(&bytes, limits), whole);
        }

        #[test]
        fn chunking_never_changes_the_outcome(
            messages in prop::collection::vec(message(), 0..4),
            junk in prop::collection::vec(any::<u8>(), 0..40),
            at in any::<usize>(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            max_frame in 0u64..200,
        ) {
            // A valid stream with junk spliced in somewhere: whatever happens, happens alike.
            let (mut stream, _) = encode(&messages);
            let at = at % (stream.len() + 1);
            stream.splice(at..at, junk);
            let limits = Limits { max_frame, max_message: 2 * max_frame };
            let whole = drive(&[&stream], limits);
            prop_assert_eq!(drive(&cut(&stream, &cuts), limits), whole.clone());
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            prop_assert_eq!(drive(&bytes, limits), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = drive(&[&data], Limits::default());
            let _ = parse_close(&data);
        }

        #[test]
        fn server_frames_round_trip(
            len in prop_oneof![0usize..300, 65_500usize..65_600],
            fill in any::<u8>(),
            fin in any::<bool>(),
            binary in any::<bool>(),
        ) {
            let payload = vec![fill; len];
            let opcode = if binary { Opcode::Binary } else { Opcode::Text };
            let mut out = Vec::new();
            write_frame_header(&mut out, opcode, fin, payload.len() as u64);
            prop_assert!(out.len() <= MAX_SERVER_HEADER);
            out.extend_from_slice(&payload);
            prop_assert_eq!(server_frames(&out), vec![(fin, opcode, payload)]);
        }

        #[test]
        fn utf8_is_checked_the_same_in_any_pieces(
            bytes in prop::collection::vec(any::<u8>(), 0..40),
            cuts in prop::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut tail = Utf8Tail::default();
            let fed = cut(&bytes, &cuts).into_iter().try_for_each(|piece| tail.feed(piece));
            let pieces_ok = fed.is_ok() && tail.len == 0;
            prop_assert_eq!(pieces_ok, std::str::from_utf8(&bytes).is_ok());
        }
    }
}

//! HTTP/1.1 request heads and responses (pure): bytes in, a typed [`Request`] out; a status
//! and headers in, response bytes appended to a buffer. No I/O, no clock.
//!
//! The request line and header syntax are parsed by the `httparse` crate; this module wraps
//! it with snak's limits and the semantics the web front end needs (RFC 9110 and RFC 9112):
//!
//! - [`parse_request`] looks at what has arrived and returns `Ok(None)` until a whole head is
//!   there, then the [`Request`] and how many bytes the head used; the body (if any) follows,
//!   [`Request::content_length`] bytes long, and is the caller's to read.
//! - [`HeadScan`] tells the caller when to call it: httparse does not resume, so without it a
//!   client sending its head a byte at a time would cost a rescan of the head per byte.
//! - Every refusal is an [`HttpError`] that names its status ([`HttpError::status`]) and writes
//!   its own answer ([`HttpError::write_response`]). After a parse error the framing of the
//!   stream is unknown, so the connection is closed after the answer.
//! - Request bodies need a `Content-Length`. Chunked uploads are not accepted: browsers send
//!   a length for every `fetch`/form upload of a file, and refusing `Transfer-Encoding`
//!   keeps request smuggling out by construction. A request with one is answered 501 (or
//!   400 if it also has a `Content-Length`, or is HTTP/1.0, where it means broken framing).
//!
//! Limits, all in [`Limits`] (defaults after the `=`) or constants here:
//! - [`Limits::max_head`]: request line plus headers [`MAX_HEAD`] = 8 KiB; over it 431, or 414
//!   if the request line alone does not fit.
//! - [`MAX_HEADERS`] = 32 header lines; more is 431.
//! - [`Limits::max_target`]: the request target [`MAX_TARGET`] = 2 KiB; longer is 414.
//! - [`Limits::max_body`]: the largest `Content-Length` accepted [`DEFAULT_MAX_BODY`] =
//!   64 KiB; more is 413. Pass the largest any route takes and check per route after routing.
//!
//! Responses: [`ResponseHead`] writes a status line and headers (always `Content-Length`,
//! except on 1xx and 204 where HTTP forbids it, always `Connection`, plus `nosniff`,
//! `Referrer-Policy` and a `Content-Security-Policy` chosen by [`Csp`]); [`write_response`]
//! adds a body and [`write_error`] a short text answer.
//!
//! # Driving it from the loop
//!
//! The [`Request`] borrows the connection's input buffer, so the front end routes it and
//! keeps only small owned values (a token, an `Accepted` handshake) before dropping the bytes
//! it used:
//!
//! ```
//! use snak::proto::http::{self, Csp, Limits, ResponseHead, Status};
//!
//! let mut input = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\nGET /x HTTP/1.1\r\n".to_vec();
//! let mut output = Vec::new();
//! let limits = Limits::default();
//! let mut scan = http::HeadScan::new(); // one per connection, beside its input buffer
//! loop {
//!     if !scan.ready(&input, &limits) {
//!         break; // no blank line yet: read more
//!     }
//!     let (used, keep_alive) = match http::parse_request(&input, &limits) {
//!         // Read more; the front end's deadline answers a slow client with 408.
//!         Ok(None) => break,
//!         Ok(Some((req, used))) => {
//!             match (req.method, req.path) {
//!                 ("GET", "/") => {
//!                     let head = ResponseHead {
//!                         content_type: Some("text/html; charset=utf-8"),
//!                         csp: Csp::Page { host: req.host },
//!                         ..ResponseHead::new(Status::OK, req.keep_alive)
//!                     };
//!                     http::write_response(&mut output, &head, b"<!doctype html>");
//!                 }
//!                 _ => http::write_error(&mut output, Status::NOT_FOUND, "", req.keep_alive, &[]),
//!             }
//!             // A body would follow: req.content_length bytes, read as they arrive.
//!             (used, req.keep_alive)
//!         }
//!         Err(e) => {
//!             e.write_response(&mut output); // then close
//!             break;
//!         }
//!     };
//!     input.drain(..used);
//!     scan.reset();
//!     if !keep_alive {
//!         break; // close once the output is written
//!     }
//! }
//! assert!(output.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert_eq!(input, b"GET /x HTTP/1.1\r\n"); // the next request, incomplete, stays
//! ```

use std::borrow::Cow;
use std::fmt;
use std::io::Write;

/// Default cap on the request head (request line and headers, with their line ends).
pub const MAX_HEAD: usize = 8 * 1024;

/// Most header lines a request may have. Also the size of the table each [`Request`] holds.
pub const MAX_HEADERS: usize = 32;

/// Default cap on the request target (path and query as sent).
pub const MAX_TARGET: usize = 2 * 1024;

/// Default cap on a request body's declared length.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024;

/// The caps [`parse_request`] applies. See the module docs for each one's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request head in bytes, line ends included.
    pub max_head: usize,
    /// Longest request target in bytes.
    pub max_target: usize,
    /// Largest `Content-Length` accepted.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: MAX_HEAD,
            max_target: MAX_TARGET,
            max_body: DEFAULT_MAX_BODY,
        }
    }
}

/// The HTTP versions snak speaks. Anything else is refused with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A status code and its reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
}

impl Status {
    pub const CONTINUE: Status = Status::new(100, "Continue");
    pub const SWITCHING_PROTOCOLS: Status = Status::new(101, "Switching Protocols");
    pub const OK: Status = Status::new(200, "OK");
    pub const CREATED: Status = Status::new(201, "Created");
    pub const NO_CONTENT: Status = Status::new(204, "No Content");
    pub const NOT_MODIFIED: Status = Status::new(304, "Not Modified");
    pub const BAD_REQUEST: Status = Status::new(400, "Bad Request");
    pub const UNAUTHORIZED: Status = Status::new(401, "Unauthorized");
    pub const FORBIDDEN: Status = Status::new(403, "Forbidden");
    pub const NOT_FOUND: Status = Status::new(404, "Not Found");
    pub const METHOD_NOT_ALLOWED: Status = Status::new(405, "Method Not Allowed");
    pub const REQUEST_TIMEOUT: Status = Status::new(408, "Request Timeout");
    pub const CONFLICT: Status = Status::new(409, "Conflict");
    pub const GONE: Status = Status::new(410, "Gone");
    pub const LENGTH_REQUIRED: Status = Status::new(411, "Length Required");
    pub const CONTENT_TOO_LARGE: Status = Status::new(413, "Content Too Large");
    pub const URI_TOO_LONG: Status = Status::new(414, "URI Too Long");
    pub const EXPECTATION_FAILED: Status = Status::new(417, "Expectation Failed");
    pub const UPGRADE_REQUIRED: Status = Status::new(426, "Upgrade Required");
    pub const TOO_MANY_REQUESTS: Status = Status::new(429, "Too Many Requests");
    pub const HEADER_FIELDS_TOO_LARGE: Status = Status::new(431, "Request Header Fields Too Large");
    pub const INTERNAL_SERVER_ERROR: Status = Status::new(500, "Internal Server Error");
    pub const NOT_IMPLEMENTED: Status = Status::new(501, "Not Implemented");
    pub const SERVICE_UNAVAILABLE: Status = Status::new(503, "Service Unavailable");
    pub const VERSION_NOT_SUPPORTED: Status = Status::new(505, "HTTP Version Not Supported");
    pub const INSUFFICIENT_STORAGE: Status = Status::new(507, "Insufficient Storage");

    pub const fn new(code: u16, reason: &'static str) -> Status {
        Status { code, reason }
    }

    /// Whether HTTP forbids a body and a `Content-Length` with this status (1xx, 204).
    pub fn forbids_body(self) -> bool {
        self.code < 200 || self.code == 204
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.reason)
    }
}

/// Why a request head was refused. Each says its status; all of them close the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// Syntax or semantics the server cannot accept (400), with what was wrong.
    Malformed(&'static str),
    /// The request line alone is longer than the head limit, or the target is longer than
    /// [`Limits::max_target`] (414).
    TargetTooLong,
    /// The head is longer than [`Limits::max_head`] (431).
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] header lines (431).
    TooManyHeaders,
    /// `Content-Length` over [`Limits::max_body`] (413).
    BodyTooLarge,
    /// `Transfer-Encoding` on a request that is otherwise well framed (501): snak takes no
    /// chunked uploads.
    TransferEncoding,
    /// An `Expect` other than `100-continue` (417).
    Expectation,
    /// A protocol version other than HTTP/1.0 or HTTP/1.1 (505).
    Version,
}

impl HttpError {
    /// The status to answer with.
    pub fn status(self) -> Status {
        match self {
            HttpError::Malformed(_) => Status::BAD_REQUEST,
            HttpError::TargetTooLong => Status::URI_TOO_LONG,
            HttpError::HeadTooLarge | HttpError::TooManyHeaders => Status::HEADER_FIELDS_TOO_LARGE,
            HttpError::BodyTooLarge => Status::CONTENT_TOO_LARGE,
            HttpError::TransferEncoding => Status::NOT_IMPLEMENTED,
            HttpError::Expectation => Status::EXPECTATION_FAILED,
            HttpError::Version => Status::VERSION_NOT_SUPPORTED,
        }
    }

    /// A short explanation for the answer's body.
    pub fn detail(self) -> &'static str {
        match self {
            HttpError::Malformed(what) => what,
            HttpError::TargetTooLong => "request target too long",
            HttpError::HeadTooLarge => "request head too large",
            HttpError::TooManyHeaders => "too many header fields",
            HttpError::BodyTooLarge => "request body too large",
            HttpError::TransferEncoding => {
                "transfer codings are not supported; send Content-Length"
            }
            HttpError::Expectation => "only 100-continue is supported",
            HttpError::Version => "only HTTP/1.0 and HTTP/1.1 are supported",
        }
    }

    /// Appends the whole answer (status, `Connection: close`, a text body) to `out`.
    pub fn write_response(self, out: &mut Vec<u8>) {
        write_error(out, self.status(), self.detail(), false, &[]);
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.detail())
    }
}

impl std::error::Error for HttpError {}

/// One parsed request head, borrowing from the input buffer: the caller routes it, takes
/// the few small values it keeps (a token, the WebSocket accept key), and then drops the
/// bytes the head used. Header names compare case-insensitively; values are as sent, with
/// surrounding blanks trimmed.
#[derive(Clone)]
pub struct Request<'a> {
    /// The method, case-sensitive as HTTP says (`GET`, `HEAD`, `POST`, ...).
    pub method: &'a str,
    /// The request target as sent.
    pub target: &'a str,
    /// The path, still percent-encoded; starts with `/` (or is `*` for `OPTIONS *`).
    pub path: &'a str,
    /// What follows the first `?`, still encoded; `None` if there was no `?`.
    pub query: Option<&'a str>,
    pub version: Version,
    /// The authority the client asked for: the `Host` header, or the authority of an
    /// absolute-form target, which HTTP says takes its place. Validated as `host[:port]`.
    /// Required for HTTP/1.1; may be `None` for HTTP/1.0.
    pub host: Option<&'a str>,
    /// Whether the connection stays open after the response: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// The body length (0 without a `Content-Length`), at most [`Limits::max_body`].
    pub content_length: u64,
    /// `Expect: 100-continue`: answer `HTTP/1.1 100 Continue` (see [`CONTINUE_RESPONSE`]) before
    /// reading the body, or the final status without reading it.
    pub expect_continue: bool,
    /// `Connection` lists `upgrade`.
    pub connection_upgrade: bool,
    /// `Upgrade` lists `websocket`.
    pub upgrade_websocket: bool,
    /// The `Origin` header, if sent (browsers send it on every WebSocket handshake).
    pub origin: Option<&'a str>,
    /// `Sec-WebSocket-Key`, unchecked here (see `ws::check_upgrade`).
    pub ws_key: Option<&'a str>,
    /// `Sec-WebSocket-Version`.
    pub ws_version: Option<&'a str>,
    headers: [(&'a str, &'a [u8]); MAX_HEADERS],
    header_count: usize,
}

impl<'a> Request<'a> {
    /// Every header line in order, as (name, value).
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers[..self.header_count].iter().copied()
    }

    /// The value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The subprotocols offered in `Sec-WebSocket-Protocol` (all such lines, in order,
    /// comma-separated, blanks trimmed, empty items skipped). Values that are not UTF-8 are
    /// skipped.
    pub fn ws_protocols(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .flat_map(list_items)
    }

    /// The path's segments after the leading `/`, still encoded (see [`percent_decode`]).
    pub fn path_segments(&self) -> impl Iterator<Item = &'a str> {
        path_segments(self.path)
    }

    /// The raw value of the first query parameter called `key` (see [`decode_query_value`]).
    pub fn query_value(&self, key: &str) -> Option<&'a str> {
        self.query.and_then(|q| query_value(q, key))
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, String)> = self
            .headers()
            .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned()))
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("version", &self.version)
            .field("host", &self.host)
            .field("keep_alive", &self.keep_alive)
            .field("content_length", &self.content_length)
            .field("expect_continue", &self.expect_continue)
            .field("connection_upgrade", &self.connection_upgrade)
            .field("upgrade_websocket", &self.upgrade_websocket)
            .field("origin", &self.origin)
            .field("ws_key", &self.ws_key)
            .field("ws_version", &self.ws_version)
            .field("headers", &headers)
            .finish()
    }
}

/// Remembers how far a connection's input has been searched for the blank line that ends a
/// request head, so that a client sending its head a byte at a time costs linear time:
/// [`parse_request`] rescans from the start each time (httparse does not resume), so call it
/// only when [`ready`](HeadScan::ready) says a head may be complete, and
/// [`reset`](HeadScan::reset) the scan whenever bytes are dropped from the front of the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScan {
    scanned: usize,
    found: bool,
}

impl HeadScan {
    pub fn new() -> HeadScan {
        HeadScan::default()
    }

    /// Whether `buf` (the unused input, which only grew since the last call) holds a blank
    /// line, or has reached the head limit: then [`parse_request`] has something to decide.
    /// Looks only at bytes not looked at before. Stays true until [`reset`](HeadScan::reset).
    pub fn ready(&mut self, buf: &[u8], limits: &Limits) -> bool {
        if !self.found {
            // A blank line may straddle the old end: look again from two bytes before it.
            let from = self.scanned.saturating_sub(2).min(buf.len());
            let tail = &buf[from..];
            self.found =
                tail.windows(2).any(|w| w == b"\n\n") || tail.windows(3).any(|w| w == b"\n\r\n");
            self.scanned = buf.len();
        }
        self.found || buf.len() >= limits.max_head
    }

    /// Starts over, for input that no longer begins where it did (a head or body was used).
    pub fn reset(&mut self) {
        *self = HeadScan::default();
    }
}

/// The interim answer to `Expect: 100-continue`, to write before reading the body.
pub const CONTINUE_RESPONSE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Parses the request head at the start of `buf`: `Ok(None)` while it is incomplete (and
/// within [`Limits::max_head`]), else the request and the number of bytes the head used.
/// The outcome depends only on the bytes in `buf`, never on how they arrived.
pub fn parse_request<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(Request<'a>, usize)>, HttpError> {
    // Only the first max_head bytes are ever looked at, so a head that does not fit is
    // refused as soon as that many bytes are in, and a long one costs no rescans past it.
    let window = &buf[..buf.len().min(limits.max_head)];
    let mut raw_headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut raw = httparse::Request::new(&mut raw_headers);
    let used = match raw.parse(window) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if buf.len() < limits.max_head => return Ok(None),
        Ok(httparse::Status::Partial) => {
            let start = window.iter().take_while(|&&b| b == b'\r' || b == b'\n');
            let line_ended = window[start.count()..].contains(&b'\n');
            return Err(if line_ended {
                HttpError::HeadTooLarge
            } else {
                HttpError::TargetTooLong
            });
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
        Err(httparse::Error::Version) => return Err(version_error(window)),
        Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
            return Err(HttpError::Malformed("malformed header field"))
        }
        Err(_) => return Err(HttpError::Malformed("malformed request line")),
    };
    let (Some(method), Some(target), Some(minor)) = (raw.method, raw.path, raw.version) else {
        return Err(HttpError::Malformed("malformed request line"));
    };
    let version = match minor {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return Err(HttpError::Version),
    };
    let mut req = Request {
        method,
        target,
        path: "",
        query: None,
        version,
        host: None,
        keep_alive: false,
        content_length: 0,
        expect_continue: false,
        connection_upgrade: false,
        upgrade_websocket: false,
        origin: None,
        ws_key: None,
        ws_version: None,
        headers: [("", &[][..]); MAX_HEADERS],
        header_count: 0,
    };
    let target_authority = parse_target(&mut req, limits)?;
    let mut seen = Seen::default();
    for h in raw.headers.iter() {
        let value = trim_blanks(h.value);
        req.headers[req.header_count] = (h.name, value);
        req.header_count += 1;
        header(&mut req, &mut seen, h.name, value)?;
    }
    finish(&mut req, &seen, target_authority, limits)?;
    Ok(Some((req, used)))
}

/// Tells a version we do not speak (`HTTP/2.0`, 505) from a request line that is just
/// broken (400), which httparse reports alike.
fn version_error(window: &[u8]) -> HttpError {
    let start = window
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(window.len());
    let line = &window[start..];
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    // Only the start of the third word counts: httparse stops at the first bad byte, so
    // what follows it may not have arrived yet, and the answer must not depend on it.
    let version = line.split(|&b| b == b' ').nth(2).unwrap_or(b"");
    match version.strip_prefix(b"HTTP/") {
        Some([d, ..]) if d.is_ascii_digit() => HttpError::Version,
        _ => HttpError::Malformed("malformed request line"),
    }
}

/// Splits the target into path and query; returns the authority of an absolute-form target.
fn parse_target<'a>(req: &mut Request<'a>, limits: &Limits) -> Result<Option<&'a str>, HttpError> {
    let target = req.target;
    if target.len() > limits.max_target {
        return Err(HttpError::TargetTooLong);
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::Malformed("request target must be ASCII"));
    }
    if target.contains('#') {
        return Err(HttpError::Malformed("fragment in request target"));
    }
    if target == "*" {
        if req.method != "OPTIONS" {
            return Err(HttpError::Malformed("asterisk-form is only for OPTIONS"));
        }
        req.path = "*";
        return Ok(None);
    }
    let (authority, rest) = match strip_scheme(target) {
        Some(after) => {
            let end = after.find(['/', '?']).unwrap_or(after.len());
            let authority = &after[..end];
            if split_host_port(authority).is_none() {
                return Err(HttpError::Malformed("bad authority in request target"));
            }
            (Some(authority), &after[end..])
        }
        None if target.starts_with('/') => (None, target),
        None => return Err(HttpError::Malformed("bad request target")),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    // `http://host` and `http://host?x` mean the root.
    req.path = if path.is_empty() { "/" } else { path };
    req.query = query;
    Ok(authority)
}

/// `http://` or `https://` in any case, stripped.
fn strip_scheme(target: &str) -> Option<&str> {
    ["http://", "https://"].iter().find_map(|scheme| {
        let head = target.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme)
            .then(|| &target[scheme.len()..])
    })
}

/// What the header loop saw that [`finish`] checks as a whole.
#[derive(Default)]
struct Seen<'a> {
    hosts: usize,
    host: Option<&'a str>,
    content_lengths: usize,
    transfer_encoding: bool,
    connection_close: bool,
    connection_keep_alive: bool,
    expect: Option<&'a str>,
}

/// Takes in one header line.
fn header<'a>(
    req: &mut Request<'a>,
    seen: &mut Seen<'a>,
    name: &str,
    value: &'a [u8],
) -> Result<(), HttpError> {
    let is = |n: &str| name.eq_ignore_ascii_case(n);
    if is("host") {
        seen.hosts += 1;
        seen.host = Some(text(value, "bad Host")?);
    } else if is("content-length") {
        seen.content_lengths += 1;
        req.content_length = parse_length(value)?;
    } else if is("transfer-encoding") {
        seen.transfer_encoding = true;
    } else if is("connection") {
        for item in list_items(text(value, "bad Connection")?) {
            if item.eq_ignore_ascii_case("close") {
                seen.connection_close = true;
            } else if item.eq_ignore_ascii_case("keep-alive") {
                seen.connection_keep_alive = true;
            } else if item.eq_ignore_ascii_case("upgrade") {
                req.connection_upgrade = true;
            }
        }
    } else if is("upgrade") {
        // Each item is a protocol name with an optional `/version`.
        let items = list_items(text(value, "bad Upgrade")?);
        if items
            .map(|p| p.split('/').next().unwrap_or(p))
            .any(|p| p.eq_ignore_ascii_case("websocket"))
        {
            req.upgrade_websocket = true;
        }
    } else if is("expect") {
        seen.expect = Some(text(value, "bad Expect")?);
    } else if is("origin") {
        once(
            &mut req.origin,
            text(value, "bad Origin")?,
            "more than one Origin",
        )?;
    } else if is("sec-websocket-key") {
        let key = text(value, "bad Sec-WebSocket-Key")?;
        once(&mut req.ws_key, key, "more than one Sec-WebSocket-Key")?;
    } else if is("sec-websocket-version") {
        let version = text(value, "bad Sec-WebSocket-Version")?;
        once(
            &mut req.ws_version,
            version,
            "more than one Sec-WebSocket-Version",
        )?;
    }
    Ok(())
}

/// Checks that need the whole head, and settles keep-alive.
fn finish<'a>(
    req: &mut Request<'a>,
    seen: &Seen<'a>,
    target_authority: Option<&'a str>,
    limits: &Limits,
) -> Result<(), HttpError> {
    // RFC 9112 3.2: one Host, valid, and present in every HTTP/1.1 request.
    if seen.hosts > 1 {
        return Err(HttpError::Malformed("more than one Host"));
    }
    if let Some(host) = seen.host {
        if split_host_port(host).is_none() {
            return Err(HttpError::Malformed("bad Host"));
        }
    }
    if seen.hosts == 0 && req.version == Version::Http11 {
        return Err(HttpError::Malformed("missing Host"));
    }
    req.host = target_authority.or(seen.host);
    if seen.content_lengths > 1 {
        return Err(HttpError::Malformed("more than one Content-Length"));
    }
    // RFC 9112 6.1 and 6.3: with a Content-Length beside it, or in HTTP/1.0, a
    // Transfer-Encoding means the framing is broken; otherwise it is a coding we lack.
    if seen.transfer_encoding {
        if seen.content_lengths > 0 || req.version == Version::Http10 {
            return Err(HttpError::Malformed(
                "Transfer-Encoding with Content-Length or in HTTP/1.0",
            ));
        }
        return Err(HttpError::TransferEncoding);
    }
    if req.content_length > limits.max_body {
        return Err(HttpError::BodyTooLarge);
    }
    if let Some(expect) = seen.expect {
        if !expect.eq_ignore_ascii_case("100-continue") {
            return Err(HttpError::Expectation);
        }
        // An HTTP/1.0 client does not wait for a 100 (RFC 9110 10.1.1).
        req.expect_continue = req.version == Version::Http11;
    }
    req.keep_alive =
        !seen.connection_close && (req.version == Version::Http11 || seen.connection_keep_alive);
    Ok(())
}

/// A header value that must be printable ASCII (blanks allowed inside).
fn text<'a>(value: &'a [u8], what: &'static str) -> Result<&'a str, HttpError> {
    if !value
        .iter()
        .all(|&b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(HttpError::Malformed(what));
    }
    std::str::from_utf8(value).map_err(|_| HttpError::Malformed(what))
}

fn once<'a>(
    slot: &mut Option<&'a str>,
    value: &'a str,
    dup: &'static str,
) -> Result<(), HttpError> {
    if slot.replace(value).is_some() {
        return Err(HttpError::Malformed(dup));
    }
    Ok(())
}

/// `Content-Length`: digits only (no sign, no list, no blanks inside), no overflow.
fn parse_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::Malformed("bad Content-Length"));
    }
    value.iter().try_fold(0u64, |n, &d| {
        // A length too big for u64 is too big for any limit.
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(HttpError::BodyTooLarge)
    })
}

fn trim_blanks(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// The items of a comma-separated header list, blanks trimmed, empty items skipped.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .filter(|item| !item.is_empty())
}

/// Splits `host[:port]` (`[v6]:port` for IPv6) into the host and the port, or None if it
/// is not one. Host names are limited to letters, digits, `-`, `.`, `_` and `~`, which is
/// what DNS names and IPv4 addresses use, so a valid one is also safe to repeat in a header.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ok = !v6.is_empty()
            && v6
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ok || !v6.contains(':') {
            return None;
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&s[..v6.len() + 2], port)
    } else {
        let (host, port) = match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !ok {
            return None;
        }
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) if (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse().ok()?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

/// Why a percent-encoded string was refused (answer 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    BadUtf8,
    /// A control character (NUL, CR, LF, TAB, DEL, ...) after decoding: such a value could
    /// never be shown, used as a name or repeated in a header safely.
    ControlChar,
}

impl DecodeError {
    /// The status to answer with: always 400.
    pub fn status(self) -> Status {
        Status::BAD_REQUEST
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::BadEscape => "bad percent escape",
            DecodeError::BadUtf8 => "percent-decoded text is not UTF-8",
            DecodeError::ControlChar => "control character in percent-decoded text",
        })
    }
}

impl std::error::Error for DecodeError {}

/// Decodes `%XX` escapes in one path segment (a `+` stays a `+`). Borrows when there is
/// nothing to decode. Refuses bad escapes, invalid UTF-8 and control characters.
pub fn percent_decode(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(s, false)
}

/// Decodes one query-string name or value as browsers encode forms: `+` is a space, then
/// `%XX` escapes. Refuses what [`percent_decode`] refuses.
pub fn decode_query_value(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    decode(s, true)
}

fn decode(s: &str, plus_is_space: bool) -> Result<Cow<'_, str>, DecodeError> {
    let is_control = |c: char| c.is_ascii_control();
    let needs_decoding = s.contains('%') || (plus_is_space && s.contains('+'));
    if !needs_decoding {
        if s.contains(is_control) {
            return Err(DecodeError::ControlChar);
        }
        return Ok(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err(DecodeError::BadEscape);
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).map_err(|_| DecodeError::BadUtf8)?;
    if text.contains(is_control) {
        return Err(DecodeError::ControlChar);
    }
    Ok(Cow::Owned(text))
}

/// The segments of a path after its leading `/`, still encoded: `/f/abc/` gives `f`, `abc`,
/// `` (empty). A path of just `/` gives one empty segment.
pub fn path_segments(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// The `name=value` pairs of a query string, still encoded; a pair without `=` has an
/// empty value; empty pairs (`a=1&&b=2`) are skipped.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The raw value of the first pair in `query` whose raw name is `key`.
pub fn query_value<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query_pairs(query).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Whether a WebSocket handshake with this `Origin` may go on: a cross-site page must not
/// be able to open a connection in its visitor's name.
///
/// - No `Origin` header: allowed (non-browser clients send none; browsers always do).
/// - The server's own origin is always allowed: an `http` or `https` origin whose host and
///   port are those of the `Host` header (`own_host`), ports defaulting by the origin's
///   scheme (80, 443). The scheme itself is not compared: the codec does not know whether
///   the listener is TLS, and the same host and port is the same party either way.
/// - Otherwise it must equal one of `allowed` (the `--web-origin` values, compared as
///   `scheme://host[:port]` without case and with default ports elided); `*` allows any
///   origin and `null` allows the opaque origin browsers send from sandboxes and files.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String], own_host: Option<&str>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    if origin == "null" {
        return allowed.iter().any(|a| a == "null");
    }
    let Some(parsed) = Origin::parse(origin) else {
        return false;
    };
    let own = own_host
        .and_then(split_host_port)
        .is_some_and(|(host, port)| {
            host.eq_ignore_ascii_case(parsed.host)
                && port.unwrap_or(parsed.default_port()) == parsed.port
        });
    own || allowed
        .iter()
        .filter_map(|a| Origin::parse(a))
        .any(|a| a.same_as(&parsed))
}

/// Whether `s` is a value `--web-origin` can take: `scheme://host[:port]` with scheme `http`
/// or `https` and no path, or `*`, or `null`.
pub fn valid_origin(s: &str) -> bool {
    s == "*" || s == "null" || Origin::parse(s).is_some()
}

/// An `http(s)://host[:port]` origin, the port made explicit.
struct Origin<'a> {
    https: bool,
    host: &'a str,
    port: u16,
}

impl<'a> Origin<'a> {
    fn parse(s: &'a str) -> Option<Origin<'a>> {
        let (scheme, rest) = s.split_once("://")?;
        let https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return None;
        };
        let (host, port) = split_host_port(rest)?;
        let mut origin = Origin {
            https,
            host,
            port: 0,
        };
        origin.port = port.unwrap_or(origin.default_port());
        Some(origin)
    }

    fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }

    fn same_as(&self, other: &Origin<'_>) -> bool {
        self.https == other.https
            && self.port == other.port
            && self.host.eq_ignore_ascii_case(other.host)
    }
}

/// Which `Content-Security-Policy` a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Csp<'a> {
    /// For snak's own page: its inline script and style run, nothing is loaded from
    /// elsewhere, images only from itself or `data:`/`blob:` URLs it made, connections
    /// only to its own origin, which includes its `ws:`/`wss:` endpoint (named explicitly
    /// from `host`, the request's [`Request::host`], for browsers that do not count those
    /// as 'self'); no framing by other sites.
    Page { host: Option<&'a str> },
    /// For everything else (errors, files): nothing runs, nothing loads, no framing, and
    /// the document is sandboxed, so a file someone sent cannot act as snak's page.
    Locked,
    /// No policy header.
    Omit,
}

/// The policy for snak's page when served as `host` (see [`Csp::Page`]).
pub fn page_csp(host: Option<&str>) -> String {
    let mut connect = String::from("'self'");
    if let Some(host) = host.filter(|h| split_host_port(h).is_some()) {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
         img-src 'self' data: blob:; connect-src {connect}; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// The policy of [`Csp::Locked`].
pub const LOCKED_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// A response's status line and headers. Build one with [`ResponseHead::new`] and struct
/// update syntax, then [`write`](ResponseHead::write) it (or use [`write_response`]).
#[derive(Debug, Clone, Copy)]
pub struct ResponseHead<'a> {
    pub status: Status,
    /// Sent as `Connection: keep-alive` or `Connection: close`; the caller closes after
    /// the response when false.
    pub keep_alive: bool,
    pub content_type: Option<&'a str>,
    /// Sent as `Cache-Control`; `no-store` by default.
    pub cache_control: &'a str,
    pub csp: Csp<'a>,
    /// The time to send in `Date`, in seconds since the Unix epoch; the codec has no clock.
    pub date: Option<u64>,
    /// More headers, written as given except that control characters in values become
    /// spaces (so a value from a peer, such as a file name, cannot split the head).
    pub extra: &'a [(&'a str, &'a str)],
}

impl<'a> ResponseHead<'a> {
    /// A head with no content type, `Cache-Control: no-store`, [`Csp::Locked`], no date, no
    /// extra headers.
    pub fn new(status: Status, keep_alive: bool) -> ResponseHead<'a> {
        ResponseHead {
            status,
            keep_alive,
            content_type: None,
            cache_control: "no-store",
            csp: Csp::Locked,
            date: None,
            extra: &[],
        }
    }

    /// Appends the head for a body of `content_length` bytes (written by the caller after
    /// it, or not at all for `HEAD`). Always sent: `Content-Length` (not for 1xx and 204),
    /// `Connection`, `Cache-Control`, `X-Content-Type-Options: nosniff` and
    /// `Referrer-Policy: no-referrer`; the page also gets `X-Frame-Options: DENY`.
    pub fn write(&self, out: &mut Vec<u8>, content_length: u64) {
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\n",
            self.status.code, self.status.reason
        );
        if let Some(secs) = self.date {
            put_header(out, "Date", &http_date(secs));
        }
        if let Some(ct) = self.content_type {
            put_header(out, "Content-Type", ct);
        }
        if !self.status.forbids_body() {
            let _ = write!(out, "Content-Length: {content_length}\r\n");
        }
        let connection = if self.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        put_header(out, "Connection", connection);
        put_header(out, "Cache-Control", self.cache_control);
        put_header(out, "X-Content-Type-Options", "nosniff");
        put_header(out, "Referrer-Policy", "no-referrer");
        match self.csp {
            Csp::Page { host } => {
                put_header(out, "Content-Security-Policy", &page_csp(host));
                put_header(out, "X-Frame-Options", "DENY");
            }
            Csp::Locked => put_header(out, "Content-Security-Policy", LOCKED_CSP),
            Csp::Omit => {}
        }
        for (name, value) in self.extra {
            put_header(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends one header line. A name that is not an HTTP token is a bug in the caller and is
/// left out; control characters in the value become spaces.
fn put_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        debug_assert!(false, "bad header name {name:?}");
        return;
    }
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend(value.bytes().map(|b| {
        if b.is_ascii_control() && b != b'\t' {
            b' '
        } else {
            b
        }
    }));
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole response: `head` with `Content-Length` set to `body.len()`, then `body`
/// (left out for 1xx and 204).
pub fn write_response(out: &mut Vec<u8>, head: &ResponseHead<'_>, body: &[u8]) {
    head.write(out, body.len() as u64);
    if !head.status.forbids_body() {
        out.extend_from_slice(body);
    }
}

/// Appends a short plain-text answer: `404 Not Found`, then `detail` on a line of its own if
/// it is not empty. `extra` carries headers a status needs (`Allow` with 405, `Upgrade` with
/// 426, `Retry-After` with 503).
pub fn write_error(
    out: &mut Vec<u8>,
    status: Status,
    detail: &str,
    keep_alive: bool,
    extra: &[(&str, &str)],
) {
    let mut body = format!("{status}\n");
    if !detail.is_empty() {
        body.push_str(detail);
        body.push('\n');
    }
    let head = ResponseHead {
        content_type: Some("text/plain; charset=utf-8"),
        extra,
        ..ResponseHead::new(status, keep_alive)
    };
    write_response(out, &head, body.as_bytes());
}

/// `secs` since the Unix epoch as an HTTP date (IMF-fixdate, always GMT):
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01,
/// by the usual era arithmetic (eras of 400 years, 146 097 days, starting on March 1st).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Feeds a stream that arrives in `chunks` through [`parse_request`] the way the event loop
/// does, keeping unused bytes from one chunk to the next and reading each request's body,
/// and hands each request with its whole body to `each`, or the error that ends the stream.
/// The loop itself cannot use this (it streams bodies and stops for backpressure); tests and
/// fuzz targets use it to check that however a stream is chunked, the same requests come out.
pub fn replay(
    chunks: &[&[u8]],
    limits: &Limits,
    mut each: impl FnMut(Result<(&Request<'_>, &[u8]), HttpError>),
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut scan = HeadScan::new();
    for chunk in chunks {
        pending.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            if !scan.ready(&pending[pos..], limits) {
                break;
            }
            match parse_request(&pending[pos..], limits) {
                Ok(None) => break,
                Ok(Some((req, used))) => {
                    // A body too big for memory was refused by max_body already.
                    let body_len = usize::try_from(req.content_length).unwrap_or(usize::MAX);
                    let body_at = pos + used;
                    if pending.len() - body_at < body_len {
                        break;
                    }
                    each(Ok((&req, &pending[body_at..body_at + body_len])));
                    pos = body_at + body_len;
                    scan.reset();
                }
                Err(e) => {
                    each(Err(e));
                    return;
                }
            }
        }
        pending.drain(..pos);
        if pos > 0 {
            scan.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(head: &str) -> Result<Option<(Request<'_>, usize)>, HttpError> {
        parse_request(head.as_bytes(), &Limits::default())
    }

    fn req(head: &str) -> Request<'_> {
        match parse(head) {
            Ok(Some((r, used))) => {
                assert_eq!(used, head.len(), "{head:?}");
                r
            }
            other => panic!("{head:?} gave {other:?}"),
        }
    }

    fn err(head: &str) -> HttpError {
        match parse(head) {
            Err(e) => e,
            other => panic!("{head:?} gave {other:?}"),
        }
    }

    fn get_with(headers: &str) -> String {
        format!("GET / HTTP/1.1\r\nHost: snak.example\r\n{headers}\r\n")
    }

    #[test]
    fn a_browser_request_parses_into_its_parts() {
        let head = "GET /f/abc%20d?x=1&y=%C3%A9 HTTP/1.1\r\nHost: Snak.Example:8080\r\n\
                    User-Agent: test\r\nAccept: */*\r\n\r\n";
        let r = req(head);
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/f/abc%20d?x=1&y=%C3%A9");
        assert_eq!(r.path, "/f/abc%20d");
        assert_eq!(r.query, Some("x=1&y=%C3%A9"));
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.host, Some("Snak.Example:8080"));
        assert!(r.keep_alive);
        assert_eq!(r.content_length, 0);
        assert!(!r.upgrade_websocket && !r.connection_upgrade && !r.expect_continue);
        assert_eq!(r.header("user-agent"), Some(&b"test"[..]));
        assert_eq!(r.headers().count(), 3);
        let segs: Vec<_> = r.path_segments().collect();
        assert_eq!(segs, ["f", "abc%20d"]);
        assert_eq!(percent_decode(segs[1]).unwrap(), "abc d");
        assert_eq!(
            decode_query_value(r.query_value("y").unwrap()).unwrap(),
            "é"
        );
        assert_eq!(r.query_value("z"), None);
    }

    #[test]
    fn every_prefix_of_a_head_is_incomplete_and_pipelined_bytes_stay() {
        let head = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n";
        for n in 0..head.len() {
            assert!(matches!(parse(&head[..n]), Ok(None)), "prefix {n}");
        }
        let stream = format!("{head}abcGET / HTTP/1.1\r\nHost: h\r\n\r\n");
        let (r, used) = parse(&stream).unwrap().unwrap();
        assert_eq!(used, head.len());
        assert_eq!(r.content_length, 3);
        assert_eq!(&stream[used..used + 3], "abc");
        assert_eq!(req(&stream[used + 3..]).path, "/");
    }

    #[test]
    fn the_scan_waits_for_a_blank_line_and_looks_at_each_byte_once() {
        let limits = Limits::default();
        let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        let mut scan = HeadScan::new();
        for n in 0..head.len() {
            assert!(!scan.ready(&head[..n], &limits), "prefix {n}");
        }
        assert!(scan.ready(head, &limits));
        assert!(scan.ready(head, &limits), "stays ready until reset");
        scan.reset();
        assert!(
            scan.ready(b"GET / HTTP/1.0\n\n", &limits),
            "bare LFs end a head too"
        );
        let mut scan = HeadScan::new();
        let big = vec![b'a'; limits.max_head];
        assert!(!scan.ready(&big[..limits.max_head - 1], &limits));
        assert!(
            scan.ready(&big, &limits),
            "at the limit parse_request refuses it"
        );
        // The scan only looks at new bytes: what it saw before is never searched again.
        let mut scan = HeadScan::new();
        assert!(!scan.ready(b"GET / HTTP/1.1\r\nX: \n", &limits));
        assert_eq!(scan.scanned, 20);
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let r = req("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(r.path, "/x");
    }

    #[test]
    fn the_head_limit_answers_431_or_414() {
        let limits = Limits {
            max_head: 64,
            ..Limits::default()
        };
        let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "a".repeat(60));
        assert_eq!(
            parse_request(big.as_bytes(), &limits).unwrap_err(),
            HttpError::HeadTooLarge
        );
        // Incomplete and below the limit: wait.
        assert!(matches!(
            parse_request(&big.as_bytes()[..63], &limits),
            Ok(None)
        ));
        let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(80));
        let e = parse_request(long_line.as_bytes(), &limits).unwrap_err();
        assert_eq!(e, HttpError::TargetTooLong);
        assert_eq!(e.status().code, 414);
        assert_eq!(HttpError::HeadTooLarge.status().code, 431);
        // A head of exactly max_head bytes fits.
        let exact = format!(
            "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
            "a".repeat(64 - 32)
        );
        assert_eq!(exact.len(), 64);
        assert!(parse_request(exact.as_bytes(), &limits).unwrap().is_some());
    }

    #[test]
    fn header_count_is_bounded() {
        let lines = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
        assert!(req(&get_with(&lines(MAX_HEADERS - 1)))
            .header("x-0")
            .is_some());
        let e = err(&get_with(&lines(MAX_HEADERS)));
        assert_eq!((e, e.status().code), (HttpError::TooManyHeaders, 431));
    }

    #[test]
    fn a_long_target_is_414() {
        let limits = Limits::default();
        let target = format!("/{}", "a".repeat(limits.max_target));
        let e = err(&format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!(e, HttpError::TargetTooLong);
        let ok = format!(
            "GET {} HTTP/1.1\r\nHost: h\r\n\r\n",
            &target[..limits.max_target]
        );
        assert_eq!(req(&ok).path.len(), limits.max_target);
    }

    #[test]
    fn only_http_1_0_and_1_1_are_spoken() {
        assert_eq!(err("GET / HTTP/2.0\r\nHost: h\r\n\r\n").status().code, 505);
        assert_eq!(err("GET / HTTP/1.2\r\nHost: h\r\n\r\n").status().code, 505);
        assert_eq!(err("GET / FTP/1.1\r\nHost: h\r\n\r\n").status().code, 400);
        assert_eq!(err("GET /\r\n\r\n").status().code, 400);
        assert_eq!(err("GET  / HTTP/1.1\r\nHost: h\r\n\r\n").status().code, 400);
        assert_eq!(err("GE(T / HTTP/1.1\r\nHost: h\r\n\r\n").status().code, 400);
        // Decided on what comes before the bad byte, so a slow client gets the same answer.
        let line = b"GET /x HTTP/0555$ J\r\n\r\n";
        let whole = drive(&[line], &Limits::default());
        assert_eq!(whole, [HttpError::Version.to_string()]);
        let bytes: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(drive(&bytes, &Limits::default()), whole);
        let r = req("GET / HTTP/1.0\r\n\r\n");
        assert_eq!(
            (r.version, r.host, r.keep_alive),
            (Version::Http10, None, false)
        );
    }

    #[test]
    fn host_is_required_once_and_valid() {
        assert_eq!(
            err("GET / HTTP/1.1\r\n\r\n"),
            HttpError::Malformed("missing Host")
        );
        let two = get_with("Host: other\r\n");
        assert_eq!(err(&two), HttpError::Malformed("more than one Host"));
        for bad in [
            "", "a b", "a/b", "a@b", "h:", "h:123456", "h:x", "[::1", "[zz]:1", "a;b", "[]",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(err(&head).status().code, 400, "{bad:?}");
        }
        for good in [
            "h",
            "h:1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[::1]",
            "a-b.c_d~",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert_eq!(req(&head).host, Some(good));
        }
    }

    #[test]
    fn targets_in_absolute_and_asterisk_form() {
        let r = req("GET http://Snak.example:81/a?b HTTP/1.1\r\nHost: ignored\r\n\r\n");
        assert_eq!(
            (r.host, r.path, r.query),
            (Some("Snak.example:81"), "/a", Some("b"))
        );
        let r = req("GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((r.path, r.query), ("/", None));
        assert_eq!(req("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").path, "*");
        for bad in [
            "*",
            "a/b",
            "http://a b/",
            "http://@h/",
            "/a#frag",
            "ftp://h/",
            "/\u{e9}",
        ] {
            let head = format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n");
            assert_eq!(err(&head).status().code, 400, "{bad:?}");
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let cases = [
            ("1.1", "", true),
            ("1.1", "Connection: close\r\n", false),
            ("1.1", "Connection: keep-alive\r\n", true),
            ("1.1", "Connection: Keep-Alive, Close\r\n", false),
            ("1.0", "", false),
            ("1.0", "Connection: keep-alive\r\n", true),
            (
                "1.0",
                "Connection: keep-alive\r\nConnection: close\r\n",
                false,
            ),
        ];
        for (v, h, keep) in cases {
            let head = format!("GET / HTTP/{v}\r\nHost: h\r\n{h}\r\n");
            assert_eq!(req(&head).keep_alive, keep, "{head:?}");
        }
    }

    #[test]
    fn content_length_is_strict() {
        assert_eq!(
            req(&get_with("Content-Length: 0042\r\n")).content_length,
            42
        );
        assert_eq!(req(&get_with("Content-Length:  7 \r\n")).content_length, 7);
        for bad in ["", "+5", "-1", "5,5", "5 5", "0x10", "1e3", "\u{663}"] {
            let e = err(&get_with(&format!("Content-Length: {bad}\r\n")));
            assert_eq!(e.status().code, 400, "{bad:?}");
        }
        let two = get_with("Content-Length: 1\r\nContent-Length: 1\r\n");
        assert_eq!(
            err(&two),
            HttpError::Malformed("more than one Content-Length")
        );
        let max = Limits::default().max_body;
        assert_eq!(
            req(&get_with(&format!("Content-Length: {max}\r\n"))).content_length,
            max
        );
        for big in [format!("{}", max + 1), "99999999999999999999999".into()] {
            let e = err(&get_with(&format!("Content-Length: {big}\r\n")));
            assert_eq!((e, e.status().code), (HttpError::BodyTooLarge, 413));
        }
    }

    #[test]
    fn transfer_encoding_is_refused() {
        let e = err(&get_with("Transfer-Encoding: chunked\r\n"));
        assert_eq!((e, e.status().code), (HttpError::TransferEncoding, 501));
        let both = get_with("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n");
        assert_eq!(err(&both).status().code, 400);
        let old = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(err(old).status().code, 400);
    }

    #[test]
    fn expect_100_continue_only() {
        assert!(req(&get_with("Expect: 100-Continue\r\n")).expect_continue);
        assert!(!req("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        assert_eq!(err(&get_with("Expect: 200-ok\r\n")).status().code, 417);
    }

    #[test]
    fn websocket_headers_are_taken_in() {
        let head = get_with(
            "Upgrade: h2c, WebSocket/13\r\nConnection: keep-alive, Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: text.ircv3.net, ,binary.ircv3.net\r\n\
             Sec-WebSocket-Protocol: snak.native\r\nOrigin: http://snak.example\r\n",
        );
        let r = req(&head);
        assert!(r.upgrade_websocket && r.connection_upgrade);
        assert_eq!(r.ws_key, Some("dGhlIHNhbXBsZSBub25jZQ=="));
        assert_eq!(r.ws_version, Some("13"));
        assert_eq!(r.origin, Some("http://snak.example"));
        let protocols: Vec<_> = r.ws_protocols().collect();
        assert_eq!(
            protocols,
            ["text.ircv3.net", "binary.ircv3.net", "snak.native"]
        );
        for dup in [
            "Origin: a\r\nOrigin: b\r\n",
            "Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: a\r\n",
        ] {
            assert_eq!(err(&get_with(dup)).status().code, 400, "{dup:?}");
        }
        let head = get_with("Upgrade: websocket\r\n");
        let upgrade_only = req(&head);
        assert!(upgrade_only.upgrade_websocket && !upgrade_only.connection_upgrade);
    }

    #[test]
    fn header_syntax_errors_are_400() {
        for bad in [
            "Bad Name: x\r\n",
            "X: a\rb\r\n",
            " X: folded\r\n",
            "X:\x00\r\n",
            "Host: h\x7f\r\n",
        ] {
            assert_eq!(err(&get_with(bad)).status().code, 400, "{bad:?}");
        }
        // Other headers may carry any bytes HTTP allows, obs-text included.
        let r = parse_request(
            b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xe9\r\n\r\n",
            &Limits::default(),
        );
        assert_eq!(r.unwrap().unwrap().0.header("x"), Some(&b"caf\xe9"[..]));
    }

    #[test]
    fn percent_decoding_refuses_what_cannot_be_a_name() {
        assert!(matches!(
            percent_decode("plain"),
            Ok(Cow::Borrowed("plain"))
        ));
        assert_eq!(percent_decode("a%2Fb+c%7e").unwrap(), "a/b+c~");
        assert_eq!(decode_query_value("a+b%2B").unwrap(), "a b+");
        assert_eq!(percent_decode("%F0%9F%A6%80").unwrap(), "\u{1F980}");
        for (bad, why) in [
            ("%", DecodeError::BadEscape),
            ("%4", DecodeError::BadEscape),
            ("%zz", DecodeError::BadEscape),
            ("%C3", DecodeError::BadUtf8),
            ("%FF", DecodeError::BadUtf8),
            ("%00", DecodeError::ControlChar),
            ("a%0Db", DecodeError::ControlChar),
            ("%7F", DecodeError::ControlChar),
            ("\t", DecodeError::ControlChar),
        ] {
            assert_eq!(percent_decode(bad), Err(why), "{bad:?}");
        }
        assert_eq!(DecodeError::BadUtf8.status().code, 400);
        assert_eq!(
            query_pairs("a=1&&b&c=").collect::<Vec<_>>(),
            [("a", "1"), ("b", ""), ("c", "")]
        );
        assert_eq!(path_segments("/").collect::<Vec<_>>(), [""]);
        assert_eq!(
            path_segments("/a//b/").collect::<Vec<_>>(),
            ["a", "", "b", ""]
        );
    }

    #[test]
    fn the_default_origin_is_the_servers_own() {
        let none: &[String] = &[];
        let ok = |origin, host| origin_allowed(Some(origin), none, Some(host));
        assert!(
            origin_allowed(None, none, Some("h:8080")),
            "non-browser clients"
        );
        assert!(ok("http://h:8080", "h:8080"));
        assert!(ok("https://H:8080", "h:8080"));
        assert!(ok("http://h", "h:80"));
        assert!(ok("https://h", "h"));
        assert!(ok("http://h:80", "h"));
        assert!(ok("http://[::1]:8080", "[::1]:8080"));
        assert!(ok("http://127.0.0.1:8080", "127.0.0.1:8080"));
        assert!(
            !ok("http://h:8081", "h:8080"),
            "another port is another party"
        );
        assert!(!ok("http://evil.example:8080", "h:8080"));
        assert!(!ok("http://h.evil:8080", "h:8080"));
        assert!(!ok("https://h", "h:80"));
        assert!(!ok("http://h:8080/", "h:8080"), "an origin has no path");
        assert!(!ok("ws://h:8080", "h:8080"));
        assert!(!ok("null", "h:8080"));
        assert!(!ok("garbage", "h:8080"));
        assert!(!origin_allowed(Some("http://h"), none, None));
    }

    #[test]
    fn web_origin_adds_origins() {
        let allowed = vec![
            "https://Chat.Example".to_string(),
            "http://dev:3000".to_string(),
        ];
        let ok = |origin| origin_allowed(Some(origin), &allowed, Some("snak:8080"));
        assert!(ok("https://chat.example"));
        assert!(ok("https://chat.example:443"));
        assert!(ok("http://dev:3000"));
        assert!(
            ok("http://snak:8080"),
            "the server's own page keeps working"
        );
        assert!(
            !ok("http://chat.example"),
            "the scheme counts for listed origins"
        );
        assert!(!ok("https://chat.example:8443"));
        assert!(!ok("null"));
        let any = vec!["*".to_string()];
        assert!(origin_allowed(Some("http://anything"), &any, Some("snak")));
        let null = vec!["null".to_string()];
        assert!(origin_allowed(Some("null"), &null, Some("snak")));
        for v in ["*", "null", "http://h", "https://h:1", "http://[::1]:2"] {
            assert!(valid_origin(v), "{v}");
        }
        for v in ["h", "http://h/", "ftp://h", "http://", "http://h:x", ""] {
            assert!(!valid_origin(v), "{v}");
        }
    }

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn an_error_answer_is_short_text_with_every_header() {
        let mut out = Vec::new();
        write_error(&mut out, Status::NOT_FOUND, "no such page", true, &[]);
        assert_eq!(
            text(&out),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 27\r\nConnection: keep-alive\r\nCache-Control: no-store\r\n\
             X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n\
             Content-Security-Policy: default-src 'none'; frame-ancestors 'none'; sandbox\r\n\
             \r\n404 Not Found\nno such page\n"
        );
        let mut out = Vec::new();
        HttpError::TransferEncoding.write_response(&mut out);
        let s = text(&out);
        assert!(s.starts_with("HTTP/1.1 501 Not Implemented\r\n"), "{s}");
        assert!(s.contains("\r\nConnection: close\r\n"), "{s}");
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}\r\n", body.len())),
            "{s}"
        );
    }

    #[test]
    fn every_listed_status_has_its_answer() {
        let statuses = [
            (Status::BAD_REQUEST, 400),
            (Status::NOT_FOUND, 404),
            (Status::METHOD_NOT_ALLOWED, 405),
            (Status::REQUEST_TIMEOUT, 408),
            (Status::CONTENT_TOO_LARGE, 413),
            (Status::URI_TOO_LONG, 414),
            (Status::UPGRADE_REQUIRED, 426),
            (Status::HEADER_FIELDS_TOO_LARGE, 431),
            (Status::NOT_IMPLEMENTED, 501),
            (Status::SERVICE_UNAVAILABLE, 503),
        ];
        for (status, code) in statuses {
            let mut out = Vec::new();
            write_error(&mut out, status, "", false, &[("Retry-After", "5")]);
            let s = text(&out);
            assert!(
                s.starts_with(&format!("HTTP/1.1 {code} {}\r\n", status.reason)),
                "{s}"
            );
            assert!(
                s.ends_with(&format!("\r\n\r\n{code} {}\n", status.reason)),
                "{s}"
            );
            assert!(s.contains("\r\nRetry-After: 5\r\n"), "{s}");
        }
    }

    #[test]
    fn the_page_gets_its_policy() {
        let mut out = Vec::new();
        let head = ResponseHead {
            content_type: Some("text/html; charset=utf-8"),
            cache_control: "no-cache",
            csp: Csp::Page {
                host: Some("snak.example:8080"),
            },
            date: Some(784_111_777),
            ..ResponseHead::new(Status::OK, true)
        };
        write_response(&mut out, &head, b"<!doctype html>");
        let s = text(&out);
        assert!(
            s.starts_with("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{s}"
        );
        assert!(s.contains("\r\nContent-Length: 15\r\n"), "{s}");
        assert!(s.contains("\r\nCache-Control: no-cache\r\n"), "{s}");
        assert!(s.contains("\r\nX-Frame-Options: DENY\r\n"), "{s}");
        let csp = s
            .lines()
            .find_map(|l| l.strip_prefix("Content-Security-Policy: "))
            .unwrap();
        assert!(
            csp.starts_with(
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline';"
            ),
            "{csp}"
        );
        assert!(
            csp.contains("connect-src 'self' ws://snak.example:8080 wss://snak.example:8080;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(s.ends_with("\r\n\r\n<!doctype html>"), "{s}");
        // A host that could break the policy is left out of it.
        assert!(page_csp(Some("a; script-src *")).contains("connect-src 'self';"));
    }

    #[test]
    fn heads_without_bodies_and_hostile_header_values() {
        let mut out = Vec::new();
        ResponseHead::new(Status::OK, false).write(&mut out, 1234);
        assert!(
            text(&out).contains("Content-Length: 1234\r\n"),
            "HEAD keeps the length"
        );
        assert!(!text(&out).contains("\r\nContent-Type:"));
        let mut out = Vec::new();
        write_response(
            &mut out,
            &ResponseHead::new(Status::NO_CONTENT, true),
            b"dropped",
        );
        assert!(!text(&out).contains("Content-Length"));
        assert!(text(&out).ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        let extra = [(
            "Content-Disposition",
            "attachment; filename=\"a\r\nSet-Cookie: x\"",
        )];
        let head = ResponseHead {
            extra: &extra,
            csp: Csp::Omit,
            ..ResponseHead::new(Status::OK, true)
        };
        write_response(&mut out, &head, b"");
        let s = text(&out);
        assert!(s.contains("filename=\"a  Set-Cookie: x\"\r\n"), "{s}");
        assert!(
            !s.contains("\nSet-Cookie") && !s.contains("Content-Security-Policy"),
            "{s}"
        );
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(http_date(4_107_542_400), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    /// What a connection makes of a stream: each request (its head fields and body) or the
    /// error that ends it.
    fn drive(chunks: &[&[u8]], limits: &Limits) -> Vec<String> {
        let mut out = Vec::new();
        replay(chunks, limits, |got| {
            out.push(match got {
                Ok((r, body)) => format!("{r:?} {body:?}"),
                Err(e) => format!("{e}"),
            })
        });
        out
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

    /// Request-like streams: mostly valid requests with bodies, pipelined, and now and then
    /// a broken line, a refused header or junk, which ends the stream.
    fn stream() -> impl Strategy<Value = Vec<u8>> {
        let header = prop_oneof![
            8 => Just("Connection: keep-alive, Upgrade\r\n".to_string()),
            8 => Just("Upgrade: websocket\r\n".to_string()),
            8 => Just("Expect: 100-continue\r\n".to_string()),
            8 => Just("Origin: http://h\r\n".to_string()),
            8 => "Sec-WebSocket-Protocol: [a-z.]{0,12}\r\n",
            20 => "X-[A-Za-z-]{1,10}: [ -~]{0,20}\r\n",
            1 => Just("Host: h\r\n".to_string()),
            1 => Just("Connection: close\r\n".to_string()),
            1 => Just("Transfer-Encoding: chunked\r\n".to_string()),
            1 => "Content-Length: [0-9]{1,3}\r\n",
            1 => "[ -~]{0,20}\r?\n",
        ];
        let request = (
            prop_oneof![9 => "(GET|POST|HEAD)", 1 => "[A-Z(]{1,5}"],
            prop_oneof![9 => "/[a-z%0-9?=&]{0,20}", 1 => "(\\*|http://h/x|[ -~]{0,8})"],
            prop_oneof![9 => "HTTP/1\\.[01]", 1 => "[A-Z/0-9.]{0,8}"],
            prop::collection::vec(header, 0..5),
            prop::collection::vec(any::<u8>(), 0..40),
            prop::bool::weighted(0.95),
            prop_oneof![Just("\r\n"), Just("\n")],
        )
            .prop_map(|(m, t, v, hs, body, host, end)| {
                let mut s = format!("{m} {t} {v}{end}").into_bytes();
                if host {
                    s.extend_from_slice(b"Host: h\r\n");
                }
                let mut has_length = false;
                for h in hs {
                    has_length |= h.starts_with("Content-Length");
                    s.extend(h.into_bytes());
                }
                if !has_length && !body.is_empty() {
                    s.extend(format!("Content-Length: {}\r\n", body.len()).into_bytes());
                }
                s.extend_from_slice(end.as_bytes());
                s.extend(body);
                s
            });
        let part = prop_oneof![
            20 => request,
            1 => prop::collection::vec(any::<u8>(), 0..60),
        ];
        prop::collection::vec(part, 0..6).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn chunking_never_changes_what_is_parsed(
            data in stream(),
            cuts in prop::collection::vec(any::<usize>(), 0..12),
            max_head in 40usize..400,
        ) {
            let limits = Limits { max_head, max_target: 64, max_body: 100 };
            let whole = drive(&[&data], &limits);
            prop_assert_eq!(drive(&cut(&data, &cuts), &limits), whole.clone());
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            prop_assert_eq!(drive(&bytes, &limits), whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..1000)) {
            let _ = parse_request(&data, &Limits::default());
            let _ = drive(&[&data], &Limits { max_head: 100, max_target: 20, max_body: 10 });
            if let Ok(s) = std::str::from_utf8(&data) {
                let _ = percent_decode(s);
                let _ = decode_query_value(s);
                let _ = origin_allowed(Some(s), &["*x".into()], Some(s));
            }
        }

        #[test]
        fn decoding_undoes_percent_encoding(s in "\\PC{0,30}") {
            let encoded: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            let decoded = percent_decode(&encoded);
            prop_assert_eq!(decoded.as_deref(), Ok(s.as_str()));
        }

        #[test]
        fn response_heads_are_well_formed(
            value in "[\\x00-\\x7f]{0,40}",
            len in any::<u64>(),
            keep in any::<bool>(),
        ) {
            let mut out = Vec::new();
            let extra = [("X-Value", value.as_str())];
            let head = ResponseHead { extra: &extra, ..ResponseHead::new(Status::OK, keep) };
            head.write(&mut out, len);
            let s = std::str::from_utf8(&out).unwrap();
            let (head, rest) = s.split_once("\r\n\r\n").unwrap();
            prop_assert_eq!(rest, "");
            for line in head.split("\r\n") {
                prop_assert!(!line.contains(['\r', '\n']), "{:?}", line);
            }
            prop_assert_eq!(head.split("\r\n").count(), 8);
        }
    }
}

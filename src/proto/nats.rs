//! The NATS client protocol (<https://docs.nats.io/reference/protocols/client>), pure: an
//! incremental parser of what a server sends (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`,
//! `-ERR`) and writers of what a client sends (`CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`,
//! `PING`, `PONG`) into a `Vec<u8>`. No I/O, no clock.
//!
//! **Parsing.** [`parse`] looks at the start of the connection's input buffer and returns one
//! [`ServerOp`] and how many bytes it used, `Ok(None)` when the operation is not all there yet,
//! or a [`ParseError`]. It keeps no state between calls, so however the stream is chunked the
//! operations are the same. Every size is checked before anything waits for it: a control
//! line longer than [`Limits::max_control_line`], a message larger than the server's
//! `max_payload` (from its `INFO`: [`Limits::max_payload`]) or a header block larger than
//! [`Limits::max_header`] is an error at once, not a buffer that grows. An error means the
//! stream can no longer be framed: the caller drops the connection (and reconnects).
//!
//! Operation names are case-insensitive and fields are separated by any run of spaces and
//! tabs (nats-server writes `MSG subject 1  26` with an empty reply field).
//!
//! **Writing.** The writers validate subjects ([`subject`]) and headers ([`headers`]) and write
//! nothing on error. Payload size against `max_payload` is the caller's check (it knows the
//! server's `INFO`).
//!
//! ```
//! use snak::proto::nats::{self, Headers, Limits, ServerOp};
//!
//! let mut input = b"INFO {\"server_id\":\"x\",\"max_payload\":1024,\"headers\":true}\r\n".to_vec();
//! input.extend_from_slice(b"HMSG room.a 7 21 26\r\nNATS/1.0\r\nSeq: 41\r\n\r\nhello\r\nPI");
//! let mut limits = Limits::default();
//! let mut pos = 0;
//! while let Some((op, used)) = nats::parse(&input[pos..], &limits).unwrap() {
//!     match op {
//!         ServerOp::Info(info) => limits.max_payload = info.max_payload,
//!         ServerOp::Msg(m) => {
//!             assert_eq!((m.subject, m.sid, m.payload), ("room.a", 7, &b"hello"[..]));
//!             assert_eq!(m.headers.as_ref().and_then(|h| h.get("Seq")), Some("41"));
//!         }
//!         other => panic!("{other:?}"),
//!     }
//!     pos += used;
//! }
//! assert_eq!(&input[pos..], b"PI"); // the rest waits for more bytes
//!
//! let mut out = Vec::new();
//! let mut h = Headers::new();
//! h.insert("Seq", "42").unwrap();
//! nats::write_hpub(&mut out, "room.a", None, &h, b"hi").unwrap();
//! assert_eq!(out, b"HPUB room.a 21 23\r\nNATS/1.0\r\nSeq: 42\r\n\r\nhi\r\n");
//! ```

use std::fmt;

pub mod headers;
pub mod subject;

#[cfg(test)]
mod tests;

pub use headers::{HeaderError, Headers};
pub use subject::SubjectError;

/// nats-server's default `max_payload`; the real one comes with `INFO`.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;
/// The largest header block accepted by default.
pub const DEFAULT_MAX_HEADER: usize = 16 * 1024;
/// The longest control line accepted by default (an `INFO` from a large cluster lists every
/// server's address, so this is well above the 4 KiB a server accepts from clients).
pub const DEFAULT_MAX_CONTROL_LINE: usize = 64 * 1024;

/// What the parser accepts at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header and payload of one message together (the server's `max_payload`).
    pub max_payload: usize,
    pub max_header: usize,
    /// A control line without its CRLF.
    pub max_control_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_header: DEFAULT_MAX_HEADER,
            max_control_line: DEFAULT_MAX_CONTROL_LINE,
        }
    }
}

/// The server's `INFO`, the fields a client uses. Unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    pub server_id: String,
    pub server_name: String,
    pub version: String,
    pub proto: i64,
    pub max_payload: usize,
    pub headers: bool,
    pub jetstream: bool,
    pub auth_required: bool,
    pub tls_required: bool,
    /// Other servers of the cluster a client may connect to (`host:port`).
    pub connect_urls: Vec<String>,
    /// The server is in lame duck mode: it will close connections soon.
    pub lame_duck: bool,
    pub client_id: u64,
}

/// A message delivered to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg<'a> {
    pub subject: &'a str,
    pub sid: u64,
    pub reply: Option<&'a str>,
    /// Present for `HMSG`.
    pub headers: Option<Headers>,
    pub payload: &'a [u8],
}

/// One operation from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOp<'a> {
    Info(Info),
    Msg(Msg<'a>),
    Ping,
    Pong,
    Ok,
    /// `-ERR 'text'`, the text without its quotes.
    Err(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    ControlLineTooLong {
        limit: usize,
    },
    NotUtf8,
    /// The first word of the line is no server operation (shown escaped, at most 32 bytes).
    UnknownOp(String),
    /// Too few or too many fields for the operation.
    Fields {
        op: &'static str,
    },
    BadNumber {
        op: &'static str,
    },
    BadSubject(SubjectError),
    /// Header and payload together are over `max_payload`.
    PayloadTooLarge {
        size: u64,
        limit: usize,
    },
    HeaderTooLarge {
        size: u64,
        limit: usize,
    },
    /// `HMSG` whose header size is larger than its total size.
    HeaderOverTotal,
    /// The payload is not followed by CRLF.
    NoCrlfAfterPayload,
    Headers(HeaderError),
    /// `INFO` that is not a JSON object of the expected shape.
    BadInfo(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::ControlLineTooLong { limit } => {
                write!(f, "control line longer than {limit} bytes")
            }
            ParseError::NotUtf8 => f.write_str("control line is not UTF-8"),
            ParseError::UnknownOp(op) => write!(f, "unknown operation {op}"),
            ParseError::Fields { op } => write!(f, "wrong number of fields in {op}"),
            ParseError::BadNumber { op } => write!(f, "bad number in {op}"),
            ParseError::BadSubject(e) => write!(f, "bad subject: {e}"),
            ParseError::PayloadTooLarge { size, limit } => {
                write!(f, "message of {size} bytes (max_payload {limit})")
            }
            ParseError::HeaderTooLarge { size, limit } => {
                write!(f, "header block of {size} bytes (at most {limit})")
            }
            ParseError::HeaderOverTotal => f.write_str("header size larger than total size"),
            ParseError::NoCrlfAfterPayload => f.write_str("payload not followed by CRLF"),
            ParseError::Headers(e) => write!(f, "headers: {e}"),
            ParseError::BadInfo(e) => write!(f, "INFO: {e}"),
        }
    }
}

impl std::error::Error for ParseError {}

fn number(field: &str, op: &'static str) -> Result<u64, ParseError> {
    if field.is_empty() || field.len() > 19 || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::BadNumber { op });
    }
    field.parse().map_err(|_| ParseError::BadNumber { op })
}

fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split([' ', '\t']).filter(|f| !f.is_empty())
}

/// The next operation at the start of `buf` and the bytes it used, or `Ok(None)` if it is not
/// all there yet.
pub fn parse<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<(ServerOp<'a>, usize)>, ParseError> {
    let scan = buf.len().min(limits.max_control_line + 2);
    let Some(nl) = buf[..scan].iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_control_line + 1 {
            return Err(ParseError::ControlLineTooLong {
                limit: limits.max_control_line,
            });
        }
        return Ok(None);
    };
    let raw = &buf[..nl];
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.len() > limits.max_control_line {
        return Err(ParseError::ControlLineTooLong {
            limit: limits.max_control_line,
        });
    }
    let line = std::str::from_utf8(raw).map_err(|_| ParseError::NotUtf8)?;
    let after = nl + 1;
    let (op, rest) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    let simple = |op: ServerOp<'a>| -> Result<Option<(ServerOp<'a>, usize)>, ParseError> {
        Ok(Some((op, after)))
    };
    if op.eq_ignore_ascii_case("MSG") {
        msg(buf, after, rest, false, limits)
    } else if op.eq_ignore_ascii_case("HMSG") {
        msg(buf, after, rest, true, limits)
    } else if op.eq_ignore_ascii_case("PING") && rest.trim().is_empty() {
        simple(ServerOp::Ping)
    } else if op.eq_ignore_ascii_case("PONG") && rest.trim().is_empty() {
        simple(ServerOp::Pong)
    } else if op.eq_ignore_ascii_case("+OK") && rest.trim().is_empty() {
        simple(ServerOp::Ok)
    } else if op.eq_ignore_ascii_case("-ERR") {
        let text = rest.trim();
        let text = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .unwrap_or(text);
        simple(ServerOp::Err(text))
    } else if op.eq_ignore_ascii_case("INFO") {
        simple(ServerOp::Info(parse_info(rest)?))
    } else {
        let shown: String = op.chars().take(32).flat_map(char::escape_default).collect();
        Err(ParseError::UnknownOp(shown))
    }
}

/// `MSG <subject> <sid> [reply] <size>` or `HMSG <subject> <sid> [reply] <hsize> <size>`,
/// then the bytes and CRLF.
fn msg<'a>(
    buf: &'a [u8],
    start: usize,
    rest: &'a str,
    with_headers: bool,
    limits: &Limits,
) -> Result<Option<(ServerOp<'a>, usize)>, ParseError> {
    let op = if with_headers { "HMSG" } else { "MSG" };
    let mut f = [""; 5];
    let mut n = 0;
    for field in fields(rest) {
        if n == f.len() {
            return Err(ParseError::Fields { op });
        }
        f[n] = field;
        n += 1;
    }
    let sizes = if with_headers { 2 } else { 1 };
    let (subject, sid, reply, sizes) = match n.checked_sub(sizes) {
        Some(2) => (f[0], f[1], None, &f[2..n]),
        Some(3) => (f[0], f[1], Some(f[2]), &f[3..n]),
        _ => return Err(ParseError::Fields { op }),
    };
    subject::check_received(subject).map_err(ParseError::BadSubject)?;
    if let Some(reply) = reply {
        subject::check_received(reply).map_err(ParseError::BadSubject)?;
    }
    let sid = number(sid, op)?;
    let total = number(sizes[sizes.len() - 1], op)?;
    let header_len = if with_headers {
        number(sizes[0], op)?
    } else {
        0
    };
    if total > limits.max_payload as u64 {
        return Err(ParseError::PayloadTooLarge {
            size: total,
            limit: limits.max_payload,
        });
    }
    if header_len > total {
        return Err(ParseError::HeaderOverTotal);
    }
    if header_len > limits.max_header as u64 {
        return Err(ParseError::HeaderTooLarge {
            size: header_len,
            limit: limits.max_header,
        });
    }
    // Both are at most max_payload now, so they fit in usize.
    let (total, header_len) = (total as usize, header_len as usize);
    let end = start + total;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(ParseError::NoCrlfAfterPayload);
    }
    let headers = if with_headers {
        Some(Headers::parse(&buf[start..start + header_len]).map_err(ParseError::Headers)?)
    } else {
        None
    };
    let m = Msg {
        subject,
        sid,
        reply,
        headers,
        payload: &buf[start + header_len..end],
    };
    Ok(Some((ServerOp::Msg(m), end + 2)))
}

fn parse_info(json: &str) -> Result<Info, ParseError> {
    let value: serde_json::Value =
        serde_json::from_str(json.trim()).map_err(|e| ParseError::BadInfo(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ParseError::BadInfo("not a JSON object".into()))?;
    let text = |k: &str| {
        obj.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let flag = |k: &str| obj.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let max_payload = match obj.get("max_payload") {
        None => DEFAULT_MAX_PAYLOAD,
        Some(v) => v
            .as_u64()
            .filter(|&n| n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ParseError::BadInfo("max_payload is not a positive number".into()))?,
    };
    let connect_urls = match obj.get("connect_urls") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(urls)) => urls
            .iter()
            .filter_map(|u| u.as_str())
            .map(str::to_string)
            .collect(),
        Some(_) => return Err(ParseError::BadInfo("connect_urls is not a list".into())),
    };
    Ok(Info {
        server_id: text("server_id"),
        server_name: text("server_name"),
        version: text("version"),
        proto: obj.get("proto").and_then(|v| v.as_i64()).unwrap_or(0),
        max_payload,
        headers: flag("headers"),
        jetstream: flag("jetstream"),
        auth_required: flag("auth_required"),
        tls_required: flag("tls_required"),
        connect_urls,
        lame_duck: flag("ldm"),
        client_id: obj.get("client_id").and_then(|v| v.as_u64()).unwrap_or(0),
    })
}

// ---- writing ----

/// What a writer refused (it wrote nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    Subject(SubjectError),
    Reply(SubjectError),
    /// A queue group name must be one token of a subject.
    Queue,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Subject(e) => write!(f, "subject: {e}"),
            WriteError::Reply(e) => write!(f, "reply subject: {e}"),
            WriteError::Queue => f.write_str("bad queue group name"),
        }
    }
}

impl std::error::Error for WriteError {}

/// The `CONNECT` options a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect<'a> {
    /// `+OK` after every operation: off for anything but debugging.
    pub verbose: bool,
    pub pedantic: bool,
    /// Receive `HMSG` (needed for JetStream).
    pub headers: bool,
    /// A request nobody listens to is answered with status 503 at once (needs headers).
    pub no_responders: bool,
    /// Deliver this connection's own publishes to its own subscriptions.
    pub echo: bool,
    pub name: &'a str,
    pub user: Option<&'a str>,
    pub pass: Option<&'a str>,
    pub auth_token: Option<&'a str>,
}

impl Default for Connect<'_> {
    fn default() -> Self {
        Connect {
            verbose: false,
            pedantic: false,
            headers: true,
            no_responders: true,
            echo: true,
            name: "",
            user: None,
            pass: None,
            auth_token: None,
        }
    }
}

pub fn write_connect(out: &mut Vec<u8>, c: &Connect<'_>) {
    let mut obj = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        obj.insert(k.to_string(), v);
    };
    put("verbose", c.verbose.into());
    put("pedantic", c.pedantic.into());
    put("tls_required", false.into());
    put("headers", c.headers.into());
    put("no_responders", (c.no_responders && c.headers).into());
    put("echo", c.echo.into());
    put("lang", "rust".into());
    put("version", env!("CARGO_PKG_VERSION").into());
    put("protocol", 1.into());
    if !c.name.is_empty() {
        put("name", c.name.into());
    }
    if let Some(u) = c.user {
        put("user", u.into());
    }
    if let Some(p) = c.pass {
        put("pass", p.into());
    }
    if let Some(t) = c.auth_token {
        put("auth_token", t.into());
    }
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(serde_json::Value::Object(obj).to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn check_pub(subject: &str, reply: Option<&str>) -> Result<(), WriteError> {
    subject::check_publish(subject).map_err(WriteError::Subject)?;
    if let Some(r) = reply {
        subject::check_publish(r).map_err(WriteError::Reply)?;
    }
    Ok(())
}

fn push_num(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `PUB subject [reply] size` and the payload.
pub fn write_pub(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    payload: &[u8],
) -> Result<(), WriteError> {
    check_pub(subject, reply)?;
    out.extend_from_slice(b"PUB ");
    out.extend_from_slice(subject.as_bytes());
    if let Some(r) = reply {
        out.push(b' ');
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b' ');
    push_num(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `HPUB subject [reply] header-size total-size`, the header block and the payload.
pub fn write_hpub(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    headers: &Headers,
    payload: &[u8],
) -> Result<(), WriteError> {
    check_pub(subject, reply)?;
    let hlen = headers.encoded_len();
    out.extend_from_slice(b"HPUB ");
    out.extend_from_slice(subject.as_bytes());
    if let Some(r) = reply {
        out.push(b' ');
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b' ');
    push_num(out, hlen as u64);
    out.push(b' ');
    push_num(out, (hlen + payload.len()) as u64);
    out.extend_from_slice(b"\r\n");
    headers.write(out);
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// The bytes [`write_hpub`] (or [`write_pub`] when `headers` is None) writes, for a buffer
/// limit checked before writing.
pub fn pub_len(
    subject: &str,
    reply: Option<&str>,
    headers: Option<&Headers>,
    payload: usize,
) -> usize {
    let reply = reply.map_or(0, |r| r.len() + 1);
    let head = headers.map_or(0, Headers::encoded_len);
    // "HPUB " + subject + reply + two numbers of at most 20 digits + CRLFs.
    5 + subject.len() + reply + 42 + 2 + head + payload + 2
}

/// `SUB subject [queue] sid`.
pub fn write_sub(
    out: &mut Vec<u8>,
    subject: &str,
    queue: Option<&str>,
    sid: u64,
) -> Result<(), WriteError> {
    subject::check_subscribe(subject).map_err(WriteError::Subject)?;
    if let Some(q) = queue {
        if q.contains('.') || subject::check_publish(q).is_err() {
            return Err(WriteError::Queue);
        }
    }
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject.as_bytes());
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q.as_bytes());
    }
    out.push(b' ');
    push_num(out, sid);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// `UNSUB sid [max]`: with `max`, the server ends the subscription by itself after that many
/// messages in all.
pub fn write_unsub(out: &mut Vec<u8>, sid: u64, max: Option<u64>) {
    out.extend_from_slice(b"UNSUB ");
    push_num(out, sid);
    if let Some(m) = max {
        out.push(b' ');
        push_num(out, m);
    }
    out.extend_from_slice(b"\r\n");
}

pub fn write_ping(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PING\r\n");
}

pub fn write_pong(out: &mut Vec<u8>) {
    out.extend_from_slice(b"PONG\r\n");
}

/// `MSG`/`HMSG` as a server writes it: for tests and fuzzing, and for a fake server.
pub fn write_msg(
    out: &mut Vec<u8>,
    subject: &str,
    sid: u64,
    reply: Option<&str>,
    headers: Option<&Headers>,
    payload: &[u8],
) {
    out.extend_from_slice(if headers.is_some() { b"HMSG " } else { b"MSG " });
    out.extend_from_slice(subject.as_bytes());
    out.push(b' ');
    push_num(out, sid);
    if let Some(r) = reply {
        out.push(b' ');
        out.extend_from_slice(r.as_bytes());
    }
    out.push(b' ');
    if let Some(h) = headers {
        let hlen = h.encoded_len();
        push_num(out, hlen as u64);
        out.push(b' ');
        push_num(out, (hlen + payload.len()) as u64);
    } else {
        push_num(out, payload.len() as u64);
    }
    out.extend_from_slice(b"\r\n");
    if let Some(h) = headers {
        h.write(out);
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Feeds `chunks` one after another to [`parse`] as a connection would (appending each to
/// what is left over), calling `each` for every operation or error; stops at the first error.
/// Returns the bytes of the whole stream left unparsed. For tests and fuzzing: the result must not depend on how
/// the stream was cut.
pub fn replay(
    chunks: &[&[u8]],
    limits: Limits,
    mut each: impl FnMut(Result<&ServerOp<'_>, &ParseError>),
) -> usize {
    let mut pending: Vec<u8> = Vec::new();
    let mut limits = limits;
    for (i, chunk) in chunks.iter().enumerate() {
        pending.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            match parse(&pending[pos..], &limits) {
                Ok(None) => break,
                Ok(Some((op, used))) => {
                    if let ServerOp::Info(info) = &op {
                        limits.max_payload = info.max_payload;
                    }
                    each(Ok(&op));
                    pos += used;
                }
                Err(e) => {
                    each(Err(&e));
                    let unread: usize = chunks[i + 1..].iter().map(|c| c.len()).sum();
                    return pending.len() - pos + unread;
                }
            }
        }
        pending.drain(..pos);
    }
    pending.len()
}

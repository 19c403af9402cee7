//! NATS message headers: a block that opens with the version line `NATS/1.0` (the server may
//! add a status and a description: `NATS/1.0 404 Message Not Found`), then `Name: value`
//! lines like HTTP's, then an empty line. Names keep their case and are compared exactly, as
//! NATS does; a name may repeat.

use std::fmt;

/// What a header block may hold at most, beside its size limit.
pub const MAX_FIELDS: usize = 256;

const VERSION: &[u8] = b"NATS/1.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The block does not open with `NATS/1.0`.
    NoVersion,
    /// The status after the version is not three digits.
    BadStatus,
    /// The block does not end with an empty line.
    Unterminated,
    /// A line without `:`, or with an empty name.
    NoColon,
    /// A byte not allowed in a name (printable ASCII but `:`) or in a value (CR, LF, NUL).
    BadByte(u8),
    TooMany,
    NotUtf8,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::NoVersion => f.write_str("header block without NATS/1.0"),
            HeaderError::BadStatus => f.write_str("header status is not three digits"),
            HeaderError::Unterminated => f.write_str("header block without its empty line"),
            HeaderError::NoColon => f.write_str("header line without a name and ':'"),
            HeaderError::BadByte(b) => write!(f, "byte 0x{b:02x} in a header"),
            HeaderError::TooMany => write!(f, "more than {MAX_FIELDS} header fields"),
            HeaderError::NotUtf8 => f.write_str("header that is not UTF-8"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// A header block: the status the server put on the version line (0 if none) and the fields
/// in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `503` (no responders), `404` (no message), `408` (timeout), `100` (a JetStream idle
    /// heartbeat or flow control request), or 0 when the line has no status.
    pub status: u16,
    pub description: String,
    fields: Vec<(String, String)>,
}

fn name_ok(name: &str) -> Result<(), HeaderError> {
    if name.is_empty() {
        return Err(HeaderError::NoColon);
    }
    match name
        .bytes()
        .find(|&b| !(33..=126).contains(&b) || b == b':')
    {
        Some(b) => Err(HeaderError::BadByte(b)),
        None => Ok(()),
    }
}

fn value_ok(value: &str) -> Result<(), HeaderError> {
    match value.bytes().find(|&b| b == b'\r' || b == b'\n' || b == 0) {
        Some(b) => Err(HeaderError::BadByte(b)),
        None => Ok(()),
    }
}

impl Headers {
    pub fn new() -> Headers {
        Headers::default()
    }

    /// Adds a field (after any of the same name). The value is trimmed, as a reader would.
    pub fn append(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        name_ok(name)?;
        value_ok(value)?;
        if self.fields.len() >= MAX_FIELDS {
            return Err(HeaderError::TooMany);
        }
        self.fields
            .push((name.to_string(), value.trim().to_string()));
        Ok(())
    }

    /// Sets a field, replacing every field of that name.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), HeaderError> {
        name_ok(name)?;
        value_ok(value)?;
        self.fields.retain(|(n, _)| n != name);
        self.append(name, value)
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.status == 0
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// The block as it goes on the wire; a client writes no status.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(VERSION);
        if self.status != 0 {
            out.extend_from_slice(format!(" {:03}", self.status).as_bytes());
            if !self.description.is_empty() {
                out.push(b' ');
                out.extend_from_slice(self.description.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The size of [`write`](Self::write)'s output.
    pub fn encoded_len(&self) -> usize {
        let status = match self.status {
            0 => 0,
            _ if self.description.is_empty() => 4,
            _ => 5 + self.description.len(),
        };
        let fields: usize = self
            .fields
            .iter()
            .map(|(n, v)| n.len() + 2 + v.len() + 2)
            .sum();
        VERSION.len() + status + 2 + fields + 2
    }

    /// Parses a whole block, version line to empty line (exactly the header bytes of an
    /// `HMSG`). A line that starts with a space or tab continues the value above it.
    pub fn parse(block: &[u8]) -> Result<Headers, HeaderError> {
        let text = std::str::from_utf8(block).map_err(|_| HeaderError::NotUtf8)?;
        let body = text
            .strip_suffix("\r\n\r\n")
            .ok_or(HeaderError::Unterminated)?;
        let mut lines = body.split("\r\n");
        let first = lines.next().unwrap_or("");
        let rest = first
            .strip_prefix("NATS/1.0")
            .ok_or(HeaderError::NoVersion)?;
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            // `NATS/1.01`: some other version.
            return Err(HeaderError::NoVersion);
        }
        let mut headers = Headers::new();
        let rest = rest.trim();
        if !rest.is_empty() {
            let (code, description) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HeaderError::BadStatus);
            }
            headers.status = code.parse().map_err(|_| HeaderError::BadStatus)?;
            headers.description = description.trim().to_string();
        }
        for line in lines {
            if line.is_empty() {
                // The block's end was stripped above: an empty line inside it is stray.
                return Err(HeaderError::Unterminated);
            }
            if line.starts_with([' ', '\t']) {
                let Some((_, value)) = headers.fields.last_mut() else {
                    return Err(HeaderError::NoColon);
                };
                value_ok(line)?;
                value.push(' ');
                value.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(HeaderError::NoColon)?;
            headers.append(name, value)?;
        }
        Ok(headers)
    }
}

//! The `AUTHENTICATE` framing of IRCv3 SASL 3.1: a response is base64, cut into 400-byte
//! chunks, one `AUTHENTICATE` each; a chunk shorter than 400 bytes ends it; a response whose
//! last chunk is exactly 400 bytes (or an empty response) ends with `AUTHENTICATE +`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// The chunk size both ways.
pub const CHUNK_BYTES: usize = 400;

/// The most base64 one response may add up to before the exchange fails (904). Enough for a
/// 1 KiB password in PLAIN with long names; small enough that an endless stream of chunks
/// costs a bounded amount of memory.
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// Why a response could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// One `AUTHENTICATE` parameter was longer than 400 bytes (905 ERR_SASLTOOLONG).
    ChunkTooLong,
    /// The chunks added up to more than [`MAX_RESPONSE_BYTES`] (904).
    ResponseTooLong,
    /// Not base64 (904).
    BadBase64,
}

/// Collects the chunks of one client response.
#[derive(Debug, Default)]
pub struct Reassembly {
    base64: String,
}

impl Reassembly {
    /// Takes one `AUTHENTICATE` parameter (`*` is the caller's business: it aborts). Returns
    /// the decoded response once complete, `Ok(None)` while more chunks are due. After an
    /// error the buffer is empty again.
    pub fn push(&mut self, param: &str) -> Result<Option<Vec<u8>>, ChunkError> {
        if param == "+" {
            return self.finish();
        }
        if param.len() > CHUNK_BYTES {
            self.base64.clear();
            return Err(ChunkError::ChunkTooLong);
        }
        if self.base64.len() + param.len() > MAX_RESPONSE_BYTES {
            self.base64.clear();
            return Err(ChunkError::ResponseTooLong);
        }
        self.base64.push_str(param);
        if param.len() == CHUNK_BYTES {
            return Ok(None);
        }
        self.finish()
    }

    /// True while a response has begun but not ended.
    pub fn is_partial(&self) -> bool {
        !self.base64.is_empty()
    }

    fn finish(&mut self) -> Result<Option<Vec<u8>>, ChunkError> {
        let decoded = B64.decode(self.base64.as_bytes());
        self.base64.clear();
        decoded.map(Some).map_err(|_| ChunkError::BadBase64)
    }
}

/// A server challenge as `AUTHENTICATE` parameters, in order.
pub fn encode(challenge: &[u8]) -> Vec<String> {
    let text = B64.encode(challenge);
    let mut out: Vec<String> = text
        .as_bytes()
        .chunks(CHUNK_BYTES)
        // base64 is ASCII, so every cut is on a character boundary.
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    if out.last().is_none_or(|c| c.len() == CHUNK_BYTES) {
        out.push("+".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(chunks: &[&str]) -> Vec<Result<Option<Vec<u8>>, ChunkError>> {
        let mut r = Reassembly::default();
        chunks.iter().map(|c| r.push(c)).collect()
    }

    #[test]
    fn one_short_chunk() {
        assert_eq!(
            feed(&["amlsbGVzAGppbGxlcwBzZXNhbWU="]),
            vec![Ok(Some(b"jilles\0jilles\0sesame".to_vec()))]
        );
    }

    #[test]
    fn empty_response_is_a_plus() {
        assert_eq!(feed(&["+"]), vec![Ok(Some(vec![]))]);
    }

    #[test]
    fn two_chunks_and_exactly_400_then_plus() {
        let payload = vec![b'x'; 600]; // 800 base64 bytes: two full chunks, then "+"
        let text = B64.encode(&payload);
        assert_eq!(text.len(), 800);
        assert_eq!(
            feed(&[&text[..400], &text[400..], "+"]),
            vec![Ok(None), Ok(None), Ok(Some(payload))]
        );
        let payload = vec![b'y'; 400]; // 536 base64 bytes: 400 + 136
        let text = B64.encode(&payload);
        assert_eq!(
            feed(&[&text[..400], &text[400..]]),
            vec![Ok(None), Ok(Some(payload))]
        );
    }

    #[test]
    fn limits() {
        assert_eq!(
            feed(&[&"A".repeat(401)]),
            vec![Err(ChunkError::ChunkTooLong)]
        );
        let chunk = "A".repeat(400);
        let mut r = Reassembly::default();
        let mut results = Vec::new();
        for _ in 0..20 {
            results.push(r.push(&chunk));
        }
        let first_err = results.iter().position(|r| r.is_err()).unwrap();
        assert_eq!(first_err, MAX_RESPONSE_BYTES / CHUNK_BYTES);
        assert_eq!(results[first_err], Err(ChunkError::ResponseTooLong));
        assert_eq!(feed(&["!!!!"]), vec![Err(ChunkError::BadBase64)]);
    }

    #[test]
    fn a_failed_response_leaves_nothing_behind() {
        let mut r = Reassembly::default();
        assert_eq!(r.push(&"A".repeat(400)), Ok(None));
        assert!(r.is_partial());
        assert_eq!(r.push(&"A".repeat(401)), Err(ChunkError::ChunkTooLong));
        assert!(!r.is_partial());
        assert_eq!(r.push("+"), Ok(Some(vec![])));
    }

    #[test]
    fn encoding_round_trips_through_reassembly() {
        for len in [0, 1, 299, 300, 301, 600, 601, 1200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let params = encode(&data);
            assert!(params.iter().all(|p| p.len() <= CHUNK_BYTES));
            let mut r = Reassembly::default();
            let mut got = None;
            for (i, p) in params.iter().enumerate() {
                let out = r.push(p).unwrap();
                assert_eq!(out.is_some(), i == params.len() - 1, "len {len} chunk {i}");
                got = out;
            }
            assert_eq!(got, Some(data));
        }
        assert_eq!(encode(b""), vec!["+".to_owned()]);
    }
}

//! The HTTP input path: request heads parsed incrementally as the web front end will drive
//! them, bodies read by Content-Length, then the helpers fed with what was parsed. Demands:
//! never panic, chunking does not change the result, and every response head written from
//! parsed values is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use snak::proto::http::{self, Csp, Limits, ResponseHead, Status};

fn drive(chunks: &[&[u8]], limits: &Limits) -> Vec<String> {
    let mut out = Vec::new();
    http::replay(chunks, limits, |got| match got {
        Ok((req, body)) => {
            for segment in req.path_segments() {
                let _ = http::percent_decode(segment);
            }
            for (k, v) in req.query.into_iter().flat_map(http::query_pairs) {
                let _ = (http::decode_query_value(k), http::decode_query_value(v));
            }
            let allowed = ["https://chat.example".to_string()];
            let _ = http::origin_allowed(req.origin, &allowed, req.host);
            // Values from the peer written back: still one header per line.
            let mut written = Vec::new();
            let extra = [
                ("X-Echo", req.target),
                ("X-Origin", req.origin.unwrap_or("")),
            ];
            let head = ResponseHead {
                csp: Csp::Page { host: req.host },
                extra: &extra,
                ..ResponseHead::new(Status::OK, req.keep_alive)
            };
            http::write_response(&mut written, &head, body);
            let end = written.windows(4).position(|w| w == b"\r\n\r\n");
            let head_len = end.expect("a head ends with an empty line") + 4;
            let head_bytes = &written[..head_len - 2];
            for (i, &b) in head_bytes.iter().enumerate() {
                let crlf = match b {
                    b'\r' => head_bytes.get(i + 1) == Some(&b'\n'),
                    b'\n' => i > 0 && head_bytes[i - 1] == b'\r',
                    _ => true,
                };
                assert!(crlf, "a CR or LF alone in a response head");
            }
            assert_eq!(&written[head_len..], body);
            out.push(format!("{req:?} {body:?}"));
        }
        Err(e) => {
            let mut written = Vec::new();
            e.write_response(&mut written);
            out.push(format!("{e}"));
        }
    });
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the limits, so small ones get hit too.
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let limits = if pick & 1 == 0 {
        Limits::default()
    } else {
        Limits {
            max_head: 16 + usize::from(pick),
            max_target: usize::from(pick / 4),
            max_body: u64::from(pick),
        }
    };
    let whole = drive(&[data], &limits);
    let at = usize::from(pick).wrapping_mul(31) % (data.len() + 1);
    let (a, b) = data.split_at(at);
    let mid = b.len() / 2;
    assert_eq!(
        drive(&[a, &b[..mid], &b[mid..]], &limits),
        whole,
        "chunking changed the result"
    );
});

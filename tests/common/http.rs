//! Reading HTTP responses in tests: one final response (a `100 Continue` skipped), its body
//! by `Content-Length`, waiting with the tests' timeout.

use std::io::Read;
use std::net::TcpStream;

use super::WAIT;

/// One HTTP response as received.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one final response (skipping `100 Continue`); `head_only` for an answer to HEAD.
pub fn read_response(s: &mut TcpStream, head_only: bool) -> Response {
    s.set_read_timeout(Some(WAIT)).ok();
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).expect("read a response");
            assert!(
                n > 0,
                "closed before a response: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let status: u16 = head[9..12].parse().expect("a status code");
        let rest = buf.split_off(head_end + 4);
        if status == 100 {
            buf = rest;
            continue;
        }
        let mut body = rest;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let len = if head_only { 0 } else { len };
        while body.len() < len {
            let mut chunk = vec![0u8; 1 << 16];
            let n = s.read(&mut chunk).expect("read a body");
            assert!(n > 0, "closed with {} of {len} body bytes", body.len());
            body.extend_from_slice(&chunk[..n]);
        }
        return Response { status, head, body };
    }
}

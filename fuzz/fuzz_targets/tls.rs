//! The TLS input path: arbitrary bytes, cut into arbitrary reads, through the server side of a
//! rustls connection and on into the IRC framer and parser. It must never panic, whatever the
//! records, alerts or garbage (the handshake itself needs a real client, so this mostly covers
//! record framing, ClientHello parsing and what reaches the framer).
#![no_main]

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use snak::proto::frame::{replay, Piece};
use snak::proto::irc_msg::{self, MAX_LINE_LEN};
use snak::transport::tls::Tls;
use snak::transport::ReadOutcome;

/// A socket whose reads hand out the fuzz input in the chunk sizes given, and whose writes
/// go nowhere.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let want = match self.sizes.split_first() {
            Some((&n, rest)) => {
                self.sizes = rest;
                usize::from(n).max(1) * 16
            }
            None => self.data.len(),
        };
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Chunked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn config() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let key = rcgen::KeyPair::generate().expect("key");
            let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
                .expect("params")
                .self_signed(&key)
                .expect("cert");
            let dir = std::env::temp_dir().join(format!("snak-fuzz-tls-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("dir");
            let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
            std::fs::write(&c, cert.pem()).expect("cert file");
            std::fs::write(&k, key.serialize_pem()).expect("key file");
            snak::transport::tls::load_config(&c.display().to_string(), &k.display().to_string())
                .expect("config")
        })
        .clone()
}

fuzz_target!(|input: &[u8]| {
    let (sizes, data) = input.split_at(input.len().min(8));
    let Ok(mut tls) = Tls::new(Chunked { data, sizes }, config()) else {
        return;
    };
    let mut plain = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        match tls.read(&mut buf) {
            ReadOutcome::Data(n) => plain.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    replay(&[&plain], MAX_LINE_LEN, |piece, _| {
        if let Piece::Line(line) = piece {
            let _ = irc_msg::parse(line);
        }
    });
});

//! What carries a client's protocol: plain TCP (the fast path, untouched), TLS (a rustls
//! client that accepts any certificate: loopback tests only), WebSocket framing per the IRCv3
//! WebSocket specification (subprotocol `text.ircv3.net`, one line per message), or WebSocket
//! over TLS. A [`Layer`] is sans-I/O: plaintext lines in, wire bytes out, and back.
//!
//! [`proxy`] is the other side of the same layers in front of a plain listener: a TLS or
//! WebSocket front for a server that has no such listener, so the client side can be tested
//! (its figures are the proxy's, not the server's).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// The WebSocket subprotocol for IRC lines as text messages.
pub const SUBPROTOCOL: &str = "text.ircv3.net";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
    Ws,
    Wss,
}

impl Transport {
    /// From a target name's last part: tls, ws, wss.
    pub fn from_name(name: &str) -> Option<Transport> {
        match name {
            "tls" => Some(Transport::Tls),
            "ws" => Some(Transport::Ws),
            "wss" => Some(Transport::Wss),
            _ => None,
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Transport::Tls | Transport::Wss)
    }

    pub fn is_web(self) -> bool {
        matches!(self, Transport::Ws | Transport::Wss)
    }
}

/// Accepts any certificate: the generator talks to a server it started itself, on loopback,
/// with a certificate made for the run.
#[derive(Debug)]
struct AnyCertificate(Vec<SignatureScheme>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.clone()
    }
}

/// The TLS client configuration every connection of a run shares: ring, TLS 1.2 and 1.3, any
/// certificate, no session resumption (every handshake is a full one).
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let schemes = provider
        .signature_verification_algorithms
        .supported_schemes();
    let mut cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(schemes)))
        .with_no_client_auth();
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// One connection's layers under its protocol.
pub struct Layer {
    tls: Option<Box<ClientConnection>>,
    ws: Option<Box<WsClient>>,
}

impl Layer {
    /// `host` is the TLS server name and the WebSocket Host header; `seed` varies the masks.
    pub fn new(
        t: Transport,
        host: &str,
        cfg: Option<&Arc<ClientConfig>>,
        seed: u64,
    ) -> Result<Layer, String> {
        let tls = match (t.is_tls(), cfg) {
            (true, Some(cfg)) => {
                let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
                Some(Box::new(
                    ClientConnection::new(cfg.clone(), name).map_err(|e| e.to_string())?,
                ))
            }
            (true, None) => return Err("TLS without a client configuration".into()),
            _ => None,
        };
        let ws = t.is_web().then(|| Box::new(WsClient::new(host, seed)));
        Ok(Layer { tls, ws })
    }

    /// Whether the layers have bytes of their own to send (a TLS handshake, a pong).
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
            || self.ws.as_ref().is_some_and(|w| !w.out.is_empty())
    }

    /// Plaintext protocol bytes (whole lines) to wire bytes, appended to `wire`.
    pub fn send(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> Result<(), String> {
        let framed;
        let bytes = match self.ws.as_mut() {
            Some(ws) => {
                ws.send(plain);
                framed = std::mem::take(&mut ws.out);
                &framed[..]
            }
            None => plain,
        };
        match self.tls.as_mut() {
            Some(tls) => {
                if !bytes.is_empty() {
                    tls.writer().write_all(bytes).map_err(|e| e.to_string())?;
                }
                while tls.wants_write() {
                    tls.write_tls(wire).map_err(|e| e.to_string())?;
                }
            }
            None => wire.extend_from_slice(bytes),
        }
        Ok(())
    }

    /// Wire bytes read from the socket to plaintext lines, appended to `plain`.
    pub fn recv(&mut self, mut wire: &[u8], plain: &mut Vec<u8>) -> Result<(), String> {
        let mut clear = Vec::new();
        let bytes = match self.tls.as_mut() {
            Some(tls) => {
                // rustls holds a bounded amount of plaintext: take it after every record batch,
                // or a big read fills its buffer and `read_tls` refuses the rest.
                let mut buf = [0u8; 16 * 1024];
                while !wire.is_empty() {
                    tls.read_tls(&mut wire).map_err(|e| format!("TLS: {e}"))?;
                    tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
                    loop {
                        match tls.reader().read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => clear.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(format!("TLS: {e}")),
                        }
                    }
                }
                &clear[..]
            }
            None => wire,
        };
        match self.ws.as_mut() {
            Some(ws) => ws.recv(bytes, plain),
            None => {
                plain.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// The client side of a WebSocket: the upgrade request, then masked text frames out (one per
/// line), server frames in (one line per message).
struct WsClient {
    key: String,
    request: Option<Vec<u8>>,
    open: bool,
    /// Response head bytes until the blank line.
    head: Vec<u8>,
    /// Lines waiting for the upgrade, or the tail of an unfinished line.
    held: Vec<u8>,
    /// Frame bytes received, not yet whole.
    inbuf: Vec<u8>,
    /// A fragmented message so far.
    message: Vec<u8>,
    /// Wire bytes to send: the request, frames, pongs.
    out: Vec<u8>,
    mask_state: u64,
}

impl WsClient {
    fn new(host: &str, seed: u64) -> WsClient {
        use base64::Engine;
        let mut mask_state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let nonce: Vec<u8> = (0..16).map(|_| next(&mut mask_state) as u8).collect();
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\nOrigin: http://{host}\r\n\r\n"
        );
        WsClient {
            key,
            request: Some(request.into_bytes()),
            open: false,
            head: Vec::new(),
            held: Vec::new(),
            inbuf: Vec::new(),
            message: Vec::new(),
            out: Vec::new(),
            mask_state,
        }
    }

    fn send(&mut self, plain: &[u8]) {
        if let Some(req) = self.request.take() {
            self.out.extend_from_slice(&req);
        }
        self.held.extend_from_slice(plain);
        if !self.open {
            return;
        }
        let held = std::mem::take(&mut self.held);
        let mut rest = &held[..];
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mask = next(&mut self.mask_state) as u32;
            encode_frame(0x1, line, Some(mask.to_be_bytes()), &mut self.out);
            rest = &rest[nl + 1..];
        }
        self.held = rest.to_vec();
    }

    fn recv(&mut self, mut bytes: &[u8], plain: &mut Vec<u8>) -> Result<(), String> {
        if !self.open {
            self.head.extend_from_slice(bytes);
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                if self.head.len() > 16 * 1024 {
                    return Err("WebSocket: no end to the response head".into());
                }
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.head[..end]).to_string();
            let after = self.head[end + 4..].to_vec();
            self.check_response(&head)?;
            self.open = true;
            self.head = Vec::new();
            self.send(&[]);
            self.inbuf.extend_from_slice(&after);
            bytes = &[];
        }
        self.inbuf.extend_from_slice(bytes);
        let mut pos = 0;
        while let Some(frame) = decode_frame(&self.inbuf[pos..])? {
            pos += frame.len;
            let payload = &self.inbuf[pos - frame.payload_len..pos];
            let payload = unmask(payload, frame.mask);
            match frame.opcode {
                0x0..=0x2 => {
                    self.message.extend_from_slice(&payload);
                    if frame.fin {
                        let line = std::mem::take(&mut self.message);
                        let line = line.strip_suffix(b"\n").unwrap_or(&line);
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        plain.extend_from_slice(line);
                        plain.push(b'\n');
                    }
                }
                0x9 => {
                    let mask = next(&mut self.mask_state) as u32;
                    encode_frame(0xA, &payload, Some(mask.to_be_bytes()), &mut self.out);
                }
                0xA => {}
                0x8 => return Err("WebSocket: the server closed the connection".into()),
                op => return Err(format!("WebSocket: unknown opcode {op}")),
            }
        }
        self.inbuf.drain(..pos);
        Ok(())
    }

    fn check_response(&self, head: &str) -> Result<(), String> {
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("");
        if !status.starts_with("HTTP/1.1 101") {
            return Err(format!("WebSocket: upgrade refused: {status}"));
        }
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
            })
        };
        if header("Sec-WebSocket-Accept") != Some(&snak::proto::ws::accept_key(&self.key)) {
            return Err("WebSocket: wrong Sec-WebSocket-Accept".into());
        }
        if header("Sec-WebSocket-Protocol") != Some(SUBPROTOCOL) {
            return Err(format!(
                "WebSocket: the server did not choose {SUBPROTOCOL}"
            ));
        }
        Ok(())
    }
}

/// xorshift64: masks and nonces need to vary, not to be secret, on loopback.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Appends one final frame (RFC 6455 5.2), masked if a mask is given (client to server).
pub fn encode_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// A frame's header as read: its whole length, its payload's, and how to read the payload.
#[derive(Debug, PartialEq)]
pub struct FrameHead {
    pub fin: bool,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    /// Header and payload.
    pub len: usize,
    pub payload_len: usize,
}

/// The first frame of `buf` if it is whole; Ok(None) if more bytes are needed.
pub fn decode_frame(buf: &[u8]) -> Result<Option<FrameHead>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x0F);
    let masked = buf[1] & 0x80 != 0;
    let (payload_len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (u64::from_be_bytes(b), 10)
        }
        126 | 127 => return Ok(None),
        n => (n as u64, 2),
    };
    if payload_len > 1 << 20 {
        return Err(format!("WebSocket: a frame of {payload_len} bytes"));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        let m = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
        at += 4;
        Some(m)
    } else {
        None
    };
    let len = at + payload_len as usize;
    if buf.len() < len {
        return Ok(None);
    }
    Ok(Some(FrameHead {
        fin,
        opcode,
        mask,
        len,
        payload_len: payload_len as usize,
    }))
}

fn unmask(payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        Some(m) => payload
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ m[i % 4])
            .collect(),
        None => payload.to_vec(),
    }
}

/// A self-signed ECDSA P-256 certificate and key for `localhost` (rcgen, a dev-dependency),
/// written into `dir` (stress-cert.pem, stress-key.pem), for snak's TLS listeners and the proxy.
pub fn make_certificate(dir: &Path) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let (cert, key) = (dir.join("stress-cert.pem"), dir.join("stress-key.pem"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(|e| format!("cannot make a certificate: {e}"))?;
    std::fs::write(&cert, made.cert.pem()).map_err(|e| format!("{}: {e}", cert.display()))?;
    std::fs::write(&key, made.signing_key.serialize_pem())
        .map_err(|e| format!("{}: {e}", key.display()))?;
    Ok((cert, key))
}

/// Starts a front on loopback that terminates `t` and relays plain lines to `backend`; one
/// thread per connection. Returns its address. For tests of the client side only.
pub fn proxy(t: Transport, backend: SocketAddr, dir: &Path) -> Result<SocketAddr, String> {
    let tls = if t.is_tls() {
        Some(server_config(dir)?)
    } else {
        None
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let tls = tls.clone();
            std::thread::spawn(move || {
                let _ = relay(client, backend, t, tls);
            });
        }
    });
    Ok(addr)
}

fn server_config(dir: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    let (cert, key) = make_certificate(dir)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(cfg))
}

/// The proxy's side of one connection: polls both sockets with short timeouts.
fn relay(
    client: TcpStream,
    backend: SocketAddr,
    t: Transport,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), String> {
    let e = |e: io::Error| e.to_string();
    let mut back = TcpStream::connect(backend).map_err(e)?;
    let _ = back.set_nodelay(true);
    let _ = client.set_nodelay(true);
    back.set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(e)?;
    client
        .set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(e)?;
    let mut front: Box<dyn ReadWrite> = match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg).map_err(|e| e.to_string())?;
            Box::new(rustls::StreamOwned::new(conn, client))
        }
        None => Box::new(client),
    };
    let web = t.is_web();
    let mut upgraded = !web;
    let (mut from_client, mut frames) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match front.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if !web => back.write_all(&buf[..n]).map_err(e)?,
            Ok(n) => from_client.extend_from_slice(&buf[..n]),
            Err(x) if timed_out(&x) => {}
            Err(x) => return Err(x.to_string()),
        }
        if web && !upgraded {
            if let Some(end) = find(&from_client, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&from_client[..end]).to_string();
                let key = head
                    .split("\r\n")
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.trim()
                            .eq_ignore_ascii_case("Sec-WebSocket-Key")
                            .then(|| v.trim().to_string())
                    })
                    .ok_or("no Sec-WebSocket-Key")?;
                let reply = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
                    snak::proto::ws::accept_key(&key)
                );
                front.write_all(reply.as_bytes()).map_err(e)?;
                front.flush().map_err(e)?;
                from_client.drain(..end + 4);
                upgraded = true;
            }
        }
        if web && upgraded {
            let mut pos = 0;
            while let Some(f) = decode_frame(&from_client[pos..])? {
                let payload = unmask(
                    &from_client[pos + f.len - f.payload_len..pos + f.len],
                    f.mask,
                );
                pos += f.len;
                match f.opcode {
                    0x8 => return Ok(()),
                    0x0..=0x2 => {
                        back.write_all(&payload).map_err(e)?;
                        back.write_all(b"\r\n").map_err(e)?;
                    }
                    _ => {}
                }
            }
            from_client.drain(..pos);
        }
        match back.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if !web => {
                front.write_all(&buf[..n]).map_err(e)?;
                front.flush().map_err(e)?;
            }
            Ok(n) => {
                frames.extend_from_slice(&buf[..n]);
                let mut out = Vec::new();
                let mut pos = 0;
                while let Some(nl) = frames[pos..].iter().position(|&b| b == b'\n') {
                    let line = &frames[pos..pos + nl];
                    encode_frame(
                        0x1,
                        line.strip_suffix(b"\r").unwrap_or(line),
                        None,
                        &mut out,
                    );
                    pos += nl + 1;
                }
                frames.drain(..pos);
                front.write_all(&out).map_err(e)?;
                front.flush().map_err(e)?;
            }
            Err(x) if timed_out(&x) => {}
            Err(x) => return Err(x.to_string()),
        }
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_masked_and_not() {
        for len in [0usize, 5, 125, 126, 1000, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let mut out = Vec::new();
                encode_frame(0x1, &payload, mask, &mut out);
                assert_eq!(decode_frame(&out[..out.len() - 1]).unwrap(), None);
                let f = decode_frame(&out).unwrap().unwrap();
                assert_eq!((f.fin, f.opcode, f.len), (true, 1, out.len()));
                assert_eq!(unmask(&out[f.len - f.payload_len..], f.mask), payload);
            }
        }
    }

    /// Lines out are masked frames after the upgrade; a server's messages come back as lines,
    /// pings are answered; the upgrade's accept key is checked.
    #[test]
    fn the_websocket_client_upgrades_then_frames_lines() {
        let mut ws = WsClient::new("localhost", 7);
        ws.send(b"NICK a\r\nUSER a 0 * :a\r\n");
        let out = std::mem::take(&mut ws.out);
        assert!(out.starts_with(b"GET / HTTP/1.1\r\n"));
        assert!(!out.ends_with(b"NICK a\r\n"), "lines wait for the upgrade");
        let reply = format!(
            "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: {}\r\n\
             Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n",
            snak::proto::ws::accept_key(&ws.key)
        );
        let mut frame = reply.into_bytes();
        encode_frame(0x1, b":srv 001 a :hi", None, &mut frame);
        encode_frame(0x9, b"p", None, &mut frame);
        let mut plain = Vec::new();
        ws.recv(&frame, &mut plain).unwrap();
        assert_eq!(plain, b":srv 001 a :hi\n");
        // The held lines, then the pong.
        let out = std::mem::take(&mut ws.out);
        let f = decode_frame(&out).unwrap().unwrap();
        assert_eq!(
            unmask(&out[f.len - f.payload_len..f.len], f.mask),
            b"NICK a"
        );
        assert!(f.mask.is_some());
        let mut rest = &out[f.len..];
        let f = decode_frame(rest).unwrap().unwrap();
        rest = &rest[f.len..];
        let f = decode_frame(rest).unwrap().unwrap();
        assert_eq!(f.opcode, 0xA);
        let mut bad = WsClient::new("localhost", 8);
        bad.send(b"");
        let wrong = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: nope\r\n\r\n";
        assert!(bad.recv(wrong.as_bytes(), &mut Vec::new()).is_err());
    }
}

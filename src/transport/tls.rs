//! TLS over a TCP stream, sans-I/O through rustls' unbuffered API: this module owns every
//! buffer, and an idle connection holds none (a partial record in, ciphertext the socket did
//! not take out: both exist only while they are needed).
//!
//! Reads go socket -> a stack buffer -> rustls -> the caller's plaintext buffer. Writes take
//! plaintext slices (the outbox's shared spans), encrypt into a per-call buffer and write it;
//! ciphertext the socket does not take waits in `outgoing`, and while it does no more
//! plaintext is accepted, so the outbox's backlog (and its send-queue limits) holds the rest.

use std::fmt;
use std::io::{self, IoSlice};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use super::{read_socket, record_keys, ReadOutcome};

/// The largest TLS record on the wire (16 KiB of data plus header and tag, rounded up).
const RECORD_MAX: usize = 16 * 1024 + 256;
/// Plaintext encrypted per write call at most; the rest stays in the outbox's backlog.
const WRITE_CHUNK: usize = 64 * 1024;
/// The first byte of every TLS handshake record (a ClientHello starts with it).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// Loads a certificate chain and its private key (PEM files, as Let's Encrypt writes them)
/// into a server configuration that asks for, but does not require, a client certificate.
pub fn load_config(cert_path: &str, key_path: &str) -> Result<Arc<ServerConfig>, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("cannot read TLS certificate {cert_path:?}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad TLS certificate {cert_path:?}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {cert_path:?} (expected PEM)"));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| format!("cannot read TLS key {key_path:?}: {e}"))?;
    let provider = Arc::new(provider());
    let verifier = Arc::new(AnyClientCert {
        provider: provider.clone(),
    });
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS key {key_path:?} does not fit {cert_path:?}: {e}"))?;
    Ok(Arc::new(config))
}

/// ring's provider with its TLS 1.3 suites' records sealed by [`record_keys`], so an idle
/// connection keeps 2 x 32 key bytes instead of 2 x 560 B of expanded keys.
pub fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = provider
        .cipher_suites
        .into_iter()
        .map(record_keys::small_keys)
        .collect();
    provider
}

/// Client certificates are identities, not credentials from an authority (as IRC servers use
/// them): any certificate is accepted, its signature over the handshake proves the client
/// holds the key, and its SHA-256 fingerprint names it.
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl fmt::Debug for AnyClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnyClientCert")
    }
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Lowercase hex SHA-256 of a certificate, as IRC servers show it (WHOIS 276).
pub fn fingerprint(cert: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(cert);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One TLS connection over a socket (a TCP stream in the server; anything that reads and
/// writes, for the fuzz target).
pub struct Tls<S = TcpStream> {
    socket: S,
    conn: UnbufferedServerConnection,
    /// Received bytes of a record not complete yet.
    incoming: Vec<u8>,
    /// Encrypted bytes the socket has not taken yet.
    outgoing: Vec<u8>,
    /// Plaintext decrypted beyond what the caller's buffer held.
    plain: Vec<u8>,
    /// Nothing read yet: the first byte tells a TLS client from a plain one.
    fresh: bool,
    handshaking: bool,
    /// The peer closed (close_notify or EOF): reads report it once the plaintext is out.
    peer_closed: bool,
    /// The client certificate's fingerprint, once the handshake is done.
    certfp: Option<Box<str>>,
}

/// What a read found out about the connection, beside plaintext.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Plaintext was read, or none is there now.
    Ok,
    /// The first bytes are not TLS: a plain client on a TLS port.
    NotTls,
    /// The handshake or a record failed.
    Failed(String),
}

impl<S: io::Read + io::Write> Tls<S> {
    pub fn new(socket: S, config: Arc<ServerConfig>) -> Result<Tls<S>, String> {
        let conn = UnbufferedServerConnection::new(config).map_err(|e| e.to_string())?;
        Ok(Tls {
            socket,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            plain: Vec::new(),
            fresh: true,
            handshaking: true,
            peer_closed: false,
            certfp: None,
        })
    }

    pub fn socket(&mut self) -> &mut S {
        &mut self.socket
    }

    pub fn is_handshaking(&self) -> bool {
        self.handshaking
    }

    pub fn certfp(&self) -> Option<&str> {
        self.certfp.as_deref()
    }

    pub fn has_pending(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Reads plaintext into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        if !self.plain.is_empty() {
            return ReadOutcome::Data(self.take_plain(buf));
        }
        let mut wire = [0u8; RECORD_MAX];
        loop {
            let n = match read_socket(&mut self.socket, &mut wire) {
                ReadOutcome::Data(n) => n,
                ReadOutcome::Closed => {
                    // Without close_notify: the stream may be cut short; what was read stands.
                    return ReadOutcome::Closed;
                }
                other => return other,
            };
            if self.fresh {
                self.fresh = false;
                if wire[0] != HANDSHAKE_RECORD {
                    return ReadOutcome::NotTls;
                }
            }
            let verdict = if self.incoming.is_empty() {
                let (verdict, used) = self.process(&mut wire[..n]);
                self.incoming.extend_from_slice(&wire[used..n]);
                verdict
            } else {
                self.incoming.extend_from_slice(&wire[..n]);
                let mut pending = std::mem::take(&mut self.incoming);
                let (verdict, used) = self.process(&mut pending);
                pending.drain(..used);
                if !pending.is_empty() {
                    self.incoming = pending;
                }
                verdict
            };
            if let Verdict::Failed(why) = verdict {
                return ReadOutcome::Failed(io::Error::other(why));
            }
            if !self.plain.is_empty() {
                return ReadOutcome::Data(self.take_plain(buf));
            }
            if self.peer_closed {
                return ReadOutcome::Closed;
            }
            if n < wire.len() {
                // A short read drained the socket (records without plaintext: handshake).
                return ReadOutcome::WouldBlock;
            }
        }
    }

    fn take_plain(&mut self, buf: &mut [u8]) -> usize {
        let n = self.plain.len().min(buf.len());
        buf[..n].copy_from_slice(&self.plain[..n]);
        self.plain.drain(..n);
        if self.plain.is_empty() {
            self.plain = Vec::new();
        }
        n
    }

    /// Runs rustls over received bytes; returns what happened and how many bytes it used.
    fn process(&mut self, data: &mut [u8]) -> (Verdict, usize) {
        let mut used = 0;
        loop {
            let status = self.conn.process_tls_records(&mut data[used..]);
            let discard = status.discard;
            let state = match status.state {
                Ok(state) => state,
                Err(e) => return (Verdict::Failed(e.to_string()), used + discard),
            };
            match state {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        match record {
                            Ok(record) => self.plain.extend_from_slice(record.payload),
                            Err(e) => return (Verdict::Failed(e.to_string()), used + discard),
                        }
                    }
                }
                ConnectionState::EncodeTlsData(mut encode) => {
                    let start = self.outgoing.len();
                    self.outgoing.resize(start + RECORD_MAX, 0);
                    loop {
                        match encode.encode(&mut self.outgoing[start..]) {
                            Ok(n) => {
                                self.outgoing.truncate(start + n);
                                break;
                            }
                            Err(EncodeError::InsufficientSize(need)) => {
                                self.outgoing.resize(start + need.required_size, 0);
                            }
                            Err(EncodeError::AlreadyEncoded) => {
                                self.outgoing.truncate(start);
                                break;
                            }
                        }
                    }
                }
                ConnectionState::TransmitTlsData(transmit) => {
                    // The bytes are ours to send now; what the socket won't take waits.
                    transmit.done();
                    let _ = self.flush_pending();
                }
                ConnectionState::BlockedHandshake => return (Verdict::Ok, used + discard),
                ConnectionState::WriteTraffic(_) => {
                    if self.handshaking {
                        self.handshaking = false;
                        self.certfp = self
                            .conn
                            .peer_certificates()
                            .and_then(|chain| chain.first())
                            .map(|leaf| fingerprint(leaf).into_boxed_str());
                    }
                    return (Verdict::Ok, used + discard);
                }
                ConnectionState::PeerClosed | ConnectionState::Closed => {
                    self.peer_closed = true;
                    return (Verdict::Ok, used + discard);
                }
                // Early data is never accepted (max_early_data_size is 0): nothing to read.
                _ => return (Verdict::Ok, used + discard),
            }
            used += discard;
        }
    }

    /// Writes waiting ciphertext; `Ok(true)` when none is left.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        while !self.outgoing.is_empty() {
            match self.socket.write(&self.outgoing) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outgoing.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.outgoing = Vec::new();
        Ok(true)
    }

    /// Encrypts plaintext from `bufs` (up to [`WRITE_CHUNK`] bytes) and writes it. Returns the
    /// plaintext bytes taken; `WouldBlock` while the handshake is not done or ciphertext from
    /// before still waits.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.flush_pending()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut out = Vec::new();
        let mut taken = 0;
        {
            let status = self.conn.process_tls_records(&mut []);
            let Ok(ConnectionState::WriteTraffic(mut traffic)) = status.state else {
                return Err(io::ErrorKind::WouldBlock.into());
            };
            for buf in bufs {
                for piece in buf.chunks(16 * 1024) {
                    if taken >= WRITE_CHUNK {
                        break;
                    }
                    let start = out.len();
                    out.resize(start + piece.len() + 256, 0);
                    loop {
                        match traffic.encrypt(piece, &mut out[start..]) {
                            Ok(n) => {
                                out.truncate(start + n);
                                break;
                            }
                            Err(EncryptError::InsufficientSize(need)) => {
                                out.resize(start + need.required_size, 0);
                            }
                            Err(EncryptError::EncryptExhausted) => {
                                return Err(io::Error::other("TLS keys exhausted"));
                            }
                        }
                    }
                    taken += piece.len();
                }
            }
        }
        if taken == 0 {
            return Ok(0);
        }
        self.outgoing = out;
        self.flush_pending()?;
        Ok(taken)
    }

    /// Says goodbye with close_notify, as far as the socket takes it.
    pub fn close_notify(&mut self) {
        let status = self.conn.process_tls_records(&mut []);
        if let Ok(ConnectionState::WriteTraffic(mut traffic)) = status.state {
            let mut out = vec![0u8; 64];
            if let Ok(n) = traffic.queue_close_notify(&mut out) {
                out.truncate(n);
                self.outgoing.extend_from_slice(&out);
            }
        }
        let _ = self.flush_pending();
    }
}

//! How bytes cross the wire: a plain TCP stream, or TLS over one. Knows nothing of lines,
//! commands or protocols; the loop reads and writes through it and registers its socket.
//!
//! I/O results are sorted once into [`ReadOutcome`] so no caller inspects `io::ErrorKind`.
//! Each transport also looks at a connection's first bytes: a TLS ClientHello on a plain port
//! and plain text on a TLS port are told apart from real traffic at once.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;

mod record_keys;
pub mod tls;

/// The outcome of one read, sorted once.
#[derive(Debug)]
pub enum ReadOutcome {
    /// Bytes for the front end (plaintext, for TLS).
    Data(usize),
    /// Nothing more to read now (a TLS record may have been consumed without plaintext).
    WouldBlock,
    /// The peer closed the connection.
    Closed,
    Failed(io::Error),
    /// Plain text arrived on a TLS port.
    NotTls,
    /// A TLS handshake arrived on a plain port.
    TlsOnPlain,
}

/// Reads from a socket, retrying on `Interrupted`.
pub fn read_socket(socket: &mut impl Read, buf: &mut [u8]) -> ReadOutcome {
    loop {
        return match socket.read(buf) {
            Ok(0) => ReadOutcome::Closed,
            Ok(n) => ReadOutcome::Data(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => ReadOutcome::Closed,
            Err(e) => ReadOutcome::Failed(e),
        };
    }
}

/// The bytes a TLS client gets back when it speaks TLS to a plain port: a fatal
/// `handshake_failure` alert, so it reports a TLS error instead of hanging.
pub const TLS_REFUSAL_ALERT: &[u8] = &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28];

/// One connection's transport.
pub enum Transport {
    Plain {
        socket: TcpStream,
        /// Nothing read yet: the first bytes are looked at.
        fresh: bool,
    },
    Tls(Box<tls::Tls>),
}

impl Transport {
    pub fn plain(socket: TcpStream) -> Transport {
        Transport::Plain {
            socket,
            fresh: true,
        }
    }

    pub fn tls(socket: TcpStream, config: Arc<rustls::ServerConfig>) -> Result<Transport, String> {
        Ok(Transport::Tls(Box::new(tls::Tls::new(socket, config)?)))
    }

    /// Reads bytes meant for the front end.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        match self {
            Transport::Plain { socket, fresh } => {
                let outcome = read_socket(socket, buf);
                if let ReadOutcome::Data(n) = outcome {
                    if std::mem::take(fresh)
                        && n >= 2
                        && buf[0] == tls::HANDSHAKE_RECORD
                        && buf[1] == 0x03
                    {
                        return ReadOutcome::TlsOnPlain;
                    }
                }
                outcome
            }
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// The socket, for the poller and socket options.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain { socket, .. } => socket,
            Transport::Tls(t) => t.socket(),
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Whether a TLS handshake is still under way (always false for plain TCP).
    pub fn is_handshaking(&self) -> bool {
        match self {
            Transport::Plain { .. } => false,
            Transport::Tls(t) => t.is_handshaking(),
        }
    }

    /// The TLS client certificate's SHA-256 fingerprint, if one was shown.
    pub fn certfp(&self) -> Option<&str> {
        match self {
            Transport::Plain { .. } => None,
            Transport::Tls(t) => t.certfp(),
        }
    }

    /// Whether the transport holds bytes of its own that still have to reach the socket
    /// (encrypted records); the loop keeps write interest while it does.
    pub fn has_pending(&self) -> bool {
        match self {
            Transport::Plain { .. } => false,
            Transport::Tls(t) => t.has_pending(),
        }
    }

    /// Writes what the transport holds of its own; `Ok(true)` when nothing is left.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain { .. } => Ok(true),
            Transport::Tls(t) => t.flush_pending(),
        }
    }

    /// Ends our side of the stream (after the last goodbye).
    pub fn shutdown_write(&mut self) {
        if let Transport::Tls(t) = self {
            t.close_notify();
        }
        let _ = self.socket().shutdown(std::net::Shutdown::Write);
    }

    /// Reads and drops what the peer sent but nobody will handle, so closing sends FIN, not a
    /// reset that could destroy the last lines we wrote.
    pub fn discard_unread(&mut self) {
        let mut sink = [0u8; 4096];
        let socket = self.socket();
        for _ in 0..16 {
            match read_socket(socket, &mut sink) {
                ReadOutcome::Data(_) => {}
                _ => return,
            }
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain { socket, .. } => socket.write_vectored(bufs),
            Transport::Tls(t) => t.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

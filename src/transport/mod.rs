//! How bytes cross the wire: a plain TCP stream, or TLS over one. Knows nothing of lines,
//! commands or protocols; the loop reads and writes through it and registers its socket.
//!
//! I/O results are sorted once into [`ReadOutcome`] so no caller inspects `io::ErrorKind`.

use std::io::{self, IoSlice, Read, Write};

use mio::net::TcpStream;

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

/// One connection's transport.
pub enum Transport {
    Plain(TcpStream),
}

impl Transport {
    /// Reads bytes meant for the front end.
    pub fn read(&mut self, buf: &mut [u8]) -> ReadOutcome {
        match self {
            Transport::Plain(s) => read_socket(s, buf),
        }
    }

    /// The socket, for the poller and socket options.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
        }
    }

    /// Whether the transport holds bytes of its own that still have to reach the socket
    /// (encrypted records); the loop keeps write interest while it does.
    pub fn has_pending(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
        }
    }

    /// Writes what the transport holds of its own; `Ok(true)` when nothing is left.
    pub fn flush_pending(&mut self) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(true),
        }
    }

    /// Ends our side of the stream (after the last goodbye).
    pub fn shutdown_write(&mut self) {
        match self {
            Transport::Plain(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
        }
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
        match self {
            Transport::Plain(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

//! A test client that behaves on the wire as the clients of the tutorial snak grew from (the
//! Danish Python tutorial in `../shared/seed/`): written for this project, so the behaviour
//! is tested whether or not that text is at hand.
//!
//! - The hello client connects, does one `recv(1024)` and prints what came.
//! - The chat client runs two threads: one reads with `recv(1024)` and prints each chunk as it
//!   came (a line may be cut across reads, several lines may come in one); the other sends
//!   each message typed as it is, with no line ending (Python's `input()` strips it).
//!
//! The server takes a message without a line ending as whole once no more of it comes for a
//! moment; a person types slower than that, and tests type the next message only after the
//! previous one was seen, as a person answering would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use super::WAIT;

/// The size of every read, as the tutorial's `recv(1024)`.
pub const RECV: usize = 1024;

/// The tutorial's hello client: connect, one read of at most 1024 bytes, close. Returns what
/// that one read gave.
pub fn hello(addr: SocketAddr) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).ok();
    let mut buf = [0u8; RECV];
    let n = s.read(&mut buf).expect("recv(1024)");
    buf[..n].to_vec()
}

/// The tutorial's threaded chat client.
pub struct ChatClient {
    stream: TcpStream,
    keyboard: Option<Sender<String>>,
    chunks: Receiver<Vec<u8>>,
    reader: Option<JoinHandle<()>>,
    writer: Option<JoinHandle<()>>,
    /// Everything received so far and not yet taken as lines.
    pending: Vec<u8>,
    /// The size of every read so far, in order.
    pub reads: Vec<usize>,
}

impl ChatClient {
    pub fn connect(addr: SocketAddr) -> ChatClient {
        let stream = TcpStream::connect(addr).expect("connect");
        let mut reading = stream.try_clone().expect("clone for the reading thread");
        let mut writing = stream.try_clone().expect("clone for the writing thread");
        let (chunk_tx, chunks) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; RECV];
            // `data = client.recv(1024); print(data.decode())`, until the connection ends.
            while let Ok(n) = reading.read(&mut buf) {
                if n == 0 || chunk_tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let (keyboard, typed) = mpsc::channel::<String>();
        let writer = thread::spawn(move || {
            // `message = input(); client.send(message.encode())`: no line ending goes out.
            for message in typed {
                if writing.write_all(message.as_bytes()).is_err() {
                    break;
                }
            }
        });
        ChatClient {
            stream,
            keyboard: Some(keyboard),
            chunks,
            reader: Some(reader),
            writer: Some(writer),
            pending: Vec::new(),
            reads: Vec::new(),
        }
    }

    /// Types one message (what `input()` returns: the text without its newline).
    pub fn type_message(&self, text: &str) {
        assert!(!text.contains('\n'), "input() returns one line");
        self.keyboard
            .as_ref()
            .expect("the keyboard is open")
            .send(text.to_string())
            .expect("the writing thread is running");
    }

    /// Waits for a whole received line that `want` accepts, put together from the reads;
    /// returns it (without its line ending). Fails the test after [`WAIT`].
    pub fn line_where(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.pending.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&raw[..raw.len() - 1])
                    .trim_end_matches('\r')
                    .to_string();
                if want(&line) {
                    return line;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => {
                    self.reads.push(chunk.len());
                    self.pending.extend_from_slice(&chunk);
                }
                Err(RecvTimeoutError::Timeout) => panic!("no {what} within {WAIT:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("connection closed before {what}"),
            }
        }
    }

    /// Waits for exactly this line.
    pub fn expect(&mut self, want: &str) {
        self.line_where(&format!("{want:?}"), |l| l == want);
    }
}

impl Drop for ChatClient {
    fn drop(&mut self) {
        drop(self.keyboard.take());
        let _ = self.stream.shutdown(Shutdown::Both);
        for t in [self.reader.take(), self.writer.take()]
            .into_iter()
            .flatten()
        {
            let _ = t.join();
        }
    }
}

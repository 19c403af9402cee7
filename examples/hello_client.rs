//! The tutorial's first client, in Rust with the standard library only.
//!
//! It connects to 127.0.0.1:12345 (or the address given as the only argument), prints
//! everything the server sends until the server closes the connection, and exits 0. Against
//! `hello_server` that is `Hello, world!`; against snak it is the greeting line (snak keeps
//! the connection open, so stop it with Ctrl-C).
//!
//! ```text
//! cargo run --example hello_client [ADDR]
//! ```

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

const DEFAULT_ADDR: &str = "127.0.0.1:12345";
const USAGE: &str = "usage: hello_client [ADDR]   (default 127.0.0.1:12345)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = match (args.next(), args.next()) {
        (None, _) => DEFAULT_ADDR.to_string(),
        (Some(a), None) if a == "-h" || a == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        (Some(a), None) => a,
        (Some(_), Some(_)) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut stream = match TcpStream::connect(&addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hello_client: cannot connect to {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut out = io::stdout().lock();
    let mut buf = [0u8; 4096];
    let mut last = b'\n';
    loop {
        match stream.read(&mut buf) {
            // The server closed the connection: everything has arrived.
            Ok(0) => break,
            Ok(n) => {
                last = buf[n - 1];
                // Print as it arrives (a server like snak keeps the connection open).
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("hello_client: connection to {addr} failed: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    // The tutorial's server sends no line ending; keep the shell prompt on its own line.
    if last != b'\n' {
        let _ = writeln!(out);
    }
    ExitCode::SUCCESS
}

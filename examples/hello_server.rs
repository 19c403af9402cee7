//! The tutorial's first server, in Rust with the standard library only.
//!
//! It listens on 127.0.0.1:12345 (or the address given as the only argument), sends
//! `Hello, world!` to every client that connects and closes the connection. It prints
//! `listening on ADDR` once bound, so with `127.0.0.1:0` a script can learn the port.
//!
//! ```text
//! cargo run --example hello_server [ADDR]
//! ```

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

const DEFAULT_ADDR: &str = "127.0.0.1:12345";
const USAGE: &str = "usage: hello_server [ADDR]   (default 127.0.0.1:12345)";

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

    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello_server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(_) => println!("listening on {addr}"),
    }
    // Tests read the port from this line through a pipe, so it must not sit in a buffer.
    let _ = io::stdout().flush();

    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                // One client's trouble (it vanished, reset the connection) is reported and
                // forgotten; the server goes on serving the next one.
                if let Err(e) = greet(stream, peer) {
                    eprintln!("hello_server: {peer}: {e}");
                }
            }
            Err(e) => {
                // For example out of file descriptors: say so, and pause so an error that
                // repeats does not spin the CPU.
                eprintln!("hello_server: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn greet(mut stream: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("connection from {peer}");
    let _ = io::stdout().flush();
    // A stuck client must not stall everyone behind it.
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"Hello, world!\n")?;
    // Half-close first, so the client reads the whole greeting and then a clean end of stream.
    stream.shutdown(Shutdown::Write)?;
    Ok(())
}

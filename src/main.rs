//! The snak daemon: command line, logging, bind, run.

use std::io::Write;
use std::process::ExitCode;

use snak::config::{Action, HELP};
use snak::server::Server;

fn main() -> ExitCode {
    let cfg = match Action::from_args(std::env::args().skip(1)) {
        Ok(Action::Run(cfg)) => cfg,
        Ok(Action::Help) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("snak {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("snak: {e}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let server = match Server::bind(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("snak: {e}");
            return ExitCode::from(1);
        }
    };
    // Machine-readable, on stdout: tests and scripts learn the ports chosen for port 0.
    let mut stdout = std::io::stdout().lock();
    for (proto, addr) in server.local_addrs() {
        log::info!("listening on {addr} ({proto})");
        let _ = writeln!(stdout, "listening {proto} {addr}");
    }
    let _ = writeln!(stdout, "ready");
    let _ = stdout.flush();
    drop(stdout);
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snak: {e}");
            ExitCode::from(1)
        }
    }
}

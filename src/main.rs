//! The snak daemon: command line and config file, logging, bind, run.

use std::io::Write;
use std::process::ExitCode;

use snak::config::{self, Action, Config, ConfigError};
use snak::server::Server;

/// Prints configuration errors; exit 2 if any is on the command line (usage), else 1.
fn failed(errors: &[ConfigError]) -> ExitCode {
    for e in errors {
        eprintln!("snak: {e}");
    }
    ExitCode::from(if errors.iter().any(ConfigError::on_command_line) {
        2
    } else {
        1
    })
}

fn main() -> ExitCode {
    let args = match Action::from_args(std::env::args().skip(1)) {
        Ok(Action::Run(args)) => args,
        Ok(Action::Help) => {
            print!("{}", config::help());
            return ExitCode::SUCCESS;
        }
        Ok(Action::Version) => {
            println!("snak {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(Action::HashPassword) => {
            return match config::read_password().and_then(|p| config::hash_password(&p)) {
                Ok(phc) => {
                    println!("{phc}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("snak: {e}");
                    ExitCode::from(1)
                }
            };
        }
        Ok(Action::CheckConfig(args)) => {
            return match config::load(&args, args.config_file()) {
                Ok(loaded) => {
                    print!("{}", config::report(&loaded, args.config_file()));
                    ExitCode::SUCCESS
                }
                Err(errors) => failed(&errors),
            };
        }
        Err(e) => {
            eprintln!("snak: {e}");
            return ExitCode::from(2);
        }
    };
    let (cfg, warnings) = match Config::load(&args, args.config_file()) {
        Ok(loaded) => loaded,
        Err(errors) => return failed(&errors),
    };
    // RUST_LOG, when set, wins (it can name modules); else --log-level, which a reload changes
    // (the logger lets everything through and the level is the one gate).
    if std::env::var_os("RUST_LOG").is_some() {
        env_logger::Builder::from_env(env_logger::Env::default()).init();
    } else {
        env_logger::Builder::new()
            .filter_level(log::LevelFilter::Trace)
            .init();
        log::set_max_level(config::level_filter(&cfg.log_level));
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    let server = match Server::bind(cfg, Some(args)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("snak: {e}");
            return ExitCode::from(1);
        }
    };
    // Machine-readable, on stdout: tests and scripts learn the ports chosen for port 0.
    let mut stdout = std::io::stdout().lock();
    for (kind, addr) in server.local_addrs() {
        log::info!("listening on {addr} ({kind})");
        let _ = writeln!(stdout, "listening {kind} {addr}");
        if let Some(scheme) = match kind {
            "web" => Some("http"),
            "web-tls" => Some("https"),
            _ => None,
        } {
            log::info!("chat in a browser: {scheme}://{addr}/");
        }
    }
    let _ = stdout.flush();
    drop(stdout);
    // `ready` once the server can serve (on a network: once NATS is reached, or after a
    // bounded wait as a split node).
    let ready = || {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "ready");
        let _ = stdout.flush();
    };
    match server.run(ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snak: {e}");
            ExitCode::from(1)
        }
    }
}

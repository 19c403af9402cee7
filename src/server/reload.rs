//! Reloading the configuration (SIGHUP, or an operator's REHASH): what can change while
//! running changes, nobody is dropped, and a bad file leaves everything as it was.

use super::*;
use crate::config::{diff, Change};

/// How a reload went, for the log and the operator who asked.
pub enum Outcome {
    /// The changes applied (and those that wait for a restart).
    Applied(Vec<Change>),
    Failed(Vec<String>),
}

impl Server {
    /// Reads the configuration again and applies what changed. `by` is an operator who asked.
    pub(super) fn reload(&mut self, by: Option<ClientId>) -> Outcome {
        let monotonic = {
            // SAFETY: clock_gettime writes the struct it is given.
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
        };
        super::systemd::notify(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic}"));
        let outcome = self.try_reload();
        super::systemd::notify("READY=1");
        match &outcome {
            Outcome::Applied(_) => self.metrics.reloads += 1,
            Outcome::Failed(_) => self.metrics.reload_failures += 1,
        }
        match &outcome {
            Outcome::Applied(changes) if changes.is_empty() => {
                info!("reload: nothing changed")
            }
            Outcome::Applied(changes) => {
                for c in changes {
                    info!("reload: {c}");
                }
            }
            Outcome::Failed(errors) => {
                for e in errors {
                    warn!("reload failed, the old settings stay: {e}");
                }
            }
        }
        let _ = by;
        outcome
    }

    fn try_reload(&mut self) -> Outcome {
        let Some(args) = &self.args else {
            return Outcome::Failed(vec!["started without a command line to read again".into()]);
        };
        let (mut new, warnings) = match Config::load(args, args.config_file()) {
            Ok(loaded) => loaded,
            Err(errors) => return Outcome::Failed(errors.iter().map(|e| e.to_string()).collect()),
        };
        for w in &warnings {
            warn!("{w}");
        }
        let changes = diff(&self.cfg, &new);
        // What needs a restart keeps its old value until then.
        new.server_name = self.cfg.server_name.clone();
        new.ascii_names = self.cfg.ascii_names;
        // Certificates are read again on every reload: renewed files keep their names. New
        // handshakes use them; connections keep the configuration they started with.
        let tls = match load_tls(&new) {
            Ok(tls) => tls,
            Err(e) => return Outcome::Failed(vec![e.to_string()]),
        };
        if let Err(e) = self.rebind(&new) {
            return Outcome::Failed(vec![e.to_string()]);
        }
        self.tls = tls;
        self.irc_tls_port = super::irc_tls_port(&self.listeners);
        self.hub
            .set_files_url(super::files_url(&new, &self.listeners).as_deref());
        self.hub.set_config(crate::front::hub_config(&new));
        self.history.configure(&new);
        self.addresses.set_limits(
            new.max_per_ip,
            new.max_conn_rate,
            new.limit_loopback,
            new.ipv6_prefix,
        );
        self.sendq = SendqLimits {
            hard: new.max_sendq,
            soft: new.sendq_soft.min(new.max_sendq),
            soft_for: new.sendq_soft_for,
        };
        if new.log_level != self.cfg.log_level && std::env::var_os("RUST_LOG").is_none() {
            log::set_max_level(crate::config::level_filter(&new.log_level));
        }
        self.cfg = new;
        Outcome::Applied(changes)
    }

    /// Opens listeners the new configuration adds and closes those it drops; connections that
    /// came in on a dropped listener stay. Nothing changes if a new one cannot be bound.
    fn rebind(&mut self, new: &Config) -> io::Result<()> {
        let wanted = wanted_listeners(new);
        let current: Vec<(SocketAddr, Proto, bool)> = self
            .listeners
            .iter()
            .flatten()
            .filter_map(|l| Some((l.socket.local_addr().ok()?, l.proto, l.tls)))
            .collect();
        let same = |a: &(SocketAddr, Proto, bool), b: &(SocketAddr, Proto, bool)| {
            (a.1, a.2) == (b.1, b.2) && (a.0 == b.0 || (a.0.port() == 0 && a.0.ip() == b.0.ip()))
        };
        let mut added = Vec::new();
        for want in wanted
            .iter()
            .filter(|w| !current.iter().any(|c| same(w, c)))
        {
            let token = LISTENER_BASE + self.listeners.len() + added.len();
            let socket = bind_listener(&self.poll, want.0, token, super::reuse_port(&self.cfg))?;
            added.push(Listener {
                socket,
                proto: want.1,
                tls: want.2,
            });
        }
        for slot in self.listeners.iter_mut() {
            let keep = slot.as_ref().is_some_and(|l| {
                let have = l.socket.local_addr().map(|a| (a, l.proto, l.tls));
                have.is_ok_and(|h| wanted.iter().any(|w| same(w, &h)))
            });
            if !keep {
                if let Some(mut l) = slot.take() {
                    info!(
                        "reload: no longer listening on {:?} ({})",
                        l.socket.local_addr(),
                        l.kind()
                    );
                    let _ = self.poll.registry().deregister(&mut l.socket);
                }
            }
        }
        for l in added {
            if let Ok(addr) = l.socket.local_addr() {
                info!("reload: listening on {addr} ({})", l.kind());
            }
            self.listeners.push(Some(l));
        }
        Ok(())
    }
}

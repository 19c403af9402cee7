//! Which NATS server to try next, and when: the servers named with `--bus` (a cluster is
//! several), plus those the cluster itself advertises in `INFO` (`connect_urls`), tried in
//! turn; after each failure the wait doubles from `reconnect_min` to `reconnect_max`, with
//! jitter so that the nodes of a network do not all come back at the same instant when a
//! NATS server restarts.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

/// The default NATS client port.
pub const DEFAULT_PORT: u16 = 4222;
/// At most this many servers learned from `INFO` are kept beside the configured ones.
pub const MAX_DISCOVERED: usize = 32;

/// `nats://HOST:PORT`, `HOST:PORT` or `HOST` (port 4222), HOST a name, an IPv4 address or a
/// bracketed IPv6 address. Returns the host and port; the name is resolved separately.
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("nats://").unwrap_or(url);
    if rest.contains("://") {
        return Err(format!(
            "{url}: only nats:// is supported (no TLS to NATS yet)"
        ));
    }
    if rest.contains('@') {
        return Err(format!(
            "{url}: credentials in the URL are not supported; see the bus options"
        ));
    }
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{url}: unclosed '['"))?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("{url}: junk after the address")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("{url}: bad port"))?,
    };
    Ok((host.to_string(), port))
}

/// Resolves a server URL (blocking: at start only, before the loop runs).
pub fn resolve(url: &str) -> Result<Vec<SocketAddr>, String> {
    let (host, port) = parse_url(url)?;
    let addrs: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("{url}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{url}: no address"));
    }
    Ok(addrs)
}

/// A small generator for jitter (xorshift), seeded from the OS; not for secrets.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn new() -> Jitter {
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        Jitter::seeded(u64::from_le_bytes(seed))
    }

    pub fn seeded(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A duration between half of `d` and `d`.
    pub fn spread(&mut self, d: Duration) -> Duration {
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        let half = nanos / 2;
        let extra = if half == 0 {
            0
        } else {
            self.next_u64() % (half + 1)
        };
        Duration::from_nanos(half + extra)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter::new()
    }
}

/// The servers and the position in them.
#[derive(Debug)]
pub struct Pool {
    configured: Vec<SocketAddr>,
    discovered: Vec<SocketAddr>,
    next: usize,
    /// Failures since the last successful connection.
    failures: u32,
    min: Duration,
    max: Duration,
    jitter: Jitter,
}

impl Pool {
    pub fn new(configured: Vec<SocketAddr>, min: Duration, max: Duration, jitter: Jitter) -> Pool {
        Pool {
            configured,
            discovered: Vec::new(),
            next: 0,
            failures: 0,
            min,
            max: max.max(min),
            jitter,
        }
    }

    fn len(&self) -> usize {
        self.configured.len() + self.discovered.len()
    }

    /// The server to try now (and moves on, so the next call gives the next one).
    pub fn pick(&mut self) -> Option<SocketAddr> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let i = self.next % n;
        self.next = (i + 1) % n;
        Some(if i < self.configured.len() {
            self.configured[i]
        } else {
            self.discovered[i - self.configured.len()]
        })
    }

    /// How long to wait before the next attempt, after a failure or a lost connection.
    pub fn failed(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        // A lost connection is retried soon; then the wait doubles each time.
        let exp = self.failures.saturating_sub(1).min(20);
        let wait = self.min.saturating_mul(1u32 << exp).min(self.max);
        self.jitter.spread(wait)
    }

    pub fn connected(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Adds the cluster's advertised servers (`host:port` as IP literals; names are not
    /// resolved here, on the loop).
    pub fn learn(&mut self, urls: &[String]) {
        for url in urls {
            let Ok((host, port)) = parse_url(url) else {
                continue;
            };
            let Ok(ip) = host.parse::<std::net::IpAddr>() else {
                continue;
            };
            let addr = SocketAddr::new(ip, port);
            if self.configured.contains(&addr) || self.discovered.contains(&addr) {
                continue;
            }
            if self.discovered.len() >= MAX_DISCOVERED {
                break;
            }
            self.discovered.push(addr);
        }
    }
}

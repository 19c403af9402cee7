//! The loop's counters and their Prometheus text exposition (`GET /metrics` on
//! `--metrics-listen`). Counting is a plain integer add where the event happens; the rest
//! (gauges: connections, users, rooms, descriptors, the store's queue) is read when scraped.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::*;

/// Why connections were dropped or refused, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Flood,
    SendqHard,
    SendqSoft,
    TooManyFromAddress,
    ConnectingTooFast,
    Full,
    RegistrationTimeout,
    PingTimeout,
    HandshakeTimeout,
    WebRequestTimeout,
    WrongProtocol,
}

impl Drop {
    const ALL: [Drop; 11] = [
        Drop::Flood,
        Drop::SendqHard,
        Drop::SendqSoft,
        Drop::TooManyFromAddress,
        Drop::ConnectingTooFast,
        Drop::Full,
        Drop::RegistrationTimeout,
        Drop::PingTimeout,
        Drop::HandshakeTimeout,
        Drop::WebRequestTimeout,
        Drop::WrongProtocol,
    ];

    fn label(self) -> &'static str {
        match self {
            Drop::Flood => "flood",
            Drop::SendqHard => "sendq_hard",
            Drop::SendqSoft => "sendq_soft",
            Drop::TooManyFromAddress => "per_address",
            Drop::ConnectingTooFast => "connect_rate",
            Drop::Full => "full",
            Drop::RegistrationTimeout => "registration_timeout",
            Drop::PingTimeout => "ping_timeout",
            Drop::HandshakeTimeout => "tls_handshake_timeout",
            Drop::WebRequestTimeout => "web_request_timeout",
            Drop::WrongProtocol => "wrong_protocol",
        }
    }

    /// The drop a close reason stands for, if it is one.
    pub fn of(reason: &CloseReason) -> Option<Drop> {
        Some(match reason {
            CloseReason::SendqExceeded { soft: false } => Drop::SendqHard,
            CloseReason::SendqExceeded { soft: true } => Drop::SendqSoft,
            CloseReason::Other("excess flood") => Drop::Flood,
            CloseReason::Other("registration timed out") => Drop::RegistrationTimeout,
            CloseReason::Other("ping timeout") | CloseReason::Other("WebSocket ping timeout") => {
                Drop::PingTimeout
            }
            CloseReason::Other("TLS handshake timed out") => Drop::HandshakeTimeout,
            CloseReason::Other("HTTP request not in time") => Drop::WebRequestTimeout,
            CloseReason::Other("plain text on a TLS port")
            | CloseReason::Other("a TLS handshake on a plain port") => Drop::WrongProtocol,
            _ => return None,
        })
    }
}

/// Upper bounds of the loop-pass duration histogram, in microseconds.
const PASS_BUCKETS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 50_000, 250_000,
];

#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    /// Connections accepted, by listener kind (`native`, `irc-tls`, ...).
    pub accepted: Vec<(&'static str, u64)>,
    pub registrations: u64,
    pub lines_in: u64,
    pub deliveries: u64,
    pub bytes_in: u64,
    drops: [u64; Drop::ALL.len()],
    pub websocket_upgrades: u64,
    pub file_bytes: u64,
    pub reloads: u64,
    pub reload_failures: u64,
    pass_buckets: [u64; PASS_BUCKETS_US.len()],
    pass_count: u64,
    pass_sum_us: u64,
}

impl Metrics {
    pub fn new(now: Instant) -> Metrics {
        Metrics {
            started: now,
            accepted: Vec::new(),
            registrations: 0,
            lines_in: 0,
            deliveries: 0,
            bytes_in: 0,
            drops: [0; Drop::ALL.len()],
            websocket_upgrades: 0,
            file_bytes: 0,
            reloads: 0,
            reload_failures: 0,
            pass_buckets: [0; PASS_BUCKETS_US.len()],
            pass_count: 0,
            pass_sum_us: 0,
        }
    }

    pub fn accepted(&mut self, kind: &'static str) {
        match self.accepted.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.accepted.push((kind, 1)),
        }
    }

    pub fn dropped(&mut self, why: Drop) {
        if let Some(i) = Drop::ALL.iter().position(|&d| d == why) {
            self.drops[i] += 1;
        }
    }

    /// One loop pass took `took`.
    pub fn pass(&mut self, took: Duration) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.pass_count += 1;
        self.pass_sum_us += us;
        if let Some(i) = PASS_BUCKETS_US.iter().position(|&b| us <= b) {
            self.pass_buckets[i] += 1;
        }
    }
}

/// One metric: its help, its type and its samples.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP snak_{name} {help}");
    let _ = writeln!(out, "# TYPE snak_{name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "snak_{name} {value}");
        } else {
            let _ = writeln!(out, "snak_{name}{{{labels}}} {value}");
        }
    }
}

/// Open descriptors of this process, from /proc (None where there is no /proc).
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

impl Server {
    /// Answers a metrics scrape on connection `id`.
    pub(super) fn serve_metrics(&mut self, id: ClientId, keep_alive: bool, head_only: bool) {
        use crate::proto::http::{ResponseHead, Status};
        let body = self.render_metrics();
        let head = ResponseHead {
            content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
            ..ResponseHead::new(Status::OK, keep_alive)
        };
        let mut out = deliver_to!(self, None);
        use crate::front::Output as _;
        out.raw(id, |b| {
            head.write(b, body.len() as u64);
            if !head_only {
                b.extend_from_slice(body.as_bytes());
            }
        });
        if !keep_alive {
            out.close(id, CloseReason::Other("HTTP answer given"));
        }
    }

    /// The same figures as `/metrics`, as (name, value) pairs for an operator's STATS:
    /// comments and the pass histogram's buckets left out.
    pub(super) fn figures(&self) -> Vec<(String, String)> {
        self.render_metrics()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("_bucket{"))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_string(), value.to_string()))
            })
            .collect()
    }

    /// The Prometheus text exposition of everything the loop counts and knows.
    pub(super) fn render_metrics(&self) -> String {
        let m = &self.metrics;
        let mut out = String::new();
        let mut by_kind: Vec<(String, f64)> = Vec::new();
        for (_, link) in &self.links {
            let kind = format!(
                "front=\"{}\",transport=\"{}\"",
                link.wire.proto.name(),
                match (link.transport.is_tls(), link.ws.is_some()) {
                    (false, false) => "tcp",
                    (true, false) => "tls",
                    (false, true) => "websocket",
                    (true, true) => "websocket_tls",
                }
            );
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1.0,
                None => by_kind.push((kind, 1.0)),
            }
        }
        let samples: Vec<(&str, f64)> = by_kind.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        metric(
            &mut out,
            "connections",
            "gauge",
            "Open connections by front end and transport.",
            &samples,
        );
        let accepted: Vec<(String, f64)> = m
            .accepted
            .iter()
            .map(|(k, n)| (format!("listener=\"{k}\""), *n as f64))
            .collect();
        let samples: Vec<(&str, f64)> = accepted.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        metric(
            &mut out,
            "connections_accepted_total",
            "counter",
            "Connections accepted, by listener.",
            &samples,
        );
        metric(
            &mut out,
            "registrations_total",
            "counter",
            "Clients that became users.",
            &[("", m.registrations as f64)],
        );
        metric(
            &mut out,
            "users",
            "gauge",
            "Users on line.",
            &[("", self.hub.user_count() as f64)],
        );
        metric(
            &mut out,
            "rooms",
            "gauge",
            "Rooms.",
            &[("", self.hub.room_count() as f64)],
        );
        metric(
            &mut out,
            "lines_in_total",
            "counter",
            "Protocol lines (and WebSocket messages) read.",
            &[("", m.lines_in as f64)],
        );
        metric(
            &mut out,
            "deliveries_total",
            "counter",
            "Copies of events queued for others.",
            &[("", m.deliveries as f64)],
        );
        metric(
            &mut out,
            "bytes_in_total",
            "counter",
            "Bytes read from clients (plaintext).",
            &[("", m.bytes_in as f64)],
        );
        metric(
            &mut out,
            "bytes_out_total",
            "counter",
            "Bytes written to clients (plaintext).",
            &[("", self.outbox.written as f64)],
        );
        let drops: Vec<(String, f64)> = Drop::ALL
            .iter()
            .zip(&m.drops)
            .map(|(d, n)| (format!("reason=\"{}\"", d.label()), *n as f64))
            .collect();
        let samples: Vec<(&str, f64)> = drops.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        metric(
            &mut out,
            "drops_total",
            "counter",
            "Connections dropped or refused, by reason.",
            &samples,
        );
        metric(
            &mut out,
            "websocket_upgrades_total",
            "counter",
            "HTTP connections that became WebSockets.",
            &[("", m.websocket_upgrades as f64)],
        );
        metric(
            &mut out,
            "file_transfers_active",
            "gauge",
            "File offers and transfers open.",
            &[("", self.hub.transfer_count() as f64)],
        );
        metric(
            &mut out,
            "file_bytes_total",
            "counter",
            "File bytes forwarded.",
            &[("", m.file_bytes as f64)],
        );
        let (stored_bytes, stored_files) = self.hub.hosted().totals();
        metric(
            &mut out,
            "uploads_stored_files",
            "gauge",
            "FILEHOST uploads stored.",
            &[("", stored_files as f64)],
        );
        metric(
            &mut out,
            "uploads_stored_bytes",
            "gauge",
            "Bytes of FILEHOST uploads stored or being uploaded.",
            &[("", stored_bytes as f64)],
        );
        metric(
            &mut out,
            "reloads_total",
            "counter",
            "Configuration reloads, by outcome.",
            &[
                ("outcome=\"applied\"", m.reloads as f64),
                ("outcome=\"failed\"", m.reload_failures as f64),
            ],
        );
        if let Some(store) = &self.store {
            let s = store.stats();
            metric(
                &mut out,
                "store_queue_depth",
                "gauge",
                "Writes waiting for the store thread.",
                &[("", s.queue_depth as f64)],
            );
            metric(
                &mut out,
                "store_commits_total",
                "counter",
                "Group commits.",
                &[("", s.commits as f64)],
            );
            metric(
                &mut out,
                "store_rows_total",
                "counter",
                "Rows written.",
                &[("", s.rows_written as f64)],
            );
            metric(
                &mut out,
                "store_last_commit_seconds",
                "gauge",
                "How long the last group commit took.",
                &[("", s.last_commit.as_secs_f64())],
            );
            metric(
                &mut out,
                "store_failures_total",
                "counter",
                "Failed store operations.",
                &[("", s.failures as f64)],
            );
            metric(
                &mut out,
                "store_dropped_total",
                "counter",
                "Writes lost (queue full, or the disk failing too long).",
                &[("", (s.dropped + s.refused) as f64)],
            );
        }
        if let Some(network) = &self.network {
            metric(
                &mut out,
                "network_msgid_tag",
                "gauge",
                "The msgid tag this node holds on the network (0: none claimed yet).",
                &[("", f64::from(network.msgid_tag()))],
            );
        }
        let h = &self.history;
        metric(
            &mut out,
            "history_kept_total",
            "counter",
            "Messages handed to the store for history.",
            &[("", h.kept as f64)],
        );
        metric(
            &mut out,
            "history_replays_total",
            "counter",
            "Joins that were replayed the room's latest lines.",
            &[("", h.replays as f64)],
        );
        metric(
            &mut out,
            "history_window_lines",
            "gauge",
            "Lines in the recent window (the latest lines of each room, in memory).",
            &[("", h.window().lines() as f64)],
        );
        metric(
            &mut out,
            "history_window_bytes",
            "gauge",
            "The recent window's size by its own count.",
            &[("", h.window().bytes() as f64)],
        );
        // The pass histogram: cumulative buckets in seconds.
        let _ = writeln!(
            out,
            "# HELP snak_loop_pass_seconds How long one pass of the event loop took."
        );
        let _ = writeln!(out, "# TYPE snak_loop_pass_seconds histogram");
        let mut cumulative = 0;
        for (bound, n) in PASS_BUCKETS_US.iter().zip(&m.pass_buckets) {
            cumulative += n;
            let le = *bound as f64 / 1e6;
            let _ = writeln!(
                out,
                "snak_loop_pass_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "snak_loop_pass_seconds_bucket{{le=\"+Inf\"}} {}",
            m.pass_count
        );
        let _ = writeln!(
            out,
            "snak_loop_pass_seconds_sum {}",
            m.pass_sum_us as f64 / 1e6
        );
        let _ = writeln!(out, "snak_loop_pass_seconds_count {}", m.pass_count);
        if let Some(n) = open_fds() {
            metric(
                &mut out,
                "open_fds",
                "gauge",
                "Open file descriptors.",
                &[("", n as f64)],
            );
        }
        metric(
            &mut out,
            "max_fds",
            "gauge",
            "The open-file limit.",
            &[("", self.fd_limit as f64)],
        );
        metric(
            &mut out,
            "max_clients",
            "gauge",
            "Most connections at once.",
            &[("", self.max_clients as f64)],
        );
        let up = self.clock.mono.duration_since(m.started).as_secs_f64();
        metric(
            &mut out,
            "uptime_seconds",
            "gauge",
            "Seconds since start.",
            &[("", up)],
        );
        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        metric(
            &mut out,
            "build_info",
            "gauge",
            "The running version.",
            &[(&version, 1.0)],
        );
        out
    }
}

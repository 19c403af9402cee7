//! The loop's side of the network (`--bus`): the bus's socket, timers and flush are driven
//! like any connection's, and once per pass (and after each bus event batch) what the hub told
//! the network is sent and what the bus reported is applied, until neither has more. Without
//! `--bus` none of this runs: `network` is None and every call below returns at its first line.

use std::time::Duration;

use mio::{Poll, Token};

use super::*;
use crate::network::{NetConfig, NetOut, Network};

/// The id of the store call that reads accounts and rooms again after a split (no front
/// end's: theirs count up from 0).
pub(super) const RECORDS_CALL: u64 = u64::MAX;

/// How long a first join waits for the other nodes' room states.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// With `--bus`: the bus (its servers resolved now, before the loop runs) and the hub made a
/// node of the network.
pub(super) fn start(
    cfg: &Config,
    poll: &Poll,
    token: Token,
    hub: &mut Hub,
) -> io::Result<(Option<Network>, Option<NetOut>)> {
    if cfg.bus.is_empty() {
        return Ok((None, None));
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    let node = u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()).max(1);
    let guest_start = 1 + u64::from_le_bytes(bytes[8..].try_into().unwrap_or_default()) % 90_000;
    let net_cfg = NetConfig {
        servers: cfg.bus.clone(),
        network: cfg.network.clone(),
        ttl: cfg.bus_ttl,
        grace: cfg.bus_grace,
        sync_timeout: SYNC_TIMEOUT,
        name: cfg.server_name.clone(),
        shared_store: !cfg.store_url.is_empty(),
    };
    let network = Network::start(net_cfg, node, poll.registry(), token, Instant::now())
        .map_err(|e| io::Error::other(format!("--bus: {e}")))?;
    hub.join_network(node, guest_start);
    info!(
        "network {:?}: this server is node {} (NATS: {})",
        cfg.network,
        crate::network::node_hex(node),
        cfg.bus.join(", ")
    );
    Ok((Some(network), Some(NetOut::default())))
}

impl Server {
    /// Whether `id`'s input waits for the network (a nick being claimed, a room's state).
    pub(super) fn held(&self, id: ClientId) -> bool {
        self.network.is_some() && self.hub.net_waiting(id)
    }

    /// The bus's socket is ready.
    pub(super) fn net_ready(&mut self, event: &mio::event::Event) {
        if let Some(network) = &mut self.network {
            network.bus().ready(event, self.clock.mono);
        }
        self.net_pump();
    }

    /// When the network's timers want to run next.
    pub(super) fn net_deadline(&self) -> Option<Instant> {
        let network = self.network.as_ref()?;
        if self.net_out.as_ref().is_some_and(|o| !o.is_empty()) {
            return Some(self.clock.mono);
        }
        network.next_deadline()
    }

    /// What the hub told the network is sent, what the bus reported is applied, due timers
    /// run, rooms without local members are let go, until nothing is left; then connections
    /// whose wait is over are read again.
    pub(super) fn net_pump(&mut self) {
        // Released connections may say more at once: a few rounds, the rest next pass.
        for _ in 0..16 {
            if !self.net_round() {
                return;
            }
        }
    }

    /// One round of [`Server::net_pump`]; true if what it released left more to send.
    fn net_round(&mut self) -> bool {
        let Some(mut network) = self.network.take() else {
            return false;
        };
        let clock = self.clock;
        if network.next_deadline().is_some_and(|at| at <= clock.mono) {
            let mut out = deliver_to!(self, None);
            network.poll_timers(&mut self.hub, clock, &mut out);
        }
        loop {
            let mut busy = false;
            let items = self.net_out.as_mut().map(NetOut::take).unwrap_or_default();
            if !items.is_empty() {
                busy = true;
                let mut out = deliver_to!(self, None);
                for item in items {
                    network.send(item, &mut self.hub, clock, &mut out);
                }
            }
            while let Some(event) = network.bus().next_event() {
                busy = true;
                let mut out = deliver_to!(self, None);
                network.handle(event, &mut self.hub, clock, &mut out);
            }
            {
                let mut out = deliver_to!(self, None);
                self.hub.settle(&mut out);
            }
            let more = self.net_out.as_ref().is_some_and(|o| !o.is_empty());
            if !busy && !more {
                break;
            }
        }
        let claimed = network.take_claimed();
        if network.take_rejoined() {
            if let Some(store) = self.store.as_mut() {
                // Refused (the queue is full): the next split's end tries again.
                let _ = store.call(RECORDS_CALL, crate::store::Call::Records);
            }
        }
        self.network = Some(network);
        for c in claimed {
            let live = self.links.get(c.id).is_some_and(|l| !l.is_closing());
            if live {
                self.with_session(c.id, |s, ctx, hub, out| s.nick_claimed(ctx, c.ok, hub, out));
            }
        }
        for id in self.hub.take_killed() {
            self.close(id, CloseReason::Other("killed by an operator"));
        }
        for id in self.hub.take_released() {
            if self.links.contains(id) {
                self.input(id, &mut []);
                self.carry.push(id);
            }
        }
        self.net_out.as_ref().is_some_and(|o| !o.is_empty())
    }

    /// The bus writes what the pass queued for it; connections paused while it was behind
    /// are read again once it is not.
    pub(super) fn net_flush(&mut self) {
        let Some(network) = &mut self.network else {
            return;
        };
        network.bus().flush(self.clock.mono);
        if !self.net_paused.is_empty() && !network.bus().is_backlogged() {
            let mut paused = std::mem::take(&mut self.net_paused);
            paused.sort_unstable();
            paused.dedup();
            self.carry.extend(paused);
        }
    }

    /// Whether the bus has more waiting to be written than it should (see
    /// [`crate::bus::Bus::is_backlogged`]); it is given a write first.
    pub(super) fn net_backlogged(&mut self) -> bool {
        let Some(network) = &mut self.network else {
            return false;
        };
        if !network.bus().is_backlogged() {
            return false;
        }
        network.bus().flush(self.clock.mono);
        network.bus().is_backlogged()
    }

    /// A clean stop: the other nodes hear it and this node's nicks are free at once.
    pub(super) fn net_shutdown(&mut self) {
        if let Some(network) = self.network.take() {
            network.shutdown(Instant::now());
        }
    }
}

//! The defences that keep one client from spoiling the server for the others (pure: the
//! loop asks, these answer; they know the clock only as an argument).
//!
//! - [`FloodGate`]: how fast one connection may send lines ("fake lag" as IRC daemons do it).
//! - [`AddressLimits`]: how many connections one source address may hold and open per minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::clock::{instant_of, nanos_of};

/// A line costs this much of the connection's time allowance, plus [`BYTE_COST`] per byte.
pub const LINE_COST: Duration = Duration::from_millis(250);
pub const BYTE_COST: Duration = Duration::from_micros(100);
/// How far ahead of the clock a connection may run: a burst of about 20 short lines.
pub const BURST: Duration = Duration::from_secs(5);
/// What each copy a line causes for someone else costs its sender, beyond the first: a line
/// to a room of 10 000 costs about half a second more than a line to one friend.
pub const DELIVERY_COST: Duration = Duration::from_micros(50);

/// A rate limit as a generic cell rate algorithm: one instant per connection, the time at
/// which the connection would be even. It may run up to [`BURST`] ahead; past that its lines
/// wait.
#[derive(Debug, Clone, Copy)]
pub struct FloodGate {
    /// As [`crate::clock::nanos_of`]: 8 bytes in every connection, where an `Instant` is 16.
    even_at: u64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl FloodGate {
    pub fn new(now: Instant) -> FloodGate {
        FloodGate {
            even_at: nanos_of(now),
        }
    }

    /// Charges a line of `len` bytes, or says when it may be sent.
    pub fn admit(&mut self, now: Instant, len: usize) -> Result<(), Instant> {
        let now_at = nanos_of(now);
        let start = self.even_at.max(now_at);
        if start > now_at.saturating_add(nanos(BURST)) {
            return Err(instant_of(start - nanos(BURST)));
        }
        let cost = LINE_COST + BYTE_COST * (len.min(1 << 20) as u32);
        self.even_at = start.saturating_add(nanos(cost));
        Ok(())
    }

    /// Charges the work an admitted line caused: `deliveries` copies queued for others.
    pub fn charge_work(&mut self, now: Instant, deliveries: u64) {
        let extra = deliveries.saturating_sub(1).min(1 << 24) as u32;
        self.even_at = self
            .even_at
            .max(nanos_of(now))
            .saturating_add(nanos(DELIVERY_COST * extra));
    }
}

/// Why a new connection is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TooManyFromAddress,
    TooFast,
}

#[derive(Debug, Clone, Copy)]
struct AddressState {
    open: u32,
    window_start: Instant,
    opened_in_window: u32,
}

/// How a connection was counted, for [`AddressLimits::release`] with its address: under the
/// IPv6 prefix length in force when it was admitted (a reload may change it), or not at all.
/// One byte in every connection instead of the 17 of the key itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted(u8);

impl Counted {
    /// Not counted (exempt, or never admitted).
    pub const NOT: Counted = Counted(u8::MAX);
}

/// Per-address connection accounting. Loopback is exempt unless asked otherwise, so local
/// tests, bouncers and gateways work. IPv4 addresses count one by one; IPv6 addresses by their
/// leading `ipv6_prefix` bits (a /64 by default, what one customer usually gets), so one
/// network cannot take unlimited connections by using many of its addresses.
#[derive(Debug)]
pub struct AddressLimits {
    max_open: u32,
    max_per_minute: u32,
    include_loopback: bool,
    ipv6_prefix: u8,
    by_address: HashMap<IpAddr, AddressState>,
    last_sweep: Option<Instant>,
}

const WINDOW: Duration = Duration::from_secs(60);

impl AddressLimits {
    pub fn new(
        max_open: u32,
        max_per_minute: u32,
        include_loopback: bool,
        ipv6_prefix: u8,
    ) -> AddressLimits {
        AddressLimits {
            max_open,
            max_per_minute,
            include_loopback,
            ipv6_prefix: ipv6_prefix.min(128),
            by_address: HashMap::new(),
            last_sweep: None,
        }
    }

    /// The address as it is counted: IPv4 (also when mapped into IPv6) whole, IPv6 by the
    /// prefix in force.
    fn key(&self, ip: IpAddr) -> IpAddr {
        key_with(ip, self.ipv6_prefix)
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        ip.is_loopback() && !self.include_loopback
    }

    /// New limits (a reload): connections counted before stay counted under the key they were
    /// admitted with.
    pub fn set_limits(&mut self, max_open: u32, max_per_minute: u32, loopback: bool, prefix: u8) {
        self.max_open = max_open;
        self.max_per_minute = max_per_minute;
        self.include_loopback = loopback;
        self.ipv6_prefix = prefix.min(128);
    }

    /// Counts a new connection from `ip`, or refuses it. Returns how it is counted, to give
    /// back to [`AddressLimits::release`] with the same address.
    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<Counted, Refusal> {
        if self.exempt(ip) {
            return Ok(Counted::NOT);
        }
        let ip = self.key(ip);
        self.sweep(now);
        let state = self.by_address.entry(ip).or_insert(AddressState {
            open: 0,
            window_start: now,
            opened_in_window: 0,
        });
        if now.duration_since(state.window_start) >= WINDOW {
            state.window_start = now;
            state.opened_in_window = 0;
        }
        if state.open >= self.max_open {
            return Err(Refusal::TooManyFromAddress);
        }
        if state.opened_in_window >= self.max_per_minute {
            return Err(Refusal::TooFast);
        }
        state.open += 1;
        state.opened_in_window += 1;
        Ok(Counted(self.ipv6_prefix))
    }

    /// How `ip` is counted now; tests use it to release.
    #[cfg(test)]
    fn counted_of(&self, ip: IpAddr) -> Counted {
        if self.exempt(ip) {
            Counted::NOT
        } else {
            Counted(self.ipv6_prefix)
        }
    }

    /// A connection from `ip`, admitted as `counted`, is gone.
    pub fn release(&mut self, ip: IpAddr, counted: Counted) {
        if counted == Counted::NOT {
            return;
        }
        let ip = key_with(ip, counted.0);
        if let Some(state) = self.by_address.get_mut(&ip) {
            state.open = state.open.saturating_sub(1);
        }
    }

    /// Forgets addresses with nothing open and a finished window, now and then.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|at| now.duration_since(at) < WINDOW)
        {
            return;
        }
        self.last_sweep = Some(now);
        self.by_address
            .retain(|_, s| s.open > 0 || now.duration_since(s.window_start) < WINDOW);
    }

    pub fn tracked(&self) -> usize {
        self.by_address.len()
    }
}

/// `ip` as counted with IPv6 addresses cut to their leading `prefix` bits.
fn key_with(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6);
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(prefix.min(128)))
                    .unwrap_or(0);
                IpAddr::V6((bits & mask).into())
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_lines_wait_their_turn() {
        let t0 = Instant::now();
        let mut gate = FloodGate::new(t0);
        let mut passed = 0;
        while gate.admit(t0, 10).is_ok() {
            passed += 1;
        }
        assert!((18..=22).contains(&passed), "burst of {passed}");
        let retry = gate.admit(t0, 10).unwrap_err();
        assert!(retry > t0 && retry <= t0 + LINE_COST * 2);
        assert!(gate.admit(retry, 10).is_ok());
        // A typist at one line a second is never held up.
        let mut typist = FloodGate::new(t0);
        for s in 0..600 {
            assert!(typist.admit(t0 + Duration::from_secs(s), 80).is_ok());
        }
    }

    #[test]
    fn a_line_to_many_costs_more_than_a_line_to_one() {
        let t0 = Instant::now();
        let (mut one, mut many) = (FloodGate::new(t0), FloodGate::new(t0));
        let (mut to_one, mut to_many) = (0, 0);
        while one.admit(t0, 10).is_ok() {
            one.charge_work(t0, 1);
            to_one += 1;
        }
        while many.admit(t0, 10).is_ok() {
            many.charge_work(t0, 10_000);
            to_many += 1;
        }
        assert!(
            to_many * 2 < to_one,
            "{to_many} lines to 10 000 vs {to_one} to one"
        );
        assert!(to_many >= 1, "the first line always passes");
    }

    /// The gate keeps nanoseconds, not an `Instant`: the retry it gives is exact.
    #[test]
    fn a_gate_is_one_word_and_its_retry_is_exact() {
        assert_eq!(std::mem::size_of::<FloodGate>(), 8);
        let t0 = Instant::now();
        let mut gate = FloodGate::new(t0);
        while gate.admit(t0, 0).is_ok() {}
        let retry = gate.admit(t0, 0).unwrap_err();
        let later = t0 + Duration::from_secs(3600);
        let mut late = FloodGate::new(later);
        while late.admit(later, 0).is_ok() {}
        assert_eq!(late.admit(later, 0).unwrap_err() - later, retry - t0);
    }

    #[test]
    fn long_lines_cost_more() {
        let t0 = Instant::now();
        let mut gate = FloodGate::new(t0);
        let mut passed = 0;
        while gate.admit(t0, 8192).is_ok() {
            passed += 1;
        }
        assert!(passed < 6, "{passed}");
    }

    #[test]
    fn addresses_are_capped_and_rate_limited_loopback_exempt() {
        let t0 = Instant::now();
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let mut limits = AddressLimits::new(2, 3, false, 64);
        assert_eq!(limits.admit(remote, t0).map(|_| ()), Ok(()));
        assert_eq!(limits.admit(remote, t0).map(|_| ()), Ok(()));
        assert_eq!(
            limits.admit(remote, t0).map(|_| ()),
            Err(Refusal::TooManyFromAddress)
        );
        limits.release(remote, limits.counted_of(remote));
        assert_eq!(limits.admit(remote, t0).map(|_| ()), Ok(()));
        limits.release(remote, limits.counted_of(remote));
        assert_eq!(limits.admit(remote, t0).map(|_| ()), Err(Refusal::TooFast));
        assert_eq!(limits.admit(remote, t0 + WINDOW).map(|_| ()), Ok(()));
        for _ in 0..100 {
            assert_eq!(
                limits.admit("127.0.0.5".parse().unwrap(), t0).map(|_| ()),
                Ok(())
            );
            assert_eq!(limits.admit("::1".parse().unwrap(), t0).map(|_| ()), Ok(()));
        }
        let mut strict = AddressLimits::new(1, 10, true, 64);
        assert_eq!(
            strict.admit("127.0.0.1".parse().unwrap(), t0).map(|_| ()),
            Ok(())
        );
        assert_eq!(
            strict.admit("127.0.0.1".parse().unwrap(), t0),
            Err(Refusal::TooManyFromAddress)
        );
    }

    /// A reload may change the IPv6 prefix: a connection is released under the key it was
    /// counted under, not under the new one.
    #[test]
    fn a_connection_is_released_under_the_prefix_it_was_counted_with() {
        let t0 = Instant::now();
        let mut limits = AddressLimits::new(1, 100, false, 64);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let counted = limits.admit(a, t0).expect("the first is admitted");
        assert_eq!(limits.admit(a, t0), Err(Refusal::TooManyFromAddress));
        limits.set_limits(1, 100, false, 48);
        limits.release(a, counted);
        limits.set_limits(1, 100, false, 64);
        assert!(limits.admit(a, t0).is_ok(), "its /64 was given back");
        let loopback = "127.0.0.1".parse().unwrap();
        assert_eq!(limits.admit(loopback, t0), Ok(Counted::NOT));
        assert_eq!(std::mem::size_of::<Counted>(), 1);
    }

    #[test]
    fn ipv6_counts_by_prefix_and_ipv4_by_address() {
        let t0 = Instant::now();
        let mut limits = AddressLimits::new(2, 100, false, 64);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limits.admit(a, t0).map(|_| ()), Ok(()));
        assert_eq!(limits.admit(b, t0).map(|_| ()), Ok(()));
        assert_eq!(
            limits.admit(a, t0),
            Err(Refusal::TooManyFromAddress),
            "same /64"
        );
        assert_eq!(limits.admit(other, t0).map(|_| ()), Ok(()), "another /64");
        limits.release(b, limits.counted_of(b));
        assert_eq!(limits.admit(a, t0).map(|_| ()), Ok(()));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        let v4_neighbour: IpAddr = "192.0.2.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(limits.admit(v4, t0).map(|_| ()), Ok(()));
        assert_eq!(limits.admit(mapped, t0).map(|_| ()), Ok(()));
        assert_eq!(
            limits.admit(v4, t0).map(|_| ()),
            Err(Refusal::TooManyFromAddress)
        );
        assert_eq!(limits.admit(v4_neighbour, t0).map(|_| ()), Ok(()));
        let mut whole = AddressLimits::new(1, 100, false, 128);
        assert_eq!(whole.admit(a, t0).map(|_| ()), Ok(()));
        assert_eq!(
            whole.admit(b, t0).map(|_| ()),
            Ok(()),
            "/128 counts each address"
        );
    }

    #[test]
    fn idle_addresses_are_forgotten() {
        let t0 = Instant::now();
        let mut limits = AddressLimits::new(5, 5, false, 64);
        for i in 0..50u8 {
            let ip = IpAddr::from([192, 0, 2, i]);
            limits.admit(ip, t0).unwrap();
            limits.release(ip, limits.counted_of(ip));
        }
        assert_eq!(limits.tracked(), 50);
        limits
            .admit("198.51.100.1".parse().unwrap(), t0 + WINDOW * 2)
            .unwrap();
        assert_eq!(limits.tracked(), 1);
    }
}

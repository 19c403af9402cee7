//! A fixed-size latency histogram: log2 bands of 64 linear buckets each (under 1.6% error),
//! so recording is a few instructions and memory does not grow with the message count.

const SUB: u32 = 6; // 2^6 buckets per power of two
const BUCKETS: usize = (64 - SUB as usize + 1) << SUB;

pub struct Hist {
    counts: Vec<u64>,
    pub n: u64,
    pub max: u64,
}

impl Hist {
    pub fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS],
            n: 0,
            max: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < (1 << SUB) {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let band = msb - SUB + 1;
        let sub = (v >> (msb - SUB)) - (1 << SUB);
        ((band as usize) << SUB) + sub as usize
    }

    /// The largest value that falls into bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < (1 << SUB) {
            return i as u64;
        }
        let band = (i >> SUB) as u32;
        let sub = (i & ((1 << SUB) - 1)) as u64;
        let shift = band - 1;
        (((1 << SUB) + sub + 1) << shift) - 1
    }

    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.n += 1;
        self.max = self.max.max(v);
    }

    /// The value at quantile `q` (0..=1), rounded up to its bucket's top.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(i).min(self.max);
            }
        }
        self.max
    }
}

/// Nanoseconds as a short human figure: `850us`, `12.3ms`, `1.20s`.
pub fn dur(ns: u64) -> String {
    let ns = ns as f64;
    if ns < 1e6 {
        format!("{:.0}us", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else {
        format!("{:.2}s", ns / 1e9)
    }
}

/// A count as a short figure: `950`, `12.3k`, `1.25M`.
pub fn si(v: f64) -> String {
    if v < 1e4 {
        format!("{v:.0}")
    } else if v < 1e6 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{:.2}M", v / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_their_values() {
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456, 9_999_999_999] {
            let i = Hist::index(v);
            assert!(Hist::upper(i) >= v, "{v}");
            assert!(Hist::upper(i) as f64 <= v as f64 * 1.02 + 1.0, "{v}");
        }
    }
}

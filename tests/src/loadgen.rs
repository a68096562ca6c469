//! The load generator's decisions, without I/O or clock (`fleetlog-loadgen` does the I/O):
//! how many lines an agent owes at a time (`Pacer`), what they say (`LineMaker`), which
//! source address a simulated agent's socket binds (`source_ip`), and the latency
//! percentiles of the report (`Latencies`).

use std::net::{IpAddr, Ipv4Addr};

use fleetlog_protocol::messages::{Entry, Level};

/// Lines an agent generates over time at a fixed rate: fractional lines carry over, so over
/// any span the count is within one line of `rate × span`.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Lines per second for this agent; 0 means "as fast as the collector acknowledges".
    rate: f64,
    owed: f64,
    last_ms: Option<u64>,
}

impl Pacer {
    pub fn new(rate: f64) -> Pacer {
        Pacer {
            rate: rate.max(0.0),
            owed: 0.0,
            last_ms: None,
        }
    }

    /// Whether the agent is paced (false: it sends whenever it has room in flight).
    pub fn is_paced(&self) -> bool {
        self.rate > 0.0
    }

    /// The whole lines due at `now_ms` since the previous call (none on the first call).
    pub fn due(&mut self, now_ms: u64) -> u64 {
        let Some(last) = self.last_ms.replace(now_ms) else {
            return 0;
        };
        self.owed += self.rate * now_ms.saturating_sub(last) as f64 / 1000.0;
        let whole = self.owed.floor();
        self.owed -= whole;
        whole as u64
    }
}

/// Small deterministic generator (xorshift64*), so a run is reproducible per agent.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// The sources every simulated agent tails.
pub const SOURCES: &[&str] = &[
    "/var/log/pos/register.log",
    "/var/log/pos/payment.log",
    "/var/log/kiosk/app.log",
];

/// Store/POS lines with the agent's pre-classification: mostly INFO, 5 % WARN, 2 % ERROR,
/// and `critical_share` CRITICAL lines (the priority lane).
#[derive(Debug, Clone)]
pub struct LineMaker {
    rng: Rng,
    seq: u64,
    critical_share: f64,
}

/// One generated line and whether it goes on the priority lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub entry: Entry,
    pub critical: bool,
}

impl LineMaker {
    pub fn new(seed: u64, critical_share: f64) -> LineMaker {
        LineMaker {
            rng: Rng::new(seed),
            seq: 0,
            critical_share: critical_share.clamp(0.0, 1.0),
        }
    }

    /// The next line, read at `ts_ms`.
    pub fn next(&mut self, ts_ms: i64) -> Made {
        self.seq += 1;
        let seq = self.seq;
        let register = self.rng.below(8) + 1;
        let roll = self.rng.unit();
        let (source, level, score, line) = if roll < self.critical_share {
            (
                1,
                Level::Critical,
                0.97,
                format!(
                    "CRITICAL payment-terminal[{register}]: terminal offline, card payments refused seq={seq}"
                ),
            )
        } else if roll < self.critical_share + 0.02 {
            (
                1,
                Level::Error,
                0.8,
                format!(
                    "ERROR payment-terminal[{register}]: authorization timeout after {} ms seq={seq}",
                    3000 + self.rng.below(5000)
                ),
            )
        } else if roll < self.critical_share + 0.07 {
            (
                2,
                Level::Warn,
                0.45,
                format!(
                    "WARN kiosk: printer paper low ({} %) seq={seq}",
                    self.rng.below(15) + 1
                ),
            )
        } else {
            (
                0,
                Level::Info,
                0.02,
                format!(
                    "INFO register[{register}]: sale completed items={} total={}.{:02} seq={seq}",
                    self.rng.below(12) + 1,
                    self.rng.below(200),
                    self.rng.below(100)
                ),
            )
        };
        Made {
            entry: Entry {
                ts_ms,
                source,
                line,
                level,
                score,
                ..Entry::default()
            },
            critical: level == Level::Critical,
        }
    }
}

/// The local address the socket of agent group `group` binds when the collector is on
/// loopback: 127.0.0.1, 127.0.0.2, ... (every 127/8 address is local on Linux), so each
/// socket's agents count against the collector's per-address connection cap separately,
/// as hosts would. Elsewhere, the unspecified address.
pub fn source_ip(collector: IpAddr, group: usize) -> IpAddr {
    if !collector.is_loopback() || collector.is_ipv6() {
        return match collector {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
    }
    let n = group as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(127, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}

/// Ack latencies in microseconds; percentiles by nearest rank.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    micros: Vec<u64>,
    sorted: bool,
}

impl Latencies {
    pub fn record(&mut self, micros: u64) {
        self.micros.push(micros);
        self.sorted = false;
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    pub fn is_empty(&self) -> bool {
        self.micros.is_empty()
    }

    /// The `p`-th percentile (0 < p <= 100) by nearest rank, in microseconds.
    pub fn percentile(&mut self, p: f64) -> Option<u64> {
        if self.micros.is_empty() {
            return None;
        }
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        Some(self.micros[rank.clamp(1, self.micros.len()) - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacer_owes_rate_times_time_within_one_line() {
        // (rate, steps in ms, expected total)
        let cases: &[(f64, &[u64], u64)] = &[
            (100.0, &[0, 500, 1000], 100),
            (3.0, &[0, 100, 200, 300, 1000], 3),
            (0.5, &[0, 1000, 2000, 3000, 4000], 2),
            (1000.0, &[0, 1, 2, 3], 3),
            (10.0, &[5000], 0),
        ];
        for (rate, steps, want) in cases {
            let mut p = Pacer::new(*rate);
            let got: u64 = steps.iter().map(|&t| p.due(t)).sum();
            assert_eq!(got, *want, "rate {rate} steps {steps:?}");
        }
        assert!(!Pacer::new(0.0).is_paced());
    }

    #[test]
    fn line_mix_follows_the_critical_share_and_is_reproducible() {
        let mut a = LineMaker::new(7, 0.01);
        let mut b = LineMaker::new(7, 0.01);
        let made: Vec<Made> = (0..20_000).map(|i| a.next(i)).collect();
        assert_eq!(
            made[..50],
            (0..50).map(|i| b.next(i)).collect::<Vec<_>>()[..]
        );
        let critical = made.iter().filter(|m| m.critical).count();
        let errors = made
            .iter()
            .filter(|m| m.entry.level == Level::Error)
            .count();
        assert!((150..250).contains(&critical), "critical {critical}");
        assert!((300..500).contains(&errors), "errors {errors}");
        assert!(
            made.iter()
                .all(|m| (m.entry.source as usize) < SOURCES.len())
        );
        let none = LineMaker::new(1, 0.0);
        assert!(
            (0..5000)
                .scan(none, |m, i| Some(m.next(i)))
                .all(|m| !m.critical)
        );
    }

    #[test]
    fn agents_on_loopback_spread_over_source_addresses() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let cases: &[(IpAddr, usize, &str)] = &[
            (lo, 0, "127.0.0.1"),
            (lo, 1, "127.0.0.2"),
            (lo, 255, "127.0.1.0"),
            ("10.1.2.3".parse().unwrap(), 5, "0.0.0.0"),
            ("::1".parse().unwrap(), 5, "::"),
        ];
        for (collector, group, want) in cases {
            assert_eq!(source_ip(*collector, *group).to_string(), *want);
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentile(50.0), None);
        for v in (1..=100).rev() {
            l.record(v);
        }
        assert_eq!(l.percentile(50.0), Some(50));
        assert_eq!(l.percentile(99.0), Some(99));
        assert_eq!(l.percentile(100.0), Some(100));
        let mut other = Latencies::default();
        other.record(1000);
        l.merge(other);
        assert_eq!(l.len(), 101);
        assert_eq!(l.percentile(100.0), Some(1000));
    }
}

//! Resource limits of the QUIC ingest (`[ingest]` keys), as deciders with no sockets and
//! no clock: `ConnectionTable` counts open connections in total and per IP address,
//! `DecompressBudget` is the per-connection token bucket of decompressed bytes (time is a
//! parameter), and `transport_config` is what a connection may do before it is trusted.
//! `ingest/mod.rs` applies them and counts every refusal and wait in `Metrics`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::IngestConfig;

/// Idle timeout of a QUIC connection (as `tls::server_config` sets it; this transport
/// configuration replaces that one).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connection-level receive window once an agent is admitted: bytes received but not yet
/// read, across all its streams.
pub(crate) const ADMITTED_RECEIVE_WINDOW: u32 = 32 * 1024 * 1024;
/// Slack above `ingest.max_hello_bytes` in the receive window before admission: the frame
/// header and QUIC's own rounding.
const PRE_ADMISSION_SLACK: u64 = 4 * 1024;

/// The transport every connection starts with: before its `Hello` is checked a peer may
/// open one bidirectional stream (the control stream), no unidirectional stream, and have
/// at most `ingest.max_hello_bytes` (plus slack) in flight unread. Admission raises the
/// stream and window limits (`Connection::set_max_concurrent_bi_streams`,
/// `Connection::set_receive_window`); flow-control credit, once given, cannot be taken back,
/// so the small values must come first.
pub fn transport_config(limits: &IngestConfig) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    // 30 s fits in a QUIC varint of milliseconds.
    if let Ok(idle) = quinn::IdleTimeout::try_from(IDLE_TIMEOUT) {
        t.max_idle_timeout(Some(idle));
    }
    t.max_concurrent_bidi_streams(1u32.into());
    t.max_concurrent_uni_streams(0u32.into());
    let window = limits.max_hello_bytes as u64 + PRE_ADMISSION_SLACK;
    // max_hello_bytes <= codec::MAX_HELLO_LEN, so the window fits in a u32.
    let window = u32::try_from(window).unwrap_or(u32::MAX);
    t.receive_window(window.into());
    // The per-stream window keeps quinn's default: it cannot be raised per connection
    // later, and before admission the connection window above is the tighter bound.
    t
}

/// Applies `transport_config` and the pending-handshake cap to a server configuration.
pub fn apply(server: &mut quinn::ServerConfig, limits: &IngestConfig) {
    server.transport_config(Arc::new(transport_config(limits)));
    // Handshakes not yet accepted by `Ingest::serve`; each is refused or accepted at once.
    server.max_incoming(limits.max_connections);
}

/// Why a new connection was refused before its handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `ingest.max_connections` are open.
    Total,
    /// `ingest.max_connections_per_address` are open from this address.
    PerAddress,
}

impl Refusal {
    /// The `reason` label of `fleetlog_collector_ingest_rejects_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Total => "max_connections",
            Refusal::PerAddress => "max_connections_per_address",
        }
    }
}

#[derive(Debug, Default)]
struct TableState {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// Open connections, in total and per address: an IPv4 address or an IPv6 /64 (one host
/// commonly owns a whole /64). The port is not part of the key: a client gets a new port
/// for the asking.
#[derive(Debug)]
pub struct ConnectionTable {
    max_total: usize,
    max_per_address: usize,
    state: Mutex<TableState>,
}

/// One open connection in a `ConnectionTable`; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionSlot {
    table: Arc<ConnectionTable>,
    ip: IpAddr,
}

impl ConnectionTable {
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(ConnectionTable {
            max_total,
            max_per_address,
            state: Mutex::default(),
        })
    }

    /// Takes a place for a connection from `ip`, or says which cap refuses it.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let ip = address_key(ip);
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.total >= self.max_total {
            return Err(Refusal::Total);
        }
        let n = s.per_address.entry(ip).or_default();
        if *n >= self.max_per_address {
            return Err(Refusal::PerAddress);
        }
        *n += 1;
        s.total += 1;
        Ok(ConnectionSlot {
            table: self.clone(),
            ip,
        })
    }

    /// Connections holding a place (handshaking, waiting for `Hello`, or admitted).
    pub fn open(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut s = self
            .table
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.total = s.total.saturating_sub(1);
        if let Some(n) = s.per_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                s.per_address.remove(&self.ip);
            }
        }
    }
}

/// The key `ingest.max_connections_per_address` counts under: an IPv4 address (also when
/// it arrives IPv4-mapped on a dual-stack socket), or the /64 prefix of an IPv6 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// What `DecompressBudget::take` allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Take {
    /// Decompress now.
    Now,
    /// The bytes are reserved; decompress after this wait.
    After(Duration),
    /// Larger than the whole budget: it can never be decompressed on this connection.
    Never,
}

/// Decompressed bytes one connection may cost: a token bucket holding at most `capacity`
/// bytes, refilled at `capacity` per `window`. Over any span `t` a connection inflates at
/// most `capacity * (1 + t / window)` bytes; a batch over budget waits (back-pressure on
/// that connection only), a batch larger than `capacity` is refused.
#[derive(Debug)]
pub struct DecompressBudget {
    capacity: f64,
    per_sec: f64,
    /// May go negative: bytes reserved by batches that are waiting.
    tokens: f64,
    last: Instant,
}

impl DecompressBudget {
    pub fn new(capacity: u64, window: Duration, now: Instant) -> Self {
        let capacity = capacity as f64;
        DecompressBudget {
            capacity,
            per_sec: capacity / window.as_secs_f64().max(0.001),
            tokens: capacity,
            last: now,
        }
    }

    /// Reserves `bytes` (a batch's declared `raw_len`) at `now`.
    pub fn take(&mut self, bytes: u64, now: Instant) -> Take {
        let bytes = bytes as f64;
        if bytes > self.capacity {
            return Take::Never;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.tokens -= bytes;
        if self.tokens >= 0.0 {
            Take::Now
        } else {
            Take::After(Duration::from_secs_f64(-self.tokens / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_total_and_per_address() {
        let t = ConnectionTable::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = t.try_open(a).unwrap();
        let _a2 = t.try_open(a).unwrap();
        assert_eq!(t.try_open(a).unwrap_err(), Refusal::PerAddress);
        let _b1 = t.try_open(b).unwrap();
        assert_eq!(t.try_open(b).unwrap_err(), Refusal::Total);
        assert_eq!(t.open(), 3);
        drop(a1);
        assert_eq!(t.open(), 2);
        let _a3 = t.try_open(a).unwrap();
        assert_eq!(Refusal::PerAddress.reason(), "max_connections_per_address");
    }

    #[test]
    fn ipv6_hosts_are_counted_per_64() {
        let t = ConnectionTable::new(10, 1);
        let _a = t.try_open("2001:db8:1:2::1".parse().unwrap()).unwrap();
        let other_in_same_64 = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(
            t.try_open(other_in_same_64).unwrap_err(),
            Refusal::PerAddress
        );
        let _b = t.try_open("2001:db8:1:3::1".parse().unwrap()).unwrap();
        let _v4 = t.try_open("192.0.2.7".parse().unwrap()).unwrap();
        let mapped = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(t.try_open(mapped).unwrap_err(), Refusal::PerAddress);
    }

    #[test]
    fn freed_addresses_leave_the_table() {
        let t = ConnectionTable::new(10, 10);
        let slot = t.try_open("10.0.0.9".parse().unwrap()).unwrap();
        drop(slot);
        let s = t.state.lock().unwrap();
        assert!(s.per_address.is_empty());
        assert_eq!(s.total, 0);
    }

    #[test]
    fn budget_refills_over_its_window() {
        let t0 = Instant::now();
        let mut b = DecompressBudget::new(1000, Duration::from_secs(10), t0);
        assert_eq!(b.take(1001, t0), Take::Never);
        assert_eq!(b.take(600, t0), Take::Now);
        assert_eq!(b.take(400, t0), Take::Now);
        // Empty: 100 bytes refill in 1 s.
        assert_eq!(b.take(100, t0), Take::After(Duration::from_secs(1)));
        // That reservation is paid back after 1 s; 5 s later 500 bytes are there.
        assert_eq!(b.take(500, t0 + Duration::from_secs(6)), Take::Now);
        // Never more than the capacity, however long the connection was idle.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(b.take(1000, later), Take::Now);
        assert!(matches!(b.take(1, later), Take::After(_)));
    }

    #[test]
    fn pre_admission_transport_is_small() {
        let limits = IngestConfig::default();
        let t = transport_config(&limits);
        let dbg = format!("{t:?}");
        assert!(dbg.contains("max_concurrent_bidi_streams: 1"), "{dbg}");
    }
}

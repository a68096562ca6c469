//! A UDP relay that puts a bad network between an agent and a collector: loss, delay with
//! jitter (which reorders), a bandwidth limit with a router's bounded queue, and partitions.
//!
//! The kernel here has no `tc netem`, and namespaces with nftables need root; a relay in the
//! test process needs neither. The agent is pointed at [`UdpRelay::addr`]; the relay forwards
//! each datagram to the collector (and the answers back) after applying [`Faults`], which a
//! test may change at any time. One client (the agent) per relay.
//!
//! Faults act per datagram and per direction: a datagram is lost with probability `loss`;
//! otherwise it leaves after `delay` plus a uniform jitter in `[0, jitter]`, and no earlier than
//! the link (at `rate_bits_per_sec`) has sent the ones before it; a datagram that would wait
//! more than `queue` for the link is dropped (tail drop). While `partitioned`, everything is
//! dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// What the relay does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Probability that a datagram is dropped, 0 to 1.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter]`; datagrams overtake each other when it exceeds
    /// their spacing.
    pub jitter: Duration,
    /// Link rate per direction; `None` is unlimited.
    pub rate_bits_per_sec: Option<u64>,
    /// Longest a datagram may wait for the link before it is dropped.
    pub queue: Duration,
    /// Drop everything.
    pub partitioned: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            rate_bits_per_sec: None,
            queue: Duration::from_millis(200),
            partitioned: false,
        }
    }
}

/// Datagram counts, per direction summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    pub forwarded: u64,
    pub forwarded_bytes: u64,
    pub dropped_loss: u64,
    pub dropped_queue: u64,
    pub dropped_partition: u64,
}

#[derive(Default)]
struct Counters {
    forwarded: AtomicU64,
    forwarded_bytes: AtomicU64,
    dropped_loss: AtomicU64,
    dropped_queue: AtomicU64,
    dropped_partition: AtomicU64,
}

/// Which way a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    ToServer,
    ToClient,
}

/// A datagram waiting for its departure time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Instant,
    /// Arrival order, so equal times keep their order.
    n: u64,
    dir: Dir,
    bytes: Vec<u8>,
}

struct Shared {
    faults: Mutex<Faults>,
    queue: Mutex<Schedule>,
    wake: Condvar,
    stop: AtomicBool,
    counters: Counters,
}

#[derive(Default)]
struct Schedule {
    heap: BinaryHeap<Reverse<Due>>,
    next_n: u64,
    /// When each direction's link is free again.
    link_free: [Option<Instant>; 2],
    rng: u64,
}

impl Schedule {
    /// xorshift64*: reproducible per relay, good enough for dropping datagrams.
    fn uniform(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A running relay; dropping it stops its threads.
pub struct UdpRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl UdpRelay {
    /// Relays to `server` from a fresh loopback port; `seed` makes the losses reproducible.
    pub fn start(server: SocketAddr, seed: u64) -> Result<UdpRelay> {
        let front = UdpSocket::bind("127.0.0.1:0").context("binding the relay")?;
        let back = UdpSocket::bind("127.0.0.1:0").context("binding the relay's upstream")?;
        back.connect(server)
            .context("connecting the relay upstream")?;
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
        }
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            faults: Mutex::new(Faults::default()),
            queue: Mutex::new(Schedule {
                rng: seed | 1,
                ..Schedule::default()
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let mut threads = Vec::new();
        {
            let (shared, front, client) = (shared.clone(), front.try_clone()?, client.clone());
            threads.push(thread::spawn(move || {
                receive(&shared, Dir::ToServer, |buf| {
                    let (n, from) = front.recv_from(buf)?;
                    *client.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
                    Ok(n)
                });
            }));
        }
        {
            let (shared, back) = (shared.clone(), back.try_clone()?);
            threads.push(thread::spawn(move || {
                receive(&shared, Dir::ToClient, |buf| back.recv(buf));
            }));
        }
        {
            let shared = shared.clone();
            threads.push(thread::spawn(move || {
                send_due(&shared, &front, &back, &client);
            }));
        }
        Ok(UdpRelay {
            addr,
            shared,
            threads,
        })
    }

    /// Where the agent connects.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults; datagrams already scheduled keep their departure time.
    pub fn set(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// The faults in force.
    pub fn faults(&self) -> Faults {
        *self.shared.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Datagram counts so far.
    pub fn stats(&self) -> RelayStats {
        let c = &self.shared.counters;
        RelayStats {
            forwarded: c.forwarded.load(Ordering::Relaxed),
            forwarded_bytes: c.forwarded_bytes.load(Ordering::Relaxed),
            dropped_loss: c.dropped_loss.load(Ordering::Relaxed),
            dropped_queue: c.dropped_queue.load(Ordering::Relaxed),
            dropped_partition: c.dropped_partition.load(Ordering::Relaxed),
        }
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Reads datagrams with `recv` and schedules them, until the relay stops.
fn receive(shared: &Shared, dir: Dir, mut recv: impl FnMut(&mut [u8]) -> std::io::Result<usize>) {
    let mut buf = vec![0u8; 65_536];
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            // ICMP port unreachable while the collector restarts, and the like.
            Err(_) => continue,
        };
        let faults = *shared.faults.lock().unwrap_or_else(|e| e.into_inner());
        let c = &shared.counters;
        if faults.partitioned {
            c.dropped_partition.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
        if faults.loss > 0.0 && q.uniform() < faults.loss {
            c.dropped_loss.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let now = Instant::now();
        let jitter = faults.jitter.mul_f64(q.uniform());
        let mut at = now + faults.delay + jitter;
        if let Some(rate) = faults.rate_bits_per_sec.filter(|&r| r > 0) {
            let slot = &mut q.link_free[dir as usize];
            let start = slot.map_or(now, |free| free.max(now));
            if start.duration_since(now) > faults.queue {
                c.dropped_queue.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let on_wire = Duration::from_secs_f64(n as f64 * 8.0 / rate as f64);
            *slot = Some(start + on_wire);
            at = at.max(start + on_wire);
        }
        let seq = q.next_n;
        q.next_n += 1;
        q.heap.push(Reverse(Due {
            at,
            n: seq,
            dir,
            bytes: buf[..n].to_vec(),
        }));
        drop(q);
        shared.wake.notify_one();
    }
}

/// Sends each scheduled datagram when it is due.
fn send_due(
    shared: &Shared,
    front: &UdpSocket,
    back: &UdpSocket,
    client: &Mutex<Option<SocketAddr>>,
) {
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        let wait = match q.heap.peek() {
            Some(Reverse(d)) if d.at <= now => None,
            Some(Reverse(d)) => Some(d.at - now),
            None => Some(Duration::from_millis(50)),
        };
        if let Some(wait) = wait {
            q = shared
                .wake
                .wait_timeout(q, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            continue;
        }
        let Some(Reverse(due)) = q.heap.pop() else {
            continue;
        };
        drop(q);
        let sent = match due.dir {
            Dir::ToServer => back.send(&due.bytes).is_ok(),
            Dir::ToClient => match *client.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(to) => front.send_to(&due.bytes, to).is_ok(),
                None => false,
            },
        };
        if sent {
            shared.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            shared
                .counters
                .forwarded_bytes
                .fetch_add(due.bytes.len() as u64, Ordering::Relaxed);
        }
        q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    }
}

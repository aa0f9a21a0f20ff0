//! The RTP relay's sockets: one UDP socket per allocated local port, each with a task that
//! receives, asks the sans-IO [`drawbridge_media::MediaTable`] for a decision and sends on
//! the partner leg's socket — on the same task, with no channel hop and no allocation per
//! packet.
//!
//! The table is split into shards by port range (`MediaConfig::split`), each behind its own
//! lock held for one decision; a call's legs always live in one shard. The signalling task
//! is the only writer (create, update, remove); packet tasks only take decisions.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use drawbridge_media::{
    ConfigError, Decision, InterfaceId, Leg, LegSpec, LocalPort, MediaConfig, MediaError,
    MediaEvent, MediaTable, RemoteSpec, SessionId, SessionInfo, ShardMap, TableCounters,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Number of table shards (each with its own lock).
pub const SHARDS: usize = 4;

/// Packets a media socket's task relays before it lets the other sockets' tasks run.
const FAIR_BURST: u32 = 8;

/// A session as the relay knows it: its shard and the table's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelaySession {
    shard: usize,
    id: SessionId,
    ports: [LocalPort; 4],
}

/// Why the relay could not set up media.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The media table refused (ports exhausted, unknown session…).
    #[error(transparent)]
    Media(#[from] MediaError),
    /// A port could not be bound.
    #[error("binding media port {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

struct Sockets {
    by_port: HashMap<LocalPort, (Arc<UdpSocket>, JoinHandle<()>)>,
}

struct Inner {
    shards: Vec<Mutex<MediaTable>>,
    map: ShardMap,
    sockets: Mutex<Sockets>,
    next_shard: Mutex<usize>,
}

/// Handle to the relay; clone it freely.
#[derive(Clone)]
pub struct RtpRelay {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RtpRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpRelay")
            .field("shards", &self.inner.shards.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters and tables stay usable after a panicked holder; keep relaying.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RtpRelay {
    /// Builds the sharded table and starts the timer task, which reports media timeouts on
    /// `events`.
    pub fn new(config: MediaConfig, events: mpsc::Sender<MediaEvent>) -> Result<Self, ConfigError> {
        let (configs, map) = config.split(SHARDS)?;
        let shards = configs
            .into_iter()
            .map(|c| MediaTable::new(c).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let inner = Arc::new(Inner {
            shards,
            map,
            sockets: Mutex::new(Sockets {
                by_port: HashMap::new(),
            }),
            next_shard: Mutex::new(0),
        });
        tokio::spawn(timer_task(inner.clone(), events));
        Ok(Self { inner })
    }

    /// Allocates a port pair per leg, binds their sockets and starts relaying.
    pub fn create_session(
        &self,
        tag: u64,
        a: LegSpec,
        b: LegSpec,
    ) -> Result<(RelaySession, SessionInfo), RelayError> {
        let shard = {
            let mut n = lock(&self.inner.next_shard);
            *n = (*n + 1) % self.inner.shards.len();
            *n
        };
        let info = lock(&self.inner.shards[shard]).create_session(Instant::now(), tag, a, b)?;
        let lp = |i: usize, rtcp: bool| LocalPort {
            interface: info.local[i].interface,
            port: if rtcp {
                info.local[i].rtcp_port
            } else {
                info.local[i].rtp_port
            },
        };
        let session = RelaySession {
            shard,
            id: info.id,
            ports: [lp(0, false), lp(0, true), lp(1, false), lp(1, true)],
        };
        let mut bound = Vec::new();
        for pair in info.local {
            for port in [pair.rtp_port, pair.rtcp_port] {
                let addr = SocketAddr::new(pair.address, port);
                match bind(addr) {
                    Ok(s) => bound.push((
                        LocalPort {
                            interface: pair.interface,
                            port,
                        },
                        s,
                    )),
                    Err(source) => {
                        let _ =
                            lock(&self.inner.shards[shard]).remove_session(Instant::now(), info.id);
                        return Err(RelayError::Bind { addr, source });
                    }
                }
            }
        }
        let mut sockets = lock(&self.inner.sockets);
        for (local, sock) in bound {
            let sock = Arc::new(sock);
            let task = tokio::spawn(packet_task(self.inner.clone(), local, sock.clone()));
            if let Some((_, old)) = sockets.by_port.insert(local, (sock, task)) {
                old.abort();
            }
        }
        Ok((session, info))
    }

    /// The far end of one leg changed (answer, re-INVITE, hold/resume).
    pub fn update_remote(
        &self,
        session: RelaySession,
        leg: Leg,
        remote: RemoteSpec,
    ) -> Result<(), RelayError> {
        lock(&self.inner.shards[session.shard]).update_remote(
            Instant::now(),
            session.id,
            leg,
            remote,
        )?;
        Ok(())
    }

    /// Ends the session: stops its sockets and returns its ports (after quarantine).
    pub fn remove_session(
        &self,
        session: RelaySession,
    ) -> Result<drawbridge_media::SessionStats, RelayError> {
        let stats =
            lock(&self.inner.shards[session.shard]).remove_session(Instant::now(), session.id)?;
        let mut sockets = lock(&self.inner.sockets);
        for port in session.ports {
            if let Some((_, task)) = sockets.by_port.remove(&port) {
                task.abort();
            }
        }
        Ok(stats)
    }

    /// Counters summed over all shards.
    pub fn counters(&self) -> Vec<TableCounters> {
        self.inner
            .shards
            .iter()
            .map(|s| lock(s).counters())
            .collect()
    }

    /// Open media sockets (two per leg).
    pub fn open_sockets(&self) -> usize {
        lock(&self.inner.sockets).by_port.len()
    }

    /// Which shard a port belongs to (for diagnostics).
    pub fn shard_of(&self, port: u16) -> Option<usize> {
        self.inner.map.shard(port)
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let std = std::net::UdpSocket::bind(addr)?;
    std.set_nonblocking(true)?;
    UdpSocket::from_std(std)
}

async fn packet_task(inner: Arc<Inner>, me: LocalPort, sock: Arc<UdpSocket>) {
    let Some(shard) = inner.map.shard(me.port) else {
        return;
    };
    // The partner sockets this one forwards to, looked up once and cached, with whether
    // the partner is an IPv6 socket (asking the kernel per packet costs a syscall).
    let mut partners: HashMap<LocalPort, (Arc<UdpSocket>, bool)> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut in_a_row = 0u32;
    loop {
        // Under overload every socket is always readable; without a yield, one socket is
        // served up to tokio's budget (128 packets) while the others overflow. Yielding
        // every few packets serves the ready sockets round-robin.
        in_a_row += 1;
        if in_a_row >= FAIR_BURST {
            in_a_row = 0;
            tokio::task::yield_now().await;
        }
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let decision = lock(&inner.shards[shard]).handle_packet(Instant::now(), me, src, &buf[..n]);
        if let Decision::Forward { via, dst } = decision {
            let (out, v6) = match partners.get(&via) {
                Some(p) => p,
                None => {
                    let Some(s) = lock(&inner.sockets)
                        .by_port
                        .get(&via)
                        .map(|(s, _)| s.clone())
                    else {
                        continue;
                    };
                    let v6 = matches!(s.local_addr(), Ok(SocketAddr::V6(_)));
                    partners.entry(via).or_insert((s, v6))
                }
            };
            let dst = match (*v6, dst) {
                (true, SocketAddr::V4(v4)) => {
                    SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
                }
                (_, d) => d,
            };
            let _ = out.try_send_to(&buf[..n], dst);
        }
    }
}

async fn timer_task(inner: Arc<Inner>, events: mpsc::Sender<MediaEvent>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut out = Vec::new();
        for shard in &inner.shards {
            let mut t = lock(shard);
            if t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
            }
            while let Some(e) = t.poll_event() {
                out.push(e);
            }
        }
        for e in out {
            if events.send(e).await.is_err() {
                return;
            }
        }
    }
}

/// The interface ids the binary uses for the relay's bind addresses.
pub mod interfaces {
    use super::InterfaceId;
    /// Trunk-facing (public) media.
    pub const PUBLIC: InterfaceId = InterfaceId(0);
    /// PBX-facing (LAN) media.
    pub const LAN: InterfaceId = InterfaceId(1);
}

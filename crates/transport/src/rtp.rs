//! The RTP relay's sockets: one UDP socket per allocated local port, each with a task that
//! receives, asks the sans-IO [`drawbridge_media::MediaTable`] for decisions and sends on
//! the partner leg's socket — on the same task, with no channel hop and no allocation per
//! packet.
//!
//! The task works in batches: one `recvmmsg` takes up to 32 datagrams (more with GRO), one
//! lock of the shard decides them all, and the packets to forward leave in as few syscalls
//! as GSO allows (a run of equal-sized packets to one destination is one `sendmsg`). At 50
//! packets/s per stream a batch is usually one packet; batches grow exactly when the relay
//! falls behind, which is when the syscalls saved matter. The receive buffers are per
//! worker thread, not per socket (see `Scratch`).
//!
//! Sockets outlive calls: when a session ends its four sockets are parked (still bound,
//! their tasks still draining late packets, which the table drops as strays) and the next
//! session that gets the same ports from the table's pool takes them over. The pool hands
//! out released pairs before never-used ones, so at a steady load the same sockets cycle
//! instead of four `socket`/`bind`/`close` and epoll registrations per call — that was
//! 15 % of the CPU at 2,000 calls/s. A socket parked longer than [`PARK_IDLE`] is closed,
//! at most half of the open-file limit is parked (past it, released sockets are closed as
//! before), and once media sockets take seven eighths of the limit nothing is parked and
//! parked sockets are closed to make room: parking must never starve live calls of
//! descriptors, and the last eighth stays for SIP connections and everything else.
//!
//! The table is split into shards by port range (`MediaConfig::split`), each behind its own
//! lock held for one batch's decisions; a call's legs always live in one shard. The
//! signalling task is the only writer (create, update, remove); packet tasks only take
//! decisions.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::media_socket::{BATCH, GSO_MAX_BYTES, GroSwitch, MediaSocket, SLOT};
use drawbridge_media::{
    ConfigError, Decision, InterfaceId, Leg, LegSpec, LocalPort, MediaConfig, MediaError,
    MediaEvent, MediaTable, RemoteSpec, SessionId, SessionInfo, ShardMap, TableCounters,
};
use quinn_udp::RecvMeta;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Number of table shards (each with its own lock).
pub const SHARDS: usize = 4;

/// How long a socket stays parked (bound, waiting for the next call on its port) before it
/// is closed. Longer than any quarantine, so a steady load reuses its sockets; after a
/// burst, the sockets it needed are closed a minute later.
pub const PARK_IDLE: Duration = Duration::from_secs(60);

/// Parked sockets take at most the open-file limit divided by this. A socket stays parked
/// through its port's quarantine, so a steady rate R with quarantine Q parks about 4·R·Q
/// sockets: half the limit keeps that within bounds while the budget below protects live
/// calls (a quarter was measured to park nothing at 2,000 calls/s with a 20,000 limit).
const PARK_DIVISOR: usize = 2;

/// Media sockets (live and parked together) above `limit - limit / MEDIA_RESERVE_DIVISOR`
/// are not parked any more, and parked ones are closed to make room for live calls: the
/// last eighth of the descriptors stays for SIP connections, the tunnel and files.
const MEDIA_RESERVE_DIVISOR: usize = 8;

/// The soft open-file limit (Linux `/proc/self/limits`), if it can be read.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Partner sockets a packet task remembers; a socket normally has one partner per call,
/// and a parked socket meets a new one with every call it serves.
const PARTNER_CACHE: usize = 8;

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

/// A bound media socket and the task that receives on it.
struct SocketEntry {
    sock: Arc<MediaSocket>,
    task: JoinHandle<()>,
    /// When the socket was parked; `None` while a session uses it.
    parked: Option<Instant>,
}

struct Sockets {
    by_port: HashMap<LocalPort, SocketEntry>,
    /// Parked sockets in the order they were parked (an entry is stale if the socket was
    /// taken over, or parked again later, since).
    parked: VecDeque<(Instant, LocalPort)>,
    parked_count: usize,
    /// At most this many sockets are parked; past it, a released socket is closed.
    park_cap: usize,
    /// Media sockets (live + parked) above which nothing is parked and parked sockets make
    /// room for live ones.
    media_budget: usize,
    /// Media descriptors open right now: live, parked, and closed here but not yet dropped
    /// by their aborted task. The budget is held against this, not against `by_port`: on a
    /// busy one-thread runtime thousands of sockets can be waiting for their task to be
    /// dropped, and counting only `by_port` let parking run the process out of
    /// descriptors (`EMFILE`, calls refused) at 3,000 calls/s under a 20,000 limit.
    open: Arc<AtomicUsize>,
    /// Sockets closed here whose aborted task may still hold them: the descriptor stays
    /// open (and the port bound) until the runtime drops that task. A session given the
    /// port in the meantime takes the socket over instead of failing to bind it
    /// (`EADDRINUSE`: with one runtime thread, the task cannot end while `create_session`
    /// waits on that same thread).
    closing: HashMap<LocalPort, Weak<MediaSocket>>,
}

impl Sockets {
    fn park(&mut self, now: Instant, port: LocalPort) {
        if self.parked_count >= self.park_cap || self.open_now() > self.media_budget {
            if let Some(e) = self.by_port.remove(&port) {
                if e.parked.is_some() {
                    self.parked_count -= 1;
                }
                self.close(port, e);
            }
            return;
        }
        if let Some(e) = self.by_port.get_mut(&port)
            && e.parked.is_none()
        {
            e.parked = Some(now);
            self.parked.push_back((now, port));
            self.parked_count += 1;
        }
    }

    /// Takes a parked socket over for a new session; `false` if there is none to take.
    fn unpark(&mut self, port: LocalPort) -> bool {
        match self.by_port.get_mut(&port) {
            Some(e) if e.parked.is_some() => {
                e.parked = None;
                self.parked_count -= 1;
                true
            }
            // Cannot happen: the table never hands out a port twice.
            Some(_) => true,
            None => false,
        }
    }

    /// Closes up to `n` parked sockets, the longest parked first: live calls need the
    /// descriptors more.
    fn evict(&mut self, mut n: usize) {
        while n > 0 {
            let Some((at, port)) = self.parked.pop_front() else {
                return;
            };
            if self.close_if_parked_since(at, port) {
                n -= 1;
            }
        }
    }

    /// Closes `port`'s socket if it is still the one parked at `at` (a queue entry is
    /// stale once its socket was taken over or parked again). Whether it closed one.
    fn close_if_parked_since(&mut self, at: Instant, port: LocalPort) -> bool {
        if self
            .by_port
            .get(&port)
            .is_some_and(|e| e.parked == Some(at))
            && let Some(e) = self.by_port.remove(&port)
        {
            self.parked_count -= 1;
            self.close(port, e);
            return true;
        }
        false
    }

    /// Media descriptors open right now (see `open`).
    fn open_now(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Stops a socket's task; the socket closes once the runtime has dropped the task.
    fn close(&mut self, port: LocalPort, e: SocketEntry) {
        e.task.abort();
        self.closing.insert(port, Arc::downgrade(&e.sock));
    }

    /// A socket of `port` that is still closing, to take over; `None` once it closed.
    fn reopen(&mut self, port: LocalPort) -> Option<Arc<MediaSocket>> {
        self.closing.remove(&port)?.upgrade()
    }

    /// Closes the sockets parked for longer than `idle`.
    fn close_idle(&mut self, now: Instant, idle: Duration) {
        while let Some(&(at, port)) = self.parked.front() {
            if now.saturating_duration_since(at) < idle {
                break;
            }
            self.parked.pop_front();
            self.close_if_parked_since(at, port);
        }
        // Sockets whose task has ended are closed: nothing left to take over.
        self.closing.retain(|_, s| s.strong_count() > 0);
    }
}

struct Inner {
    shards: Vec<Mutex<MediaTable>>,
    map: ShardMap,
    sockets: Mutex<Sockets>,
    /// How long a parked socket waits for reuse ([`PARK_IDLE`] unless a test changes it).
    park_idle: Mutex<Duration>,
    next_shard: Mutex<usize>,
    /// Packets decided "forward" that could not be sent (full send buffer, partner gone).
    send_failures: AtomicU64,
    /// Media descriptors open (shared with `Sockets::open` and every `MediaSocket`).
    open: Arc<AtomicUsize>,
    /// Keeps UDP GRO's kernel switch on while the relay lives (see [`GroSwitch`]).
    _gro: GroSwitch,
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
        let nofile = open_file_limit().unwrap_or(1024);
        let shards = configs
            .into_iter()
            .map(|c| MediaTable::new(c).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let open = Arc::new(AtomicUsize::new(0));
        let inner = Arc::new(Inner {
            shards,
            map,
            sockets: Mutex::new(Sockets {
                by_port: HashMap::new(),
                parked: VecDeque::new(),
                parked_count: 0,
                park_cap: nofile / PARK_DIVISOR,
                media_budget: nofile - nofile / MEDIA_RESERVE_DIVISOR,
                closing: HashMap::new(),
                open: Arc::clone(&open),
            }),
            park_idle: Mutex::new(PARK_IDLE),
            next_shard: Mutex::new(0),
            send_failures: AtomicU64::new(0),
            open,
            _gro: GroSwitch::hold(),
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
        // Sockets parked on these ports by earlier calls are taken over; the rest are
        // bound here, outside the lock.
        let mut missing = Vec::new();
        let mut reopened = Vec::new();
        {
            let mut sockets = lock(&self.inner.sockets);
            for pair in info.local {
                for port in [pair.rtp_port, pair.rtcp_port] {
                    let local = LocalPort {
                        interface: pair.interface,
                        port,
                    };
                    if sockets.unpark(local) {
                        continue;
                    }
                    match sockets.reopen(local) {
                        Some(sock) => reopened.push((local, sock)),
                        None => missing.push((local, SocketAddr::new(pair.address, port))),
                    }
                }
            }
            let over = (sockets.open_now() + missing.len()).saturating_sub(sockets.media_budget);
            sockets.evict(over);
        }
        let mut bound = reopened;
        for (local, addr) in missing {
            match MediaSocket::bind(addr, &self.inner.open) {
                Ok(s) => bound.push((local, Arc::new(s))),
                Err(source) => {
                    let now = Instant::now();
                    let _ = lock(&self.inner.shards[shard]).remove_session(now, info.id);
                    let mut sockets = lock(&self.inner.sockets);
                    for port in session.ports {
                        sockets.park(now, port);
                    }
                    return Err(RelayError::Bind { addr, source });
                }
            }
        }
        let mut sockets = lock(&self.inner.sockets);
        for (local, sock) in bound {
            let task = tokio::spawn(packet_task(self.inner.clone(), local, sock.clone()));
            let entry = SocketEntry {
                sock,
                task,
                parked: None,
            };
            if let Some(old) = sockets.by_port.insert(local, entry) {
                old.task.abort();
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

    /// Ends the session: parks its sockets and returns its ports (reusable after the
    /// quarantine).
    pub fn remove_session(
        &self,
        session: RelaySession,
    ) -> Result<drawbridge_media::SessionStats, RelayError> {
        let stats =
            lock(&self.inner.shards[session.shard]).remove_session(Instant::now(), session.id)?;
        let now = Instant::now();
        let mut sockets = lock(&self.inner.sockets);
        for port in session.ports {
            sockets.park(now, port);
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

    /// Media sockets of live sessions (two per leg); parked ones are not counted.
    pub fn open_sockets(&self) -> usize {
        let s = lock(&self.inner.sockets);
        s.by_port.len() - s.parked_count
    }

    /// Sockets kept bound between calls, waiting to be taken over by the next session on
    /// their port (closed after [`PARK_IDLE`]).
    pub fn parked_sockets(&self) -> usize {
        lock(&self.inner.sockets).parked_count
    }

    /// Media descriptors open: live sockets, parked ones, and closed ones whose task the
    /// runtime has not dropped yet. This, not live + parked, is what the budget of
    /// [`RtpRelay::set_park_limits`] holds against.
    pub fn media_descriptors(&self) -> usize {
        self.inner.open.load(Ordering::Relaxed)
    }

    /// Changes how many sockets may be parked at once (default: half of the process's
    /// open-file limit) and the count of media sockets, live and parked, above which
    /// nothing is parked and parked sockets are closed for live ones (default: seven
    /// eighths of it).
    pub fn set_park_limits(&self, park_cap: usize, media_budget: usize) {
        let mut s = lock(&self.inner.sockets);
        s.park_cap = park_cap;
        s.media_budget = media_budget;
    }

    /// Changes how long sockets stay parked (default [`PARK_IDLE`]); for tests and
    /// deployments that must give ports back sooner.
    pub fn set_park_idle(&self, idle: Duration) {
        *lock(&self.inner.park_idle) = idle;
    }

    /// Packets the table decided to forward that could not be sent: the partner socket's
    /// send buffer was full, or its session was ending. Counted since the relay started.
    pub fn send_failures(&self) -> u64 {
        self.inner.send_failures.load(Ordering::Relaxed)
    }

    /// Which shard a port belongs to (for diagnostics).
    pub fn shard_of(&self, port: u16) -> Option<usize> {
        self.inner.map.shard(port)
    }
}

/// Per-worker-thread scratch space for one batch: receive slots, their metadata, the
/// decisions taken and a staging buffer for GSO sends. One per thread rather than one per
/// socket task, since a batch is received, decided and sent without an `.await` in between
/// (per-task buffers would cost 2 MiB per socket).
struct Scratch {
    slots: Box<[u8]>,
    meta: [RecvMeta; BATCH],
    forwards: Vec<Forward>,
    out: Box<[u8]>,
}

/// One packet of the batch to forward: where it is in `slots` and where it goes.
#[derive(Clone, Copy)]
struct Forward {
    start: usize,
    len: usize,
    via: LocalPort,
    dst: SocketAddr,
}

impl Scratch {
    fn new() -> Self {
        Self {
            // Zeroed allocations are mapped lazily: a slot only costs the pages a datagram
            // (or a GRO train) actually touches.
            slots: vec![0u8; BATCH * SLOT].into_boxed_slice(),
            meta: [RecvMeta::default(); BATCH],
            // GRO can pack up to 64 datagrams into one slot.
            forwards: Vec::with_capacity(BATCH * 64),
            out: vec![0u8; GSO_MAX_BYTES].into_boxed_slice(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
}

/// What one batch left behind.
enum Outcome {
    /// An empty or short batch: go on (tokio waits for the next readiness event once the
    /// kernel has said `EAGAIN`).
    Continue,
    /// A full batch (more is likely queued) or an error: let other sockets run first.
    Yield,
}

async fn packet_task(inner: Arc<Inner>, me: LocalPort, sock: Arc<MediaSocket>) {
    let Some(shard) = inner.map.shard(me.port) else {
        return;
    };
    // The partner sockets this one forwards to, looked up once and cached. Weak: a cached
    // partner must not keep a closed socket's port bound.
    let mut partners: HashMap<LocalPort, Weak<MediaSocket>> = HashMap::new();
    loop {
        if sock.readable().await.is_err() {
            // The runtime is shutting down.
            return;
        }
        let outcome = SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut scratch) => relay_batch(&inner, shard, me, &sock, &mut scratch, &mut partners),
            // Cannot happen: a batch never awaits while it holds the scratch space.
            Err(_) => Outcome::Yield,
        });
        // Under overload every socket is always readable; without a yield, one socket is
        // served up to tokio's budget while the others overflow. Yielding after each full
        // batch serves the ready sockets round-robin, one batch each.
        if let Outcome::Yield = outcome {
            tokio::task::yield_now().await;
        }
    }
}

/// Receives one batch, takes its decisions under one lock of the shard and sends what is
/// to be forwarded, grouped into GSO runs per partner socket and destination.
fn relay_batch(
    inner: &Inner,
    shard: usize,
    me: LocalPort,
    sock: &MediaSocket,
    scratch: &mut Scratch,
    partners: &mut HashMap<LocalPort, Weak<MediaSocket>>,
) -> Outcome {
    let Scratch {
        slots,
        meta,
        forwards,
        out,
    } = scratch;
    let received = {
        let mut chunks = slots.chunks_mut(SLOT);
        let mut bufs: [IoSliceMut<'_>; BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
        sock.recv(&mut bufs, meta)
    };
    let n = match received {
        Ok(0) => return Outcome::Continue,
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(error = %e, port = me.port, "media socket receive error");
            return Outcome::Yield;
        }
    };
    forwards.clear();
    let now = Instant::now();
    {
        let mut table = lock(&inner.shards[shard]);
        for (i, m) in meta.iter().take(n).enumerate() {
            let base = i * SLOT;
            let len = m.len.min(SLOT);
            // A GRO train holds datagrams of `stride` bytes back to back (the last may be
            // shorter); without GRO, stride == len.
            let stride = if m.stride == 0 { len } else { m.stride };
            let mut off = 0;
            while off < len {
                let seg = stride.min(len - off);
                let start = base + off;
                if let Decision::Forward { via, dst } =
                    table.handle_packet(now, me, m.addr, &slots[start..start + seg])
                {
                    forwards.push(Forward {
                        start,
                        len: seg,
                        via,
                        dst,
                    });
                }
                off += seg.max(1);
            }
        }
    }
    send_forwards(inner, forwards, slots, out, partners);
    if n == BATCH {
        Outcome::Yield
    } else {
        Outcome::Continue
    }
}

/// Sends the batch's forwards: consecutive packets for the same socket and destination,
/// of equal size (the last may be shorter), go out in one GSO send.
fn send_forwards(
    inner: &Inner,
    forwards: &[Forward],
    slots: &[u8],
    out: &mut [u8],
    partners: &mut HashMap<LocalPort, Weak<MediaSocket>>,
) {
    let mut i = 0;
    while i < forwards.len() {
        let first = forwards[i];
        let Some(via) = partner(inner, partners, first.via) else {
            // The partner is being torn down: its session ended.
            inner.send_failures.fetch_add(1, Ordering::Relaxed);
            i += 1;
            continue;
        };
        let seg = first.len;
        let max = via.max_segments();
        let mut bytes = seg;
        let mut j = i + 1;
        while j < forwards.len() && j - i < max {
            let f = forwards[j];
            if f.via != first.via || f.dst != first.dst || f.len > seg || bytes + f.len > out.len()
            {
                break;
            }
            bytes += f.len;
            j += 1;
            if f.len < seg {
                break;
            }
        }
        let sent = if j - i == 1 {
            via.send(first.dst, &slots[first.start..first.start + seg], None)
        } else {
            let mut at = 0;
            for f in &forwards[i..j] {
                out[at..at + f.len].copy_from_slice(&slots[f.start..f.start + f.len]);
                at += f.len;
            }
            via.send(first.dst, &out[..at], Some(seg))
        };
        if sent.is_err() {
            // A full send buffer (or GSO refused by the device, after which quinn-udp
            // stops using it): the packets are lost, as under any overload.
            inner
                .send_failures
                .fetch_add((j - i) as u64, Ordering::Relaxed);
        }
        i = j;
    }
}

fn partner(
    inner: &Inner,
    partners: &mut HashMap<LocalPort, Weak<MediaSocket>>,
    via: LocalPort,
) -> Option<Arc<MediaSocket>> {
    if let Some(s) = partners.get(&via).and_then(Weak::upgrade) {
        return Some(s);
    }
    let s = lock(&inner.sockets)
        .by_port
        .get(&via)
        .map(|e| e.sock.clone())?;
    if partners.len() >= PARTNER_CACHE {
        partners.clear();
    }
    partners.insert(via, Arc::downgrade(&s));
    Some(s)
}

async fn timer_task(inner: Arc<Inner>, events: mpsc::Sender<MediaEvent>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let idle = *lock(&inner.park_idle);
        lock(&inner.sockets).close_idle(now, idle);
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

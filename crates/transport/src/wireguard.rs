//! The WireGuard socket tasks: they own the UDP sockets and drive the sans-IO
//! [`drawbridge_tunnel::Server`].
//!
//! One task per listening socket receives in batches (recvmmsg through quinn-udp), locks
//! the server once per batch, and answers on the same task: handshake responses, ICMP
//! echo replies and the built-in UDP echo never hop a channel. Datagrams for other inner
//! services (SIP) are handed over through bounded channels. A timer task drives the
//! server's timers every [`TICK`]; a control task applies peer changes and sends what
//! services want to send into the tunnel.

use std::collections::HashMap;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use drawbridge_tunnel::{Action, BUFFER_LEN, PeerChange, PeerId, PeerSpec, Server, Transmit};
use quinn_udp::{RecvMeta, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// How often the server's timers run (boringtun wants 100–250 ms).
pub const TICK: Duration = Duration::from_millis(100);

/// A UDP datagram a peer sent to one of drawbridge's inner services.
#[derive(Debug, Clone)]
pub struct InnerDatagram {
    /// The authenticated peer.
    pub peer: PeerId,
    /// Its name (from the peers file).
    pub peer_name: Arc<str>,
    /// Inner source (the peer's address and port).
    pub src: SocketAddr,
    /// Inner destination (drawbridge's inner address and the service port).
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// A UDP datagram a service wants to send to a peer through the tunnel.
#[derive(Debug, Clone)]
pub struct InnerSend {
    /// The peer to encrypt for.
    pub peer: PeerId,
    /// Source port on drawbridge's inner address.
    pub src_port: u16,
    /// The peer's inner address and port.
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// What runs behind a UDP port of the inner host.
#[derive(Debug, Clone)]
pub enum Service {
    /// Sends every datagram back (RFC 862), answered on the socket task itself.
    Echo,
    /// Hands datagrams to another task; full channel = dropped and counted.
    Channel(mpsc::Sender<InnerDatagram>),
}

/// Counters of the socket layer (the tunnel core counts the protocol side).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SocketCounters {
    /// Datagrams that could not be sent (socket buffer full or an error).
    pub send_failures: u64,
    /// Datagrams for a service whose channel was full.
    pub service_overflow: u64,
}

/// The server and the socket counters, behind one lock held for one batch at a time.
#[derive(Debug)]
pub struct Shared {
    /// The sans-IO WireGuard server.
    pub server: Server,
    /// Socket-side counters.
    pub sockets: SocketCounters,
}

/// A handle to the running WireGuard tasks.
#[derive(Debug, Clone)]
pub struct WireGuard {
    shared: Arc<Mutex<Shared>>,
    peers: mpsc::Sender<Vec<PeerSpec>>,
    send: mpsc::Sender<InnerSend>,
}

impl WireGuard {
    /// Starts the tasks on the current tokio runtime: one per socket, a timer task and a
    /// control task. `sockets` must be bound already.
    pub fn spawn(
        server: Server,
        sockets: Vec<UdpSocket>,
        services: HashMap<u16, Service>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared {
            server,
            sockets: SocketCounters::default(),
        }));
        let mut socks = Vec::new();
        for s in sockets {
            let state = UdpSocketState::new((&s).into())?;
            // Bursts of handshakes or RTP must not overflow the default 200 KiB buffer.
            let _ = state.set_recv_buffer_size((&s).into(), 4 << 20);
            let _ = state.set_send_buffer_size((&s).into(), 4 << 20);
            let local = s.local_addr()?;
            socks.push(Arc::new(Sock {
                socket: s,
                state,
                local,
            }));
        }
        let socks: Arc<[Arc<Sock>]> = socks.into();
        let services = Arc::new(services);
        for s in socks.iter() {
            tokio::spawn(socket_task(
                s.clone(),
                socks.clone(),
                shared.clone(),
                services.clone(),
            ));
        }
        tokio::spawn(timer_task(socks.clone(), shared.clone()));
        let (peers_tx, peers_rx) = mpsc::channel(4);
        let (send_tx, send_rx) = mpsc::channel(4096);
        tokio::spawn(control_task(socks, shared.clone(), peers_rx, send_rx));
        Ok(Self {
            shared,
            peers: peers_tx,
            send: send_tx,
        })
    }

    /// Replaces the peer list (added peers can connect, removed or disabled ones are cut
    /// off at once, unchanged ones keep their sessions).
    pub async fn set_peers(&self, peers: Vec<PeerSpec>) {
        let _ = self.peers.send(peers).await;
    }

    /// A sender for services that answer peers.
    pub fn sender(&self) -> mpsc::Sender<InnerSend> {
        self.send.clone()
    }

    /// Reads the server and counters (for metrics and status); hold it briefly.
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        lock(&self.shared)
    }
}

#[derive(Debug)]
struct Sock {
    socket: UdpSocket,
    state: UdpSocketState,
    /// Cached: asking the kernel per packet would be a syscall per send.
    local: SocketAddr,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock leaves plain counters and tables behind, which are
    // still consistent enough to go on relaying: recover instead of failing every call.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends on the socket of the destination's address family (the first one), without
/// waiting: a full socket buffer drops the datagram, as the network would.
fn send(socks: &[Arc<Sock>], counters: &mut SocketCounters, t: &Transmit<'_>) {
    let sock = socks
        .iter()
        .find(|s| s.local.is_ipv4() == t.dst.is_ipv4())
        .or_else(|| socks.first());
    let Some(sock) = sock else { return };
    let dst = match (sock.local, t.dst) {
        // An IPv4 peer on a dual-stack IPv6 socket.
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
        }
        (_, d) => d,
    };
    if sock.socket.try_send_to(t.data, dst).is_err() {
        counters.send_failures += 1;
    }
}

fn flush(socks: &[Arc<Sock>], shared: &mut Shared, buf: &mut [u8]) {
    while let Some(t) = shared.server.poll_transmit(buf) {
        send(socks, &mut shared.sockets, &t);
    }
}

async fn socket_task(
    me: Arc<Sock>,
    socks: Arc<[Arc<Sock>]>,
    shared: Arc<Mutex<Shared>>,
    services: Arc<HashMap<u16, Service>>,
) {
    let batch = quinn_udp::BATCH_SIZE.min(32);
    // quinn-udp turns UDP GRO on: the kernel may coalesce a peer's equal-sized datagrams
    // into one slot (up to 64 KiB), and a smaller slot would truncate them. Zeroed
    // allocations are mapped lazily, so only the pages a burst touches cost memory.
    const SLOT: usize = 64 * 1024;
    let mut storage = vec![0u8; batch * SLOT];
    let mut meta = vec![RecvMeta::default(); batch];
    let mut out = vec![0u8; BUFFER_LEN];
    let mut reply = vec![0u8; BUFFER_LEN];
    let mut echo = vec![0u8; 2048];
    loop {
        if me.socket.readable().await.is_err() {
            continue;
        }
        loop {
            let mut bufs: Vec<IoSliceMut<'_>> =
                storage.chunks_mut(SLOT).map(IoSliceMut::new).collect();
            let received = me.socket.try_io(Interest::READABLE, || {
                me.state.recv((&me.socket).into(), &mut bufs, &mut meta)
            });
            let n = match received {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::debug!(error = %e, "WireGuard socket receive error");
                    break;
                }
            };
            let now = Instant::now();
            let mut guard = lock(&shared);
            let shared = &mut *guard;
            for (m, b) in meta.iter().zip(bufs.iter()).take(n) {
                for dgram in b[..m.len].chunks(m.stride.max(1)) {
                    let src = canonical(m.addr);
                    match shared.server.handle_datagram(now, src, dgram, &mut out) {
                        Action::Transmit(t) => send(&socks, &mut shared.sockets, &t),
                        Action::Deliver(d) => match services.get(&d.dst.port()) {
                            Some(Service::Echo) => {
                                let len = d.payload.len().min(echo.len());
                                echo[..len].copy_from_slice(&d.payload[..len]);
                                let (peer, port, dst) = (d.peer, d.dst.port(), d.src);
                                if let Ok(Some(t)) = shared.server.send_udp(
                                    now,
                                    peer,
                                    port,
                                    dst,
                                    &echo[..len],
                                    &mut reply,
                                ) {
                                    send(&socks, &mut shared.sockets, &t);
                                }
                            }
                            Some(Service::Channel(tx)) => {
                                let item = InnerDatagram {
                                    peer: d.peer,
                                    peer_name: d.peer_name.clone(),
                                    src: d.src,
                                    dst: d.dst,
                                    payload: d.payload.to_vec(),
                                };
                                if tx.try_send(item).is_err() {
                                    shared.sockets.service_overflow += 1;
                                }
                            }
                            // The core only delivers to open ports; nothing to do.
                            None => {}
                        },
                        _ => {}
                    }
                    flush(&socks, shared, &mut out);
                }
            }
        }
    }
}

async fn timer_task(socks: Arc<[Arc<Sock>]>, shared: Arc<Mutex<Shared>>) {
    let mut buf = vec![0u8; BUFFER_LEN];
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut guard = lock(&shared);
        if guard.server.poll_timeout().is_some_and(|t| t <= now) {
            guard.server.handle_timeout(now);
        }
        flush(&socks, &mut guard, &mut buf);
    }
}

async fn control_task(
    socks: Arc<[Arc<Sock>]>,
    shared: Arc<Mutex<Shared>>,
    mut peers: mpsc::Receiver<Vec<PeerSpec>>,
    mut sends: mpsc::Receiver<InnerSend>,
) {
    let mut buf = vec![0u8; BUFFER_LEN];
    loop {
        tokio::select! {
            Some(list) = peers.recv() => {
                let mut guard = lock(&shared);
                match guard.server.set_peers(list) {
                    Ok(changes) => {
                        for c in changes {
                            log_change(&c);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "peer list rejected; the previous list stays in force"),
                }
            }
            Some(s) = sends.recv() => {
                let now = Instant::now();
                let mut guard = lock(&shared);
                let shared = &mut *guard;
                match shared.server.send_udp(now, s.peer, s.src_port, s.dst, &s.payload, &mut buf) {
                    Ok(Some(t)) => send(&socks, &mut shared.sockets, &t),
                    Ok(None) => {}
                    Err(e) => tracing::debug!(error = %e, "datagram into the tunnel not sent"),
                }
                flush(&socks, shared, &mut buf);
            }
            else => break,
        }
    }
}

fn log_change(c: &PeerChange) {
    match c {
        PeerChange::Added { name, .. } => tracing::info!(peer = %name, "peer added"),
        PeerChange::Removed { name, .. } => {
            tracing::info!(peer = %name, "peer removed; its session is cut off")
        }
        PeerChange::Disabled { name, .. } => {
            tracing::info!(peer = %name, "peer disabled; its session is cut off")
        }
        PeerChange::Enabled { name, .. } => tracing::info!(peer = %name, "peer enabled"),
        PeerChange::Updated { name, .. } => tracing::info!(peer = %name, "peer updated"),
        other => tracing::info!(change = ?other, "peer change"),
    }
}

/// IPv4 peers on a dual-stack socket appear as `::ffff:a.b.c.d`.
fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => v6
            .ip()
            .to_ipv4_mapped()
            .map_or(a, |v4| SocketAddr::new(v4.into(), v6.port())),
        v4 => v4,
    }
}

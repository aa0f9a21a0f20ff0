//! Binding the listeners and their tasks: the TCP/TLS accept loops and the UDP receive
//! loops, plus the sweeper that forgets idle UDP flows.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;

use super::config::{ListenerConfig, SipTransportConfig};
use super::error::SetupError;
use super::tls::{ClientTls, ServerTls};
use super::{
    Flow, Inner, SipCounters, SipTransports, TcpKeepalive, Transport, admit, keepalive, lock,
    stream,
};
use crate::source_filter;

/// Accept backlog of the TCP/TLS listeners.
const BACKLOG: i32 = 1024;
/// Largest UDP payload; anything longer than the message limit is dropped anyway.
const UDP_BUFFER: usize = 65_536;

enum Bound {
    Stream(TcpListener),
    Udp(Arc<UdpSocket>),
}

pub(super) async fn bind(
    config: SipTransportConfig,
    inbound: super::InboundSink,
) -> Result<SipTransports, SetupError> {
    for l in &config.listeners {
        if let Some((net, trunk)) = l.allow.iter().find(|(_, t)| *t >= config.trunks.len()) {
            return Err(SetupError::UnknownTrunk {
                addr: l.addr,
                net: *net,
                trunk: *trunk,
                trunks: config.trunks.len(),
            });
        }
    }
    let server_tls = match config
        .listeners
        .iter()
        .find(|l| l.transport == Transport::Tls)
    {
        Some(l) => {
            let identity = config
                .tls
                .as_ref()
                .ok_or(SetupError::NoTlsIdentity { addr: l.addr })?;
            Some(ServerTls::new(identity, &config.trunks)?)
        }
        None => None,
    };
    // Trunks with explicit TLS client files: build now so a bad file fails the start,
    // not the first call. Trunks on the system store are built on first use.
    let client_tls = ClientTls::default();
    for (i, t) in config.trunks.iter().enumerate() {
        if t.tls.ca_file.is_some() || t.tls.client_cert_file.is_some() {
            client_tls.connector(i, t)?;
        }
    }

    let mut sockets = Vec::new();
    let mut bound = Vec::new();
    let mut udp = Vec::new();
    for (i, l) in config.listeners.iter().enumerate() {
        let socket = open(l)?;
        let local = socket
            .local_addr()
            .map_err(|source| bind_error(l, source))?
            .as_socket()
            .unwrap_or(l.addr);
        bound.push((l.transport, local));
        let socket = match l.transport {
            Transport::Udp => {
                let s = Arc::new(UdpSocket::from_std(socket.into()).map_err(|e| bind_error(l, e))?);
                udp.push((i, s.clone(), local));
                Bound::Udp(s)
            }
            Transport::Tcp | Transport::Tls => {
                Bound::Stream(TcpListener::from_std(socket.into()).map_err(|e| bind_error(l, e))?)
            }
        };
        tracing::info!(listen = %local, transport = l.transport.as_str(), ranges = l.allow.len(), kernel_filter = l.kernel_filter, "SIP listener bound");
        sockets.push((i, l.clone(), socket));
    }

    let inner = Arc::new(Inner {
        trunks: config.trunks,
        limits: config.limits,
        sip_limits: config.sip_limits,
        counters: Arc::new(SipCounters::default()),
        flows: Mutex::default(),
        inbound,
        server_tls,
        client_tls,
        bound,
        udp,
        outbound: Mutex::default(),
        sources: Arc::default(),
        flow_events: tokio::sync::broadcast::channel(super::FLOW_EVENTS).0,
        tasks: Mutex::default(),
    });
    let mut tasks = Vec::new();
    for (i, l, socket) in sockets {
        let allow: Arc<[(IpNet, usize)]> = l.allow.into();
        let handle = match socket {
            Bound::Stream(listener) => tokio::spawn(accept_loop(
                inner.clone(),
                listener,
                l.transport,
                allow,
                Arc::new(Semaphore::new(inner.limits.max_connections_per_listener)),
            )),
            Bound::Udp(socket) => tokio::spawn(udp_loop(inner.clone(), i, socket, allow)),
        };
        tasks.push(handle.abort_handle());
    }
    tasks.push(tokio::spawn(sweep_loop(Arc::downgrade(&inner))).abort_handle());
    *lock(&inner.tasks) = tasks;
    Ok(SipTransports { inner })
}

fn bind_error(l: &ListenerConfig, source: std::io::Error) -> SetupError {
    SetupError::Bind {
        addr: l.addr,
        transport: l.transport,
        source,
    }
}

/// Creates, filters, binds (and for streams, listens on) a socket. The kernel filter is
/// attached before `bind`, so not even the first packet slips past it.
fn open(l: &ListenerConfig) -> Result<Socket, SetupError> {
    let err = |e| bind_error(l, e);
    let (ty, proto) = match l.transport {
        Transport::Udp => (Type::DGRAM, Protocol::UDP),
        Transport::Tcp | Transport::Tls => (Type::STREAM, Protocol::TCP),
    };
    let socket = Socket::new(Domain::for_address(l.addr), ty, Some(proto)).map_err(err)?;
    if l.kernel_filter {
        let nets: Vec<IpNet> = l.allow.iter().map(|(n, _)| *n).collect();
        // Without it the userspace check still drops every other source, only later
        // (after the SYN-ACK), so a list too large for BPF degrades, it does not fail.
        if let Err(e) = source_filter::attach(SockRef::from(&socket), &nets) {
            tracing::warn!(listen = %l.addr, error = %e, "kernel source filter not attached; filtering in userspace only");
        }
    }
    if ty == Type::STREAM {
        // Restart without waiting for TIME_WAIT connections of the previous process.
        socket.set_reuse_address(true).map_err(err)?;
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&l.addr.into()).map_err(err)?;
    if ty == Type::STREAM {
        socket.listen(BACKLOG).map_err(err)?;
    } else {
        // Bursts (a trunk's registration storm) must not overflow the default buffer.
        let _ = socket.set_recv_buffer_size(4 << 20);
    }
    Ok(socket)
}

/// Counts inbound connections per source; the count drops when this is dropped.
struct SourceSlot {
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl SourceSlot {
    fn take(sources: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr, max: usize) -> Option<Self> {
        let mut map = lock(sources);
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            sources: sources.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.sources);
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: TcpListener,
    transport: Transport,
    allow: Arc<[(IpNet, usize)]>,
    permits: Arc<Semaphore>,
) {
    let counters = &inner.counters;
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on the error.
                tracing::warn!(error = %e, transport = transport.as_str(), "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(trunk) = admit(&allow, peer.ip()) else {
            SipCounters::inc(&counters.dropped_not_allowlisted);
            tracing::debug!(source = %peer, transport = transport.as_str(), "source not allowlisted; closed before reading a byte");
            // Reset rather than FIN: nothing to say, and no TIME_WAIT on our side.
            let _ = SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            drop(tcp);
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            SipCounters::inc(&counters.dropped_connection_limit);
            tracing::warn!(source = %peer, "listener connection limit reached; refused");
            continue;
        };
        let Some(slot) = SourceSlot::take(
            &inner.sources,
            peer.ip(),
            inner.limits.max_connections_per_source,
        ) else {
            SipCounters::inc(&counters.dropped_connection_limit);
            tracing::warn!(source = %peer, "per-source connection limit reached; refused");
            continue;
        };
        SipCounters::inc(&counters.accepted);
        let _ = tcp.set_nodelay(true);
        let keepalive =
            keepalive::configure(SockRef::from(&tcp), inner.limits.tcp_keepalive.as_ref());
        let inner = inner.clone();
        tokio::spawn(async move {
            let held = (permit, slot);
            serve_accepted(inner, tcp, peer, transport, trunk, keepalive, held).await;
        });
    }
}

async fn serve_accepted(
    inner: Arc<Inner>,
    tcp: TcpStream,
    peer: SocketAddr,
    transport: Transport,
    trunk: usize,
    keepalive: Option<TcpKeepalive>,
    held: impl Send + 'static,
) {
    let local = tcp.local_addr().unwrap_or(peer);
    let make = |id| Flow {
        id,
        remote: peer,
        local,
        transport,
        trunk,
        outbound: false,
    };
    let Some(tls) = inner
        .server_tls
        .as_ref()
        .filter(|_| transport == Transport::Tls)
    else {
        stream::start(&inner, tcp, make, keepalive, held);
        return;
    };
    let acceptor = tls.acceptor(trunk);
    let counters = &inner.counters;
    match tokio::time::timeout(inner.limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => {
            SipCounters::inc(&counters.tls_handshakes);
            let (_, conn) = tls.get_ref();
            tracing::debug!(source = %peer, trunk, version = ?conn.protocol_version(), client_cert = conn.peer_certificates().is_some(), "TLS connection from trunk");
            stream::start(&inner, tls, make, keepalive, held);
        }
        Ok(Err(e)) => {
            SipCounters::inc(&counters.tls_handshake_failures);
            tracing::info!(source = %peer, trunk, error = %e, "TLS handshake failed");
        }
        Err(_) => {
            SipCounters::inc(&counters.tls_handshake_failures);
            tracing::info!(source = %peer, trunk, "TLS handshake timed out");
        }
    }
}

async fn udp_loop(
    inner: Arc<Inner>,
    listener: usize,
    socket: Arc<UdpSocket>,
    allow: Arc<[(IpNet, usize)]>,
) {
    let counters = &inner.counters;
    let max = inner.sip_limits.max_message_size;
    let local = socket.local_addr().ok();
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "SIP/UDP receive error");
                continue;
            }
        };
        let Some(trunk) = admit(&allow, src.ip()) else {
            SipCounters::inc(&counters.dropped_not_allowlisted);
            tracing::debug!(source = %src, "source not allowlisted; datagram dropped");
            continue;
        };
        if n > max {
            SipCounters::inc(&counters.udp_oversize);
            tracing::debug!(source = %src, len = n, max, "oversized SIP/UDP datagram dropped");
            continue;
        }
        let data = &buf[..n];
        // CRLF keep-alives over UDP (RFC 5626 uses STUN there; some devices send CRLF
        // anyway): nothing to answer, nothing to deliver.
        if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            continue;
        }
        let make = |id| Flow {
            id,
            remote: src,
            local: local.unwrap_or(src),
            transport: Transport::Udp,
            trunk,
            outbound: false,
        };
        let flow = lock(&inner.flows).udp_flow(
            listener,
            &socket,
            make,
            src,
            inner.limits.max_udp_flows,
            Instant::now(),
        );
        match flow {
            Some(flow) => inner.deliver(&flow, data.to_vec()),
            None => SipCounters::inc(&counters.udp_flows_full),
        }
    }
}

/// Forgets idle UDP flows; ends when the transports are gone.
async fn sweep_loop(inner: std::sync::Weak<Inner>) {
    let every = inner
        .upgrade()
        .map_or(Duration::from_secs(60), |i| i.limits.udp_flow_idle / 4)
        .clamp(Duration::from_millis(100), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let gone = lock(&inner.flows).expire_udp(Instant::now(), inner.limits.udp_flow_idle);
        if gone > 0 {
            tracing::debug!(flows = gone, "idle UDP flows forgotten");
        }
    }
}

//! The SIP transports: UDP, TCP and TLS listeners facing the trunk providers, and the
//! outbound connections to them.
//!
//! Every listener has an allowlist of source ranges, each admitting for one trunk. A
//! connection or datagram from elsewhere is dropped before the TLS handshake and before
//! any byte is parsed (and, by default, the kernel drops it even earlier: see
//! [`crate::source_filter`]). Whatever is admitted becomes a [`Flow`] with a stable
//! [`FlowId`]; its messages reach the signalling task as [`Inbound`] on one bounded
//! channel, framed by [`drawbridge_sip::StreamFramer`] on streams. The signalling task
//! answers with [`SipTransports::send`] and opens connections to trunks with
//! [`SipTransports::connect`].
//!
//! Wiring, in the binary: build the configuration with
//! [`SipTransportConfig::from_config`], create one bounded channel, call
//! [`SipTransports::bind`] and hand the receiver to the signalling task; call
//! [`SipTransports::reload_certificate`] on SIGHUP and render
//! [`SipCounters::snapshot`] on the metrics endpoint.
//!
//! Connections opening and closing are announced to every subscriber of
//! [`SipTransports::flow_events`] ([`FlowEvent`]): the B2BUA pins dialogs to connections
//! and moves them to a provider's new connection once the old one closed.
//!
//! Not here: SIP parsing beyond framing (the `sip` crate), DNS NAPTR/SRV (a trunk's `host`
//! is resolved with A/AAAA only), and any choice of which connection a request should use
//! (the signalling task names the flow).

mod config;
mod counters;
mod error;
mod flows;
mod keepalive;
mod listen;
mod outbound;
mod stream;
mod tls;

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

pub use drawbridge_config::Transport;
use ipnet::IpNet;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

pub use self::config::{
    ConnectionLimits, ListenerConfig, SipTransportConfig, TlsIdentity, TrunkTransport,
};
pub use self::counters::{SipCounters, SipCountersSnapshot};
pub use self::error::{ConnectError, SendError, SetupError};
use self::flows::{FlowTable, Route};
pub use self::keepalive::TcpKeepalive;
use self::tls::{ClientTls, ServerTls};

/// Identifies one connection or one UDP (listener, remote) pair for as long as it lives.
/// Ids are never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What is known about a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Its id.
    pub id: FlowId,
    /// The peer's address (IPv4-mapped IPv6 addresses are kept as the socket reports
    /// them).
    pub remote: SocketAddr,
    /// Our side's address.
    pub local: SocketAddr,
    /// UDP, TCP or TLS.
    pub transport: Transport,
    /// The trunk (index into [`SipTransportConfig::trunks`]) the flow was admitted or
    /// opened for.
    pub trunk: usize,
    /// True for connections we opened with [`SipTransports::connect`] and for UDP flows
    /// created by sending.
    pub outbound: bool,
}

/// A TCP/TLS connection opening or closing, for every subscriber of
/// [`SipTransports::flow_events`]. UDP flows come and go silently (they are not
/// connections; the signalling task names them by address).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowEvent {
    /// A connection is up (accepted and, for TLS, handshaken with the trunk's acceptor;
    /// or opened by [`SipTransports::connect`]). Announced before any message it carries
    /// is handed on, so a subscriber that drains its events before each message sees the
    /// connection before its first message.
    Opened(Flow),
    /// A connection closed (by the peer, an error, the idle timeout, the peer going
    /// silent — TCP keep-alive, see [`TcpKeepalive`] —, or [`SipTransports::close`]): sends on it fail with [`SendError::Closed`] from now
    /// on, and every message it carried has been handed on already.
    Closed(Flow),
}

/// Room for connection events not yet read by the slowest subscriber; beyond it the
/// oldest are lost (the subscriber is told how many).
const FLOW_EVENTS: usize = 1024;

/// One SIP message (or whatever a UDP datagram held) for the signalling task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The flow it came on; answer with [`SipTransports::send`] on it.
    pub flow: FlowId,
    /// The trunk it was admitted for.
    pub trunk: usize,
    /// The peer's address (for Via `received`/`rport`, without a flow-table lookup).
    pub remote: SocketAddr,
    /// The transport it came over.
    pub transport: Transport,
    /// The raw message: one framed message on streams, the datagram on UDP.
    pub bytes: Vec<u8>,
    /// When it was read from the socket.
    pub received: Instant,
}

/// Where received messages go: one channel, or one of several chosen per message by a
/// function of its bytes — so that several workers can share the signalling, each message
/// reaching the worker that owns its call without a hop through a dispatcher.
#[derive(Debug, Clone)]
pub struct InboundSink {
    senders: Vec<mpsc::Sender<Inbound>>,
    pick: fn(&[u8], usize) -> usize,
    shed: Option<fn(&[u8]) -> bool>,
    /// Channels to the same workers fed by other transports: their backlog is the same
    /// workers' load.
    siblings: Vec<mpsc::Sender<Inbound>>,
}

/// Why a message was not handed on.
enum NotDelivered {
    /// The channel was full or closed.
    Full,
    /// The worker was busy and the message would start new work.
    Shed,
}

impl InboundSink {
    /// Messages go to `senders[pick(bytes, senders.len()) % senders.len()]`. An empty
    /// list drops everything (counted as `channel_full`).
    pub fn sharded(senders: Vec<mpsc::Sender<Inbound>>, pick: fn(&[u8], usize) -> usize) -> Self {
        Self {
            senders,
            pick,
            shed: None,
            siblings: Vec::new(),
        }
    }

    /// Overload control: while the chosen worker is busy — more than a quarter of its
    /// channels' room taken, this sink's channel and its siblings' together — messages for
    /// which `starts_new_work` is true (new calls, out-of-dialog requests) are dropped and
    /// counted in `shed_overload`, so the work already accepted (calls being set up or
    /// torn down) keeps the room it needs and finishes. The dropped requests' senders
    /// retransmit, and get in once the backlog has drained. `siblings` are the channels to
    /// the same workers (same order) that other transports feed, or empty.
    #[must_use]
    pub fn shed_when_busy(
        mut self,
        starts_new_work: fn(&[u8]) -> bool,
        siblings: Vec<mpsc::Sender<Inbound>>,
    ) -> Self {
        self.shed = Some(starts_new_work);
        self.siblings = siblings;
        self
    }

    /// Whether worker `i` has more than a quarter of its channels' room taken.
    fn busy(&self, i: usize, tx: &mpsc::Sender<Inbound>) -> bool {
        let (mut free, mut max) = (tx.capacity(), tx.max_capacity());
        if let Some(s) = self.siblings.get(i) {
            free += s.capacity();
            max += s.max_capacity();
        }
        free < max - max / 4
    }

    fn try_send(&self, msg: Inbound) -> Result<(), NotDelivered> {
        let n = self.senders.len();
        let i = if n > 1 {
            (self.pick)(&msg.bytes, n) % n
        } else {
            0
        };
        let tx = self.senders.get(i).ok_or(NotDelivered::Full)?;
        if let Some(starts_new_work) = self.shed
            && self.busy(i, tx)
            && starts_new_work(&msg.bytes)
        {
            return Err(NotDelivered::Shed);
        }
        tx.try_send(msg).map_err(|_| NotDelivered::Full)
    }
}

impl From<mpsc::Sender<Inbound>> for InboundSink {
    fn from(tx: mpsc::Sender<Inbound>) -> Self {
        Self::sharded(vec![tx], |_, _| 0)
    }
}

/// A handle to the running SIP transports; cheap to clone. The tasks run until
/// [`SipTransports::shutdown`] (dropping the handles does not stop them).
#[derive(Debug, Clone)]
pub struct SipTransports {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    trunks: Vec<TrunkTransport>,
    limits: ConnectionLimits,
    sip_limits: drawbridge_sip::Limits,
    counters: Arc<SipCounters>,
    flows: Mutex<FlowTable>,
    inbound: InboundSink,
    server_tls: Option<ServerTls>,
    client_tls: ClientTls,
    bound: Vec<(Transport, SocketAddr)>,
    /// UDP listener sockets, with their listener index, for sending.
    udp: Vec<(usize, Arc<UdpSocket>, SocketAddr)>,
    /// One slot per (trunk, transport, host, port) so concurrent requests to a trunk
    /// share a single connect.
    outbound: Mutex<HashMap<outbound::Key, Arc<tokio::sync::Mutex<Option<FlowId>>>>>,
    /// Inbound connections per source address.
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// Connections opening and closing, for [`SipTransports::flow_events`].
    flow_events: tokio::sync::broadcast::Sender<FlowEvent>,
    tasks: Mutex<Vec<AbortHandle>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind, still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The trunk a source is admitted for: the first range containing it. IPv4 peers on a
/// dual-stack socket show up as `::ffff:a.b.c.d` and are compared as IPv4.
fn admit(allow: &[(IpNet, usize)], ip: IpAddr) -> Option<usize> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    allow
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, trunk)| *trunk)
}

impl SipTransports {
    /// Binds every listener and starts its task on the current tokio runtime. Messages
    /// go to `inbound`, one channel or one of several ([`InboundSink`]); channels are
    /// bounded: when the chosen one is full, the message is dropped and counted in
    /// `channel_full`.
    pub async fn bind(
        config: SipTransportConfig,
        inbound: impl Into<InboundSink>,
    ) -> Result<Self, SetupError> {
        listen::bind(config, inbound.into()).await
    }

    /// The address the first listener of `transport` is bound to.
    pub fn local_addr(&self, transport: Transport) -> Option<SocketAddr> {
        self.inner
            .bound
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, a)| *a)
    }

    /// Every bound listener.
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        self.inner.bound.clone()
    }

    /// The live counters (keep the `Arc` in the metrics task).
    pub fn counters(&self) -> Arc<SipCounters> {
        self.inner.counters.clone()
    }

    /// A flow's description, if it is still open.
    pub fn flow(&self, id: FlowId) -> Option<Flow> {
        lock(&self.inner.flows).get(id)
    }

    /// Connection events from now on ([`FlowEvent`]). Each receiver gets every event;
    /// one that falls more than 1024 events behind loses the oldest (`Lagged`).
    pub fn flow_events(&self) -> tokio::sync::broadcast::Receiver<FlowEvent> {
        self.inner.flow_events.subscribe()
    }

    /// The TCP keep-alive settings of a connection's socket, as the kernel reported them
    /// right after they were set when the connection opened. `None` for UDP flows, closed
    /// flows, or when keep-alive is off ([`ConnectionLimits::tcp_keepalive`]) or could not
    /// be set.
    pub fn tcp_keepalive(&self, id: FlowId) -> Option<TcpKeepalive> {
        lock(&self.inner.flows).keepalive(id)
    }

    /// Every open flow, by id.
    pub fn flows(&self) -> Vec<Flow> {
        lock(&self.inner.flows).all()
    }

    /// Sends one message on a flow: queued to the connection's writer (never waits for
    /// the peer), or sent as a datagram. A borrowed message is copied only when a
    /// connection's writer must queue it; a datagram goes out from the caller's buffer.
    pub async fn send<'a>(
        &self,
        flow: FlowId,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> Result<(), SendError> {
        let bytes = bytes.into();
        let route = lock(&self.inner.flows).route(flow, Instant::now());
        let counters = &self.inner.counters;
        let result = match route {
            None => Err(SendError::Closed(flow)),
            Some((Route::Stream(tx), _)) => tx.try_send(bytes.into_owned()).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SendError::QueueFull(flow),
                mpsc::error::TrySendError::Closed(_) => SendError::Closed(flow),
            }),
            Some((Route::Udp(socket), dst)) => socket
                .send_to(&bytes, dst)
                .await
                .map(drop)
                .map_err(|source| SendError::Udp { dst, source }),
        };
        SipCounters::inc(if result.is_ok() {
            &counters.messages_out
        } else {
            &counters.send_failures
        });
        result
    }

    /// Sends a datagram to any destination from a UDP listener socket (the first of the
    /// destination's address family) and returns the flow it now belongs to, so that
    /// answers from `dst` arrive on the same id.
    pub async fn send_to<'a>(
        &self,
        trunk: usize,
        dst: SocketAddr,
        bytes: impl Into<Cow<'a, [u8]>>,
    ) -> Result<FlowId, SendError> {
        let flow = self.inner.udp_flow_to(trunk, dst)?;
        self.send(flow, bytes).await?;
        Ok(flow)
    }

    /// Opens (or reuses) a connection to a trunk provider and returns its flow. A
    /// connection opened earlier for the same `(trunk, host, port, transport)` is reused
    /// while it is open; after it closed, the next call connects again. For UDP no
    /// packet is sent: the flow is the UDP listener socket paired with the first resolved
    /// address.
    pub async fn connect(
        &self,
        trunk: usize,
        host: &str,
        port: u16,
        transport: Transport,
    ) -> Result<FlowId, ConnectError> {
        outbound::connect(&self.inner, trunk, host, port, transport).await
    }

    /// Closes a flow: a connection writes what is queued, then closes (TLS close_notify,
    /// then FIN); a UDP flow is forgotten. False if it was not open.
    pub fn close(&self, flow: FlowId) -> bool {
        lock(&self.inner.flows).remove(flow)
    }

    /// Re-reads the TLS certificate, key and client CA files (call it on SIGHUP). New
    /// handshakes use them; established connections are untouched. On an error the old
    /// material stays in use. Without a TLS listener this does nothing.
    pub fn reload_certificate(&self) -> Result<(), SetupError> {
        let Some(tls) = &self.inner.server_tls else {
            return Ok(());
        };
        tls.reload(&self.inner.trunks)?;
        SipCounters::inc(&self.inner.counters.certificate_reloads);
        Ok(())
    }

    /// Stops the listeners and closes every flow (connections flush and close).
    pub fn shutdown(&self) {
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        lock(&self.inner.flows).clear();
    }
}

impl Inner {
    /// Announces a connection event; nobody listening is fine.
    fn announce(&self, event: FlowEvent) {
        let _ = self.flow_events.send(event);
    }

    /// Hands a message to the signalling task, or counts it as dropped.
    fn deliver(&self, flow: &Flow, bytes: Vec<u8>) {
        let msg = Inbound {
            flow: flow.id,
            trunk: flow.trunk,
            remote: flow.remote,
            transport: flow.transport,
            bytes,
            received: Instant::now(),
        };
        match self.inbound.try_send(msg) {
            Ok(()) => SipCounters::inc(&self.counters.messages_in),
            Err(NotDelivered::Full) => SipCounters::inc(&self.counters.channel_full),
            Err(NotDelivered::Shed) => SipCounters::inc(&self.counters.shed_overload),
        }
    }

    /// The UDP flow towards `dst`, created if needed, on the first UDP listener that can
    /// reach it (an IPv6 socket reaches IPv4 through a mapped address).
    fn udp_flow_to(&self, trunk: usize, dst: SocketAddr) -> Result<FlowId, SendError> {
        // The local address was read once at bind: no getsockname per message.
        let (listener, socket, local, dst) = if let Some((i, s, local)) = self
            .udp
            .iter()
            .find(|(_, _, local)| local.is_ipv4() == dst.is_ipv4())
        {
            (*i, s, *local, dst)
        } else if let (SocketAddr::V4(v4), Some((i, s, local))) =
            (dst, self.udp.iter().find(|(_, _, local)| local.is_ipv6()))
        {
            let mapped = SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port());
            (*i, s, *local, mapped)
        } else {
            return Err(SendError::NoUdpSocket(dst));
        };
        let make = |id| Flow {
            id,
            remote: dst,
            local,
            transport: Transport::Udp,
            trunk,
            outbound: true,
        };
        lock(&self.flows)
            .udp_flow(
                listener,
                socket,
                make,
                dst,
                self.limits.max_udp_flows,
                Instant::now(),
            )
            .map(|f| f.id)
            .ok_or_else(|| {
                SipCounters::inc(&self.counters.udp_flows_full);
                SendError::TooManyFlows(dst)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admit_takes_the_first_matching_range_and_unmaps_ipv4() {
        let allow: Vec<(IpNet, usize)> = vec![
            ("198.51.100.0/24".parse().unwrap(), 0),
            ("198.51.100.7/32".parse().unwrap(), 1),
            ("2001:db8::/32".parse().unwrap(), 2),
        ];
        assert_eq!(admit(&allow, "198.51.100.7".parse().unwrap()), Some(0));
        assert_eq!(
            admit(&allow, "::ffff:198.51.100.9".parse().unwrap()),
            Some(0)
        );
        assert_eq!(admit(&allow, "2001:db8::5".parse().unwrap()), Some(2));
        assert_eq!(admit(&allow, "198.51.101.1".parse().unwrap()), None);
        assert_eq!(admit(&[], "198.51.100.7".parse().unwrap()), None);
    }
}

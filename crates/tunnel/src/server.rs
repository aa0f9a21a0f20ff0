//! The multi-peer WireGuard server: routing datagrams to peers, sessions, timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};

use crate::config::{ConfigError, PeerSpec, ServerConfig};
use crate::counters::{Counters, DropReason};
use crate::host::{Verdict, VirtualHost};

/// Size every packet buffer handed to the server should have: the largest IP packet plus
/// WireGuard's 32 bytes of data-message overhead. Smaller buffers make `handle_datagram`
/// drop with [`DropReason::BufferTooSmall`], `send_udp` fail and `poll_transmit` return
/// `None`, instead of letting boringtun panic.
pub const BUFFER_LEN: usize = 65_535 + 32;

/// boringtun's timers are meant to be driven every 100-250 ms (its own device uses 250 ms);
/// their resolution is one second, so more often buys nothing.
const TIMER_TICK: Duration = Duration::from_millis(250);
/// The handshake rate limiter's budget is per second (boringtun `RESET_PERIOD`).
const LIMITER_PERIOD: Duration = Duration::from_secs(1);
/// Session indexes are 24 bits (boringtun shifts them left by 8 for the session counter).
const MAX_PEERS: usize = 1 << 24;
/// The largest handshake message; buffers must hold at least this.
const HANDSHAKE_INIT_LEN: usize = 148;
const COOKIE_REPLY_LEN: usize = 64;
/// boringtun's queue holds 256 packets; a flush can never need more calls than that.
const FLUSH_BUDGET: u32 = 260;
const MSG_HANDSHAKE_INIT: u8 = 1;
const MSG_HANDSHAKE_RESPONSE: u8 = 2;
const MSG_DATA: u8 = 4;

/// A configured peer, as the server names it. Stable while the peer stays configured
/// (across [`Server::set_peers`] calls that keep its public key); a removed peer's id never
/// names another peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    slot: u32,
    generation: u32,
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}.{}", self.slot, self.generation)
    }
}

/// An encrypted datagram to send on the WireGuard UDP socket.
#[derive(Debug, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// The outer endpoint to send it to.
    pub dst: SocketAddr,
    /// The datagram (inside the caller's buffer).
    pub data: &'a [u8],
}

/// A UDP payload a peer sent to one of drawbridge's services.
#[derive(Debug, PartialEq, Eq)]
pub struct Delivery<'a> {
    /// Which peer sent it (authenticated by its WireGuard key).
    pub peer: PeerId,
    /// That peer's configured name.
    pub peer_name: Arc<str>,
    /// The peer's inner address and port (checked against its assigned addresses).
    pub src: SocketAddr,
    /// drawbridge's inner address and the service port it was sent to.
    pub dst: SocketAddr,
    /// The UDP payload (inside the caller's buffer).
    pub payload: &'a [u8],
}

/// What the caller must do after [`Server::handle_datagram`]. In every case, then call
/// [`Server::poll_transmit`] until it returns `None`.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action<'a> {
    /// Send this datagram (a handshake response, cookie reply, echo reply, keepalive).
    Transmit(Transmit<'a>),
    /// Hand this UDP payload to the local service listening on `dst`'s port.
    Deliver(Delivery<'a>),
    /// The datagram was valid and needs nothing more (a keepalive, a cookie reply).
    Nothing,
    /// The datagram or its inner packet was dropped and counted; never answered.
    Dropped {
        /// Why.
        reason: DropReason,
        /// The peer it came from, when it was authenticated as one.
        peer: Option<PeerId>,
    },
}

/// A change [`Server::set_peers`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerChange {
    /// A new peer; it can handshake now.
    Added {
        /// Its id.
        id: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// A peer no longer configured; its session is gone and its packets are ignored.
    Removed {
        /// Its (now dead) id.
        id: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// A peer now disabled; its session is gone and its handshakes are dropped.
    Disabled {
        /// Its id.
        id: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// A disabled peer enabled again.
    Enabled {
        /// Its id.
        id: PeerId,
        /// Its name.
        name: Arc<str>,
    },
    /// Name, addresses, pre-shared key or keepalive changed. A new pre-shared key or keepalive
    /// needs a new boringtun state, so the session is dropped (`session_reset`); the peer
    /// handshakes again. A new name or new addresses keep the session.
    Updated {
        /// Its id.
        id: PeerId,
        /// Its (new) name.
        name: Arc<str>,
        /// Whether its session was dropped.
        session_reset: bool,
    },
}

/// Why [`Server::send_udp`] could not send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The peer id names no configured peer (it was removed).
    #[error("{0} is not a configured peer (removed?)")]
    UnknownPeer(PeerId),
    /// The peer is disabled.
    #[error("peer `{0}` is disabled")]
    PeerDisabled(Arc<str>),
    /// The destination is not one of the peer's inner addresses.
    #[error("{address} is not an inner address of peer `{peer}`")]
    NotPeerAddress {
        /// The peer's name.
        peer: Arc<str>,
        /// The address asked for.
        address: IpAddr,
    },
    /// drawbridge has no inner address of the destination's family.
    #[error("no inner {family} address is configured, cannot send to {address}")]
    NoInnerAddress {
        /// "IPv4" or "IPv6".
        family: &'static str,
        /// The address asked for.
        address: IpAddr,
    },
    /// The payload does not fit in one IP packet.
    #[error("payload of {len} bytes does not fit in one IP packet")]
    TooLarge {
        /// The payload length.
        len: usize,
    },
    /// The output buffer is too small.
    #[error("output buffer of {len} bytes is too small, {needed} needed (use BUFFER_LEN)")]
    BufferTooSmall {
        /// Its length.
        len: usize,
        /// What was needed.
        needed: usize,
    },
    /// The peer has no session and has never been seen, so there is nowhere to send a
    /// handshake to. It has to connect first.
    #[error("peer `{0}` has never connected: no endpoint to reach it")]
    NoEndpoint(Arc<str>),
}

/// Read-only view of one peer, for status pages and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerStatus {
    /// Its name.
    pub name: Arc<str>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether it has a live session (boringtun state).
    pub has_session: bool,
    /// Where its packets go: its last authenticated outer address.
    pub endpoint: Option<SocketAddr>,
}

/// One boringtun state: exists only while the peer is active (memory: idle peers are small).
struct Session {
    tunn: Tunn,
    /// Source of the most recent authenticated message, handshake initiations included.
    endpoint: SocketAddr,
    last_rx: Instant,
    /// The deadline of this session's one valid entry in the timer heap.
    next_tick: Instant,
    /// `send_udp` handed boringtun a packet while no session key was ready: boringtun queued
    /// it, and it must be flushed once the session is confirmed.
    queued: bool,
    /// Already in `Server::due` / `Server::flush`: each session is in each queue at most
    /// once, so the queues stay bounded by the number of live sessions even if the caller
    /// is slow to call `poll_transmit`.
    in_due: bool,
    in_flush: bool,
}

impl Session {
    fn new(tunn: Tunn, endpoint: SocketAddr, now: Instant) -> Self {
        Self {
            tunn,
            endpoint,
            last_rx: now,
            next_tick: now + TIMER_TICK,
            queued: false,
            in_due: false,
            in_flush: false,
        }
    }

    fn has_current_key(&self) -> bool {
        self.tunn.time_since_last_handshake().is_some()
    }
}

struct Peer {
    name: Arc<str>,
    key: [u8; 32],
    addrs: Box<[IpAddr]>,
    psk: Option<[u8; 32]>,
    keepalive: Option<u16>,
    enabled: bool,
    /// Last key-confirmed endpoint (data or handshake response), kept across sessions so the
    /// server can reach a peer whose session expired. Handshake initiations alone do not
    /// move it: a replayed old initiation must not redirect the peer's traffic.
    endpoint: Option<SocketAddr>,
    session: Option<Box<Session>>,
}

struct Slot {
    generation: u32,
    peer: Option<Peer>,
}

/// Where a boringtun result landed in the caller's buffer (it always writes from the start,
/// but we do not rely on it).
enum Outcome {
    Network(Range<usize>),
    Tunnel(Range<usize>),
    Done,
    Err(WireGuardError),
}

fn outcome(base: *const u8, r: TunnResult<'_>) -> Outcome {
    let span = |s: &[u8]| {
        let start = (s.as_ptr() as usize).wrapping_sub(base as usize);
        start..start + s.len()
    };
    match r {
        TunnResult::Done => Outcome::Done,
        TunnResult::Err(e) => Outcome::Err(e),
        TunnResult::WriteToNetwork(p) => Outcome::Network(span(p)),
        TunnResult::WriteToTunnelV4(p, _) | TunnResult::WriteToTunnelV6(p, _) => {
            Outcome::Tunnel(span(p))
        }
    }
}

/// A sans-IO multi-peer WireGuard server with drawbridge's virtual inner host behind it.
///
/// # Driving it
///
/// - [`handle_datagram`](Self::handle_datagram) for every datagram received on the WireGuard
///   UDP socket; act on the returned [`Action`].
/// - [`poll_transmit`](Self::poll_transmit) until `None` after every `handle_*` call and
///   after [`send_udp`](Self::send_udp): it flushes packets boringtun queued and timer output.
/// - [`poll_timeout`](Self::poll_timeout) says when to call
///   [`handle_timeout`](Self::handle_timeout) next (then `poll_transmit` again).
/// - [`send_udp`](Self::send_udp) to send a service's UDP datagram to a peer.
/// - [`set_peers`](Self::set_peers) when the peer list changes.
///
/// All buffers should be [`BUFFER_LEN`] bytes. Nothing allocates per data packet.
pub struct Server {
    secret: StaticSecret,
    public: PublicKey,
    host: VirtualHost,
    /// Shared, server-wide handshake limiter: checks MAC1/MAC2 and answers with cookies under
    /// load, before any peer lookup or Diffie-Hellman.
    limiter: Arc<RateLimiter>,
    /// Given to every `Tunn`: boringtun re-verifies each message in `decapsulate`; a limiter
    /// that is never "under load" keeps that second check from counting handshakes twice.
    mac1_only: Arc<RateLimiter>,
    idle_timeout: Duration,
    slots: Vec<Slot>,
    free: VecDeque<u32>,
    by_key: HashMap<[u8; 32], u32>,
    /// Only live sessions are in here: (deadline, slot, generation), earliest first.
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Sessions whose boringtun timers are due (`update_timers` in `poll_transmit`).
    due: VecDeque<(u32, u32)>,
    /// Sessions that may have queued packets to flush (`decapsulate(None, &[])`).
    flush: VecDeque<(u32, u32)>,
    flush_calls: u32,
    /// Set when a handshake was counted; the limiter is reset one period later.
    limiter_reset_at: Option<Instant>,
    live_sessions: usize,
    /// Plaintext scratch for packets the server originates (echo replies, `send_udp`).
    scratch: Box<[u8]>,
    counters: Counters,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("public_key", &crate::keys::encode(self.public.as_bytes()))
            .field("host", &self.host)
            .field("peers", &self.by_key.len())
            .field("live_sessions", &self.live_sessions)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Builds a server. Fails, naming the problem, if the configuration or the peer list is
    /// inconsistent (see [`ConfigError`]).
    pub fn new(config: ServerConfig, peers: Vec<PeerSpec>) -> Result<Self, ConfigError> {
        if config.inner_v4.is_none() && config.inner_v6.is_none() {
            return Err(ConfigError::NoInnerAddress);
        }
        let secret = StaticSecret::from(config.private_key);
        let public = PublicKey::from(&secret);
        let mut server = Self {
            limiter: Arc::new(RateLimiter::new(&public, config.handshakes_per_second)),
            mac1_only: Arc::new(RateLimiter::new(&public, u64::MAX)),
            secret,
            public,
            host: VirtualHost::new(config.inner_v4, config.inner_v6, config.udp_ports),
            idle_timeout: config.idle_timeout,
            slots: Vec::new(),
            free: VecDeque::new(),
            by_key: HashMap::new(),
            timers: BinaryHeap::new(),
            due: VecDeque::with_capacity(64),
            flush: VecDeque::with_capacity(64),
            flush_calls: 0,
            limiter_reset_at: None,
            live_sessions: 0,
            scratch: vec![0; BUFFER_LEN].into_boxed_slice(),
            counters: Counters::default(),
        };
        server.set_peers(peers)?;
        Ok(server)
    }

    /// The server's public key (what peers put in their `[Peer] PublicKey`).
    pub fn public_key(&self) -> [u8; 32] {
        *self.public.as_bytes()
    }

    /// The virtual inner host (addresses and open ports).
    pub fn host(&self) -> &VirtualHost {
        &self.host
    }

    /// What the server counted so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Number of configured peers (enabled or not).
    pub fn peer_count(&self) -> usize {
        self.by_key.len()
    }

    /// Number of peers with a live session (boringtun state in memory).
    pub fn live_sessions(&self) -> usize {
        self.live_sessions
    }

    /// The id of the peer with this public key.
    pub fn peer_by_key(&self, public_key: &[u8; 32]) -> Option<PeerId> {
        let slot = *self.by_key.get(public_key)?;
        self.id_of(slot)
    }

    /// The id of the peer with this name (a scan: not for the packet path).
    pub fn peer_by_name(&self, name: &str) -> Option<PeerId> {
        self.slots.iter().enumerate().find_map(|(i, s)| {
            let p = s.peer.as_ref()?;
            (&*p.name == name).then_some(PeerId {
                slot: i as u32,
                generation: s.generation,
            })
        })
    }

    /// A peer's current state, if the id is still valid.
    pub fn peer_status(&self, id: PeerId) -> Option<PeerStatus> {
        let p = self.peer(id)?;
        Some(PeerStatus {
            name: p.name.clone(),
            enabled: p.enabled,
            has_session: p.session.is_some(),
            endpoint: p.session.as_ref().map(|s| s.endpoint).or(p.endpoint),
        })
    }

    fn id_of(&self, slot: u32) -> Option<PeerId> {
        let s = self.slots.get(slot as usize)?;
        s.peer.as_ref()?;
        Some(PeerId {
            slot,
            generation: s.generation,
        })
    }

    fn peer(&self, id: PeerId) -> Option<&Peer> {
        let s = self.slots.get(id.slot as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.peer.as_ref()
    }

    fn peer_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        let s = self.slots.get_mut(id.slot as usize)?;
        if s.generation != id.generation {
            return None;
        }
        s.peer.as_mut()
    }

    /// Replaces the peer list. Peers are matched by public key: a new key is added, a missing
    /// key is removed (session dropped, its packets ignored from now on), a disabled peer is
    /// cut off at once, and an unchanged peer keeps its session (no new handshake).
    ///
    /// The list is checked first; on error nothing changes.
    pub fn set_peers(&mut self, peers: Vec<PeerSpec>) -> Result<Vec<PeerChange>, ConfigError> {
        self.validate(&peers)?;
        let mut changes = Vec::new();
        let wanted: HashSet<[u8; 32]> = peers.iter().map(|p| p.public_key).collect();

        let gone: Vec<u32> = self
            .by_key
            .iter()
            .filter(|(k, _)| !wanted.contains(*k))
            .map(|(_, s)| *s)
            .collect();
        for slot in gone {
            let s = &mut self.slots[slot as usize];
            let id = PeerId {
                slot,
                generation: s.generation,
            };
            if let Some(p) = s.peer.take() {
                if p.session.is_some() {
                    self.live_sessions -= 1;
                }
                self.by_key.remove(&p.key);
                self.free.push_back(slot);
                changes.push(PeerChange::Removed { id, name: p.name });
            }
        }

        for spec in peers {
            if let Some(&slot) = self.by_key.get(&spec.public_key) {
                let s = &mut self.slots[slot as usize];
                let id = PeerId {
                    slot,
                    generation: s.generation,
                };
                let Some(p) = s.peer.as_mut() else { continue };
                let reset = p.psk != spec.preshared_key || p.keepalive != spec.persistent_keepalive;
                let renamed = *p.name != *spec.name;
                let readdressed = *p.addrs != *spec.addresses;
                if renamed {
                    p.name = Arc::from(spec.name.as_str());
                }
                p.addrs = spec.addresses.into_boxed_slice();
                p.psk = spec.preshared_key;
                p.keepalive = spec.persistent_keepalive;
                let name = p.name.clone();
                let change = match (p.enabled, spec.enabled) {
                    (true, false) => Some(PeerChange::Disabled { id, name }),
                    (false, true) => Some(PeerChange::Enabled { id, name }),
                    _ if reset || renamed || readdressed => Some(PeerChange::Updated {
                        id,
                        name,
                        session_reset: reset && p.session.is_some(),
                    }),
                    _ => None,
                };
                p.enabled = spec.enabled;
                if (reset || !p.enabled) && p.session.take().is_some() {
                    self.live_sessions -= 1;
                }
                changes.extend(change);
            } else {
                let slot = match self.free.pop_front() {
                    Some(slot) => slot,
                    None => {
                        self.slots.push(Slot {
                            generation: 0,
                            peer: None,
                        });
                        (self.slots.len() - 1) as u32
                    }
                };
                let s = &mut self.slots[slot as usize];
                s.generation = s.generation.wrapping_add(1);
                let name: Arc<str> = Arc::from(spec.name.as_str());
                s.peer = Some(Peer {
                    name: name.clone(),
                    key: spec.public_key,
                    addrs: spec.addresses.into_boxed_slice(),
                    psk: spec.preshared_key,
                    keepalive: spec.persistent_keepalive,
                    enabled: spec.enabled,
                    endpoint: None,
                    session: None,
                });
                self.by_key.insert(spec.public_key, slot);
                changes.push(PeerChange::Added {
                    id: PeerId {
                        slot,
                        generation: s.generation,
                    },
                    name,
                });
            }
        }
        Ok(changes)
    }

    fn validate(&self, peers: &[PeerSpec]) -> Result<(), ConfigError> {
        if peers.len() >= MAX_PEERS {
            return Err(ConfigError::TooManyPeers {
                count: peers.len(),
                max: MAX_PEERS - 1,
            });
        }
        let mut keys: HashMap<[u8; 32], &str> = HashMap::with_capacity(peers.len());
        let mut names: HashSet<&str> = HashSet::with_capacity(peers.len());
        let mut addrs: HashMap<IpAddr, &str> = HashMap::with_capacity(peers.len());
        for p in peers {
            if p.public_key == *self.public.as_bytes() {
                return Err(ConfigError::ServerKey {
                    peer: p.name.clone(),
                });
            }
            if let Some(first) = keys.insert(p.public_key, &p.name) {
                return Err(ConfigError::DuplicateKey {
                    first: first.to_owned(),
                    second: p.name.clone(),
                    key: crate::keys::encode(&p.public_key),
                });
            }
            if !names.insert(&p.name) {
                return Err(ConfigError::DuplicateName {
                    name: p.name.clone(),
                });
            }
            for a in &p.addresses {
                if self.host.is_own(*a) {
                    return Err(ConfigError::AddressIsServer {
                        peer: p.name.clone(),
                        address: *a,
                    });
                }
                if let Some(first) = addrs.insert(*a, &p.name) {
                    return Err(ConfigError::DuplicateAddress {
                        first: first.to_owned(),
                        second: p.name.clone(),
                        address: *a,
                    });
                }
            }
        }
        Ok(())
    }

    fn new_tunn(&self, slot: u32, p: &Peer) -> Tunn {
        Tunn::new(
            self.secret.clone(),
            PublicKey::from(p.key),
            p.psk,
            p.keepalive,
            slot,
            Some(self.mac1_only.clone()),
        )
    }

    fn note_handshake(&mut self, now: Instant) {
        if self.limiter_reset_at.is_none() {
            self.limiter_reset_at = Some(now + LIMITER_PERIOD);
        }
    }

    fn dropped<'a>(&mut self, reason: DropReason, peer: Option<PeerId>) -> Action<'a> {
        self.counters.drops.record(reason);
        Action::Dropped { reason, peer }
    }

    /// Handles one datagram received on the WireGuard socket from `src`. `buf` receives
    /// whatever the returned action points into; it should be [`BUFFER_LEN`] bytes (at least
    /// `datagram.len()` and 148).
    ///
    /// Anything not authenticated as a configured, enabled peer gets no answer (the one
    /// exception is WireGuard's cookie reply under handshake load, which is sent before the
    /// sender's key is known, by design: it costs no Diffie-Hellman).
    pub fn handle_datagram<'a>(
        &mut self,
        now: Instant,
        src: SocketAddr,
        datagram: &[u8],
        buf: &'a mut [u8],
    ) -> Action<'a> {
        self.counters.datagrams += 1;
        if buf.len() < datagram.len().max(HANDSHAKE_INIT_LEN) {
            return self.dropped(DropReason::BufferTooSmall, None);
        }
        let mut cookie = [0u8; COOKIE_REPLY_LEN];
        let packet = match self
            .limiter
            .verify_packet(Some(src.ip()), datagram, &mut cookie)
        {
            Ok(p) => p,
            Err(TunnResult::WriteToNetwork(c)) => {
                let n = c.len();
                buf[..n].copy_from_slice(c);
                self.counters.cookie_replies += 1;
                self.note_handshake(now);
                return Action::Transmit(Transmit {
                    dst: src,
                    data: &buf[..n],
                });
            }
            Err(_) => return self.dropped(DropReason::InvalidPacket, None),
        };
        match packet {
            Packet::HandshakeInit(init) => {
                self.note_handshake(now);
                let Ok(half) = parse_handshake_anon(&self.secret, &self.public, &init) else {
                    return self.dropped(DropReason::InvalidPacket, None);
                };
                match self.by_key.get(&half.peer_static_public) {
                    Some(&slot) => self.handle_init(now, src, slot, datagram, buf),
                    None => self.dropped(DropReason::UnknownKey, None),
                }
            }
            Packet::HandshakeResponse(r) => {
                self.note_handshake(now);
                self.handle_session(now, src, r.receiver_idx, datagram, buf)
            }
            Packet::PacketCookieReply(c) => {
                self.handle_session(now, src, c.receiver_idx, datagram, buf)
            }
            Packet::PacketData(d) => self.handle_session(now, src, d.receiver_idx, datagram, buf),
        }
    }

    fn handle_init<'a>(
        &mut self,
        now: Instant,
        src: SocketAddr,
        slot: u32,
        datagram: &[u8],
        buf: &'a mut [u8],
    ) -> Action<'a> {
        let Some(id) = self.id_of(slot) else {
            return self.dropped(DropReason::UnknownKey, None);
        };
        let created = {
            let s = &self.slots[slot as usize];
            let Some(p) = s.peer.as_ref() else {
                return self.dropped(DropReason::UnknownKey, None);
            };
            if !p.enabled {
                return self.dropped(DropReason::DisabledPeer, Some(id));
            }
            if p.session.is_none() {
                Some(self.new_tunn(slot, p))
            } else {
                None
            }
        };
        let fresh = created.is_some();
        let Some(peer) = self.slots[slot as usize].peer.as_mut() else {
            return self.dropped(DropReason::UnknownKey, None);
        };
        if let Some(tunn) = created {
            peer.session = Some(Box::new(Session::new(tunn, src, now)));
        }
        let Some(session) = peer.session.as_mut() else {
            return self.dropped(DropReason::UnknownKey, None);
        };
        let base = buf.as_ptr();
        let out = outcome(
            base,
            session
                .tunn
                .decapsulate(Some(src.ip()), datagram, &mut *buf),
        );
        match out {
            Outcome::Network(r) => {
                session.endpoint = src;
                session.last_rx = now;
                let tick = session.next_tick;
                self.counters.handshakes += 1;
                if fresh {
                    self.counters.sessions_created += 1;
                    self.live_sessions += 1;
                    self.timers.push(Reverse((tick, id.slot, id.generation)));
                }
                if !session.in_flush {
                    session.in_flush = true;
                    self.flush.push_back((id.slot, id.generation));
                }
                Action::Transmit(Transmit {
                    dst: src,
                    data: &buf[r],
                })
            }
            _ => {
                // A replayed or stale initiation, or boringtun's per-peer limit: keep no
                // state for it.
                if fresh {
                    peer.session = None;
                }
                self.dropped(DropReason::HandshakeRejected, Some(id))
            }
        }
    }

    fn handle_session<'a>(
        &mut self,
        now: Instant,
        src: SocketAddr,
        receiver_idx: u32,
        datagram: &[u8],
        buf: &'a mut [u8],
    ) -> Action<'a> {
        let slot = receiver_idx >> 8;
        let Some(id) = self.id_of(slot) else {
            return self.dropped(DropReason::UnknownIndex, None);
        };
        let kind = datagram.first().copied().unwrap_or(0);
        let Self {
            slots,
            host,
            scratch,
            counters,
            flush,
            ..
        } = self;
        let Some(peer) = slots[slot as usize].peer.as_mut() else {
            return self.dropped(DropReason::UnknownIndex, None);
        };
        let Some(session) = peer.session.as_mut() else {
            return self.dropped(DropReason::UnknownIndex, Some(id));
        };
        let base = buf.as_ptr();
        let out = outcome(
            base,
            session
                .tunn
                .decapsulate(Some(src.ip()), datagram, &mut *buf),
        );
        let authenticated = match &out {
            Outcome::Err(WireGuardError::InvalidPacket) => kind == MSG_DATA,
            Outcome::Err(_) => false,
            _ => true,
        };
        if authenticated {
            session.last_rx = now;
            // Roaming (whitepaper §2.1): follow the last authenticated, key-confirmed source.
            // A cookie reply is not key-confirmed and does not move the endpoint.
            if kind == MSG_DATA || kind == MSG_HANDSHAKE_RESPONSE {
                session.endpoint = src;
                peer.endpoint = Some(src);
            }
        }
        let needs_flush = matches!(out, Outcome::Network(_))
            || (authenticated && session.queued && session.has_current_key());
        if needs_flush && !session.in_flush {
            session.in_flush = true;
            flush.push_back((id.slot, id.generation));
        }
        match out {
            Outcome::Network(r) => Action::Transmit(Transmit {
                dst: src,
                data: &buf[r],
            }),
            Outcome::Done => Action::Nothing,
            Outcome::Err(WireGuardError::InvalidPacket) if kind == MSG_DATA => {
                // Decrypted fine, but the plaintext is not an IPv4/IPv6 packet of
                // consistent length.
                counters.drops.record(DropReason::MalformedInner);
                Action::Dropped {
                    reason: DropReason::MalformedInner,
                    peer: Some(id),
                }
            }
            Outcome::Err(_) => {
                let reason = if kind == MSG_HANDSHAKE_RESPONSE {
                    DropReason::HandshakeRejected
                } else {
                    DropReason::DecryptFailed
                };
                counters.drops.record(reason);
                Action::Dropped {
                    reason,
                    peer: Some(id),
                }
            }
            Outcome::Tunnel(r) => {
                let packet = &buf[r.clone()];
                match host.inspect(packet, &peer.addrs) {
                    Verdict::Udp {
                        src: inner_src,
                        dst: inner_dst,
                        payload,
                    } => {
                        counters.delivered += 1;
                        Action::Deliver(Delivery {
                            peer: id,
                            peer_name: peer.name.clone(),
                            src: inner_src,
                            dst: inner_dst,
                            payload: &buf[r.start + payload.start..r.start + payload.end],
                        })
                    }
                    Verdict::EchoRequest => {
                        let Some(n) = host.write_echo_reply(packet, scratch) else {
                            counters.drops.record(DropReason::MalformedInner);
                            return Action::Dropped {
                                reason: DropReason::MalformedInner,
                                peer: Some(id),
                            };
                        };
                        if buf.len() < (n + 32).max(HANDSHAKE_INIT_LEN) {
                            counters.drops.record(DropReason::BufferTooSmall);
                            return Action::Dropped {
                                reason: DropReason::BufferTooSmall,
                                peer: Some(id),
                            };
                        }
                        let out = outcome(base, session.tunn.encapsulate(&scratch[..n], buf));
                        match out {
                            Outcome::Network(r) => {
                                counters.echo_replies += 1;
                                Action::Transmit(Transmit {
                                    dst: session.endpoint,
                                    data: &buf[r],
                                })
                            }
                            _ => Action::Nothing,
                        }
                    }
                    Verdict::Drop(reason) => {
                        counters.drops.record(reason);
                        Action::Dropped {
                            reason,
                            peer: Some(id),
                        }
                    }
                }
            }
        }
    }

    /// Encrypts a UDP datagram from drawbridge's inner address, port `src_port`, to `dst` (an
    /// inner address of `peer`) and writes the WireGuard datagram into `out` (should be
    /// [`BUFFER_LEN`] bytes).
    ///
    /// Returns where to send it; `Ok(None)` when boringtun queued the packet because the
    /// session is not ready yet (it goes out from [`poll_transmit`](Self::poll_transmit) once
    /// the handshake completes). A peer without a session but with a known endpoint gets a
    /// handshake initiation (returned here) and the packet is queued.
    pub fn send_udp<'a>(
        &mut self,
        now: Instant,
        peer: PeerId,
        src_port: u16,
        dst: SocketAddr,
        payload: &[u8],
        out: &'a mut [u8],
    ) -> Result<Option<Transmit<'a>>, SendError> {
        let p = self.peer(peer).ok_or(SendError::UnknownPeer(peer))?;
        if !p.enabled {
            return Err(SendError::PeerDisabled(p.name.clone()));
        }
        if !p.addrs.contains(&dst.ip()) {
            return Err(SendError::NotPeerAddress {
                peer: p.name.clone(),
                address: dst.ip(),
            });
        }
        let (family, have) = match dst.ip() {
            IpAddr::V4(_) => ("IPv4", self.host.v4().is_some()),
            IpAddr::V6(_) => ("IPv6", self.host.v6().is_some()),
        };
        if !have {
            return Err(SendError::NoInnerAddress {
                family,
                address: dst.ip(),
            });
        }
        let Some(n) = self
            .host
            .write_udp(src_port, dst, payload, &mut self.scratch)
        else {
            return Err(SendError::TooLarge { len: payload.len() });
        };
        let needed = (n + 32).max(HANDSHAKE_INIT_LEN);
        if out.len() < needed {
            return Err(SendError::BufferTooSmall {
                len: out.len(),
                needed,
            });
        }
        let p = self.peer(peer).ok_or(SendError::UnknownPeer(peer))?;
        let created = match &p.session {
            Some(_) => None,
            None => {
                let endpoint = p
                    .endpoint
                    .ok_or_else(|| SendError::NoEndpoint(p.name.clone()))?;
                Some((self.new_tunn(peer.slot, p), endpoint))
            }
        };
        if created.is_some() {
            self.counters.sessions_created += 1;
            self.live_sessions += 1;
            self.timers
                .push(Reverse((now + TIMER_TICK, peer.slot, peer.generation)));
        }
        let Self {
            slots,
            scratch,
            counters,
            ..
        } = self;
        let Some(p) = slots[peer.slot as usize].peer.as_mut() else {
            return Err(SendError::UnknownPeer(peer));
        };
        if let Some((tunn, endpoint)) = created {
            p.session = Some(Box::new(Session::new(tunn, endpoint, now)));
        }
        let Some(session) = p.session.as_mut() else {
            return Err(SendError::UnknownPeer(peer));
        };
        if !session.has_current_key() {
            session.queued = true;
        }
        counters.sent += 1;
        let base = out.as_ptr();
        match outcome(base, session.tunn.encapsulate(&scratch[..n], &mut *out)) {
            Outcome::Network(r) => {
                if out.get(r.start) == Some(&MSG_HANDSHAKE_INIT) {
                    counters.handshakes_initiated += 1;
                }
                Ok(Some(Transmit {
                    dst: session.endpoint,
                    data: &out[r],
                }))
            }
            _ => Ok(None),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next, if ever. Only
    /// live sessions (and a pending handshake-limiter reset) are scheduled: idle peers cost
    /// nothing here.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let session = self.timers.peek().map(|Reverse((t, _, _))| *t);
        match (session, self.limiter_reset_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`: expires sessions idle for longer than the idle timeout,
    /// resets the handshake budget every second, and marks sessions whose boringtun timers
    /// (keepalive, rekey, handshake retry) must run. Then call
    /// [`poll_transmit`](Self::poll_transmit) until `None`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.limiter_reset_at.is_some_and(|t| t <= now) {
            // boringtun also checks its own clock and resets at most once per second.
            self.limiter.reset_count();
            self.limiter_reset_at = None;
        }
        while let Some(&Reverse((t, slot, generation))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let idle_timeout = self.idle_timeout;
            let Some(s) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            if s.generation != generation {
                continue;
            }
            let Some(p) = s.peer.as_mut() else { continue };
            let Some(session) = p.session.as_mut() else {
                continue;
            };
            if session.next_tick != t {
                continue; // superseded entry
            }
            if now.saturating_duration_since(session.last_rx) >= idle_timeout {
                p.session = None;
                self.live_sessions -= 1;
                self.counters.sessions_expired += 1;
                continue;
            }
            session.next_tick = now + TIMER_TICK;
            self.timers
                .push(Reverse((session.next_tick, slot, generation)));
            if !session.in_due {
                session.in_due = true;
                self.due.push_back((slot, generation));
            }
        }
    }

    /// The next datagram the server wants to send: packets boringtun queued until a
    /// handshake completed, and keepalives / handshake retries from due timers. Call after
    /// every `handle_*` and `send_udp` until it returns `None`. `buf` must be at least
    /// [`BUFFER_LEN`] bytes, or `None` is returned and nothing is lost (the work waits).
    pub fn poll_transmit<'a>(&mut self, buf: &'a mut [u8]) -> Option<Transmit<'a>> {
        if buf.len() < BUFFER_LEN {
            return None;
        }
        let base = buf.as_ptr();
        let mut found: Option<(SocketAddr, Range<usize>)> = None;
        while let Some(&(slot, generation)) = self.flush.front() {
            let id = PeerId { slot, generation };
            let Some(session) = self.peer_mut(id).and_then(|p| p.session.as_mut()) else {
                self.flush.pop_front();
                self.flush_calls = 0;
                continue;
            };
            let out = outcome(base, session.tunn.decapsulate(None, &[], &mut *buf));
            let endpoint = session.endpoint;
            let current = session.has_current_key();
            self.flush_calls += 1;
            match out {
                Outcome::Network(r) if self.flush_calls <= FLUSH_BUDGET => {
                    found = Some((endpoint, r));
                    break;
                }
                _ => {
                    if let Some(s) = self.peer_mut(id).and_then(|p| p.session.as_mut()) {
                        s.in_flush = false;
                        if current {
                            s.queued = false;
                        }
                    }
                    self.flush.pop_front();
                    self.flush_calls = 0;
                }
            }
        }
        if found.is_none() {
            while let Some((slot, generation)) = self.due.pop_front() {
                let id = PeerId { slot, generation };
                let Some(p) = self.peer_mut(id) else { continue };
                let Some(session) = p.session.as_mut() else {
                    continue;
                };
                session.in_due = false;
                match outcome(base, session.tunn.update_timers(&mut *buf)) {
                    Outcome::Network(r) => {
                        let endpoint = session.endpoint;
                        if buf.get(r.start) == Some(&MSG_HANDSHAKE_INIT) {
                            self.counters.handshakes_initiated += 1;
                        }
                        self.counters.timer_transmits += 1;
                        found = Some((endpoint, r));
                        break;
                    }
                    Outcome::Err(WireGuardError::ConnectionExpired) => {
                        p.session = None;
                        self.live_sessions -= 1;
                        self.counters.sessions_expired += 1;
                    }
                    _ => {}
                }
            }
        }
        let (dst, r) = found?;
        Some(Transmit { dst, data: &buf[r] })
    }
}

//! The relay table: sessions, their port maps, per-packet decisions and timers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::config::{ConfigError, MediaConfig};
use crate::error::MediaError;
use crate::loss::LossTracker;
use crate::packet::{looks_like_rtcp, parse_rtcp, parse_rtp};
use crate::ports::{PortPair, PortPool};
use crate::rate::{RateCosts, TokenBucket};
use crate::types::{
    Decision, Direction, DropCounts, DropReason, InterfaceId, LatchMode, Leg, LegSpec, LegStats,
    LocalPair, LocalPort, MediaEvent, RemoteSpec, SessionId, SessionInfo, SessionStats,
    StreamStats, TableCounters, canonical,
};

/// Port-map entry meaning "no session".
const EMPTY: u32 = u32::MAX;
const RTP: usize = 0;
const RTCP: usize = 1;

/// One bind address: its pool and the port → stream map (index = port − pool base).
#[derive(Debug)]
struct Interface {
    address: IpAddr,
    pool: PortPool,
    /// `(session index << 2) | (leg << 1) | kind`, or [`EMPTY`].
    map: Vec<u32>,
}

impl Interface {
    fn slot(&self, port: u16) -> Option<usize> {
        let off = usize::from(port.checked_sub(self.pool.base())?);
        (off < self.map.len()).then_some(off)
    }

    fn set(&mut self, port: u16, value: u32) {
        if let Some(i) = self.slot(port) {
            self.map[i] = value;
        }
    }
}

/// The per-packet counters of a stream (the rest of [`StreamStats`] is derived on read).
#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    received_packets: u64,
    received_bytes: u64,
    forwarded_packets: u64,
    forwarded_bytes: u64,
    dropped: DropCounts,
}

/// One ingress stream: packets arriving on one local port from one party.
#[derive(Clone, Debug)]
struct Stream {
    /// Address from SDP: the destination for the other leg's packets and, in strict
    /// mode, the only accepted source. Kept through a hold so the filter stays closed.
    signalled: Option<SocketAddr>,
    /// Whether the party currently has an address to send to (false on hold / pending).
    active: bool,
    /// Source locked by [`LatchMode::LatchOnce`].
    latched: Option<SocketAddr>,
    counters: Counters,
    loss: LossTracker,
    bucket: TokenBucket,
}

impl Stream {
    fn new(now: Instant, signalled: Option<SocketAddr>, limit: &RateCosts) -> Self {
        Self {
            signalled,
            active: signalled.is_some(),
            latched: None,
            counters: Counters::default(),
            loss: LossTracker::default(),
            bucket: TokenBucket::new(now, limit),
        }
    }

    fn destination(&self) -> Option<SocketAddr> {
        if self.active {
            self.latched.or(self.signalled)
        } else {
            None
        }
    }

    /// Whether any packet arrived on this stream's port for the session, accepted or not.
    fn saw_packets(&self) -> bool {
        self.counters.received_packets > 0 || self.counters.dropped.total() > 0
    }

    fn drop(&mut self, reason: DropReason) -> Decision {
        self.counters.dropped.add(reason);
        Decision::Drop(reason)
    }

    fn snapshot(&self) -> StreamStats {
        let c = &self.counters;
        StreamStats {
            received_packets: c.received_packets,
            received_bytes: c.received_bytes,
            forwarded_packets: c.forwarded_packets,
            forwarded_bytes: c.forwarded_bytes,
            dropped: c.dropped,
            loss: self.loss.stats(),
            source: self.latched.or(self.signalled),
        }
    }
}

#[derive(Clone, Debug)]
struct LegState {
    local: LocalPair,
    latch: LatchMode,
    direction: Direction,
    /// `[RTP, RTCP]`.
    streams: [Stream; 2],
}

impl LegState {
    fn can_send(&self) -> bool {
        self.streams[RTP].active && self.direction.sends()
    }

    fn can_receive(&self) -> bool {
        self.streams[RTP].active && self.direction.receives()
    }
}

#[derive(Clone, Debug)]
struct Session {
    tag: u64,
    legs: [LegState; 2],
    /// Last valid RTP from an accepted source, or when media became expected.
    last_activity: Instant,
    /// Deadline of this session's live heap entry, if any.
    scheduled: Option<Instant>,
    timed_out: bool,
}

impl Session {
    /// Whether RTP can flow in at least one direction; if not (pending answer, hold with
    /// `inactive` or `c=0.0.0.0`), the hold timeout applies instead of the inactivity one.
    fn media_expected(&self) -> bool {
        let [a, b] = &self.legs;
        (a.can_send() && b.can_receive()) || (b.can_send() && a.can_receive())
    }

    fn deadline(&self, config: &MediaConfig) -> Option<Instant> {
        if self.timed_out {
            return None;
        }
        let limit = if self.media_expected() {
            Some(config.inactivity_timeout)
        } else {
            config.hold_timeout
        };
        limit.map(|d| self.last_activity + d)
    }

    fn stats(&self) -> SessionStats {
        let leg = |l: &LegState| LegStats {
            rtp: l.streams[RTP].snapshot(),
            rtcp: l.streams[RTCP].snapshot(),
        };
        SessionStats {
            tag: self.tag,
            legs: [leg(&self.legs[0]), leg(&self.legs[1])],
        }
    }
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    session: Option<Session>,
}

/// The media relay table of one shard: sessions, their ports, and the per-packet rules.
///
/// Call order, as in quinn-proto: feed packets with [`handle_packet`](Self::handle_packet)
/// and act on each [`Decision`] at once; after any call, re-read
/// [`poll_timeout`](Self::poll_timeout) and call [`handle_timeout`](Self::handle_timeout)
/// when it passes; then drain [`poll_event`](Self::poll_event).
#[derive(Debug)]
pub struct MediaTable {
    config: MediaConfig,
    /// Rate limit in bucket units (a limit that never triggers when the guard is off).
    limit: RateCosts,
    interfaces: Vec<Interface>,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    /// Min-heap of (deadline, slot, generation); entries are re-armed lazily.
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    events: VecDeque<MediaEvent>,
    counters: TableCounters,
}

impl MediaTable {
    /// A table with one port pool per configured interface.
    pub fn new(config: MediaConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut interfaces = Vec::with_capacity(config.interfaces.len());
        for &address in &config.interfaces {
            let pool = PortPool::new(config.port_min, config.port_max, config.quarantine)?;
            let map = vec![EMPTY; pool.capacity() * 2];
            interfaces.push(Interface { address, pool, map });
        }
        let limit = config
            .rate_limit
            .unwrap_or(crate::RateLimit {
                packets_per_second: u32::MAX,
                burst: u32::MAX,
            })
            .costs();
        Ok(Self {
            config,
            limit,
            interfaces,
            slots: Vec::new(),
            free_slots: Vec::new(),
            timers: BinaryHeap::new(),
            events: VecDeque::new(),
            counters: TableCounters::default(),
        })
    }

    /// The configuration the table was built with.
    #[must_use]
    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// Allocates a port pair for each leg on its interface and installs the relay rules.
    ///
    /// `tag` is the caller's handle for the call, returned in events and stats. Fails
    /// without side effects when an interface is unknown, a signalled address has the
    /// wrong family, or ports are exhausted.
    pub fn create_session(
        &mut self,
        now: Instant,
        tag: u64,
        a: LegSpec,
        b: LegSpec,
    ) -> Result<SessionInfo, MediaError> {
        for spec in [&a, &b] {
            let iface = self.interface(spec.interface)?;
            check_family(iface.address, &spec.remote)?;
        }
        let pair_a = self.allocate(now, a.interface)?;
        let pair_b = match self.allocate(now, b.interface) {
            Ok(p) => p,
            Err(e) => {
                let _ = self.iface_mut(a.interface).pool.release_unused(pair_a);
                return Err(e);
            }
        };
        let index = match self.free_slots.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    session: None,
                });
                // Bounded by the port pools: every session holds two pairs.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX >> 2)
            }
        };
        let local_a = self.local_pair(a.interface, pair_a);
        let local_b = self.local_pair(b.interface, pair_b);
        let leg = |local: LocalPair, remote: &RemoteSpec| LegState {
            local,
            latch: remote.latch,
            direction: remote.direction,
            streams: [
                Stream::new(now, remote.rtp.map(canonical), &self.limit),
                Stream::new(now, remote.rtcp.map(canonical), &self.limit),
            ],
        };
        let session = Session {
            tag,
            legs: [leg(local_a, &a.remote), leg(local_b, &b.remote)],
            last_activity: now,
            scheduled: None,
            timed_out: false,
        };
        for (l, local) in [local_a, local_b].into_iter().enumerate() {
            let iface = self.iface_mut(local.interface);
            let base = (index << 2) | ((l as u32) << 1);
            iface.set(local.rtp_port, base | RTP as u32);
            iface.set(local.rtcp_port, base | RTCP as u32);
        }
        let slot = &mut self.slots[index as usize];
        slot.session = Some(session);
        let id = SessionId {
            index,
            generation: slot.generation,
        };
        self.counters.sessions += 1;
        self.schedule(id);
        Ok(SessionInfo {
            id,
            local: [local_a, local_b],
        })
    }

    /// Applies a new SDP from one party (answer, re-INVITE, hold, resume).
    ///
    /// A changed address or latch mode drops that stream's latch so it re-latches; the
    /// same address keeps it. An address of `None` (hold, `c=0.0.0.0`) stops sending to
    /// the party but keeps the source filter closed on the previous address.
    pub fn update_remote(
        &mut self,
        now: Instant,
        id: SessionId,
        leg: Leg,
        remote: RemoteSpec,
    ) -> Result<(), MediaError> {
        let interface_addr = {
            let s = self.session(id).ok_or(MediaError::UnknownSession)?;
            self.interface(s.legs[leg.index()].local.interface)?.address
        };
        check_family(interface_addr, &remote)?;
        let session = self.session_mut(id).ok_or(MediaError::UnknownSession)?;
        let was_expected = session.media_expected();
        let l = &mut session.legs[leg.index()];
        let mode_changed = l.latch != remote.latch;
        l.latch = remote.latch;
        l.direction = remote.direction;
        for (stream, addr) in l.streams.iter_mut().zip([remote.rtp, remote.rtcp]) {
            match addr.map(canonical) {
                Some(a) => {
                    if stream.signalled != Some(a) {
                        stream.signalled = Some(a);
                        stream.latched = None;
                    }
                    stream.active = true;
                }
                None => stream.active = false,
            }
            if mode_changed {
                stream.latched = None;
            }
        }
        if !was_expected && session.media_expected() {
            // Media starts being expected now (answer, resume): the clock starts here.
            session.last_activity = session.last_activity.max(now);
        }
        self.schedule(id);
        Ok(())
    }

    /// Removes a session: its ports stop relaying at once and return to the pool after
    /// the quarantine, or at once for a leg on which no packet ever arrived (a call that
    /// ended before its media started, or that never had any): the quarantine keeps late
    /// packets of a stream away from the port's next call, and a leg that saw none has no
    /// stream to have late packets of. Returns the final counters.
    pub fn remove_session(
        &mut self,
        now: Instant,
        id: SessionId,
    ) -> Result<SessionStats, MediaError> {
        self.session(id).ok_or(MediaError::UnknownSession)?;
        let slot = &mut self.slots[id.index as usize];
        let Some(session) = slot.session.take() else {
            return Err(MediaError::UnknownSession);
        };
        slot.generation = slot.generation.wrapping_add(1);
        self.free_slots.push(id.index);
        self.counters.sessions -= 1;
        for leg in &session.legs {
            let local = leg.local;
            let iface = self.iface_mut(local.interface);
            iface.set(local.rtp_port, EMPTY);
            iface.set(local.rtcp_port, EMPTY);
            let pair = PortPair {
                rtp: local.rtp_port,
            };
            // Cannot fail: the pair was allocated for this session and freed only here.
            let _ = if leg.streams.iter().any(Stream::saw_packets) {
                iface.pool.release(now, pair)
            } else {
                iface.pool.release_unused(pair)
            };
        }
        // Drop stale timer entries once they dominate, so churn cannot grow the heap.
        if self.timers.len() > 64 + 4 * self.counters.sessions {
            let slots = &self.slots;
            self.timers.retain(|Reverse((at, i, g))| {
                slots.get(*i as usize).is_some_and(|s| {
                    s.generation == *g
                        && s.session.as_ref().is_some_and(|x| x.scheduled == Some(*at))
                })
            });
        }
        Ok(session.stats())
    }

    /// Decides what to do with one datagram that arrived on `local` from `src`.
    ///
    /// O(1) and allocation-free: an indexed port lookup, the source check, the rate guard,
    /// header validation, counter updates. The packet itself is forwarded unchanged.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        local: LocalPort,
        src: SocketAddr,
        packet: &[u8],
    ) -> Decision {
        let Some(entry) = self.lookup(local) else {
            self.counters.unknown_port = self.counters.unknown_port.wrapping_add(1);
            return Decision::Drop(DropReason::UnknownPort);
        };
        let index = (entry >> 2) as usize;
        let leg = ((entry >> 1) & 1) as usize;
        let kind = (entry & 1) as usize;
        let limit = self.limit;
        let rate_guard = self.config.rate_limit.is_some();
        let Some(session) = self.slots.get_mut(index).and_then(|s| s.session.as_mut()) else {
            self.counters.unknown_port = self.counters.unknown_port.wrapping_add(1);
            return Decision::Drop(DropReason::UnknownPort);
        };
        let src = canonical(src);
        let [a, b] = &mut session.legs;
        let (this, other) = if leg == 0 { (a, b) } else { (b, a) };
        let latch = this.latch;
        let stream = &mut this.streams[kind];

        // 1. Source: strict latching, no injection.
        let take_latch = match latch {
            LatchMode::Strict => {
                if stream.signalled != Some(src) {
                    return stream.drop(DropReason::WrongSource);
                }
                false
            }
            LatchMode::LatchOnce { allowed } => match stream.latched {
                Some(l) if l == src => false,
                Some(_) => return stream.drop(DropReason::WrongSource),
                None => {
                    if stream.signalled != Some(src) && !allowed.contains(&src.ip()) {
                        return stream.drop(DropReason::WrongSource);
                    }
                    true
                }
            },
        };
        // 2. Rate guard, after the source check so strangers cannot drain the bucket.
        if rate_guard && !stream.bucket.allow(now, &limit) {
            return stream.drop(DropReason::RateLimited);
        }
        // 3. Validate; only a valid packet may take the latch.
        let is_rtp = if kind == RTP && !looks_like_rtcp(packet) {
            match parse_rtp(packet) {
                Ok(h) => {
                    stream.loss.record(h.ssrc, h.sequence);
                    true
                }
                Err(_) => return stream.drop(DropReason::Malformed),
            }
        } else {
            // RTCP port, or RTCP multiplexed on the RTP port (RFC 5761).
            if parse_rtcp(packet).is_err() {
                return stream.drop(DropReason::Malformed);
            }
            false
        };
        if take_latch {
            stream.latched = Some(src);
        }
        let bytes = packet.len() as u64;
        stream.counters.received_packets = stream.counters.received_packets.wrapping_add(1);
        stream.counters.received_bytes = stream.counters.received_bytes.wrapping_add(bytes);

        // 4. Destination: the same kind of port on the other leg.
        let out = &other.streams[kind];
        let via = LocalPort {
            interface: other.local.interface,
            port: if kind == RTP {
                other.local.rtp_port
            } else {
                other.local.rtcp_port
            },
        };
        let not_receiving = is_rtp && !other.direction.receives();
        let dst = out.destination();
        if is_rtp {
            session.last_activity = session.last_activity.max(now);
        }
        let stream = &mut session.legs[leg].streams[kind];
        let Some(dst) = dst else {
            return stream.drop(DropReason::NoDestination);
        };
        if not_receiving {
            return stream.drop(DropReason::NotReceiving);
        }
        stream.counters.forwarded_packets = stream.counters.forwarded_packets.wrapping_add(1);
        stream.counters.forwarded_bytes = stream.counters.forwarded_bytes.wrapping_add(bytes);
        Decision::Forward { via, dst }
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work
    /// (possibly early: entries re-arm lazily), or `None` with no session.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Processes due timers: a session silent for its timeout is reported once as
    /// [`MediaEvent::TimedOut`]; one that saw traffic is re-armed from its last packet.
    /// Work is proportional to the due entries, not to the number of sessions.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(index as usize) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            let Some(session) = slot.session.as_mut() else {
                continue;
            };
            if session.scheduled != Some(at) {
                continue; // superseded by an earlier entry
            }
            session.scheduled = None;
            match session.deadline(&self.config) {
                None => {}
                Some(d) if d > now => {
                    // Traffic since arming: lazy re-arm from the last packet.
                    session.scheduled = Some(d);
                    self.timers.push(Reverse((d, index, generation)));
                }
                Some(_) => {
                    session.timed_out = true;
                    self.counters.timeouts += 1;
                    self.events.push_back(MediaEvent::TimedOut {
                        id: SessionId { index, generation },
                        tag: session.tag,
                        idle: now.saturating_duration_since(session.last_activity),
                    });
                }
            }
        }
    }

    /// Next event for the B2BUA.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Current counters of a live session.
    #[must_use]
    pub fn stats(&self, id: SessionId) -> Option<SessionStats> {
        self.session(id).map(Session::stats)
    }

    /// Table-wide counters.
    #[must_use]
    pub fn counters(&self) -> TableCounters {
        self.counters
    }

    /// The port pool of an interface (capacity, pairs in use), e.g. for metrics.
    #[must_use]
    pub fn port_pool(&self, interface: InterfaceId) -> Option<&PortPool> {
        self.interfaces
            .get(usize::from(interface.0))
            .map(|i| &i.pool)
    }

    /// Approximate heap bytes held by the table (pools, port maps, sessions, timers).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let ifaces: usize = self
            .interfaces
            .iter()
            .map(|i| i.pool.heap_bytes() + i.map.capacity() * size_of::<u32>())
            .sum();
        ifaces
            + self.slots.capacity() * size_of::<Slot>()
            + self.free_slots.capacity() * size_of::<u32>()
            + self.timers.capacity() * size_of::<Reverse<(Instant, u32, u32)>>()
            + self.events.capacity() * size_of::<MediaEvent>()
    }

    fn lookup(&self, local: LocalPort) -> Option<u32> {
        let iface = self.interfaces.get(usize::from(local.interface.0))?;
        let entry = *iface.map.get(iface.slot(local.port)?)?;
        (entry != EMPTY).then_some(entry)
    }

    fn schedule(&mut self, id: SessionId) {
        let config = &self.config;
        let Some(session) = self
            .slots
            .get_mut(id.index as usize)
            .and_then(|s| s.session.as_mut())
        else {
            return;
        };
        match (session.deadline(config), session.scheduled) {
            // The live entry fires no later than needed; it re-arms itself lazily.
            (Some(d), Some(s)) if s <= d => {}
            (Some(d), _) => {
                session.scheduled = Some(d);
                self.timers.push(Reverse((d, id.index, id.generation)));
            }
            (None, _) => session.scheduled = None,
        }
    }

    fn session(&self, id: SessionId) -> Option<&Session> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.session.as_ref()
    }

    fn session_mut(&mut self, id: SessionId) -> Option<&mut Session> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.session.as_mut()
    }

    fn interface(&self, id: InterfaceId) -> Result<&Interface, MediaError> {
        self.interfaces
            .get(usize::from(id.0))
            .ok_or(MediaError::UnknownInterface { interface: id })
    }

    /// Only called with ids already checked by [`Self::interface`].
    fn iface_mut(&mut self, id: InterfaceId) -> &mut Interface {
        let i = usize::from(id.0).min(self.interfaces.len().saturating_sub(1));
        &mut self.interfaces[i]
    }

    fn allocate(&mut self, now: Instant, id: InterfaceId) -> Result<PortPair, MediaError> {
        let iface = self.iface_mut(id);
        iface
            .pool
            .allocate(now)
            .map_err(|source| MediaError::Ports {
                interface: iface.address,
                source,
            })
    }

    fn local_pair(&self, id: InterfaceId, pair: PortPair) -> LocalPair {
        let address = self
            .interfaces
            .get(usize::from(id.0))
            .map_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), |i| i.address);
        LocalPair {
            interface: id,
            address,
            rtp_port: pair.rtp,
            rtcp_port: pair.rtcp(),
        }
    }
}

/// A signalled address must be reachable from the interface's socket: an IPv4 socket
/// cannot send to IPv6, and an IPv6 socket bound to a specific address cannot send to
/// IPv4 (an unspecified `::` socket can, through mapped addresses).
fn check_family(interface: IpAddr, remote: &RemoteSpec) -> Result<(), MediaError> {
    for addr in [remote.rtp, remote.rtcp].into_iter().flatten() {
        let ok = match (interface, canonical(addr).ip()) {
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
            (IpAddr::V6(v6), IpAddr::V4(_)) => v6.is_unspecified(),
            _ => true,
        };
        if !ok {
            return Err(MediaError::AddressFamily {
                interface,
                remote: addr,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_counts_are_indexed_by_reason() {
        let mut d = DropCounts::default();
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                d.add(r);
            }
        }
        for (i, r) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(d.get(r), i as u64 + 1, "{}", r.as_str());
        }
    }
}

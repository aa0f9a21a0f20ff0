//! RTP/RTCP anchoring for drawbridge, as a sans-IO core.
//!
//! For each call the B2BUA creates a session with two legs (say trunk and PBX). The table
//! allocates an even RTP port and the RTCP port above it for each leg on that leg's
//! interface (public, LAN, tunnel-inner address), and from then on tells the transport,
//! packet by packet, what to do: a packet arriving on leg A's local port from A's party
//! goes out, unchanged, from leg B's local port to B's party, and vice versa.
//!
//! # What it does
//!
//! - [`PortPool`]: O(1) allocation and release of port pairs, a reuse quarantine so late
//!   packets of an ended call never reach the next one, a clear exhaustion error.
//! - [`MediaTable`]: sessions, strict source latching ([`LatchMode`]), hold/resume and
//!   re-INVITE handling ([`MediaTable::update_remote`]), minimal defensive RTP/RTCP
//!   validation ([`packet`]), per-direction counters and RFC 3550 A.1 loss estimates,
//!   a per-stream packet-rate guard that drops excess but never abandons a stream, and
//!   inactivity timeouts reported as [`MediaEvent::TimedOut`].
//!
//! # What it does not do
//!
//! It owns no socket, spawns nothing, never reads the clock (every call takes `now`), and
//! never copies or rewrites a packet: [`Decision::Forward`] names the socket and the
//! destination, the caller sends the bytes it already has. It does not parse SDP (the
//! `sip` crate does; [`RemoteSpec::from_sdp`] takes the parsed fields), does not do SRTP,
//! ICE/STUN or transcoding, and does not end calls: it reports timeouts, the B2BUA acts.
//! RTCP multiplexed on the RTP port (RFC 5761) is recognised and forwarded on the RTP
//! path, so the B2BUA must offer `a=rtcp-mux` on both legs or on neither.
//!
//! # Call order
//!
//! Signalling side: [`MediaTable::create_session`] on the offer (or when both SDPs are
//! known), [`MediaTable::update_remote`] on each answer or re-INVITE,
//! [`MediaTable::remove_session`] when the call ends. Packet side:
//! [`MediaTable::handle_packet`] per datagram. Timers: after any call, re-read
//! [`MediaTable::poll_timeout`]; when it passes call [`MediaTable::handle_timeout`], then
//! drain [`MediaTable::poll_event`].
//!
//! # Sharing between the packet tasks and the signalling task
//!
//! The core is a plain `&mut self` state machine: per-packet work is an indexed lookup
//! (`Vec` by `port − port_min`), a comparison, a token bucket, a header check and a few
//! counter increments — O(1), no allocation, well under a microsecond. Making the
//! decision `&self` with per-stream atomics was rejected: latching, the A.1 loss state
//! and the rate bucket are multi-word updates that would need either locks per stream or
//! `unsafe`, for no gain over what follows.
//!
//! Contention is removed by **sharding on the port range** instead:
//! [`MediaConfig::split`] cuts `[port_min, port_max]` into N contiguous sub-ranges and
//! returns one config per shard plus a [`ShardMap`]. The transport builds one
//! `MediaTable` per shard, each behind its own short-held lock (e.g.
//! `Vec<std::sync::Mutex<MediaTable>>`, or `parking_lot`):
//!
//! - a packet task finds the shard of the destination port in O(1)
//!   ([`ShardMap::shard`]), locks it for one decision (or for a run of consecutive
//!   packets of one recvmmsg batch that hit the same shard), sends, and moves on;
//! - the signalling task (the only writer of sessions) picks a shard per call (round
//!   robin, or the one with the most free pairs), locks it for one O(1)
//!   `create_session`/`update_remote`/`remove_session`, and polls each shard's timer;
//! - both legs of a session live in one shard (each shard owns a sub-range on every
//!   interface), so a decision never needs two locks.
//!
//! With N ≈ 4 × packet tasks, two tasks rarely want the same shard, and a writer never
//! holds a lock for longer than one table operation. Lock hold time is the per-packet cost
//! measured by `benches/media.rs`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod config;
mod error;
pub mod fuzz_support;
mod loss;
pub mod packet;
mod ports;
mod rate;
mod table;
mod types;

pub use config::{ConfigError, MediaConfig, ShardMap};
pub use error::MediaError;
pub use loss::{LossStats, LossTracker};
pub use packet::{PacketError, RtcpHeader, RtpHeader};
pub use ports::{PoolError, PortPair, PortPool};
pub use rate::RateLimit;
pub use table::MediaTable;
pub use types::{
    Decision, Direction, DropCounts, DropReason, InterfaceId, LatchMode, Leg, LegSpec, LegStats,
    LocalPair, LocalPort, MediaEvent, RemoteSpec, SessionId, SessionInfo, SessionStats,
    StreamStats, TableCounters, canonical,
};

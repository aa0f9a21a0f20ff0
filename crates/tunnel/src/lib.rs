//! drawbridge's WireGuard side: keys, the multi-peer server and the virtual inner host.
//!
//! [`Server`] terminates WireGuard (the noise protocol is boringtun's) for many peers on one
//! UDP socket: it routes each datagram to its peer, keeps sessions only for active peers,
//! drives boringtun's timers, and hands decrypted inner packets to the [`VirtualHost`], which
//! lets a peer reach drawbridge's own services (UDP ports it opens, ICMP echo) and nothing
//! else.
//!
//! What this crate does **not** do: no networking code (no sockets, no tokio, no threads —
//! it takes datagrams, addresses and the current time, and returns what to send and when to
//! wake up); no TUN device and no routing (nothing a peer sends is forwarded anywhere); no
//! TCP inside the tunnel (yet); no reading of peer files (the binary converts its file into
//! [`PeerSpec`]s). boringtun reads its own clock for its internal timers; everything in this
//! crate uses the `now` it is given.
#![warn(missing_docs)]

mod config;
mod counters;
// Public only for the fuzz targets and the corpus replay test; not part of the API.
#[doc(hidden)]
pub mod fuzzing;
pub mod host;
pub mod keys;
mod ports;
mod server;

pub use config::{
    ConfigError, DEFAULT_HANDSHAKES_PER_SECOND, DEFAULT_IDLE_TIMEOUT, PeerSpec, ServerConfig,
};
pub use counters::{ALL_REASONS, Counters, DropReason, Drops};
pub use host::{Verdict, VirtualHost};
pub use ports::UdpPorts;
pub use server::{
    Action, BUFFER_LEN, Delivery, PeerChange, PeerId, PeerStatus, SendError, Server, Transmit,
};

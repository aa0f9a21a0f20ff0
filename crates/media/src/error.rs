//! Errors of the signalling-side operations on a [`MediaTable`](crate::MediaTable).

use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::ports::PoolError;
use crate::types::InterfaceId;

/// Why a session could not be created or changed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum MediaError {
    /// No port pair could be allocated on an interface (see [`PoolError::Exhausted`]);
    /// the B2BUA should reject the call (e.g. 503) rather than send SDP without media.
    #[error("media interface {interface}: {source}")]
    Ports {
        /// Bind address of the interface.
        interface: IpAddr,
        /// What the pool said.
        source: PoolError,
    },
    /// The interface index is not in the configuration.
    #[error("media interface #{} is not configured", interface.0)]
    UnknownInterface {
        /// The index given.
        interface: InterfaceId,
    },
    /// The session handle is stale (removed) or was never issued by this table.
    #[error("media session not found (already removed?)")]
    UnknownSession,
    /// A signalled address cannot be reached from the leg's interface.
    #[error(
        "remote media address {remote} is not reachable from interface {interface} \
         (address family mismatch)"
    )]
    AddressFamily {
        /// Bind address of the interface.
        interface: IpAddr,
        /// The signalled address.
        remote: SocketAddr,
    },
}

//! drawbridge's WireGuard side: keys, the multi-peer server and the virtual inner host.
//!
//! This crate contains no networking code: it takes datagrams, source addresses and the
//! current time, and returns what to send. Sockets and timers live in the transport
//! layer and the binary.
#![warn(missing_docs)]

pub mod keys;

//! drawbridge's socket layer.
//!
//! Every listener knows which sources it accepts; everything else is dropped before any
//! parsing or crypto. Where the platform allows it, the kernel does the dropping (a
//! classic BPF socket filter), so a scanner outside the allowlist does not even get a TCP
//! SYN-ACK or a reset: the port looks exactly like a filtered one.
//!
//! [`rtp`] relays media, [`sip`] runs the SIP listeners and trunk connections, [`wireguard`] the WireGuard
//! sockets, [`source_filter`] builds the kernel allowlists both use. This crate moves
//! bytes and enforces limits; it does not interpret SIP beyond framing, nor decide what
//! to answer: that is the signalling task's job (the `b2bua` and `guard` cores).
#![warn(missing_docs)]

mod media_socket;
pub mod rtp;
pub mod sip;
pub mod source_filter;
pub mod wireguard;

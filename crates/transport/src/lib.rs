//! drawbridge's socket layer.
//!
//! Every listener knows which sources it accepts; everything else is dropped before any
//! parsing or crypto. Where the platform allows it, the kernel does the dropping (a
//! classic BPF socket filter), so a scanner outside the allowlist does not even get a TCP
//! SYN-ACK or a reset: the port looks exactly like a filtered one.
#![warn(missing_docs)]

pub mod sip;
pub mod source_filter;
pub mod wireguard;

//! Counters of the SIP transports, shared by every task and read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// Live counters (atomics; relaxed ordering: they are statistics, not
        /// synchronisation). Everything is a monotonic counter except `connections_open`.
        #[derive(Debug, Default)]
        pub struct SipCounters {
            $( $(#[$doc])* pub $name: AtomicU64, )*
        }

        /// A copy of [`SipCounters`] at one moment, for rendering metrics.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct SipCountersSnapshot {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl SipCounters {
            /// Reads every counter.
            pub fn snapshot(&self) -> SipCountersSnapshot {
                SipCountersSnapshot { $( $name: self.$name.load(Ordering::Relaxed), )* }
            }
        }

        impl SipCountersSnapshot {
            /// `(name, value)` pairs in declaration order, for a metrics exporter.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($name), self.$name), )* ]
            }
        }
    };
}

counters! {
    /// Inbound TCP/TLS connections admitted (past the allowlist and the limits).
    accepted,
    /// Connections and datagrams dropped because their source is not allowlisted
    /// (userspace check; what the kernel filter drops never reaches us).
    dropped_not_allowlisted,
    /// Connections refused by the per-listener or per-source limit.
    dropped_connection_limit,
    /// TLS handshakes completed (inbound).
    tls_handshakes,
    /// TLS handshakes that failed or timed out (inbound), client certificate refusals
    /// included.
    tls_handshake_failures,
    /// Streams closed because the framer refused their bytes.
    framing_errors,
    /// Inbound messages dropped because the signalling channel was full (or closed).
    channel_full,
    /// New requests (outside any dialog) dropped because the signalling channel was more
    /// than half full (overload control; see `InboundSink::shed_when_busy`).
    shed_overload,
    /// UDP datagrams dropped for exceeding the maximum message size.
    udp_oversize,
    /// UDP datagrams from new sources dropped because the UDP flow table was full.
    udp_flows_full,
    /// Connections closed for being idle too long.
    idle_timeouts,
    /// Connections closed because the peer stopped answering: TCP keep-alive probes or
    /// sent data went unacknowledged (`TCP_USER_TIMEOUT`), or it became unreachable.
    dead_peers,
    /// Connections open now (inbound and outbound): a gauge.
    connections_open,
    /// Messages handed to the signalling channel.
    messages_in,
    /// Messages written to a connection or sent as a datagram.
    messages_out,
    /// Messages that could not be sent (closed flow, full queue, socket error, write
    /// timeout).
    send_failures,
    /// CRLF keep-alive pings answered.
    keepalives,
    /// Outbound connections opened to trunks.
    outbound_connects,
    /// Outbound connection attempts that failed (resolve, connect, TLS).
    outbound_connect_failures,
    /// Successful certificate reloads.
    certificate_reloads,
}

impl SipCounters {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

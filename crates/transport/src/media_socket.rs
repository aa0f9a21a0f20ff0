//! One RTP relay media socket and the batched syscalls on it, through quinn-udp:
//! `recvmmsg` (with GRO where the kernel coalesces a flow) to receive up to [`BATCH`]
//! datagrams per syscall, and `sendmsg` with UDP GSO to send a run of equal-sized packets
//! to one destination in one syscall.
//!
//! Readiness is tokio's (`readable()` + `try_io`), cleared only when the kernel says
//! `EAGAIN`. Clearing it after a short batch instead (an `AsyncFd` can) would save that
//! last syscall per wake-up, but then a stream only moves again if every later datagram
//! raises a fresh epoll edge, which recent kernels' elision of UDP wake-ups makes hard to
//! promise; a lost wake-up is a stuck stream, too high a price for one syscall. (Tried: no
//! difference measurable on the shared bench box.)

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams received per syscall at most (quinn-udp's own limit is 32 on Linux).
pub(crate) const BATCH: usize = if quinn_udp::BATCH_SIZE < 32 {
    quinn_udp::BATCH_SIZE
} else {
    32
};

/// Bytes per receive slot. GRO may coalesce up to 64 KiB of one flow into one slot, so a
/// slot must hold that much: a smaller one would truncate the coalesced datagrams.
pub(crate) const SLOT: usize = 64 * 1024;

/// Largest UDP payload one GSO send may carry (IPv4 limit, minus headroom).
pub(crate) const GSO_MAX_BYTES: usize = 60_000;

/// Keeps the kernel's UDP GRO switch on for the process's life.
///
/// quinn-udp turns UDP_GRO on for every socket it sets up. The first GRO socket of a family
/// flips a kernel static key (`udp_encap_needed_key`, `udpv6_encap_needed_key`) and closing
/// the last one flips it back; each flip rewrites kernel code and interrupts every CPU.
/// With sockets opened and closed per call, that was a quarter of drawbridge's CPU at
/// 2,000 calls/s in the CPS bench. One idle GRO socket per family held here keeps the
/// count above zero, so per-call sockets only move a counter. They are bound to loopback
/// with an ephemeral port and never read: nothing outside the host can reach them.
pub(crate) struct GroSwitch {
    _held: Vec<std::net::UdpSocket>,
}

impl GroSwitch {
    /// Opens the holder sockets; a family the host lacks (no IPv6) is skipped.
    pub(crate) fn hold() -> Self {
        let held = ["127.0.0.1:0", "[::1]:0"]
            .into_iter()
            .filter_map(|a| {
                let s = std::net::UdpSocket::bind(a).ok()?;
                UdpSocketState::new((&s).into()).ok()?;
                Some(s)
            })
            .collect();
        Self { _held: held }
    }
}

/// A bound, non-blocking media socket registered with tokio.
pub(crate) struct MediaSocket {
    io: UdpSocket,
    state: UdpSocketState,
    /// Whether the socket is IPv6 (dual-stack): IPv4 destinations must then be mapped.
    v6: bool,
    /// The relay's count of media descriptors still open, decremented when this socket
    /// closes (which may be after the relay let go of it: see `Sockets::close`).
    open: Arc<AtomicUsize>,
}

impl Drop for MediaSocket {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl MediaSocket {
    /// Binds `addr` and registers the socket with tokio; `open` counts it until it closes.
    pub(crate) fn bind(addr: SocketAddr, open: &Arc<AtomicUsize>) -> io::Result<Self> {
        let sock = std::net::UdpSocket::bind(addr)?;
        // quinn-udp makes the socket non-blocking itself.
        let state = UdpSocketState::new((&sock).into())?;
        // The receive buffer stays the kernel's default: a smaller one (32 KiB asked, 64 KiB
        // granted, instead of 208 KiB) was measured to drop 10 % under overload (4,000
        // streams, relay held to a third of a CPU) without bringing the p99 latency under
        // 2 s: the relay's round over thousands of sockets, not one queue's depth, sets
        // the delay then.
        // The address is bound as given (a media port is never 0), so no getsockname.
        let v6 = addr.is_ipv6();
        let io = UdpSocket::from_std(sock)?;
        open.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            io,
            state,
            v6,
            open: Arc::clone(open),
        })
    }

    /// Waits until the socket may be readable.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Receives up to `bufs.len()` datagrams in one syscall; `Ok(0)` means the queue was
    /// empty (and tokio's readiness is cleared until the next event).
    pub(crate) fn recv(
        &self,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        match self.io.try_io(Interest::READABLE, || {
            self.state.recv((&self.io).into(), bufs, meta)
        }) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// How many equal-sized datagrams one [`MediaSocket::send`] may carry (1 without GSO).
    pub(crate) fn max_segments(&self) -> usize {
        self.state.max_gso_segments().clamp(1, 64)
    }

    /// Sends `contents` to `dst`: one datagram, or with `segment` set, datagrams of that
    /// many bytes each (the last may be shorter) in one GSO syscall. Never waits: a full
    /// send buffer is an error the caller counts as a drop.
    pub(crate) fn send(
        &self,
        dst: SocketAddr,
        contents: &[u8],
        segment: Option<usize>,
    ) -> io::Result<()> {
        let destination = match (self.v6, dst) {
            (true, SocketAddr::V4(v4)) => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            (_, d) => d,
        };
        let transmit = Transmit {
            destination,
            ecn: None,
            contents,
            segment_size: segment,
            src_ip: None,
        };
        self.state.try_send((&self.io).into(), &transmit)
    }
}

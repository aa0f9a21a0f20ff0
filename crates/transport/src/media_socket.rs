//! One RTP relay media socket and the batched syscalls on it, through quinn-udp:
//! `recvmmsg` (with GRO where the kernel coalesces a flow) to receive up to [`BATCH`]
//! datagrams per syscall, and `sendmsg` with UDP GSO to send a run of equal-sized packets
//! to one destination in one syscall.
//!
//! The socket is registered with tokio through [`AsyncFd`] rather than `tokio::net::UdpSocket`
//! so that the relay can clear the read readiness itself after a short batch: a batch of
//! fewer than [`BATCH`] datagrams means the kernel queue was empty, and asking the kernel
//! again only to hear `EAGAIN` would cost a syscall per wake-up (a third of all syscalls at
//! 50 packets/s per socket, where nearly every wake-up carries one packet).

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};

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
const GSO_MAX_BYTES: usize = 60_000;

/// Socket receive buffer per media socket, in bytes (the kernel doubles it for its own
/// bookkeeping). Small on purpose: one RTP stream brings ~50 packets/s, and a deep queue
/// only means older audio delivered later when the relay falls behind; 64 KiB holds ~80
/// packets of 172 bytes (each costs ~768 bytes of buffer in the kernel), over a second of
/// one stream's audio.
pub(crate) const RECV_BUFFER: usize = 64 * 1024;

/// A bound, non-blocking media socket registered with tokio for read readiness.
pub(crate) struct MediaSocket {
    io: AsyncFd<std::net::UdpSocket>,
    state: UdpSocketState,
    /// Whether the socket is IPv6 (dual-stack): IPv4 destinations must then be mapped.
    v6: bool,
}

impl MediaSocket {
    /// Binds `addr`, sets the receive buffer and registers the socket with tokio.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let sock = std::net::UdpSocket::bind(addr)?;
        sock.set_nonblocking(true)?;
        let state = UdpSocketState::new((&sock).into())?;
        // Best effort: the kernel clamps to its limits, and a refusal leaves the default.
        let rcvbuf = recv_buffer();
        if rcvbuf > 0 {
            let _ = state.set_recv_buffer_size((&sock).into(), rcvbuf);
        }
        let v6 = sock.local_addr()?.is_ipv6();
        // `with_interest` is deprecated for generic `T: AsRawFd`, whose fd could change under
        // tokio; a `std::net::UdpSocket` owns its fd for its whole life, which is exactly
        // the condition its `unsafe` replacement asks for (and this workspace forbids
        // `unsafe`). `tokio::net::UdpSocket` cannot clear readiness after a short batch.
        #[allow(deprecated)]
        let io = AsyncFd::with_interest(sock, Interest::READABLE)?;
        Ok(Self { io, state, v6 })
    }

    /// Waits until the socket may be readable.
    pub(crate) async fn readable(&self) -> io::Result<AsyncFdReadyGuard<'_, std::net::UdpSocket>> {
        self.io.readable().await
    }

    /// Receives up to `bufs.len()` datagrams in one syscall. `Ok(0)` means the queue was
    /// empty (the readiness is then cleared); a short batch clears it too, since the queue
    /// was drained — a datagram arriving meanwhile raises a new readiness event, which tokio
    /// keeps (it only clears the event it handed out).
    pub(crate) fn recv(
        &self,
        guard: &mut AsyncFdReadyGuard<'_, std::net::UdpSocket>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> io::Result<usize> {
        let want = bufs.len().min(meta.len());
        match guard.try_io(|io| self.state.recv(io.get_ref().into(), bufs, meta)) {
            Ok(Ok(n)) => {
                if n < want {
                    guard.clear_ready();
                }
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            // `try_io` saw `WouldBlock` and cleared the readiness.
            Err(_would_block) => Ok(0),
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
        self.state.try_send(self.io.get_ref().into(), &transmit)
    }
}

/// Upper bound of the bytes one GSO send may carry.
pub(crate) const fn gso_max_bytes() -> usize {
    GSO_MAX_BYTES
}

fn recv_buffer() -> usize {
    // Bench knob while the default is being measured.
    std::env::var("DRAWBRIDGE_RTP_RCVBUF")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RECV_BUFFER)
}

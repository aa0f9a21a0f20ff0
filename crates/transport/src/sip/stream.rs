//! One TCP or TLS connection: a reader that frames messages and a writer task that owns
//! the write half.
//!
//! The reader ends on EOF, a read error, a framing error, the idle timeout, or when the
//! writer ends (write error or timeout, or the flow was closed and its queue drained).
//! A peer that went silent shows up as a read or write error once the kernel's keep-alive
//! or user timeout gives up ([`super::keepalive`]). Either way the flow leaves the table,
//! so later sends fail with `Closed`, and a [`FlowEvent::Closed`] follows every message
//! the connection carried.

use std::sync::Arc;
use std::time::Duration;

use drawbridge_sip::{Frame, FrameError, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::keepalive::dead_peer_reason;
use super::{Flow, FlowEvent, FlowId, Inner, SipCounters, TcpKeepalive, lock};

/// Read buffer per connection.
const READ_CHUNK: usize = 8192;
/// The answer to a CRLF keep-alive ping (RFC 5626 §4.4.1).
const PONG: &[u8] = b"\r\n";

/// Registers the stream as a flow and spawns its tasks. `held` (connection permits) is
/// released when the connection ends; `keepalive` is what the socket's keep-alive reads
/// back as (kept for [`super::SipTransports::tcp_keepalive`]).
pub(super) fn start<S>(
    inner: &Arc<Inner>,
    stream: S,
    make: impl FnOnce(FlowId) -> Flow,
    keepalive: Option<TcpKeepalive>,
    held: impl Send + 'static,
) -> FlowId
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel(inner.limits.writer_queue.max(1));
    // The reader keeps only a weak sender (for pongs), so removing the table entry
    // closes the queue.
    let pong = tx.downgrade();
    let flow = lock(&inner.flows).insert_stream(make, tx, keepalive, std::time::Instant::now());
    let id = flow.id;
    inner.announce(FlowEvent::Opened(flow.clone()));
    tokio::spawn(run(inner.clone(), stream, flow, rx, pong, held));
    id
}

enum End {
    Eof,
    ReadError(std::io::Error),
    Framing(FrameError),
    Idle,
    Writer(WriteEnd),
}

/// How the writer task ended.
enum WriteEnd {
    /// The flow was closed (or the transports shut down) and the queue is written.
    Drained,
    Failed(std::io::Error),
    TimedOut,
}

async fn run<S>(
    inner: Arc<Inner>,
    stream: S,
    flow: Flow,
    rx: mpsc::Receiver<Vec<u8>>,
    pong: mpsc::WeakSender<Vec<u8>>,
    held: impl Send + 'static,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let counters = &inner.counters;
    counters
        .connections_open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (mut rd, wr) = tokio::io::split(stream);
    let mut writer = tokio::spawn(write_loop(
        wr,
        rx,
        inner.limits.write_timeout,
        counters.clone(),
    ));
    let mut framer = StreamFramer::new(inner.sip_limits);
    let mut buf = vec![0u8; READ_CHUNK];
    let idle = inner.limits.idle_timeout;
    let mut deadline = Instant::now() + idle;
    let end = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break End::Eof,
                Err(e) => break End::ReadError(e),
                Ok(n) => match on_bytes(&inner, &flow, &mut framer, &buf[..n], &pong) {
                    Ok(true) => deadline = Instant::now() + idle,
                    Ok(false) => {}
                    Err(e) => break End::Framing(e),
                },
            },
            () = tokio::time::sleep_until(deadline) => break End::Idle,
            w = &mut writer => break End::Writer(w.unwrap_or_else(|e| WriteEnd::Failed(std::io::Error::other(e)))),
        }
    };
    lock(&inner.flows).remove(flow.id);
    inner.announce(FlowEvent::Closed(flow.clone()));
    writer.abort();
    counters
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    log_end(counters, &flow, end, idle);
    drop(held);
}

/// Counts and logs why a connection ended; every line has `flow`, `peer` and `reason`.
fn log_end(counters: &SipCounters, flow: &Flow, end: End, idle: Duration) {
    let (id, peer) = (flow.id, flow.remote);
    let io = match end {
        End::Eof => {
            tracing::debug!(flow = %id, %peer, reason = "closed by peer", "connection closed");
            return;
        }
        End::Framing(e) => {
            SipCounters::inc(&counters.framing_errors);
            tracing::info!(flow = %id, %peer, reason = "framing error", error = %e, "connection closed");
            return;
        }
        End::Idle => {
            SipCounters::inc(&counters.idle_timeouts);
            tracing::debug!(flow = %id, %peer, reason = "idle timeout", ?idle, "connection closed");
            return;
        }
        End::Writer(WriteEnd::Drained) => {
            tracing::debug!(flow = %id, %peer, reason = "closed by us", "connection closed");
            return;
        }
        End::Writer(WriteEnd::TimedOut) => {
            tracing::info!(flow = %id, %peer, reason = "write timeout", "connection closed; peer not reading");
            return;
        }
        End::ReadError(e) | End::Writer(WriteEnd::Failed(e)) => e,
    };
    if let Some(reason) = dead_peer_reason(&io) {
        // The provider vanished without a word (host down, NAT or firewall state lost):
        // worth a line at the default level, since calls on it move or fail.
        SipCounters::inc(&counters.dead_peers);
        tracing::info!(flow = %id, %peer, reason, error = %io, outbound = flow.outbound, "connection closed; peer stopped answering");
    } else {
        tracing::debug!(flow = %id, %peer, reason = "io error", error = %io, "connection closed");
    }
}

/// Feeds bytes to the framer and handles every complete frame; `Ok(true)` when at least
/// one message or keep-alive arrived (the idle clock restarts).
fn on_bytes(
    inner: &Inner,
    flow: &Flow,
    framer: &mut StreamFramer,
    bytes: &[u8],
    pong: &mpsc::WeakSender<Vec<u8>>,
) -> Result<bool, FrameError> {
    framer.feed(bytes)?;
    let mut any = false;
    while let Some(frame) = framer.next_frame()? {
        any = true;
        match frame {
            Frame::Message(m) => inner.deliver(flow, m),
            Frame::Ping => {
                SipCounters::inc(&inner.counters.keepalives);
                if let Some(tx) = pong.upgrade() {
                    // A full queue already carries traffic: the pong is not needed.
                    let _ = tx.try_send(PONG.to_vec());
                }
            }
        }
    }
    Ok(any)
}

async fn write_loop<W>(
    mut wr: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    timeout: Duration,
    counters: Arc<SipCounters>,
) -> WriteEnd
where
    W: AsyncWrite + Unpin,
{
    while let Some(bytes) = rx.recv().await {
        let write = async {
            wr.write_all(&bytes).await?;
            wr.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                SipCounters::inc(&counters.send_failures);
                return WriteEnd::Failed(e);
            }
            Err(_) => {
                SipCounters::inc(&counters.send_failures);
                return WriteEnd::TimedOut;
            }
        }
    }
    let _ = tokio::time::timeout(timeout, wr.shutdown()).await;
    WriteEnd::Drained
}

//! One TCP or TLS connection: a reader that frames messages and a writer task that owns
//! the write half.
//!
//! The reader ends on EOF, a read error, a framing error, the idle timeout, or when the
//! writer ends (write error or timeout, or the flow was closed and its queue drained).
//! Either way the flow leaves the table, so later sends fail with `Closed`, and a
//! [`FlowEvent::Closed`] follows every message the connection carried.

use std::sync::Arc;
use std::time::Duration;

use drawbridge_sip::{Frame, FrameError, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Flow, FlowEvent, FlowId, Inner, SipCounters, lock};

/// Read buffer per connection.
const READ_CHUNK: usize = 8192;
/// The answer to a CRLF keep-alive ping (RFC 5626 §4.4.1).
const PONG: &[u8] = b"\r\n";

/// Registers the stream as a flow and spawns its tasks. `held` (connection permits) is
/// released when the connection ends.
pub(super) fn start<S>(
    inner: &Arc<Inner>,
    stream: S,
    make: impl FnOnce(FlowId) -> Flow,
    held: impl Send + 'static,
) -> FlowId
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel(inner.limits.writer_queue.max(1));
    // The reader keeps only a weak sender (for pongs), so removing the table entry
    // closes the queue.
    let pong = tx.downgrade();
    let flow = lock(&inner.flows).insert_stream(make, tx, std::time::Instant::now());
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
    WriterDone,
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
            _ = &mut writer => break End::WriterDone,
        }
    };
    lock(&inner.flows).remove(flow.id);
    inner.announce(FlowEvent::Closed(flow.clone()));
    writer.abort();
    counters
        .connections_open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let peer = flow.remote;
    match end {
        End::Eof => tracing::debug!(flow = %flow.id, %peer, "connection closed by peer"),
        End::ReadError(e) => {
            tracing::debug!(flow = %flow.id, %peer, error = %e, "connection read error")
        }
        End::Framing(e) => {
            SipCounters::inc(&counters.framing_errors);
            tracing::info!(flow = %flow.id, %peer, error = %e, "framing error; connection closed");
        }
        End::Idle => {
            SipCounters::inc(&counters.idle_timeouts);
            tracing::debug!(flow = %flow.id, %peer, ?idle, "idle connection closed");
        }
        End::WriterDone => {
            tracing::debug!(flow = %flow.id, %peer, "connection closed (writer ended)")
        }
    }
    drop(held);
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
) where
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
                tracing::debug!(error = %e, "connection write failed");
                return;
            }
            Err(_) => {
                SipCounters::inc(&counters.send_failures);
                tracing::info!(?timeout, "connection write timed out; peer not reading");
                return;
            }
        }
    }
    let _ = tokio::time::timeout(timeout, wr.shutdown()).await;
}

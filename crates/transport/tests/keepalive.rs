//! Dead-peer detection on SIP stream connections, over loopback: the keep-alive settings
//! reach the kernel on accepted and outbound sockets, CRLF pings are answered and never
//! delivered, and a peer that stops acknowledging is noticed through TCP keep-alive and
//! the user timeout (its silence is real: a drop-everything socket filter on the peer's
//! socket discards our segments before TCP sees them, so it neither ACKs nor resets).
//! 127.0.0.2 plays an allowlisted trunk provider.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use drawbridge_config::TrunkTlsConfig;
use drawbridge_transport::sip::{
    ConnectionLimits, FlowEvent, FlowId, Inbound, ListenerConfig, SipTransportConfig,
    SipTransports, TcpKeepalive, TlsIdentity, Transport, TrunkTransport,
};
use rustls::pki_types::{CertificateDer, ServerName};
use socket2::{SockFilter, SockRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{broadcast, mpsc};

const WAIT: Duration = Duration::from_secs(5);

/// Short enough for a test, long enough that a healthy loopback peer always answers:
/// probes at 1 s and 2 s, dead at 3 s.
fn fast() -> TcpKeepalive {
    TcpKeepalive {
        idle: Duration::from_secs(1),
        interval: Duration::from_secs(1),
        probes: 2,
        user_timeout: Duration::from_secs(3),
    }
}

fn config(
    transport: Transport,
    tls: Option<TlsIdentity>,
    keepalive: Option<TcpKeepalive>,
) -> SipTransportConfig {
    SipTransportConfig {
        listeners: vec![ListenerConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            transport,
            allow: vec![("127.0.0.2/32".parse().unwrap(), 0)],
            kernel_filter: true,
        }],
        tls,
        trunks: vec![TrunkTransport {
            name: "carrier".to_owned(),
            tls: TrunkTlsConfig::default(),
        }],
        limits: ConnectionLimits {
            tcp_keepalive: keepalive,
            ..ConnectionLimits::default()
        },
        sip_limits: drawbridge_sip::Limits::default(),
    }
}

async fn start(config: SipTransportConfig) -> (SipTransports, mpsc::Receiver<Inbound>) {
    let (tx, rx) = mpsc::channel(64);
    (SipTransports::bind(config, tx).await.unwrap(), rx)
}

async fn tcp_from_provider(dst: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    s.connect(dst).await.unwrap()
}

fn options(tag: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:drawbridge SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2;branch=z9hG4bK{tag}\r\nCall-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A transport with one plain TCP listener (keep-alive `keepalive`) and a provider
/// connected to it: the transport, its inbound channel and flow events, the provider's end
/// of the connection, and its flow.
async fn accepted_tcp(
    keepalive: Option<TcpKeepalive>,
) -> (
    SipTransports,
    mpsc::Receiver<Inbound>,
    broadcast::Receiver<FlowEvent>,
    TcpStream,
    FlowId,
) {
    let (t, rx) = start(config(Transport::Tcp, None, keepalive)).await;
    let mut events = t.flow_events();
    let peer = tcp_from_provider(t.local_addr(Transport::Tcp).unwrap()).await;
    let flow = opened(&mut events).await;
    (t, rx, events, peer, flow)
}

/// A TCP listener for a provider on 127.0.0.1, and its port.
async fn provider_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Sends a CRLF keep-alive ping (RFC 5626 §4.4.1) on `peer` and returns what came back
/// within [`WAIT`].
async fn ping<S: AsyncReadExt + AsyncWriteExt + Unpin>(peer: &mut S) -> Vec<u8> {
    peer.write_all(b"\r\n\r\n").await.unwrap();
    let mut pong = [0u8; 8];
    let n = tokio::time::timeout(WAIT, peer.read(&mut pong))
        .await
        .unwrap()
        .unwrap();
    pong[..n].to_vec()
}

/// The next `Opened` event.
async fn opened(events: &mut broadcast::Receiver<FlowEvent>) -> FlowId {
    match tokio::time::timeout(WAIT, events.recv()).await {
        Ok(Ok(FlowEvent::Opened(f))) => f.id,
        other => panic!("expected Opened, got {other:?}"),
    }
}

/// Waits (up to `within`) for `flow`'s `Closed` event; how long it took.
async fn closed(
    events: &mut broadcast::Receiver<FlowEvent>,
    flow: FlowId,
    within: Duration,
) -> Duration {
    let started = tokio::time::Instant::now();
    let wait = async {
        loop {
            if let FlowEvent::Closed(f) = events.recv().await.unwrap()
                && f.id == flow
            {
                return;
            }
        }
    };
    tokio::time::timeout(within, wait)
        .await
        .unwrap_or_else(|_| panic!("flow {flow} not closed within {within:?}"));
    started.elapsed()
}

/// Makes the peer's socket deaf: every segment arriving for it is discarded before TCP
/// processing (classic BPF `ret #0`), as if the host vanished or a firewall on the path
/// started dropping. Nothing is acknowledged and no reset is sent.
fn go_silent(s: &TcpStream) {
    const BPF_RET_K: u16 = 0x06;
    SockRef::from(s)
        .attach_filter(&[SockFilter::new(BPF_RET_K, 0, 0, 0)])
        .unwrap();
}

struct Tls {
    _dir: tempfile::TempDir,
    identity: TlsIdentity,
    connector: tokio_rustls::TlsConnector,
}

/// A self-signed identity for our TLS listener and a client that trusts it.
fn tls() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let identity = TlsIdentity {
        cert_file: dir.path().join("sbc.crt"),
        key_file: dir.path().join("sbc.key"),
    };
    std::fs::write(&identity.cert_file, ck.cert.pem()).unwrap();
    std::fs::write(&identity.key_file, ck.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ck.cert.der().to_vec()))
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Tls {
        _dir: dir,
        identity,
        connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

// ---- (a) the settings reach the kernel ----------------------------------------------

#[tokio::test]
async fn keepalive_is_set_on_accepted_tcp_and_tls_and_on_outbound_sockets() {
    let k = TcpKeepalive {
        idle: Duration::from_secs(7),
        interval: Duration::from_secs(3),
        probes: 4,
        user_timeout: Duration::from_millis(25_500),
    };
    // Accepted, plain TCP.
    let (t, _rx, _events, _peer, flow) = accepted_tcp(Some(k)).await;
    assert_eq!(t.tcp_keepalive(flow), Some(k), "accepted TCP");

    // Accepted, TLS: set before the handshake, kept through it.
    let tls = tls();
    let (t, _rx) = start(config(Transport::Tls, Some(tls.identity.clone()), Some(k))).await;
    let mut events = t.flow_events();
    let tcp = tcp_from_provider(t.local_addr(Transport::Tls).unwrap()).await;
    let _peer = tls.connector.connect(localhost(), tcp).await.unwrap();
    let flow = opened(&mut events).await;
    assert_eq!(t.tcp_keepalive(flow), Some(k), "accepted TLS");

    // Outbound, with the defaults a configuration without the option gets.
    let (provider, port) = provider_listener().await;
    let (t, _rx) = start(config(Transport::Tcp, None, Some(TcpKeepalive::default()))).await;
    let flow = t
        .connect(0, "127.0.0.1", port, Transport::Tcp)
        .await
        .unwrap();
    let _accepted = provider.accept().await.unwrap();
    let got = t.tcp_keepalive(flow).unwrap();
    assert_eq!(
        (got.idle, got.interval, got.probes, got.user_timeout),
        (
            Duration::from_secs(30),
            Duration::from_secs(10),
            3,
            Duration::from_secs(60)
        ),
        "outbound, defaults"
    );

    // Off: the socket is left alone.
    let (t, _rx, _events, _peer, flow) = accepted_tcp(None).await;
    assert!(t.flow(flow).is_some());
    assert_eq!(t.tcp_keepalive(flow), None);
}

// ---- (b) CRLF keep-alive ping/pong (RFC 5626 §3.5.1, §4.4.1) -------------------------

#[tokio::test]
async fn a_crlf_ping_over_tls_gets_a_pong_and_never_reaches_the_sink() {
    let tls = tls();
    let (t, mut rx) = start(config(Transport::Tls, Some(tls.identity.clone()), None)).await;
    let tcp = tcp_from_provider(t.local_addr(Transport::Tls).unwrap()).await;
    let mut peer = tls.connector.connect(localhost(), tcp).await.unwrap();
    for round in 0..2 {
        assert_eq!(
            ping(&mut peer).await,
            b"\r\n",
            "round {round}: one CRLF back"
        );
    }
    // A ping glued to a message: only the message is delivered, and it is the first.
    peer.write_all(&[&b"\r\n\r\n"[..], &options("after")].concat())
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.bytes, options("after"));
    assert!(rx.try_recv().is_err(), "pings are not messages");
    assert_eq!(t.counters().snapshot().keepalives, 3);
}

#[tokio::test]
async fn a_provider_pinging_on_our_outbound_connection_gets_a_pong() {
    let (provider, port) = provider_listener().await;
    let (t, mut rx) = start(config(Transport::Tcp, None, None)).await;
    t.connect(0, "127.0.0.1", port, Transport::Tcp)
        .await
        .unwrap();
    let (mut peer, _) = provider.accept().await.unwrap();
    assert_eq!(ping(&mut peer).await, b"\r\n");
    assert!(rx.try_recv().is_err(), "pings are not messages");
}

// ---- (c) a silent peer is noticed ----------------------------------------------------

#[tokio::test]
async fn an_accepted_connection_whose_peer_goes_silent_closes_after_the_probes() {
    let (t, _rx, mut events, peer, flow) = accepted_tcp(Some(fast())).await;

    go_silent(&peer);
    let took = closed(&mut events, flow, Duration::from_secs(15)).await;
    // Not at once (the peer never closed), well before the 300 s idle timeout.
    assert!(
        took >= Duration::from_secs(2),
        "closed after {took:?}, before the probes could have failed"
    );
    let s = t.counters().snapshot();
    assert_eq!(
        (s.dead_peers, s.idle_timeouts, s.connections_open),
        (1, 0, 0)
    );
    assert!(t.flow(flow).is_none());
}

#[tokio::test]
async fn an_outbound_connection_to_a_vanished_provider_closes_and_connect_opens_a_new_one() {
    let (provider, port) = provider_listener().await;
    let (t, _rx) = start(config(Transport::Tcp, None, Some(fast()))).await;
    let mut events = t.flow_events();
    let flow = t
        .connect(0, "127.0.0.1", port, Transport::Tcp)
        .await
        .unwrap();
    let (dead, _) = provider.accept().await.unwrap();
    assert_eq!(opened(&mut events).await, flow);

    go_silent(&dead);
    let took = closed(&mut events, flow, Duration::from_secs(15)).await;
    assert!(took >= Duration::from_secs(2), "closed after {took:?}");
    assert_eq!(t.counters().snapshot().dead_peers, 1);

    // The next request to the trunk connects afresh instead of reusing the dead flow.
    let fresh = t
        .connect(0, "127.0.0.1", port, Transport::Tcp)
        .await
        .unwrap();
    assert_ne!(fresh, flow);
    let (mut alive, _) = provider.accept().await.unwrap();
    t.send(fresh, options("again")).await.unwrap();
    let mut got = vec![0u8; options("again").len()];
    tokio::time::timeout(WAIT, alive.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, options("again"));
}

#[tokio::test]
async fn unacknowledged_data_fails_the_connection_after_the_user_timeout() {
    // Probes would only start after a minute: what closes the connection is the data we
    // send going unacknowledged (keep-alive probes are not sent while data is in flight).
    let k = TcpKeepalive {
        idle: Duration::from_secs(60),
        interval: Duration::from_secs(10),
        probes: 3,
        user_timeout: Duration::from_secs(2),
    };
    let (t, _rx, mut events, peer, flow) = accepted_tcp(Some(k)).await;

    go_silent(&peer);
    t.send(flow, options("into-the-void")).await.unwrap();
    let took = closed(&mut events, flow, Duration::from_secs(15)).await;
    assert!(took >= Duration::from_secs(1), "closed after {took:?}");
    let s = t.counters().snapshot();
    assert_eq!((s.dead_peers, s.idle_timeouts), (1, 0));
}

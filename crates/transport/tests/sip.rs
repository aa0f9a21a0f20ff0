//! The SIP transports over loopback: 127.0.0.2 and 127.0.0.4 play allowlisted trunk
//! providers, 127.0.0.3 a scanner.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drawbridge_config::TrunkTlsConfig;
use drawbridge_transport::sip::{
    ConnectionLimits, FlowEvent, FlowId, Inbound, ListenerConfig, SendError, SipCountersSnapshot,
    SipTransportConfig, SipTransports, TlsIdentity, Transport, TrunkTransport,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(5);

fn options(tag: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:drawbridge SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.2;branch=z9hG4bK{tag}\r\nCall-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn with_body(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:drawbridge SIP/2.0\r\nCall-ID: {tag}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

// ---- certificates -------------------------------------------------------------------

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem_file: PathBuf,
}

struct Leaf {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
}

fn ca(dir: &tempfile::TempDir, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let pem_file = dir.path().join(format!("{name}.pem"));
    std::fs::write(&pem_file, issuer.pem()).unwrap();
    Ca { issuer, pem_file }
}

fn leaf(ca: &Ca, cn: &str) -> Leaf {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Leaf {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    }
}

fn write_identity(dir: &tempfile::TempDir, leaf: &Leaf) -> TlsIdentity {
    let id = TlsIdentity {
        cert_file: dir.path().join("server.crt"),
        key_file: dir.path().join("server.key"),
    };
    std::fs::write(&id.cert_file, &leaf.cert_pem).unwrap();
    std::fs::write(&id.key_file, &leaf.key_pem).unwrap();
    id
}

/// A client configuration that trusts `ca`, before its client certificate is chosen.
fn client_trusting(
    ca: &Ca,
) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
}

/// A fresh client configuration each call (no session resumption across clients).
fn tls_client(ca: &Ca, client: Option<&Leaf>) -> TlsConnector {
    let builder = client_trusting(ca);
    let cfg = match client {
        Some(l) => builder
            .with_client_auth_cert(
                vec![l.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(l.key_der.clone())),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(cfg))
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// A TLS connection from `src` to `dst` that trusts `ca` and shows no client certificate;
/// panics if the connect or the handshake fails.
async fn tls_from(
    ca: &Ca,
    src: &str,
    dst: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = tcp_from(src, dst).await.unwrap();
    tls_client(ca, None)
        .connect(localhost(), tcp)
        .await
        .unwrap()
}

/// A TLS acceptor presenting `leaf` (as a provider's server would); with `client_roots`
/// it requires a client certificate issued by one of them.
fn tls_acceptor(
    leaf: &Leaf,
    client_roots: Option<rustls::RootCertStore>,
) -> tokio_rustls::TlsAcceptor {
    let crypto = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(crypto.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_roots {
        Some(roots) => builder.with_client_cert_verifier(
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto)
                .build()
                .unwrap(),
        ),
        None => builder.with_no_client_auth(),
    };
    let cfg = builder
        .with_single_cert(
            vec![leaf.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
        )
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

// ---- transports ---------------------------------------------------------------------

fn trunk(name: &str) -> TrunkTransport {
    TrunkTransport {
        name: name.to_owned(),
        tls: TrunkTlsConfig::default(),
    }
}

fn listener(transport: Transport, allow: &[(&str, usize)], kernel_filter: bool) -> ListenerConfig {
    ListenerConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        transport,
        allow: allow
            .iter()
            .map(|(n, t)| (n.parse().unwrap(), *t))
            .collect(),
        kernel_filter,
    }
}

fn config(listeners: Vec<ListenerConfig>, tls: Option<TlsIdentity>) -> SipTransportConfig {
    SipTransportConfig {
        listeners,
        tls,
        trunks: vec![trunk("carrier-a"), trunk("carrier-b")],
        limits: ConnectionLimits::default(),
        sip_limits: drawbridge_sip::Limits::default(),
    }
}

/// [`config`] with one listener (see [`listener`]).
fn single(
    transport: Transport,
    allow: &[(&str, usize)],
    kernel_filter: bool,
    tls: Option<TlsIdentity>,
) -> SipTransportConfig {
    config(vec![listener(transport, allow, kernel_filter)], tls)
}

async fn start(config: SipTransportConfig) -> (SipTransports, mpsc::Receiver<Inbound>) {
    let (tx, rx) = mpsc::channel(64);
    (SipTransports::bind(config, tx).await.unwrap(), rx)
}

/// Awaits `f`, failing the test if it takes longer than [`WAIT`].
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("done within 5 s")
}

/// A transport with one UDP listener (127.0.0.2 allowed as trunk 0, no kernel filter)
/// delivering into `sink`, the listener's address, and a socket at 127.0.0.2.
async fn udp_into(
    sink: drawbridge_transport::sip::InboundSink,
) -> (SipTransports, SocketAddr, UdpSocket) {
    let t = SipTransports::bind(
        single(Transport::Udp, &[("127.0.0.2/32", 0)], false, None),
        sink,
    )
    .await
    .unwrap();
    let dst = t.local_addr(Transport::Udp).unwrap();
    (t, dst, udp_from("127.0.0.2").await)
}

async fn recv(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a message within 5 s")
        .expect("channel open")
}

/// Polls the counters until `cond` holds (the tasks count asynchronously).
async fn wait_for(
    t: &SipTransports,
    cond: impl Fn(&SipCountersSnapshot) -> bool,
) -> SipCountersSnapshot {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = t.counters().snapshot();
        if cond(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn tcp_from(src: &str, dst: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(format!("{src}:0").parse().unwrap())?;
    s.connect(dst).await
}

/// A TCP listener for a provider on 127.0.0.1, and its port.
async fn provider_listener() -> (tokio::net::TcpListener, u16) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

async fn udp_from(src: &str) -> UdpSocket {
    UdpSocket::bind(format!("{src}:0")).await.unwrap()
}

/// Reads until EOF or error; the bytes received before it.
async fn read_to_close<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection not closed within 5 s"),
        }
    }
}

// ---- UDP ----------------------------------------------------------------------------

#[tokio::test]
async fn udp_from_allowed_sources_arrives_with_the_trunk_and_others_are_counted() {
    let (t, mut rx) = start(single(
        Transport::Udp,
        &[("127.0.0.2/32", 1), ("127.0.0.4/32", 0)],
        false,
        None,
    ))
    .await;
    let dst = t.local_addr(Transport::Udp).unwrap();
    let (a, scanner, b) = (
        udp_from("127.0.0.2").await,
        udp_from("127.0.0.3").await,
        udp_from("127.0.0.4").await,
    );
    scanner.send_to(&options("scan"), dst).await.unwrap();
    a.send_to(&options("a1"), dst).await.unwrap();
    b.send_to(&options("b1"), dst).await.unwrap();
    a.send_to(&options("a2"), dst).await.unwrap();

    let m1 = recv(&mut rx).await;
    assert_eq!(
        (m1.trunk, m1.remote, m1.transport),
        (1, a.local_addr().unwrap(), Transport::Udp)
    );
    assert_eq!(
        m1.bytes,
        options("a1"),
        "the scanner's datagram, sent first, never arrives"
    );
    let m2 = recv(&mut rx).await;
    assert_eq!((m2.trunk, m2.bytes), (0, options("b1")));
    let m3 = recv(&mut rx).await;
    assert_eq!(m3.flow, m1.flow, "one source, one flow");
    assert_ne!(m2.flow, m1.flow);
    assert_eq!(t.counters().snapshot().dropped_not_allowlisted, 1);

    // Answer on the flow: it leaves from the listener socket to the source.
    t.send(m1.flow, b"SIP/2.0 200 OK\r\n\r\n".to_vec())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = within(a.recv_from(&mut buf)).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"SIP/2.0 200 OK\r\n\r\n"[..], dst));
}

#[tokio::test]
async fn a_sharded_sink_delivers_each_message_to_the_channel_its_bytes_pick() {
    let (tx0, mut rx0) = mpsc::channel(64);
    let (tx1, mut rx1) = mpsc::channel(64);
    // Pick by the Call-ID's last character: "…0" to channel 0, "…1" to channel 1.
    fn pick(bytes: &[u8], n: usize) -> usize {
        let key = drawbridge_sip::route_key(bytes);
        key.call_id
            .and_then(|c| c.last())
            .map_or(0, |b| usize::from(b - b'0') % n)
    }
    let sink = drawbridge_transport::sip::InboundSink::sharded(vec![tx0, tx1], pick);
    let (_t, dst, a) = udp_into(sink).await;
    for tag in ["x0", "y1", "z1", "w0"] {
        a.send_to(&options(tag), dst).await.unwrap();
    }
    for (rx, want) in [(&mut rx0, ["x0", "w0"]), (&mut rx1, ["y1", "z1"])] {
        for tag in want {
            assert_eq!(
                recv(rx).await.bytes,
                options(tag),
                "in order, on its channel"
            );
        }
        assert!(rx.try_recv().is_err(), "nothing else on this channel");
    }
}

#[tokio::test]
async fn a_busy_channel_sheds_new_requests_but_keeps_in_dialog_ones() {
    // Capacity 4 here and 4 on a sibling channel holding 2 already, never drained: "busy"
    // once fewer than 6 of the 8 slots are free, so after one more message here.
    let (tx, mut rx) = mpsc::channel(4);
    let (sibling, _sibling_rx) = mpsc::channel(4);
    for _ in 0..2 {
        sibling
            .try_send(Inbound {
                flow: FlowId(0),
                trunk: 0,
                remote: "127.0.0.9:5060".parse().unwrap(),
                transport: Transport::Udp,
                bytes: Vec::new(),
                received: std::time::Instant::now(),
            })
            .unwrap();
    }
    let sink = drawbridge_transport::sip::InboundSink::sharded(vec![tx], |_, _| 0).shed_when_busy(
        |b| drawbridge_sip::route_key(b).starts_new_work(),
        vec![sibling],
    );
    let (t, dst, a) = udp_into(sink).await;
    let bye = |tag: &str| {
        format!("BYE sip:drawbridge SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2;branch=z9hG4bK{tag}\r\nTo: <sip:x>;tag=t\r\nCall-ID: {tag}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n").into_bytes()
    };
    let sent = [
        options("n1"),
        options("n2-shed"),
        bye("d1"),
        bye("d2"),
        bye("d3"),
        bye("d4-full"),
    ];
    for m in &sent {
        a.send_to(m, dst).await.unwrap();
    }
    let c = wait_for(&t, |c| {
        c.messages_in + c.shed_overload + c.channel_full == 6
    })
    .await;
    assert_eq!((c.messages_in, c.shed_overload, c.channel_full), (4, 1, 1));
    for want in [&sent[0], &sent[2], &sent[3], &sent[4]] {
        assert_eq!(&recv(&mut rx).await.bytes, want);
    }
}

#[tokio::test]
async fn udp_kernel_filter_drops_before_userspace() {
    let (t, mut rx) = start(single(Transport::Udp, &[("127.0.0.2/32", 0)], true, None)).await;
    let dst = t.local_addr(Transport::Udp).unwrap();
    udp_from("127.0.0.3")
        .await
        .send_to(&options("scan"), dst)
        .await
        .unwrap();
    udp_from("127.0.0.2")
        .await
        .send_to(&options("ok"), dst)
        .await
        .unwrap();
    assert_eq!(recv(&mut rx).await.bytes, options("ok"));
    assert_eq!(
        t.counters().snapshot().dropped_not_allowlisted,
        0,
        "the kernel dropped it: userspace never saw it"
    );
}

#[tokio::test]
async fn oversized_datagrams_are_dropped_and_a_full_channel_drops_and_counts() {
    let mut cfg = single(Transport::Udp, &[("127.0.0.2/32", 0)], false, None);
    cfg.sip_limits.max_message_size = 600;
    let (tx, mut rx) = mpsc::channel(2);
    let t = SipTransports::bind(cfg, tx).await.unwrap();
    let dst = t.local_addr(Transport::Udp).unwrap();
    let a = udp_from("127.0.0.2").await;
    a.send_to(&with_body("big", &"x".repeat(600)), dst)
        .await
        .unwrap();
    for i in 0..4 {
        a.send_to(&options(&format!("m{i}")), dst).await.unwrap();
    }
    let s = wait_for(&t, |s| s.messages_in + s.channel_full == 4).await;
    assert_eq!((s.udp_oversize, s.messages_in, s.channel_full), (1, 2, 2));
    assert_eq!(recv(&mut rx).await.bytes, options("m0"));
    assert_eq!(recv(&mut rx).await.bytes, options("m1"));
}

// ---- TLS and TCP listeners ----------------------------------------------------------

struct TlsFixture {
    dir: tempfile::TempDir,
    ca: Ca,
    identity: TlsIdentity,
}

fn tls_fixture() -> TlsFixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(&dir, "test-ca");
    let identity = write_identity(&dir, &leaf(&ca, "sbc-a"));
    TlsFixture { dir, ca, identity }
}

/// [`start`]s a transport with one TLS listener (see [`listener`]) presenting `f`'s
/// identity; also returns the listener's address.
async fn start_tls(
    f: &TlsFixture,
    allow: &[(&str, usize)],
    kernel_filter: bool,
) -> (SipTransports, mpsc::Receiver<Inbound>, SocketAddr) {
    let (t, rx) = start(single(
        Transport::Tls,
        allow,
        kernel_filter,
        Some(f.identity.clone()),
    ))
    .await;
    let dst = t.local_addr(Transport::Tls).unwrap();
    (t, rx, dst)
}

#[tokio::test]
async fn tls_message_split_over_two_segments_arrives_framed_and_answers_go_back() {
    let f = tls_fixture();
    let (t, mut rx, dst) = start_tls(&f, &[("127.0.0.2/32", 1)], true).await;
    let mut tls = tls_from(&f.ca, "127.0.0.2", dst).await;
    let msg = options("split");
    let second = with_body("next", "hello");
    tls.write_all(&msg[..40]).await.unwrap();
    tls.flush().await.unwrap();
    let mut rest = msg[40..].to_vec();
    rest.extend_from_slice(&second);
    tls.write_all(&rest).await.unwrap();
    tls.flush().await.unwrap();

    let m = recv(&mut rx).await;
    assert_eq!((m.bytes, m.trunk, m.transport), (msg, 1, Transport::Tls));
    let m2 = recv(&mut rx).await;
    assert_eq!((m2.bytes, m2.flow), (second, m.flow));
    let flow = t.flow(m.flow).unwrap();
    assert_eq!(
        (flow.trunk, flow.outbound, flow.remote),
        (1, false, tls.get_ref().0.local_addr().unwrap())
    );

    t.send(
        m.flow,
        b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 64];
    let n = tls.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    let s = t.counters().snapshot();
    assert_eq!(
        (s.accepted, s.tls_handshakes, s.connections_open),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn connections_are_announced_open_before_their_messages_and_closed_after() {
    let (t, mut rx) = start(single(Transport::Tcp, &[("127.0.0.2/32", 1)], true, None)).await;
    let mut events = t.flow_events();
    let dst = t.local_addr(Transport::Tcp).unwrap();
    for round in 0..2 {
        let mut tcp = tcp_from("127.0.0.2", dst).await.unwrap();
        tcp.write_all(&options(&format!("r{round}"))).await.unwrap();
        let m = recv(&mut rx).await;
        // Whoever drains the events before handling a message sees its connection first.
        let Ok(FlowEvent::Opened(opened)) = events.try_recv() else {
            panic!("no Opened before the first message");
        };
        assert_eq!(
            (opened.id, opened.trunk, opened.outbound, opened.remote),
            (m.flow, 1, false, tcp.local_addr().unwrap())
        );
        drop(tcp);
        let closed = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("Closed within 5 s")
            .unwrap();
        assert_eq!(closed, FlowEvent::Closed(opened));
        assert!(t.flow(m.flow).is_none(), "gone from the table by then");
    }
    assert!(events.try_recv().is_err(), "nothing else");
}

/// The first bytes of a real TLS ClientHello.
fn client_hello(ca: &Ca) -> Vec<u8> {
    let cfg = client_trusting(ca).with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), localhost()).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

#[tokio::test]
async fn non_allowlisted_tls_client_gets_no_server_hello() {
    let f = tls_fixture();
    // Userspace check (kernel filter off): accepted by the kernel, closed unread.
    let (t, _rx, dst) = start_tls(&f, &[("127.0.0.2/32", 0)], false).await;
    let mut tcp = tcp_from("127.0.0.3", dst).await.unwrap();
    wait_for(&t, |s| s.dropped_not_allowlisted == 1).await;
    let _ = tcp.write_all(&client_hello(&f.ca)).await;
    assert!(
        read_to_close(&mut tcp).await.is_empty(),
        "not one byte, so no ServerHello"
    );
    let s = t.counters().snapshot();
    assert_eq!(
        (s.accepted, s.tls_handshakes, s.tls_handshake_failures),
        (0, 0, 0)
    );

    // Kernel filter on: no SYN-ACK at all, so the connect does not even complete.
    let (t, _rx, dst) = start_tls(&f, &[("127.0.0.2/32", 0)], true).await;
    match tokio::time::timeout(Duration::from_millis(500), tcp_from("127.0.0.3", dst)).await {
        Err(_) | Ok(Err(_)) => {}
        Ok(Ok(mut tcp)) => {
            let _ = tcp.write_all(&client_hello(&f.ca)).await;
            assert!(read_to_close(&mut tcp).await.is_empty());
        }
    }
    // The allowed source still gets through.
    tls_from(&f.ca, "127.0.0.2", dst).await;
    assert_eq!(t.counters().snapshot().accepted, 1);
}

#[tokio::test]
async fn keepalive_ping_is_answered_and_framing_errors_close_the_connection() {
    let (t, mut rx) = start(single(Transport::Tcp, &[("127.0.0.2/32", 0)], true, None)).await;
    let dst = t.local_addr(Transport::Tcp).unwrap();
    let mut tcp = tcp_from("127.0.0.2", dst).await.unwrap();
    tcp.write_all(b"\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 8];
    let n = within(tcp.read(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"\r\n");
    assert_eq!(t.counters().snapshot().keepalives, 1);

    // No Content-Length on a stream: unframeable, the connection goes.
    tcp.write_all(b"INVITE sip:x SIP/2.0\r\nCall-ID: y\r\n\r\n")
        .await
        .unwrap();
    assert!(read_to_close(&mut tcp).await.is_empty());
    let s = wait_for(&t, |s| s.connections_open == 0).await;
    assert_eq!(s.framing_errors, 1);
    assert!(rx.try_recv().is_err(), "nothing was delivered");
}

#[tokio::test]
async fn mtls_trunk_requires_a_client_certificate_other_trunks_do_not() {
    let f = tls_fixture();
    let client_ca = ca(&f.dir, "carrier-ca");
    let client_leaf = leaf(&client_ca, "carrier-a");
    let mut cfg = single(
        Transport::Tls,
        &[("127.0.0.2/32", 0), ("127.0.0.4/32", 1)],
        true,
        Some(f.identity.clone()),
    );
    cfg.trunks[0].tls.verify_client_ca_file = Some(client_ca.pem_file.clone());
    let (t, mut rx) = start(cfg).await;
    let dst = t.local_addr(Transport::Tls).unwrap();

    // Without a certificate: TLS 1.3 lets the client finish its side, then the server
    // refuses; nothing is delivered.
    let tcp = tcp_from("127.0.0.2", dst).await.unwrap();
    if let Ok(mut tls) = tls_client(&f.ca, None).connect(localhost(), tcp).await {
        let _ = tls.write_all(&options("nocert")).await;
        assert!(read_to_close(&mut tls).await.is_empty());
    }
    wait_for(&t, |s| s.tls_handshake_failures == 1).await;

    // A certificate from the wrong CA is refused too.
    let tcp = tcp_from("127.0.0.2", dst).await.unwrap();
    let wrong = leaf(&f.ca, "impostor");
    if let Ok(mut tls) = tls_client(&f.ca, Some(&wrong))
        .connect(localhost(), tcp)
        .await
    {
        let _ = tls.write_all(&options("wrong")).await;
        assert!(read_to_close(&mut tls).await.is_empty());
    }
    wait_for(&t, |s| s.tls_handshake_failures == 2).await;

    // With the carrier's certificate: accepted.
    let tcp = tcp_from("127.0.0.2", dst).await.unwrap();
    let mut tls = tls_client(&f.ca, Some(&client_leaf))
        .connect(localhost(), tcp)
        .await
        .unwrap();
    tls.write_all(&options("cert")).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!((m.bytes, m.trunk), (options("cert"), 0));

    // Trunk 1 has no client-CA: its source needs no certificate.
    let mut tls = tls_from(&f.ca, "127.0.0.4", dst).await;
    tls.write_all(&options("plain")).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!((m.bytes, m.trunk), (options("plain"), 1));
    assert_eq!(t.counters().snapshot().tls_handshake_failures, 2);
}

#[tokio::test]
async fn certificate_reload_serves_new_clients_and_keeps_existing_connections() {
    let f = tls_fixture();
    let (t, mut rx, dst) = start_tls(&f, &[("127.0.0.2/32", 0)], true).await;
    let old_der = std::fs::read(&f.identity.cert_file).unwrap();

    let mut first = tls_from(&f.ca, "127.0.0.2", dst).await;
    let first_leaf = first.get_ref().1.peer_certificates().unwrap()[0].clone();
    first.write_all(&options("before")).await.unwrap();
    let flow = recv(&mut rx).await.flow;

    let new = leaf(&f.ca, "sbc-b");
    write_identity(&f.dir, &new);
    assert_ne!(std::fs::read(&f.identity.cert_file).unwrap(), old_der);
    t.reload_certificate().unwrap();

    let second = tls_from(&f.ca, "127.0.0.2", dst).await;
    let second_leaf = second.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(second_leaf, new.der, "a fresh client sees the new leaf");
    assert_ne!(first_leaf, second_leaf);

    first.write_all(&options("after")).await.unwrap();
    let m = recv(&mut rx).await;
    assert_eq!(
        (m.bytes, m.flow),
        (options("after"), flow),
        "the old connection lives on"
    );
    t.send(flow, b"SIP/2.0 200 OK\r\n\r\n".to_vec())
        .await
        .unwrap();
    let mut buf = [0u8; 32];
    let n = first.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"SIP/2.0 200 OK\r\n\r\n");

    // A broken file is refused and the current certificate stays.
    std::fs::write(&f.identity.key_file, "not a key").unwrap();
    assert!(t.reload_certificate().is_err());
    let third = tls_from(&f.ca, "127.0.0.2", dst).await;
    assert_eq!(third.get_ref().1.peer_certificates().unwrap()[0], new.der);
    assert_eq!(t.counters().snapshot().certificate_reloads, 1);
}

#[tokio::test]
async fn handshake_idle_and_per_source_limits_close_connections() {
    let f = tls_fixture();
    let mut cfg = config(
        vec![
            listener(Transport::Tls, &[("127.0.0.2/32", 0)], true),
            listener(
                Transport::Tcp,
                &[("127.0.0.2/32", 0), ("127.0.0.4/32", 1)],
                true,
            ),
        ],
        Some(f.identity.clone()),
    );
    cfg.limits.handshake_timeout = Duration::from_millis(200);
    // Long enough that a slow machine still tries the second connection before it.
    cfg.limits.idle_timeout = Duration::from_millis(1500);
    cfg.limits.max_connections_per_source = 1;
    let (t, mut rx) = start(cfg).await;

    // A TLS client that never says hello is cut after the handshake timeout.
    let mut silent = tcp_from("127.0.0.2", t.local_addr(Transport::Tls).unwrap())
        .await
        .unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());
    wait_for(&t, |s| s.tls_handshake_failures == 1).await;

    // One connection per source: the second from 127.0.0.2 is refused, 127.0.0.4 is not.
    let dst = t.local_addr(Transport::Tcp).unwrap();
    let mut one = tcp_from("127.0.0.2", dst).await.unwrap();
    one.write_all(&options("one")).await.unwrap();
    assert_eq!(recv(&mut rx).await.bytes, options("one"));
    let mut two = tcp_from("127.0.0.2", dst).await.unwrap();
    assert!(read_to_close(&mut two).await.is_empty());
    assert_eq!(t.counters().snapshot().dropped_connection_limit, 1);
    let mut other = tcp_from("127.0.0.4", dst).await.unwrap();
    other.write_all(&options("other")).await.unwrap();
    assert_eq!(recv(&mut rx).await.trunk, 1);

    // Both go quiet: closed by the idle timeout.
    assert!(read_to_close(&mut one).await.is_empty());
    assert!(read_to_close(&mut other).await.is_empty());
    let s = wait_for(&t, |s| s.connections_open == 0).await;
    assert_eq!(s.idle_timeouts, 2);
}

// ---- outbound -----------------------------------------------------------------------

#[tokio::test]
async fn connect_reuses_one_tls_connection_and_reconnects_after_it_closed() {
    let f = tls_fixture();
    let server_leaf = leaf(&f.ca, "provider");
    let acceptor = tls_acceptor(&server_leaf, None);
    let (provider, port) = provider_listener().await;
    let accepted = Arc::new(AtomicUsize::new(0));
    let (got_tx, mut got_rx) = mpsc::channel::<Vec<u8>>(8);
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut close_rx = Some(close_rx);
            loop {
                let (tcp, _) = provider.accept().await.unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let want = options("o1").len() + options("o2").len();
                let mut got = vec![0u8; want];
                tls.read_exact(&mut got).await.unwrap();
                got_tx.send(got).await.unwrap();
                tls.write_all(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .unwrap();
                tls.flush().await.unwrap();
                if let Some(rx) = close_rx.take() {
                    rx.await.unwrap();
                    drop(tls);
                } else {
                    // Keep the second connection open until the test ends.
                    let _ = read_to_close(&mut tls).await;
                }
            }
        });
    }
    let mut cfg = config(vec![], None);
    cfg.trunks[0].tls.ca_file = Some(f.ca.pem_file.clone());
    let (t, mut rx) = start(cfg).await;

    let id = t
        .connect(0, "localhost", port, Transport::Tls)
        .await
        .unwrap();
    t.send(id, options("o1")).await.unwrap();
    let again = t
        .connect(0, "LOCALHOST", port, Transport::Tls)
        .await
        .unwrap();
    assert_eq!(again, id, "the open connection is reused");
    t.send(again, options("o2")).await.unwrap();
    let got = within(got_rx.recv()).await.unwrap();
    assert_eq!(
        got,
        [options("o1"), options("o2")].concat(),
        "both on one connection"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    let answer = recv(&mut rx).await;
    assert_eq!(
        (answer.flow, answer.trunk, answer.transport),
        (id, 0, Transport::Tls)
    );
    assert!(t.flow(id).unwrap().outbound);

    // The provider hangs up: the flow closes and sending on it fails.
    close_tx.send(()).unwrap();
    wait_for(&t, |s| s.connections_open == 0).await;
    assert!(t.flow(id).is_none());
    assert!(matches!(t.send(id, options("late")).await, Err(SendError::Closed(f)) if f == id));

    // The next connect opens a new connection.
    let fresh = t
        .connect(0, "localhost", port, Transport::Tls)
        .await
        .unwrap();
    assert_ne!(fresh, id);
    t.send(fresh, options("o1")).await.unwrap();
    t.send(fresh, options("o2")).await.unwrap();
    within(got_rx.recv()).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let s = t.counters().snapshot();
    assert_eq!((s.outbound_connects, s.outbound_connect_failures), (2, 0));

    // Closing by hand: queued messages flush, then sends fail.
    assert!(t.close(fresh));
    assert!(matches!(
        t.send(fresh, options("x")).await,
        Err(SendError::Closed(_))
    ));
    assert!(matches!(
        t.send(FlowId(999_999), options("x")).await,
        Err(SendError::Closed(_))
    ));
}

#[tokio::test]
async fn connect_refuses_an_untrusted_provider_and_udp_send_to_pairs_the_answers() {
    let f = tls_fixture();
    let other_ca = ca(&f.dir, "other-ca");
    // A TLS server whose certificate the trunk's CA did not sign.
    let server_leaf = leaf(&other_ca, "rogue");
    let acceptor = tls_acceptor(&server_leaf, None);
    let (rogue, port) = provider_listener().await;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = rogue.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let mut cfg = single(Transport::Udp, &[("127.0.0.2/32", 1)], true, None);
    cfg.trunks[0].tls.ca_file = Some(f.ca.pem_file.clone());
    let (t, mut rx) = start(cfg).await;
    assert!(
        t.connect(0, "localhost", port, Transport::Tls)
            .await
            .is_err()
    );
    assert_eq!(t.counters().snapshot().outbound_connect_failures, 1);
    assert!(
        t.connect(7, "localhost", port, Transport::Tls)
            .await
            .is_err(),
        "no trunk #7"
    );

    // UDP: a request to a provider, its answer comes back on the same flow.
    let provider = udp_from("127.0.0.2").await;
    let flow = t
        .send_to(1, provider.local_addr().unwrap(), options("out"))
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = within(provider.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], &options("out")[..]);
    provider
        .send_to(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", from)
        .await
        .unwrap();
    let m = recv(&mut rx).await;
    assert_eq!((m.flow, m.trunk), (flow, 1));
    let via_connect = t
        .connect(
            1,
            "127.0.0.2",
            provider.local_addr().unwrap().port(),
            Transport::Udp,
        )
        .await
        .unwrap();
    assert_eq!(via_connect, flow, "connect over UDP names the same flow");
}

#[tokio::test]
async fn connect_presents_the_trunk_client_certificate() {
    let f = tls_fixture();
    let our_ca = ca(&f.dir, "our-ca");
    let ours = leaf(&our_ca, "drawbridge");
    let (cert_file, key_file) = (
        f.dir.path().join("client.crt"),
        f.dir.path().join("client.key"),
    );
    std::fs::write(&cert_file, &ours.cert_pem).unwrap();
    std::fs::write(&key_file, &ours.key_pem).unwrap();
    let server_leaf = leaf(&f.ca, "provider");
    let mut client_roots = rustls::RootCertStore::empty();
    client_roots.add(our_ca.issuer.der().clone()).unwrap();
    let acceptor = tls_acceptor(&server_leaf, Some(client_roots));
    let (provider, port) = provider_listener().await;
    let seen = tokio::spawn(async move {
        let (tcp, _) = provider.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let peer = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
        let mut buf = vec![0u8; options("mtls").len()];
        tls.read_exact(&mut buf).await.unwrap();
        (peer, buf)
    });
    let mut cfg = config(vec![], None);
    cfg.trunks[0].tls = TrunkTlsConfig {
        ca_file: Some(f.ca.pem_file.clone()),
        sni: Some("localhost".to_owned()),
        client_cert_file: Some(cert_file),
        client_key_file: Some(key_file),
        verify_client_ca_file: None,
    };
    let (t, _rx) = start(cfg).await;
    // By address, with the SNI from the trunk's configuration.
    let id = t
        .connect(0, "127.0.0.1", port, Transport::Tls)
        .await
        .unwrap();
    t.send(id, options("mtls")).await.unwrap();
    let (peer, got) = within(seen).await.unwrap();
    assert_eq!((peer, got), (ours.der, options("mtls")));
}

#[tokio::test]
async fn shutdown_closes_connections_and_stops_listening() {
    let (t, mut rx) = start(single(Transport::Tcp, &[("127.0.0.2/32", 0)], true, None)).await;
    let mut tcp = tcp_from("127.0.0.2", t.local_addr(Transport::Tcp).unwrap())
        .await
        .unwrap();
    tcp.write_all(&options("s")).await.unwrap();
    recv(&mut rx).await;
    assert_eq!(t.flows().len(), 1);
    t.shutdown();
    assert!(read_to_close(&mut tcp).await.is_empty());
    assert!(t.flows().is_empty());
    wait_for(&t, |s| s.connections_open == 0).await;
    // The listener socket is closed: new connections are refused.
    let dst = t.local_addr(Transport::Tcp).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tcp_from("127.0.0.2", dst).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::task::yield_now().await;
    }
    assert_eq!(t.counters().snapshot().messages_in, 1);
}

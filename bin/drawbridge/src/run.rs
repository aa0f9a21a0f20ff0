//! `drawbridge run`: load, bind every listener, serve until SIGINT/SIGTERM.

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use drawbridge_config::{Cidr, Config, ConfigError, Transport};
use drawbridge_transport::wireguard::WireGuard;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use socket2::SockRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::ConfigArg;

/// Counters shared by the listener tasks and served on the metrics endpoint.
#[derive(Debug, Default)]
struct Counters {
    dropped_sources: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_handshake_failures: AtomicU64,
}

pub(crate) fn run(args: &ConfigArg) -> anyhow::Result<ExitCode> {
    let path = args.path()?;
    let config = match drawbridge_config::load(&path) {
        Ok(c) => c,
        Err(e @ ConfigError::Invalid(_)) => {
            eprintln!("{}: {e}", path.display());
            eprintln!(
                "nothing was started; `drawbridge check --config {}` shows the same list",
                path.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("loading {}", path.display()))),
    };
    crate::logging::init(&config.admin)?;
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("another TLS crypto provider was installed first"))?;
    crate::secrets::ensure(&config)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("drawbridge")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, path))?;
    // Listener tasks block in accept/recv; do not wait for them on the way out.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, path: std::path::PathBuf) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    tracing::info!(config = %path.display(), version = env!("CARGO_PKG_VERSION"), "drawbridge starting");

    let reload = Arc::new(tokio::sync::Notify::new());
    let wireguard = match &config.tunnel {
        Some(t) => Some(crate::tunnel::start(t, reload.clone()).await?),
        None => None,
    };

    let allowed_for = |transport: Transport| -> Arc<Vec<(String, Cidr)>> {
        Arc::new(
            config
                .trunk
                .iter()
                .filter(|t| t.transport == transport)
                .flat_map(|t| t.allow.iter().map(move |c| (t.name.clone(), *c)))
                .collect(),
        )
    };
    if let Some(addr) = config.sip.listen_tls {
        let tls = config
            .sip
            .tls
            .as_ref()
            .context("sip.listen_tls needs [sip.tls] (validation should have caught this)")?;
        let acceptor = tls_acceptor(&tls.cert_file, &tls.key_file)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding SIP/TLS on tcp {addr} (sip.listen_tls)"))?;
        let allow = allowed_for(Transport::Tls);
        kernel_filter(SockRef::from(&listener), &allow, "sip.listen_tls");
        tracing::info!(listen = %addr, ranges = allow.len(), "SIP over TLS listening; other sources get no SYN-ACK and no handshake");
        tokio::spawn(tls_accept_loop(listener, acceptor, allow, counters.clone()));
    }
    if let Some(addr) = config.sip.listen_udp {
        let sock = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding SIP/UDP on udp {addr} (sip.listen_udp)"))?;
        let allow = allowed_for(Transport::Udp);
        kernel_filter(SockRef::from(&sock), &allow, "sip.listen_udp");
        tracing::info!(listen = %addr, ranges = allow.len(), "SIP over UDP listening");
        tokio::spawn(udp_filter_loop(sock, allow, counters.clone()));
    }
    if let Some(addr) = config.sip.listen_tcp {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding SIP/TCP on tcp {addr} (sip.listen_tcp)"))?;
        let allow = allowed_for(Transport::Tcp);
        kernel_filter(SockRef::from(&listener), &allow, "sip.listen_tcp");
        tracing::info!(listen = %addr, ranges = allow.len(), "SIP over TCP listening");
        tokio::spawn(tcp_filter_loop(listener, allow, counters.clone()));
    }
    let pbx_only: Arc<Vec<(String, Cidr)>> = Arc::new(vec![(
        "pbx".to_owned(),
        Cidr::from(ipnet::IpNet::from(config.pbx.address.ip())),
    )]);
    let pbx_sock = UdpSocket::bind(config.pbx.listen).await.with_context(|| {
        format!(
            "binding the LAN leg on udp {} (pbx.listen)",
            config.pbx.listen
        )
    })?;
    kernel_filter(SockRef::from(&pbx_sock), &pbx_only, "pbx.listen");
    tracing::info!(listen = %config.pbx.listen, pbx = %config.pbx.address, "LAN leg to the PBX bound");
    tokio::spawn(udp_filter_loop(pbx_sock, pbx_only, counters.clone()));

    if let Some(addr) = config.admin.metrics_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics on tcp {addr} (admin.metrics_listen)"))?;
        tracing::info!(listen = %addr, "metrics served at /metrics");
        tokio::spawn(metrics_loop(listener, counters.clone(), wireguard.clone()));
    }
    tracing::info!(
        rtp = %format!("{}-{}", config.media.port_min, config.media.port_max),
        "media port range reserved (ports open per call)"
    );

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!(signal = "SIGTERM", "shutting down"); break; }
            _ = int.recv() => { tracing::info!(signal = "SIGINT", "shutting down"); break; }
            _ = hup.recv() => {
                tracing::info!(signal = "SIGHUP", "reloading the peers file");
                reload.notify_one();
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Lets the kernel drop non-allowlisted sources (no SYN-ACK, no queueing). If the list is
/// too large for a socket filter the userspace check still drops them, later.
fn kernel_filter(socket: SockRef<'_>, allow: &[(String, Cidr)], key: &str) {
    let nets: Vec<ipnet::IpNet> = allow.iter().map(|(_, c)| c.net()).collect();
    if let Err(e) = drawbridge_transport::source_filter::attach(socket, &nets) {
        tracing::warn!(listener = key, error = %e, "kernel source filter not attached; filtering in userspace only");
    }
}

fn allowed(list: &[(String, Cidr)], ip: IpAddr) -> Option<&str> {
    let ip = canonical(ip);
    list.iter()
        .find(|(_, c)| c.contains(&ip))
        .map(|(name, _)| name.as_str())
}

/// An IPv4 peer on a dual-stack socket shows up as `::ffff:a.b.c.d`; compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading {} (sip.tls.cert_file)", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {} (sip.tls.cert_file)", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!(
            "{} (sip.tls.cert_file) holds no PEM certificate",
            cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading {} (sip.tls.key_file)", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not match or are unsupported")?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn tls_accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    allow: Arc<Vec<(String, Cidr)>>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        let Some(trunk) = allowed(&allow, peer.ip()).map(str::to_owned) else {
            counters.dropped_sources.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %peer, listener = "sip-tls", "source not allowlisted; dropped before TLS");
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(mut stream)) => {
                    counters.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(source = %peer, trunk = %trunk, "TLS connection from trunk (SIP relay not built yet)");
                    let mut buf = [0u8; 4096];
                    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                }
                Ok(Err(e)) => {
                    counters
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(source = %peer, trunk = %trunk, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    counters
                        .tls_handshake_failures
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(source = %peer, trunk = %trunk, "TLS handshake timed out");
                }
            }
        });
    }
}

async fn tcp_filter_loop(
    listener: TcpListener,
    allow: Arc<Vec<(String, Cidr)>>,
    counters: Arc<Counters>,
) {
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            continue;
        };
        if allowed(&allow, peer.ip()).is_none() {
            counters.dropped_sources.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %peer, listener = "sip-tcp", "source not allowlisted; dropped");
        }
        drop(tcp);
    }
}

async fn udp_filter_loop(
    sock: UdpSocket,
    allow: Arc<Vec<(String, Cidr)>>,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((_, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        if allowed(&allow, peer.ip()).is_none() {
            counters.dropped_sources.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(source = %peer, "source not allowlisted; datagram dropped");
        }
    }
}

async fn metrics_loop(
    listener: TcpListener,
    counters: Arc<Counters>,
    wireguard: Option<WireGuard>,
) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let counters = counters.clone();
        let wireguard = wireguard.clone();
        tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut req)).await;
            let body = format!(
                "# TYPE drawbridge_dropped_sources_total counter\ndrawbridge_dropped_sources_total {}\n\
                 # TYPE drawbridge_tls_handshakes_total counter\ndrawbridge_tls_handshakes_total {}\n\
                 # TYPE drawbridge_tls_handshake_failures_total counter\ndrawbridge_tls_handshake_failures_total {}\n\
",
                counters.dropped_sources.load(Ordering::Relaxed),
                counters.tls_handshakes.load(Ordering::Relaxed),
                counters.tls_handshake_failures.load(Ordering::Relaxed),
            );
            let mut body = body;
            if let Some(wg) = &wireguard {
                crate::metrics::render_wireguard(&wg.lock(), &mut body);
            }
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tcp.write_all(resp.as_bytes()).await;
        });
    }
}

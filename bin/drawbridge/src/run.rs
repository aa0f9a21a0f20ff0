//! `drawbridge run`: load, bind every listener, serve until SIGINT/SIGTERM.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use drawbridge_config::{Config, ConfigError, Transport};
use drawbridge_media::{InterfaceId, MediaConfig};
use drawbridge_transport::rtp::RtpRelay;
use drawbridge_transport::sip::{
    ConnectionLimits, InboundSink, ListenerConfig, SipTransportConfig, SipTransports,
    TrunkTransport,
};
use drawbridge_transport::wireguard::WireGuard;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::ConfigArg;
use crate::signalling::{
    CallMedia, GuardAdmission, Shared, Signalling, TrunkFlow, b2bua_config, local_ip_towards,
};

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
    crate::limits::raise_open_file_limit();
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

/// Resolves each trunk's host for UDP sending (IP literals need no DNS).
async fn resolve_trunks(config: &Config) -> Vec<Option<SocketAddr>> {
    let mut out = Vec::new();
    for t in &config.trunk {
        let target = (t.host.as_str(), t.effective_port());
        let found = tokio::time::timeout(Duration::from_secs(3), tokio::net::lookup_host(target))
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|mut a| a.next());
        if found.is_none() {
            tracing::warn!(trunk = %t.name, host = %t.host, "trunk host does not resolve now; calls to it fail until it does");
        }
        out.push(found);
    }
    out
}

/// The media relay's interfaces: (public, LAN) as (interface id, bind, SDP address).
fn media_interfaces(
    config: &Config,
    trunks: &[Option<SocketAddr>],
) -> (MediaConfig, (InterfaceId, IpAddr), (InterfaceId, IpAddr)) {
    let m = &config.media;
    let lan_sdp = if m.lan_address.is_unspecified() {
        local_ip_towards(config.pbx.address).unwrap_or(m.lan_address)
    } else {
        m.lan_address
    };
    let public_sdp = m
        .public_advertise
        .or_else(|| (!m.public_address.is_unspecified()).then_some(m.public_address))
        .or_else(|| {
            trunks
                .iter()
                .flatten()
                .next()
                .and_then(|a| local_ip_towards(*a))
        })
        .unwrap_or(m.public_address);
    // Two interfaces on the same (or an unspecified) bind address would hand out the same
    // port twice; then one interface serves both sides.
    let shared = m.public_address == m.lan_address
        || m.public_address.is_unspecified()
        || m.lan_address.is_unspecified();
    let interfaces = if shared {
        vec![if m.public_address.is_unspecified() {
            m.lan_address
        } else {
            m.public_address
        }]
    } else {
        vec![m.public_address, m.lan_address]
    };
    let lan_id = InterfaceId(u8::from(!shared));
    let media = MediaConfig {
        interfaces,
        port_min: m.port_min,
        port_max: m.port_max,
        inactivity_timeout: Duration::from_secs(u64::from(m.inactivity_timeout_secs)),
        quarantine: Duration::from_secs(u64::from(m.port_quarantine_secs)),
        ..MediaConfig::default()
    };
    (media, (InterfaceId(0), public_sdp), (lan_id, lan_sdp))
}

async fn serve(config: Config, path: std::path::PathBuf) -> anyhow::Result<()> {
    // Handlers first: a SIGTERM that arrives while listeners are still being bound must
    // still mean a clean stop (exit 0), not the default action of dying by the signal.
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tracing::info!(config = %path.display(), version = env!("CARGO_PKG_VERSION"), "drawbridge starting");

    let reload = Arc::new(tokio::sync::Notify::new());
    let wireguard = match &config.tunnel {
        Some(t) => Some(crate::tunnel::start(t, reload.clone()).await?),
        None => None,
    };

    // Signalling workers: each owns a share of the calls; the transports hand every
    // message to its owner (`signalling::owner`) without a hop through a dispatcher.
    let workers = crate::signalling::worker_count(&config);
    let (trunk_txs, trunk_rxs) = channels(workers, 4096);
    let (lan_txs, lan_rxs) = channels(workers, 4096);

    // Trunk side: every public listener admits only its trunks' ranges.
    let trunks = SipTransports::bind(
        SipTransportConfig::from_config(&config),
        InboundSink::sharded(trunk_txs.clone(), crate::signalling::owner)
            .shed_when_busy(crate::signalling::starts_new_work, lan_txs.clone()),
    )
    .await
    .context("starting the SIP listeners")?;
    for (transport, addr) in trunks.local_addrs() {
        let what = match transport {
            Transport::Tls => {
                "SIP over TLS listening; other sources get no SYN-ACK and no handshake"
            }
            Transport::Tcp => "SIP over TCP listening",
            Transport::Udp => "SIP over UDP listening",
        };
        tracing::info!(listen = %addr, transport = transport.as_str(), "{what}");
    }
    // LAN side: one UDP socket that admits only the PBX.
    let lan_config = SipTransportConfig {
        listeners: vec![ListenerConfig {
            addr: config.pbx.listen,
            transport: Transport::Udp,
            allow: vec![(ipnet::IpNet::from(config.pbx.address.ip()), 0)],
            kernel_filter: true,
        }],
        tls: None,
        trunks: vec![TrunkTransport {
            name: "pbx".to_owned(),
            tls: drawbridge_config::TrunkTlsConfig::default(),
        }],
        limits: ConnectionLimits::default(),
        sip_limits: drawbridge_sip::Limits {
            max_message_size: config.guard.max_message_size,
            max_headers: config.guard.max_headers,
            max_via: config.guard.max_via,
            max_line_length: config.guard.max_line_length,
        },
    };
    let lan = SipTransports::bind(
        lan_config,
        InboundSink::sharded(lan_txs, crate::signalling::owner)
            .shed_when_busy(crate::signalling::starts_new_work, trunk_txs),
    )
    .await
    .with_context(|| {
        format!(
            "binding the LAN leg on udp {} (pbx.listen)",
            config.pbx.listen
        )
    })?;
    tracing::info!(listen = %config.pbx.listen, pbx = %config.pbx.address, "LAN leg to the PBX bound");

    let trunk_udp = resolve_trunks(&config).await;
    let (media_config, public, lan_face) = media_interfaces(&config, &trunk_udp);
    if public.1.is_unspecified() {
        tracing::warn!(
            "no public media address: set media.public_advertise (or media.public_address); until then SDP towards trunks carries 0.0.0.0 and calls have no audio"
        );
    }
    if lan_face.1.is_unspecified() {
        tracing::warn!(
            "no LAN media address: set media.lan_address; until then SDP towards the PBX carries 0.0.0.0 and calls have no audio"
        );
    }
    let (media_tx, media_rx) = mpsc::channel(1024);
    let relay = RtpRelay::new(media_config, media_tx).context("setting up the media relay")?;
    tracing::info!(
        rtp = %format!("{}-{}", config.media.port_min, config.media.port_max),
        public_sdp = %public.1,
        lan_sdp = %lan_face.1,
        "media relay ready (ports open per call)"
    );
    let mut secret = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let secret = u64::from_le_bytes(secret);
    let guard = drawbridge_guard::Guard::from_config(&config).context("setting up the guard")?;
    let shared = Arc::new(Shared {
        guard: Mutex::new(guard),
        trunks: trunks.clone(),
        lan: lan.clone(),
        trunk_udp: trunk_udp.clone(),
        relay: relay.clone(),
        max_call: Duration::from_secs(u64::from(config.guard.max_call_duration_secs)),
        trunk_names: config.trunk.iter().map(|t| t.name.clone()).collect(),
        stats: (0..workers).map(|_| Mutex::default()).collect(),
    });
    // Media timeouts go to the worker that owns the call; new trunk connections to all
    // (and every trunk connection opening or closing, through `flow_events`).
    let (media_txs, media_rxs) = channels(workers, 1024);
    tokio::spawn(route_media_events(media_rx, media_txs));
    let (flows_tx, flows_rx) = mpsc::channel(16);
    let (flow_txs, flow_rxs) = channels(workers, 16);
    tokio::spawn(broadcast_trunk_flows(flows_rx, flow_txs));
    crate::signalling::spawn_trunk_connectors(&config, trunks.clone(), flows_tx);
    let receivers = trunk_rxs
        .into_iter()
        .zip(lan_rxs)
        .zip(media_rxs)
        .zip(flow_rxs);
    for (index, (((from_trunks, from_lan), media_events), trunk_flows)) in receivers.enumerate() {
        let media = CallMedia {
            relay: relay.clone(),
            public,
            lan: lan_face,
            calls: std::collections::HashMap::new(),
            trunk_nat: config.trunk.iter().map(|t| t.media_nat).collect(),
        };
        let shard = drawbridge_b2bua::Shard::new(index, workers);
        let mut b2bua = drawbridge_b2bua::B2bua::new(
            b2bua_config(&config, &trunk_udp, secret, shard),
            Box::new(media),
        );
        b2bua.set_admission(Box::new(GuardAdmission {
            shared: shared.clone(),
            tickets: std::collections::HashMap::new(),
        }));
        let worker = Signalling {
            index,
            b2bua,
            started: std::collections::HashMap::new(),
            shared: shared.clone(),
        };
        // Subscribed before the worker starts: it hears about every connection from here.
        let flow_events = trunks.flow_events();
        tokio::spawn(worker.run(
            from_trunks,
            from_lan,
            media_events,
            trunk_flows,
            flow_events,
        ));
    }
    tracing::info!(workers, "signalling workers started");

    if let Some(addr) = config.admin.metrics_listen {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding metrics on tcp {addr} (admin.metrics_listen)"))?;
        tracing::info!(listen = %addr, "metrics served at /metrics");
        tokio::spawn(metrics_loop(listener, shared.clone(), wireguard.clone()));
    }

    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!(signal = "SIGTERM", "shutting down"); break; }
            _ = int.recv() => { tracing::info!(signal = "SIGINT", "shutting down"); break; }
            _ = hup.recv() => {
                tracing::info!(signal = "SIGHUP", "reloading the peers file and the TLS certificate");
                reload.notify_one();
                if let Err(e) = trunks.reload_certificate() {
                    tracing::warn!(error = %e, "TLS certificate not reloaded; the previous one stays in use");
                }
            }
        }
    }
    trunks.shutdown();
    lan.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// One bounded channel per worker, senders and receivers in worker order.
fn channels<T>(workers: usize, capacity: usize) -> (Vec<mpsc::Sender<T>>, Vec<mpsc::Receiver<T>>) {
    (0..workers).map(|_| mpsc::channel(capacity)).unzip()
}

/// Hands each media event to the worker that owns its call.
async fn route_media_events(
    mut events: mpsc::Receiver<drawbridge_media::MediaEvent>,
    workers: Vec<mpsc::Sender<drawbridge_media::MediaEvent>>,
) {
    while let Some(e) = events.recv().await {
        let drawbridge_media::MediaEvent::TimedOut { tag, .. } = &e else {
            continue;
        };
        let owner = drawbridge_b2bua::Shard::of_call(drawbridge_b2bua::CallHandle(*tag));
        if let Some(w) = workers.get(owner) {
            let _ = w.send(e).await;
        }
    }
}

/// Tells every worker about each new trunk connection.
async fn broadcast_trunk_flows(
    mut flows: mpsc::Receiver<TrunkFlow>,
    workers: Vec<mpsc::Sender<TrunkFlow>>,
) {
    while let Some(f) = flows.recv().await {
        for w in &workers {
            let _ = w.send(f.clone()).await;
        }
    }
}

async fn metrics_loop(listener: TcpListener, cores: Arc<Shared>, wireguard: Option<WireGuard>) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let cores = cores.clone();
        let wireguard = wireguard.clone();
        tokio::spawn(async move {
            let mut req = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut req)).await;
            let mut body = cores.render_metrics();
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

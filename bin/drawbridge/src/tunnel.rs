//! Assembly of the WireGuard side: the server from the configuration and the peers file,
//! and the reload of that file (SIGHUP or a change on disk) without a restart.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use drawbridge_config::{PeersFile, TunnelConfig};
use drawbridge_transport::wireguard::{Service, WireGuard};
use drawbridge_tunnel::{PeerSpec, Server, ServerConfig, UdpPorts, keys};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

/// How often the peers file is checked for changes.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Binds the WireGuard sockets, builds the server and starts its tasks and the peers
/// watcher. `reload` is notified on SIGHUP.
pub(crate) async fn start(
    t: &TunnelConfig,
    reload: std::sync::Arc<Notify>,
) -> anyhow::Result<WireGuard> {
    let text = std::fs::read_to_string(&t.private_key_file).with_context(|| {
        format!(
            "reading {} (tunnel.private_key_file)",
            t.private_key_file.display()
        )
    })?;
    let private = keys::decode(&text).context("tunnel.private_key_file")?;
    let inner_v4 = t.address.iter().find_map(|n| match n.addr() {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    });
    let inner_v6 = t.address.iter().find_map(|n| match n.addr() {
        IpAddr::V6(a) => Some(a),
        IpAddr::V4(_) => None,
    });
    let mut ports = UdpPorts::none();
    let mut services = HashMap::new();
    if let Some(p) = t.echo_port {
        ports.open(p);
        services.insert(p, Service::Echo);
    }
    let mut config = ServerConfig::new(private, inner_v4, inner_v6, ports);
    config.handshakes_per_second = t.handshakes_per_second;
    let peers = load_peers(&t.peers_file).context("loading the peers file")?;
    let count = peers.iter().filter(|p| p.enabled).count();
    let server = Server::new(config, peers).context("starting the WireGuard server")?;

    let mut sockets = Vec::new();
    for addr in &t.listen {
        let s = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding WireGuard on udp {addr} (tunnel.listen)"))?;
        sockets.push(s);
    }
    let wg =
        WireGuard::spawn(server, sockets, services).context("setting up the WireGuard sockets")?;
    let inner: Vec<String> = t.address.iter().map(|a| a.addr().to_string()).collect();
    for addr in &t.listen {
        tracing::info!(
            listen = %addr,
            public_key = %keys::encode(&keys::public_of(&private)),
            peers = count,
            inner = %inner.join(","),
            echo_port = ?t.echo_port,
            "WireGuard listening"
        );
    }
    tokio::spawn(watch_peers(t.peers_file.clone(), wg.clone(), reload));
    Ok(wg)
}

/// Reads the peers file into the server's form. A peer with an invalid key cannot be in
/// a loaded file (the file is validated), so every entry converts.
fn load_peers(path: &Path) -> anyhow::Result<Vec<PeerSpec>> {
    let file = PeersFile::load(path)?;
    Ok(file
        .peer
        .iter()
        .filter_map(|p| {
            let mut spec = PeerSpec::new(p.name.clone(), p.key_bytes()?, p.addresses.clone());
            spec.enabled = p.enabled;
            Some(spec)
        })
        .collect())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Applies the peers file whenever it changes on disk or SIGHUP arrives. A file that does
/// not load keeps the previous list in force (a typo must not cut everyone off).
async fn watch_peers(path: PathBuf, wg: WireGuard, reload: std::sync::Arc<Notify>) {
    let mut seen = modified(&path);
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {
                let now = modified(&path);
                if now == seen {
                    continue;
                }
                seen = now;
            }
            () = reload.notified() => { seen = modified(&path); }
        }
        match load_peers(&path) {
            Ok(peers) => {
                tracing::info!(file = %path.display(), peers = peers.len(), "peers file changed; applying");
                wg.set_peers(peers).await;
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "peers file not applied; the previous peers stay in force")
            }
        }
    }
}

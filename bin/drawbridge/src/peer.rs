//! `drawbridge peer …`: onboarding of remote workers (wg-easy-grade, in a CLI).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use drawbridge_config::{Config, PeerEntry, PeersFile, TunnelConfig};
use drawbridge_tunnel::keys;
use qrcode::QrCode;

use crate::cli::{PeerAddArgs, PeerCommand};

pub(crate) fn peer(cmd: &PeerCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PeerCommand::Add(args) => add(args),
        PeerCommand::List { config } => list(&load(config)?),
        PeerCommand::Remove { name, config } => change(&load(config)?, name, |f| {
            f.remove(name).map(|_| "removed; cut off at once")
        }),
        PeerCommand::Disable { name, config } => change(&load(config)?, name, |f| {
            f.set_enabled(name, false)
                .map(|()| "disabled; cut off at once")
        }),
        PeerCommand::Enable { name, config } => change(&load(config)?, name, |f| {
            f.set_enabled(name, true).map(|()| "enabled")
        }),
    }
}

fn load(arg: &crate::cli::ConfigArg) -> anyhow::Result<Config> {
    let path = arg.path()?;
    drawbridge_config::load(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn tunnel(config: &Config) -> anyhow::Result<&TunnelConfig> {
    config
        .tunnel
        .as_ref()
        .context("the configuration has no [tunnel] section, so there are no WireGuard peers")
}

fn add(args: &PeerAddArgs) -> anyhow::Result<ExitCode> {
    let config = load(&args.config)?;
    let t = tunnel(&config)?;
    if !drawbridge_config::valid_name(&args.name) {
        bail!(drawbridge_config::PeersError::BadName(args.name.clone()));
    }
    // The server key may not exist before the first `run`; create it now if allowed.
    crate::secrets::ensure(&config)?;
    let server_private = std::fs::read_to_string(&t.private_key_file).with_context(|| {
        format!(
            "reading {} (tunnel.private_key_file)",
            t.private_key_file.display()
        )
    })?;
    let server_public =
        keys::public_of(&keys::decode(&server_private).context("tunnel.private_key_file")?);

    let mut peers = PeersFile::load(&t.peers_file)?;
    let (private, public) = match &args.public_key {
        Some(k) => (None, keys::decode(k).context("--public-key")?),
        None => {
            let p = keys::generate_private();
            (Some(p), keys::public_of(&p))
        }
    };
    let addresses = peers.next_free_addresses(&t.address)?;
    peers.add(PeerEntry {
        name: args.name.clone(),
        public_key: keys::encode(&public),
        addresses: addresses.clone(),
        extensions: args.extension.clone(),
        enabled: true,
        created: rfc3339_now(),
    })?;
    peers.save(&t.peers_file)?;

    let text = wg_quick(t, private.as_ref(), &server_public, &addresses);
    put!("{text}");
    if args.qr {
        say!();
        put!("{}", qr_terminal(&text)?);
    }
    if let Some(png) = &args.qr_png {
        write_qr_png(&text, png)?;
        eprintln!("QR code written to {}", png.display());
    }
    let addrs: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    eprintln!(
        "peer {} added ({}; extensions {}) to {}",
        args.name,
        addrs.join(", "),
        if args.extension.is_empty() {
            "none".to_owned()
        } else {
            args.extension.join(", ")
        },
        t.peers_file.display()
    );
    if private.is_some() {
        eprintln!(
            "the private key above is shown once and is not stored: give this config to the phone now"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A wg-quick configuration for the phone: it routes only the SBC's inner addresses.
fn wg_quick(
    t: &TunnelConfig,
    private: Option<&[u8; 32]>,
    server_public: &[u8; 32],
    addresses: &[IpAddr],
) -> String {
    let mut s = String::from("[Interface]\n");
    match private {
        Some(k) => {
            let _ = writeln!(s, "PrivateKey = {}", keys::encode(k));
        }
        None => s.push_str("# PrivateKey = <the private key generated on the phone>\n"),
    }
    let own: Vec<String> = addresses
        .iter()
        .map(|a| format!("{a}/{}", if a.is_ipv4() { 32 } else { 128 }))
        .collect();
    let _ = writeln!(s, "Address = {}", own.join(", "));
    s.push_str("\n[Peer]\n");
    let _ = writeln!(s, "PublicKey = {}", keys::encode(server_public));
    let endpoint = t.endpoint.clone().unwrap_or_else(|| {
        t.listen
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    });
    let _ = writeln!(s, "Endpoint = {endpoint}");
    let allowed: Vec<String> = t
        .address
        .iter()
        .map(|n| format!("{}/{}", n.addr(), n.max_prefix_len()))
        .collect();
    let _ = writeln!(s, "AllowedIPs = {}", allowed.join(", "));
    let _ = writeln!(s, "PersistentKeepalive = {}", t.persistent_keepalive);
    s
}

fn list(config: &Config) -> anyhow::Result<ExitCode> {
    let t = tunnel(config)?;
    let peers = PeersFile::load(&t.peers_file)?;
    if peers.peer.is_empty() {
        say!(
            "no peers in {}; add one with `drawbridge peer add NAME --extension EXT`",
            t.peers_file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "{:<20} {:<8} {:<28} {:<16} {:<46} CREATED",
        "NAME",
        "STATE",
        "ADDRESSES",
        "EXTENSIONS",
        "PUBLIC KEY"
    );
    for p in &peers.peer {
        let addrs: Vec<String> = p.addresses.iter().map(ToString::to_string).collect();
        say!(
            "{:<20} {:<8} {:<28} {:<16} {:<46} {}",
            p.name,
            if p.enabled { "enabled" } else { "disabled" },
            addrs.join(","),
            p.extensions.join(","),
            p.public_key,
            p.created
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn change(
    config: &Config,
    name: &str,
    f: impl FnOnce(&mut PeersFile) -> Result<&'static str, drawbridge_config::PeersError>,
) -> anyhow::Result<ExitCode> {
    let t = tunnel(config)?;
    let mut peers = PeersFile::load(&t.peers_file)?;
    let what = f(&mut peers)?;
    peers.save(&t.peers_file)?;
    eprintln!("peer {name} {what} (a running drawbridge applies it without a restart)");
    Ok(ExitCode::SUCCESS)
}

fn qr_terminal(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes()).context("the config is too long for a QR code")?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build()
        + "\n")
}

fn write_qr_png(text: &str, path: &Path) -> anyhow::Result<()> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = QrCode::new(text.as_bytes()).context("the config is too long for a QR code")?;
    let width = code.width();
    let colors = code.to_colors();
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = ((i % width + QUIET) * SCALE, (i / width + QUIET) * SCALE);
            for row in pixels.chunks_mut(side).skip(y).take(SCALE) {
                row[x..x + SCALE].fill(0);
            }
        }
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let side32 = u32::try_from(side).context("QR image too large")?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("writing the PNG header")?;
    writer
        .write_image_data(&pixels)
        .context("writing the PNG image")?;
    Ok(())
}

/// Now as RFC 3339 UTC, without a date library (days-from-civil, Howard Hinnant).
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

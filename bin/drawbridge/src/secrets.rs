//! First-run creation of key material the configuration asks drawbridge to generate.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use drawbridge_config::Config;
use drawbridge_tunnel::keys;

/// Creates the WireGuard key and the self-signed TLS certificate if the configuration
/// allows it and they do not exist yet. Existing files are never touched.
pub(crate) fn ensure(config: &Config) -> anyhow::Result<()> {
    if let Some(t) = &config.tunnel
        && t.generate_key
        && !t.private_key_file.exists()
    {
        let key = keys::generate_private();
        write_private(
            &t.private_key_file,
            format!("{}\n", keys::encode(&key)).as_bytes(),
        )?;
        tracing::info!(
            path = %t.private_key_file.display(),
            public_key = %keys::encode(&keys::public_of(&key)),
            "generated a new WireGuard server key"
        );
    }
    if let Some(tls) = &config.sip.tls
        && tls.generate_self_signed
        && !tls.cert_file.exists()
        && !tls.key_file.exists()
    {
        let host = config
            .sip
            .advertised_host
            .clone()
            .unwrap_or_else(|| "drawbridge.invalid".to_owned());
        let key = rcgen::KeyPair::generate().context("generating a TLS key")?;
        let params =
            rcgen::CertificateParams::new(vec![host.clone()]).context("certificate parameters")?;
        let cert = params
            .self_signed(&key)
            .context("self-signing the TLS certificate")?;
        write_private(&tls.key_file, key.serialize_pem().as_bytes())?;
        write_public(&tls.cert_file, cert.pem().as_bytes())?;
        tracing::warn!(
            cert = %tls.cert_file.display(),
            name = %host,
            "generated a self-signed TLS certificate; trunk providers will usually want one from a CA"
        );
    }
    Ok(())
}

fn create_parent(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn write_private(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    create_parent(path)?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content)
        .with_context(|| format!("writing {}", path.display()))
}

fn write_public(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    create_parent(path)?;
    fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

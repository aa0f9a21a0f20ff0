//! TLS material: PEM loading, the hot-swappable server certificate, per-trunk acceptors
//! (client-certificate verification where a trunk asks for it) and per-trunk client
//! configurations for outbound connections.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use rustls::RootCertStore;
use rustls::client::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::config::{TlsIdentity, TrunkTransport};
use super::error::SetupError;

/// The crypto provider used everywhere in this module: ring (one C crypto library in the
/// tree, shared with boringtun), passed explicitly so no process default is needed.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_chain(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, SetupError> {
    let pem = |source| SetupError::Pem {
        path: path.to_owned(),
        what,
        source,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if chain.is_empty() {
        return Err(SetupError::NoCertificate {
            path: path.to_owned(),
            what,
        });
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, SetupError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| SetupError::Pem {
        path: path.to_owned(),
        what: "private key",
        source,
    })
}

fn load_roots(path: &Path, what: &'static str) -> Result<RootCertStore, SetupError> {
    let mut roots = RootCertStore::empty();
    for cert in load_chain(path, what)? {
        roots.add(cert).map_err(|source| SetupError::BadCa {
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(roots)
}

fn certified_key(
    cert: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, SetupError> {
    let chain = load_chain(cert, "certificate chain")?;
    let der = load_key(key)?;
    let ck = CertifiedKey::from_der(chain, der, provider).map_err(|source| SetupError::BadKey {
        cert: cert.to_owned(),
        key: key.to_owned(),
        source,
    })?;
    Ok(Arc::new(ck))
}

/// The server certificate, swapped in place on reload: handshakes after the swap get
/// the new chain, established connections are not touched.
#[derive(Debug)]
struct HotCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for HotCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Acceptors by trunk: a trunk with `verify_client_ca_file` gets its own `ServerConfig`
/// that demands a client certificate from that CA; the others share one without.
#[derive(Debug)]
struct Acceptors {
    default: Arc<ServerConfig>,
    per_trunk: Vec<Option<Arc<ServerConfig>>>,
}

/// The TLS server side: identity files, the live certificate, the acceptors.
#[derive(Debug)]
pub(crate) struct ServerTls {
    identity: TlsIdentity,
    cert: Arc<HotCert>,
    acceptors: RwLock<Arc<Acceptors>>,
    provider: Arc<CryptoProvider>,
}

impl ServerTls {
    pub(crate) fn new(
        identity: &TlsIdentity,
        trunks: &[TrunkTransport],
    ) -> Result<Self, SetupError> {
        let provider = provider();
        let key = certified_key(&identity.cert_file, &identity.key_file, &provider)?;
        let cert = Arc::new(HotCert(RwLock::new(key)));
        let acceptors = build_acceptors(&cert, trunks, &provider)?;
        Ok(Self {
            identity: identity.clone(),
            cert,
            acceptors: RwLock::new(Arc::new(acceptors)),
            provider,
        })
    }

    /// The acceptor for a connection admitted for `trunk`.
    pub(crate) fn acceptor(&self, trunk: usize) -> TlsAcceptor {
        let a = self
            .acceptors
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        TlsAcceptor::from(
            a.per_trunk
                .get(trunk)
                .and_then(Option::clone)
                .unwrap_or_else(|| a.default.clone()),
        )
    }

    /// Re-reads the certificate, key and client CA files. All or nothing: on an error
    /// the old material stays in use.
    pub(crate) fn reload(&self, trunks: &[TrunkTransport]) -> Result<(), SetupError> {
        let key = certified_key(
            &self.identity.cert_file,
            &self.identity.key_file,
            &self.provider,
        )?;
        let acceptors = build_acceptors(&self.cert, trunks, &self.provider)?;
        *self.cert.0.write().unwrap_or_else(PoisonError::into_inner) = key;
        *self
            .acceptors
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(acceptors);
        Ok(())
    }
}

fn build_acceptors(
    cert: &Arc<HotCert>,
    trunks: &[TrunkTransport],
    provider: &Arc<CryptoProvider>,
) -> Result<Acceptors, SetupError> {
    let resolver: Arc<dyn ResolvesServerCert> = cert.clone();
    let default = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(resolver.clone());
    let mut per_trunk = Vec::with_capacity(trunks.len());
    for t in trunks {
        let Some(ca) = &t.tls.verify_client_ca_file else {
            per_trunk.push(None);
            continue;
        };
        let roots = load_roots(ca, "client CA")?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|source| SetupError::ClientVerifier {
                    trunk: t.name.clone(),
                    path: ca.clone(),
                    source,
                })?;
        let cfg = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(resolver.clone());
        per_trunk.push(Some(Arc::new(cfg)));
    }
    Ok(Acceptors {
        default: Arc::new(default),
        per_trunk,
    })
}

/// Outbound TLS client configurations, built once per trunk.
#[derive(Debug, Default)]
pub(crate) struct ClientTls {
    by_trunk: Mutex<HashMap<usize, Arc<ClientConfig>>>,
    system_roots: OnceLock<Arc<RootCertStore>>,
}

impl ClientTls {
    /// The connector for `trunk` (built on first use, then cached).
    pub(crate) fn connector(
        &self,
        index: usize,
        trunk: &TrunkTransport,
    ) -> Result<TlsConnector, SetupError> {
        if let Some(c) = self
            .by_trunk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&index)
        {
            return Ok(TlsConnector::from(c.clone()));
        }
        let config = Arc::new(self.client_config(trunk)?);
        self.by_trunk
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(index, config.clone());
        Ok(TlsConnector::from(config))
    }

    fn client_config(&self, trunk: &TrunkTransport) -> Result<ClientConfig, SetupError> {
        let provider = provider();
        let roots = match &trunk.tls.ca_file {
            Some(path) => Arc::new(load_roots(path, "trunk CA bundle")?),
            None => self.system_roots(),
        };
        if roots.is_empty() {
            return Err(SetupError::NoSystemRoots {
                trunk: trunk.name.clone(),
            });
        }
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let cfg = match (&trunk.tls.client_cert_file, &trunk.tls.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = load_chain(cert, "client certificate")?;
                let der = load_key(key)?;
                builder
                    .with_client_auth_cert(chain, der)
                    .map_err(|source| SetupError::BadKey {
                        cert: cert.clone(),
                        key: key.clone(),
                        source,
                    })?
            }
            // Config validation requires both or neither.
            _ => builder.with_no_client_auth(),
        };
        Ok(cfg)
    }

    /// The system trust store (OpenSSL's locations: /etc/ssl/certs, SSL_CERT_FILE,
    /// SSL_CERT_DIR), read once. Unparsable entries are skipped.
    fn system_roots(&self) -> Arc<RootCertStore> {
        self.system_roots
            .get_or_init(|| {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!(error = %e, "reading the system trust store");
                }
                let mut roots = RootCertStore::empty();
                let (added, ignored) = roots.add_parsable_certificates(found.certs);
                tracing::debug!(added, ignored, "system trust store loaded");
                Arc::new(roots)
            })
            .clone()
    }
}

//! [`B2buaConfig`]: addresses, trunks, the header allow-list and timers of a [`crate::B2bua`].

use std::time::Duration;

use crate::Flow;

/// Digest credentials drawbridge answers a trunk's 401/407 challenges with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Digest user name.
    pub username: String,
    /// Digest password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password (config dumps, panics, logs).
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Our own SIP address on one side: what goes in our Via and Contact there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertised {
    /// Host name or IP literal (IPv6 in brackets is added when needed).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Advertised {
    /// `host:port` for Via and Contact.
    pub(crate) fn host_port(&self) -> String {
        let mut out = String::with_capacity(self.host.len() + 8);
        self.push_host_port(&mut out);
        out
    }

    /// Appends [`Self::host_port`] to `out`.
    pub(crate) fn push_host_port(&self, out: &mut String) {
        let bracket = self.host.contains(':') && !self.host.starts_with('[');
        if bracket {
            out.push('[');
        }
        out.push_str(&self.host);
        if bracket {
            out.push(']');
        }
        out.push(':');
        crate::text::push_decimal(out, u64::from(self.port));
    }
}

/// One SIP trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// A name for logs and metrics.
    pub name: String,
    /// The provider's host name or address: Request-URI host of outbound calls.
    pub host: String,
    /// Where requests to the trunk go (the transport's flow to it; update it with
    /// [`crate::B2bua::set_trunk_flow`] when a TLS connection is re-established).
    pub flow: Flow,
    /// Credentials for the provider's digest challenges, if it sends any.
    pub credentials: Option<Credentials>,
    /// Our address as the trunk sees it (public name), for Via and Contact.
    pub advertised: Advertised,
    /// Send an OPTIONS keep-alive to the trunk this often and track whether it answers
    /// ([`crate::B2bua::trunk_up`]); `None` sends none.
    pub options_interval: Option<Duration>,
    /// Register the account in [`Trunk::credentials`] with the provider for this many
    /// seconds (the `Expires` asked for; refreshed at half what the provider grants);
    /// `None` registers nothing. Without credentials nothing is registered either.
    pub register_expires: Option<u32>,
}

/// The internal PBX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pbx {
    /// Request-URI host of inbound calls (`sip:<callee>@<domain>`): its domain or address.
    pub domain: String,
    /// Where requests to the PBX go.
    pub flow: Flow,
    /// Our LAN address as the PBX sees it, for Via and Contact.
    pub advertised: Advertised,
}

/// Headers drawbridge builds itself on every leg, or never forwards: an allow-list entry
/// naming one of these is ignored. Via, Route, Record-Route, Path, Contact, From, To,
/// Call-ID, CSeq, Max-Forwards and the body headers are regenerated per leg; User-Agent,
/// Server, Warning, Organization and the authentication headers never cross.
pub const NEVER_CROSS: &[&str] = &[
    "Via",
    "Route",
    "Record-Route",
    "Path",
    "Contact",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Server",
    "Warning",
    "Organization",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authentication-Info",
    "RSeq",
    "RAck",
];

/// The default allow-list: headers that carry no address of either side once filtered.
/// `Allow`, `Supported` and `Require` are filtered to what drawbridge relays;
/// `P-Asserted-Identity`/`P-Preferred-Identity` are rebuilt from the user part only.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "Allow",
    "Supported",
    "Require",
    "Unsupported",
    "Session-Expires",
    "Min-SE",
    "Accept",
    "Content-Disposition",
    "Retry-After",
    "Privacy",
    "P-Asserted-Identity",
];

/// Settings of a [`crate::B2bua`]. Build with [`B2buaConfig::new`], then adjust the
/// public fields.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    /// The PBX.
    pub pbx: Pbx,
    /// The trunks; [`crate::Side::trunk`] indexes this list.
    pub trunks: Vec<Trunk>,
    /// Our address inside the WireGuard tunnel (Via/Contact towards peers); `None`
    /// refuses calls from peers.
    pub tunnel: Option<Advertised>,
    /// Trunk index calls from the PBX leave through.
    pub outbound_trunk: usize,
    /// Header names (case-insensitive) copied from one leg to the other, after the
    /// filtering described on [`DEFAULT_ALLOWED`]. Names in [`NEVER_CROSS`] are ignored.
    pub allowed_headers: Vec<String>,
    /// `User-Agent`/`Server` value drawbridge writes on every leg; `None` writes none.
    pub user_agent: Option<String>,
    /// A call not answered within this time is cancelled (480 to the caller).
    pub ring_timeout: Duration,
    /// A random secret (from the OS at start-up) that makes tags, Call-IDs, branches and
    /// SDP session ids unguessable; the core reads no randomness itself.
    pub secret: u64,
    /// Limits applied to every incoming message.
    pub limits: drawbridge_sip::Limits,
    /// The transaction layer's settings (timers, transaction cap).
    pub transactions: crate::Config,
    /// Cap on concurrent calls; further INVITEs get 503.
    pub max_calls: usize,
    /// Which worker this B2BUA is when several share the calls (see [`crate::Shard`]).
    pub shard: crate::Shard,
}

impl B2buaConfig {
    /// A configuration with one PBX and these trunks, defaults elsewhere.
    pub fn new(pbx: Pbx, trunks: Vec<Trunk>) -> Self {
        Self {
            pbx,
            trunks,
            tunnel: None,
            outbound_trunk: 0,
            allowed_headers: DEFAULT_ALLOWED.iter().map(|s| (*s).to_owned()).collect(),
            user_agent: None,
            ring_timeout: Duration::from_secs(180),
            secret: 0,
            limits: drawbridge_sip::Limits::default(),
            transactions: crate::Config::default(),
            max_calls: 1000,
            shard: crate::Shard::default(),
        }
    }

    /// Whether header `name` may cross to the other leg.
    pub(crate) fn allows(&self, name: &str) -> bool {
        !NEVER_CROSS.iter().any(|n| n.eq_ignore_ascii_case(name))
            && self
                .allowed_headers
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
    }
}

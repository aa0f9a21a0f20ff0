//! The command line: a contract that scripts and tests rely on, so its forms stay fixed.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// drawbridge: WireGuard for remote workers, SIP-TLS for trunks, a B2BUA with topology
/// hiding to the PBX.
#[derive(Debug, Parser)]
#[command(name = "drawbridge", version, about, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Subcommands. `peer`, `status` and `nftables` are reserved for their features.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the SBC and serve until SIGINT or SIGTERM.
    Run(ConfigArg),
    /// Validate the configuration and show what would be exposed to whom.
    Check(ConfigArg),
    /// Print a new WireGuard private key (base64), like `wg genkey`.
    Keygen,
    /// Read a private key on stdin and print its public key, like `wg pubkey`.
    Pubkey,
    /// Print the version.
    Version,
    /// Manage WireGuard peers (remote workers).
    #[command(subcommand)]
    Peer(PeerCommand),
}

/// `drawbridge peer …`
#[derive(Debug, Subcommand)]
pub(crate) enum PeerCommand {
    /// Add a peer: new key pair, next free inner address; prints the phone's wg-quick config.
    Add(PeerAddArgs),
    /// List peers.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a peer; a running drawbridge cuts it off at once.
    Remove {
        /// The peer's name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Disable a peer (kept in the file, cannot connect).
    Disable {
        /// The peer's name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Enable a disabled peer again.
    Enable {
        /// The peer's name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Arguments of `drawbridge peer add`.
#[derive(Debug, Args)]
pub(crate) struct PeerAddArgs {
    /// Name of the peer (letters, digits, '.', '_', '-').
    pub(crate) name: String,
    /// Extension the peer may register (repeat for several).
    #[arg(long, short = 'e', value_name = "EXT")]
    pub(crate) extension: Vec<String>,
    /// Register a public key generated on the phone instead of generating a key pair.
    #[arg(long, value_name = "KEY")]
    pub(crate) public_key: Option<String>,
    /// Also print the config as a QR code in the terminal.
    #[arg(long)]
    pub(crate) qr: bool,
    /// Also write the config as a QR code PNG.
    #[arg(long, value_name = "FILE")]
    pub(crate) qr_png: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) config: ConfigArg,
}

/// The configuration file option shared by subcommands.
#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// Configuration file; default config/drawbridge.toml, then /etc/drawbridge/drawbridge.toml.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

impl ConfigArg {
    /// The file to load: the one given, or the first default that exists.
    pub(crate) fn path(&self) -> Result<PathBuf, drawbridge_config::ConfigError> {
        match &self.config {
            Some(p) => Ok(p.clone()),
            None => drawbridge_config::find_default(),
        }
    }
}

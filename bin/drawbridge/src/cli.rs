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

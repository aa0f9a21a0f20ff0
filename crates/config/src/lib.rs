//! Typed configuration for drawbridge.
//!
//! This crate owns the configuration file format for the whole product, loads it
//! (a TOML file, then `DRAWBRIDGE_` environment variables with `__` between nested keys)
//! and validates it. Validation reports **every** problem at once, each naming the key,
//! the bad value and what would be valid, so that one run of `drawbridge check` is enough
//! to fix a file.
//!
//! It does not open sockets, start anything or read secrets into memory beyond checking
//! that the files named in the configuration can be read.
#![warn(missing_docs)]

mod cidr;
mod error;
mod load;
mod model;
mod peers;
mod validate;

pub use cidr::{Cidr, CidrParseError};
pub use error::{ConfigError, Problem};
pub use load::{DEFAULT_PATHS, ENV_PREFIX, find_default, load, load_str};
pub use model::*;
pub use peers::{PeerEntry, PeersError, PeersFile, valid_extension, valid_name};
pub use validate::validate;

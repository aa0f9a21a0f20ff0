//! The peers file: who may connect over WireGuard, with which inner addresses, and which
//! extensions each may register.
//!
//! A TOML file a person can read and diff:
//!
//! ```toml
//! [[peer]]
//! name = "alice"
//! public_key = "q2M1dbXk…="
//! addresses = ["100.64.0.2", "fd64::2"]
//! extensions = ["101"]
//! enabled = true
//! created = "2026-11-26T20:15:00Z"
//! ```
//!
//! A missing file is an empty list (nobody may connect). Writes go to a temporary file
//! that is renamed over the old one, so a running drawbridge never reads half a file.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// One remote worker.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Unique name (letters, digits, `.`, `_`, `-`), used in logs and commands.
    pub name: String,
    /// The peer's WireGuard public key (base64): its identity.
    pub public_key: String,
    /// The peer's inner addresses; packets from any other inner source are dropped.
    pub addresses: Vec<IpAddr>,
    /// Extensions this peer may register and call from.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// A disabled peer is kept in the file but cannot connect.
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    /// When the peer was added (RFC 3339, UTC).
    #[serde(default)]
    pub created: String,
}

fn enabled_default() -> bool {
    true
}

impl PeerEntry {
    /// The decoded public key, if it is valid base64 of 32 bytes.
    pub fn key_bytes(&self) -> Option<[u8; 32]> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.public_key.trim())
            .ok()?;
        <[u8; 32]>::try_from(bytes.as_slice()).ok()
    }
}

/// The whole peers file.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeersFile {
    /// Every peer, in the order they were added.
    #[serde(default)]
    pub peer: Vec<PeerEntry>,
}

/// Why the peers file could not be used or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeersError {
    /// The file exists but could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The peers file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{path}: {message}")]
    Syntax {
        /// The peers file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// The content is inconsistent; every problem is listed.
    #[error("{path}: {}", .problems.join("; "))]
    Invalid {
        /// The peers file.
        path: PathBuf,
        /// One line per problem, naming the peer.
        problems: Vec<String>,
    },
    /// A peer with this name does not exist.
    #[error("no peer named {0:?}; `drawbridge peer list` shows the names")]
    NoSuchPeer(String),
    /// A peer with this name already exists.
    #[error("a peer named {0:?} already exists; pick another name or remove it first")]
    Exists(String),
    /// A peer name with characters that would be awkward in logs or shells.
    #[error("peer name {0:?} is not valid: use 1-32 letters, digits, '.', '_' or '-'")]
    BadName(String),
    /// An extension that is not a plain dial string.
    #[error(
        "extension {0:?} is not valid: use 1-32 digits (optionally with a leading +) or letters, digits, '.', '_', '-'"
    )]
    BadExtension(String),
    /// The key is already used by another peer.
    #[error("public key already belongs to peer {0:?}")]
    DuplicateKey(String),
    /// Every address of a tunnel subnet is taken.
    #[error("no free inner address left in {0}; widen tunnel.address")]
    NoFreeAddress(IpNet),
}

impl PeersFile {
    /// Reads the file; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Self, PeersError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(PeersError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        Self::parse(&text, path)
    }

    /// Parses and checks the content of a peers file (`path` is only used in messages).
    pub fn parse(text: &str, path: &Path) -> Result<Self, PeersError> {
        let file: Self = toml::from_str(text).map_err(|e| PeersError::Syntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let problems = file.problems();
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(PeersError::Invalid {
                path: path.to_owned(),
                problems,
            })
        }
    }

    /// Every inconsistency: bad or duplicate names, keys and addresses.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut names = HashSet::new();
        let mut keys = HashSet::new();
        let mut addrs = HashSet::new();
        for (i, p) in self.peer.iter().enumerate() {
            let at = format!("peer[{i}] ({})", p.name);
            if !valid_name(&p.name) {
                out.push(format!("{at}: {}", PeersError::BadName(p.name.clone())));
            }
            if !names.insert(p.name.as_str()) {
                out.push(format!("{at}: the name is used twice"));
            }
            match p.key_bytes() {
                None => out.push(format!(
                    "{at}: public_key is not a WireGuard key (44 base64 characters)"
                )),
                Some(k) => {
                    if !keys.insert(k) {
                        out.push(format!("{at}: public_key is used by another peer"));
                    }
                }
            }
            if p.addresses.is_empty() {
                out.push(format!("{at}: no addresses; the peer could send nothing"));
            }
            for a in &p.addresses {
                if !addrs.insert(*a) {
                    out.push(format!("{at}: address {a} is used by another peer"));
                }
            }
            for e in &p.extensions {
                if !valid_extension(e) {
                    out.push(format!("{at}: {}", PeersError::BadExtension(e.clone())));
                }
            }
        }
        out
    }

    /// The peer with this name.
    pub fn get(&self, name: &str) -> Option<&PeerEntry> {
        self.peer.iter().find(|p| p.name == name)
    }

    /// Adds a peer after checking its name, key and extensions.
    pub fn add(&mut self, entry: PeerEntry) -> Result<(), PeersError> {
        if !valid_name(&entry.name) {
            return Err(PeersError::BadName(entry.name));
        }
        if self.get(&entry.name).is_some() {
            return Err(PeersError::Exists(entry.name));
        }
        if let Some(e) = entry.extensions.iter().find(|e| !valid_extension(e)) {
            return Err(PeersError::BadExtension(e.clone()));
        }
        if let Some(other) = self
            .peer
            .iter()
            .find(|p| p.key_bytes().is_some() && p.key_bytes() == entry.key_bytes())
        {
            return Err(PeersError::DuplicateKey(other.name.clone()));
        }
        self.peer.push(entry);
        Ok(())
    }

    /// Removes a peer by name and returns it.
    pub fn remove(&mut self, name: &str) -> Result<PeerEntry, PeersError> {
        let i = self
            .peer
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| PeersError::NoSuchPeer(name.to_owned()))?;
        Ok(self.peer.remove(i))
    }

    /// Enables or disables a peer by name.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> Result<(), PeersError> {
        let p = self
            .peer
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| PeersError::NoSuchPeer(name.to_owned()))?;
        p.enabled = enabled;
        Ok(())
    }

    /// The next free host address in each of the SBC's tunnel subnets (the SBC's own
    /// address and addresses used by any peer, enabled or not, are skipped).
    pub fn next_free_addresses(&self, tunnel: &[IpNet]) -> Result<Vec<IpAddr>, PeersError> {
        let used: HashSet<IpAddr> = self
            .peer
            .iter()
            .flat_map(|p| p.addresses.iter().copied())
            .collect();
        tunnel
            .iter()
            .map(|net| {
                let own = net.addr();
                net.hosts()
                    .take(1 << 20) // bounded even for a /64
                    .find(|a| *a != own && *a != net.network() && !used.contains(a))
                    .ok_or(PeersError::NoFreeAddress(*net))
            })
            .collect()
    }

    /// Writes the file atomically (temporary file + rename), mode 0640 on Unix.
    pub fn save(&self, path: &Path) -> Result<(), PeersError> {
        let io = |source| PeersError::Io {
            path: path.to_owned(),
            source,
        };
        let mut text = String::from(
            "# drawbridge peers: managed with `drawbridge peer add|list|remove|disable`.\n\
             # Safe to edit by hand; a running drawbridge picks up changes (SIGHUP or file change).\n\n",
        );
        text.push_str(&toml::to_string_pretty(self).map_err(|e| io(std::io::Error::other(e)))?);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("toml.tmp");
        {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
            let mut f = options.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        fs::rename(&tmp, path).map_err(io)
    }
}

/// Peer names: 1-32 of `[A-Za-z0-9._-]`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Extensions: 1-32 of `[A-Za-z0-9._+-]`, the form a SIP user part takes for a phone.
pub fn valid_extension(ext: &str) -> bool {
    (1..=32).contains(&ext.len())
        && ext
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, key_byte: u8, addr: &str) -> PeerEntry {
        PeerEntry {
            name: name.into(),
            public_key: base64::engine::general_purpose::STANDARD.encode([key_byte; 32]),
            addresses: vec![addr.parse().unwrap()],
            extensions: vec!["101".into()],
            enabled: true,
            created: "2026-11-26T00:00:00Z".into(),
        }
    }

    #[test]
    fn round_trip_through_a_file() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("peers.toml");
        let mut f = PeersFile::default();
        f.add(entry("alice", 1, "100.64.0.2")).unwrap();
        f.add(entry("bob", 2, "100.64.0.3")).unwrap();
        f.save(&path).unwrap();
        assert_eq!(PeersFile::load(&path).unwrap(), f);
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .contains("name = \"alice\"")
        );
    }

    #[test]
    fn missing_file_is_empty() {
        assert!(
            PeersFile::load(Path::new("/nonexistent/peers.toml"))
                .unwrap()
                .peer
                .is_empty()
        );
    }

    #[test]
    fn next_free_skips_own_and_used() {
        let mut f = PeersFile::default();
        let nets: Vec<IpNet> = vec![
            "100.64.0.1/24".parse().unwrap(),
            "fd64::1/64".parse().unwrap(),
        ];
        assert_eq!(
            f.next_free_addresses(&nets).unwrap(),
            vec![
                "100.64.0.2".parse::<IpAddr>().unwrap(),
                "fd64::2".parse().unwrap()
            ]
        );
        f.add(entry("alice", 1, "100.64.0.2")).unwrap();
        assert_eq!(
            f.next_free_addresses(&nets[..1]).unwrap(),
            vec!["100.64.0.3".parse::<IpAddr>().unwrap()]
        );
        let tiny: Vec<IpNet> = vec!["100.64.0.1/30".parse().unwrap()];
        assert!(matches!(
            f.next_free_addresses(&tiny),
            Err(PeersError::NoFreeAddress(_))
        ));
    }

    #[test]
    fn duplicates_and_bad_values_are_refused() {
        let mut f = PeersFile::default();
        f.add(entry("alice", 1, "100.64.0.2")).unwrap();
        assert!(matches!(
            f.add(entry("alice", 2, "100.64.0.3")),
            Err(PeersError::Exists(_))
        ));
        assert!(
            matches!(f.add(entry("carol", 1, "100.64.0.4")), Err(PeersError::DuplicateKey(n)) if n == "alice")
        );
        assert!(matches!(
            f.add(entry("bad name", 3, "100.64.0.5")),
            Err(PeersError::BadName(_))
        ));
        let mut e = entry("dave", 4, "100.64.0.6");
        e.extensions = vec!["10 1".into()];
        assert!(matches!(f.add(e), Err(PeersError::BadExtension(_))));
    }

    #[test]
    fn hand_edited_conflicts_are_reported() {
        let text = r#"
[[peer]]
name = "a"
public_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
addresses = ["100.64.0.2"]
[[peer]]
name = "b"
public_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
addresses = ["100.64.0.2"]
"#;
        let err = PeersFile::parse(text, Path::new("peers.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_key is used by another peer"), "{err}");
        assert!(
            err.contains("address 100.64.0.2 is used by another peer"),
            "{err}"
        );
    }

    #[test]
    fn remove_and_disable() {
        let mut f = PeersFile::default();
        f.add(entry("alice", 1, "100.64.0.2")).unwrap();
        f.set_enabled("alice", false).unwrap();
        assert!(!f.get("alice").unwrap().enabled);
        assert!(matches!(f.remove("bob"), Err(PeersError::NoSuchPeer(_))));
        assert_eq!(f.remove("alice").unwrap().name, "alice");
    }
}

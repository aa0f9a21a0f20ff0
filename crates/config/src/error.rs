//! What can go wrong when loading a configuration.

use std::fmt;
use std::path::PathBuf;

/// One thing wrong with a configuration: where, what was found, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `trunk[0].allow[1]`.
    pub key: String,
    /// The offending value as written (secrets are never put here).
    pub value: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Problem {
    pub(crate) fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        message: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.key, self.message)
        } else {
            write!(f, "{} = {}: {}", self.key, self.value, self.message)
        }
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No file was given and none of the default locations exists.
    #[error("no configuration file found; looked for {}; pass --config FILE", .tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "))]
    NotFound {
        /// The paths that were tried, in order.
        tried: Vec<PathBuf>,
    },
    /// The file could not be read or parsed, or a value has the wrong type or an unknown
    /// key. The message names the key and the source (file or environment variable).
    #[error("{0}")]
    Syntax(Box<figment::Error>),
    /// The file parsed but its content is not valid; every problem is listed.
    #[error("{} problem{} in the configuration:\n{}", .0.len(), if .0.len() == 1 { "" } else { "s" }, .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// Every problem, one per line, as shown to the user.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Invalid(ps) => ps.iter().map(ToString::to_string).collect(),
            Self::Syntax(e) => e.clone().into_iter().map(|e| e.to_string()).collect(),
            other => vec![other.to_string()],
        }
    }
}

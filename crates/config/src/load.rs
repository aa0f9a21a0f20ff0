//! Loading: TOML file, then `DRAWBRIDGE_` environment overrides, then validation.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};

use crate::{Config, ConfigError, validate};

/// Prefix of environment variables that override file values; nested keys are joined
/// with `__` (`DRAWBRIDGE_PBX__ADDRESS=198.18.2.10:5060`).
pub const ENV_PREFIX: &str = "DRAWBRIDGE_";

/// Where `drawbridge` looks for its configuration when no `--config` is given, in order.
pub const DEFAULT_PATHS: [&str; 2] = ["config/drawbridge.toml", "/etc/drawbridge/drawbridge.toml"];

/// The first default configuration path that exists.
pub fn find_default() -> Result<PathBuf, ConfigError> {
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| ConfigError::NotFound {
            tried: DEFAULT_PATHS.iter().map(PathBuf::from).collect(),
        })
}

/// Loads `path`, applies environment overrides, resolves relative paths against the
/// file's directory and validates the result.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let figment = Figment::new()
        .merge(Toml::file_exact(path))
        .merge(env_provider());
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    finish(figment, base)
}

/// Like [`load`] but from a string (tests, `check` on stdin); relative paths are
/// resolved against `base`.
pub fn load_str(toml: &str, base: &Path) -> Result<Config, ConfigError> {
    let figment = Figment::new()
        .merge(Toml::string(toml))
        .merge(env_provider());
    finish(figment, base)
}

/// Every configuration key lives in a section, so an override always has a `__`;
/// other `DRAWBRIDGE_*` variables (used by scripts and tests) are not configuration.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| key.as_str().contains("__"))
        .split("__")
}

fn finish(figment: Figment, base: &Path) -> Result<Config, ConfigError> {
    let mut config: Config = figment
        .extract()
        .map_err(|e| ConfigError::Syntax(Box::new(e)))?;
    config.resolve_paths(base);
    let problems = validate(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

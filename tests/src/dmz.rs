//! drawbridge in a [`Lab`], as every interop test runs it: started in namespace `dmz` with
//! a configuration file, its log waited on, its metrics read from inside the namespace.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::netns::Lab;
use crate::{METRICS_PY, binary, lab_config, wait_for_file};

impl Lab {
    /// Starts `drawbridge run --config <config>` in namespace `dmz` (stopped with the lab),
    /// logging to `drawbridge.log` beside the configuration, and waits up to `timeout` for
    /// a log line containing `ready`. Returns the log's path.
    pub fn start_drawbridge(&mut self, config: &Path, ready: &str, timeout: Duration) -> PathBuf {
        let log = config.with_file_name("drawbridge.log");
        let config = config.to_string_lossy();
        self.spawn("dmz", binary(), &["run", "--config", &config], &log);
        wait_for_file(&log, ready, timeout);
        log
    }

    /// Writes `text`, a template for [`lab_config::expand`], to `dir/drawbridge.toml`, then
    /// [`Lab::start_drawbridge`] with it.
    pub fn drawbridge_with(
        &mut self,
        dir: &Path,
        text: &str,
        ready: &str,
        timeout: Duration,
    ) -> PathBuf {
        let config = dir.join("drawbridge.toml");
        std::fs::write(&config, lab_config::expand(text))
            .unwrap_or_else(|e| panic!("writing {}: {e}", config.display()));
        self.start_drawbridge(&config, ready, timeout)
    }

    /// drawbridge's Prometheus metrics, fetched in `dmz` from 127.0.0.1:9090 after waiting
    /// `settle` (its cores publish their counters once a second).
    pub fn metrics(&self, settle: Duration) -> String {
        std::thread::sleep(settle);
        self.python_stdout("dmz", METRICS_PY, &["9090"])
    }
}

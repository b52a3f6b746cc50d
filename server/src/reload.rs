//! Hot reload (SIGHUP, `--signal reload`): re-read the config file, lay the flags over it,
//! diff it against the running config with the core's pure `config::diff`, and either refuse
//! it whole (the server keeps the old config, `[ERR] Failed to reload server configuration:
//! …`) or apply every change: logging here, pid and ports files here, the engine's options
//! through [`RunningServer::reload`] (which re-checks every live client). Each change is logged as
//! the Go server logs it, then `Reloaded server configuration`.

use std::path::PathBuf;

use natsd_core::config::{diff, Change, ServerConfig};

use super::config::{apply_flags, load_file, log_config, unsupported_settings};
use super::files;
use super::flags::Flags;
use super::logging::LogHandle;
use natsd_adapter::runtime::RunningServer;

/// The running config and the files that belong to it.
#[derive(Debug)]
pub struct Reloader {
    /// `-c` file; without one, reload is refused as in Go.
    pub config_file: Option<String>,
    /// The command line, laid over every reloaded file.
    pub flags: Flags,
    /// The config in force (the bound port in place of a random one).
    pub running: ServerConfig,
    /// The pid file written, if any.
    pub pid_file: Option<PathBuf>,
    /// The ports file written, if any (removed at exit and when the directory changes).
    pub ports_file: Option<PathBuf>,
    /// The logger, for level and file changes.
    pub log: LogHandle,
}

impl Reloader {
    /// One reload attempt; logs the outcome and returns it (for a `$SYS` reload request's
    /// reply). Never fails the server: on any error the old config stays in force.
    pub fn reload(&mut self, server: &dyn RunningServer) -> Result<(), String> {
        let outcome = self.try_reload(server);
        if let Err(why) = &outcome {
            tracing::error!(
                "Failed to reload server configuration: {}",
                why.trim_end_matches('\n')
            );
        }
        outcome
    }

    fn try_reload(&mut self, server: &dyn RunningServer) -> Result<(), String> {
        let Some(path) = &self.config_file else {
            return Err(
                "can only reload config when a file is provided using -c or --config".into(),
            );
        };
        let file = load_file(path)?;
        if let Some(e) = file.go_warnings_error() {
            // Go fails a reload over its own warnings, as it fails `-t`.
            return Err(e);
        }
        let mut new = file.config;
        apply_flags(&mut new, &self.flags)?;
        if new.options.port == 0 {
            // A random port stays the one bound (diff ignores it; keep it in our record).
            new.options.port = self.running.options.port;
        }
        let changes = diff(&self.running, &new).map_err(|e| e.to_string())?;
        if let Some(tls) = &new.options.tls {
            // Certificates that no longer load fail the reload (Go's error, positioned);
            // the running ones stay.
            natsd_adapter::tls::server_config(tls)?;
        }
        // All checks passed: from here on everything is applied.
        if changes.iter().any(is_logging) {
            if let Err(e) = self.log.apply(&log_config(&new)) {
                tracing::error!("Error opening log file: {e}");
            }
        }
        for c in &changes {
            match c {
                Change::PidFile(p) => self.new_pid_file(p.as_deref()),
                Change::PortsFileDir(d) => self.new_ports_file(d.as_deref(), server),
                _ => {}
            }
            tracing::info!("{c}");
        }
        for w in file.unsupported.iter().chain(&unsupported_settings(&new)) {
            tracing::warn!("{w}");
        }
        let mut opts = new.options.clone();
        opts.trace = new.logging.trace || new.logging.trace_verbose;
        server.reload(&opts);
        self.running = new;
        tracing::info!("Reloaded server configuration");
        Ok(())
    }

    /// Writes the new pid file (Go leaves the old one in place).
    fn new_pid_file(&mut self, path: Option<&str>) {
        let path = path.filter(|p| !p.is_empty()).map(PathBuf::from);
        if let Some(p) = &path {
            if let Err(e) = files::write_pid_file(p) {
                tracing::error!("Could not write pidfile: {e}");
            }
        }
        self.pid_file = path;
    }

    /// Removes the old ports file and writes one in the new directory.
    fn new_ports_file(&mut self, dir: Option<&str>, server: &dyn RunningServer) {
        if let Some(old) = self.ports_file.take() {
            let _ = std::fs::remove_file(old);
        }
        self.ports_file = dir
            .filter(|d| !d.is_empty())
            .and_then(|d| write_ports(d, server));
    }
}

/// Writes the ports file into `dir`, logging a failure as Go does.
pub fn write_ports(dir: &str, server: &dyn RunningServer) -> Option<PathBuf> {
    let dir = std::path::Path::new(dir);
    match files::write_ports_file(dir, server.local_addr()) {
        Ok(p) => Some(p),
        Err(e) => {
            let path = files::ports_file_path(dir);
            tracing::error!("Error writing ports file ({}): {e}", path.display());
            None
        }
    }
}

fn is_logging(c: &Change) -> bool {
    matches!(
        c,
        Change::Trace(_)
            | Change::TraceVerbose(_)
            | Change::Debug(_)
            | Change::Logtime(_)
            | Change::LogtimeUtc(_)
            | Change::LogFile(_)
    )
}

//! The `nats-server` program: flags → logging → server → signals → exit status.

use std::path::{Path, PathBuf};

use natsd_core::options::Options;

use super::flags::{self, FlagError, Flags};
use super::logging::{self, fatal, LogConfig, LogHandle};
use super::signals::{self, Stop};
use super::{files, settings, usage};
use crate::server::join_host_port;
use crate::Server;

/// Runs the program with the arguments after its name; returns the exit status.
///
/// Follows the Go server: `-v`/`-h` print and exit 0, `-sl` sends a signal and exits, flag
/// errors print the usage and exit non-zero, fatal errors log `[FTL]` and exit 1, SIGINT
/// exits 0 and SIGTERM 1 after a graceful shutdown.
pub fn run(args: &[String]) -> i32 {
    let f = match flags::parse(args) {
        Ok(f) => f,
        Err(FlagError::Usage(msg)) => {
            eprintln!("{msg}");
            println!("{}", usage::USAGE);
            return 1;
        }
        Err(FlagError::Command(msg)) => {
            eprintln!("nats-server: {msg}");
            return 1;
        }
    };
    if f.show_version {
        println!("{}", usage::version_line());
        return 0;
    }
    if f.show_help {
        println!("{}", usage::USAGE);
        return 0;
    }
    if f.show_tls_help {
        print!("{}", usage::TLS_HELP);
        return 0;
    }
    if let Some(spec) = &f.signal {
        return match signals::send(spec) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("nats-server: {e}");
                1
            }
        };
    }
    if f.check_config && f.config.is_none() {
        eprintln!(
            "nats-server: must specify [-c, --config] option to check configuration file syntax"
        );
        return 1;
    }
    let log_cfg = LogConfig {
        file: f
            .log_file
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        logtime: f.logtime,
        debug: f.debug,
        trace: f.trace,
    };
    let log = match logging::init(&log_cfg) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("nats-server: error opening file: {e}");
            return 1;
        }
    };
    let checked = settings::check_supported(&f);
    for w in &checked.warnings {
        tracing::warn!("{w}");
    }
    if let Some(why) = &checked.fatal {
        fatal(why);
    }
    let opts = settings::to_options(&f).unwrap_or_else(|e| fatal(&e));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("natsd")
        .build()
        .unwrap_or_else(|e| fatal(&format!("Could not start the runtime: {e}")));
    runtime.block_on(serve(&f, opts, log))
}

/// Starts the server, writes the pid and ports files, waits for a stop signal, shuts down.
async fn serve(f: &Flags, opts: Options, log: LogHandle) -> i32 {
    let mut handlers = signals::Handlers::install()
        .unwrap_or_else(|e| fatal(&format!("Could not install signal handlers: {e}")));
    let pid_file = f
        .pid_file
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(p) = &pid_file {
        if let Err(e) = files::write_pid_file(p) {
            fatal(&format!("Could not write pidfile: {e}"));
        }
    }
    let hostport = join_host_port(&opts.host, opts.port);
    let server = match Server::start(opts).await {
        Ok(s) => s,
        Err(e) => fatal(&format!(
            "Error listening on port: {hostport}, {:?}",
            listen_error(&hostport, &e)
        )),
    };
    let ports_file = f
        .ports_file_dir
        .as_deref()
        .filter(|d| !d.is_empty())
        .and_then(
            |dir| match files::write_ports_file(Path::new(dir), server.local_addr()) {
                Ok(p) => Some(p),
                Err(e) => {
                    let path = files::ports_file_path(Path::new(dir));
                    tracing::error!("Error writing ports file ({}): {e}", path.display());
                    None
                }
            },
        );
    let stop = handlers.wait_for_stop(&log).await;
    server.shutdown().await;
    if let Some(p) = ports_file {
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::error!("Error cleaning up ports file {}: {e}", p.display());
        }
    }
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    match stop {
        Stop::Interrupt => 0,
        Stop::Terminate => 1,
    }
}

/// Go's wording of a failed listen: `listen tcp HOST:PORT: bind: address already in use`.
fn listen_error(hostport: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let desc = nix::errno::Errno::from_raw(code).desc();
            let mut chars = desc.chars();
            let lower: String = match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => String::new(),
            };
            format!("listen tcp {hostport}: bind: {lower}")
        }
        None => e.to_string(),
    }
}

//! The `nats-server` program: flags (+ config file) → logging → signals → server on the
//! chosen runtime → signals (stop, reload) → exit status.

use std::path::PathBuf;

use natsd_core::config::ServerConfig;

use super::flags::{self, FlagError, Flags};
use super::logging::{self, fatal, LogHandle};
use super::oserror::go_error;
use super::reload::{write_ports, Reloader};
use super::signals::{self, Stop};
use super::{config, files, settings, usage};
use natsd_adapter::runtime::Launcher;
use natsd_adapter::{join_host_port, StartInfo};
use std::sync::{Arc, Mutex};

/// Runs the program with the arguments after its name; returns the exit status.
///
/// `launchers` are the runtimes `--runtime NAME` chooses from; the first is the default.
/// Follows the Go server: `-v`/`-h` print and exit 0, `-sl` sends a signal and exits, flag
/// errors print the usage and exit non-zero, fatal errors log `[FTL]` and exit 1, SIGINT
/// exits 0 after a graceful shutdown (SIGTERM too, as Go 2.15.1). An unknown `--runtime` exits 1.
/// Call from the main thread before any other thread starts (see [`signals::Handlers`]).
pub fn run(args: &[String], launchers: &[&dyn Launcher]) -> i32 {
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
    let launcher = match choose(launchers, f.runtime.as_deref()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("nats-server: {e}");
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
        print!("{}", usage::tls_help());
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
    let file = match f.config.as_deref().map(config::load_file).transpose() {
        Ok(file) => file,
        Err(e) => {
            // Go: `nats-server: FILE:LINE:COL: msg` (one line per problem), exit 1.
            eprintln!("nats-server: {e}");
            return 1;
        }
    };
    if f.check_config {
        return check_only(
            f.config.as_deref().unwrap_or_default(),
            file.as_ref(),
            launcher,
        );
    }
    let mut cfg = match &file {
        Some(fc) => fc.config.clone(),
        None => match config::from_flags(&f) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("nats-server: {e}");
                return 1;
            }
        },
    };
    if let Err(e) = config::apply_flags(&mut cfg, &f) {
        eprintln!("nats-server: {e}");
        return 1;
    }
    if let Err(e) = natsd_core::operator::startup_check(&cfg.options) {
        // Go's startup errors of operator mode (`-t` passes these), without a position.
        eprintln!("nats-server: {e}");
        return 1;
    }
    if let Some(tls) = &cfg.options.tls {
        // Go loads the certificates while reading the config: a bad one is a config
        // error at the block (`FILE:LINE:COL: error parsing X509 ...`), exit 1.
        if let Err(e) = natsd_adapter::tls::server_config(tls) {
            eprintln!("nats-server: {e}");
            return 1;
        }
    }
    let log = match logging::init(&config::log_config(&cfg)) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("nats-server: error opening file: {e}");
            return 1;
        }
    };
    let checked = settings::check_supported(&f);
    let mut warnings = checked.warnings.clone();
    let mut banner_warnings = Vec::new();
    if let Some(fc) = &file {
        warnings.extend(fc.go_warnings.iter().cloned());
        warnings.extend(fc.unsupported.iter().cloned());
        warnings.extend(config::unsupported_settings(&fc.config));
        banner_warnings.extend(config::plaintext_password_warning(&cfg));
    }
    for w in &warnings {
        tracing::warn!("{w}");
    }
    if let Some(why) = &checked.fatal {
        fatal(why);
    }
    let start = StartInfo {
        config_file: f.config.clone(),
        warnings: banner_warnings,
        monitor: config::monitor_config(&cfg),
    };
    serve(launcher, f, cfg, start, log)
}

/// The launcher `--runtime` names (the first one when it is not given). Errors: an unknown
/// name, with the known ones.
fn choose<'a>(
    launchers: &[&'a dyn Launcher],
    name: Option<&str>,
) -> Result<&'a dyn Launcher, String> {
    let found = match name {
        None => launchers.first(),
        Some(n) => launchers.iter().find(|l| l.name() == n),
    };
    found.copied().ok_or_else(|| {
        let known: Vec<&str> = launchers.iter().map(|l| l.name()).collect();
        format!(
            "unknown runtime {:?} (expected {})",
            name.unwrap_or_default(),
            known.join(" or ")
        )
    })
}

/// `-t`: the file loaded; report as Go does. Go refuses warnings of its own kind too; our
/// "not supported yet" warnings are printed but do not fail the check.
fn check_only(path: &str, file: Option<&config::FileConfig>, launcher: &dyn Launcher) -> i32 {
    let Some(fc) = file else {
        return 1;
    };
    if let Some(e) = fc.go_warnings_error() {
        eprintln!("nats-server: {e}");
        return 1;
    }
    if let Some(tls) = &fc.config.options.tls {
        if let Err(e) = natsd_adapter::tls::server_config(tls) {
            eprintln!("nats-server: {e}");
            return 1;
        }
    }
    for w in fc
        .unsupported
        .iter()
        .cloned()
        .chain(config::unsupported_settings(&fc.config))
    {
        eprintln!("nats-server: warning: {w}");
    }
    for w in launcher.warnings(&fc.config.options) {
        eprintln!("nats-server: warning: {w}");
    }
    eprintln!("nats-server: configuration file {path} is valid");
    0
}

/// Starts the server on `launcher`'s runtime, writes the pid and ports files, serves reloads until a stop signal,
/// shuts down and removes the files.
fn serve(
    launcher: &dyn Launcher,
    f: Flags,
    cfg: ServerConfig,
    start: StartInfo,
    log: LogHandle,
) -> i32 {
    let mut handlers = signals::Handlers::install()
        .unwrap_or_else(|e| fatal(&format!("Could not install signal handlers: {e}")));
    let pid_file = cfg
        .pid_file
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(p) = &pid_file {
        if let Err(e) = files::write_pid_file(p) {
            fatal(&format!("Could not write pidfile: {e}"));
        }
    }
    let hostport = join_host_port(&cfg.options.host, cfg.options.port);
    let mut opts = cfg.options.clone();
    opts.trace = cfg.logging.trace || cfg.logging.trace_verbose;
    let mut server = match launcher.start(opts, start) {
        Ok(s) => s,
        Err(e) => fatal(&format!(
            "Error listening on port: {hostport}, {:?}",
            listen_error(&hostport, &e)
        )),
    };
    let ports_file = cfg
        .ports_file_dir
        .as_deref()
        .filter(|d| !d.is_empty())
        .and_then(|dir| write_ports(dir, &*server));
    let mut running = cfg;
    // Reload diffs against the bound port, as Go reports `old=<bound port>`.
    running.options.port = server.local_addr().port();
    let mut reloader = Reloader {
        config_file: f.config.clone(),
        flags: f,
        running,
        pid_file,
        ports_file,
        log: log.clone(),
    };
    // `$SYS.REQ.SERVER.<id>.RELOAD`: the request's reply subject waits here while the
    // main thread is asked to reload the way SIGHUP asks it (it sleeps in sigwait); the
    // outcome goes to every waiting requester once the reload is done.
    let waiting: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let queue = Arc::clone(&waiting);
    server.shared().set_reload_hook(Arc::new(move |reply| {
        queue.lock().unwrap_or_else(|e| e.into_inner()).push(reply);
        let me = nix::unistd::Pid::from_raw(i32::try_from(std::process::id()).unwrap_or(0));
        let _ = nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGHUP);
    }));
    let stop = handlers.wait_for_stop(&log, &mut || {
        let outcome = reloader.reload(&*server);
        let replies = std::mem::take(&mut *waiting.lock().unwrap_or_else(|e| e.into_inner()));
        for to in replies {
            natsd_core::events::reload_reply(
                server.shared(),
                to,
                outcome.clone(),
                natsd_adapter::clock::now(),
            );
        }
    });
    if stop == Stop::LameDuck {
        lame_duck(&mut *server, &reloader.running);
    }
    server.shutdown();
    if let Some(p) = reloader.ports_file {
        if let Err(e) = std::fs::remove_file(&p) {
            tracing::error!("Error cleaning up ports file {}: {e}", p.display());
        }
    }
    if let Some(p) = reloader.pid_file {
        let _ = std::fs::remove_file(p);
    }
    // Every stop is clean: exit 0 (Go 2.15.1; 2.9.10 exited 1 on SIGTERM).
    0
}

/// Lame duck mode, run by the server's node (which paces it as Go does; see
/// `Node::handle_lame_duck`). Signals that arrive meanwhile stay pending until it ends (the
/// Go server lets a shutdown cut it short).
fn lame_duck(server: &mut dyn natsd_adapter::runtime::RunningServer, cfg: &ServerConfig) {
    server.lame_duck(cfg.lame_duck_duration, cfg.lame_duck_grace_period);
}

/// Go's wording of a failed listen: `listen tcp HOST:PORT: bind: address already in use`.
fn listen_error(hostport: &str, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(_) => go_error(&format!("listen tcp {hostport}: bind"), e),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use natsd_adapter::runtime::RunningServer;

    struct Named(&'static str);

    impl Launcher for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn start(
            &self,
            _: natsd_core::options::Options,
            _: StartInfo,
        ) -> std::io::Result<Box<dyn RunningServer>> {
            Err(std::io::Error::other("not in this test"))
        }
    }

    #[test]
    fn runtime_is_chosen_by_name_first_by_default() {
        let (a, b) = (Named("tokio"), Named("std"));
        let ls: [&dyn Launcher; 2] = [&a, &b];
        assert_eq!(choose(&ls, None).unwrap().name(), "tokio");
        assert_eq!(choose(&ls, Some("std")).unwrap().name(), "std");
        assert_eq!(
            choose(&ls, Some("go")).err().unwrap(),
            "unknown runtime \"go\" (expected tokio or std)"
        );
    }

    #[test]
    fn unknown_runtime_exits_1_before_anything_else() {
        let a = Named("std");
        let args: Vec<String> = ["--runtime", "nope", "-v"].map(String::from).to_vec();
        assert_eq!(run(&args, &[&a]), 1);
    }
}

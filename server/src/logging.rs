//! The server log in the Go server's format, as a `tracing` layer.
//!
//! Lines look like `[PID] 2006/01/02 15:04:05.000000 [INF] msg` (local time, microseconds),
//! or `[PID] [INF] msg` without `-T`. Levels map as ERROR→`[ERR]`, WARN→`[WRN]`,
//! INFO→`[INF]`, DEBUG→`[DBG]`, TRACE→`[TRC]`; events with target [`FATAL_TARGET`] print
//! `[FTL]`. Debug and trace are enabled independently, as in Go (`-V` alone shows `[TRC]` but
//! not `[DBG]`). Output goes to stderr (coloured labels on a terminal, as Go) or is appended
//! to the `-l` file, which [`LogHandle::reopen`] reopens (SIGUSR1). A config reload changes
//! debug, trace, logtime and the file through [`LogHandle::apply`].

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Events with this target are fatal errors (`[FTL]`); see [`fatal`].
pub const FATAL_TARGET: &str = "natsd::fatal";

/// How to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Append to this file instead of stderr.
    pub file: Option<PathBuf>,
    /// Timestamp each line.
    pub logtime: bool,
    /// Show `[DBG]` lines.
    pub debug: bool,
    /// Show `[TRC]` lines.
    pub trace: bool,
}

/// Where lines go.
enum Sink {
    Stderr,
    File(File),
}

/// What can change while running.
#[derive(Default)]
struct Switches {
    logtime: AtomicBool,
    debug: AtomicBool,
    trace: AtomicBool,
}

/// The installed logger's controls.
#[derive(Clone)]
pub struct LogHandle {
    sink: Arc<Mutex<Sink>>,
    file: Arc<Mutex<Option<PathBuf>>>,
    switches: Arc<Switches>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

impl LogHandle {
    /// Applies reloaded log settings: debug, trace and logtime at once; a new file is opened
    /// (and becomes the sink) before the old one is dropped; no file means stderr. Errors: the
    /// new file cannot be opened (the old sink stays).
    pub fn apply(&self, cfg: &LogConfig) -> io::Result<()> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if *file != cfg.file {
            let sink = match &cfg.file {
                Some(p) => Sink::File(open_append(p)?),
                None => Sink::Stderr,
            };
            *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = sink;
            file.clone_from(&cfg.file);
        }
        drop(file);
        let s = &self.switches;
        s.logtime.store(cfg.logtime, Ordering::Relaxed);
        s.debug.store(cfg.debug, Ordering::Relaxed);
        s.trace.store(cfg.trace, Ordering::Relaxed);
        // Callsites cached "never" for a level that is now on must be asked again.
        tracing::callsite::rebuild_interest_cache();
        Ok(())
    }

    /// Reopens the log file (after it was moved away for rotation) and logs the outcome, as
    /// the Go server does on SIGUSR1. Without a log file it only logs that it ignored it.
    pub fn reopen(&self) {
        let file = self.file.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(path) = &file else {
            tracing::info!("File log re-open ignored, not a file logger");
            return;
        };
        match open_append(path) {
            Ok(f) => {
                *self.sink.lock().unwrap_or_else(|e| e.into_inner()) = Sink::File(f);
                tracing::info!("File log re-opened");
            }
            Err(e) => tracing::error!("Error re-opening log file {}: {e}", path.display()),
        }
    }
}

fn open_append(path: &PathBuf) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o660)
        .open(path)
}

/// The labels, plain or coloured (Go colours them when stderr is a terminal).
struct Labels {
    err: String,
    wrn: String,
    inf: String,
    dbg: String,
    trc: String,
    ftl: String,
}

impl Labels {
    fn new(colors: bool) -> Labels {
        let l = |code: &str, name: &str| {
            if colors {
                format!("[\x1b[{code}m{name}\x1b[0m] ")
            } else {
                format!("[{name}] ")
            }
        };
        Labels {
            err: l("31", "ERR"),
            wrn: l("0;93", "WRN"),
            inf: l("32", "INF"),
            dbg: l("36", "DBG"),
            trc: l("33", "TRC"),
            ftl: l("31", "FTL"),
        }
    }
}

/// The layer that formats and writes every enabled event.
struct GoFormat {
    sink: Arc<Mutex<Sink>>,
    prefix: String,
    switches: Arc<Switches>,
    labels: Labels,
}

impl GoFormat {
    fn wants(&self, level: &Level) -> bool {
        match *level {
            Level::TRACE => self.switches.trace.load(Ordering::Relaxed),
            Level::DEBUG => self.switches.debug.load(Ordering::Relaxed),
            _ => true,
        }
    }
}

impl<S: Subscriber> Layer<S> for GoFormat {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.wants(meta.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        self.wants(meta.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let s = &self.switches;
        Some(
            match (
                s.trace.load(Ordering::Relaxed),
                s.debug.load(Ordering::Relaxed),
            ) {
                (true, _) => LevelFilter::TRACE,
                (false, true) => LevelFilter::DEBUG,
                (false, false) => LevelFilter::INFO,
            },
        )
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let label = if meta.target() == FATAL_TARGET {
            &self.labels.ftl
        } else {
            match *meta.level() {
                Level::ERROR => &self.labels.err,
                Level::WARN => &self.labels.wrn,
                Level::INFO => &self.labels.inf,
                Level::DEBUG => &self.labels.dbg,
                Level::TRACE => &self.labels.trc,
            }
        };
        let mut line = String::with_capacity(128);
        line.push_str(&self.prefix);
        if self.switches.logtime.load(Ordering::Relaxed) {
            let now = chrono::Local::now();
            let _ = write!(line, "{} ", now.format("%Y/%m/%d %H:%M:%S%.6f"));
        }
        line.push_str(label);
        event.record(&mut MessageVisitor(&mut line));
        line.push('\n');
        // A log line that cannot be written has nowhere else to go.
        let _ = match &mut *self.sink.lock().unwrap_or_else(|e| e.into_inner()) {
            Sink::Stderr => io::stderr().lock().write_all(line.as_bytes()),
            Sink::File(f) => f.write_all(line.as_bytes()),
        };
    }
}

/// Appends the `message` field; other fields follow as ` key=value`.
struct MessageVisitor<'a>(&'a mut String);

impl Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

/// Installs the Go-format logger as the global `tracing` subscriber.
///
/// Errors: the log file cannot be opened (Go exits with `error opening file`), or a global
/// subscriber is already installed.
pub fn init(cfg: &LogConfig) -> io::Result<LogHandle> {
    let (sink, colors) = match &cfg.file {
        Some(path) => (Sink::File(open_append(path)?), false),
        None => (Sink::Stderr, io::stderr().is_terminal()),
    };
    let sink = Arc::new(Mutex::new(sink));
    let switches = Arc::new(Switches {
        logtime: AtomicBool::new(cfg.logtime),
        debug: AtomicBool::new(cfg.debug),
        trace: AtomicBool::new(cfg.trace),
    });
    let layer = GoFormat {
        sink: Arc::clone(&sink),
        prefix: format!("[{}] ", std::process::id()),
        switches: Arc::clone(&switches),
        labels: Labels::new(colors),
    };
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).map_err(io::Error::other)?;
    Ok(LogHandle {
        sink,
        file: Arc::new(Mutex::new(cfg.file.clone())),
        switches,
    })
}

/// Logs `msg` as `[FTL]` and exits the process with status 1 (Go's `Fatalf`).
pub fn fatal(msg: &str) -> ! {
    tracing::error!(target: FATAL_TARGET, "{msg}");
    std::process::exit(1)
}

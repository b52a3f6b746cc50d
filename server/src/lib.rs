//! natsd-server: the `nats-server` program, above both runtimes: flags, config files,
//! logging, signals, reload; the binary (`src/main.rs`) runs [`run::run`] with the tokio
//! runtime (the default) and the std one. Kept in a library so it can be tested.
//!
//! - [`flags`]: Go `flag`-syntax parsing of the Go server's flags (+ `--runtime`).
//! - [`settings`]: flags → core options; what is refused or only warned about.
//! - [`usage`]: the help and version texts.
//! - [`logging`]: the Go log format as a `tracing` layer; `[FTL]` and exit.
//! - [`signals`]: `-sl` sending, and SIGINT/TERM/USR1/USR2/HUP handling (sigwait).
//! - [`files`]: the pid file and the ports file.
//! - [`oserror`]: OS errors in Go's wording.
//! - [`config`]: `-c FILE` read from disk, typed by the core, flags laid over it.
//! - [`reload`]: SIGHUP: re-read, diff, refuse or apply everything.
//! - [`run`]: the program itself, over the runtimes' `natsd_adapter::runtime` traits.

#![warn(missing_docs)]

pub mod config;
pub mod files;
pub mod flags;
pub mod logging;
pub mod oserror;
pub mod reload;
pub mod run;
pub mod settings;
pub mod signals;
pub mod usage;

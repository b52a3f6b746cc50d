//! The `nats-server` binary's pieces, kept in the library so they can be tested.
//!
//! - [`flags`]: Go `flag`-syntax parsing of the Go server's flags.
//! - [`settings`]: flags → core options; what is refused or only warned about.
//! - [`usage`]: the help and version texts.
//! - [`logging`]: the Go log format as a `tracing` layer; `[FTL]` and exit.
//! - [`signals`]: `-sl` sending, and SIGINT/TERM/USR1/USR2/HUP handling.
//! - [`files`]: the pid file and the ports file.
//! - [`config`]: `-c FILE` read from disk, typed by the core, flags laid over it.
//! - [`reload`]: SIGHUP: re-read, diff, refuse or apply everything.
//! - [`run`]: the program itself.

pub mod config;
pub mod files;
pub mod flags;
pub mod logging;
pub mod reload;
pub mod run;
pub mod settings;
pub mod signals;
pub mod usage;

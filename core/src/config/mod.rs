//! Configuration files: the NATS config format (and TOML), typed into server options, and the
//! reload diff. Pure: text comes in, an include resolver and an environment lookup are
//! injected; nothing here reads files or the process environment.
//!
//! # Layout
//!
//! - [`value`]: the value tree ([`Map`], [`Node`], [`Value`]) where every value and key has a
//!   [`Pos`], and [`ConfigError`] (`file:line:col: msg`).
//! - `lexer` (+ `lexer/scalars.rs`): the NATS config lexer, a state machine following Go's
//!   `conf/lex.go`, with its quirks.
//! - [`parser`]: tokens to tree; size suffixes, variables (block scope, then environment),
//!   includes through an [`IncludeResolver`].
//! - [`toml`]: `.toml` files into the same tree, so the same typing code applies.
//! - [`duration`]: Go duration strings (`1h30m`, `500ms`) both ways.
//! - `perms`: `authorization { … }`: users, token, timeout and permissions.
//! - `accounts`, `mappings`, `rate`, `cluster`: their blocks, with Go's errors.
//! - [`typed`]: tree to [`ServerConfig`] (core [`Options`](crate::options::Options) plus
//!   logging, pid/ports files, monitoring, lame duck), with Go's keys, aliases, errors and
//!   warnings.
//! - [`reload`]: which options changed between two configs and whether that can be applied
//!   while running ([`diff`]).
//!
//! Panics here are bugs: no input, however hostile, may panic, recurse without bound or grow
//! without bound. Limits are the constants below.

mod accounts;
mod callout;
mod cluster;
pub mod duration;
mod lexer;
mod mappings;
mod operator;
pub mod parser;
mod perms;
mod rate;
mod rebalance;
pub mod reload;
mod tls;
pub mod toml;
pub mod typed;
pub mod value;

#[cfg(test)]
mod operator_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod typed_tests;

pub use parser::{join_include_path, parse, IncludeResolver, NoIncludes};
pub use reload::{diff, Change, NotReloadable};
pub use typed::{from_map, Diagnostics, Loaded, Logging, Monitoring, ServerConfig};
pub use value::{ConfigError, Entry, Map, Node, Pos, Value};

/// Deepest nesting of maps and arrays. Real configs nest a handful of levels; the limit keeps
/// the recursive `Drop`/`Clone` of the tree far from the stack's end on hostile input.
pub const MAX_DEPTH: usize = 128;

/// Deepest chain of includes. Real configs use one or two levels; this stops runaway chains
/// (cycles are caught separately by name).
pub const MAX_INCLUDE_DEPTH: usize = 16;

/// Most values a config may hold after variable expansion. Copying `$var` copies its subtree;
/// without a cap, a few lines of nested references grow exponentially.
pub const MAX_NODES: u64 = 1_000_000;

/// Parses `src` by format: TOML when `file` ends in `.toml` (any case), else the NATS format.
/// TOML has no includes or variables, so `resolver` and `env` are used only for NATS files.
pub fn parse_any(
    file: &str,
    src: &str,
    resolver: &dyn IncludeResolver,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, ConfigError> {
    if is_toml(file) {
        toml::parse_toml(file, src)
    } else {
        parse(file, src, resolver, env)
    }
}

/// True if `file` names a TOML file (by extension).
pub fn is_toml(file: &str) -> bool {
    file.len() >= 5
        && file
            .get(file.len() - 5..)
            .is_some_and(|e| e.eq_ignore_ascii_case(".toml"))
}

/// Parses and types a config file in one step: [`parse_any`] then [`from_map`]. On success
/// the warnings (unsupported keys, durations given as bare seconds) come with the config; on
/// failure every error found is reported, with the warnings.
pub fn load(
    file: &str,
    src: &str,
    resolver: &dyn IncludeResolver,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Diagnostics> {
    let mut map = parse_any(file, src, resolver, env).map_err(|e| Diagnostics {
        errors: vec![e],
        warnings: Vec::new(),
    })?;
    operator::read_files(&mut map, file, resolver).map_err(|e| Diagnostics {
        errors: vec![e],
        warnings: Vec::new(),
    })?;
    from_map(&map)
}

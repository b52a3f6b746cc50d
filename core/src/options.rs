//! The options the engine runs with. Parsing config files and flags happens elsewhere; this is
//! the typed result, with the Go server's defaults.

use std::time::Duration;

use crate::auth::User;

/// Authentication settings for client connections (`authorization { … }`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuthConfig {
    /// Single token (`authorization { token }`, `--auth`). May be a bcrypt hash.
    pub token: Option<String>,
    /// Single user (`authorization { user }`, `--user`).
    pub user: Option<String>,
    /// Its password (`--pass`). May be a bcrypt hash.
    pub password: Option<String>,
    /// Multiple users with permissions (`authorization { users: [...] }`).
    pub users: Vec<User>,
    /// How long a client has to send CONNECT when auth is required (Go: 2s).
    pub timeout: Duration,
}

impl AuthConfig {
    /// True if clients must authenticate.
    pub fn required(&self) -> bool {
        self.token.is_some() || self.user.is_some() || !self.users.is_empty()
    }
}

/// Everything the core engine needs to know about its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `server_name`; the server id when unset.
    pub server_name: Option<String>,
    /// Listen host, reported in INFO.
    pub host: String,
    /// Listen port, reported in INFO (the bound port when 0 was asked for).
    pub port: u16,
    /// `client_advertise` (`host:port` or `host`): what INFO advertises instead of host/port.
    pub client_advertise: Option<String>,
    /// Longest control line accepted from a client.
    pub max_control_line: usize,
    /// Largest payload accepted.
    pub max_payload: usize,
    /// Largest outbound backlog per connection before it is closed as a slow consumer.
    pub max_pending: usize,
    /// Most client connections at once.
    pub max_connections: usize,
    /// Most subscriptions per connection; 0 means no limit.
    pub max_subscriptions: usize,
    /// Interval between server PINGs.
    pub ping_interval: Duration,
    /// Unanswered PINGs tolerated before `Stale Connection`.
    pub ping_max: u32,
    /// Longest a single socket write may block before the runtime closes the connection.
    pub write_deadline: Duration,
    /// Client authentication.
    pub auth: AuthConfig,
    /// Closed connections remembered for monitoring.
    pub max_closed_clients: usize,
    /// Turn off headers (HPUB/HMSG) for everyone (`no_header_support`).
    pub no_header_support: bool,
    /// Turn off the sublist match cache (`disable_sublist_cache`).
    pub disable_sublist_cache: bool,
    /// Seed for every random choice the engine makes (queue members, ping jitter).
    pub seed: u64,
    /// Protocol tracing (`-V`, `trace: true`): every op in and out as a `[TRC]` log event.
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            server_name: None,
            host: "0.0.0.0".into(),
            port: 4222,
            client_advertise: None,
            max_control_line: 4096,
            max_payload: 1024 * 1024,
            max_pending: 64 * 1024 * 1024,
            max_connections: 64 * 1024,
            max_subscriptions: 0,
            ping_interval: Duration::from_secs(120),
            ping_max: 2,
            write_deadline: Duration::from_secs(10),
            auth: AuthConfig {
                timeout: Duration::from_secs(2),
                ..AuthConfig::default()
            },
            max_closed_clients: 10_000,
            no_header_support: false,
            disable_sublist_cache: false,
            seed: 0,
            trace: false,
        }
    }
}

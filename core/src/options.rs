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
    /// `no_auth_user`: the user a client that presents no credentials at all becomes.
    pub no_auth_user: Option<String>,
    /// JWT operator mode (`operator`, `resolver: MEMORY`, `resolver_preload`).
    pub operator: Option<std::sync::Arc<crate::operator::OperatorMode>>,
    /// `auth_callout { … }`: an external service decides clients (see `crate::callout`).
    pub callout: Option<crate::callout::CalloutOptions>,
    /// `auth_webhook { … }` (ours): an HTTP(S) endpoint decides clients.
    pub webhook: Option<crate::callout::WebhookOptions>,
}

impl AuthConfig {
    /// True if clients must authenticate.
    pub fn required(&self) -> bool {
        self.token.is_some()
            || self.user.is_some()
            || !self.users.is_empty()
            || self.operator.is_some()
            || self.callout.is_some()
            || self.webhook.is_some()
    }

    /// True if an external provider decides some clients: the config's callout or webhook,
    /// or (operator mode) a preloaded account JWT's callout.
    pub fn has_provider(&self) -> bool {
        self.callout.is_some()
            || self.webhook.is_some()
            || self
                .operator
                .as_ref()
                .is_some_and(|m| m.accounts.keys().any(|k| m.callout_of(k).is_some()))
    }

    /// True if some user is an nkey user.
    pub fn has_nkeys(&self) -> bool {
        self.users.iter().any(|u| u.nkey.is_some())
    }

    /// True if INFO must carry a nonce for the client to sign (Go: nkey users or trusted
    /// operators configured).
    pub fn nonce_required(&self) -> bool {
        self.has_nkeys() || self.operator.is_some()
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
    /// `cluster { … }`: routes to other servers; `None` for a standalone server.
    pub cluster: Option<ClusterOptions>,
    /// `accounts { … }`: configured accounts with their exports, imports and limits (their
    /// users are in `auth.users`, each naming its account).
    pub accounts: Vec<AccountOptions>,
    /// `system_account` (default `$SYS`).
    pub system_account: Option<String>,
    /// `publish_rate` at the top level: the default limit per connection.
    pub publish_rate: Option<RateLimit>,
    /// `mappings` at the top level: the global account's (`$G`).
    pub mappings: Vec<MappingOptions>,
    /// `tls { … }` (or the `--tls*` flags): clients talk TLS. The runtime does the
    /// handshakes; the core says so in INFO.
    pub tls: Option<crate::tls::TlsOptions>,
    /// `allow_non_tls` (Go 2.10+): with `tls`, clients may also stay in plain text; INFO
    /// says `tls_available` instead of `tls_required`.
    pub allow_non_tls: bool,
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
            cluster: None,
            accounts: Vec::new(),
            system_account: None,
            publish_rate: None,
            mappings: Vec::new(),
            tls: None,
            allow_non_tls: false,
        }
    }
}

/// `cluster { … }` (and `--cluster`, `--routes`, `--cluster_name`): the route listener and the
/// routes this server dials.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterOptions {
    /// `name`; `None` until the runtime generates one (Go: a random NUID, "dynamic").
    pub name: Option<String>,
    /// The name was generated, not configured (Go's `cluster_dynamic`).
    pub name_dynamic: bool,
    /// Route listen host.
    pub host: String,
    /// Route listen port (the bound port once listening when 0 was asked for).
    pub port: u16,
    /// `cluster_advertise` / `advertise`: the `host:port` peers are told to dial.
    pub advertise: Option<String>,
    /// `routes`: explicit routes, dialled at start and redialled forever.
    pub routes: Vec<RouteUrl>,
    /// `authorization { user, password }` peers must present in their route CONNECT.
    pub user: Option<String>,
    /// Its password (may be a bcrypt hash).
    pub password: Option<String>,
    /// `authorization { timeout }`: how long a peer has to send CONNECT (Go: 2 s).
    pub auth_timeout: Duration,
    /// `no_advertise`: leave this server's client URLs out of route INFO.
    pub no_advertise: bool,
    /// `connect_retries`: extra dial attempts for an implicit route (Go: 0).
    pub connect_retries: u32,
    /// `rebalance { … }`: shed clients to less-loaded servers when the cluster grows
    /// (ours; see [`crate::node`]'s `rebalance.rs`). `None`: off.
    pub rebalance: Option<RebalanceOptions>,
}

/// `cluster { rebalance: { enabled, max_moves_per_sec, abs_threshold, rel_threshold,
/// cooldown, dry_run, refuse_new_when_over } }`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebalanceOptions {
    /// `enabled` (required): off unless true.
    pub enabled: bool,
    /// Most clients moved away per second (default 10).
    pub max_moves_per_sec: u32,
    /// "Balanced" is the target ± a band: a server is outside it when more than this many
    /// clients away (default 5)...
    pub abs_threshold: u32,
    /// ...and more than `target * (rel_threshold - 1)` away (default 1.1).
    pub rel_threshold: f64,
    /// The pause after any membership change and between shedding rounds (default 10 s);
    /// also how long a client that just arrived is left alone.
    pub cooldown: Duration,
    /// Log each plan (`Rebalance (dry run): would move N clients ...`), move nobody.
    pub dry_run: bool,
    /// While over the target, refuse new clients (`-ERR 'maximum connections exceeded'`,
    /// which the official clients answer by trying another server). Default false.
    pub refuse_new_when_over: bool,
}

impl Default for RebalanceOptions {
    fn default() -> Self {
        RebalanceOptions {
            enabled: false,
            max_moves_per_sec: 10,
            abs_threshold: 5,
            rel_threshold: 1.1,
            cooldown: Duration::from_secs(10),
            dry_run: false,
            refuse_new_when_over: false,
        }
    }
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            name: None,
            name_dynamic: false,
            host: "0.0.0.0".into(),
            port: 6222,
            advertise: None,
            routes: Vec::new(),
            user: None,
            password: None,
            auth_timeout: Duration::from_secs(2),
            no_advertise: false,
            connect_retries: 0,
            rebalance: None,
        }
    }
}

/// One route URL: `nats-route://[user:pass@]host:port` (Go also takes `nats://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUrl {
    /// The URL as written (logs, `/routez`).
    pub url: String,
    /// Host to dial.
    pub host: String,
    /// Port to dial.
    pub port: u16,
    /// User for the route CONNECT.
    pub user: Option<String>,
    /// Password for the route CONNECT.
    pub pass: Option<String>,
}

impl RouteUrl {
    /// Parses a route URL; `Err` says what is wrong, as a sentence.
    pub fn parse(url: &str) -> Result<RouteUrl, String> {
        let rest = url
            .split_once("://")
            .map(|(scheme, rest)| (scheme.to_ascii_lowercase(), rest));
        let rest = match rest {
            Some((scheme, rest)) if scheme == "nats-route" || scheme == "nats" => rest,
            Some((scheme, _)) => return Err(format!("unsupported route URL scheme {scheme:?}")),
            None => return Err(format!("error parsing route url [{url:?}]: missing scheme")),
        };
        let rest = rest.trim_end_matches('/');
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (user, pass) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = crate::config::typed::split_host_port(hostport)
            .ok_or_else(|| format!("error parsing route url [{url:?}]: missing port"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("error parsing route url [{url:?}]: invalid port {port:?}"))?;
        if host.is_empty() || port == 0 {
            return Err(format!(
                "error parsing route url [{url:?}]: missing host or port"
            ));
        }
        Ok(RouteUrl {
            url: url.to_string(),
            host: host.to_string(),
            port,
            user,
            pass,
        })
    }

    /// `host:port` to dial (IPv6 hosts in brackets).
    pub fn addr(&self) -> String {
        join_host_port(&self.host, self.port)
    }
}

/// `host:port`, with an IPv6 host in brackets (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// One configured account (`accounts { NAME: { … } }`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountOptions {
    /// Its name.
    pub name: String,
    /// What it offers other accounts.
    pub exports: Vec<ExportOptions>,
    /// What it takes from other accounts.
    pub imports: Vec<ImportOptions>,
    /// `limits { max_connections, max_subscriptions, max_payload }` (negative or absent:
    /// none).
    pub limits: AccountLimits,
    /// `publish_rate`: one budget shared by all the account's connections on this server.
    pub publish_rate: Option<RateLimit>,
    /// `mappings { src: dest | [{destination, weight, cluster}] }`, in file order.
    pub mappings: Vec<MappingOptions>,
}

/// One subject mapping (see [`crate::mapping`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingOptions {
    /// The source subject (wildcards allowed).
    pub src: String,
    /// Its destinations.
    pub dests: Vec<MapDest>,
    /// Written as a list or map of destinations (`[{destination, weight}]`) rather than one
    /// subject: only changes the wording of Go's errors.
    pub weighted: bool,
}

/// A mapping destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapDest {
    /// The destination template (see [`crate::mapping::Transform`]).
    pub subject: String,
    /// Percent of the source's messages (100 for a plain `a: b`).
    pub weight: u8,
    /// Only on servers of this cluster.
    pub cluster: Option<String>,
}

/// An account's limits (Go's `mconns`, `msubs`, `mpay`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountLimits {
    /// Most client connections in the account (on this server).
    pub max_connections: Option<u64>,
    /// Most subscriptions per connection of the account.
    pub max_subscriptions: Option<u64>,
    /// Largest payload a client of the account may publish.
    pub max_payload: Option<u64>,
}

/// How many replies a service request may get back through an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ResponseType {
    /// One (Go's default).
    #[default]
    Singleton,
    /// Any number, until the response threshold passes.
    Stream,
    /// Any number, in chunks (as `Stream` here).
    Chunked,
}

/// An export: a stream (messages flow out) or a service (requests flow in).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportOptions {
    /// The subject (wildcards allowed).
    pub subject: String,
    /// `Some`: a service with its response type and threshold.
    pub service: Option<(ResponseType, Option<Duration>)>,
    /// Private export: only these accounts may import it. `None`: public.
    pub accounts: Option<Vec<String>>,
}

/// An import from another account.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// The exporting account.
    pub account: String,
    /// The exported subject.
    pub subject: String,
    /// Stream or service, with its local subject.
    pub kind: ImportKind,
}

/// What an import brings in, and under which local subject.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportKind {
    /// A stream: messages on the subject arrive here, under `prefix.` + subject or `to`.
    Stream {
        /// `prefix`.
        prefix: Option<String>,
        /// `to`.
        to: Option<String>,
    },
    /// A service: requests published here on `to` (default: the subject) go to the
    /// exporter's subject, and its replies come back.
    Service {
        /// The local subject.
        to: String,
    },
}

/// `publish_rate: { msgs, bytes, burst_msgs, burst_bytes, action }`: how fast publishers may
/// go, per second. Absent keys do not limit; a burst defaults to one second's worth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Messages per second.
    pub msgs: Option<u64>,
    /// Bytes (headers and payload) per second.
    pub bytes: Option<u64>,
    /// Messages available at once (the bucket's size).
    pub burst_msgs: Option<u64>,
    /// Bytes available at once.
    pub burst_bytes: Option<u64>,
    /// What happens past the limit.
    pub action: RateAction,
}

/// What a publisher over its rate gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RateAction {
    /// Its connection is not read until the budget refills: TCP slows it, nothing is lost.
    #[default]
    Backpressure,
    /// Messages over the limit are dropped, counted, and not delivered.
    Drop,
    /// `-ERR 'Publish Rate Exceeded'` and the connection closes.
    Disconnect,
}

//! Why connections close, and the exact `-ERR` texts the Go server sends.

use std::fmt;

/// The `-ERR` texts, byte for byte as nats-server 2.9.10 sends them (inside `-ERR '…'`).
pub mod text {
    /// Any parse error.
    pub const UNKNOWN_OP: &str = "Unknown Protocol Operation";
    /// Bad credentials, or an op before CONNECT while auth is required.
    pub const AUTH_VIOLATION: &str = "Authorization Violation";
    /// No CONNECT within the auth timeout.
    pub const AUTH_TIMEOUT: &str = "Authentication Timeout";
    /// A client's JWT expired while it was connected (Go's text).
    pub const AUTH_EXPIRED: &str = "User Authentication Expired";
    /// A payload larger than `max_payload`.
    pub const MAX_PAYLOAD: &str = "Maximum Payload Violation";
    /// A control line longer than `max_control_line`.
    pub const MAX_CONTROL_LINE: &str = "maximum control line exceeded";
    /// The server is at `max_connections`.
    pub const MAX_CONNECTIONS: &str = "maximum connections exceeded";
    /// The connection is at `max_subscriptions`.
    pub const MAX_SUBSCRIPTIONS: &str = "maximum subscriptions exceeded";
    /// An account's `limits { max_connections }` reached.
    pub const MAX_ACCOUNT_CONNECTIONS: &str = "maximum account active connections exceeded";
    /// A SUB with an invalid subject.
    pub const INVALID_SUBJECT: &str = "Invalid Subject";
    /// A pedantic PUB to a wildcard or invalid subject.
    pub const INVALID_PUBLISH_SUBJECT: &str = "Invalid Publish Subject";
    /// Too many unanswered PINGs.
    pub const STALE_CONNECTION: &str = "Stale Connection";
    /// CONNECT with `protocol` > 1.
    pub const INVALID_CLIENT_PROTOCOL: &str = "invalid client protocol";
    /// CONNECT with `no_responders` but without `headers`.
    pub const NO_RESPONDERS_REQUIRES_HEADERS: &str = "no responders requires headers support";
}

/// Why a connection closed, with the Go server's `/connz` reason strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client went away.
    ClientClosed,
    /// No CONNECT in time.
    AuthenticationTimeout,
    /// The TLS handshake failed or took longer than the TLS timeout (the runtime's).
    TlsHandshakeError,
    /// Its JWT expired (or its time window closed) while connected.
    AuthenticationExpired,
    /// Bad credentials.
    AuthenticationViolation,
    /// Outbound buffer over `max_pending`.
    SlowConsumerPendingBytes,
    /// A write took longer than `write_deadline`.
    SlowConsumerWriteDeadline,
    /// Writing to the socket failed.
    WriteError,
    /// Reading from the socket failed.
    ReadError,
    /// The client sent something unparseable.
    ParseError,
    /// Too many unanswered PINGs.
    StaleConnection,
    /// The client broke the protocol (e.g. an `-ERR` from a client).
    ProtocolViolation,
    /// CONNECT asked for an unknown protocol version.
    BadClientProtocolVersion,
    /// The server is full.
    MaxConnectionsExceeded,
    /// A payload over `max_payload`.
    MaxPayloadExceeded,
    /// A control line over `max_control_line`.
    MaxControlLineExceeded,
    /// The server is shutting down.
    ServerShutdown,
    /// `no_responders` without `headers`.
    NoRespondersRequiresHeaders,
    /// Disconnected by a configuration change or an operator.
    Kicked,
    /// Moved to a less-loaded server by rebalancing (ours).
    Rebalanced,
    /// A second route to a server we already have a route to (or a route to ourselves).
    DuplicateRoute,
    /// A route peer with another cluster name.
    ClusterNameConflict,
    /// A route peer with our own server name.
    DuplicateServerName,
    /// Something other than a route dialled the route port (a client's CONNECT).
    WrongPort,
    /// A configured route was removed by a reload.
    RouteRemoved,
    /// The client's account is at its `max_connections`.
    MaxAccountConnectionsExceeded,
    /// Over a `publish_rate` with `action: disconnect`.
    PublishRateExceeded,
}

impl CloseReason {
    /// The reason as `/connz?state=closed` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::ClientClosed => "Client Closed",
            CloseReason::AuthenticationTimeout => "Authentication Timeout",
            CloseReason::TlsHandshakeError => "TLS Handshake Failure",
            CloseReason::AuthenticationExpired => "Authentication Expired",
            CloseReason::AuthenticationViolation => "Authentication Failure",
            CloseReason::SlowConsumerPendingBytes => "Slow Consumer (Pending Bytes)",
            CloseReason::SlowConsumerWriteDeadline => "Slow Consumer (Write Deadline)",
            CloseReason::WriteError => "Write Error",
            CloseReason::ReadError => "Read Error",
            CloseReason::ParseError => "Parse Error",
            CloseReason::StaleConnection => "Stale Connection",
            CloseReason::ProtocolViolation => "Protocol Violation",
            CloseReason::BadClientProtocolVersion => "Bad Client Protocol Version",
            CloseReason::MaxConnectionsExceeded => "Maximum Connections Exceeded",
            CloseReason::MaxPayloadExceeded => "Maximum Message Payload Exceeded",
            CloseReason::MaxControlLineExceeded => "Maximum Control Line Exceeded",
            CloseReason::ServerShutdown => "Server Shutdown",
            CloseReason::NoRespondersRequiresHeaders => "No Responders Requires Headers",
            CloseReason::Kicked => "Kicked",
            CloseReason::Rebalanced => "Rebalanced",
            CloseReason::DuplicateRoute => "Duplicate Route",
            CloseReason::ClusterNameConflict => "Cluster Name Conflict",
            CloseReason::DuplicateServerName => "Duplicate Server Name",
            CloseReason::WrongPort => "Wrong Port",
            CloseReason::RouteRemoved => "Route Removed",
            CloseReason::MaxAccountConnectionsExceeded => "Maximum Account Connections Exceeded",
            CloseReason::PublishRateExceeded => "Publish Rate Exceeded",
        }
    }

    /// True for the two slow-consumer reasons (counted in `slow_consumers`).
    pub fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            CloseReason::SlowConsumerPendingBytes | CloseReason::SlowConsumerWriteDeadline
        )
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

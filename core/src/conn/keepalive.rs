//! Keep-alive and the auth timeout.
//!
//! The server PINGs every `ping_interval`; the first PING comes early (at most
//! [`FIRST_PING_MAX`], plus up to 20% jitter) to measure the round trip, as the Go server does.
//! A PING is skipped while the client was recently active or recently pinged us. A PING that
//! would make more than `ping_max` outstanding closes the connection with `Stale Connection`.

use std::time::Duration;

use super::{LogLevel, State};
use crate::errors::{text, CloseReason};
use crate::options::Options;
use crate::proto::encode;
use crate::rng::Rng;
use crate::shared::Shared;
use crate::Time;

/// The first client PING comes at most this soon (Go's `firstClientPingInterval`).
pub const FIRST_PING_MAX: Duration = Duration::from_secs(2);

/// A route's first PING comes this soon (Go's `firstPingInterval`).
pub const ROUTE_FIRST_PING: Duration = Duration::from_secs(1);

/// A round trip is re-measured this often even for busy clients (Go: 1h).
const RTT_REFRESH: Duration = Duration::from_secs(3600);

#[derive(Debug)]
pub(super) struct Keepalive {
    interval: Duration,
    max_out: u32,
    outstanding: u32,
    next_ping: Time,
    last_activity: Time,
    last_ping_received: Option<Time>,
    /// When the last round-trip measurement started (CONNECT or a server PING).
    rtt_start: Time,
    /// A round trip has been measured (at CONNECT, or by a PONG).
    rtt_known: bool,
    auth_deadline: Option<Time>,
    /// When the client's credentials expire (a JWT's `exp`): it is disconnected then.
    expires: Option<Time>,
}

impl Keepalive {
    pub(super) fn new(now: Time, opts: &Options, auth_required: bool, rng: &mut Rng) -> Keepalive {
        Keepalive {
            interval: opts.ping_interval,
            max_out: opts.ping_max,
            outstanding: 0,
            next_ping: now + first_interval(opts.ping_interval, rng),
            last_activity: now,
            last_ping_received: None,
            rtt_start: now,
            rtt_known: false,
            auth_deadline: auth_required.then(|| now + opts.auth.timeout),
            expires: None,
        }
    }

    /// A route's timers: the first PING after [`ROUTE_FIRST_PING`] plus up to 20% (Go's
    /// `firstPingInterval`), and the CONNECT deadline of an accepted route with cluster
    /// authorization.
    pub(super) fn for_route(&mut self, now: Time, auth_timeout: Option<Duration>, rng: &mut Rng) {
        self.next_ping = now + first_interval(self.interval.min(ROUTE_FIRST_PING), rng);
        self.auth_deadline = auth_timeout.map(|t| now + t);
    }

    /// The earliest timer.
    pub(super) fn next_deadline(&self) -> Option<Time> {
        let t = match self.auth_deadline {
            Some(a) => a.min(self.next_ping),
            None => self.next_ping,
        };
        Some(self.expires.map_or(t, |e| e.min(t)))
    }

    /// The client's credentials expire at `at` (none: they do not).
    pub(super) fn set_expiry(&mut self, at: Option<Time>) {
        self.expires = at;
    }

    pub(super) fn activity(&mut self, now: Time) {
        self.last_activity = now;
    }

    /// CONNECT arrived: the auth timer stops, the ping timer restarts. Returns the round trip
    /// from our INFO to the client's CONNECT (Go's first `rtt`).
    pub(super) fn connected(&mut self, now: Time, opts: &Options, rng: &mut Rng) -> Duration {
        let rtt = now.saturating_since(self.rtt_start);
        self.auth_deadline = None;
        self.rtt_start = now;
        self.rtt_known = true;
        self.next_ping = now + first_interval(opts.ping_interval, rng);
        rtt
    }

    /// Reloaded options: a new interval or limit applies from the next PING on; a PING due
    /// later than a full new interval from now is brought forward.
    pub(super) fn reconfigure(&mut self, now: Time, opts: &Options) {
        self.max_out = opts.ping_max;
        if opts.ping_interval != self.interval {
            self.interval = opts.ping_interval;
            self.next_ping = self.next_ping.min(now + self.interval);
        }
    }

    /// Before CONNECT, a reload made auth required (the client gets `timeout` from now to
    /// send CONNECT, unless it already had a deadline) or not required (no deadline).
    pub(super) fn auth_required_changed(&mut self, now: Time, required: bool, timeout: Duration) {
        if !required {
            self.auth_deadline = None;
        } else if self.auth_deadline.is_none() {
            self.auth_deadline = Some(now + timeout);
        }
    }

    pub(super) fn ping_received(&mut self, now: Time) {
        self.last_ping_received = Some(now);
    }

    /// A PONG: if it answers our PING, returns the round trip it measured.
    pub(super) fn pong_received(&mut self, now: Time) -> Option<Duration> {
        let answered = self.outstanding > 0;
        self.outstanding = 0;
        self.rtt_known = true;
        answered.then(|| now.saturating_since(self.rtt_start))
    }
}

/// `min(interval, FIRST_PING_MAX)` plus up to 20% jitter.
fn first_interval(interval: Duration, rng: &mut Rng) -> Duration {
    let d = interval.min(FIRST_PING_MAX);
    let jitter_max = d.as_nanos() as u64 / 5;
    let jitter = if jitter_max > 0 {
        rng.below(jitter_max)
    } else {
        0
    };
    d + Duration::from_nanos(jitter)
}

impl State {
    /// Fires whatever timers are due at `now`.
    pub(super) fn on_timeout(&mut self, now: Time, sh: &Shared) {
        if self.keepalive.auth_deadline.is_some_and(|d| now >= d) {
            self.log(LogLevel::Debug, text::AUTH_TIMEOUT.to_string());
            self.send_err(text::AUTH_TIMEOUT);
            self.close(CloseReason::AuthenticationTimeout, now, sh);
            return;
        }
        if self.keepalive.expires.is_some_and(|e| now >= e) {
            self.log(LogLevel::Debug, "User JWT expired".to_string());
            self.send_err(text::AUTH_EXPIRED);
            self.close(CloseReason::AuthenticationExpired, now, sh);
            return;
        }
        if now >= self.keepalive.next_ping {
            self.ping_timer(now, sh);
        }
    }

    fn ping_timer(&mut self, now: Time, sh: &Shared) {
        let k = &mut self.keepalive;
        let need_rtt = !k.rtt_known || now - k.rtt_start > RTT_REFRESH;
        let recently_active = now - k.last_activity < k.interval;
        let recently_pinged = k.last_ping_received.is_some_and(|t| now - t < k.interval);
        k.next_ping = now + k.interval;
        if !need_rtt && (recently_active || recently_pinged) {
            return;
        }
        if k.outstanding + 1 > k.max_out {
            self.log(
                LogLevel::Debug,
                "Stale Client Connection - Closing".to_string(),
            );
            self.send_err(text::STALE_CONNECTION);
            self.close(CloseReason::StaleConnection, now, sh);
            return;
        }
        k.outstanding += 1;
        k.rtt_start = now;
        self.trace_out("PING");
        self.send(encode::PING);
    }
}

//! The per-connection state machine.
//!
//! One [`Connection`] per client socket, driven by its runtime through `&mut self`: no locks
//! inside. It owns the parser, the CONNECT options, auth state, keep-alive, permissions, its
//! subscriptions and its match cache. Everything it sends goes into its [`ClientHandle`]'s
//! outbound queue, which the runtime's writer drains.
//!
//! # Layout
//! - `mod.rs`: the API (accept, `handle_*`, `poll_*`) and op dispatch.
//! - [`ops`](self): CONNECT, SUB, UNSUB and the error paths.
//! - `publish.rs`: PUB/HPUB → match → deliver, the hot path.
//! - `keepalive.rs`: server PINGs, stale detection, the auth timeout.
//! - `reload.rs`: applying reloaded options to a live connection (limits, keep-alive,
//!   re-authentication, permissions).

mod cross;
mod decision;
mod keepalive;
mod ops;
mod publish;
mod rate;
mod reload;
mod route;
mod sids;
mod trace;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::auth::CompiledPermissions;
use crate::client::{ClientHandle, Delivered, Notify, Subscription};
use crate::errors::{text, CloseReason};
use crate::info::ClientOpts;
use crate::options::Options;
use crate::proto::{encode, Limits, Op, ParseError, Parser};
use crate::rng::Rng;
use crate::shared::{Account, ClientInfo, Shared};
use crate::sublist::MatchResult;
use crate::{FastMap, Time};

use decision::CalloutContext;
pub use decision::{AuthDecision, AuthRequest};
pub use keepalive::FIRST_PING_MAX;
pub use route::our_info as our_route_info;

/// Something the runtime should know about, beyond bytes to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnEvent {
    /// The connection is closed; the writer flushes what is queued and closes the socket.
    Closed(CloseReason),
    /// A line for the server log.
    Log(LogLevel, String),
}

/// Log levels for [`ConnEvent::Log`], as the Go server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// `[DBG]`.
    Debug,
    /// `[INF]`.
    Info,
    /// `[WRN]`.
    Warn,
    /// `[ERR]`.
    Error,
    /// `[TRC]`: protocol tracing.
    Trace,
}

/// Most entries in a connection's own match cache before it is cleared (Go: 512).
const L1_MAX: usize = 512;
/// Most entries in the publish-permission cache before it is cleared (Go: 128).
const PERM_CACHE_MAX: usize = 128;
/// Most events kept for the runtime; beyond this, log lines are dropped (never `Closed`).
const MAX_EVENTS: usize = 256;
/// The same bound while protocol tracing is on (a read batch can hold thousands of ops).
const MAX_TRACE_EVENTS: usize = 1 << 16;

/// A client connection's protocol state machine.
///
/// # Method kinds
///
/// - Construction, once per socket: [`accept`](Self::accept) (a client),
///   [`accept_route`](Self::accept_route) (a peer dialled our cluster port) or
///   [`connect_route`](Self::connect_route) (we dialled a peer after the node's `Dial`).
///   Every other call is the same for both kinds; a route's read is never paused by the
///   producer stall (Go stalls only clients), a client's also by its publish rate limits.
/// - Inputs (`handle_*`, each with `now`): [`handle_read_paced`](Self::handle_read_paced)
///   (bytes read; may consume fewer), [`handle_auth_decision`](Self::handle_auth_decision),
///   [`handle_timeout`](Self::handle_timeout),
///   [`handle_config_change`](Self::handle_config_change) (after a reload),
///   [`handle_close`](Self::handle_close) (the socket or the writer ended). [`handle_read`](Self::handle_read) is the unpaced read for
///   drivers without flow control (simulator, fuzzing, benches).
/// - Outputs (`poll_*`): [`poll_event`](Self::poll_event) (log lines, `Closed`),
///   [`poll_auth_request`](Self::poll_auth_request),
///   [`poll_read_pause`](Self::poll_read_pause), [`poll_timeout`](Self::poll_timeout). Bytes to write are not
///   polled: they are in [`handle`](Self::handle)'s outbound queue, and its `Notify` wakes the
///   runtime's writer.
///
/// # Polling order
///
/// After every input, the runtime:
/// 1. takes [`poll_auth_request`](Self::poll_auth_request): if there is one, it reads
///    nothing and offers nothing until it has called `handle_auth_decision`;
/// 2. asks [`poll_read_pause`](Self::poll_read_pause): `Some(t)` means no socket read and no
///    `handle_read_paced` before `t`;
/// 3. then offers the bytes the last `handle_read_paced` did not consume (possibly none)
///    before reading the socket again;
/// 4. drains [`poll_event`](Self::poll_event) (stop at `Closed`);
/// 5. re-arms its timer from [`poll_timeout`](Self::poll_timeout) (timers run while paused
///    or waiting for an auth decision).
pub struct Connection {
    parser: Parser,
    st: State,
}

/// Everything but the parser, so ops borrowed from the parser can be processed against it.
struct State {
    cid: u64,
    handle: Arc<ClientHandle>,
    account: Arc<Account>,
    addr: Option<SocketAddr>,
    opts: ClientOpts,
    /// The server options this connection runs with, and their generation in `Shared`.
    cfg: Arc<Options>,
    cfg_generation: u64,
    /// What the client presented in CONNECT, kept to re-authenticate after a reload.
    creds: reload::StoredCredentials,
    /// The nonce our INFO gave it to sign (nkey users configured), else empty.
    nonce: Box<str>,
    /// The names its TLS client certificate gives (see `TlsInfo::peer_identities`).
    cert_names: Vec<String>,
    /// Its TLS session (version, suite), for the auth callout's request.
    tls_session: Option<Box<(String, String)>>,
    /// Why its CONNECT was refused, when a provider said (sent with the callout's
    /// `send_reason`).
    auth_reason: Option<String>,
    /// The account of the callout that decided its CONNECT, if one did.
    callout_account: Option<String>,
    auth_required: bool,
    connect_received: bool,
    perms: Option<Arc<CompiledPermissions>>,
    pub_perm_cache: FastMap<Box<[u8]>, bool>,
    subs: sids::SidMap,
    l1: FastMap<Box<[u8]>, Arc<MatchResult<Subscription>>>,
    l1_generation: u64,
    /// The last subject looked up and its result (valid with `l1_generation`).
    l1_last_subject: Vec<u8>,
    l1_last: Option<Arc<MatchResult<Subscription>>>,
    keepalive: keepalive::Keepalive,
    rng: Rng,
    batch: Batch,
    stall: Stall,
    /// This read is paced (`handle_read_paced`): slow auth checks go out as requests.
    paced: bool,
    /// A CONNECT waiting for its auth decision (taken by `poll_auth_request`); set until
    /// taken, then `awaiting_auth` until the decision.
    auth_request: Option<Box<AuthRequest>>,
    awaiting_auth: bool,
    closed: Option<CloseReason>,
    events: VecDeque<ConnEvent>,
    /// When the connection was made.
    start: Time,
    /// Set on a route connection (its kind); `None` for a client.
    route: Option<Box<route::RouteState>>,
    /// The server is in a cluster: queue groups may have route members with weights.
    clustered: bool,
    /// Routes the message being delivered goes to, each with the queue groups picked
    /// there (space separated): one `RMSG` per route per message. Empty between messages.
    route_targets: Vec<(Arc<ClientHandle>, Vec<u8>)>,
    /// Imports the message being delivered has crossed (see `conn/cross.rs`).
    cross_depth: u8,
    /// The message being delivered came in through a service import (a request or its
    /// response): stream imports do not pass it on (Go's `pmrMsgImportedFromService`).
    from_service: bool,
    /// The limits of the account the client is bound to (set at CONNECT).
    account_limits: crate::options::AccountLimits,
    /// A CONNECT changed what the parser must know (headers, the account's payload limit).
    parser_dirty: bool,
    /// The parser's account of the last bad argument line, for the log (cold).
    bad_args: Option<Box<crate::proto::BadArgs>>,
    /// `account/user:name` once a user authenticated, for the log prefix (Go 2.15.1).
    user_tag: Option<String>,
    /// Its publish rate limits' state, once a limit applied (see `conn/rate.rs`).
    rate: Option<Box<rate::RateState>>,
    /// Its user's `publish_rate` (kept to recompute after a reload).
    user_rate: Option<Box<crate::options::RateLimit>>,
    /// A limit applies (own or the account's): the one check the publish path makes.
    rate_active: bool,
    /// Payload bytes this connection's messages have queued for receivers, ever (see
    /// [`Connection::fanned_out`]).
    fanned_out: u64,
}

/// Work accumulated during one read batch and settled at its end.
#[derive(Default)]
struct Batch {
    in_msgs: u64,
    in_bytes: u64,
    out_msgs: u64,
    out_bytes: u64,
    /// Receivers owed a wake-up (each at most once per batch, see `ClientHandle::wake`).
    dirty: Vec<Arc<ClientHandle>>,
    /// Subscriptions that reached their auto-unsubscribe limit.
    exhausted: Vec<Arc<Subscription>>,
    /// A receiver went over its stall mark during the last op (see [`Stall`]).
    stall: bool,
    /// Messages for internal subscriptions, handled at the end of the batch (bounded by the
    /// ops in one read buffer).
    internal: Vec<InternalCall>,
}

/// A message matched by an internal subscription, for its handler.
struct InternalCall {
    handler: Arc<dyn crate::internal::InternalHandler>,
    account: Arc<Account>,
    msg: crate::internal::InternalMsg,
    now: Time,
}

/// Go's fast-producer stall: a publisher whose message leaves a receiver's queue over
/// [`stall_mark`](crate::client::stall_mark) pauses before its next op, giving the receiver's
/// writer time to drain, rather than pushing it over `max_pending` (which closes it as a slow
/// consumer). Go 2.10+'s figures: [`STALL_STEP`] per pause, at most [`STALL_BUDGET`] per
/// read buffer (2.9.10 paused 100 ms to 1 s per delivery, with no budget).
#[derive(Debug, Default)]
struct Stall {
    /// Paused: the runtime re-offers the rest of its buffer at or after this time.
    until: Option<Time>,
    /// Pause time spent on the current read buffer.
    spent: std::time::Duration,
}

/// Longest control line a route may send (Go enforces none on routes; this bounds what
/// one op may buffer, far above any real `RMSG` with its queue names).
pub const ROUTE_MAX_CONTROL_LINE: usize = 1 << 20;
/// Largest payload taken from a route unless `max_payload` is larger (Go enforces none:
/// each server checked its own clients' payloads; this bounds what one op may buffer).
pub const ROUTE_MAX_PAYLOAD: usize = 64 << 20;

/// One pause of a fast producer (Go 2.10+: `stallClientMinDuration`).
pub const STALL_STEP: std::time::Duration = std::time::Duration::from_millis(2);
/// Most pause time per read buffer (Go 2.10+: `stallTotalAllowed`); past it the producer
/// runs on, and a receiver that still cannot keep up becomes a slow consumer.
pub const STALL_BUDGET: std::time::Duration = std::time::Duration::from_millis(10);

impl Connection {
    /// Accepts a new client: registers it, queues INFO, arms its timers. If the server is at
    /// `max_connections` the connection comes back already closed (INFO, then `-ERR`).
    pub fn accept(
        sh: &Shared,
        now: Time,
        addr: Option<SocketAddr>,
        notify: Arc<dyn Notify>,
    ) -> Connection {
        let (cfg, cfg_generation) = sh.opts_with_generation();
        let cid = sh.next_cid();
        let handle = Arc::new(ClientHandle::new(
            cid,
            addr,
            cfg.max_pending,
            cfg.seed,
            notify,
        ));
        let limits = Limits {
            max_control_line: cfg.max_control_line,
            max_payload: cfg.max_payload,
        };
        let auth_required = cfg.auth.required();
        let mut conn = Connection {
            parser: Parser::new(limits),
            st: State::new(sh, now, handle, addr, cfg, cfg_generation, auth_required),
        };
        conn.st.send_info(sh);
        let info = ClientInfo {
            addr,
            start: now,
            name: String::new(),
            lang: String::new(),
            version: String::new(),
            user: None,
            account: crate::shared::GLOBAL_ACCOUNT.to_string(),
            tls: None,
            tls_first: false,
        };
        if sh.register(Arc::clone(&conn.st.handle), info).is_err() {
            conn.st
                .log(LogLevel::Error, text::MAX_CONNECTIONS.to_string());
            conn.st.send_err(text::MAX_CONNECTIONS);
            conn.st.closed = Some(CloseReason::MaxConnectionsExceeded);
            conn.st
                .handle
                .close_after_flush(CloseReason::MaxConnectionsExceeded);
            conn.st
                .push_event(ConnEvent::Closed(CloseReason::MaxConnectionsExceeded));
        }
        conn.st.finish_batch(sh);
        conn
    }

    /// A route a peer server dialled (on the cluster port): queues our route INFO; with
    /// cluster authorization, the peer's CONNECT must come first, within its timeout.
    /// Only for a server with a `cluster` block.
    pub fn accept_route(
        sh: &Shared,
        now: Time,
        addr: Option<SocketAddr>,
        notify: Arc<dyn Notify>,
    ) -> Connection {
        Connection::route(sh, now, addr, notify, None)
    }

    /// A route we dialled to `url` (a [`crate::node::NodeAction::Dial`] that connected):
    /// queues our CONNECT and INFO.
    pub fn connect_route(
        sh: &Shared,
        now: Time,
        addr: Option<SocketAddr>,
        notify: Arc<dyn Notify>,
        url: crate::options::RouteUrl,
    ) -> Connection {
        Connection::route(sh, now, addr, notify, Some(url))
    }

    fn route(
        sh: &Shared,
        now: Time,
        addr: Option<SocketAddr>,
        notify: Arc<dyn Notify>,
        url: Option<crate::options::RouteUrl>,
    ) -> Connection {
        let (cfg, cfg_generation) = sh.opts_with_generation();
        let cid = sh.next_cid();
        let handle = Arc::new(ClientHandle::new_route(
            cid,
            addr,
            cfg.max_pending,
            cfg.seed,
            notify,
        ));
        // Go enforces neither limit on routes; these bound what one op may buffer.
        let limits = Limits {
            max_control_line: ROUTE_MAX_CONTROL_LINE,
            max_payload: ROUTE_MAX_PAYLOAD.max(cfg.max_payload),
        };
        let cluster = cfg.cluster.clone().unwrap_or_default();
        // An accepted route's first op must be CONNECT, within the cluster's auth timeout,
        // credentials or not: Go 2.15.1 answers anything else with `Authorization
        // Violation` (2.9.10 only did with cluster authorization; a Go dialer of either
        // version sends CONNECT first, so peers see no difference).
        let auth_required = url.is_none();
        let mut parser = Parser::for_peer(limits, crate::proto::ConnKind::Route);
        parser.set_headers(true);
        let mut st = State::new(sh, now, handle, addr, cfg, cfg_generation, auth_required);
        st.keepalive.for_route(
            now,
            auth_required.then_some(cluster.auth_timeout),
            &mut st.rng,
        );
        st.opts.verbose = false;
        st.opts.pedantic = false;
        st.route = Some(Box::new(route::RouteState {
            url,
            remote: None,
            registered: false,
            subs: crate::keyed_map(st.cfg.seed),
        }));
        let mut conn = Connection { parser, st };
        conn.st.start_route(sh);
        conn.st.finish_batch(sh);
        conn
    }

    /// A client's TLS handshake is done (`first`: it came before INFO). The runtime calls
    /// this once, after the handshake and before offering the first decrypted byte; the
    /// session shows in `/connz`, and with `verify_and_map` the certificate's names are
    /// what CONNECT is authenticated by.
    pub fn handle_tls_established(&mut self, info: crate::tls::TlsInfo, first: bool, sh: &Shared) {
        let session = (info.version, info.cipher_suite);
        self.st.tls_session = Some(Box::new(session.clone()));
        sh.update_info(self.st.cid, move |i| {
            i.tls = Some(Box::new(session));
            i.tls_first = first;
        });
        self.st.cert_names = info.peer_identities;
    }

    /// After a CONNECT (`parser_dirty`): the parser takes what it negotiated (headers) and
    /// its account's and user's limits, once. Called after every op: one flag test.
    #[inline]
    fn refresh_parser(&mut self) {
        if !std::mem::take(&mut self.st.parser_dirty) {
            return;
        }
        self.parser
            .set_headers(self.st.opts.headers && !self.st.cfg.no_header_support);
        if let Some(max) = self.st.account_limits.max_payload.take() {
            // The account's `max_payload`, once (Go: the tighter of the two).
            let cap = usize::try_from(max).unwrap_or(usize::MAX);
            self.parser.set_limits(Limits {
                max_control_line: self.st.cfg.max_control_line,
                max_payload: self.st.cfg.max_payload.min(cap),
            });
        }
    }

    /// True for a route connection.
    pub fn is_route(&self) -> bool {
        self.st.route.is_some()
    }

    /// The connection id.
    pub fn cid(&self) -> u64 {
        self.st.cid
    }

    /// The shared half: the runtime's writer drains its outbound queue.
    pub fn handle(&self) -> &Arc<ClientHandle> {
        &self.st.handle
    }

    /// Payload bytes this connection's messages have queued for receivers so far (a
    /// wrapping count): a runtime that reads many times before its writers run can let
    /// them run once a burst has fanned out far (see the tokio reader).
    pub fn fanned_out(&self) -> u64 {
        self.st.fanned_out
    }

    /// True once closed; the runtime stops reading.
    pub fn is_closed(&self) -> bool {
        self.st.closed.is_some()
    }

    /// Processes bytes read from the socket, in order, at time `now`, all of them: no flow
    /// control (see [`handle_read_paced`](Self::handle_read_paced) for what runtimes use).
    ///
    /// Ops are acted on as they complete; a partial op is kept for the next call. Returns
    /// `Err(reason)` once the connection is closed (by this input or earlier); what it sent
    /// last (an `-ERR`, say) is still queued for the writer to flush.
    pub fn handle_read(&mut self, now: Time, bytes: &[u8], sh: &Shared) -> Result<(), CloseReason> {
        self.st.stall.until = None;
        self.read(now, bytes, sh, false).map(|_| ())
    }

    /// Processes bytes read from the socket with flow control: it may stop short.
    ///
    /// Returns how many bytes it consumed. After every call the runtime asks
    /// [`poll_read_pause`](Self::poll_read_pause): `Some(t)` means the connection paused (a
    /// receiver of its last message is over its stall mark), and until `t` the runtime
    /// neither reads the socket (TCP pushes back on the producer) nor calls this again;
    /// then it first offers the bytes not consumed (`bytes[consumed..]`, possibly none),
    /// then reads on. Consumed bytes short of `bytes.len()` happen only with a pause. A
    /// pause never splits an op; pauses add up to at most [`STALL_BUDGET`] per read buffer.
    /// Timers ([`handle_timeout`](Self::handle_timeout)) run as usual while paused. `Err` as
    /// for [`handle_read`](Self::handle_read).
    pub fn handle_read_paced(
        &mut self,
        now: Time,
        bytes: &[u8],
        sh: &Shared,
    ) -> Result<usize, CloseReason> {
        if self.st.stall.until.take().is_none() {
            // Fresh bytes from the socket, not the rest of a paused buffer: a new budget.
            self.st.stall.spent = std::time::Duration::ZERO;
        }
        self.read(now, bytes, sh, true)
    }

    /// While paused by [`handle_read_paced`](Self::handle_read_paced): the time from which
    /// the rest of the buffer may be offered again. `None` when not paused.
    pub fn poll_read_pause(&self) -> Option<Time> {
        if self.st.closed.is_some() {
            return None;
        }
        self.st.stall.until
    }

    /// A CONNECT whose credentials must be checked off the serving thread (a bcrypt hash),
    /// set by [`handle_read_paced`](Self::handle_read_paced), which stopped right after it.
    ///
    /// Contract: after every `handle_read_paced` the runtime takes this; if there is one, it
    /// gets an [`AuthDecision`] somewhere that may block ([`AuthRequest::decide`] on a
    /// blocking pool, or another provider), meanwhile neither reads the socket nor calls
    /// `handle_read_paced`, and hands the answer to
    /// [`handle_auth_decision`](Self::handle_auth_decision). Then it offers the bytes not
    /// consumed and reads on. Timers run as usual (the auth timeout still applies).
    pub fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        let r = self.st.auth_request.take().map(|b| *b);
        self.st.awaiting_auth |= r.is_some();
        if let Some(opts) = r.as_ref().and_then(AuthRequest::callout_options) {
            // Where a refusal's `$SYS.ACCOUNT.CLIENT.AUTH.ERR` event goes.
            self.st.callout_account = Some(opts.account.clone());
        }
        r
    }

    /// The decision for the request taken from
    /// [`poll_auth_request`](Self::poll_auth_request), at `now`. Accepted: the CONNECT
    /// completes (`+OK` if verbose) and what the client sent after it is processed when
    /// offered. Rejected: `-ERR 'Authorization Violation'` and the connection closes. Ignored
    /// if the connection closed meanwhile (the auth timeout, say) or nothing was asked.
    pub fn handle_auth_decision(&mut self, now: Time, decision: AuthDecision, sh: &Shared) {
        if self.st.closed.is_some() || !self.st.awaiting_auth {
            return;
        }
        self.st.awaiting_auth = false;
        if let Some(why) = &decision.reason {
            // Go logs the callout's reason as a warning of the server's own.
            self.st.log(LogLevel::Warn, why.clone());
            self.st.auth_reason = Some(why.clone());
        }
        self.st.finish_connect(decision.authorized, now, sh);
        // Before the next op is parsed: the first PUB after a CONNECT decided later is
        // held to its account's (or user's) `max_payload` too (found by a JWT test).
        self.refresh_parser();
        self.st.finish_batch(sh);
    }

    fn read(
        &mut self,
        now: Time,
        bytes: &[u8],
        sh: &Shared,
        paced: bool,
    ) -> Result<usize, CloseReason> {
        if let Some(r) = self.st.closed {
            return Err(r);
        }
        if self.st.awaiting_auth || self.st.auth_request.is_some() {
            // Contract: nothing is offered while a CONNECT waits for its decision.
            debug_assert!(paced, "handle_read while waiting for an auth decision");
            return Ok(0);
        }
        self.st.paced = paced;
        self.st.keepalive.activity(now);
        self.st
            .handle
            .last_activity
            .store(now.as_nanos(), Ordering::Relaxed);
        let mut pos = 0;
        // The kind, read once per buffer: the client path's dispatch stays as it was.
        let route = self.st.route.is_some();
        while pos < bytes.len() && self.st.closed.is_none() {
            if self.st.auth_required
                && !self.st.connect_received
                && self.parser.at_op_start()
                && !matches!(bytes[pos], b'C' | b'c')
            {
                // The Go server refuses at the first byte that cannot start CONNECT.
                self.st.auth_violation(now, sh);
                break;
            }
            match self.parser.parse(bytes, &mut pos) {
                Ok(Some(op)) => {
                    if self.st.tracing() {
                        self.st.trace_in(&op);
                    }
                    if route {
                        self.st.process_route_op(op, now, sh)
                    } else {
                        self.st.process(op, now, sh)
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.st.bad_args = self.parser.take_bad_args();
                    self.st.parse_error(e, now, sh)
                }
            }
            if !route {
                self.refresh_parser();
            }
            if self.st.auth_request.is_some() {
                // CONNECT waits for its decision: stop after it.
                break;
            }
            // Only clients are stalled (Go: `c.kind == CLIENT`): pausing a route would hold
            // up every account's traffic from that server behind one slow receiver.
            if self.st.rate_paused() {
                // A publish rate limit in debt: read nothing until it is repaid (TCP slows
                // the publisher; nothing is lost). Unpaced drivers just go on.
                if let Some(until) = self.st.take_rate_pause(now) {
                    if paced {
                        self.st.stall.until = Some(until);
                        break;
                    }
                }
            }
            if std::mem::take(&mut self.st.batch.stall) && paced && !route {
                let left = STALL_BUDGET.saturating_sub(self.st.stall.spent);
                if !left.is_zero() {
                    let d = STALL_STEP.min(left);
                    self.st.stall.spent += d;
                    self.st.stall.until = Some(now + d);
                    break;
                }
            }
        }
        if self.st.rate_owed() {
            // Backpressure limits are charged at least once per read (see `rate_admit`).
            self.st.flush_rate(now);
            if let Some(until) = self.st.take_rate_pause(now) {
                if paced {
                    self.st.stall.until = Some(self.st.stall.until.map_or(until, |t| t.max(until)));
                }
            }
        }
        self.st.finish_batch(sh);
        match self.st.closed {
            Some(r) => Err(r),
            None => Ok(pos),
        }
    }

    /// Acts on timers due at `now`: the auth timeout and the keep-alive PING.
    pub fn handle_timeout(&mut self, now: Time, sh: &Shared) {
        if self.st.closed.is_some() {
            return;
        }
        self.st.on_timeout(now, sh);
        self.st.finish_batch(sh);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) must be called, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.st.closed.is_some() {
            return None;
        }
        self.st.keepalive.next_deadline()
    }

    /// The socket is gone (EOF, read or write error) or the outbound queue was closed by a
    /// publisher (slow consumer) or the writer (write deadline). `reason` is used unless the
    /// queue already carries one. Idempotent.
    pub fn handle_close(&mut self, now: Time, sh: &Shared, reason: CloseReason) {
        let reason = self.st.handle.close_reason().unwrap_or(reason);
        self.st.close(reason, now, sh);
        self.st.finish_batch(sh);
    }

    /// The next event for the runtime, if any.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        self.st.events.pop_front()
    }

    /// Number of subscriptions held, closed or not, without walking them (O(1)): a runtime
    /// uses it to see that closing this connection is heavy work (see `Account::remove`).
    pub fn subscription_count(&self) -> usize {
        self.st.subs.len()
    }

    /// Number of live subscriptions (tests, monitoring).
    pub fn num_subscriptions(&self) -> usize {
        self.st.subs.values().filter(|s| !s.is_closed()).count()
    }
}

impl State {
    #[allow(clippy::too_many_arguments)]
    fn new(
        sh: &Shared,
        now: Time,
        handle: Arc<ClientHandle>,
        addr: Option<SocketAddr>,
        cfg: Arc<Options>,
        cfg_generation: u64,
        auth_required: bool,
    ) -> State {
        let cid = handle.cid;
        handle
            .last_activity
            .store(now.as_nanos(), Ordering::Relaxed);
        let mut rng = Rng::fork(cfg.seed, cid);
        let keepalive = keepalive::Keepalive::new(now, &cfg, auth_required, &mut rng);
        let seed = cfg.seed;
        let cfg_nonce = cfg.auth.nonce_required();
        State {
            cid,
            handle,
            account: Arc::clone(sh.global_account()),
            addr,
            opts: ClientOpts::default(),
            clustered: cfg.cluster.is_some(),
            cfg,
            cfg_generation,
            creds: reload::StoredCredentials::default(),
            nonce: if cfg_nonce {
                sh.new_nonce()
            } else {
                Box::default()
            },
            cert_names: Vec::new(),
            tls_session: None,
            auth_reason: None,
            callout_account: None,
            auth_required,
            connect_received: false,
            perms: None,
            pub_perm_cache: crate::keyed_map(seed),
            subs: sids::SidMap::new(seed),
            l1: crate::keyed_map(seed),
            l1_generation: 0,
            l1_last_subject: Vec::new(),
            l1_last: None,
            keepalive,
            rng,
            batch: Batch::default(),
            stall: Stall::default(),
            paced: false,
            auth_request: None,
            awaiting_auth: false,
            closed: None,
            events: VecDeque::new(),
            start: now,
            route: None,
            route_targets: Vec::new(),
            cross_depth: 0,
            from_service: false,
            account_limits: crate::options::AccountLimits::default(),
            parser_dirty: false,
            bad_args: None,
            user_tag: None,
            rate: None,
            user_rate: None,
            rate_active: false,
            fanned_out: 0,
        }
    }

    fn process(&mut self, op: Op<'_>, now: Time, sh: &Shared) {
        match op {
            Op::Connect(json) => self.process_connect(json, now, sh),
            Op::Pub {
                subject,
                reply,
                payload,
            } => self.process_pub(subject, reply, 0, payload, false, now, sh),
            Op::HPub {
                subject,
                reply,
                header_len,
                payload,
            } => self.process_pub(subject, reply, header_len, payload, true, now, sh),
            Op::Sub {
                subject,
                queue,
                sid,
            } => self.process_sub(subject, queue, sid, None),
            Op::SubMax {
                subject,
                queue,
                sid,
                max,
            } => self.process_sub(subject, queue, sid, Some(max)),
            Op::Unsub { sid, max } => self.process_unsub(sid, max),
            Op::Ping => {
                self.trace_out("PONG");
                self.send(encode::PONG);
                self.keepalive.ping_received(now);
                // Go sends async INFO (e.g. lame duck) only once a protocol-1 client has
                // done CONNECT and its first PING/PONG.
                if self.connect_received && self.opts.protocol >= 1 {
                    self.handle.enable_async_info();
                }
            }
            Op::Pong => {
                if let Some(rtt) = self.keepalive.pong_received(now) {
                    self.handle.set_rtt(rtt);
                }
            }
            // Clients may echo INFO or +OK; the Go server ignores both.
            Op::Info(_) | Op::Ok => {}
            Op::Err(e) => {
                let msg = format!("Client Error {}", String::from_utf8_lossy(e));
                self.log(LogLevel::Error, msg);
                self.close(CloseReason::ParseError, now, sh);
            }
            // Servers send MSG/HMSG; from a client they are unknown ops.
            Op::Msg { .. } | Op::HMsg { .. } => self.parse_error(ParseError::UnknownOp, now, sh),
            // A client connection's parser refuses route verbs at their first byte; routes
            // are their own connection kind (`ConnKind::Route`).
            Op::RSub { .. } | Op::RUnsub { .. } | Op::RMsg { .. } => {
                self.parse_error(ParseError::UnknownOp, now, sh)
            }
        }
    }

    fn send_info(&mut self, sh: &Shared) {
        let line = crate::info::first_info_line(sh, &self.cfg, self.cid, self.addr, &self.nonce);
        self.send(&line);
    }

    /// Queues protocol bytes to this client.
    fn send(&mut self, bytes: &[u8]) {
        let handle = Arc::clone(&self.handle);
        self.note_delivery(&handle, handle.send(bytes));
    }

    fn send_ok(&mut self) {
        if self.opts.verbose {
            self.trace_out("OK");
            self.send(encode::OK);
        }
    }

    fn send_err(&mut self, text: &str) {
        if self.tracing() {
            self.trace_out(&format!("-ERR '{text}'"));
        }
        let mut out = Vec::with_capacity(text.len() + 10);
        encode::err(&mut out, text);
        self.send(&out);
    }

    /// Books the result of queueing bytes for `to`.
    fn note_delivery(&mut self, to: &Arc<ClientHandle>, d: Delivered) {
        match d {
            Delivered::Queued { wake: true } => self.batch.dirty.push(Arc::clone(to)),
            Delivered::Queued { wake: false } | Delivered::Skipped => {}
            Delivered::QueuedStall { wake } => {
                if wake {
                    self.batch.dirty.push(Arc::clone(to));
                }
                self.batch.stall = true;
            }
            Delivered::SlowConsumer => {
                // As Go: at INF, under the slow client's own address, cid and name, with the
                // limit.
                let msg = format!(
                    "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                    to.log_prefix(),
                    to.max_pending
                );
                self.push_event(ConnEvent::Log(LogLevel::Info, msg));
            }
        }
    }

    fn push_event(&mut self, e: ConnEvent) {
        let max = if self.cfg.trace {
            MAX_TRACE_EVENTS
        } else {
            MAX_EVENTS
        };
        if self.events.len() < max || matches!(e, ConnEvent::Closed(_)) {
            self.events.push_back(e);
        }
    }

    fn log(&mut self, level: LogLevel, msg: String) {
        // Go tags a route's lines `rid:`, a client's `cid:`.
        let tag = if self.route.is_some() { "rid" } else { "cid" };
        // Go names the client once it has one: `addr - cid:5 - "name" - msg`.
        let mut name = if self.opts.name.is_empty() {
            String::new()
        } else {
            format!("{:?} - ", self.opts.name)
        };
        // Go 2.15.1 adds the account and user once authenticated: `"$G/user:bob" - `.
        if let Some(tag) = &self.user_tag {
            name.push_str(&format!("{tag:?} - "));
        }
        let line = match self.addr {
            Some(a) => format!("{a} - {tag}:{} - {name}{msg}", self.cid),
            None => format!("{tag}:{} - {name}{msg}", self.cid),
        };
        self.push_event(ConnEvent::Log(level, line));
    }

    /// Closes the connection: drops its subscriptions, unregisters it, and tells the writer
    /// to flush and close. Idempotent.
    fn close(&mut self, reason: CloseReason, now: Time, sh: &Shared) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        if self.route.is_some() {
            self.close_route(reason, sh);
            self.flush_stats(sh);
            self.handle.close_after_flush(reason);
            let level = if reason == CloseReason::DuplicateRoute {
                LogLevel::Debug
            } else {
                LogLevel::Info
            };
            self.log(level, format!("Router connection closed: {reason}"));
            self.push_event(ConnEvent::Closed(reason));
            return;
        }
        let subs: Vec<Arc<Subscription>> = self.subs.drain().collect();
        let live: Vec<crate::shared::ClosedSub> = subs
            .iter()
            .filter(|s| !s.is_closed())
            .map(|s| crate::shared::ClosedSub::of(s))
            .collect();
        if !subs.is_empty() {
            self.account.remove(subs.iter());
        }
        self.flush_stats(sh);
        let in_msgs = self.handle.in_msgs.load(Ordering::Relaxed);
        let in_bytes = self.handle.in_bytes.load(Ordering::Relaxed);
        let closed = sh.unregister(self.cid, now, reason, in_msgs, in_bytes, live);
        self.handle.close_after_flush(reason);
        if let Some(c) = closed {
            self.closed_events(&c, now, sh);
        }
        // Go logs a client's close at DBG whatever the reason (what led to it, a slow
        // consumer or an -ERR, has its own line); a route's at INF.
        self.log(
            LogLevel::Debug,
            format!("Client connection closed: {reason}"),
        );
        self.push_event(ConnEvent::Closed(reason));
    }

    /// The system account's events for a closed client: an authentication error, then
    /// (as Go 2.15.1, for every client, logged in or not) the disconnect. Slow consumers
    /// these events make are logged like any.
    #[cold]
    fn closed_events(&mut self, c: &crate::shared::ClosedClient, now: Time, sh: &Shared) {
        let mut slow = Vec::new();
        if c.reason == CloseReason::AuthenticationViolation {
            // Go names the user the client claimed (`getRawAuthUser`).
            let mut claimed = c.clone();
            if claimed.info.user.is_none() {
                claimed.info.user = self.creds.borrow().user.map(str::to_string);
            }
            slow.extend(crate::events::auth_error(sh, &claimed, now));
            if let (Some(account), Some(why)) = (&self.callout_account, &self.auth_reason) {
                slow.extend(crate::events::callout_auth_error(
                    sh, &claimed, account, why, now,
                ));
            }
        }
        slow.extend(crate::events::client_disconnect(
            sh,
            c,
            self.handle.rtt_nanos(),
            now,
        ));
        for h in slow {
            self.note_delivery(&h, crate::client::Delivered::SlowConsumer);
        }
    }

    fn flush_stats(&mut self, sh: &Shared) {
        let b = &mut self.batch;
        if b.in_msgs > 0 {
            self.handle.in_msgs.fetch_add(b.in_msgs, Ordering::Relaxed);
            self.handle
                .in_bytes
                .fetch_add(b.in_bytes, Ordering::Relaxed);
            sh.stats.in_msgs.fetch_add(b.in_msgs, Ordering::Relaxed);
            sh.stats.in_bytes.fetch_add(b.in_bytes, Ordering::Relaxed);
            self.account.in_msgs.fetch_add(b.in_msgs, Ordering::Relaxed);
            self.account
                .in_bytes
                .fetch_add(b.in_bytes, Ordering::Relaxed);
            b.in_msgs = 0;
            b.in_bytes = 0;
        }
        if b.out_msgs > 0 {
            self.fanned_out = self.fanned_out.wrapping_add(b.out_bytes);
            sh.stats.out_msgs.fetch_add(b.out_msgs, Ordering::Relaxed);
            sh.stats.out_bytes.fetch_add(b.out_bytes, Ordering::Relaxed);
            self.account
                .out_msgs
                .fetch_add(b.out_msgs, Ordering::Relaxed);
            self.account
                .out_bytes
                .fetch_add(b.out_bytes, Ordering::Relaxed);
            b.out_msgs = 0;
            b.out_bytes = 0;
        }
    }

    /// Settles a batch: runs internal handlers (their replies are delivered in this batch),
    /// removes exhausted subscriptions, publishes stats, wakes receivers.
    fn finish_batch(&mut self, sh: &Shared) {
        for mut call in std::mem::take(&mut self.batch.internal) {
            if self.route.is_none() {
                call.msg.requester = sh.client_info(self.cid).map(|i| (i.account, i.user));
            }
            if let Some(reply) = call.handler.handle(sh, &call.msg, call.now) {
                self.deliver_internal_reply(sh, &call.account, &reply, call.now);
            }
        }
        if !self.batch.exhausted.is_empty() {
            let exhausted = std::mem::take(&mut self.batch.exhausted);
            self.account.remove(exhausted.iter());
        }
        self.flush_stats(sh);
        for h in self.batch.dirty.drain(..) {
            h.wake();
        }
    }
}

#[cfg(test)]
mod account_tests;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod import_tests;
#[cfg(test)]
mod jwt_tests;
#[cfg(test)]
mod mapping_tests;
#[cfg(test)]
mod msub_tests;
#[cfg(test)]
mod nkey_tests;
#[cfg(test)]
mod rate_tests;
#[cfg(test)]
mod route_tests;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

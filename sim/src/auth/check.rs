//! The `auth` variant's oracles. Each failure is a [`ViolationKind::Auth`] whose detail
//! starts with the oracle's name:
//!
//! (1) **`served`**: no connection is served before an accept. The driver offers one op at a
//!     time, so the book knows what the node consumed: a SUB, PUB or PING of a connection
//!     whose CONNECT was not accepted (yet) is a violation when the node processes it; a
//!     `MSG` reaching a client must have been queued (its PUB processed) after both the
//!     subscriber's and the publisher's acceptance; a PONG only after acceptance; a client
//!     with bad credentials is never accepted; a CONNECT the core lets in inline, without
//!     the provider, is one too (every credential of this world is slow or refused).
//! (2) **`close`**: a reject (the provider's, a failure, the bound's refusal) closes the
//!     connection at once as `AuthenticationViolation`, and the client's last words from the
//!     server are `-ERR 'Authorization Violation'`; a connection whose decision did not come
//!     before its deadline (accept + the auth timeout) is closed then, as
//!     `AuthenticationTimeout` with `-ERR 'Authentication Timeout'`; a decision after the
//!     deadline finds it so closed and changes nothing (no event, no byte, still closed).
//!     Nothing else closes a connection in this world.
//! (3) **`in-flight`**: the requests handed to the provider whose wait is not over never
//!     number more than [`MAX_IN_FLIGHT`], and a request is refused only at that bound.
//! (4) **`liveness`**: at the end (after the heal, the provider prompt, every wait over):
//!     every heal-phase client with good credentials got in (accepted, its PING answered);
//!     every accepted connection's messages were all read and processed by the node, and
//!     each was delivered to every subscription it was owed to (same account, matching,
//!     live when the node processed it: in order, nothing lost, nothing twice); every
//!     permitted message of a heal publisher reached its account's witness.
//!
//! A decision that contradicts the credentials (good ones refused without a failure, the
//! bound or the timeout) is a `decision` violation.

use std::collections::{BTreeMap, VecDeque};

use natsd_core::errors::CloseReason;

use super::{AuthPlan, ClientPlan, Creds, Decider, MAX_IN_FLIGHT, RESTRICTED};
use crate::oracle::{Violation, ViolationKind};

/// What an `auth` run exercised (summed over batches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// Auth runs.
    pub runs: u64,
    /// Connections opened.
    pub clients: u64,
    /// Requests taken from `poll_auth_request`.
    pub requests: u64,
    /// Of which decided by the options' users (`AuthRequest::decide`).
    pub decided_by_options: u64,
    /// Of which by the provider's directory (callout requests).
    pub decided_by_provider: u64,
    /// Connections accepted.
    pub accepted: u64,
    /// Rejected by an answer (bad credentials).
    pub rejected: u64,
    /// Refused because the provider failed.
    pub failed: u64,
    /// Refused at once: the bound on decisions in flight.
    pub refused_in_flight: u64,
    /// Refused inline by the core (no request).
    pub inline: u64,
    /// Closed by the auth timeout.
    pub timed_out: u64,
    /// Requests the provider never answered.
    pub silent: u64,
    /// Waits the driver gave up (the auth timeout from the request).
    pub given_up: u64,
    /// Decisions handed to a connection already closed by the timeout (ignored).
    pub late: u64,
    /// Most requests in flight at once (a max in sums).
    pub max_in_flight: u64,
    /// Runs that reached the bound.
    pub runs_at_bound: u64,
    /// PUBs the node processed.
    pub processed: u64,
    /// Deliveries checked.
    pub deliveries: u64,
    /// Deliveries to the heal phase's witnesses.
    pub witnessed: u64,
    /// `Permissions Violation` answers to a restricted client (the provider's permissions).
    pub perm_errors: u64,
    /// Pipelined ops the node processed after an acceptance (they waited in the socket).
    pub resumed_ops: u64,
    /// Heal-phase clients with good credentials (each must get in).
    pub heal_good: u64,
    /// Impatient clients that closed their socket.
    pub gone: u64,
    /// Second, contradicting answers handed to a decided connection (ignored).
    pub duplicates: u64,
    /// Of which a refusal to a connection accepted and open.
    pub refusals_after_accept: u64,
    /// `+OK`s to verbose clients (each after the accept).
    pub oks: u64,
}

impl AuthStats {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &AuthStats) {
        self.runs += o.runs;
        self.clients += o.clients;
        self.requests += o.requests;
        self.decided_by_options += o.decided_by_options;
        self.decided_by_provider += o.decided_by_provider;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.failed += o.failed;
        self.refused_in_flight += o.refused_in_flight;
        self.inline += o.inline;
        self.timed_out += o.timed_out;
        self.silent += o.silent;
        self.given_up += o.given_up;
        self.late += o.late;
        self.max_in_flight = self.max_in_flight.max(o.max_in_flight);
        self.runs_at_bound += o.runs_at_bound;
        self.processed += o.processed;
        self.deliveries += o.deliveries;
        self.witnessed += o.witnessed;
        self.perm_errors += o.perm_errors;
        self.resumed_ops += o.resumed_ops;
        self.heal_good += o.heal_good;
        self.gone += o.gone;
        self.duplicates += o.duplicates;
        self.refusals_after_accept += o.refusals_after_accept;
        self.oks += o.oks;
    }
}

/// Where a connection's authentication stands, as the book knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum St {
    /// Not opened yet.
    Absent,
    /// Opened, CONNECT not processed.
    Connecting,
    /// CONNECT processed, its decision not applied.
    Pending,
    /// Let in (world ns).
    Accepted(u64),
    /// Refused by a decision applied before the deadline.
    Rejected(Why),
    /// Refused by the core inline.
    Inline,
    /// Closed by the auth timeout.
    TimedOut,
}

/// Why a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The credentials are wrong.
    Credentials,
    /// The provider failed.
    Failure,
    /// The bound on decisions in flight.
    InFlight,
    /// The driver gave up waiting.
    GaveUp,
}

/// A decision as the driver hands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    /// An accept.
    Accept,
    /// A refusal, and why.
    Refuse(Why),
}

/// What the node processed of a client, one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// CONNECT (judged with the request, see [`Book::on_connect`]).
    Connect,
    /// `SUB pattern 1`.
    Sub(String),
    /// A `PUB` carrying message `seq` on `subject`.
    Pub(String, u64),
    /// `PING`.
    Ping,
    /// Anything else (the clients send nothing else).
    Other,
}

#[derive(Debug, Clone)]
struct ConnBook {
    plan: ClientPlan,
    opened: u64,
    state: St,
    closed: Option<(CloseReason, u64)>,
    sub: Option<String>,
    written: u64,
    processed: u64,
    pings: u64,
    pongs: u64,
    perm_owed: u64,
    perm_seen: u64,
    last_err: Option<String>,
    eof: bool,
    /// Ops processed after the acceptance.
    resumed: u64,
    /// The client closed its socket.
    gone: bool,
}

#[derive(Debug, Clone)]
struct Msg {
    subject: String,
    processed_at: Option<u64>,
    permitted: bool,
    witnessed: bool,
}

/// Everything the oracles know.
#[derive(Debug)]
pub struct Book {
    timeout_ns: u64,
    conns: Vec<ConnBook>,
    msgs: BTreeMap<(usize, u64), Msg>,
    /// (subscriber, publisher) → the publisher's sequence numbers owed, in order.
    owed: BTreeMap<(usize, usize), VecDeque<u64>>,
    in_flight: usize,
    /// Counts for the report.
    pub stats: AuthStats,
}

fn served(msg: String) -> Violation {
    Violation::new(ViolationKind::Auth, format!("served: {msg}"))
}

fn close(msg: String) -> Violation {
    Violation::new(ViolationKind::Auth, format!("close: {msg}"))
}

fn in_flight(msg: String) -> Violation {
    Violation::new(ViolationKind::Auth, format!("in-flight: {msg}"))
}

fn liveness(msg: String) -> Violation {
    Violation::new(ViolationKind::Auth, format!("liveness: {msg}"))
}

fn decision(msg: String) -> Violation {
    Violation::new(ViolationKind::Auth, format!("decision: {msg}"))
}

/// The `(publisher, seq)` a payload carries (`P<pub>.<seq>.`).
fn parse_payload(p: &[u8]) -> Option<(usize, u64)> {
    let s = std::str::from_utf8(p.strip_prefix(b"P")?).ok()?;
    let mut it = s.splitn(3, '.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// The text of an `-ERR` line without its quotes.
fn unquote(text: &str) -> &str {
    text.trim().trim_matches('\'')
}

impl Book {
    /// A book for `plan`'s clients.
    pub fn new(plan: &AuthPlan) -> Book {
        let conns = plan
            .clients
            .iter()
            .map(|c| ConnBook {
                plan: c.clone(),
                opened: 0,
                state: St::Absent,
                closed: None,
                sub: None,
                written: 0,
                processed: 0,
                pings: 0,
                pongs: 0,
                perm_owed: 0,
                perm_seen: 0,
                last_err: None,
                eof: false,
                resumed: 0,
                gone: false,
            })
            .collect();
        Book {
            timeout_ns: plan.timeout_ns,
            conns,
            msgs: BTreeMap::new(),
            owed: BTreeMap::new(),
            in_flight: 0,
            stats: AuthStats {
                runs: 1,
                ..AuthStats::default()
            },
        }
    }

    /// The auth deadline of `c` (world ns).
    pub fn deadline(&self, c: usize) -> u64 {
        self.conns[c].opened + self.timeout_ns
    }

    /// `c` opened its connection.
    pub fn on_open(&mut self, c: usize, now: u64) {
        let b = &mut self.conns[c];
        b.opened = now;
        b.state = St::Connecting;
        self.stats.clients += 1;
    }

    /// `c` closed its socket (an impatient client): it reads nothing more.
    pub fn on_gone(&mut self, c: usize) {
        self.conns[c].gone = true;
        self.stats.gone += 1;
    }

    /// `c` wrote message `seq` on `subject`.
    pub fn on_written(&mut self, c: usize, seq: u64, subject: &str) {
        self.conns[c].written = seq;
        let m = Msg {
            subject: subject.to_string(),
            processed_at: None,
            permitted: false,
            witnessed: false,
        };
        self.msgs.insert((c, seq), m);
    }

    /// The node processed `c`'s CONNECT: it asked for a decision (`requested`), or it is
    /// already `closed` (refused inline), or neither (let in inline).
    pub fn on_connect(&mut self, c: usize, requested: bool, closed: bool) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        if b.state != St::Connecting {
            return Err(served(format!(
                "conn {c}: a second CONNECT processed (state {:?})",
                b.state
            )));
        }
        if requested {
            b.state = St::Pending;
            self.stats.requests += 1;
            match b.plan.decider {
                Decider::Options => self.stats.decided_by_options += 1,
                Decider::Provider => self.stats.decided_by_provider += 1,
                Decider::Inline => {
                    return Err(decision(format!(
                        "conn {c} ({:?}) became a request: the core decides it inline",
                        b.plan.creds
                    )))
                }
            }
        } else if !closed {
            return Err(served(format!(
                "conn {c} ({:?}, {:?}) was let in inline, without the provider",
                b.plan.creds, b.plan.decider
            )));
        }
        Ok(())
    }

    /// The driver handed `c`'s request to the provider: (3) the bound holds.
    pub fn on_handed(&mut self, c: usize) -> Result<(), Violation> {
        self.in_flight += 1;
        self.stats.max_in_flight = self.stats.max_in_flight.max(self.in_flight as u64);
        if self.in_flight == MAX_IN_FLIGHT && self.stats.runs_at_bound == 0 {
            self.stats.runs_at_bound = 1;
        }
        if self.in_flight > MAX_IN_FLIGHT {
            return Err(in_flight(format!(
                "conn {c}'s request is the {}th waiting for the provider (bound {MAX_IN_FLIGHT})",
                self.in_flight
            )));
        }
        Ok(())
    }

    /// The driver refused `c`'s request at once for the bound: (3) only at the bound.
    pub fn on_refused(&mut self, c: usize) -> Result<(), Violation> {
        if self.in_flight < MAX_IN_FLIGHT {
            return Err(in_flight(format!(
                "conn {c} refused as too many in flight with {} waiting (bound {MAX_IN_FLIGHT})",
                self.in_flight
            )));
        }
        self.stats.refused_in_flight += 1;
        Ok(())
    }

    /// The wait for one request is over (its answer came, or the driver gave up).
    pub fn on_wait_over(&mut self) {
        self.in_flight -= 1;
    }

    /// A decision for `c` is about to be handed to its connection at `now` (`open`: the
    /// connection is not closed). Returns true if it is late (at or after the deadline):
    /// (2) then the timeout must have closed it already.
    pub fn before_decision(&self, c: usize, now: u64, open: bool) -> Result<bool, Violation> {
        let b = &self.conns[c];
        let deadline = self.deadline(c);
        if now >= deadline {
            if b.state != St::TimedOut || open {
                return Err(close(format!(
                    "conn {c}: a decision at {:.3} ms, after its auth deadline {:.3} ms, found it \
                     {} (state {:?}, closed {:?}): the auth timeout must close it at the deadline",
                    now as f64 / 1e6,
                    deadline as f64 / 1e6,
                    if open { "open" } else { "closed" },
                    b.state,
                    b.closed
                )));
            }
            return Ok(true);
        }
        if b.state != St::Pending || !open {
            return Err(close(format!(
                "conn {c}: a decision before its deadline found it in state {:?} (open: {open}, \
                 closed {:?})",
                b.state, b.closed
            )));
        }
        Ok(false)
    }

    /// A late decision was handed: (2) it changed nothing.
    pub fn after_late(
        &mut self,
        c: usize,
        still_closed: bool,
        events: usize,
        bytes: usize,
    ) -> Result<(), Violation> {
        if !still_closed || events > 0 || bytes > 0 {
            return Err(close(format!(
                "conn {c}: a decision after the auth timeout changed it: closed {still_closed}, \
                 {events} new events, {bytes} new bytes to write"
            )));
        }
        self.stats.late += 1;
        Ok(())
    }

    /// A second decision was handed to `c`, already decided: (2) it changed nothing.
    pub fn after_duplicate(
        &mut self,
        c: usize,
        closed: (bool, bool),
        events: usize,
        bytes: usize,
    ) -> Result<(), Violation> {
        if closed.0 != closed.1 || events > 0 || bytes > 0 {
            return Err(close(format!(
                "conn {c} ({:?}): a second decision changed it: closed {} -> {}, {events} new \
                 events, {bytes} new bytes to write",
                self.conns[c].state, closed.0, closed.1
            )));
        }
        self.stats.duplicates += 1;
        if !closed.0 && matches!(self.conns[c].state, St::Accepted(_)) {
            self.stats.refusals_after_accept += 1;
        }
        Ok(())
    }

    /// `c` received `+OK`: (1) only once accepted.
    pub fn on_ok(&mut self, c: usize) -> Result<(), Violation> {
        let b = &self.conns[c];
        if !matches!(b.state, St::Accepted(_)) || !b.plan.verbose {
            return Err(served(format!(
                "conn {c} got +OK in state {:?} (verbose {})",
                b.state, b.plan.verbose
            )));
        }
        self.stats.oks += 1;
        Ok(())
    }

    /// A decision (not late) is handed to `c` now: the book moves first, so the close it
    /// causes is judged by [`on_closed`](Self::on_closed).
    pub fn on_decision(&mut self, c: usize, now: u64, d: Decided) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        match d {
            Decided::Accept => {
                if b.plan.creds != Creds::Good {
                    return Err(served(format!(
                        "conn {c} with {:?} credentials accepted",
                        b.plan.creds
                    )));
                }
                b.state = St::Accepted(now);
                self.stats.accepted += 1;
            }
            Decided::Refuse(why) => {
                if why == Why::Credentials && b.plan.creds == Creds::Good {
                    return Err(decision(format!(
                        "conn {c}: good credentials refused ({:?})",
                        b.plan.decider
                    )));
                }
                b.state = St::Rejected(why);
                match why {
                    Why::Credentials => self.stats.rejected += 1,
                    Why::Failure => self.stats.failed += 1,
                    Why::InFlight | Why::GaveUp => {}
                }
            }
        }
        Ok(())
    }

    /// After a decision (not late) was handed to `c`: (2) a refusal closed it as
    /// `AuthenticationViolation` at once, an accept left it open.
    pub fn after_decision(&self, c: usize, now: u64) -> Result<(), Violation> {
        let b = &self.conns[c];
        match b.state {
            St::Accepted(_) if b.closed.is_some() => Err(close(format!(
                "conn {c}: accepted, then closed at once: {:?}",
                b.closed
            ))),
            St::Rejected(why) if b.closed != Some((CloseReason::AuthenticationViolation, now)) => {
                Err(close(format!(
                    "conn {c}: refused ({why:?}) but not closed as an authorization violation \
                     (closed {:?})",
                    b.closed
                )))
            }
            _ => Ok(()),
        }
    }

    /// The node closed `c` (its `Closed` event) at `now`: (2).
    pub fn on_closed(&mut self, c: usize, reason: CloseReason, now: u64) -> Result<(), Violation> {
        let deadline = self.deadline(c);
        let b = &mut self.conns[c];
        if b.closed.is_some() {
            return Err(close(format!("conn {c}: a second Closed event ({reason})")));
        }
        b.closed = Some((reason, now));
        // Whatever a closed connection was owed is forgiven.
        self.owed.retain(|&(d, _), _| d != c);
        let b = &mut self.conns[c];
        match (reason, b.state) {
            (CloseReason::ClientClosed, _) if b.gone => Ok(()),
            (CloseReason::AuthenticationViolation, St::Rejected(_)) => Ok(()),
            (CloseReason::AuthenticationViolation, St::Connecting)
                if b.plan.decider == Decider::Inline =>
            {
                b.state = St::Inline;
                self.stats.inline += 1;
                Ok(())
            }
            (CloseReason::AuthenticationTimeout, St::Pending | St::Connecting)
                if now >= deadline =>
            {
                b.state = St::TimedOut;
                self.stats.timed_out += 1;
                Ok(())
            }
            (r, st) => Err(close(format!(
                "conn {c} closed as {r:?} in state {st:?} at {:.3} ms (deadline {:.3} ms)",
                now as f64 / 1e6,
                deadline as f64 / 1e6
            ))),
        }
    }

    /// The node processed one op of `c` at `now` (not CONNECT): (1).
    pub fn on_processed(&mut self, c: usize, op: Processed, now: u64) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        let St::Accepted(at) = b.state else {
            return Err(served(format!(
                "the node processed {op:?} of conn {c} before its CONNECT was accepted (state {:?})",
                b.state
            )));
        };
        if at == now {
            // Offered right after the decision: it waited in the socket meanwhile.
            b.resumed += 1;
        }
        match op {
            Processed::Sub(pattern) => b.sub = Some(pattern),
            Processed::Ping => b.pings += 1,
            Processed::Pub(subject, seq) => {
                b.processed += 1;
                if seq != b.processed {
                    return Err(liveness(format!(
                        "conn {c}: the node processed message {seq} where {} was next",
                        b.processed
                    )));
                }
                let permitted = !b.plan.restricted || RESTRICTED.contains(&subject.as_str());
                if !permitted {
                    b.perm_owed += 1;
                }
                self.stats.processed += 1;
                let Some(m) = self.msgs.get_mut(&(c, seq)) else {
                    return Err(Violation::new(
                        ViolationKind::Corrupt,
                        format!("conn {c}: message {seq} processed, never written"),
                    ));
                };
                if m.subject != subject {
                    return Err(Violation::new(
                        ViolationKind::Corrupt,
                        format!("conn {c}: message {seq} processed on another subject"),
                    ));
                }
                m.processed_at = Some(now);
                m.permitted = permitted;
                if permitted {
                    let account = self.conns[c].plan.account;
                    for (d, sb) in self.conns.iter().enumerate() {
                        let live = matches!(sb.state, St::Accepted(_)) && sb.closed.is_none();
                        let matching = sb.sub.as_deref().is_some_and(|p| {
                            natsd_core::subject::matches(p.as_bytes(), subject.as_bytes())
                        });
                        if live && matching && sb.plan.account == account {
                            self.owed.entry((d, c)).or_default().push_back(seq);
                        }
                    }
                }
            }
            Processed::Connect | Processed::Other => {}
        }
        Ok(())
    }

    /// `c` received a `MSG` on `subject` carrying `payload`: (1), then owed in order.
    pub fn on_delivery(
        &mut self,
        c: usize,
        subject: &[u8],
        payload: &[u8],
    ) -> Result<(), Violation> {
        if subject.starts_with(b"$SYS.ACCOUNT.CLIENT.AUTH.ERR") {
            // The server's own event in the callout account for each client the callout
            // refused (Go 2.15.1's), seen by wildcard subscribers there: not a client's.
            return Ok(());
        }
        let Some((p, seq)) = parse_payload(payload) else {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                format!("conn {c}: a MSG the harness did not write"),
            ));
        };
        let Some(m) = self.msgs.get_mut(&(p, seq)) else {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                format!("conn {c}: MSG P{p}.{seq} was never written"),
            ));
        };
        let Some(at) = m.processed_at else {
            return Err(served(format!(
                "conn {c} got P{p}.{seq}, which the node never processed (its publisher, conn \
                 {p}, in state {:?})",
                self.conns[p].state
            )));
        };
        for (who, role) in [(c, "subscriber"), (p, "publisher")] {
            match self.conns[who].state {
                St::Accepted(t) if t <= at => {}
                st => {
                    return Err(served(format!(
                        "conn {c} got P{p}.{seq}, queued at {:.3} ms, but its {role} conn {who} \
                         was not accepted then (state {st:?})",
                        at as f64 / 1e6
                    )))
                }
            }
        }
        if m.subject.as_bytes() != subject {
            return Err(Violation::new(
                ViolationKind::Corrupt,
                format!("conn {c}: P{p}.{seq} delivered on another subject"),
            ));
        }
        if self.conns[c].plan.witness {
            m.witnessed = true;
            self.stats.witnessed += 1;
        }
        let q = self.owed.entry((c, p)).or_default();
        match q.front() {
            Some(&s) if s == seq => {
                q.pop_front();
            }
            _ if q.contains(&seq) => {
                return Err(Violation::new(
                    ViolationKind::Missing,
                    format!(
                        "conn {c} got P{p}.{seq} before P{p}.{} owed earlier",
                        q.front().copied().unwrap_or_default()
                    ),
                ))
            }
            _ => {
                let kind = if self.conns[c].plan.account == self.conns[p].plan.account {
                    ViolationKind::Unexpected
                } else {
                    ViolationKind::CrossAccount
                };
                return Err(Violation::new(
                    kind,
                    format!("conn {c} got P{p}.{seq}, not owed to it"),
                ));
            }
        }
        self.stats.deliveries += 1;
        Ok(())
    }

    /// `c` received a PONG: (1) only once accepted, for a PING the node processed.
    pub fn on_pong(&mut self, c: usize) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        if !matches!(b.state, St::Accepted(_)) || b.pongs >= b.pings {
            return Err(served(format!(
                "conn {c} got a PONG (state {:?}, {} PINGs processed, {} PONGs before)",
                b.state, b.pings, b.pongs
            )));
        }
        b.pongs += 1;
        Ok(())
    }

    /// `c` received `-ERR text`.
    pub fn on_err(&mut self, c: usize, text: &str) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        let t = unquote(text);
        let ok = match t {
            "Authorization Violation" => {
                matches!(b.state, St::Rejected(_) | St::Inline)
            }
            "Authentication Timeout" => b.state == St::TimedOut,
            _ if t.starts_with("Permissions Violation for Publish to") => {
                b.perm_seen += 1;
                self.stats.perm_errors += 1;
                b.perm_seen <= b.perm_owed
            }
            _ => false,
        };
        if !ok {
            return Err(close(format!(
                "conn {c} got -ERR {text} in state {:?}",
                b.state
            )));
        }
        b.last_err = Some(t.to_string());
        Ok(())
    }

    /// The server closed `c`'s socket and the client read everything before: (2) its last
    /// words name why.
    pub fn on_eof(&mut self, c: usize) -> Result<(), Violation> {
        let b = &mut self.conns[c];
        b.eof = true;
        let want = match b.state {
            St::Rejected(_) | St::Inline => "Authorization Violation",
            St::TimedOut => "Authentication Timeout",
            st => {
                return Err(close(format!(
                    "conn {c}: the server closed the socket in state {st:?} (closed {:?})",
                    b.closed
                )))
            }
        };
        if b.last_err.as_deref() != Some(want) {
            return Err(close(format!(
                "conn {c} ({:?}): the socket closed after {:?}, not -ERR '{want}'",
                b.state, b.last_err
            )));
        }
        Ok(())
    }

    /// (4), once everything settled.
    pub fn finish(&mut self) -> Result<(), Violation> {
        if self.in_flight != 0 {
            return Err(liveness(format!(
                "{} requests still waiting at the end",
                self.in_flight
            )));
        }
        for (c, b) in self.conns.iter().enumerate() {
            if b.plan.heal && b.plan.creds == Creds::Good {
                self.stats.heal_good += 1;
            }
            self.stats.resumed_ops += b.resumed;
            match b.state {
                St::Accepted(_) => {
                    if b.processed != b.written {
                        return Err(liveness(format!(
                            "conn {c} (accepted): wrote {} messages, the node processed {}",
                            b.written, b.processed
                        )));
                    }
                    if b.pongs != 1 && !b.gone {
                        return Err(liveness(format!(
                            "conn {c} (accepted): its PING answered {} times ({} processed)",
                            b.pongs, b.pings
                        )));
                    }
                    if b.perm_seen != b.perm_owed && !b.gone {
                        return Err(liveness(format!(
                            "conn {c}: {} permission errors owed, {} came",
                            b.perm_owed, b.perm_seen
                        )));
                    }
                }
                St::Rejected(_) | St::Inline | St::TimedOut => {
                    if b.plan.heal && b.plan.creds == Creds::Good {
                        return Err(liveness(format!(
                            "conn {c} (after the heal, good credentials, {:?}) did not get in: {:?}",
                            b.plan.decider, b.state
                        )));
                    }
                    if !b.eof && !b.gone {
                        return Err(liveness(format!(
                            "conn {c} ({:?}): the client never saw its socket close",
                            b.state
                        )));
                    }
                }
                st => {
                    return Err(liveness(format!(
                        "conn {c} ended in state {st:?} (closed {:?})",
                        b.closed
                    )))
                }
            }
        }
        for (&(d, p), q) in &self.owed {
            if let Some(seq) = q.front() {
                return Err(liveness(format!(
                    "conn {d} is still owed {} messages of conn {p}, first P{p}.{seq}",
                    q.len()
                )));
            }
        }
        for (&(p, seq), m) in &self.msgs {
            let b = &self.conns[p];
            if b.plan.heal && m.permitted && !m.witnessed {
                return Err(liveness(format!(
                    "P{p}.{seq} of heal-phase conn {p} (account {}) never reached its witness",
                    b.plan.account
                )));
            }
        }
        Ok(())
    }
}

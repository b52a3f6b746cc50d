//! A small sans-IO client model: it parses what the server sends, answers PINGs, reports
//! every delivery and reply to the oracle, answers some requests, and turns workload
//! actions into protocol bytes.
//!
//! It never touches the network itself: [`ClientModel::on_bytes`] and [`ClientModel::act`]
//! append what it wants to send to an output buffer the world carries to a node. A client
//! outlives its connections: when one ends it starts another (perhaps to another node) with
//! [`ClientModel::start_session`], and after the handshake re-subscribes what it still
//! wants, as real clients do after a reconnect.

use natsd_core::proto::{encode, Limits, Op, Parser};
use natsd_core::rng::Rng;

use crate::features::Profile;
use crate::oracle::{ClientId, ConnId, Oracle, Violation, ViolationKind};
use crate::workload::{self, ActionKind, Sabotage};

/// Where a client is in its current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Socket open, waiting for INFO.
    AwaitInfo,
    /// CONNECT sent; working.
    Connected,
    /// No connection (closed by either side, or never opened yet).
    Closed,
}

/// Most subscriptions a client keeps active: a SUB past it becomes an UNSUB, so long runs
/// do not grow the model (and the server) without bound.
const MAX_ACTIVE_SUBS: usize = 12;

/// Oversized publishes are tried only when `max_payload` is at most this.
const OVERSIZE_LIMIT_MAX: usize = 64 * 1024;

/// A subscription as its client sees it.
#[derive(Debug, Clone)]
struct OwnSub {
    sid: u64,
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
    /// Still subscribed (no plain UNSUB sent yet).
    active: bool,
    /// `UNSUB sid max` already sent, or born with its limit (`MSUB`): such subscriptions
    /// are not renewed on a reconnect.
    has_max: bool,
}

/// The harness's own delivery counter, where the [`Sabotage`] modes bite.
#[derive(Debug, Default)]
pub struct Tap {
    /// The planted bug, if any.
    pub sabotage: Option<Sabotage>,
    seen: u64,
    /// Deliveries seen since the heal (`None` before it).
    seen_after_heal: Option<u64>,
}

impl Tap {
    /// A tap with `sabotage` planted.
    pub fn new(sabotage: Option<Sabotage>) -> Tap {
        Tap {
            sabotage,
            seen: 0,
            seen_after_heal: None,
        }
    }

    /// The liveness phase starts: [`Sabotage::DropAfterHeal`] counts from here.
    pub fn healed(&mut self) {
        self.seen_after_heal = Some(0);
    }

    /// How many times the next delivery reaches the client model (normally once).
    fn copies(&mut self) -> usize {
        let n = self.seen;
        self.seen += 1;
        let after = self.seen_after_heal;
        if let Some(a) = &mut self.seen_after_heal {
            *a += 1;
        }
        match self.sabotage {
            Some(Sabotage::DropDelivery(k)) if k == n => 0,
            Some(Sabotage::DuplicateDelivery(k)) if k == n => 2,
            Some(Sabotage::DropAfterHeal(k)) if after == Some(k) => 0,
            _ => 1,
        }
    }
}

/// What a chunk of server bytes told the client beyond deliveries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// An INFO with `"ldm":true`: the server is in lame duck mode.
    pub lame_duck: bool,
}

/// What a workload action did to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActOutcome {
    /// Still connected.
    Open,
    /// Closed its socket and leaves for good.
    Leave,
    /// Closed its socket to reconnect elsewhere.
    Move,
}

/// What a client may do in the current phase.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// Percent chance of leaving for good.
    pub close_percent: u64,
    /// Percent chance of moving to another node.
    pub move_percent: u64,
    /// Oversized publishes are allowed (the safety phase).
    pub oversize: bool,
    /// The server's `max_subscriptions` is set: no limit on queue subscriptions (the model
    /// could not count them exactly).
    pub no_queue_max: bool,
    /// Limits on subscriptions at all (see `Features::deny_with_limits`).
    pub limits: bool,
}

/// One simulated client.
#[derive(Debug)]
pub struct ClientModel {
    /// Its index in the world (also its publisher id in payloads).
    pub id: ClientId,
    /// What its CONNECT asks for.
    pub profile: Profile,
    /// Where its current connection is.
    pub state: ClientState,
    /// The oracle's id of its current (or last) connection.
    pub conn: ConnId,
    /// Server PINGs it answered, over all its connections.
    pub pings_answered: u64,
    /// Server PINGs it got on its current connection (the stale rule compares them with
    /// the PONGs the server processed).
    pub session_pings: u64,
    /// `(user, pass)` for its CONNECT, when the server requires auth.
    pub login: Option<(String, String)>,
    parser: Parser,
    /// From the current connection's INFO.
    server_headers: bool,
    /// The server advertises `"msub":true`: subscriptions may be born with their limit.
    server_msub: bool,
    /// A planted MSUB bug ([`Sabotage::MsubAsSubUnsub`], [`Sabotage::MsubOneMore`]).
    msub_sabotage: Option<Sabotage>,
    /// What the harness made the oracle believe were MSUBs: sid → the max it believes.
    believed_msub: std::collections::BTreeMap<u64, u64>,
    /// Subjects stream imports bring into this client's account (`prefix.>`,
    /// `prefix.subject`) and its account's mappings publish on
    /// ([`crate::features::Features::extra_patterns`]): a third of its plain subscriptions
    /// take one of them.
    pub extra_patterns: Vec<Vec<u8>>,
    /// Local subjects of the services its account imports: a third of its requests go
    /// to one ([`crate::features::Features::request_subjects`]).
    pub request_subjects: Vec<Vec<u8>>,
    /// Subjects of the services its account exports: a third of its queue subscriptions
    /// take one (responders in queue groups).
    pub queue_patterns: Vec<Vec<u8>>,
    /// `UNSUB sid max` a later action sends first ([`Sabotage::MsubAsSubUnsub`]): sid, max,
    /// actions still to wait.
    late_unsub: Vec<(u64, u64, u32)>,
    max_payload: usize,
    next_sid: u64,
    seq: u64,
    next_inbox: u64,
    subs: Vec<OwnSub>,
    respond_percent: u64,
    /// Sends a PING right after CONNECT (rebalance: so the node sends it async INFO).
    pub ping_on_connect: bool,
    /// The `connect_urls` of the last `ldm` INFO (rebalance: where a moved client goes).
    pub connect_urls: Vec<String>,
    /// [`Sabotage::RebalanceLostResubscribe`]: the next reconnect's re-subscriptions go out
    /// under another subject (`x.` before it), while the oracle is told the real one.
    pub mangle_resubscribe: bool,
    /// Per sid, the subject the oracle is to believe a mangled re-subscription has.
    pub believed_subject: Vec<(u64, Vec<u8>)>,
}

/// The headers every HPUB carries.
const HEADERS: &[u8] = b"NATS/1.0\r\nSim: 1\r\n\r\n";
/// What a no-responders status starts with.
const NO_RESPONDERS: &[u8] = b"NATS/1.0 503";

/// A payload carrying `(publisher, seq)` for the oracles, then `pad` filler bytes.
pub fn payload(publisher: ClientId, seq: u64, pad: usize) -> Vec<u8> {
    let mut p = format!("P{publisher}.{seq}.").into_bytes();
    p.resize(p.len() + pad, b'x');
    p
}

/// The value of `"key":<digits>` in an INFO's JSON, if present.
fn json_number(json: &[u8], key: &str) -> Option<usize> {
    let pat = format!("\"{key}\":");
    let at = json.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
    let digits: Vec<u8> = json[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn json_true(json: &[u8], key: &str) -> bool {
    let pat = format!("\"{key}\":true");
    json.windows(pat.len()).any(|w| w == pat.as_bytes())
}

/// The strings of the array `key` in `json` (no escapes: server URLs).
fn json_strings(json: &[u8], key: &str) -> Vec<String> {
    let pat = format!("\"{key}\":[");
    let Some(at) = json.windows(pat.len()).position(|w| w == pat.as_bytes()) else {
        return Vec::new();
    };
    let rest = &json[at + pat.len()..];
    let end = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl ClientModel {
    /// A client with `profile` that answers `respond_percent` of the requests it receives.
    pub fn new(id: ClientId, profile: Profile, respond_percent: u64) -> ClientModel {
        ClientModel {
            id,
            profile,
            state: ClientState::Closed,
            conn: 0,
            login: None,
            pings_answered: 0,
            session_pings: 0,
            parser: client_parser(),
            server_headers: true,
            server_msub: false,
            msub_sabotage: None,
            believed_msub: std::collections::BTreeMap::new(),
            late_unsub: Vec::new(),
            extra_patterns: Vec::new(),
            request_subjects: Vec::new(),
            queue_patterns: Vec::new(),
            max_payload: usize::MAX,
            next_sid: 1,
            seq: 0,
            next_inbox: 0,
            subs: Vec::new(),
            respond_percent,
            ping_on_connect: false,
            connect_urls: Vec::new(),
            mangle_resubscribe: false,
            believed_subject: Vec::new(),
        }
    }

    /// A new socket, connection `conn` in the oracle: wait for INFO.
    pub fn start_session(&mut self, conn: ConnId) {
        self.conn = conn;
        self.state = ClientState::AwaitInfo;
        self.parser = client_parser();
        self.session_pings = 0;
        self.late_unsub.clear();
    }

    /// The socket was closed (either side): the connection is over.
    pub fn close(&mut self) {
        self.state = ClientState::Closed;
    }

    /// Headers on this connection: asked for and offered by the server.
    pub fn headers(&self) -> bool {
        self.profile.headers && self.server_headers
    }

    /// Bytes arrived from the server. Parses them, reports deliveries and replies to
    /// `oracle` (through `tap`), and appends any answers (CONNECT, re-subscriptions, PONG,
    /// replies) to `out`.
    ///
    /// Errors: the server sent something unparseable or unexpected, or a delivery broke an
    /// oracle rule.
    pub fn on_bytes(
        &mut self,
        bytes: &[u8],
        r: &mut Rng,
        oracle: &mut Oracle,
        tap: &mut Tap,
        out: &mut Vec<u8>,
    ) -> Result<Signals, Violation> {
        assert!(
            self.state != ClientState::Closed,
            "harness bug: bytes to a closed client"
        );
        let mut signals = Signals::default();
        let mut pos = 0;
        while pos < bytes.len() {
            let op = match self.parser.parse(bytes, &mut pos) {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(e) => {
                    let msg = format!("client {} cannot parse server bytes: {e:?}", self.id);
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            };
            let (id, c) = (self.id, self.conn);
            let mut reply_to = None;
            match op {
                Op::Info(json) if self.state == ClientState::AwaitInfo => {
                    self.server_headers = json_true(json, "headers");
                    self.server_msub = json_true(json, "msub");
                    self.max_payload = json_number(json, "max_payload").unwrap_or(usize::MAX);
                    self.connect(out);
                }
                Op::Info(json) => {
                    if json_true(json, "ldm") {
                        signals.lame_duck = true;
                        self.connect_urls = json_strings(json, "connect_urls");
                    }
                }
                Op::Pong => oracle.on_pong(c)?,
                Op::Ok => oracle.on_ok(c)?,
                Op::Ping => {
                    out.extend_from_slice(encode::PONG);
                    self.pings_answered += 1;
                    self.session_pings += 1;
                }
                Op::Msg {
                    subject,
                    sid,
                    reply,
                    payload,
                } => {
                    for _ in 0..tap.copies() {
                        oracle.on_delivery(c, sid, subject, reply, payload, false)?;
                    }
                    reply_to = reply.map(<[u8]>::to_vec);
                }
                Op::HMsg {
                    subject,
                    sid,
                    header_len,
                    payload,
                    ..
                } if header_len == payload.len() && payload.starts_with(NO_RESPONDERS) => {
                    oracle.on_no_responders(c, sid, subject)?;
                }
                Op::HMsg {
                    subject,
                    sid,
                    reply,
                    header_len,
                    payload,
                } => {
                    let body = &payload[header_len..];
                    for _ in 0..tap.copies() {
                        oracle.on_delivery(c, sid, subject, reply, body, true)?;
                    }
                    reply_to = reply.map(<[u8]>::to_vec);
                }
                Op::Err(text) => {
                    let text = String::from_utf8_lossy(text);
                    oracle.on_err(c, text.trim_matches('\''))?;
                }
                other => {
                    let msg = format!("client {id} got a client op from the server: {other:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            }
            if let Some(reply) = reply_to {
                if r.below(100) < self.respond_percent {
                    let pad = workload::padding(r);
                    self.publish(&reply, None, false, pad, false, out);
                }
            }
        }
        Ok(signals)
    }

    /// CONNECT, then the subscriptions it still wants (a reconnect re-subscribes; those
    /// with a limit are dropped, as their remaining count is the old connection's).
    fn connect(&mut self, out: &mut Vec<u8>) {
        let p = self.profile;
        let headers = self.headers();
        let login = match &self.login {
            Some((u, pw)) => format!(r#","user":"{u}","pass":"{pw}""#),
            None => String::new(),
        };
        let json = format!(
            r#"{{"verbose":{},"pedantic":{},"echo":{},"headers":{headers},"no_responders":{},"protocol":1{login}}}"#,
            p.verbose,
            p.pedantic,
            p.echo,
            p.no_responders && headers,
        );
        encode::op(out, &Op::Connect(json.as_bytes()));
        if self.ping_on_connect {
            // As the official clients: a PING right after CONNECT, after which the server
            // sends async INFO (lame duck, a rebalancer's move).
            out.extend_from_slice(encode::PING);
        }
        let mangle = std::mem::take(&mut self.mangle_resubscribe);
        for s in &mut self.subs {
            if s.active && s.has_max {
                s.active = false;
            }
            if s.active {
                let mut subject = s.subject.clone();
                if mangle {
                    subject.splice(0..0, b"x.".iter().copied());
                    self.believed_subject.push((s.sid, s.subject.clone()));
                }
                encode::sub(
                    out,
                    &subject,
                    s.queue.as_deref(),
                    s.sid.to_string().as_bytes(),
                );
            }
        }
        self.state = ClientState::Connected;
    }

    /// Takes one workload action, appending its bytes to `out`.
    pub fn act(&mut self, r: &mut Rng, allowed: Allowed, out: &mut Vec<u8>) -> ActOutcome {
        assert_eq!(
            self.state,
            ClientState::Connected,
            "harness bug: acting before CONNECT"
        );
        // The late limits of `Sabotage::MsubAsSubUnsub`, three actions after their SUB.
        for (sid, max, wait) in std::mem::take(&mut self.late_unsub) {
            if wait == 0 {
                encode::unsub(out, sid.to_string().as_bytes(), Some(max));
            } else {
                self.late_unsub.push((sid, max, wait - 1));
            }
        }
        let active = self.subs.iter().filter(|s| s.active).count();
        match workload::next_action(r, allowed.close_percent, allowed.move_percent) {
            ActionKind::Sub | ActionKind::QueueSub if active >= MAX_ACTIVE_SUBS => {
                self.unsubscribe(r, allowed, out);
            }
            ActionKind::Sub => {
                let mut pattern = workload::pattern(r);
                if !self.extra_patterns.is_empty() && r.below(3) == 0 {
                    let n = self.extra_patterns.len() as u64;
                    pattern = self.extra_patterns[r.below(n) as usize].clone();
                }
                self.subscribe_maybe_limited(r, allowed, &pattern, None, out);
            }
            ActionKind::QueueSub => {
                let (mut pattern, queue) = (workload::pattern(r), workload::queue_name(r));
                if !self.queue_patterns.is_empty() && r.below(3) == 0 {
                    let n = self.queue_patterns.len() as u64;
                    pattern = self.queue_patterns[r.below(n) as usize].clone();
                }
                self.subscribe_maybe_limited(r, allowed, &pattern, Some(&queue), out);
            }
            ActionKind::Unsub => self.unsubscribe(r, allowed, out),
            ActionKind::Pub => {
                let headers = r.below(5) == 0 && self.headers();
                let subject = if r.below(100) < self.profile.wild_pub_percent {
                    workload::wildcard_publish_subject(r)
                } else {
                    workload::literal_subject(r)
                };
                // Only against a small limit: a megabyte crawling through the links in small
                // chunks would cost thousands of events for one close.
                let oversize = allowed.oversize
                    && self.max_payload <= OVERSIZE_LIMIT_MAX
                    && r.below(100) < self.profile.oversize_percent;
                let pad = workload::padding(r);
                self.publish(&subject, None, headers, pad, oversize, out);
            }
            ActionKind::Request => self.request(r, out),
            ActionKind::Ping => out.extend_from_slice(encode::PING),
            ActionKind::Close => {
                self.close();
                return ActOutcome::Leave;
            }
            ActionKind::Move => {
                self.close();
                return ActOutcome::Move;
            }
        }
        ActOutcome::Open
    }

    fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, out: &mut Vec<u8>) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        encode::sub(out, subject, queue, sid.to_string().as_bytes());
        self.subs.push(OwnSub {
            sid,
            subject: subject.to_vec(),
            queue: queue.map(<[u8]>::to_vec),
            active: true,
            has_max: false,
        });
        sid
    }

    /// A subscription, born with a limit (`MSUB`, 1 in 4 when the server offers it and
    /// limits are allowed) or not.
    fn subscribe_maybe_limited(
        &mut self,
        r: &mut Rng,
        allowed: Allowed,
        subject: &[u8],
        queue: Option<&[u8]>,
        out: &mut Vec<u8>,
    ) {
        let may = self.server_msub
            && allowed.limits
            && !(allowed.no_queue_max && queue.is_some())
            && r.below(4) == 0;
        if may {
            let max = 1 + r.below(4);
            self.msub(subject, queue, max, out);
        } else {
            self.subscribe(subject, queue, out);
        }
    }

    /// `MSUB subject [queue] sid max`: a subscription born with its limit. With an MSUB
    /// sabotage, what is sent differs from what the oracle is made to believe (see
    /// [`ClientModel::believed_msub`]).
    fn msub(&mut self, subject: &[u8], queue: Option<&[u8]>, max: u64, out: &mut Vec<u8>) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        let sid_text = sid.to_string();
        match self.msub_sabotage {
            Some(Sabotage::MsubAsSubUnsub) => {
                // The limit comes three actions later: a window of a few think times.
                encode::sub(out, subject, queue, sid_text.as_bytes());
                self.late_unsub.push((sid, max, 2));
                self.believed_msub.insert(sid, max);
            }
            Some(Sabotage::MsubOneMore) => {
                encode::msub(out, subject, queue, sid_text.as_bytes(), max + 1);
                self.believed_msub.insert(sid, max);
            }
            _ => encode::msub(out, subject, queue, sid_text.as_bytes(), max),
        }
        self.subs.push(OwnSub {
            sid,
            subject: subject.to_vec(),
            queue: queue.map(<[u8]>::to_vec),
            active: true,
            has_max: true,
        });
        sid
    }

    /// Plants an MSUB sabotage (see [`ClientModel::believed_msub`]).
    pub fn plant_msub_sabotage(&mut self, sabotage: Option<Sabotage>) {
        self.msub_sabotage = sabotage;
    }

    /// With an MSUB sabotage: the max the oracle is to believe sid `sid`'s subscription
    /// was born with (the harness sent something else).
    pub fn believed_msub(&self, sid: u64) -> Option<u64> {
        self.believed_msub.get(&sid).copied()
    }

    /// With [`Sabotage::RebalanceLostResubscribe`]: the subject the oracle is to believe
    /// sid `sid`'s re-subscription has (the harness sent another).
    pub fn believed_subject(&self, sid: u64) -> Option<&[u8]> {
        let found = self.believed_subject.iter().rev().find(|(s, _)| *s == sid);
        found.map(|(_, subject)| subject.as_slice())
    }

    /// UNSUB a random active subscription, or sometimes give it a limit instead.
    fn unsubscribe(&mut self, r: &mut Rng, allowed: Allowed, out: &mut Vec<u8>) {
        // Forget what is over for good, so the list stays as small as the active set.
        self.subs.retain(|s| s.active);
        if self.subs.is_empty() {
            return;
        }
        let i = r.below(self.subs.len() as u64) as usize;
        let s = &mut self.subs[i];
        let may_limit =
            allowed.limits && !s.has_max && !(allowed.no_queue_max && s.queue.is_some());
        let max = (may_limit && r.below(2) == 0).then(|| 1 + r.below(4));
        match max {
            Some(_) => s.has_max = true,
            None => s.active = false,
        }
        encode::unsub(out, s.sid.to_string().as_bytes(), max);
    }

    /// A PUB (HPUB with `headers`). Its size stays within the INFO's `max_payload` unless
    /// `oversize` asks for one over it on purpose.
    fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: bool,
        pad: usize,
        oversize: bool,
        out: &mut Vec<u8>,
    ) {
        self.seq += 1;
        let fixed = payload(self.id, self.seq, 0).len() + if headers { HEADERS.len() } else { 0 };
        let room = self.max_payload.saturating_sub(fixed);
        let pad = if oversize {
            room.saturating_add(1 + pad % 64)
        } else {
            pad.min(room)
        };
        let body = payload(self.id, self.seq, pad);
        if headers {
            let mut p = HEADERS.to_vec();
            p.extend_from_slice(&body);
            encode::hpublish(out, subject, reply, HEADERS.len(), &p);
        } else {
            encode::publish(out, subject, reply, &body);
        }
    }

    /// A probe (cluster): a plain PUB on `subject`, small, no headers.
    pub fn probe(&mut self, subject: &[u8], out: &mut Vec<u8>) {
        self.publish(subject, None, false, 0, false, out);
    }

    /// Old-style request: a fresh inbox subscription limited to one reply, then the PUB.
    fn request(&mut self, r: &mut Rng, out: &mut Vec<u8>) {
        let inbox = format!("_INBOX.{}.{}", self.id, self.next_inbox).into_bytes();
        self.next_inbox += 1;
        // Born with its limit when the server offers MSUB (half the time), else the old way.
        if self.server_msub && r.below(2) == 0 {
            self.msub(&inbox, None, 1, out);
        } else {
            let sid = self.subscribe(&inbox, None, out);
            encode::unsub(out, sid.to_string().as_bytes(), Some(1));
            self.subs.last_mut().expect("just subscribed").has_max = true;
        }
        let headers = r.below(5) == 0 && self.headers();
        let mut subject = workload::literal_subject(r);
        if !self.request_subjects.is_empty() && r.below(3) == 0 {
            let n = self.request_subjects.len() as u64;
            subject = self.request_subjects[r.below(n) as usize].clone();
        }
        let pad = workload::padding(r);
        self.publish(&subject, Some(&inbox), headers, pad, false, out);
    }
}

/// The client's parser: it declares headers, so the server may send HMSG; the limits are
/// the server's business, not its own.
fn client_parser() -> Parser {
    let mut p = Parser::new(Limits {
        max_control_line: 1 << 20,
        max_payload: 1 << 30,
    });
    p.set_headers(true);
    p
}

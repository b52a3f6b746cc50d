//! A small sans-IO client model: it parses what the server sends, answers PINGs, reports
//! every delivery to the oracle, answers some requests, and turns workload actions into
//! protocol bytes.
//!
//! It never touches the network itself: [`ClientModel::on_bytes`] and [`ClientModel::act`]
//! append what it wants to send to an output buffer the world carries to the server.

use natsd_core::proto::{encode, Limits, Op, Parser};
use natsd_core::rng::Rng;

use crate::oracle::{ClientId, Oracle, Violation, ViolationKind};
use crate::workload::{self, ActionKind, Sabotage};

/// Where a client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Socket open, waiting for INFO.
    AwaitInfo,
    /// CONNECT sent; working.
    Connected,
    /// Closed (by itself, or the server went away).
    Closed,
}

/// A subscription as its client sees it.
#[derive(Debug, Clone)]
struct OwnSub {
    sid: u64,
    /// Still subscribed (no plain UNSUB sent yet).
    active: bool,
    /// `UNSUB sid max` already sent.
    has_max: bool,
}

/// The harness's own delivery counter, where the [`Sabotage`] modes bite.
#[derive(Debug, Default)]
pub struct Tap {
    /// The planted bug, if any.
    pub sabotage: Option<Sabotage>,
    seen: u64,
}

impl Tap {
    /// A tap with `sabotage` planted.
    pub fn new(sabotage: Option<Sabotage>) -> Tap {
        Tap { sabotage, seen: 0 }
    }

    /// How many times the next delivery reaches the client model (normally once).
    fn copies(&mut self) -> usize {
        let n = self.seen;
        self.seen += 1;
        match self.sabotage {
            Some(Sabotage::DropDelivery(k)) if k == n => 0,
            Some(Sabotage::DuplicateDelivery(k)) if k == n => 2,
            _ => 1,
        }
    }
}

/// One simulated client.
#[derive(Debug)]
pub struct ClientModel {
    /// Its index in the world (also its publisher id in payloads).
    pub id: ClientId,
    /// What its CONNECT said about echo.
    pub echo: bool,
    /// Where it is in its life.
    pub state: ClientState,
    /// Server PINGs it answered.
    pub pings_answered: u64,
    /// It stopped reading at some point, so the server may rightly call it stale.
    pub may_be_stale: bool,
    /// `(user, pass)` for its CONNECT, when the server requires auth.
    pub login: Option<(String, String)>,
    /// A reload removed its user, so the server may rightly say `Authorization Violation`.
    pub may_be_deauthorized: bool,
    parser: Parser,
    next_sid: u64,
    seq: u64,
    next_inbox: u64,
    subs: Vec<OwnSub>,
    respond_percent: u64,
}

/// The headers every HPUB carries.
const HEADERS: &[u8] = b"NATS/1.0\r\nSim: 1\r\n\r\n";

/// A payload carrying `(publisher, seq)` for the oracles, then `pad` filler bytes.
pub fn payload(publisher: ClientId, seq: u64, pad: usize) -> Vec<u8> {
    let mut p = format!("P{publisher}.{seq}.").into_bytes();
    p.resize(p.len() + pad, b'x');
    p
}

impl ClientModel {
    /// A client that will declare `echo` in its CONNECT and answer `respond_percent` of the
    /// requests it receives.
    pub fn new(id: ClientId, echo: bool, respond_percent: u64) -> ClientModel {
        let mut parser = Parser::new(Limits::default());
        // It declares headers, so the server may send HMSG.
        parser.set_headers(true);
        ClientModel {
            id,
            echo,
            state: ClientState::AwaitInfo,
            may_be_stale: false,
            login: None,
            may_be_deauthorized: false,
            pings_answered: 0,
            parser,
            next_sid: 1,
            seq: 0,
            next_inbox: 0,
            subs: Vec::new(),
            respond_percent,
        }
    }

    /// The socket was closed (either side): the client is done.
    pub fn close(&mut self) {
        self.state = ClientState::Closed;
    }

    /// Bytes arrived from the server. Parses them, reports deliveries to `oracle` (through
    /// `tap`), and appends any answers (CONNECT, PONG, replies) to `out`.
    ///
    /// Errors: the server said `-ERR`, sent something unparseable, or a delivery broke an
    /// oracle rule.
    pub fn on_bytes(
        &mut self,
        bytes: &[u8],
        r: &mut Rng,
        oracle: &mut Oracle,
        tap: &mut Tap,
        out: &mut Vec<u8>,
    ) -> Result<(), Violation> {
        assert!(
            self.state != ClientState::Closed,
            "harness bug: bytes to a closed client"
        );
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
            let id = self.id;
            let connect = self.state == ClientState::AwaitInfo;
            let (echo, pct) = (self.echo, self.respond_percent);
            let mut reply_to = None;
            match op {
                Op::Info(_) if connect => {
                    let login = match &self.login {
                        Some((u, p)) => format!(r#","user":"{u}","pass":"{p}""#),
                        None => String::new(),
                    };
                    let json = format!(
                        r#"{{"verbose":false,"pedantic":false,"echo":{echo},"headers":true,"protocol":1{login}}}"#
                    );
                    encode::op(out, &Op::Connect(json.as_bytes()));
                    self.state = ClientState::Connected;
                }
                Op::Info(_) => {}
                Op::Pong => oracle.on_pong(id)?,
                Op::Ok => {
                    let msg = format!("client {id} got +OK with verbose off");
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
                Op::Ping => {
                    out.extend_from_slice(encode::PONG);
                    self.pings_answered += 1;
                }
                Op::Msg {
                    subject,
                    sid,
                    reply,
                    payload,
                } => {
                    for _ in 0..tap.copies() {
                        oracle.on_delivery(id, sid, subject, reply, payload, false)?;
                    }
                    reply_to = reply.map(<[u8]>::to_vec);
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
                        oracle.on_delivery(id, sid, subject, reply, body, true)?;
                    }
                    reply_to = reply.map(<[u8]>::to_vec);
                }
                Op::Err(b"'Stale Connection'") if self.may_be_stale => {}
                Op::Err(b"'Authorization Violation'") if self.may_be_deauthorized => {}
                Op::Err(text) => {
                    let msg = format!("client {id} got -ERR {}", String::from_utf8_lossy(text));
                    return Err(Violation::new(ViolationKind::ServerError, msg));
                }
                other => {
                    let msg = format!("client {id} got a client op from the server: {other:?}");
                    return Err(Violation::new(ViolationKind::Corrupt, msg));
                }
            }
            if let Some(reply) = reply_to {
                if r.below(100) < pct {
                    self.publish(&reply, None, false, workload::padding(r), out);
                }
            }
        }
        Ok(())
    }

    /// Takes one workload action, appending its bytes to `out`. Returns false if the action
    /// was to close the socket (the client is then [`ClientState::Closed`]).
    pub fn act(&mut self, r: &mut Rng, close_percent: u64, out: &mut Vec<u8>) -> bool {
        assert_eq!(
            self.state,
            ClientState::Connected,
            "harness bug: acting before CONNECT"
        );
        match workload::next_action(r, close_percent) {
            ActionKind::Sub => {
                self.subscribe(&workload::pattern(r), None, out);
            }
            ActionKind::QueueSub => {
                self.subscribe(&workload::pattern(r), Some(&workload::queue_name(r)), out);
            }
            ActionKind::Unsub => self.unsubscribe(r, out),
            ActionKind::Pub => {
                let headers = r.below(5) == 0;
                self.publish(
                    &workload::literal_subject(r),
                    None,
                    headers,
                    workload::padding(r),
                    out,
                )
            }
            ActionKind::Request => self.request(r, out),
            ActionKind::Ping => out.extend_from_slice(encode::PING),
            ActionKind::Close => {
                self.close();
                return false;
            }
        }
        true
    }

    fn subscribe(&mut self, subject: &[u8], queue: Option<&[u8]>, out: &mut Vec<u8>) -> u64 {
        let sid = self.next_sid;
        self.next_sid += 1;
        encode::sub(out, subject, queue, sid.to_string().as_bytes());
        self.subs.push(OwnSub {
            sid,
            active: true,
            has_max: false,
        });
        sid
    }

    /// UNSUB a random active subscription, or sometimes give it a limit instead.
    fn unsubscribe(&mut self, r: &mut Rng, out: &mut Vec<u8>) {
        let active: Vec<usize> = (0..self.subs.len())
            .filter(|&i| self.subs[i].active)
            .collect();
        if active.is_empty() {
            return;
        }
        let s = &mut self.subs[active[r.below(active.len() as u64) as usize]];
        let max = (!s.has_max && r.below(2) == 0).then(|| 1 + r.below(4));
        match max {
            Some(_) => s.has_max = true,
            None => s.active = false,
        }
        encode::unsub(out, s.sid.to_string().as_bytes(), max);
    }

    fn publish(
        &mut self,
        subject: &[u8],
        reply: Option<&[u8]>,
        headers: bool,
        pad: usize,
        out: &mut Vec<u8>,
    ) {
        self.seq += 1;
        let body = payload(self.id, self.seq, pad);
        if headers {
            let mut p = HEADERS.to_vec();
            p.extend_from_slice(&body);
            encode::hpublish(out, subject, reply, HEADERS.len(), &p);
        } else {
            encode::publish(out, subject, reply, &body);
        }
    }

    /// Old-style request: a fresh inbox subscription limited to one reply, then the PUB.
    fn request(&mut self, r: &mut Rng, out: &mut Vec<u8>) {
        let inbox = format!("_INBOX.{}.{}", self.id, self.next_inbox).into_bytes();
        self.next_inbox += 1;
        let sid = self.subscribe(&inbox, None, out);
        encode::unsub(out, sid.to_string().as_bytes(), Some(1));
        self.subs.last_mut().expect("just subscribed").has_max = true;
        let headers = r.below(5) == 0;
        self.publish(
            &workload::literal_subject(r),
            Some(&inbox),
            headers,
            workload::padding(r),
            out,
        );
    }
}

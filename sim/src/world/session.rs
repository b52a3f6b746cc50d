//! One connection's life: the client connects to a node, bytes flow both ways in chunks,
//! the node's timers fire, its writer drains the outbound queue into the link, and one side
//! closes. Every close the node decides is judged here: the node must have had the right.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use natsd_core::conn::{ConnEvent, Connection};
use natsd_core::errors::CloseReason;
use natsd_core::proto::{encode, Limits, Op, Parser};
use natsd_core::Time;

use super::stale::StaleFacts;
use super::{ClientState, Event, Flag, Link, Phase, Session, Wake, World};
use crate::client::{ActOutcome, Allowed, ClientModel};
use crate::oracle::{ConnSpec, Violation, ViolationKind};
use crate::workload::{self, Sabotage};

/// Shortest and longest wait before a client reconnects.
const RECONNECT_MIN_NS: u64 = 100_000;
const RECONNECT_SPREAD_NS: u64 = 5_000_000;

impl World {
    /// The client opens a socket to a node: the node accepts it, or refuses (down, in lame
    /// duck mode, or the link is cut) and the client tries again later.
    pub(super) fn on_connect(&mut self, c: usize) {
        let cs = &mut self.clients[c];
        cs.connect_pending = false;
        if cs.left || cs.session.is_some() {
            return;
        }
        let n = self.pick_node(c);
        let path = self.paths[c * self.cfg.nodes + n];
        let Some(shared) = self.nodes[n].accepting_shared() else {
            self.stats.refused += 1;
            self.schedule_reconnect(c);
            return;
        };
        if path.cut_up > 0 || path.cut_down > 0 {
            self.stats.refused += 1;
            self.schedule_reconnect(c);
            return;
        }
        let s = self.sessions.len();
        let flag = Arc::new(Flag {
            woken: false.into(),
            target: Wake::Session(s),
            list: Arc::clone(&self.wake),
        });
        let now = Time::from_nanos(self.node_now(n));
        let notify = Arc::clone(&flag) as Arc<dyn natsd_core::client::Notify>;
        let conn = Connection::accept(&shared, now, None, notify);
        assert!(
            !conn.is_closed(),
            "harness bug: max_connections is never reached here"
        );
        let spec = self.conn_spec(c, n);
        let headers = spec.headers;
        assert_eq!(self.oracle.open(spec), s, "harness bug: ids out of step");
        let opts = shared.opts();
        self.sessions.push(Session {
            client: c,
            node: n,
            conn: Some(conn),
            flag,
            shadow: Parser::new(Limits {
                max_control_line: opts.max_control_line,
                max_payload: opts.max_payload,
            }),
            shadow_dead: false,
            headers,
            up: Link::default(),
            down: Link::default(),
            timer_at: None,
            client_open: true,
            server_closed: false,
            dead: false,
            reset: false,
            expect_close: None,
            close_reason: None,
            pings_seen: 0,
            pongs_processed: 0,
            opened_node_ns: now.as_nanos(),
            last_read: now.as_nanos(),
            connect_processed: false,
            stale_allowed: false,
        });
        let cs = &mut self.clients[c];
        cs.model.start_session(s);
        cs.session = Some(s);
        cs.ever_connected = true;
        self.stats.sessions += 1;
        self.reload_on_open(c, s);
        self.rearm(s);
    }

    /// The node for a client's next connection: any, but not the one it is moving away
    /// from; in the lame duck scenario half the first connections go to that node, so it
    /// has clients to move.
    fn pick_node(&mut self, c: usize) -> usize {
        let n = self.cfg.nodes;
        if n == 1 {
            return 0;
        }
        if let Some(node) = self.rebalance_pick(c) {
            return node;
        }
        if let Some(p) = self.cfg.lame_duck {
            if !self.clients[c].ever_connected && self.rng.below(2) == 0 {
                return p.node;
            }
        }
        // Only the first attempt after a move avoids the old node: if that one is refused,
        // any node will do (with two nodes, avoiding one forever could mean asking a node
        // in lame duck mode forever).
        match self.clients[c].avoid.take() {
            Some(a) => (a + 1 + self.rng.below(n as u64 - 1) as usize) % n,
            None => self.rng.below(n as u64) as usize,
        }
    }

    /// What the oracle must know of client `c`'s connection to node `n`.
    fn conn_spec(&self, c: usize, n: usize) -> ConnSpec {
        let p = self.clients[c].model.profile;
        let headers = p.headers && !self.cfg.features.no_header_support;
        ConnSpec {
            client: c,
            node: n,
            echo: p.echo,
            verbose: p.verbose,
            pedantic: p.pedantic,
            headers,
            no_responders: p.no_responders && headers,
            perms: self.perms[c].clone(),
            max_subs: self.cfg.features.max_subscriptions,
            account: self.cfg.features.account_of(c),
        }
    }

    /// The client will connect again after a short wait (unless it left).
    pub(super) fn schedule_reconnect(&mut self, c: usize) {
        let cs = &mut self.clients[c];
        if cs.left || cs.connect_pending {
            return;
        }
        cs.connect_pending = true;
        let at = self.now + RECONNECT_MIN_NS + self.rng.below(RECONNECT_SPREAD_NS);
        self.schedule(at, Event::Connect(c));
    }

    /// The next chunk of client bytes reaches the node: the oracle sees the ops it
    /// completes (in node order), then the connection processes them.
    pub(super) fn on_to_server(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.up.scheduled = false;
        let path = self.paths[sess.client * self.cfg.nodes + sess.node];
        if sess.dead || path.cut_up > 0 {
            // Dead: nothing flows. Cut: parked until the cut ends.
            return Ok(());
        }
        let n = sess.up.bytes.len();
        let len = if n > 0 {
            workload::chunk_len(&mut self.rng, n)
        } else {
            0
        };
        let chunk: Vec<u8> = sess.up.bytes.drain(..len).collect();
        let (node, client) = (sess.node, sess.client);
        self.trace.bytes(&chunk);
        let now = Time::from_nanos(self.node_now(node));
        let mut leaks = Vec::new();
        if let Some(shared) = self.nodes[node].shared.clone() {
            let sess = &mut self.sessions[s];
            let conn = sess
                .conn
                .as_ref()
                .expect("a session that is not dead has it");
            if !chunk.is_empty() && !sess.server_closed && !conn.is_closed() {
                sess.last_read = now.as_nanos();
                // A de-authorised client is closed (or refused at CONNECT): the node acts
                // on none of its later ops, so the oracle must not expect their effects.
                let refused = self
                    .reload
                    .may_close(client, CloseReason::AuthenticationViolation);
                let leak = matches!(
                    self.cfg.sabotage,
                    Some(Sabotage::LeakAcrossNodes | Sabotage::LeakAcrossAccounts)
                );
                self.shadow_read(s, &chunk, refused, leak.then_some(&mut leaks))?;
                let sess = &mut self.sessions[s];
                let conn = sess.conn.as_mut().expect("checked above");
                if let Err(reason) = conn.handle_read(now, &chunk, &shared) {
                    let asked = sess.expect_close == Some(reason);
                    if !asked && !self.reload.may_close(client, reason) {
                        let msg = format!("node closed client {client} on valid input: {reason}");
                        return Err(Violation::new(ViolationKind::ServerError, msg));
                    }
                }
            }
            let sess = &mut self.sessions[s];
            if sess.up.bytes.is_empty() && sess.up.fin && !sess.up.eof {
                sess.up.eof = true;
                let conn = sess.conn.as_mut().expect("checked above");
                conn.handle_close(now, &shared, CloseReason::ClientClosed);
                self.oracle.server_closed(s);
            }
            self.drain_conn_events(s)?;
        }
        self.leak(node, client, leaks);
        self.rearm(s);
        self.schedule_up(s);
        Ok(())
    }

    /// The shadow parser reads `chunk` as the node will: each complete op goes to the
    /// oracle (unless the node will refuse it), PONGs and CONNECT are counted for the stale
    /// rule, and with the leak sabotage the publishes are collected to re-publish elsewhere.
    fn shadow_read(
        &mut self,
        s: usize,
        chunk: &[u8],
        refused: bool,
        mut leaks: Option<&mut Vec<Vec<u8>>>,
    ) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        if sess.shadow_dead {
            return Ok(());
        }
        let mut pos = 0;
        while pos < chunk.len() {
            let connect = match sess.shadow.parse(chunk, &mut pos) {
                Ok(Some(op)) => {
                    sess.pongs_processed += u64::from(matches!(op, Op::Pong));
                    if !refused {
                        let believed = believed_op(&self.clients[sess.client].model, &op);
                        self.oracle
                            .on_server_op(s, believed.as_ref().unwrap_or(&op))?;
                    }
                    // Only what the model recorded: re-publishing a refused PUB would be
                    // flagged as a message never published, not as the leak.
                    if let Some(leaks) = leaks.as_deref_mut().filter(|_| self.oracle.accepted(&op))
                    {
                        collect_leak(&op, leaks);
                    }
                    matches!(op, Op::Connect(_))
                }
                Ok(None) => break,
                Err(e) => {
                    if !refused && !self.oracle.on_parse_error(s, &e) {
                        panic!("harness bug: connection {s} wrote unparseable bytes: {e:?}");
                    }
                    sess.expect_close = Some(CloseReason::MaxPayloadExceeded);
                    sess.shadow_dead = true;
                    break;
                }
            };
            if connect {
                // As the node: headers as agreed apply to every op after CONNECT.
                sess.connect_processed = true;
                sess.shadow.set_headers(sess.headers);
            }
        }
        Ok(())
    }

    /// The next chunk of node bytes reaches the client (unless it stopped reading or the
    /// link is cut).
    pub(super) fn on_to_client(&mut self, s: usize) -> Result<(), Violation> {
        let sess = &mut self.sessions[s];
        sess.down.scheduled = false;
        let c = sess.client;
        let path = self.paths[c * self.cfg.nodes + sess.node];
        if sess.dead || !sess.client_open {
            return Ok(());
        }
        if self.clients[c].stalled || path.cut_down > 0 {
            // Parked: `Unstall`, the cut's end or the heal reschedules.
            return Ok(());
        }
        let n = sess.down.bytes.len();
        let len = if n > 0 {
            workload::chunk_len(&mut self.rng, n)
        } else {
            0
        };
        let chunk: Vec<u8> = sess.down.bytes.drain(..len).collect();
        self.trace.bytes(&chunk);
        let mut out = Vec::new();
        let cs = &mut self.clients[c];
        let was_waiting = cs.model.state == ClientState::AwaitInfo;
        let signals = if chunk.is_empty() {
            Default::default()
        } else {
            cs.model.on_bytes(
                &chunk,
                &mut self.rng,
                &mut self.oracle,
                &mut self.tap,
                &mut out,
            )?
        };
        self.sessions[s].pings_seen = self.clients[c].model.session_pings;
        if self.blocked.remove(&s) {
            // Room in the socket again: the blocked writer goes on.
            self.wake.push(Wake::Session(s));
        }
        let sess = &mut self.sessions[s];
        if sess.down.bytes.is_empty() && sess.down.fin && !sess.down.eof {
            sess.down.eof = true;
            self.client_sees_close(s);
            return Ok(());
        }
        if was_waiting && self.clients[c].model.state == ClientState::Connected {
            // CONNECT is in `out`: the workload starts.
            self.schedule_action(c);
        }
        self.send_up(s, &out);
        if signals.lame_duck {
            self.stats.lame_duck_infos += 1;
            // Some clients act on the notice and move at once; the others wait to be closed
            // (a moved one always waits: its policy acts on the close).
            if self.cfg.rebalance.is_none() && self.rng.below(2) == 0 {
                self.client_close(c, true);
            }
        }
        self.schedule_down(s);
        Ok(())
    }

    /// The node's FIN reached the client: its connection is over; it reconnects, unless
    /// the node refused its credentials (then it gives up).
    fn client_sees_close(&mut self, s: usize) {
        let sess = &mut self.sessions[s];
        sess.client_open = false;
        let c = sess.client;
        let refused = sess.close_reason == Some(CloseReason::AuthenticationViolation);
        self.oracle.excuse(s);
        let cs = &mut self.clients[c];
        cs.model.close();
        if cs.session == Some(s) {
            cs.session = None;
        }
        if refused {
            cs.left = true;
        } else {
            if self.sessions[s].close_reason == Some(CloseReason::Rebalanced) {
                self.rebalance_reconnect(s);
            }
            self.schedule_reconnect(c);
        }
    }

    /// The client's connection died under it (a reset, or its node crashed).
    pub(super) fn client_lost(&mut self, s: usize) {
        let c = self.sessions[s].client;
        self.oracle.excuse(s);
        let cs = &mut self.clients[c];
        if cs.session == Some(s) {
            cs.session = None;
            cs.model.close();
            self.schedule_reconnect(c);
        }
    }

    /// The client closes its socket: to leave for good, or to move to another node.
    fn client_close(&mut self, c: usize, moving: bool) {
        let Some(s) = self.clients[c].session.take() else {
            return;
        };
        let sess = &mut self.sessions[s];
        sess.client_open = false;
        sess.up.fin = true;
        // It reads nothing more: what was on its way is never looked at.
        sess.down.bytes.clear();
        let node = sess.node;
        self.oracle.excuse(s);
        self.clients[c].model.close();
        if moving {
            self.stats.moves += 1;
            self.clients[c].avoid = Some(node);
            self.schedule_reconnect(c);
        } else {
            self.clients[c].left = true;
        }
        if self.blocked.remove(&s) {
            self.wake.push(Wake::Session(s));
        }
        self.schedule_up(s);
    }

    /// Session `s`'s timer: the stale rule is judged first, then the connection's
    /// `handle_timeout` runs if its deadline (node time) has come.
    pub(super) fn on_timer(&mut self, s: usize) -> Result<(), Violation> {
        if self.sessions[s].timer_at != Some(self.now) {
            return Ok(()); // Superseded by an earlier deadline that already ran.
        }
        self.sessions[s].timer_at = None;
        let node = self.sessions[s].node;
        let Some(shared) = self.nodes[node].shared.clone() else {
            return Ok(());
        };
        let now = Time::from_nanos(self.node_now(node));
        self.sessions[s].stale_allowed = self.may_be_stale(s);
        let Some(conn) = self.sessions[s].conn.as_mut() else {
            return Ok(());
        };
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now, &shared);
        }
        self.drain_conn_events(s)?;
        self.rearm(s);
        Ok(())
    }

    /// The stale rule (see `stale.rs`) for session `s`, just before its timer.
    fn may_be_stale(&self, s: usize) -> bool {
        let sess = &self.sessions[s];
        let (Some(conn), Some(shared)) = (&sess.conn, &self.nodes[sess.node].shared) else {
            return false;
        };
        let interval = shared.opts().ping_interval;
        StaleFacts {
            idle_ns: self.node_now(sess.node) - sess.last_read,
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            connect_processed: sess.connect_processed,
            pings_seen: sess.pings_seen,
            pongs_processed: sess.pongs_processed,
            queued_towards_client: sess.down.bytes.len() + conn.handle().pending_bytes(),
            client_open: sess.client_open,
        }
        .allows_close()
    }

    /// The client's next workload action, unless one is already queued.
    pub(super) fn schedule_action(&mut self, c: usize) {
        if self.ops_left == 0 || self.clients[c].action_pending || self.clients[c].idle {
            return;
        }
        self.clients[c].action_pending = true;
        let t = self.now + workload::think(&mut self.rng, self.cfg.think_ns);
        self.schedule(t, Event::Action(c));
    }

    /// Client `c` takes one workload action (if the phase's budget allows): what the
    /// phase permits (leaving, moving, oversized publishes only before the heal).
    pub(super) fn on_action(&mut self, c: usize) {
        self.clients[c].action_pending = false;
        let Some(s) = self.clients[c].session else {
            return;
        };
        if self.ops_left == 0 || self.clients[c].model.state != ClientState::Connected {
            return;
        }
        self.ops_left -= 1;
        let safety = self.phase == Phase::Safety;
        let allowed = Allowed {
            close_percent: if safety { self.cfg.close_percent } else { 0 },
            move_percent: if safety { self.cfg.move_percent } else { 0 },
            oversize: safety,
            no_queue_max: self.cfg.features.max_subscriptions > 0,
            limits: self.cfg.features.may_limit(c),
        };
        let mut out = Vec::new();
        let outcome = self.clients[c].model.act(&mut self.rng, allowed, &mut out);
        self.send_up(s, &out);
        match outcome {
            ActOutcome::Open => self.schedule_action(c),
            ActOutcome::Leave => self.client_close(c, false),
            ActOutcome::Move => self.client_close(c, true),
        }
    }

    /// The client writes `bytes` (dropped if its side is closed or the connection died;
    /// after the node closed, they go nowhere).
    pub(super) fn send_up(&mut self, s: usize, bytes: &[u8]) {
        let sess = &mut self.sessions[s];
        if bytes.is_empty() || sess.server_closed || sess.up.fin || sess.dead {
            return;
        }
        sess.up.bytes.extend_from_slice(bytes);
        self.schedule_up(s);
    }

    /// Queues the next client→node chunk of `s`, unless one is queued, the link is cut
    /// (parked until it heals) or nothing waits.
    pub(super) fn schedule_up(&mut self, s: usize) {
        let sess = &self.sessions[s];
        let path = self.paths[sess.client * self.cfg.nodes + sess.node];
        let l = &sess.up;
        let ready = !l.bytes.is_empty() || (l.fin && !l.eof);
        if !sess.dead && !l.scheduled && ready && path.cut_up == 0 {
            let at = self.now + path.up_latency + self.rng.below(path.jitter);
            self.sessions[s].up.scheduled = true;
            self.schedule(at, Event::ToServer(s));
        }
    }

    /// Queues the next node→client chunk of `s`, unless one is queued, the client does
    /// not read (closed or stalled), the link is cut, or nothing waits.
    pub(super) fn schedule_down(&mut self, s: usize) {
        let sess = &self.sessions[s];
        let path = self.paths[sess.client * self.cfg.nodes + sess.node];
        let l = &sess.down;
        let ready = !l.bytes.is_empty() || (l.fin && !l.eof);
        let reading = sess.client_open && !self.clients[sess.client].stalled;
        if !sess.dead && reading && !l.scheduled && ready && path.cut_down == 0 {
            let at = self.now + path.down_latency + self.rng.below(path.jitter);
            self.sessions[s].down.scheduled = true;
            self.schedule(at, Event::ToClient(s));
        }
    }

    /// Queues a timer event if the connection's deadline (node time) moved earlier.
    pub(super) fn rearm(&mut self, s: usize) {
        let sess = &self.sessions[s];
        let Some(t) = sess.conn.as_ref().and_then(Connection::poll_timeout) else {
            return;
        };
        let at = self.nodes[sess.node].clock.world_ns(t.as_nanos(), self.now);
        if !matches!(sess.timer_at, Some(x) if x <= at) {
            self.sessions[s].timer_at = Some(at);
            self.schedule(at, Event::Timer(s));
        }
    }

    /// Checks what the connection reports: a close the client did not cause must be one the
    /// node may rightly decide (slow consumer; stale under the stale rule; `Read Error`
    /// after a reset; `Server Shutdown` in lame duck mode; `Maximum Payload Violation`
    /// after an oversized PUB; `Authorization Violation` for the reload's victim).
    pub(super) fn drain_conn_events(&mut self, s: usize) -> Result<(), Violation> {
        loop {
            let sess = &mut self.sessions[s];
            let Some(conn) = sess.conn.as_mut() else {
                return Ok(());
            };
            let Some(e) = conn.poll_event() else {
                return Ok(());
            };
            let ConnEvent::Closed(reason) = e else {
                continue;
            };
            let (c, node) = (sess.client, sess.node);
            let who = self.conn_who(s);
            self.trace.event(self.now, 9, s, "closed", who);
            let sess = &mut self.sessions[s];
            let legit = match reason {
                CloseReason::ClientClosed => true,
                r if r.is_slow_consumer() => true,
                CloseReason::StaleConnection => sess.stale_allowed,
                CloseReason::ReadError => sess.reset,
                CloseReason::ServerShutdown => self.nodes[node].in_lame_duck(),
                CloseReason::Rebalanced => self.cfg.rebalance.is_some(),
                r if Some(r) == sess.expect_close => true,
                r => self.reload.may_close(c, r),
            };
            if !legit {
                let msg = format!(
                    "node {node} closed well-behaved client {c} (connection {s}): {reason}"
                );
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
            sess.close_reason = Some(reason);
            match reason {
                CloseReason::ClientClosed => self.stats.client_closes += 1,
                CloseReason::StaleConnection => {
                    self.stats.stale += 1;
                    let path = self.paths[c * self.cfg.nodes + node];
                    let reading = !self.clients[c].stalled && path.cut_up + path.cut_down == 0;
                    self.stats.stale_while_reading += u64::from(reading);
                    self.oracle.allow_err(s, "Stale Connection");
                }
                CloseReason::AuthenticationViolation => self.stats.deauthorized += 1,
                CloseReason::MaxPayloadExceeded => self.stats.max_payload_closes += 1,
                CloseReason::ServerShutdown => self.lame_duck_close(node)?,
                CloseReason::Rebalanced => self.record_move(s)?,
                r if r.is_slow_consumer() => self.stats.slow_consumers += 1,
                _ => {}
            }
            self.oracle.server_closed(s);
        }
    }

    /// The writers: every woken session's outbound queue moves onto its link.
    pub(super) fn pump_all(&mut self) -> Result<(), Violation> {
        loop {
            // A blocked writer keeps its wake-up flag set, so a close asked of it meanwhile
            // (lame duck, slow consumer) wakes nobody: look for those first.
            let closing: Vec<usize> = self
                .blocked
                .iter()
                .copied()
                .filter(|&s| {
                    let conn = self.sessions[s].conn.as_ref();
                    conn.is_some_and(|c| c.handle().close_reason().is_some())
                })
                .collect();
            for s in closing {
                self.blocked.remove(&s);
                self.wake.push(Wake::Session(s));
            }
            let woken = self.wake.take();
            if woken.is_empty() {
                return Ok(());
            }
            for w in woken {
                match w {
                    Wake::Session(s) => self.pump(s)?,
                    Wake::Route(e) => self.pump_route(e)?,
                }
            }
        }
    }

    /// Session `s`'s writer: moves its outbound queue into the link (unless the link is
    /// full: then it blocks), and carries out a close the queue asks for.
    fn pump(&mut self, s: usize) -> Result<(), Violation> {
        let window = self.cfg.window;
        let sess = &mut self.sessions[s];
        sess.flag.woken.store(false, Ordering::Relaxed);
        if sess.dead || sess.server_closed {
            return Ok(());
        }
        let Some(conn) = sess.conn.as_mut() else {
            return Ok(());
        };
        let closing = conn.handle().close_reason().is_some();
        if sess.client_open && !closing && sess.down.bytes.len() >= window {
            // The socket is full: the writer is blocked until the client reads.
            sess.flag.woken.store(true, Ordering::Relaxed);
            self.blocked.insert(s);
            return Ok(());
        }
        let mut buf = Vec::new();
        let taken = conn.handle().take(&mut buf);
        if sess.client_open {
            sess.down.bytes.extend_from_slice(&buf);
        }
        if let Some(reason) = taken.close_now.or(taken.close_after) {
            sess.server_closed = true;
            sess.down.fin = true;
            let node = sess.node;
            let now = Time::from_nanos(self.node_now(node));
            if let Some(shared) = self.nodes[node].shared.clone() {
                let conn = self.sessions[s].conn.as_mut().expect("checked above");
                conn.handle_close(now, &shared, reason);
            }
            self.oracle.server_closed(s);
            self.drain_conn_events(s)?;
        }
        self.schedule_down(s);
        Ok(())
    }
}

/// With an MSUB sabotage: the op the oracle is made to believe `client` sent instead of
/// `op` (an `MSUB` with the believed max for a sid the harness subscribed otherwise).
fn believed_op<'a>(client: &'a ClientModel, op: &Op<'a>) -> Option<Op<'a>> {
    let sid_of = |sid: &[u8]| std::str::from_utf8(sid).ok()?.parse::<u64>().ok();
    if let Op::Sub { queue, sid, .. } = *op {
        if let Some(subject) = client.believed_subject(sid_of(sid)?) {
            return Some(Op::Sub {
                subject,
                queue,
                sid,
            });
        }
    }
    match *op {
        Op::Sub {
            subject,
            queue,
            sid,
        }
        | Op::SubMax {
            subject,
            queue,
            sid,
            ..
        } => {
            let max = client.believed_msub(sid_of(sid)?)?;
            Some(Op::SubMax {
                subject,
                queue,
                sid,
                max,
            })
        }
        _ => None,
    }
}

/// With the leak sabotage: a PUB/HPUB the node processed, re-encoded for another node.
fn collect_leak(op: &Op<'_>, leaks: &mut Vec<Vec<u8>>) {
    let mut b = Vec::new();
    match *op {
        Op::Pub {
            subject,
            reply,
            payload,
        } => encode::publish(&mut b, subject, reply, payload),
        Op::HPub {
            subject,
            reply,
            header_len,
            payload,
        } => encode::hpublish(&mut b, subject, reply, header_len, payload),
        _ => return,
    }
    leaks.push(b);
}

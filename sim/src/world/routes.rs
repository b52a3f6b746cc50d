//! Routes between nodes (the `cluster` variant): the nodes' dials, route connections over
//! simulated links, their bytes, timers and closes, faults on them, and the inputs the
//! connections send their node.
//!
//! A route link is one TCP connection between two nodes (possibly the same node: a route
//! to self): end 0 the dialer's [`Connection::connect_route`], end 1 the acceptor's
//! [`Connection::accept_route`]. Both ends are core connections, driven exactly as client
//! connections are (bytes in random chunks, timers, the writer draining the outbound
//! queue), over a path between the two nodes with its own latency and jitter, cut by
//! [`Fault::RouteCut`](crate::faults::Fault::RouteCut) and reset by
//! [`Fault::RouteReset`](crate::faults::Fault::RouteReset). A node crash drops its ends
//! without a word, and the peers see a reset. The writer of a route never blocks (the
//! socket buffers are taken as large enough: the route's `max_pending` is what bounds it).
//!
//! Each end's node-bound bytes are parsed by a shadow route parser one op at a time, and
//! the core is fed exactly that op's bytes, so the oracle sees each op in node order and
//! stops where the node stops (a route closed as a duplicate reads nothing after the INFO
//! that closed it).
//!
//! The node's inputs (routes up and down, gossip, failed dials) wake a [`NodeWaker`]; after
//! every event the world runs `Node::handle_inputs` for each woken node and carries out its
//! actions (`Dial`), as a runtime's node driver does.

use std::sync::Arc;

use natsd_core::client::Notify;
use natsd_core::conn::{ConnEvent, Connection, ROUTE_MAX_CONTROL_LINE, ROUTE_MAX_PAYLOAD};
use natsd_core::errors::CloseReason;
use natsd_core::node::NodeInput;
use natsd_core::options::RouteUrl;
use natsd_core::proto::{encode, ConnKind, Limits, Op, Parser};
use natsd_core::Time;

use super::{Event, Flag, Link, Wake, WakeList, World};
use crate::cluster::ClusterPlan;
use crate::oracle::{Violation, ViolationKind};
use crate::workload::{self, Sabotage};

/// The network between two nodes, one way.
#[derive(Debug, Clone, Copy)]
pub(super) struct NodePath {
    latency: u64,
    jitter: u64,
    /// Cuts in force.
    pub(super) cut: u32,
}

impl NodePath {
    /// A path drawn from `r` with the config's latency and jitter ranges.
    pub(super) fn draw(r: &mut natsd_core::rng::Rng, latency_ns: u64, jitter_ns: u64) -> Self {
        NodePath {
            latency: 1 + r.below(latency_ns),
            jitter: 1 + r.below(jitter_ns),
            cut: 0,
        }
    }
}

/// Wakes the world's node driver: the node has inputs.
#[derive(Debug)]
pub(super) struct NodeWaker {
    node: usize,
    list: Arc<WakeList<usize>>,
}

impl Notify for NodeWaker {
    fn notify(&self) {
        self.list.push(self.node);
    }
}

/// One end of a route link.
pub(super) struct RouteEnd {
    node: usize,
    /// `None` once its node crashed.
    conn: Option<Connection>,
    flag: Arc<Flag>,
    /// Parses the bytes this end's node reads, as its parser does, for the oracle.
    shadow: Parser,
    /// Bytes on their way to this end.
    inbound: Link,
    /// The world time of the queued `RouteTimer` event, if any.
    timer_at: Option<u64>,
    /// Its writer finished (`handle_close` done): nothing more is read or written.
    finished: bool,
    /// It read an `-ERR` from its peer (a route closes on one, as Go's).
    got_err: bool,
}

/// One route connection between two nodes.
pub(super) struct RouteLink {
    ends: [RouteEnd; 2],
    /// Reset, or lost in a crash: nothing flows either way.
    dead: bool,
    /// Reset by the world (the ends may see `Read Error`).
    reset: bool,
}

impl World {
    /// The path from node `a` to node `b`.
    fn node_path(&self, a: usize, b: usize) -> NodePath {
        self.node_paths[a * self.cfg.nodes + b]
    }

    /// Sets node `n`'s node waker (at each start).
    pub(super) fn wire_node(&self, n: usize) {
        if let Some(sh) = &self.nodes[n].shared {
            let w = NodeWaker {
                node: n,
                list: Arc::clone(&self.node_wake),
            };
            sh.set_node_waker(Arc::new(w));
        }
    }

    /// Node `from` dials `url`: a route link to the node it names, or, if that node is down
    /// or the network between them is cut, `DialFailed`.
    pub(super) fn dial(&mut self, from: usize, url: RouteUrl) {
        let Some(sh_from) = self.nodes[from].shared.clone() else {
            return;
        };
        let target = ClusterPlan::node_of(&url, self.cfg.nodes);
        let sh_to = target.and_then(|t| self.nodes[t].shared.clone());
        let (Some(to), Some(sh_to)) = (target, sh_to) else {
            self.stats.dials_failed += 1;
            let error = format!("dial tcp {}: connection refused", url.addr());
            sh_from.to_node(NodeInput::DialFailed { url, error });
            return;
        };
        if self.node_path(from, to).cut > 0 || self.node_path(to, from).cut > 0 {
            self.stats.dials_failed += 1;
            let error = format!("dial tcp {}: i/o timeout", url.addr());
            sh_from.to_node(NodeInput::DialFailed { url, error });
            return;
        }
        let l = self.links.len();
        assert_eq!(self.oracle.open_route(from, to), l, "harness bug: link ids");
        let flag = |end: usize| {
            Arc::new(Flag {
                woken: false.into(),
                target: Wake::Route(end),
                list: Arc::clone(&self.wake),
            })
        };
        let (f0, f1) = (flag(2 * l), flag(2 * l + 1));
        let now_from = Time::from_nanos(self.node_now(from));
        let now_to = Time::from_nanos(self.node_now(to));
        let n0 = Arc::clone(&f0) as Arc<dyn Notify>;
        let n1 = Arc::clone(&f1) as Arc<dyn Notify>;
        let c0 = Connection::connect_route(&sh_from, now_from, None, n0, url);
        let c1 = Connection::accept_route(&sh_to, now_to, None, n1);
        let end = |node, conn, flag| RouteEnd {
            node,
            conn: Some(conn),
            flag,
            shadow: route_parser(),
            inbound: Link::default(),
            timer_at: None,
            finished: false,
            got_err: false,
        };
        self.links.push(RouteLink {
            ends: [end(from, c0, f0), end(to, c1, f1)],
            dead: false,
            reset: false,
        });
        self.stats.route_links += 1;
        for e in [2 * l, 2 * l + 1] {
            self.wake.push(Wake::Route(e));
            self.rearm_route(e);
        }
    }

    /// Runs the node driver: each woken node takes its inputs and its actions are carried
    /// out, until no node is woken any more.
    pub(super) fn drive_nodes(&mut self) -> Result<(), Violation> {
        loop {
            let woken = self.node_wake.take();
            if woken.is_empty() {
                return Ok(());
            }
            for n in woken {
                let now = Time::from_nanos(self.node_now(n));
                let Some(node) = self.nodes[n].node.as_mut() else {
                    continue;
                };
                node.handle_inputs(now);
                self.drain_node_actions(n)?;
                self.rearm_node(n);
            }
            self.pump_all()?;
        }
    }

    /// Route end `e`'s writer: its outbound queue goes onto the link towards its peer; a
    /// close it asks for is carried out (the peer then reads EOF after the bytes).
    pub(super) fn pump_route(&mut self, e: usize) -> Result<(), Violation> {
        let link = &mut self.links[e / 2];
        let end = &mut link.ends[e % 2];
        end.flag
            .woken
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if link.dead || end.finished {
            return Ok(());
        }
        let node = end.node;
        let Some(conn) = end.conn.as_mut() else {
            return Ok(());
        };
        let mut buf = Vec::new();
        let taken = conn.handle().take(&mut buf);
        let close = taken.close_now.or(taken.close_after);
        if let Some(reason) = close {
            let now = Time::from_nanos(self.nodes[node].clock.node_ns(self.now));
            if let Some(sh) = self.nodes[node].shared.clone() {
                conn.handle_close(now, &sh, reason);
            }
            end.finished = true;
        }
        let peer = &mut link.ends[(e % 2) ^ 1];
        peer.inbound.bytes.extend_from_slice(&buf);
        if close.is_some() {
            peer.inbound.fin = true;
            self.drain_route_events(e)?;
        }
        self.schedule_route(e ^ 1);
        Ok(())
    }

    /// The next chunk of bytes reaches route end `e`: fed to its node one op at a time
    /// (the oracle sees each op once the node processed it), EOF closes it.
    pub(super) fn on_route_data(&mut self, e: usize) -> Result<(), Violation> {
        let (l, i) = (e / 2, e % 2);
        self.links[l].ends[i].inbound.scheduled = false;
        let (node, peer_node) = (self.links[l].ends[i].node, self.links[l].ends[i ^ 1].node);
        if self.links[l].dead || self.node_path(peer_node, node).cut > 0 {
            return Ok(()); // Dead: nothing flows. Cut: parked until the cut ends.
        }
        let Some(sh) = self.nodes[node].shared.clone() else {
            return Ok(());
        };
        let avail = self.links[l].ends[i].inbound.bytes.len();
        let len = if avail > 0 {
            workload::chunk_len(&mut self.rng, avail)
        } else {
            0
        };
        let chunk: Vec<u8> = self.links[l].ends[i].inbound.bytes.drain(..len).collect();
        self.trace.bytes(&chunk);
        let now = Time::from_nanos(self.node_now(node));
        let mut resend = Vec::new();
        let sabotage = self.cfg.sabotage;
        let end = &mut self.links[l].ends[i];
        if let (false, Some(conn)) = (end.finished, end.conn.as_mut()) {
            let mut pos = 0;
            let mut fed = 0;
            while pos < chunk.len() && !conn.is_closed() {
                let op = match end.shadow.parse(&chunk, &mut pos) {
                    Ok(Some(op)) => op,
                    Ok(None) => break,
                    Err(err) => {
                        let msg = format!("node {node} reads unparseable route bytes: {err:?}");
                        return Err(Violation::new(ViolationKind::Corrupt, msg));
                    }
                };
                end.got_err |= matches!(op, Op::Err(_));
                let _ = conn.handle_read(now, &chunk[fed..pos], &sh);
                fed = pos;
                self.oracle.on_route_op(e, &op)?;
                if matches!(sabotage, Some(Sabotage::RouteTwice | Sabotage::SecondHop)) {
                    collect_routed(&op, &mut resend);
                }
            }
            if fed < chunk.len() && !conn.is_closed() {
                let _ = conn.handle_read(now, &chunk[fed..], &sh);
            }
            let inbound = &mut end.inbound;
            if inbound.bytes.is_empty() && inbound.fin && !inbound.eof {
                inbound.eof = true;
                conn.handle_close(now, &sh, CloseReason::ClientClosed);
                end.finished = true;
                // Its peer is gone: nothing it writes is read any more.
                self.links[l].ends[i ^ 1].inbound.bytes.clear();
            }
        }
        let end = &mut self.links[l].ends[i];
        if end.finished || end.conn.is_none() {
            // Nobody reads this end any more: what arrives is dropped.
            end.inbound.bytes.clear();
            end.inbound.eof |= end.inbound.fin;
        }
        self.drain_route_events(e)?;
        self.sabotage_routes(e, resend);
        self.rearm_route(e);
        self.schedule_route(e);
        Ok(())
    }

    /// The route sabotages: a routed message node `e`'s node just took is handed to it
    /// again ([`Sabotage::RouteTwice`]) or sent on to one of its other routes
    /// ([`Sabotage::SecondHop`]), as if the peer or this node had written it.
    fn sabotage_routes(&mut self, e: usize, resend: Vec<Vec<u8>>) {
        if resend.is_empty() {
            return;
        }
        let node = self.links[e / 2].ends[e % 2].node;
        let peer_node = self.links[e / 2].ends[(e % 2) ^ 1].node;
        let target = match self.cfg.sabotage {
            Some(Sabotage::RouteTwice) => Some(e),
            Some(Sabotage::SecondHop) => (0..self.links.len() * 2).find(|&x| {
                let link = &self.links[x / 2];
                let (mine, other) = (&link.ends[x % 2], &link.ends[(x % 2) ^ 1]);
                !link.dead
                    && mine.node == node
                    && !mine.finished
                    && !other.finished
                    && other.node != node
                    && other.node != peer_node
            }),
            _ => None,
        };
        let Some(t) = target else { return };
        let to = if t == e { e } else { t ^ 1 };
        for b in resend {
            self.links[to / 2].ends[to % 2]
                .inbound
                .bytes
                .extend_from_slice(&b);
            self.stats.leaks += 1;
        }
        self.schedule_route(to);
    }

    /// Route end `e`'s timer: keep-alive (PINGs, stale), the auth timeout.
    pub(super) fn on_route_timer(&mut self, e: usize) -> Result<(), Violation> {
        let end = &mut self.links[e / 2].ends[e % 2];
        if end.timer_at != Some(self.now) {
            return Ok(()); // Superseded.
        }
        end.timer_at = None;
        let node = end.node;
        let Some(sh) = self.nodes[node].shared.clone() else {
            return Ok(());
        };
        let now = Time::from_nanos(self.node_now(node));
        let end = &mut self.links[e / 2].ends[e % 2];
        let Some(conn) = end.conn.as_mut() else {
            return Ok(());
        };
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now, &sh);
        }
        self.drain_route_events(e)?;
        self.rearm_route(e);
        Ok(())
    }

    /// Queues a `RouteTimer` for end `e`'s deadline, unless one at or before it is queued.
    fn rearm_route(&mut self, e: usize) {
        let end = &self.links[e / 2].ends[e % 2];
        let Some(t) = end.conn.as_ref().and_then(Connection::poll_timeout) else {
            return;
        };
        let at = self.nodes[end.node].clock.world_ns(t.as_nanos(), self.now);
        if !matches!(end.timer_at, Some(x) if x <= at) {
            self.links[e / 2].ends[e % 2].timer_at = Some(at);
            self.schedule(at, Event::RouteTimer(e));
        }
    }

    /// Queues the next chunk towards end `e`, unless one is queued, nothing waits, the
    /// link is dead or the path to it is cut.
    pub(super) fn schedule_route(&mut self, e: usize) {
        let link = &self.links[e / 2];
        let (end, peer) = (&link.ends[e % 2], &link.ends[(e % 2) ^ 1]);
        let path = self.node_path(peer.node, end.node);
        let l = &end.inbound;
        let ready = !l.bytes.is_empty() || (l.fin && !l.eof);
        if !link.dead && !l.scheduled && ready && path.cut == 0 {
            let at = self.now + path.latency + self.rng.below(path.jitter);
            self.links[e / 2].ends[e % 2].inbound.scheduled = true;
            self.schedule(at, Event::RouteData(e));
        }
    }

    /// Checks the closes route end `e` reports: a peer that closed (EOF), a reset the
    /// world made, a stale peer, a duplicate route (or a route to self), a slow consumer,
    /// an `-ERR` from the peer. Anything else (a parse error of our own bytes, an auth or
    /// cluster-name refusal) is a bug.
    fn drain_route_events(&mut self, e: usize) -> Result<(), Violation> {
        loop {
            let link = &mut self.links[e / 2];
            let reset = link.reset;
            let end = &mut link.ends[e % 2];
            let (node, got_err) = (end.node, end.got_err);
            let Some(e_) = end.conn.as_mut().and_then(Connection::poll_event) else {
                return Ok(());
            };
            let ConnEvent::Closed(reason) = e_ else {
                continue;
            };
            let who = self.route_who(e);
            self.trace.event(self.now, 9, e, "route_closed", who);
            let legit = match reason {
                CloseReason::ClientClosed | CloseReason::DuplicateRoute => true,
                CloseReason::StaleConnection => true,
                CloseReason::ReadError => reset,
                // The peer closed with an error (a stale route gets `-ERR 'Stale
                // Connection'`): Go closes a route on any `-ERR`, as a parse error.
                CloseReason::ParseError => got_err,
                r => r.is_slow_consumer(),
            };
            if !legit {
                let msg = format!("node {node} closed route end {e}: {reason}");
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
            match reason {
                CloseReason::DuplicateRoute => self.stats.duplicate_routes += 1,
                CloseReason::StaleConnection => self.stats.stale_routes += 1,
                _ => {}
            }
            self.stats.route_closes += 1;
            self.oracle.route_closed(e);
            self.wake.push(Wake::Route(e));
        }
    }

    /// Who route end `e` is, for the trace.
    pub(super) fn route_who(&self, e: usize) -> crate::trace::Who {
        let link = &self.links[e / 2];
        crate::trace::Who::Route {
            link: e / 2,
            node: link.ends[e % 2].node,
            peer: link.ends[(e % 2) ^ 1].node,
        }
    }

    /// A route connection between `a` and `b` dies (the first live one): both ends see a
    /// reset, bytes in flight are lost.
    pub(super) fn reset_route(&mut self, a: usize, b: usize) -> Result<(), Violation> {
        let found = self.links.iter().position(|link| {
            let (x, y) = (link.ends[0].node, link.ends[1].node);
            !link.dead
                && ((x, y) == (a, b) || (x, y) == (b, a))
                && !link.ends.iter().any(|e| e.finished)
        });
        let Some(l) = found else { return Ok(()) };
        self.stats.route_resets += 1;
        self.links[l].reset = true;
        for e in [2 * l, 2 * l + 1] {
            self.kill_route_end(e, true)?;
        }
        self.links[l].dead = true;
        Ok(())
    }

    /// Node `n` crashed: its route ends vanish, their peers see a reset.
    pub(super) fn crash_routes(&mut self, n: usize) -> Result<(), Violation> {
        for l in 0..self.links.len() {
            let link = &self.links[l];
            if link.dead || !link.ends.iter().any(|e| e.node == n) {
                continue;
            }
            self.links[l].reset = true;
            for e in [2 * l, 2 * l + 1] {
                let on_n = self.links[l].ends[e % 2].node == n;
                self.kill_route_end(e, !on_n)?;
            }
            self.links[l].dead = true;
        }
        Ok(())
    }

    /// Route end `e` loses its socket: with `close`, its node sees `Read Error`; without,
    /// the node itself is gone (the connection is dropped unclosed).
    fn kill_route_end(&mut self, e: usize, close: bool) -> Result<(), Violation> {
        let end = &mut self.links[e / 2].ends[e % 2];
        end.inbound.bytes.clear();
        let node = end.node;
        if !close {
            end.conn = None;
            if !end.finished {
                end.finished = true;
                self.oracle.route_closed(e);
            }
            return Ok(());
        }
        if end.finished {
            return Ok(());
        }
        end.finished = true;
        let now = Time::from_nanos(self.node_now(node));
        let end = &mut self.links[e / 2].ends[e % 2];
        if let (Some(conn), Some(sh)) = (end.conn.as_mut(), self.nodes[node].shared.clone()) {
            conn.handle_close(now, &sh, CloseReason::ReadError);
        }
        self.drain_route_events(e)?;
        self.oracle.route_closed(e);
        Ok(())
    }

    /// The network between `a` and `b` is cut (`up`: a → b, `down`: b → a), or, with
    /// `heal`, that cut ends; parked bytes move again when it heals.
    pub(super) fn cut_nodes(&mut self, a: usize, b: usize, up: bool, down: bool, heal: bool) {
        let n = self.cfg.nodes;
        for (x, y, on) in [(a, b, up), (b, a, down)] {
            let p = &mut self.node_paths[x * n + y];
            if on {
                if heal {
                    p.cut -= 1;
                } else {
                    p.cut += 1;
                }
            }
        }
        if heal {
            self.reschedule_routes();
        }
    }

    /// Every route end's delivery is queued again if something waits (after a cut heals).
    pub(super) fn reschedule_routes(&mut self) {
        for e in 0..self.links.len() * 2 {
            self.schedule_route(e);
        }
    }

    /// The mesh is full: every node that is up has a registered route to every other one.
    pub(super) fn check_mesh(&self) -> Result<(), Violation> {
        if self.cfg.cluster.is_none() {
            return Ok(());
        }
        for (a, na) in self.nodes.iter().enumerate() {
            let Some(sa) = &na.shared else { continue };
            for (b, nb) in self.nodes.iter().enumerate() {
                let Some(sb) = &nb.shared else { continue };
                if a != b && !sa.routes().contains(sb.server_id()) {
                    let msg = format!(
                        "node {a} has no route to node {b} after the heal ({} routes: {:?})",
                        sa.routes().len(),
                        sa.routes()
                            .list()
                            .iter()
                            .map(|r| r.remote_id.clone())
                            .collect::<Vec<_>>()
                    );
                    return Err(Violation::new(ViolationKind::NoLiveness, msg));
                }
            }
        }
        Ok(())
    }

    /// At the end: nothing left in flight or queued on a route that is up.
    pub(super) fn check_routes_drained(&self) -> Result<(), Violation> {
        for (l, link) in self.links.iter().enumerate() {
            if link.dead {
                continue;
            }
            for (i, end) in link.ends.iter().enumerate() {
                let pending = end.conn.as_ref().map_or(0, |c| c.handle().pending_bytes());
                let open = !end.finished && !link.ends[i ^ 1].finished;
                if open && (pending > 0 || !end.inbound.bytes.is_empty()) {
                    let msg = format!("route link {l} end {i}: bytes stuck ({pending} queued)");
                    return Err(Violation::new(ViolationKind::Stuck, msg));
                }
            }
        }
        Ok(())
    }
}

/// A route's parser, as the core makes it (headers on, the route limits).
fn route_parser() -> Parser {
    let mut p = Parser::for_peer(
        Limits {
            max_control_line: ROUTE_MAX_CONTROL_LINE,
            max_payload: ROUTE_MAX_PAYLOAD,
        },
        ConnKind::Route,
    );
    p.set_headers(true);
    p
}

/// With a route sabotage: a routed message, re-encoded.
fn collect_routed(op: &Op<'_>, out: &mut Vec<Vec<u8>>) {
    if let Op::RMsg {
        account,
        subject,
        reply,
        queues,
        header_len,
        payload,
        has_headers,
    } = *op
    {
        // Client traffic only: the servers' own (`$SYS` STATSZ gossip) is outside the model,
        // so a repeat of it would go unnoticed and be repeated forever.
        if account == natsd_core::account::SYSTEM_ACCOUNT.as_bytes() {
            return;
        }
        let mut b = Vec::new();
        let h = has_headers.then_some(header_len);
        encode::rmsg(&mut b, account, subject, reply, queues, h, payload);
        out.push(b);
    }
}

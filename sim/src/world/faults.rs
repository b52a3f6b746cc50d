//! Faults as they happen (cuts, resets, crashes, stalls) and the heal that ends them: the
//! switch from the safety phase to the liveness phase.

use natsd_core::errors::CloseReason;
use natsd_core::Time;

use super::{Event, Phase, Wake, World};
use crate::faults::Fault;
use crate::oracle::Violation;

impl World {
    /// The planned fault `i` happens (faults are planned before the heal only).
    pub(super) fn on_fault(&mut self, i: usize) -> Result<(), Violation> {
        if self.phase != Phase::Safety {
            return Ok(());
        }
        match self.cfg.faults.events[i].1 {
            Fault::Cut {
                client,
                node,
                dir,
                for_ns,
            } => {
                let p = &mut self.paths[client * self.cfg.nodes + node];
                p.cut_up += u32::from(dir.up());
                p.cut_down += u32::from(dir.down());
                self.cut_active[i] = true;
                self.stats.cuts += 1;
                self.schedule(self.now + for_ns, Event::CutOver(i));
            }
            Fault::Reset { client } => {
                if let Some(s) = self.clients[client].session {
                    self.reset(s)?;
                }
            }
            Fault::Crash { node, down_ns } => self.crash(node, down_ns)?,
            Fault::RouteCut { a, b, dir, for_ns } => {
                self.cut_nodes(a, b, dir.up(), dir.down(), false);
                self.cut_active[i] = true;
                self.stats.route_cuts += 1;
                self.schedule(self.now + for_ns, Event::CutOver(i));
            }
            Fault::RouteReset { a, b } => self.reset_route(a, b)?,
        }
        Ok(())
    }

    /// Cut `i` ends (unless the heal ended it already): its link carries what it held.
    pub(super) fn on_cut_over(&mut self, i: usize) {
        if !std::mem::take(&mut self.cut_active[i]) {
            return;
        }
        if let Fault::RouteCut { a, b, dir, .. } = self.cfg.faults.events[i].1 {
            self.cut_nodes(a, b, dir.up(), dir.down(), true);
            return;
        }
        let Fault::Cut {
            client, node, dir, ..
        } = self.cfg.faults.events[i].1
        else {
            unreachable!("only cuts are active");
        };
        let p = &mut self.paths[client * self.cfg.nodes + node];
        p.cut_up -= u32::from(dir.up());
        p.cut_down -= u32::from(dir.down());
        for s in 0..self.sessions.len() {
            let sess = &self.sessions[s];
            if sess.client == client && sess.node == node && !sess.dead {
                self.schedule_up(s);
                self.schedule_down(s);
            }
        }
    }

    /// Session `s`'s TCP connection dies: the node sees a read error, the client a reset;
    /// bytes in flight either way are lost.
    pub(super) fn reset(&mut self, s: usize) -> Result<(), Violation> {
        self.stats.resets += 1;
        self.blocked.remove(&s);
        let node = self.sessions[s].node;
        let now = Time::from_nanos(self.node_now(node));
        let sess = &mut self.sessions[s];
        sess.reset = true;
        sess.up.bytes.clear();
        sess.down.bytes.clear();
        if let (Some(conn), Some(shared)) = (sess.conn.as_mut(), &self.nodes[node].shared) {
            if !sess.server_closed {
                conn.handle_close(now, shared, CloseReason::ReadError);
                sess.server_closed = true;
            }
        }
        self.drain_conn_events(s)?;
        self.sessions[s].dead = true;
        self.oracle.server_closed(s);
        self.client_lost(s);
        Ok(())
    }

    /// Client `c` stops reading (safety phase only) until its `Unstall`, or the heal.
    pub(super) fn on_stall(&mut self, c: usize) {
        if self.phase != Phase::Safety {
            return;
        }
        self.clients[c].stalled = true;
        self.stats.stalls += 1;
        let d = self.cfg.stall.map_or(0, |s| s.for_ns);
        self.schedule(self.now + d, Event::Unstall(c));
    }

    /// Client `c` reads again: its parked link resumes (and with it a blocked writer).
    pub(super) fn on_unstall(&mut self, c: usize) {
        self.clients[c].stalled = false;
        if let Some(s) = self.clients[c].session {
            self.schedule_down(s);
        }
    }

    /// The end of the safety phase (TigerBeetle's `transition_to_liveness_mode`): cuts heal,
    /// crashed nodes restart, stalls end, no more faults, moves, departures or oversized
    /// publishes; the liveness workload starts, and from now on everything owed to a
    /// connection that stays open must arrive.
    pub(super) fn on_heal(&mut self) {
        self.phase = Phase::Liveness;
        self.tap.healed();
        self.deliveries_at_heal = self.oracle.deliveries();
        for i in 0..self.cut_active.len() {
            if self.cut_active[i] {
                self.on_cut_over(i);
            }
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].shared.is_none() && !self.nodes[n].gone {
                self.start_node(n);
                self.boot_node(n);
                self.stats.restarts += 1;
            }
        }
        for c in 0..self.clients.len() {
            self.clients[c].stalled = false;
        }
        for s in 0..self.sessions.len() {
            self.schedule_up(s);
            self.schedule_down(s);
        }
        for s in std::mem::take(&mut self.blocked) {
            self.wake.push(Wake::Session(s));
        }
        self.reschedule_routes();
        self.ops_left = self.cfg.live_ops;
        for c in 0..self.clients.len() {
            if self.clients[c].session.is_some() {
                self.schedule_action(c);
            }
        }
    }
}

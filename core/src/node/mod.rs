//! The server node: server-wide, timed policy, sans-IO (modelled on quinn-proto's `Endpoint`,
//! the shared state machine beside the per-connection ones).
//!
//! Connections ([`crate::conn::Connection`]) hold the hot path; the node is the cold path:
//! decisions that concern the whole server and unfold over time: lame duck mode, and which
//! routes to dial and when (`routes.rs`), and the system account's periodic events
//! (`sys.rs`), and client rebalancing when a cluster grows (`rebalance.rs`).

mod rebalance;
mod routes;
mod sys;

pub use rebalance::{Plan, RebalanceStatus, FRESH as REBALANCE_FRESH};
pub use routes::{NodeInput, ROUTE_CONNECT_INTERVAL, ROUTE_RECONNECT_JITTER};

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::conn::LogLevel;
use crate::errors::CloseReason;
use crate::rng::Rng;
use crate::shared::Shared;
use crate::Time;

/// Longest pause between two lame-duck closes (Go: 1 s, so a few clients do not take the
/// whole `lame_duck_duration` to drain).
pub const LAME_DUCK_MAX_GAP: Duration = Duration::from_secs(1);

/// The RNG stream of the node (connections use their cid, which starts at 1).
const NODE_RNG_STREAM: u64 = 0;

/// What the node asks of its runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeAction {
    /// Close the client listener: accept nobody new (lame duck mode).
    StopAccepting,
    /// A line for the server log.
    Log(LogLevel, String),
    /// The node is done: shut the server down gracefully (the end of lame duck mode).
    Shutdown,
    /// Open a route to this URL: on success the runtime makes the connection with
    /// [`crate::conn::Connection::connect_route`]; on failure it sends
    /// [`NodeInput::DialFailed`] (through `Shared::to_node`).
    Dial(crate::options::RouteUrl),
}

/// Where lame duck mode is.
#[derive(Debug)]
enum LameDuck {
    /// Entered; the `ldm` INFO goes out at the next timeout (after the runtime stopped
    /// accepting, as Go closes the listener first).
    Announce {
        grace: Duration,
        spread: Duration,
    },
    /// Waiting out the grace period, then closing starts.
    Grace {
        spread: Duration,
    },
    /// Closing clients one at a time: `left` in close order, a pause of `[gap/2, gap)`
    /// between two closes.
    Closing {
        left: VecDeque<u64>,
        gap: Duration,
    },
    Done,
}

/// One server's node.
///
/// # Contract
///
/// Inputs are `handle_*` calls, each with `now`; outputs are polled after every input:
///
/// 1. [`handle_start`](Self::handle_start) once, when the route listener is up (it dials
///    the explicit routes).
/// 2. Inputs: [`handle_inputs`](Self::handle_inputs) whenever the waker registered with
///    `Shared::set_node_waker` fires (connections and the runtime queue [`NodeInput`]s
///    through `Shared::to_node`), [`handle_lame_duck`](Self::handle_lame_duck) (SIGUSR2),
///    and [`handle_timeout`](Self::handle_timeout) once [`poll_timeout`](Self::poll_timeout)
///    has passed (early calls are harmless no-ops).
/// 3. After each input, drain [`poll_action`](Self::poll_action) until `None`, acting on
///    each in order: [`NodeAction::Dial`] (connect, then `Connection::connect_route`; on
///    failure queue [`NodeInput::DialFailed`]), [`NodeAction::StopAccepting`],
///    [`NodeAction::Log`], [`NodeAction::Shutdown`] (last: nothing follows it).
/// 4. Then re-arm the timer from [`poll_timeout`](Self::poll_timeout).
///
/// Clients are closed through their shared handles ([`crate::client::ClientHandle`]), as a
/// publisher closes a slow consumer: the runtime's writer sees it and finishes the job.
pub struct Node {
    sh: Arc<Shared>,
    rng: Rng,
    lame: Option<LameDuck>,
    timer: Option<Time>,
    actions: VecDeque<NodeAction>,
    /// Route URLs being dialled or redialled.
    peers: Vec<routes::Peer>,
    /// The system account's periodic events.
    sys: sys::SysTimers,
    /// Client rebalancing (`cluster { rebalance }`).
    rb: rebalance::Rebalancer,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("lame", &self.lame)
            .field("timer", &self.timer)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// The node of the server whose state is `sh`; its randomness comes from `Options::seed`.
    pub fn new(sh: Arc<Shared>) -> Node {
        let rng = Rng::fork(sh.opts().seed, NODE_RNG_STREAM);
        Node {
            sh,
            rng,
            lame: None,
            timer: None,
            actions: VecDeque::new(),
            peers: Vec::new(),
            sys: sys::SysTimers::default(),
            rb: rebalance::Rebalancer::default(),
        }
    }

    /// Enters lame duck mode, paced as Go: stop accepting; tell the clients that take async
    /// INFO (`"ldm":true`); wait `grace`; then close the clients one at a time, a pause
    /// drawn from `[gap/2, gap)` between two closes, where `gap` is `(duration - grace)`
    /// (1 s if that is not positive) divided by the number of clients, at most
    /// [`LAME_DUCK_MAX_GAP`]; shut down after the last close. With no clients at all it
    /// shuts down at once (no grace). A second call is ignored.
    pub fn handle_lame_duck(&mut self, now: Time, duration: Duration, grace: Duration) {
        if self.lame.is_some() {
            return;
        }
        self.log(
            LogLevel::Info,
            "Entering lame duck mode, stop accepting new clients",
        );
        self.actions.push_back(NodeAction::StopAccepting);
        let slow = crate::events::lame_duck(&self.sh, now);
        self.log_slow(slow);
        let spread = match duration.checked_sub(grace) {
            Some(d) if !d.is_zero() => d,
            _ => Duration::from_secs(1),
        };
        self.lame = Some(LameDuck::Announce { grace, spread });
        self.timer = Some(now);
    }

    /// Acts on the node's timer at `now` (a no-op before [`poll_timeout`](Self::poll_timeout)).
    pub fn handle_timeout(&mut self, now: Time) {
        self.route_timers(now);
        self.sys_timers(now);
        self.rebalance_timer(now);
        if self.timer.is_none_or(|t| now < t) {
            return;
        }
        self.timer = None;
        let Some(state) = self.lame.take() else {
            return;
        };
        self.lame = Some(match state {
            LameDuck::Announce { grace, spread } => {
                if self.sh.num_clients() == 0 {
                    self.finish()
                } else {
                    self.sh.enter_lame_duck();
                    self.timer = Some(now + grace);
                    LameDuck::Grace { spread }
                }
            }
            LameDuck::Grace { spread } => {
                self.log(LogLevel::Info, "Closing existing clients");
                let left: VecDeque<u64> =
                    self.sh.client_list().iter().map(|(h, _)| h.cid).collect();
                let n = u32::try_from(left.len().max(1)).unwrap_or(u32::MAX);
                let gap = (spread / n).clamp(Duration::from_nanos(1), LAME_DUCK_MAX_GAP);
                self.close_next(now, left, gap)
            }
            LameDuck::Closing { left, gap } => self.close_next(now, left, gap),
            LameDuck::Done => LameDuck::Done,
        });
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due next, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        [
            self.timer,
            self.next_route_timer(),
            self.next_sys_timer(),
            self.next_rebalance(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next thing the runtime must do, in order.
    pub fn poll_action(&mut self) -> Option<NodeAction> {
        self.actions.pop_front()
    }

    /// True once lame duck mode was entered.
    pub fn is_lame_duck(&self) -> bool {
        self.lame.is_some()
    }

    /// Closes the next client still connected; schedules the one after, or finishes.
    fn close_next(&mut self, now: Time, mut left: VecDeque<u64>, gap: Duration) -> LameDuck {
        while let Some(cid) = left.pop_front() {
            // A client may have left by itself meanwhile: go straight to the next one.
            if let Some(h) = self.sh.client_handle(cid) {
                h.close_after_flush(CloseReason::ServerShutdown);
                break;
            }
        }
        if left.is_empty() {
            return self.finish();
        }
        // Go: a random pause in [gap/2, gap), and exactly gap/2 when the draw is below it.
        let nanos = u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX).max(1);
        let pause = Duration::from_nanos(self.rng.below(nanos).max(nanos / 2));
        self.timer = Some(now + pause);
        LameDuck::Closing { left, gap }
    }

    fn finish(&mut self) -> LameDuck {
        self.actions.push_back(NodeAction::Shutdown);
        LameDuck::Done
    }

    fn log(&mut self, level: LogLevel, msg: &str) {
        self.actions
            .push_back(NodeAction::Log(level, msg.to_string()));
    }
}

#[cfg(test)]
mod rebalance_tests;
#[cfg(test)]
mod tests;

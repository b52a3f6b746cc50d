//! The node's system-account timers: the periodic `STATSZ` (first after
//! [`STATSZ_FIRST`](crate::events::STATSZ_FIRST), the interval doubling up to
//! [`STATSZ_MAX`](crate::events::STATSZ_MAX), as Go backs off) and each account's
//! connection count while it has clients (every
//! [`ACCOUNT_CONNS_HEARTBEAT`](crate::events::ACCOUNT_CONNS_HEARTBEAT), never `$G`).

use std::time::Duration;

use super::{Node, NodeAction};
use crate::conn::LogLevel;
use crate::events;
use crate::Time;

/// When the system timers fire next.
#[derive(Debug, Default)]
pub(super) struct SysTimers {
    statsz_at: Option<Time>,
    statsz_every: Duration,
    conns_at: Option<Time>,
}

impl Node {
    /// Arms the timers (from `handle_start`).
    pub(super) fn start_sys_timers(&mut self, now: Time) {
        self.sys = SysTimers {
            statsz_at: Some(now + events::STATSZ_FIRST),
            statsz_every: events::STATSZ_FIRST,
            conns_at: Some(now + events::ACCOUNT_CONNS_HEARTBEAT),
        };
    }

    /// Fires what is due at `now` (from `handle_timeout`).
    pub(super) fn sys_timers(&mut self, now: Time) {
        if self.sys.statsz_at.is_some_and(|t| t <= now) {
            let slow = events::statsz(&self.sh, now);
            self.log_slow(slow);
            self.sys.statsz_every = (self.sys.statsz_every * 2).min(events::STATSZ_MAX);
            self.sys.statsz_at = Some(now + self.sys.statsz_every);
        }
        if self.sys.conns_at.is_some_and(|t| t <= now) {
            for acc in self.sh.accounts() {
                if self.sh.num_clients_in(&acc.name) > 0 {
                    let slow = events::account_conns(&self.sh, &acc.name, now);
                    self.log_slow(slow);
                }
            }
            self.sys.conns_at = Some(now + events::ACCOUNT_CONNS_HEARTBEAT);
        }
    }

    /// The next system timer, if armed.
    pub(super) fn next_sys_timer(&self) -> Option<Time> {
        crate::min_set(self.sys.statsz_at, self.sys.conns_at)
    }

    /// Logs the clients an event made slow consumers, in the words a publisher would.
    pub(super) fn log_slow(&mut self, slow: events::Slow) {
        for h in slow {
            let msg = format!(
                "{} - Slow Consumer Detected: MaxPending of {} Exceeded",
                h.log_prefix(),
                h.max_pending
            );
            self.actions.push_back(NodeAction::Log(LogLevel::Info, msg));
        }
    }
}

//! The reload-mid-traffic scenario ([`Config::with_reload`](crate::Config::with_reload)).
//!
//! Every client logs in as its own user `c<i>`. At the planned time the server applies a new
//! config without the victim's user and with new limits (`Shared::apply_reload`), then runs
//! `Connection::handle_config_change` on every live connection, as a runtime does after
//! SIGHUP. Oracles: the usual ones keep checking that clients that stay authorised get every
//! owed message exactly once (a reload must not drop or duplicate anything, nor close them);
//! the victim may be closed only with `Authorization Violation`, and no message may be
//! queued to it after the reload was applied.

use std::time::Duration;

use natsd_core::auth::User;
use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::Time;

use super::{Slot, World};
use crate::oracle::{Violation, ViolationKind};
use crate::workload::Config;

const PASSWORD: &str = "pw";

fn user_name(i: usize) -> String {
    format!("c{i}")
}

/// The scenario's state during a run.
#[derive(Debug, Default)]
pub(super) struct ReloadState {
    /// The victim and the messages queued to it when the reload was applied (`None`: it had
    /// not connected yet, so it must never get any).
    applied: Option<(usize, Option<u64>)>,
}

impl ReloadState {
    /// May the server close client `i` for `reason`? Only the victim, only after the reload,
    /// and only as an authorization violation.
    pub(super) fn may_close(&self, i: usize, reason: CloseReason) -> bool {
        matches!(self.applied, Some((v, _)) if v == i)
            && reason == CloseReason::AuthenticationViolation
    }
}

/// With a reload planned, the server starts with one user per client.
pub(super) fn with_users(mut opts: Options, cfg: &Config) -> Options {
    if cfg.reload.is_some() {
        opts.auth.users = (0..cfg.clients)
            .map(|i| User {
                name: user_name(i),
                password: PASSWORD.into(),
                account: None,
                permissions: None,
            })
            .collect();
    }
    opts
}

/// With a reload planned, each client logs in as its own user.
pub(super) fn give_logins(slots: &mut [Slot], cfg: &Config) {
    if cfg.reload.is_some() {
        for (i, s) in slots.iter_mut().enumerate() {
            s.model.login = Some((user_name(i), PASSWORD.into()));
        }
    }
}

impl World {
    /// Applies the planned reload and runs the per-connection hook on every live connection.
    pub(super) fn on_reload(&mut self) -> Result<(), Violation> {
        let Some(plan) = self.cfg.reload else {
            return Ok(());
        };
        let victim = plan.victim;
        let mut opts = Options::clone(&self.shared.opts());
        opts.auth.users.retain(|u| u.name != user_name(victim));
        opts.max_payload *= 2;
        opts.max_control_line *= 2;
        opts.ping_interval = (opts.ping_interval / 2).max(Duration::from_millis(10));
        self.shared.apply_reload(&opts);
        self.slots[victim].model.may_be_deauthorized = true;
        self.reload.applied = Some((victim, None));
        let now = Time::from_nanos(self.now);
        for i in 0..self.slots.len() {
            let Some(conn) = self.slots[i].conn.as_mut() else {
                continue;
            };
            conn.handle_config_change(now, &self.shared);
            self.drain_conn_events(i)?;
            self.rearm(i);
        }
        let queued = self.slots[victim]
            .conn
            .as_ref()
            .map(|c| c.handle().out_stats().0);
        self.reload.applied = Some((victim, queued));
        Ok(())
    }

    /// The de-authorised client got no message queued after the reload was applied.
    pub(super) fn check_deauthorized_got_nothing(&self) -> Result<(), Violation> {
        let Some((victim, at_reload)) = self.reload.applied else {
            return Ok(());
        };
        let Some(conn) = self.slots[victim].conn.as_ref() else {
            return Ok(());
        };
        let now = conn.handle().out_stats().0;
        let before = at_reload.unwrap_or(0);
        if now != before {
            let msg = format!(
                "client {victim} was de-authorised by a reload but got {} more messages",
                now - before
            );
            return Err(Violation::new(ViolationKind::ServerError, msg));
        }
        Ok(())
    }
}

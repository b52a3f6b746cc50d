//! The reload-mid-traffic scenario ([`Config::with_reload`](crate::Config::with_reload)),
//! on node 0 of a one-node world.
//!
//! Every client logs in as its own user `c<i>` (with the permissions the features drew, if
//! any). At the planned time the node applies a new config without the victim's user and
//! with new limits (`Shared::apply_reload`), then runs `Connection::handle_config_change`
//! on every live connection, as a runtime does after SIGHUP. When the seed drew it
//! ([`crate::features::draw_reload_imports`]), the accounts' stream and service imports
//! change too, and the oracle judges each message by the imports in force when the node
//! processed it (see ARCHITECTURE.md, "Accounts reload"). Oracles: the usual ones keep
//! checking that clients that stay authorised get every owed message exactly once (a
//! reload must not drop or duplicate anything, nor close them); the victim may be closed
//! only with `Authorization Violation` (it then gives up), and no message may be queued to
//! any of its connections after the reload was applied.

use std::time::Duration;

use natsd_core::errors::CloseReason;
use natsd_core::options::Options;
use natsd_core::proto::Limits;
use natsd_core::Time;

use super::World;
use crate::features::{login_user, user_name, PASSWORD};
use crate::oracle::{Violation, ViolationKind};
use crate::workload::{Config, Sabotage};

/// The node the reload applies to.
const NODE: usize = 0;

/// The scenario's state during a run.
#[derive(Debug, Default)]
pub(super) struct ReloadState {
    applied: Option<Applied>,
    /// Deliveries across accounts checked when a reload changed the imports.
    pub(super) crossed_at: Option<u64>,
}

/// What the reload left to check.
#[derive(Debug, Clone, Copy)]
struct Applied {
    victim: usize,
    /// Connections opened before the reload (ids below this).
    opened_before: usize,
    /// The victim's connection at the reload, with the messages queued to it then.
    at_reload: Option<(usize, u64)>,
}

impl ReloadState {
    /// May the node close client `c` for `reason`? Only the victim, only after the reload,
    /// and only as an authorization violation.
    pub(super) fn may_close(&self, c: usize, reason: CloseReason) -> bool {
        matches!(self.applied, Some(a) if a.victim == c)
            && reason == CloseReason::AuthenticationViolation
    }
}

/// The users a node starts with: the features' (with their permissions), or with a reload
/// planned and no users drawn, one unrestricted user per client.
pub(super) fn with_users(mut opts: Options, cfg: &Config) -> Options {
    if let Some(users) = cfg.features.core_users() {
        opts.auth.users = users;
        opts.auth.users.extend(super::nodes::ghost_users(cfg));
    } else if cfg.reload.is_some() {
        opts.auth.users = (0..cfg.clients).map(login_user).collect();
    }
    opts
}

/// With users configured, each client logs in as its own.
pub(super) fn give_logins(w: &mut World) {
    if w.nodes[NODE].opts.auth.users.is_empty() {
        return;
    }
    for (i, c) in w.clients.iter_mut().enumerate() {
        c.model.login = Some((user_name(i), PASSWORD.into()));
    }
}

impl World {
    /// Applies the planned reload and runs the per-connection hook on every live connection.
    pub(super) fn on_reload(&mut self) -> Result<(), Violation> {
        let Some(plan) = self.cfg.reload else {
            return Ok(());
        };
        let Some(shared) = self.nodes[NODE].shared.clone() else {
            return Ok(());
        };
        let victim = plan.victim;
        let mut opts = Options::clone(&shared.opts());
        opts.auth.users.retain(|u| u.name != user_name(victim));
        opts.max_payload *= 2;
        opts.max_control_line *= 2;
        opts.ping_interval = (opts.ping_interval / 2).max(Duration::from_millis(10));
        // The accounts' imports change too, when the seed drew that: the node from its
        // next processed byte, the oracle from its next processed op (one node, one
        // instant: no message can be judged under the other config).
        if let Some((imports, services)) = self.cfg.features.reloaded.clone() {
            let sabotage = self.cfg.sabotage;
            if sabotage != Some(Sabotage::ReloadImportsUntold) {
                opts.accounts = self.cfg.features.account_options_with(&imports, &services);
            }
            if sabotage != Some(Sabotage::ReloadImportsStaleModel) {
                self.oracle
                    .reload_imports(imports.iter().map(super::import_model).collect());
                self.oracle
                    .reload_services(services.iter().map(super::service_model).collect());
            }
            self.stats.imports_reloaded += 1;
            self.reload.crossed_at = Some(super::crossed(&self.oracle.counts));
        }
        shared.apply_reload(&opts);
        self.nodes[NODE].opts = Options::clone(&shared.opts());
        let opened_before = self.sessions.len();
        self.reload.applied = Some(Applied {
            victim,
            opened_before,
            at_reload: None,
        });
        let now = Time::from_nanos(self.node_now(NODE));
        let limits = Limits {
            max_control_line: opts.max_control_line,
            max_payload: opts.max_payload,
        };
        for s in 0..self.sessions.len() {
            let sess = &mut self.sessions[s];
            if sess.node != NODE || sess.dead {
                continue;
            }
            let Some(conn) = sess.conn.as_mut() else {
                continue;
            };
            conn.handle_config_change(now, &shared);
            // The shadow parser follows the node's parser to its new limits.
            sess.shadow.set_limits(limits);
            self.drain_conn_events(s)?;
            self.rearm(s);
        }
        let at_reload = self.clients[victim].session.map(|s| {
            self.oracle.allow_err(s, "Authorization Violation");
            let queued = self.sessions[s]
                .conn
                .as_ref()
                .map_or(0, |c| c.handle().out_stats().0);
            (s, queued)
        });
        self.reload.applied = Some(Applied {
            victim,
            opened_before,
            at_reload,
        });
        Ok(())
    }

    /// A connection of the victim opened after the reload is refused at CONNECT with
    /// `Authorization Violation`.
    pub(super) fn reload_on_open(&mut self, c: usize, s: usize) {
        if self
            .reload
            .may_close(c, CloseReason::AuthenticationViolation)
        {
            self.oracle.allow_err(s, "Authorization Violation");
        }
    }

    /// The de-authorised client got no message queued after the reload was applied, on
    /// the connection it had then or any later one.
    pub(super) fn check_deauthorized_got_nothing(&self) -> Result<(), Violation> {
        let Some(Applied {
            victim,
            opened_before,
            at_reload,
        }) = self.reload.applied
        else {
            return Ok(());
        };
        for (s, sess) in self.sessions.iter().enumerate() {
            if sess.client != victim {
                continue;
            }
            let Some(conn) = sess.conn.as_ref() else {
                continue;
            };
            let before = match at_reload {
                Some((at, queued)) if at == s => queued,
                _ if s < opened_before => continue,
                _ => 0,
            };
            let now = conn.handle().out_stats().0;
            if now != before {
                let msg = format!(
                    "client {victim} was de-authorised by a reload but got {} more messages on connection {s}",
                    now - before
                );
                return Err(Violation::new(ViolationKind::ServerError, msg));
            }
        }
        Ok(())
    }
}

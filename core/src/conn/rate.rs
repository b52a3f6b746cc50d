//! Publish rate limits on a connection (see [`crate::rate`]): its own limiter (its user's
//! `publish_rate`, else the top-level one) and its account's shared one, checked before a
//! message is delivered; backpressure becomes a read pause.

use std::sync::Arc;

use super::{LogLevel, State};
use crate::errors::CloseReason;
use crate::options::RateAction;
use crate::rate::{Limiter, RateCounters};
use crate::shared::{Account, Shared};
use crate::Time;

/// A rate-limited connection's state, boxed in `State::rate` and made when a limit first
/// applies: most connections have none, and inline these fields took 96 bytes of every one
/// (BENCHMARKS.md, issue 19's fourth session).
#[derive(Default)]
pub(super) struct RateState {
    /// The connection's own limiter (its user's `publish_rate`, else the top-level one).
    own: Option<Limiter>,
    /// Read nothing before this (backpressure), once the current op is done.
    pause: Option<Time>,
    /// Where its throttled time and drops are counted.
    counters: Option<Arc<RateCounters>>,
    /// Messages and bytes published but not yet charged to the backpressure limits.
    owed: (u64, u64),
    /// When the last throttling advisory went out.
    last_advisory: Option<Time>,
    /// The system account and the server id, for advisories.
    system_account: Option<Arc<Account>>,
    server_id: String,
}

/// Messages charged to backpressure limits at once (see `rate_admit`).
pub const RATE_BATCH: u64 = 32;

/// The `-ERR` a publisher over a `disconnect` limit gets.
pub const PUBLISH_RATE_EXCEEDED: &str = "Publish Rate Exceeded";

/// What one limiter said about a message.
enum Verdict {
    Pass,
    /// Deliver, then pause reading for this long.
    Pause(std::time::Duration),
    Drop,
    Disconnect,
}

fn judge(l: &mut Limiter, size: u64, now: Time) -> Verdict {
    match l.action() {
        RateAction::Backpressure => match l.charge(size, now) {
            Some(d) => Verdict::Pause(d),
            None => Verdict::Pass,
        },
        RateAction::Drop if !l.try_take(size, now) => Verdict::Drop,
        RateAction::Disconnect if !l.try_take(size, now) => Verdict::Disconnect,
        RateAction::Drop | RateAction::Disconnect => Verdict::Pass,
    }
}

impl State {
    /// (Re)computes this connection's limits after CONNECT or a reload: a limit unchanged
    /// keeps its buckets; a new one starts full.
    pub(super) fn setup_rate(&mut self, sh: &Shared) {
        let want = self.user_rate.as_deref().copied().or(self.cfg.publish_rate);
        let own = self.rate.as_ref().and_then(|r| r.own.as_ref());
        let changed = own.map(|l| l.limit) != want;
        self.rate_active = (if changed {
            want.and_then(Limiter::new).is_some()
        } else {
            own.is_some()
        }) || self.account.rate.active();
        if !self.rate_active && self.rate.is_none() {
            return;
        }
        let user = self.creds.borrow().user.unwrap_or_default().to_string();
        let r = self.rate.get_or_insert_with(Box::default);
        if changed {
            r.own = want.and_then(Limiter::new);
        }
        if self.rate_active && r.system_account.is_none() {
            r.system_account = Some(Arc::clone(sh.system_account()));
            r.server_id = sh.server_id().to_string();
        }
        if self.rate_active && r.counters.is_none() {
            r.counters = Some(sh.rate_counters(&self.account.name, &user));
        }
    }

    /// A backpressure pause is waiting to be taken ([`take_rate_pause`](Self::take_rate_pause)).
    pub(super) fn rate_paused(&self) -> bool {
        self.rate.as_ref().is_some_and(|r| r.pause.is_some())
    }

    /// Messages were published and not yet charged to the backpressure limits.
    pub(super) fn rate_owed(&self) -> bool {
        self.rate.as_ref().is_some_and(|r| r.owed.0 > 0)
    }

    /// Checks a message of `size` bytes against the limits. False: not delivered (dropped,
    /// or the connection closed). A backpressure pause is left in `rate_pause`.
    ///
    /// The common case (only the connection's own backpressure limit, and room in it) is a
    /// refill check and two subtractions, inline; the rest is out of line.
    #[inline]
    pub(super) fn rate_admit(&mut self, size: u64, now: Time, sh: &Shared) -> bool {
        let acct = self.account.rate.active();
        let batched = !acct || self.account.rate.batched();
        // `rate_active` made the box (see `setup_rate`).
        let Some(r) = self.rate.as_deref_mut() else {
            return true;
        };
        let own_bp = r
            .own
            .as_ref()
            .is_none_or(|l| l.action() == RateAction::Backpressure);
        if own_bp && batched {
            // Backpressure limits (the connection's and its account's) are charged every
            // RATE_BATCH messages and at the end of each read, not per message: a counter
            // here, one charge (and one lock for the account's) per batch. The debt is
            // repaid by the pause all the same; at most a batch runs ahead of it.
            r.owed.0 += 1;
            r.owed.1 += size;
            if r.owed.0 >= RATE_BATCH {
                self.flush_rate(now);
            }
            return true;
        }
        self.rate_admit_slow(size, now, sh)
    }

    /// Charges the backpressure limits what this connection published since the last
    /// charge; a debt becomes a pause.
    pub(super) fn flush_rate(&mut self, now: Time) {
        let Some(r) = self.rate.as_deref_mut() else {
            return;
        };
        let (msgs, bytes) = std::mem::take(&mut r.owed);
        if msgs == 0 {
            return;
        }
        if let Some(l) = &mut r.own {
            if let Some(d) = l.charge_many(msgs, bytes, now) {
                self.note_pause(now + d);
            }
        }
        if self.account.rate.active() {
            if let Some(Some(d)) = self.account.rate.with(|l| l.charge_many(msgs, bytes, now)) {
                self.note_pause(now + d);
            }
        }
    }

    fn note_pause(&mut self, until: Time) {
        if let Some(r) = self.rate.as_deref_mut() {
            r.pause = Some(r.pause.map_or(until, |t| t.max(until)));
        }
    }

    #[cold]
    #[inline(never)]
    fn rate_admit_slow(&mut self, size: u64, now: Time, sh: &Shared) -> bool {
        let mut pause = std::time::Duration::ZERO;
        // The connection's own limit first: a message it refuses never uses the account's
        // shared budget.
        for own in [true, false] {
            let v = if own {
                match self.rate.as_deref_mut().and_then(|r| r.own.as_mut()) {
                    Some(l) => judge(l, size, now),
                    None => continue,
                }
            } else if self.account.rate.active() {
                match self.account.rate.with(|l| judge(l, size, now)) {
                    Some(v) => v,
                    None => continue,
                }
            } else {
                continue;
            };
            match v {
                Verdict::Pass => {}
                Verdict::Pause(d) => pause = pause.max(d),
                Verdict::Drop => {
                    if let Some(c) = self.rate.as_ref().and_then(|r| r.counters.as_ref()) {
                        c.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    self.handle
                        .rate_dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return false;
                }
                Verdict::Disconnect => {
                    self.log(LogLevel::Error, PUBLISH_RATE_EXCEEDED.to_string());
                    self.send_err(PUBLISH_RATE_EXCEEDED);
                    self.close(CloseReason::PublishRateExceeded, now, sh);
                    return false;
                }
            }
        }
        if !pause.is_zero() {
            self.note_pause(now + pause);
        }
        true
    }

    /// The pause a backpressure limit asked for, taken once (the read loop stops there).
    pub(super) fn take_rate_pause(&mut self, now: Time) -> Option<Time> {
        let until = self.rate.as_deref_mut()?.pause.take()?;
        let d = until.saturating_since(now);
        self.throttle_advisory(now, d);
        if let Some(c) = self.rate.as_ref().and_then(|r| r.counters.as_ref()) {
            c.throttled(d);
        }
        self.handle.rate_throttled_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            std::sync::atomic::Ordering::Relaxed,
        );
        Some(until)
    }
}

/// Most one advisory per connection per this long: the advisory is rate limited itself.
pub const ADVISORY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The subject of the throttling advisory, in the system account: `$SYS.ACCOUNT.<acc>.
/// PUBLISH.THROTTLED` (ours; Go has no publish rate limits).
fn advisory_subject(account: &str) -> String {
    format!("$SYS.ACCOUNT.{account}.PUBLISH.THROTTLED")
}

impl State {
    /// Tells the system account that a publisher is being throttled: once when it starts,
    /// then at most once per [`ADVISORY_INTERVAL`] while it goes on. JSON:
    /// `{"type":"io.natsd.advisory.v1.publish_throttled","server":…,"account":…,"user":…,
    /// "client":{"cid":…,"name":…,"ip":…},"pause_ns":…}`, published inside the server (and
    /// to routes, for `$SYS` subscribers elsewhere).
    fn throttle_advisory(&mut self, now: Time, pause: std::time::Duration) {
        let Some(r) = self.rate.as_deref_mut() else {
            return;
        };
        if r.last_advisory
            .is_some_and(|t| now.saturating_since(t) < ADVISORY_INTERVAL)
        {
            return;
        }
        r.last_advisory = Some(now);
        let Some(sh_sys) = r.system_account.clone() else {
            return;
        };
        let body = serde_json::json!({
            "type": "io.natsd.advisory.v1.publish_throttled",
            "server": r.server_id,
            "account": self.account.name,
            "user": self.creds.borrow().user.unwrap_or_default(),
            "client": {
                "cid": self.cid,
                "name": self.opts.name,
                "ip": self.addr.map(|a| a.ip().to_string()).unwrap_or_default(),
            },
            "pause_ns": u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX),
        });
        let payload = serde_json::to_vec(&body).expect("JSON always serialises");
        let subject = advisory_subject(&self.account.name);
        let d = crate::client::Delivery {
            subject: subject.as_bytes(),
            reply: None,
            header_len: 0,
            payload: &payload,
            has_headers: false,
        };
        self.deliver_in(&sh_sys, &d, now, true);
    }
}

//! Publish rate limits (ours; the Go server has none): token buckets fed by the `now` the
//! runtime passes, one for messages and one for bytes.
//!
//! - **Backpressure** (the default): a message is always taken, and may put the bucket in
//!   debt; the connection then is not read until the debt is repaid ([`Limiter::charge`]
//!   returns the pause). TCP slows the publisher; nothing is lost.
//! - **Drop** and **disconnect**: a message is taken only if the tokens are there
//!   ([`Limiter::try_take`]); otherwise it is dropped (counted), or the connection closes.
//!
//! A bucket starts full: the burst (one second's worth unless configured) is available at
//! once. A connection has its own limiter (its user's `publish_rate`, else the top-level
//! one); an account's limiter is shared by all its connections on this server, behind a
//! lock taken only when the account has one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::options::{RateAction, RateLimit};
use crate::Time;

/// One token bucket, in integer nano-tokens (1e-9 of a token): a refill is one multiply,
/// a take one subtraction, and messages read at the same `now` (one read buffer) skip the
/// refill altogether.
#[derive(Debug, Clone)]
struct Bucket {
    /// Tokens per second (= nano-tokens per nanosecond).
    per_sec: i128,
    /// The bucket's size, in nano-tokens.
    burst: i128,
    /// What is in it, in nano-tokens (negative: a backpressure debt).
    tokens: i128,
    /// When it was last refilled; `None` until first used (it is full then).
    last: Option<Time>,
}

/// Nano-tokens per token.
const NANO: i128 = 1_000_000_000;

impl Bucket {
    fn new(rate: u64, burst: Option<u64>) -> Bucket {
        let burst = i128::from(burst.unwrap_or(rate).max(1)) * NANO;
        Bucket {
            per_sec: i128::from(rate.max(1)),
            burst,
            tokens: burst,
            last: None,
        }
    }

    #[inline]
    fn refill(&mut self, now: Time) {
        match self.last {
            Some(last) if now == last => {}
            Some(last) if now > last => {
                let dt = i128::from(now.as_nanos() - last.as_nanos());
                self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
                self.last = Some(now);
            }
            Some(_) => {}
            None => self.last = Some(now),
        }
    }

    /// The time until the tokens are back to zero (from a debt).
    fn debt_time(&self) -> Duration {
        if self.tokens >= 0 {
            Duration::ZERO
        } else {
            let ns = (-self.tokens + self.per_sec - 1) / self.per_sec;
            Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
        }
    }
}

/// A publish rate limit in force: its buckets and its action.
#[derive(Debug, Clone)]
pub struct Limiter {
    msgs: Option<Bucket>,
    bytes: Option<Bucket>,
    /// The limit it enforces (to notice a reload that changed it).
    pub limit: RateLimit,
}

impl Limiter {
    /// A full limiter for `limit`; `None` if it limits nothing.
    pub fn new(limit: RateLimit) -> Option<Limiter> {
        let msgs = limit.msgs.map(|r| Bucket::new(r, limit.burst_msgs));
        let bytes = limit.bytes.map(|r| Bucket::new(r, limit.burst_bytes));
        (msgs.is_some() || bytes.is_some()).then_some(Limiter { msgs, bytes, limit })
    }

    /// What to do past the limit.
    pub fn action(&self) -> RateAction {
        self.limit.action
    }

    /// Backpressure: takes one message of `size` bytes (into debt if need be) and returns how
    /// long the publisher must not be read for the debt to be repaid (`None`: no pause).
    #[inline]
    pub fn charge(&mut self, size: u64, now: Time) -> Option<Duration> {
        self.charge_many(1, size, now)
    }

    /// Backpressure for `msgs` messages of `bytes` bytes in all, at once (an account's
    /// shared limit is charged per batch of messages, not per message: one lock).
    #[inline]
    pub fn charge_many(&mut self, msgs: u64, size: u64, now: Time) -> Option<Duration> {
        let mut in_debt = false;
        if let Some(b) = &mut self.msgs {
            b.refill(now);
            b.tokens -= i128::from(msgs) * NANO;
            in_debt |= b.tokens < 0;
        }
        if let Some(b) = &mut self.bytes {
            b.refill(now);
            b.tokens -= i128::from(size) * NANO;
            in_debt |= b.tokens < 0;
        }
        if !in_debt {
            return None;
        }
        let pause = [&self.msgs, &self.bytes]
            .into_iter()
            .flatten()
            .map(Bucket::debt_time)
            .max()
            .unwrap_or_default();
        (!pause.is_zero()).then_some(pause)
    }

    /// Drop or disconnect: takes one message of `size` bytes if both buckets have the
    /// tokens; false (nothing taken) if not.
    #[inline]
    pub fn try_take(&mut self, size: u64, now: Time) -> bool {
        let need = |b: &mut Option<Bucket>, n: i128| {
            b.as_mut().is_none_or(|b| {
                b.refill(now);
                b.tokens >= n
            })
        };
        let bytes = i128::from(size) * NANO;
        if !(need(&mut self.msgs, NANO) && need(&mut self.bytes, bytes)) {
            return false;
        }
        if let Some(b) = &mut self.msgs {
            b.tokens -= NANO;
        }
        if let Some(b) = &mut self.bytes {
            b.tokens -= bytes;
        }
        true
    }
}

/// Throttled time and drops of one (account, user), for `/metrics`.
#[derive(Debug, Default)]
pub struct RateCounters {
    /// Nanoseconds publishers were not read for (backpressure).
    pub throttled_nanos: AtomicU64,
    /// Messages dropped (`action: drop`).
    pub dropped: AtomicU64,
}

impl RateCounters {
    /// Adds a pause.
    pub fn throttled(&self, d: Duration) {
        let n = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.throttled_nanos.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Time::from_nanos(1_000_000_000);

    fn limit(msgs: u64, burst: Option<u64>) -> RateLimit {
        RateLimit {
            msgs: Some(msgs),
            burst_msgs: burst,
            ..RateLimit::default()
        }
    }

    #[test]
    fn a_bucket_starts_full_and_refills_at_its_rate() {
        let mut l = Limiter::new(limit(10, Some(5))).unwrap();
        for _ in 0..5 {
            assert!(l.try_take(1, T0), "the burst is there at once");
        }
        assert!(!l.try_take(1, T0));
        assert!(!l.try_take(1, T0 + Duration::from_millis(99)));
        assert!(
            l.try_take(1, T0 + Duration::from_millis(100)),
            "0.1 s refills one"
        );
    }

    #[test]
    fn backpressure_goes_into_debt_and_says_how_long() {
        let mut l = Limiter::new(limit(100, Some(1))).unwrap();
        assert_eq!(l.charge(10, T0), None);
        let p = l.charge(10, T0).unwrap();
        assert_eq!(p, Duration::from_millis(10), "one message of debt at 100/s");
        // Charging faster than the rate: the pauses add up to the rate.
        let mut total = Duration::ZERO;
        let mut now = T0 + p;
        for _ in 0..100 {
            if let Some(d) = l.charge(10, now) {
                total += d;
                now = now + d;
            }
        }
        assert!(
            (now - T0).as_secs_f64() > 0.99,
            "100 messages at 100/s take a second"
        );
    }

    #[test]
    fn bytes_and_messages_both_limit() {
        let l = RateLimit {
            msgs: Some(1000),
            bytes: Some(100),
            ..RateLimit::default()
        };
        let mut l = Limiter::new(l).unwrap();
        assert!(l.try_take(60, T0));
        assert!(!l.try_take(60, T0), "the bytes run out first");
        assert!(
            Limiter::new(RateLimit::default()).is_none(),
            "nothing to limit"
        );
    }
}

/// An account's shared limiter (all its connections on this server), locked only when it
/// has one.
#[derive(Debug, Default)]
pub struct AccountLimiter {
    active: std::sync::atomic::AtomicBool,
    /// Its action is backpressure (charged per batch; see [`Limiter::charge_many`]).
    batched: std::sync::atomic::AtomicBool,
    limiter: parking_lot::Mutex<Option<Limiter>>,
}

impl AccountLimiter {
    /// True if the account has a limit (one atomic load: the common case costs nothing).
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Sets the limit (from the config or a reload); a limit unchanged keeps its buckets.
    pub fn set(&self, limit: Option<RateLimit>) {
        let mut l = self.limiter.lock();
        if l.as_ref().map(|x| x.limit) == limit {
            return;
        }
        *l = limit.and_then(Limiter::new);
        let backpressure = l
            .as_ref()
            .is_some_and(|x| x.action() == RateAction::Backpressure);
        self.batched.store(backpressure, Ordering::Release);
        self.active.store(l.is_some(), Ordering::Release);
    }

    /// True if the account's limit is backpressure: connections may charge it per batch.
    #[inline]
    pub fn batched(&self) -> bool {
        self.batched.load(Ordering::Acquire)
    }

    /// Runs `f` on the limiter, if any.
    pub fn with<R>(&self, f: impl FnOnce(&mut Limiter) -> R) -> Option<R> {
        self.limiter.lock().as_mut().map(f)
    }
}

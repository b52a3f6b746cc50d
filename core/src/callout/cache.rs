//! Ours: a cache of accepted decisions (`cache_ttl` in `auth_callout` or `auth_webhook`;
//! off by default, as Go has none). A client that presents the same credentials from the
//! same address as one accepted less than the TTL ago is accepted the same way without
//! asking the provider again.
//!
//! What makes a key ([`AuthRequest::cache_key`]): the provider, the client's IP address,
//! and CONNECT's `user`, `pass`, `auth_token`, `nkey` and `jwt`, hashed (SHA-256, so no
//! secret is kept in the clear). A CONNECT that signs the server's nonce (`sig`) is never
//! cached: its proof is for one connection, and the provider may check it. Only
//! acceptances are kept; a refusal always asks again. An entry ends at its TTL, at the
//! expiry of the decision it holds, and at any reload of the configuration (a changed
//! provider or account must not be answered by an old decision). At most [`MAX_CACHED`]
//! entries; past it, expired ones are dropped, then the oldest.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::conn::{AuthDecision, AuthRequest};
use crate::shared::Shared;
use crate::Time;

/// Most decisions kept.
pub const MAX_CACHED: usize = 10_000;

#[derive(Debug)]
struct Entry {
    decision: AuthDecision,
    /// The end of its TTL.
    until: Time,
    /// The configuration generation it was decided under.
    generation: u64,
    /// Unix seconds at which the decision itself expires (the client's JWT or window).
    expires: Option<i64>,
}

/// The cached decisions of one server (in the callout [`Registry`](super::Registry)).
#[derive(Debug, Default)]
pub struct Cache {
    entries: Mutex<crate::FastMap<[u8; 32], Entry>>,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, crate::FastMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decisions kept now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True if none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The decision cached for `req` at `now`, if it may be reused (counted as a hit).
pub fn cached(sh: &Shared, req: &AuthRequest, now: Time) -> Option<AuthDecision> {
    req.cache_ttl()?;
    let key = req.cache_key()?;
    let generation = sh.opts_with_generation().1;
    let registry = sh.callouts();
    let mut entries = registry.cache.lock();
    let fresh = |e: &Entry| {
        e.generation == generation
            && now < e.until
            && e.expires
                .is_none_or(|x| crate::events::wall_secs(sh, now) < x)
    };
    match entries.get(&key) {
        Some(e) if fresh(e) => {
            registry.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
            Some(e.decision.clone())
        }
        Some(_) => {
            entries.remove(&key);
            None
        }
        None => None,
    }
}

/// Keeps `decision` for `req` if it is an acceptance, `req` may be cached, and `req` was
/// made under the configuration in force.
pub fn remember(sh: &Shared, req: &AuthRequest, decision: &AuthDecision, now: Time) {
    let (Some(ttl), Some(key)) = (req.cache_ttl(), req.cache_key()) else {
        return;
    };
    let Some(expires) = decision.accepted().map(|a| a.expires) else {
        return;
    };
    let (opts, generation) = sh.opts_with_generation();
    if !std::sync::Arc::ptr_eq(&opts, req.options()) {
        return;
    }
    let registry = sh.callouts();
    let mut entries = registry.cache.lock();
    if entries.len() >= MAX_CACHED {
        let w = crate::events::wall_secs(sh, now);
        entries.retain(|_, e| {
            e.generation == generation && now < e.until && e.expires.is_none_or(|x| w < x)
        });
    }
    if entries.len() >= MAX_CACHED {
        // Still full of live entries: the one closest to its end goes.
        if let Some(k) = entries.iter().min_by_key(|(_, e)| e.until).map(|(k, _)| *k) {
            entries.remove(&k);
        }
    }
    entries.insert(
        key,
        Entry {
            decision: decision.clone(),
            until: now + ttl,
            generation,
            expires,
        },
    );
}

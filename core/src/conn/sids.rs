//! A client's subscriptions by sid.
//!
//! The sid is the subscription's own ([`Subscription::sid`]), so the table holds only the
//! `Arc`s and finds an entry by hashing the sid it is given and comparing it with each
//! candidate's. A map keyed by a copy of the sid took a box of its own per subscription
//! (32 bytes of heap with the allocator's header) and 16 more bytes per slot
//! (BENCHMARKS.md, issue 19's fourth session).

use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;
use hashbrown::hash_table::{Entry, HashTable};

use crate::client::Subscription;

/// Subscriptions keyed by their sid.
pub(super) struct SidMap {
    table: HashTable<Arc<Subscription>>,
    /// Seeded per server (see [`crate::keyed_hasher`]): sids come from clients.
    hasher: FixedState,
}

impl SidMap {
    pub(super) fn new(seed: u64) -> SidMap {
        SidMap {
            table: HashTable::new(),
            hasher: crate::keyed_hasher(seed),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    pub(super) fn get(&self, sid: &[u8]) -> Option<&Arc<Subscription>> {
        self.table
            .find(self.hasher.hash_one(sid), |s| *s.sid() == *sid)
    }

    /// Adds `sub` under its sid; one already there under that sid is replaced and returned.
    pub(super) fn insert(&mut self, sub: Arc<Subscription>) -> Option<Arc<Subscription>> {
        let hasher = self.hasher;
        let hash = hasher.hash_one(sub.sid());
        match self
            .table
            .entry(hash, |s| s.sid() == sub.sid(), |s| hasher.hash_one(s.sid()))
        {
            Entry::Occupied(mut e) => Some(std::mem::replace(e.get_mut(), sub)),
            Entry::Vacant(e) => {
                e.insert(sub);
                None
            }
        }
    }

    pub(super) fn remove(&mut self, sid: &[u8]) -> Option<Arc<Subscription>> {
        let hash = self.hasher.hash_one(sid);
        self.table
            .find_entry(hash, |s| *s.sid() == *sid)
            .ok()
            .map(|e| e.remove().0)
    }

    /// Keeps the subscriptions `keep` says yes to.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Arc<Subscription>) -> bool) {
        self.table.retain(|s| keep(s));
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Arc<Subscription>> {
        self.table.iter()
    }

    /// Takes every subscription out.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Arc<Subscription>> + '_ {
        self.table.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientHandle, Notify};

    struct Nop;
    impl Notify for Nop {
        fn notify(&self) {}
    }

    fn sub(sid: &str, subject: &str) -> Arc<Subscription> {
        let h = Arc::new(ClientHandle::new(1, None, 1 << 20, 1, Arc::new(Nop)));
        Arc::new(Subscription::new(
            subject.as_bytes(),
            None,
            sid.as_bytes(),
            h,
        ))
    }

    /// Found by the sid it is given; a second subscription under a sid replaces the first
    /// (a closed one is replaced that way: see `process_sub`); removes and retains.
    #[test]
    fn keyed_by_the_subscriptions_own_sid() {
        let mut m = SidMap::new(7);
        for i in 0..100 {
            assert!(m.insert(sub(&i.to_string(), "a")).is_none());
        }
        assert_eq!(m.len(), 100);
        assert_eq!(m.get(b"42").expect("present").sid(), b"42");
        assert!(m.get(b"100").is_none());
        let old = m.insert(sub("42", "b")).expect("replaced");
        assert_eq!(old.subject(), b"a");
        assert_eq!(m.get(b"42").expect("present").subject(), b"b");
        assert_eq!(m.len(), 100);
        assert_eq!(m.remove(b"7").expect("present").sid(), b"7");
        assert!(m.remove(b"7").is_none());
        m.retain(|s| s.sid().len() == 1);
        assert_eq!(m.len(), 9, "0-9 but 7");
        assert_eq!(m.drain().count(), 9);
        assert_eq!(m.len(), 0);
    }
}

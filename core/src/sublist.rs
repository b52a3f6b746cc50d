//! The subscription index: a trie of subject tokens with plain and queue subscriptions.
//!
//! Each level of the trie maps literal tokens to nodes and has at most one `*` node and one `>`
//! node. A match walks the literal path and branches into `*` at every level, collecting `>`
//! nodes on the way. Queue subscriptions are grouped by queue name across all matching nodes, so
//! a caller can pick exactly one member per group.
//!
//! Matches are cached (bounded, [`CACHE_MAX`] entries swept down to [`CACHE_SWEEP`]); every
//! insert or remove bumps a generation counter that invalidates the cache, and that the
//! connections use to validate their own small caches without touching any lock. Removal
//! prunes nodes and levels that became empty, so subscribe/unsubscribe churn leaves no garbage.
//!
//! The list is generic over its entries so permissions and tests can reuse it; entries are
//! identified by `Arc` pointer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::subject::{self, FWC, PWC};
use crate::FastMap;

/// Most cached match results before a sweep (the Go server's `slCacheMax`).
pub const CACHE_MAX: usize = 1024;
/// What a sweep leaves in the cache (the Go server's `slCacheSweep`).
pub const CACHE_SWEEP: usize = 256;

/// What the sublist needs to know of an entry.
pub trait Entry {
    /// The subject the entry is registered under.
    fn subject(&self) -> &[u8];
    /// The queue group, if any.
    fn queue(&self) -> Option<&[u8]>;
}

/// The entries matching one subject: every plain entry, and the members of each queue group.
#[derive(Debug)]
pub struct MatchResult<T> {
    /// Plain subscriptions: each gets the message.
    pub psubs: Vec<Arc<T>>,
    /// Queue groups (one inner list per queue name): one member of each gets the message.
    pub qsubs: Vec<Vec<Arc<T>>>,
}

impl<T> MatchResult<T> {
    fn new() -> Self {
        MatchResult {
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }

    /// True if nothing matched.
    pub fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty()
    }

    /// Plain matches plus one per queue group: the deliveries one message causes.
    pub fn fanout(&self) -> usize {
        self.psubs.len() + self.qsubs.len()
    }
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSubject;

/// Statistics, as `/subsz` reports them (field names are the Go server's JSON names).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SublistStats {
    /// Subscriptions in the list.
    pub num_subscriptions: u32,
    /// Entries in the match cache.
    pub num_cache: u32,
    /// Inserts since creation.
    pub num_inserts: u64,
    /// Removes since creation.
    pub num_removes: u64,
    /// Matches since creation.
    pub num_matches: u64,
    /// Fraction of matches answered by the cache.
    pub cache_hit_rate: f64,
    /// Largest fan-out among cached results.
    pub max_fanout: u32,
    /// Average fan-out among cached results.
    pub avg_fanout: f64,
}

struct Node<T> {
    next: Option<Box<Level<T>>>,
    psubs: Vec<Arc<T>>,
    qsubs: Vec<QueueGroup<T>>,
}

/// A queue group in one node: its name and members, in subscription order.
type QueueGroup<T> = (Box<[u8]>, Vec<Arc<T>>);

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            next: None,
            psubs: Vec::new(),
            qsubs: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.psubs.is_empty() && self.qsubs.is_empty() && self.next.is_none()
    }
}

struct Level<T> {
    nodes: FastMap<Box<[u8]>, Box<Node<T>>>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
}

impl<T> Level<T> {
    fn new() -> Self {
        Level {
            nodes: FastMap::default(),
            pwc: None,
            fwc: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }

    fn node_mut(&mut self, token: &[u8]) -> Option<&mut Box<Node<T>>> {
        match token {
            [PWC] => self.pwc.as_mut(),
            [FWC] => self.fwc.as_mut(),
            _ => self.nodes.get_mut(token),
        }
    }

    fn node_or_insert(&mut self, token: &[u8]) -> &mut Node<T> {
        match token {
            [PWC] => self.pwc.get_or_insert_with(|| Box::new(Node::new())),
            [FWC] => self.fwc.get_or_insert_with(|| Box::new(Node::new())),
            _ => self
                .nodes
                .entry(token.into())
                .or_insert_with(|| Box::new(Node::new())),
        }
    }

    fn remove_node(&mut self, token: &[u8]) {
        match token {
            [PWC] => self.pwc = None,
            [FWC] => self.fwc = None,
            _ => {
                self.nodes.remove(token);
            }
        }
    }
}

struct Cache<T> {
    generation: u64,
    map: FastMap<Box<[u8]>, Arc<MatchResult<T>>>,
}

/// The subscription trie. Mutation takes `&mut self` (callers wrap it in a lock); matching
/// takes `&self` and may run from many threads at once.
pub struct Sublist<T> {
    root: Level<T>,
    count: usize,
    generation: u64,
    inserts: u64,
    removes: u64,
    matches: AtomicU64,
    cache_hits: AtomicU64,
    cache_enabled: bool,
    /// Guarded by its own lock so matching under a shared borrow can fill it.
    cache: Mutex<Cache<T>>,
}

impl<T: Entry> Default for Sublist<T> {
    fn default() -> Self {
        Self::new(true)
    }
}

impl<T: Entry> Sublist<T> {
    /// An empty list; `cache` turns the match cache on.
    pub fn new(cache: bool) -> Self {
        Sublist {
            root: Level::new(),
            count: 0,
            generation: 0,
            inserts: 0,
            removes: 0,
            matches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_enabled: cache,
            cache: Mutex::new(Cache {
                generation: 0,
                map: FastMap::default(),
            }),
        }
    }

    /// Number of entries.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bumped by every insert and remove; cached match results are valid only for the
    /// generation they were computed at.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds `sub` under its subject. Refuses subjects with empty tokens or tokens after `>`.
    pub fn insert(&mut self, sub: Arc<T>) -> Result<(), InvalidSubject> {
        let keep = Arc::clone(&sub);
        let subj = keep.subject();
        if !subject::is_valid_subject(subj) {
            return Err(InvalidSubject);
        }
        let mut level = &mut self.root;
        let mut toks = subject::tokens(subj).peekable();
        let node = loop {
            let t = toks.next().expect("a valid subject has at least one token");
            let node = level.node_or_insert(t);
            if toks.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(|| Box::new(Level::new()));
        };
        match keep.queue() {
            None => node.psubs.push(sub),
            Some(q) => match node.qsubs.iter_mut().find(|(name, _)| &**name == q) {
                Some((_, members)) => members.push(sub),
                None => {
                    let name: Box<[u8]> = q.into();
                    node.qsubs.push((name, vec![sub]));
                }
            },
        }
        self.count += 1;
        self.inserts += 1;
        self.generation += 1;
        Ok(())
    }

    /// Removes `sub` (by pointer). Returns false if it was not there. Frees emptied nodes.
    pub fn remove(&mut self, sub: &Arc<T>) -> bool {
        let toks: smallvec::SmallVec<[&[u8]; 16]> = subject::tokens(sub.subject()).collect();
        if !remove_from(&mut self.root, &toks, sub) {
            return false;
        }
        self.count -= 1;
        self.removes += 1;
        self.generation += 1;
        true
    }

    /// Every entry matching the literal `subject` (its tokens are taken as text, so a `*`
    /// token is matched by wildcard entries only). Uses and fills the cache.
    pub fn match_subject(&self, subject: &[u8]) -> Arc<MatchResult<T>> {
        self.matches.fetch_add(1, Ordering::Relaxed);
        if self.cache_enabled {
            let mut cache = self.cache.lock().expect("sublist cache lock poisoned");
            if cache.generation != self.generation {
                cache.map.clear();
                cache.generation = self.generation;
            } else if let Some(r) = cache.map.get(subject) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Arc::clone(r);
            }
        }
        let result = Arc::new(self.compute_match(subject));
        if self.cache_enabled {
            let mut cache = self.cache.lock().expect("sublist cache lock poisoned");
            if cache.generation == self.generation {
                if cache.map.len() >= CACHE_MAX {
                    let excess = cache.map.len() - CACHE_SWEEP;
                    let doomed: Vec<Box<[u8]>> = cache.map.keys().take(excess).cloned().collect();
                    for k in doomed {
                        cache.map.remove(&k);
                    }
                }
                cache.map.insert(subject.into(), Arc::clone(&result));
            }
        }
        result
    }

    fn compute_match(&self, subject: &[u8]) -> MatchResult<T> {
        let mut result = MatchResult::new();
        let toks: smallvec::SmallVec<[&[u8]; 16]> = subject::tokens(subject).collect();
        if toks.iter().any(|t| t.is_empty()) {
            return result;
        }
        match_level(Some(&self.root), &toks, &mut result);
        result
    }

    /// Every entry in the list, in trie order (for monitoring and tests).
    pub fn all(&self) -> Vec<Arc<T>> {
        let mut out = Vec::with_capacity(self.count);
        collect_level(&self.root, &mut out);
        out
    }

    /// Current statistics.
    pub fn stats(&self) -> SublistStats {
        let cache = self.cache.lock().expect("sublist cache lock poisoned");
        let valid = cache.generation == self.generation;
        let (mut max_fanout, mut total) = (0usize, 0usize);
        let num_cache = if valid { cache.map.len() } else { 0 };
        if valid {
            for r in cache.map.values() {
                max_fanout = max_fanout.max(r.fanout());
                total += r.fanout();
            }
        }
        let matches = self.matches.load(Ordering::Relaxed);
        let hits = self.cache_hits.load(Ordering::Relaxed);
        SublistStats {
            num_subscriptions: u32::try_from(self.count).unwrap_or(u32::MAX),
            num_cache: u32::try_from(num_cache).unwrap_or(u32::MAX),
            num_inserts: self.inserts,
            num_removes: self.removes,
            num_matches: matches,
            cache_hit_rate: if matches == 0 {
                0.0
            } else {
                hits as f64 / matches as f64
            },
            max_fanout: u32::try_from(max_fanout).unwrap_or(u32::MAX),
            avg_fanout: if num_cache == 0 {
                0.0
            } else {
                total as f64 / num_cache as f64
            },
        }
    }

    /// True if the trie holds no nodes at all (for churn tests: removal frees everything).
    pub fn is_pristine(&self) -> bool {
        self.root.is_empty()
    }
}

fn add_node<T: Entry>(node: &Node<T>, result: &mut MatchResult<T>) {
    result.psubs.extend(node.psubs.iter().cloned());
    for (name, members) in &node.qsubs {
        if members.is_empty() {
            continue;
        }
        // Groups merge by name across nodes: `foo.*` and `foo.bar` in group q are one group.
        match result
            .qsubs
            .iter_mut()
            .find(|g| g[0].queue() == Some(&**name))
        {
            Some(g) => g.extend(members.iter().cloned()),
            None => result.qsubs.push(members.clone()),
        }
    }
}

fn match_level<T: Entry>(mut level: Option<&Level<T>>, toks: &[&[u8]], r: &mut MatchResult<T>) {
    let mut last: Option<&Node<T>> = None;
    let mut last_pwc: Option<&Node<T>> = None;
    for (i, t) in toks.iter().enumerate() {
        let Some(l) = level else { return };
        if let Some(fwc) = &l.fwc {
            add_node(fwc, r);
        }
        last_pwc = l.pwc.as_deref();
        if let Some(pwc) = last_pwc {
            match_level(pwc.next.as_deref(), &toks[i + 1..], r);
        }
        last = l.nodes.get(*t).map(|n| &**n);
        level = last.and_then(|n| n.next.as_deref());
    }
    if let Some(n) = last {
        add_node(n, r);
    }
    if let Some(p) = last_pwc {
        add_node(p, r);
    }
}

fn remove_from<T: Entry>(level: &mut Level<T>, toks: &[&[u8]], sub: &Arc<T>) -> bool {
    let (t, rest) = toks
        .split_first()
        .expect("remove_from is never called with no tokens");
    let Some(node) = level.node_mut(t) else {
        return false;
    };
    let removed = if rest.is_empty() {
        remove_entry(node, sub)
    } else {
        match node.next.as_deref_mut() {
            Some(next) => {
                let removed = remove_from(next, rest, sub);
                if removed && next.is_empty() {
                    node.next = None;
                }
                removed
            }
            None => false,
        }
    };
    if removed && node.is_empty() {
        level.remove_node(t);
    }
    removed
}

fn remove_entry<T: Entry>(node: &mut Node<T>, sub: &Arc<T>) -> bool {
    match sub.queue() {
        None => match node.psubs.iter().position(|s| Arc::ptr_eq(s, sub)) {
            Some(i) => {
                node.psubs.swap_remove(i);
                true
            }
            None => false,
        },
        Some(q) => {
            let Some(gi) = node.qsubs.iter().position(|(name, _)| &**name == q) else {
                return false;
            };
            let members = &mut node.qsubs[gi].1;
            let Some(i) = members.iter().position(|s| Arc::ptr_eq(s, sub)) else {
                return false;
            };
            // Keep member order stable so queue choice depends only on the random draw.
            members.remove(i);
            if members.is_empty() {
                node.qsubs.swap_remove(gi);
            }
            true
        }
    }
}

fn collect_level<T>(level: &Level<T>, out: &mut Vec<Arc<T>>) {
    let mut visit = |n: &Node<T>| {
        out.extend(n.psubs.iter().cloned());
        for (_, m) in &n.qsubs {
            out.extend(m.iter().cloned());
        }
        if let Some(next) = &n.next {
            collect_level(next, out);
        }
    };
    for n in level.nodes.values() {
        visit(n);
    }
    if let Some(n) = &level.pwc {
        visit(n);
    }
    if let Some(n) = &level.fwc {
        visit(n);
    }
}

#[cfg(test)]
#[path = "sublist_tests.rs"]
mod tests;

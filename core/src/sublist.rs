//! The subscription index: a trie of subject tokens with plain and queue subscriptions.
//!
//! Each level of the trie maps literal tokens to nodes and has at most one `*` node and one `>`
//! node. A match walks the literal path and branches into `*` at every level, collecting `>`
//! nodes on the way. Queue subscriptions are grouped by queue name across all matching nodes, so
//! a caller can pick exactly one member per group.
//!
//! Matches are cached (bounded, [`CACHE_MAX`] entries swept down to [`CACHE_SWEEP`]) and the
//! cache is kept current in place: an insert adds the entry to the cached results it
//! matches, a remove drops the results it was in (Go's `addToCache`/`removeFromCache`), so
//! churn on one subject does not wipe everyone's cached matches. Every insert or remove also
//! bumps a generation counter that the connections use to validate their own small caches
//! without touching any lock, and reports how the interest in the entry's (subject, queue)
//! changed ([`InterestChange`]: what route `RS+`/`RS-` and imports will follow). Removal
//! prunes nodes and levels that became empty, so subscribe/unsubscribe churn leaves no garbage.
//!
//! The list is generic over its entries so permissions and tests can reuse it; entries are
//! identified by `Arc` pointer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::subject::{self, FWC, PWC};
use foldhash::fast::FixedState;

use crate::FastMap;
use children::Children;
use smallvec::SmallVec;

mod children;

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

/// How one insert or remove changed the interest in an entry's exact (subject, queue): the
/// number of entries for it before and after (for a queue group, its members: the weight a
/// route announces). Interest starts at `before == 0` and ends at `after == 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterestChange {
    /// Entries before.
    pub before: usize,
    /// Entries after.
    pub after: usize,
}

impl InterestChange {
    /// The first entry for its (subject, queue) arrived.
    pub fn started(&self) -> bool {
        self.before == 0 && self.after > 0
    }

    /// The last entry for its (subject, queue) left.
    pub fn ended(&self) -> bool {
        self.before > 0 && self.after == 0
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

impl SublistStats {
    /// Adds another list's statistics (for a server-wide `/subsz` over all accounts): counts
    /// summed, the largest fan-out kept, hit rate and average fan-out weighted by matches
    /// and cached entries.
    pub fn add(&mut self, o: &SublistStats) {
        let hits =
            self.cache_hit_rate * self.num_matches as f64 + o.cache_hit_rate * o.num_matches as f64;
        let fanout =
            self.avg_fanout * f64::from(self.num_cache) + o.avg_fanout * f64::from(o.num_cache);
        self.num_subscriptions = self.num_subscriptions.saturating_add(o.num_subscriptions);
        self.num_cache = self.num_cache.saturating_add(o.num_cache);
        self.num_inserts += o.num_inserts;
        self.num_removes += o.num_removes;
        self.num_matches += o.num_matches;
        self.max_fanout = self.max_fanout.max(o.max_fanout);
        self.cache_hit_rate = if self.num_matches == 0 {
            0.0
        } else {
            hits / self.num_matches as f64
        };
        self.avg_fanout = if self.num_cache == 0 {
            0.0
        } else {
            fanout / f64::from(self.num_cache)
        };
    }
}

struct Node<T> {
    next: Option<Box<Level<T>>>,
    /// Plain entries. Most subjects have one subscriber, kept inline: a vector's first
    /// entry took 32 bytes of heap more (BENCHMARKS.md, issue 19's fourth session).
    psubs: SmallVec<[Arc<T>; 1]>,
    /// Queue groups, boxed: most nodes have none, and a node of 40 bytes takes 48 with
    /// the allocator's header where one of 56 took 64.
    #[allow(clippy::box_collection)] // On purpose: 8 bytes in the node, not 24.
    qsubs: Option<Box<Vec<QueueGroup<T>>>>,
}

/// A queue group in one node: its name and members, in subscription order.
type QueueGroup<T> = (Box<[u8]>, Vec<Arc<T>>);

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            next: None,
            psubs: SmallVec::new(),
            qsubs: None,
        }
    }

    /// Its queue groups.
    fn queues(&self) -> &[QueueGroup<T>] {
        self.qsubs.as_deref().map_or(&[], |v| v.as_slice())
    }

    /// Its queue groups, to change (made if there were none; see [`remove_entry`] for the
    /// other end).
    fn queues_mut(&mut self) -> &mut Vec<QueueGroup<T>> {
        self.qsubs.get_or_insert_with(Box::default)
    }

    /// Entries for exactly this (subject, queue): plain entries, or the queue's members.
    fn interest(&self, queue: Option<&[u8]>) -> usize {
        match queue {
            None => self.psubs.len(),
            Some(q) => self
                .queues()
                .iter()
                .find(|(name, _)| &**name == q)
                .map_or(0, |(_, m)| m.len()),
        }
    }

    /// Plain entries plus queue members.
    fn num_entries(&self) -> usize {
        self.psubs.len() + self.queues().iter().map(|(_, m)| m.len()).sum::<usize>()
    }
}

struct Level<T> {
    nodes: Children<T>,
    pwc: Option<Box<Node<T>>>,
    fwc: Option<Box<Node<T>>>,
}

impl<T> Level<T> {
    fn new() -> Self {
        Level {
            nodes: Children::new(),
            pwc: None,
            fwc: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.pwc.is_none() && self.fwc.is_none()
    }

    /// Number of nodes at this level.
    fn len(&self) -> usize {
        self.nodes.len() + usize::from(self.pwc.is_some()) + usize::from(self.fwc.is_some())
    }

    fn node(&self, token: &[u8]) -> Option<&Node<T>> {
        match token {
            [PWC] => self.pwc.as_deref(),
            [FWC] => self.fwc.as_deref(),
            _ => self.nodes.get(token),
        }
    }

    fn node_mut(&mut self, token: &[u8]) -> Option<&mut Box<Node<T>>> {
        match token {
            [PWC] => self.pwc.as_mut(),
            [FWC] => self.fwc.as_mut(),
            _ => self.nodes.get_mut(token),
        }
    }

    fn node_or_insert(&mut self, token: &[u8], hasher: FixedState) -> &mut Node<T> {
        match token {
            [PWC] => self.pwc.get_or_insert_with(|| Box::new(Node::new())),
            [FWC] => self.fwc.get_or_insert_with(|| Box::new(Node::new())),
            _ => self.nodes.get_or_insert(token, hasher),
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

/// Dropping a level unlinks its subtree node by node: the derived drop would recurse once per
/// token and overflow the stack on a deep enough subject.
impl<T> Drop for Level<T> {
    fn drop(&mut self) {
        let mut doomed: Vec<Box<Node<T>>> = Vec::new();
        self.nodes.drain_into(&mut doomed);
        doomed.extend(self.pwc.take());
        doomed.extend(self.fwc.take());
        while let Some(mut n) = doomed.pop() {
            if let Some(mut next) = n.next.take() {
                next.nodes.drain_into(&mut doomed);
                doomed.extend(next.pwc.take());
                doomed.extend(next.fwc.take());
            }
        }
    }
}

struct Cache<T> {
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
    /// Hashes subject tokens; seeded per server (see [`crate::keyed_hasher`]).
    hasher: FixedState,
    /// Guarded by its own lock so matching under a shared borrow can fill it.
    cache: Mutex<Cache<T>>,
}

impl<T: Entry> Default for Sublist<T> {
    fn default() -> Self {
        Self::new(true)
    }
}

impl<T: Entry> Sublist<T> {
    /// An empty list; `cache` turns the match cache on. Hashes with a fixed seed: for lists
    /// whose subjects clients choose, use [`with_seed`](Self::with_seed).
    pub fn new(cache: bool) -> Self {
        Self::with_seed(cache, 0)
    }

    /// An empty list whose maps hash with [`crate::keyed_hasher`]`(seed)`.
    pub fn with_seed(cache: bool, seed: u64) -> Self {
        let hasher = crate::keyed_hasher(seed);
        Sublist {
            root: Level::new(),
            count: 0,
            generation: 0,
            inserts: 0,
            removes: 0,
            matches: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            cache_enabled: cache,
            hasher,
            cache: Mutex::new(Cache {
                map: FastMap::with_hasher(hasher),
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
        self.insert_interest(sub).map(|_| ())
    }

    /// [`insert`](Self::insert), saying how the interest in the entry's exact (subject,
    /// queue) changed: `before == 0` means interest in it started (what a route announces
    /// with `RS+`; for a queue, `after` is its weight). Cached matches the new entry belongs
    /// to are updated in place (as Go's `addToCache`), not wiped.
    pub fn insert_interest(&mut self, sub: Arc<T>) -> Result<InterestChange, InvalidSubject> {
        let keep = Arc::clone(&sub);
        let subj = keep.subject();
        if !subject::is_valid_subject(subj) {
            return Err(InvalidSubject);
        }
        let mut level = &mut self.root;
        let mut toks = subject::tokens(subj).peekable();
        let node = loop {
            let t = toks.next().expect("a valid subject has at least one token");
            let node = level.node_or_insert(t, self.hasher);
            if toks.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(|| Box::new(Level::new()));
        };
        let before = node.interest(keep.queue());
        match keep.queue() {
            None => node.psubs.push(sub),
            Some(q) => match node.queues_mut().iter_mut().find(|(name, _)| &**name == q) {
                Some((_, members)) => members.push(sub),
                None => {
                    let name: Box<[u8]> = q.into();
                    node.queues_mut().push((name, vec![sub]));
                }
            },
        }
        self.count += 1;
        self.inserts += 1;
        self.generation += 1;
        if self.cache_enabled {
            add_to_cache(self.cache_mut(), &keep);
        }
        Ok(InterestChange {
            before,
            after: before + 1,
        })
    }

    /// Removes `sub` (by pointer). Returns false if it was not there. Frees emptied nodes.
    ///
    /// Iterative, as every walk here: subjects can have as many tokens as the control line
    /// allows, and a recursion that deep once overflowed a thread's stack.
    pub fn remove(&mut self, sub: &Arc<T>) -> bool {
        self.remove_interest(sub).is_some()
    }

    /// [`remove`](Self::remove), saying how the interest in the entry's exact (subject,
    /// queue) changed (`None`: it was not there); `after == 0` means interest ended (a
    /// route's `RS-`). Cached matches the entry could be in are dropped (as Go's
    /// `removeFromCache`): one lookup for a literal subject, a scan of the bounded cache for
    /// a wildcard; the rest of the cache stays.
    pub fn remove_interest(&mut self, sub: &Arc<T>) -> Option<InterestChange> {
        let toks: smallvec::SmallVec<[&[u8]; 16]> = subject::tokens(sub.subject()).collect();
        let (cut, before) = prune_point(&self.root, &toks, sub)?;
        // Walk down to the level holding the first doomed node (or to the leaf if none is).
        let mut level = &mut self.root;
        for (i, t) in toks.iter().enumerate() {
            if i == cut {
                // Everything from here down holds only `sub`: drop the chain (iteratively,
                // see `Level`'s `Drop`).
                level.remove_node(t);
                break;
            }
            let node = level
                .node_mut(t)
                .expect("prune_point walked this path under the same borrow");
            if i + 1 == toks.len() {
                remove_entry(node, sub);
                break;
            }
            if i + 1 == cut && node.next.as_deref().is_some_and(|l| l.len() == 1) {
                // The next level holds only the doomed node: drop the level with it.
                node.next = None;
                break;
            }
            level = node
                .next
                .as_deref_mut()
                .expect("prune_point walked this path under the same borrow");
        }
        self.count -= 1;
        self.removes += 1;
        self.generation += 1;
        if self.cache_enabled {
            remove_from_cache(self.cache_mut(), sub.subject());
        }
        Some(InterestChange {
            before,
            after: before - 1,
        })
    }

    /// Every entry matching the literal `subject` (its tokens are taken as text, so a `*`
    /// token is matched by wildcard entries only). Uses and fills the cache.
    pub fn match_subject(&self, subject: &[u8]) -> Arc<MatchResult<T>> {
        self.matches.fetch_add(1, Ordering::Relaxed);
        if self.cache_enabled {
            if let Some(r) = self.cache_lock().map.get(subject) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Arc::clone(r);
            }
        }
        let Some(result) = self.compute_match(subject) else {
            // An empty token: matches nothing, and is never cached (a wildcard insert
            // would otherwise join the cached empty result: `>` "matches" `""`).
            return Arc::new(MatchResult::new());
        };
        let result = Arc::new(result);
        if self.cache_enabled {
            // Mutation takes `&mut self`, so the trie cannot have changed since the compute:
            // the result is current. (Two matchers may both compute it; either is right.)
            let mut cache = self.cache_lock();
            if cache.map.len() >= CACHE_MAX {
                let excess = cache.map.len() - CACHE_SWEEP;
                let doomed: Vec<Box<[u8]>> = cache.map.keys().take(excess).cloned().collect();
                for k in doomed {
                    cache.map.remove(&k);
                }
            }
            cache.map.insert(subject.into(), Arc::clone(&result));
        }
        result
    }

    /// `None` for a subject with an empty token (it matches nothing).
    fn compute_match(&self, subject: &[u8]) -> Option<MatchResult<T>> {
        let mut result = MatchResult::new();
        let toks: smallvec::SmallVec<[&[u8]; 16]> = subject::tokens(subject).collect();
        if toks.iter().any(|t| t.is_empty()) {
            return None;
        }
        match_level(&self.root, &toks, &mut result);
        Some(result)
    }

    /// Every entry in the list, in trie order (for monitoring and tests).
    pub fn all(&self) -> Vec<Arc<T>> {
        let mut out = Vec::with_capacity(self.count);
        // Depth-first, each node's entries before its children (an explicit stack: no
        // recursion, see `remove`).
        let mut stack: Vec<&Node<T>> = Vec::new();
        push_children(&self.root, &mut stack);
        while let Some(n) = stack.pop() {
            out.extend(n.psubs.iter().cloned());
            for (_, m) in n.queues() {
                out.extend(m.iter().cloned());
            }
            if let Some(next) = &n.next {
                push_children(next, &mut stack);
            }
        }
        out
    }

    /// Current statistics.
    pub fn stats(&self) -> SublistStats {
        let cache = self.cache_lock();
        let num_cache = cache.map.len();
        let (mut max_fanout, mut total) = (0usize, 0usize);
        for r in cache.map.values() {
            max_fanout = max_fanout.max(r.fanout());
            total += r.fanout();
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

    /// The cache under `&mut self`: no lock needed (no matcher can hold it).
    fn cache_mut(&mut self) -> &mut Cache<T> {
        self.cache.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// The cache, recovered if a panic poisoned its lock (a bug, but one that must not
    /// spread to every publisher).
    fn cache_lock(&self) -> std::sync::MutexGuard<'_, Cache<T>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True if the trie holds no nodes at all (for churn tests: removal frees everything).
    pub fn is_pristine(&self) -> bool {
        self.root.is_empty()
    }
}

/// Adds a new entry to every cached result it matches, copy on write (matchers may hold the
/// old `Arc`). Appended, as Go's `addToCache`: a fresh compute may order it differently.
fn add_to_cache<T: Entry>(cache: &mut Cache<T>, sub: &Arc<T>) {
    let pattern = sub.subject();
    let literal = subject::is_literal(pattern);
    let add = |r: &mut Arc<MatchResult<T>>| {
        let mut n = MatchResult {
            psubs: r.psubs.clone(),
            qsubs: r.qsubs.clone(),
        };
        match sub.queue() {
            None => n.psubs.push(Arc::clone(sub)),
            Some(q) => match n.qsubs.iter_mut().find(|g| g[0].queue() == Some(q)) {
                Some(g) => g.push(Arc::clone(sub)),
                None => n.qsubs.push(vec![Arc::clone(sub)]),
            },
        }
        *r = Arc::new(n);
    };
    if literal {
        if let Some(r) = cache.map.get_mut(pattern) {
            add(r);
        }
        return;
    }
    for (key, r) in cache.map.iter_mut() {
        if subject::matches(pattern, key) {
            add(r);
        }
    }
}

/// Drops the cached results an entry with subject `pattern` may be in (Go's
/// `removeFromCache`): the next match recomputes them.
fn remove_from_cache<T>(cache: &mut Cache<T>, pattern: &[u8]) {
    if subject::is_literal(pattern) {
        cache.map.remove(pattern);
    } else {
        cache.map.retain(|key, _| !subject::matches(pattern, key));
    }
}

fn add_node<T: Entry>(node: &Node<T>, result: &mut MatchResult<T>) {
    result.psubs.extend(node.psubs.iter().cloned());
    for (name, members) in node.queues() {
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

/// One walk along the subject's tokens, starting at `toks[i]` in `level`; a `*` node forks
/// a new walk, which must finish before this one goes on (that is the delivery order).
struct Walk<'a, T> {
    level: Option<&'a Level<T>>,
    i: usize,
    last: Option<&'a Node<T>>,
    last_pwc: Option<&'a Node<T>>,
}

/// Collects every node matching `toks` into `r`: at each level the `>` node, then everything
/// under the `*` node, then the literal path. Depth-first with an explicit stack of paused
/// walks, so a subject of any length runs in constant stack space.
fn match_level<'a, T: Entry>(root: &'a Level<T>, toks: &[&[u8]], r: &mut MatchResult<T>) {
    let mut paused: Vec<Walk<'a, T>> = Vec::new();
    let mut w = Walk {
        level: Some(root),
        i: 0,
        last: None,
        last_pwc: None,
    };
    loop {
        let mut forked = None;
        while w.i < toks.len() {
            let Some(l) = w.level else {
                // The literal path ended early: this walk contributes nothing more.
                w.last = None;
                w.last_pwc = None;
                break;
            };
            if let Some(fwc) = &l.fwc {
                add_node(fwc, r);
            }
            w.last_pwc = l.pwc.as_deref();
            w.last = l.nodes.get(toks[w.i]);
            w.level = w.last.and_then(|n| n.next.as_deref());
            w.i += 1;
            if let Some(pwc) = w.last_pwc {
                forked = Some(Walk {
                    level: pwc.next.as_deref(),
                    i: w.i,
                    last: None,
                    last_pwc: None,
                });
                break;
            }
        }
        if let Some(f) = forked {
            // Finish the `*` branch first, then resume this walk where it stopped.
            paused.push(std::mem::replace(&mut w, f));
            continue;
        }
        if w.i == toks.len() {
            if let Some(n) = w.last {
                add_node(n, r);
            }
            if let Some(p) = w.last_pwc {
                add_node(p, r);
            }
        }
        match paused.pop() {
            Some(p) => w = p,
            None => return,
        }
    }
}

/// Where removing `sub` (at the end of `toks`) starts freeing nodes: `Some(depth)` of the
/// first node that holds nothing but `sub`'s path once it is gone (`toks.len()` if none), or
/// `None` if `sub` is not in the list; with the interest in its (subject, queue) before the
/// removal. A read-only pass, so the removal itself needs no
/// parent pointers and no recursion.
fn prune_point<T: Entry>(root: &Level<T>, toks: &[&[u8]], sub: &Arc<T>) -> Option<(usize, usize)> {
    let mut path: Vec<&Node<T>> = Vec::with_capacity(toks.len());
    let mut level = Some(root);
    for t in toks {
        let node = level?.node(t)?;
        path.push(node);
        level = node.next.as_deref();
    }
    let leaf = *path.last()?;
    if !holds_entry(leaf, sub) {
        return None;
    }
    let before = leaf.interest(sub.queue());
    let mut cut = toks.len();
    for (i, node) in path.iter().enumerate().rev() {
        let doomed = if i + 1 == toks.len() {
            node.next.is_none() && node.num_entries() == 1
        } else {
            // Empty of its own, and its only child is the doomed one.
            cut == i + 1
                && node.num_entries() == 0
                && node.next.as_deref().is_some_and(|l| l.len() == 1)
        };
        if !doomed {
            break;
        }
        cut = i;
    }
    Some((cut, before))
}

fn holds_entry<T: Entry>(node: &Node<T>, sub: &Arc<T>) -> bool {
    match sub.queue() {
        None => node.psubs.iter().any(|s| Arc::ptr_eq(s, sub)),
        Some(q) => node
            .queues()
            .iter()
            .any(|(name, m)| &**name == q && m.iter().any(|s| Arc::ptr_eq(s, sub))),
    }
}

/// Pushes `level`'s nodes so that they pop in the order: literal nodes, `*`, `>`.
fn push_children<'a, T>(level: &'a Level<T>, stack: &mut Vec<&'a Node<T>>) {
    stack.extend(level.fwc.as_deref());
    stack.extend(level.pwc.as_deref());
    let at = stack.len();
    level.nodes.push_all(stack);
    stack[at..].reverse();
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
            let Some(gi) = node.queues().iter().position(|(name, _)| &**name == q) else {
                return false;
            };
            let members = &mut node.queues_mut()[gi].1;
            let Some(i) = members.iter().position(|s| Arc::ptr_eq(s, sub)) else {
                return false;
            };
            // Keep member order stable so queue choice depends only on the random draw.
            members.remove(i);
            if members.is_empty() {
                node.queues_mut().swap_remove(gi);
                if node.queues().is_empty() {
                    node.qsubs = None;
                }
            }
            true
        }
    }
}

#[cfg(test)]
#[path = "sublist_tests.rs"]
mod tests;

use super::*;
use proptest::prelude::*;

#[derive(Debug)]
struct S {
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
    id: u32,
}

impl Entry for S {
    fn subject(&self) -> &[u8] {
        &self.subject
    }
    fn queue(&self) -> Option<&[u8]> {
        self.queue.as_deref()
    }
}

fn s(subject: &str, queue: Option<&str>, id: u32) -> Arc<S> {
    Arc::new(S {
        subject: subject.into(),
        queue: queue.map(Into::into),
        id,
    })
}

fn ids(r: &MatchResult<S>) -> (Vec<u32>, Vec<Vec<u32>>) {
    let mut p: Vec<u32> = r.psubs.iter().map(|x| x.id).collect();
    p.sort();
    let mut q: Vec<Vec<u32>> = r
        .qsubs
        .iter()
        .map(|g| {
            let mut v: Vec<u32> = g.iter().map(|x| x.id).collect();
            v.sort();
            v
        })
        .collect();
    q.sort();
    (p, q)
}

#[test]
fn literal_and_wildcards() {
    let mut sl = Sublist::new(true);
    for (i, subj) in [
        "foo.bar",
        "foo.*",
        "foo.>",
        "*.bar",
        ">",
        "foo.bar.baz",
        "foo",
    ]
    .iter()
    .enumerate()
    {
        sl.insert(s(subj, None, i as u32)).unwrap();
    }
    assert_eq!(sl.count(), 7);
    assert_eq!(ids(&sl.match_subject(b"foo.bar")).0, vec![0, 1, 2, 3, 4]);
    assert_eq!(ids(&sl.match_subject(b"foo.bar.baz")).0, vec![2, 4, 5]);
    assert_eq!(ids(&sl.match_subject(b"foo")).0, vec![4, 6]);
    assert_eq!(ids(&sl.match_subject(b"bar")).0, vec![4]);
    assert!(ids(&sl.match_subject(b"foo..bar")).0.is_empty());
    // A literal `*` token is matched by wildcards only.
    assert_eq!(ids(&sl.match_subject(b"foo.*")).0, vec![1, 2, 4]);
}

#[test]
fn invalid_subjects_refused() {
    let mut sl: Sublist<S> = Sublist::new(true);
    for bad in ["", "foo.", ".foo", "foo..bar", "foo.>.bar"] {
        assert_eq!(sl.insert(s(bad, None, 0)), Err(InvalidSubject), "{bad:?}");
    }
    assert_eq!(sl.count(), 0);
}

#[test]
fn queue_groups_merge_by_name() {
    let mut sl = Sublist::new(true);
    sl.insert(s("foo.bar", Some("q1"), 1)).unwrap();
    sl.insert(s("foo.*", Some("q1"), 2)).unwrap();
    sl.insert(s("foo.bar", Some("q2"), 3)).unwrap();
    sl.insert(s("foo.bar", None, 4)).unwrap();
    let r = sl.match_subject(b"foo.bar");
    assert_eq!(ids(&r), (vec![4], vec![vec![1, 2], vec![3]]));
    assert_eq!(r.fanout(), 3);
}

#[test]
fn remove_frees_nodes_and_bumps_generation() {
    let mut sl = Sublist::new(true);
    let a = s("a.b.c", None, 1);
    let b = s("a.*.c", Some("q"), 2);
    let c = s("a.>", None, 3);
    for x in [&a, &b, &c] {
        sl.insert(Arc::clone(x)).unwrap();
    }
    let g = sl.generation();
    assert!(sl.remove(&a));
    assert!(!sl.remove(&a), "double remove is a no-op");
    assert!(sl.generation() > g);
    assert!(sl.remove(&b));
    assert!(sl.remove(&c));
    assert_eq!(sl.count(), 0);
    assert!(sl.is_pristine(), "empty nodes must be freed");
}

#[test]
fn churn_does_not_grow() {
    let mut sl = Sublist::new(true);
    let keep = s("keep.me", None, 0);
    sl.insert(Arc::clone(&keep)).unwrap();
    for i in 0..10_000u32 {
        let x = s(&format!("churn.{i}.x"), None, i);
        sl.insert(Arc::clone(&x)).unwrap();
        sl.match_subject(format!("churn.{i}.x").as_bytes());
        assert!(sl.remove(&x));
    }
    assert_eq!(sl.count(), 1);
    assert!(sl.remove(&keep));
    assert!(sl.is_pristine());
}

#[test]
fn cache_hits_and_invalidation() {
    let mut sl = Sublist::new(true);
    sl.insert(s("foo", None, 1)).unwrap();
    assert_eq!(sl.match_subject(b"foo").psubs.len(), 1);
    assert_eq!(sl.match_subject(b"foo").psubs.len(), 1);
    let st = sl.stats();
    assert_eq!(st.num_matches, 2);
    assert!((st.cache_hit_rate - 0.5).abs() < 1e-9);
    assert_eq!(st.num_cache, 1);
    assert_eq!(st.max_fanout, 1);
    sl.insert(s("foo", None, 2)).unwrap();
    assert_eq!(
        sl.match_subject(b"foo").psubs.len(),
        2,
        "a stale cache entry was served"
    );
}

#[test]
fn cache_is_bounded() {
    let mut sl = Sublist::new(true);
    sl.insert(s(">", None, 1)).unwrap();
    for i in 0..5000 {
        sl.match_subject(format!("s.{i}").as_bytes());
    }
    assert!(sl.stats().num_cache as usize <= CACHE_MAX);
}

// --- property: the trie agrees with a naive linear scan ---

#[derive(Debug, Clone)]
enum Cmd {
    Insert(String, Option<String>),
    Remove(usize),
    Match(String),
}

/// Six literals: more than a level keeps in its vector (`children::FEW`), so levels cross
/// into the hash table and back out of it through removes; one longer than the 16 bytes
/// a token keeps inline.
const LITERALS: [&str; 6] = ["a", "b", "c", "d", "e", "a-token-longer-than-16-bytes"];

fn literal_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&LITERALS[..])
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![4 => literal_token(), 1 => Just("*"), 1 => Just(">")].prop_map(String::from)
}

fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..4).prop_map(|t| t.join("."))
}

fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(literal_token(), 1..5).prop_map(|t| t.join("."))
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        (
            pattern(),
            prop::option::of(prop_oneof![Just("q1".to_string()), Just("q2".to_string())])
        )
            .prop_map(|(p, q)| Cmd::Insert(p, q)),
        any::<usize>().prop_map(Cmd::Remove),
        literal().prop_map(Cmd::Match),
    ]
}

proptest! {
    #[test]
    fn agrees_with_naive_model(cmds in prop::collection::vec(cmd(), 1..200)) {
        let mut sl = Sublist::new(true);
        let mut model: Vec<Arc<S>> = Vec::new();
        let mut next = 0u32;
        for c in cmds {
            match c {
                Cmd::Insert(p, q) => {
                    let x = s(&p, q.as_deref(), next);
                    next += 1;
                    let ok = sl.insert(Arc::clone(&x)).is_ok();
                    prop_assert_eq!(ok, subject::is_valid_subject(p.as_bytes()));
                    if ok { model.push(x); }
                }
                Cmd::Remove(i) => {
                    if !model.is_empty() {
                        let x = model.remove(i % model.len());
                        prop_assert!(sl.remove(&x));
                    }
                }
                Cmd::Match(lit) => {
                    let got = ids(&sl.match_subject(lit.as_bytes()));
                    let mut p: Vec<u32> = model.iter()
                        .filter(|x| x.queue.is_none() && subject::matches(&x.subject, lit.as_bytes()))
                        .map(|x| x.id).collect();
                    p.sort();
                    let mut groups: Vec<(Vec<u8>, Vec<u32>)> = Vec::new();
                    for x in model.iter().filter(|x| x.queue.is_some() && subject::matches(&x.subject, lit.as_bytes())) {
                        let q = x.queue.clone().unwrap();
                        match groups.iter_mut().find(|g| g.0 == q) {
                            Some(g) => g.1.push(x.id),
                            None => groups.push((q, vec![x.id])),
                        }
                    }
                    let mut q: Vec<Vec<u32>> = groups.into_iter().map(|mut g| { g.1.sort(); g.1 }).collect();
                    q.sort();
                    prop_assert_eq!(got, (p, q));
                }
            }
            prop_assert_eq!(sl.count(), model.len());
        }
        for x in model.drain(..) {
            prop_assert!(sl.remove(&x));
        }
        prop_assert!(sl.is_pristine());
    }
}

/// Subjects of tens of thousands of tokens (a client may send one when `max_control_line` is
/// raised) once overflowed the stack in the recursive walks and aborted the whole process.
/// Run on a thread with a small stack (the std runtime's are 512 KiB) so a recursion of depth
/// proportional to the token count cannot pass by luck.
#[test]
fn deep_subjects_do_not_overflow_the_stack() {
    const DEPTH: usize = 50_000;
    let run = || {
        let literal = vec!["a"; DEPTH].join(".");
        let stars = vec!["*"; DEPTH].join(".");
        let mut tail = vec!["*"; DEPTH - 1];
        tail.push(">");
        let tail = tail.join(".");
        let mut sl = Sublist::new(true);
        let (a, b, c) = (
            s(&literal, None, 1),
            s(&stars, None, 2),
            s(&tail, Some("q"), 3),
        );
        sl.insert(Arc::clone(&a)).unwrap();
        sl.insert(Arc::clone(&b)).unwrap();
        sl.insert(Arc::clone(&c)).unwrap();
        let r = sl.match_subject(literal.as_bytes());
        assert_eq!(ids(&r), (vec![1, 2], vec![vec![3]]));
        assert_eq!(sl.all().len(), 3);
        assert!(sl.remove(&b));
        assert_eq!(
            ids(&sl.match_subject(literal.as_bytes())),
            (vec![1], vec![vec![3]])
        );
        assert!(sl.remove(&a));
        // Dropped with a deep chain still in it: dropping must not recurse either.
        drop(sl);
    };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

/// The cache is maintained in place: churn on one subject leaves the others' cached results
/// (no recompute, counted as hits), and every result stays current.
#[test]
fn cache_is_updated_in_place() {
    let mut sl = Sublist::new(true);
    sl.insert(s("a.x", None, 1)).unwrap();
    sl.insert(s("b.*", None, 2)).unwrap();
    assert_eq!(ids(&sl.match_subject(b"a.x")).0, vec![1]);
    assert_eq!(ids(&sl.match_subject(b"b.y")).0, vec![2]);
    // A literal insert elsewhere: both cached results survive (two more hits).
    let c = s("c.z", None, 3);
    sl.insert(Arc::clone(&c)).unwrap();
    assert_eq!(sl.stats().num_cache, 2);
    // A wildcard insert joins the results it matches, in place.
    let w = s("*.x", Some("q"), 4);
    sl.insert(Arc::clone(&w)).unwrap();
    assert_eq!(sl.stats().num_cache, 2);
    assert_eq!(ids(&sl.match_subject(b"a.x")), (vec![1], vec![vec![4]]));
    assert_eq!(ids(&sl.match_subject(b"b.y")).0, vec![2]);
    let st = sl.stats();
    assert_eq!((st.num_matches, st.num_cache), (4, 2));
    assert!((st.cache_hit_rate - 0.5).abs() < 1e-9, "{st:?}");
    // Removing drops only the results it was in.
    assert!(sl.remove(&w));
    assert_eq!(sl.stats().num_cache, 1);
    assert_eq!(ids(&sl.match_subject(b"a.x")), (vec![1], vec![]));
    assert!(sl.remove(&c));
    assert_eq!(sl.stats().num_cache, 2);
}

/// Insert and remove report how the interest in the exact (subject, queue) changed: what a
/// route turns into RS+ (first) and RS- (last), with queue weights.
#[test]
fn interest_changes() {
    let mut sl = Sublist::new(true);
    let (a, b) = (s("foo", None, 1), s("foo", None, 2));
    let (q1, q2) = (s("foo", Some("g"), 3), s("foo", Some("g"), 4));
    let ch = sl.insert_interest(Arc::clone(&a)).unwrap();
    assert!(ch.started() && !ch.ended());
    assert!(!sl.insert_interest(Arc::clone(&b)).unwrap().started());
    // A queue is its own interest, weighted by its members.
    let ch = sl.insert_interest(Arc::clone(&q1)).unwrap();
    assert_eq!((ch.before, ch.after), (0, 1));
    assert_eq!(sl.insert_interest(Arc::clone(&q2)).unwrap().after, 2);
    assert!(!sl.remove_interest(&a).unwrap().ended());
    assert!(sl.remove_interest(&b).unwrap().ended());
    assert_eq!(sl.remove_interest(&q1).unwrap().after, 1);
    assert!(sl.remove_interest(&q2).unwrap().ended());
    assert_eq!(sl.remove_interest(&q2), None, "not there any more");
    assert!(sl.is_pristine());
}

/// Found by fuzzing the in-place cache: a subject with an empty token matches nothing, but
/// once its (empty) result was cached, a wildcard insert joined it (`>` "matches" `""`).
/// Such subjects are never cached now.
#[test]
fn invalid_subjects_stay_unmatched_after_wildcard_inserts() {
    let mut sl = Sublist::new(true);
    for lit in [&b""[..], b"a..b", b".", b"a."] {
        assert!(sl.match_subject(lit).is_empty());
    }
    sl.insert(s(">", Some("q"), 1)).unwrap();
    sl.insert(s("*", None, 2)).unwrap();
    for lit in [&b""[..], b"a..b", b".", b"a."] {
        assert!(
            sl.match_subject(lit).is_empty(),
            "{:?}",
            String::from_utf8_lossy(lit)
        );
    }
    assert_eq!(sl.stats().num_cache, 0, "invalid subjects are not cached");
}

/// A level moves its children from its vector into a hash table past `children::FEW`;
/// every child stays reachable on both sides of the move, and removes work on both.
#[test]
fn a_level_outgrows_its_vector() {
    let mut sl: Sublist<S> = Sublist::new(false);
    let subs: Vec<_> = (0..12u32)
        .map(|i| s(&format!("x.t{i}.y"), None, i))
        .collect();
    for (i, sub) in subs.iter().enumerate() {
        sl.insert(Arc::clone(sub)).unwrap();
        for (j, _) in subs.iter().enumerate().take(i + 1) {
            assert_eq!(
                ids(&sl.match_subject(format!("x.t{j}.y").as_bytes())).0,
                vec![j as u32]
            );
        }
    }
    assert_eq!(ids(&sl.match_subject(b"x.t12.y")).0, Vec::<u32>::new());
    for sub in &subs[..6] {
        assert!(sl.remove(sub));
    }
    for (j, _) in subs.iter().enumerate() {
        let want = if j < 6 { vec![] } else { vec![j as u32] };
        assert_eq!(
            ids(&sl.match_subject(format!("x.t{j}.y").as_bytes())).0,
            want
        );
    }
}

/// What a subscription costs is mostly trie nodes and levels (goal 4 of issue 19: 300
/// bytes per subscription). At 40 bytes each takes 48 with the allocator's header; at 56,
/// 64. This fails when a field makes either grow.
#[test]
fn trie_nodes_stay_small() {
    assert!(
        std::mem::size_of::<Node<S>>() <= 40,
        "{}",
        std::mem::size_of::<Node<S>>()
    );
    assert!(
        std::mem::size_of::<Level<S>>() <= 40,
        "{}",
        std::mem::size_of::<Level<S>>()
    );
}

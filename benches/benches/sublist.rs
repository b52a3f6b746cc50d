//! Sublist matching: literal, `*`, `>` and queue subscriptions, with the match cache hit and
//! missed, over lists of 10 and 100k subscriptions.
//!
//! Every list holds `n` literal subscriptions `foo.<i>.bar`; each case adds its own
//! subscriptions on top and matches `foo.7.bar`:
//!
//! - `literal`: nothing added (one literal match);
//! - `pwc`: `foo.*.bar` (a literal and a `*` match);
//! - `fwc`: `foo.>` (a literal and a `>` match);
//! - `queue`: four members of queue `q` on `foo.7.bar` (a literal match and one group).
//!
//! "hit" matches the same subject with the cache on; "miss" turns the cache off, so every
//! match walks the trie (what a cache miss costs before the result is stored); "churn" keeps
//! the cache on but cycles through 4096 subjects, so each match misses, inserts and sweeps.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use natsd_core::sublist::{Entry, Sublist};

/// A bare sublist entry.
struct E {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

impl Entry for E {
    fn subject(&self) -> &[u8] {
        &self.subject
    }
    fn queue(&self) -> Option<&[u8]> {
        self.queue.as_deref()
    }
}

fn entry(subject: &str, queue: Option<&str>) -> Arc<E> {
    Arc::new(E {
        subject: subject.as_bytes().into(),
        queue: queue.map(|q| q.as_bytes().into()),
    })
}

/// The list for `case` with `n` background subscriptions.
fn build(case: &str, n: usize, cache: bool) -> Sublist<E> {
    let mut sl = Sublist::new(cache);
    for i in 0..n {
        sl.insert(entry(&format!("foo.{i}.bar"), None)).unwrap();
    }
    match case {
        "literal" => {}
        "pwc" => sl.insert(entry("foo.*.bar", None)).unwrap(),
        "fwc" => sl.insert(entry("foo.>", None)).unwrap(),
        "queue" => {
            for _ in 0..4 {
                sl.insert(entry("foo.7.bar", Some("q"))).unwrap();
            }
        }
        _ => unreachable!("unknown case {case}"),
    }
    sl
}

fn expected(case: &str) -> usize {
    match case {
        "literal" => 1,
        _ => 2,
    }
}

fn sublist_match(c: &mut Criterion) {
    for n in [10usize, 100_000] {
        let mut g = c.benchmark_group(format!("sublist_{n}"));
        for case in ["literal", "pwc", "fwc", "queue"] {
            let want = expected(case);
            let sl = build(case, n, true);
            g.bench_function(BenchmarkId::new("hit", case), |b| {
                b.iter(|| {
                    let r = sl.match_subject(black_box(b"foo.7.bar"));
                    assert_eq!(r.fanout(), want);
                    r
                })
            });
            let sl = build(case, n, false);
            g.bench_function(BenchmarkId::new("miss", case), |b| {
                b.iter(|| {
                    let r = sl.match_subject(black_box(b"foo.7.bar"));
                    assert_eq!(r.fanout(), want);
                    r
                })
            });
        }
        // Cache on, 4096 distinct subjects in rotation: every match misses and is stored.
        let sl = build("literal", n, true);
        // Distinct subjects; past `n` they match nothing (still a miss and a cache insert).
        let distinct: Vec<Vec<u8>> = (0..4096)
            .map(|i| {
                if i < n {
                    format!("foo.{i}.bar").into_bytes()
                } else {
                    format!("baz.{i}").into_bytes()
                }
            })
            .collect();
        g.bench_function(BenchmarkId::new("churn", "literal"), |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % distinct.len();
                sl.match_subject(black_box(&distinct[i]))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, sublist_match);
criterion_main!(benches);

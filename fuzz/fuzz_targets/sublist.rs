//! Arbitrary insert/remove/match sequences on the sublist, checked against a naive model.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use natsd_core::subject;
use natsd_core::sublist::{Entry, Sublist};

#[derive(Debug)]
struct S {
    subject: Vec<u8>,
    queue: Option<Vec<u8>>,
    id: usize,
}

impl Entry for S {
    fn subject(&self) -> &[u8] {
        &self.subject
    }
    fn queue(&self) -> Option<&[u8]> {
        self.queue.as_deref()
    }
}

/// Most tokens in a deep subject. Deep commands run on a thread with a [`DEEP_STACK`] stack
/// (the std runtime's readers have 512 KiB), where a recursion per token at this depth
/// overflows, while a run stays cheap.
const DEEP_TOKENS: usize = 4_000;
const DEEP_STACK: usize = 64 * 1024;

#[derive(Debug, Arbitrary)]
enum Cmd {
    Insert {
        tokens: Vec<u8>,
        queue: Option<bool>,
    },
    /// A subject of up to [`DEEP_TOKENS`] tokens (one per input), inserted, matched and
    /// removed on a small stack: the walks once recursed per token and overflowed it.
    Deep {
        tokens: Vec<u8>,
        repeat: u16,
        queue: Option<bool>,
        then_match: bool,
    },
    Remove(u16),
    Match(Vec<u8>),
}

/// Subjects from a small alphabet so that matches are frequent: `a`, `b`, `*`, `>`, and an
/// empty token now and then (which must be refused or match nothing).
fn build(tokens: &[u8], literal: bool) -> Vec<u8> {
    let parts: Vec<&[u8]> = tokens
        .iter()
        .take(6)
        .map(|t| match t % if literal { 3 } else { 5 } {
            0 => &b"a"[..],
            1 => b"b",
            2 => b"",
            3 => b"*",
            _ => b">",
        })
        .collect();
    parts.join(&b'.')
}

/// Inserts `s` (deep), optionally matches it, removes it: the list is as before.
fn deep(sl: &mut Sublist<S>, s: &Arc<S>, then_match: bool) {
    let before = sl.count();
    let ok = sl.insert(Arc::clone(s)).is_ok();
    assert_eq!(ok, subject::is_valid_subject(&s.subject));
    if then_match {
        // Literal tokens in place of wildcards: the deep entry must match it.
        let lit: Vec<u8> = s
            .subject
            .iter()
            .map(|&b| if b == b'*' || b == b'>' { b'a' } else { b })
            .collect();
        let r = sl.match_subject(&lit);
        let found = r
            .psubs
            .iter()
            .chain(r.qsubs.iter().flatten())
            .any(|x| x.id == s.id);
        assert_eq!(found, ok && subject::is_valid_subject(&lit));
    }
    assert_eq!(sl.remove(s), ok);
    assert_eq!(sl.count(), before);
}

fuzz_target!(|cmds: Vec<Cmd>| {
    let mut sl = Sublist::new(true);
    let mut model: Vec<Arc<S>> = Vec::new();
    let mut deep_done = false;
    for (id, cmd) in cmds.into_iter().take(500).enumerate() {
        match cmd {
            Cmd::Insert { tokens, queue } => {
                let subject = build(&tokens, false);
                let queue = queue.map(|q| if q { b"q1".to_vec() } else { b"q2".to_vec() });
                let s = Arc::new(S { subject, queue, id });
                let ok = sl.insert(Arc::clone(&s)).is_ok();
                assert_eq!(ok, subject::is_valid_subject(&s.subject));
                if ok {
                    model.push(s);
                }
            }
            Cmd::Deep {
                tokens,
                repeat,
                queue,
                then_match,
            } => {
                let unit = build(&tokens, false);
                if unit.is_empty() || std::mem::replace(&mut deep_done, true) {
                    continue;
                }
                let per_unit = tokens.len().clamp(1, 6);
                let times = (usize::from(repeat) + 1).min(DEEP_TOKENS / per_unit);
                let subject = vec![unit; times].join(&b'.');
                let queue = queue.map(|q| if q { b"q1".to_vec() } else { b"q2".to_vec() });
                let s = Arc::new(S { subject, queue, id });
                let list = &mut sl;
                std::thread::scope(|scope| {
                    std::thread::Builder::new()
                        .stack_size(DEEP_STACK)
                        .spawn_scoped(scope, || deep(list, &s, then_match))
                        .expect("spawn the deep thread")
                        .join()
                        .expect("the deep command panicked");
                });
            }
            Cmd::Remove(i) => {
                if !model.is_empty() {
                    let s = model.remove(usize::from(i) % model.len());
                    assert!(sl.remove(&s));
                    assert!(!sl.remove(&s));
                }
            }
            Cmd::Match(tokens) => {
                let lit = build(&tokens, true);
                let r = sl.match_subject(&lit);
                let valid = subject::is_valid_subject(&lit);
                let mut got: Vec<usize> = r.psubs.iter().map(|s| s.id).collect();
                got.sort_unstable();
                let mut want: Vec<usize> = model
                    .iter()
                    .filter(|s| valid && s.queue.is_none() && subject::matches(&s.subject, &lit))
                    .map(|s| s.id)
                    .collect();
                want.sort_unstable();
                assert_eq!(
                    got,
                    want,
                    "plain matches for {:?}",
                    String::from_utf8_lossy(&lit)
                );
                let mut gq: Vec<Vec<usize>> = r
                    .qsubs
                    .iter()
                    .map(|g| {
                        let mut v: Vec<usize> = g.iter().map(|s| s.id).collect();
                        v.sort_unstable();
                        v
                    })
                    .collect();
                gq.sort();
                let mut wq: Vec<Vec<usize>> = [&b"q1"[..], b"q2"]
                    .iter()
                    .map(|q| {
                        let mut v: Vec<usize> = model
                            .iter()
                            .filter(|s| {
                                valid
                                    && s.queue.as_deref() == Some(*q)
                                    && subject::matches(&s.subject, &lit)
                            })
                            .map(|s| s.id)
                            .collect();
                        v.sort_unstable();
                        v
                    })
                    .filter(|v| !v.is_empty())
                    .collect();
                wq.sort();
                assert_eq!(
                    gq,
                    wq,
                    "queue matches for {:?}",
                    String::from_utf8_lossy(&lit)
                );
            }
        }
        assert_eq!(sl.count(), model.len());
    }
    for s in model.drain(..) {
        assert!(sl.remove(&s));
    }
    assert!(sl.is_pristine(), "removal left nodes behind");
});

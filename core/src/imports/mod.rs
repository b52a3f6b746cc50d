//! Imports between accounts: streams and services, as the Go server wires them.
//!
//! An import is a subscription of kind [`Dest::Cross`](crate::client::Dest::Cross) in the
//! account a message starts in; delivering to it re-delivers the message in the other
//! account, under the mapped subject, in the publisher's batch:
//!
//! - **Stream** (`B` imports stream `S` from `A`): a subscription on `S` in `A`; a message on
//!   `S` in `A` also reaches `B`'s subscribers, as `prefix.S` or `to`. Also for messages that
//!   came over a route into `A` (the other servers' imports serve their own `B` clients).
//! - **Service** (`B` imports service `S` from `A`, `to` `T`): a subscription on `T` in `B`; a
//!   request published on `T` in `B` goes to `A` on `S` (to routes too: the responder may be
//!   elsewhere) with its reply subject replaced by `_R_.<id>.<n>`; a subscription on
//!   `_R_.<id>.>` in `A` brings the responses back to the original reply subject in `B`
//!   (one for a singleton service, any number for a stream or chunked one, until the
//!   response threshold passes). A request that came over a route is not imported again: the
//!   requester's own server did it.
//!
//! Which imports may exist (exported, allowed, no cycle) is checked when the config loads.
//! Subscriptions hold the other account weakly (accounts hold subscriptions).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::account::Account;
use crate::options::ResponseType;
use crate::subject;
use crate::{FastMap, Time};

/// Most requests waiting for their responses per service import; past it the oldest are
/// forgotten (their late responses are dropped), so a responder that never answers cannot
/// grow the map without bound.
pub const MAX_PENDING_REPLIES: usize = 64 * 1024;
/// How long a request waits for responses when the export sets no threshold (Go: 2 min).
pub const DEFAULT_RESPONSE_THRESHOLD: Duration = Duration::from_secs(120);
/// Most imports one message may cross in a row (chains of stream imports are allowed; the
/// config refuses service cycles, and this bounds anything else).
pub const MAX_CROSS_DEPTH: u8 = 4;

/// How an import renames the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectMap {
    /// Unchanged.
    Same,
    /// `prefix.` + subject.
    Prefix(Box<[u8]>),
    /// `from` (the pattern imported) to `to`: literal tokens of `to` are written, each `*`
    /// or `>` of `to` takes the next wildcard token(s) of the subject in order.
    To {
        /// The pattern the subject matched.
        from: Box<[u8]>,
        /// The destination.
        to: Box<[u8]>,
    },
}

impl SubjectMap {
    /// The subject a message on `subject` gets.
    pub fn apply(&self, subj: &[u8]) -> Vec<u8> {
        match self {
            SubjectMap::Same => subj.to_vec(),
            SubjectMap::Prefix(p) => {
                let mut out = Vec::with_capacity(p.len() + 1 + subj.len());
                out.extend_from_slice(p);
                out.push(b'.');
                out.extend_from_slice(subj);
                out
            }
            SubjectMap::To { from, to } => {
                // The subject's tokens that `from`'s wildcards matched, in order.
                let mut wild: Vec<&[u8]> = Vec::new();
                let toks: Vec<&[u8]> = subject::tokens(subj).collect();
                for (i, f) in subject::tokens(from).enumerate() {
                    if f == b"*" {
                        if let Some(t) = toks.get(i) {
                            wild.push(t);
                        }
                    } else if f == b">" {
                        let rest = toks.get(i..).unwrap_or_default();
                        let tail_len = rest.iter().map(|t| t.len() + 1).sum::<usize>();
                        let start = subj.len() + 1 - tail_len.max(1);
                        wild.push(&subj[start.min(subj.len())..]);
                        break;
                    }
                }
                let mut wild = wild.into_iter();
                let mut out = Vec::with_capacity(to.len() + subj.len());
                for (i, t) in subject::tokens(to).enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    if t == b"*" || t == b">" {
                        out.extend_from_slice(wild.next().unwrap_or(t));
                    } else {
                        out.extend_from_slice(t);
                    }
                }
                out
            }
        }
    }
}

/// Responses owed to requests that went through one service import.
#[derive(Debug)]
pub struct Replies {
    /// `_R_.<id>.`: what the responder replies to, before the request's number.
    prefix: Box<[u8]>,
    response: ResponseType,
    threshold: Duration,
    state: Mutex<ReplyState>,
}

#[derive(Debug, Default)]
struct ReplyState {
    next: u64,
    /// Request number → (original reply subject, expiry).
    pending: FastMap<u64, (Box<[u8]>, Time)>,
}

impl Replies {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReplyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `reply` for a request at `now`; returns the reply subject the responder
    /// sees.
    pub fn register(&self, reply: &[u8], now: Time) -> Vec<u8> {
        let mut st = self.lock();
        if st.pending.len() >= MAX_PENDING_REPLIES {
            st.pending.retain(|_, (_, exp)| *exp > now);
            if st.pending.len() >= MAX_PENDING_REPLIES {
                // Still full of live ones: forget the oldest (lowest numbers).
                let cut = st.next.saturating_sub(MAX_PENDING_REPLIES as u64 / 2);
                st.pending.retain(|n, _| *n >= cut);
            }
        }
        st.next += 1;
        let n = st.next;
        st.pending.insert(n, (reply.into(), now + self.threshold));
        let mut out = Vec::with_capacity(self.prefix.len() + 20);
        out.extend_from_slice(&self.prefix);
        crate::proto::encode::push_uint(&mut out, n);
        out
    }

    /// The original reply subject for a response to `subj` at `now`, if still owed (a
    /// singleton's is then forgotten).
    pub fn resolve(&self, subj: &[u8], now: Time) -> Option<Box<[u8]>> {
        let n = subj.strip_prefix(&*self.prefix)?;
        let n: u64 = std::str::from_utf8(n).ok()?.parse().ok()?;
        let mut st = self.lock();
        let (reply, exp) = st.pending.get(&n)?.clone();
        if exp <= now {
            st.pending.remove(&n);
            return None;
        }
        if self.response == ResponseType::Singleton {
            st.pending.remove(&n);
        }
        Some(reply)
    }
}

/// Where a [`Dest::Cross`](crate::client::Dest::Cross) subscription sends what it gets.
#[derive(Debug)]
pub enum Cross {
    /// A stream import: into `to`, renamed by `map`.
    Stream {
        /// The importing account.
        to: Weak<Account>,
        /// The renaming.
        map: SubjectMap,
    },
    /// A service import's request side: into the exporter `to`, renamed, reply replaced.
    Request {
        /// The exporting account.
        to: Weak<Account>,
        /// Local subject → exported subject.
        map: SubjectMap,
        /// Where responses go back.
        replies: Arc<Replies>,
    },
    /// A service import's response side: back into the importer.
    Response {
        /// The importing account.
        back: Weak<Account>,
        /// The requests waiting.
        replies: Arc<Replies>,
    },
}

mod wire;

pub use wire::{rewire, system_imports, wire, wire_system, Wired, SYSTEM_IMPORTS};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_maps() {
        let m = SubjectMap::Prefix(b"p".as_slice().into());
        assert_eq!(m.apply(b"a.b"), b"p.a.b");
        let m = SubjectMap::To {
            from: b"a.*.c.>".as_slice().into(),
            to: b"x.*.y.>".as_slice().into(),
        };
        assert_eq!(m.apply(b"a.1.c.d.e"), b"x.1.y.d.e");
        let m = SubjectMap::To {
            from: b"req.a".as_slice().into(),
            to: b"svc.a".as_slice().into(),
        };
        assert_eq!(m.apply(b"req.a"), b"svc.a");
    }

    #[test]
    fn singleton_replies_resolve_once_and_expire() {
        let r = Replies {
            prefix: b"_R_.ABCDEF.".as_slice().into(),
            response: ResponseType::Singleton,
            threshold: Duration::from_secs(2),
            state: Mutex::new(ReplyState::default()),
        };
        let t0 = Time::from_nanos(1);
        let s = r.register(b"_INBOX.1", t0);
        assert_eq!(s, b"_R_.ABCDEF.1");
        assert_eq!(r.resolve(&s, t0).as_deref(), Some(&b"_INBOX.1"[..]));
        assert_eq!(r.resolve(&s, t0), None, "a singleton answers once");
        let s = r.register(b"_INBOX.2", t0);
        assert_eq!(r.resolve(&s, t0 + Duration::from_secs(3)), None, "expired");
    }
}

//! The replies a connection gets (`+OK`, `-ERR`, `PONG`), in the order the model owes
//! them.
//!
//! Usually each reply that comes is the next one owed. A publish through a weighted
//! mapping whose destinations get different replies owes one of them, or possibly none
//! (a permitted publish without `verbose`), so the replies that come can match the owed
//! ones in more than one way: `-ERR X` may be that publish's or a later one's. The model
//! then keeps every way that still fits (hypotheses: the next owed reply each expects,
//! and the destinations it assumed for the weighted publishes it went past), and drops a
//! way as soon as a reply contradicts it; none left is a violation. Once every way went
//! past a weighted publish's reply, what they assumed of it (together) is evidence of its
//! draw (see `mapping.rs`). Without weighted mappings there is one way, and this is the
//! plain ordered check.

use std::collections::BTreeMap;

use super::{ConnId, MsgId, Oracle, Reply, Violation, ViolationKind};

/// One way the replies that came match those owed.
#[derive(Debug, Clone, Default)]
pub(super) struct Hyp {
    /// Index (into the connection's owed replies) of the next one it expects.
    pos: usize,
    /// The destinations it assumed for the weighted publishes whose replies it went past
    /// (bit i: destination i).
    assumed: BTreeMap<MsgId, u64>,
}

impl Hyp {
    fn assume(&mut self, id: MsgId, mask: u64) {
        self.assumed.insert(id, mask);
    }
}

/// Adds `h` to `hyps`, merged with one at the same position (the same replies passed:
/// what they assumed is joined).
fn push(hyps: &mut Vec<Hyp>, h: Hyp) {
    match hyps.iter_mut().find(|x| x.pos == h.pos) {
        Some(x) => {
            for (id, m) in h.assumed {
                *x.assumed.entry(id).or_insert(0) |= m;
            }
        }
        None => hyps.push(h),
    }
}

/// The destinations of `options` whose reply satisfies `f`.
fn mask(options: &[Option<Reply>], f: impl Fn(&Option<Reply>) -> bool) -> u64 {
    options
        .iter()
        .enumerate()
        .filter(|(_, r)| f(r))
        .fold(0, |m, (i, _)| m | 1 << i)
}

/// Does the owed reply `owed` match the reply `got` that came?
fn matches(owed: &Reply, got: &Reply) -> bool {
    match (owed, got) {
        (Reply::Pong(_), Reply::Pong(_)) => true,
        (o, g) => o == g,
    }
}

impl Oracle {
    /// The reply `got` came on `c`: moves every way forward (a PONG is matched by kind).
    /// Returns the owed reply it matched, or what the first way expected instead (then
    /// nothing changes: tests go on after a failed check).
    fn take_reply(
        &mut self,
        c: ConnId,
        got: &Reply,
    ) -> Result<Result<Reply, Option<Reply>>, Violation> {
        let conn = &mut self.conns[c];
        let (mut next, mut matched, mut expected) = (Vec::new(), None, None);
        for mut h in conn.hyps.clone() {
            while let Some(owed) = conn.replies.get(h.pos) {
                let Reply::Drawn { id, options } = owed else {
                    if matches(owed, got) {
                        matched = Some(owed.clone());
                        h.pos += 1;
                        push(&mut next, h);
                    } else {
                        expected.get_or_insert_with(|| owed.clone());
                    }
                    break;
                };
                let fits = mask(options, |r| r.as_ref().is_some_and(|r| matches(r, got)));
                if fits != 0 {
                    let mut f = h.clone();
                    f.assume(*id, fits);
                    f.pos += 1;
                    push(&mut next, f);
                    matched.get_or_insert_with(|| got.clone());
                }
                let silent = mask(options, Option::is_none);
                if silent == 0 {
                    expected.get_or_insert_with(|| owed.clone());
                    break;
                }
                // That publish got no reply: the next owed one may be this.
                h.assume(*id, silent);
                h.pos += 1;
            }
        }
        let Some(matched) = matched.filter(|_| !next.is_empty()) else {
            return Ok(Err(expected));
        };
        self.conns[c].hyps = next;
        self.settle(c)?;
        Ok(Ok(matched))
    }

    /// Drops the owed replies every way went past; a weighted publish's is evidence: the
    /// destinations some way assumed for it.
    fn settle(&mut self, c: ConnId) -> Result<(), Violation> {
        loop {
            let conn = &mut self.conns[c];
            if conn.hyps.iter().any(|h| h.pos == 0) || conn.replies.is_empty() {
                return Ok(());
            }
            let owed = conn.replies.pop_front().expect("checked");
            let mut fits = 0;
            for h in &mut conn.hyps {
                h.pos -= 1;
                if let Reply::Drawn { id, .. } = &owed {
                    fits |= h.assumed.remove(id).unwrap_or(0);
                }
            }
            if let Reply::Drawn { id, .. } = owed {
                let what = format!("connection {c}: the replies to {id:?}");
                self.narrow(id, fits, &what)?;
            }
        }
    }

    /// Connection `c` received `+OK`: it must be the next reply owed.
    pub fn on_ok(&mut self, c: ConnId) -> Result<(), Violation> {
        match self.take_reply(c, &Reply::Ok)? {
            Ok(_) => {
                self.counts.oks += 1;
                Ok(())
            }
            Err(other) => Err(Violation::new(
                ViolationKind::ServerError,
                format!("connection {c} got +OK, expected {other:?}"),
            )),
        }
    }

    /// Connection `c` received `-ERR '<text>'`: unprompted ones the world allowed, else it
    /// must be the next reply owed.
    pub fn on_err(&mut self, c: ConnId, text: &str) -> Result<(), Violation> {
        let conn = &mut self.conns[c];
        if let Some(i) = conn.unsolicited.iter().position(|t| t == text) {
            conn.unsolicited.swap_remove(i);
            return Ok(());
        }
        match self.take_reply(c, &Reply::Err(text.to_string()))? {
            Ok(_) => {
                let n = match text {
                    t if t.starts_with("Permissions Violation") => &mut self.counts.perm_errors,
                    "Invalid Publish Subject" => &mut self.counts.pedantic_errors,
                    "maximum subscriptions exceeded" => &mut self.counts.max_subs_errors,
                    _ => &mut self.counts.max_payload_errors,
                };
                *n += 1;
                Ok(())
            }
            Err(other) => Err(Violation::new(
                ViolationKind::ServerError,
                format!("connection {c} got -ERR '{text}', expected {other:?}"),
            )),
        }
    }

    /// Connection `c` received a PONG: it answers its oldest unanswered PING, so everything
    /// owed to `c` when that PING was processed must already be here.
    pub fn on_pong(&mut self, c: ConnId) -> Result<(), Violation> {
        let pending = match self.take_reply(c, &Reply::Pong(Vec::new()))? {
            Ok(Reply::Pong(p)) => p,
            other => {
                let msg = format!("connection {c} got a PONG, expected {other:?}");
                return Err(Violation::new(ViolationKind::Flush, msg));
            }
        };
        if let Some((key, id)) = pending.into_iter().find(|k| self.pending.contains(k)) {
            let node = self.conns[c].spec.node;
            let msg = format!(
                "connection {c}: PONG overtook {id:?} on {:?} owed to sid {} ({:?})",
                String::from_utf8_lossy(&self.published[&id].subject),
                key.1,
                String::from_utf8_lossy(&self.nodes[node].subs[&key].pattern),
            );
            return Err(Violation::new(ViolationKind::Flush, msg));
        }
        Ok(())
    }

    /// At the end, on every connection never closed: every owed reply came, but for
    /// weighted publishes whose draw may have made none (evidence: it made none). Leaves
    /// the replies as they were when it fails (tests go on after a failed check).
    pub(super) fn finish_replies(&mut self) -> Result<(), Violation> {
        for c in 0..self.conns.len() {
            if self.conns[c].excused {
                continue;
            }
            let conn = &mut self.conns[c];
            let (mut done, mut blocked) = (Vec::new(), None);
            for mut h in conn.hyps.clone() {
                while let Some(owed) = conn.replies.get(h.pos) {
                    let silent = match owed {
                        Reply::Drawn { options, .. } => mask(options, Option::is_none),
                        _ => 0,
                    };
                    if silent == 0 {
                        blocked.get_or_insert_with(|| (h.pos, owed.clone()));
                        break;
                    }
                    if let Reply::Drawn { id, .. } = owed {
                        h.assume(*id, silent);
                    }
                    h.pos += 1;
                }
                if h.pos == conn.replies.len() {
                    push(&mut done, h);
                }
            }
            if done.is_empty() {
                let (pos, r) = blocked.expect("a way that did not finish stopped somewhere");
                let n = conn.replies.len() - pos;
                let (kind, msg) = match r {
                    Reply::Pong(_) => (
                        ViolationKind::Flush,
                        format!("connection {c}: {n} replies never came, first a PONG"),
                    ),
                    r => (
                        ViolationKind::ServerError,
                        format!("connection {c}: reply {r:?} never came"),
                    ),
                };
                return Err(Violation::new(kind, msg));
            }
            conn.hyps = done;
            self.settle(c)?;
        }
        Ok(())
    }
}

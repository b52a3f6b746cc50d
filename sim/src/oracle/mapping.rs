//! Subject mappings in the model (issue 12): what a client's publish becomes, and, for a
//! weighted mapping, which destination the draw picked and whether the split holds.
//!
//! # The mapping rule
//!
//! A PUB on `s` by a client whose account maps `s` (the first mapping whose source
//! matches, in configuration order) is, for every other rule of the model, a PUB on the
//! mapped subject: the publish permission and its `-ERR` text, the deliveries allowed and
//! owed, deny filters, queue groups, imports (matched on the mapped subject), routes (they
//! carry it; the node that takes it does not map again), `no_responders`. The pedantic
//! check and the reply subject keep what was published. A message dropped by its mapping
//! is published on the empty subject, as Go does: a publisher with a publish allow list
//! gets `Permissions Violation for Publish to ""`, nobody gets it, a request gets its 503.
//!
//! # Weighted mappings
//!
//! The model cannot know the draw (the publishing connection's seeded RNG). So a message
//! through a weighted mapping is *allowed* on every destination (every subscription that
//! would match one) and owed to nobody when published; its reply may be any of the
//! destinations' replies. Then evidence narrows the destinations it may have gone to: a
//! delivery or a routed copy under one destination's subject, a `-ERR` naming one, a
//! reply that did not come. All evidence must agree (a message is mapped once, at its
//! origin: else [`ViolationKind::Mapping`]). At the end:
//!
//! - *completeness*: once the evidence leaves one destination, every *witness* of it (a
//!   plain subscription on the publisher's node that surely gets the message if the draw
//!   picks that destination) on a connection never closed must have got it;
//! - *the split*: a message is *sampled* when every destination but at most one is
//!   *evident* (had the draw picked it, evidence would show it for sure: it has a witness
//!   on a connection never closed; a `-ERR` is no sure evidence, as replies may match in
//!   more than one way), which the draw does not influence, so the sample is unbiased.
//!   Its destination is the one the evidence left, else the one not evident; if every
//!   destination still possible is evident, the message reached none of its witnesses
//!   ([`ViolationKind::Missing`]). Per weighted mapping, each destination's count
//!   among the sampled messages must be within the binomial law of its weight: an exact
//!   two-sided tail below [`SPLIT_ALPHA`] (about 5.3 sigma) is a
//!   [`ViolationKind::Split`].

use std::collections::BTreeMap;

use natsd_core::subject;

use super::perms::quoted;
use super::publish::Msg;
use super::ViolationKind as K;
use super::{ConnId, ConnSpec, MsgId, Oracle, QueueOwed, Reply, SubKey, Violation};

/// The two-sided tail probability below which a weighted split is a violation.
pub const SPLIT_ALPHA: f64 = 1e-7;

/// What a mapping may do to a subject, as the model is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapTo {
    /// The template (`$N`, a trailing `>`, literal tokens) applied to the subject.
    To(Vec<u8>),
    /// The subject is kept.
    Keep,
    /// The message is dropped.
    Drop,
}

/// One mapping: its source and its outcomes with their chances in percent (adding up to
/// 100; one outcome for a plain mapping).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleModel {
    /// The source subject (a pattern).
    pub src: Vec<u8>,
    /// The outcomes and their weights.
    pub outcomes: Vec<(MapTo, u32)>,
}

/// One account's mappings, in configuration order (the first matching source wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingModel {
    /// The account (`None`: `$G`).
    pub account: Option<&'static str>,
    /// Its mappings.
    pub rules: Vec<RuleModel>,
}

/// What the model makes of a published subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Mapped {
    /// No mapping's source matches it.
    Unmapped,
    /// Published under this subject (empty: dropped) by this mapping (account and rule
    /// index).
    To((usize, usize), Vec<u8>),
    /// A weighted mapping (account and rule index): each outcome's subject (`None`:
    /// dropped) and weight.
    Drawn((usize, usize), Vec<(Option<Vec<u8>>, u32)>),
}

/// One destination of a message through a weighted mapping.
#[derive(Debug, Clone)]
pub(super) struct DrawOutcome {
    /// Its subject (`None`: dropped).
    subject: Option<Vec<u8>>,
    /// Its believed weight, in percent.
    weight: u32,
    /// The publisher may publish there.
    permitted: bool,
    /// Plain subscriptions on the publisher's node that surely get it if this is picked.
    witnesses: Vec<SubKey>,
}

/// A message through a weighted mapping.
#[derive(Debug, Clone)]
pub(super) struct DrawnMsg {
    /// The mapping (account and rule index).
    rule: (usize, usize),
    outcomes: Vec<DrawOutcome>,
    /// The outcomes the evidence still allows (bit i: outcome i).
    possible: u64,
}

/// The `-ERR` a publish on `subject` (empty: a dropped message) gets from `spec`'s
/// permissions, if refused.
pub(super) fn publish_denied(spec: &ConnSpec, subject: &[u8]) -> Option<String> {
    let p = spec.perms.as_ref()?;
    let ok = if subject.is_empty() {
        p.can_publish_nothing()
    } else {
        p.can_publish(subject)
    };
    (!ok).then(|| format!("Permissions Violation for Publish to {}", quoted(subject)))
}

/// The subject `template` makes of `subject`, which matches `src` (see
/// [`crate::mapping::apply`]).
fn apply(src: &[u8], to: &MapTo, subj: &[u8]) -> Option<Vec<u8>> {
    match to {
        MapTo::To(t) => Some(crate::mapping::apply(src, t, subj)),
        MapTo::Keep => Some(subj.to_vec()),
        MapTo::Drop => None,
    }
}

impl Oracle {
    /// The subject mappings every node is configured with.
    pub fn set_mappings(&mut self, mappings: Vec<MappingModel>) {
        self.mappings = mappings;
    }

    /// What `account`'s mappings make of a publish on `subj`. Sources are matched with
    /// the naive matcher (never the sabotaged one, which targets deliveries).
    pub(super) fn map_subject(&self, account: Option<&'static str>, subj: &[u8]) -> Mapped {
        let Some((a, m)) = self
            .mappings
            .iter()
            .enumerate()
            .find(|(_, m)| m.account == account)
        else {
            return Mapped::Unmapped;
        };
        let Some((r, rule)) = m
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| subject::matches(&r.src, subj))
        else {
            return Mapped::Unmapped;
        };
        match rule.outcomes.as_slice() {
            [(only, _)] => Mapped::To((a, r), apply(&rule.src, only, subj).unwrap_or_default()),
            all => Mapped::Drawn(
                (a, r),
                all.iter()
                    .map(|(o, w)| (apply(&rule.src, o, subj), *w))
                    .collect(),
            ),
        }
    }

    /// A publish through a weighted mapping: its reply is each destination's (the same
    /// for all, or any of them), it is allowed on each destination the publisher may
    /// publish to, owed nowhere, and its 503 owed only if no destination has anyone.
    pub(super) fn publish_drawn(
        &mut self,
        msg: &Msg<'_>,
        rule: (usize, usize),
        outcomes: Vec<(Option<Vec<u8>>, u32)>,
    ) -> Result<(), Violation> {
        let from = msg.from;
        let spec = self.conns[from].spec.clone();
        self.counts.drawn += 1;
        let replies: Vec<Option<Reply>> = outcomes
            .iter()
            .map(
                |(s, _)| match publish_denied(&spec, s.as_deref().unwrap_or_default()) {
                    Some(text) => Some(Reply::Err(text)),
                    None => spec.verbose.then_some(Reply::Ok),
                },
            )
            .collect();
        let permitted: Vec<bool> = replies
            .iter()
            .map(|r| !matches!(r, Some(Reply::Err(_))))
            .collect();
        let id = if permitted.contains(&true) {
            self.record(msg, msg.original, true)?
        } else {
            super::parse_body(msg.body)?
        };
        if replies.iter().all(|r| *r == replies[0]) {
            if let Some(r) = replies[0].clone() {
                self.conns[from].replies.push_back(r);
            }
        } else {
            let options = replies;
            self.conns[from]
                .replies
                .push_back(Reply::Drawn { id, options });
        }
        let (node, account) = (spec.node, spec.account);
        // No destination has anyone who could take it.
        let mut nobody = true;
        let mut outs = Vec::new();
        for ((subject, weight), ok) in outcomes.into_iter().zip(permitted) {
            let mut witnesses = Vec::new();
            if let (Some(s), true) = (&subject, ok) {
                let m = self.match_local(node, account, Some(from), s, id, None, true);
                nobody &= m.sure.is_empty() && !m.maybe && m.groups.is_empty();
                witnesses = m.sure;
                let (routed, mut route_groups) = self.forward(from, s, id, true);
                nobody &= !routed;
                for (q, members) in m.groups {
                    let routes = route_groups.remove(&q).unwrap_or_default();
                    let candidates = members.into_iter().map(|(k, _)| k).collect();
                    self.merge_queue(id, q, candidates, routes);
                }
                for (q, routes) in route_groups {
                    self.merge_queue(id, q, Vec::new(), routes);
                }
                let (takers, maybe) = self.match_cross(node, account, s, id, true);
                nobody &= takers.is_empty() && !maybe;
            }
            outs.push(DrawOutcome {
                subject,
                weight,
                permitted: ok,
                witnesses,
            });
        }
        let all_permitted = outs.iter().all(|o| o.permitted);
        if let (Some(reply), true, true) = (
            msg.reply,
            spec.no_responders,
            outs.iter().any(|o| o.permitted),
        ) {
            // Nobody surely takes it: the status is allowed whatever the draw, and owed
            // when no destination has anyone (a dropped message never has).
            let required = nobody && all_permitted;
            self.expect_no_responders(from, reply, id, Vec::new(), !required);
        }
        let possible = (1u64 << outs.len()) - 1;
        let d = DrawnMsg {
            rule,
            outcomes: outs,
            possible,
        };
        self.drawn.insert(id, d);
        Ok(())
    }

    /// A queue group the drawn message `id` may reach (under any of its destinations):
    /// one entry, at most one member, never owed.
    fn merge_queue(&mut self, id: MsgId, q: Vec<u8>, candidates: Vec<SubKey>, routes: Vec<usize>) {
        let qo = self.queue_owed.entry((id, q)).or_insert(QueueOwed {
            candidates: Vec::new(),
            exact: false,
            got: 0,
            routes: Vec::new(),
            routed: None,
            drawn: true,
        });
        qo.candidates.extend(candidates);
        for l in routes {
            if !qo.routes.contains(&l) {
                qo.routes.push(l);
            }
        }
    }

    /// Evidence about the drawn message `id`: only the outcomes in `fits` remain.
    pub(super) fn narrow(&mut self, id: MsgId, fits: u64, what: &str) -> Result<(), Violation> {
        let Some(d) = self.drawn.get_mut(&id) else {
            return Ok(());
        };
        let left = d.possible & fits;
        if left == 0 {
            let msg = format!(
                "{what}: but earlier evidence says it went to {:?} (mapped twice?)",
                describe(&d.outcomes, d.possible)
            );
            return Err(Violation::new(K::Mapping, msg));
        }
        d.possible = left;
        Ok(())
    }

    /// The drawn message `id` was seen in `account` under `subj` (delivered there, or
    /// routed when `account` is its own): the destinations that fit remain, and the
    /// message's subject is that destination's from now on. A subject no destination
    /// makes is a [`ViolationKind::Mapping`] (a [`ViolationKind::CrossAccount`] in an
    /// account no destination's import reaches).
    pub(super) fn seen_drawn(
        &mut self,
        id: MsgId,
        account: Option<&'static str>,
        subj: &[u8],
        what: &str,
    ) -> Result<(), Violation> {
        let p = &self.published[&id];
        let (published_in, gen) = (self.conns[p.from].spec.account, p.gen);
        let d = &self.drawn[&id];
        let (mut fits, mut actual, mut reaches) = (0u64, None, false);
        for (o, out) in d.outcomes.iter().enumerate() {
            let (Some(s), true) = (&out.subject, out.permitted) else {
                continue;
            };
            let seen_as = if account == published_in {
                Some(s.clone())
            } else {
                self.import_for(gen, published_in, s)
                    .filter(|i| i.importer == account)
                    .map(|i| i.map(s))
            };
            reaches |= seen_as.is_some();
            if seen_as.as_deref() == Some(subj) {
                fits |= 1 << o;
                actual = Some(s.clone());
            }
        }
        let Some(actual) = actual else {
            let kind = if reaches { K::Mapping } else { K::CrossAccount };
            let msg = format!(
                "{what}: published on {:?} through a weighted mapping, whose destinations are {:?}",
                String::from_utf8_lossy(&p.original),
                describe(&d.outcomes, u64::MAX)
            );
            return Err(Violation::new(kind, msg));
        };
        self.narrow(id, fits, what)?;
        self.published
            .get_mut(&id)
            .expect("looked up above")
            .subject = actual;
        Ok(())
    }

    /// The end of the run for messages through weighted mappings: completeness for the
    /// destination the evidence left, then each mapping's split (see the module doc).
    pub(super) fn finish_drawn(&mut self) -> Result<(), Violation> {
        let mut tallies: BTreeMap<(usize, usize), (Vec<u32>, Vec<u64>)> = BTreeMap::new();
        for (&id, d) in &self.drawn {
            let open = |c: ConnId| !self.conns[c].excused;
            // A `-ERR` is no sure evidence: replies may match in more than one way.
            let evident: Vec<bool> = d
                .outcomes
                .iter()
                .map(|o| o.witnesses.iter().any(|w| open(w.0)))
                .collect();
            let possible: Vec<usize> = (0..d.outcomes.len())
                .filter(|o| d.possible & (1 << o) != 0)
                .collect();
            let undecided: Vec<usize> = possible.iter().copied().filter(|&o| !evident[o]).collect();
            let picked = match (possible.as_slice(), undecided.as_slice()) {
                ([o], _) => Some(*o),
                (_, [o]) => Some(*o),
                (_, []) => {
                    let msg = format!(
                        "{id:?} through a weighted mapping reached none of the witnesses of its destinations {:?}",
                        describe(&d.outcomes, d.possible)
                    );
                    return Err(Violation::new(K::Missing, msg));
                }
                _ => None,
            };
            let Some(o) = picked else { continue };
            for &w in &d.outcomes[o].witnesses {
                let got = self.received.get(&w).is_some_and(|r| r.seen.contains(&id));
                if !got && open(w.0) {
                    let msg = format!(
                        "connection {} sid {} never got {id:?} on {:?}, where its weighted mapping sent it",
                        w.0,
                        w.1,
                        String::from_utf8_lossy(d.outcomes[o].subject.as_deref().unwrap_or_default()),
                    );
                    return Err(Violation::new(K::Missing, msg));
                }
            }
            if evident.iter().filter(|&&e| !e).count() > 1 {
                continue;
            }
            let (weights, counts) = tallies.entry(d.rule).or_insert_with(|| {
                let w = d.outcomes.iter().map(|o| o.weight).collect();
                (w, vec![0; d.outcomes.len()])
            });
            debug_assert_eq!(weights.len(), counts.len());
            counts[o] += 1;
        }
        self.counts.drawn_sampled = 0;
        for ((a, r), (weights, counts)) in tallies {
            let n: u64 = counts.iter().sum();
            self.counts.drawn_sampled += n;
            for (o, (&w, &k)) in weights.iter().zip(&counts).enumerate() {
                let (below, above) = binomial_tails(n, k, f64::from(w) / 100.0);
                let tail = below.min(above);
                if tail < SPLIT_ALPHA / 2.0 {
                    let m = &self.mappings[a];
                    let msg = format!(
                        "weighted mapping {:?} of account {}: destination {o} ({w}%) got {k} of {n} sampled messages (all: {counts:?}; tail probability {tail:.2e})",
                        String::from_utf8_lossy(&m.rules[r].src),
                        m.account.unwrap_or("$G"),
                    );
                    return Err(Violation::new(K::Split, msg));
                }
            }
        }
        Ok(())
    }
}

/// The subjects of the outcomes in `mask`, readable (`-` for a drop).
fn describe(outcomes: &[DrawOutcome], mask: u64) -> Vec<String> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(o, _)| mask & (1 << o) != 0)
        .map(|(_, o)| {
            o.subject
                .as_deref()
                .map_or("-".into(), |s| String::from_utf8_lossy(s).into_owned())
        })
        .collect()
}

/// `P(X <= k)` and `P(X >= k)` for `X ~ Binomial(n, p)`, `0 < p < 1`, summed in log space
/// (exact up to rounding for any `n`).
pub fn binomial_tails(n: u64, k: u64, p: f64) -> (f64, f64) {
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_pmf = Vec::with_capacity(n as usize + 1);
    let mut l = n as f64 * lq;
    log_pmf.push(l);
    for i in 0..n {
        l += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
        log_pmf.push(l);
    }
    let sum = |ls: &[f64]| {
        let m = ls.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if m == f64::NEG_INFINITY {
            return 0.0;
        }
        m.exp() * ls.iter().map(|x| (x - m).exp()).sum::<f64>()
    };
    let k = k.min(n) as usize;
    (sum(&log_pmf[..=k]), sum(&log_pmf[k..]))
}

#[cfg(test)]
mod tests {
    use super::binomial_tails;

    #[test]
    fn binomial_tails_are_exact_on_small_cases() {
        // Bin(2, 1/2): 1/4, 1/2, 1/4.
        let (lo, hi) = binomial_tails(2, 1, 0.5);
        assert!((lo - 0.75).abs() < 1e-12 && (hi - 0.75).abs() < 1e-12);
        let (lo, hi) = binomial_tails(10, 0, 0.1);
        assert!((lo - 0.9f64.powi(10)).abs() < 1e-12 && (hi - 1.0).abs() < 1e-12);
    }

    #[test]
    fn a_fair_split_passes_and_a_swapped_one_does_not() {
        // 1000 messages, 50% believed: 500 is the middle, 300 is far out.
        let (lo, hi) = binomial_tails(1000, 500, 0.5);
        assert!(lo > 0.5 && hi > 0.5);
        let (lo, _) = binomial_tails(1000, 300, 0.5);
        assert!(lo < 1e-30, "{lo}");
        // Large n does not underflow into a false alarm.
        let (lo, hi) = binomial_tails(100_000, 10_000, 0.1);
        assert!(lo > 0.4 && hi > 0.4, "{lo} {hi}");
    }
}

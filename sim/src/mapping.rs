//! Subject mappings drawn from the seed (issue 12), for `$G` and the accounts `A` and `B`,
//! the same on every node: what the nodes are configured with, and what the oracle is told.
//!
//! In half the seeds, each account some client is in gets mappings with probability 2/3
//! (the account of the weighted mapping always): 1..=3 plain ones between literal workload
//! subjects (`a.b -> c`), with probability 2/3 a wildcard one (`a.* -> b.$1`, `*.a ->
//! $1.b`, `*.* -> $2.$1` or `a.> -> b.>`), and in 2 of 3 of these seeds one weighted
//! mapping with two destinations of different weights (60..=80% and 10 or 20%):
//!
//! - *kept*: `* -> [u1.$1 w1%, u2.$1 w2%]`, the rest (if any) keeps its subject;
//! - *loss*: `t -> [u.t w1%, t w2%]`, the source listed itself, so the rest is dropped.
//!
//! The rules are shuffled, so a wildcard or weighted source sometimes shadows a plain one
//! listed after it (the first matching source wins). Sources are pairwise different
//! strings, and a weighted mapping's outcomes are different subjects for every subject, so
//! a delivery's subject tells which destination the draw picked.
//!
//! The outcomes and their weights the oracle is told ([`MappingSpec::outcomes`]) are this
//! module's reading of Go's rules (`accounts.go`, `processDestinations`), not the core's:
//! a remainder under 100% keeps the subject, or is dropped when the source is listed.

use natsd_core::options::{MapDest, MappingOptions};
use natsd_core::rng::Rng;

use crate::features::ACCOUNTS;
use crate::oracle::{MapTo, MappingModel, RuleModel};
use crate::workload::{self, Sabotage};

/// The core drops a message the way Go does (`Permissions Violation for Publish to ""`
/// for a publisher with a publish allow list, a 503 status for a `no_responders`
/// request). It does since the fix that `conn::mapping_tests::a_dropped_message_*` pin; with
/// `false` the loss shape would be drawn only for accounts where no user has a publish
/// allow list and no client asks for `no_responders`. The oracle models Go either way.
pub const CORE_DROPS_AS_GO: bool = true;

/// The core publishes a mapped subject that has a wildcard token, as Go does (`PUB a.*`
/// through `*.* -> $2.$1` is delivered as `*.a`). It once dropped it
/// (`conn::mapping_tests::a_mapped_wildcard_token_*` pins the fix); with `false` wildcard
/// mappings would be drawn only for accounts whose clients never publish on a subject with
/// a `*`. The oracle models Go either way.
pub const CORE_MAPS_WILDCARD_TOKENS: bool = true;

/// What the seed's other features let the draw use.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// A weighted mapping: not with `max_subscriptions`, whose count the model must know
    /// exactly, while a weighted mapping leaves a limited subscription's deliveries (and so
    /// whether it is still there) uncertain.
    pub weighted: bool,
    /// Per account: the loss shape (see [`CORE_DROPS_AS_GO`]).
    pub loss: [bool; 3],
    /// Per account: wildcard sources (see [`CORE_MAPS_WILDCARD_TOKENS`]).
    pub wildcard: [bool; 3],
}

/// One destination as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestSpec {
    /// The template (`u.$1`, `$2.$1`, `b.>`, a literal subject).
    pub template: String,
    /// Percent of the source's messages.
    pub weight: u8,
}

/// One mapping as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingSpec {
    /// The source subject (wildcards allowed).
    pub src: String,
    /// Its destinations.
    pub dests: Vec<DestSpec>,
    /// Written as a weighted list (`[{destination, weight}]`) rather than `src: dest`.
    pub weighted: bool,
}

/// What a mapping may do to a subject, with its chance (see [`MappingSpec::outcomes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published under the template applied to the subject.
    To(String),
    /// Published under its own subject (the remainder of a list that does not name the
    /// source).
    Keep,
    /// Published nowhere (the remainder of a list that names the source: Go's "they want
    /// loss").
    Drop,
}

impl MappingSpec {
    /// A plain mapping `src -> dest`.
    pub fn plain(src: &str, dest: &str) -> MappingSpec {
        MappingSpec {
            src: src.into(),
            dests: vec![DestSpec {
                template: dest.into(),
                weight: 100,
            }],
            weighted: false,
        }
    }

    /// The mapping as the core's configuration takes it.
    pub fn to_core(&self) -> MappingOptions {
        MappingOptions {
            src: self.src.clone(),
            dests: self
                .dests
                .iter()
                .map(|d| MapDest {
                    subject: d.template.clone(),
                    weight: d.weight,
                    cluster: None,
                })
                .collect(),
            weighted: self.weighted,
        }
    }

    /// Every outcome with a chance above zero, with that chance in percent (they add up to
    /// 100): the destinations as weighted, and the remainder under 100% kept, or dropped
    /// when a destination is the source itself.
    pub fn outcomes(&self) -> Vec<(Outcome, u32)> {
        let mut out: Vec<(Outcome, u32)> = self
            .dests
            .iter()
            .filter(|d| d.weight > 0)
            .map(|d| (Outcome::To(d.template.clone()), u32::from(d.weight)))
            .collect();
        let total: u32 = self.dests.iter().map(|d| u32::from(d.weight)).sum();
        if total < 100 {
            let listed = self.dests.iter().any(|d| d.template == self.src);
            let rest = if listed { Outcome::Drop } else { Outcome::Keep };
            out.push((rest, 100 - total));
        }
        out
    }

    /// More than one outcome: which one a message gets is drawn.
    pub fn is_drawn(&self) -> bool {
        self.outcomes().len() > 1
    }
}

/// One account's mappings, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMappings {
    /// The account, an index into [`crate::features::ACCOUNTS`] (0 is `$G`).
    pub account: usize,
    /// Its mappings, the first matching source wins.
    pub rules: Vec<MappingSpec>,
}

/// The subject `template` makes of `subject`, which matches `src`: `$N` is the subject's
/// token under the source's N-th `*`, a trailing `>` the tokens under the source's `>`,
/// anything else literal. The model's own, written from Go's documentation.
pub fn apply(src: &[u8], template: &[u8], subject: &[u8]) -> Vec<u8> {
    let subj: Vec<&[u8]> = subject.split(|&b| b == b'.').collect();
    let mut stars: Vec<&[u8]> = Vec::new();
    let mut rest: &[&[u8]] = &[];
    for (i, t) in src.split(|&b| b == b'.').enumerate() {
        match t {
            b"*" => stars.push(subj.get(i).copied().unwrap_or_default()),
            b">" => rest = subj.get(i..).unwrap_or_default(),
            _ => {}
        }
    }
    let mut out: Vec<&[u8]> = Vec::new();
    for t in template.split(|&b| b == b'.') {
        match t {
            b">" => out.extend_from_slice(rest),
            [b'$', n @ ..] => {
                let n: usize = std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .expect("the draw writes $N with a number");
                out.push(stars[n - 1]);
            }
            _ => out.push(t),
        }
    }
    out.join(&b'.')
}

/// The mappings of one seed: none in half the seeds; `accounts` are the clients'
/// accounts (all 0 without auth). Its own stream, so the other features draw as without
/// it.
pub fn draw(seed: u64, accounts: &[usize], allowed: Allowed) -> Vec<AccountMappings> {
    let mut r = Rng::fork(seed, 0x3A99_0000);
    if r.below(2) == 0 {
        return Vec::new();
    }
    let mut used: Vec<usize> = accounts.to_vec();
    used.sort_unstable();
    used.dedup();
    if used.is_empty() {
        used.push(0);
    }
    let weighted = (r.below(3) != 0)
        .then(|| used[r.below(used.len() as u64) as usize])
        .filter(|_| allowed.weighted);
    let mut out = Vec::new();
    for &a in &used {
        if weighted != Some(a) && r.below(3) == 0 {
            continue;
        }
        let mut rules: Vec<MappingSpec> = Vec::new();
        for _ in 0..1 + r.below(3) {
            let src = String::from_utf8(workload::literal_subject(&mut r)).expect("ASCII");
            let dest = String::from_utf8(workload::literal_subject(&mut r)).expect("ASCII");
            if src != dest && !rules.iter().any(|m| m.src == src) {
                rules.push(MappingSpec::plain(&src, &dest));
            }
        }
        if r.below(3) != 0 && (CORE_MAPS_WILDCARD_TOKENS || allowed.wildcard[a]) {
            rules.push(draw_wildcard(&mut r));
        }
        if weighted == Some(a) {
            let loss = r.below(3) == 0 && (CORE_DROPS_AS_GO || allowed.loss[a]);
            let m = draw_weighted(&mut r, loss);
            // A plain rule on the same source would be replaced by it (Go): keep one.
            rules.retain(|x| x.src != m.src);
            rules.push(m);
        }
        // Shuffled: the first matching source wins, whatever its kind.
        for i in (1..rules.len()).rev() {
            rules.swap(i, r.below(i as u64 + 1) as usize);
        }
        out.push(AccountMappings { account: a, rules });
    }
    out
}

/// Two different tokens of the workload's alphabet.
fn two_tokens(r: &mut Rng) -> (&'static str, &'static str) {
    const T: [&str; 3] = ["a", "b", "c"];
    let i = r.below(3) as usize;
    let j = (i + 1 + r.below(2) as usize) % 3;
    (T[i], T[j])
}

fn draw_wildcard(r: &mut Rng) -> MappingSpec {
    let (t, u) = two_tokens(r);
    let (src, dest) = match r.below(4) {
        0 => (format!("{t}.*"), format!("{u}.$1")),
        1 => (format!("*.{t}"), format!("$1.{u}")),
        2 => ("*.*".to_string(), "$2.$1".to_string()),
        _ => (format!("{t}.>"), format!("{u}.>")),
    };
    MappingSpec::plain(&src, &dest)
}

/// The weighted mapping: two destinations, the first much heavier (60..=80%, the second
/// 10 or 20%), so that believing them swapped is a skew the split check sees in a few
/// dozen messages.
fn draw_weighted(r: &mut Rng, loss: bool) -> MappingSpec {
    let w1 = 60 + 10 * r.below(3) as u8;
    let w2 = 10 + 10 * r.below(2) as u8;
    let (u1, u2) = two_tokens(r);
    let (src, d1, d2) = if loss {
        // `t -> [u.t, t]`: u and t differ, so the outcomes `u.t`, `t` and nothing do.
        let (t, u) = (u2, u1);
        (t.to_string(), format!("{u}.{t}"), t.to_string())
    } else {
        ("*".to_string(), format!("{u1}.$1"), format!("{u2}.$1"))
    };
    MappingSpec {
        src,
        dests: vec![
            DestSpec {
                template: d1,
                weight: w1,
            },
            DestSpec {
                template: d2,
                weight: w2,
            },
        ],
        weighted: true,
    }
}

/// Patterns on which the mappings of `m` publish (each destination with `$N` as `*`, and
/// a drawn mapping's source for the share it keeps): clients of the account subscribe to
/// them now and then, so mapped subjects meet subscriptions and each destination of a
/// weighted mapping has witnesses.
pub fn patterns(m: &AccountMappings) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for rule in &m.rules {
        for (o, _) in rule.outcomes() {
            let p = match o {
                Outcome::To(t) => t
                    .split('.')
                    .map(|t| if t.starts_with('$') { "*" } else { t })
                    .collect::<Vec<_>>()
                    .join("."),
                Outcome::Keep => rule.src.clone(),
                Outcome::Drop => continue,
            };
            if !out.iter().any(|x| x == p.as_bytes()) {
                out.push(p.into_bytes());
            }
        }
    }
    out
}

/// The mappings as the oracle is told them, with the planted bugs of
/// [`Sabotage::ForgetMapping`] (the first mapping left out) and [`Sabotage::SkewWeights`]
/// (the weighted mapping's two destination weights swapped).
pub fn models(mappings: &[AccountMappings], sabotage: Option<Sabotage>) -> Vec<MappingModel> {
    let mut forget = sabotage == Some(Sabotage::ForgetMapping);
    mappings
        .iter()
        .map(|m| {
            let mut rules: Vec<RuleModel> = m.rules.iter().map(MappingSpec::model).collect();
            if std::mem::take(&mut forget) && !rules.is_empty() {
                rules.remove(0);
            }
            if sabotage == Some(Sabotage::SkewWeights) {
                for r in rules.iter_mut().filter(|r| r.outcomes.len() > 1) {
                    let (a, b) = (r.outcomes[0].1, r.outcomes[1].1);
                    r.outcomes[0].1 = b;
                    r.outcomes[1].1 = a;
                }
            }
            MappingModel {
                account: ACCOUNTS[m.account],
                rules,
            }
        })
        .collect()
}

impl MappingSpec {
    /// The mapping as the oracle takes it: its source and [`MappingSpec::outcomes`].
    pub fn model(&self) -> RuleModel {
        let outcomes = self
            .outcomes()
            .into_iter()
            .map(|(o, w)| {
                let to = match o {
                    Outcome::To(t) => MapTo::To(t.into_bytes()),
                    Outcome::Keep => MapTo::Keep,
                    Outcome::Drop => MapTo::Drop,
                };
                (to, w)
            })
            .collect();
        RuleModel {
            src: self.src.clone().into_bytes(),
            outcomes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_apply_as_go_documents_them() {
        assert_eq!(apply(b"a.*", b"b.$1", b"a.c"), b"b.c");
        assert_eq!(apply(b"*.*", b"$2.$1", b"a.b"), b"b.a");
        assert_eq!(apply(b"a.>", b"b.>", b"a.c.b"), b"b.c.b");
        assert_eq!(apply(b"*", b"u.$1", b"c"), b"u.c");
        assert_eq!(apply(b"a.b", b"c", b"a.b"), b"c");
    }

    #[test]
    fn remainders_are_kept_or_dropped() {
        let w = |src: &str, d: &[(&str, u8)]| MappingSpec {
            src: src.into(),
            dests: d
                .iter()
                .map(|&(t, weight)| DestSpec {
                    template: t.into(),
                    weight,
                })
                .collect(),
            weighted: true,
        };
        let kept = w("*", &[("a.$1", 50), ("b.$1", 30)]).outcomes();
        assert_eq!(kept[2], (Outcome::Keep, 20));
        let loss = w("c", &[("a.c", 60), ("c", 20)]).outcomes();
        assert_eq!(loss[2], (Outcome::Drop, 20));
        assert!(!MappingSpec::plain("a", "b").is_drawn());
        assert_eq!(w("c", &[("a.c", 70), ("b.c", 30)]).outcomes().len(), 2);
    }

    #[test]
    fn about_half_the_seeds_map_and_weighted_ones_are_asymmetric() {
        let mut mapped = 0;
        for seed in 0..200 {
            let all = Allowed {
                weighted: true,
                loss: [true; 3],
                wildcard: [true; 3],
            };
            let m = draw(seed, &[0, 1, 2], all);
            mapped += usize::from(!m.is_empty());
            let drawn: Vec<&MappingSpec> = m
                .iter()
                .flat_map(|a| &a.rules)
                .filter(|r| r.is_drawn())
                .collect();
            assert!(drawn.len() <= 1, "seed {seed}: {drawn:?}");
            for r in drawn {
                assert!(r.dests[0].weight > r.dests[1].weight, "{r:?}");
            }
            for a in &m {
                let mut srcs: Vec<&str> = a.rules.iter().map(|r| r.src.as_str()).collect();
                srcs.sort_unstable();
                srcs.dedup();
                assert_eq!(srcs.len(), a.rules.len(), "seed {seed}: a source twice");
            }
        }
        assert!((70..130).contains(&mapped), "{mapped}/200");
    }
}

//! Subject mappings (`mappings { … }`): a message published on a subject that matches a
//! mapping's source goes out under the subject of one of its destinations, as in Go.
//!
//! Semantics copied from the Go server (`accounts.go`: `AddWeightedMappings`,
//! `selectMappedSubject`; `parser.go`, where the mapping runs):
//!
//! - Applied to messages from clients only, before the publish permission check (so
//!   permissions see the mapped subject), never to messages from routes (the origin server
//!   mapped them) and never to the reply subject.
//! - The first mapping whose source matches wins (Go walks a map in random order; we walk
//!   the file's order, which makes overlapping sources deterministic).
//! - Destinations carry weights (a plain `a: b` is `b` at 100%). When they total under 100%
//!   and the source itself is not a destination, the source is added with the rest, so that
//!   share keeps its subject; when the source is listed explicitly the rest is dropped ("they
//!   want loss", says Go). The draw comes from the publishing connection's seeded RNG, so the
//!   simulator can check the split.
//! - A destination may be scoped to a cluster (`cluster: name`); a server in that cluster
//!   uses those destinations for the source, other servers the unscoped ones.

mod transform;

pub use transform::{Transform, TransformError};

use crate::options::MappingOptions;
use crate::rng::Rng;
use crate::subject;

/// Most mappings per account: each publish may walk them all, so they are bounded.
pub const MAX_MAPPINGS: usize = 1024;

/// One destination, with the cumulative weight below which a draw picks it.
#[derive(Debug, Clone)]
struct Dest {
    tr: Transform,
    upto: u8,
    /// The destination as written (for `/accountz`).
    written: Box<str>,
}

/// One source and its destinations.
#[derive(Debug, Clone)]
struct Mapping {
    src: Box<[u8]>,
    literal: bool,
    dests: Vec<Dest>,
}

/// What a mapping made of a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// No mapping's source matched: the subject stays.
    Unmapped,
    /// The new subject.
    To(Vec<u8>),
    /// The draw fell in the share the config left to nobody: the message goes nowhere.
    Drop,
}

/// An account's compiled mappings.
#[derive(Debug, Clone, Default)]
pub struct Mappings {
    list: Vec<Mapping>,
}

impl Mappings {
    /// Compiles `opts` for a server in `cluster`. On error: the index of the failing
    /// mapping in `opts` and Go's message for it (`Error adding mapping for "a" …`).
    pub fn compile(
        opts: &[MappingOptions],
        cluster: Option<&str>,
    ) -> Result<Mappings, (usize, String)> {
        let mut list = Vec::with_capacity(opts.len());
        for (i, m) in opts.iter().enumerate() {
            let mapping = compile_one(m, cluster).map_err(|e| (i, e))?;
            // A later mapping of the same source replaces the earlier one (Go).
            match list
                .iter_mut()
                .find(|x: &&mut Mapping| x.src == mapping.src)
            {
                Some(x) => *x = mapping,
                None => list.push(mapping),
            }
        }
        Ok(Mappings { list })
    }

    /// Each source with its destinations as written and their cumulative weights, the
    /// share kept by the source included (what Go shows in `/accountz?acc=`).
    pub fn describe(&self) -> Vec<(String, Vec<(String, u8)>)> {
        self.list
            .iter()
            .map(|m| {
                let src = String::from_utf8_lossy(&m.src).into_owned();
                let dests = m
                    .dests
                    .iter()
                    .map(|d| (d.written.to_string(), d.upto))
                    .collect();
                (src, dests)
            })
            .collect()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Maps a published (literal) subject.
    pub fn select(&self, subj: &[u8], rng: &mut Rng) -> Mapped {
        let Some(m) = self.list.iter().find(|m| {
            if m.literal {
                *m.src == *subj
            } else {
                subject::matches(&m.src, subj)
            }
        }) else {
            return Mapped::Unmapped;
        };
        let d = match m.dests.as_slice() {
            [only] if only.upto == 100 => only,
            dests => {
                let w = rng.below(100) as u8;
                match dests.iter().find(|d| w < d.upto) {
                    Some(d) => d,
                    None => return Mapped::Drop,
                }
            }
        };
        let toks: Vec<&[u8]> = subject::tokens(subj).collect();
        let out = d.tr.apply(&toks, rng);
        // A function can make an empty token (`{{split(1,-)}}` of `-`): Go delivers such a
        // subject to nobody. A wildcard token the publisher wrote (`PUB a.*`, allowed
        // without `pedantic`) is kept, as Go keeps it (found by the simulator).
        if !out.is_empty() && subject::tokens(&out).all(|t| !t.is_empty()) {
            Mapped::To(out)
        } else {
            Mapped::Drop
        }
    }
}

fn compile_one(m: &MappingOptions, cluster: Option<&str>) -> Result<Mapping, String> {
    let src = &m.src;
    if !subject::is_valid_subject(src.as_bytes()) {
        return Err(format!("Subject {src:?} is not a valid subject"));
    }
    let plain = || match m.dests.as_slice() {
        [d] if !m.weighted => Some(d.subject.as_str()),
        _ => None,
    };
    let fail = |e: String| match plain() {
        Some(d) => format!("Error adding mapping for {src:?} to {d:?} : {e}"),
        None => format!("Error adding mapping for {src:?} : {e}"),
    };
    let mut seen = Vec::new();
    let mut total: Vec<(Option<&str>, u32)> = Vec::new();
    let (mut main, mut scoped) = (Vec::new(), Vec::new());
    for d in &m.dests {
        if seen.contains(&d.subject.as_str()) {
            return Err(fail(format!("duplicate entry for {:?}", d.subject)));
        }
        seen.push(&d.subject);
        if d.weight > 100 {
            return Err(fail("individual weights need to be <= 100".into()));
        }
        let c = d.cluster.as_deref();
        let sum = match total.iter_mut().find(|(k, _)| *k == c) {
            Some((_, s)) => s,
            None => {
                total.push((c, 0));
                &mut total.last_mut().expect("just pushed").1
            }
        };
        *sum += u32::from(d.weight);
        if *sum > 100 {
            return Err(fail("total weight needs to be <= 100".into()));
        }
        let tr = Transform::new(src, &d.subject).map_err(|e| fail(e.0))?;
        let entry = (tr, d.weight, d.subject.clone());
        match c {
            None => main.push(entry),
            Some(name) if Some(name) == cluster => scoped.push(entry),
            // Another cluster's destinations: checked, then not used on this server.
            Some(_) => {}
        }
    }
    let has_scoped = m
        .dests
        .iter()
        .any(|d| d.cluster.as_deref() == cluster && cluster.is_some());
    let chosen = if has_scoped { scoped } else { main };
    let dests = finish(src, chosen, seen.contains(&src.as_str())).map_err(fail)?;
    Ok(Mapping {
        src: src.as_bytes().into(),
        literal: subject::is_literal(src.as_bytes()),
        dests,
    })
}

/// Adds the source for the weight left over (unless listed), sorts by weight and makes the
/// weights cumulative, as Go's `processDestinations`.
fn finish(
    src: &str,
    mut d: Vec<(Transform, u8, String)>,
    src_listed: bool,
) -> Result<Vec<Dest>, String> {
    let total: u32 = d.iter().map(|(_, w, _)| u32::from(*w)).sum();
    if total != 100 && !src_listed {
        // Each `*` of the source becomes `$N`, so the subject keeps its own tokens.
        let mut n = 0;
        let same: Vec<String> = src
            .split('.')
            .map(|t| {
                if t == "*" {
                    n += 1;
                    format!("${n}")
                } else {
                    t.to_string()
                }
            })
            .collect();
        let same = same.join(".");
        let tr = Transform::new(src, &same).map_err(|e| e.0)?;
        let w = if d.is_empty() { 100 } else { 100 - total as u8 };
        d.push((tr, w, same));
    }
    // Stable, as Go's sort of a few entries in practice (equal weights keep file order).
    d.sort_by_key(|(_, w, _)| *w);
    let mut upto = 0u8;
    Ok(d.into_iter()
        .map(|(tr, w, written)| {
            upto = upto.saturating_add(w);
            Dest {
                tr,
                upto,
                written: written.into(),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests;

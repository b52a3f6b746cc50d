//! `mappings { … }` (alias `maps`), at the top level (the global account) and inside an
//! account, with Go's forms and errors (`opts.go parseAccountMappings`,
//! `parseAccountMapDest`):
//!
//! ```text
//! mappings {
//!   foo: bar                                   # plain
//!   "orders.*.*": "x.$2.{{wildcard(1)}}"       # wildcard tokens
//!   w: [{destination: w1, weight: 40%}, {dest: w2, weight: 60, cluster: east}]
//!   one: {destination: two, weight: 50%}       # a single weighted destination
//! }
//! ```
//!
//! Each mapping is compiled while loading (see [`crate::mapping::Mappings::compile`]), so a
//! bad destination is refused with its position, never at the first publish.

use super::typed::Typer;
use super::value::{Entry, Node, Value};
use crate::mapping::Mappings;
use crate::options::{MapDest, MappingOptions};

/// Most mappings in one block (see [`crate::mapping::MAX_MAPPINGS`]).
const MAX: usize = crate::mapping::MAX_MAPPINGS;

/// Types a `mappings` block.
pub(crate) fn mappings(t: &mut Typer, e: &Entry) -> Vec<MappingOptions> {
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Expected mappings to be a map, got {got}"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for x in m.iter() {
        if x.used_as_variable {
            continue;
        }
        if out.len() == MAX {
            t.error(x, format!("too many mappings: at most {MAX} per account"));
            break;
        }
        let dests = match &x.node.value {
            Value::String(s) => Some((
                vec![MapDest {
                    subject: s.clone(),
                    weight: 100,
                    cluster: None,
                }],
                false,
            )),
            Value::Array(items) => items
                .iter()
                .map(|n| dest(t, n))
                .collect::<Option<Vec<_>>>()
                .map(|v| (v, true)),
            Value::Map(_) => dest(t, &x.node).map(|d| (vec![d], true)),
            v => {
                let got = v.type_name();
                t.error(x, format!("Unknown type {got} for mapping destination"));
                None
            }
        };
        let Some((dests, weighted)) = dests else {
            continue;
        };
        let mapping = MappingOptions {
            src: x.key.clone(),
            dests,
            weighted,
        };
        // Compiled here for its errors; the server compiles again for its own cluster.
        if let Err((_, msg)) = Mappings::compile(std::slice::from_ref(&mapping), None) {
            t.error(x, msg);
            continue;
        }
        out.push(mapping);
    }
    out
}

/// One `{destination, weight, cluster}` map.
fn dest(t: &mut Typer, n: &Node) -> Option<MapDest> {
    let Value::Map(m) = &n.value else {
        t.error_at(n, "Expected an entry for the mapping destination");
        return None;
    };
    let mut d = MapDest::default();
    let mut has_weight = false;
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "dest" | "destination" => d.subject = t.string(x)?,
            "weight" => {
                let w = match &x.node.value {
                    Value::String(s) => {
                        let s = s.strip_suffix('%').unwrap_or(s);
                        match s.parse::<i64>() {
                            Ok(w) => w,
                            Err(_) => {
                                t.error(x, format!("Invalid weight {s:?} for mapping destination"));
                                return None;
                            }
                        }
                    }
                    Value::Integer(w) => *w,
                    v => {
                        let got = v.type_name();
                        t.error(x, format!("Unknown entry type for weight of {got}"));
                        return None;
                    }
                };
                match u8::try_from(w) {
                    Ok(w) if w <= 100 => d.weight = w,
                    _ => {
                        t.error(x, format!("Invalid weight {w} for mapping destination"));
                        return None;
                    }
                }
                has_weight = true;
            }
            "cluster" => d.cluster = Some(t.string(x)?),
            _ => {
                t.error(
                    x,
                    format!("Unknown field {:?} for mapping destination", x.key),
                );
                return None;
            }
        }
    }
    if !has_weight {
        t.error_at(
            n,
            format!("Missing weight for mapping destination {:?}", d.subject),
        );
        return None;
    }
    Some(d)
}

#[cfg(test)]
#[path = "mappings_tests.rs"]
mod tests;

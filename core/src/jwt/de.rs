//! JSON helpers that make serde read claims as Go's `encoding/json` does.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Removes every `null` member of every object, at any depth: Go leaves a field untouched on
/// `null`, which is what serde's `default` does for a member that is absent. Recursion depth
/// is bounded by serde_json's parser (128 levels).
pub(super) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A JSON string as Go's `json.Marshal` writes it (`<`, `>`, `&`, U+2028 and U+2029 escaped).
pub(super) fn go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `CIDRList`: a JSON array of strings taken as is, or one comma-separated string whose
/// entries are lowercased, trimmed, de-duplicated, empty ones dropped.
pub(super) fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(l) => l,
        Either::Text(t) => {
            // A set for the duplicates: a long list must not cost quadratic time.
            let mut seen = std::collections::BTreeSet::new();
            let mut out = Vec::new();
            for e in t.to_lowercase().split(',') {
                let e = e.trim().to_lowercase();
                if !e.is_empty() && seen.insert(e.clone()) {
                    out.push(e);
                }
            }
            out
        }
    })
}

/// Go's `time.Duration` in JSON: integer nanoseconds.
pub(super) type Nanos = i64;

//! `cluster { rebalance: { … } }` (ours; the syntax is the issue's, kept exactly):
//!
//! ```text
//! cluster {
//!   rebalance: { enabled: true, max_moves_per_sec: 10, abs_threshold: 5, rel_threshold: 1.1,
//!                cooldown: "10s", dry_run: false, refuse_new_when_over: false }
//! }
//! ```
//!
//! Every key but `enabled` is optional (defaults in [`RebalanceOptions`]). Go has no such
//! block: a Go server refuses it as an unknown field, so a config that uses it is ours.

use super::typed::Typer;
use super::value::{Entry, Value};
use crate::options::RebalanceOptions;

/// Types a `rebalance` block; `None` if it had errors (recorded).
pub(crate) fn rebalance(t: &mut Typer, e: &Entry) -> Option<RebalanceOptions> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(e, format!("Expected rebalance to be a map, got {got}"));
        return None;
    };
    let mut r = RebalanceOptions::default();
    let mut enabled_seen = false;
    for x in m.iter() {
        match x.key.to_ascii_lowercase().as_str() {
            "enabled" => {
                enabled_seen = true;
                if let Some(b) = t.bool(x) {
                    r.enabled = b;
                }
            }
            "max_moves_per_sec" => match t.count(x, u64::from(u32::MAX)) {
                Some(0) => t.error(x, "max_moves_per_sec must be at least 1"),
                Some(n) => r.max_moves_per_sec = u32::try_from(n).unwrap_or(u32::MAX),
                None => {}
            },
            "abs_threshold" => {
                if let Some(n) = t.count(x, u64::from(u32::MAX)) {
                    r.abs_threshold = u32::try_from(n).unwrap_or(u32::MAX);
                }
            }
            "rel_threshold" => {
                let v = match x.node.value {
                    Value::Float(f) => Some(f),
                    Value::Integer(i) => Some(i as f64),
                    _ => None,
                };
                match v {
                    Some(f) if f.is_finite() && f >= 1.0 => r.rel_threshold = f,
                    Some(f) => t.error(x, format!("rel_threshold must be at least 1, got {f}")),
                    None => {
                        let got = x.node.value.type_name();
                        t.error(x, format!("rel_threshold expects a number, got {got}"));
                    }
                }
            }
            "cooldown" => {
                if let Some(d) = t.duration(x, "cooldown") {
                    r.cooldown = d;
                }
            }
            "dry_run" => {
                if let Some(b) = t.bool(x) {
                    r.dry_run = b;
                }
            }
            "refuse_new_when_over" => {
                if let Some(b) = t.bool(x) {
                    r.refuse_new_when_over = b;
                }
            }
            _ => t.unknown(x),
        }
    }
    if !enabled_seen {
        t.error(e, "rebalance needs \"enabled\" (true or false)");
    }
    (t.errors.len() == before).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::super::tests::load_str;
    use crate::options::RebalanceOptions;
    use std::time::Duration;

    fn rebalance(conf: &str) -> Option<RebalanceOptions> {
        let l = load_str(conf).unwrap();
        l.config.options.cluster.and_then(|c| c.rebalance)
    }

    #[test]
    fn the_issues_syntax_and_defaults() {
        let r = rebalance(concat!(
            "cluster { listen: 127.0.0.1:-1, rebalance: { enabled: true, max_moves_per_sec: 10, ",
            "abs_threshold: 5, rel_threshold: 1.1, cooldown: \"10s\", dry_run: false } }\n"
        ))
        .unwrap();
        assert_eq!(
            r,
            RebalanceOptions {
                enabled: true,
                ..RebalanceOptions::default()
            }
        );
        let r = rebalance(concat!(
            "cluster { listen: 127.0.0.1:-1, rebalance: { enabled: true, cooldown: \"1m\", ",
            "rel_threshold: 2, refuse_new_when_over: true, dry_run: true } }\n"
        ))
        .unwrap();
        assert_eq!(r.cooldown, Duration::from_secs(60));
        assert_eq!(r.rel_threshold, 2.0);
        assert!(r.refuse_new_when_over && r.dry_run);
        assert_eq!(r.max_moves_per_sec, 10);
    }

    #[test]
    fn bad_values_are_errors_with_positions() {
        for (block, want) in [
            ("{ max_moves_per_sec: 3 }", "rebalance needs \"enabled\""),
            (
                "{ enabled: true, max_moves_per_sec: 0 }",
                "max_moves_per_sec must be at least 1",
            ),
            (
                "{ enabled: true, rel_threshold: 0.5 }",
                "rel_threshold must be at least 1",
            ),
            ("{ enabled: true, cooldown: \"-1s\" }", "negative duration"),
            ("{ enabled: true, speed: 3 }", "unknown field \"speed\""),
        ] {
            let conf = format!("cluster {{\n  listen: 127.0.0.1:-1\n  rebalance: {block}\n}}\n");
            let d = load_str(&conf).unwrap_err();
            let shown = d.to_string();
            assert!(
                shown.contains(want) && shown.contains("t.conf:3:"),
                "{block}: {shown}"
            );
        }
    }
}

//! `publish_rate: { msgs, bytes, burst_msgs, burst_bytes, action }` (ours: the Go server has
//! no publish rate limit), accepted at the top level, in a user entry and in an account.

use super::typed::Typer;
use super::value::{Entry, Value};
use crate::options::{RateAction, RateLimit};

/// Types a `publish_rate` block; `None` if it had errors (already recorded).
pub(crate) fn publish_rate(t: &mut Typer, e: &Entry) -> Option<RateLimit> {
    let before = t.errors.len();
    let Value::Map(m) = &e.node.value else {
        let got = e.node.value.type_name();
        t.error(
            e,
            format!("Expected publish_rate to be a map/struct, got {got}"),
        );
        return None;
    };
    let mut r = RateLimit::default();
    for x in m.iter() {
        let positive = |t: &mut Typer| match t.int(x) {
            Some(v) if v > 0 => u64::try_from(v).ok(),
            Some(v) => {
                t.error(x, format!("{} must be positive, got {v}", x.key));
                None
            }
            None => None,
        };
        match x.key.to_ascii_lowercase().as_str() {
            "msgs" => r.msgs = positive(t),
            "bytes" => r.bytes = positive(t),
            "burst_msgs" => r.burst_msgs = positive(t),
            "burst_bytes" => r.burst_bytes = positive(t),
            "action" => match &x.node.value {
                Value::String(s) => {
                    r.action = match s.to_ascii_lowercase().as_str() {
                        "backpressure" => RateAction::Backpressure,
                        "drop" => RateAction::Drop,
                        "disconnect" => RateAction::Disconnect,
                        _ => {
                            t.error(
                                x,
                                format!("unknown publish_rate action {s:?} (expected backpressure, drop or disconnect)"),
                            );
                            continue;
                        }
                    }
                }
                v => {
                    let got = v.type_name();
                    t.error(x, format!("Expected action to be a string, got {got}"));
                }
            },
            _ => t.unknown(x),
        }
    }
    (t.errors.len() == before).then_some(r)
}

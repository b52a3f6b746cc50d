//! The naive permission model: the Go server's rules, written out plainly over the naive
//! matcher (`subject::matches`; never the sabotaged one, which targets delivery matching),
//! independent of `natsd_core::auth`.
//!
//! - Publish: allowed iff the allow list is absent or one of its patterns matches the
//!   subject, and no deny pattern matches it.
//! - Subscribe: the same, with the SUB's subject taken as literal text (a `*` in it is
//!   matched only by wildcards in the list: allow `a.*` permits `SUB a.*`, allow `a.b`
//!   does not).
//! - Delivery: a message whose subject matches a subscribe-deny pattern is not delivered,
//!   even on a wider wildcard subscription that was allowed; for a queue group the server
//!   then tries the next member, so such a member is no candidate at all.
//! - Texts: `Permissions Violation for Publish to "<subject>"`, `... for Subscription to
//!   "<subject>"`, with ` using queue "<queue>"` for a queue subscription.

use natsd_core::subject::matches;

use crate::features::{ListSpec, PermSpec};

/// Compiled permissions of one user, as the oracle applies them.
#[derive(Debug, Clone, Default)]
pub struct PermModel {
    publish: Option<Lists>,
    subscribe: Option<Lists>,
}

#[derive(Debug, Clone)]
struct Lists {
    allow: Option<Vec<Vec<u8>>>,
    deny: Vec<Vec<u8>>,
}

impl Lists {
    fn of(l: &ListSpec) -> Lists {
        Lists {
            allow: l
                .allow
                .as_ref()
                .map(|a| a.iter().map(|s| s.as_bytes().to_vec()).collect()),
            deny: l.deny.iter().map(|s| s.as_bytes().to_vec()).collect(),
        }
    }

    fn permits(&self, subject: &[u8]) -> bool {
        let allowed = self
            .allow
            .as_ref()
            .is_none_or(|a| a.iter().any(|p| matches(p, subject)));
        allowed && !self.denies(subject)
    }

    fn denies(&self, subject: &[u8]) -> bool {
        self.deny.iter().any(|p| matches(p, subject))
    }
}

impl PermModel {
    /// The model of `spec`.
    pub fn of(spec: &PermSpec) -> PermModel {
        PermModel {
            publish: spec.publish.as_ref().map(Lists::of),
            subscribe: spec.subscribe.as_ref().map(Lists::of),
        }
    }

    /// May the user publish to `subject`?
    pub fn can_publish(&self, subject: &[u8]) -> bool {
        self.publish.as_ref().is_none_or(|l| l.permits(subject))
    }

    /// May the user publish a message its mapping dropped? Go checks the empty subject,
    /// which no allow pattern matches and no deny pattern either.
    pub fn can_publish_nothing(&self) -> bool {
        self.publish.as_ref().is_none_or(|l| l.allow.is_none())
    }

    /// May the user subscribe to `subject` (literal text)?
    pub fn can_subscribe(&self, subject: &[u8]) -> bool {
        self.subscribe.as_ref().is_none_or(|l| l.permits(subject))
    }

    /// Does the user's subscribe-deny list hold back a message on `subject`?
    pub fn filters(&self, subject: &[u8]) -> bool {
        self.subscribe.as_ref().is_some_and(|l| l.denies(subject))
    }
}

/// A subject as Go's `%q` prints it (the workload's subjects are plain ASCII).
pub(super) fn quoted(s: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(s))
}

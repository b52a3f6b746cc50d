//! User JWTs (Go's `UserClaims`, `UserPermissionLimits` and the types in `types.go`) and the
//! checks a server makes of a connecting user: permissions, source address, connect times,
//! and Go's `Validate` rules.

use std::time::Duration;

use serde::Deserialize;

use super::access::{parse_cidr, parse_clock};
use super::claims::Common;
use super::de::{self, Nanos};
use super::{check_times, is_key, JwtError};
use crate::auth;
use crate::nkey::Kind;

/// A user JWT.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserClaims {
    /// The standard claims (`sub` is the user's public key).
    pub common: Common,
    /// The user's own permissions and limits (a scoped signer replaces them: see
    /// [`super::AccountClaims::user_limits`]).
    pub user: UserPermissionLimits,
    /// The account's public key when a signing key signed (`iss` is then that key).
    pub issuer_account: String,
    /// Tags (permission templates read them through `tag()`).
    pub tags: Vec<String>,
}

/// Allow and deny lists (Go's `Permission`). Subscribe entries may be `subject queue`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Permission {
    /// Allowed subjects (empty: no allow list).
    pub allow: Vec<String>,
    /// Denied subjects.
    pub deny: Vec<String>,
}

/// `resp`: replies allowed to received reply subjects (Go's `ResponsePermission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ResponsePermission {
    /// Replies per reply subject (0: Go's default 1; negative: unlimited).
    pub max: i64,
    /// How long a reply subject stays open, nanoseconds (0: Go's default 2m; negative: no
    /// expiry).
    pub ttl: Nanos,
}

/// Publish, subscribe and response permissions (Go's `Permissions`; an account's
/// `default_permissions`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Permissions {
    /// `pub`.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// `sub`.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// `resp`.
    pub resp: Option<ResponsePermission>,
}

/// A daily connect window, `HH:MM:SS` each (Go's `TimeRange`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct TimeRange {
    /// Start of the window.
    pub start: String,
    /// End of the window (before `start`: the window crosses midnight).
    pub end: String,
}

/// A user's permissions and limits (Go's `UserPermissionLimits`: what a scoped signing key's
/// template holds too). Limits: `-1` unlimited, an absent limit is 0 (Go's v2 reading).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct UserPermissionLimits {
    /// `pub`.
    #[serde(rename = "pub")]
    pub publish: Permission,
    /// `sub`.
    #[serde(rename = "sub")]
    pub subscribe: Permission,
    /// `resp`.
    pub resp: Option<ResponsePermission>,
    /// Allowed source networks (CIDR); a JSON list or a comma-separated string, as Go.
    #[serde(deserialize_with = "de::cidr_list")]
    pub src: Vec<String>,
    /// Allowed connect windows.
    pub times: Vec<TimeRange>,
    /// The time zone of `times` (see [`UserPermissionLimits::time_access`]).
    pub times_location: String,
    /// Subscriptions.
    pub subs: i64,
    /// Bytes of messages.
    pub data: i64,
    /// The largest message payload.
    pub payload: i64,
    /// No nonce signature needed to connect.
    pub bearer_token: bool,
    /// Must connect through a trusted proxy.
    pub proxy_required: bool,
    /// `STANDARD`, `WEBSOCKET`, `LEAFNODE`, `LEAFNODE_WS`, `MQTT`, `MQTT_WS`, `IN_PROCESS`
    /// (empty: any).
    pub allowed_connection_types: Vec<String>,
}

/// When a user may connect ([`UserPermissionLimits::time_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeAccess {
    /// No `times`: any time.
    Unrestricted,
    /// Inside a window, which closes this many seconds from now (Go disconnects then).
    Until(u32),
    /// Outside every window.
    Denied,
}

impl UserClaims {
    /// The account the user belongs to: `issuer_account` when set, else `iss` (the server
    /// looks the account up by this key).
    pub fn account_key(&self) -> &str {
        if self.issuer_account.is_empty() {
            &self.common.iss
        } else {
            &self.issuer_account
        }
    }

    /// The user's own permissions ([`UserPermissionLimits::permissions`]). `None` means the
    /// account's `default_permissions` apply, as in Go.
    pub fn permissions(&self) -> Option<auth::Permissions> {
        self.user.permissions()
    }

    /// Go's `UserClaims.Validate` as the server applies it at connect: [`check_times`], then
    /// the permission subjects (non-empty, no spaces, no empty token; a queue only in
    /// subscribe entries), `src` entries are CIDRs, `times` are `HH:MM:SS`, `issuer_account`
    /// is an account key. The first failure, with Go's text, is [`JwtError::Invalid`].
    /// `times_location` is not checked here (no tz database): [`UserPermissionLimits::
    /// time_access`] refuses zones it cannot evaluate.
    pub fn validate(&self, now_unix: i64) -> Result<(), JwtError> {
        check_times(&self.common, now_unix)?;
        let u = &self.user;
        for (list, queue) in [(&u.subscribe, true), (&u.publish, false)] {
            for s in list.allow.iter().chain(&list.deny) {
                check_permission(s, queue)?;
            }
        }
        if let Some(bad) = u.src.iter().find(|c| parse_cidr(c).is_none()) {
            return Err(JwtError::Invalid(format!(
                "invalid cidr {bad:?} in user src limits"
            )));
        }
        for t in &u.times {
            parse_clock(&t.start).ok_or_else(|| {
                JwtError::Invalid(format!("start in time range is invalid {:?}", t.start))
            })?;
            parse_clock(&t.end).ok_or_else(|| {
                JwtError::Invalid(format!("end in time range is invalid {:?}", t.end))
            })?;
        }
        if !self.issuer_account.is_empty() && !is_key(&self.issuer_account, Kind::Account) {
            return Err(JwtError::Invalid(
                "account_id is not an account public key".into(),
            ));
        }
        Ok(())
    }
}

/// Go's `checkPermission` and `Subject.Validate`.
fn check_permission(entry: &str, queue_ok: bool) -> Result<(), JwtError> {
    let subject = |s: &str| {
        let bad = if s.is_empty() {
            "subject cannot be empty".to_string()
        } else if s.contains(' ') {
            format!("subject {s:?} cannot have spaces")
        } else if s.starts_with('.') || s.ends_with('.') {
            format!("subject {s:?} cannot start or end with a `.`")
        } else if s.contains("..") {
            format!("subject {s:?} cannot contain consecutive `.`")
        } else {
            return Ok(());
        };
        Err(JwtError::Invalid(bad))
    };
    let parts: Vec<&str> = entry.splitn(3, ' ').collect();
    match parts[..] {
        [s] => subject(s),
        [s, q] if queue_ok => subject(s).and_then(|_| subject(q)),
        [s, q] => subject(s).and_then(|_| subject(q)).and_then(|_| {
            Err(JwtError::Invalid(format!(
                "Permission Subject {entry:?} is not allowed to contain queue"
            )))
        }),
        _ => Err(JwtError::Invalid(format!(
            "Permission Subject {entry:?} contains too many spaces"
        ))),
    }
}

impl UserPermissionLimits {
    /// True when nothing is set (Go's `HasEmptyPermissions`: what a user signed by a scoped
    /// key must be). Go also tells an empty list from an absent one; we do not.
    pub fn is_empty(&self) -> bool {
        *self == UserPermissionLimits::default()
    }

    /// The permissions as the server enforces them (Go's `buildPermissionsFromJwt`): `pub`
    /// or `sub` only when it has an allow or deny entry, `resp` as `allow_responses` with Go's
    /// defaults for 0 (1 reply, 2 minutes; negative: unlimited). `None` when none is set: the
    /// account's `default_permissions` apply instead.
    pub fn permissions(&self) -> Option<auth::Permissions> {
        to_auth(&self.publish, &self.subscribe, self.resp.as_ref())
    }
}

impl Permissions {
    /// As [`UserPermissionLimits::permissions`], for an account's `default_permissions`.
    pub fn to_auth(&self) -> Option<auth::Permissions> {
        to_auth(&self.publish, &self.subscribe, self.resp.as_ref())
    }
}

fn to_auth(
    publish: &Permission,
    subscribe: &Permission,
    resp: Option<&ResponsePermission>,
) -> Option<auth::Permissions> {
    let side = |p: &Permission| {
        (!p.allow.is_empty() || !p.deny.is_empty()).then(|| auth::SubjectPermission {
            allow: (!p.allow.is_empty()).then(|| p.allow.clone()),
            deny: p.deny.clone(),
        })
    };
    let allow_responses = resp.map(|r| auth::ResponsePermission {
        max: match r.max {
            0 => 1,
            m if m < 0 => u32::MAX,
            m => u32::try_from(m).unwrap_or(u32::MAX),
        },
        expires: match r.ttl {
            0 => Duration::from_secs(120),
            // No expiry: about 136 years is close enough (as the config's `allow_responses`).
            t if t < 0 => Duration::from_secs(u64::from(u32::MAX)),
            t => Duration::from_nanos(t.unsigned_abs()),
        },
    });
    let p = auth::Permissions {
        publish: side(publish),
        subscribe: side(subscribe),
        allow_responses,
    };
    (p != auth::Permissions::default()).then_some(p)
}

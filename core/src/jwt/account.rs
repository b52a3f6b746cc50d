//! Account JWTs (Go's `AccountClaims` and the types in `exports.go`, `imports.go`,
//! `signingkeys.go`, `revocation_list.go`) and the checks an account makes of its users.

use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::claims::{Common, OperatorClaims};
use super::de::Nanos;
use super::user::{Permissions, UserClaims, UserPermissionLimits};
use super::{template, JwtError};

/// An account JWT.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountClaims {
    /// The standard claims (`sub` is the account's public key).
    pub common: Common,
    /// The account claims.
    pub account: Account,
}

/// An account JWT's `nats` claims (Go's `Account`). Absent fields are empty or 0.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Account {
    /// Streams and services imported from other accounts.
    pub imports: Vec<Import>,
    /// Streams and services offered to other accounts.
    pub exports: Vec<Export>,
    /// Limits the operator set (`-1`: unlimited).
    pub limits: AccountLimits,
    /// Keys that may sign this account's users besides the account key.
    #[serde(deserialize_with = "signing_keys")]
    pub signing_keys: SigningKeys,
    /// Revoked users: public key (or `*`, every user) to unix seconds; user JWTs issued at or
    /// before that time are refused ([`AccountClaims::is_revoked`]).
    pub revocations: BTreeMap<String, i64>,
    /// The permissions of users whose JWT has none.
    pub default_permissions: Permissions,
    /// Subject mappings: source subject to weighted destinations.
    pub mappings: BTreeMap<String, Vec<WeightedMapping>>,
    /// Auth callout.
    pub authorization: ExternalAuthorization,
    /// Message tracing.
    pub trace: Option<MsgTrace>,
    /// `system` or `owner` (whose account carries cluster traffic), or empty.
    pub cluster_traffic: String,
    /// A description.
    pub description: String,
    /// A URL with more information.
    pub info_url: String,
    /// Tags (permission templates read them through `account-tag()`).
    pub tags: Vec<String>,
}

/// Go's `OperatorLimits`: NATS, account and JetStream limits in one flat object. `-1` is
/// unlimited; an absent field is 0 (which for counts means none allowed, as in Go).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Subscriptions.
    pub subs: i64,
    /// Bytes of messages.
    pub data: i64,
    /// The largest message payload.
    pub payload: i64,
    /// Imports.
    pub imports: i64,
    /// Exports.
    pub exports: i64,
    /// Whether exports may use wildcards.
    pub wildcards: bool,
    /// Users may not be bearer tokens.
    pub disallow_bearer: bool,
    /// Client connections.
    pub conn: i64,
    /// Leaf node connections.
    pub leaf: i64,
    /// JetStream limits (zeroed when `tiered_limits` are given, as Go).
    #[serde(flatten)]
    pub jetstream: JetStreamLimits,
    /// JetStream limits per tier.
    pub tiered_limits: BTreeMap<String, JetStreamLimits>,
}

/// Go's `JetStreamLimits` (0 storage: JetStream disabled).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct JetStreamLimits {
    /// Bytes in memory streams.
    pub mem_storage: i64,
    /// Bytes in file streams.
    pub disk_storage: i64,
    /// Streams.
    pub streams: i64,
    /// Consumers.
    pub consumer: i64,
    /// The largest ack-pending a consumer may have.
    pub max_ack_pending: i64,
    /// The largest memory stream, bytes.
    pub mem_max_stream_bytes: i64,
    /// The largest file stream, bytes.
    pub disk_max_stream_bytes: i64,
    /// Streams must set a byte limit.
    pub max_bytes_required: bool,
}

/// Stream or service, of an export or import. Any other text refuses the token, as Go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportType {
    /// `stream`.
    Stream,
    /// `service`.
    Service,
}

impl<'de> Deserialize<'de> for ExportType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "stream" => Ok(ExportType::Stream),
            "service" => Ok(ExportType::Service),
            other => Err(D::Error::custom(format!("unknown export type {other:?}"))),
        }
    }
}

/// An export (Go's `Export`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Export {
    /// A name.
    pub name: String,
    /// The exported subject (may have wildcards).
    pub subject: String,
    /// Stream or service (`None`: absent, which Go's validation refuses).
    #[serde(rename = "type")]
    pub kind: Option<ExportType>,
    /// Importers need an activation token.
    pub token_req: bool,
    /// Revoked activations: importing account (or `*`) to unix seconds.
    pub revocations: BTreeMap<String, i64>,
    /// Services: `Singleton` (also when empty), `Stream` or `Chunked`.
    pub response_type: String,
    /// Services: how long a response may take, nanoseconds.
    pub response_threshold: Nanos,
    /// Services: latency tracking.
    pub service_latency: Option<ServiceLatency>,
    /// The 1-based subject token that must be the importing account's key (0: none).
    pub account_token_position: u64,
    /// Listed publicly.
    pub advertise: bool,
    /// Services: traces may cross.
    pub allow_trace: bool,
    /// A description.
    pub description: String,
    /// A URL with more information.
    pub info_url: String,
}

/// A service's latency tracking.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ServiceLatency {
    /// The sampling rate.
    pub sampling: SamplingRate,
    /// Where latency results are published.
    pub results: String,
}

/// A sampling percentage 1..=100, or 0 for `"headers"` (sample when the request says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SamplingRate(pub i64);

impl<'de> Deserialize<'de> for SamplingRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s.eq_ignore_ascii_case("headers") => Ok(SamplingRate(0)),
            v => i64::deserialize(v)
                .map(SamplingRate)
                .map_err(D::Error::custom),
        }
    }
}

/// An import (Go's `Import`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Import {
    /// A name.
    pub name: String,
    /// The subject in the exporting account.
    pub subject: String,
    /// The exporting account's public key.
    pub account: String,
    /// An activation token, when the export requires one.
    pub token: String,
    /// Deprecated rename target (use `local_subject`).
    pub to: String,
    /// The subject in the importing account (`$N` refers to wildcards of `subject`).
    pub local_subject: String,
    /// Stream or service.
    #[serde(rename = "type")]
    pub kind: Option<ExportType>,
    /// Services: share latency information.
    pub share: bool,
    /// Streams: traces may cross.
    pub allow_trace: bool,
}

/// One destination of a subject mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct WeightedMapping {
    /// The destination subject.
    pub subject: String,
    /// Percent of messages (0 means 100, as Go's `GetWeight`).
    pub weight: u8,
    /// Only in this cluster, when set.
    pub cluster: String,
}

/// Auth callout settings (Go's `ExternalAuthorization`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct ExternalAuthorization {
    /// Users that bypass the callout (the service itself); non-empty enables it.
    pub auth_users: Vec<String>,
    /// Accounts the service may place users in (`*`: any).
    pub allowed_accounts: Vec<String>,
    /// The service's public curve key: requests are encrypted to it when set.
    pub xkey: String,
}

impl ExternalAuthorization {
    /// The jwt library's validation of these settings (`ExternalAuthorization.Validate`,
    /// every issue blocking), in its words. A Go server does not load an account JWT that
    /// has any.
    pub fn issues(&self) -> Vec<String> {
        use crate::nkey::{is_valid, Kind};
        let mut v = Vec::new();
        if !self.allowed_accounts.is_empty() && self.auth_users.is_empty() {
            v.push("External authorization cannot have accounts without users specified".into());
        }
        for u in &self.auth_users {
            if !is_valid(u, Kind::User) {
                v.push(format!("AuthUser {u:?} is not a valid user public key"));
            }
        }
        for a in &self.allowed_accounts {
            if a == "*" && self.allowed_accounts.len() > 1 {
                v.push("AllowedAccounts can only be a list of accounts or \"*\"".into());
            } else if a != "*" && !is_valid(a, Kind::Account) {
                v.push(format!("Account {a:?} is not a valid account public key"));
            }
        }
        if !self.xkey.is_empty() && nkeys::XKey::from_public_key(&self.xkey).is_err() {
            v.push(format!("XKey {:?} is not a valid public xkey", self.xkey));
        }
        v
    }
}

/// Message tracing (Go's `MsgTrace`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct MsgTrace {
    /// Where traces go.
    pub dest: String,
    /// Percent sampled (0 means 100).
    pub sampling: i64,
}

/// An account's signing keys: public key to its scope (`None`: a plain signing key).
pub type SigningKeys = BTreeMap<String, Option<UserScope>>;

/// A scoped signing key (`kind: "user_scope"`): users it signs get its template instead of
/// permissions and limits of their own.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct UserScope {
    /// The signing key.
    pub key: String,
    /// A role name.
    pub role: String,
    /// The permissions and limits of the users it signs (limits absent here are `-1`).
    pub template: UserPermissionLimits,
    /// A description.
    pub description: String,
}

/// Go's `SigningKeys.UnmarshalJSON`: an array of key strings and scope objects (anything
/// else in it is skipped); a scope of another kind than `user_scope` refuses the token.
fn signing_keys<'de, D: Deserializer<'de>>(d: D) -> Result<SigningKeys, D::Error> {
    let mut out = SigningKeys::new();
    for v in Vec::<Value>::deserialize(d)? {
        match v {
            Value::String(k) => {
                out.insert(k, None);
            }
            Value::Object(mut m) => {
                if m.get("kind").and_then(Value::as_str) != Some("user_scope") {
                    return Err(D::Error::custom("unknown signing key scope"));
                }
                // Go's `NewUserScope` starts the template's limits at unlimited.
                let t = m
                    .entry("template")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(t) = t {
                    for f in ["subs", "data", "payload"] {
                        t.entry(f).or_insert((-1).into());
                    }
                }
                let scope = UserScope::deserialize(Value::Object(m)).map_err(D::Error::custom)?;
                out.insert(scope.key.clone(), Some(scope));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Who signed a user JWT, from its account's point of view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signer<'a> {
    /// The account key itself.
    Account,
    /// A plain signing key of the account.
    SigningKey,
    /// A scoped signing key: the user's permissions and limits are its template's.
    Scoped(&'a UserScope),
}

impl AccountClaims {
    /// True if `operator` issued this account JWT (Go's `OperatorClaims.DidSign`, which is
    /// also the server's trusted-keys check): `iss` is one of the operator's signing keys, or
    /// the operator key itself unless the operator has `strict_signing_key_usage`.
    pub fn issued_by(&self, operator: &OperatorClaims) -> bool {
        operator.did_sign(&self.common.iss, &self.common.sub)
    }

    /// Go's checks of a user JWT's signer (the server's `processClientOrLeafAuthentication`
    /// with `Account.hasIssuer` and `UserScope.ValidateScopedSigner`): the user's account
    /// ([`UserClaims::account_key`]: `issuer_account`, else `iss`) must be this account
    /// ([`JwtError::WrongAccount`]); `iss` must be the account key (not when `strict`: pass the
    /// `strict_signing_key_usage` of the operator that issued this account) or one of the
    /// account's signing keys ([`JwtError::UntrustedIssuer`]); a user signed by a scoped key
    /// must carry no permissions or limits ([`JwtError::ScopedUserHasLimits`]).
    pub fn user_signer(&self, user: &UserClaims, strict: bool) -> Result<Signer<'_>, JwtError> {
        let account = user.account_key();
        if account != self.common.sub {
            return Err(JwtError::WrongAccount(account.to_string()));
        }
        let iss = &user.common.iss;
        if !strict && *iss == self.common.sub {
            return Ok(Signer::Account);
        }
        match self.account.signing_keys.get(iss) {
            None => Err(JwtError::UntrustedIssuer(iss.clone())),
            Some(None) => Ok(Signer::SigningKey),
            Some(Some(scope)) if user.user.is_empty() => Ok(Signer::Scoped(scope)),
            Some(Some(_)) => Err(JwtError::ScopedUserHasLimits),
        }
    }

    /// The permissions and limits `user` connects with: [`user_signer`](Self::user_signer)'s
    /// checks, then the user's own, or for a scoped signing key its template with Go's
    /// template functions expanded (`{{name()}}`, `{{subject()}}`, `{{account-name()}}`,
    /// `{{account-subject()}}`, `{{tag(x)}}`, `{{account-tag(x)}}`; at most 4096 subjects,
    /// as Go, and bounded work, which Go does not bound: [`JwtError::Template`] past either).
    pub fn user_limits(
        &self,
        user: &UserClaims,
        strict: bool,
    ) -> Result<UserPermissionLimits, JwtError> {
        match self.user_signer(user, strict)? {
            Signer::Scoped(scope) => template::expand(&scope.template, user, self),
            Signer::Account | Signer::SigningKey => Ok(user.user.clone()),
        }
    }

    /// The server's `isRevoked`: true if `revocations[user_pub]` or `revocations["*"]` is at
    /// or after `user_iat` (the user JWT's `iat`; a revocation covers tokens issued up to and
    /// including its second).
    pub fn is_revoked(&self, user_pub: &str, user_iat: i64) -> bool {
        let r = &self.account.revocations;
        r.get(user_pub).is_some_and(|&t| t >= user_iat)
            || r.get("*").is_some_and(|&t| t >= user_iat)
    }
}

//! The claims every token shares, the claim kinds, operator claims, and the payload parser
//! that turns a token's JSON into typed claims (v1 tokens migrated as Go migrates them).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::account::{Account, AccountClaims};
use super::de;
use super::user::{UserClaims, UserPermissionLimits};
use super::{JwtError, Part};
use crate::nkey::Kind;

/// The standard claims of every token (Go's `ClaimsData`). Absent fields are empty or 0.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Common {
    /// `jti`: the token's id (Go: a hash of these claims).
    pub jti: String,
    /// `iat`: issued at, unix seconds (revocations compare against it).
    pub iat: i64,
    /// `iss`: the public nkey that signed the token.
    pub iss: String,
    /// `name`: a display name.
    pub name: String,
    /// `sub`: the public nkey the claims are about.
    pub sub: String,
    /// `exp`: expires at, unix seconds; 0 never.
    pub exp: i64,
    /// `nbf`: not valid before, unix seconds; 0 always valid.
    pub nbf: i64,
    /// `aud`: the audience (a string, as Go).
    pub aud: String,
}

/// The claim types a token may hold (`nats.type`, or v1's top-level `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// `operator`.
    Operator,
    /// `account`.
    Account,
    /// `user`.
    User,
    /// `activation` (an export's import token).
    Activation,
    /// `authorization_request` (auth callout: the server's request).
    AuthorizationRequest,
    /// `authorization_response` (auth callout: the service's answer).
    AuthorizationResponse,
}

impl ClaimKind {
    /// The type's name as tokens spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimKind::Operator => "operator",
            ClaimKind::Account => "account",
            ClaimKind::User => "user",
            ClaimKind::Activation => "activation",
            ClaimKind::AuthorizationRequest => "authorization_request",
            ClaimKind::AuthorizationResponse => "authorization_response",
        }
    }

    fn from_name(s: &str) -> Option<ClaimKind> {
        [
            ClaimKind::Operator,
            ClaimKind::Account,
            ClaimKind::User,
            ClaimKind::Activation,
            ClaimKind::AuthorizationRequest,
            ClaimKind::AuthorizationResponse,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The kinds of key that may sign this claim type (Go's `ExpectedPrefixes`).
    pub(super) fn issuer_kinds(self) -> &'static [Kind] {
        match self {
            ClaimKind::Operator => &[Kind::Operator],
            ClaimKind::Account | ClaimKind::Activation => &[Kind::Account, Kind::Operator],
            ClaimKind::User | ClaimKind::AuthorizationResponse => &[Kind::Account],
            ClaimKind::AuthorizationRequest => &[Kind::Server],
        }
    }
}

/// A token's typed claims.
#[derive(Debug, Clone, PartialEq)]
pub enum Claims {
    /// An operator JWT.
    Operator(OperatorClaims),
    /// An account JWT.
    Account(Box<AccountClaims>),
    /// A user JWT.
    User(Box<UserClaims>),
    /// A kind whose body is not typed yet (activation, auth callout): the standard claims
    /// here, the rest in [`super::Jwt::payload`].
    Other {
        /// Which kind.
        kind: ClaimKind,
        /// The standard claims.
        common: Common,
    },
}

impl Claims {
    /// The claim type.
    pub fn kind(&self) -> ClaimKind {
        match self {
            Claims::Operator(_) => ClaimKind::Operator,
            Claims::Account(_) => ClaimKind::Account,
            Claims::User(_) => ClaimKind::User,
            Claims::Other { kind, .. } => *kind,
        }
    }

    /// The standard claims.
    pub fn common(&self) -> &Common {
        match self {
            Claims::Operator(c) => &c.common,
            Claims::Account(c) => &c.common,
            Claims::User(c) => &c.common,
            Claims::Other { common, .. } => common,
        }
    }
}

/// An operator JWT's `nats` claims (Go's `Operator`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct Operator {
    /// Operator keys that may sign account JWTs besides the operator's own.
    pub signing_keys: Vec<String>,
    /// Where accounts are resolved from (the `URL` resolver).
    pub account_server_url: String,
    /// URLs of the operator's servers (`nats://`, `tls://`, `ws://`, `wss://`).
    pub operator_service_urls: Vec<String>,
    /// The public key of the system account.
    pub system_account: String,
    /// The minimum server version (`major.minor.update`) this operator asserts.
    pub assert_server_version: String,
    /// Only signing keys may sign accounts, never the operator's own key.
    pub strict_signing_key_usage: bool,
    /// Tags.
    pub tags: Vec<String>,
}

/// An operator JWT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OperatorClaims {
    /// The standard claims.
    pub common: Common,
    /// The operator claims.
    pub operator: Operator,
}

impl OperatorClaims {
    /// Go's `OperatorClaims.DidSign`: true if a token issued by `iss` about `sub` is this
    /// operator's. The operator's own key counts unless `strict_signing_key_usage` (then only
    /// for the operator's own self-signed JWT); its signing keys always count.
    pub fn did_sign(&self, iss: &str, sub: &str) -> bool {
        if iss == self.common.sub {
            return !self.operator.strict_signing_key_usage || sub == self.common.sub;
        }
        self.operator.signing_keys.iter().any(|k| k == iss)
    }
}

/// What identifies a payload: Go's `identifier` (v1 top-level `type`, v2 `nats.type` and
/// `nats.version`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Identifier {
    #[serde(rename = "type")]
    typ: String,
    nats: IdNats,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdNats {
    #[serde(rename = "type")]
    typ: String,
    version: i64,
}

/// What a user's `nats` carries besides its permissions and limits.
#[derive(Deserialize, Default)]
#[serde(default)]
struct UserExtra {
    issuer_account: String,
    tags: Vec<String>,
}

fn json(e: serde_json::Error) -> JwtError {
    JwtError::Json(Part::Payload, e.to_string())
}

/// Parses a payload into typed claims and its version (1 or 2), as Go's `loadClaims`:
/// the version is checked (newer than 2 first), then the type, then the body.
pub(super) fn parse(payload: &str) -> Result<(Claims, u8), JwtError> {
    let mut top: Value = serde_json::from_str(payload).map_err(json)?;
    de::strip_nulls(&mut top);
    if !top.is_object() {
        return Err(JwtError::Json(Part::Payload, "not an object".into()));
    }
    let id = Identifier::deserialize(&top).map_err(json)?;
    let (name, version) = if id.typ.is_empty() {
        (id.nats.typ, id.nats.version)
    } else {
        (id.typ, 1)
    };
    if version > 2 {
        return Err(JwtError::Version(version));
    }
    if name.is_empty() {
        return Err(JwtError::MissingType);
    }
    let kind = ClaimKind::from_name(&name).ok_or(JwtError::UnsupportedType(name))?;
    if version < 1 {
        return Err(JwtError::Version(version));
    }
    let common = Common::deserialize(&top).map_err(json)?;
    let Value::Object(mut obj) = top else {
        return Err(JwtError::Json(Part::Payload, "not an object".into()));
    };
    let mut nats = match obj.remove("nats") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if version == 1 {
        // v1 kept these at the top level; Go's migration moves them into `nats`.
        nats.remove("tags");
        nats.remove("issuer_account");
        for f in ["tags", "issuer_account"] {
            if let Some(v) = obj.remove(f) {
                nats.insert(f.into(), v);
            }
        }
        if kind == ClaimKind::User {
            // Go's v1 loader starts from unlimited user limits.
            for f in ["subs", "data", "payload"] {
                nats.entry(f).or_insert((-1).into());
            }
        }
    }
    let nats = Value::Object(nats);
    let claims = match kind {
        ClaimKind::Operator => Claims::Operator(OperatorClaims {
            common,
            operator: Operator::deserialize(&nats).map_err(json)?,
        }),
        ClaimKind::Account => {
            let mut account = Account::deserialize(&nats).map_err(json)?;
            if !account.limits.tiered_limits.is_empty() {
                // Go: tiered JetStream limits replace the plain ones.
                account.limits.jetstream = Default::default();
            }
            Claims::Account(Box::new(AccountClaims { common, account }))
        }
        ClaimKind::User => {
            let user = UserPermissionLimits::deserialize(&nats).map_err(json)?;
            let extra = UserExtra::deserialize(&nats).map_err(json)?;
            Claims::User(Box::new(UserClaims {
                common,
                user,
                issuer_account: extra.issuer_account,
                tags: extra.tags,
            }))
        }
        kind => Claims::Other { kind, common },
    };
    Ok((claims, version as u8))
}

/// Go's `ClaimsData.hash`: SHA-512/256 of the standard claims marshalled as Go does (its
/// field order, empty ones left out, `jti` empty), base32 without padding.
pub(super) fn go_hash(obj: &Map<String, Value>) -> String {
    use sha2::Digest;
    let c = Common::deserialize(&Value::Object(obj.clone())).unwrap_or_default();
    let mut out = String::from("{");
    let mut field = |name: &str, v: String| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        out.push_str(&v);
    };
    let s = |v: &str| (!v.is_empty()).then(|| de::go_string(v));
    let n = |v: i64| (v != 0).then(|| v.to_string());
    let fields = [
        ("aud", s(&c.aud)),
        ("exp", n(c.exp)),
        ("iat", n(c.iat)),
        ("iss", s(&c.iss)),
        ("name", s(&c.name)),
        ("nbf", n(c.nbf)),
        ("sub", s(&c.sub)),
    ];
    for (name, v) in fields {
        if let Some(v) = v {
            field(name, v);
        }
    }
    out.push('}');
    let digest = sha2::Sha512_256::digest(out.as_bytes());
    data_encoding::BASE32_NOPAD.encode(&digest)
}

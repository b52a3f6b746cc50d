//! JWTs of NATS's operator mode, as nats-io/jwt v2 (the library the Go server uses) reads and
//! writes them: [`decode`] (size bound, header, claims, strict ed25519 signature by the `iss`
//! nkey), the claim types ([`OperatorClaims`], [`AccountClaims`], [`UserClaims`]), Go's
//! validation rules ([`check_times`], [`AccountClaims::issued_by`],
//! [`AccountClaims::user_signer`], [`AccountClaims::is_revoked`],
//! [`UserPermissionLimits::permissions`], [`UserPermissionLimits::allows_source`],
//! [`UserPermissionLimits::time_access`]) and [`encode`].
//!
//! Pure: no clock (the wall time comes in as unix seconds), no I/O, no randomness. Every input
//! error is a [`JwtError`]; nothing here panics on input. Tokens over [`MAX_TOKEN_SIZE`] are
//! refused before anything is decoded; JSON nesting is bounded by serde_json's recursion limit.

mod access;
mod account;
mod claims;
mod de;
mod template;
#[cfg(test)]
mod tests;
mod user;

use std::fmt;
use std::sync::OnceLock;

pub use account::{
    Account, AccountClaims, AccountLimits, Export, ExportType, ExternalAuthorization, Import,
    JetStreamLimits, MsgTrace, SamplingRate, ServiceLatency, Signer, SigningKeys, UserScope,
    WeightedMapping,
};
pub use claims::{ClaimKind, Claims, Common, Operator, OperatorClaims};
pub use user::{
    Permission, Permissions, ResponsePermission, TimeAccess, TimeRange, UserClaims,
    UserPermissionLimits,
};

use crate::nkey::{Kind, PublicKey};

/// The largest token [`decode`] looks at, in bytes (Go's `jwt.MaxTokenSize`, 1 MiB).
pub const MAX_TOKEN_SIZE: usize = 1024 * 1024;

/// The header Go's library writes on every v2 token, byte for byte (its `Header` struct
/// marshalled: `typ` then `alg`). [`encode`] writes this.
pub const HEADER_JSON: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// Which of a token's three parts an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The JOSE header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

/// Why a token was refused, or a check failed. Each cause is its own variant so callers and
/// tests can tell them apart; `Display` gives a short reason for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Longer than [`MAX_TOKEN_SIZE`] (the length given); nothing was decoded.
    TooLarge(usize),
    /// Not three `.`-separated parts (the number found).
    Parts(usize),
    /// A part is not base64url without padding.
    Base64(Part),
    /// A part is not the JSON expected there (serde's message).
    Json(Part, String),
    /// The header's `typ` is not `JWT` (any case).
    NotJwt(String),
    /// The header's `alg` is neither `ed25519-nkey` nor (v1 tokens) `ed25519`, any case.
    Algorithm(String),
    /// The claims name no type (`nats.type`, or v1's top-level `type`).
    MissingType,
    /// A claim type this server does not take (`cluster`, `server`, `generic`, unknown).
    UnsupportedType(String),
    /// A claims version other than 1 or 2 (`nats.version`; v1 tokens have a top-level type).
    Version(i64),
    /// `iss` is not a public nkey of a kind allowed to sign this claim type.
    IssuerKey(String),
    /// The signature does not verify against `iss` (strict ed25519).
    Signature,
    /// `exp` is set and in the past (the `exp` given).
    Expired(i64),
    /// `nbf` is set and in the future (the `nbf` given).
    NotYetValid(i64),
    /// A decoded token holds another claim type than the one asked for.
    WrongKind {
        /// What the caller asked for.
        expected: ClaimKind,
        /// What the token holds.
        found: ClaimKind,
    },
    /// The signer is not trusted: an account JWT not issued by the operator, a user JWT not
    /// signed by its account or one of the account's signing keys.
    UntrustedIssuer(String),
    /// A user JWT names another account than the one it was checked against.
    WrongAccount(String),
    /// A user signed by a scoped signing key carries permissions or limits of its own.
    ScopedUserHasLimits,
    /// A scoped signing key's permission template could not be expanded (Go's reason).
    Template(String),
    /// A claim fails Go's `Validate` rules (Go's reason).
    Invalid(String),
    /// `times_location` names a time zone we cannot evaluate without a tz database.
    UnsupportedTimeZone(String),
    /// [`encode`] was given something it cannot sign.
    Encode(String),
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtError::TooLarge(n) => {
                write!(
                    f,
                    "token size {n} exceeds maximum of {MAX_TOKEN_SIZE} bytes"
                )
            }
            JwtError::Parts(n) => write!(f, "expected 3 chunks, got {n}"),
            JwtError::Base64(p) => write!(f, "{p:?} is not base64url"),
            JwtError::Json(p, m) => write!(f, "{p:?} is not valid JSON: {m}"),
            JwtError::NotJwt(t) => write!(f, "not supported type {t:?}"),
            JwtError::Algorithm(a) => write!(f, "unexpected {a:?} algorithm"),
            JwtError::MissingType => f.write_str("claims have no type"),
            JwtError::UnsupportedType(t) => write!(f, "unsupported claim type {t:?}"),
            JwtError::Version(v) => write!(f, "unsupported claims version {v}"),
            JwtError::IssuerKey(k) => write!(f, "issuer {k:?} may not sign this claim"),
            JwtError::Signature => f.write_str("claim failed signature verification"),
            JwtError::Expired(_) => f.write_str("claim is expired"),
            JwtError::NotYetValid(_) => f.write_str("claim is not yet valid"),
            JwtError::WrongKind { expected, found } => {
                write!(f, "not {} claim ({})", expected.as_str(), found.as_str())
            }
            JwtError::UntrustedIssuer(k) => write!(f, "issuer {k:?} is not trusted"),
            JwtError::WrongAccount(k) => write!(f, "user belongs to account {k:?}"),
            JwtError::ScopedUserHasLimits => {
                f.write_str("scoped users require no permissions or limits set")
            }
            JwtError::Template(m) | JwtError::Invalid(m) => f.write_str(m),
            JwtError::UnsupportedTimeZone(z) => write!(f, "unsupported time zone {z:?}"),
            JwtError::Encode(m) => write!(f, "cannot encode: {m}"),
        }
    }
}

impl std::error::Error for JwtError {}

/// A token's JOSE header, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `typ` (`JWT`, any case).
    pub typ: String,
    /// `alg` (`ed25519-nkey`, or `ed25519` on v1 tokens).
    pub alg: String,
}

/// A decoded token whose signature verified against its `iss`. Nothing else is checked:
/// times ([`check_times`]) and trust (who `iss` is) are the caller's, as in Go.
#[derive(Debug, Clone, PartialEq)]
pub struct Jwt {
    /// The header.
    pub header: Header,
    /// The typed claims.
    pub claims: Claims,
    /// The claims' JSON text as sent (base64-decoded), for callers that need fields the
    /// typed claims do not carry.
    pub payload: String,
    /// The claims version: 1 (v1 tokens: top-level `type`) or 2.
    pub version: u8,
}

/// Go's base64url decoding (`base64.RawURLEncoding`): no padding, `\r` and `\n` skipped, and
/// non-zero trailing bits accepted.
fn base64url() -> &'static data_encoding::Encoding {
    static ENC: OnceLock<data_encoding::Encoding> = OnceLock::new();
    ENC.get_or_init(|| {
        let mut spec = data_encoding::Specification::new();
        spec.symbols
            .push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
        spec.ignore.push_str("\r\n");
        spec.check_trailing_bits = false;
        // A constant specification: `encoding()` cannot fail on it.
        spec.encoding()
            .unwrap_or_else(|_| data_encoding::BASE64URL_NOPAD.clone())
    })
}

fn b64(part: Part, text: &str) -> Result<Vec<u8>, JwtError> {
    base64url()
        .decode(text.as_bytes())
        .map_err(|_| JwtError::Base64(part))
}

/// Decodes and verifies `token` as Go's `jwt.Decode` does, in its order: the size bound, three
/// parts, the header (`typ` `JWT`, `alg` `ed25519-nkey` or `ed25519`, both case-insensitive),
/// the claims (type and version; v1 tokens are migrated as Go migrates them), the signature
/// (v2: over the bytes `header.payload` as sent; v1: over the payload part alone, as Go), and
/// finally the kind of the `iss` key (operator claims: an operator key; account: account or
/// operator; user: account; activation: account or operator; authorization request: server;
/// authorization response: account).
///
/// Differences from Go, all on tokens Go's tooling never writes: JSON object keys match
/// exactly (Go folds case), strings must be UTF-8, a `null` inside an array is refused, and
/// claim types other than the six of [`ClaimKind`] are refused (Go reads them as generic
/// claims and checks them as v1).
pub fn decode(token: &str) -> Result<Jwt, JwtError> {
    if token.len() > MAX_TOKEN_SIZE {
        return Err(JwtError::TooLarge(token.len()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [head, body, sig] = parts[..] else {
        return Err(JwtError::Parts(parts.len()));
    };
    let header = parse_header(&b64(Part::Header, head)?)?;
    let payload = b64(Part::Payload, body)?;
    let payload = String::from_utf8(payload)
        .map_err(|_| JwtError::Json(Part::Payload, "not UTF-8".into()))?;
    let (claims, version) = claims::parse(&payload)?;
    let sig = b64(Part::Signature, sig)?;
    let common = claims.common();
    let signed = if version <= 1 {
        body.as_bytes()
    } else {
        &token.as_bytes()[..head.len() + 1 + body.len()]
    };
    let key =
        PublicKey::decode(&common.iss).ok_or_else(|| JwtError::IssuerKey(common.iss.clone()))?;
    if !key.verifies(signed, &sig) {
        return Err(JwtError::Signature);
    }
    if !claims.kind().issuer_kinds().contains(&key.kind) {
        return Err(JwtError::IssuerKey(common.iss.clone()));
    }
    Ok(Jwt {
        header,
        claims,
        payload,
        version,
    })
}

fn parse_header(bytes: &[u8]) -> Result<Header, JwtError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| JwtError::Json(Part::Header, e.to_string()))?;
    let field = |name: &str| -> Result<String, JwtError> {
        let Some(obj) = value.as_object() else {
            // Go unmarshals `null` into the struct as a no-op; anything else fails.
            return if value.is_null() {
                Ok(String::new())
            } else {
                Err(JwtError::Json(Part::Header, "not an object".into()))
            };
        };
        // Go matches keys case-insensitively, an exact match first.
        let v = obj.get(name).or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        });
        match v {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(JwtError::Json(
                Part::Header,
                format!("{name} is not a string"),
            )),
        }
    };
    let header = Header {
        typ: field("typ")?,
        alg: field("alg")?,
    };
    if header.typ.to_uppercase() != "JWT" {
        return Err(JwtError::NotJwt(header.typ));
    }
    let alg = header.alg.to_lowercase();
    if alg != "ed25519" && alg != "ed25519-nkey" {
        return Err(JwtError::Algorithm(header.alg));
    }
    Ok(header)
}

/// [`decode`], then the claims if they are an operator's ([`JwtError::WrongKind`] if not).
pub fn decode_operator(token: &str) -> Result<OperatorClaims, JwtError> {
    match decode(token)?.claims {
        Claims::Operator(c) => Ok(c),
        other => Err(wrong(ClaimKind::Operator, &other)),
    }
}

/// [`decode`], then the claims if they are an account's ([`JwtError::WrongKind`] if not).
pub fn decode_account(token: &str) -> Result<AccountClaims, JwtError> {
    match decode(token)?.claims {
        Claims::Account(c) => Ok(*c),
        other => Err(wrong(ClaimKind::Account, &other)),
    }
}

/// [`decode`], then the claims if they are a user's ([`JwtError::WrongKind`] if not).
pub fn decode_user(token: &str) -> Result<UserClaims, JwtError> {
    match decode(token)?.claims {
        Claims::User(c) => Ok(*c),
        other => Err(wrong(ClaimKind::User, &other)),
    }
}

/// A user JWT's account (`nats.issuer_account`, else `iss`) and subject, read *without*
/// checking anything: only to route a CONNECT to the right decision (an operator-mode auth
/// callout), which then [`decode`]s the token in full off the serving thread. `None` if the
/// token is not even that well formed.
pub fn peek_user(token: &str) -> Option<(String, String)> {
    if token.len() > MAX_TOKEN_SIZE {
        return None;
    }
    let body = token.split('.').nth(1)?;
    let payload: serde_json::Value =
        serde_json::from_slice(&b64(Part::Payload, body).ok()?).ok()?;
    let field = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let account = field(&payload["nats"]["issuer_account"]).or_else(|| field(&payload["iss"]))?;
    Some((account, field(&payload["sub"]).unwrap_or_default()))
}

fn wrong(expected: ClaimKind, found: &Claims) -> JwtError {
    JwtError::WrongKind {
        expected,
        found: found.kind(),
    }
}

/// Go's time rule for every claim (`ClaimsData.Validate`): [`JwtError::Expired`] when `exp` is
/// set (non-zero) and `now_unix > exp` (a token is still good during its `exp` second), else
/// [`JwtError::NotYetValid`] when `nbf` is set and `nbf > now_unix`. No clock skew is allowed,
/// as in Go (neither nats-io/jwt nor the server has any).
pub fn check_times(common: &Common, now_unix: i64) -> Result<(), JwtError> {
    if common.exp > 0 && now_unix > common.exp {
        return Err(JwtError::Expired(common.exp));
    }
    if common.nbf > 0 && common.nbf > now_unix {
        return Err(JwtError::NotYetValid(common.nbf));
    }
    Ok(())
}

/// Signs `claims` (a JSON object) with `key` into a token Go's `jwt.Decode` accepts: the header
/// [`HEADER_JSON`], `iss` set to `key`'s public key, `jti` (when absent or empty) set to Go's
/// hash of the standard claims (SHA-512/256, base32 without padding), and `nats.version` set
/// to 2 when `nats` is an object (Go's `updateVersion`; decoding needs 1 or 2). Everything
/// else is the caller's: `iat` (no clock here), `sub`, `nats.type` and the rest. The signature
/// covers `header.payload`, as Go's v2 tokens. Errors: `claims` not an object, a key without
/// a seed, or a token over [`MAX_TOKEN_SIZE`].
pub fn encode(claims: &serde_json::Value, key: &nkeys::KeyPair) -> Result<String, JwtError> {
    let serde_json::Value::Object(obj) = claims else {
        return Err(JwtError::Encode("claims are not a JSON object".into()));
    };
    let mut obj = obj.clone();
    obj.insert("iss".into(), key.public_key().into());
    if let Some(serde_json::Value::Object(nats)) = obj.get_mut("nats") {
        nats.insert("version".into(), 2.into());
    }
    if obj
        .get("jti")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .is_empty()
    {
        let jti = claims::go_hash(&obj);
        obj.insert("jti".into(), jti.into());
    }
    let payload = serde_json::to_vec(&serde_json::Value::Object(obj))
        .map_err(|e| JwtError::Encode(e.to_string()))?;
    let enc = &data_encoding::BASE64URL_NOPAD;
    let mut token = enc.encode(HEADER_JSON.as_bytes());
    token.push('.');
    token.push_str(&enc.encode(&payload));
    let sig = key
        .sign(token.as_bytes())
        .map_err(|e| JwtError::Encode(e.to_string()))?;
    token.push('.');
    token.push_str(&enc.encode(&sig));
    if token.len() > MAX_TOKEN_SIZE {
        return Err(JwtError::TooLarge(token.len()));
    }
    Ok(token)
}

/// True if `key` is a valid public nkey of `kind` (claims validation).
fn is_key(key: &str, kind: Kind) -> bool {
    crate::nkey::is_valid(key, kind)
}

//! JWT operator mode (`operator`, `resolver: MEMORY`, `resolver_preload`): the trusted
//! operators, the account JWTs they issued, and the decision on a client's user JWT.
//!
//! Accounts come from the preloaded account JWTs (named by their public keys, as Go's),
//! and become ordinary accounts of the config ([`OperatorMode::account_options`]: limits,
//! exports, imports), so everything downstream (imports, monitoring, routes) is the same
//! as for config accounts. A user JWT is decided by [`OperatorMode::authenticate`], pure:
//! the wall clock and the client's address come in as arguments.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::jwt::{self, AccountClaims, OperatorClaims, TimeAccess};
use crate::options::{AccountLimits, AccountOptions, ExportOptions, ImportKind, ImportOptions};

/// The trust of an operator-mode server.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OperatorMode {
    /// The trusted operators (`operator: …`).
    pub operators: Vec<OperatorClaims>,
    /// The account JWTs of `resolver_preload`, by account public key (checked at load:
    /// signed by a trusted operator, for the key they are filed under).
    pub accounts: BTreeMap<String, AccountClaims>,
}

/// What a user JWT decided: who it is, in which account, with which permissions, until
/// when.
#[derive(Debug, Clone, PartialEq)]
pub struct UserDecision {
    /// The user's public key.
    pub user: String,
    /// The account's public key.
    pub account: String,
    /// The user's permissions (the account's defaults when the user has none).
    pub permissions: Option<crate::auth::Permissions>,
    /// Unix seconds at which the client must go: its JWT expires, or its time window ends.
    pub expires: Option<i64>,
    /// The user's own limits: `subs` (per connection) and `payload` (`-1`: none).
    pub limits: crate::options::AccountLimits,
}

/// Go's startup checks of operator mode (after the config loaded; `-t` does not make
/// them): no users configured directly beside operators, and the system account among the
/// preloaded accounts. `Err` is Go's text, printed without a position.
pub fn startup_check(o: &crate::options::Options) -> Result<(), String> {
    let Some(mode) = &o.auth.operator else {
        return Ok(());
    };
    if !o.auth.users.is_empty() {
        return Err("operators do not allow users to be configured directly".into());
    }
    if o.auth.callout.is_some() {
        // Go's text (2.10+): in operator mode the callout is an account JWT's business.
        return Err(
            "operators do not allow authorization callouts to be configured directly".into(),
        );
    }
    if let Some(sys) = &o.system_account {
        if !mode.accounts.contains_key(sys) {
            return Err("error resolving system account: account missing".into());
        }
    }
    Ok(())
}

impl OperatorMode {
    /// The system account the operators name (the first that names one).
    pub fn system_account(&self) -> Option<&str> {
        self.operators
            .iter()
            .map(|o| o.operator.system_account.as_str())
            .find(|s| !s.is_empty())
    }

    /// The callout settings of account `key`'s JWT, if it has a callout (a non-empty
    /// `auth_users`, Go's `IsEnabled`).
    pub fn callout_of(&self, key: &str) -> Option<&jwt::ExternalAuthorization> {
        let ext = &self.accounts.get(key)?.account.authorization;
        (!ext.auth_users.is_empty()).then_some(ext)
    }

    /// The auth callout that decides a client presenting the user JWT `token` (Go 2.10+'s
    /// operator mode): the JWT's account (`issuer_account`, else `iss`) is preloaded and its
    /// `authorization.auth_users` is not empty, and the client is not one of those users
    /// (named by its CONNECT `nkey`, else `user`, else the JWT's subject, as Go's
    /// `getRawAuthUser`). The token is only peeked at here; the callout's request checks it
    /// in full before it goes out. `None`: the JWT decides as usual.
    pub fn callout_for(
        &self,
        token: &str,
        nkey: Option<&str>,
        user: Option<&str>,
    ) -> Option<crate::callout::CalloutOptions> {
        let (key, sub) = jwt::peek_user(token)?;
        let ext = self.callout_of(&key)?;
        let some = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
        let id = some(nkey).or_else(|| some(user)).unwrap_or(sub);
        if ext.auth_users.contains(&id) {
            return None;
        }
        Some(crate::callout::CalloutOptions {
            issuer: key.clone(),
            account: key,
            auth_users: ext.auth_users.clone(),
            xkey: some(Some(&ext.xkey)),
            allowed_accounts: ext.allowed_accounts.clone(),
            fallback: false,
            send_reason: false,
            // Account JWTs have no such setting: every client is asked about.
            cache_ttl: None,
        })
    }

    /// True if an operator demands that accounts sign users with signing keys only.
    pub(crate) fn strict(&self) -> bool {
        self.operators
            .iter()
            .any(|o| o.operator.strict_signing_key_usage)
    }

    /// Go's checks of a client's user JWT, in Go's order: decodes and verifies it, its
    /// validity period, its account (preloaded), its signer, revocation, the nonce
    /// signature (not for a bearer token, unless the account forbids those), the source
    /// address and time windows. `Err` carries the reason for the log (the client only
    /// ever hears "Authorization Violation").
    pub fn authenticate(
        &self,
        token: &str,
        sig: Option<&str>,
        nonce: &[u8],
        now_unix: i64,
        client_ip: Option<IpAddr>,
    ) -> Result<UserDecision, String> {
        let user = jwt::decode_user(token).map_err(|e| format!("JWT not valid: {e}"))?;
        jwt::check_times(&user.common, now_unix).map_err(|e| format!("user JWT {e}"))?;
        let key = user.account_key();
        let account = self
            .accounts
            .get(key)
            .ok_or_else(|| format!("Account JWT not found for {key:?}"))?;
        jwt::check_times(&account.common, now_unix).map_err(|e| format!("account JWT {e}"))?;
        let limits = account
            .user_limits(&user, self.strict())
            .map_err(|e| format!("user JWT issuer is not known: {e}"))?;
        let sub = &user.common.sub;
        if account.is_revoked(sub, user.common.iat) {
            return Err("User authentication revoked".into());
        }
        if limits.bearer_token && account.account.limits.disallow_bearer {
            return Err(
                "User attempted to use a bearer token in an account that disallows them".into(),
            );
        }
        if !limits.bearer_token && !crate::nkey::verify_nonce(sub, nonce, sig.unwrap_or("")) {
            return Err("Signature not verified".into());
        }
        if let Some(ip) = client_ip {
            if !limits.src.is_empty() && !limits.allows_source(ip) {
                return Err(format!("client {ip} not in the user's allowed sources"));
            }
        }
        let window = match limits
            .time_access(now_unix)
            .map_err(|e| format!("user JWT times: {e}"))?
        {
            TimeAccess::Denied => return Err("user is not allowed to connect at this time".into()),
            TimeAccess::Unrestricted => None,
            TimeAccess::Until(s) => Some(now_unix + i64::from(s)),
        };
        let expires = crate::min_set((user.common.exp > 0).then_some(user.common.exp), window);
        Ok(UserDecision {
            user: sub.clone(),
            account: key.to_string(),
            permissions: limits
                .permissions()
                .or_else(|| account.account.default_permissions.to_auth()),
            expires,
            limits: AccountLimits {
                max_connections: None,
                max_subscriptions: u64::try_from(limits.subs).ok(),
                max_payload: u64::try_from(limits.payload).ok(),
            },
        })
    }

    /// The preloaded accounts as config accounts: limits (`-1` is none), exports (a
    /// token-required export is private to nobody: we take no activation tokens), and the
    /// imports whose exporter is preloaded and exports them (others are returned as
    /// warnings, skipped).
    pub fn account_options(&self) -> (Vec<AccountOptions>, Vec<String>) {
        let mut warnings = Vec::new();
        let limit = |n: i64| u64::try_from(n).ok();
        let accounts = self
            .accounts
            .iter()
            .map(|(key, a)| {
                let l = &a.account.limits;
                let exports = a
                    .account
                    .exports
                    .iter()
                    .map(|e| ExportOptions {
                        subject: e.subject.clone(),
                        service: (e.kind == Some(jwt::ExportType::Service)).then(|| {
                            let rt = match e.response_type.as_str() {
                                "Stream" => crate::options::ResponseType::Stream,
                                "Chunked" => crate::options::ResponseType::Chunked,
                                _ => crate::options::ResponseType::Singleton,
                            };
                            (rt, None)
                        }),
                        accounts: e.token_req.then(Vec::new),
                    })
                    .collect();
                let imports = a
                    .account
                    .imports
                    .iter()
                    .filter_map(|i| {
                        let exported = self.accounts.get(&i.account).is_some_and(|x| {
                            x.account.exports.iter().any(|e| {
                                e.kind == i.kind
                                    && !e.token_req
                                    && crate::subject::matches(
                                        e.subject.as_bytes(),
                                        i.subject.as_bytes(),
                                    )
                            })
                        });
                        if !exported || !i.token.is_empty() {
                            warnings.push(format!(
                                "account {key}: import of {:?} from {} skipped (not exported to it, or needs an activation token, which this server does not take yet)",
                                i.subject, i.account
                            ));
                            return None;
                        }
                        let local = [&i.local_subject, &i.to]
                            .into_iter()
                            .find(|s| !s.is_empty())
                            .cloned();
                        let kind = match i.kind {
                            Some(jwt::ExportType::Service) => ImportKind::Service {
                                to: local.unwrap_or_else(|| i.subject.clone()),
                            },
                            _ => ImportKind::Stream {
                                prefix: None,
                                to: local,
                            },
                        };
                        Some(ImportOptions {
                            account: i.account.clone(),
                            subject: i.subject.clone(),
                            kind,
                        })
                    })
                    .collect();
                AccountOptions {
                    name: key.clone(),
                    exports,
                    imports,
                    limits: AccountLimits {
                        max_connections: limit(l.conn),
                        max_subscriptions: limit(l.subs),
                        max_payload: limit(l.payload),
                    },
                    publish_rate: None,
                    mappings: Vec::new(),
                }
            })
            .collect();
        (accounts, warnings)
    }
}

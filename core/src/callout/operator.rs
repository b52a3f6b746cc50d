//! Operator mode's placement of a client the auth callout accepted (Go 2.10+): the user
//! JWT in the answer names its account by `issuer_account`, else its signer; that account
//! must be the callout account or one of its `allowed_accounts` (`*`: any), must be known
//! (preloaded), and must have signed the user JWT with its own key (unless the operator is
//! strict) or one of its signing keys. A scoped signing key's template replaces the user's
//! permissions and limits; a user without permissions gets the account's defaults. Errors
//! are Go's texts (`server/auth_callout.go`).

use super::CalloutOptions;
use crate::auth::Authorized;
use crate::jwt::{JwtError, UserClaims};
use crate::operator::OperatorMode;

/// Places `user` (already checked: signature, times, subject) from the callout of
/// `account`; `wall` is Unix seconds now.
pub(super) fn place(
    mode: &OperatorMode,
    opts: &CalloutOptions,
    user: &UserClaims,
    account: &str,
    wall: i64,
) -> Result<Authorized, String> {
    let target = user.account_key();
    let allowed =
        opts.allowed_accounts == ["*"] || opts.allowed_accounts.iter().any(|a| a == target);
    if target != account && !allowed {
        // Go names the signer here, not the account it resolved.
        return Err(format!(
            "account {:?} not permitted as valid account option for auth callout for account {account:?}",
            user.common.iss
        ));
    }
    let missing = |why: &str| {
        format!(
            "no valid account {target:?} for auth callout response on account {account:?}: {why}"
        )
    };
    let acc = mode
        .accounts
        .get(target)
        .ok_or_else(|| missing("account missing"))?;
    crate::jwt::check_times(&acc.common, wall).map_err(|_| missing("account expired"))?;
    let limits = acc.user_limits(user, mode.strict()).map_err(|e| match e {
        JwtError::UntrustedIssuer(_) | JwtError::WrongAccount(_) => {
            format!("user JWT issuer {:?} is not known", user.common.iss)
        }
        JwtError::ScopedUserHasLimits => "user JWT is not a valid scoped user".to_string(),
        e => format!("user JWT generated invalid permissions: {e}"),
    })?;
    let window = super::registry::connect_window(&limits, account, wall)?;
    let permissions = limits
        .permissions()
        .or_else(|| acc.account.default_permissions.to_auth());
    Ok(super::registry::admitted(
        user,
        &limits,
        permissions,
        Some(target.to_string()),
        window,
    ))
}

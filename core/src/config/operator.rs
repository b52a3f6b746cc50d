//! `operator`, `resolver` and `resolver_preload`: JWT operator mode, as Go loads it, with
//! Go's error texts. Only the in-memory resolver exists here (`resolver: MEMORY`). The
//! operator JWT is given inline or as a file (read through the loader's include resolver,
//! so relative to the config file, where Go reads it relative to the working directory;
//! an absolute path means the same to both).

use std::collections::BTreeMap;

use super::typed::Typer;
use super::value::{Entry, Pos, Value};
use crate::operator::OperatorMode;

/// What the three keys said, gathered while typing the top level.
#[derive(Default)]
pub(crate) struct Parsed {
    /// Operator JWTs, with where each was written.
    operators: Vec<(String, Pos)>,
    /// `resolver` was given (and was MEMORY).
    resolver: Option<Pos>,
    /// `resolver_preload`: account key → JWT, with where each was written.
    preload: Vec<(String, String, Pos)>,
    /// Where `operator` was written (for errors about the whole).
    at: Option<Pos>,
}

/// `operator` / `operators` / `root_operators`: one JWT or a list.
pub(crate) fn operator(t: &mut Typer, e: &Entry, p: &mut Parsed) {
    p.at.get_or_insert_with(|| e.key_pos.clone());
    let items: Vec<&super::value::Node> = match &e.node.value {
        Value::Array(items) => items.iter().collect(),
        _ => vec![&e.node],
    };
    for n in items {
        match &n.value {
            Value::String(s) if s.starts_with("eyJ") => {
                p.operators.push((s.clone(), n.pos.clone()))
            }
            Value::String(s) => {
                t.error_at(n, format!("error parsing operator JWT: {s:?} is not a JWT"))
            }
            v => t.error_at(
                n,
                format!(
                    "error parsing operator JWT: expected a string, got {}",
                    v.type_name()
                ),
            ),
        }
    }
}

/// `resolver`: only `MEMORY` (Go's other resolvers fetch accounts over the network or from
/// a directory; refused rather than run without them).
pub(crate) fn resolver(t: &mut Typer, e: &Entry, p: &mut Parsed) {
    match &e.node.value {
        Value::String(s) if s.eq_ignore_ascii_case("MEMORY") => p.resolver = Some(e.key_pos.clone()),
        _ => t.error(
            e,
            "resolver: only MEMORY is supported (URL, full and cache resolvers are not yet): refusing this configuration",
        ),
    }
}

/// `resolver_preload { ACCOUNT_KEY: JWT, ... }`.
pub(crate) fn preload(t: &mut Typer, e: &Entry, p: &mut Parsed) {
    let Value::Map(m) = &e.node.value else {
        t.error(
            e,
            "resolver_preload should be a map of account public keys to JWTs",
        );
        return;
    };
    for x in m.iter() {
        match &x.node.value {
            Value::String(s) => p
                .preload
                .push((x.key.clone(), s.clone(), x.key_pos.clone())),
            _ => t.error(x, "resolver_preload values must be account JWTs"),
        }
    }
}

/// Builds the operator mode once the whole file is read (Go's checks: JWTs valid and
/// trusted, no users beside operators, the system account preloaded) and installs it in
/// the options: the trust, the accounts, the system account.
pub(crate) fn finish(t: &mut Typer, o: &mut crate::options::Options, p: Parsed) {
    let Some(at) = p.at.clone() else {
        if let Some(pos) = p.resolver.or(p.preload.first().map(|x| x.2.clone())) {
            t.errors.push(super::ConfigError::at(
                &pos,
                "resolver and resolver_preload need an operator",
            ));
        }
        return;
    };
    let mut mode = OperatorMode::default();
    for (jwt, pos) in &p.operators {
        match crate::jwt::decode_operator(jwt) {
            Ok(c) => mode.operators.push(c),
            Err(e) => t.errors.push(super::ConfigError::at(
                pos,
                format!("error parsing operator JWT: {e}"),
            )),
        }
    }
    let mut accounts = BTreeMap::new();
    for (key, jwt, pos) in &p.preload {
        let claims = match crate::jwt::decode_account(jwt) {
            Ok(c) => c,
            Err(e) => {
                t.errors.push(super::ConfigError::at(
                    pos,
                    format!("error parsing account JWT: {e}"),
                ));
                continue;
            }
        };
        if claims.common.sub != *key {
            t.errors.push(super::ConfigError::at(
                pos,
                format!(
                    "resolver_preload: the JWT filed under {key} is for account {}",
                    claims.common.sub
                ),
            ));
        } else if !mode.operators.iter().any(|op| claims.issued_by(op)) {
            t.errors.push(super::ConfigError::at(
                pos,
                format!("resolver_preload: account {key} is not signed by a trusted operator"),
            ));
        } else if let issues @ [_, ..] = claims.account.authorization.issues().as_slice() {
            // Go warns at startup (`checkResolvePreloads`) and then never loads the
            // account ("account validation failed"): its users are refused.
            t.warnings.push(super::ConfigError::at(
                pos,
                format!(
                    "Account [{key}] has validation issues: {}",
                    issues.join("; ")
                ),
            ));
        } else {
            accounts.insert(key.clone(), claims);
        }
    }
    mode.accounts = accounts;
    // Users beside operators and a system account not preloaded are Go's *startup*
    // errors (`-t` passes them): see `crate::operator::startup_check`.
    if o.system_account.is_none() {
        o.system_account = mode.system_account().map(str::to_string);
    }
    let (accounts, warnings) = mode.account_options();
    for w in warnings {
        t.warnings.push(super::ConfigError::at(&at, w));
    }
    o.accounts.extend(accounts);
    o.auth.operator = Some(std::sync::Arc::new(mode));
}

/// Replaces operator file paths by the JWT each file holds (Go's `ReadOperatorJWT`: the
/// file's text, or the JWT between `-----BEGIN …-----` armour lines), before typing.
pub(crate) fn read_files(
    map: &mut super::value::Map,
    file: &str,
    resolver: &dyn super::IncludeResolver,
) -> Result<(), super::ConfigError> {
    let keys: Vec<String> = map
        .iter()
        .filter(|e| {
            matches!(
                e.key.to_ascii_lowercase().as_str(),
                "operator" | "operators" | "root_operators" | "root_operator"
            )
        })
        .map(|e| e.key.clone())
        .collect();
    for key in keys {
        let Some(e) = map.get_mut(&key) else { continue };
        let nodes: Vec<&mut super::value::Node> = match &mut e.node.value {
            Value::Array(items) => items.iter_mut().collect(),
            _ => vec![&mut e.node],
        };
        for n in nodes {
            let Value::String(s) = &n.value else { continue };
            if s.starts_with("eyJ") {
                continue;
            }
            let (_, text) = resolver.resolve(file, s).map_err(|e| {
                let e = e.trim_start_matches("error opening include file: ");
                super::ConfigError::at(&n.pos, format!("error parsing operator JWT: {e}"))
            })?;
            n.value = Value::String(jwt_in(&text));
        }
    }
    Ok(())
}

/// The JWT in a file's text: inside armour when there is some, else the trimmed text.
fn jwt_in(text: &str) -> String {
    let mut lines = text.lines().map(str::trim);
    if text.contains("-----BEGIN") {
        while let Some(l) = lines.next() {
            if l.starts_with("-----BEGIN") {
                if let Some(jwt) = lines.next() {
                    return jwt.to_string();
                }
            }
        }
    }
    text.trim().to_string()
}

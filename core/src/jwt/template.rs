//! Permission templates of scoped signing keys: the server's `processUserPermissionsTemplate`
//! (Go's `auth.go`), which expands `{{name()}}`, `{{subject()}}`, `{{account-name()}}`,
//! `{{account-subject()}}`, `{{tag(x)}}` and `{{account-tag(x)}}` in the template's subjects.

use std::cell::Cell;

use super::account::AccountClaims;
use super::user::{UserClaims, UserPermissionLimits};
use super::JwtError;
use crate::subject;

/// Go's `maxPermTemplateSubjectExpansions`.
const MAX_EXPANSIONS: usize = 4096;
/// Our own bound on the work of one expansion (Go has none): tags scanned plus bytes
/// written. Templates are a few short subjects; without it, a 1 MiB template against a 1 MiB
/// tag list could cost billions of steps or gigabytes.
const MAX_WORK: usize = 4 * super::MAX_TOKEN_SIZE;

/// The template `t` of a scoped key with its subjects expanded for `user` of `account`.
/// Allow lists drop subjects that expand to something invalid (an allow list emptied that
/// way becomes a deny of `>`); deny lists refuse them, as Go.
pub(super) fn expand(
    t: &UserPermissionLimits,
    user: &UserClaims,
    account: &AccountClaims,
) -> Result<UserPermissionLimits, JwtError> {
    let mut out = t.clone();
    let ctx = Ctx {
        user,
        account,
        work: Cell::new(0),
    };
    out.subscribe.allow = ctx.apply(&t.subscribe.allow, false)?;
    out.subscribe.deny = ctx.apply(&t.subscribe.deny, true)?;
    out.publish.allow = ctx.apply(&t.publish.allow, false)?;
    out.publish.deny = ctx.apply(&t.publish.deny, true)?;
    for (before, side) in [
        (&t.subscribe, &mut out.subscribe),
        (&t.publish, &mut out.publish),
    ] {
        if !before.allow.is_empty() && side.allow.is_empty() && !side.deny.iter().any(|d| d == ">")
        {
            side.deny.push(">".into());
        }
    }
    Ok(out)
}

struct Ctx<'a> {
    user: &'a UserClaims,
    account: &'a AccountClaims,
    /// Work done so far, against [`MAX_WORK`].
    work: Cell<usize>,
}

/// The `{{...}}` matches of Go's `{{2}([^}]+)}{2}`, leftmost first, as byte ranges.
fn mustaches(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == b'{' && b[i + 1] == b'{' {
            let j = i + 2;
            let k = j + b[j..].iter().take_while(|&&c| c != b'}').count();
            if k > j && b[k..].starts_with(b"}}") {
                out.push((i, k + 2));
                i = k + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Go's `strings.EqualFold(a, b)` where `b` is ASCII: the only non-ASCII letters that fold
/// to ASCII ones are `ſ` (s) and the Kelvin sign (k).
fn equal_fold(a: &str, b: &str) -> bool {
    let mut a = a.chars();
    for t in b.chars() {
        match a.next() {
            Some(c) if c.eq_ignore_ascii_case(&t) => {}
            Some('ſ') if t.eq_ignore_ascii_case(&'s') => {}
            Some('\u{212A}') if t.eq_ignore_ascii_case(&'k') => {}
            _ => return false,
        }
    }
    a.next().is_none()
}

/// Go's `isTag`: `tag(x)` or `account-tag(x)` (prefix in any case), with what is left after
/// trimming the lowercase prefix and the `)` (Go trims case-sensitively).
fn tag_op(op: &str) -> Option<(bool, &str)> {
    for (prefix, account) in [("tag(", false), ("account-tag(", true)] {
        let head = op.as_bytes().get(..prefix.len())?;
        if head.eq_ignore_ascii_case(prefix.as_bytes()) && op.ends_with(')') {
            let v = op.strip_prefix(prefix).unwrap_or(op);
            return Some((account, v.strip_suffix(')').unwrap_or(v)));
        }
    }
    None
}

impl Ctx<'_> {
    fn charge(&self, n: usize) -> Result<(), JwtError> {
        let w = self.work.get().saturating_add(n);
        self.work.set(w);
        if w > MAX_WORK {
            return Err(limit());
        }
        Ok(())
    }

    /// The values of one template operation, or `None` for an undefined tag.
    fn values(&self, op: &str) -> Result<(Vec<String>, bool), JwtError> {
        let one = |s: &str| {
            self.charge(s.len())?;
            Ok((vec![s.to_string()], false))
        };
        if equal_fold(op, "name()") {
            return one(&self.user.common.name);
        }
        if equal_fold(op, "subject()") {
            return one(&self.user.common.sub);
        }
        if equal_fold(op, "account-name()") {
            return one(&self.account.common.name);
        }
        if equal_fold(op, "account-subject()") {
            return one(&self.user.issuer_account);
        }
        let Some((account, name)) = tag_op(op) else {
            return Err(JwtError::Template(format!(
                "template operation {op:?} is not defined"
            )));
        };
        let tags = if account {
            &self.account.account.tags
        } else {
            &self.user.tags
        };
        self.charge(tags.len())?;
        let prefix = format!("{}:", name.to_lowercase());
        let found = tags
            .iter()
            .filter_map(|t| t.strip_prefix(prefix.as_str()))
            .map(str::to_string)
            .collect();
        Ok((found, true))
    }

    fn apply(&self, list: &[String], strict: bool) -> Result<Vec<String>, JwtError> {
        if list.iter().all(|s| mustaches(s).is_empty()) {
            return Ok(list.to_vec());
        }
        let mut emitted: Vec<String> = Vec::with_capacity(list.len());
        for entry in list {
            let mut srcs = Vec::new();
            let mut values = Vec::new();
            let mut has_tags = false;
            for (a, b) in mustaches(entry) {
                let tk = &entry[a..b];
                let op = tk[2..tk.len() - 2].trim();
                let (mut v, is_tag) = self.values(op)?;
                has_tags |= is_tag;
                if is_tag && v.is_empty() {
                    if strict {
                        return Err(JwtError::Template(format!(
                            "generated invalid subject {entry:?}: {op:?} is not defined"
                        )));
                    }
                    // Go substitutes an invalid subject, which is then dropped.
                    v = vec![" ".into()];
                }
                srcs.push(tk);
                values.push(v);
            }
            let mut count = 1usize;
            if has_tags {
                for v in &values {
                    if count > MAX_EXPANSIONS / v.len() {
                        return Err(limit());
                    }
                    count *= v.len();
                }
                if emitted.len() > MAX_EXPANSIONS - count {
                    return Err(limit());
                }
            }
            // The cartesian product, last operation varying fastest (Go's order); without
            // tags every operation has exactly one value.
            let mut idx = vec![0usize; values.len()];
            for _ in 0..count {
                let mut subj = entry.clone();
                for (j, src) in srcs.iter().enumerate() {
                    subj = subj.replace(src, &values[j][idx[j]]);
                    self.charge(subj.len())?;
                }
                if subject::is_valid_subject(subj.as_bytes()) {
                    emitted.push(subj);
                } else if strict {
                    return Err(JwtError::Template("generated invalid subject".into()));
                }
                for j in (0..idx.len()).rev() {
                    idx[j] += 1;
                    if idx[j] < values[j].len() {
                        break;
                    }
                    idx[j] = 0;
                }
            }
        }
        Ok(emitted)
    }
}

fn limit() -> JwtError {
    JwtError::Template(format!(
        "template expansion exceeds limit: {MAX_EXPANSIONS}"
    ))
}

//! Client authentication (token, user/password, bcrypt) and per-user permissions.

use std::sync::Arc;
use std::time::Duration;

use crate::options::AuthConfig;
use crate::subject;

/// A configured user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct User {
    /// User name.
    pub name: String,
    /// Password, plain or a bcrypt hash (`$2a$…`).
    pub password: String,
    /// What the user may do; `None` allows everything.
    pub permissions: Option<Permissions>,
    /// The account its connections are bound to; `None` is the global account `$G` (the
    /// config's `accounts { A: { users: [...] } }` sets it).
    pub account: Option<String>,
    /// `publish_rate` of this user: a limit per connection.
    pub publish_rate: Option<crate::options::RateLimit>,
    /// An nkey user (`users: [{nkey: U…}]`): its public key, which is also its `name`. It
    /// proves itself by signing the INFO nonce; it has no password.
    pub nkey: Option<String>,
}

/// A user's permissions, as the Go server's config writes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Permissions {
    /// Subjects the user may publish to.
    pub publish: Option<SubjectPermission>,
    /// Subjects (and `subject queue` pairs) the user may subscribe to.
    pub subscribe: Option<SubjectPermission>,
    /// Lets the user reply to reply subjects it received.
    pub allow_responses: Option<ResponsePermission>,
}

/// Allow and deny lists. `allow: None` allows everything not denied; deny always wins.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectPermission {
    /// Allowed patterns (`None`: everything).
    pub allow: Option<Vec<String>>,
    /// Denied patterns.
    pub deny: Vec<String>,
}

/// `allow_responses`: how many replies, for how long, per received reply subject.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponsePermission {
    /// Replies allowed per reply subject (Go's default 1).
    pub max: u32,
    /// How long a reply subject stays publishable (Go's default 2m).
    pub expires: Duration,
}

impl Default for ResponsePermission {
    fn default() -> Self {
        ResponsePermission {
            max: 1,
            expires: Duration::from_secs(120),
        }
    }
}

/// One permission entry: a subject pattern and, for subscribe entries, an optional queue.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    subject: Box<[u8]>,
    queue: Option<Box<[u8]>>,
}

impl Entry {
    fn parse(s: &str) -> Entry {
        // A subscribe entry "subject queue" restricts the queue group.
        let mut parts = s.split_whitespace();
        let subject = parts.next().unwrap_or("").as_bytes().into();
        let queue = parts.next().map(|q| q.as_bytes().into());
        Entry { subject, queue }
    }
}

/// Permissions compiled for checking.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompiledPermissions {
    pub_allow: Option<Vec<Entry>>,
    pub_deny: Vec<Entry>,
    sub_allow: Option<Vec<Entry>>,
    sub_deny: Vec<Entry>,
    /// The `allow_responses` setting, if any.
    pub responses: Option<ResponsePermission>,
}

impl CompiledPermissions {
    /// Compiles permissions. With `allow_responses` and no publish allow list, the user may
    /// publish nowhere but to reply subjects it received (as the Go server does).
    pub fn compile(p: &Permissions) -> CompiledPermissions {
        let list = |v: &[String]| v.iter().map(|s| Entry::parse(s)).collect::<Vec<_>>();
        let mut pub_allow = p
            .publish
            .as_ref()
            .and_then(|x| x.allow.as_deref())
            .map(list);
        if p.allow_responses.is_some() && pub_allow.is_none() {
            pub_allow = Some(Vec::new());
        }
        CompiledPermissions {
            pub_allow,
            pub_deny: p
                .publish
                .as_ref()
                .map(|x| list(&x.deny))
                .unwrap_or_default(),
            sub_allow: p
                .subscribe
                .as_ref()
                .and_then(|x| x.allow.as_deref())
                .map(list),
            sub_deny: p
                .subscribe
                .as_ref()
                .map(|x| list(&x.deny))
                .unwrap_or_default(),
            responses: p.allow_responses,
        }
    }

    /// These permissions with publishing to `subject` denied too (Go's
    /// `mergeDenyPermissions`).
    pub fn deny_publish(&self, subject: &str) -> CompiledPermissions {
        let mut p = self.clone();
        p.pub_deny.push(Entry::parse(subject));
        p
    }

    /// True if publishing to `subject` is allowed by the static lists.
    pub fn can_publish(&self, subj: &[u8]) -> bool {
        let allowed = match &self.pub_allow {
            Some(allow) => allow.iter().any(|e| subject::matches(&e.subject, subj)),
            None => true,
        };
        allowed
            && !self
                .pub_deny
                .iter()
                .any(|e| subject::matches(&e.subject, subj))
    }

    /// True if subscribing to `subj` (in queue `queue`) is allowed. Entries with a queue only
    /// allow (or deny) that queue; the subject of the SUB is matched as literal text, as the
    /// Go server does.
    pub fn can_subscribe(&self, subj: &[u8], queue: Option<&[u8]>) -> bool {
        let allowed = match &self.sub_allow {
            Some(allow) => list_hit(allow, subj, queue),
            None => true,
        };
        allowed && !list_hit(&self.sub_deny, subj, queue)
    }

    /// True if a message on `subj` must not be delivered to this user even though one of its
    /// (wider, wildcard) subscriptions matched: subscribe deny is enforced at delivery too.
    pub fn deny_delivery(&self, subj: &[u8]) -> bool {
        self.sub_deny
            .iter()
            .any(|e| e.queue.is_none() && subject::matches(&e.subject, subj))
    }

    /// True if delivery needs [`deny_delivery`](Self::deny_delivery) checks at all.
    pub fn has_sub_deny(&self) -> bool {
        !self.sub_deny.is_empty()
    }
}

/// Whether a subscribe list covers `subj` (in `queue`), the Go server's way: a plain entry
/// covers the subject for plain and queue subscriptions, but once entries with a queue match
/// the subject, a queue subscription is covered only if its queue is among them.
fn list_hit(list: &[Entry], subj: &[u8], queue: Option<&[u8]>) -> bool {
    let (mut plain, mut queued, mut queue_hit) = (false, false, false);
    for e in list.iter().filter(|e| subject::matches(&e.subject, subj)) {
        match &e.queue {
            None => plain = true,
            Some(q) => {
                queued = true;
                queue_hit |= queue.is_some_and(|want| subject::matches(q, want));
            }
        }
    }
    if queue.is_some() && queued {
        queue_hit
    } else {
        plain
    }
}

/// Credentials a client presented in CONNECT.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// `auth_token`.
    pub token: Option<&'a str>,
    /// `user`.
    pub user: Option<&'a str>,
    /// `pass`.
    pub pass: Option<&'a str>,
    /// `nkey`: the public user nkey the client claims.
    pub nkey: Option<&'a str>,
    /// `sig`: its signature of `nonce`.
    pub sig: Option<&'a str>,
    /// The nonce this connection's INFO carried (empty when none was sent).
    pub nonce: &'a [u8],
    /// With `tls { verify_and_map }`: the names its verified client certificate gives
    /// (e-mails, DNS names, URIs, subject DN). The first that names a user is the user.
    pub cert_names: Option<&'a [String]>,
    /// `jwt`: the user JWT (operator mode).
    pub jwt: Option<&'a str>,
    /// The wall clock, in Unix seconds (JWT validity).
    pub now_unix: i64,
    /// The client's address (a JWT's `src`).
    pub client_ip: Option<std::net::IpAddr>,
}

/// The result of a successful authentication.
#[derive(Debug, Clone, Default)]
pub struct Authorized {
    /// The user name, when there is one.
    pub user: Option<String>,
    /// Its permissions, when restricted.
    pub permissions: Option<Arc<CompiledPermissions>>,
    /// Its account (`None`: `$G`).
    pub account: Option<String>,
    /// The user's own `publish_rate`.
    pub publish_rate: Option<crate::options::RateLimit>,
    /// Unix seconds at which the client must be disconnected (its JWT expires).
    pub expires: Option<i64>,
    /// The user's own limits (a JWT's `subs`, `payload`), on top of its account's.
    pub limits: crate::options::AccountLimits,
}

/// Checks `creds` against `cfg`. Users lists take precedence, then a token, then a single
/// user, as in the Go server. Returns `None` when the client is not authorized.
pub fn authenticate(cfg: &AuthConfig, creds: Credentials<'_>) -> Option<Authorized> {
    if let Some(op) = &cfg.operator {
        // Operator mode: a user JWT or nothing (Go allows no other users beside it).
        let d = op
            .authenticate(
                creds.jwt?,
                creds.sig,
                creds.nonce,
                creds.now_unix,
                creds.client_ip,
            )
            .ok()?;
        return Some(Authorized {
            user: Some(d.user),
            permissions: d
                .permissions
                .as_ref()
                .map(|p| Arc::new(CompiledPermissions::compile(p))),
            account: Some(d.account),
            publish_rate: None,
            expires: d.expires,
            limits: d.limits,
        });
    }
    if !cfg.users.is_empty() {
        // `no_auth_user`: a client that presents nothing at all becomes that user (Go).
        let anonymous = creds.user.is_none()
            && creds.pass.is_none()
            && creds.token.is_none()
            && creds.nkey.is_none();
        let u = match (&cfg.no_auth_user, anonymous) {
            // Go's `verify_and_map`: the certificate names the user; no password.
            _ if creds.cert_names.is_some() => creds.cert_names?.iter().find_map(|name| {
                cfg.users
                    .iter()
                    .find(|u| u.name == *name || same_dn(&u.name, name))
            })?,
            (Some(n), true) => cfg.users.iter().find(|u| u.name == *n)?,
            // Go: a client naming an nkey is checked against the nkey users only (when
            // there are any), by its signature of the nonce.
            _ if creds.nkey.is_some() && cfg.has_nkeys() => {
                let key = creds.nkey?;
                let u = cfg.users.iter().find(|u| u.nkey.as_deref() == Some(key))?;
                if !crate::nkey::verify_nonce(key, creds.nonce, creds.sig?) {
                    return None;
                }
                u
            }
            _ => {
                let name = creds.user?;
                let u = cfg
                    .users
                    .iter()
                    .find(|u| u.nkey.is_none() && u.name == name)?;
                if !check_password(&u.password, creds.pass.unwrap_or("")) {
                    return None;
                }
                u
            }
        };
        let permissions = u
            .permissions
            .as_ref()
            .map(|p| Arc::new(CompiledPermissions::compile(p)));
        return Some(Authorized {
            user: Some(u.name.clone()),
            permissions,
            account: u.account.clone(),
            publish_rate: u.publish_rate,
            expires: None,
            limits: Default::default(),
        });
    }
    if let Some(token) = &cfg.token {
        return check_password(token, creds.token?).then(Authorized::default);
    }
    if let Some(user) = &cfg.user {
        let ok = creds.user == Some(user.as_str())
            && check_password(
                cfg.password.as_deref().unwrap_or(""),
                creds.pass.unwrap_or(""),
            );
        return ok.then(|| Authorized {
            user: Some(user.clone()),
            permissions: None,
            account: None,
            publish_rate: None,
            expires: None,
            limits: Default::default(),
        });
    }
    Some(Authorized::default())
}

/// True if the built-in methods know the client `creds` name (a configured user or nkey
/// user, the single user, or a token when one is configured): with the callout's
/// `fallback`, they decide it (right or wrong credentials), and the callout only decides
/// clients they do not know.
pub fn knows(cfg: &AuthConfig, creds: Credentials<'_>) -> bool {
    let user = creds.user.is_some_and(|n| {
        cfg.users.iter().any(|u| u.nkey.is_none() && u.name == n) || cfg.user.as_deref() == Some(n)
    });
    let nkey = creds
        .nkey
        .is_some_and(|k| cfg.users.iter().any(|u| u.nkey.as_deref() == Some(k)));
    user || nkey || (cfg.token.is_some() && creds.token.is_some())
}

/// True if `a` and `b` are the same distinguished name in RFC 2253 form, whatever the
/// order of their RDNs and the case of the attribute types (Go's `verify_and_map` matches
/// so); values compare exactly. False for anything that is not a DN.
pub fn same_dn(a: &str, b: &str) -> bool {
    fn parts(dn: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut escaped = false;
        let mut push = |cur: &mut String| -> Option<()> {
            let (k, v) = cur.split_once('=')?;
            out.push((k.trim().to_ascii_uppercase(), v.to_string()));
            cur.clear();
            Some(())
        };
        for c in dn.chars() {
            match c {
                _ if escaped => {
                    cur.push('\\');
                    cur.push(c);
                    escaped = false;
                }
                '\\' => escaped = true,
                ',' | '+' => push(&mut cur)?,
                _ => cur.push(c),
            }
        }
        push(&mut cur)?;
        out.sort();
        Some(out)
    }
    a.contains('=') && b.contains('=') && parts(a).is_some_and(|x| parts(b) == Some(x))
}

/// True if checking `creds` against `cfg` would verify a signature (an nkey's, tens of
/// microseconds) or a bcrypt hash (slow on purpose: tens to hundreds of ms), so runtimes
/// decide it off their serving threads (see `Connection::poll_auth_request`). Cheap checks
/// stay inline.
pub fn is_slow(cfg: &AuthConfig, creds: Credentials<'_>) -> bool {
    if cfg.operator.is_some() {
        // A JWT's signature, and the nonce's.
        return creds.jwt.is_some();
    }
    if !cfg.users.is_empty() {
        if creds.nkey.is_some() && cfg.has_nkeys() {
            return true;
        }
        return creds
            .user
            .and_then(|name| {
                cfg.users
                    .iter()
                    .find(|u| u.nkey.is_none() && u.name == name)
            })
            .is_some_and(|u| is_bcrypt(&u.password));
    }
    if let Some(token) = &cfg.token {
        return creds.token.is_some() && is_bcrypt(token);
    }
    cfg.user.is_some() && cfg.password.as_deref().is_some_and(is_bcrypt)
}

/// True if `stored` looks like a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`).
pub fn is_bcrypt(stored: &str) -> bool {
    let b = stored.as_bytes();
    b.len() > 4
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
}

/// Compares a presented secret with a stored one: bcrypt when the stored one is a hash,
/// otherwise in constant time.
pub fn check_password(stored: &str, given: &str) -> bool {
    if is_bcrypt(stored) {
        return bcrypt::verify(given, stored).unwrap_or(false);
    }
    constant_time_eq(stored.as_bytes(), given.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(allow: Option<&[&str]>, deny: &[&str]) -> Option<SubjectPermission> {
        Some(SubjectPermission {
            allow: allow.map(|a| a.iter().map(|s| s.to_string()).collect()),
            deny: deny.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn publish_allow_deny() {
        let p = CompiledPermissions::compile(&Permissions {
            publish: sp(Some(&["req.>", "foo"]), &["req.secret"]),
            ..Default::default()
        });
        assert!(p.can_publish(b"foo"));
        assert!(p.can_publish(b"req.a.b"));
        assert!(!p.can_publish(b"req.secret"), "deny wins");
        assert!(!p.can_publish(b"bar"));
    }

    #[test]
    fn subscribe_queue_entries() {
        let p = CompiledPermissions::compile(&Permissions {
            subscribe: sp(Some(&["foo", "bar v1"]), &["foo.secret", "baz q"]),
            ..Default::default()
        });
        assert!(p.can_subscribe(b"foo", None));
        assert!(p.can_subscribe(b"foo", Some(b"any")));
        assert!(
            !p.can_subscribe(b"bar", None),
            "queue-only entry forbids plain subs"
        );
        assert!(p.can_subscribe(b"bar", Some(b"v1")));
        assert!(!p.can_subscribe(b"bar", Some(b"v2")));
        assert!(!p.can_subscribe(b"nope", None));
        let d = CompiledPermissions::compile(&Permissions {
            subscribe: sp(None, &["foo.secret", "baz q"]),
            ..Default::default()
        });
        assert!(d.can_subscribe(b"foo.*", None));
        assert!(d.deny_delivery(b"foo.secret"));
        assert!(!d.can_subscribe(b"foo.secret", None));
        assert!(d.can_subscribe(b"baz", None));
        assert!(!d.can_subscribe(b"baz", Some(b"q")));
    }

    #[test]
    fn allow_responses_implies_empty_publish_allow() {
        let p = CompiledPermissions::compile(&Permissions {
            allow_responses: Some(ResponsePermission::default()),
            ..Default::default()
        });
        assert!(!p.can_publish(b"anything"));
    }

    #[test]
    fn authentication_modes() {
        let mut cfg = AuthConfig::default();
        assert!(authenticate(&cfg, Credentials::default()).is_some());
        cfg.token = Some("s3cr3t".into());
        assert!(authenticate(
            &cfg,
            Credentials {
                token: Some("s3cr3t"),
                ..Default::default()
            }
        )
        .is_some());
        assert!(authenticate(
            &cfg,
            Credentials {
                token: Some("nope"),
                ..Default::default()
            }
        )
        .is_none());
        assert!(authenticate(&cfg, Credentials::default()).is_none());
        let cfg = AuthConfig {
            user: Some("u".into()),
            password: Some(bcrypt::hash("p", 4).unwrap()),
            ..Default::default()
        };
        let ok = Credentials {
            user: Some("u"),
            pass: Some("p"),
            ..Default::default()
        };
        assert_eq!(authenticate(&cfg, ok).unwrap().user.as_deref(), Some("u"));
        let bad = Credentials {
            user: Some("u"),
            pass: Some("x"),
            ..Default::default()
        };
        assert!(authenticate(&cfg, bad).is_none());
        let cfg = AuthConfig {
            users: vec![User {
                name: "a".into(),
                password: "pa".into(),
                permissions: None,
                account: None,
                publish_rate: None,
                nkey: None,
            }],
            ..Default::default()
        };
        assert!(authenticate(
            &cfg,
            Credentials {
                user: Some("a"),
                pass: Some("pa"),
                ..Default::default()
            }
        )
        .is_some());
        assert!(authenticate(
            &cfg,
            Credentials {
                user: Some("b"),
                pass: Some("pa"),
                ..Default::default()
            }
        )
        .is_none());
    }

    #[test]
    fn dns_match_in_any_order() {
        assert!(same_dn("CN=alice,O=SecGo", "O=SecGo,CN=alice"));
        assert!(same_dn("cn=alice,o=SecGo", "CN=alice,O=SecGo"));
        assert!(
            !same_dn("CN=alice,O=secgo", "CN=alice,O=SecGo"),
            "values exact"
        );
        assert!(!same_dn("CN=alice", "CN=alice,O=SecGo"), "no partial DNs");
        assert!(same_dn("CN=a\\,b,O=x", "O=x,CN=a\\,b"));
        assert!(!same_dn("alice", "alice"), "not DNs");
    }

    #[test]
    fn bcrypt_detection() {
        assert!(is_bcrypt("$2a$11$abc"));
        assert!(!is_bcrypt("$2c$11$abc"));
        assert!(!is_bcrypt("plain"));
    }
}

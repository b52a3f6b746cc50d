//! Server limits, users with permissions, and what each client asks for in CONNECT, drawn
//! from the seed (their own stream, so the rest of a run is drawn as without them).
//!
//! Every choice here is one the oracle models: permissions (publish and subscribe, allow
//! and deny, deny enforced at delivery too), `verbose` (+OK after each op), `pedantic`
//! (`Invalid Publish Subject`, delivered anyway), headers on or off (HMSG or MSG with the
//! headers stripped), `no_responders` (a 503 status for a request nobody got),
//! `max_payload` (a rogue client's oversized PUB closes its connection) and
//! `max_subscriptions` (`maximum subscriptions exceeded`), the account each user is
//! bound to (a message reaches only subscribers of its publisher's account), stream imports
//! between accounts and subject mappings ([`crate::mapping`]).

use natsd_core::auth::{Permissions, SubjectPermission, User};
use std::time::Duration;

use natsd_core::options::{
    AccountOptions, ExportOptions, ImportKind, ImportOptions, MappingOptions, ResponseType,
};
use natsd_core::rng::Rng;

use crate::mapping::{self, AccountMappings};

/// Every client's password (users are named `c<i>`).
pub const PASSWORD: &str = "pw";

/// The user name of client `i`.
pub fn user_name(i: usize) -> String {
    format!("c{i}")
}

/// Client `i`'s user, unrestricted (every other field as the core's default).
pub fn login_user(i: usize) -> User {
    User {
        name: user_name(i),
        password: PASSWORD.into(),
        ..User::default()
    }
}

/// The accounts users are drawn into: `None` is the global account `$G`. Few, so that
/// clients of different accounts publish and subscribe on the same subjects.
pub const ACCOUNTS: [Option<&str>; 3] = [None, Some("A"), Some("B")];

/// Subjects stream imports are drawn from: pairwise disjoint (no subject matches two), so
/// a message crosses at most one import and reaches a subscription at most once.
pub const IMPORT_SUBJECTS: [&str; 6] = ["a", "a.>", "b", "b.*", "c.*", "c.*.c"];

/// Prefixes stream imports are drawn from: the workload's own tokens, so the renamed
/// subjects meet the clients' ordinary subscriptions (`c.>`, `*.a.b`, ...).
pub const IMPORT_PREFIXES: [&str; 3] = ["a", "b", "c"];

/// A stream import: `importer` takes what `exporter` publishes on `subject` as
/// `prefix.subject` (accounts as indexes into [`ACCOUNTS`], never `$G`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSpec {
    /// The account the messages come from (it exports `subject`).
    pub exporter: usize,
    /// The account they go to.
    pub importer: usize,
    /// The exported and imported subject (one of [`IMPORT_SUBJECTS`]).
    pub subject: String,
    /// The importer's prefix (one of [`IMPORT_PREFIXES`], different for each import).
    pub prefix: String,
}

/// Exported service subjects: outside the workload's alphabet's first tokens, so that no
/// stream import subject and no weighted mapping source matches one (a request crosses one
/// import; the exporter's plain and wildcard mappings still apply).
pub const SERVICE_SUBJECTS: [&str; 3] = ["rpc.a", "rpc.b", "rpc.c"];

/// Local subjects services are imported `to`: no stream import renames a message onto one
/// (prefixes are workload tokens), and no weighted mapping source matches one.
pub const SERVICE_LOCALS: [&str; 3] = ["svc.a", "svc.b", "svc.c"];

/// A service import: requests published in `importer` on `to` go to `exporter` on
/// `subject` (then the exporter's mappings), their reply replaced by `_R_.<id>.<n>`; the
/// responses come back to the requester's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// The account that answers (it exports `subject` as a service).
    pub exporter: usize,
    /// The account that asks.
    pub importer: usize,
    /// The exported subject (one of [`SERVICE_SUBJECTS`]).
    pub subject: String,
    /// The importer's local subject (one of [`SERVICE_LOCALS`]).
    pub to: String,
    /// One response per request (`singleton`), else any number (`stream`).
    pub singleton: bool,
    /// The export's response threshold (`None`: the default, 2 min; runs are shorter, so
    /// no response is late).
    pub threshold: Option<Duration>,
}

/// Subject patterns permissions are drawn from: the workload's alphabet, the request
/// inboxes, and a few shapes that overlap each other.
const PERM_PATTERNS: [&str; 13] = [
    "a", "b", "c", "a.>", "b.>", "c.>", "*.a", "*.b", "a.*", "b.*", "a.b", "b.c.>", "_INBOX.>",
];

/// Allow and deny lists (the shape of `natsd_core::auth::SubjectPermission`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    /// `None`: everything not denied.
    pub allow: Option<Vec<String>>,
    /// Denied patterns (deny wins).
    pub deny: Vec<String>,
}

/// One user's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermSpec {
    /// What it may publish to.
    pub publish: Option<ListSpec>,
    /// What it may subscribe to (and receive: subscribe deny also filters deliveries).
    pub subscribe: Option<ListSpec>,
}

impl PermSpec {
    /// The same permissions as the core's configuration takes them.
    pub fn to_core(&self) -> Permissions {
        let list = |l: &ListSpec| SubjectPermission {
            allow: l.allow.clone(),
            deny: l.deny.clone(),
        };
        Permissions {
            publish: self.publish.as_ref().map(list),
            subscribe: self.subscribe.as_ref().map(list),
            allow_responses: None,
        }
    }
}

/// What one client asks for in its CONNECT, and how it misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// `echo`.
    pub echo: bool,
    /// `verbose`: the server answers every op with +OK.
    pub verbose: bool,
    /// `pedantic`: publish subjects are checked.
    pub pedantic: bool,
    /// `headers` (if the server supports them).
    pub headers: bool,
    /// `no_responders` (only with headers).
    pub no_responders: bool,
    /// Percent of its publishes that are oversized on purpose (over the INFO's
    /// `max_payload`): the server closes it. Safety phase only.
    pub oversize_percent: u64,
    /// Percent of its publishes to a subject with a `*` token.
    pub wild_pub_percent: u64,
}

/// The features of one run.
#[derive(Debug, Clone)]
pub struct Features {
    /// The servers' `max_payload`.
    pub max_payload: usize,
    /// The servers' `max_subscriptions` (0: none).
    pub max_subscriptions: usize,
    /// The servers' `no_header_support`.
    pub no_header_support: bool,
    /// With auth: each client's user `c<i>` and its permissions (`None`: unrestricted).
    pub users: Option<Vec<Option<PermSpec>>>,
    /// With auth: each client's user's account, an index into [`ACCOUNTS`] (all 0, `$G`,
    /// without auth).
    pub accounts: Vec<usize>,
    /// Per client.
    pub profiles: Vec<Profile>,
    /// Clients whose user has a subscribe-deny list may put limits on their subscriptions
    /// (`UNSUB sid max`). On by default since the core checks the deny list before counting
    /// a delivery, as Go (`deliverMsg`: `checkDenySub` before `sub.nm++`); the simulator
    /// found the divergence (plain seeds 13 and 70: a filtered message used up a
    /// subscription's last delivery), `conn::tests::denied_messages_do_not_use_up_a_limit`
    /// pins the fix. Turn it off to isolate other failures.
    pub deny_with_limits: bool,
    /// Stream imports between the accounts (with auth and accounts only; see
    /// [`draw_imports`]), configured the same on every node.
    pub imports: Vec<ImportSpec>,
    /// Service imports between the accounts (see [`draw_services`]), configured the same
    /// on every node.
    pub services: Vec<ServiceSpec>,
    /// Subject mappings per account (see [`crate::mapping::draw`]), configured the same on
    /// every node: `$G`'s at the top level, `A`'s and `B`'s in their accounts.
    pub mappings: Vec<AccountMappings>,
    /// The stream and service imports a reload of the accounts brings (`reload` variant
    /// only, see [`draw_reload_imports`]): the same on every node. Clients also subscribe
    /// and send requests where these bring messages, before and after.
    pub reloaded: Option<(Vec<ImportSpec>, Vec<ServiceSpec>)>,
}

impl Features {
    /// The features for `seed` with `clients` clients.
    pub fn draw(seed: u64, clients: usize) -> Features {
        let mut r = Rng::fork(seed, 0xFEA7_0000);
        let max_payload = match r.below(4) {
            0 => 512 + r.below(4096) as usize,
            _ => 1024 * 1024,
        };
        let max_subscriptions = match r.below(5) {
            0 => 2 + r.below(6) as usize,
            _ => 0,
        };
        let no_header_support = r.below(10) == 0;
        let users = (r.below(3) == 0).then(|| {
            (0..clients)
                .map(|_| (r.below(2) == 0).then(|| draw_perms(&mut r)))
                .collect()
        });
        let profiles = (0..clients).map(|_| draw_profile(&mut r)).collect();
        let accounts = draw_accounts(seed, clients, users.is_some());
        let imports = draw_imports(seed, &accounts);
        let services = draw_services(seed, &accounts, &imports);
        let mut f = Features {
            max_payload,
            max_subscriptions,
            no_header_support,
            users,
            accounts,
            profiles,
            deny_with_limits: true,
            imports,
            services,
            reloaded: None,
            mappings: Vec::new(),
        };
        f.mappings = mapping::draw(seed, &f.accounts, f.mapping_allowed());
        f
    }

    /// What the mappings may use (see [`mapping::Allowed`]): a weighted mapping without
    /// `max_subscriptions`; the loss shape in accounts where no user has a publish allow
    /// list and no client asks for `no_responders`, wildcard sources in accounts whose
    /// clients never publish on a subject with a `*` (see [`mapping::CORE_DROPS_AS_GO`] and
    /// [`mapping::CORE_MAPS_WILDCARD_TOKENS`]).
    fn mapping_allowed(&self) -> mapping::Allowed {
        let mut a = mapping::Allowed {
            weighted: self.max_subscriptions == 0,
            loss: [true; ACCOUNTS.len()],
            wildcard: [true; ACCOUNTS.len()],
        };
        for (i, p) in self.profiles.iter().enumerate() {
            let acc = self.account_index(i);
            let allow = self
                .perms_of(i)
                .and_then(|p| p.publish.as_ref())
                .is_some_and(|l| l.allow.is_some());
            if allow || p.no_responders {
                a.loss[acc] = false;
            }
            if p.wild_pub_percent > 0 {
                a.wildcard[acc] = false;
            }
        }
        a
    }

    /// Patterns client `i` sometimes subscribes to: where imports bring messages into its
    /// account (`prefix.>` and `prefix.subject` for each import into it) and where its
    /// account's mappings publish ([`mapping::patterns`]).
    pub fn extra_patterns(&self, i: usize) -> Vec<Vec<u8>> {
        let a = self.account_index(i);
        let mut out: Vec<Vec<u8>> = self
            .all_imports()
            .into_iter()
            .filter(|imp| imp.importer == a)
            .flat_map(|imp| {
                [
                    format!("{}.>", imp.prefix).into_bytes(),
                    format!("{}.{}", imp.prefix, imp.subject).into_bytes(),
                ]
            })
            .collect();
        for m in self.mappings.iter().filter(|m| m.account == a) {
            out.extend(mapping::patterns(m));
        }
        out.dedup();
        // Responders: the exported service subjects.
        for s in self.all_services().into_iter().filter(|s| s.exporter == a) {
            out.push(s.subject.clone().into_bytes());
            out.push(b"rpc.>".to_vec());
        }
        out
    }

    /// The subjects of the services client `i`'s account exports.
    pub fn service_subjects(&self, i: usize) -> Vec<Vec<u8>> {
        let a = self.account_index(i);
        self.all_services()
            .into_iter()
            .filter(|s| s.exporter == a)
            .map(|s| s.subject.clone().into_bytes())
            .collect()
    }

    /// Subjects client `i` sometimes sends its requests to: the local subjects of the
    /// services its account imports.
    pub fn request_subjects(&self, i: usize) -> Vec<Vec<u8>> {
        let a = self.account_index(i);
        self.all_services()
            .into_iter()
            .filter(|s| s.importer == a)
            .map(|s| s.to.clone().into_bytes())
            .collect()
    }

    /// The mappings of account `a` (an index into [`ACCOUNTS`]) as the core's
    /// configuration takes them.
    pub fn mapping_options(&self, a: usize) -> Vec<MappingOptions> {
        self.mappings
            .iter()
            .filter(|m| m.account == a)
            .flat_map(|m| m.rules.iter().map(mapping::MappingSpec::to_core))
            .collect()
    }

    /// The accounts as the core's configuration takes them: with imports or mappings in
    /// them, `A` and `B` configured with their exports, imports and mappings (nothing
    /// otherwise: accounts come into being as their users connect).
    pub fn account_options(&self) -> Vec<AccountOptions> {
        let named_mappings = self.mappings.iter().any(|m| m.account != 0);
        if self.imports.is_empty() && self.services.is_empty() && !named_mappings {
            return Vec::new();
        }
        self.account_options_with(&self.imports, &self.services)
    }

    /// The stream imports of the start and of the reload, each once.
    fn all_imports(&self) -> Vec<&ImportSpec> {
        let mut out: Vec<&ImportSpec> = self.imports.iter().collect();
        for i in self.reloaded.iter().flat_map(|r| &r.0) {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// The service imports of the start and of the reload, each once.
    fn all_services(&self) -> Vec<&ServiceSpec> {
        let mut out: Vec<&ServiceSpec> = self.services.iter().collect();
        for s in self.reloaded.iter().flat_map(|r| &r.1) {
            if !out.iter().any(|o| o.subject == s.subject && o.to == s.to) {
                out.push(s);
            }
        }
        out
    }

    /// `A` and `B` as the core's configuration takes them, with these imports (and their
    /// exports) and the drawn mappings.
    pub fn account_options_with(
        &self,
        imports: &[ImportSpec],
        services: &[ServiceSpec],
    ) -> Vec<AccountOptions> {
        (1..ACCOUNTS.len())
            .map(|a| {
                let name = ACCOUNTS[a].expect("not $G").to_string();
                let mut exports: Vec<ExportOptions> = Vec::new();
                for i in imports.iter().filter(|i| i.exporter == a) {
                    if !exports.iter().any(|e| e.subject == i.subject) {
                        exports.push(ExportOptions {
                            subject: i.subject.clone(),
                            service: None,
                            accounts: None,
                        });
                    }
                }
                for s in services.iter().filter(|s| s.exporter == a) {
                    let response = if s.singleton {
                        ResponseType::Singleton
                    } else {
                        ResponseType::Stream
                    };
                    exports.push(ExportOptions {
                        subject: s.subject.clone(),
                        service: Some((response, s.threshold)),
                        accounts: None,
                    });
                }
                let mut imps: Vec<ImportOptions> = imports
                    .iter()
                    .filter(|i| i.importer == a)
                    .map(|i| ImportOptions {
                        account: ACCOUNTS[i.exporter].expect("not $G").to_string(),
                        subject: i.subject.clone(),
                        kind: ImportKind::Stream {
                            prefix: Some(i.prefix.clone()),
                            to: None,
                        },
                    })
                    .collect();
                imps.extend(
                    services
                        .iter()
                        .filter(|s| s.importer == a)
                        .map(|s| ImportOptions {
                            account: ACCOUNTS[s.exporter].expect("not $G").to_string(),
                            subject: s.subject.clone(),
                            kind: ImportKind::Service { to: s.to.clone() },
                        }),
                );
                AccountOptions {
                    name,
                    exports,
                    imports: imps,
                    mappings: self.mapping_options(a),
                    ..AccountOptions::default()
                }
            })
            .collect()
    }

    /// May client `i` put limits on its subscriptions (see [`Features::deny_with_limits`])?
    pub fn may_limit(&self, i: usize) -> bool {
        let denies = self
            .perms_of(i)
            .and_then(|p| p.subscribe.as_ref())
            .is_some_and(|l| !l.deny.is_empty());
        self.deny_with_limits || !denies
    }

    /// The users as the core's configuration takes them (`None` without auth).
    pub fn core_users(&self) -> Option<Vec<User>> {
        let users = self.users.as_ref()?;
        Some(
            users
                .iter()
                .enumerate()
                .map(|(i, p)| User {
                    permissions: p.as_ref().map(PermSpec::to_core),
                    account: self.account_of(i).map(str::to_string),
                    ..login_user(i)
                })
                .collect(),
        )
    }

    /// The account of client `i`'s user (`None`: `$G`, also for an index out of range).
    pub fn account_of(&self, i: usize) -> Option<&'static str> {
        ACCOUNTS.get(self.account_index(i)).copied().flatten()
    }

    /// Client `i`'s account as an index into [`ACCOUNTS`] (0, `$G`, for a client out of
    /// range).
    pub fn account_index(&self, i: usize) -> usize {
        self.accounts.get(i).copied().unwrap_or(0)
    }

    /// How many different accounts the clients are in.
    pub fn accounts_in_use(&self) -> usize {
        let mut used = [false; ACCOUNTS.len()];
        for &a in &self.accounts {
            if let Some(u) = used.get_mut(a) {
                *u = true;
            }
        }
        used.iter().filter(|&&u| u).count()
    }

    /// The permissions of client `i`'s user, if restricted.
    pub fn perms_of(&self, i: usize) -> Option<&PermSpec> {
        self.users.as_ref()?.get(i)?.as_ref()
    }
}

/// Each client's account: with auth, in 4 seeds of 5 every user draws one of [`ACCOUNTS`]
/// (so most of these seeds have two or three accounts on overlapping subjects), else all
/// are in `$G`. Its own stream: the other features draw as without it.
fn draw_accounts(seed: u64, clients: usize, auth: bool) -> Vec<usize> {
    let mut r = Rng::fork(seed, 0xACC7_0000);
    if !auth || r.below(5) == 0 {
        return vec![0; clients];
    }
    (0..clients)
        .map(|_| r.below(ACCOUNTS.len() as u64) as usize)
        .collect()
}

/// Stream imports: in 3 of 4 seeds whose users are in accounts, one account (`A` or `B`)
/// exports 1..=3 subjects of [`IMPORT_SUBJECTS`] and the other imports each under its own
/// prefix. One direction only: no chains of imports. Its own stream.
fn draw_imports(seed: u64, accounts: &[usize]) -> Vec<ImportSpec> {
    let mut r = Rng::fork(seed, 0x1A90_0000);
    if accounts.iter().all(|&a| a == 0) || r.below(4) == 0 {
        return Vec::new();
    }
    let exporter = 1 + r.below(2) as usize;
    let importer = 3 - exporter;
    let n = 1 + r.below(3) as usize;
    let mut subjects: Vec<&str> = IMPORT_SUBJECTS.to_vec();
    let mut prefixes: Vec<&str> = IMPORT_PREFIXES.to_vec();
    (0..n)
        .map(|_| {
            let s = subjects.swap_remove(r.below(subjects.len() as u64) as usize);
            let p = prefixes.swap_remove(r.below(prefixes.len() as u64) as usize);
            ImportSpec {
                exporter,
                importer,
                subject: s.to_string(),
                prefix: p.to_string(),
            }
        })
        .collect()
}

/// Service imports: in 2 of 3 seeds whose users are in accounts, 1..=2 services exported
/// by one account (the stream exporter, if any: one direction, so no message crosses two
/// imports) and imported by the other, each `to` its own local subject. Singleton or stream
/// responses; a threshold sometimes (never reached). Its own stream.
fn draw_services(seed: u64, accounts: &[usize], imports: &[ImportSpec]) -> Vec<ServiceSpec> {
    let mut r = Rng::fork(seed, 0x5E2F_0000);
    if accounts.iter().all(|&a| a == 0) || r.below(3) == 0 {
        return Vec::new();
    }
    let exporter = match imports.first() {
        Some(i) => i.exporter,
        None => 1 + r.below(2) as usize,
    };
    let importer = 3 - exporter;
    let n = 1 + r.below(2) as usize;
    let mut subjects: Vec<&str> = SERVICE_SUBJECTS.to_vec();
    let mut locals: Vec<&str> = SERVICE_LOCALS.to_vec();
    (0..n)
        .map(|_| {
            let s = subjects.swap_remove(r.below(subjects.len() as u64) as usize);
            let t = locals.swap_remove(r.below(locals.len() as u64) as usize);
            ServiceSpec {
                exporter,
                importer,
                subject: s.to_string(),
                to: t.to_string(),
                singleton: r.below(2) == 0,
                threshold: (r.below(3) == 0).then(|| Duration::from_secs(600)),
            }
        })
        .collect()
}

/// The imports after a reload of the accounts (`reload` variant): in 3 of 4 seeds that
/// start with imports, 1..=3 changes among removing a stream import, changing one's prefix
/// (to one no other import uses), adding one (an unused subject and prefix), removing a
/// service import, adding one (an unused service subject and local subject). The same
/// direction as at the start: no chains of imports. Its own stream.
pub fn draw_reload_imports(seed: u64, f: &Features) -> Option<(Vec<ImportSpec>, Vec<ServiceSpec>)> {
    let mut r = Rng::fork(seed, 0x2E10_AD11);
    let (exporter, importer) = match (f.imports.first(), f.services.first()) {
        (Some(i), _) => (i.exporter, i.importer),
        (None, Some(s)) => (s.exporter, s.importer),
        (None, None) => return None,
    };
    if r.below(4) == 0 {
        return None;
    }
    let (mut imports, mut services) = (f.imports.clone(), f.services.clone());
    for _ in 0..1 + r.below(3) {
        let free_prefixes: Vec<&str> = IMPORT_PREFIXES
            .iter()
            .copied()
            .filter(|p| !imports.iter().any(|i| i.prefix == *p))
            .collect();
        match r.below(5) {
            0 if !imports.is_empty() => {
                imports.remove(r.below(imports.len() as u64) as usize);
            }
            1 if !imports.is_empty() && !free_prefixes.is_empty() => {
                let i = r.below(imports.len() as u64) as usize;
                let p = free_prefixes[r.below(free_prefixes.len() as u64) as usize];
                imports[i].prefix = p.to_string();
            }
            2 if !free_prefixes.is_empty() => {
                let free: Vec<&str> = IMPORT_SUBJECTS
                    .iter()
                    .copied()
                    .filter(|s| !imports.iter().any(|i| i.subject == *s))
                    .collect();
                if free.is_empty() {
                    continue;
                }
                let s = free[r.below(free.len() as u64) as usize];
                let p = free_prefixes[r.below(free_prefixes.len() as u64) as usize];
                imports.push(ImportSpec {
                    exporter,
                    importer,
                    subject: s.to_string(),
                    prefix: p.to_string(),
                });
            }
            3 if !services.is_empty() => {
                services.remove(r.below(services.len() as u64) as usize);
            }
            4 => {
                let subjects: Vec<&str> = SERVICE_SUBJECTS
                    .iter()
                    .copied()
                    .filter(|s| !services.iter().any(|x| x.subject == *s))
                    .collect();
                let locals: Vec<&str> = SERVICE_LOCALS
                    .iter()
                    .copied()
                    .filter(|t| !services.iter().any(|x| x.to == *t))
                    .collect();
                if subjects.is_empty() || locals.is_empty() {
                    continue;
                }
                services.push(ServiceSpec {
                    exporter,
                    importer,
                    subject: subjects[r.below(subjects.len() as u64) as usize].to_string(),
                    to: locals[r.below(locals.len() as u64) as usize].to_string(),
                    singleton: r.below(2) == 0,
                    threshold: None,
                });
            }
            _ => {}
        }
    }
    (imports != f.imports || services != f.services).then_some((imports, services))
}

fn draw_profile(r: &mut Rng) -> Profile {
    let headers = r.below(6) != 0;
    Profile {
        echo: r.below(4) != 0,
        verbose: r.below(6) == 0,
        pedantic: r.below(4) == 0,
        headers,
        no_responders: headers && r.below(3) == 0,
        // 8%, not less: oversized publishes are only made against a small `max_payload`
        // (a seed in 4), so rarer ones leave whole 100-seed ranges without a close.
        oversize_percent: if r.below(8) == 0 { 8 } else { 0 },
        wild_pub_percent: if r.below(4) == 0 { 5 } else { 0 },
    }
}

fn pick(r: &mut Rng, n: u64) -> Vec<String> {
    (0..n)
        .map(|_| PERM_PATTERNS[r.below(PERM_PATTERNS.len() as u64) as usize].to_string())
        .collect()
}

fn draw_list(r: &mut Rng) -> ListSpec {
    let allow = match r.below(3) {
        0 => {
            let n = 1 + r.below(3);
            let mut a = pick(r, n);
            // Usually let request inboxes through, so requests are not all refused.
            if r.below(3) != 0 {
                a.push("_INBOX.>".to_string());
            }
            Some(a)
        }
        _ => None,
    };
    let n = r.below(3);
    let deny = pick(r, n);
    ListSpec { allow, deny }
}

fn draw_perms(r: &mut Rng) -> PermSpec {
    PermSpec {
        publish: (r.below(2) == 0).then(|| draw_list(r)),
        subscribe: (r.below(2) == 0).then(|| draw_list(r)),
    }
}

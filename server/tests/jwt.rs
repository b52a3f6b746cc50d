//! JWT operator mode, black-box, the same configs on ours (both runtimes) and on the Go
//! servers: an operator, a system account and an account `A` (a signing key, a revoked
//! user, default permissions), all made at test time, preloaded with `resolver: MEMORY`.
//! User JWTs are tried over raw connections (the INFO nonce signed by the user's seed):
//! accepted (good, by the signing key, bearer, `src` matching), refused with Go's
//! `Authorization Violation` (unknown signer, expired, not yet valid, revoked, bad
//! signature, `src` not matching) with nothing they publish delivered, permissions (the
//! user's and the account's defaults), and a JWT expiring while connected. Then
//! operator-mode config errors (users configured directly, a garbage operator JWT, the
//! system account not preloaded), on starting and with `-t`.
//!
//! INTEROP: compared with Debian's Go 2.9.10 (`/usr/sbin/nats-server`) and Go 2.15.1
//! (`NATS_GO215_SERVER`); missing ones print SKIPPED, or fail under `NATSD_REQUIRE_GO=1`
//! (set by `.ci/run`). Ours is also checked against fixed expectations.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use launch::io::{info_line, ping, servers, until_close};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nkeys::KeyPair;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

const AUTH_VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

/// A missing Go server: SKIPPED on stderr and in the README test command's summary.
fn skip(what: &str) {
    common::report_skip(what);
}

/// `claims` signed by `issuer` (the encoder fills in `iss`, `jti` and `nats.version`).
fn sign_claims(claims: Value, issuer: &KeyPair) -> String {
    natsd_core::jwt::encode(&claims, issuer).unwrap()
}

/// The trust chain: operator, system account, account `A` with its signing key, and the
/// key of a user that `A` revoked.
struct Trust {
    operator_jwt: String,
    sys: KeyPair,
    sys_jwt: String,
    acc: KeyPair,
    acc_jwt: String,
    signing_key: KeyPair,
    revoked: KeyPair,
}

impl Trust {
    fn new() -> Trust {
        let op = KeyPair::new_operator();
        let sys = KeyPair::new_account();
        let acc = KeyPair::new_account();
        let signing_key = KeyPair::new_account();
        let revoked = KeyPair::new_user();
        let iat = launch::io::unix_now();
        let limits = json!({"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,
            "wildcards":true,"conn":-1,"leaf":-1});
        let operator_jwt = sign_claims(
            json!({"iat": iat, "name": "JwtTestOp", "sub": op.public_key(),
                "nats": {"type": "operator", "system_account": sys.public_key()}}),
            &op,
        );
        let sys_jwt = sign_claims(
            json!({"iat": iat, "name": "SYS", "sub": sys.public_key(),
                "nats": {"limits": limits, "default_permissions": {"pub": {}, "sub": {}},
                    "type": "account"}}),
            &op,
        );
        let acc_jwt = sign_claims(
            json!({"iat": iat, "name": "A", "sub": acc.public_key(),
                "nats": {"limits": limits,
                    "default_permissions": {"pub": {"deny": ["secret.>"]}, "sub": {}},
                    "type": "account",
                    "signing_keys": [signing_key.public_key()],
                    "revocations": {revoked.public_key(): iat}}}),
            &op,
        );
        Trust {
            operator_jwt,
            sys,
            sys_jwt,
            acc,
            acc_jwt,
            signing_key,
            revoked,
        }
    }

    /// The server config: the operator, its system account, both accounts preloaded.
    fn conf(&self) -> String {
        format!(
            "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload {{\n  {}: {}\n  {}: {}\n}}\n",
            self.operator_jwt,
            self.sys.public_key(),
            self.sys.public_key(),
            self.sys_jwt,
            self.acc.public_key(),
            self.acc_jwt
        )
    }
}

/// A user JWT for `user`, signed by `signer`: `top` adds standard claims (exp, nbf, iat),
/// `nats` adds or replaces user claims (permissions, bearer_token, src, issuer_account).
fn user_jwt(user: &KeyPair, name: &str, signer: &KeyPair, top: Value, nats: Value) -> String {
    let mut claims = json!({"iat": launch::io::unix_now(), "name": name, "sub": user.public_key()});
    for (k, v) in top.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let mut n = json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1});
    for (k, v) in nats.as_object().unwrap() {
        n[k] = v.clone();
    }
    n["type"] = "user".into();
    claims["nats"] = n;
    sign_claims(claims, signer)
}

/// How a client presents its JWT.
#[derive(Clone, Copy)]
enum Sig<'a> {
    /// The INFO nonce signed with this key.
    By(&'a KeyPair),
    /// No `sig` at all.
    None,
}

/// Connects, reads INFO, sends `CONNECT {"verbose":true,"jwt":…,"sig":…}` then `ops`.
async fn connect_jwt(port: u16, jwt: &str, sig: Sig<'_>, ops: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let info = info_line(&mut s).await;
    let v: Value = serde_json::from_str(info.trim_end().strip_prefix("INFO ").unwrap()).unwrap();
    let nonce = v["nonce"].as_str().expect("a nonce in operator mode");
    let sig = match sig {
        Sig::By(kp) => format!(
            ",\"sig\":\"{}\"",
            data_encoding::BASE64URL_NOPAD.encode(&kp.sign(nonce.as_bytes()).unwrap())
        ),
        Sig::None => String::new(),
    };
    s.write_all(format!("CONNECT {{\"verbose\":true,\"jwt\":\"{jwt}\"{sig}}}\r\n{ops}").as_bytes())
        .await
        .unwrap();
    s
}

/// Accepted and refused user JWTs, permissions, and what a refused client publishes
/// (nothing reaches a subscriber of its account).
#[tokio::test]
async fn user_jwts_accepted_and_refused_as_go() {
    let t = Trust::new();
    let conf = t.conf();
    let a = &t.acc;
    let none = json!({});

    let good = KeyPair::new_user();
    let good_jwt = user_jwt(&good, "good", a, none.clone(), none.clone());
    let by_sk = KeyPair::new_user();
    let by_sk_jwt = user_jwt(
        &by_sk,
        "sk",
        &t.signing_key,
        none.clone(),
        json!({"issuer_account": a.public_key()}),
    );
    let bearer = KeyPair::new_user();
    let bearer_jwt = user_jwt(
        &bearer,
        "bearer",
        a,
        none.clone(),
        json!({"bearer_token": true}),
    );
    let src_ok = KeyPair::new_user();
    let src_ok_jwt = user_jwt(
        &src_ok,
        "src_ok",
        a,
        none.clone(),
        json!({"src": ["127.0.0.0/8"]}),
    );
    let perms = KeyPair::new_user();
    let perms_jwt = user_jwt(
        &perms,
        "perms",
        a,
        none.clone(),
        json!({"pub": {"allow": ["ok.>"]}}),
    );

    let unknown_account = KeyPair::new_account();
    let unknown = KeyPair::new_user();
    let expired = KeyPair::new_user();
    let not_yet = KeyPair::new_user();
    let bad_sig = KeyPair::new_user();
    let src_bad = KeyPair::new_user();
    let other = KeyPair::new_user();
    let refused: Vec<(&str, String, Sig)> = vec![
        (
            "signed by an unknown account key",
            user_jwt(
                &unknown,
                "unknown",
                &unknown_account,
                none.clone(),
                none.clone(),
            ),
            Sig::By(&unknown),
        ),
        (
            "expired",
            user_jwt(
                &expired,
                "expired",
                a,
                json!({"exp": launch::io::unix_now() - 10}),
                none.clone(),
            ),
            Sig::By(&expired),
        ),
        (
            "nbf in the future",
            user_jwt(
                &not_yet,
                "nbf",
                a,
                json!({"nbf": launch::io::unix_now() + 3600}),
                none.clone(),
            ),
            Sig::By(&not_yet),
        ),
        (
            "revoked",
            user_jwt(
                &t.revoked,
                "revoked",
                a,
                json!({"iat": launch::io::unix_now() - 100}),
                none.clone(),
            ),
            Sig::By(&t.revoked),
        ),
        (
            "nonce signed by another key",
            user_jwt(&bad_sig, "badsig", a, none.clone(), none.clone()),
            Sig::By(&other),
        ),
        (
            "no sig (not a bearer token)",
            user_jwt(&bad_sig, "nosig", a, none.clone(), none.clone()),
            Sig::None,
        ),
        (
            "src not matching 127.0.0.1",
            user_jwt(
                &src_bad,
                "src_bad",
                a,
                none.clone(),
                json!({"src": ["10.0.0.0/8"]}),
            ),
            Sig::By(&src_bad),
        ),
    ];

    for (label, mut cmd) in servers(BIN, "user_jwts_accepted_and_refused_as_go", false, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "jwt-users", &conf).await;

        // A subscriber of A on what refused clients publish.
        let mut watcher = connect_jwt(port, &good_jwt, Sig::By(&good), "SUB leak.> 1\r\n").await;
        assert_eq!(
            ping(&mut watcher, "").await,
            "+OK\r\n+OK\r\nPONG\r\n",
            "{label}: good user"
        );

        for (what, jwt, kp) in [
            ("by A's signing key", &by_sk_jwt, &by_sk),
            ("src 127.0.0.0/8", &src_ok_jwt, &src_ok),
        ] {
            let mut s = connect_jwt(port, jwt, Sig::By(kp), "").await;
            assert_eq!(ping(&mut s, "").await, "+OK\r\nPONG\r\n", "{label}: {what}");
        }
        let mut s = connect_jwt(port, &bearer_jwt, Sig::None, "").await;
        assert_eq!(
            ping(&mut s, "").await,
            "+OK\r\nPONG\r\n",
            "{label}: bearer token without sig"
        );

        // The user's permissions: a violation keeps the connection.
        let mut s = connect_jwt(port, &perms_jwt, Sig::By(&perms), "PUB no 0\r\n\r\n").await;
        assert_eq!(
            ping(&mut s, "").await,
            "+OK\r\n-ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG\r\n",
            "{label}: user permissions"
        );
        assert_eq!(
            ping(&mut s, "PUB ok.1 0\r\n\r\n").await,
            "+OK\r\nPONG\r\n",
            "{label}: still connected, allowed subject"
        );
        // A user with no permissions gets the account's defaults (deny secret.>).
        assert_eq!(
            ping(&mut watcher, "PUB secret.x 0\r\n\r\nPUB leak 0\r\n\r\n").await,
            "-ERR 'Permissions Violation for Publish to \"secret.x\"'\r\n+OK\r\nPONG\r\n",
            "{label}: the account's default permissions"
        );

        for (what, jwt, sig) in &refused {
            let mut s = connect_jwt(
                port,
                jwt,
                *sig,
                "SUB leak.> 9\r\nPUB leak.x 4\r\nleak\r\nPING\r\n",
            )
            .await;
            let (got, _) = until_close(&mut s, Duration::from_secs(5)).await;
            assert_eq!(got, AUTH_VIOLATION, "{label}: {what}");
        }
        // Nothing a refused client published reached A.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            ping(&mut watcher, "").await,
            "PONG\r\n",
            "{label}: nothing delivered from refused clients"
        );
    }
}

/// A user JWT expiring ~2 s after CONNECT: accepted, then closed with Go's
/// `User Authentication Expired` (Go arms a timer of whole seconds, so within 5 s).
#[tokio::test]
async fn user_jwt_expiring_while_connected() {
    let t = Trust::new();
    let conf = t.conf();
    for (label, mut cmd) in servers(BIN, "user_jwt_expiring_while_connected", false, skip) {
        let (_child, port, _c) = launch::spawn_with_conf(&mut cmd, "jwt-exp", &conf).await;
        let user = KeyPair::new_user();
        let jwt = user_jwt(
            &user,
            "expsoon",
            &t.acc,
            json!({"exp": launch::io::unix_now() + 2}),
            json!({}),
        );
        let start = Instant::now();
        let mut s = connect_jwt(port, &jwt, Sig::By(&user), "").await;
        assert_eq!(ping(&mut s, "").await, "+OK\r\nPONG\r\n", "{label}");
        let (got, _) = until_close(&mut s, Duration::from_secs(6)).await;
        let took = start.elapsed();
        eprintln!("{label}: {got:?} after {took:?}");
        // Go's first server PING (about 2 s in) may come before the expiry: a keep-alive,
        // not part of what is compared.
        let got = got.replace("PING\r\n", "");
        assert_eq!(got, "-ERR 'User Authentication Expired'\r\n", "{label}");
        assert!(
            took < Duration::from_secs(5) && took > Duration::from_millis(900),
            "{label}: closed after {took:?}"
        );
    }
}

/// How a config is given to a binary: checked (`-t -c FILE`) or started
/// (`-c FILE -a 127.0.0.1 -p -1`; a server still running after 5 s is stopped and reported
/// as started).
#[derive(Clone, Copy, Debug)]
enum Mode {
    Check,
    Start,
}

/// What a binary said about a config: the exit code (None: it kept running), the position
/// of the error (`line:col`, when given) and the message after `nats-server: ` and the
/// position; with `-t` on a valid file, the `configuration file … is valid` text (Go 2.15.1's
/// `(sha256:…)` suffix removed).
async fn config_outcome(
    mut cmd: Command,
    path: &Path,
    mode: Mode,
) -> (Option<i32>, Option<String>, String) {
    let file = path.to_str().unwrap();
    match mode {
        Mode::Check => cmd.args(["-t", "-c", file]),
        Mode::Start => cmd.args(["-c", file, "-a", "127.0.0.1", "-p", "-1"]),
    };
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = match tokio::time::timeout(Duration::from_secs(5), child.wait_with_output()).await {
        Ok(out) => out.unwrap(),
        Err(_) => return (None, None, "<started>".into()),
    };
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // Ours on the std runtime first warns about what it lowers there: not compared.
    let Some(line) = err
        .lines()
        .find(|l| l.starts_with("nats-server: ") && !l.contains("on the std runtime"))
    else {
        return (
            out.status.code(),
            None,
            format!("<no `nats-server: ` line> {err}"),
        );
    };
    let msg = line.strip_prefix("nats-server: ").unwrap();
    let (pos, msg) = match msg.strip_prefix(&format!("{file}:")) {
        Some(rest) => {
            let mut parts = rest.splitn(3, ':');
            let (l, c, m) = (parts.next(), parts.next(), parts.next());
            (
                Some(format!("{}:{}", l.unwrap(), c.unwrap())),
                m.unwrap_or_default().trim_start().to_string(),
            )
        }
        None => (None, msg.to_string()),
    };
    let msg = match msg.split_once(" is valid (sha256:") {
        Some((head, _)) => format!("{head} is valid"),
        None => msg,
    };
    (out.status.code(), pos, msg)
}

fn conf_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-jwtconf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Operator-mode config errors, in the files `users.conf` (users configured directly),
/// `garbage.conf` (a garbage operator JWT, on line 3) and `nosys.conf` (the operator's
/// system account not preloaded), with the message Go gives for each (for `garbage`, the
/// start of it: the rest is Go's JWT library's text).
fn error_configs(dir: &Path) -> Vec<(&'static str, PathBuf, &'static str)> {
    let t = Trust::new();
    let cases = [
        (
            "users",
            format!(
                "{}authorization {{\n  users: [{{user: a, password: b}}]\n}}\n",
                t.conf()
            ),
            "operators do not allow users to be configured directly",
        ),
        (
            "garbage",
            "port: -1\n\noperator: eyJhbGciOiJub3RoaW5nIn0.garbage.sig\nresolver: MEMORY\n"
                .to_string(),
            "error parsing operator JWT: ",
        ),
        (
            "nosys",
            format!(
                "operator: {}\nresolver: MEMORY\nresolver_preload {{\n  {}: {}\n}}\n",
                t.operator_jwt,
                t.acc.public_key(),
                t.acc_jwt
            ),
            "error resolving system account: account missing",
        ),
    ];
    cases
        .into_iter()
        .map(|(name, text, want)| {
            let path = dir.join(format!("{name}.conf"));
            std::fs::write(&path, text).unwrap();
            (name, path, want)
        })
        .collect()
}

/// Ours on both runtimes, then each Go server present, as command makers.
type Maker = Box<dyn Fn() -> Command>;

fn makers(what: &str) -> Vec<(String, Maker)> {
    let mut out: Vec<(String, Maker)> = Vec::new();
    for rt in ["tokio", "std"] {
        out.push((
            format!("ours ({rt})"),
            Box::new(move || {
                let mut c = Command::new(BIN);
                c.args(["--runtime", rt]);
                c
            }),
        ));
    }
    for (label, path) in launch::go_servers(what, skip) {
        out.push((label.to_string(), Box::new(move || Command::new(&path))));
    }
    out
}

/// Starting with an operator-mode config error: exit code 1 and Go's message (the whole
/// text equal to Go's where Go runs; positions printed, not compared).
#[tokio::test]
async fn operator_config_errors_as_go() {
    let dir = conf_dir("start");
    let cmds = makers("operator_config_errors_as_go");
    for (name, path, want) in error_configs(&dir) {
        let mut seen = Vec::new();
        for (label, cmd) in &cmds {
            let (code, pos, msg) = config_outcome(cmd(), &path, Mode::Start).await;
            eprintln!("{name}: {label}: rc={code:?} pos={pos:?} {msg:?}");
            assert_eq!(code, Some(1), "{name}: {label}: {msg}");
            if want.ends_with(' ') {
                assert!(msg.starts_with(want), "{name}: {label}: {msg:?}");
            } else {
                assert_eq!(msg, want, "{name}: {label}");
            }
            seen.push((label.clone(), msg));
        }
        if let Some((_, go)) = seen.iter().find(|(l, _)| l.starts_with("go")) {
            for (label, msg) in &seen {
                assert_eq!(msg, go, "{name}: {label} vs Go's whole text");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-t -c FILE` on the same configs: Go checks only what parsing the file finds (the
/// garbage JWT, exit 1); the other two pass its `-t` (exit 0, `configuration file … is
/// valid`) and fail only when the server starts.
#[tokio::test]
async fn operator_config_check_as_go() {
    let dir = conf_dir("check");
    let cmds = makers("operator_config_check_as_go");
    for (name, path, want) in error_configs(&dir) {
        let (code, msg) = match name {
            "garbage" => (Some(1), want.to_string()),
            _ => (
                Some(0),
                format!("configuration file {} is valid", path.display()),
            ),
        };
        for (label, cmd) in &cmds {
            let (got_code, pos, got) = config_outcome(cmd(), &path, Mode::Check).await;
            eprintln!("-t {name}: {label}: rc={got_code:?} pos={pos:?} {got:?}");
            assert_eq!(got_code, code, "-t {name}: {label}: {got}");
            assert!(got.starts_with(&msg), "-t {name}: {label}: {got:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! The binary with `-c FILE`: `-t`, flags over the file, and hot reload (SIGHUP and
//! `--signal reload=PIDFILE`) observed on live clients and in the log file, with each runtime
//! (`--runtime tokio` and `--runtime std`; see `common::per_runtime`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{contains, per_runtime, read_to_close, read_until, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-reload-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

per_runtime!(
    sighup_disconnects_removed_user_and_keeps_the_rest,
    signal_reload_with_pidfile_reloads,
    bad_new_configs_keep_the_old_one_running,
    reload_changes_logging,
    check_config_reports_valid_and_invalid_files,
    flags_override_the_file,
    idle_client_of_a_removed_user_is_kicked_promptly,
);

/// The binary with `--runtime rt` first.
fn command(rt: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--runtime", rt]);
    c
}

const TWO_USERS: &str = r#"
listen: 127.0.0.1:-1
authorization {
  users = [
    {user: u1, password: p1}
    {user: u2, password: p2}
  ]
}
"#;

const ONE_USER_SMALL_PAYLOAD: &str = r#"
listen: 127.0.0.1:-1
max_payload: 100
authorization {
  users = [
    {user: u1, password: p1}
  ]
}
"#;

/// A running binary with a config file, a log file and a pid file in a temp dir.
struct Proc {
    child: Child,
    dir: PathBuf,
    conf: PathBuf,
    log: PathBuf,
    pid: PathBuf,
    port: u16,
}

impl Proc {
    async fn start(rt: &str, name: &str, conf_text: &str, extra: &[&str]) -> Proc {
        let dir = temp_dir(&format!("{name}-{rt}"));
        let conf = dir.join("server.conf");
        let log = dir.join("server.log");
        let pid = dir.join("server.pid");
        std::fs::write(&conf, conf_text).unwrap();
        let mut args: Vec<&str> = vec![
            "-c",
            conf.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-P",
            pid.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let child = command(rt)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let text = wait_log(&log, "Server is ready", 1).await;
        let line = text
            .lines()
            .find(|l| l.contains("Listening for client connections on "))
            .expect("listen line");
        let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
        Proc {
            child,
            dir,
            conf,
            log,
            pid,
            port,
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }

    fn hup(&self) {
        let pid = Pid::from_raw(self.child.id().unwrap() as i32);
        kill(pid, Signal::SIGHUP).unwrap();
    }

    /// Rewrites the config, sends SIGHUP, and waits for the reload's `n`th outcome line.
    async fn reload(&self, conf_text: &str, outcome: &str, n: usize) -> String {
        std::fs::write(&self.conf, conf_text).unwrap();
        self.hup();
        wait_log(&self.log, outcome, n).await
    }

    async fn stop(mut self) {
        let pid = Pid::from_raw(self.child.id().unwrap() as i32);
        kill(pid, Signal::SIGINT).unwrap();
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("no exit")
            .unwrap();
        assert_eq!(status.code(), Some(0));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Waits (bounded) until the log holds `needle` at least `n` times; returns the log.
async fn wait_log(path: &Path, needle: &str, n: usize) -> String {
    let fut = async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text.matches(needle).count() >= n {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match tokio::time::timeout(WAIT, fut).await {
        Ok(t) => t,
        Err(_) => panic!(
            "log never showed {needle:?} x{n}:\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        ),
    }
}

/// Connects as `user`, sends `extra` and a PING, waits for the PONG.
async fn login(addr: std::net::SocketAddr, user: &str, pass: &str, extra: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    let hello = format!(
        "CONNECT {{\"verbose\":false,\"user\":\"{user}\",\"pass\":\"{pass}\"}}\r\n{extra}PING\r\n"
    );
    s.write_all(hello.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"PONG\r\n").await;
    s
}

/// Sends `what` plus a PING and returns everything up to the PONG.
async fn roundtrip(s: &mut TcpStream, what: &str) -> String {
    s.write_all(format!("{what}PING\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(s, &mut buf, b"PONG\r\n").await;
    String::from_utf8(buf).unwrap()
}

/// The removed user's client gets `Authorization Violation` and is closed; the remaining
/// user's client keeps its subscription and receives on it; the new max_payload applies.
async fn removed_user_kicked_others_kept(p: &Proc, trigger: impl std::future::Future<Output = ()>) {
    let mut a = login(p.addr(), "u1", "p1", "SUB foo 1\r\n").await;
    let mut b = login(p.addr(), "u2", "p2", "SUB foo 1\r\n").await;
    std::fs::write(&p.conf, ONE_USER_SMALL_PAYLOAD).unwrap();
    trigger.await;
    let mut buf = Vec::new();
    read_until(&mut b, &mut buf, b"-ERR 'Authorization Violation'\r\n").await;
    read_to_close(&mut b).await;
    let log = wait_log(&p.log, "Reloaded server configuration", 1).await;
    assert!(log.contains("[INF] Reloaded: authorization users"), "{log}");
    assert!(log.contains("[INF] Reloaded: max_payload = 100"), "{log}");
    // a is still subscribed: a message from another u1 client reaches it.
    let mut c = login(p.addr(), "u1", "p1", "").await;
    roundtrip(&mut c, "PUB foo 5\r\nhello\r\n").await;
    let mut buf = Vec::new();
    read_until(&mut a, &mut buf, b"MSG foo 1 5\r\nhello\r\n").await;
    // u2 can no longer log in; the new payload limit is enforced.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"CONNECT {\"verbose\":false,\"user\":\"u2\",\"pass\":\"p2\"}\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"-ERR 'Authorization Violation'\r\n").await;
    let big = "x".repeat(101);
    c.write_all(format!("PUB foo 101\r\n{big}\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = Vec::new();
    read_until(&mut c, &mut buf, b"-ERR 'Maximum Payload Violation'\r\n").await;
}

async fn sighup_disconnects_removed_user_and_keeps_the_rest(rt: &'static str) {
    let p = Proc::start(rt, "hup", TWO_USERS, &[]).await;
    removed_user_kicked_others_kept(&p, async { p.hup() }).await;
    p.stop().await;
}

async fn signal_reload_with_pidfile_reloads(rt: &'static str) {
    let p = Proc::start(rt, "sl", TWO_USERS, &[]).await;
    let spec = format!("reload={}", p.pid.display());
    let trigger = async {
        let out = Command::new(BIN)
            .args(["--signal", &spec])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    };
    removed_user_kicked_others_kept(&p, trigger).await;
    p.stop().await;
}

/// A client that sends nothing is still re-checked promptly: std's readers cap their read
/// timeout at 100 ms for this (tokio's are woken by a watch channel).
async fn idle_client_of_a_removed_user_is_kicked_promptly(rt: &'static str) {
    let p = Proc::start(rt, "idle", TWO_USERS, &[]).await;
    let mut b = login(p.addr(), "u2", "p2", "").await;
    // The client was active, so the first keep-alive PING is skipped: no timer of this
    // connection is due for minutes, and only the reload can make the server act on it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&p.conf, ONE_USER_SMALL_PAYLOAD).unwrap();
    p.hup();
    wait_log(&p.log, "Reloaded server configuration", 1).await;
    let reloaded = std::time::Instant::now();
    let mut buf = Vec::new();
    read_until(&mut b, &mut buf, b"-ERR 'Authorization Violation'\r\n").await;
    let took = reloaded.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{rt}: kicked {took:?} after the reload"
    );
    read_to_close(&mut b).await;
    p.stop().await;
}

async fn bad_new_configs_keep_the_old_one_running(rt: &'static str) {
    let p = Proc::start(rt, "bad", TWO_USERS, &[]).await;
    let mut b = login(p.addr(), "u2", "p2", "SUB foo 1\r\n").await;
    let failed = "[ERR] Failed to reload server configuration: ";
    let log = p.reload("listen: 127.0.0.1:-1\nfoo {\n", failed, 1).await;
    let conf = p.conf.display().to_string();
    assert!(
        log.contains(&format!(
            "{failed}{conf}:3:1: Unexpected EOF processing map."
        )),
        "{log}"
    );
    // A port change is not reloadable: the message names the option and both values.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other = taken.local_addr().unwrap().port();
    let log = p
        .reload(&format!("listen: 127.0.0.1:{other}\n"), failed, 2)
        .await;
    let want = format!(
        "{failed}config reload not supported for Port: old={}, new={other}",
        p.port
    );
    assert!(log.contains(&want), "{log}");
    // Unknown keys fail the reload too, with file, line and column.
    let log = p
        .reload(&format!("{TWO_USERS}\nbogus: 1\n"), failed, 3)
        .await;
    assert!(log.contains("unknown field \"bogus\""), "{log}");
    assert!(!log.contains("Reloaded server configuration"), "{log}");
    // The old config still runs: u2 is connected and may still log in.
    let reply = roundtrip(&mut b, "PUB foo 2\r\nhi\r\n").await;
    assert!(reply.contains("MSG foo 1 2\r\nhi\r\n"), "{reply}");
    login(p.addr(), "u2", "p2", "").await;
    p.stop().await;
}

async fn reload_changes_logging(rt: &'static str) {
    let p = Proc::start(rt, "log", TWO_USERS, &[]).await;
    let log = std::fs::read_to_string(&p.log).unwrap();
    assert!(!log.contains("[DBG]"), "{log}");
    let conf = format!("{TWO_USERS}\ndebug: true\n");
    p.reload(&conf, "Reloaded server configuration", 1).await;
    // Debug lines now appear (a client connecting logs one).
    login(p.addr(), "u1", "p1", "").await;
    let log = wait_log(&p.log, "Client connection created", 1).await;
    assert!(log.contains("[INF] Reloaded: debug = true"), "{log}");
    p.stop().await;
}

async fn check(rt: &str, path: &Path) -> (i32, String) {
    let out = command(rt)
        .args(["-t", "-c", path.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

async fn check_config_reports_valid_and_invalid_files(rt: &'static str) {
    let dir = temp_dir(&format!("t-{rt}"));
    let good = dir.join("good.conf");
    std::fs::write(&good, TWO_USERS).unwrap();
    let (code, err) = check(rt, &good).await;
    assert_eq!(code, 0, "{err}");
    // Both runtimes hold Go's default max_connections: nothing is lowered, nothing said.
    assert_eq!(
        err,
        format!(
            "nats-server: configuration file {} is valid\n",
            good.display()
        )
    );
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port: 4222\nmax_payload: \"nope\"\n").unwrap();
    let (code, err) = check(rt, &bad).await;
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("nats-server: {}:2:1: ", bad.display())),
        "{err}"
    );
    let toml = dir.join("good.toml");
    std::fs::write(&toml, "port = 4222\nmax_payload = 2048\n").unwrap();
    assert_eq!(check(rt, &toml).await.0, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

async fn flags_override_the_file(rt: &'static str) {
    // The file asks for a port that is taken: only `-p -1` overriding it lets the server start.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let conf = format!("listen: 127.0.0.1:{port}\ndebug: false\n");
    let p = Proc::start(rt, "flags", &conf, &["-p", "-1", "-D"]).await;
    assert_ne!(p.port, port);
    // -D beats `debug: false`: connecting logs a debug line.
    let mut s = TcpStream::connect(p.addr()).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    wait_log(&p.log, "[DBG]", 1).await;
    // A reload keeps the flags on top: the file's port is still overridden (no error).
    let log = p
        .reload(
            &format!("{conf}max_connections: 10\n"),
            "Reloaded server configuration",
            1,
        )
        .await;
    assert!(log.contains("Reloaded: max_connections = 10"), "{log}");
    assert!(!contains(log.as_bytes(), b"[ERR]"), "{log}");
    p.stop().await;
}

/// Realistic configs using only supported features: the Go server and ours agree on `-t`.
const REALISTIC: &[(&str, &str)] = &[
    (
        "basic.conf",
        "# A small server\nlisten: 127.0.0.1:4222\nserver_name: edge-1\nmax_payload: 2MB\nmax_connections: 1000\nping_interval: \"1m\"\nping_max: 3\nwrite_deadline: \"5s\"\ndebug: false\ntrace: false\nlogtime: true\n",
    ),
    (
        "auth.conf",
        "port: 4222\nauthorization {\n  timeout: 2\n  users = [\n    {user: alice, password: secret, permissions: {publish: \"orders.>\", subscribe: [\"orders.*\", \"_INBOX.>\"]}}\n    {user: bob, password: \"$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS\"}\n  ]\n}\n",
    ),
    (
        "vars.conf",
        "PORT: 4333\nport: $PORT\nauthorization {\n  token: \"s3cr3t\"\n  timeout: 1.5\n}\nmax_control_line: 8KB\npidfile: \"/tmp/natsd.pid\"\n",
    ),
    ("bad.conf", "port: 4222\nauthorization {\n  users = [ {user: a password: b} \n"),
    ("unknown.conf", "port: 4222\nnot_a_real_option: true\n"),
];

#[tokio::test]
async fn go_and_we_agree_on_realistic_configs() {
    const GO: &str = "/usr/sbin/nats-server";
    if !Path::new(GO).exists() {
        assert!(
            std::env::var("NATSD_REQUIRE_GO").as_deref() != Ok("1"),
            "NATSD_REQUIRE_GO=1 but {GO} is missing"
        );
        common::report_skip(&format!(
            "go_and_we_agree_on_realistic_configs: {GO} not found"
        ));
        return;
    }
    let dir = temp_dir("go");
    for (name, text) in REALISTIC {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let go = Command::new(GO)
            .args(["-t", "-c", path.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        let (ours, err) = check("tokio", &path).await;
        assert_eq!(
            go.status.code(),
            Some(ours),
            "{name}: Go said {:?}, we said {err:?}",
            String::from_utf8_lossy(&go.stderr)
        );
        if ours == 0 {
            assert_eq!(String::from_utf8_lossy(&go.stderr), err, "{name}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

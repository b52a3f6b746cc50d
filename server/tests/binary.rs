//! The `nats-server` binary: flags, startup lines, files, signals and exit statuses, with
//! each runtime (`--runtime tokio` and `--runtime std`; see `common::per_runtime`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{per_runtime, read_until, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("natsd-bin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

per_runtime!(
    version_and_help,
    bad_command_lines_exit_non_zero,
    port_in_use_is_fatal,
    serves_writes_files_and_stops_on_sigint,
    log_file_and_signal_flag,
    lame_duck_tells_clients_and_stops_accepting,
);

/// The binary with `--runtime rt` first.
fn command(rt: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--runtime", rt]);
    c
}

async fn output(rt: &str, args: &[&str]) -> std::process::Output {
    let run = command(rt).args(args).kill_on_drop(true).output();
    tokio::time::timeout(WAIT, run)
        .await
        .expect("binary did not exit")
        .unwrap()
}

/// Starts the binary and returns it once it logged `Server is ready`, with the log so far.
async fn start(rt: &str, args: &[&str]) -> (Child, Vec<String>) {
    let mut child = command(rt)
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = Vec::new();
    let ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.ends_with("Server is ready");
            log.push(line);
            if done {
                break;
            }
        }
    };
    tokio::time::timeout(WAIT, ready)
        .await
        .expect("server not ready");
    assert!(
        log.last().is_some_and(|l| l.ends_with("Server is ready")),
        "{log:?}"
    );
    // Keep draining stderr so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, log)
}

/// Waits (bounded) for a file the server writes right after it is ready.
async fn wait_for_file(path: &Path) -> String {
    let fut = async {
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("file never appeared")
}

async fn exit_status(child: &mut Child) -> i32 {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("no exit")
        .unwrap();
    status.code().expect("exited by a signal")
}

async fn version_and_help(rt: &'static str) {
    let out = output(rt, &["-v"]).await;
    assert_eq!(out.status.code(), Some(0));
    // Go's line first (tools read the version after `v`), then which server it is.
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with("nats-server: v2.9.10 (natsd "), "{v}");
    assert!(v.ends_with(")\n"), "{v}");
    let out = output(rt, &["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: nats-server [options]"));
}

async fn bad_command_lines_exit_non_zero(rt: &'static str) {
    let out = output(rt, &["--bogus"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"));
    let out = output(rt, &["extra"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nats-server: unrecognized command: \"extra\"\n"
    );
    let out = output(rt, &["-c", "/nonexistent.conf"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nats-server: open /nonexistent.conf: no such file or directory\n"
    );
    let out = output(rt, &["-sl", "bogus=1"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "nats-server: unknown signal \"bogus\"\n"
    );
}

async fn port_in_use_is_fatal(rt: &'static str) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = output(rt, &["-a", "127.0.0.1", "-p", &port, "-T=false"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("[FTL] Error listening on port: 127.0.0.1:{port}, \"listen tcp 127.0.0.1:{port}: bind: address already in use\"");
    assert!(err.contains(&want), "{err}");
    // The banner comes first, as the Go server's.
    assert!(err.contains("[INF] Starting nats-server\n"), "{err}");
    // -T=false: no timestamp between the pid and the label.
    assert!(
        err.lines()
            .all(|l| l.split(' ').nth(1).is_some_and(|w| w.starts_with('['))),
        "{err}"
    );
}

async fn serves_writes_files_and_stops_on_sigint(rt: &'static str) {
    let dir = temp_dir(&format!("sigint-{rt}"));
    let pid_file = dir.join("server.pid");
    let args = [
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "--ports_file_dir",
        dir.to_str().unwrap(),
        "-P",
        pid_file.to_str().unwrap(),
        "-n",
        "bin-test",
        "-m",
        "-1",
    ];
    let (mut child, log) = start(rt, &args).await;
    let pid = child.id().unwrap();
    let text = log.join("\n");
    assert!(text.contains("[INF]   Version:  2.9.10"), "{text}");
    assert!(text.contains("[INF]   Name:     bin-test"), "{text}");
    assert!(
        text.contains("[INF] Starting http monitor on 127.0.0.1:"),
        "{text}"
    );
    assert!(log[0].starts_with(&format!("[{pid}] ")), "{text}");

    assert_eq!(wait_for_file(&pid_file).await, pid.to_string());
    let ports_file = dir.join(format!("nats-server_{pid}.ports"));
    let ports: serde_json::Value = serde_json::from_str(&wait_for_file(&ports_file).await).unwrap();
    let url = ports["nats"][0].as_str().unwrap().to_string();
    let addr = url.strip_prefix("nats://").unwrap();
    let logged = format!("Listening for client connections on {addr}");
    assert!(text.contains(&logged), "{text}");

    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    assert!(buf.starts_with(b"INFO {"));

    kill(Pid::from_raw(pid as i32), Signal::SIGINT).unwrap();
    assert_eq!(exit_status(&mut child).await, 0);
    assert!(!ports_file.exists(), "ports file left behind");
    assert!(!pid_file.exists(), "pid file left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn log_file_and_signal_flag(rt: &'static str) {
    let dir = temp_dir(&format!("logfile-{rt}"));
    let log_file = dir.join("server.log");
    let pid_file = dir.join("server.pid");
    let args = [
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
        "-l",
        log_file.to_str().unwrap(),
        "-P",
        pid_file.to_str().unwrap(),
        "-D",
    ];
    let mut child = command(rt).args(args).kill_on_drop(true).spawn().unwrap();
    wait_for_file(&pid_file).await;
    let fut = async {
        while !std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains("Server is ready")
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, fut).await.expect("never ready");

    // `-sl quit=<pid file>` sends SIGINT to the server and exits 0.
    let spec = format!("quit={}", pid_file.display());
    let out = output(rt, &["-sl", &spec]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(exit_status(&mut child).await, 0);
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(log.contains("[INF] Trapped \"interrupt\" signal"), "{log}");
    assert!(log.contains("[INF] Initiating Shutdown..."), "{log}");
    assert!(log.trim_end().ends_with("[INF] Server Exiting.."), "{log}");
    // Timestamps: `[PID] YYYY/MM/DD HH:MM:SS.micros [LVL] ...`.
    let first = log.lines().next().unwrap();
    let stamp = first.split(' ').nth(2).unwrap();
    assert_eq!(stamp.len(), "15:04:05.000000".len(), "{first}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--signal ldm=<pidfile>` (SIGUSR2): the listener closes and a protocol-1 client gets
/// `INFO {..."ldm":true}` (what clients such as async-nats turn into a lame-duck event).
async fn lame_duck_tells_clients_and_stops_accepting(rt: &'static str) {
    let dir = temp_dir(&format!("ldm-{rt}"));
    let pid_file = dir.join("server.pid");
    let (mut child, log) = start(
        rt,
        &[
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-P",
            pid_file.to_str().unwrap(),
        ],
    )
    .await;
    let port: u16 = log
        .iter()
        .find_map(|l| {
            l.split("Listening for client connections on 127.0.0.1:")
                .nth(1)
        })
        .and_then(|p| p.trim().parse().ok())
        .expect("port in the log");
    let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    s.write_all(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
        .await
        .unwrap();
    read_until(&mut s, &mut buf, b"PONG\r\n").await;
    wait_for_file(&pid_file).await;
    let out = output(rt, &["--signal", &format!("ldm={}", pid_file.display())]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    buf.clear();
    read_until(&mut s, &mut buf, b"\"ldm\":true,\"msub\":true} \r\n").await;
    let refused = async {
        while TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, refused)
        .await
        .expect("still accepting in lame duck mode");
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn unknown_runtime_is_refused() {
    for args in [&["--runtime", "go"][..], &["-runtime=go", "-v"][..]] {
        let out = Command::new(BIN).args(args).output().await.unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "nats-server: unknown runtime \"go\" (expected tokio or std)\n"
        );
    }
    let out = Command::new(BIN).arg("--runtime").output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag needs an argument: -runtime"));
}

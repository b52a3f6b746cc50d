//! Lame duck pacing, black-box, beside the Go server on the same config: 6 clients,
//! `lame_duck_duration: 30s`, `lame_duck_grace_period: 2s`. Go waits the grace, then closes
//! the clients with pauses of [0.5 s, 1 s) (the gap 28 s / 6 capped at 1 s) and exits: ~5 s.
//! Ours used to spread the closes over the whole duration (exit after 25.3 s); the pacing
//! now lives in the core's `Node`. Compares with Debian's Go 2.9.10 when it is installed
//! (`.ci/run` installs it and sets `NATSD_REQUIRE_GO=1`; elsewhere it prints SKIPPED).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");
const GO: &str = "/usr/sbin/nats-server";
const CLIENTS: usize = 6;
const CONF: &str = "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"2s\"\n";

/// Starts `cmd` with the config, connects the clients, sends SIGUSR2 and returns the time
/// until the process exited.
async fn exit_time(mut cmd: Command, name: &str) -> Duration {
    let conf = std::env::temp_dir().join(format!("natsd-ldm-{name}-{}.conf", std::process::id()));
    std::fs::write(&conf, CONF).unwrap();
    let (mut child, port) = launch::spawn_and_port(cmd.args([
        "-c",
        conf.to_str().unwrap(),
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
    ]))
    .await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.ends_with(b"PONG\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        clients.push(s);
    }
    let pid = Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    let start = Instant::now();
    kill(pid, Signal::SIGUSR2).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("did not exit within 60 s")
        .unwrap();
    let took = start.elapsed();
    let _ = std::fs::remove_file(&conf);
    assert!(status.success(), "{name}: {status:?}");
    took
}

fn ours(rt: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--runtime", rt]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lame_duck_exits_when_go_does() {
    let go = if Path::new(GO).exists() {
        Some(tokio::spawn(exit_time(Command::new(GO), "go")))
    } else {
        assert!(
            std::env::var("NATSD_REQUIRE_GO").as_deref() != Ok("1"),
            "NATSD_REQUIRE_GO=1 but {GO} is missing"
        );
        common::report_skip(&format!(
            "the Go half of lame_duck_exits_when_go_does: {GO} not found"
        ));
        None
    };
    let (tokio_t, std_t) = tokio::join!(
        exit_time(ours("tokio"), "tokio"),
        exit_time(ours("std"), "std")
    );
    let go_t = match go {
        Some(h) => Some(h.await.unwrap()),
        None => None,
    };
    println!("lame duck exit, 6 clients, 30 s / 2 s grace: tokio {tokio_t:?}, std {std_t:?}, Go 2.9.10 {go_t:?}");
    // 2 s grace + 5 pauses of [0.5 s, 1 s), plus process start-up and shutdown slack.
    for (name, t) in [("tokio", tokio_t), ("std", std_t)]
        .into_iter()
        .chain(go_t.map(|t| ("go", t)))
    {
        assert!(
            t >= Duration::from_millis(4500) && t < Duration::from_millis(8000),
            "{name} exited after {t:?}"
        );
    }
}

//! Reload by request (`$SYS.REQ.SERVER.<id>.RELOAD`, Go 2.10+): the server re-reads its
//! file, answers `{"server":…}` once the reload is done (or `"error"` with Go's words when
//! the new file is bad, keeping the old config), and the change is in force.
//!
//! INTEROP: the same steps on Go 2.15.1 (`NATS_GO215_SERVER`; 2.9.10 has no such request);
//! missing, it prints SKIPPED, or fails under `NATSD_REQUIRE_GO=1` (set by `.ci/run`).

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use std::time::Duration;

use launch::Raw;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

fn conf(mapping: &str) -> String {
    format!(
        "accounts {{\n  SYS {{ users: [{{user: sys, password: sys}}] }}\n}}\nsystem_account: SYS\nno_auth_user: g\nauthorization {{ users: [{{user: g, password: g}}] }}\n{mapping}\n"
    )
}

/// Reads until `needle` shows or 5 s pass; returns what came.
async fn read_for(c: &mut Raw, needle: &str) -> String {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&got).contains(needle) {
        let mut b = [0u8; 8192];
        match tokio::time::timeout_at(deadline, c.0.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&b[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The JSON body after the first MSG line of `raw`.
fn body(raw: &str) -> Value {
    let line = raw
        .split("\r\n")
        .find(|l| l.starts_with('{'))
        .unwrap_or("null");
    serde_json::from_str(line).unwrap_or(Value::Null)
}

/// Runs the steps; returns the two reload replies (good file, then bad file) and what a
/// subscriber on `>` saw for `PUB foo` after the first reload.
async fn steps(cmd: &mut Command, name: &str) -> (Value, Value, String) {
    let (_child, port, file) =
        launch::spawn_with_conf(cmd, &format!("sys-reload-{name}"), &conf("")).await;
    let path = &file.0;
    let mut sys = Raw::open(port, Some("sys")).await;
    // The reply may come before the PONG `send` waits for, or after it.
    let mut got = sys
        .send("SUB _INBOX.r 1\r\nPUB $SYS.REQ.SERVER.PING.IDZ _INBOX.r 0\r\n\r\n")
        .await;
    if !got.contains('}') {
        got += &read_for(&mut sys, "}").await;
    }
    let idz = body(&got);
    let id = idz["id"]
        .as_str()
        .expect("IDZ names the server")
        .to_string();
    let reload = format!("PUB $SYS.REQ.SERVER.{id}.RELOAD _INBOX.r 0\r\n\r\n");
    std::fs::write(path, conf("mappings { foo: bar }")).unwrap();
    sys.0.try_write(reload.as_bytes()).unwrap();
    let good = body(&read_for(&mut sys, "}").await);
    let mut g = Raw::open(port, None).await;
    g.send("SUB > 1\r\n").await;
    let seen = g.send("PUB foo 1\r\nx\r\n").await;
    std::fs::write(path, "accounts { bad").unwrap();
    sys.0.try_write(reload.as_bytes()).unwrap();
    let bad = body(&read_for(&mut sys, "}").await);
    (good, bad, seen)
}

fn check(label: &str, (good, bad, seen): &(Value, Value, String)) {
    assert!(good["server"]["id"].is_string(), "{label}: {good}");
    assert!(
        good.get("error").is_none() && good.get("data").is_none(),
        "{label}: {good}"
    );
    assert!(
        seen.contains("MSG bar 1 1"),
        "{label}: the new mapping is in force: {seen:?}"
    );
    assert_eq!(bad["error"]["code"], 500, "{label}: {bad}");
    assert!(bad["error"]["description"].is_string(), "{label}: {bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_by_request_as_go() {
    for rt in ["tokio", "std"] {
        let got = steps(Command::new(BIN).args(["--runtime", rt]), rt).await;
        check(&format!("ours ({rt})"), &got);
    }
    for (label, path) in launch::go_servers("reload_by_request_as_go", common::report_skip) {
        if label != "go2.15.1" {
            continue;
        }
        let got = steps(&mut Command::new(&path), label).await;
        check(label, &got);
    }
}

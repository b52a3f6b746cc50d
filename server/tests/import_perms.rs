//! Permissions across imports, black-box, the same config on ours and on the Go server: a
//! subscriber's deny list applies to the renamed subject of a stream import, a responder
//! needs `allow_responses` (or a publish permission) to answer through a service import,
//! and a requester's publish permission is judged on its own local subject.
//!
//! INTEROP: the transcripts are compared with Debian's Go 2.9.10 (`/usr/sbin/nats-server`)
//! and Go 2.15.1 (`NATS_GO215_SERVER`); missing ones print SKIPPED, or fail under
//! `NATSD_REQUIRE_GO=1` (set by `.ci/run`). Ours is also checked against fixed expectations.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use launch::Raw;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

const CONF: &str = r#"
accounts {
  A: {
    users: [
      {user: a, password: a}
      {user: r1, password: r1, permissions: {publish: {allow: ["nothing"]}, subscribe: {allow: ["help.>"]}}}
      {user: r2, password: r2, permissions: {publish: {allow: ["nothing"]}, subscribe: {allow: ["help.>"]}, allow_responses: true}}
    ]
    exports: [ {stream: "news.>"}, {service: "help.>"} ]
  }
  B: {
    users: [
      {user: b, password: b}
      {user: d, password: d, permissions: {subscribe: {deny: ["a.news.secret"]}}}
      {user: q, password: q, permissions: {publish: {allow: ["help.me", "_INBOX.>"]}}}
    ]
    imports: [
      {stream: {account: A, subject: "news.>"}, prefix: "a"}
      {service: {account: A, subject: "help.me"}, to: "ask"}
    ]
  }
}
"#;

/// `_R_.` reply subjects differ between servers: keep their shape only.
fn normalise(s: &str) -> String {
    s.split(' ')
        .map(|w| match w.find("_R_.") {
            Some(i) => {
                let end = w[i..].find(['"', '\'', '\r']).map_or(w.len(), |e| i + e);
                format!("{}_R_.<id>{}", &w[..i], &w[end..])
            }
            None => w.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn reply_of(s: &str) -> String {
    s.split_whitespace()
        .find(|w| w.starts_with("_R_."))
        .unwrap_or("none")
        .to_string()
}

async fn transcript(mut cmd: Command) -> Vec<String> {
    let (_child, port, _conf) = launch::spawn_with_conf(&mut cmd, "import-perms", CONF).await;
    let mut t = Vec::new();
    let mut a = Raw::open(port, Some("a")).await;
    let mut d = Raw::open(port, Some("d")).await;
    let mut b = Raw::open(port, Some("b")).await;
    let mut q = Raw::open(port, Some("q")).await;
    let mut r1 = Raw::open(port, Some("r1")).await;
    let mut r2 = Raw::open(port, Some("r2")).await;
    t.push(d.send("SUB a.news.> 1\r\n").await);
    t.push(b.send("SUB _INBOX.b 1\r\n").await);
    t.push(r1.send("SUB help.me 1\r\n").await);
    // Stream: the deny list sees the renamed subject.
    t.push(
        a.send("PUB news.secret 1\r\nx\r\nPUB news.ok 1\r\ny\r\n")
            .await,
    );
    t.push(d.send("").await);
    // Service: r1 may not answer; r2 (allow_responses) may.
    t.push(b.send("PUB ask _INBOX.b 1\r\nq\r\n").await);
    let got = r1.send("").await;
    let rep = reply_of(&got);
    t.push(got);
    t.push(r1.send(&format!("PUB {rep} 1\r\nR\r\n")).await);
    t.push(b.send("").await);
    t.push(r1.send("UNSUB 1\r\n").await);
    t.push(r2.send("SUB help.me 1\r\n").await);
    t.push(b.send("PUB ask _INBOX.b 1\r\nq\r\n").await);
    let got = r2.send("").await;
    let rep = reply_of(&got);
    t.push(got);
    t.push(r2.send(&format!("PUB {rep} 1\r\nR\r\n")).await);
    t.push(b.send("").await);
    // The requester's permission is on its local subject, not the exporter's.
    t.push(q.send("PUB ask _INBOX.q 1\r\nq\r\n").await);
    t.into_iter().map(|s| normalise(&s)).collect()
}

fn expected() -> Vec<String> {
    [
        "",
        "",
        "",
        "",
        "MSG a.news.ok 1 1\r\ny\r\n",
        "",
        "MSG help.me 1 _R_.<id> 1\r\nq\r\n",
        "-ERR 'Permissions Violation for Publish to \"_R_.<id>\"'\r\n",
        "",
        "",
        "",
        "",
        "MSG help.me 1 _R_.<id> 1\r\nq\r\n",
        "",
        "MSG _INBOX.b 1 1\r\nR\r\n",
        "-ERR 'Permissions Violation for Publish to \"ask\"'\r\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_permissions_as_go() {
    let want = expected();
    launch::transcripts_match(
        "import_permissions_as_go",
        BIN,
        &want,
        transcript,
        common::report_skip,
    )
    .await;
}

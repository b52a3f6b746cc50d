//! Subject mappings, black-box, the same config on ours and on the Go server: plain,
//! wildcard and function destinations (partition hashes agree with Go's), weighted with a
//! deliberate loss, the reply left alone, an account's own mappings, and publish
//! permissions judged on the mapped subject.
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

/// Only what both Go versions load (2.9.10 refuses `left`, `right`, `random`,
/// `partition(n)` without tokens, and unused source wildcards: ours takes them, as 2.15.1).
const CONF: &str = r#"
mappings = {
  foo: bar
  "orders.*.*": "x.$2.{{wildcard(1)}}"
  "p.*.*": "p.{{partition(10,1,2)}}.$1.$2"
  "s.*": "s.{{split(1,-)}}"
  "sl.*": "sl.{{sliceFromRight(1,2)}}"
  loss: [{destination: loss, weight: 0%}]
  all: [{destination: all1, weight: 100%}]
}
authorization { users: [{user: g, password: g}] }
accounts {
  A: {
    users: [
      {user: m, password: m, permissions: {publish: {allow: ["mapped.>"]}}}
      {user: r, password: r, permissions: {publish: {allow: ["raw.>"]}}}
    ]
    mappings: { "raw.*": "mapped.$1", foo: "mapped.foo" }
  }
}
"#;

async fn transcript(mut cmd: Command) -> Vec<String> {
    let (_child, port, _conf) = launch::spawn_with_conf(&mut cmd, "mappings", CONF).await;
    let mut t = Vec::new();
    let mut watch = Raw::open(port, Some("g")).await;
    let mut g = Raw::open(port, Some("g")).await;
    let mut m = Raw::open(port, Some("m")).await;
    let mut r = Raw::open(port, Some("r")).await;
    t.push(watch.send("SUB > 1\r\n").await);
    t.push(m.send("SUB > 1\r\n").await);
    t.push(
        g.send(concat!(
            "PUB foo r.1 2\r\nhi\r\n",
            "PUB orders.a.b 0\r\n\r\n",
            "PUB p.abc.def 0\r\n\r\n",
            "PUB s.a--b-c 0\r\n\r\n",
            "PUB s.- 0\r\n\r\n",
            "PUB sl.abcde 0\r\n\r\n",
            "PUB loss 0\r\n\r\n",
            "PUB all 0\r\n\r\n",
            "PUB raw.x 0\r\n\r\n",
        ))
        .await,
    );
    t.push(watch.send("").await);
    // Account A: its own mappings; permissions see the mapped subject.
    t.push(r.send("PUB raw.y 1\r\nr\r\n").await);
    t.push(m.send("PUB raw.z 1\r\nm\r\nPUB foo 0\r\n\r\n").await);
    t.push(watch.send("").await);
    t
}

fn expected() -> Vec<String> {
    [
        "",
        "",
        "",
        concat!(
            "MSG bar 1 r.1 2\r\nhi\r\n",
            "MSG x.b.a 1 0\r\n\r\n",
            // fnv1a("abcdef") % 10, as Go computes it.
            "MSG p.6.abc.def 1 0\r\n\r\n",
            "MSG s.a.b.c 1 0\r\n\r\n",
            "MSG sl.a.bc.de 1 0\r\n\r\n",
            "MSG all1 1 0\r\n\r\n",
            // $G has no `raw.*` mapping.
            "MSG raw.x 1 0\r\n\r\n",
        ),
        "-ERR 'Permissions Violation for Publish to \"mapped.y\"'\r\n",
        "MSG mapped.z 1 1\r\nm\r\nMSG mapped.foo 1 0\r\n\r\n",
        // Nothing from account A reaches $G.
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mappings_behave_as_go() {
    let want = expected();
    launch::transcripts_match(
        "mappings_behave_as_go",
        BIN,
        &want,
        transcript,
        common::report_skip,
    )
    .await;
}

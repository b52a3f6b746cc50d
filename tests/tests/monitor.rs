//! Monitoring endpoints, black-box, on both runtimes: after the same workload on Debian's Go
//! nats-server and ours, every endpoint and query answers with the same JSON keys and JSON
//! types (recursively, arrays by the union of their elements), bad queries get the same 400 text,
//! and `/metrics` parses as Prometheus text with the right values.
//!
//! Differences from Go are listed, each with its reason, in [`GO_ONLY`] and [`OURS_ONLY`].

use std::collections::BTreeMap;

use natsd_core::options::Options;
use natsd_tests::go::GoServer;
use natsd_tests::ours::{Ours, Runtime};
use natsd_tests::raw::Raw;
use natsd_tests::TIMEOUT;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Fields the Go server sends that we do not, and why. An entry covers its path and
/// everything under it; `/connz` also covers `/connz?…`.
const GO_ONLY: &[(&str, &str)] = &[
    // Go's `$G` detail lists the service imports of the system account.
    (
        "/accountz .account_detail.imports",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].account",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].invalid",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].share",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].subject",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].to",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].tracking",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].type",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].tracking_header",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].local_subject",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].latency",
        "no account imports yet",
    ),
    (
        "/accountz .account_detail.imports[].m1",
        "no account imports yet",
    ),
];

/// Fields we send that the Go server does not, and why.
const OURS_ONLY: &[(&str, &str)] = &[
    (
        "/routez .server_name",
        "Go 2.15.1 has it (2.9.10 does not); we follow 2.15.1",
    ),
    (
        "/varz .git_commit",
        "Go's builds from git have it (Debian's 2.9.10 does not): our commit",
    ),
    (
        "/accountz .account_detail.imports[].local_subject",
        "Go 2.15.1 has it (2.9.10 does not); we follow 2.15.1",
    ),
    (
        "/accountz .account_detail.name_tag",
        "Go 2.15.1 has it (2.9.10 does not); we follow 2.15.1",
    ),
];

/// The same workload on either server: a subscriber with a plain and an auto-unsubscribe
/// queue subscription, a publisher of `N` messages, and a connection that closed.
const N: usize = 25;

async fn workload(port: u16) -> (Raw, Raw) {
    let mut sub = Raw::connect(port).await;
    sub.line().await;
    sub.send("CONNECT {\"verbose\":false,\"name\":\"sub\",\"lang\":\"test\",\"version\":\"1.0\"}\r\nSUB foo 1\r\nSUB bar q 2\r\nUNSUB 2 5\r\n").await;
    sub.flush().await;
    let mut publ = Raw::connect(port).await;
    publ.line().await;
    publ.send("CONNECT {\"verbose\":false}\r\n").await;
    for _ in 0..N {
        publ.send("PUB foo 5\r\nhello\r\n").await;
    }
    publ.flush().await;
    sub.count("MSG foo 1 5", N).await;
    let mut gone = Raw::connect(port).await;
    gone.line().await;
    gone.send("CONNECT {\"verbose\":false,\"name\":\"gone\"}\r\nSUB baz 9\r\n")
        .await;
    gone.flush().await;
    drop(gone);
    // Let both servers notice the close.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    (sub, publ)
}

/// An HTTP/1.0 GET (no chunking from any server): status, lower-cased headers, body.
async fn get(port: u16, path: &str) -> (u16, BTreeMap<String, String>, String) {
    let fut = async {
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let req = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read");
        buf
    };
    let buf = tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("HTTP timed out");
    let text = String::from_utf8(buf).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

async fn get_json(port: u16, path: &str) -> Value {
    let (status, headers, body) = get(port, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(
        headers.get("content-type").map(String::as_str),
        Some("application/json"),
        "{path}"
    );
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Every key path with its JSON type; arrays by the union of their elements (so the order
/// of a list does not matter), maps with dynamic
/// keys (`http_req_stats`) as one entry.
fn shape(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    let t = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !path.is_empty() {
        out.insert(path.to_string(), t);
    }
    match v {
        Value::Object(m) if !path.ends_with(".http_req_stats") => {
            for (k, x) in m {
                shape(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                shape(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn compare(endpoint: &str, go: &Value, ours: &Value) {
    let (mut g, mut o) = (BTreeMap::new(), BTreeMap::new());
    shape(go, "", &mut g);
    shape(ours, "", &mut o);
    let covers = |entry: &str, full: &str| {
        full == entry
            || full
                .strip_prefix(entry)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    let base = endpoint.split('?').next().unwrap();
    let allowed_any = |list: &[(&str, &str)], k: &str| {
        list.iter().any(|(p, _)| {
            covers(p, &format!("{endpoint} {k}")) || covers(p, &format!("{base} {k}"))
        })
    };
    let mut problems = Vec::new();
    for (k, t) in &g {
        match o.get(k) {
            None if !allowed_any(GO_ONLY, k) => problems.push(format!("missing {k} ({t})")),
            Some(ot) if ot != t => problems.push(format!("{k}: Go {t}, ours {ot}")),
            _ => {}
        }
    }
    for k in o.keys() {
        if !g.contains_key(k) && !allowed_any(OURS_ONLY, k) {
            problems.push(format!("extra {k}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{endpoint}:\n{}\nGo: {go:#}\nours: {ours:#}",
        problems.join("\n")
    );
}

/// Queries compared; `{cid}` becomes the subscriber's cid on each server.
const QUERIES: &[&str] = &[
    "/varz",
    "/connz",
    "/connz?subs=1",
    "/connz?subs=detail",
    "/connz?auth=true",
    "/connz?state=closed",
    "/connz?state=any",
    "/connz?state=all&sort=uptime",
    "/connz?sort=start",
    "/connz?sort=subs",
    "/connz?sort=pending",
    "/connz?sort=msgs_to",
    "/connz?sort=msgs_from",
    "/connz?sort=bytes_to",
    "/connz?sort=bytes_from",
    "/connz?sort=last",
    "/connz?sort=idle",
    "/connz?sort=uptime",
    "/connz?sort=cid&limit=1&offset=1",
    "/connz?state=closed&sort=stop",
    "/connz?state=closed&sort=reason",
    "/connz?cid={cid}&subs=1",
    "/connz?user=nobody",
    // Last of the closed-state queries: Go's `subs=detail` on closed connections stores the
    // list in its history entries (it skips the copy it makes for `subs=1`), so every later
    // closed-state answer of Go's would carry it.
    "/connz?state=closed&subs=detail",
    "/subsz",
    "/subscriptionsz",
    "/subsz?subs=1",
    "/subsz?subs=1&test=foo",
    // Paging within the matches of `test`: Go's list also holds its system account's
    // subscriptions, so unfiltered pages would hold different entries.
    "/subsz?subs=1&test=bar&limit=1",
    "/subsz?subs=1&test=foo&offset=1",
    "/subsz?subs=1&test=nomatch",
    "/healthz",
    "/healthz?js-enabled-only=true",
    "/routez",
    "/routez?subs=detail",
    "/accountz",
    "/accountz?acc=$G",
];

/// Bad queries: both servers answer 400 with the same text.
const BAD: &[&str] = &[
    "/connz?sort=bogus",
    "/connz?sort=stop",
    "/connz?sort=reason&state=any",
    "/connz?state=sideways",
    "/connz?limit=x",
    "/connz?offset=1.5",
    "/connz?cid=-1",
    "/connz?auth=maybe",
    "/connz?subs=2",
    "/subsz?subs=yes",
    "/subsz?test=foo.*",
    "/subsz?limit=ten",
    "/routez?subs=x",
    "/healthz?js-server-only=x",
    "/accountz?acc=NOPE",
];

async fn cid_of(port: u16, name: &str) -> u64 {
    let v = get_json(port, "/connz").await;
    v["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["cid"].as_u64())
        .expect("subscriber listed")
}

async fn same_shapes_as_go(rt: Runtime) {
    let Some(go) = GoServer::start("monitor::same_shapes_as_go", &["-m", "-1"]) else {
        return;
    };
    let go_http = go.http_port.expect("Go logged its monitor port");
    let ours = Ours::start_monitored(rt, Options::default()).await;
    let ours_http = ours.monitor_port();
    let _go_conns = workload(go.port).await;
    let _our_conns = workload(ours.port()).await;
    let (go_cid, our_cid) = (cid_of(go_http, "sub").await, cid_of(ours_http, "sub").await);
    for q in QUERIES {
        let g = get_json(go_http, &q.replace("{cid}", &go_cid.to_string())).await;
        let o = get_json(ours_http, &q.replace("{cid}", &our_cid.to_string())).await;
        compare(q, &g, &o);
    }
    for q in BAD {
        let (gs, _, gb) = get(go_http, q).await;
        let (os, oh, ob) = get(ours_http, q).await;
        assert_eq!((gs, gb.as_str()), (400, ob.as_str()), "{q}");
        assert_eq!(os, 400, "{q}");
        assert!(oh["content-type"].starts_with("text/plain"), "{q}");
    }
    ours.shutdown().await;
}

async fn values_after_a_known_workload(rt: Runtime) {
    let ours = Ours::start_monitored(rt, Options::default()).await;
    let http = ours.monitor_port();
    // The server's own subscriptions (the system account's services and the imports every
    // account has from it): like Go, every account's subscriptions count, internal ones
    // included.
    let internal = get_json(http, "/varz").await["subscriptions"]
        .as_u64()
        .unwrap();
    assert!(internal > 0);
    let _conns = workload(ours.port()).await;
    let v = get_json(http, "/varz").await;
    assert_eq!(v["in_msgs"], N);
    assert_eq!(v["out_msgs"], N);
    assert_eq!(v["in_bytes"], 5 * N);
    assert_eq!(v["connections"], 2);
    assert_eq!(v["total_connections"], 3);
    assert_eq!(v["subscriptions"], 2 + internal);
    assert_eq!(v["system_account"], "$SYS");
    assert_eq!(v["http_port"], http);
    assert_eq!(v["ping_interval"], 120_000_000_000u64);
    let c = get_json(http, "/connz?subs=detail").await;
    assert_eq!(
        (c["num_connections"].as_u64(), c["total"].as_u64()),
        (Some(2), Some(2))
    );
    let sub = &c["connections"][0];
    assert_eq!(
        (sub["name"].as_str(), sub["out_msgs"].as_u64()),
        (Some("sub"), Some(N as u64))
    );
    let detail = sub["subscriptions_list_detail"].as_array().unwrap();
    let q = detail.iter().find(|d| d["subject"] == "bar").unwrap();
    assert_eq!(
        (q["qgroup"].as_str(), q["max"].as_u64()),
        (Some("q"), Some(5))
    );
    let c = get_json(http, "/connz?sort=msgs_from&limit=1").await;
    assert_eq!(c["connections"][0]["in_msgs"], N);
    let c = get_json(http, "/connz?state=closed").await;
    assert_eq!(c["connections"][0]["name"], "gone");
    assert_eq!(c["connections"][0]["reason"], "Client Closed");
    assert_eq!(c["connections"][0]["subscriptions"], 1);
    let s = get_json(http, "/subsz?subs=1&test=foo").await;
    assert_eq!(s["subscriptions_list"][0]["msgs"], N);
    assert_eq!(s["total"], 1);

    let (status, headers, body) = get(http, "/metrics").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"));
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text");
    let value = |name: &str, account: Option<&str>| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == name && account.is_none_or(|a| s.labels.get("account") == Some(a))
            })
            .unwrap_or_else(|| panic!("{name} missing:\n{body}"));
        assert_eq!(
            s.labels.get("server_id").map(str::len),
            Some(56),
            "{name} server_id"
        );
        match s.value {
            prometheus_parse::Value::Gauge(x) | prometheus_parse::Value::Untyped(x) => x,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    let n = N as f64;
    assert_eq!(value("gnatsd_varz_in_msgs", None), n);
    assert_eq!(value("gnatsd_varz_out_msgs", None), n);
    assert_eq!(value("gnatsd_varz_in_bytes", None), 5.0 * n);
    assert_eq!(value("gnatsd_varz_out_bytes", None), 5.0 * n);
    assert_eq!(value("gnatsd_varz_connections", None), 2.0);
    assert_eq!(value("gnatsd_varz_total_connections", None), 3.0);
    let internal = value("gnatsd_varz_subscriptions", None) - 2.0;
    assert!(
        internal > 0.0,
        "the server's own subscriptions count, as in Go"
    );
    assert_eq!(value("gnatsd_varz_slow_consumers", None), 0.0);
    assert!(value("gnatsd_varz_mem", None) > 0.0);
    assert_eq!(value("gnatsd_connz_num_connections", None), 2.0);
    assert_eq!(value("gnatsd_connz_total", None), 2.0);
    assert_eq!(
        value("gnatsd_subsz_num_subscriptions", None),
        2.0 + internal
    );
    assert_eq!(value("gnatsd_routez_num_routes", None), 0.0);
    assert_eq!(value("gnatsd_healthz_status", None), 0.0);
    let g = Some("$G");
    assert_eq!(value("natsd_account_connections", g), 2.0);
    // Its clients' two and its imports from the system account.
    assert_eq!(
        value("natsd_account_subscriptions", g),
        2.0 + natsd_core::imports::SYSTEM_IMPORTS as f64
    );
    assert_eq!(value("natsd_account_in_msgs", g), n);
    assert_eq!(value("natsd_account_in_bytes", g), 5.0 * n);
    assert_eq!(value("natsd_account_out_msgs", g), n);
    assert_eq!(value("natsd_account_out_bytes", g), 5.0 * n);
    let sys = Some("$SYS");
    assert_eq!(value("natsd_account_connections", sys), 0.0);
    // The rest of the server's own: the system account's services.
    let sys_subs = internal - natsd_core::imports::SYSTEM_IMPORTS as f64;
    assert_eq!(value("natsd_account_subscriptions", sys), sys_subs);
    let a = get_json(http, "/accountz").await;
    assert_eq!(a["accounts"], serde_json::json!(["$G", "$SYS"]));
    let a = get_json(http, "/accountz?acc=$SYS").await;
    assert_eq!(a["account_detail"]["is_system"], true);
    assert_eq!(a["account_detail"]["subscriptions"], sys_subs as u64);
    ours.shutdown().await;
}

async fn http_details(rt: Runtime) {
    let ours = Ours::start_monitored(rt, Options::default()).await;
    let http = ours.monitor_port();
    let (status, headers, body) = get(http, "/varz").await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        body.starts_with("{\n  \"server_id\""),
        "pretty-printed like Go: {body}"
    );
    let (status, headers, body) = get(http, "/").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].starts_with("text/html"));
    for e in [
        "varz", "connz", "subsz", "routez", "accountz", "healthz", "metrics",
    ] {
        assert!(
            body.contains(&format!("href=./{e}")),
            "{e} in index: {body}"
        );
    }
    let (status, _, body) = get(http, "/nope").await;
    assert_eq!((status, body.as_str()), (404, "404 page not found\n"));
    let (status, _, body) = get(http, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
    ours.shutdown().await;
}

natsd_tests::runtimes!(
    same_shapes_as_go,
    values_after_a_known_workload,
    http_details
);

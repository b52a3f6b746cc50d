//! Tests for the config parser, TOML reader, typing and reload diff.
//!
//! Configs marked "Go:" were checked by hand with `/usr/sbin/nats-server -t -c FILE`
//! (Go 2.9.10): it accepts or rejects them the same way (wording may differ; see notes).

use std::time::Duration;

use super::*;
use crate::FastMap;

/// In-memory files; include paths are joined like the Go server does.
struct Mem(FastMap<String, String>);

impl Mem {
    fn new(files: &[(&str, &str)]) -> Mem {
        Mem(files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }
}

impl IncludeResolver for Mem {
    fn resolve(&self, including: &str, path: &str) -> Result<(String, String), String> {
        let name = join_include_path(including, path);
        match self.0.get(&name) {
            Some(text) => Ok((name, text.clone())),
            None => Err(format!("open {name}: no such file or directory")),
        }
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn p(src: &str) -> Result<Map, ConfigError> {
    parse("t.conf", src, &NoIncludes, &no_env)
}

fn get<'a>(m: &'a Map, k: &str) -> &'a Value {
    &m.get(k).unwrap_or_else(|| panic!("no key {k}")).node.value
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn err(src: &str) -> (u32, u32, String) {
    let e = p(src).expect_err("should fail");
    (e.line, e.col, e.msg)
}

fn load_str(src: &str) -> Result<Loaded, Diagnostics> {
    load("t.conf", src, &NoIncludes, &no_env)
}

#[test]
fn separators_and_comments() {
    let m = p("a = 1\nb: 2\nc 3\n# comment\n// another\nd = 4 # trailing\ne = 5; f = 6\n").unwrap();
    for (k, v) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5), ("f", 6)] {
        assert_eq!(get(&m, k), &Value::Integer(v), "{k}");
    }
}

#[test]
fn strings() {
    let m = p(concat!(
        "a = bare\n",
        "b = \"dq \\t\\n\\\"x\\\\ \\x41\"\n",
        "c = 'sq \\n'\n",
        "d = localhost:4222\n",
        "e = 127.0.0.1:4222\n",
        "f = 10s\n",
        "g = \"\"\n",
    ))
    .unwrap();
    assert_eq!(get(&m, "a"), &s("bare"));
    assert_eq!(get(&m, "b"), &s("dq \t\n\"x\\ A"));
    assert_eq!(get(&m, "c"), &s("sq \\n"));
    assert_eq!(get(&m, "d"), &s("localhost:4222"));
    assert_eq!(get(&m, "e"), &s("127.0.0.1:4222"));
    assert_eq!(get(&m, "f"), &s("10s"));
    assert_eq!(get(&m, "g"), &s(""));
}

#[test]
fn block_strings() {
    let m = p("a = (\nline1\n  line2\n)\nb = 1\n").unwrap();
    assert_eq!(get(&m, "a"), &s("\nline1\n  line2\n"));
    assert_eq!(get(&m, "b"), &Value::Integer(1));
    // A ')' not alone on its line does not end the block.
    let m = p("a = (\nx) y\n)\n").unwrap();
    assert_eq!(get(&m, "a"), &s("\nx) y\n"));
    // At EOF Go keeps the ')' (its lexer quirk); so do we.
    let m = p("a = (\nx\n)").unwrap();
    assert_eq!(get(&m, "a"), &s("\nx\n)"));
    assert_eq!(
        err("a = (\nnever closed\n").2,
        "Unexpected EOF processing block."
    );
}

#[test]
fn booleans_case_insensitive() {
    let m = p("a = true\nb = YES\nc = On\nd = false\ne = No\nf = OFF\ng = \"true\"\n").unwrap();
    for (k, v) in [
        ("a", true),
        ("b", true),
        ("c", true),
        ("d", false),
        ("e", false),
        ("f", false),
    ] {
        assert_eq!(get(&m, k), &Value::Bool(v), "{k}");
    }
    assert_eq!(get(&m, "g"), &s("true"));
}

#[test]
fn numbers_and_suffixes() {
    let m = p(concat!(
        "a = 1k\nb = 1kb\nc = 1KiB\nd = 2M\ne = 2mb\nf = 1G\ng = 1gi\nh = 1T\ni = 1tb\n",
        "j = 1P\nk = 1pb\nl = 1E\nm = 1eb\nn = -5\no = -2k\np = 1.5\nq = -0.25\n",
    ))
    .unwrap();
    let ints = [
        ("a", 1000),
        ("b", 1024),
        ("c", 1024),
        ("d", 2_000_000),
        ("e", 2 << 20),
        ("f", 1_000_000_000),
        ("g", 1 << 30),
        ("h", 1_000_000_000_000),
        ("i", 1 << 40),
        ("j", 1_000_000_000_000_000),
        ("k", 1 << 50),
        ("l", 1_000_000_000_000_000_000),
        ("m", 1 << 60),
        ("n", -5),
        ("o", -2000),
    ];
    for (k, v) in ints {
        assert_eq!(get(&m, k), &Value::Integer(v), "{k}");
    }
    assert_eq!(get(&m, "p"), &Value::Float(1.5));
    assert_eq!(get(&m, "q"), &Value::Float(-0.25));
    assert!(err("a = 99999999999999999999\n")
        .2
        .contains("out of the range"));
    assert!(err("a = 16eb\n").2.contains("out of the range"));
    assert_eq!(err("a = 1kbb\n").2, "unknown size suffix 'kbb' in '1kbb'");
    assert_eq!(err("a = .5\n").2, "Floats must start with a digit");
    assert_eq!(
        err("a = 1.x\n").2,
        "Floats must have a digit after the '.', but got 'x' instead."
    );
}

#[test]
fn unquoted_durations_follow_go() {
    // `2m` is the integer 2 million (size suffix), `500ms` and `1h30m` are strings, as in Go.
    let m = p("a = 2m\nb = 500ms\nc = 1h30m\n").unwrap();
    assert_eq!(get(&m, "a"), &Value::Integer(2_000_000));
    assert_eq!(get(&m, "b"), &s("500ms"));
    assert_eq!(get(&m, "c"), &s("1h30m"));
}

#[test]
fn datetimes() {
    let m = p("a = 2024-01-31T23:59:59Z\n").unwrap();
    assert_eq!(
        get(&m, "a"),
        &Value::Datetime("2024-01-31T23:59:59Z".into())
    );
    assert_eq!(
        err("a = 2024-02-30T00:00:00Z\n").2,
        "expected Zulu formatted DateTime, but got '2024-02-30T00:00:00Z'"
    );
    assert_eq!(
        err("a = 20-1\n").2,
        "All ISO8601 dates must be in full Zulu form."
    );
    assert_eq!(
        err("a = 2024-01-01 00:00\n").2,
        "Expected 'T' in ISO8601 datetime, but found ' ' instead."
    );
}

#[test]
fn maps_and_arrays() {
    let m = p(concat!(
        "m { a = 1, b: two; c three\n d { e = [1 , \"x\", {f: g}, [true] ] } }\n",
        "arr = [\n  1 # one\n  2, 3 // three\n]\n",
        "empty {}\nnone = []\n",
    ))
    .unwrap();
    let Value::Map(mm) = get(&m, "m") else {
        panic!()
    };
    assert_eq!(get(mm, "a"), &Value::Integer(1));
    assert_eq!(get(mm, "b"), &s("two"));
    assert_eq!(get(mm, "c"), &s("three"));
    let Value::Map(d) = get(mm, "d") else {
        panic!()
    };
    let Value::Array(e) = get(d, "e") else {
        panic!()
    };
    assert_eq!(e.len(), 4);
    assert_eq!(e[0].value, Value::Integer(1));
    let Value::Array(arr) = get(&m, "arr") else {
        panic!()
    };
    let vals: Vec<_> = arr.iter().map(|n| n.value.clone()).collect();
    assert_eq!(
        vals,
        vec![Value::Integer(1), Value::Integer(2), Value::Integer(3)]
    );
    assert_eq!(get(&m, "empty"), &Value::Map(Map::new()));
    assert_eq!(get(&m, "none"), &Value::Array(vec![]));
}

#[test]
fn whole_file_in_braces_and_quoted_keys() {
    let m = p("{\n  \"a b\" = 1\n  'c' = 2\n}\n").unwrap();
    assert_eq!(get(&m, "a b"), &Value::Integer(1));
    assert_eq!(get(&m, "c"), &Value::Integer(2));
}

#[test]
fn go_quirk_integer_before_closing_bracket() {
    // Go: `[1, 2]` is rejected (`2]` lexes as a string, then `}`/EOF is unexpected).
    // `nats-server -t` reports: Expected an array value terminator "," or an array terminator
    // "]", but got '}' instead.
    assert!(p("a = [1, 2]\n").is_err());
    let (_, _, m) = err("m { a = [1, 2] }\n");
    assert_eq!(
        m,
        "Expected an array value terminator \",\" or an array terminator \"]\", but got '}' instead."
    );
    // A space (or newline) before ']' makes it work.
    assert!(p("a = [1, 2 ]\n").is_ok());
}

#[test]
fn positions_are_line_and_column() {
    let m = p("a = 1\n  bb = \"x\"\nc {\n\td = [1, 2 ]\n}\n").unwrap();
    let bb = m.get("bb").unwrap();
    assert_eq!((bb.key_pos.line, bb.key_pos.col), (2, 3));
    assert_eq!((bb.node.pos.line, bb.node.pos.col), (2, 8));
    let Value::Map(c) = get(&m, "c") else {
        panic!()
    };
    let d = c.get("d").unwrap();
    assert_eq!((d.key_pos.line, d.key_pos.col), (4, 2));
    let Value::Array(items) = &d.node.value else {
        panic!()
    };
    assert_eq!((items[1].pos.line, items[1].pos.col), (4, 10));
    assert_eq!(&*bb.key_pos.file, "t.conf");
}

#[test]
fn error_positions_and_messages() {
    // Go: "Invalid escape character 'q'..." on line 2.
    let (l, c, m) = err("port: 4222\nhost = \"a\\qb\"\n");
    assert_eq!((l, c), (2, 12));
    assert!(
        m.starts_with("Invalid escape character 'q'. Only the following"),
        "{m}"
    );
    // Go also rejects an unclosed array (its message names a NUL character).
    let (l, c, m) = err("port = 1k\nx = [1,2\n");
    assert_eq!(
        (l, c, m.as_str()),
        (3, 1, "Unexpected EOF processing array.")
    );
    let (l, c, m) = err("x = [1 2 ]\n");
    assert_eq!((l, c), (1, 8));
    assert_eq!(
        m,
        "Expected an array value terminator \",\" or an array terminator \"]\", but got '2' instead."
    );
    let (l, c, m) = err("a = 1 2\n");
    assert_eq!((l, c), (1, 7));
    assert!(m.starts_with("Expected a top-level value to end with a new line"));
    assert_eq!(err("m {\n a = 1\n").2, "Unexpected EOF processing map.");
    assert_eq!(
        err("a = \"open\n").2,
        "Unexpected EOF in double quoted string."
    );
    assert_eq!(err("a =\n").2, "Expected value but found new line");
    assert_eq!(err("= 1\n").2, "Unexpected key separator '='");
    assert_eq!(
        err("m { a = 1,, }\n").2,
        "Expected a value before the end of the map"
    );
    let e = p("a = [1 x]\n").unwrap_err();
    assert_eq!(e.to_string(), format!("t.conf:1:8: {}", e.msg));
}

#[test]
fn nesting_depth_is_limited() {
    let ok = format!("a = {}{}\n", "[".repeat(MAX_DEPTH), " ]".repeat(MAX_DEPTH));
    assert!(p(&ok).is_ok());
    let deep = format!("a = {}\n", "[".repeat(MAX_DEPTH + 1));
    let e = p(&deep).unwrap_err();
    assert!(e.msg.contains("nesting too deep"), "{e}");
    assert_eq!((e.line, e.col), (1, 5 + MAX_DEPTH as u32));
    // Hostile input does not blow the stack.
    let huge = "x { ".repeat(100_000);
    assert!(p(&huge).unwrap_err().msg.contains("nesting too deep"));
}

#[test]
fn variables_block_scoped_then_env() {
    let env = |k: &str| match k {
        "PORT" => Some("4222".to_string()),
        "LIST" => Some("[1, 2 ]".to_string()),
        "HOST" => Some("example.com".to_string()),
        _ => None,
    };
    let src = concat!(
        "v = outer\n",
        "a = $v\n",
        "m { v = inner, b = $v, c { d = $v } }\n",
        "e = $v\n",
        "port = $PORT\n",
        "list = $LIST\n",
        "host = $HOST\n",
    );
    let m = parse("t.conf", src, &NoIncludes, &env).unwrap();
    assert_eq!(get(&m, "a"), &s("outer"));
    let Value::Map(mm) = get(&m, "m") else {
        panic!()
    };
    assert_eq!(get(mm, "b"), &s("inner"));
    let Value::Map(c) = get(mm, "c") else {
        panic!()
    };
    assert_eq!(get(c, "d"), &s("inner"));
    assert_eq!(get(&m, "e"), &s("outer"));
    assert_eq!(get(&m, "port"), &Value::Integer(4222));
    assert!(matches!(get(&m, "list"), Value::Array(v) if v.len() == 2));
    assert_eq!(get(&m, "host"), &s("example.com"));
    assert!(m.get("v").unwrap().used_as_variable);
    // The value's position is the reference's.
    let port = &m.get("port").unwrap().node;
    assert_eq!((port.pos.line, port.pos.col), (5, 8));
}

#[test]
fn variable_errors_and_cycles() {
    // Go: "variable reference for 'nope' on line 3 can not be found".
    let (l, c, m) = err("a = 1\nb = $a\nc = $nope\n");
    assert_eq!((l, c), (3, 5));
    assert_eq!(m, "variable reference for 'nope' can not be found");
    let env = |k: &str| match k {
        "A" => Some("$B".to_string()),
        "B" => Some("$A".to_string()),
        "SELF" => Some("$SELF".to_string()),
        "BAD" => Some("\"open".to_string()),
        _ => None,
    };
    let e = parse("t.conf", "x = $A\n", &NoIncludes, &env).unwrap_err();
    assert_eq!(e.msg, "variable reference cycle for 'A'");
    assert_eq!((e.line, e.col), (1, 5));
    let e = parse("t.conf", "x = $SELF\n", &NoIncludes, &env).unwrap_err();
    assert_eq!(e.msg, "variable reference cycle for 'SELF'");
    let e = parse("t.conf", "x = $BAD\n", &NoIncludes, &env).unwrap_err();
    assert!(
        e.msg
            .starts_with("variable reference for 'BAD' could not be parsed"),
        "{e}"
    );
}

#[test]
fn bcrypt_hash_is_not_a_variable() {
    let m = p("a = $2a$11$PWIFAL8RsWyGI3jVZtO9Nu8.6jOxzxfZo7c/W0eLk017hjgUKWrhy\n").unwrap();
    assert_eq!(
        get(&m, "a"),
        &s("$2a$11$PWIFAL8RsWyGI3jVZtO9Nu8.6jOxzxfZo7c/W0eLk017hjgUKWrhy")
    );
}

#[test]
fn variable_expansion_is_bounded() {
    let mut src = String::from("a0 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10 ]\n");
    for i in 1..12 {
        let prev = format!("$a{}", i - 1);
        src += &format!("a{i} = [{} ]\n", vec![prev.as_str(); 10].join(", "));
    }
    let e = p(&src).unwrap_err();
    assert!(e.msg.contains("config too large"), "{e}");
}

#[test]
fn includes_relative_and_merged() {
    let files = Mem::new(&[
        (
            "/etc/nats/main.conf",
            "port = 1\ninclude ./auth/users.conf\nm { include 'inner.conf' }\n",
        ),
        (
            "/etc/nats/auth/users.conf",
            "user = bob\ninclude \"../more.conf\"\n",
        ),
        ("/etc/nats/more.conf", "more = true\n"),
        ("/etc/nats/inner.conf", "x = 5\n"),
    ]);
    let src = files.0["/etc/nats/main.conf"].clone();
    let m = parse("/etc/nats/main.conf", &src, &files, &no_env).unwrap();
    assert_eq!(get(&m, "user"), &s("bob"));
    assert_eq!(get(&m, "more"), &Value::Bool(true));
    let Value::Map(mm) = get(&m, "m") else {
        panic!()
    };
    assert_eq!(get(mm, "x"), &Value::Integer(5));
    // Positions name the included file.
    let u = m.get("user").unwrap();
    assert_eq!(
        (&*u.key_pos.file, u.key_pos.line, u.key_pos.col),
        ("/etc/nats/auth/users.conf", 1, 1)
    );
}

#[test]
fn include_errors() {
    let files = Mem::new(&[
        ("a.conf", "x = 1\n  include missing.conf\n"),
        ("self.conf", "include self.conf\n"),
        ("bad.conf", "include broken.conf\n"),
        ("broken.conf", "ok = 1\nz = [\n"),
    ]);
    let e = parse("a.conf", &files.0["a.conf"], &files, &no_env).unwrap_err();
    assert_eq!((e.file.as_str(), e.line, e.col), ("a.conf", 2, 11));
    assert!(
        e.msg
            .starts_with("error parsing include file 'missing.conf'"),
        "{e}"
    );
    let e = parse("self.conf", &files.0["self.conf"], &files, &no_env).unwrap_err();
    assert!(e.msg.contains("include cycle"), "{e}");
    let e = parse("bad.conf", &files.0["bad.conf"], &files, &no_env).unwrap_err();
    assert_eq!(e.file, "broken.conf");
    assert_eq!(e.line, 3);
    assert_eq!(
        err("include [x]\n").2,
        "Expected include value but found start of an array"
    );
}

#[test]
fn include_path_joining() {
    assert_eq!(
        join_include_path("/etc/nats/a.conf", "b.conf"),
        "/etc/nats/b.conf"
    );
    assert_eq!(
        join_include_path("/etc/nats/a.conf", "../b.conf"),
        "/etc/b.conf"
    );
    assert_eq!(join_include_path("a.conf", "./x/b.conf"), "x/b.conf");
    assert_eq!(join_include_path("a.conf", "/abs/b.conf"), "/abs/b.conf");
}

#[test]
fn never_panics_on_garbage() {
    let samples = [
        "",
        "\"",
        "'",
        "(",
        "{",
        "[",
        "}",
        "]",
        "a",
        "a=",
        "a=$",
        "a=$$",
        "a=-",
        "a=-.",
        "a=1e",
        "a=1.",
        "a=\\",
        "a=\"\\x",
        "a=\"\\x4",
        "a=\"\\xzz\"",
        "include",
        "include ",
        "include '",
        "m{include",
        "a=[,",
        "a={,",
        "a={a",
        "a={a:",
        "a=(\n)",
        "/",
        "a=1/2",
        "\u{feff}a=1",
        "a=\u{a0}1",
        "a=é",
        "ü=1",
        "a=2024-",
        "a=2024-01-01T",
        "a = [1 / 2 ]",
        "x { a }",
    ];
    for s in samples {
        let _ = p(s);
        let _ = load_str(s);
        let _ = toml::parse_toml("t.toml", s);
    }
}

fn typed(src: &str) -> ServerConfig {
    match load_str(src) {
        Ok(l) => l.config,
        Err(d) => panic!("{d}"),
    }
}

#[test]
fn docs_example_types() {
    let src = include_str!("testdata/simple.conf");
    let l = load("simple.conf", src, &NoIncludes, &no_env).unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = l.config;
    assert_eq!(c.options.host, "127.0.0.1");
    assert_eq!(c.options.port, 4242);
    assert_eq!(c.options.server_name.as_deref(), Some("docs-example"));
    assert_eq!(c.monitoring.http_port, Some(8222));
    assert!(c.logging.trace && !c.logging.debug && c.logging.logtime);
    assert_eq!(c.logging.log_file.as_deref(), Some("/tmp/nats-server.log"));
    assert_eq!(c.pid_file.as_deref(), Some("/tmp/nats-server.pid"));
    assert_eq!(c.options.max_connections, 100);
    assert_eq!(c.options.max_control_line, 512);
    assert_eq!(c.options.max_payload, 65536);
    assert_eq!(c.options.max_pending, 10 << 20);
    assert_eq!(c.options.ping_interval, Duration::from_secs(120));
    assert_eq!(c.options.write_deadline, Duration::from_secs(2));
    assert_eq!(c.lame_duck_duration, Duration::from_secs(120));
    let a = &c.options.auth;
    assert_eq!(a.timeout, Duration::from_millis(1500));
    assert_eq!(a.users.len(), 3);
    assert_eq!(a.users[0].password, "s3cr3t");
    let perms = a.users[1].permissions.as_ref().unwrap();
    let publish = perms.publish.as_ref().unwrap();
    assert_eq!(
        publish.allow.as_deref(),
        Some(&["req.>".to_string(), "_INBOX.>".to_string()][..])
    );
    let sub = perms.subscribe.as_ref().unwrap();
    assert_eq!(sub.allow.as_deref(), Some(&["svc.*".to_string()][..]));
    assert_eq!(sub.deny, vec!["svc.secret".to_string()]);
    let rp = perms.allow_responses.unwrap();
    assert_eq!((rp.max, rp.expires), (5, Duration::from_secs(60)));
    let other = a.users[2].permissions.as_ref().unwrap();
    assert_eq!(
        other.subscribe.as_ref().unwrap().allow.as_ref().unwrap()[1],
        "y.* q"
    );
}

#[test]
fn toml_maps_onto_the_same_options() {
    let conf = load(
        "simple.conf",
        include_str!("testdata/simple.conf"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    let toml = load(
        "simple.toml",
        include_str!("testdata/simple.toml"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    assert_eq!(conf.options, toml.options);
    assert_eq!(conf.logging, toml.logging);
    assert_eq!(conf.monitoring, toml.monitoring);
    assert_eq!(conf.pid_file, toml.pid_file);
    // TOML errors and typing errors carry positions too.
    let e = toml::parse_toml("t.toml", "a = 1\nb = = 2\n").unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("t.toml", 2));
    let d = load("t.toml", "port = 1\nbogus = 2\n", &NoIncludes, &no_env).unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.toml:2:1: unknown field \"bogus\""
    );
    assert!(is_toml("X.TOML") && !is_toml("x.conf"));
}

#[test]
fn token_config() {
    let c = load(
        "token.conf",
        include_str!("testdata/token.conf"),
        &NoIncludes,
        &no_env,
    )
    .unwrap()
    .config;
    assert!(c
        .options
        .auth
        .token
        .as_deref()
        .unwrap()
        .starts_with("$2a$11$"));
    assert_eq!(c.options.auth.timeout, Duration::from_secs(2));
}

#[test]
fn listen_forms_and_aliases() {
    let c =
        typed("listen: 4333\nnet: 10.0.0.1\nmax_conn: 5\nmax_subs: 7\nno_sublist_cache: true\n");
    assert_eq!(
        (c.options.port, c.options.host.as_str()),
        (4333, "10.0.0.1")
    );
    assert_eq!(
        (c.options.max_connections, c.options.max_subscriptions),
        (5, 7)
    );
    assert!(c.options.disable_sublist_cache);
    let c = typed(
        "listen: \"[::1]:4444\"\nport: -1\nhttp: \"127.0.0.1:8222\"\nlog_file: x\nPID_FILE: y\n",
    );
    assert_eq!((c.options.host.as_str(), c.options.port), ("::1", 0));
    assert_eq!(
        (c.monitoring.host.as_deref(), c.monitoring.http_port),
        (Some("127.0.0.1"), Some(8222))
    );
    assert_eq!(c.logging.log_file.as_deref(), Some("x"));
    assert_eq!(c.pid_file.as_deref(), Some("y"));
    assert!(c.explicit.contains(&"pidfile") && c.explicit.contains(&"listen"));
    let c = typed("trace_verbose: true\nlogtime: false\nmonitor_port: -1\n");
    assert!(c.logging.trace && c.logging.trace_verbose && !c.logging.logtime);
    assert_eq!(c.monitoring.http_port, Some(0));
}

#[test]
fn durations_and_bare_seconds_warning() {
    // Go: `e.conf:1:0: invalid use of field "ping_interval": ping_interval should be
    // converted to a duration` (a warning; Go numbers the first line's columns from 0).
    let l = load_str("ping_interval = 5\nwrite_deadline = \"1.5s\"\n").unwrap();
    assert_eq!(l.config.options.ping_interval, Duration::from_secs(5));
    assert_eq!(l.config.options.write_deadline, Duration::from_millis(1500));
    assert_eq!(
        l.warnings[0].to_string(),
        "t.conf:1:1: invalid use of field \"ping_interval\": ping_interval should be converted to a duration"
    );
    let d = load_str("ping_interval = \"5x\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "error parsing ping_interval: time: unknown unit \"x\" in duration \"5x\""
    );
    let d = load_str("lame_duck_duration = \"10s\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "invalid lame_duck_duration of 10s, minimum is 30 seconds"
    );
}

#[test]
fn unknown_keys_are_errors_with_positions() {
    // Go: `a.conf:1:0: unknown field "foo"` and `a.conf:2:3: unknown field "bar"`.
    let d = load_str("foo = 1\n  bar = 2\n").unwrap_err();
    let shown: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "t.conf:1:1: unknown field \"foo\"",
            "t.conf:2:3: unknown field \"bar\""
        ]
    );
    // Go: `d.conf:3:39: unknown field "foo"` inside authorization.
    let d = load_str(
        "port = 4222\nping_interval = \"5s\"\nauthorization { user: a, password: b, foo: 1 }\n",
    )
    .unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.conf:3:39: unknown field \"foo\""
    );
    // Keys used as variables are not unknown (Go's IsUsedVariable).
    let c = typed("PASS = secret\nauthorization { user: a, password: $PASS }\n");
    assert_eq!(c.options.auth.password.as_deref(), Some("secret"));
}

#[test]
fn wrong_types_are_errors() {
    // Go: `c.conf:1:0: interface conversion: interface {} is string, not int64`.
    let d = load_str("port = \"x\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].to_string(),
        "t.conf:1:1: \"port\" expects an integer, got string"
    );
    let d = load_str("listen = \"nocolon\"\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "could not parse address string \"nocolon\""
    );
    let d = load_str("max_payload = 3gb\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "max_payload value is too big");
    let d = load_str("max_payload = 10MB\nmax_pending = 1MB\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "max_payload (10485760) cannot be higher than max_pending (1048576)"
    );
}

#[test]
fn unsupported_keys_warn() {
    let l = load_str("port = 1\ncluster {\n  port: 6222\n}\njetstream: true\n").unwrap();
    let shown: Vec<String> = l.warnings.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        vec![
            "t.conf:2:1: \"cluster\" is not supported yet; ignored",
            "t.conf:5:1: \"jetstream\" is not supported yet; ignored",
        ]
    );
}

#[test]
fn authorization_checks() {
    let d = load_str("authorization { user: a, token: t }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Cannot have a user/pass and token");
    let d = load_str("authorization { user: a, users: [] }\n").unwrap_err();
    assert_eq!(
        d.errors[0].msg,
        "Can not have a single user/pass and a users array"
    );
    let d = load_str("authorization { users: [{user: a}, {user: a}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Duplicate user \"a\" detected");
    let d = load_str("authorization { users: [{password: a}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "User entry requires a user");
    let d = load_str("authorization { users: [{user: a, permissions: {publish: \"a..b\"}}] }\n")
        .unwrap_err();
    assert_eq!(d.errors[0].msg, "subject \"a..b\" is not a valid subject");
    let d = load_str("authorization { users: [{user: a, permissions: {foo: x}}] }\n").unwrap_err();
    assert_eq!(d.errors[0].msg, "Unknown field \"foo\" parsing permissions");
    let c = typed(concat!(
        "authorization {\n default_permissions { publish: \"p.>\" }\n",
        " users: [{user: a}, {user: b, permissions: {subscribe: \"s\", allow_responses: true}}]\n}\n",
    ));
    let u = &c.options.auth.users;
    assert_eq!(
        u[0].permissions
            .as_ref()
            .unwrap()
            .publish
            .as_ref()
            .unwrap()
            .allow
            .as_ref()
            .unwrap()[0],
        "p.>"
    );
    let pb = u[1].permissions.as_ref().unwrap();
    assert_eq!(pb.publish.as_ref().unwrap().allow.as_deref(), Some(&[][..]));
    assert_eq!(
        pb.allow_responses,
        Some(crate::auth::ResponsePermission::default())
    );
}

#[test]
fn reload_diff_reloadable() {
    let old = typed(
        "port = 4222\ndebug = false\nauthorization { user: a, password: b }\nmax_payload = 1MB\n",
    );
    let new = typed(concat!(
        "port = 4222\ndebug = true\nauthorization { user: a, password: c, timeout: 3 }\n",
        "max_payload = 2MB\nping_interval = \"30s\"\npidfile = /tmp/p\n",
    ));
    let changes = diff(&old, &new).unwrap();
    let lines: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        lines,
        vec![
            "Reloaded: debug = true",
            "Reloaded: authorization password",
            "Reloaded: ping_interval = 30s",
            "Reloaded: authorization timeout = 3",
            "Reloaded: max_payload = 2097152",
            "Reloaded: pid_file = /tmp/p",
        ]
    );
    assert_eq!(diff(&old, &old).unwrap(), vec![]);
    // A new random port (0) is ignored, as in Go.
    let random = typed(
        "port = -1\ndebug = false\nauthorization { user: a, password: b }\nmax_payload = 1MB\n",
    );
    assert_eq!(diff(&old, &random).unwrap(), vec![]);
}

#[test]
fn reload_diff_not_reloadable() {
    let old = typed("port = 4222\nmax_pending = 10MB\n");
    let e = diff(&old, &typed("port = 4333\nmax_pending = 10MB\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for Port: old=4222, new=4333"
    );
    let e = diff(&old, &typed("port = 4222\nmax_pending = 20MB\n")).unwrap_err();
    assert_eq!(e.field, "MaxPending");
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nserver_name = n\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for ServerName: old=, new=n"
    );
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nlame_duck_duration = \"1m\"\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "config reload not supported for LameDuckDuration: old=2m0s, new=1m0s"
    );
    let e = diff(
        &old,
        &typed("port = 4222\nmax_pending = 10MB\nhttp_port = 8222\n"),
    )
    .unwrap_err();
    assert_eq!(e.field, "HTTPPort");
}

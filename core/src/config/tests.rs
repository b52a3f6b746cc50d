//! Tests for the config parser, TOML reader, typing and reload diff.
//!
//! Configs marked "Go:" were checked by hand with `/usr/sbin/nats-server -t -c FILE`
//! (Go 2.9.10): it accepts or rejects them the same way (wording may differ; see notes).

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

pub(super) fn no_env(_: &str) -> Option<String> {
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

pub(super) fn load_str(src: &str) -> Result<Loaded, Diagnostics> {
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
        src += &format!("a{i} = [{} ]\n", [prev.as_str(); 10].join(", "));
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

proptest::proptest! {
    /// Arbitrary text over the format's special characters never panics (the fuzz target
    /// goes further).
    #[test]
    fn parse_never_panics(s in "[ a-zA-Z0-9{}()=:;,#/\"'$.\\[\\]\\\\\\-\n\t\r]{0,80}") {
        let _ = p(&s);
        let _ = load_str(&s);
        let _ = toml::parse_toml("t.toml", &s);
    }

    /// Valid `key = integer` lines round-trip.
    #[test]
    fn integers_round_trip(n in proptest::num::i64::ANY) {
        let m = p(&format!("a = {n}\n")).unwrap();
        proptest::prop_assert_eq!(get(&m, "a"), &Value::Integer(n));
    }
}

//! `mappings` blocks: the forms Go reads, and its errors with positions (checked against Go
//! 2.9.10 and 2.15.1 with `nats-server -t`: same text, and the position of the mapping's
//! key, as Go gives it from the second line on; on a file's first line Go's columns are
//! one less, a lexer quirk we do not copy).

use super::super::tests::load_str;
use crate::options::{MapDest, MappingOptions};

fn dest(s: &str, w: u8, cluster: Option<&str>) -> MapDest {
    MapDest {
        subject: s.into(),
        weight: w,
        cluster: cluster.map(str::to_string),
    }
}

#[test]
fn top_level_and_account_mappings() {
    let conf = r#"
mappings = {
  foo: bar
  "orders.*.*": "x.$2.{{wildcard(1)}}"
  w: [{destination: w1, weight: 40%}, {dest: w2, weight: 60, cluster: east}]
  one: {destination: two, weight: "50%"}
}
accounts { A { users: [{user: a, password: a}], maps { "in.>": "out.>" } } }
"#;
    let o = load_str(conf).unwrap().config.options;
    assert_eq!(
        o.mappings,
        [
            MappingOptions {
                src: "foo".into(),
                dests: vec![dest("bar", 100, None)],
                weighted: false,
            },
            MappingOptions {
                src: "orders.*.*".into(),
                dests: vec![dest("x.$2.{{wildcard(1)}}", 100, None)],
                weighted: false,
            },
            MappingOptions {
                src: "w".into(),
                dests: vec![dest("w1", 40, None), dest("w2", 60, Some("east"))],
                weighted: true,
            },
            MappingOptions {
                src: "one".into(),
                dests: vec![dest("two", 50, None)],
                weighted: true,
            },
        ]
    );
    assert_eq!(o.accounts[0].mappings[0].src, "in.>");
    assert_eq!(o.accounts[0].mappings[0].dests, [dest("out.>", 100, None)]);
}

#[test]
fn bad_mappings_get_gos_errors_at_the_key() {
    for (entry, want) in [
        (
            r#""a.*": "b.{{wildcard(3)}}""#,
            r#"t.conf:2:4: Error adding mapping for "a.*" to "b.{{wildcard(3)}}" : invalid mapping destination: wildcard index out of range in {{wildcard(3)}}: [3]"#,
        ),
        (
            r#""a.*": "b.{{foo(1)}}""#,
            r#"t.conf:2:4: Error adding mapping for "a.*" to "b.{{foo(1)}}" : invalid mapping destination: unknown function in {{foo(1)}}"#,
        ),
        (
            r#"w: [{destination: w1, weight: 60%}, {destination: w2, weight: 50%}]"#,
            r#"t.conf:2:3: Error adding mapping for "w" : total weight needs to be <= 100"#,
        ),
        (
            r#"foo: "bar.*""#,
            r#"t.conf:2:3: Error adding mapping for "foo" to "bar.*" : invalid subject"#,
        ),
        (
            r#""a.>": "b""#,
            r#"t.conf:2:4: Error adding mapping for "a.>" to "b" : invalid subject"#,
        ),
        // Go points at the block (2.15.1: `1:0`); the key is more useful.
        (
            r#""a..b": "c""#,
            r#"t.conf:2:4: Subject "a..b" is not a valid subject"#,
        ),
    ] {
        let conf = format!("mappings = {{\n  {entry}\n}}\n");
        let d = load_str(&conf).unwrap_err();
        let shown: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown, [want], "{conf}");
    }
    // At the `weight` key, as Go.
    let d = load_str("mappings = {\n  w: [{destination: w1, weight: 101%}]\n}\n").unwrap_err();
    let shown: Vec<String> = d.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        shown,
        ["t.conf:2:25: Invalid weight 101 for mapping destination"]
    );
}

#[test]
fn mappings_reload() {
    let cfg = |m: &str| {
        let conf = format!(
            "mappings = {{ {m} }}\naccounts {{ A {{ users: [{{user: a, password: a}}], mappings: {{ {m} }} }} }}\n"
        );
        load_str(&conf).unwrap().config
    };
    let (old, new) = (cfg("foo: bar"), cfg("foo: baz"));
    let lines: Vec<String> = super::super::reload::diff(&old, &new)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        lines,
        ["Reloaded: mappings", "Reloaded: mappings of account A"]
    );
}

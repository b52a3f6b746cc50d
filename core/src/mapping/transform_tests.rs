use super::*;
use crate::subject;

fn map(src: &str, dest: &str, subj: &str) -> String {
    let tr = Transform::new(src, dest).unwrap_or_else(|e| panic!("{src} -> {dest}: {e}"));
    let toks: Vec<&[u8]> = subject::tokens(subj.as_bytes()).collect();
    String::from_utf8(tr.apply(&toks, &mut Rng::new(1))).expect("ascii")
}

fn err(src: &str, dest: &str) -> String {
    Transform::new(src, dest).expect_err(dest).0
}

#[test]
fn wildcards_and_literals() {
    assert_eq!(map("foo", "bar", "foo"), "bar");
    assert_eq!(map("orders.*.*", "x.$2.$1", "orders.a.b"), "x.b.a");
    assert_eq!(map("a.*", "b.{{wildcard(1)}}", "a.q"), "b.q");
    assert_eq!(map("a.*", "b.{{ Wildcard( 1 ) }}", "a.q"), "b.q");
    assert_eq!(map("a.>", "b.>", "a.x.y.z"), "b.x.y.z");
    assert_eq!(map("a.*.>", "b.$1.>", "a.x.y.z"), "b.x.y.z");
    assert_eq!(map(">", "p.>", "x"), "p.x");
    // Not every wildcard need be used (2.15.1; 2.9.10 refused it).
    assert_eq!(map("a.*.*", "b.$2", "a.x.y"), "b.y");
    // `$x` that is not a number is a literal token.
    assert_eq!(map("a", "$G.x", "a"), "$G.x");
}

#[test]
fn token_functions() {
    assert_eq!(map("*", "{{split(1,-)}}", "a-b-c"), "a.b.c");
    assert_eq!(map("*", "{{split(1,-)}}", "a--b"), "a.b");
    assert_eq!(map("*", "{{split(1,-)}}", "-a"), "a");
    assert_eq!(map("*", "{{split(1,-)}}", "--a"), ".a");
    assert_eq!(map("*", "{{splitFromLeft(1,2)}}", "abcde"), "ab.cde");
    assert_eq!(map("*", "{{SplitFromRight(1,2)}}", "abcde"), "abc.de");
    assert_eq!(map("*", "{{splitFromLeft(1,9)}}", "abc"), "abc");
    assert_eq!(map("*", "{{sliceFromLeft(1,2)}}", "abcde"), "ab.cd.e");
    assert_eq!(map("*", "{{sliceFromRight(1,2)}}", "abcde"), "a.bc.de");
    assert_eq!(map("*", "{{sliceFromRight(1,2)}}", "abcd"), "ab.cd");
    assert_eq!(map("*", "{{left(1,2)}}", "abcdef"), "ab");
    assert_eq!(map("*", "{{right(1,2)}}", "abcdef"), "ef");
    assert_eq!(map("*", "{{right(1,0)}}", "abcdef"), "abcdef");
}

#[test]
fn partitions_hash_as_go_does() {
    // FNV-1a 32 of "foo" is 0xa9f37ed7 = 2851307223; mod 10 = 3.
    assert_eq!(fnv1a(b"foo".iter()), 0xa9f3_7ed7);
    assert_eq!(map("*", "p.{{partition(10,1)}}", "foo"), "p.3");
    // Several tokens are hashed back to back, with no separator (seen on Go: p.abc.def
    // went to fnv1a("abcdef") % 10).
    let two = fnv1a(b"abcdef".iter()) % 10;
    assert_eq!(
        map("p.*.*", "p.{{partition(10,1,2)}}", "p.abc.def"),
        format!("p.{two}")
    );
    // No token list: the whole subject, dots included.
    let whole = fnv1a(b"a.foo".iter()) % 7;
    assert_eq!(
        map("a.*", "{{partition(7)}}.x", "a.foo"),
        format!("{whole}.x")
    );
    // A source without wildcards hashes the whole subject too.
    let lit = fnv1a(b"bar".iter()) % 5;
    assert_eq!(map("bar", "q.{{partition(5)}}", "bar"), format!("q.{lit}"));
}

#[test]
fn random_draws_from_the_seeded_rng() {
    let tr = Transform::new("r", "r.{{random(3)}}").expect("valid");
    let mut rng = Rng::new(9);
    let mut seen = [0u32; 3];
    for _ in 0..300 {
        let out = tr.apply(&[b"r"], &mut rng);
        let n: usize = std::str::from_utf8(&out[2..]).unwrap().parse().unwrap();
        seen[n] += 1;
    }
    assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
}

#[test]
fn errors_in_go_words() {
    assert_eq!(
        err("a.*", "b.{{wildcard(3)}}"),
        "invalid mapping destination: wildcard index out of range in {{wildcard(3)}}: [3]"
    );
    assert_eq!(
        err("a.*", "b.{{foo(1)}}"),
        "invalid mapping destination: unknown function in {{foo(1)}}"
    );
    assert_eq!(
        err("a.*", "{{wildcard()}}"),
        "invalid mapping destination: not enough arguments passed to the function in {{wildcard()}}"
    );
    assert_eq!(
        err("a.*", "{{wildcard(1,2)}}"),
        "invalid mapping destination: too many arguments passed to the function in {{wildcard(1,2)}}"
    );
    assert_eq!(
        err("a.*", "{{splitFromLeft(x,2)}}"),
        "invalid mapping destination: function argument is invalid or in the wrong format in {{splitFromLeft(x,2)}}"
    );
    assert_eq!(
        err("a", "b.$1"),
        "invalid mapping destination: wildcard index out of range in $1"
    );
    assert_eq!(err("a.*", "b.*"), "invalid subject");
    assert_eq!(err("a.>", "b"), "invalid subject");
    assert_eq!(
        err("a", "b..c"),
        "invalid mapping destination: invalid transform"
    );
    assert_eq!(
        err("a", "b.>.c"),
        "invalid mapping destination: invalid transform in c"
    );
}

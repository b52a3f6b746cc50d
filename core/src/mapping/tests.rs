use super::*;
use crate::options::MapDest;

fn dest(s: &str, w: u8) -> MapDest {
    MapDest {
        subject: s.into(),
        weight: w,
        cluster: None,
    }
}

fn plain(src: &str, to: &str) -> MappingOptions {
    MappingOptions {
        src: src.into(),
        dests: vec![dest(to, 100)],
        weighted: false,
    }
}

fn weighted(src: &str, dests: Vec<MapDest>) -> MappingOptions {
    MappingOptions {
        src: src.into(),
        dests,
        weighted: true,
    }
}

fn to(s: &str) -> Mapped {
    Mapped::To(s.as_bytes().to_vec())
}

/// Counts where 10,000 draws go.
fn split(m: &Mappings, subj: &str) -> std::collections::BTreeMap<String, u32> {
    let mut rng = Rng::new(42);
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..10_000 {
        let k = match m.select(subj.as_bytes(), &mut rng) {
            Mapped::To(s) => String::from_utf8(s).unwrap(),
            Mapped::Unmapped => "<unmapped>".into(),
            Mapped::Drop => "<drop>".into(),
        };
        *out.entry(k).or_insert(0) += 1;
    }
    out
}

/// Within 4 standard deviations of a binomial(10,000, pct%) draw.
fn near(got: u32, pct: u32) -> bool {
    let n = 10_000.0;
    let p = f64::from(pct) / 100.0;
    (f64::from(got) - n * p).abs() <= 4.0 * (n * p * (1.0 - p)).sqrt() + 1.0
}

#[test]
fn plain_and_first_match_wins() {
    let m = Mappings::compile(
        &[
            plain("foo", "bar"),
            plain("a.*", "x.$1"),
            plain("a.b", "never"),
        ],
        None,
    )
    .unwrap();
    let mut rng = Rng::new(1);
    assert_eq!(m.select(b"foo", &mut rng), to("bar"));
    assert_eq!(m.select(b"a.b", &mut rng), to("x.b"));
    assert_eq!(m.select(b"zzz", &mut rng), Mapped::Unmapped);
}

#[test]
fn a_later_entry_for_the_same_source_replaces_it() {
    let m = Mappings::compile(&[plain("foo", "bar"), plain("foo", "baz")], None).unwrap();
    assert_eq!(m.select(b"foo", &mut Rng::new(1)), to("baz"));
}

#[test]
fn weights_split_and_the_rest_keeps_its_subject() {
    let m =
        Mappings::compile(&[weighted("w", vec![dest("w1", 40), dest("w2", 40)])], None).unwrap();
    let got = split(&m, "w");
    assert!(near(got["w1"], 40) && near(got["w2"], 40), "{got:?}");
    assert!(near(got["w"], 20), "{got:?}");
    assert_eq!(got.len(), 3);
    // With wildcards the rest keeps the subject's own tokens.
    let m = Mappings::compile(&[weighted("o.*", vec![dest("p.$1", 50)])], None).unwrap();
    let got = split(&m, "o.k");
    assert!(near(got["p.k"], 50) && near(got["o.k"], 50), "{got:?}");
}

#[test]
fn listing_the_source_itself_means_loss() {
    let m = Mappings::compile(&[weighted("w", vec![dest("w1", 30), dest("w", 20)])], None).unwrap();
    let got = split(&m, "w");
    assert!(near(got["w1"], 30) && near(got["w"], 20), "{got:?}");
    assert!(near(got["<drop>"], 50), "{got:?}");
}

#[test]
fn cluster_scoped_destinations() {
    let mut east = dest("e", 100);
    east.cluster = Some("east".into());
    let opts = [weighted("c", vec![dest("main", 100), east])];
    let mut rng = Rng::new(1);
    let m = Mappings::compile(&opts, Some("east")).unwrap();
    assert_eq!(m.select(b"c", &mut rng), to("e"));
    let m = Mappings::compile(&opts, Some("west")).unwrap();
    assert_eq!(m.select(b"c", &mut rng), to("main"));
    let m = Mappings::compile(&opts, None).unwrap();
    assert_eq!(m.select(b"c", &mut rng), to("main"));
}

#[test]
fn refused_as_go_refuses() {
    let e = |o: MappingOptions| Mappings::compile(&[o], None).unwrap_err().1;
    assert_eq!(
        e(weighted("w", vec![dest("a", 60), dest("b", 50)])),
        "Error adding mapping for \"w\" : total weight needs to be <= 100"
    );
    assert_eq!(
        e(weighted("w", vec![dest("a", 10), dest("a", 10)])),
        "Error adding mapping for \"w\" : duplicate entry for \"a\""
    );
    assert_eq!(
        e(plain("a.*", "b.$2")),
        "Error adding mapping for \"a.*\" to \"b.$2\" : invalid mapping destination: wildcard index out of range in $2: [2]"
    );
    assert_eq!(
        e(plain("a..b", "c")),
        "Subject \"a..b\" is not a valid subject"
    );
}

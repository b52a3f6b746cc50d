//! Subject mappings (issue 12): the model's rules fed by hand, seeds with mappings drawn
//! from them, and the planted bugs the mapping oracles must catch.

use std::sync::Arc;

use natsd_core::proto::Op;
use natsd_core::subject;
use natsd_sim::client::payload;
use natsd_sim::features::{ListSpec, PermSpec};
use natsd_sim::oracle::{ConnSpec, MapTo, MappingModel, Oracle, PermModel, RuleModel};
use natsd_sim::{repro_line, run, Sabotage, Variant, ViolationKind as K};

fn sub<'a>(subject: &'a str, sid: &'a str) -> Op<'a> {
    Op::Sub {
        subject: subject.as_bytes(),
        queue: None,
        sid: sid.as_bytes(),
    }
}

fn publish(o: &mut Oracle, from: usize, subj: &str, seq: u64) {
    let body = payload(from, seq, 3);
    let op = Op::Pub {
        subject: subj.as_bytes(),
        reply: None,
        payload: &body,
    };
    o.on_server_op(from, &op).expect("valid publish");
}

fn deliver(
    o: &mut Oracle,
    to: usize,
    sid: &str,
    subj: &str,
    from: usize,
    seq: u64,
) -> Result<(), K> {
    let body = payload(from, seq, 3);
    o.on_delivery(to, sid.as_bytes(), subj.as_bytes(), None, &body, false)
        .map_err(|v| v.kind)
}

fn to(t: &str, w: u32) -> (MapTo, u32) {
    (MapTo::To(t.as_bytes().to_vec()), w)
}

/// One node, `$G` mapped by `rules`, and connections 0..n (client i on connection i).
fn mapped(rules: Vec<(&str, Vec<(MapTo, u32)>)>, n: usize) -> Oracle {
    let mut o = Oracle::new(vec![true; n], subject::matches);
    let rules = rules
        .into_iter()
        .map(|(src, outcomes)| RuleModel {
            src: src.as_bytes().to_vec(),
            outcomes,
        })
        .collect();
    o.set_mappings(vec![MappingModel {
        account: None,
        rules,
    }]);
    o
}

/// A publish through a plain mapping is owed under its new subject only, and the first
/// matching source wins.
#[test]
fn a_mapped_publish_is_owed_under_its_new_subject() {
    let mut o = mapped(
        vec![("a.b", vec![to("c", 100)]), ("a.*", vec![to("b.$1", 100)])],
        2,
    );
    o.on_server_op(0, &sub("a.>", "1")).unwrap();
    o.on_server_op(0, &sub("c", "2")).unwrap();
    o.on_server_op(0, &sub("b.*", "3")).unwrap();
    publish(&mut o, 1, "a.b", 1);
    publish(&mut o, 1, "a.x", 2);
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
    assert_eq!(deliver(&mut o, 0, "1", "a.b", 1, 1), Err(K::Mapping));
    assert_eq!(deliver(&mut o, 0, "2", "c", 1, 1), Ok(()));
    assert_eq!(deliver(&mut o, 0, "3", "b.x", 1, 2), Ok(()));
    assert_eq!(o.finish(), Ok(()));
}

/// A connection whose user may publish only on `allow`.
fn restricted(o: &mut Oracle, allow: &str) -> usize {
    let mut spec = ConnSpec::plain(0, 0, true);
    let list = ListSpec {
        allow: Some(vec![allow.into()]),
        deny: Vec::new(),
    };
    spec.perms = Some(Arc::new(PermModel::of(&PermSpec {
        publish: Some(list),
        subscribe: None,
    })));
    o.open(spec)
}

/// The publish permission is checked on the mapped subject, with its text.
#[test]
fn permissions_see_the_mapped_subject() {
    for (allow, refused) in [("a", Some("b")), ("b", None)] {
        let mut o = mapped(vec![("a", vec![to("b", 100)])], 0);
        let c = restricted(&mut o, allow);
        publish(&mut o, c, "a", 1);
        match refused {
            Some(s) => {
                let text = format!("Permissions Violation for Publish to \"{s}\"");
                assert_eq!(o.on_err(c, &text), Ok(()), "allow {allow}");
            }
            None => assert_eq!(o.finish(), Ok(()), "allow {allow}"),
        }
    }
}

/// Through a weighted mapping: any destination, but one per message; its witnesses are
/// owed it once a delivery showed which.
#[test]
fn a_weighted_message_goes_to_one_destination() {
    let rules = vec![("*", vec![to("x.$1", 50), to("y.$1", 30), (MapTo::Keep, 20)])];
    let mut o = mapped(rules, 3);
    o.on_server_op(0, &sub("x.*", "1")).unwrap();
    o.on_server_op(0, &sub("y.a", "2")).unwrap();
    o.on_server_op(1, &sub("x.a", "1")).unwrap();
    publish(&mut o, 2, "a", 1);
    publish(&mut o, 2, "a", 2);
    // Nothing arrived: every destination but the kept one has a witness, so it was kept.
    assert_eq!(o.finish(), Ok(()));
    assert_eq!(deliver(&mut o, 0, "1", "x.a", 2, 1), Ok(()));
    // Seen under x.a: the other witness of x.a is owed it.
    assert_eq!(o.finish().map_err(|v| v.kind), Err(K::Missing));
    assert_eq!(deliver(&mut o, 1, "1", "x.a", 2, 1), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    // Message 1 went to x.a: not also to y.a. Message 2 to y.a: then not to x.a.
    assert_eq!(deliver(&mut o, 0, "2", "y.a", 2, 1), Err(K::Mapping));
    assert_eq!(deliver(&mut o, 0, "2", "y.a", 2, 2), Ok(()));
    assert_eq!(deliver(&mut o, 1, "1", "x.a", 2, 2), Err(K::Mapping));
    // A subject none of the destinations makes is refused.
    o.on_server_op(0, &sub(">", "3")).unwrap();
    publish(&mut o, 2, "b", 3);
    assert_eq!(deliver(&mut o, 0, "3", "z.b", 2, 3), Err(K::Mapping));
}

/// The split: 160 of 200 sampled messages to the 80% destination pass; 100 of 200 to the
/// 20% one do not.
#[test]
fn the_split_is_within_binomial_bounds() {
    for (to_x, want) in [(160, Ok(())), (100, Err(K::Split))] {
        let rules = vec![("*", vec![to("x.$1", 80), to("y.$1", 20)])];
        let mut o = mapped(rules, 2);
        o.on_server_op(0, &sub("x.*", "1")).unwrap();
        o.on_server_op(0, &sub("y.*", "2")).unwrap();
        for seq in 1..=200 {
            publish(&mut o, 1, "a", seq);
            let (sid, subj) = if seq <= to_x {
                ("1", "x.a")
            } else {
                ("2", "y.a")
            };
            assert_eq!(deliver(&mut o, 0, sid, subj, 1, seq), Ok(()));
        }
        assert_eq!(o.finish().map_err(|v| v.kind), want, "{to_x} to x");
    }
}

/// A publisher allowed on one destination and refused on the other, without `verbose`:
/// the `-ERR` that comes may be this publish's or the next's, and the model keeps both
/// readings until one fails.
#[test]
fn replies_of_a_weighted_publish_are_matched_every_way_that_fits() {
    let rules = vec![("*", vec![to("x.$1", 50), to("y.$1", 50)])];
    let mut o = mapped(rules, 0);
    let mut spec = ConnSpec::plain(0, 0, true);
    let deny_y = ListSpec {
        allow: None,
        deny: vec!["y.>".into()],
    };
    spec.perms = Some(Arc::new(PermModel::of(&PermSpec {
        publish: Some(deny_y),
        subscribe: None,
    })));
    let c = o.open(spec);
    // Two publishes of `a`: one -ERR for y.a fits either; then a PING's PONG.
    publish(&mut o, c, "a", 1);
    publish(&mut o, c, "a", 2);
    o.on_server_op(c, &Op::Ping).unwrap();
    assert_eq!(
        o.on_err(c, "Permissions Violation for Publish to \"y.a\""),
        Ok(())
    );
    assert_eq!(o.on_pong(c), Ok(()));
    assert_eq!(o.finish(), Ok(()));
    // A second -ERR before the PONG would also fit; a third would not.
    publish(&mut o, c, "b", 3);
    publish(&mut o, c, "b", 4);
    let err = "Permissions Violation for Publish to \"y.b\"";
    assert_eq!(o.on_err(c, err), Ok(()));
    assert_eq!(o.on_err(c, err), Ok(()));
    assert_eq!(o.on_err(c, err).map_err(|v| v.kind), Err(K::ServerError));
}

/// The first seeds of `variant` that map: `(tried, caught)` of `sabotage` among those whose
/// clean run `qualifies`, each failure of a kind in `kinds` with its replay line.
fn sabotage(
    variant: Variant,
    seeds: std::ops::Range<u64>,
    sabotage: Sabotage,
    qualifies: impl Fn(&natsd_sim::Outcome) -> bool,
    kinds: &[K],
) -> (u64, u64, Vec<K>) {
    let (mut tried, mut caught, mut seen) = (0, 0, Vec::new());
    for seed in seeds {
        let mut cfg = variant.config(seed);
        if cfg.features.mappings.is_empty() {
            continue;
        }
        let clean = run(cfg.clone()).expect("seeds pass");
        if !qualifies(&clean) {
            continue;
        }
        tried += 1;
        cfg.sabotage = Some(sabotage);
        if let Err(f) = run(cfg) {
            assert!(kinds.contains(&f.violation.kind), "seed {seed}: {f}");
            assert!(f.to_string().contains(&repro_line(variant, seed)));
            caught += 1;
            seen.push(f.violation.kind);
        }
    }
    println!("{sabotage:?} caught in {caught}/{tried} {variant} seeds: {seen:?}");
    (tried, caught, seen)
}

/// A model that forgets the first mapping (in the seeds that deliver messages through it)
/// expects its messages under the subject they were published on: a delivery under the mapped subject is a `Mapping` violation, or what was
/// owed under the old one is missing (or overtaken by a PONG), or a permission error the
/// model predicts for one subject comes for the other.
#[test]
fn a_forgotten_mapping_is_caught() {
    let kinds = [
        K::Mapping,
        K::Missing,
        K::Flush,
        K::ServerError,
        K::QueueMissing,
        K::Unexpected,
        K::Permission,
        K::CrossAccount,
        K::MsubMax,
        K::OverMax,
    ];
    for v in [Variant::Plain, Variant::Cluster] {
        let through = |o: &natsd_sim::Outcome| o.stats.checks.first_mapping_deliveries > 0;
        let (tried, caught, seen) = sabotage(v, 0..60, Sabotage::ForgetMapping, through, &kinds);
        assert!(
            tried >= 10,
            "{v}: too few seeds deliver through a mapping: {tried}"
        );
        assert!(caught * 10 >= tried * 8, "{v}: {caught}/{tried}");
        let by_mapping = seen.iter().filter(|&&k| k == K::Mapping).count() as u64;
        assert!(by_mapping * 2 >= caught, "{v}: mostly as Mapping: {seen:?}");
    }
}

/// A model that believes the weighted mapping's two destination weights swapped sees the
/// split out of its bounds in the seeds with enough sampled messages.
#[test]
fn skewed_weights_break_the_split() {
    let sampled = |o: &natsd_sim::Outcome| o.stats.checks.drawn_sampled >= 20;
    let (tried, caught, _) = sabotage(
        Variant::Plain,
        0..150,
        Sabotage::SkewWeights,
        sampled,
        &[K::Split],
    );
    assert!(
        tried >= 10,
        "too few seeds sample weighted messages: {tried}"
    );
    assert!(caught * 2 >= tried, "{caught}/{tried}");
}

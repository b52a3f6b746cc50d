//! Parser and encoder tests: every state, every error, and the split property.

use super::encode;
use super::*;
use proptest::prelude::*;

/// An owned copy of an op, so tests can collect ops across calls.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Connect(Vec<u8>),
    Info(Vec<u8>),
    Pub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    HPub(Vec<u8>, Option<Vec<u8>>, usize, Vec<u8>),
    Msg(Vec<u8>, Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    HMsg(Vec<u8>, Vec<u8>, Option<Vec<u8>>, usize, Vec<u8>),
    Sub(Vec<u8>, Option<Vec<u8>>, Vec<u8>),
    SubMax(Vec<u8>, Option<Vec<u8>>, Vec<u8>, u64),
    Unsub(Vec<u8>, Option<u64>),
    Ping,
    Pong,
    Ok,
    Err(Vec<u8>),
}

fn own(op: &Op<'_>) -> Owned {
    let v = |s: &[u8]| s.to_vec();
    let o = |s: Option<&[u8]>| s.map(<[u8]>::to_vec);
    match *op {
        Op::Connect(j) => Owned::Connect(v(j)),
        Op::Info(j) => Owned::Info(v(j)),
        Op::Pub {
            subject,
            reply,
            payload,
        } => Owned::Pub(v(subject), o(reply), v(payload)),
        Op::HPub {
            subject,
            reply,
            header_len,
            payload,
        } => Owned::HPub(v(subject), o(reply), header_len, v(payload)),
        Op::Msg {
            subject,
            sid,
            reply,
            payload,
        } => Owned::Msg(v(subject), v(sid), o(reply), v(payload)),
        Op::HMsg {
            subject,
            sid,
            reply,
            header_len,
            payload,
        } => Owned::HMsg(v(subject), v(sid), o(reply), header_len, v(payload)),
        Op::Sub {
            subject,
            queue,
            sid,
        } => Owned::Sub(v(subject), o(queue), v(sid)),
        Op::SubMax {
            subject,
            queue,
            sid,
            max,
        } => Owned::SubMax(v(subject), o(queue), v(sid), max),
        Op::Unsub { sid, max } => Owned::Unsub(v(sid), max),
        Op::Ping => Owned::Ping,
        Op::Pong => Owned::Pong,
        Op::Ok => Owned::Ok,
        Op::Err(t) => Owned::Err(v(t)),
        // Route ops have their own tests (`route_tests.rs`); a client parser never yields them.
        Op::RSub { .. } | Op::RUnsub { .. } | Op::RMsg { .. } => {
            unreachable!("route op from a client parser")
        }
    }
}

fn parser() -> Parser {
    let mut p = Parser::new(Limits::default());
    p.set_headers(true);
    p
}

/// Parses `chunks` in order; returns the ops and the first error.
fn run(p: &mut Parser, chunks: &[&[u8]]) -> (Vec<Owned>, Option<ParseError>) {
    let mut ops = Vec::new();
    for c in chunks {
        let mut pos = 0;
        loop {
            match p.parse(c, &mut pos) {
                Ok(Some(op)) => ops.push(own(&op)),
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
        assert_eq!(pos, c.len(), "a chunk must be consumed whole");
    }
    (ops, None)
}

fn all(input: &[u8]) -> (Vec<Owned>, Option<ParseError>) {
    run(&mut parser(), &[input])
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[test]
fn every_op() {
    let input =
        b"CONNECT {\"verbose\":false}\r\nINFO {}\r\nPUB foo 5\r\nhello\r\nPUB foo bar 0\r\n\r\n\
HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHPUB h r 12 12\r\nNATS/1.0\r\n\r\n\r\n\
MSG foo 1 2\r\nhi\r\nMSG foo 1 r 0\r\n\r\nHMSG foo 1 12 12\r\nNATS/1.0\r\n\r\n\r\n\
HMSG foo 1 r 12 13\r\nNATS/1.0\r\n\r\nx\r\nSUB foo 1\r\nSUB foo q 2\r\nUNSUB 1\r\nUNSUB 2 5\r\n\
PING\r\nPONG\r\n+OK\r\n-ERR 'oops'\r\n";
    let (ops, err) = all(input);
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![
            Owned::Connect(b("{\"verbose\":false}")),
            Owned::Info(b("{}")),
            Owned::Pub(b("foo"), None, b("hello")),
            Owned::Pub(b("foo"), Some(b("bar")), b("")),
            Owned::HPub(b("h"), None, 12, b("NATS/1.0\r\n\r\nhi")),
            Owned::HPub(b("h"), Some(b("r")), 12, b("NATS/1.0\r\n\r\n")),
            Owned::Msg(b("foo"), b("1"), None, b("hi")),
            Owned::Msg(b("foo"), b("1"), Some(b("r")), b("")),
            Owned::HMsg(b("foo"), b("1"), None, 12, b("NATS/1.0\r\n\r\n")),
            Owned::HMsg(b("foo"), b("1"), Some(b("r")), 12, b("NATS/1.0\r\n\r\nx")),
            Owned::Sub(b("foo"), None, b("1")),
            Owned::Sub(b("foo"), Some(b("q")), b("2")),
            Owned::Unsub(b("1"), None),
            Owned::Unsub(b("2"), Some(5)),
            Owned::Ping,
            Owned::Pong,
            Owned::Ok,
            Owned::Err(b("'oops'")),
        ]
    );
}

/// Found by the `parser` fuzz target: INFO is encoded with the Go server's trailing space, so
/// the parser must not keep trailing blanks in JSON-bearing lines or the round trip breaks.
#[test]
fn info_round_trips_despite_trailing_space() {
    let mut out = Vec::new();
    encode::info(&mut out, b"{\"a\":1}");
    assert_eq!(all(&out).0, vec![Owned::Info(b("{\"a\":1}"))]);
    assert_eq!(
        all(b"CONNECT {} \t\r\n-ERR 'x'  \r\n").0,
        vec![Owned::Connect(b("{}")), Owned::Err(b("'x'"))]
    );
}

/// Found by the `parser` fuzz target: an INFO exactly at `max_control_line` re-encodes one
/// byte longer (the trailing space); trailing blanks must not count against the limit.
#[test]
fn trailing_blanks_do_not_count_against_the_control_line() {
    let limits = Limits {
        max_control_line: 16,
        max_payload: 100,
    };
    let json = "{\"a\":\"01234567\"}"; // 16 bytes
    assert_eq!(json.len(), 16);
    let mut out = Vec::new();
    encode::info(&mut out, json.as_bytes());
    let (ops, err) = run(&mut Parser::new(limits), &[&out]);
    assert_eq!((ops, err), (vec![Owned::Info(b(json))], None));
    let long = format!("INFO {json}x \r\n");
    assert_eq!(
        run(&mut Parser::new(limits), &[long.as_bytes()]).1,
        Some(ParseError::MaxControlLine)
    );
}

#[test]
fn case_insensitive_tabs_and_bare_lf() {
    let (ops, err) = all(b"sub\tfoo \t 1\npub foo\t2\nhi\r\nping\nPiNg\r\nconnect{}\n");
    assert_eq!(err, None);
    assert_eq!(
        ops,
        vec![
            Owned::Sub(b("foo"), None, b("1")),
            Owned::Pub(b("foo"), None, b("hi")),
            Owned::Ping,
            Owned::Ping,
            Owned::Connect(b("{}")),
        ]
    );
}

#[test]
fn ping_ignores_trailing_text() {
    let (ops, err) = all(b"PING foo\r\nPONG  \r\n+OK x\r\n");
    assert_eq!(err, None);
    assert_eq!(ops, vec![Owned::Ping, Owned::Pong, Owned::Ok]);
}

#[test]
fn unknown_verbs_fail_at_first_bad_byte() {
    for bad in [
        "FOO bar\r\n",
        "\r\n",
        "\n",
        " PING\r\n",
        "PUBX foo 1\r\n",
        "PIN\r\n",
        "X",
    ] {
        let (ops, err) = all(bad.as_bytes());
        assert!(ops.is_empty(), "{bad:?}");
        assert_eq!(err, Some(ParseError::UnknownOp), "{bad:?}");
    }
    // The error comes as soon as the byte arrives, without waiting for a line end.
    let mut p = parser();
    let (_, err) = run(&mut p, &[b"PUX"]);
    assert_eq!(err, Some(ParseError::UnknownOp));
}

#[test]
fn verb_needs_separator() {
    assert_eq!(all(b"PUB\r\n").1, Some(ParseError::UnknownOp));
    assert_eq!(all(b"SUB\r\n").1, Some(ParseError::UnknownOp));
    assert_eq!(all(b"-ERR\r\n").1, Some(ParseError::UnknownOp));
}

#[test]
fn bad_arguments() {
    for bad in [
        "SUB foo\r\n",
        "SUB a b c d\r\n",
        "SUB \r\n",
        "PUB foo\r\n",
        "PUB foo abc\r\n",
        "PUB foo -1\r\n",
        "PUB a b c 1\r\n",
        "PUB foo 1234567890\r\n",
        "HPUB foo 5\r\n",
        "HPUB foo 6 5\r\n",
        "HPUB foo x 5\r\n",
        "UNSUB\t\r\n",
        "UNSUB 1 2 3\r\n",
        "MSG foo 1\r\n",
    ] {
        assert_eq!(all(bad.as_bytes()).1, Some(ParseError::BadArgs), "{bad:?}");
    }
}

#[test]
fn unsub_with_non_numeric_max_means_now() {
    assert_eq!(
        all(b"UNSUB 1 abc\r\n").0,
        vec![Owned::Unsub(b("1"), Some(0))]
    );
}

#[test]
fn headers_must_be_enabled() {
    let mut p = Parser::new(Limits::default());
    assert_eq!(
        run(&mut p, &[b"HPUB h 12 12\r\n"]).1,
        Some(ParseError::HeadersNotSupported)
    );
}

#[test]
fn max_payload_checked_before_payload_arrives() {
    let mut p = Parser::new(Limits {
        max_control_line: 4096,
        max_payload: 10,
    });
    assert_eq!(
        run(&mut p, &[b"PUB foo 11\r\n"]).1,
        Some(ParseError::MaxPayload { size: 11 })
    );
    let mut p = Parser::new(Limits {
        max_control_line: 4096,
        max_payload: 10,
    });
    assert_eq!(run(&mut p, &[b"PUB foo 10\r\n0123456789\r\n"]).1, None);
}

#[test]
fn max_control_line() {
    let limits = Limits {
        max_control_line: 16,
        max_payload: 100,
    };
    // 16 bytes of arguments are fine, 17 are not, whole or split.
    let ok = b"SUB aaaaaaaaaaaa 1\r\n"; // args "aaaaaaaaaaaa 1" = 14
    assert_eq!(run(&mut Parser::new(limits), &[ok]).1, None);
    let long = b"SUB aaaaaaaaaaaaaaaaa 1\r\n";
    assert_eq!(
        run(&mut Parser::new(limits), &[long]).1,
        Some(ParseError::MaxControlLine)
    );
    let (a, c) = long.split_at(8);
    assert_eq!(
        run(&mut Parser::new(limits), &[a, c]).1,
        Some(ParseError::MaxControlLine)
    );
    // An endless line is refused before it ends (memory stays bounded).
    let mut p = Parser::new(limits);
    assert_eq!(
        run(&mut p, &[b"SUB ", &[b'x'; 40]]).1,
        Some(ParseError::MaxControlLine)
    );
}

#[test]
fn payload_must_end_with_crlf() {
    assert_eq!(all(b"PUB foo 2\r\nhiX\n").1, Some(ParseError::UnknownOp));
    assert_eq!(all(b"PUB foo 2\r\nhi\rX").1, Some(ParseError::UnknownOp));
    assert_eq!(all(b"PUB foo 2\r\nhi\n").1, Some(ParseError::UnknownOp));
    let mut p = parser();
    assert_eq!(
        run(&mut p, &[b"PUB foo 2\r\nh", b"iX"]).1,
        Some(ParseError::UnknownOp)
    );
}

#[test]
fn truncated_input_waits() {
    let mut p = parser();
    let (ops, err) = run(&mut p, &[b"PUB foo 5\r\nhel"]);
    assert!(ops.is_empty() && err.is_none());
    assert!(!p.at_op_start());
    let (ops, _) = run(&mut p, &[b"lo\r\n"]);
    assert_eq!(ops, vec![Owned::Pub(b("foo"), None, b("hello"))]);
    assert!(p.at_op_start());
}

#[test]
fn payload_borrowed_from_buffer_when_whole() {
    let buf = b"PUB foo 5\r\nhello\r\n";
    let mut p = parser();
    let mut pos = 0;
    let op = p.parse(buf, &mut pos).unwrap().unwrap();
    let Op::Pub { payload, .. } = op else {
        panic!("not a PUB")
    };
    let range = buf.as_ptr_range();
    assert!(range.contains(&payload.as_ptr()), "payload was copied");
}

#[test]
fn one_byte_at_a_time() {
    let input = b"CONNECT {}\r\nHPUB a r 12 14\r\nNATS/1.0\r\n\r\nhi\r\nSUB a q 1\r\nPING\r\n";
    let whole = all(input);
    let chunks: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(&mut parser(), &chunks), whole);
}

#[test]
fn parse_size_rules() {
    use super::parser::parse_size;
    assert_eq!(parse_size(b"0"), Some(0));
    assert_eq!(parse_size(b"999999999"), Some(999_999_999));
    assert_eq!(parse_size(b"1234567890"), None);
    assert_eq!(parse_size(b""), None);
    assert_eq!(parse_size(b"1a"), None);
    assert_eq!(parse_size(b"-1"), None);
}

#[test]
fn encoders() {
    let mut out = Vec::new();
    encode::info(&mut out, b"{}");
    encode::msg(&mut out, b"s", b"1", Some(b"r"), b"hi");
    encode::hmsg(&mut out, b"s", b"2", None, 12, b"NATS/1.0\r\n\r\nx");
    encode::err(&mut out, "Oops");
    out.extend_from_slice(encode::PING);
    out.extend_from_slice(encode::PONG);
    out.extend_from_slice(encode::OK);
    assert_eq!(
        out,
        b"INFO {} \r\nMSG s 1 r 2\r\nhi\r\nHMSG s 2 12 13\r\nNATS/1.0\r\n\r\nx\r\n-ERR 'Oops'\r\nPING\r\nPONG\r\n+OK\r\n"
    );
    assert_eq!(encode::go_quote(b"a\"b\\c\x01"), "\"a\\\"b\\\\c\\x01\"");
    let mut n = Vec::new();
    encode::push_uint(&mut n, 0);
    n.push(b' ');
    encode::push_uint(&mut n, u64::MAX);
    assert_eq!(n, b"0 18446744073709551615");
}

// --- properties ---

fn token() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(b'a'), Just(b'b'), Just(b'.'), Just(b'_'), Just(b'9')],
        1..12,
    )
    .prop_filter("no edge dots", |t| t[0] != b'.')
}

fn valid_op() -> impl Strategy<Value = Owned> {
    let payload = prop::collection::vec(any::<u8>(), 0..200);
    let header = prop::collection::vec(prop_oneof![Just(b'A'), Just(b':'), Just(b' ')], 0..20)
        .prop_map(|h| [b"NATS/1.0\r\n".to_vec(), h, b"\r\n\r\n".to_vec()].concat());
    prop_oneof![
        (token(), prop::option::of(token()), payload.clone())
            .prop_map(|(s, r, p)| Owned::Pub(s, r, p)),
        (
            token(),
            prop::option::of(token()),
            header.clone(),
            payload.clone()
        )
            .prop_map(|(s, r, h, p)| Owned::HPub(s, r, h.len(), [h, p].concat())),
        (token(), token(), prop::option::of(token()), payload.clone())
            .prop_map(|(s, i, r, p)| Owned::Msg(s, i, r, p)),
        (token(), token(), prop::option::of(token()), header, payload)
            .prop_map(|(s, i, r, h, p)| Owned::HMsg(s, i, r, h.len(), [h, p].concat())),
        (token(), prop::option::of(token()), token()).prop_map(|(s, q, i)| Owned::Sub(s, q, i)),
        (token(), prop::option::of(token()), token(), 1u64..1_000_000)
            .prop_map(|(s, q, i, m)| Owned::SubMax(s, q, i, m)),
        (token(), prop::option::of(0u64..1_000_000)).prop_map(|(i, m)| Owned::Unsub(i, m)),
        Just(Owned::Ping),
        Just(Owned::Pong),
        Just(Owned::Ok),
        Just(Owned::Connect(b("{\"verbose\":false}"))),
        Just(Owned::Err(b("'x'"))),
    ]
}

fn encode_owned(out: &mut Vec<u8>, o: &Owned) {
    let op = match o {
        Owned::Connect(j) => Op::Connect(j),
        Owned::Info(j) => Op::Info(j),
        Owned::Pub(s, r, p) => Op::Pub {
            subject: s,
            reply: r.as_deref(),
            payload: p,
        },
        Owned::HPub(s, r, h, p) => Op::HPub {
            subject: s,
            reply: r.as_deref(),
            header_len: *h,
            payload: p,
        },
        Owned::Msg(s, i, r, p) => Op::Msg {
            subject: s,
            sid: i,
            reply: r.as_deref(),
            payload: p,
        },
        Owned::HMsg(s, i, r, h, p) => Op::HMsg {
            subject: s,
            sid: i,
            reply: r.as_deref(),
            header_len: *h,
            payload: p,
        },
        Owned::Sub(s, q, i) => Op::Sub {
            subject: s,
            queue: q.as_deref(),
            sid: i,
        },
        Owned::SubMax(s, q, i, m) => Op::SubMax {
            subject: s,
            queue: q.as_deref(),
            sid: i,
            max: *m,
        },
        Owned::Unsub(i, m) => Op::Unsub { sid: i, max: *m },
        Owned::Ping => Op::Ping,
        Owned::Pong => Op::Pong,
        Owned::Ok => Op::Ok,
        Owned::Err(t) => Op::Err(t),
    };
    encode::op(out, &op);
}

/// `good` nine times in ten, else one of `bad`.
pub(super) fn mostly(
    good: &'static str,
    bad: &'static [&'static str],
) -> impl Strategy<Value = &'static str> {
    prop_oneof![9 => Just(good), 1 => prop::sample::select(bad)]
}

prop_compose! {
    /// A PUB, mostly well formed: its verb, separators, line end, declared size and payload
    /// each sometimes off.
    fn pub_like()(
        verb in prop_oneof![6 => Just("PUB"), 3 => Just("HPUB"),
                            1 => prop::sample::select(&["pub", "PUX", "PUB\t", "hpub"][..])],
        hdr in prop::option::of(0usize..14),
        sep in prop::collection::vec(mostly(" ", &["  ", "\t"]), 3),
        subject in "[a-c.]{0,3}",
        reply in prop::option::of("[a-c]{0,2}"),
        n in 0usize..12,
        off in prop_oneof![8 => Just(0i64), 1 => Just(-1), 1 => Just(1)],
        tail in mostly("", &[" ", "\t"]),
        cr in mostly("\r", &[""]),
        end in mostly("\r\n", &["\n", "\rx", ""]),
    ) -> Vec<u8> {
        let size = (n as i64 + off).max(0);
        let reply = reply.map_or(String::new(), |r| format!("{}{r}", sep[1]));
        let hdr = hdr.map_or(String::new(), |h| format!("{h}{}", sep[2]));
        let head = format!("{}{subject}{reply}{}{hdr}", sep[0], sep[2]);
        format!("{verb}{head}{size}{tail}{cr}\n{}{end}", "x".repeat(n)).into_bytes()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    /// The whole-PUB fast path (`Parser::whole_pub`) and the byte-wise path agree on anything
    /// PUB- or HPUB-like, ops and errors alike, under default and tight limits, with and
    /// without headers.
    #[test]
    fn whole_pub_agrees_with_the_bytewise_path(
        parts in prop::collection::vec(pub_like(), 1..6),
        tight in any::<bool>(),
        headers in prop_oneof![3 => Just(true), 1 => Just(false)],
    ) {
        let stream = parts.concat();
        let make = || {
            let mut p = match tight {
                true => Parser::new(Limits { max_control_line: 10, max_payload: 8 }),
                false => parser(),
            };
            p.set_headers(headers);
            p
        };
        let whole = run(&mut make(), &[&stream]);
        // Each op's first byte alone: the fast path never applies, and the rest of the op
        // (its line, its payload) is whole in the next read, as for the fast path.
        let split: Vec<&[u8]> = parts.iter().flat_map(|p| [&p[..1], &p[1..]]).collect();
        let bytewise = run(&mut make(), &split);
        prop_assert_eq!(whole, bytewise);
    }
}

proptest! {
    /// Any split of a valid stream into chunks yields the same ops, which are the ops encoded.
    #[test]
    fn any_split_yields_same_ops(ops in prop::collection::vec(valid_op(), 1..20),
                                 cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30)) {
        let mut stream = Vec::new();
        for o in &ops {
            encode_owned(&mut stream, o);
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&stream[last..p]);
            last = p;
        }
        chunks.push(&stream[last..]);
        let (got, err) = run(&mut parser(), &chunks);
        prop_assert_eq!(err, None);
        prop_assert_eq!(got, ops);
    }

    /// Arbitrary bytes, arbitrarily split, never panic, and the parser never holds more than
    /// the limits allow.
    #[test]
    fn garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..600), cut in 0usize..600) {
        let limits = Limits { max_control_line: 64, max_payload: 128 };
        let mut p = Parser::new(limits);
        p.set_headers(true);
        let cut = cut.min(data.len());
        let (a, c) = data.split_at(cut);
        let _ = run(&mut p, &[a, c]);
        prop_assert!(p.buffered() <= 64 + 1 + 128 + 2);
    }
}

#[test]
fn msub_takes_three_or_four_arguments_and_a_positive_max() {
    let ops = |input: &[u8]| {
        let mut p = Parser::new(Limits::default());
        let mut pos = 0;
        let r = p.parse(input, &mut pos).map(|o| o.map(|o| own(&o)));
        r
    };
    assert_eq!(
        ops(b"MSUB foo 1 5\r\n"),
        Ok(Some(Owned::SubMax(b"foo".to_vec(), None, b"1".to_vec(), 5)))
    );
    assert_eq!(
        ops(b"msub foo q 1 5\r\n"),
        Ok(Some(Owned::SubMax(
            b"foo".to_vec(),
            Some(b"q".to_vec()),
            b"1".to_vec(),
            5
        )))
    );
    for bad in [
        &b"MSUB foo 1 0\r\n"[..],
        b"MSUB foo 1 x\r\n",
        b"MSUB foo 1\r\n",
        b"MSUB a b c d e\r\n",
    ] {
        assert_eq!(
            ops(bad),
            Err(ParseError::BadArgs),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // MSG and MSUB share their first two bytes.
    assert!(matches!(ops(b"MSX\r\n"), Err(ParseError::UnknownOp)));
    // A route may not send it.
    let mut p = Parser::for_peer(Limits::default(), ConnKind::Route);
    let mut pos = 0;
    assert_eq!(
        p.parse(b"MSUB foo 1 5\r\n", &mut pos).map(|_| ()),
        Err(ParseError::UnknownOp)
    );
}

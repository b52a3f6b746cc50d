//! The route verbs: grammar (the lines Go 2.9.10 sends, from the captures in
//! `shared/reference/route-protocol.md`), round trips split at every byte, and the
//! connection-kind checks (a client may not send `RMSG`; a route may not send `PUB`).

use super::encode;
use super::*;

fn route() -> Parser {
    let mut p = Parser::for_peer(Limits::default(), ConnKind::Route);
    p.set_headers(true);
    p
}

/// Every op in `input`, fed in one piece and then split at every byte; re-encoded, each
/// must give back its own bytes.
fn parse_all(input: &[u8]) -> Vec<Vec<u8>> {
    let mut p = route();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(op) = p.parse(input, &mut pos).expect("parses") {
        let mut e = Vec::new();
        encode::op(&mut e, &op);
        out.push(e);
    }
    assert_eq!(pos, input.len());
    for cut in 1..input.len() {
        let mut p = route();
        let mut again = Vec::new();
        for part in [&input[..cut], &input[cut..]] {
            let mut pos = 0;
            while let Some(op) = p.parse(part, &mut pos).expect("parses split") {
                let mut e = Vec::new();
                encode::op(&mut e, &op);
                again.push(e);
            }
        }
        assert_eq!(again, out, "split at {cut}");
    }
    out
}

#[test]
fn route_lines_as_go_sends_them_round_trip() {
    let lines: &[&[u8]] = &[
        b"RS+ $G foo\r\n",
        b"RS+ $G q.work workers 3\r\n",
        b"RS- $G foo\r\n",
        b"RS- $G q.work workers\r\n",
        b"LS+ east $G foo q 2\r\n",
        b"LS- $G foo\r\n",
        b"RMSG $G foo 5\r\nhello\r\n",
        b"RMSG $G foo _INBOX.r1 5\r\nhello\r\n",
        b"RMSG $G q.work | workers others 2\r\nq1\r\n",
        b"RMSG $G q.work + _INBOX.r2 workers others 2\r\nr0\r\n",
        b"HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
        b"HMSG $G foo + r q 12 12\r\nNATS/1.0\r\n\r\n\r\n",
    ];
    let input: Vec<u8> = lines.concat();
    let got = parse_all(&input);
    assert_eq!(got, lines.iter().map(|l| l.to_vec()).collect::<Vec<_>>());
}

#[test]
fn rmsg_fields_by_count() {
    let mut p = route();
    let mut pos = 0;
    let input = b"RMSG $SYS a.b + _R.x q1 q2 q3 3\r\nabc\r\n";
    let op = p.parse(input, &mut pos).unwrap().unwrap();
    assert_eq!(
        op,
        Op::RMsg {
            account: b"$SYS",
            subject: b"a.b",
            reply: Some(b"_R.x"),
            queues: Some(b"q1 q2 q3"),
            header_len: 0,
            payload: b"abc",
            has_headers: false,
        }
    );
    // Go: anything but `+` or `|` before a queue list is a bad reply indicator (closed
    // without -ERR); `+ <reply>` with no queue name, a header size over the total, no size.
    for bad in [
        &b"RMSG $G foo x y 2\r\nab\r\n"[..],
        b"RMSG $G foo + r 2\r\nab\r\n",
        b"HMSG $G foo 5 2\r\nab\r\n",
        b"RMSG $G foo\r\n",
        b"RS+ $G foo q\r\n",
        b"RS+ $G foo q notanumber\r\n",
        b"RS- $G\r\n",
    ] {
        let mut p = route();
        let mut pos = 0;
        assert_eq!(
            p.parse(bad, &mut pos),
            Err(ParseError::BadArgs),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// The queue list has no fixed length (Go's `MAX_RMSG_ARGS` only sizes a stack buffer):
/// only `max_control_line` bounds it.
#[test]
fn many_queue_names_within_the_control_line() {
    let queues: Vec<String> = (0..300).map(|i| format!("q{i}")).collect();
    let line = format!("RMSG $G s | {} 1\r\nx\r\n", queues.join(" "));
    let mut p = route();
    let mut pos = 0;
    match p.parse(line.as_bytes(), &mut pos).unwrap().unwrap() {
        Op::RMsg {
            queues: Some(q), ..
        } => assert_eq!(q.split(|&b| b == b' ').count(), 300),
        other => panic!("{other:?}"),
    }
    let long = format!("RMSG $G s | {} 1\r\nx\r\n", vec!["queue"; 1000].join(" "));
    let mut pos = 0;
    assert_eq!(
        route().parse(long.as_bytes(), &mut pos),
        Err(ParseError::MaxControlLine)
    );
    let big = b"RMSG $G s 2000000\r\n";
    let mut pos = 0;
    assert_eq!(
        route().parse(big, &mut pos),
        Err(ParseError::MaxPayload { size: 2_000_000 })
    );
}

/// The parser knows who is talking: route verbs from a client and client verbs from a
/// route are unknown ops, refused at the first byte no allowed verb continues.
#[test]
fn verbs_are_checked_against_the_connection_kind() {
    for (input, at) in [
        (&b"RS+ $G foo\r\n"[..], 1),
        (b"RMSG $G foo 1\r\nx\r\n", 1),
        (b"LS+ o $G foo\r\n", 1),
    ] {
        let mut p = Parser::new(Limits::default());
        let mut pos = 0;
        assert_eq!(p.parse(input, &mut pos), Err(ParseError::UnknownOp));
        assert_eq!(pos, at, "refused at the first byte");
    }
    for (input, at) in [
        (&b"PUB foo 1\r\nx\r\n"[..], 2),
        (b"SUB foo 1\r\n", 1),
        (b"UNSUB 1\r\n", 1),
        (b"MSG foo 1 1\r\nx\r\n", 1),
        (b"HPUB foo 0 0\r\n\r\n", 2),
    ] {
        let mut p = route();
        let mut pos = 0;
        assert_eq!(
            p.parse(input, &mut pos),
            Err(ParseError::UnknownOp),
            "{}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(pos, at, "{}", String::from_utf8_lossy(input));
    }
    // What both kinds speak parses for a route too.
    let mut p = route();
    let mut pos = 0;
    let input = b"PING\r\nPONG\r\nINFO {}\r\nCONNECT {}\r\n-ERR 'x'\r\n";
    let mut n = 0;
    while p.parse(input, &mut pos).unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 5);
}

/// Every op of `chunks` re-encoded, and the error that ended them, if any.
fn run_route(p: &mut Parser, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<ParseError>) {
    let mut ops = Vec::new();
    for c in chunks {
        let mut pos = 0;
        loop {
            match p.parse(c, &mut pos) {
                Ok(Some(op)) => {
                    let mut e = Vec::new();
                    encode::op(&mut e, &op);
                    ops.push(e);
                }
                Ok(None) => break,
                Err(e) => return (ops, Some(e)),
            }
        }
        assert_eq!(pos, c.len(), "a chunk must be consumed whole");
    }
    (ops, None)
}

use super::tests::mostly;
use proptest::prelude::*;

prop_compose! {
    /// A routed message, mostly well formed: its verb, separators, queue lists, line end,
    /// declared sizes and payload each sometimes off.
    fn rmsg_like()(
        verb in prop_oneof![6 => Just("RMSG"), 3 => Just("HMSG"),
                            1 => prop::sample::select(&["rmsg", "RMSX", "RMSG\t", "hmsg"][..])],
        hdr in prop::option::of(0usize..14),
        sep in prop::collection::vec(mostly(" ", &["  ", "\t"]), 4),
        account in mostly("$G", &["", "A", "$SYS"]),
        subject in "[a-c.]{0,3}",
        middle in prop_oneof![4 => Just(String::new()), 4 => "[a-c+|]{0,2}",
                              1 => "[+|] [a-c]{0,2}( q)?"],
        n in 0usize..12,
        off in prop_oneof![8 => Just(0i64), 1 => Just(-1), 1 => Just(1)],
        tail in mostly("", &[" ", "\t"]),
        cr in mostly("\r", &[""]),
        end in mostly("\r\n", &["\n", "\rx", ""]),
    ) -> Vec<u8> {
        let size = (n as i64 + off).max(0);
        let middle = if middle.is_empty() { middle } else { format!("{}{middle}", sep[2]) };
        let hdr = hdr.map_or(String::new(), |h| format!("{h}{}", sep[3]));
        let head = format!("{}{account}{}{subject}{middle}{}{hdr}", sep[0], sep[1], sep[3]);
        format!("{verb}{head}{size}{tail}{cr}\n{}{end}", "x".repeat(n)).into_bytes()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    /// The whole-RMSG fast path (`Parser::whole_rmsg`) and the byte-wise path agree on
    /// anything RMSG- or HMSG-like, ops and errors alike, under default and tight limits.
    #[test]
    fn whole_rmsg_agrees_with_the_bytewise_path(
        parts in prop::collection::vec(rmsg_like(), 1..6),
        tight in any::<bool>(),
    ) {
        let stream = parts.concat();
        let make = || {
            let limits = match tight {
                true => Limits { max_control_line: 12, max_payload: 8 },
                false => Limits::default(),
            };
            let mut p = Parser::for_peer(limits, ConnKind::Route);
            p.set_headers(true);
            p
        };
        let whole = run_route(&mut make(), &[&stream]);
        // Each op's first byte alone: the fast path never applies, and the rest of the op
        // is whole in the next read, as for the fast path.
        let split: Vec<&[u8]> = parts.iter().flat_map(|p| [&p[..1], &p[1..]]).collect();
        let bytewise = run_route(&mut make(), &split);
        prop_assert_eq!(whole, bytewise);
    }
}

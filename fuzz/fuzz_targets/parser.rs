//! Arbitrary bytes, arbitrarily split, into the protocol parser: it never panics, never holds
//! more than its limits allow, and every op it returns re-encodes to bytes that parse back to
//! the same op.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natsd_core::proto::{encode, ConnKind, Limits, Op, Parser};

const LIMITS: Limits = Limits {
    max_control_line: 256,
    max_payload: 1024,
};

/// Parses `bytes` whole with a fresh parser and returns the single op it must contain.
fn reparse(kind: ConnKind, bytes: &[u8], check: impl FnOnce(&Op<'_>)) {
    let mut p = Parser::for_peer(LIMITS, kind);
    p.set_headers(true);
    let mut pos = 0;
    match p.parse(bytes, &mut pos) {
        Ok(Some(op)) => check(&op),
        other => panic!("re-encoded op did not parse back: {other:?} from {bytes:?}"),
    }
    assert_eq!(pos, bytes.len(), "re-encoded op left bytes over: {bytes:?}");
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the split size, whether headers are on, and the peer kind
    // (client, or a route with its own verbs and HMSG grammar).
    let Some((&ctl, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(ctl & 0x3f) + 1;
    let kind = if ctl & 0x80 != 0 {
        ConnKind::Route
    } else {
        ConnKind::Client
    };
    let mut p = Parser::for_peer(LIMITS, kind);
    p.set_headers(ctl & 0x40 != 0);
    for piece in data.chunks(chunk) {
        let mut pos = 0;
        loop {
            match p.parse(piece, &mut pos) {
                Ok(Some(op)) => {
                    let mut out = Vec::new();
                    encode::op(&mut out, &op);
                    reparse(kind, &out, |again| {
                        assert_eq!(again, &op, "round trip changed the op")
                    });
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert_eq!(pos, piece.len());
        assert!(
            p.buffered() <= LIMITS.max_control_line + 1 + LIMITS.max_payload + 2,
            "parser holds {} bytes",
            p.buffered()
        );
    }
});

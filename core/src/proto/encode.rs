//! Encoders: append protocol ops to an output buffer.
//!
//! Server-to-client ops (`INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`, `-ERR`) are what the
//! engine sends; client-to-server ops (`CONNECT`, `PUB`, `HPUB`, `SUB`, `UNSUB`) serve the
//! simulator's clients, the load generator and the parser's round-trip tests. None of them
//! allocates beyond growing `out`.

use super::op::Op;

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";

/// Appends the decimal form of `n`.
pub fn push_uint(out: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// `INFO <json> \r\n`. The Go server leaves a space before the CRLF; clients rely on nothing
/// else, but byte-for-byte interop tests do.
pub fn info(out: &mut Vec<u8>, json: &[u8]) {
    out.extend_from_slice(b"INFO ");
    out.extend_from_slice(json);
    out.extend_from_slice(b" \r\n");
}

/// `-ERR '<text>'\r\n`.
pub fn err(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"-ERR '");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"'\r\n");
}

/// The control line of a `MSG`: `MSG <subject> <sid> [reply] <size>\r\n`.
pub fn msg_line(out: &mut Vec<u8>, subject: &[u8], sid: &[u8], reply: Option<&[u8]>, size: usize) {
    out.extend_from_slice(b"MSG ");
    subject_sid_reply(out, subject, sid, reply);
    push_uint(out, size as u64);
    out.extend_from_slice(b"\r\n");
}

/// The control line of an `HMSG`: `HMSG <subject> <sid> [reply] <hdr> <total>\r\n`.
pub fn hmsg_line(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    total: usize,
) {
    out.extend_from_slice(b"HMSG ");
    subject_sid_reply(out, subject, sid, reply);
    push_uint(out, header_len as u64);
    out.push(b' ');
    push_uint(out, total as u64);
    out.extend_from_slice(b"\r\n");
}

fn subject_sid_reply(out: &mut Vec<u8>, subject: &[u8], sid: &[u8], reply: Option<&[u8]>) {
    out.extend_from_slice(subject);
    out.push(b' ');
    out.extend_from_slice(sid);
    out.push(b' ');
    if let Some(r) = reply {
        out.extend_from_slice(r);
        out.push(b' ');
    }
}

/// A whole `MSG` with its payload.
pub fn msg(out: &mut Vec<u8>, subject: &[u8], sid: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    msg_line(out, subject, sid, reply, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// A whole `HMSG`; `payload` holds `header_len` bytes of headers then the body.
pub fn hmsg(
    out: &mut Vec<u8>,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    payload: &[u8],
) {
    hmsg_line(out, subject, sid, reply, header_len, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// `VERB <first> [optional] `: the shared head of PUB, HPUB and SUB lines.
fn head(out: &mut Vec<u8>, verb: &[u8], first: &[u8], optional: Option<&[u8]>) {
    out.extend_from_slice(verb);
    out.extend_from_slice(first);
    out.push(b' ');
    if let Some(o) = optional {
        out.extend_from_slice(o);
        out.push(b' ');
    }
}

/// `size\r\n<payload>\r\n`: the shared tail of PUB and HPUB.
fn sized_payload(out: &mut Vec<u8>, payload: &[u8]) {
    push_uint(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// `PUB <subject> [reply] <size>\r\n<payload>\r\n`.
pub fn publish(out: &mut Vec<u8>, subject: &[u8], reply: Option<&[u8]>, payload: &[u8]) {
    head(out, b"PUB ", subject, reply);
    sized_payload(out, payload);
}

/// `HPUB <subject> [reply] <hdr> <total>\r\n<headers+body>\r\n`.
pub fn hpublish(
    out: &mut Vec<u8>,
    subject: &[u8],
    reply: Option<&[u8]>,
    header_len: usize,
    payload: &[u8],
) {
    head(out, b"HPUB ", subject, reply);
    push_uint(out, header_len as u64);
    out.push(b' ');
    sized_payload(out, payload);
}

/// `SUB <subject> [queue] <sid>\r\n`.
pub fn sub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8]) {
    head(out, b"SUB ", subject, queue);
    out.extend_from_slice(sid);
    out.extend_from_slice(b"\r\n");
}

/// `MSUB <subject> [queue] <sid> <max>\r\n` (ours; see `Op::SubMax`).
pub fn msub(out: &mut Vec<u8>, subject: &[u8], queue: Option<&[u8]>, sid: &[u8], max: u64) {
    head(out, b"MSUB ", subject, queue);
    out.extend_from_slice(sid);
    out.push(b' ');
    push_uint(out, max);
    out.extend_from_slice(b"\r\n");
}

/// `UNSUB <sid> [max]\r\n`.
pub fn unsub(out: &mut Vec<u8>, sid: &[u8], max: Option<u64>) {
    out.extend_from_slice(b"UNSUB ");
    out.extend_from_slice(sid);
    if let Some(m) = max {
        out.push(b' ');
        push_uint(out, m);
    }
    out.extend_from_slice(b"\r\n");
}

/// Encodes any op (used for round trips and by simulated peers).
pub fn op(out: &mut Vec<u8>, op: &Op<'_>) {
    match *op {
        Op::Connect(j) => line(out, b"CONNECT ", j),
        Op::Info(j) => info(out, j),
        Op::Pub {
            subject,
            reply,
            payload,
        } => publish(out, subject, reply, payload),
        Op::HPub {
            subject,
            reply,
            header_len,
            payload,
        } => hpublish(out, subject, reply, header_len, payload),
        Op::Msg {
            subject,
            sid,
            reply,
            payload,
        } => msg(out, subject, sid, reply, payload),
        Op::HMsg {
            subject,
            sid,
            reply,
            header_len,
            payload,
        } => hmsg(out, subject, sid, reply, header_len, payload),
        Op::Sub {
            subject,
            queue,
            sid,
        } => sub(out, subject, queue, sid),
        Op::SubMax {
            subject,
            queue,
            sid,
            max,
        } => msub(out, subject, queue, sid, max),
        Op::Unsub { sid, max } => unsub(out, sid, max),
        Op::Ping => out.extend_from_slice(PING),
        Op::Pong => out.extend_from_slice(PONG),
        Op::Ok => out.extend_from_slice(OK),
        Op::Err(t) => line(out, b"-ERR ", t),
        Op::RSub {
            origin,
            account,
            subject,
            queue,
        } => rsub(out, origin, account, subject, queue),
        Op::RUnsub {
            leaf,
            account,
            subject,
            queue,
        } => runsub(out, leaf, account, subject, queue),
        Op::RMsg {
            account,
            subject,
            reply,
            queues,
            header_len,
            payload,
            has_headers,
        } => rmsg(
            out,
            account,
            subject,
            reply,
            queues,
            has_headers.then_some(header_len),
            payload,
        ),
    }
}

/// `RS+ <acc> <subject> [<queue> <weight>]\r\n`, or `LS+ <origin> ...` with an origin.
pub fn rsub(
    out: &mut Vec<u8>,
    origin: Option<&[u8]>,
    account: &[u8],
    subject: &[u8],
    queue: Option<(&[u8], u32)>,
) {
    match origin {
        Some(o) => {
            out.extend_from_slice(b"LS+ ");
            out.extend_from_slice(o);
            out.push(b' ');
        }
        None => out.extend_from_slice(b"RS+ "),
    }
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some((q, w)) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
        out.push(b' ');
        push_uint(out, u64::from(w));
    }
    out.extend_from_slice(b"\r\n");
}

/// `RS- <acc> <subject> [<queue>]\r\n` (`LS-` when `leaf`).
pub fn runsub(out: &mut Vec<u8>, leaf: bool, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
    out.extend_from_slice(if leaf { b"LS- " } else { b"RS- " });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q);
    }
    out.extend_from_slice(b"\r\n");
}

/// `RMSG <acc> <subject> [<reply>] <size>` with its payload, or with queue names
/// `... + <reply> <queues> <size>` / `... | <queues> <size>`; with `header_len`, a route
/// `HMSG` (`... <hdr> <total>`). `queues` is the space-separated list as it goes on the wire.
pub fn rmsg(
    out: &mut Vec<u8>,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: Option<&[u8]>,
    header_len: Option<usize>,
    payload: &[u8],
) {
    out.extend_from_slice(if header_len.is_some() {
        b"HMSG "
    } else {
        b"RMSG "
    });
    out.extend_from_slice(account);
    out.push(b' ');
    out.extend_from_slice(subject);
    match (reply, queues) {
        (Some(r), Some(q)) => {
            out.extend_from_slice(b" + ");
            out.extend_from_slice(r);
            out.push(b' ');
            out.extend_from_slice(q);
        }
        (None, Some(q)) => {
            out.extend_from_slice(b" | ");
            out.extend_from_slice(q);
        }
        (Some(r), None) => {
            out.push(b' ');
            out.extend_from_slice(r);
        }
        (None, None) => {}
    }
    if let Some(h) = header_len {
        out.push(b' ');
        push_uint(out, h as u64);
    }
    out.push(b' ');
    push_uint(out, payload.len() as u64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, verb: &[u8], arg: &[u8]) {
    out.extend_from_slice(verb);
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Go's `%q` for a byte string: double quotes, with `"` and `\` escaped and bytes outside
/// printable ASCII written as `\xNN` (the Go server quotes subjects this way in `-ERR`s).
pub fn go_quote(s: &[u8]) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for &b in s {
        match b {
            b'"' => q.push_str("\\\""),
            b'\\' => q.push_str("\\\\"),
            b'\n' => q.push_str("\\n"),
            b'\r' => q.push_str("\\r"),
            b'\t' => q.push_str("\\t"),
            0x20..=0x7e => q.push(char::from(b)),
            _ => q.push_str(&format!("\\x{b:02x}")),
        }
    }
    q.push('"');
    q
}

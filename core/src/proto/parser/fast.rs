//! The parser's fast paths: the most common ops, whole in the read buffer and in canonical
//! form (upper-case verb, single spaces, CRLF), taken in one pass. Each returns `None`,
//! having consumed nothing, for anything else; the byte-wise path then parses it, and finds
//! any error, exactly as it would have. Property tests hold the two paths to the same ops and
//! errors (`whole_pub_agrees_with_the_bytewise_path`, `whole_rmsg_agrees_with_the_bytewise_path`).

use super::{memchr, parse_size, Parser};
use crate::proto::op::{ConnKind, Op};

/// Where `line`'s separators are, when they are single spaces, at most `N` of them, and
/// nothing else in it is at or below a space (tabs separate too, in the byte-wise path):
/// `(positions, count)`. One compare per byte in the common case.
#[inline(always)]
fn spaces<const N: usize>(line: &[u8]) -> Option<([usize; N], usize)> {
    let mut sp = [0usize; N];
    let mut n = 0;
    for (i, &b) in line.iter().enumerate() {
        if b <= b' ' {
            if b != b' ' || n == N {
                return None;
            }
            sp[n] = i;
            n += 1;
        }
    }
    Some((sp, n))
}

impl Parser {
    /// The fast path for the most common ops: a client's `PUB subject [reply] size` or
    /// `HPUB subject [reply] hdr_size size` in canonical form (upper case, single spaces,
    /// CRLF), with the whole payload and its CRLF in `buf`. Returns `None`, having consumed
    /// nothing, for anything else: the byte-wise path then parses it (and finds any error)
    /// exactly as before (`whole_pub_agrees_with_the_bytewise_path`). Halves the parse cost
    /// of a small PUB (criterion `parse_pub`).
    ///
    /// Written out rather than through `spaces`, `control_line` and `payload` as
    /// `whole_rmsg` is: with those helpers a PUB cost 34 more instructions (callgrind,
    /// `benches/icount.sh`: pub 606 -> 640), and this is the hottest parse there is.
    #[inline]
    pub(super) fn whole_pub<'a>(&self, buf: &'a [u8], pos: &mut usize) -> Option<Op<'a>> {
        let rest = &buf[*pos..];
        if self.conn != ConnKind::Client {
            return None;
        }
        let (verb, with_hdr) = if rest.starts_with(b"PUB ") {
            (4, false)
        } else if rest.starts_with(b"HPUB ") && self.headers {
            (5, true)
        } else {
            return None;
        };
        let nl = verb + memchr(b'\n', &rest[verb..])?;
        let line = rest[verb..nl].strip_suffix(b"\r")?;
        if line.len() > self.limits.max_control_line {
            return None;
        }
        // Single spaces, nothing below a space (tabs separate too): 2 or 3 arguments (PUB),
        // 3 or 4 (HPUB). One compare per byte in the common case.
        let mut sp = [0usize; 3];
        let mut n = 0;
        for (i, &b) in line.iter().enumerate() {
            if b <= b' ' {
                if b != b' ' || n == sp.len() {
                    return None;
                }
                sp[n] = i;
                n += 1;
            }
        }
        // (subject, reply, header size, size)
        let (subject, reply, hdr, size) = match (with_hdr, n) {
            (false, 1) => (&line[..sp[0]], None, None, &line[sp[0] + 1..]),
            (false, 2) => (
                &line[..sp[0]],
                Some(&line[sp[0] + 1..sp[1]]),
                None,
                &line[sp[1] + 1..],
            ),
            (true, 2) => (
                &line[..sp[0]],
                None,
                Some(&line[sp[0] + 1..sp[1]]),
                &line[sp[1] + 1..],
            ),
            (true, 3) => (
                &line[..sp[0]],
                Some(&line[sp[0] + 1..sp[1]]),
                Some(&line[sp[1] + 1..sp[2]]),
                &line[sp[2] + 1..],
            ),
            _ => return None,
        };
        if subject.is_empty() || reply.is_some_and(<[u8]>::is_empty) {
            return None;
        }
        let size = parse_size(size)?;
        if size > self.limits.max_payload {
            return None;
        }
        let start = nl + 1;
        let end = start + size;
        if rest.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        let payload = &rest[start..end];
        let op = if let Some(hdr) = hdr {
            let header_len = parse_size(hdr)?;
            if header_len > size {
                return None;
            }
            Op::HPub {
                subject,
                reply,
                header_len,
                payload,
            }
        } else {
            Op::Pub {
                subject,
                reply,
                payload,
            }
        };
        *pos += end + 2;
        Some(op)
    }

    /// A route's `RMSG account subject [reply] size` or `HMSG account subject [reply]
    /// hdr_size size` (no queue groups: `+`/`|` lists go the byte-wise way), with the whole
    /// payload and its CRLF in `buf`: the receiving end of every routed message.
    #[inline(never)]
    pub(super) fn whole_rmsg<'a>(&self, buf: &'a [u8], pos: &mut usize) -> Option<Op<'a>> {
        let rest = &buf[*pos..];
        let with_hdr = if rest.starts_with(b"RMSG ") {
            false
        } else if rest.starts_with(b"HMSG ") {
            true
        } else {
            return None;
        };
        let (line, start) = self.control_line(rest, 5)?;
        let (sp, n) = spaces::<4>(line)?;
        // (account, subject, reply, header size, size): 3 or 4 arguments (RMSG), 4 or 5
        // (HMSG).
        let (account, subject, reply, hdr, size) = match (with_hdr, n) {
            (false, 2) => (
                &line[..sp[0]],
                &line[sp[0] + 1..sp[1]],
                None,
                None,
                &line[sp[1] + 1..],
            ),
            (false, 3) => (
                &line[..sp[0]],
                &line[sp[0] + 1..sp[1]],
                Some(&line[sp[1] + 1..sp[2]]),
                None,
                &line[sp[2] + 1..],
            ),
            (true, 3) => (
                &line[..sp[0]],
                &line[sp[0] + 1..sp[1]],
                None,
                Some(&line[sp[1] + 1..sp[2]]),
                &line[sp[2] + 1..],
            ),
            (true, 4) => (
                &line[..sp[0]],
                &line[sp[0] + 1..sp[1]],
                Some(&line[sp[1] + 1..sp[2]]),
                Some(&line[sp[2] + 1..sp[3]]),
                &line[sp[3] + 1..],
            ),
            _ => return None,
        };
        if account.is_empty() || subject.is_empty() || reply.is_some_and(<[u8]>::is_empty) {
            return None;
        }
        let header_len = match hdr {
            Some(h) => Some(parse_size(h)?),
            None => None,
        };
        let (payload, end) = self.payload(rest, start, size, header_len)?;
        let op = Op::RMsg {
            account,
            subject,
            reply,
            queues: None,
            header_len: header_len.unwrap_or(0),
            payload,
            has_headers: with_hdr,
        };
        *pos += end;
        Some(op)
    }

    /// The argument line after a `verb`-byte verb and its space, CRLF-terminated and within
    /// `max_control_line`, and where the payload starts.
    #[inline(always)]
    fn control_line<'a>(&self, rest: &'a [u8], verb: usize) -> Option<(&'a [u8], usize)> {
        let nl = verb + memchr(b'\n', &rest[verb..])?;
        let line = rest[verb..nl].strip_suffix(b"\r")?;
        if line.len() > self.limits.max_control_line {
            return None;
        }
        Some((line, nl + 1))
    }

    /// The payload of the declared `size` (within `max_payload`, at least `header_len`),
    /// followed by CRLF, and where the op ends.
    #[inline(always)]
    fn payload<'a>(
        &self,
        rest: &'a [u8],
        start: usize,
        size: &[u8],
        header_len: Option<usize>,
    ) -> Option<(&'a [u8], usize)> {
        let size = parse_size(size)?;
        if size > self.limits.max_payload || header_len.is_some_and(|h| h > size) {
            return None;
        }
        let end = start + size;
        if rest.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        Some((&rest[start..end], end + 2))
    }
}

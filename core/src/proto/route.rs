//! The argument lines of the route verbs, as Go 2.9.10 sends them (see
//! `shared/reference/route-protocol.md`): `RS+`/`LS+` and `RS-`/`LS-` have a fixed shape; the
//! fields of `RMSG` and a route's `HMSG` are told apart by their count (a reply, or `+`/`|`
//! and a list of queue names of any length, bounded only by `max_control_line`).

use super::op::{Op, ParseError};
use super::parser::{is_space, parse_size, split_args, Fields};

/// `RS+ <acc> <subj> [<queue> <weight>]`; `LS+` has an origin cluster first.
pub(super) fn parse_rsub(line: &[u8], leaf: bool) -> Result<Op<'_>, ParseError> {
    let args = split_args(line)?;
    let (origin, rest) = if leaf {
        let (o, r) = args.split_first().ok_or(ParseError::BadArgs)?;
        (Some(*o), r)
    } else {
        (None, &args[..])
    };
    match rest {
        [account, subject] => Ok(Op::RSub {
            origin,
            account,
            subject,
            queue: None,
        }),
        [account, subject, queue, weight] => {
            let w = parse_size(weight).ok_or(ParseError::BadArgs)?;
            Ok(Op::RSub {
                origin,
                account,
                subject,
                queue: Some((queue, u32::try_from(w).map_err(|_| ParseError::BadArgs)?)),
            })
        }
        _ => Err(ParseError::BadArgs),
    }
}

/// `RS- <acc> <subj> [<queue>]` (`LS-` alike; 2.9.10 sends it with two spaces).
pub(super) fn parse_runsub(line: &[u8], leaf: bool) -> Result<Op<'_>, ParseError> {
    let args = split_args(line)?;
    match args.as_slice() {
        [account, subject] => Ok(Op::RUnsub {
            leaf,
            account,
            subject,
            queue: None,
        }),
        [account, subject, queue] => Ok(Op::RUnsub {
            leaf,
            account,
            subject,
            queue: Some(queue),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// The fields of `RMSG <acc> <subj> [<reply> | + <reply> <q>... | \| <q>...] <size>`, or with
/// `headers` a route's `HMSG`, which has `<hdr> <total>` in place of `<size>`.
pub(super) fn rmsg_fields(line: &[u8], headers: bool) -> Result<Fields, ParseError> {
    // Usually a handful of tokens; many queue names spill to the heap (bounded by the line).
    let mut t: smallvec::SmallVec<[(usize, usize); 8]> = smallvec::SmallVec::new();
    let mut start = None;
    for (i, &b) in line.iter().enumerate() {
        match (is_space(b), start) {
            (true, Some(s)) => {
                t.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        t.push((s, line.len()));
    }
    let sizes = 1 + usize::from(headers);
    let n = t.len();
    // account, subject, the sizes.
    let min = 2 + sizes;
    if n < min {
        return Err(ParseError::BadArgs);
    }
    let arg = |i: usize| &line[t[i].0..t[i].1];
    let size = parse_size(arg(n - 1)).ok_or(ParseError::BadArgs)?;
    let header_len = if headers {
        let h = parse_size(arg(n - 2)).ok_or(ParseError::BadArgs)?;
        if h > size {
            return Err(ParseError::BadArgs);
        }
        h
    } else {
        0
    };
    let (reply, queues) = match n - min {
        0 => (None, None),
        1 => (Some(t[2]), None),
        _ => {
            // Go: anything but `+` or `|` here is `Bad or Missing Reply Indicator`.
            let (reply, first_queue) = match arg(2) {
                b"+" => (Some(t[3]), 4),
                b"|" => (None, 3),
                _ => return Err(ParseError::BadArgs),
            };
            let last = n - sizes;
            if first_queue >= last {
                // `+ <reply>` with no queue name.
                return Err(ParseError::BadArgs);
            }
            (reply, Some((t[first_queue].0, t[last - 1].1)))
        }
    };
    Ok(Fields {
        account: t[0],
        subject: t[1],
        queues,
        sid: (0, 0),
        reply,
        header_len,
        size,
    })
}

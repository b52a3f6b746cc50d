//! A subject transform: a source pattern and a destination template (`x.$2.{{wildcard(1)}}`),
//! compiled once and applied to each matching subject.
//!
//! The destination language is the Go server's (`server/subject_transform.go`): literal
//! tokens; `$N` and `{{wildcard(N)}}` (the subject's token under the source's N-th `*`);
//! `{{partition(n, i, …)}}` (FNV-1a of those tokens, or of the whole subject, modulo n);
//! `{{split(i, d)}}`, `{{splitFromLeft(i, p)}}`, `{{splitFromRight(i, p)}}`,
//! `{{sliceFromLeft(i, n)}}`, `{{sliceFromRight(i, n)}}` (cut a token into several);
//! `{{left(i, n)}}`, `{{right(i, n)}}` (the first or last n bytes of a token);
//! `{{random(n)}}` (drawn from the core's seeded RNG here); a trailing `>` when the source
//! ends in `>`. Errors carry Go's texts. Where Go 2.9.10 and 2.15.1 differ, 2.15.1 is
//! followed (accepting more keeps every 2.9.10 config loading): a mapping need not use
//! every wildcard of its source, `partition(n)` with no token list hashes the whole
//! subject, and `left`, `right` and `random` exist (2.9.10 refuses all of these at load).

use crate::rng::Rng;

/// `invalid mapping destination`, the prefix of every destination error (Go's
/// `ErrInvalidMappingDestination`).
const INVALID: &str = "invalid mapping destination";

/// Why a transform does not compile, written as Go writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformError(pub String);

impl std::fmt::Display for TransformError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn dest_err(what: &str, token: &str) -> TransformError {
    if token.is_empty() {
        TransformError(format!("{INVALID}: {what}"))
    } else {
        TransformError(format!("{INVALID}: {what} in {token}"))
    }
}

const NOT_ENOUGH: &str = "not enough arguments passed to the function";
const TOO_MANY: &str = "too many arguments passed to the function";
const BAD_ARG: &str = "function argument is invalid or in the wrong format";
const OUT_OF_RANGE: &str = "wildcard index out of range";
const UNKNOWN: &str = "unknown function";
const BAD_SUBJECT: &str = "invalid subject";

/// One destination token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(Box<[u8]>),
    /// The trailing `>`: the subject's remaining tokens.
    Rest,
    /// The subject's token at this position (nothing if the subject is shorter).
    Token(usize),
    /// FNV-1a of the tokens at these positions (all of the subject if empty), modulo n.
    Partition(u32, Vec<usize>),
    SplitFromLeft(usize, i32),
    SplitFromRight(usize, i32),
    SliceFromLeft(usize, i32),
    SliceFromRight(usize, i32),
    Split(usize, Box<[u8]>),
    Left(usize, i32),
    Right(usize, i32),
    Random(u32),
}

/// A compiled transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// Tokens in the source pattern (the `>` included).
    src_tokens: usize,
    parts: Vec<Part>,
}

/// A function token's kind, before its arguments are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Wildcard,
    Partition,
    SplitFromLeft,
    SplitFromRight,
    SliceFromLeft,
    SliceFromRight,
    Split,
    Left,
    Right,
    Random,
}

/// Function names as Go's patterns spell them: the first letter of each word may be either
/// case (`[sS]plit[fF]rom[lL]eft`), the rest must be as written.
const FUNCS: &[(&str, &[usize], Func)] = &[
    ("wildcard", &[0], Func::Wildcard),
    ("partition", &[0], Func::Partition),
    ("splitFromLeft", &[0, 5, 9], Func::SplitFromLeft),
    ("splitFromRight", &[0, 5, 9], Func::SplitFromRight),
    ("sliceFromLeft", &[0, 5, 9], Func::SliceFromLeft),
    ("sliceFromRight", &[0, 5, 9], Func::SliceFromRight),
    ("split", &[0], Func::Split),
    ("left", &[0], Func::Left),
    ("right", &[0], Func::Right),
    ("random", &[0], Func::Random),
];

fn name_is(got: &str, canon: &str, word_starts: &[usize]) -> bool {
    got.len() == canon.len()
        && got
            .bytes()
            .zip(canon.bytes())
            .enumerate()
            .all(|(i, (g, c))| g == c || (word_starts.contains(&i) && g.eq_ignore_ascii_case(&c)))
}

/// A `{{name(args)}}` token split into its function and raw arguments (`None` when it is
/// not a function token at all; an error for a function Go does not know).
fn parse_func(token: &str) -> Result<Option<(Func, Vec<&str>)>, TransformError> {
    let n = token.len();
    if n <= 4 || !token.starts_with("{{") || !token.ends_with("}}") {
        return Ok(None);
    }
    let inner = token[2..n - 2].trim();
    let unknown = || dest_err(UNKNOWN, token);
    let open = inner.find('(').ok_or_else(unknown)?;
    let close = inner.rfind(')').ok_or_else(unknown)?;
    if close < open || !inner[close + 1..].trim().is_empty() {
        return Err(unknown());
    }
    let name = inner[..open].trim_end();
    let func = FUNCS
        .iter()
        .find(|(canon, starts, _)| name_is(name, canon, starts))
        .map(|&(_, _, f)| f)
        .ok_or_else(unknown)?;
    // Go splits on `,` followed by any spaces.
    let args = inner[open + 1..close]
        .split(',')
        .enumerate()
        .map(|(i, a)| if i == 0 { a } else { a.trim_start() })
        .collect();
    Ok(Some((func, args)))
}

fn int_arg<T: std::str::FromStr>(a: &str, token: &str) -> Result<T, TransformError> {
    a.trim_matches(' ')
        .parse()
        .map_err(|_| dest_err(BAD_ARG, token))
}

/// What one destination token asks for, with wildcard numbers not yet resolved.
enum Placeholder {
    Literal,
    /// A function over the source's wildcards (numbered from 1), with its other argument.
    Func(Func, Vec<i64>, i64, Option<Box<[u8]>>),
}

fn placeholder(token: &str) -> Result<Placeholder, TransformError> {
    if let Some(n) = token.strip_prefix('$') {
        // `$x` where x is not a number stays literal: other things start with `$`.
        return Ok(match n.parse::<i64>() {
            Ok(i) if !n.is_empty() => Placeholder::Func(Func::Wildcard, vec![i], -1, None),
            _ => Placeholder::Literal,
        });
    }
    let Some((func, args)) = parse_func(token)? else {
        return Ok(Placeholder::Literal);
    };
    let two_ints = |args: &[&str]| -> Result<(i64, i64), TransformError> {
        match args.len() {
            0 | 1 => Err(dest_err(NOT_ENOUGH, token)),
            2 => Ok((
                int_arg(args[0], token)?,
                int_arg::<i32>(args[1], token)?.into(),
            )),
            _ => Err(dest_err(TOO_MANY, token)),
        }
    };
    Ok(match func {
        Func::Wildcard => match args.as_slice() {
            [""] => return Err(dest_err(NOT_ENOUGH, token)),
            [a] => Placeholder::Func(func, vec![int_arg(a, token)?], -1, None),
            _ => return Err(dest_err(TOO_MANY, token)),
        },
        Func::Partition => {
            let n: i64 = int_arg(args[0], token)?;
            if n > i64::from(i32::MAX) {
                return Err(dest_err(BAD_ARG, token));
            }
            let idx = args[1..]
                .iter()
                .map(|a| int_arg(a, token))
                .collect::<Result<_, _>>()?;
            Placeholder::Func(func, idx, n, None)
        }
        Func::Split => match args.as_slice() {
            [_] | [] => return Err(dest_err(NOT_ENOUGH, token)),
            [i, d] => {
                if d.contains(' ') || d.contains('.') {
                    return Err(dest_err(BAD_ARG, token));
                }
                Placeholder::Func(
                    func,
                    vec![int_arg(i, token)?],
                    -1,
                    Some(d.as_bytes().into()),
                )
            }
            _ => return Err(dest_err(TOO_MANY, token)),
        },
        Func::Random => match args.as_slice() {
            [a] => {
                let n: i64 = int_arg(a, token)?;
                if n > i64::from(i32::MAX) {
                    return Err(dest_err(BAD_ARG, token));
                }
                Placeholder::Func(func, Vec::new(), n, None)
            }
            _ => return Err(dest_err(NOT_ENOUGH, token)),
        },
        f => {
            let (i, n) = two_ints(&args)?;
            Placeholder::Func(f, vec![i], n, None)
        }
    })
}

impl Transform {
    /// Compiles `src` (a subject, wildcards allowed) to `dest`, checking `dest` as Go's
    /// `ValidateMapping` and `NewSubjectTransform` do.
    pub fn new(src: &str, dest: &str) -> Result<Transform, TransformError> {
        validate_dest(dest)?;
        let stoks: Vec<&str> = src.split('.').collect();
        let dtoks: Vec<&str> = dest.split('.').collect();
        // Go's `subjectInfo`: non-empty tokens, nothing after `>` (whitespace is judged by
        // `validate_dest`, which lets function tokens have it).
        let info = |toks: &[&str]| {
            let fwc_at = toks.iter().position(|t| *t == ">");
            let valid =
                toks.iter().all(|t| !t.is_empty()) && fwc_at.is_none_or(|i| i + 1 == toks.len());
            let pwcs = toks.iter().filter(|t| **t == "*").count();
            (valid, pwcs, toks.last() == Some(&">"))
        };
        let (sv, npwcs, s_fwc) = info(&stoks);
        let (dv, d_pwcs, d_fwc) = info(&dtoks);
        if !sv || !dv || d_pwcs > 0 || s_fwc != d_fwc {
            return Err(TransformError(BAD_SUBJECT.into()));
        }
        // Source token position of the N-th `*` (N from 1); Go reads a missing N as 0.
        let wild: Vec<usize> = (0..stoks.len()).filter(|&i| stoks[i] == "*").collect();
        let position = |n: i64| -> usize {
            usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|n| wild.get(n).copied())
                .unwrap_or(0)
        };
        let mut parts = Vec::with_capacity(dtoks.len());
        for t in &dtoks {
            let p = match placeholder(t)? {
                Placeholder::Literal if *t == ">" => Part::Rest,
                Placeholder::Literal => Part::Literal(t.as_bytes().into()),
                // Without wildcards in the source only these take no token (Go).
                Placeholder::Func(Func::Random, _, n, _) => Part::Random(n as u32),
                Placeholder::Func(Func::Partition, _, n, _) if npwcs == 0 && !s_fwc => {
                    Part::Partition(n as u32, Vec::new())
                }
                Placeholder::Func(_, _, _, _) if npwcs == 0 && !s_fwc => {
                    return Err(dest_err(OUT_OF_RANGE, t));
                }
                Placeholder::Func(f, idx, n, s) => {
                    if let Some(&bad) = idx.iter().find(|&&i| i > npwcs as i64) {
                        return Err(dest_err(OUT_OF_RANGE, &format!("{t}: [{bad}]")));
                    }
                    let at: Vec<usize> = idx.iter().map(|&i| position(i)).collect();
                    let first = at.first().copied().unwrap_or(0);
                    let n32 = n as i32;
                    match f {
                        Func::Wildcard => Part::Token(first),
                        Func::Partition => Part::Partition(n as u32, at),
                        Func::SplitFromLeft => Part::SplitFromLeft(first, n32),
                        Func::SplitFromRight => Part::SplitFromRight(first, n32),
                        Func::SliceFromLeft => Part::SliceFromLeft(first, n32),
                        Func::SliceFromRight => Part::SliceFromRight(first, n32),
                        Func::Split => Part::Split(first, s.unwrap_or_default()),
                        Func::Left => Part::Left(first, n32),
                        Func::Right => Part::Right(first, n32),
                        Func::Random => unreachable!("matched above"),
                    }
                }
            };
            parts.push(p);
        }
        Ok(Transform {
            src_tokens: stoks.len(),
            parts,
        })
    }

    /// True if the result does not depend on the subject (a plain rename).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The destination for a subject whose tokens are `toks` (one that matched the source).
    pub fn apply(&self, toks: &[&[u8]], rng: &mut Rng) -> Vec<u8> {
        let mut out = Vec::with_capacity(toks.iter().map(|t| t.len() + 1).sum::<usize>() + 16);
        let get = |i: usize| toks.get(i).copied().unwrap_or_default();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            match p {
                Part::Literal(l) => out.extend_from_slice(l),
                Part::Rest => {
                    // The subject's tokens from the source's `>` on.
                    let from = self.src_tokens.saturating_sub(1);
                    for (k, t) in toks.iter().enumerate().skip(from) {
                        if k > from {
                            out.push(b'.');
                        }
                        out.extend_from_slice(t);
                    }
                }
                Part::Token(at) => out.extend_from_slice(get(*at)),
                Part::Partition(n, at) => {
                    let h = if at.is_empty() {
                        fnv1a(toks.iter().enumerate().flat_map(|(k, t)| {
                            let sep: &[u8] = if k > 0 { b"." } else { b"" };
                            sep.iter().chain(t.iter())
                        }))
                    } else {
                        fnv1a(at.iter().flat_map(|&k| get(k).iter()))
                    };
                    let v = if *n == 0 { 0 } else { h % n };
                    out.extend_from_slice(v.to_string().as_bytes());
                }
                Part::SplitFromLeft(at, pos) => {
                    let t = get(*at);
                    match usize::try_from(*pos) {
                        Ok(p) if p > 0 && p < t.len() => {
                            out.extend_from_slice(&t[..p]);
                            out.push(b'.');
                            out.extend_from_slice(&t[p..]);
                        }
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::SplitFromRight(at, pos) => {
                    let t = get(*at);
                    match usize::try_from(*pos) {
                        Ok(p) if p > 0 && p < t.len() => {
                            out.extend_from_slice(&t[..t.len() - p]);
                            out.push(b'.');
                            out.extend_from_slice(&t[t.len() - p..]);
                        }
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::SliceFromLeft(at, size) => {
                    let t = get(*at);
                    match usize::try_from(*size) {
                        Ok(s) if s > 0 && s < t.len() => {
                            let pieces: Vec<&[u8]> = t.chunks(s).collect();
                            out.extend_from_slice(&pieces.join(&b'.'));
                        }
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::SliceFromRight(at, size) => {
                    let t = get(*at);
                    match usize::try_from(*size) {
                        Ok(s) if s > 0 && s < t.len() => {
                            let r = t.len() % s;
                            let mut pieces: Vec<&[u8]> = Vec::new();
                            if r > 0 {
                                pieces.push(&t[..r]);
                            }
                            pieces.extend(t[r..].chunks(s));
                            out.extend_from_slice(&pieces.join(&b'.'));
                        }
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::Split(at, delim) => split_token(&mut out, get(*at), delim),
                Part::Left(at, n) => {
                    let t = get(*at);
                    match usize::try_from(*n) {
                        Ok(n) if n > 0 && n < t.len() => out.extend_from_slice(&t[..n]),
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::Right(at, n) => {
                    let t = get(*at);
                    match usize::try_from(*n) {
                        Ok(n) if n > 0 && n < t.len() => out.extend_from_slice(&t[t.len() - n..]),
                        _ => out.extend_from_slice(t),
                    }
                }
                Part::Random(n) => {
                    let v = if *n == 0 { 0 } else { rng.below(u64::from(*n)) };
                    out.extend_from_slice(v.to_string().as_bytes());
                }
            }
        }
        out
    }
}

/// `{{split(i, d)}}`: the token's pieces between delimiters, as tokens. Go's exact rule,
/// empty pieces included: `a--b` on `-` gives `a.b`, `-a` gives `a`, but `--a` gives `.a`.
fn split_token(out: &mut Vec<u8>, t: &[u8], delim: &[u8]) {
    let pieces: Vec<&[u8]> = if delim.is_empty() {
        // Go's strings.Split with an empty separator: one piece per character (byte here).
        t.chunks(1).collect()
    } else {
        let mut v = Vec::new();
        let mut rest = t;
        while let Some(p) = rest.windows(delim.len()).position(|w| w == delim) {
            v.push(&rest[..p]);
            rest = &rest[p + delim.len()..];
        }
        v.push(rest);
        v
    };
    for (j, piece) in pieces.iter().enumerate() {
        out.extend_from_slice(piece);
        let next_empty = pieces.get(j + 1).is_none_or(|n| n.is_empty());
        let leading_empty = j == 0 && piece.is_empty();
        if !next_empty && !leading_empty {
            out.push(b'.');
        }
    }
}

/// 32-bit FNV-1a, as Go's `hash/fnv` `New32a` (partitions must agree with Go's servers).
fn fnv1a<'a>(bytes: impl Iterator<Item = &'a u8>) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Go's `ValidateMapping` checks on the destination alone: no empty token, nothing after
/// `>`, function tokens must name a function it loads, no whitespace.
fn validate_dest(dest: &str) -> Result<(), TransformError> {
    let mut fwc = false;
    for t in dest.split('.') {
        if t.is_empty() || fwc {
            return Err(dest_err("invalid transform", t));
        }
        if t.len() > 4 && t.starts_with("{{") && t.ends_with("}}") {
            parse_func(t)?;
            continue;
        }
        if t == ">" {
            fwc = true;
        } else if t.contains(['\t', '\n', '\x0c', '\r', ' ']) {
            return Err(TransformError(format!("{INVALID}: invalid transform")));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "transform_tests.rs"]
mod tests;

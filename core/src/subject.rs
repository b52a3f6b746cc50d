//! Subject rules: tokens, wildcards and validation.
//!
//! A subject is a `.`-separated list of non-empty tokens. `*` matches exactly one token and
//! `>` matches one or more trailing tokens; both are wildcards only as whole tokens (`a*` is a
//! literal token). Subjects are bytes: the wire never promised UTF-8 and checking it would
//! cost every publish.

/// The token separator.
pub const TSEP: u8 = b'.';
/// The single-token wildcard.
pub const PWC: u8 = b'*';
/// The full (trailing) wildcard.
pub const FWC: u8 = b'>';

/// Splits a subject into its tokens (empty tokens included, so validators can see them).
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> {
    subject.split(|&b| b == TSEP)
}

fn has_space(t: &[u8]) -> bool {
    t.iter()
        .any(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'))
}

/// True for a subject that may be subscribed to: non-empty tokens, no whitespace, `>` only
/// as the last token. Wildcards are allowed.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut seen_fwc = false;
    for t in tokens(subject) {
        if t.is_empty() || seen_fwc || has_space(t) {
            return false;
        }
        if t == [FWC] {
            seen_fwc = true;
        }
    }
    true
}

/// True for a valid subject with no wildcard tokens: what a pedantic publisher must send.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && is_literal(subject)
}

/// True if no token is a wildcard. Says nothing about validity.
pub fn is_literal(subject: &[u8]) -> bool {
    tokens(subject).all(|t| t != [PWC] && t != [FWC])
}

/// True if `pattern` (which may hold wildcards) matches `subject`, whose tokens are all taken
/// literally (a `*` token in `subject` is just the text `*`, as the Go server treats it).
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    // The empty subject (a mapping's dropped message) matches nothing, not even `>` (Go).
    if subject.is_empty() {
        return false;
    }
    let mut pt = tokens(pattern);
    let mut st = tokens(subject);
    loop {
        match (pt.next(), st.next()) {
            (None, None) => return true,
            (Some(p), Some(_)) if p == [FWC] => return true,
            (Some(p), Some(s)) => {
                if p != [PWC] && p != s {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// True if every subject `sub` (which may hold wildcards) matches is also matched by
/// `pattern` (Go's `isSubsetMatch`): an import must stay inside what was exported.
pub fn subset_of(sub: &[u8], pattern: &[u8]) -> bool {
    let mut st = tokens(sub);
    let mut pt = tokens(pattern);
    loop {
        match (st.next(), pt.next()) {
            (None, None) => return true,
            // `>` stands for at least one token.
            (None, Some(_)) => return false,
            (_, Some(p)) if p == [FWC] => return true,
            (Some(s), Some(p)) => {
                if s == [FWC] {
                    return false;
                }
                if p == [PWC] {
                    continue;
                }
                if s == [PWC] || s != p {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// Counts the tokens of a subject.
pub fn num_tokens(subject: &[u8]) -> usize {
    tokens(subject).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_as_go() {
        for (sub, pat, want) in [
            ("a.b", "a.b", true),
            ("a.b", "a.*", true),
            ("a.*", "a.*", true),
            ("a.*", "a.b", false),
            ("a.>", "a.*", false),
            ("a.b.c", "a.>", true),
            ("a.>", "a.>", true),
            ("a", "a.>", false),
            ("b.c", "a.>", false),
        ] {
            assert_eq!(
                subset_of(sub.as_bytes(), pat.as_bytes()),
                want,
                "{sub} in {pat}"
            );
        }
    }

    #[test]
    fn valid_subjects() {
        for s in [
            "foo",
            "foo.bar",
            "foo.*",
            "*",
            ">",
            "foo.>",
            "*.*.>",
            "a*.b>",
            "foo.*.baz",
        ] {
            assert!(is_valid_subject(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn invalid_subjects() {
        for s in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            "foo.>.bar",
            ">.foo",
            "fo o",
            "a\tb",
            "a.\r",
        ] {
            assert!(!is_valid_subject(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn literal_subjects() {
        assert!(is_valid_literal_subject(b"foo.bar"));
        assert!(is_valid_literal_subject(b"foo.a*"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b"foo.>"));
        assert!(!is_valid_literal_subject(b"foo..x"));
        assert!(is_literal(b"foo..x"));
    }

    #[test]
    fn matching() {
        assert!(matches(b"foo.bar", b"foo.bar"));
        assert!(!matches(b"foo.bar", b"foo.baz"));
        assert!(matches(b"foo.*", b"foo.bar"));
        assert!(!matches(b"foo.*", b"foo.bar.baz"));
        assert!(!matches(b"foo.*", b"foo"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"a"));
        assert!(matches(b"*.b", b"a.b"));
        // A literal `*` token in the subject is matched by wildcards, not by other literals.
        assert!(matches(b"foo.*", b"foo.*"));
        assert!(!matches(b"foo.bar", b"foo.*"));
        assert_eq!(num_tokens(b"a.b.c"), 3);
    }
}

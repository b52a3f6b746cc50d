//! Query strings of the monitoring endpoints, decoded as the Go server decodes them: the
//! first value of each key, Go's `strconv` rules for booleans and integers, and Go's error
//! texts (which the HTTP layer returns with status 400).

/// A bad query value; the text is what the Go server answers with status 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError(pub String);

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueryError {}

/// A decoded query string (`a=1&b=x%20y`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `raw` (without the `?`): `&`-separated pairs, `+` as space, `%XX` escapes (a
    /// malformed escape is kept as written). Never fails.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (unescape(k), unescape(v))
            })
            .collect();
        Query { pairs }
    }

    /// A query made of these pairs (from a `$SYS` request's JSON options).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Query {
        Query { pairs }
    }

    /// Sets `key` to `value`, replacing any earlier values.
    pub fn set(&mut self, key: &str, value: &str) {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_string(), value.to_string()));
    }

    /// The first value of `key`, or `""` (Go's `url.Values.Get`).
    pub fn get(&self, key: &str) -> &str {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Go's `decodeBool`: empty is false; else `strconv.ParseBool`.
    pub fn bool(&self, key: &str) -> Result<bool, QueryError> {
        let s = self.get(key);
        match s {
            "" => Ok(false),
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
            _ => Err(QueryError(format!(
                "Error decoding boolean for '{key}': strconv.ParseBool: parsing {}: invalid syntax",
                go_quote(s)
            ))),
        }
    }

    /// Go's `decodeInt`: empty is 0; else `strconv.Atoi` (optional sign, decimal digits).
    pub fn int(&self, key: &str) -> Result<i64, QueryError> {
        let s = self.get(key);
        if s.is_empty() {
            return Ok(0);
        }
        let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
        let err = |why: &str| {
            QueryError(format!(
                "Error decoding int for '{key}': strconv.Atoi: parsing {}: {why}",
                go_quote(s)
            ))
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("invalid syntax"));
        }
        s.parse::<i64>().map_err(|_| err("value out of range"))
    }

    /// Go's `decodeUint64`: empty is 0; else `strconv.ParseUint(s, 10, 64)`.
    pub fn uint(&self, key: &str) -> Result<u64, QueryError> {
        let s = self.get(key);
        if s.is_empty() {
            return Ok(0);
        }
        let err = |why: &str| {
            QueryError(format!(
                "Error decoding uint64 for '{key}': strconv.ParseUint: parsing {}: {why}",
                go_quote(s)
            ))
        };
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("invalid syntax"));
        }
        s.parse::<u64>().map_err(|_| err("value out of range"))
    }

    /// Go's `decodeSubs`: `detail` (any case) means detailed lists, else a boolean.
    /// Returns (subs, detail).
    pub fn subs(&self) -> Result<(bool, bool), QueryError> {
        if self.get("subs").eq_ignore_ascii_case("detail") {
            return Ok((false, true));
        }
        Ok((self.bool("subs")?, false))
    }
}

/// Go's `%q` for the ASCII texts that reach it here (quotes and backslashes escaped).
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let q = Query::parse("a=1&a=2&b=x%20y+z&c&d=%zz&e=%4");
        assert_eq!(q.get("a"), "1");
        assert_eq!(q.get("b"), "x y z");
        assert_eq!(q.get("c"), "");
        assert_eq!(q.get("d"), "%zz");
        assert_eq!(q.get("e"), "%4");
        assert_eq!(q.get("missing"), "");
    }

    #[test]
    fn numbers_and_bools_with_go_errors() {
        let q =
            Query::parse("limit=x&offset=-3&big=99999999999999999999&cid=-1&t=True&f=0&bad=yes");
        assert_eq!(
            q.int("limit").unwrap_err().0,
            "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax"
        );
        assert_eq!(q.int("offset"), Ok(-3));
        assert!(q.int("big").unwrap_err().0.ends_with("value out of range"));
        assert_eq!(
            q.uint("cid").unwrap_err().0,
            "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax"
        );
        assert_eq!(q.bool("t"), Ok(true));
        assert_eq!(q.bool("f"), Ok(false));
        assert_eq!(q.bool("none"), Ok(false));
        assert_eq!(
            q.bool("bad").unwrap_err().0,
            "Error decoding boolean for 'bad': strconv.ParseBool: parsing \"yes\": invalid syntax"
        );
        assert_eq!(Query::parse("subs=DETAIL").subs(), Ok((false, true)));
        assert_eq!(Query::parse("subs=1").subs(), Ok((true, false)));
        assert!(Query::parse("subs=x").subs().is_err());
    }
}

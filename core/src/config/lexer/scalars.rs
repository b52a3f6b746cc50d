//! Scalar values: quoted, bare and block strings, escapes, numbers, IP addresses and
//! datetimes. Same rules as Go's `conf/lex.go`, including its quirks (noted where they bite).

use super::{ends_number, is_nl, is_suffix, is_ws, show, LexError, Lexer, Tok};

impl Lexer<'_> {
    pub(super) fn single_quoted(&mut self) -> Result<Tok, LexError> {
        self.bump();
        let start = self.pos;
        loop {
            match self.bump() {
                None => return self.err("Unexpected EOF in quoted string."),
                Some('\'') => return Ok(Tok::Str(self.src[start..self.pos - 1].to_string())),
                Some(_) => {}
            }
        }
    }

    pub(super) fn double_quoted(&mut self) -> Result<Tok, LexError> {
        self.bump();
        let mut buf = Vec::new();
        loop {
            match self.bump() {
                None => return self.err("Unexpected EOF in double quoted string."),
                Some('"') => return Ok(Tok::Str(String::from_utf8_lossy(&buf).into_owned())),
                Some('\\') => self.escape(&mut buf)?,
                Some(c) => {
                    let mut b = [0; 4];
                    buf.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
                }
            }
        }
    }

    /// An escape after `\` (in double-quoted and bare strings).
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), LexError> {
        let c = self.bump();
        let b = match c {
            Some('x') => {
                let (h, l) = (self.bump(), self.bump());
                match (h, l) {
                    (Some(h), Some(l)) if !is_nl(h) && !is_nl(l) => {
                        match (h.to_digit(16), l.to_digit(16)) {
                            (Some(h), Some(l)) => (h * 16 + l) as u8,
                            _ => {
                                return self.err(format!(
                                    "Expected two hexadecimal digits after '\\x', but got '{h}{l}'"
                                ))
                            }
                        }
                    }
                    _ => {
                        return self.err(
                            "Expected two hexadecimal digits after '\\x', but hit end of line",
                        )
                    }
                }
            }
            Some('t') => b'\t',
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('"') => b'"',
            Some('\\') => b'\\',
            c => {
                return self.err(format!(
                    "Invalid escape character '{}'. Only the following escape characters are \
                     allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                    show(c)
                ))
            }
        };
        buf.push(b);
        Ok(())
    }

    /// A bare string from `start` (some of it may already be consumed). Ends at a newline,
    /// whitespace, `;`, `,`, `]`, `}` or EOF (not consumed), or at `'` (consumed). Decides
    /// between string, boolean and variable like Go.
    pub(super) fn bare_string(&mut self, start: usize) -> Result<Tok, LexError> {
        let mut buf: Option<Vec<u8>> = None;
        let mut seg = start;
        loop {
            match self.peek() {
                Some('\\') => {
                    let b = buf.get_or_insert_with(Vec::new);
                    b.extend_from_slice(&self.src.as_bytes()[seg..self.pos]);
                    self.bump();
                    self.escape(b)?;
                    seg = self.pos;
                }
                Some('\'') => {
                    let s = self.finish(buf, seg);
                    self.bump();
                    return Ok(Tok::Str(s));
                }
                None => break,
                Some(c) if is_nl(c) || is_ws(c) || matches!(c, ';' | ',' | ']' | '}') => break,
                Some(_) => {
                    self.bump();
                }
            }
        }
        if buf.is_some() {
            return Ok(Tok::Str(self.finish(buf, seg)));
        }
        let text = &self.src[start..self.pos];
        for (word, v) in [
            ("true", true),
            ("yes", true),
            ("on", true),
            ("false", false),
            ("no", false),
            ("off", false),
        ] {
            if text.eq_ignore_ascii_case(word) {
                return Ok(Tok::Bool(v));
            }
        }
        match text.strip_prefix('$') {
            Some(name) => Ok(Tok::Variable(name.to_string())),
            None => Ok(Tok::Str(text.to_string())),
        }
    }

    fn finish(&self, buf: Option<Vec<u8>>, seg: usize) -> String {
        match buf {
            Some(mut b) => {
                b.extend_from_slice(&self.src.as_bytes()[seg..self.pos]);
                String::from_utf8_lossy(&b).into_owned()
            }
            None => self.src[seg..self.pos].to_string(),
        }
    }

    /// A block string `( … )`: ends at a `)` alone on its line. The text keeps the newline
    /// before the `)`; at EOF Go keeps the `)` too, and so do we.
    pub(super) fn block(&mut self) -> Result<Tok, LexError> {
        self.bump();
        let start = self.pos;
        loop {
            match self.bump() {
                None => return self.err("Unexpected EOF processing block."),
                Some(')') => {
                    let at = self.pos - 1;
                    let after_nl = at > 0 && self.src.as_bytes()[at - 1] == b'\n';
                    if after_nl {
                        match self.peek() {
                            Some('\n') => return Ok(Tok::Str(self.src[start..at].to_string())),
                            None => return Ok(Tok::Str(self.src[start..self.pos].to_string())),
                            _ => {}
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// A number, datetime, IP address or digit-led string; a digit is next.
    pub(super) fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        self.bump();
        loop {
            match self.peek() {
                Some('-') => {
                    if self.pos - start != 4 {
                        return self.err("All ISO8601 dates must be in full Zulu form.");
                    }
                    self.bump();
                    return self.datetime(start);
                }
                Some(c) if c.is_ascii_digit() => {
                    self.bump();
                }
                Some('.') => {
                    self.bump();
                    return self.float(start);
                }
                Some(c) if is_suffix(c) => {
                    self.bump();
                    return self.suffixed(start);
                }
                c if ends_number(c) => return Ok(Tok::Int(self.src[start..self.pos].to_string())),
                _ => {
                    // Not a number after all: a string. Go consumes this character first,
                    // so `[1]` is the string "1]" followed by an error, as in Go.
                    self.bump();
                    return self.bare_string(start);
                }
            }
        }
    }

    /// After a size suffix letter: more `b`/`i` letters, then the end of the number.
    fn suffixed(&mut self, start: usize) -> Result<Tok, LexError> {
        while matches!(self.peek(), Some('b' | 'B' | 'i' | 'I')) {
            self.bump();
        }
        let c = self.peek();
        if ends_number(c) || c.is_some_and(|c| c.is_ascii_digit()) {
            Ok(Tok::Int(self.src[start..self.pos].to_string()))
        } else {
            self.bare_string(start)
        }
    }

    pub(super) fn negative_number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        self.bump();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            Some('.') => return self.err("Floats must start with a digit, not '.'."),
            c => return self.err(format!("Expected a digit but got '{}'.", show(c))),
        }
        loop {
            match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    self.bump();
                }
                Some('.') => {
                    self.bump();
                    return self.float(start);
                }
                Some(c) if is_suffix(c) => {
                    self.bump();
                    return self.suffixed(start);
                }
                _ => return Ok(Tok::Int(self.src[start..self.pos].to_string())),
            }
        }
    }

    /// After `digits.`: a float, or an IP address (`127.0.0.1:4222`) which is a string.
    fn float(&mut self, start: usize) -> Result<Tok, LexError> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            c => {
                return self.err(format!(
                    "Floats must have a digit after the '.', but got '{}' instead.",
                    show(c)
                ))
            }
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self.peek() != Some('.') {
            return Ok(Tok::Float(self.src[start..self.pos].to_string()));
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '.' | ':' | '-'))
        {
            self.bump();
        }
        Ok(Tok::Str(self.src[start..self.pos].to_string()))
    }

    /// `YYYY-` has been read.
    fn datetime(&mut self, start: usize) -> Result<Tok, LexError> {
        for f in "00-00T00:00:00Z".chars() {
            let c = self.bump();
            if f == '0' {
                if !c.is_some_and(|c| c.is_ascii_digit()) {
                    return self.err(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        show(c)
                    ));
                }
            } else if c != Some(f) {
                return self.err(format!(
                    "Expected '{f}' in ISO8601 datetime, but found '{}' instead.",
                    show(c)
                ));
            }
        }
        Ok(Tok::Datetime(self.src[start..self.pos].to_string()))
    }
}

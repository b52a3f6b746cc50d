//! The NATS config lexer: a state machine with an explicit (heap) state stack, following the
//! states of Go's `conf/lex.go` so the same inputs are accepted and rejected.
//!
//! Tokens carry the byte offset where they start; the parser turns offsets into positions.
//! The lexer never recurses, never panics, and stops at the first error.

/// What the lexer produces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A map key (quotes removed).
    Key(String),
    /// A string value (escapes applied).
    Str(String),
    /// A bare `true/false/yes/no/on/off`.
    Bool(bool),
    /// Integer text with an optional size suffix (`10`, `-3`, `1MB`).
    Int(String),
    /// Float text (`1.5`).
    Float(String),
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    Datetime(String),
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    /// `$NAME` (without the `$`).
    Variable(String),
    /// `include path`.
    Include(String),
    Eof,
}

/// A token and the byte offset of its first character.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub offset: usize,
}

/// A lexing error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub offset: usize,
    pub msg: String,
}

mod scalars;

#[derive(Debug, Clone, Copy, PartialEq)]
enum St {
    Top,
    TopValueEnd,
    KeyStart,
    KeyEnd,
    Value,
    ArrayValue,
    ArrayValueEnd,
    MapKeyStart,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    Done,
}

/// The lexer over one source text.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    state: St,
    /// States to return to after a value (Go's `push`/`pop`). Its length is bounded by the
    /// parser, which stops at the nesting limit.
    stack: Vec<St>,
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_sep(c: char) -> bool {
    c == '=' || c == ':'
}

fn is_suffix(c: char) -> bool {
    matches!(
        c,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// What ends a number (Go's list; note `]` is not in it, as in Go).
fn ends_number(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || c == '}' || c == ';' || c == ',',
    }
}

/// Shows a character in an error message.
fn show(c: Option<char>) -> String {
    match c {
        None => "EOF".into(),
        Some('\n') => "\\n".into(),
        Some('\r') => "\\r".into(),
        Some(c) => c.to_string(),
    }
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            pos: 0,
            state: St::Top,
            stack: Vec::new(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.src.get(self.pos..)?.chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            offset: self.pos,
            msg: msg.into(),
        })
    }

    fn pop(&mut self) -> Result<St, LexError> {
        match self.stack.pop() {
            Some(s) => Ok(s),
            None => self.err("internal lexer error: no state to return to"),
        }
    }

    fn tok(&self, tok: Tok, offset: usize) -> Result<Option<Token>, LexError> {
        Ok(Some(Token { tok, offset }))
    }

    /// Skips a comment up to (not including) the end of the line.
    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if is_nl(c) {
                break;
            }
            self.bump();
        }
    }

    /// The next token. After an error or `Eof`, keeps returning `Eof`.
    pub fn next_token(&mut self) -> Result<Token, LexError> {
        loop {
            if let Some(t) = self.step()? {
                return Ok(t);
            }
        }
    }

    /// One state transition; `Some` when a token is ready.
    fn step(&mut self) -> Result<Option<Token>, LexError> {
        match self.state {
            St::Done => self.tok(Tok::Eof, self.pos),
            St::Top => self.top(),
            St::TopValueEnd => self.top_value_end(),
            St::KeyStart => self.key_start(),
            St::KeyEnd => self.key_end(),
            St::Value => self.value(),
            St::ArrayValue => self.array_value(),
            St::ArrayValueEnd => self.array_value_end(),
            St::MapKeyStart => self.map_key_start(),
            St::MapKeyEnd => self.map_key_end(),
            St::MapValue => self.map_value(),
            St::MapValueEnd => self.map_value_end(),
        }
    }

    fn top(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            None => {
                self.state = St::Done;
                self.tok(Tok::Eof, self.pos)
            }
            // A whole file may be wrapped in `{ … }` (Go skips the brace).
            Some(c) if c.is_whitespace() || c == '{' => {
                self.bump();
                Ok(None)
            }
            Some('#') => {
                self.skip_comment();
                Ok(None)
            }
            Some('/') => {
                if self.peek2() == Some('/') {
                    self.skip_comment();
                    Ok(None)
                } else {
                    self.err("Unexpected '/': comments start with '#' or '//'")
                }
            }
            Some(_) => {
                self.stack.push(St::TopValueEnd);
                self.state = St::KeyStart;
                Ok(None)
            }
        }
    }

    fn top_value_end(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some('#') => {
                self.skip_comment();
                self.state = St::Top;
            }
            Some('/') if self.peek2() == Some('/') => {
                self.skip_comment();
                self.state = St::Top;
            }
            // Go treats a lone '/' here like whitespace.
            Some(c) if is_ws(c) || c == '/' => {
                self.bump();
            }
            None => self.state = St::Top,
            Some(c) if is_nl(c) || c == ';' || c == ',' || c == '}' => {
                self.bump();
                self.state = St::Top;
            }
            c => {
                return self.err(format!(
                    "Expected a top-level value to end with a new line, comment or EOF, \
                     but got '{}' instead.",
                    show(c)
                ))
            }
        }
        Ok(None)
    }

    /// A quoted key; the opening quote is next.
    fn quoted_key(&mut self, quote: char, eof_msg: &str) -> Result<Token, LexError> {
        self.bump();
        let start = self.pos;
        loop {
            match self.peek() {
                None => return self.err(eof_msg),
                Some(c) if c == quote => {
                    let key = self.src[start..self.pos].to_string();
                    self.bump();
                    return Ok(Token {
                        tok: Tok::Key(key),
                        offset: start,
                    });
                }
                Some(_) => {
                    self.bump();
                }
            }
        }
    }

    /// A bare key. `include` followed by whitespace starts an include instead.
    /// `eof_msg`: the error at EOF inside a key (`None`: EOF ends the key, as at top level).
    fn bare_key(&mut self, eof_msg: Option<&str>, after: St) -> Result<Option<Token>, LexError> {
        let start = self.pos;
        self.bump();
        loop {
            match self.peek() {
                None => {
                    if let Some(m) = eof_msg {
                        return self.err(m);
                    }
                    break;
                }
                Some(c) if c.is_whitespace() => {
                    if self.src[start..self.pos].eq_ignore_ascii_case("include") {
                        return self.include().map(Some);
                    }
                    break;
                }
                Some(c) if is_sep(c) => break,
                Some(_) => {
                    self.bump();
                }
            }
        }
        self.state = after;
        let key = self.src[start..self.pos].to_string();
        self.tok(Tok::Key(key), start)
    }

    fn key_start(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if is_sep(c) => self.err(format!("Unexpected key separator '{c}'")),
            Some(c) if c.is_whitespace() => {
                self.bump();
                Ok(None)
            }
            Some(q @ ('"' | '\'')) => {
                let t = self.quoted_key(q, "Unexpected EOF in quoted key.")?;
                self.state = St::KeyEnd;
                Ok(Some(t))
            }
            _ => self.bare_key(None, St::KeyEnd),
        }
    }

    fn key_end(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if c.is_whitespace() => {
                self.bump();
            }
            Some(c) if is_sep(c) => {
                self.bump();
                self.state = St::Value;
            }
            None => {
                // A key with no value at the end of the file: Go ignores it.
                self.state = St::Done;
                return self.tok(Tok::Eof, self.pos);
            }
            Some(_) => self.state = St::Value,
        }
        Ok(None)
    }

    /// `include path`; the keyword has been read and whitespace follows.
    fn include(&mut self) -> Result<Token, LexError> {
        while self.peek().is_some_and(is_ws) {
            self.bump();
        }
        let offset = self.pos;
        let what = match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let start = self.pos;
                loop {
                    match self.bump() {
                        None if q == '"' => {
                            return self.err("Unexpected EOF in double quoted include")
                        }
                        None => return self.err("Unexpected EOF in quoted include"),
                        Some(c) if c == q => break,
                        Some(_) => {}
                    }
                }
                self.src[start..self.pos - 1].to_string()
            }
            Some('[') => return self.err("Expected include value but found start of an array"),
            Some('{') => return self.err("Expected include value but found start of a map"),
            Some('(') => return self.err("Expected include value but found start of a block"),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                return self.err("Expected include value but found start of a number")
            }
            Some('\\') => return self.err("Expected include value but found escape sequence"),
            Some(c) if is_nl(c) => return self.err("Expected include value but found new line"),
            _ => {
                let start = self.pos;
                loop {
                    match self.peek() {
                        None => break,
                        Some(c) if is_nl(c) || is_ws(c) || c == ';' || c == '}' => break,
                        Some('\'') => {
                            let s = self.src[start..self.pos].to_string();
                            self.bump();
                            self.state = self.pop()?;
                            return Ok(Token {
                                tok: Tok::Include(s),
                                offset,
                            });
                        }
                        Some(_) => {
                            self.bump();
                        }
                    }
                }
                self.src[start..self.pos].to_string()
            }
        };
        self.state = self.pop()?;
        Ok(Token {
            tok: Tok::Include(what),
            offset,
        })
    }

    fn value(&mut self) -> Result<Option<Token>, LexError> {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_ws(c) => {
                self.bump();
                Ok(None)
            }
            Some('[') => {
                self.bump();
                self.state = St::ArrayValue;
                self.tok(Tok::ArrayStart, start)
            }
            Some('{') => {
                self.bump();
                self.state = St::MapKeyStart;
                self.tok(Tok::MapStart, start)
            }
            Some('.') => self.err("Floats must start with a digit"),
            Some(c) if is_nl(c) => self.err("Expected value but found new line"),
            c => {
                let tok = match c {
                    Some('\'') => self.single_quoted()?,
                    Some('"') => self.double_quoted()?,
                    Some('(') => self.block()?,
                    Some('-') => self.negative_number()?,
                    Some(c) if c.is_ascii_digit() => self.number()?,
                    _ => self.bare_string(start)?,
                };
                self.state = self.pop()?;
                self.tok(tok, start)
            }
        }
    }

    fn array_value(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if c.is_whitespace() => {
                self.bump();
                Ok(None)
            }
            Some('#') => {
                self.skip_comment();
                Ok(None)
            }
            Some('/') if self.peek2() == Some('/') => {
                self.skip_comment();
                Ok(None)
            }
            Some(',') | Some('/') => self.err("Unexpected array value terminator ','."),
            Some(']') => {
                let start = self.pos;
                self.bump();
                self.state = self.pop()?;
                self.tok(Tok::ArrayEnd, start)
            }
            None => self.err("Unexpected EOF processing array."),
            Some(_) => {
                self.stack.push(St::ArrayValueEnd);
                self.state = St::Value;
                Ok(None)
            }
        }
    }

    fn array_value_end(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some('#') => self.skip_comment(),
            Some('/') if self.peek2() == Some('/') => self.skip_comment(),
            Some(c) if is_ws(c) => {
                self.bump();
            }
            // Go treats a lone '/' here as a value separator.
            Some(c) if c == ',' || c == '/' || is_nl(c) => {
                self.bump();
                self.state = St::ArrayValue;
            }
            Some(']') => {
                let start = self.pos;
                self.bump();
                self.state = self.pop()?;
                return self.tok(Tok::ArrayEnd, start);
            }
            c => {
                return self.err(format!(
                    "Expected an array value terminator \",\" or an array terminator \"]\", \
                     but got '{}' instead.",
                    show(c)
                ))
            }
        }
        Ok(None)
    }

    fn map_key_start(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if is_sep(c) => self.err(format!("Unexpected key separator '{c}'.")),
            Some(']') => self.err("Unexpected array end ']' processing map."),
            Some(c) if c.is_whitespace() => {
                self.bump();
                Ok(None)
            }
            Some('}') => {
                let start = self.pos;
                self.bump();
                self.state = self.pop()?;
                self.tok(Tok::MapEnd, start)
            }
            Some('#') => {
                self.skip_comment();
                Ok(None)
            }
            Some('/') => {
                if self.peek2() == Some('/') {
                    self.skip_comment();
                    Ok(None)
                } else {
                    self.err("Unexpected '/': comments start with '#' or '//'")
                }
            }
            Some('\'') => {
                let t = self.quoted_key('\'', "Unexpected EOF processing quoted map key.")?;
                self.state = St::MapKeyEnd;
                Ok(Some(t))
            }
            Some('"') => {
                let t = self.quoted_key('"', "Unexpected EOF processing double quoted map key.")?;
                self.state = St::MapKeyEnd;
                Ok(Some(t))
            }
            None => self.err("Unexpected EOF processing map."),
            Some(_) => {
                // An include inside a map returns to the map's value end.
                self.stack.push(St::MapValueEnd);
                let t = self.bare_key(Some("Unexpected EOF processing map key."), St::MapKeyEnd)?;
                if matches!(
                    t,
                    Some(Token {
                        tok: Tok::Key(_),
                        ..
                    })
                ) {
                    self.stack.pop();
                }
                Ok(t)
            }
        }
    }

    fn map_key_end(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if c.is_whitespace() => {
                self.bump();
            }
            Some(c) if is_sep(c) => {
                self.bump();
                self.state = St::MapValue;
            }
            _ => self.state = St::MapValue,
        }
        Ok(None)
    }

    fn map_value(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some(c) if c.is_whitespace() => {
                self.bump();
                Ok(None)
            }
            Some(',') => self.err("Unexpected map value terminator \",\"."),
            Some('}') => self.err("Expected a value before the end of the map"),
            _ => {
                self.stack.push(St::MapValueEnd);
                self.state = St::Value;
                Ok(None)
            }
        }
    }

    fn map_value_end(&mut self) -> Result<Option<Token>, LexError> {
        match self.peek() {
            Some('#') => self.skip_comment(),
            Some('/') if self.peek2() == Some('/') => self.skip_comment(),
            Some(c) if is_ws(c) => {
                self.bump();
            }
            // Go treats a lone '/' here as a value separator.
            Some(c) if c == ';' || c == ',' || c == '/' || is_nl(c) => {
                self.bump();
                self.state = St::MapKeyStart;
            }
            Some('}') => {
                let start = self.pos;
                self.bump();
                self.state = self.pop()?;
                return self.tok(Tok::MapEnd, start);
            }
            c => {
                return self.err(format!(
                    "Expected a map value terminator \",\" or a map terminator \"}}\", \
                     but got '{}' instead.",
                    show(c)
                ))
            }
        }
        Ok(None)
    }
}

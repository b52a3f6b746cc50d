//! Builds the value tree from lexer tokens: maps, arrays, size suffixes, variables and
//! includes. Iterative (an explicit frame stack), bounded, never panics on input.

use std::sync::Arc;

use super::lexer::{LexError, Lexer, Tok, Token};
use super::value::{ConfigError, Entry, Map, Node, Pos, Value};
use super::{MAX_DEPTH, MAX_INCLUDE_DEPTH, MAX_NODES};

/// Finds and reads included files. The runtime implements it over the file system; tests use
/// an in-memory map. Core never does I/O itself.
pub trait IncludeResolver {
    /// Resolves `path` (as written after `include`) relative to `including_file` (the name of
    /// the file that contains the `include`). Returns the included file's name (used in
    /// positions and for further relative includes) and its contents, or an error text.
    fn resolve(&self, including_file: &str, path: &str) -> Result<(String, String), String>;
}

/// A resolver that refuses every include.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoIncludes;

impl IncludeResolver for NoIncludes {
    fn resolve(&self, _: &str, path: &str) -> Result<(String, String), String> {
        Err(format!("includes are not available here ('{path}')"))
    }
}

/// Joins an include path to the directory of the including file, as Go's
/// `filepath.Join(filepath.Dir(file), path)` does for relative paths. Absolute paths are kept
/// (Go joins them too, which makes them relative; we do not copy that).
pub fn join_include_path(including_file: &str, path: &str) -> String {
    if path.starts_with('/') {
        return normalize(path);
    }
    let dir = match including_file.rfind('/') {
        Some(0) => "/",
        Some(i) => &including_file[..i],
        None => ".",
    };
    normalize(&format!("{dir}/{path}"))
}

/// Cleans `.` and `..` components lexically (like Go's `filepath.Clean`).
fn normalize(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let body = parts.join("/");
    match (abs, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Parses NATS config text into its top-level map.
///
/// `file` names the text in positions and is what includes are resolved against. `env` looks
/// up environment variables for `$NAME` references not defined in an enclosing block; its
/// values are parsed as config values (so `4222` is an integer), as Go does.
///
/// Errors carry `file:line:col`. Never panics; bounded in depth ([`MAX_DEPTH`]), include depth
/// ([`MAX_INCLUDE_DEPTH`]) and size after variable expansion ([`MAX_NODES`]).
pub fn parse(
    file: &str,
    src: &str,
    resolver: &dyn IncludeResolver,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Map, ConfigError> {
    let mut cx = Cx {
        resolver,
        env,
        includes: vec![file.to_string()],
        env_refs: Vec::new(),
        budget: MAX_NODES,
    };
    cx.parse_text(Arc::from(file), src, 0)
}

/// State shared by a file, its includes and environment re-parses.
struct Cx<'a> {
    resolver: &'a dyn IncludeResolver,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Files being parsed, outermost first (include cycle and depth checks).
    includes: Vec<String>,
    /// Environment variables being expanded (reference cycle check).
    env_refs: Vec<String>,
    /// Nodes we may still create or copy.
    budget: u64,
}

enum Frame {
    Map {
        map: Map,
        key: Option<(String, Pos)>,
        pos: Pos,
    },
    Array {
        items: Vec<Node>,
        pos: Pos,
    },
}

/// Byte offset to line/column (binary search over line starts).
pub(crate) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(src: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    pub(crate) fn pos(&self, file: &Arc<str>, offset: usize) -> Pos {
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        Pos {
            file: file.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(offset.saturating_sub(start) + 1).unwrap_or(u32::MAX),
        }
    }
}

/// Parses integer text with an optional size suffix, as Go does (`k` = 1000, `kb`/`ki`/`kib`
/// = 1024, up to `e`/`eb`). Overflow is an error (Go wraps silently).
pub(crate) fn parse_integer(text: &str) -> Result<i64, String> {
    let digits = text
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(text.len(), |(i, _)| i);
    let (num, suffix) = text.split_at(digits);
    let n: i64 = num.parse().map_err(|e: std::num::ParseIntError| {
        if matches!(
            e.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ) {
            format!("integer '{text}' is out of the range")
        } else {
            format!("expected integer, but got '{text}'")
        }
    })?;
    let suffix = suffix.to_ascii_lowercase();
    let mult: i64 = match suffix.as_str() {
        "" => 1,
        "k" => 1000,
        "kb" | "ki" | "kib" => 1 << 10,
        "m" => 1000_i64.pow(2),
        "mb" | "mi" | "mib" => 1 << 20,
        "g" => 1000_i64.pow(3),
        "gb" | "gi" | "gib" => 1 << 30,
        "t" => 1000_i64.pow(4),
        "tb" | "ti" | "tib" => 1 << 40,
        "p" => 1000_i64.pow(5),
        "pb" | "pi" | "pib" => 1 << 50,
        "e" => 1000_i64.pow(6),
        "eb" | "ei" | "eib" => 1 << 60,
        _ => return Err(format!("unknown size suffix '{suffix}' in '{text}'")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("integer '{text}' is out of the range"))
}

/// True for an ISO-8601 Zulu datetime with a real date and time (Go's `time.Parse` check).
fn valid_datetime(s: &str) -> bool {
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) =
        (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && sec < 60
}

/// `$2a$…` (and `$2b$`, `$2y$`) bcrypt hashes are strings, not variables.
fn is_bcrypt(name: &str) -> bool {
    ["2a$", "2b$", "2y$"].iter().any(|p| name.starts_with(p))
}

impl Cx<'_> {
    fn charge(&mut self, n: u64, pos: &Pos) -> Result<(), ConfigError> {
        match self.budget.checked_sub(n) {
            Some(b) => {
                self.budget = b;
                Ok(())
            }
            None => Err(ConfigError::at(
                pos,
                format!("config too large: more than {MAX_NODES} values after variable expansion"),
            )),
        }
    }

    /// Parses one text whose top-level map sits `base` levels deep (for includes inside maps).
    fn parse_text(&mut self, file: Arc<str>, src: &str, base: usize) -> Result<Map, ConfigError> {
        let lines = Lines::new(src);
        let mut lx = Lexer::new(src);
        let top_pos = lines.pos(&file, 0);
        let mut frames = vec![Frame::Map {
            map: Map::new(),
            key: None,
            pos: top_pos,
        }];
        loop {
            let Token { tok, offset } = lx.next_token().map_err(|LexError { offset, msg }| {
                ConfigError::at(&lines.pos(&file, offset), msg)
            })?;
            let pos = lines.pos(&file, offset);
            // Levels of maps/arrays open around the value being built.
            let depth = frames.len() - 1 + base;
            let node = match tok {
                Tok::Eof => break,
                Tok::Key(k) => {
                    if let Some(Frame::Map { key, .. }) = frames.last_mut() {
                        *key = Some((k, pos));
                    }
                    continue;
                }
                Tok::MapStart | Tok::ArrayStart => {
                    if depth >= MAX_DEPTH {
                        // Bounds the tree so recursive Drop/Clone stay shallow.
                        return Err(ConfigError::at(
                            &pos,
                            format!(
                                "nesting too deep: maps and arrays nest at most {MAX_DEPTH} levels"
                            ),
                        ));
                    }
                    self.charge(1, &pos)?;
                    frames.push(if tok == Tok::MapStart {
                        Frame::Map {
                            map: Map::new(),
                            key: None,
                            pos,
                        }
                    } else {
                        Frame::Array {
                            items: Vec::new(),
                            pos,
                        }
                    });
                    continue;
                }
                Tok::MapEnd | Tok::ArrayEnd => match frames.pop() {
                    Some(Frame::Map { map, pos, .. }) if !frames.is_empty() => {
                        Node::new(Value::Map(map), pos)
                    }
                    Some(Frame::Array { items, pos }) => Node::new(Value::Array(items), pos),
                    _ => return Err(ConfigError::at(&pos, "internal parser error: unbalanced")),
                },
                Tok::Include(path) => {
                    self.include(&file, &path, &pos, depth, &mut frames)?;
                    continue;
                }
                Tok::Variable(name) => {
                    let node = self.variable(&name, &pos, &mut frames)?;
                    if node.depth() as usize + depth > MAX_DEPTH {
                        return Err(ConfigError::at(
                            &pos,
                            format!(
                                "nesting too deep: variable '{name}' would nest maps and arrays \
                                 more than {MAX_DEPTH} levels"
                            ),
                        ));
                    }
                    self.charge(node.size(), &pos)?;
                    node
                }
                scalar => {
                    self.charge(1, &pos)?;
                    let v = scalar_value(scalar).map_err(|m| ConfigError::at(&pos, m))?;
                    Node::new(v, pos)
                }
            };
            set_value(&mut frames, node)?;
        }
        match frames.pop() {
            Some(Frame::Map { map, .. }) if frames.is_empty() => Ok(map),
            Some(Frame::Map { pos, .. }) | Some(Frame::Array { pos, .. }) => Err(ConfigError::at(
                &pos,
                "Unexpected EOF: unclosed map or array",
            )),
            None => Ok(Map::new()),
        }
    }

    /// Looks `$name` up: enclosing maps innermost first (keys already set), then the
    /// environment (values parsed as config values).
    fn variable(
        &mut self,
        name: &str,
        pos: &Pos,
        frames: &mut [Frame],
    ) -> Result<Node, ConfigError> {
        if is_bcrypt(name) {
            return Ok(Node::new(Value::String(format!("${name}")), pos.clone()));
        }
        for f in frames.iter_mut().rev() {
            if let Frame::Map { map, .. } = f {
                if let Some(e) = map.get_mut(name) {
                    e.used_as_variable = true;
                    let mut n = e.node.clone();
                    n.pos = pos.clone();
                    return Ok(n);
                }
            }
        }
        if self.env_refs.iter().any(|r| r == name) {
            return Err(ConfigError::at(
                pos,
                format!("variable reference cycle for '{name}'"),
            ));
        }
        let Some(text) = (self.env)(name) else {
            return Err(ConfigError::at(
                pos,
                format!("variable reference for '{name}' can not be found"),
            ));
        };
        self.env_refs.push(name.to_string());
        let parsed = self.parse_text(pos.file.clone(), &format!("pk={text}"), 0);
        self.env_refs.pop();
        let parsed = parsed.map_err(|e| {
            if e.msg.starts_with("variable reference cycle") {
                ConfigError::at(pos, e.msg)
            } else {
                ConfigError::at(
                    pos,
                    format!(
                        "variable reference for '{name}' could not be parsed: {}",
                        e.msg
                    ),
                )
            }
        })?;
        match parsed.into_entries().into_iter().find(|e| e.key == "pk") {
            Some(mut e) => {
                e.node.reposition(pos);
                Ok(e.node)
            }
            None => Err(ConfigError::at(
                pos,
                format!("variable reference for '{name}' can not be found"),
            )),
        }
    }

    /// `include path`: parses the file and merges its keys into the current map.
    fn include(
        &mut self,
        file: &str,
        path: &str,
        pos: &Pos,
        depth: usize,
        frames: &mut [Frame],
    ) -> Result<(), ConfigError> {
        let (name, text) = self.resolver.resolve(file, path).map_err(|e| {
            ConfigError::at(pos, format!("error parsing include file '{path}', {e}"))
        })?;
        if self.includes.contains(&name) {
            return Err(ConfigError::at(
                pos,
                format!(
                    "error parsing include file '{path}', include cycle: '{name}' includes itself"
                ),
            ));
        }
        if self.includes.len() > MAX_INCLUDE_DEPTH {
            // Real configs nest includes a few levels; this stops runaway chains.
            return Err(ConfigError::at(
                pos,
                format!("error parsing include file '{path}', includes nest more than {MAX_INCLUDE_DEPTH} levels"),
            ));
        }
        self.includes.push(name.clone());
        let parsed = self.parse_text(Arc::from(name.as_str()), &text, depth);
        self.includes.pop();
        let map = parsed?;
        match frames.last_mut() {
            Some(Frame::Map { map: into, .. }) => {
                for e in map.into_entries() {
                    into.insert(e);
                }
                Ok(())
            }
            _ => Err(ConfigError::at(pos, "include is only allowed inside a map")),
        }
    }
}

fn scalar_value(tok: Tok) -> Result<Value, String> {
    Ok(match tok {
        Tok::Str(s) => Value::String(s),
        Tok::Bool(b) => Value::Bool(b),
        Tok::Int(t) => Value::Integer(parse_integer(&t)?),
        Tok::Float(t) => match t.parse::<f64>() {
            Ok(f) if f.is_finite() => Value::Float(f),
            Ok(_) => return Err(format!("float '{t}' is out of the range")),
            Err(_) => return Err(format!("expected float, but got '{t}'")),
        },
        Tok::Datetime(t) => {
            if !valid_datetime(&t) {
                return Err(format!("expected Zulu formatted DateTime, but got '{t}'"));
            }
            Value::Datetime(t)
        }
        other => return Err(format!("internal parser error: unexpected {other:?}")),
    })
}

/// Puts a finished value into the innermost map (under its pending key) or array.
fn set_value(frames: &mut [Frame], node: Node) -> Result<(), ConfigError> {
    match frames.last_mut() {
        Some(Frame::Array { items, .. }) => {
            items.push(node);
            Ok(())
        }
        Some(Frame::Map { map, key, .. }) => match key.take() {
            Some((key, key_pos)) => {
                map.insert(Entry {
                    key,
                    key_pos,
                    node,
                    used_as_variable: false,
                });
                Ok(())
            }
            None => Err(ConfigError::at(
                &node.pos,
                "Expected a key before this value",
            )),
        },
        None => Err(ConfigError::at(
            &node.pos,
            "internal parser error: no context",
        )),
    }
}

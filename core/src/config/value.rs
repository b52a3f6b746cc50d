//! The value tree a config file parses into: every value and every key carries its position.
//!
//! Trees are bounded: nesting depth is at most [`MAX_DEPTH`](super::MAX_DEPTH), so the
//! recursive `Drop`, `Clone`, `Debug` and `PartialEq` of these types cannot exhaust the stack.

use std::fmt;
use std::sync::Arc;

use crate::FastMap;

/// Where something is in a config file. Lines and columns start at 1; columns count bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pos {
    /// The file name as given to the parser (or as the include resolver named it).
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u32,
    /// 1-based byte column.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A parse or typing error (or a warning) with its position; displays as `file:line:col: msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File name.
    pub file: String,
    /// 1-based line (0 when the error has no position).
    pub line: u32,
    /// 1-based byte column (0 when the error has no position).
    pub col: u32,
    /// What went wrong, saying what was expected.
    pub msg: String,
}

impl ConfigError {
    /// An error at `pos`.
    pub fn at(pos: &Pos, msg: impl Into<String>) -> ConfigError {
        ConfigError {
            file: pos.file.to_string(),
            line: pos.line,
            col: pos.col,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.msg)
    }
}

impl std::error::Error for ConfigError {}

/// A config value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Bare, quoted or block string.
    String(String),
    /// `true/yes/on`, `false/no/off`.
    Bool(bool),
    /// Integer, size suffixes applied.
    Integer(i64),
    /// Float.
    Float(f64),
    /// ISO-8601 Zulu datetime, as written (`2024-01-01T00:00:00Z`).
    Datetime(String),
    /// `[ … ]`.
    Array(Vec<Node>),
    /// `{ … }`.
    Map(Map),
}

impl Value {
    /// The type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::Bool(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Datetime(_) => "datetime",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Its position (for a variable reference: the position of the `$NAME`).
    pub pos: Pos,
    /// Levels of maps/arrays inside (0 for a scalar).
    depth: u32,
    /// Number of nodes in this subtree, itself included.
    size: u64,
}

impl Node {
    /// A node; depth and size are computed from the direct children.
    pub fn new(value: Value, pos: Pos) -> Node {
        let (depth, size) = match &value {
            Value::Array(items) => items.iter().fold((1, 1u64), |(d, s), n| {
                (d.max(n.depth + 1), s.saturating_add(n.size))
            }),
            Value::Map(m) => m.entries.iter().fold((1, 1u64), |(d, s), e| {
                (d.max(e.node.depth + 1), s.saturating_add(e.node.size))
            }),
            _ => (0, 1),
        };
        Node {
            value,
            pos,
            depth,
            size,
        }
    }

    /// Levels of maps/arrays inside this node (0 for a scalar).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Number of nodes in this subtree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Moves this node and everything inside to `pos` (used for values that came from the
    /// environment, which have no position of their own). Iterative: no recursion.
    pub(crate) fn reposition(&mut self, pos: &Pos) {
        let mut stack: Vec<&mut Node> = vec![self];
        while let Some(n) = stack.pop() {
            n.pos = pos.clone();
            match &mut n.value {
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Map(m) => {
                    for e in m.entries.iter_mut() {
                        e.key_pos = pos.clone();
                        stack.push(&mut e.node);
                    }
                }
                _ => {}
            }
        }
    }
}

/// One `key = value` in a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key as written (case kept; typed lookups are case-insensitive like Go's).
    pub key: String,
    /// Where the key was written.
    pub key_pos: Pos,
    /// The value.
    pub node: Node,
    /// True if a later `$key` reference used this entry as a variable. Such keys are not
    /// reported as unknown fields (Go's `IsUsedVariable`).
    pub used_as_variable: bool,
}

/// A map with keys in first-written order; setting a key again replaces its value (as Go's
/// map assignment does) but keeps its place.
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: Vec<Entry>,
    index: FastMap<String, usize>,
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.entries == other.entries
    }
}

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// Sets `entry.key`, replacing any earlier value.
    pub fn insert(&mut self, entry: Entry) {
        match self.index.get(&entry.key) {
            Some(&i) => self.entries[i] = entry,
            None => {
                self.index.insert(entry.key.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }

    /// The entry for `key` (exact, case-sensitive).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.index.get(key).map(|&i| &self.entries[i])
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Entry> {
        match self.index.get(key) {
            Some(&i) => self.entries.get_mut(i),
            None => None,
        }
    }

    /// Entries in first-written order.
    pub fn iter(&self) -> std::slice::Iter<'_, Entry> {
        self.entries.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn into_entries(self) -> Vec<Entry> {
        self.entries
    }
}

//! TOML config files, read into the same value tree as the NATS format (so the same typing
//! code applies). Positions come from the spans `toml_edit` keeps; where it has none (implicit
//! tables), the enclosing position is used. TOML has no variables or includes.

use std::sync::Arc;

use toml_edit::{Document, Item, Table, TableLike};

use super::parser::Lines;
use super::value::{ConfigError, Entry, Map, Node, Pos, Value};
use super::MAX_DEPTH;

/// Parses TOML text into its top-level map. Errors carry `file:line:col`. Bounded depth
/// ([`MAX_DEPTH`]; `toml_edit` has its own lower limit); never panics.
pub fn parse_toml(file: &str, src: &str) -> Result<Map, ConfigError> {
    let cx = Cx {
        file: Arc::from(file),
        lines: Lines::new(src),
    };
    let doc = Document::parse(src).map_err(|e| {
        let pos = cx.pos(e.span().map_or(0, |s| s.start));
        ConfigError::at(&pos, e.message().trim().to_string())
    })?;
    let top: &Table = doc.as_table();
    cx.table(top, &cx.pos(0), 0)
}

struct Cx {
    file: Arc<str>,
    lines: Lines,
}

impl Cx {
    fn pos(&self, offset: usize) -> Pos {
        self.lines.pos(&self.file, offset)
    }

    fn span_pos(&self, span: Option<std::ops::Range<usize>>, fallback: &Pos) -> Pos {
        span.map_or_else(|| fallback.clone(), |s| self.pos(s.start))
    }

    fn too_deep(&self, pos: &Pos) -> ConfigError {
        ConfigError::at(
            pos,
            format!("nesting too deep: tables and arrays nest at most {MAX_DEPTH} levels"),
        )
    }

    /// Recursion is bounded by the depth check.
    fn table(&self, t: &dyn TableLike, at: &Pos, depth: usize) -> Result<Map, ConfigError> {
        if depth > MAX_DEPTH {
            return Err(self.too_deep(at));
        }
        let mut map = Map::new();
        for (k, item) in t.iter() {
            let key_pos = match t.get_key_value(k) {
                Some((key, _)) => self.span_pos(key.span(), at),
                None => at.clone(),
            };
            let Some(node) = self.item(item, &key_pos, depth)? else {
                continue;
            };
            map.insert(Entry {
                key: k.to_string(),
                key_pos,
                node,
                used_as_variable: false,
            });
        }
        Ok(map)
    }

    fn item(&self, item: &Item, at: &Pos, depth: usize) -> Result<Option<Node>, ConfigError> {
        let pos = self.span_pos(item.span(), at);
        Ok(Some(match item {
            Item::None => return Ok(None),
            Item::Value(v) => self.value(v, &pos, depth)?,
            Item::Table(t) => Node::new(Value::Map(self.table(t, &pos, depth + 1)?), pos),
            Item::ArrayOfTables(a) => {
                if depth + 2 > MAX_DEPTH {
                    return Err(self.too_deep(&pos));
                }
                let mut items = Vec::new();
                for t in a.iter() {
                    let tp = self.span_pos(t.span(), &pos);
                    let m = self.table(t, &tp, depth + 2)?;
                    items.push(Node::new(Value::Map(m), tp));
                }
                Node::new(Value::Array(items), pos)
            }
        }))
    }

    fn value(&self, v: &toml_edit::Value, at: &Pos, depth: usize) -> Result<Node, ConfigError> {
        use toml_edit::Value as T;
        let pos = self.span_pos(v.span(), at);
        let value = match v {
            T::String(s) => Value::String(s.value().clone()),
            T::Integer(i) => Value::Integer(*i.value()),
            T::Float(f) => Value::Float(*f.value()),
            T::Boolean(b) => Value::Bool(*b.value()),
            T::Datetime(d) => Value::Datetime(d.value().to_string()),
            T::Array(a) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(self.too_deep(&pos));
                }
                let mut items = Vec::new();
                for x in a.iter() {
                    items.push(self.value(x, &pos, depth + 1)?);
                }
                Value::Array(items)
            }
            T::InlineTable(t) => Value::Map(self.table(t, &pos, depth + 1)?),
        };
        Ok(Node::new(value, pos))
    }
}

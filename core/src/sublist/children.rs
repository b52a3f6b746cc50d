//! The literal children of one trie level: a short vector while they are few, a hash table
//! past that.
//!
//! Why: most levels have one or two children. With `foo.<id>.bar` subscriptions every
//! `<id>` node has a level of its own holding only `bar`, and a hash table takes 128 bytes
//! of heap for even one entry (hashbrown's smallest table has four buckets). A vector with
//! room for exactly its entries takes 32. Lookups in a level of at most [`FEW`] compare
//! the tokens in turn, which costs no more than hashing the token once.
//!
//! Tokens of up to 16 bytes (most: `foo`, `orders`, an id) are kept inline in the entry,
//! not in a box of their own: 32 bytes of heap less per child.

use foldhash::fast::FixedState;
use smallvec::SmallVec;

use crate::FastMap;

use super::Node;

/// Children a level keeps in a vector; one more moves them into a hash table (and there
/// they stay: a level that was big once is likely to be again).
pub(super) const FEW: usize = 4;

/// A child's token: inline up to 16 bytes (24 bytes in all, as a boxed slice and its
/// header would be 16 + 32).
type Token = SmallVec<[u8; 16]>;
/// A child: its token and node.
type Child<T> = (Token, Box<Node<T>>);
/// The children of a big level.
type Table<T> = FastMap<Token, Box<Node<T>>>;

/// The literal-token children of a level (`*` and `>` are kept apart by the level).
pub(super) enum Children<T> {
    /// At most [`FEW`], in insertion order.
    Few(Vec<Child<T>>),
    /// More than [`FEW`] were inserted at some point. Boxed, so that a level (this, `*`
    /// and `>`) is 40 bytes and takes 48 with the allocator's header, not 64 or 80.
    Many(Box<Table<T>>),
}

impl<T> Children<T> {
    pub(super) fn new() -> Self {
        Children::Few(Vec::new())
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Children::Few(v) => v.len(),
            Children::Many(m) => m.len(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn get(&self, token: &[u8]) -> Option<&Node<T>> {
        match self {
            Children::Few(v) => v.iter().find(|(k, _)| **k == *token).map(|(_, n)| &**n),
            Children::Many(m) => m.get(token).map(|n| &**n),
        }
    }

    pub(super) fn get_mut(&mut self, token: &[u8]) -> Option<&mut Box<Node<T>>> {
        match self {
            Children::Few(v) => v.iter_mut().find(|(k, _)| **k == *token).map(|(_, n)| n),
            Children::Many(m) => m.get_mut(token),
        }
    }

    /// The child for `token`, made empty if missing. `hasher` keys the table a level that
    /// outgrows [`FEW`] gets.
    pub(super) fn get_or_insert(&mut self, token: &[u8], hasher: FixedState) -> &mut Node<T> {
        if let Children::Few(v) = self {
            if v.len() == FEW && !v.iter().any(|(k, _)| **k == *token) {
                // A new child past FEW: the level moves into a table.
                let mut m = FastMap::with_capacity_and_hasher(2 * FEW, hasher);
                m.extend(v.drain(..));
                *self = Children::Many(Box::new(m));
            }
        }
        match self {
            Children::Few(v) => {
                let i = match v.iter().position(|(k, _)| **k == *token) {
                    Some(i) => i,
                    None => {
                        // Exactly the room needed: most levels never get a second child.
                        v.reserve_exact(1);
                        v.push((Token::from_slice(token), Box::new(Node::new())));
                        v.len() - 1
                    }
                };
                &mut v[i].1
            }
            Children::Many(m) => m
                .entry(Token::from_slice(token))
                .or_insert_with(|| Box::new(Node::new())),
        }
    }

    pub(super) fn remove(&mut self, token: &[u8]) {
        match self {
            Children::Few(v) => {
                if let Some(i) = v.iter().position(|(k, _)| **k == *token) {
                    v.remove(i);
                }
            }
            Children::Many(m) => {
                m.remove(token);
            }
        }
    }

    /// Pushes every child onto `out`, in no particular order.
    pub(super) fn push_all<'a>(&'a self, out: &mut Vec<&'a Node<T>>) {
        match self {
            Children::Few(v) => out.extend(v.iter().map(|(_, n)| &**n)),
            Children::Many(m) => out.extend(m.values().map(|n| &**n)),
        }
    }

    /// Takes every child out (for an iterative drop). The boxes move, not the nodes.
    #[allow(clippy::vec_box)]
    pub(super) fn drain_into(&mut self, out: &mut Vec<Box<Node<T>>>) {
        match self {
            Children::Few(v) => out.extend(v.drain(..).map(|(_, n)| n)),
            Children::Many(m) => out.extend(m.drain().map(|(_, n)| n)),
        }
    }
}

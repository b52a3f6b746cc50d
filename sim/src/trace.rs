//! The trace: a running FNV-1a hash over every processed event, so a determinism check can
//! compare two runs of one seed with one number, and the last [`RECENT`] events in a form a
//! person can read, for the failure report.

use std::collections::VecDeque;
use std::fmt::{self, Write};

/// Events kept for the failure report.
pub const RECENT: usize = 50;
/// Bytes of a chunk shown in the failure report.
const PREVIEW: usize = 48;

/// Who an event concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The whole world (the heal, a reload).
    World,
    /// A node.
    Node(usize),
    /// A client, whatever its connection.
    Client(usize),
    /// One end of a route connection.
    Route {
        /// The route link.
        link: usize,
        /// This end's node.
        node: usize,
        /// The other end's node.
        peer: usize,
    },
    /// One connection.
    Conn {
        /// The oracle's connection id.
        conn: usize,
        /// Whose.
        client: usize,
        /// To which node.
        node: usize,
    },
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Who::World => f.write_str("world"),
            Who::Node(n) => write!(f, "node {n}"),
            Who::Client(c) => write!(f, "client {c}"),
            Who::Route { link, node, peer } => {
                write!(f, "route {link} (node {node} <- node {peer})")
            }
            Who::Conn { conn, client, node } => {
                write!(f, "conn {conn} (client {client} @ node {node})")
            }
        }
    }
}

/// One remembered event.
#[derive(Debug, Clone)]
struct Rec {
    at_ns: u64,
    what: &'static str,
    who: Who,
    len: usize,
    preview: [u8; PREVIEW],
    shown: usize,
}

/// FNV-1a, 64-bit: tiny, stable across platforms and Rust versions (unlike `DefaultHasher`,
/// whose algorithm is unspecified).
#[derive(Debug, Clone)]
pub struct Trace {
    h: u64,
    recent: VecDeque<Rec>,
}

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

impl Default for Trace {
    fn default() -> Trace {
        Trace {
            h: OFFSET,
            recent: VecDeque::with_capacity(RECENT + 1),
        }
    }
}

impl Trace {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.h ^= u64::from(b);
            self.h = self.h.wrapping_mul(PRIME);
        }
    }

    /// Records an event: when, what kind (a stable code for the hash, a name for people),
    /// about whom (`index` is hashed: the connection, client or node).
    pub fn event(&mut self, time_ns: u64, kind: u8, index: usize, what: &'static str, who: Who) {
        self.feed(&time_ns.to_le_bytes());
        self.feed(&[kind]);
        self.feed(&(index as u64).to_le_bytes());
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Rec {
            at_ns: time_ns,
            what,
            who,
            len: 0,
            preview: [0; PREVIEW],
            shown: 0,
        });
    }

    /// Records the bytes the last event carried (length first, so chunk boundaries count).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.feed(&(bytes.len() as u64).to_le_bytes());
        self.feed(bytes);
        if let Some(r) = self.recent.back_mut() {
            let n = bytes.len().min(PREVIEW);
            r.preview[..n].copy_from_slice(&bytes[..n]);
            r.len = bytes.len();
            r.shown = n;
        }
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.h
    }

    /// The last events, one per line, oldest first: world time in ms, event, who, and the
    /// start of the bytes it carried.
    pub fn recent(&self) -> String {
        let mut s = String::new();
        for r in &self.recent {
            let ms = r.at_ns as f64 / 1e6;
            let _ = write!(s, "  {ms:>14.6} ms  {:<10} {}", r.what, r.who);
            if r.len > 0 {
                let text = String::from_utf8_lossy(&r.preview[..r.shown]);
                let more = if r.len > r.shown { "…" } else { "" };
                let _ = write!(s, "  {} B {:?}{more}", r.len, text);
            }
            s.push('\n');
        }
        s
    }
}

//! What this server knows of its peers' load: the client count each one last published on
//! `$SYS.SERVER.<id>.STATSZ` (gossip, as Go servers track each other; Go peers' counts are
//! read the same way), with when it arrived. The rebalancer (`node/rebalance.rs`) compares
//! itself only with peers whose count is fresh.

use std::sync::Mutex;

use serde::Deserialize;

use crate::internal::{InternalHandler, InternalMsg};
use crate::shared::Shared;
use crate::{FastMap, Time};

/// The subject the listener subscribes to in the system account.
pub const STATSZ_ANY: &str = "$SYS.SERVER.*.STATSZ";

/// Most peers remembered (a cluster has a handful; the bound keeps a flood of forged ids
/// from growing the table).
pub const MAX_PEERS: usize = 1024;

/// One peer's last reported load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLoad {
    /// Its client connections.
    pub clients: u64,
    /// When we heard it (our time).
    pub at: Time,
}

/// Every peer's last reported load, by server id.
#[derive(Debug, Default)]
pub struct PeerLoads {
    inner: Mutex<FastMap<String, PeerLoad>>,
}

impl PeerLoads {
    fn lock(&self) -> std::sync::MutexGuard<'_, FastMap<String, PeerLoad>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `clients` for `id` at `at` (the oldest entry makes room when full).
    pub fn record(&self, id: &str, clients: u64, at: Time) {
        let mut m = self.lock();
        if !m.contains_key(id) && m.len() >= MAX_PEERS {
            if let Some(oldest) = m.iter().min_by_key(|(_, l)| l.at).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        m.insert(id.to_string(), PeerLoad { clients, at });
    }

    /// `id`'s last report, if any.
    pub fn get(&self, id: &str) -> Option<PeerLoad> {
        self.lock().get(id).copied()
    }
}

#[derive(Deserialize)]
struct Statsz {
    server: Id,
    statsz: Counts,
}

#[derive(Deserialize)]
struct Id {
    id: String,
}

#[derive(Deserialize)]
struct Counts {
    connections: u64,
}

/// The internal handler of [`STATSZ_ANY`]: records each peer's client count.
#[derive(Debug, Default)]
pub struct StatszListener;

impl InternalHandler for StatszListener {
    fn handle(&self, sh: &Shared, msg: &InternalMsg, now: Time) -> Option<InternalMsg> {
        // Anything else on the subject (a bad document, a request) is ignored.
        let s: Statsz = serde_json::from_slice(&msg.payload).ok()?;
        if s.server.id != sh.server_id() {
            sh.peer_loads
                .record(&s.server.id, s.statsz.connections, now);
        }
        None
    }
}

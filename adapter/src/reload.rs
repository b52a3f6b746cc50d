//! The server-wide half of a config reload, the same on every runtime; each runtime then gets
//! its connections to run `Connection::handle_config_change` its own way.

use natsd_core::options::Options;
use natsd_core::shared::Shared;

/// Swaps the reloadable options into `sh` (see `Shared::apply_reload`) and closes the newest
/// clients over a lowered `max_connections`, logging how many as Go does. Returns the new
/// options generation, which connections compare against to see the reload.
pub fn apply(sh: &Shared, new: &Options) -> u64 {
    let generation = sh.apply_reload(new);
    if new.cluster.is_some() {
        // The node compares the configured routes with what it dials.
        sh.to_node(natsd_core::node::NodeInput::Reloaded);
    }
    let closed = sh.close_over_max_connections();
    if closed > 0 {
        tracing::info!("Closed {closed} connections to fall within max_connections");
    }
    generation
}

//! The node's route policy: which servers to dial, when to dial them again, and when to
//! give up (Go 2.9's `connectToRoute`/`reConnectToRoute` rules, sans-IO).
//!
//! - Explicit routes (`cluster.routes`) are dialled at start and redialled forever, 1 s
//!   apart (Go's `DEFAULT_ROUTE_CONNECT`); after a drop, 1 s plus up to 100 ms of jitter.
//! - Implicit routes (servers a peer told us about, gossip) are dialled once plus
//!   `connect_retries` more times, and not redialled after a drop.
//! - A URL whose dial reached a server we already have a route to (a duplicate) is covered
//!   by that route: it is dialled again only when that route goes down.
//! - A URL that turned out to be this server is never dialled again.

use std::time::Duration;

use super::{Node, NodeAction};
use crate::conn::LogLevel;
use crate::errors::CloseReason;
use crate::options::RouteUrl;
use crate::Time;

/// Between two dials of one route (Go: `DEFAULT_ROUTE_CONNECT`, 1 s).
pub const ROUTE_CONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// Most jitter added before redialling a dropped route (Go: 100 ms), so two servers that
/// both lost their route do not redial in lock step.
pub const ROUTE_RECONNECT_JITTER: Duration = Duration::from_millis(100);

/// An input for the node from a connection or the runtime (queued through
/// [`crate::shared::Shared::to_node`], taken by [`Node::handle_inputs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeInput {
    /// A route finished its INFO exchange and is registered. `url` if we dialled it.
    RouteUp {
        /// The route connection's id.
        cid: u64,
        /// The peer's server id.
        remote_id: String,
        /// The URL we dialled, if we did.
        url: Option<RouteUrl>,
    },
    /// A route connection closed.
    RouteDown {
        /// The route connection's id.
        cid: u64,
        /// The peer's server id, if its INFO had arrived.
        remote_id: Option<String>,
        /// The URL we dialled, if we did.
        url: Option<RouteUrl>,
        /// Why it closed.
        reason: CloseReason,
    },
    /// A peer told us about another server (a forwarded INFO).
    Gossip {
        /// That server's id.
        server_id: String,
        /// Where to dial it.
        url: RouteUrl,
    },
    /// The options were reloaded (`Shared::apply_reload`): the configured routes may have
    /// changed.
    Reloaded,
    /// A one-off rebalance was asked for (`$SYS.REQ.SERVER.<id>.REBALANCE`).
    Rebalance,
    /// The runtime could not connect to `url` (a [`NodeAction::Dial`] failed).
    DialFailed {
        /// The URL.
        url: RouteUrl,
        /// The error, for the log.
        error: String,
    },
}

/// Where the node is with one route URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PeerState {
    /// A dial is out (the runtime owes a connection or a `DialFailed`).
    Dialing,
    /// Connected: a route on this URL, or another route to the same server, is up.
    Connected(String),
    /// Waiting to dial again at this time.
    Waiting(Time),
    /// The URL is this server.
    IsSelf,
}

/// One route URL the node dials.
#[derive(Debug, Clone)]
pub(super) struct Peer {
    url: RouteUrl,
    /// From `cluster.routes` (redialled forever), not learned by gossip.
    explicit: bool,
    /// The server id gossip named (implicit routes).
    server_id: Option<String>,
    state: PeerState,
    /// Failed dials in a row.
    failures: u32,
}

impl Node {
    /// Starts dialling the explicit routes of `cluster.routes` and arms the system
    /// account's timers (`sys.rs`). Called once, after the route listener is up.
    pub fn handle_start(&mut self, now: Time) {
        self.start_sys_timers(now);
        self.arm_rebalance(now);
        let Some(cluster) = self.sh.opts().cluster.clone() else {
            return;
        };
        for url in cluster.routes {
            self.dial_new(url, true, None);
        }
    }

    /// Takes the inputs queued by connections and the runtime (see
    /// [`crate::shared::Shared::to_node`]) and acts on them at `now`. The runtime calls it
    /// whenever the node's waker fires.
    pub fn handle_inputs(&mut self, now: Time) {
        for input in self.sh.take_node_inputs() {
            self.handle_input(now, input);
        }
    }

    fn handle_input(&mut self, now: Time, input: NodeInput) {
        match input {
            NodeInput::RouteUp { remote_id, url, .. } => {
                if let Some(p) = url.and_then(|u| self.peer_mut(&u)) {
                    p.state = PeerState::Connected(remote_id);
                    p.failures = 0;
                }
            }
            NodeInput::RouteDown {
                remote_id,
                url,
                reason,
                ..
            } => self.route_down(now, remote_id, url, reason),
            NodeInput::Gossip { server_id, url } => self.gossip(server_id, url),
            NodeInput::Reloaded => {
                self.routes_reloaded();
                self.arm_rebalance(now);
            }
            NodeInput::Rebalance => self.force_rebalance(now),
            NodeInput::DialFailed { url, error } => {
                let retries = self.connect_retries();
                let Some(p) = self.peer_mut(&url) else {
                    return;
                };
                p.failures = p.failures.saturating_add(1);
                let attempt = p.failures;
                let again = p.explicit || p.failures <= retries;
                if again {
                    p.state = PeerState::Waiting(now + ROUTE_CONNECT_INTERVAL);
                }
                // Go logs the first failure and then one in every 3600 (an hour at 1/s).
                if attempt == 1 || attempt % 3600 == 0 {
                    let msg =
                        format!("Error trying to connect to route (attempt {attempt}): {error}");
                    self.log(LogLevel::Error, &msg);
                }
                if !again {
                    self.peers.retain(|p| p.url != url);
                }
            }
        }
    }

    fn route_down(
        &mut self,
        now: Time,
        remote_id: Option<String>,
        url: Option<RouteUrl>,
        reason: CloseReason,
    ) {
        let own = self.sh.server_id().to_string();
        let jitter = self.jitter();
        let retries = self.connect_retries();
        let still_connected = remote_id
            .as_deref()
            .is_some_and(|id| self.sh.routes().contains(id));
        if let Some(url) = url {
            let Some(p) = self.peer_mut(&url) else {
                return;
            };
            match &remote_id {
                Some(id) if *id == own => p.state = PeerState::IsSelf,
                // Our dial reached a server we already have a route to: that route covers it.
                Some(id) if reason == CloseReason::DuplicateRoute && still_connected => {
                    p.state = PeerState::Connected(id.clone());
                }
                _ if p.explicit => {
                    p.state = PeerState::Waiting(now + ROUTE_CONNECT_INTERVAL + jitter);
                }
                _ => {
                    p.failures = p.failures.saturating_add(1);
                    if p.failures <= retries {
                        p.state = PeerState::Waiting(now + ROUTE_CONNECT_INTERVAL + jitter);
                    } else {
                        self.peers.retain(|p| p.url != url);
                    }
                }
            }
            return;
        }
        // An accepted route went down: URLs it covered are ours to redial again, implicit
        // ones too. One covered by it had our dial closed as its duplicate, and the peer
        // may have closed this route as the duplicate of that dial (each side registered
        // the other's connection first): Go marks such a route `retry` and redials it, so
        // the two servers are not left without any route.
        let Some(id) = remote_id else { return };
        if still_connected {
            return;
        }
        for p in &mut self.peers {
            if p.state == PeerState::Connected(id.clone()) {
                let wait = if p.explicit {
                    ROUTE_CONNECT_INTERVAL + jitter
                } else {
                    jitter
                };
                p.state = PeerState::Waiting(now + wait);
            }
        }
    }

    /// Routes added to the config are dialled; routes removed are forgotten and their
    /// route closed (`Route Removed`), as Go's reload does.
    fn routes_reloaded(&mut self) {
        let wanted = self
            .sh
            .opts()
            .cluster
            .as_ref()
            .map(|c| c.routes.clone())
            .unwrap_or_default();
        let mut removed = Vec::new();
        self.peers.retain(|p| {
            let keep = !p.explicit || wanted.contains(&p.url);
            if !keep {
                removed.push(p.clone());
            }
            keep
        });
        for p in removed {
            let covering = match &p.state {
                PeerState::Connected(id) => Some(id.clone()),
                _ => None,
            };
            for r in self.sh.routes().list() {
                if r.url.as_ref() == Some(&p.url) || covering.as_deref() == Some(&r.remote_id) {
                    r.handle.close_after_flush(CloseReason::RouteRemoved);
                }
            }
            self.log(LogLevel::Info, &format!("Removed route {}", p.url.url));
        }
        for url in wanted {
            if !self.peers.iter().any(|p| p.url == url) {
                self.dial_new(url, true, None);
            }
        }
    }

    fn gossip(&mut self, server_id: String, url: RouteUrl) {
        if server_id == self.sh.server_id() || self.sh.routes().contains(&server_id) {
            return;
        }
        let same_url =
            |p: &Peer| p.url.host.eq_ignore_ascii_case(&url.host) && p.url.port == url.port;
        // A URL known only through a route that is gone (that server restarted with a new
        // id, and its route had covered our own dial as a duplicate) is dialled again: Go
        // dials every server gossip names that it has no route to.
        let routes = self.sh.routes();
        let stale = |p: &Peer| matches!(&p.state, PeerState::Connected(id) if !routes.contains(id));
        if let Some(p) = self.peers.iter_mut().find(|p| same_url(p) && stale(p)) {
            p.server_id = Some(server_id);
            p.state = PeerState::Dialing;
            p.failures = 0;
            self.actions.push_back(NodeAction::Dial(url));
            return;
        }
        let known = self.peers.iter().any(|p| {
            p.server_id.as_deref() == Some(&server_id)
                || same_url(p)
                || matches!(&p.state, PeerState::Connected(id) if *id == server_id)
        });
        if known {
            return;
        }
        self.dial_new(url, false, Some(server_id));
    }

    /// Dials the peers whose wait is over.
    pub(super) fn route_timers(&mut self, now: Time) {
        for p in &mut self.peers {
            if matches!(p.state, PeerState::Waiting(t) if t <= now) {
                p.state = PeerState::Dialing;
                self.actions.push_back(NodeAction::Dial(p.url.clone()));
            }
        }
    }

    /// The earliest redial.
    pub(super) fn next_route_timer(&self) -> Option<Time> {
        self.peers
            .iter()
            .filter_map(|p| match p.state {
                PeerState::Waiting(t) => Some(t),
                _ => None,
            })
            .min()
    }

    /// A URL not known yet: remember it and dial it.
    fn dial_new(&mut self, url: RouteUrl, explicit: bool, server_id: Option<String>) {
        self.peers.push(Peer {
            url: url.clone(),
            explicit,
            server_id,
            state: PeerState::Dialing,
            failures: 0,
        });
        self.actions.push_back(NodeAction::Dial(url));
    }

    fn peer_mut(&mut self, url: &RouteUrl) -> Option<&mut Peer> {
        self.peers.iter_mut().find(|p| p.url == *url)
    }

    fn connect_retries(&self) -> u32 {
        self.sh
            .opts()
            .cluster
            .as_ref()
            .map_or(0, |c| c.connect_retries)
    }

    fn jitter(&mut self) -> Duration {
        let max = u64::try_from(ROUTE_RECONNECT_JITTER.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.below(max))
    }
}

//! The route kind of connection: a peer server of the cluster (Go's route protocol).
//!
//! Same transport as a client (parser, keep-alive, outbound queue, batch); what differs:
//! - Handshake: the dialer sends CONNECT then its INFO, the acceptor its INFO; each side,
//!   on the peer's first INFO, checks it (not ourselves, same cluster, no duplicate
//!   server name), registers the route ([`crate::route::RouteTable`]: the first route to a
//!   server wins, a later one closes as a duplicate), sends every account's local interest
//!   (`RS+`), and forwards the peer's INFO to the other routes (gossip).
//! - Interest: `RS+`/`RS-` become or stop being subscriptions of kind
//!   [`Dest::Route`](crate::client::Dest::Route) in the named account.
//! - Messages: `RMSG`/`HMSG` go to local subscribers only (one hop: never to another
//!   route); queue groups only if named in the message's queue list, one local member each.
//! - Closing removes the peer's interest and tells the node (which may redial).

use std::sync::Arc;

use super::{LogLevel, State};
use crate::account::Account;
use crate::client::{Delivery, Subscription};
use crate::errors::CloseReason;
use crate::node::NodeInput;
use crate::options::{Options, RouteUrl};
use crate::proto::encode;
use crate::route::info::{self, RouteConnect, RouteInfo};
use crate::route::{RegisterRouteError, Registered};
use crate::shared::Shared;
use crate::{FastMap, Time};

/// The route protocol level we announce (2: accounts in every `RS±`/`RMSG`).
pub const ROUTE_PROTO: i64 = 2;

/// A peer's interest: its account and the subscription standing for it.
pub(super) type RemoteSub = (Arc<Account>, Arc<Subscription>);

/// A route's own state, beside the shared transport state.
#[derive(Debug)]
pub(super) struct RouteState {
    /// The URL we dialled; `None` for a route we accepted.
    pub url: Option<RouteUrl>,
    /// The peer's first INFO, once it arrived.
    pub remote: Option<RouteInfo>,
    /// Registered in the route table (so unregistered on close).
    pub registered: bool,
    /// The peer's interest: `account subject [queue]` → its account and subscription.
    pub subs: FastMap<Box<[u8]>, RemoteSub>,
}

/// Our route INFO, as in force (`cfg`).
pub fn our_info(sh: &Shared, cfg: &Options) -> RouteInfo {
    let c = cfg.cluster.clone().unwrap_or_default();
    let (host, port, ip) = match c
        .advertise
        .as_deref()
        .and_then(crate::config::typed::split_host_port)
    {
        Some((h, p)) => (
            h.to_string(),
            p.parse().unwrap_or(c.port),
            format!(
                "nats-route://{}/",
                c.advertise.as_deref().unwrap_or_default()
            ),
        ),
        None => (c.host.clone(), c.port, String::new()),
    };
    // Our client URLs for the peers' clients; a listener on every interface lists each
    // non-loopback address the runtime found (Go does the same).
    let connect_urls = if c.no_advertise {
        Vec::new()
    } else {
        crate::info::own_client_urls(sh, cfg)
    };
    RouteInfo {
        server_id: sh.server_id().to_string(),
        server_name: sh.server_name(),
        version: crate::VERSION.to_string(),
        proto: ROUTE_PROTO,
        go: crate::info::IMPLEMENTATION.to_string(),
        host,
        port,
        headers: !cfg.no_header_support,
        auth_required: c.user.is_some(),
        max_payload: i64::try_from(cfg.max_payload).unwrap_or(i64::MAX),
        ip,
        cluster: c.name.clone().unwrap_or_default(),
        cluster_dynamic: c.name_dynamic,
        connect_urls,
        ..RouteInfo::default()
    }
}

impl State {
    /// The first bytes of a route: the dialer's CONNECT then INFO, the acceptor's INFO.
    pub(super) fn start_route(&mut self, sh: &Shared) {
        let cfg = Arc::clone(&self.cfg);
        let ours = our_info(sh, &cfg);
        if let Some(url) = self.route.as_ref().and_then(|r| r.url.clone()) {
            let connect = RouteConnect {
                echo: true,
                user: url.user.clone(),
                pass: url.pass.clone(),
                headers: ours.headers,
                name: ours.server_id.clone(),
                cluster: ours.cluster.clone(),
                cluster_dynamic: ours.cluster_dynamic,
                ..RouteConnect::default()
            };
            self.send(&info::connect_line(&connect));
        }
        self.send(&info::info_line(&ours, false));
    }

    /// An op on a route connection (out of line: the client path stays as it was).
    #[inline(never)]
    pub(super) fn process_route_op(&mut self, op: crate::proto::Op<'_>, now: Time, sh: &Shared) {
        use crate::proto::Op;
        match op {
            Op::Info(json) => self.route_info(json, now, sh),
            Op::Connect(json) => self.route_connect(json, now, sh),
            Op::RSub {
                account,
                subject,
                queue,
                ..
            } => self.remote_sub(account, subject, queue, sh),
            Op::RUnsub {
                account,
                subject,
                queue,
                ..
            } => self.remote_unsub(account, subject, queue),
            Op::RMsg {
                account,
                subject,
                reply,
                queues,
                header_len,
                payload,
                has_headers,
            } => {
                let d = Delivery {
                    subject,
                    reply,
                    header_len,
                    payload,
                    has_headers,
                };
                self.routed_msg(account, &d, queues, now, sh);
            }
            Op::Ping => {
                self.trace_out("PONG");
                self.send(encode::PONG);
                self.keepalive.ping_received(now);
            }
            Op::Pong => {
                if let Some(rtt) = self.keepalive.pong_received(now) {
                    self.handle.set_rtt(rtt);
                }
            }
            Op::Ok => {}
            Op::Err(e) => {
                // Go closes a route on any -ERR from the peer.
                let msg = format!("Route Error {}", String::from_utf8_lossy(e));
                self.log(LogLevel::Error, msg);
                self.close(CloseReason::ParseError, now, sh);
            }
            // The route parser refuses client verbs at their first byte.
            Op::Pub { .. }
            | Op::HPub { .. }
            | Op::Sub { .. }
            | Op::SubMax { .. }
            | Op::Unsub { .. } => self.parse_error(crate::proto::ParseError::UnknownOp, now, sh),
            Op::Msg { .. } | Op::HMsg { .. } => {
                self.parse_error(crate::proto::ParseError::UnknownOp, now, sh)
            }
        }
    }

    /// The dialer's CONNECT (acceptor side): wrong port or cluster, credentials.
    fn route_connect(&mut self, json: &[u8], now: Time, sh: &Shared) {
        let c: RouteConnect = match serde_json::from_slice(json) {
            Ok(c) => c,
            Err(e) => {
                self.log(
                    LogLevel::Error,
                    format!("Error processing route CONNECT: {e}"),
                );
                self.close(CloseReason::ProtocolViolation, now, sh);
                return;
            }
        };
        if c.lang.is_some() {
            self.log(
                LogLevel::Error,
                "attempted to connect to route port".to_string(),
            );
            self.send_err("attempted to connect to route port");
            self.close(CloseReason::WrongPort, now, sh);
            return;
        }
        if let Some(g) = &c.gateway {
            let msg = format!("Rejecting connection from gateway {g:?} on the Route port");
            self.log(LogLevel::Error, msg.clone());
            self.send_err(&msg);
            self.close(CloseReason::WrongPort, now, sh);
            return;
        }
        let ours = self.cfg.cluster.clone().unwrap_or_default();
        let name = ours.name.clone().unwrap_or_default();
        if c.cluster != name {
            let msg = format!(
                "Rejecting connection, cluster name {:?} does not match {:?}",
                c.cluster, name
            );
            self.log(LogLevel::Error, msg.clone());
            self.send_err(&msg);
            self.close(CloseReason::ClusterNameConflict, now, sh);
            return;
        }
        if let Some(user) = &ours.user {
            let ok = c.user.as_deref() == Some(user.as_str())
                && match (&ours.password, &c.pass) {
                    (Some(stored), Some(given)) => crate::auth::check_password(stored, given),
                    (None, _) => true,
                    (Some(_), None) => false,
                };
            if !ok {
                self.auth_violation(now, sh);
                return;
            }
        }
        self.connect_received = true;
        let cfg = Arc::clone(&self.cfg);
        let _ = self.keepalive.connected(now, &cfg, &mut self.rng);
    }

    /// A peer's INFO: the first one completes the handshake; later ones are gossip (another
    /// server's INFO, forwarded) or updates of the peer itself.
    fn route_info(&mut self, json: &[u8], now: Time, sh: &Shared) {
        let info: RouteInfo = match serde_json::from_slice(json) {
            Ok(i) => i,
            Err(e) => {
                self.log(LogLevel::Error, format!("Error processing route INFO: {e}"));
                self.close(CloseReason::ProtocolViolation, now, sh);
                return;
            }
        };
        let route = self.route.as_mut().expect("route ops only on routes");
        if let Some(remote) = &route.remote {
            if info.server_id != remote.server_id && !info.server_id.is_empty() {
                let target = if info.ip.is_empty() {
                    format!(
                        "nats-route://{}/",
                        crate::options::join_host_port(&info.host, info.port)
                    )
                } else {
                    info.ip.clone()
                };
                match RouteUrl::parse(&target) {
                    Ok(url) => sh.to_node(NodeInput::Gossip {
                        server_id: info.server_id,
                        url,
                    }),
                    Err(e) => self.log(LogLevel::Debug, format!("Ignoring gossip: {e}")),
                }
            }
            // An update of the peer itself: in lame duck mode its clients' URLs stop being
            // advertised (Go tells our clients at once). Permission updates: not yet.
            if info.ldm && sh.routes().forget_connect_urls(self.cid) {
                sh.send_async_info();
            }
            return;
        }
        let solicited = route.url.is_some();
        let route_url = route.url.clone();
        if info.server_id == sh.server_id() {
            self.log(
                LogLevel::Debug,
                "Detected route to self, ignoring".to_string(),
            );
            self.route.as_mut().expect("route").remote = Some(info);
            self.close(CloseReason::DuplicateRoute, now, sh);
            return;
        }
        let ours = self.cfg.cluster.clone().unwrap_or_default();
        let name = ours.name.clone().unwrap_or_default();
        if info.cluster != name {
            self.log(
                LogLevel::Error,
                format!(
                    "Rejecting route: cluster name {:?} does not match {:?}",
                    info.cluster, name
                ),
            );
            self.close(CloseReason::ClusterNameConflict, now, sh);
            return;
        }
        if !solicited && info.server_name == sh.server_name() {
            self.log(
                LogLevel::Error,
                format!("Remote server has a duplicate name: {:?}", info.server_name),
            );
            self.close(CloseReason::DuplicateServerName, now, sh);
            return;
        }
        let headers = info.headers && !self.cfg.no_header_support;
        self.handle.configure(headers, None);
        // Configured: we dialled one of our routes, or the peer is at one of them (Go
        // marks an accepted route from a configured peer so too).
        let peer_ip = self.addr.map(|a| a.ip().to_string());
        let configured = ours.routes.iter().any(|r| {
            route_url.as_ref() == Some(r)
                || (r.port == info.port
                    && (r.host == info.host || Some(&r.host) == peer_ip.as_ref()))
        });
        let reg = Registered {
            cid: self.cid,
            remote_id: info.server_id.clone(),
            remote_name: info.server_name.clone(),
            handle: Arc::clone(&self.handle),
            info: info.clone(),
            addr: self.addr,
            solicited,
            url: route_url.clone(),
            configured,
            start: self.start,
        };
        let remote_id = info.server_id.clone();
        let mut forwarded = info.clone();
        self.route.as_mut().expect("route").remote = Some(info);
        let others = match sh.routes().register(reg) {
            Ok(others) => others,
            Err(RegisterRouteError::Duplicate) => {
                self.log(
                    LogLevel::Debug,
                    format!("Detected duplicate remote route {remote_id:?}"),
                );
                self.close(CloseReason::DuplicateRoute, now, sh);
                return;
            }
        };
        let route = self.route.as_mut().expect("route");
        route.registered = true;
        let url = route.url.clone();
        self.log(
            LogLevel::Debug,
            format!("Registering remote route {remote_id:?}"),
        );
        // The initial sync: every account's local interest.
        for acc in sh.accounts() {
            acc.send_interest_to(&self.handle);
        }
        // Gossip: tell the routes we had about the newcomer, with where to dial it.
        if !others.is_empty() {
            if forwarded.ip.is_empty() {
                let host = self
                    .addr
                    .map(|a| a.ip().to_string())
                    .unwrap_or(forwarded.host.clone());
                forwarded.ip = format!(
                    "nats-route://{}/",
                    crate::options::join_host_port(&host, forwarded.port)
                );
            }
            let line = info::info_line(&forwarded, true);
            for h in others {
                if let crate::client::Delivered::Queued { wake: true } = h.send(&line) {
                    h.wake();
                }
            }
        }
        if !forwarded.connect_urls.is_empty() {
            sh.send_async_info();
        }
        sh.to_node(NodeInput::RouteUp {
            cid: self.cid,
            remote_id,
            url,
        });
    }

    /// The account a route names, cached for the common case of one account.
    fn route_account(&mut self, name: &[u8], sh: &Shared) -> Option<Arc<Account>> {
        if self.account.name.as_bytes() == name {
            return Some(Arc::clone(&self.account));
        }
        let name = std::str::from_utf8(name).ok()?;
        let configured = |n: &str| {
            let users = &self.cfg.auth.users;
            users.iter().any(|u| u.account.as_deref() == Some(n))
        };
        // An account the configuration names exists for routes too, even before its first
        // client here (Go creates configured accounts at start; ours appear on first use).
        let acc = match sh.account(name) {
            Some(a) => a,
            None if configured(name) => sh.account_or_create(name),
            None => return None,
        };
        // Stats so far belong to the account they were counted in.
        self.flush_stats(sh);
        self.account = Arc::clone(&acc);
        self.l1.clear();
        self.l1_last = None;
        Some(acc)
    }

    /// `RS+`: the peer has interest (a queue member count for a queue subscription).
    fn remote_sub(
        &mut self,
        account: &[u8],
        subject: &[u8],
        queue: Option<(&[u8], u32)>,
        sh: &Shared,
    ) {
        let Some(acc) = self.route_account(account, sh) else {
            // Go: logged, ignored, and the route stays up.
            let msg = format!(
                "Unknown account {:?} for remote subject {:?}",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(subject)
            );
            self.log(LogLevel::Error, msg);
            return;
        };
        let key = remote_key(account, subject, queue.map(|(q, _)| q));
        let route = self.route.as_mut().expect("route ops only on routes");
        if let Some((_, sub)) = route.subs.get(&key[..]) {
            if let Some((_, w)) = queue {
                sub.set_weight(w);
            }
            return;
        }
        let sub = Arc::new(Subscription::remote(
            subject,
            queue.map(|(q, _)| q),
            queue.map_or(1, |(_, w)| w),
            Arc::clone(&self.handle),
        ));
        if acc.insert(Arc::clone(&sub)).is_err() {
            sub.close();
            let msg = format!(
                "Invalid remote subject {:?}",
                String::from_utf8_lossy(subject)
            );
            self.log(LogLevel::Debug, msg);
            return;
        }
        route.subs.insert(key, (acc, sub));
    }

    /// `RS-`: the peer's interest ended (unknown keys are ignored, as Go).
    fn remote_unsub(&mut self, account: &[u8], subject: &[u8], queue: Option<&[u8]>) {
        let key = remote_key(account, subject, queue);
        let route = self.route.as_mut().expect("route ops only on routes");
        if let Some((acc, sub)) = route.subs.remove(&key[..]) {
            acc.remove([&sub]);
        }
    }

    /// `RMSG`/`HMSG`: to local subscribers only; queue groups only if named in `queues`.
    fn routed_msg(
        &mut self,
        account: &[u8],
        d: &Delivery<'_>,
        queues: Option<&[u8]>,
        now: Time,
        sh: &Shared,
    ) {
        self.batch.in_msgs += 1;
        self.batch.in_bytes += d.payload.len() as u64;
        let Some(acc) = self.route_account(account, sh) else {
            let msg = format!(
                "Unknown account {:?} for routed message on subject {:?}",
                String::from_utf8_lossy(account),
                String::from_utf8_lossy(d.subject)
            );
            self.log(LogLevel::Debug, msg);
            return;
        };
        // `route_account` made `acc` this connection's current account: its L1 cache
        // applies (a route usually carries one subject after another, as a publisher does).
        debug_assert!(Arc::ptr_eq(&acc, &self.account));
        let r = self.lookup(d.subject);
        for sub in &r.psubs {
            if !sub.is_remote() {
                self.deliver_one(sub, d, now);
            }
        }
        let Some(queues) = queues else { return };
        for group in &r.qsubs {
            let Some(name) = group.first().and_then(|s| s.queue.as_deref()) else {
                continue;
            };
            if !queues.split(|&b| b == b' ').any(|q| q == name) {
                continue;
            }
            // One local member, drawn at random (routes' members are never a second hop);
            // no list is built: this runs for every routed queue message.
            let n = group.iter().filter(|s| !s.is_remote()).count();
            if n == 0 {
                continue;
            }
            let start = self.rng.below(n as u64) as usize;
            let local = group.iter().filter(|s| !s.is_remote()).cycle().skip(start);
            for sub in local.take(n) {
                if self.deliver_one(sub, d, now) {
                    break;
                }
            }
        }
    }

    /// A route closes: its interest leaves every account, it leaves the route table, and
    /// the node hears of it (it may redial).
    pub(super) fn close_route(&mut self, reason: CloseReason, sh: &Shared) {
        let Some(route) = self.route.as_mut() else {
            return;
        };
        let mut by_account: Vec<(Arc<Account>, Vec<Arc<Subscription>>)> = Vec::new();
        for (_, (acc, sub)) in route.subs.drain() {
            match by_account.iter_mut().find(|(a, _)| Arc::ptr_eq(a, &acc)) {
                Some((_, subs)) => subs.push(sub),
                None => by_account.push((acc, vec![sub])),
            }
        }
        for (acc, subs) in &by_account {
            acc.remove(subs.iter());
        }
        if route.registered {
            let had_urls = route
                .remote
                .as_ref()
                .is_some_and(|r| !r.connect_urls.is_empty());
            sh.routes().unregister(self.cid);
            if had_urls {
                sh.send_async_info();
            }
        }
        let remote_id = route.remote.as_ref().map(|r| r.server_id.clone());
        let url = route.url.clone();
        sh.to_node(NodeInput::RouteDown {
            cid: self.cid,
            remote_id,
            url,
            reason,
        });
    }
}

/// The key Go files a route's interest under: `account subject [queue]` (an `RS-` must
/// match it byte for byte).
fn remote_key(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Box<[u8]> {
    let mut k =
        Vec::with_capacity(account.len() + subject.len() + 2 + queue.map_or(0, <[u8]>::len));
    k.extend_from_slice(account);
    k.push(b' ');
    k.extend_from_slice(subject);
    if let Some(q) = queue {
        k.push(b' ');
        k.extend_from_slice(q);
    }
    k.into()
}

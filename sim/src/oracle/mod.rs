//! The oracles: a naive model of each server node that says what every connection must
//! receive.
//!
//! The model is driven at *server-processing time*: the world parses each connection's
//! server-bound bytes with a second parser, chunk by chunk, exactly as they are handed to
//! `Connection::handle_read`, and calls [`Oracle::on_server_op`] for each op. One chunk is
//! processed by one connection without interleaving, so the model sees ops in the same
//! order as the node does, and at each PUB it computes the exact deliveries owed from its
//! own linear list of live subscriptions (the naive matcher).
//!
//! # The per-node rule
//!
//! Outside the `cluster` variant nodes are not connected to each other: **each node is its
//! own namespace**. The model keeps one subscription table per node ([`NodeModel`]); a PUB
//! processed by node N is matched only against subscriptions of connections to N, and a
//! delivery of a message published on another node is a [`ViolationKind::CrossNode`]
//! violation. A crashed node's table dies with it (every connection to it is closed). In a
//! cluster a message also crosses routes, one hop, and is then owed on the node that took
//! it as if published there (see `cluster.rs`: the cluster rule).
//!
//! # The per-account rule
//!
//! Within a node, each account is its own namespace too: a connection is bound to its
//! user's account when its CONNECT is processed (`$G` without auth or when the user names
//! none), and a PUB is matched only against subscriptions of connections in the
//! publisher's account on the same node ([`ConnSpec::account`]). Completeness uses the
//! same rule (nothing published in another account is owed), and a delivery of a message
//! published in another account is a [`ViolationKind::CrossAccount`] violation, with one
//! exception: **stream imports** ([`ImportModel`], configured the same on every node). A
//! message published in account X on subject s, processed by a node (its publisher's, or
//! one a route took it to), is also owed on that node, exactly as a local publish of
//! `prefix.s` in Y would be, to Y's subscriptions matching `prefix.s`, for the import of Y
//! from X whose subject matches s (import subjects are disjoint: at most one; one member of
//! each of Y's queue groups per node). It is allowed in Y only so renamed, and only then.
//!
//! # What is owed, across moves and faults
//!
//! The unit of account is the *connection* ([`ConnId`]: one socket of one client to one
//! node), not the client. A client that moves, is reset or reconnects after a crash gets a
//! new connection, and re-subscribes there: new subscriptions, owed only what its new node
//! processes after each new SUB. Precisely, a delivery of message M to subscription S of
//! connection C is
//! - *allowed* iff M was processed by C's node while S was live there (its SUB processed
//!   before M's PUB, no UNSUB or reached limit before), C is in the account of M's
//!   publisher, M's subject matches S, echo and
//!   permissions allow it (and at most one member per queue group gets M);
//! - *owed* (must arrive) iff, in addition, C is never closed by either side: a connection
//!   that is closed (by the client, by the server, by a reset or a crash) is *excused*, and
//!   whatever was owed to it and did not arrive before the close is forgiven. Deliveries to
//!   the old connection after the client closed it are never looked at (nothing reads it).
//!
//! So a fault loses nothing silently: each fault that can lose bytes closes the connection
//! that would have carried them. The liveness phase (no faults) then requires every
//! connection that is still open to get everything it is owed.
//!
//! Checks, as deliveries arrive (`on_delivery`, in `deliver.rs`) and at the end
//! ([`Oracle::finish`]):
//! 1. every MSG is for a sid that was live at publish time on the same node, in the
//!    publisher's account, and whose pattern matches, and every owed delivery arrives (completeness);
//! 2. per-publishing-connection sequence numbers increase on each sid;
//! 3. no message arrives twice on one sid;
//! 4. one member per queue group per message (exactly one when no candidate was closed);
//! 5. a sid with `UNSUB sid N` never gets more than N messages; a subscription born with
//!    its limit (`MSUB subject [queue] sid N`) never more than N ([`ViolationKind::MsubMax`],
//!    whoever publishes, over routes too), and, if plain and its connection never closed,
//!    exactly what it was owed: N as soon as N matching messages were processed after it;
//! 6. `echo:false` connections never get their own messages;
//! 7. PING is a flush barrier: the PONG a connection gets comes after every plain delivery
//!    owed to it when the server processed that PING, and every PING gets its PONG;
//! 8. replies in order: `+OK` for each op when verbose, the `-ERR`s the model predicts
//!    (permissions, pedantic subjects, `max_subscriptions`, `max_payload`), nothing else;
//! 9. permissions: no delivery the subscriber's deny list filters, no message from a
//!    publish the publisher may not make;
//! 10. `no_responders`: a 503 status exactly when a request reached nobody;
//! 11. subject mappings: a client's publish is, for all of the above, a publish on the
//!     subject its account's mappings make of it; through a weighted mapping, every
//!     delivery agrees on one destination, the destination the evidence leaves got it to
//!     every witness, and each mapping's split is within binomial bounds (`mapping.rs`).

mod cluster;
mod deliver;
mod mapping;
mod perms;
mod publish;
mod replies;
mod service;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::sync::Arc;

pub use mapping::{binomial_tails, MapTo, MappingModel, RuleModel, SPLIT_ALPHA};
pub use perms::PermModel;
pub use service::ServiceModel;

/// A client index in the world (0-based).
pub type ClientId = usize;
/// A connection: one socket of one client to one node, numbered in the order they open.
pub type ConnId = usize;
/// A node index in the world (0-based).
pub type NodeId = usize;
/// (connection, sid): a subscription.
pub type SubKey = (ConnId, u64);
/// (publisher client, sequence): a message.
pub type MsgId = (ClientId, u64);

/// Which rule a run broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// A delivery the model does not owe: unknown sid, sid not live, or pattern mismatch.
    Unexpected,
    /// A delivery whose pattern does not match its subject under the naive matcher.
    NoMatch,
    /// A message published on one node delivered to a connection of another.
    CrossNode,
    /// A message published in one account delivered to a connection of another account.
    CrossAccount,
    /// A routed message taken from a route to a node it was not published on (the
    /// one-hop rule).
    Hop,
    /// The same message twice on one sid.
    Duplicate,
    /// A publisher's sequence numbers went backwards on a sid.
    OutOfOrder,
    /// Two members of one queue group got the same message.
    QueueTwice,
    /// No member of a queue group got a message although all candidates stayed connected.
    QueueMissing,
    /// More deliveries on a sid than its auto-unsubscribe limit (`UNSUB sid max`).
    OverMax,
    /// More deliveries on a subscription born with its limit (`MSUB`) than that limit,
    /// or (liveness) fewer than the limit although at least that many were owed.
    MsubMax,
    /// An `echo:false` connection got its own message.
    Echo,
    /// A delivery the subscriber's permissions forbid, or a message whose publish was not
    /// permitted.
    Permission,
    /// A PONG overtook a delivery queued before its PING, or never came.
    Flush,
    /// An owed delivery never arrived (liveness).
    Missing,
    /// Bytes stayed queued for a live client: a lost wake-up (liveness).
    Stuck,
    /// The run did not settle within its event budget, or a client never got back online
    /// (liveness).
    NoLiveness,
    /// The server sent an unexpected `-ERR` or `+OK`, closed a well-behaved client, or
    /// refused its input.
    ServerError,
    /// Lame duck mode broke its pacing or left clients behind.
    LameDuck,
    /// A delivery whose subject, reply, payload or framing differs from what was published.
    Corrupt,
    /// A message delivered (or routed) under another subject than the one its publisher's
    /// account maps its publish to (the publish subject itself when no mapping applies);
    /// through a weighted mapping, under none of its destinations, or under two.
    Mapping,
    /// A weighted mapping's destinations got shares of its messages outside the binomial
    /// bounds of their weights.
    Split,
    /// `rate` variant: a publisher's delivered rate broke its limit's bounds (or a reload
    /// did not take effect in time).
    Rate,
    /// `rate` variant: a drop not counted, counted but delivered, or in a mode that never
    /// drops.
    Dropped,
    /// `rate` variant: the calm tenant was slowed by the flooder.
    Starved,
    /// `rebalance` variant: a rebalancing rule broke (the eviction cap, convergence, a
    /// client moved twice or evicted within the cool-down, ping-pong); the detail names it.
    Rebalance,
    /// `auth` variant: an asynchronous auth decision rule broke; the detail starts with the
    /// oracle's name (`served`, `close`, `in-flight`, `liveness`, `decision`).
    Auth,
}

/// A broken rule, with enough detail to start debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// What happened, in words.
    pub detail: String,
}

impl Violation {
    /// A violation of `kind` described by `detail`.
    pub fn new(kind: ViolationKind, detail: impl Into<String>) -> Violation {
        Violation {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.detail)
    }
}

/// What the oracle needs to know of a connection: where it is and what its CONNECT asked.
#[derive(Debug, Clone)]
pub struct ConnSpec {
    /// Whose connection.
    pub client: ClientId,
    /// To which node.
    pub node: NodeId,
    /// CONNECT `echo`.
    pub echo: bool,
    /// CONNECT `verbose`.
    pub verbose: bool,
    /// CONNECT `pedantic`.
    pub pedantic: bool,
    /// Headers in effect (asked for, and supported by the server).
    pub headers: bool,
    /// CONNECT `no_responders`.
    pub no_responders: bool,
    /// Its user's permissions, when restricted.
    pub perms: Option<Arc<PermModel>>,
    /// The server's `max_subscriptions` (0: none).
    pub max_subs: usize,
    /// The account its user is bound to (`None`: `$G`): it sees only messages published
    /// in this account.
    pub account: Option<&'static str>,
}

impl ConnSpec {
    /// A connection with only `echo` chosen: headers on, everything else off.
    pub fn plain(client: ClientId, node: NodeId, echo: bool) -> ConnSpec {
        ConnSpec {
            client,
            node,
            echo,
            verbose: false,
            pedantic: false,
            headers: true,
            no_responders: false,
            perms: None,
            max_subs: 0,
            account: None,
        }
    }
}

/// Something the server owes a connection in answer to an op, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    /// `+OK` (verbose).
    Ok,
    /// `-ERR '<text>'`.
    Err(String),
    /// `PONG`, after every plain delivery still pending when the PING was processed.
    Pong(Vec<(SubKey, MsgId)>),
    /// The reply to a publish through a weighted mapping when its destinations' replies
    /// differ: `options[i]` is destination i's (`None`: no reply, a permitted publish
    /// without `verbose`). Which one comes is evidence of the draw.
    Drawn {
        id: MsgId,
        options: Vec<Option<Reply>>,
    },
}

/// The model's view of one connection.
#[derive(Debug)]
struct ConnModel {
    spec: ConnSpec,
    /// Closed at some point (by either side): nothing owed to it must arrive any more.
    excused: bool,
    /// The server closed it (or lost it): it takes no more deliveries.
    server_closed: bool,
    /// Replies owed, oldest first.
    replies: VecDeque<Reply>,
    /// How the replies that came match `replies` (see `replies.rs`).
    hyps: Vec<replies::Hyp>,
    /// `-ERR` texts the server may send on its own (a validated stale close, a
    /// de-authorisation), each at most once.
    unsolicited: Vec<String>,
}

/// A subscription as the model believes its node holds it.
#[derive(Debug, Clone)]
struct ModelSub {
    pattern: Vec<u8>,
    queue: Option<Vec<u8>>,
    live: bool,
    /// Auto-unsubscribe limit, once `UNSUB sid N` was processed (or from birth, `MSUB`).
    max: Option<u64>,
    /// Born with its limit (`MSUB`): the strict rule, never more than `max`, and exactly
    /// `max` once that many were owed.
    msub: bool,
    /// Deliveries the model owes this sid so far (the server's `delivered` counter).
    owed: u64,
    /// Deliveries it may or may not have had on top (messages through a weighted mapping,
    /// or while its limit may have been used up by those): with a limit, it is surely live
    /// only while `owed + maybe` is under it.
    maybe: u64,
    /// Queue messages this member was a candidate for: an upper bound on what the server
    /// gave it (the model cannot know which member the server's random choice picked).
    candidacies: u64,
}

impl ModelSub {
    /// Live, and its limit (if any) surely not reached.
    fn surely_live(&self) -> bool {
        self.live && self.max.is_none_or(|m| self.owed + self.maybe < m)
    }
}

/// A stream import as the model knows it: what `exporter` publishes on a subject matching
/// `subject` also reaches `importer`'s subscribers as `prefix.<subject>`, on each node
/// that processes the message (the publisher's, and every node a route takes it to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportModel {
    /// The account messages come from (`None`: `$G`).
    pub exporter: Option<&'static str>,
    /// The account they reach.
    pub importer: Option<&'static str>,
    /// The imported subject (a pattern).
    pub subject: Vec<u8>,
    /// The importer's prefix.
    pub prefix: Vec<u8>,
}

impl ImportModel {
    /// The subject a message on `subject` has in the importer.
    pub fn map(&self, subject: &[u8]) -> Vec<u8> {
        let mut out = self.prefix.clone();
        out.push(b'.');
        out.extend_from_slice(subject);
        out
    }
}

/// One node's subscriptions: the namespace of the per-node rule.
#[derive(Debug, Default)]
struct NodeModel {
    subs: BTreeMap<SubKey, ModelSub>,
}

/// What was published, to check deliveries byte for byte.
#[derive(Debug, Clone)]
struct Published {
    node: NodeId,
    from: ConnId,
    /// The account it is in: its publisher's, or, for the copy a service import makes of a
    /// request or a response (see `service.rs`), the account it crossed into.
    account: Option<&'static str>,
    /// The subject it was published under: the mapped one; through a weighted mapping,
    /// the one evidence showed (`original` until then).
    subject: Vec<u8>,
    /// The subject of the PUB.
    original: Vec<u8>,
    /// The mapping that gave it its subject (account and rule index into the model's).
    rule: Option<(usize, usize)>,
    /// Through a weighted mapping (see `mapping.rs`).
    drawn: bool,
    reply: Option<Vec<u8>>,
    body: Vec<u8>,
    headers: bool,
    /// The import generation in force when its node processed it.
    gen: usize,
}

/// One message owed to one queue group.
#[derive(Debug, Clone)]
struct QueueOwed {
    /// Members that may get it: on the publisher's node, then on the node it was routed to.
    candidates: Vec<SubKey>,
    /// Some candidate on the publisher's node has no limit, so exactly one member must get
    /// it (else at most one).
    exact: bool,
    got: u32,
    /// Route links (cluster) whose peer has members: the draw may hand them the message.
    routes: Vec<usize>,
    /// The node a route took it to, and whether a member there had no limit.
    routed: Option<(NodeId, bool)>,
    /// Through a weighted mapping: the group may be a candidate under one destination
    /// only, so nothing is owed until a route names it.
    drawn: bool,
}

/// A request from a `no_responders` connection: the 503 status it may be owed.
#[derive(Debug, Clone)]
struct NoResponders {
    id: MsgId,
    /// The requester's own live plain subscriptions on the reply subject: the server
    /// sends the status on one of them.
    own: Vec<SubKey>,
    /// Connections that surely take the request while open: the status is allowed only
    /// once all of them are closed by the server.
    takers: Vec<ConnId>,
    /// Nobody could take it: the status is owed.
    required: bool,
    got: bool,
}

/// What a sid has received.
#[derive(Debug, Clone, Default)]
struct Received {
    count: u64,
    seen: BTreeSet<MsgId>,
    /// By publishing connection.
    last_seq: BTreeMap<ConnId, u64>,
}

/// The pattern matcher the oracle trusts; replaceable so tests can prove the oracle bites.
pub type Matcher = fn(&[u8], &[u8]) -> bool;

/// Counters of what the oracle checked, for coverage assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Deliveries checked.
    pub deliveries: u64,
    /// Of which to queue subscriptions.
    pub queue_deliveries: u64,
    /// Of which as HMSG.
    pub hmsgs: u64,
    /// Of which as MSG with the headers stripped (headers-off subscribers).
    pub stripped: u64,
    /// Auto-unsubscribe limits reached in the model.
    pub limits_reached: u64,
    /// `+OK`s received as predicted.
    pub oks: u64,
    /// Predicted `-ERR`s received, by cause.
    pub perm_errors: u64,
    /// `Invalid Publish Subject` (pedantic).
    pub pedantic_errors: u64,
    /// `maximum subscriptions exceeded`.
    pub max_subs_errors: u64,
    /// `Maximum Payload Violation`.
    pub max_payload_errors: u64,
    /// Deliveries the model knew were filtered by the subscriber's deny list.
    pub filtered: u64,
    /// 503 statuses received.
    pub no_responders: u64,
    /// Matching live subscriptions the model withheld a message from because they are in
    /// another account than its publisher (the per-account rule at work).
    pub isolated: u64,
    /// Routed messages the nodes took from routes (cluster).
    pub routed: u64,
    /// Deliveries of messages published on another node (cluster).
    pub remote_deliveries: u64,
    /// Deliveries owed through a stream import (into another account).
    pub import_owed: u64,
    /// Deliveries received through a stream import.
    pub imported: u64,
    /// `MSUB`s the nodes processed (subscriptions born with their limit).
    pub msubs: u64,
    /// Deliveries to `MSUB` subscriptions.
    pub msub_deliveries: u64,
    /// Plain `MSUB` subscriptions that were owed (and got) exactly their limit.
    pub msub_filled: u64,
    /// Publishes the model mapped to another subject (or dropped) by a plain mapping.
    pub mapped: u64,
    /// Deliveries of messages published under another subject than their PUB's.
    pub mapped_deliveries: u64,
    /// Deliveries of messages through the first mapping of the first account with mappings
    /// (the one [`crate::Sabotage::ForgetMapping`] hides).
    pub first_mapping_deliveries: u64,
    /// Publishes through a weighted mapping.
    pub drawn: u64,
    /// Of which sampled for the split check (see `mapping.rs`).
    pub drawn_sampled: u64,
    /// Requests delivered to responders through a service import.
    pub service_requests: u64,
    /// Responses delivered to requesters through a service import.
    pub service_responses: u64,
}

impl Counts {
    /// Adds `o`'s counts to these.
    pub fn add(&mut self, o: &Counts) {
        self.deliveries += o.deliveries;
        self.queue_deliveries += o.queue_deliveries;
        self.hmsgs += o.hmsgs;
        self.stripped += o.stripped;
        self.limits_reached += o.limits_reached;
        self.oks += o.oks;
        self.perm_errors += o.perm_errors;
        self.pedantic_errors += o.pedantic_errors;
        self.max_subs_errors += o.max_subs_errors;
        self.max_payload_errors += o.max_payload_errors;
        self.filtered += o.filtered;
        self.no_responders += o.no_responders;
        self.isolated += o.isolated;
        self.routed += o.routed;
        self.remote_deliveries += o.remote_deliveries;
        self.import_owed += o.import_owed;
        self.imported += o.imported;
        self.msubs += o.msubs;
        self.msub_deliveries += o.msub_deliveries;
        self.msub_filled += o.msub_filled;
        self.mapped += o.mapped;
        self.mapped_deliveries += o.mapped_deliveries;
        self.first_mapping_deliveries += o.first_mapping_deliveries;
        self.drawn += o.drawn;
        self.drawn_sampled += o.drawn_sampled;
        self.service_requests += o.service_requests;
        self.service_responses += o.service_responses;
    }
}

/// The model of every node and the record of what connections received.
#[derive(Debug)]
pub struct Oracle {
    matcher: Matcher,
    conns: Vec<ConnModel>,
    nodes: Vec<NodeModel>,
    published: BTreeMap<MsgId, Published>,
    /// Plain deliveries owed and not yet received.
    pending: BTreeSet<(SubKey, MsgId)>,
    /// Plain deliveries allowed but not owed (see [`ModelSub::maybe`]), not yet received.
    maybe: BTreeSet<(SubKey, MsgId)>,
    queue_owed: BTreeMap<(MsgId, Vec<u8>), QueueOwed>,
    /// By (requester, reply subject): inboxes are unique per request.
    no_responders: BTreeMap<(ConnId, Vec<u8>), NoResponders>,
    received: BTreeMap<SubKey, Received>,
    /// The stream imports (the only way a message may cross accounts), by generation: a
    /// reload of the accounts starts a new one; each message is judged by the generation
    /// in force when its node processed it ([`Published::gen`]).
    imports: Vec<Vec<ImportModel>>,
    /// By (message, node, queue): one message owed to an importer's queue group through an
    /// import, on one node (each node that processes the message imports it for its own
    /// clients, so a group may get it once per node).
    cross_queue: BTreeMap<(MsgId, NodeId, Vec<u8>), QueueOwed>,
    cluster: cluster::ClusterModel,
    /// The subject mappings, per account.
    mappings: Vec<MappingModel>,
    /// Messages through weighted mappings, and what the evidence says of their draw.
    drawn: BTreeMap<MsgId, mapping::DrawnMsg>,
    /// Service imports, the requests that crossed them and their `_R_` reply subjects.
    service: service::ServiceState,
    /// What was checked.
    pub counts: Counts,
}

impl Oracle {
    /// A one-node oracle for `echo.len()` connections already open, `echo[i]` being
    /// connection i's CONNECT `echo` (connection i is client i's).
    pub fn new(echo: Vec<bool>, matcher: Matcher) -> Oracle {
        let mut o = Oracle::with_nodes(1, matcher);
        for (i, e) in echo.into_iter().enumerate() {
            o.open(ConnSpec::plain(i, 0, e));
        }
        o
    }

    /// An oracle for `nodes` nodes and no connections yet.
    pub fn with_nodes(nodes: usize, matcher: Matcher) -> Oracle {
        Oracle {
            matcher,
            conns: Vec::new(),
            nodes: (0..nodes).map(|_| NodeModel::default()).collect(),
            published: BTreeMap::new(),
            pending: BTreeSet::new(),
            maybe: BTreeSet::new(),
            queue_owed: BTreeMap::new(),
            no_responders: BTreeMap::new(),
            received: BTreeMap::new(),
            imports: vec![Vec::new()],
            cross_queue: BTreeMap::new(),
            cluster: cluster::ClusterModel::default(),
            mappings: Vec::new(),
            drawn: BTreeMap::new(),
            service: service::ServiceState::default(),
            counts: Counts::default(),
        }
    }

    /// The stream imports every node is configured with.
    pub fn set_imports(&mut self, imports: Vec<ImportModel>) {
        self.imports = vec![imports];
    }

    /// A reload of the accounts: from now on messages the nodes process cross `imports`;
    /// those processed before keep the generation they were processed under.
    pub fn reload_imports(&mut self, imports: Vec<ImportModel>) {
        self.imports.push(imports);
    }

    /// The current import generation.
    fn gen(&self) -> usize {
        self.imports.len() - 1
    }

    /// The import a message published in `account` on `subject` crosses, if any (import
    /// subjects are disjoint: at most one). Configuration, matched with the naive matcher
    /// (never the sabotaged one, which targets deliveries: a mapped subject crossing a
    /// wildcard import made `BrokenMatcher` runs fail as `CrossAccount`).
    /// `gen`: the import generation (see [`Oracle::reload_imports`]).
    fn import_for(
        &self,
        gen: usize,
        account: Option<&'static str>,
        subject: &[u8],
    ) -> Option<&ImportModel> {
        self.imports[gen]
            .iter()
            .find(|i| i.exporter == account && natsd_core::subject::matches(&i.subject, subject))
    }

    /// A connection opened: returns its id (they are numbered in opening order).
    pub fn open(&mut self, spec: ConnSpec) -> ConnId {
        assert!(
            spec.node < self.nodes.len(),
            "harness bug: no node {}",
            spec.node
        );
        self.conns.push(ConnModel {
            spec,
            excused: false,
            server_closed: false,
            replies: VecDeque::new(),
            hyps: vec![replies::Hyp::default()],
            unsolicited: Vec::new(),
        });
        self.conns.len() - 1
    }

    /// Messages the servers have processed so far.
    pub fn published(&self) -> usize {
        self.published.len()
    }

    /// Did the model record the message of `op` (a PUB or HPUB it processed and did not
    /// refuse)?
    pub fn accepted(&self, op: &natsd_core::proto::Op<'_>) -> bool {
        use natsd_core::proto::Op;
        let body = match *op {
            Op::Pub { payload, .. } => payload,
            Op::HPub {
                header_len,
                payload,
                ..
            } => payload.get(header_len..).unwrap_or_default(),
            _ => return false,
        };
        parse_body(body).is_ok_and(|id| self.published.contains_key(&id))
    }

    /// Deliveries checked so far.
    pub fn deliveries(&self) -> u64 {
        self.counts.deliveries
    }

    /// The node connection `c` is to.
    pub fn node_of(&self, c: ConnId) -> NodeId {
        self.conns[c].spec.node
    }

    /// Connection `c` was closed by its client (or stopped reading for good): deliveries
    /// owed to it become optional. Safety checks on what it did receive still apply.
    pub fn excuse(&mut self, c: ConnId) {
        self.conns[c].excused = true;
    }

    /// The server closed connection `c` (or lost it in a crash): its subscriptions are gone.
    pub fn server_closed(&mut self, c: ConnId) {
        self.cluster.interest_changes += u64::from(!self.conns[c].server_closed);
        self.conns[c].excused = true;
        self.conns[c].server_closed = true;
        let node = self.conns[c].spec.node;
        for (_, s) in self.nodes[node].subs.range_mut((c, 0)..=(c, u64::MAX)) {
            s.live = false;
        }
    }

    /// The server may send `-ERR '<text>'` to `c` once, unprompted (the world validated a
    /// close that comes with it).
    pub fn allow_err(&mut self, c: ConnId, text: &str) {
        self.conns[c].unsolicited.push(text.to_string());
    }

    /// The end-of-run liveness check: everything owed to a connection never closed arrived
    /// (deliveries, replies, 503 statuses), and each queue group whose candidates all stayed
    /// connected got each message once.
    pub fn finish(&mut self) -> Result<(), Violation> {
        self.finish_msub()?;
        for &(key, id) in &self.pending {
            if self.conns[key.0].excused {
                continue;
            }
            let node = self.conns[key.0].spec.node;
            let s = &self.nodes[node].subs[&key];
            let detail = format!(
                "connection {} (client {}, node {node}) sid {} ({:?}) never got {id:?} on {:?}",
                key.0,
                self.conns[key.0].spec.client,
                key.1,
                String::from_utf8_lossy(&s.pattern),
                String::from_utf8_lossy(&self.published[&id].subject),
            );
            return Err(Violation::new(ViolationKind::Missing, detail));
        }
        self.finish_replies()?;
        self.finish_drawn()?;
        for ((id, node, q), qo) in &self.cross_queue {
            if qo.got == 0 && self.queue_required(qo) {
                let detail = format!(
                    "queue {:?} on node {node} never got {id:?} through its import (candidates {:?})",
                    String::from_utf8_lossy(q),
                    qo.candidates
                );
                return Err(Violation::new(ViolationKind::QueueMissing, detail));
            }
        }
        for ((id, q), qo) in &self.queue_owed {
            if qo.got == 0 && self.queue_required(qo) {
                let detail = format!(
                    "queue {:?} never got {id:?} (candidates {:?})",
                    String::from_utf8_lossy(q),
                    qo.candidates
                );
                return Err(Violation::new(ViolationKind::QueueMissing, detail));
            }
        }
        for ((c, reply), nr) in &self.no_responders {
            if !nr.got && nr.required && !self.conns[*c].excused {
                let detail = format!(
                    "connection {c}: no 503 status on {:?} for request {:?} that reached nobody",
                    String::from_utf8_lossy(reply),
                    nr.id
                );
                return Err(Violation::new(ViolationKind::Missing, detail));
            }
        }
        self.finish_cluster()
    }
}

impl Oracle {
    /// The strict `MSUB` rule at the end: a plain subscription born with its limit, on a
    /// connection never closed, got exactly what it was owed, which is its limit as soon as
    /// that many matching messages were processed after it (the model stops owing there).
    fn finish_msub(&self) -> Result<(), Violation> {
        for node in &self.nodes {
            for (&key, s) in &node.subs {
                if !s.msub || s.queue.is_some() || self.conns[key.0].excused {
                    continue;
                }
                let got = self.received.get(&key).map_or(0, |r| r.count);
                if got < s.owed || got > s.owed + s.maybe {
                    let detail = format!(
                        "connection {} (client {}) MSUB sid {} ({:?}, max {}) got {got} of the {} owed",
                        key.0,
                        self.conns[key.0].spec.client,
                        key.1,
                        String::from_utf8_lossy(&s.pattern),
                        s.max.unwrap_or(0),
                        s.owed
                    );
                    return Err(Violation::new(ViolationKind::MsubMax, detail));
                }
            }
        }
        Ok(())
    }
}

/// Sids are decimal in this simulation.
fn parse_sid(sid: &[u8]) -> Result<u64, Violation> {
    std::str::from_utf8(sid)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Violation::new(ViolationKind::Corrupt, format!("bad sid {sid:?}")))
}

/// Payloads start `P<publisher>.<seq>.` (see [`crate::client::payload`]).
pub fn parse_body(body: &[u8]) -> Result<MsgId, Violation> {
    let bad = || Violation::new(ViolationKind::Corrupt, "payload without an id".to_string());
    let rest = body.strip_prefix(b"P").ok_or_else(bad)?;
    let mut parts = rest.splitn(3, |&b| b == b'.');
    let mut num = || -> Result<u64, Violation> {
        let t = parts.next().ok_or_else(bad)?;
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)
    };
    let publisher = num()?;
    let seq = num()?;
    Ok((publisher as ClientId, seq))
}

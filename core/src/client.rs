//! The part of a client that other connections touch: its outbound queue, its stats and its
//! subscriptions.
//!
//! A publisher delivers by appending the encoded `MSG` straight into each receiver's outbound
//! queue under that receiver's lock (one short lock per delivery, never two at once). All bytes
//! for a socket go through this one ordered queue, so a PONG always follows every MSG queued
//! before it: clients use PING/PONG as a flush barrier.
//!
//! The runtime's writer drains the queue with [`ClientHandle::take`]; it is woken through the
//! [`Notify`] it registered, at most once per publisher read batch.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::auth::CompiledPermissions;
use crate::errors::CloseReason;
use crate::proto::encode;
use crate::sublist::Entry;
use crate::{FastMap, Time};

/// How a runtime is told that a client's outbound queue has bytes (or has closed).
pub trait Notify: Send + Sync {
    /// Wake the writer. Must not block and must not lose a wake-up that races with a wait.
    fn notify(&self);
}

/// Most reply subjects tracked for `allow_responses` per client before expired ones are pruned
/// (the Go server's `replyPermLimit`).
const REPLY_PERM_LIMIT: usize = 4096;

/// Pending bytes above which a receiver stalls its producers: 3/4 of `max_pending`, as Go
/// 2.10+ (2.9.10 used 1/2; 3/4 leaves a receiver more room before its producers slow down,
/// and nothing on the wire depends on it).
pub fn stall_mark(max_pending: usize) -> usize {
    max_pending / 4 * 3
}

/// What the outbound queue is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    Open,
    /// Flush what is queued, then close (e.g. after an `-ERR`).
    Closing(CloseReason),
    /// Close now and drop what is queued (e.g. a slow consumer).
    Closed(CloseReason),
}

/// Reply subjects this client received and may answer under `allow_responses`.
#[derive(Debug, Default)]
struct ReplyPerms {
    /// Reply subject → (first seen, replies sent).
    seen: FastMap<Box<[u8]>, (Time, u32)>,
}

/// Everything under the client's lock.
#[derive(Debug)]
struct Outbound {
    buf: Vec<u8>,
    /// [`stall_mark`] of the handle's `max_pending`, computed once.
    stall_at: usize,
    state: OutState,
    out_msgs: u64,
    out_bytes: u64,
    /// The client declared header support (else headers are stripped on delivery).
    headers: bool,
    /// Its permissions, when it has subscribe-deny entries or `allow_responses`.
    perms: Option<Arc<CompiledPermissions>>,
    /// Boxed: most clients have no `allow_responses` (and every handle lives as long as
    /// its connection).
    replies: Option<Box<ReplyPerms>>,
    /// The server's hash seed, for `replies`.
    seed: u64,
}

/// One message on its way to subscribers.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The subject it was published to.
    pub subject: &'a [u8],
    /// Its reply subject.
    pub reply: Option<&'a [u8]>,
    /// Bytes of headers at the start of `payload` (0 for a plain PUB).
    pub header_len: usize,
    /// Headers followed by the body.
    pub payload: &'a [u8],
    /// Whether it came as HPUB (even with zero-length headers it is delivered as HMSG).
    pub has_headers: bool,
}

/// What happened to one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Queued. `wake` is true if the caller owes the receiver a wake-up at the end of its batch.
    Queued {
        /// The caller must call [`ClientHandle::wake`] once its batch is done.
        wake: bool,
    },
    /// Queued, and the receiver's queue is now over its stall mark ([`stall_mark`]): the
    /// producer should pause before its next message (the Go server's fast-producer stall).
    /// A variant of its own so the common case costs nothing more to check.
    QueuedStall {
        /// As for [`Delivered::Queued`].
        wake: bool,
    },
    /// Not delivered (closed, or filtered by the receiver's permissions).
    Skipped,
    /// The receiver went over `max_pending` and is now closed as a slow consumer.
    SlowConsumer,
}

/// What [`ClientHandle::take`] hands the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Bytes moved into the caller's buffer.
    pub bytes: usize,
    /// Close the socket after writing them (flush-then-close), with this reason.
    pub close_after: Option<CloseReason>,
    /// Close now, discarding (slow consumer): nothing was moved.
    pub close_now: Option<CloseReason>,
}

/// A client as seen by everyone else: the shared half of a connection.
pub struct ClientHandle {
    /// The connection id (`cid`), unique per server.
    pub cid: u64,
    /// The client's address, for log lines others write about it (slow consumer).
    pub addr: Option<std::net::SocketAddr>,
    /// Its `max_pending` (fixed for the connection's life).
    pub max_pending: usize,
    out: Mutex<Outbound>,
    /// Set when a wake-up is owed by some publisher; cleared just before it is delivered.
    wake_owed: AtomicBool,
    notify: Arc<dyn Notify>,
    /// Messages received from this client (updated once per read batch).
    pub in_msgs: AtomicU64,
    /// Payload bytes received from this client.
    pub in_bytes: AtomicU64,
    /// Live subscriptions of this client.
    pub subs: AtomicU64,
    /// Last activity, as [`Time`] nanoseconds.
    pub last_activity: AtomicU64,
    /// The client takes async INFO (protocol 1, CONNECT and first PING done).
    async_info: AtomicBool,
    /// Its permissions have subscribe-deny entries (checked before a delivery is counted).
    sub_deny: AtomicBool,
    /// The name it gave in CONNECT, for the lines others log about it (slow consumer).
    name: Mutex<String>,
    /// Nanoseconds it was not read for, over its publish rate (`/connz`).
    pub rate_throttled_nanos: AtomicU64,
    /// The last round trip measured, in nanoseconds (0: none yet): INFO to CONNECT, then
    /// each server PING to its PONG, as Go measures it (`/connz`, `/routez`).
    pub rtt_nanos: AtomicU64,
    /// Its messages dropped over its publish rate (`/connz`).
    pub rate_dropped: AtomicU64,
}

impl std::fmt::Debug for ClientHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandle")
            .field("cid", &self.cid)
            .finish_non_exhaustive()
    }
}

/// The first capacity of an outbound queue that has none.
pub const FIRST_OUT_BYTES: usize = 512;

/// Makes room for a message of about `n` bytes in an outbound queue. The runtimes' writers
/// let small buffers go after each write (`natsd_adapter::drain`), so that an idle client
/// holds no outbound buffer; a queue left without one starts at [`FIRST_OUT_BYTES`] (or the
/// message's size), not at the few bytes of its first append, so a batch does not regrow
/// in many small steps.
#[inline]
fn room(buf: &mut Vec<u8>, n: usize) {
    if buf.capacity() == 0 {
        buf.reserve(n.max(FIRST_OUT_BYTES));
    }
}

impl ClientHandle {
    /// A new handle with an empty, open outbound queue; `seed` keys the hashing of the reply
    /// subjects it tracks (see [`crate::keyed_hasher`]).
    pub fn new(
        cid: u64,
        addr: Option<std::net::SocketAddr>,
        max_pending: usize,
        seed: u64,
        notify: Arc<dyn Notify>,
    ) -> ClientHandle {
        ClientHandle {
            cid,
            addr,
            max_pending,
            out: Mutex::new(Outbound {
                buf: Vec::new(),
                stall_at: stall_mark(max_pending),
                state: OutState::Open,
                out_msgs: 0,
                out_bytes: 0,
                headers: false,
                perms: None,
                replies: None,
                seed,
            }),
            wake_owed: AtomicBool::new(false),
            notify,
            in_msgs: AtomicU64::new(0),
            in_bytes: AtomicU64::new(0),
            subs: AtomicU64::new(0),
            last_activity: AtomicU64::new(0),
            async_info: AtomicBool::new(false),
            sub_deny: AtomicBool::new(false),
            name: Mutex::new(String::new()),
            rate_throttled_nanos: AtomicU64::new(0),
            rtt_nanos: AtomicU64::new(0),
            rate_dropped: AtomicU64::new(0),
        }
    }

    /// The handle of a route connection: never closed as a slow consumer (Go closes only
    /// clients over `max_pending`; a route that cannot keep up ends by its write deadline),
    /// but producers stall past [`stall_mark`] of `max_pending`, as they do for clients.
    pub fn new_route(
        cid: u64,
        addr: Option<std::net::SocketAddr>,
        max_pending: usize,
        seed: u64,
        notify: Arc<dyn Notify>,
    ) -> ClientHandle {
        let h = ClientHandle::new(cid, addr, usize::MAX, seed, notify);
        h.lock().stall_at = stall_mark(max_pending);
        h
    }

    /// Queues one routed message (`RMSG`, or `HMSG` when the route negotiated headers;
    /// without them the headers are stripped, as Go does). `queues`: the names of the queue
    /// groups picked on this route, space separated.
    pub fn deliver_routed(
        &self,
        account: &[u8],
        d: &Delivery<'_>,
        queues: Option<&[u8]>,
    ) -> Delivered {
        let mut o = self.lock();
        if o.state != OutState::Open {
            return Delivered::Skipped;
        }
        let (hdr, body) = if d.has_headers && o.headers {
            (Some(d.header_len), d.payload)
        } else if d.has_headers {
            (None, &d.payload[d.header_len..])
        } else {
            (None, d.payload)
        };
        room(&mut o.buf, body.len());
        encode::rmsg(&mut o.buf, account, d.subject, d.reply, queues, hdr, body);
        o.out_msgs += 1;
        o.out_bytes += body.len() as u64;
        let stall = o.buf.len() > o.stall_at;
        drop(o);
        let wake = self.owe_wake();
        if stall {
            Delivered::QueuedStall { wake }
        } else {
            Delivered::Queued { wake }
        }
    }

    /// Marks the client as taking async INFO updates (set by its connection).
    pub fn enable_async_info(&self) {
        self.async_info.store(true, Ordering::Relaxed);
    }

    /// True if the client takes async INFO updates.
    pub fn takes_async_info(&self) -> bool {
        self.async_info.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Outbound> {
        // A poisoned lock means a panic while holding it: a bug. Keep serving the others.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets what delivery needs to know of the client after CONNECT.
    pub fn configure(&self, headers: bool, perms: Option<Arc<CompiledPermissions>>) {
        let mut o = self.lock();
        o.headers = headers;
        o.replies = perms.as_ref().and_then(|p| p.responses).map(|_| {
            Box::new(ReplyPerms {
                seen: crate::keyed_map(o.seed),
            })
        });
        let deny = perms.as_ref().is_some_and(|p| p.has_sub_deny());
        o.perms = perms.filter(|p| p.has_sub_deny() || p.responses.is_some());
        drop(o);
        self.sub_deny.store(deny, Ordering::Release);
    }

    /// Records a round trip.
    pub fn set_rtt(&self, rtt: std::time::Duration) {
        let n = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.rtt_nanos.store(n, Ordering::Relaxed);
    }

    /// The last round trip, as Go writes it (`"435µs"`), or empty when none was measured.
    pub fn rtt_string(&self) -> String {
        match self.rtt_nanos.load(Ordering::Relaxed) {
            0 => String::new(),
            n => crate::config::duration::format_go_duration(std::time::Duration::from_nanos(n)),
        }
    }

    /// The last round trip in nanoseconds (0: none measured).
    pub fn rtt_nanos(&self) -> u64 {
        self.rtt_nanos.load(Ordering::Relaxed)
    }

    /// Sets the name the client gave in CONNECT.
    pub fn set_name(&self, name: &str) {
        name.clone_into(&mut self.name.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// How others' log lines name this client, as Go: `addr - cid:N - "name"`.
    pub fn log_prefix(&self) -> String {
        let mut p = match self.addr {
            Some(a) => format!("{a} - cid:{}", self.cid),
            None => format!("cid:{}", self.cid),
        };
        let name = self.name.lock().unwrap_or_else(|e| e.into_inner());
        if !name.is_empty() {
            p.push_str(&format!(" - {:?}", *name));
        }
        p
    }

    /// True if this client's subscribe-deny list filters a message on `subject` (Go's
    /// `checkDenySub`). Publishers ask before counting a delivery against a subscription's
    /// limit, as Go does: a filtered message must not use it up. Lock-free unless the
    /// client has deny entries.
    #[inline]
    pub fn denies(&self, subject: &[u8]) -> bool {
        // The flag inline, the check out of line: every delivery asks, few clients deny
        // (outlined whole, this cost ~23 instructions per delivery; icount.sh).
        self.sub_deny.load(Ordering::Acquire) && self.denies_slow(subject)
    }

    #[cold]
    #[inline(never)]
    fn denies_slow(&self, subject: &[u8]) -> bool {
        self.lock()
            .perms
            .as_ref()
            .is_some_and(|p| p.deny_delivery(subject))
    }

    /// Queues protocol bytes (INFO, PONG, +OK, -ERR, PING). Returns whether a wake-up is owed.
    pub fn send(&self, bytes: &[u8]) -> Delivered {
        let mut o = self.lock();
        if o.state != OutState::Open {
            return Delivered::Skipped;
        }
        if o.buf.len() + bytes.len() > self.max_pending {
            o.slow_consumer();
            drop(o);
            self.notify.notify();
            return Delivered::SlowConsumer;
        }
        room(&mut o.buf, bytes.len());
        o.buf.extend_from_slice(bytes);
        drop(o);
        Delivered::Queued {
            wake: self.owe_wake(),
        }
    }

    /// Delivers a message for subscription `sid`. Checks the receiver's subscribe-deny
    /// permissions, strips headers for clients that did not ask for them, enforces
    /// `max_pending`, and records the reply subject under `allow_responses`.
    #[inline]
    pub fn deliver(&self, d: &Delivery<'_>, sid: &[u8], now: Time) -> Delivered {
        self.deliver_inner(d, sid, None, now).0
    }

    /// [`deliver`](Self::deliver) for `sub`, a subscription of this client, counted
    /// against its auto-unsubscribe limit. Returns what happened and whether this was the
    /// last delivery the limit allows (`sub` is closed then; the caller removes it). A
    /// closed subscription, or one past its limit, is `Skipped`.
    ///
    /// The count is taken under this client's lock, which every delivery to its
    /// subscriptions goes through (the publish path and the system's events): a plain load
    /// and store count exactly, where [`Subscription::admit`]'s `fetch_add` cost a locked
    /// read-modify-write per delivery (7 % of the server's CPU in a fan-out, issue 19).
    /// The last delivery a limit allows counts even if the queue refused it (slow
    /// consumer), as `admit` did: the subscription goes.
    #[inline]
    pub fn deliver_sub(
        &self,
        d: &Delivery<'_>,
        sub: &Subscription,
        now: Time,
    ) -> (Delivered, bool) {
        self.deliver_inner(d, sub.sid(), Some(sub), now)
    }

    #[inline(always)]
    fn deliver_inner(
        &self,
        d: &Delivery<'_>,
        sid: &[u8],
        sub: Option<&Subscription>,
        now: Time,
    ) -> (Delivered, bool) {
        let mut o = self.lock();
        if o.state != OutState::Open {
            return (Delivered::Skipped, false);
        }
        if o.perms.as_ref().is_some_and(|p| p.deny_delivery(d.subject)) {
            return (Delivered::Skipped, false);
        }
        let (n, last) = match sub {
            None => (0, false),
            Some(s) => {
                if s.is_closed() {
                    return (Delivered::Skipped, false);
                }
                let n = s.delivered.load(Ordering::Relaxed) + 1;
                let max = s.max.load(Ordering::Acquire);
                if max != 0 && n > max {
                    s.close();
                    return (Delivered::Skipped, false);
                }
                (n, max != 0 && n == max)
            }
        };
        let as_hmsg = d.has_headers && o.headers;
        let body = if d.has_headers && !o.headers {
            &d.payload[d.header_len..]
        } else {
            d.payload
        };
        // Control line upper bound: verb, subject, sid, reply, two sizes, spaces, CRLFs.
        let line = 32 + d.subject.len() + sid.len() + d.reply.map_or(0, <[u8]>::len);
        if o.buf.len() + line + body.len() > self.max_pending {
            o.slow_consumer();
            if let (Some(s), true) = (sub, last) {
                s.delivered.store(n, Ordering::Release);
                s.close();
            }
            drop(o);
            self.notify.notify();
            return (Delivered::SlowConsumer, last);
        }
        room(&mut o.buf, line + body.len());
        if as_hmsg {
            encode::hmsg(&mut o.buf, d.subject, sid, d.reply, d.header_len, body);
        } else {
            encode::msg(&mut o.buf, d.subject, sid, d.reply, body);
        }
        o.out_msgs += 1;
        o.out_bytes += body.len() as u64;
        if let Some(s) = sub {
            s.delivered.store(n, Ordering::Release);
            if last {
                s.close();
            }
        }
        if let (Some(reply), Some(tracker)) = (d.reply, o.replies.as_mut()) {
            tracker.seen.insert(reply.into(), (now, 0));
            if tracker.seen.len() > REPLY_PERM_LIMIT {
                let expires = o
                    .perms
                    .as_ref()
                    .and_then(|p| p.responses)
                    .map(|r| r.expires);
                prune_replies(o.replies.as_mut().expect("checked above"), now, expires);
            }
        }
        let stall = o.buf.len() > o.stall_at;
        drop(o);
        let wake = self.owe_wake();
        let d = if stall {
            Delivered::QueuedStall { wake }
        } else {
            Delivered::Queued { wake }
        };
        (d, last)
    }

    /// Under `allow_responses`: may this client publish to `reply`? Counts the reply.
    pub fn use_reply_permission(&self, reply: &[u8], now: Time) -> bool {
        let mut o = self.lock();
        let Some(resp) = o.perms.as_ref().and_then(|p| p.responses) else {
            return false;
        };
        let Some(tracker) = o.replies.as_mut() else {
            return false;
        };
        let Some(entry) = tracker.seen.get_mut(reply) else {
            return false;
        };
        entry.1 += 1;
        let expired = resp.expires > std::time::Duration::ZERO && now - entry.0 > resp.expires;
        if (resp.max > 0 && entry.1 > resp.max) || expired {
            tracker.seen.remove(reply);
            return false;
        }
        true
    }

    /// After queuing bytes: true if the caller now owes the writer a wake-up (see
    /// [`wake`](Self::wake)), false if another caller already does.
    ///
    /// A plain load first, the swap only when it says none is owed: with many messages per
    /// batch almost every delivery finds a wake-up owed, and a load is far cheaper than the
    /// atomic read-modify-write it replaces (one per delivery). Still nothing is lost: the
    /// bytes were queued under the lock before the load, so a load that sees `true` saw it
    /// before the owner's `wake` stored `false` (had that store happened before, the load
    /// could not see the older `true`), and the owner's notify then comes after the bytes;
    /// the writer's `take` finds them.
    #[inline]
    fn owe_wake(&self) -> bool {
        !self.wake_owed.load(Ordering::Acquire) && !self.wake_owed.swap(true, Ordering::AcqRel)
    }

    /// Wakes the writer on behalf of a caller that was told a wake-up is owed.
    pub fn wake(&self) {
        self.wake_owed.store(false, Ordering::Release);
        self.notify.notify();
    }

    /// Flush what is queued, then close with `reason`. Later sends are dropped.
    pub fn close_after_flush(&self, reason: CloseReason) {
        let mut o = self.lock();
        if o.state == OutState::Open {
            o.state = OutState::Closing(reason);
        }
        drop(o);
        self.notify.notify();
    }

    /// Close now, dropping what is queued (write deadline, shutdown of a stuck client).
    pub fn close_now(&self, reason: CloseReason) {
        let mut o = self.lock();
        if !matches!(o.state, OutState::Closed(_)) {
            o.state = OutState::Closed(reason);
            o.buf = Vec::new();
        }
        drop(o);
        self.notify.notify();
    }

    /// The close reason, once the queue is closing or closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.lock().state {
            OutState::Open => None,
            OutState::Closing(r) | OutState::Closed(r) => Some(r),
        }
    }

    /// For the writer: moves queued bytes into `into` (swapping buffers, no copy when `into`
    /// is empty) and says whether to close afterwards.
    pub fn take(&self, into: &mut Vec<u8>) -> Taken {
        let mut o = self.lock();
        match o.state {
            OutState::Closed(r) => Taken {
                bytes: 0,
                close_after: None,
                close_now: Some(r),
            },
            state => {
                let bytes = o.buf.len();
                if into.is_empty() {
                    std::mem::swap(into, &mut o.buf);
                } else {
                    into.extend_from_slice(&o.buf);
                    o.buf.clear();
                }
                let close_after = match state {
                    OutState::Closing(r) => Some(r),
                    _ => None,
                };
                Taken {
                    bytes,
                    close_after,
                    close_now: None,
                }
            }
        }
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn pending_bytes(&self) -> usize {
        self.lock().buf.len()
    }

    /// Messages and bytes delivered to this client so far.
    pub fn out_stats(&self) -> (u64, u64) {
        let o = self.lock();
        (o.out_msgs, o.out_bytes)
    }
}

impl Outbound {
    fn slow_consumer(&mut self) {
        self.state = OutState::Closed(CloseReason::SlowConsumerPendingBytes);
        self.buf = Vec::new();
    }
}

fn prune_replies(t: &mut ReplyPerms, now: Time, expires: Option<std::time::Duration>) {
    match expires {
        Some(e) if e > std::time::Duration::ZERO => t.seen.retain(|_, (seen, _)| now - *seen <= e),
        _ => {}
    }
    if t.seen.len() > REPLY_PERM_LIMIT {
        // Still too many live ones: forget them all rather than grow without bound.
        t.seen.clear();
    }
}

/// Where a subscription's messages go.
#[derive(Clone)]
pub enum Dest {
    /// A client connection: `MSG`/`HMSG` into its outbound queue.
    Client,
    /// A peer server's interest, learned from `RS+` on a route (the subscription's `client`
    /// is the route's handle): a message goes once per route, however many of the route's
    /// subscriptions match (`RMSG` with the names of the queue groups picked there).
    Route,
    /// An import from or to another account (see [`crate::imports`]): the message is
    /// delivered again in the other account, renamed, in the publisher's batch.
    Cross(Arc<crate::imports::Cross>),
    /// A handler inside the server (system services such as `$SYS.REQ.SERVER.PING`), run
    /// at the end of the publisher's batch; its reply is published into the same account.
    /// (Boxed: a fat pointer made every `Dest` 24 bytes, and every `Subscription` one
    /// allocation size class bigger.)
    #[allow(clippy::redundant_allocation)]
    Internal(Box<Arc<dyn crate::internal::InternalHandler>>),
}

impl std::fmt::Debug for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Client => f.write_str("Client"),
            Dest::Route => f.write_str("Route"),
            Dest::Cross(c) => write!(f, "Cross({c:?})"),
            Dest::Internal(_) => f.write_str("Internal"),
        }
    }
}

/// A subscription, shared between its owner connection and the account's sublist.
pub struct Subscription {
    /// The subject (possibly with wildcards) followed by the sid: one allocation, not two
    /// (a subscription's memory is a goal, issue 19; 48 bytes less each).
    subject_sid: Box<[u8]>,
    /// Where the sid starts in `subject_sid`.
    sid_at: u32,
    /// The queue group.
    pub queue: Option<Box<[u8]>>,
    /// The owner (for an internal subscription, its account's internal client, which has
    /// no socket).
    pub client: Arc<ClientHandle>,
    /// Where its messages go.
    pub dest: Dest,
    /// Queue weight: 1 for a local member; for a route's queue subscription, the members the
    /// peer has (a queue group picks among all members cluster-wide, as Go).
    weight: AtomicU32,
    delivered: AtomicU64,
    /// Auto-unsubscribe limit; 0 means none.
    max: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("cid", &self.client.cid)
            .field("subject", &String::from_utf8_lossy(self.subject()))
            .field("sid", &String::from_utf8_lossy(self.sid()))
            .finish_non_exhaustive()
    }
}

/// The outcome of counting one delivery against a subscription's auto-unsubscribe limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Deliver; the limit is not reached.
    Deliver,
    /// Deliver; this was the last one, remove the subscription.
    DeliverLast,
    /// Over the limit (or closed): drop, and make sure it is removed.
    Drop,
}

impl Subscription {
    /// The subject, possibly with wildcards.
    #[inline]
    pub fn subject(&self) -> &[u8] {
        &self.subject_sid[..self.sid_at as usize]
    }

    /// The client's subscription id.
    #[inline]
    pub fn sid(&self) -> &[u8] {
        &self.subject_sid[self.sid_at as usize..]
    }

    /// A new, open subscription with no limit. Counts itself into the owner's live count.
    pub fn new(
        subject: &[u8],
        queue: Option<&[u8]>,
        sid: &[u8],
        client: Arc<ClientHandle>,
    ) -> Subscription {
        client.subs.fetch_add(1, Ordering::Relaxed);
        let mut subject_sid = Vec::with_capacity(subject.len() + sid.len());
        subject_sid.extend_from_slice(subject);
        subject_sid.extend_from_slice(sid);
        Subscription {
            subject_sid: subject_sid.into(),
            // A subject longer than 4 GiB cannot get here (`max_control_line` is an i32).
            sid_at: u32::try_from(subject.len()).expect("subject under 4 GiB"),
            queue: queue.map(Into::into),
            client,
            dest: Dest::Client,
            weight: AtomicU32::new(1),
            delivered: AtomicU64::new(0),
            max: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// An internal subscription: `handler` answers what is published to `subject` in the
    /// account `client` (the account's internal client) belongs to.
    pub fn internal(
        subject: &[u8],
        client: Arc<ClientHandle>,
        handler: Arc<dyn crate::internal::InternalHandler>,
    ) -> Subscription {
        let mut s = Subscription::new(subject, None, b"0", client);
        s.dest = Dest::Internal(Box::new(handler));
        s
    }

    /// An import's subscription (see [`crate::imports::wire`]), owned by an account's
    /// internal client.
    pub fn cross(
        subject: &[u8],
        client: Arc<ClientHandle>,
        cross: Arc<crate::imports::Cross>,
    ) -> Subscription {
        let mut s = Subscription::new(subject, None, b"0", client);
        s.dest = Dest::Cross(cross);
        s
    }

    /// A peer's interest learned on a route (`RS+`), owned by the route's handle; `weight`
    /// is the peer's member count for a queue subscription.
    pub fn remote(
        subject: &[u8],
        queue: Option<&[u8]>,
        weight: u32,
        route: Arc<ClientHandle>,
    ) -> Subscription {
        let mut s = Subscription::new(subject, queue, b"", route);
        s.dest = Dest::Route;
        s.weight = AtomicU32::new(weight.max(1));
        s
    }

    /// Its queue weight (1 for local members).
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// A route's queue subscription changed weight (`RS+` again with a new count).
    pub fn set_weight(&self, weight: u32) {
        self.weight.store(weight.max(1), Ordering::Relaxed);
    }

    /// True for a peer's interest (see [`Dest::Route`]).
    #[inline]
    pub fn is_remote(&self) -> bool {
        matches!(self.dest, Dest::Route)
    }

    /// True if routes hear of this subscription (`RS+`): local ones, but not a service
    /// import's request side, which only serves publishers of this server (Go subscribes
    /// it with `noForward`).
    #[inline]
    pub fn forwards(&self) -> bool {
        match &self.dest {
            Dest::Route => false,
            Dest::Cross(c) => !matches!(**c, crate::imports::Cross::Request { .. }),
            _ => true,
        }
    }

    /// Counts one delivery attempt against the limit. Atomic, so concurrent publishers can
    /// never deliver past `max`. For subscriptions without an owner's queue (cross-account,
    /// internal); a client's are counted by [`ClientHandle::deliver_sub`] under its lock.
    /// A subscription is counted one way only, never both (the plain store there would
    /// lose a concurrent `fetch_add` here).
    pub fn admit(&self) -> Admit {
        if self.is_closed() {
            return Admit::Drop;
        }
        let n = self.delivered.fetch_add(1, Ordering::AcqRel) + 1;
        let max = self.max.load(Ordering::Acquire);
        if max == 0 || n < max {
            Admit::Deliver
        } else if n == max {
            self.close();
            Admit::DeliverLast
        } else {
            self.close();
            Admit::Drop
        }
    }

    /// `UNSUB sid max`: sets the limit; returns false if `max` is already reached (the
    /// caller removes the subscription now).
    pub fn set_max(&self, max: u64) -> bool {
        if max > 0 && max > self.delivered.load(Ordering::Acquire) {
            self.max.store(max, Ordering::Release);
            true
        } else {
            false
        }
    }

    /// Messages delivered (or attempted) so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// The auto-unsubscribe limit (0: none).
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Acquire)
    }

    /// Marks the subscription finished; deliveries stop. Returns true the first time (and
    /// only then takes it off its owner's live count).
    pub fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        if first {
            self.client.subs.fetch_sub(1, Ordering::Relaxed);
        }
        first
    }

    /// True once removed or exhausted.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Entry for Subscription {
    fn subject(&self) -> &[u8] {
        self.subject()
    }
    fn queue(&self) -> Option<&[u8]> {
        self.queue.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer's wake-up, counted.
    #[derive(Default)]
    struct Bell {
        rung: Mutex<u64>,
    }

    impl Notify for Bell {
        fn notify(&self) {
            *self.rung.lock().unwrap() += 1;
        }
    }

    fn msg(payload: &[u8]) -> Delivery<'_> {
        Delivery {
            subject: b"s",
            reply: None,
            header_len: 0,
            payload,
            has_headers: false,
        }
    }

    #[test]
    fn one_wake_up_is_owed_per_batch() {
        let bell = Arc::new(Bell::default());
        let h = ClientHandle::new(1, None, 1 << 20, 7, Arc::clone(&bell) as Arc<dyn Notify>);
        let now = Time::ZERO;
        assert_eq!(
            h.deliver(&msg(b"a"), b"1", now),
            Delivered::Queued { wake: true }
        );
        assert_eq!(
            h.deliver(&msg(b"b"), b"1", now),
            Delivered::Queued { wake: false }
        );
        assert_eq!(h.send(b"PONG\r\n"), Delivered::Queued { wake: false });
        assert_eq!(*bell.rung.lock().unwrap(), 0, "nobody woke it yet");
        h.wake();
        assert_eq!(*bell.rung.lock().unwrap(), 1);
        assert_eq!(
            h.deliver(&msg(b"c"), b"1", now),
            Delivered::Queued { wake: true }
        );
    }

    /// Every subscription holds one for its life (goal 4 of issue 19: 300 bytes per
    /// subscription). 88 bytes plus the `Arc`'s counts is a 112-byte allocation with the
    /// allocator's header; 104 (subject and sid apart) was 128. Also: both come back whole.
    #[test]
    fn a_subscription_stays_small() {
        let size = std::mem::size_of::<Subscription>();
        assert!(size <= 88, "Subscription is {size} bytes");
        let h = Arc::new(ClientHandle::new(
            1,
            None,
            1 << 20,
            1,
            Arc::new(Bell::default()),
        ));
        let s = Subscription::new(b"a.*.c", Some(b"q"), b"17", h);
        assert_eq!(
            (s.subject(), s.sid(), s.queue.as_deref()),
            (&b"a.*.c"[..], &b"17"[..], Some(&b"q"[..]))
        );
    }
}

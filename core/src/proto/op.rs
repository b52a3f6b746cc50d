//! Protocol operations as the parser yields them: borrowed, never owning.

/// One protocol operation. Slices borrow from the read buffer or, when the op was split across
/// reads, from the parser's own buffers; either way they live until the next `parse` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op<'a> {
    /// `CONNECT {json}`.
    Connect(&'a [u8]),
    /// `INFO {json}`.
    Info(&'a [u8]),
    /// `PUB subject [reply] size` and its payload.
    Pub {
        /// Subject published to.
        subject: &'a [u8],
        /// Optional reply subject.
        reply: Option<&'a [u8]>,
        /// The payload, without the trailing CRLF.
        payload: &'a [u8],
    },
    /// `HPUB subject [reply] hdr_size total_size`: `payload` holds headers then body.
    HPub {
        /// Subject published to.
        subject: &'a [u8],
        /// Optional reply subject.
        reply: Option<&'a [u8]>,
        /// How many leading bytes of `payload` are headers.
        header_len: usize,
        /// Headers followed by the body, without the trailing CRLF.
        payload: &'a [u8],
    },
    /// `MSG subject sid [reply] size` (server to client).
    Msg {
        /// Subject of the message.
        subject: &'a [u8],
        /// The subscription id it is delivered for.
        sid: &'a [u8],
        /// Optional reply subject.
        reply: Option<&'a [u8]>,
        /// The payload.
        payload: &'a [u8],
    },
    /// `HMSG subject sid [reply] hdr_size total_size` (server to client).
    HMsg {
        /// Subject of the message.
        subject: &'a [u8],
        /// The subscription id it is delivered for.
        sid: &'a [u8],
        /// Optional reply subject.
        reply: Option<&'a [u8]>,
        /// How many leading bytes of `payload` are headers.
        header_len: usize,
        /// Headers followed by the body.
        payload: &'a [u8],
    },
    /// `SUB subject [queue] sid`.
    Sub {
        /// Subject, possibly with wildcards (validated later, not by the parser).
        subject: &'a [u8],
        /// Queue group name.
        queue: Option<&'a [u8]>,
        /// Client-chosen subscription id.
        sid: &'a [u8],
    },
    /// `MSUB subject [queue] sid max` (ours, advertised as `"msub":true` in INFO): a
    /// subscription born with its auto-unsubscribe limit, so it never takes more than `max`
    /// messages (`SUB` then `UNSUB sid max` leaves a window between the two). `max` is at
    /// least 1. See `docs/msub.md`.
    SubMax {
        /// Subject, possibly with wildcards.
        subject: &'a [u8],
        /// Queue group name.
        queue: Option<&'a [u8]>,
        /// Client-chosen subscription id.
        sid: &'a [u8],
        /// Most messages it takes.
        max: u64,
    },
    /// `UNSUB sid [max]`. A `max` that is not a number parses as `Some(0)`, which the Go
    /// server treats as "unsubscribe now".
    Unsub {
        /// The subscription id.
        sid: &'a [u8],
        /// Deliveries allowed in total before the subscription ends.
        max: Option<u64>,
    },
    /// `PING`.
    Ping,
    /// `PONG`.
    Pong,
    /// `+OK`.
    Ok,
    /// `-ERR text` (the text as sent, quotes included).
    Err(&'a [u8]),
    /// Route interest: `RS+ <account> <subject> [<queue> <weight>]`, or with a leading
    /// origin cluster `LS+ <origin> <account> <subject> [<queue> <weight>]`.
    RSub {
        /// The origin cluster (`LS+` only).
        origin: Option<&'a [u8]>,
        /// The account the interest is in.
        account: &'a [u8],
        /// Subject, possibly with wildcards.
        subject: &'a [u8],
        /// Queue group and its weight (members on the sending server).
        queue: Option<(&'a [u8], u32)>,
    },
    /// Route interest gone: `RS- <account> <subject> [<queue>]` (`LS-` when `leaf`).
    RUnsub {
        /// Sent as `LS-`.
        leaf: bool,
        /// The account.
        account: &'a [u8],
        /// Subject.
        subject: &'a [u8],
        /// Queue group.
        queue: Option<&'a [u8]>,
    },
    /// A routed message: `RMSG <account> <subject> [<reply>] <size>`, with queues
    /// `RMSG <account> <subject> + <reply> <q>... <size>` or `... | <q>... <size>`; or, from a
    /// route, `HMSG` with the same grammar plus a header size before the total.
    RMsg {
        /// The account.
        account: &'a [u8],
        /// Subject.
        subject: &'a [u8],
        /// Reply subject.
        reply: Option<&'a [u8]>,
        /// The queue names, space separated as sent (a filter for queue groups), if any.
        queues: Option<&'a [u8]>,
        /// Bytes of headers at the start of `payload` (0 for RMSG).
        header_len: usize,
        /// Headers then body.
        payload: &'a [u8],
        /// Sent as `HMSG` (headers present, even if empty).
        has_headers: bool,
    },
}

/// Who is on the other end of a connection: it decides which verbs the parser accepts and
/// how it reads `HMSG` (a route's carries an account). The Go server's parser switches on
/// the connection kind the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnKind {
    /// A client: the client protocol (route verbs are unknown ops, as in Go). `MSG`/`HMSG`
    /// parse (the connection refuses them), so this is also what a client-side parser of
    /// server output uses.
    #[default]
    Client,
    /// A route to another server of the cluster: `INFO`, `CONNECT`, `PING`/`PONG`, `+OK`,
    /// `-ERR`, `RS+`, `RS-`, `RMSG`, route `HMSG`, `LS+`, `LS-`. `PUB`, `SUB`, `UNSUB`, `MSG`
    /// from a route are unknown ops.
    Route,
}

/// Why the parser stopped. Every variant closes the connection; the [`conn`](crate::conn) layer
/// decides which ones first send an `-ERR`, as the Go server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// An unknown verb or a malformed frame: `-ERR 'Unknown Protocol Operation'`.
    UnknownOp,
    /// The control line passed `max_control_line`: `-ERR 'maximum control line exceeded'`.
    MaxControlLine,
    /// A payload larger than `max_payload`: `-ERR 'Maximum Payload Violation'`.
    MaxPayload {
        /// The announced size.
        size: usize,
    },
    /// Wrong number of arguments or a bad size: the Go server closes without an `-ERR`.
    BadArgs,
    /// `HPUB`/`HMSG` from a peer that did not declare headers: closed without an `-ERR`.
    HeadersNotSupported,
}

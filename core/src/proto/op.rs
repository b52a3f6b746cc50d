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

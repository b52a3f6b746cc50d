//! The resumable protocol parser.
//!
//! Feed it whatever the socket returned; it yields one [`Op`] at a time and remembers where it
//! was when a read ends mid-op. Verbs are recognised byte by byte (an unknown first byte is an
//! error at once, as in the Go server); argument lines are found with a scan for `\n`; payloads
//! are returned as slices of the caller's buffer when they sit whole inside it and copied into
//! the parser only when split across reads.

use super::op::{ConnKind, Op, ParseError};
use super::route;

mod fast;

/// The limits enforced while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest argument line (after the verb), in bytes. Go's default is 4096.
    pub max_control_line: usize,
    /// Largest payload (headers included), in bytes. Go's default is 1 MiB.
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024,
        }
    }
}

/// Which op an argument line or payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Connect,
    Info,
    Pub,
    HPub,
    Msg,
    HMsg,
    Sub,
    /// `MSUB` (ours: a subscription with its limit).
    MSub,
    Unsub,
    Ping,
    Pong,
    Ok,
    Err,
    /// `RS+`.
    RSub,
    /// `RS-`.
    RUnsub,
    /// `LS+`.
    LSub,
    /// `LS-`.
    LUnsub,
    /// `RMSG`.
    RMsg,
    /// `HMSG` from a route (it carries an account).
    RHMsg,
}

impl Kind {
    /// Whether a peer of kind `conn` may send it.
    const fn allowed(self, conn: ConnKind) -> bool {
        use Kind::*;
        match conn {
            ConnKind::Client => !matches!(self, RSub | RUnsub | LSub | LUnsub | RMsg | RHMsg),
            ConnKind::Route => !matches!(self, Pub | HPub | Msg | Sub | MSub | Unsub),
        }
    }

    /// Ops with a payload after the line.
    fn is_message(self) -> bool {
        matches!(
            self,
            Kind::Pub | Kind::HPub | Kind::Msg | Kind::HMsg | Kind::RMsg | Kind::RHMsg
        )
    }
}

/// The verbs, upper case, with their kinds. No verb is a prefix of another.
const VERBS: [(&[u8], Kind); 18] = [
    (b"CONNECT", Kind::Connect),
    (b"INFO", Kind::Info),
    (b"PUB", Kind::Pub),
    (b"HPUB", Kind::HPub),
    (b"MSG", Kind::Msg),
    (b"HMSG", Kind::HMsg),
    (b"SUB", Kind::Sub),
    (b"UNSUB", Kind::Unsub),
    (b"PING", Kind::Ping),
    (b"PONG", Kind::Pong),
    (b"+OK", Kind::Ok),
    (b"-ERR", Kind::Err),
    (b"RS+", Kind::RSub),
    (b"RS-", Kind::RUnsub),
    (b"RMSG", Kind::RMsg),
    (b"LS+", Kind::LSub),
    (b"LS-", Kind::LUnsub),
    (b"MSUB", Kind::MSub),
];

/// No verb starts with this byte (in a [`first_byte_table`]).
const NO_VERB: u8 = u8::MAX;

/// For each (upper-cased) first byte, the first verb a peer of kind `conn` may send that
/// starts with it: the first byte of every op is one table load, as it was before the route
/// verbs made the search longer (a linear search there cost ~10% of small-PUB throughput).
const fn first_byte_table(conn: ConnKind) -> [u8; 256] {
    let mut t = [NO_VERB; 256];
    let mut i = VERBS.len();
    // Backwards, so the first matching verb in table order wins.
    while i > 0 {
        i -= 1;
        if VERBS[i].1.allowed(conn) {
            t[VERBS[i].0[0] as usize] = i as u8;
        }
    }
    t
}

static FIRST_CLIENT: [u8; 256] = first_byte_table(ConnKind::Client);
static FIRST_ROUTE: [u8; 256] = first_byte_table(ConnKind::Route);

/// Most arguments any op takes (`HMSG subject sid reply hdr total`).
const MAX_ARGS: usize = 5;

/// Parser states. Each names what the next byte is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between ops: the next byte starts a verb.
    Start,
    /// Inside a verb; `verb[..verb_len]` holds it so far.
    Verb,
    /// After `PING`/`PONG`/`+OK`: everything up to `\n` is ignored (Go does the same).
    SkipToEol(Kind),
    /// After a verb that needs a separator: one space or tab must come next.
    NeedSpace(Kind),
    /// Skipping separators before the arguments.
    ArgSpace(Kind),
    /// Collecting the argument line into `line` (it was split across reads).
    Args(Kind),
    /// Collecting a split payload into `payload` (the line is in `line`).
    Payload,
}

/// Where a message op's fields sit in its argument line (byte ranges), parsed once.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Fields {
    pub(super) account: (usize, usize),
    pub(super) queues: Option<(usize, usize)>,
    pub(super) subject: (usize, usize),
    pub(super) sid: (usize, usize),
    pub(super) reply: Option<(usize, usize)>,
    pub(super) header_len: usize,
    pub(super) size: usize,
}

/// A message op whose payload is still arriving.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    kind: Option<Kind>,
    fields: Fields,
}

/// A resumable, byte-at-a-time parser for the NATS protocol (both directions).
#[derive(Debug)]
pub struct Parser {
    limits: Limits,
    conn: ConnKind,
    headers: bool,
    state: State,
    /// Index into [`VERBS`] of the verb being read, and how many of its bytes matched.
    verb: usize,
    verb_len: usize,
    /// The argument line, when it was split across reads or its payload was.
    line: Vec<u8>,
    /// The payload plus its CRLF, when split across reads.
    payload: Vec<u8>,
    pending: Pending,
    /// The last op borrowed `line`/`payload`; clear them before parsing on.
    reset_owned: bool,
    /// What the last `BadArgs` was about, for the log line Go writes (cold path; a cell so
    /// the error path can record it while the line is still borrowed).
    bad_args: std::cell::RefCell<Option<Box<BadArgs>>>,
}

/// The op and argument line of a refused op, in the Go server's words: `processPub Bad or
/// Missing Size: "foo -1"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadArgs {
    /// Go's function name for the op (`processPub`, `processSub`, …).
    pub op: &'static str,
    /// Go's reason (`Parse Error`, `Bad or Missing Size`).
    pub what: &'static str,
    /// The argument line as sent.
    pub line: Vec<u8>,
}

/// Owned buffers larger than this are released after use rather than kept for reuse.
const KEEP_CAPACITY: usize = 64 * 1024;

impl Parser {
    /// A parser of what a client sends (and of what a server sends a client), enforcing
    /// `limits`. Header ops (`HPUB`/`HMSG`) are refused until
    /// [`set_headers`](Self::set_headers) allows them.
    pub fn new(limits: Limits) -> Parser {
        Parser::for_peer(limits, ConnKind::Client)
    }

    /// A parser of what a peer of kind `conn` sends: it accepts only that kind's verbs
    /// (anything else is an unknown op at its first byte that no allowed verb starts with)
    /// and reads `HMSG` in that kind's grammar.
    pub fn for_peer(limits: Limits, conn: ConnKind) -> Parser {
        Parser {
            limits,
            conn,
            headers: false,
            state: State::Start,
            verb: 0,
            verb_len: 0,
            line: Vec::new(),
            payload: Vec::new(),
            pending: Pending::default(),
            reset_owned: false,
            bad_args: std::cell::RefCell::new(None),
        }
    }

    /// Allows or refuses `HPUB`/`HMSG` (a client enables them in CONNECT).
    pub fn set_headers(&mut self, on: bool) {
        self.headers = on;
    }

    /// Replaces the limits (config reload). Ops already past their size checks finish under
    /// the old limits; every later op is checked against the new ones.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes the parser holds for a split op (bounded by the limits plus a CRLF).
    pub fn buffered(&self) -> usize {
        self.line.len() + self.payload.len()
    }

    /// True when the parser is between ops (the next byte starts a verb).
    pub fn at_op_start(&self) -> bool {
        self.state == State::Start
    }

    /// Parses the next op from `buf[*pos..]`, advancing `*pos` past what it consumed.
    ///
    /// Returns `Ok(Some(op))` for a complete op, `Ok(None)` when `buf` is used up mid-op (the
    /// state is kept: call again with the next read), and `Err` on a protocol error, after which
    /// the parser must not be used again (the connection closes).
    pub fn parse<'a>(
        &'a mut self,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        if self.reset_owned {
            self.reset_owned = false;
            clear_buf(&mut self.line);
            clear_buf(&mut self.payload);
        }
        while *pos < buf.len() {
            match self.state {
                State::Start => {
                    if let Some(op) = self.whole_pub(buf, pos) {
                        return Ok(Some(op));
                    }
                    if self.conn == ConnKind::Route {
                        if let Some(op) = self.whole_rmsg(buf, pos) {
                            return Ok(Some(op));
                        }
                    }
                    self.verb_len = 0;
                    self.state = State::Verb;
                }
                State::Verb => {
                    let b = buf[*pos].to_ascii_uppercase();
                    *pos += 1;
                    self.push_verb_byte(b)?;
                }
                State::SkipToEol(kind) => match memchr(b'\n', &buf[*pos..]) {
                    Some(i) => {
                        *pos += i + 1;
                        self.state = State::Start;
                        return Ok(Some(match kind {
                            Kind::Ping => Op::Ping,
                            Kind::Pong => Op::Pong,
                            _ => Op::Ok,
                        }));
                    }
                    None => *pos = buf.len(),
                },
                State::NeedSpace(kind) => {
                    if !is_space(buf[*pos]) {
                        return Err(ParseError::UnknownOp);
                    }
                    *pos += 1;
                    self.state = State::ArgSpace(kind);
                }
                State::ArgSpace(kind) => {
                    if is_space(buf[*pos]) {
                        *pos += 1;
                    } else {
                        self.line.clear();
                        self.state = State::Args(kind);
                        return self.parse_line(kind, buf, pos);
                    }
                }
                State::Args(kind) => return self.parse_line(kind, buf, pos),
                State::Payload => return self.parse_split_payload(buf, pos),
            }
        }
        Ok(None)
    }

    /// Advances the verb by one (upper-cased) byte. The candidate verb goes on while its
    /// next byte matches (the common case: one compare); on a mismatch the first verb allowed
    /// for this peer with the same prefix and this byte takes over (`PUB`/`PING`/`PONG`,
    /// `HPUB`/`HMSG`, `RS+`/`RS-`/`RMSG`), like the Go parser's switch.
    fn push_verb_byte(&mut self, b: u8) -> Result<(), ParseError> {
        let i = self.verb_len;
        let cur = VERBS[self.verb].0;
        let verb = if i == 0 {
            let first = match self.conn {
                ConnKind::Client => &FIRST_CLIENT,
                ConnKind::Route => &FIRST_ROUTE,
            };
            Some(usize::from(first[usize::from(b)])).filter(|&v| v != usize::from(NO_VERB))
        } else if cur.get(i) == Some(&b) {
            Some(self.verb)
        } else {
            let conn = self.conn;
            VERBS.iter().position(|(v, kind)| {
                kind.allowed(conn) && v.len() > i && v[..i] == cur[..i] && v[i] == b
            })
        };
        let Some(verb) = verb else {
            return Err(ParseError::UnknownOp);
        };
        self.verb = verb;
        self.verb_len = i + 1;
        let (name, kind) = VERBS[verb];
        if self.verb_len == name.len() {
            // A route's HMSG carries an account: the same verb, another grammar.
            let kind = if kind == Kind::HMsg && self.conn == ConnKind::Route {
                Kind::RHMsg
            } else {
                kind
            };
            self.state = match kind {
                Kind::Ping | Kind::Pong | Kind::Ok => State::SkipToEol(kind),
                // Go skips separators after these and lets anything else start the JSON.
                Kind::Connect | Kind::Info => State::ArgSpace(kind),
                _ => State::NeedSpace(kind),
            };
        }
        Ok(())
    }

    /// What the last [`ParseError::BadArgs`] was about (taken: a second call gives `None`).
    pub fn take_bad_args(&self) -> Option<Box<BadArgs>> {
        self.bad_args.borrow_mut().take()
    }

    /// Records a refused argument line (cold).
    #[cold]
    fn note_bad_args(&self, kind: Kind, line: &[u8]) {
        let n = split_ranges(line).map_or(0, |a| a.len());
        let (op, ok_counts): (&'static str, &[usize]) = match kind {
            Kind::Pub => ("processPub", &[2, 3]),
            Kind::HPub => ("processHeaderPub", &[3, 4]),
            Kind::Sub => ("processSub", &[2, 3]),
            Kind::MSub => ("processMsub", &[3, 4]),
            Kind::Unsub => ("processUnsub", &[1, 2]),
            _ => ("processOp", &[]),
        };
        // The right number of arguments: a size (or max) was wrong.
        let what = if ok_counts.contains(&n) && kind != Kind::Sub {
            "Bad or Missing Size"
        } else {
            "Parse Error"
        };
        *self.bad_args.borrow_mut() = Some(Box::new(BadArgs {
            op,
            what,
            line: trim_end_blanks(line).to_vec(),
        }));
    }

    /// In `Args`: finds the end of the argument line and acts on it.
    fn parse_line<'a>(
        &'a mut self,
        kind: Kind,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        let rest = &buf[*pos..];
        let Some(nl) = memchr(b'\n', rest) else {
            // Split line: keep it, but never more than the limit (plus room for a '\r').
            if self.line.len() + rest.len() > self.limits.max_control_line + 1 {
                return Err(ParseError::MaxControlLine);
            }
            self.line.extend_from_slice(rest);
            *pos = buf.len();
            return Ok(None);
        };
        *pos += nl + 1;
        let split = !self.line.is_empty();
        if split {
            self.line.extend_from_slice(&rest[..nl]);
        }
        // Trailing blanks carry nothing and are not counted (INFO is encoded with one), so an op
        // at the limit still round-trips; a split line stays bounded by the check above.
        let line_len =
            trim_end_blanks(strip_cr(if split { &self.line } else { &rest[..nl] })).len();
        if line_len > self.limits.max_control_line {
            return Err(ParseError::MaxControlLine);
        }
        self.state = State::Start;
        if kind.is_message() {
            if split {
                return self.start_payload_owned_line(kind, buf, pos);
            }
            return self.start_payload(kind, strip_cr(&rest[..nl]), buf, pos);
        }
        let line: &'a [u8] = if split {
            // Borrow the owned line; it is cleared at the next call.
            self.reset_owned = true;
            strip_cr(&self.line)
        } else {
            strip_cr(&rest[..nl])
        };
        match kind {
            // Trailing blanks carry nothing (the Go server ends INFO with a space); dropping
            // them keeps encode → parse a round trip.
            Kind::Connect => Ok(Some(Op::Connect(trim_end_blanks(line)))),
            Kind::Info => Ok(Some(Op::Info(trim_end_blanks(line)))),
            Kind::Err => Ok(Some(Op::Err(trim_end_blanks(line)))),
            Kind::Sub | Kind::MSub | Kind::Unsub => {
                let r = match kind {
                    Kind::Sub => parse_sub(line),
                    Kind::MSub => parse_msub(line),
                    _ => parse_unsub(line),
                };
                if r.is_err() {
                    self.note_bad_args(kind, line);
                }
                r.map(Some)
            }
            Kind::RSub | Kind::LSub => route::parse_rsub(line, kind == Kind::LSub).map(Some),
            Kind::RUnsub | Kind::LUnsub => {
                route::parse_runsub(line, kind == Kind::LUnsub).map(Some)
            }
            _ => unreachable!("message kinds returned above; PING/PONG/+OK have no line"),
        }
    }

    /// The line is in `buf` (not split). Parse sizes, then take the payload from `buf` if it
    /// is all there, else copy the line and start collecting the payload.
    fn start_payload<'a>(
        &'a mut self,
        kind: Kind,
        line: &'a [u8],
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        let f = match self.message_fields(kind, line) {
            Ok(f) => f,
            Err(e) => {
                if e == ParseError::BadArgs {
                    self.note_bad_args(kind, line);
                }
                return Err(e);
            }
        };
        let rest = &buf[*pos..];
        check_crlf(rest, f.size)?;
        if rest.len() >= f.size + 2 {
            *pos += f.size + 2;
            return Ok(Some(build_message(kind, line, &f, &rest[..f.size])));
        }
        self.line.clear();
        self.line.extend_from_slice(line);
        self.begin_split_payload(kind, f, buf, pos)
    }

    /// The line is already in `self.line` (it was split).
    fn start_payload_owned_line<'a>(
        &'a mut self,
        kind: Kind,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        let cr = usize::from(self.line.last() == Some(&b'\r'));
        self.line.truncate(self.line.len() - cr);
        let f = match self.message_fields(kind, &self.line) {
            Ok(f) => f,
            Err(e) => {
                if e == ParseError::BadArgs {
                    self.note_bad_args(kind, &self.line);
                }
                return Err(e);
            }
        };
        let rest = &buf[*pos..];
        check_crlf(rest, f.size)?;
        if rest.len() >= f.size + 2 {
            *pos += f.size + 2;
            self.reset_owned = true;
            return Ok(Some(build_message(kind, &self.line, &f, &rest[..f.size])));
        }
        self.reset_owned = false;
        self.begin_split_payload(kind, f, buf, pos)
    }

    fn begin_split_payload<'a>(
        &'a mut self,
        kind: Kind,
        fields: Fields,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        self.pending = Pending {
            kind: Some(kind),
            fields,
        };
        self.payload.clear();
        self.payload.reserve(fields.size + 2);
        self.state = State::Payload;
        self.parse_split_payload(buf, pos)
    }

    fn parse_split_payload<'a>(
        &'a mut self,
        buf: &'a [u8],
        pos: &mut usize,
    ) -> Result<Option<Op<'a>>, ParseError> {
        let Pending { kind, fields } = self.pending;
        let size = fields.size;
        let kind = kind.expect("Payload state always has a pending kind");
        let need = size + 2 - self.payload.len();
        let take = need.min(buf.len() - *pos);
        self.payload.extend_from_slice(&buf[*pos..*pos + take]);
        *pos += take;
        check_crlf(&self.payload, size)?;
        if self.payload.len() < size + 2 {
            return Ok(None);
        }
        self.state = State::Start;
        self.reset_owned = true;
        Ok(Some(build_message(
            kind,
            &self.line,
            &fields,
            &self.payload[..size],
        )))
    }

    /// Splits a message op's argument line once and checks its sizes.
    fn message_fields(&self, kind: Kind, line: &[u8]) -> Result<Fields, ParseError> {
        if matches!(kind, Kind::HPub | Kind::HMsg) && !self.headers {
            return Err(ParseError::HeadersNotSupported);
        }
        if matches!(kind, Kind::RMsg | Kind::RHMsg) {
            let f = route::rmsg_fields(line, kind == Kind::RHMsg)?;
            if f.size > self.limits.max_payload {
                return Err(ParseError::MaxPayload { size: f.size });
            }
            return Ok(f);
        }
        let args = split_ranges(line)?;
        let n = args.len();
        // (fewest arguments, has a sid, has a header size)
        let (min, has_sid, with_hdr) = match kind {
            Kind::Pub => (2, false, false),
            Kind::HPub => (3, false, true),
            Kind::Msg => (3, true, false),
            _ => (4, true, true),
        };
        if n != min && n != min + 1 {
            return Err(ParseError::BadArgs);
        }
        let arg = |i: usize| &line[args[i].0..args[i].1];
        let size = parse_size(arg(n - 1)).ok_or(ParseError::BadArgs)?;
        let header_len = if with_hdr {
            let h = parse_size(arg(n - 2)).ok_or(ParseError::BadArgs)?;
            if h > size {
                return Err(ParseError::BadArgs);
            }
            h
        } else {
            0
        };
        if size > self.limits.max_payload {
            return Err(ParseError::MaxPayload { size });
        }
        let first_after_subject = 1 + usize::from(has_sid);
        Ok(Fields {
            account: (0, 0),
            queues: None,
            subject: args[0],
            sid: if has_sid { args[1] } else { (0, 0) },
            reply: (n == min + 1).then(|| args[first_after_subject]),
            header_len,
            size,
        })
    }
}

fn clear_buf(b: &mut Vec<u8>) {
    if b.capacity() > KEEP_CAPACITY {
        *b = Vec::new();
    } else {
        b.clear();
    }
}

/// Checks the two bytes after a payload of `size` bytes, as far as `data` reaches.
fn check_crlf(data: &[u8], size: usize) -> Result<(), ParseError> {
    if data.len() > size && data[size] != b'\r' {
        return Err(ParseError::UnknownOp);
    }
    if data.len() > size + 1 && data[size + 1] != b'\n' {
        return Err(ParseError::UnknownOp);
    }
    Ok(())
}

fn build_message<'a>(kind: Kind, line: &'a [u8], f: &Fields, payload: &'a [u8]) -> Op<'a> {
    let at = |(a, b): (usize, usize)| &line[a..b];
    let subject = at(f.subject);
    let reply = f.reply.map(at);
    match kind {
        Kind::Pub => Op::Pub {
            subject,
            reply,
            payload,
        },
        Kind::HPub => Op::HPub {
            subject,
            reply,
            header_len: f.header_len,
            payload,
        },
        Kind::Msg => Op::Msg {
            subject,
            sid: at(f.sid),
            reply,
            payload,
        },
        Kind::RMsg | Kind::RHMsg => Op::RMsg {
            account: at(f.account),
            subject,
            reply,
            queues: f.queues.map(at),
            header_len: f.header_len,
            payload,
            has_headers: kind == Kind::RHMsg,
        },
        _ => Op::HMsg {
            subject,
            sid: at(f.sid),
            reply,
            header_len: f.header_len,
            payload,
        },
    }
}

fn parse_sub(line: &[u8]) -> Result<Op<'_>, ParseError> {
    let args = split_args(line)?;
    match args.as_slice() {
        [subject, sid] => Ok(Op::Sub {
            subject,
            queue: None,
            sid,
        }),
        [subject, queue, sid] => Ok(Op::Sub {
            subject,
            queue: Some(queue),
            sid,
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// `MSUB subject [queue] sid max`: told apart by the count (3 or 4); `max` must be a
/// positive number (anything else is a protocol error: a limit the server cannot honour
/// must not become "no limit").
fn parse_msub(line: &[u8]) -> Result<Op<'_>, ParseError> {
    let args = split_args(line)?;
    let (subject, queue, sid, max) = match args.as_slice() {
        [subject, sid, max] => (subject, None, sid, max),
        [subject, queue, sid, max] => (subject, Some(*queue), sid, max),
        _ => return Err(ParseError::BadArgs),
    };
    match parse_size(max) {
        Some(m) if m > 0 => Ok(Op::SubMax {
            subject,
            queue,
            sid,
            max: m as u64,
        }),
        _ => Err(ParseError::BadArgs),
    }
}

fn parse_unsub(line: &[u8]) -> Result<Op<'_>, ParseError> {
    let args = split_args(line)?;
    match args.as_slice() {
        [sid] => Ok(Op::Unsub { sid, max: None }),
        // Go: a max that is not a number becomes -1, which means "unsubscribe now".
        [sid, max] => Ok(Op::Unsub {
            sid,
            max: Some(parse_size(max).map_or(0, |m| m as u64)),
        }),
        _ => Err(ParseError::BadArgs),
    }
}

/// Byte ranges of the arguments of a line, split on spaces and tabs. More than
/// [`MAX_ARGS`] is an error.
fn split_ranges(line: &[u8]) -> Result<smallvec::SmallVec<[(usize, usize); MAX_ARGS]>, ParseError> {
    let mut args = smallvec::SmallVec::new();
    let mut start = None;
    for (i, &b) in line.iter().enumerate() {
        match (is_space(b), start) {
            (true, Some(s)) => {
                if args.len() == MAX_ARGS {
                    return Err(ParseError::BadArgs);
                }
                args.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        if args.len() == MAX_ARGS {
            return Err(ParseError::BadArgs);
        }
        args.push((s, line.len()));
    }
    Ok(args)
}

/// Splits an argument line on spaces and tabs. More than [`MAX_ARGS`] is an error.
pub(super) fn split_args(line: &[u8]) -> Result<smallvec::SmallVec<[&[u8]; MAX_ARGS]>, ParseError> {
    let mut args = smallvec::SmallVec::new();
    for a in line.split(|&b| is_space(b)).filter(|a| !a.is_empty()) {
        if args.len() == MAX_ARGS {
            return Err(ParseError::BadArgs);
        }
        args.push(a);
    }
    Ok(args)
}

/// Go's `parseSize`: 1 to 9 ASCII digits, nothing else.
pub fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        d.iter()
            .fold(0usize, |n, &b| n * 10 + usize::from(b - b'0')),
    )
}

pub(super) fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_end_blanks(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(0, |i| i + 1);
    &line[..end]
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Position of the first `needle` in `hay` (the compiler vectorises this loop well enough).
pub(super) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

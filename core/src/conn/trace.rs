//! Protocol tracing (`-V`): every op in and out as a `[TRC]` log event, in the Go server's
//! shape: `<<- [PUB foo 5]`, `<<- MSG_PAYLOAD: ["hello"]`, `->> [MSG foo 1 5]`, `->> [OK]`.
//! Only built when `Options::trace` is on: formatting costs an allocation per op.

use super::{ConnEvent, LogLevel, State};
use crate::proto::encode::go_quote;
use crate::proto::Op;

impl State {
    /// True when protocol tracing is on for this connection.
    pub(super) fn tracing(&self) -> bool {
        self.cfg.trace
    }

    /// Traces an op the client sent (and its payload).
    pub(super) fn trace_in(&mut self, op: &Op<'_>) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let opt = |b: Option<&[u8]>| b.map(|r| format!(" {}", s(r))).unwrap_or_default();
        let (line, payload) = match *op {
            Op::Connect(j) => (format!("CONNECT {}", s(j)), None),
            Op::Info(j) => (format!("INFO {}", s(j)), None),
            Op::Pub {
                subject,
                reply,
                payload,
            } => (
                format!("PUB {}{} {}", s(subject), opt(reply), payload.len()),
                Some(payload),
            ),
            Op::HPub {
                subject,
                reply,
                header_len,
                payload,
            } => (
                format!(
                    "HPUB {}{} {} {}",
                    s(subject),
                    opt(reply),
                    header_len,
                    payload.len()
                ),
                Some(payload),
            ),
            Op::Msg { subject, sid, .. } | Op::HMsg { subject, sid, .. } => {
                (format!("MSG {} {}", s(subject), s(sid)), None)
            }
            Op::Sub {
                subject,
                queue,
                sid,
            } => (format!("SUB {}{} {}", s(subject), opt(queue), s(sid)), None),
            Op::SubMax {
                subject,
                queue,
                sid,
                max,
            } => (
                format!("MSUB {}{} {} {max}", s(subject), opt(queue), s(sid)),
                None,
            ),
            Op::Unsub { sid, max } => {
                let max = max.map(|m| format!(" {m}")).unwrap_or_default();
                (format!("UNSUB {}{max}", s(sid)), None)
            }
            Op::Ping => ("PING".to_string(), None),
            Op::Pong => ("PONG".to_string(), None),
            Op::Ok => ("OK".to_string(), None),
            Op::Err(t) => (format!("-ERR {}", s(t)), None),
            // Route ops: a client parser never yields them.
            Op::RSub { subject, .. } => (format!("RS+ {}", s(subject)), None),
            Op::RUnsub { subject, .. } => (format!("RS- {}", s(subject)), None),
            Op::RMsg { subject, .. } => (format!("RMSG {}", s(subject)), None),
        };
        self.log(LogLevel::Trace, format!("<<- [{line}]"));
        if let Some(p) = payload {
            self.log(
                LogLevel::Trace,
                format!("<<- MSG_PAYLOAD: [{}]", go_quote(p)),
            );
        }
    }

    /// Traces an op sent to this client.
    pub(super) fn trace_out(&mut self, line: &str) {
        if self.tracing() {
            self.log(LogLevel::Trace, format!("->> [{line}]"));
        }
    }

    /// Traces a message delivered to another client (logged under the receiver's address
    /// and cid, as Go does).
    pub(super) fn trace_delivery(
        &mut self,
        to: &crate::client::ClientHandle,
        subject: &[u8],
        sid: &[u8],
        size: usize,
    ) {
        let who = to.log_prefix();
        let line = format!(
            "{who} - ->> [MSG {} {} {size}]",
            String::from_utf8_lossy(subject),
            String::from_utf8_lossy(sid)
        );
        self.push_event(ConnEvent::Log(LogLevel::Trace, line));
    }
}

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
            Op::Connect(j) => (format!("CONNECT {}", redact_secrets(&s(j))), None),
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

/// Go 2.15.1's `removeSecretsFromTrace`: the values of keys starting with `pass` or
/// `auth_token`, and of `nkey`, `sig`, `proxy_sig`, become `[REDACTED]` in a traced
/// CONNECT (the rest of the text is kept as sent).
pub(crate) fn redact_secrets(text: &str) -> String {
    let secret = |key: &str| {
        key.starts_with("pass")
            || key.starts_with("auth_token")
            || matches!(key, "nkey" | "sig" | "proxy_sig")
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] != b'"' {
            i += 1;
            continue;
        }
        // A quoted key: `"name"`, then optional blanks and `:`.
        let Some(len) = b[i + 1..].iter().position(|&c| c == b'"') else {
            break;
        };
        let key = &text[i + 1..i + 1 + len];
        let mut j = i + 2 + len;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < b.len() && b[j] == b':' && secret(key) {
            j += 1;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'"' {
                j += 1;
            }
            let end = b[j..]
                .iter()
                .position(|&c| matches!(c, b'"' | b',' | b'\r' | b'\n' | b'}'))
                .map_or(b.len(), |p| j + p);
            out.push_str(&text[copied..j]);
            out.push_str("[REDACTED]");
            copied = end;
            // Past the value's closing quote, so it is not read as a key's opening one.
            i = if end < b.len() && b[end] == b'"' {
                end + 1
            } else {
                end
            };
            continue;
        }
        i += 2 + len;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact_secrets;

    #[test]
    fn secrets_are_redacted_as_go_does() {
        assert_eq!(
            redact_secrets(r#"{"verbose":true,"user":"a","pass":"secret","auth_token":"t"}"#),
            r#"{"verbose":true,"user":"a","pass":"[REDACTED]","auth_token":"[REDACTED]"}"#
        );
        assert_eq!(
            redact_secrets(r#"{"nkey":"UAB","sig":"xyz","name":"sig"}"#),
            r#"{"nkey":"[REDACTED]","sig":"[REDACTED]","name":"sig"}"#
        );
        assert_eq!(
            redact_secrets(r#"{"password": "p w"}"#),
            r#"{"password": "[REDACTED]"}"#
        );
        assert_eq!(redact_secrets(r#"{"jwt":"eyJ"}"#), r#"{"jwt":"eyJ"}"#);
        assert_eq!(
            redact_secrets(r#"{"pass""#),
            r#"{"pass""#,
            "cut short: no panic"
        );
        assert_eq!(redact_secrets(r#"{"pass":"#), r#"{"pass":[REDACTED]"#);
    }
}

//! Helpers shared by the connection unit tests (test builds only).

use std::sync::Arc;

use super::{Connection, Shared, Time};
use crate::client::Notify;

/// A connection's wake-up hook that does nothing: the tests poll by hand.
pub(super) struct Nop;

impl Notify for Nop {
    fn notify(&self) {}
}

/// The time every test starts at (not zero, so "before" is representable).
pub(super) const T0: Time = Time::from_nanos(1_000_000_000);

pub(super) fn nop() -> Arc<dyn Notify> {
    Arc::new(Nop)
}

/// A client accepted at `T0`, INFO dropped, then `CONNECT <connect>` and `ops` read.
pub(super) fn connected_with(sh: &Shared, connect: &str, ops: &str) -> Connection {
    let mut c = Connection::accept(sh, T0, None, nop());
    c.handle().take(&mut Vec::new());
    c.handle_read(T0, format!("CONNECT {connect}\r\n{ops}").as_bytes(), sh)
        .unwrap();
    c
}

/// Everything queued for the socket, taken (as the writer would).
pub(super) fn recv(c: &Connection) -> String {
    let mut out = Vec::new();
    c.handle().take(&mut out);
    String::from_utf8(out).unwrap()
}

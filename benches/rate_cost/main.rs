//! The cost of a publish rate limit that is configured but never reached (built and run by
//! `benches/rate_cost.sh` under callgrind): the `icount` workload (one publisher feeding
//! 64 KiB batches of `PUB foo 16`, 0 or 1 subscriber), with no limit, or with a per-connection
//! limit (`msgs` and `bytes`) far above what it publishes, or the same on the account.

use std::sync::Arc;
use natsd_core::auth::User;
use natsd_core::client::Notify;
use natsd_core::conn::Connection;
use natsd_core::options::{AccountOptions, Options, RateLimit};
use natsd_core::shared::Shared;
use natsd_core::Time;

struct Nop;
impl Notify for Nop { fn notify(&self) {} }

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "pub".into());
    let limit = std::env::args().nth(2).unwrap_or_else(|| "none".into());
    let n: usize = 200_000;
    let t0 = Time::from_nanos(1_000_000_000);
    let huge = RateLimit { msgs: Some(1 << 40), bytes: Some(1 << 50), ..RateLimit::default() };
    let mut o = Options::default();
    o.auth.users = vec![User { name: "u".into(), password: "p".into(), account: Some("A".into()), ..User::default() }];
    o.accounts = vec![AccountOptions { name: "A".into(), ..AccountOptions::default() }];
    match limit.as_str() {
        "conn" => o.publish_rate = Some(huge),
        "account" => o.accounts[0].publish_rate = Some(huge),
        _ => {}
    }
    let sh = Shared::new(o, "NBENCH".into(), t0);
    let login = b"CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\n";
    let mut p = Connection::accept(&sh, t0, None, Arc::new(Nop));
    p.handle_read(t0, login, &sh).unwrap();
    let mut subs = Vec::new();
    if mode == "pubsub" {
        let mut s = Connection::accept(&sh, t0, None, Arc::new(Nop));
        s.handle_read(t0, login, &sh).unwrap();
        s.handle_read(t0, b"SUB foo 1\r\n", &sh).unwrap();
        subs.push(s);
    }
    let one = b"PUB foo 16\r\n0123456789abcdef\r\n";
    let per = 65536 / one.len();
    let chunk: Vec<u8> = one.iter().copied().cycle().take(per * one.len()).collect();
    let mut sent = 0;
    let mut out = Vec::new();
    let mut now = t0;
    while sent < n {
        // The clock moves (a limit refills), as a runtime's would.
        now = Time::from_nanos(now.as_nanos() + 1_000_000);
        p.handle_read(now, &chunk, &sh).unwrap();
        sent += per;
        for s in &subs { out.clear(); s.handle().take(&mut out); }
        p.handle().take(&mut out);
    }
}

//! The load scenarios: what each one measures and how it is run against one server.

mod latency;
mod memory;
mod throughput;

use std::time::Duration;

use crate::client::{BenchResult, Tls};
use crate::server::Server;
use crate::stats::Metric;

/// Knobs shared by the scenarios.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long the throughput scenarios publish.
    pub duration: Duration,
    /// Requests timed by `reqrep` (after a warm-up of a tenth as many).
    pub requests: usize,
    /// Idle connections opened by `conns`.
    pub conns: usize,
    /// Subscriptions made by `subs`.
    pub subs: usize,
    /// Most bytes of messages a publisher lets run ahead of its slowest subscriber.
    pub window_bytes: usize,
    /// Subscribers connect here instead of to the server under test (a second server of
    /// its cluster: the messages cross a route).
    pub sub_addr: Option<std::net::SocketAddr>,
    /// Every connection upgrades to TLS after INFO (`conns` refuses: it stays plain).
    pub tls: Option<Tls>,
    /// Throughput scenarios also report server and load-generator CPU (needs the server's
    /// pid).
    pub cpu: bool,
    /// Saturation mode: subscribers step over whole frames instead of parsing every `MSG`
    /// (each frame of a run is the same bytes; one byte is looked at per frame), so the load
    /// generator spends far less per message than the server and the server, not the load,
    /// is the limit. The count must still come out exact.
    pub saturate: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            duration: Duration::from_secs(2),
            requests: 20_000,
            conns: 10_000,
            subs: 1_000_000,
            window_bytes: 4 << 20,
            sub_addr: None,
            tls: None,
            cpu: false,
            saturate: false,
        }
    }
}

/// What a scenario does.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// One publisher, no subscribers.
    Pub {
        /// Payload bytes.
        size: usize,
    },
    /// `pubs` publishers to `subs` subscribers on one subject (in one queue group if
    /// `queue`): every subscriber gets every publisher's messages.
    Stream {
        /// Payload bytes.
        size: usize,
        /// Publisher connections.
        pubs: usize,
        /// Subscriber connections.
        subs: usize,
        /// All subscribers are members of one queue group.
        queue: bool,
    },
    /// One publisher to one subscriber while another connection subscribes and
    /// unsubscribes on other subjects as fast as it can (issue 19: churn must not collapse
    /// throughput).
    Churn {
        /// Payload bytes.
        size: usize,
    },
    /// Request/reply round trips to one responder.
    ReqRep,
    /// Many idle connections: RSS per connection.
    Conns,
    /// Many subscriptions on one connection: RSS per subscription and subscriptions/s.
    Subs,
    /// Process start to first INFO.
    Startup,
}

/// A named scenario.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// The name used on the command line and in reports.
    pub name: &'static str,
    /// What it does.
    pub kind: Kind,
}

impl Scenario {
    /// True for the latency scenario, whose client shares the server's CPU.
    pub fn is_latency(&self) -> bool {
        matches!(self.kind, Kind::ReqRep)
    }

    /// True if the scenario needs a server launched by the tool.
    pub fn needs_launch(&self) -> bool {
        matches!(self.kind, Kind::Startup)
    }

    /// Runs once against `server`.
    pub fn run(&self, server: &mut Server, cfg: &Config) -> BenchResult<Vec<Metric>> {
        match self.kind {
            Kind::Pub { size } => throughput::stream(server, cfg, size, 1, 0, false, false),
            Kind::Stream {
                size,
                pubs,
                subs,
                queue,
            } => throughput::stream(server, cfg, size, pubs, subs, queue, false),
            Kind::Churn { size } => throughput::stream(server, cfg, size, 1, 1, false, true),
            Kind::ReqRep => latency::reqrep(server, cfg),
            Kind::Conns => memory::conns(server, cfg),
            Kind::Subs => memory::subs(server, cfg),
            Kind::Startup => {
                let t = server
                    .startup
                    .ok_or("startup needs a server launched by the tool")?;
                Ok(vec![Metric::lower("ms", t.as_secs_f64() * 1e3)])
            }
        }
    }
}

/// Every scenario, in report order.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "pub_16",
        kind: Kind::Pub { size: 16 },
    },
    Scenario {
        name: "pub_128",
        kind: Kind::Pub { size: 128 },
    },
    Scenario {
        name: "pub_1k",
        kind: Kind::Pub { size: 1024 },
    },
    Scenario {
        name: "pubsub_16",
        kind: Kind::Stream {
            pubs: 1,
            size: 16,
            subs: 1,
            queue: false,
        },
    },
    Scenario {
        name: "pubsub_128",
        kind: Kind::Stream {
            pubs: 1,
            size: 128,
            subs: 1,
            queue: false,
        },
    },
    Scenario {
        name: "fanout_5",
        kind: Kind::Stream {
            pubs: 1,
            size: 128,
            subs: 5,
            queue: false,
        },
    },
    Scenario {
        name: "queue_4",
        kind: Kind::Stream {
            pubs: 1,
            size: 128,
            subs: 4,
            queue: true,
        },
    },
    Scenario {
        name: "fanout_50",
        kind: Kind::Stream {
            pubs: 1,
            size: 128,
            subs: 50,
            queue: false,
        },
    },
    Scenario {
        name: "queue_100",
        kind: Kind::Stream {
            pubs: 1,
            size: 128,
            subs: 100,
            queue: true,
        },
    },
    Scenario {
        name: "pubsub_4x4",
        kind: Kind::Stream {
            pubs: 4,
            size: 128,
            subs: 4,
            queue: false,
        },
    },
    Scenario {
        name: "churn_128",
        kind: Kind::Churn { size: 128 },
    },
    Scenario {
        name: "reqrep",
        kind: Kind::ReqRep,
    },
    Scenario {
        name: "conns",
        kind: Kind::Conns,
    },
    Scenario {
        name: "subs",
        kind: Kind::Subs,
    },
    Scenario {
        name: "startup",
        kind: Kind::Startup,
    },
];

/// Looks a scenario up by name.
pub fn by_name(name: &str) -> Option<Scenario> {
    ALL.iter().copied().find(|s| s.name == name)
}

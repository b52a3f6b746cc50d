//! Interop: the same scripted raw-protocol conversations against Debian's Go nats-server and
//! ours must produce identical server bytes, after normalising ids, ports and versions.

use natsd_tests::go::GoServer;
use natsd_tests::ours::{Ours, Runtime};
use natsd_tests::raw::Raw;

/// One step of a conversation, on connection `.0`.
#[derive(Clone, Copy)]
enum Step {
    /// Open a connection and read its INFO.
    Open(usize),
    /// Write bytes.
    Send(usize, &'static str),
    /// PING, and record everything before the PONG.
    Flush(usize),
    /// Record everything until the server closes the connection.
    Closed(usize),
}
use Step::*;

struct Conversation {
    name: &'static str,
    /// Extra server flags (same for both servers).
    args: &'static [&'static str],
    steps: &'static [Step],
}

const QUIET: &str = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";

const CONVERSATIONS: &[Conversation] = &[
    Conversation {
        name: "verbose defaults before and after CONNECT",
        args: &[],
        steps: &[
            Open(0),
            Flush(0),
            Send(0, "PUB foo 1\r\nx\r\n"),
            Flush(0),
            Send(0, "CONNECT {}\r\n"),
            Flush(0),
            Send(0, "SUB foo 1\r\nPUB foo 5\r\nhello\r\nUNSUB 1\r\nPUB foo 0\r\n\r\n"),
            Flush(0),
        ],
    },
    Conversation {
        name: "wildcards, queues, replies across connections",
        args: &[],
        steps: &[
            Open(0),
            Open(1),
            Send(0, QUIET),
            Send(1, QUIET),
            Send(0, "SUB foo.* 1\r\nSUB foo.> 2\r\nSUB foo.bar q 3\r\nSUB > 4\r\nSUB *.bar 5\r\n"),
            Flush(0),
            Send(1, "PUB foo.bar reply.to 5\r\nhello\r\nPUB foo.x.y 2\r\nhi\r\nPUB other 0\r\n\r\n"),
            Flush(1),
            Flush(0),
        ],
    },
    Conversation {
        name: "errors that keep the connection open",
        args: &[],
        steps: &[
            Open(0),
            Send(0, "CONNECT {\"verbose\":true,\"pedantic\":true}\r\n"),
            Flush(0),
            Send(0, "SUB foo..bar 1\r\nSUB foo.>.x 2\r\nSUB foo.> 3\r\nPUB foo.* 1\r\nx\r\nUNSUB 99\r\n"),
            Flush(0),
            Send(0, "SUB q 1 5\r\nPUB q 1\r\ny\r\nSUB foo.> 3\r\nPUB foo.z 0\r\n\r\n"),
            Flush(0),
        ],
    },
    Conversation {
        name: "auto-unsubscribe and bare LF",
        args: &[],
        steps: &[
            Open(0),
            Send(0, QUIET),
            Send(0, "SUB foo 1\nUNSUB 1 2\nPUB foo 1\na\r\nPUB foo 1\nb\r\npub foo 1\nc\r\n"),
            Flush(0),
            Send(0, "SUB bar 2\r\nPUB bar 1\r\na\r\nUNSUB 2 1\r\nPUB bar 1\r\nb\r\n"),
            Flush(0),
        ],
    },
    Conversation {
        name: "headers and no-responders",
        args: &[],
        steps: &[
            Open(0),
            Open(1),
            Send(0, "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n"),
            Send(1, QUIET),
            Send(0, "SUB inbox 9\r\nSUB h 1\r\nPUB nobody inbox 0\r\n\r\n"),
            Flush(0),
            Send(1, "SUB h 7\r\n"),
            Flush(1),
            Send(0, "HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHPUB h inbox 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nyo\r\n"),
            Flush(0),
            Flush(1),
        ],
    },
    Conversation {
        name: "echo off",
        args: &[],
        steps: &[
            Open(0),
            Send(0, "CONNECT {\"verbose\":false,\"echo\":false}\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\n"),
            Flush(0),
        ],
    },
    Conversation {
        name: "unknown operation closes",
        args: &[],
        steps: &[Open(0), Send(0, QUIET), Send(0, "FOO bar\r\n"), Closed(0)],
    },
    Conversation {
        name: "maximum payload closes",
        args: &[],
        steps: &[Open(0), Send(0, QUIET), Send(0, "PUB foo 2000000\r\n"), Closed(0)],
    },
    Conversation {
        name: "argument errors close silently",
        args: &[],
        steps: &[Open(0), Open(1), Send(0, "SUB foo\r\n"), Closed(0), Send(1, "PUB foo abc\r\n"), Closed(1)],
    },
    Conversation {
        name: "HPUB without headers closes",
        args: &[],
        steps: &[Open(0), Send(0, QUIET), Send(0, "HPUB h 12 12\r\nNATS/1.0\r\n\r\n\r\n"), Closed(0)],
    },
    Conversation {
        name: "bad client protocol",
        args: &[],
        steps: &[Open(0), Send(0, "CONNECT {\"protocol\":2}\r\n"), Closed(0)],
    },
    Conversation {
        name: "no responders requires headers",
        args: &[],
        steps: &[Open(0), Send(0, "CONNECT {\"no_responders\":true}\r\n"), Closed(0)],
    },
    Conversation {
        name: "token auth",
        args: &["--auth", "s3cr3t"],
        steps: &[
            Open(0),
            Send(0, "PING\r\n"),
            Closed(0),
            Open(1),
            Send(1, "CONNECT {\"auth_token\":\"wrong\"}\r\n"),
            Closed(1),
            Open(2),
            Send(2, "CONNECT {\"auth_token\":\"s3cr3t\"}\r\n"),
            Flush(2),
        ],
    },
    Conversation {
        name: "user and password",
        args: &["--user", "u", "--pass", "p"],
        steps: &[
            Open(0),
            Send(0, "CONNECT {\"verbose\":false,\"user\":\"u\",\"pass\":\"p\"}\r\nSUB a 1\r\nPUB a 1\r\nx\r\n"),
            Flush(0),
            Open(1),
            Send(1, "CONNECT {\"user\":\"u\",\"pass\":\"x\"}\r\n"),
            Closed(1),
        ],
    },
];

/// Replaces values that legitimately differ between servers with their key names, and drops
/// the one INFO key that is ours alone (`"msub":true`, the last one: docs/msub.md).
fn normalise(s: &str) -> String {
    let mut out = s.replacen(",\"msub\":true}", "}", 1);
    for key in [
        "server_id",
        "server_name",
        "version",
        "go",
        "port",
        "client_id",
        "git_commit",
    ] {
        let pat = format!("\"{key}\":");
        let mut from = 0;
        while let Some(i) = out[from..].find(&pat) {
            let start = from + i + pat.len();
            let end = start + out[start..].find([',', '}']).unwrap_or(out.len() - start);
            out.replace_range(start..end, &format!("<{key}>"));
            from = start;
        }
    }
    out
}

async fn run(port: u16, steps: &[Step]) -> String {
    let mut conns: Vec<Option<Raw>> = Vec::new();
    let mut transcript = String::new();
    for step in steps {
        match *step {
            Open(i) => {
                if conns.len() <= i {
                    conns.resize_with(i + 1, || None);
                }
                let mut r = Raw::connect(port).await;
                let info = r.line().await;
                transcript += &format!("[{i}] open: {}", normalise(&info));
                conns[i] = Some(r);
            }
            Send(i, s) => conns[i].as_mut().expect("open first").send(s).await,
            Flush(i) => {
                let got = conns[i].as_mut().expect("open first").flush().await;
                transcript += &format!("[{i}] flush: {got:?}\n");
            }
            Closed(i) => {
                let got = conns[i].as_mut().expect("open first").until_closed().await;
                transcript += &format!("[{i}] closed: {got:?}\n");
            }
        }
    }
    transcript
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_bytes_as_go_server() {
    let mut compared = 0;
    for c in CONVERSATIONS {
        let Some(go) = GoServer::start("interop", c.args) else {
            return;
        };
        let expected = run(go.port, c.steps).await;
        drop(go);
        for rt in [Runtime::Tokio, Runtime::Std] {
            let ours = Ours::start_with_args(rt, c.args).await;
            let got = run(ours.port(), c.steps).await;
            ours.shutdown().await;
            assert_eq!(
                got, expected,
                "conversation {:?} on {rt:?} differs from Go's",
                c.name
            );
        }
        compared += 1;
    }
    assert_eq!(compared, CONVERSATIONS.len());
}

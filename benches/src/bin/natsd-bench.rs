//! `natsd-bench`: a load generator for NATS servers speaking the raw protocol.
//!
//! ```text
//! natsd-bench [--server [NAME=]CMD]... | [--addr HOST:PORT [--pid PID] [--peer-pid PID]...]
//!             [--scenarios a,b,...] [--runs N] [--duration SECS] [--requests N]
//!             [--conns N] [--subs N] [--window-mb N] [--sub-addr HOST:PORT]
//!             [--server-cpu C] [--client-cpu C] [--latency-cpu C] [--cpu] [--saturate]
//!             [--tls-ca FILE [--tls-name NAME] [--tls-suite SUITE]] [--list]
//! ```
//!
//! Each `--server` command line is launched fresh for every run of every scenario, with
//! `-a 127.0.0.1 -p <free port>` appended (pinned with `taskset -c C` if `--server-cpu`).
//! With several servers the runs alternate (A, B, A, B, ...), and a table of medians and
//! ratios (first server against each other, > 1 means the first is better) ends the report.
//! Exits non-zero if any run failed.
//!
//! `--tls-ca FILE`: every connection upgrades to TLS after INFO, trusting FILE's certificates
//! and checking the server's against `--tls-name` (default `localhost`); `--tls-suite` offers
//! only that rustls suite (e.g. `TLS13_AES_128_GCM_SHA256`). The session each server
//! negotiates is printed once. `--cpu`: throughput scenarios also report the server's and the
//! load generator's CPU time (server CPU per message, both as a share of the wall time).
//! `--saturate`: subscribers step over whole frames (one byte looked at per frame) instead of
//! parsing each `MSG`, so the server rather than the load generator is the limit (its
//! `srv CPU %` shows how close).
//! `--peer-pid`: with `--addr`, another process (e.g. the other server of a route) whose CPU
//! time counts as the server's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use natsd_benches::client::{Conn, Tls};
use natsd_benches::scenarios::{self, Config, Scenario};
use natsd_benches::server::Target;
use natsd_benches::stats::{human, ratio, Better, Metric, Summary};
use natsd_benches::sys;

/// Parsed command line.
struct Args {
    servers: Vec<(String, Target)>,
    scenarios: Vec<Scenario>,
    runs: usize,
    cfg: Config,
    client_cpu: Option<usize>,
    latency_cpu: Option<usize>,
}

fn usage() -> String {
    let names: Vec<&str> = scenarios::ALL.iter().map(|s| s.name).collect();
    format!(
        "usage: natsd-bench [--server [NAME=]CMD]... | [--addr HOST:PORT [--pid PID] [--peer-pid PID]...]\n\
         \x20      [--scenarios a,b,...] [--runs N] [--duration SECS] [--requests N]\n\
         \x20      [--conns N] [--subs N] [--window-mb N] [--sub-addr HOST:PORT]\n\
         \x20      [--server-cpu C] [--client-cpu C] [--latency-cpu C] [--cpu] [--saturate]\n\
         \x20      [--tls-ca FILE [--tls-name NAME] [--tls-suite SUITE]]\n\
         scenarios: {}",
        names.join(",")
    )
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut cmds: Vec<String> = Vec::new();
    let mut addr: Option<SocketAddr> = None;
    let mut pid: Option<u32> = None;
    let mut peers: Vec<u32> = Vec::new();
    let mut server_cpu = None;
    let mut tls_ca: Option<PathBuf> = None;
    let mut tls_name = String::from("localhost");
    let mut tls_suite: Option<String> = None;
    let mut a = Args {
        servers: Vec::new(),
        scenarios: scenarios::ALL.to_vec(),
        runs: 3,
        cfg: Config::default(),
        client_cpu: None,
        latency_cpu: None,
    };
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or(format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: bad value {v:?}"))
    }
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--server" => cmds.push(it.next().ok_or("--server needs a command line")?),
            "--addr" => addr = Some(num("--addr", it.next())?),
            "--pid" => pid = Some(num("--pid", it.next())?),
            "--peer-pid" => peers.push(num("--peer-pid", it.next())?),
            "--scenarios" => {
                let list = it.next().ok_or("--scenarios needs a list")?;
                a.scenarios = list
                    .split(',')
                    .map(|n| scenarios::by_name(n).ok_or(format!("unknown scenario {n:?}")))
                    .collect::<Result<_, _>>()?;
            }
            "--runs" => a.runs = num("--runs", it.next())?,
            "--duration" => a.cfg.duration = Duration::from_secs_f64(num("--duration", it.next())?),
            "--requests" => a.cfg.requests = num("--requests", it.next())?,
            "--conns" => a.cfg.conns = num("--conns", it.next())?,
            "--subs" => a.cfg.subs = num("--subs", it.next())?,
            "--window-mb" => a.cfg.window_bytes = num::<usize>("--window-mb", it.next())? << 20,
            "--sub-addr" => a.cfg.sub_addr = Some(num("--sub-addr", it.next())?),
            "--server-cpu" => server_cpu = Some(num("--server-cpu", it.next())?),
            "--client-cpu" => a.client_cpu = Some(num("--client-cpu", it.next())?),
            "--latency-cpu" => a.latency_cpu = Some(num("--latency-cpu", it.next())?),
            "--cpu" => a.cfg.cpu = true,
            "--saturate" => a.cfg.saturate = true,
            "--tls-ca" => tls_ca = Some(it.next().ok_or("--tls-ca needs a file")?.into()),
            "--tls-name" => tls_name = it.next().ok_or("--tls-name needs a name")?,
            "--tls-suite" => tls_suite = Some(it.next().ok_or("--tls-suite needs a suite")?),
            "--list" => return Err(usage()),
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other:?}\n{}", usage())),
        }
    }
    for (i, c) in cmds.iter().enumerate() {
        let (name, cmd) = match c.split_once('=') {
            Some((n, cmd)) if !n.contains(' ') && !n.starts_with('/') && !n.starts_with('-') => {
                (n.to_owned(), cmd)
            }
            _ => (((b'A' + i as u8) as char).to_string(), c.as_str()),
        };
        a.servers.push((name, Target::launch(cmd, server_cpu)));
    }
    if let Some(addr) = addr {
        a.servers
            .push(("ext".into(), Target::External { addr, pid, peers }));
    }
    if a.servers.is_empty() {
        return Err(format!(
            "give --server CMD or --addr HOST:PORT\n{}",
            usage()
        ));
    }
    if let Some(ca) = tls_ca {
        a.cfg.tls = Some(Tls::new(&ca, &tls_name, tls_suite.as_deref())?);
    } else if tls_suite.is_some() {
        return Err("--tls-suite needs --tls-ca".into());
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(a)
}

/// The metrics of every successful run of one scenario against one server.
type Runs = Vec<Vec<Metric>>;

/// One metric of one scenario: its name, direction and each server's summary.
type Row = (&'static str, Better, Vec<Option<Summary>>);

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match sys::raise_nofile() {
        Ok(n) if n < args.cfg.conns as u64 + 100 => eprintln!(
            "WARNING: open-file limit is {n}; the conns scenario needs more than {} (raise the hard limit)",
            args.cfg.conns
        ),
        Ok(_) => {}
        Err(e) => eprintln!("WARNING: could not raise the open-file limit: {e}"),
    }
    let mut failures = 0;
    let mut table: Vec<(String, Vec<Row>)> = Vec::new();
    let mut told_tls = vec![false; args.servers.len()];
    for sc in &args.scenarios {
        let cpu = if sc.is_latency() {
            args.latency_cpu.or(args.client_cpu)
        } else {
            args.client_cpu
        };
        if let Some(c) = cpu {
            if let Err(e) = sys::pin_to(c) {
                eprintln!("WARNING: cannot pin the load to CPU {c}: {e}");
            }
        }
        let mut results: Vec<Runs> = vec![Vec::new(); args.servers.len()];
        for run in 0..args.runs {
            for (i, (name, target)) in args.servers.iter().enumerate() {
                if sc.needs_launch() && matches!(target, Target::External { .. }) {
                    continue;
                }
                let outcome = target.start().and_then(|mut srv| {
                    if run == 0 && !told_tls[i] {
                        if let Some(tls) = &args.cfg.tls {
                            let c = Conn::connect(srv.addr, Some(tls))?;
                            let session = c.tls_session().unwrap_or_default();
                            println!("# {name}: TLS {session}");
                            told_tls[i] = true;
                        }
                    }
                    let r = sc.run(&mut srv, &args.cfg);
                    srv.check_alive().and(r)
                });
                match outcome {
                    Ok(m) => results[i].push(m),
                    Err(e) => {
                        failures += 1;
                        eprintln!("FAILED {} run {} on {name}: {e}", sc.name, run + 1);
                        println!("FAILED {} run {} on {name}: {e}", sc.name, run + 1);
                    }
                }
            }
        }
        table.push((sc.name.to_owned(), summarise(sc, &args, &results)));
    }
    if args.servers.len() > 1 {
        print_table(&args, &table);
    }
    if failures > 0 {
        eprintln!("{failures} run(s) FAILED");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints one line per server and metric; returns the summaries for the final table.
fn summarise(sc: &Scenario, args: &Args, results: &[Runs]) -> Vec<Row> {
    let metric_names: Vec<(&'static str, Better)> = results
        .iter()
        .find(|r| !r.is_empty())
        .map(|r| r[0].iter().map(|m| (m.name, m.better)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (k, (mname, better)) in metric_names.iter().enumerate() {
        let mut per_server = Vec::new();
        for ((sname, _), runs) in args.servers.iter().zip(results) {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(k))
                .map(|m| m.value)
                .collect();
            if vals.is_empty() {
                per_server.push(None);
                continue;
            }
            let s = Summary::of(&vals);
            println!(
                "{:<11} {:<6} {:<13} median {:>9}  min {:>9}  max {:>9}  ({} runs)",
                sc.name,
                sname,
                mname,
                human(s.median),
                human(s.min),
                human(s.max),
                vals.len()
            );
            per_server.push(Some(s));
        }
        out.push((*mname, *better, per_server));
    }
    out
}

/// The closing Markdown table: each server's median, and the first server's ratio to each
/// other (> 1: the first is better).
fn print_table(args: &Args, table: &[(String, Vec<Row>)]) {
    let names: Vec<&str> = args.servers.iter().map(|(n, _)| n.as_str()).collect();
    let mut header = String::from("| scenario | metric |");
    let mut rule = String::from("|---|---|");
    for n in &names {
        header.push_str(&format!(" {n} |"));
        rule.push_str("---:|");
    }
    for n in &names[1..] {
        header.push_str(&format!(" {}/{n} |", names[0]));
        rule.push_str("---:|");
    }
    println!("\n{header}\n{rule}");
    for (sc, rows) in table {
        for (m, better, sums) in rows {
            let mut line = format!("| {sc} | {m} |");
            for s in sums {
                match s {
                    Some(s) => line.push_str(&format!(" {} |", human(s.median))),
                    None => line.push_str(" FAILED |"),
                }
            }
            for s in &sums[1..] {
                match (sums[0], s) {
                    (Some(a), Some(b)) => match ratio(*better, a.median, b.median) {
                        Some(r) => line.push_str(&format!(" {r:.2} |")),
                        None => line.push_str(" - |"),
                    },
                    _ => line.push_str(" n/a |"),
                }
            }
            println!("{line}");
        }
    }
}

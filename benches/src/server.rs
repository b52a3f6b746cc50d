//! The server under test: launched from a command line (bound to 127.0.0.1 on a free port,
//! optionally pinned to a CPU with `taskset`) or an external one given by address and pid.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::{BenchResult, Conn};

/// How a server is obtained for each run.
#[derive(Debug, Clone)]
pub enum Target {
    /// Launch `argv` plus `-a 127.0.0.1 -p <port>` for every run.
    Launch {
        /// Program and arguments.
        argv: Vec<String>,
        /// Pin the server to this CPU with `taskset -c`.
        cpu: Option<usize>,
    },
    /// Use a running server (no startup measurement; RSS only if `pid` is known).
    External {
        /// Its client address.
        addr: SocketAddr,
        /// Its process id, for RSS.
        pid: Option<u32>,
        /// Other processes whose CPU time counts as the server's (the other servers of a
        /// cluster under test, e.g. the subscribers' end of a route).
        peers: Vec<u32>,
    },
}

/// How long a launched server may take to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A server ready for one run. A launched one is killed when this is dropped.
pub struct Server {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Its pid, when known.
    pub pid: Option<u32>,
    /// Peers whose CPU time is added to the server's (see [`Target::External`]).
    pub peers: Vec<u32>,
    /// Process start to the first INFO read by a client (launched servers only).
    pub startup: Option<Duration>,
    child: Option<Child>,
    log: Option<PathBuf>,
}

impl Target {
    /// Parses a command line (split on whitespace; no shell quoting).
    pub fn launch(cmd: &str, cpu: Option<usize>) -> Target {
        Target::Launch {
            argv: cmd.split_whitespace().map(str::to_owned).collect(),
            cpu,
        }
    }

    /// A server for one run: launched fresh, or the external one.
    pub fn start(&self) -> BenchResult<Server> {
        match self {
            Target::External { addr, pid, peers } => Ok(Server {
                addr: *addr,
                pid: *pid,
                peers: peers.clone(),
                startup: None,
                child: None,
                log: None,
            }),
            Target::Launch { argv, cpu } => {
                let mut last = String::new();
                // A port picked free can be taken before the server binds it: retry.
                for _ in 0..3 {
                    match launch(argv, *cpu) {
                        Ok(s) => return Ok(s),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }
}

fn free_port() -> BenchResult<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

fn launch(argv: &[String], cpu: Option<usize>) -> BenchResult<Server> {
    let (prog, args) = argv.split_first().ok_or("empty server command line")?;
    let port = free_port()?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = std::env::temp_dir().join(format!("natsd-bench-{}-{}.log", std::process::id(), port));
    let stderr = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let mut cmd = match cpu {
        Some(c) => {
            let mut t = Command::new("taskset");
            t.arg("-c").arg(c.to_string()).arg(prog);
            t
        }
        None => Command::new(prog),
    };
    cmd.args(args)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {prog}: {e}"))?;
    let pid = child.id();
    let mut server = Server {
        addr,
        pid: Some(pid),
        peers: Vec::new(),
        startup: None,
        child: Some(child),
        log: Some(log),
    };
    loop {
        if let Ok(c) = Conn::connect_raw(addr) {
            server.startup = Some(started.elapsed());
            drop(c);
            return Ok(server);
        }
        if let Some(status) = server
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            return Err(format!(
                "server {prog} exited with {status} before accepting: {}",
                server.log_tail()
            ));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(format!(
                "server {prog} did not accept within {START_TIMEOUT:?}: {}",
                server.log_tail()
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

impl Server {
    /// The server's resident set size in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss(&self) -> BenchResult<u64> {
        let pid = self
            .pid
            .ok_or("this scenario needs the server's pid (launch it, or pass --pid)")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .ok_or("no VmRSS line")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .ok_or("bad VmRSS line")?;
        Ok(kb * 1024)
    }

    /// The server's CPU time so far (user + system, all threads), in seconds, from
    /// `/proc/<pid>/stat` (clock-tick resolution), its peers' included.
    pub fn cpu_secs(&self) -> BenchResult<f64> {
        let pid = self
            .pid
            .ok_or("CPU time needs the server's pid (launch it, or pass --pid)")?;
        let mut total = process_cpu_secs(pid)?;
        for &p in &self.peers {
            total += process_cpu_secs(p)?;
        }
        Ok(total)
    }

    /// Fails if a launched server has exited (a crash during the run).
    pub fn check_alive(&mut self) -> BenchResult<()> {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            return Err(format!(
                "server exited during the run with {status}: {}",
                self.log_tail()
            ));
        }
        Ok(())
    }

    /// The last lines of a launched server's log (for error messages).
    pub fn log_tail(&self) -> String {
        let Some(log) = &self.log else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(log) = self.log.take() {
            let _ = std::fs::remove_file(log);
        }
    }
}

/// One process's CPU time so far (user + system, all threads), in seconds.
fn process_cpu_secs(pid: u32) -> BenchResult<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    // After the command name (in parentheses, may hold spaces): state is field 3, utime
    // and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("bad /proc stat line")?;
    let mut f = rest.split_whitespace().skip(11);
    let mut tick = || -> BenchResult<u64> {
        f.next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "bad /proc stat line".to_string())
    };
    let ticks = tick()? + tick()?;
    Ok(ticks as f64 / crate::sys::clock_ticks()? as f64)
}

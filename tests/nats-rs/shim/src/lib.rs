//! Starts the `nats-server` found on PATH for one test and stops it when dropped, with the
//! API the official Rust client's tests call (`run_server`, `run_basic_server`,
//! `run_server_with_port`, `Server::client_url`, ...). Written for natsd; it knows only
//! what any NATS server does: `-p -1`, `-l FILE`, `-P FILE`, `-c FILE`, the
//! "client connections on HOST:PORT" log line, and INFO's `port` and `tls_required`.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to log its client listener (debug builds are slow).
const START_WAIT: Duration = Duration::from_secs(20);

/// A running server; killed and its files removed on drop.
pub struct Server {
    child: Child,
    logfile: PathBuf,
    pidfile: PathBuf,
    store_dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.logfile);
        let _ = std::fs::remove_file(&self.pidfile);
        let _ = std::fs::remove_dir_all(&self.store_dir);
    }
}

impl Server {
    /// `nats://127.0.0.1:PORT`, or `tls://` when the server's INFO requires TLS.
    pub fn client_url(&self) -> String {
        let info = self.info();
        let scheme = if info["tls_required"].as_bool().unwrap_or(false) {
            "tls"
        } else {
            "nats"
        };
        // The host the server says it listens on (a config's `listen: localhost:…`
        // matters: the test certificates name `localhost`, not 127.0.0.1).
        let addr = self.client_addr();
        let host = addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
        format!("{scheme}://{host}:{}", port_of(&info))
    }

    /// The client port, from INFO.
    pub fn client_port(&self) -> u16 {
        port_of(&self.info())
    }

    /// [`client_url`](Self::client_url) with `user:pass@`.
    pub fn client_url_with(&self, user: &str, pass: &str) -> String {
        self.with_userinfo(&format!("{user}:{pass}"))
    }

    /// [`client_url`](Self::client_url) with a token as the user.
    pub fn client_url_with_token(&self, token: &str) -> String {
        self.with_userinfo(token)
    }

    fn with_userinfo(&self, userinfo: &str) -> String {
        let url = self.client_url();
        let (scheme, rest) = url.split_once("://").expect("a URL has a scheme");
        format!("{scheme}://{userinfo}@{rest}")
    }

    /// The server's process id, from its pid file.
    pub fn client_pid(&self) -> usize {
        std::fs::read_to_string(&self.pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid")
    }

    fn info(&self) -> serde_json::Value {
        let stream = TcpStream::connect(self.client_addr()).expect("connect to the server");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("did not receive INFO");
        let json = line.trim_end().strip_prefix("INFO ").expect("INFO first");
        serde_json::from_str(json).expect("INFO is JSON")
    }

    /// `HOST:PORT` from the log line every NATS server writes when it listens.
    fn client_addr(&self) -> String {
        let start = Instant::now();
        while start.elapsed() < START_WAIT {
            if let Ok(log) = std::fs::read_to_string(&self.logfile) {
                if let Some(addr) = log.lines().find_map(|l| {
                    l.split_once("client connections on ")
                        .map(|(_, a)| a.trim().to_string())
                }) {
                    return addr.replace("0.0.0.0", "127.0.0.1");
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no client address in {}", self.logfile.display());
    }
}

fn port_of(info: &serde_json::Value) -> u16 {
    info["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .expect("INFO has a port")
}

/// Puts `s` into lame duck mode (`nats-server --signal ldm=PID`).
pub fn set_lame_duck_mode(s: &Server) {
    Command::new("nats-server")
        .arg("--signal")
        .arg(format!("ldm={}", s.client_pid()))
        .spawn()
        .expect("nats-server --signal")
        .wait()
        .expect("nats-server --signal exits");
}

/// A server with `cfg` (a path; empty for none) on a random port.
pub fn run_server(cfg: &str) -> Server {
    run_server_with_port(cfg, None)
}

/// A server with `cfg` on `port` (a random one when `None`).
pub fn run_server_with_port(cfg: &str, port: Option<&str>) -> Server {
    static N: AtomicU64 = AtomicU64::new(0);
    let id = format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = std::env::temp_dir();
    let logfile = tmp.join(format!("nats-server-{id}.log"));
    let pidfile = tmp.join(format!("nats-server-{id}.pid"));
    let store_dir = tmp.join(format!("store-dir-{id}"));
    let mut cmd = Command::new("nats-server");
    cmd.arg("--store_dir")
        .arg(&store_dir)
        .arg("-p")
        .arg(port.unwrap_or("-1"))
        .arg("-l")
        .arg(&logfile)
        .arg("-P")
        .arg(&pidfile);
    if !cfg.is_empty() {
        cmd.arg("-c").arg(cfg);
    }
    cmd.arg("--debug").arg("--trace");
    let child = cmd.spawn().expect("nats-server on PATH");
    Server {
        child,
        logfile,
        pidfile,
        store_dir,
    }
}

/// A server with no config.
pub fn run_basic_server() -> Server {
    run_server("")
}

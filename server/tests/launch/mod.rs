//! Starting a server binary (ours or Go's) for a test and finding its client port.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub mod callout;
pub mod io;

/// Spawns `cmd` (stderr piped, killed when dropped), reads its log until the
/// `Listening for client connections on 127.0.0.1:PORT` line, then keeps draining the log in
/// the background (a full pipe would block the server). Returns the child and the port.
pub async fn spawn_and_port(cmd: &mut Command) -> (Child, u16) {
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let port = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read the log")
                .expect("exited before listening");
            if let Some(p) = line
                .split("Listening for client connections on 127.0.0.1:")
                .nth(1)
            {
                return p.trim().parse().expect("a port");
            }
        }
    })
    .await
    .expect("no listening line within 10 s");
    // `NATSD_TEST_LOG=1` shows the servers' logs (cargo shows them for failing tests).
    let show = std::env::var_os("NATSD_TEST_LOG").is_some();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if show {
                eprintln!("[server {port}] {line}");
            }
        }
    });
    (child, port)
}

/// A raw protocol client for transcripts: CONNECT with an optional user (password = user).
#[allow(dead_code)] // Not every test binary that includes this module uses it.
pub struct Raw(pub tokio::net::TcpStream);

#[allow(dead_code)]
impl Raw {
    /// Connects, reads INFO, sends CONNECT (no verbose) as `user`.
    pub async fn open(port: u16, user: Option<&str>) -> Raw {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut info = Vec::new();
        let mut b = [0u8; 1];
        while !info.ends_with(b"\r\n") {
            use tokio::io::AsyncReadExt;
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b))
                .await
                .expect("INFO within 10 s")
                .expect("read INFO");
            assert!(n == 1, "closed before INFO");
            info.push(b[0]);
        }
        let creds = user
            .map(|u| format!(",\"user\":\"{u}\",\"pass\":\"{u}\""))
            .unwrap_or_default();
        s.write_all(format!("CONNECT {{\"verbose\":false{creds}}}\r\n").as_bytes())
            .await
            .expect("CONNECT");
        Raw(s)
    }

    /// Sends `ops` plus PING, returns everything up to the PONG (or to the close).
    pub async fn send(&mut self, ops: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.0
            .write_all(format!("{ops}PING\r\n").as_bytes())
            .await
            .expect("write");
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        let read = async {
            while !got.windows(6).any(|w| w == b"PONG\r\n") {
                match self.0.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("no PONG");
        // Messages may arrive after the PONG in the same read (routes): keep them.
        String::from_utf8_lossy(&got).replacen("PONG\r\n", "", 1)
    }
}

/// The Go servers to compare with: `(label, path)` for Debian's 2.9.10
/// (`NATS_GO_SERVER`, default `/usr/sbin/nats-server`) and 2.15.1 (`NATS_GO215_SERVER`).
/// A missing one is reported as SKIPPED by `skip` (named `what`), or fails the test under
/// `NATSD_REQUIRE_GO=1` (set by `.ci/run`).
#[allow(dead_code)]
pub fn go_servers(what: &str, skip: impl Fn(&str)) -> Vec<(&'static str, String)> {
    let require = std::env::var("NATSD_REQUIRE_GO").as_deref() == Ok("1");
    let v29 = std::env::var("NATS_GO_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into());
    let v215 = std::env::var("NATS_GO215_SERVER").unwrap_or_default();
    let mut out = Vec::new();
    for (label, path) in [("go2.9.10", v29), ("go2.15.1", v215)] {
        if path.is_empty() || !std::path::Path::new(&path).exists() {
            assert!(
                !require,
                "NATSD_REQUIRE_GO=1 but {label} is missing ({path:?})"
            );
            skip(&format!("the {label} half of {what}"));
            continue;
        }
        out.push((label, path));
    }
    out
}

/// A config file in the temp directory, removed when dropped.
#[allow(dead_code)]
pub struct TempConf(pub std::path::PathBuf);

impl Drop for TempConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `conf` to a file named after `name`, this process and thread, then starts `cmd`
/// with `-c FILE -a 127.0.0.1 -p -1`. Returns the child, its client port and the file (kept
/// while the server runs; a test may rewrite it to reload).
#[allow(dead_code)]
pub async fn spawn_with_conf(cmd: &mut Command, name: &str, conf: &str) -> (Child, u16, TempConf) {
    let path = std::env::temp_dir().join(format!(
        "natsd-{name}-{}-{:?}.conf",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&path, conf).expect("write the config");
    let (child, port) = spawn_and_port(cmd.args([
        "-c",
        path.to_str().expect("a UTF-8 temp path"),
        "-a",
        "127.0.0.1",
        "-p",
        "-1",
    ]))
    .await;
    (child, port, TempConf(path))
}

/// Runs `transcript` on our binary `bin` (both runtimes) and on each Go server, and checks
/// every step against `want` (`what` names the test in a skip line, reported by `skip`).
#[allow(dead_code)]
pub async fn transcripts_match<F, Fut>(
    what: &str,
    bin: &str,
    want: &[String],
    transcript: F,
    skip: impl Fn(&str),
) where
    F: Fn(Command) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    for rt in ["tokio", "std"] {
        let mut cmd = Command::new(bin);
        cmd.args(["--runtime", rt]);
        let got = transcript(cmd).await;
        assert_eq!(got.len(), want.len(), "ours ({rt}): number of steps");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "ours ({rt}), step {i}");
        }
    }
    for (label, path) in go_servers(what, skip) {
        let got = transcript(Command::new(&path)).await;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g, w, "{label}, step {i}");
        }
    }
}

//! Starting a server binary (ours or Go's) for a test and finding its client port.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

//! A raw-protocol client: write bytes, read what the server sends, byte for byte.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::TIMEOUT;

/// A TCP connection speaking the NATS text protocol by hand.
pub struct Raw {
    stream: TcpStream,
    /// Bytes received and not yet consumed.
    pub buf: Vec<u8>,
    eof: bool,
}

impl Raw {
    /// Connects to 127.0.0.1:`port`.
    pub async fn connect(port: u16) -> Raw {
        let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .expect("connect timed out")
            .expect("connect failed");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Connects and consumes the INFO line, which it returns.
    pub async fn connect_info(port: u16) -> String {
        let mut r = Raw::connect(port).await;
        r.line().await
    }

    /// Writes `bytes`. Errors are ignored: the server may have closed already.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(bytes.as_ref()).await;
    }

    async fn fill(&mut self, deadline: tokio::time::Instant) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 65536];
        match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// Reads until `pat` has arrived; returns everything up to and including it.
    /// Panics after [`TIMEOUT`] or at EOF without it.
    pub async fn until(&mut self, pat: &str) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = find(&self.buf, pat.as_bytes()) {
                let rest = self.buf.split_off(i + pat.len());
                let got = std::mem::replace(&mut self.buf, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            if !self.fill(deadline).await {
                panic!(
                    "waited for {pat:?}, got {:?} (eof: {})",
                    String::from_utf8_lossy(&self.buf),
                    self.eof
                );
            }
        }
    }

    /// Reads until `pat` has been seen `n` times in total, counting as bytes stream in and
    /// keeping only a short tail (for high-volume tests). Returns what it counted.
    pub async fn count(&mut self, pat: &str, n: usize) -> usize {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        let pat = pat.as_bytes();
        let mut seen = 0;
        loop {
            let mut last = 0;
            let mut i = 0;
            while i + pat.len() <= self.buf.len() {
                if &self.buf[i..i + pat.len()] == pat {
                    seen += 1;
                    i += pat.len();
                    last = i;
                } else {
                    i += 1;
                }
            }
            // Keep only what could start a match that is still arriving.
            let keep_from = last.max(self.buf.len().saturating_sub(pat.len() - 1));
            self.buf.drain(..keep_from);
            if seen >= n {
                return seen;
            }
            if !self.fill(deadline).await {
                panic!(
                    "counted {seen} of {n} {:?} (eof: {})",
                    String::from_utf8_lossy(pat),
                    self.eof
                );
            }
        }
    }

    /// Reads one line (through `\r\n`).
    pub async fn line(&mut self) -> String {
        self.until("\r\n").await
    }

    /// Sends `PING` and returns everything received before the matching `PONG` (a flush
    /// barrier: the server answers PINGs in order after everything queued before them).
    pub async fn flush(&mut self) -> String {
        self.send("PING\r\n").await;
        let got = self.until("PONG\r\n").await;
        got[..got.len() - 6].to_string()
    }

    /// Reads until the server closes the connection; returns what arrived.
    pub async fn until_closed(&mut self) -> String {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        while !self.eof {
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "server did not close; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            self.fill(deadline).await;
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    /// Reads whatever arrives within `d` (for asserting that nothing more comes).
    pub async fn drain_for(&mut self, d: Duration) -> String {
        let deadline = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < deadline && self.fill(deadline).await {}
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }

    /// True once the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.eof
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

//! README's examples, kept true: the hand-typed session and the async-nats program run
//! against our server, and the README must show exactly what runs here.

use futures::StreamExt;
use natsd_core::options::Options;
use natsd_tests::ours::{Ours, Runtime};
use natsd_tests::raw::Raw;

const README: &str = include_str!("../../README.md");

/// The README's Rust example, verbatim.
const RUST_EXAMPLE: &str = r#"use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let client = async_nats::connect("nats://127.0.0.1:4222").await?;
    let mut sub = client.subscribe("greet.*").await?;
    client.publish("greet.joe", "hello".into()).await?;
    let msg = sub.next().await.expect("a message");
    println!("{}: {}", msg.subject, String::from_utf8_lossy(&msg.payload));
    Ok(())
}
"#;

/// The same steps as [`RUST_EXAMPLE`], against `url`; returns what it would print.
async fn rust_example(url: &str) -> Result<String, async_nats::Error> {
    let client = async_nats::connect(url).await?;
    let mut sub = client.subscribe("greet.*").await?;
    client.publish("greet.joe", "hello".into()).await?;
    let msg = sub.next().await.expect("a message");
    Ok(format!(
        "{}: {}",
        msg.subject,
        String::from_utf8_lossy(&msg.payload)
    ))
}

#[tokio::test]
async fn the_rust_example_runs_as_written() {
    assert!(
        README.contains(&format!("```rust\n{RUST_EXAMPLE}```")),
        "README's Rust example differs from tests/tests/readme.rs"
    );
    let ours = Ours::start(Runtime::Tokio, Options::default()).await;
    let url = format!("nats://127.0.0.1:{}", ours.port());
    let printed = tokio::time::timeout(std::time::Duration::from_secs(10), rust_example(&url))
        .await
        .expect("the example hung")
        .expect("the example failed");
    assert_eq!(printed, "greet.joe: hello");
    ours.shutdown().await;
}

#[tokio::test]
async fn the_hand_typed_session_runs_as_written() {
    // The README's transcript: what the user types and what the server answers.
    let transcript = "SUB greet.* 1\n+OK\nPUB greet.joe 5\nhello\n+OK\nMSG greet.joe 1 5\nhello\n";
    assert!(README.contains(transcript), "README's session changed");
    for rt in [Runtime::Tokio, Runtime::Std] {
        let ours = Ours::start(rt, Options::default()).await;
        let mut c = Raw::connect(ours.port()).await;
        let info = c.line().await;
        assert!(info.starts_with("INFO {\"server_id\":\"N"), "{info}");
        assert!(info.contains("\"version\":\"2.9.10\""), "{info}");
        // A hand-typed session sends no CONNECT: the server's defaults (verbose) apply.
        c.send("SUB greet.* 1\r\n").await;
        assert_eq!(c.until("+OK\r\n").await, "+OK\r\n");
        c.send("PUB greet.joe 5\r\nhello\r\n").await;
        let got = c.until("hello\r\n").await;
        assert_eq!(got, "+OK\r\nMSG greet.joe 1 5\r\nhello\r\n", "{rt:?}");
        ours.shutdown().await;
    }
}

//! Publish rate limits with a real client (async-nats), on both runtimes: a publisher over
//! its limit is slowed, not disconnected, and every message arrives; with `action: drop`
//! the drops are counted in `/metrics`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use natsd_core::options::{Options, RateAction, RateLimit};
use natsd_tests::ours::{Ours, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rate(msgs: u64, burst: u64, action: RateAction) -> Options {
    Options {
        publish_rate: Some(RateLimit {
            msgs: Some(msgs),
            burst_msgs: Some(burst),
            action,
            ..RateLimit::default()
        }),
        ..Options::default()
    }
}

async fn metrics(port: u16) -> String {
    get(port, "/metrics").await
}

async fn get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_slows_the_publisher_and_delivers_everything() {
    for rt in [Runtime::Tokio, Runtime::Std] {
        // 200 messages at 400/s with a burst of 20: about 0.45 s.
        let ours = Ours::start_monitored(rt, rate(400, 20, RateAction::Backpressure)).await;
        let url = format!("nats://127.0.0.1:{}", ours.port());
        let sub_client = async_nats::connect(&url).await.unwrap();
        let mut sub = sub_client.subscribe("rate.test").await.unwrap();
        sub_client.flush().await.unwrap();
        let publisher = async_nats::connect(&url).await.unwrap();
        let start = Instant::now();
        for i in 0..200u32 {
            publisher
                .publish("rate.test", i.to_string().into())
                .await
                .unwrap();
        }
        publisher.flush().await.unwrap();
        let mut got = 0;
        while got < 200 {
            let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("a message within 10 s")
                .expect("subscription open");
            assert_eq!(m.payload, got.to_string(), "{rt:?}: in order, none lost");
            got += 1;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(400),
            "{rt:?}: 200 messages at 400/s took only {took:?}"
        );
        assert_eq!(
            publisher.connection_state(),
            async_nats::connection::State::Connected,
            "{rt:?}: slowed, not disconnected"
        );
        let m = metrics(ours.monitor_port()).await;
        let line = m
            .lines()
            .find(|l| l.starts_with("natsd_publish_throttled_seconds_total{"))
            .unwrap_or_else(|| panic!("{rt:?}: no throttle series in {m}"));
        let secs: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(secs > 0.2, "{rt:?}: throttled {secs}s");
        let connz = get(ours.monitor_port(), "/connz").await;
        assert!(
            connz.contains("\"publish_throttled_seconds\": 0."),
            "{rt:?}: {connz}"
        );
        ours.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_is_counted_in_metrics() {
    for rt in [Runtime::Tokio, Runtime::Std] {
        let ours = Ours::start_monitored(rt, rate(10, 5, RateAction::Drop)).await;
        let url = format!("nats://127.0.0.1:{}", ours.port());
        let client = async_nats::connect(&url).await.unwrap();
        let mut sub = client.subscribe("rate.drop").await.unwrap();
        client.flush().await.unwrap();
        for _ in 0..50 {
            client.publish("rate.drop", "x".into()).await.unwrap();
        }
        client.flush().await.unwrap();
        let mut got = 0;
        while tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_ok()
        {
            got += 1;
        }
        assert!((5..50).contains(&got), "{rt:?}: {got} delivered");
        let m = metrics(ours.monitor_port()).await;
        let line = m
            .lines()
            .find(|l| l.starts_with("natsd_publish_dropped_messages_total{"))
            .unwrap_or_else(|| panic!("{rt:?}: no drop series in {m}"));
        let drops: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(
            drops as u64 + got,
            50,
            "{rt:?}: every message delivered or counted"
        );
        let drops = drops as u64;
        let connz = get(ours.monitor_port(), "/connz").await;
        assert!(
            connz.contains(&format!("\"publish_dropped\": {drops}")),
            "{rt:?}: {connz}"
        );
        let acc = get(ours.monitor_port(), "/accountz?acc=%24G").await;
        assert!(
            acc.contains(&format!("\"dropped\": {drops}")),
            "{rt:?}: {acc}"
        );
        ours.shutdown().await;
    }
}

//! The monitoring HTTP server on tokio: hyper (HTTP/1.1) around the runtime-neutral
//! [`Monitor`](natsd_adapter::monitor::Monitor). Documents are built on the blocking
//! pool, so building and serialising a large `/connz` never occupies a worker thread that
//! moves messages.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use natsd_adapter::monitor::{Monitor, MonitorConfig, EXTRA_HEADERS};
use natsd_adapter::startup::join_host_port;
use natsd_core::shared::Shared;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Binds `cfg.host:cfg.port` (0: a free port), logs `Starting http monitor on HOST:PORT` as
/// Go does, and serves until `stop` is cancelled. Returns the bound address. Must be called
/// inside a tokio runtime. Errors: the bind failed.
pub async fn start(
    shared: Arc<Shared>,
    cfg: &MonitorConfig,
    stop: CancellationToken,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(join_host_port(&cfg.host, cfg.port)).await?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "Starting http monitor on {}",
        join_host_port(&cfg.host, addr.port())
    );
    let monitor = Arc::new(Monitor::new(shared, cfg, addr.port()));
    tokio::spawn(accept_loop(listener, monitor, stop));
    Ok(addr)
}

async fn accept_loop(listener: TcpListener, monitor: Arc<Monitor>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            biased;
            () = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let Ok((stream, _)) = accepted else {
            // EMFILE and friends: the client port's accept loop logs these; back off here.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let monitor = Arc::clone(&monitor);
        let stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(Arc::clone(&monitor), req));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = stop.cancelled() => {}
                r = conn => {
                    if let Err(e) = r {
                        tracing::debug!("monitoring connection: {e}");
                    }
                }
            }
        });
    }
}

async fn answer(
    monitor: Arc<Monitor>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.as_str().to_string());
    let r = match tokio::task::spawn_blocking(move || monitor.handle(&method, &target)).await {
        Ok(r) => r,
        Err(_) => {
            // The handler never panics on input; a panic here is a bug, already reported.
            let mut resp = Response::new(Full::new(Bytes::from_static(b"internal error\n")));
            *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            return Ok(resp);
        }
    };
    let mut b = Response::builder()
        .status(r.status)
        .header("Content-Type", r.content_type);
    for (k, v) in EXTRA_HEADERS {
        b = b.header(*k, *v);
    }
    Ok(b.body(Full::new(Bytes::from(r.body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

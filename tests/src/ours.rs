//! Our server, started in-process on 127.0.0.1 with a port-0 listener, on either runtime.

use natsd_core::options::Options;

/// Which runtime drives the core. Every black-box test runs on both (see [`crate::runtimes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `natsd-tokio`.
    Tokio,
    /// `natsd-std` (threads, no async runtime).
    Std,
}

enum Inner {
    Tokio(natsd_tokio::Server),
    Std(natsd_std::Server),
}

/// A running natsd.
pub struct Ours {
    inner: Inner,
}

impl Ours {
    /// Starts on 127.0.0.1, port 0 (the OS picks), with `opts` otherwise as given.
    pub async fn start(rt: Runtime, mut opts: Options) -> Ours {
        opts.host = "127.0.0.1".into();
        opts.port = 0;
        let inner = match rt {
            Runtime::Tokio => Inner::Tokio(natsd_tokio::Server::start(opts).await.expect("start")),
            Runtime::Std => {
                // natsd-std blocks while binding; keep the async test's executor free.
                let s = tokio::task::spawn_blocking(move || natsd_std::Server::start(opts))
                    .await
                    .expect("join")
                    .expect("start");
                Inner::Std(s)
            }
        };
        Ours { inner }
    }

    /// Starts with monitoring on 127.0.0.1, a free port (see [`monitor_port`](Self::monitor_port)).
    pub async fn start_monitored(rt: Runtime, mut opts: Options) -> Ours {
        opts.host = "127.0.0.1".into();
        opts.port = 0;
        let start = natsd_adapter::StartInfo {
            monitor: Some(natsd_adapter::monitor::MonitorConfig {
                host: "127.0.0.1".into(),
                port: 0,
                base_path: String::new(),
            }),
            ..Default::default()
        };
        let inner = match rt {
            Runtime::Tokio => Inner::Tokio(
                natsd_tokio::Server::start_with(opts, start)
                    .await
                    .expect("start"),
            ),
            Runtime::Std => {
                let s =
                    tokio::task::spawn_blocking(move || natsd_std::Server::start_with(opts, start))
                        .await
                        .expect("join")
                        .expect("start");
                Inner::Std(s)
            }
        };
        Ours { inner }
    }

    /// The monitoring port (panics when started without monitoring: a test bug).
    pub fn monitor_port(&self) -> u16 {
        let addr = match &self.inner {
            Inner::Tokio(s) => s.monitor_addr(),
            Inner::Std(s) => s.monitor_addr(),
        };
        addr.expect("started with monitoring").port()
    }

    /// Starts with the options the Go server's flags `--auth`, `--user` and `--pass` would
    /// give (the flags the interop conversations use).
    pub async fn start_with_args(rt: Runtime, args: &[&str]) -> Ours {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().map(|v| v.to_string());
            match *flag {
                "--auth" => o.auth.token = value,
                "--user" => o.auth.user = value,
                "--pass" => o.auth.password = value,
                other => panic!("start_with_args: unsupported flag {other}"),
            }
        }
        Ours::start(rt, o).await
    }

    /// The bound client port.
    pub fn port(&self) -> u16 {
        match &self.inner {
            Inner::Tokio(s) => s.local_addr().port(),
            Inner::Std(s) => s.local_addr().port(),
        }
    }

    /// The bound route port, in a cluster (panics otherwise: a test bug).
    pub fn cluster_port(&self) -> u16 {
        let addr = match &self.inner {
            Inner::Tokio(s) => s.cluster_addr(),
            Inner::Std(s) => s.cluster_addr(),
        };
        addr.expect("started with a cluster").port()
    }

    /// The server's shared state (client counts and the like).
    pub fn shared(&self) -> &std::sync::Arc<natsd_core::shared::Shared> {
        match &self.inner {
            Inner::Tokio(s) => s.shared(),
            Inner::Std(s) => s.shared(),
        }
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        match self.inner {
            Inner::Tokio(s) => s.shutdown().await,
            Inner::Std(s) => tokio::task::spawn_blocking(move || s.shutdown())
                .await
                .expect("join"),
        }
    }
}

//! Our server, started in-process on 127.0.0.1 with a port-0 listener.

use natsd_core::options::Options;
use natsd_tokio::Server;

/// A running natsd (the tokio runtime).
pub struct Ours {
    server: Server,
}

impl Ours {
    /// Starts on 127.0.0.1, port 0 (the OS picks), with `opts` otherwise as given.
    pub async fn start(mut opts: Options) -> Ours {
        opts.host = "127.0.0.1".into();
        opts.port = 0;
        let server = Server::start(opts).await.expect("start natsd");
        Ours { server }
    }

    /// Starts with the options the Go server's flags `--auth`, `--user` and `--pass` would
    /// give (the flags the interop conversations use).
    pub async fn start_with_args(args: &[&str]) -> Ours {
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
        Ours::start(o).await
    }

    /// The bound client port.
    pub fn port(&self) -> u16 {
        self.server.local_addr().port()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

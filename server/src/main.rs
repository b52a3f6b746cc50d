//! `nats-server`: the natsd server with the Go server's command line. The program is
//! [`natsd_server::run`]; `--runtime tokio` (the default) or `--runtime std` picks the runtime
//! that serves the clients.

use natsd_adapter::runtime::Launcher;

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let launchers: [&dyn Launcher; 2] = [&natsd_tokio::TokioLauncher, &natsd_std::StdLauncher];
    std::process::exit(natsd_server::run::run(&args, &launchers));
}

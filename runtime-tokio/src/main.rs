//! `nats-server`: the natsd server with the Go server's command line.

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    std::process::exit(natsd_tokio::cli::run::run(&args));
}

//! Signals: sending one to a running server (`-sl/--signal`) and handling ours while running.

use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use super::logging::LogHandle;
use super::oserror::errno_text;

/// The process name `-sl` looks for when no pid is given (Go runs `pgrep nats-server`).
const PROCESS_NAME: &str = "nats-server";

/// Maps a `-sl` command to its signal, as the Go server's `ProcessSignal`.
pub fn command_signal(command: &str) -> Option<Signal> {
    Some(match command {
        "stop" => Signal::SIGKILL,
        "quit" => Signal::SIGINT,
        "reopen" => Signal::SIGUSR1,
        "reload" => Signal::SIGHUP,
        "ldm" => Signal::SIGUSR2,
        "term" => Signal::SIGTERM,
        _ => return None,
    })
}

/// Handles `-sl <command>[=<pid or pid file>]`: sends the signal. Errors carry the Go server's
/// wording (the caller prints `nats-server: <error>` and exits 1).
pub fn send(spec: &str) -> Result<(), String> {
    let parts: Vec<&str> = spec.split('=').collect();
    if parts.len() > 2 {
        return Err(format!(
            "invalid signal parameters: [{}]",
            parts[2..].join(" ")
        ));
    }
    let pid = match parts.get(1) {
        // A path to a pid file, or the pid itself.
        Some(p) => {
            let text = std::fs::read_to_string(p).unwrap_or_else(|_| (*p).to_string());
            Some(
                text.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("invalid pid: {text}"))?,
            )
        }
        None => None,
    };
    // Go resolves the pid before it looks at the command.
    let pid = match pid {
        Some(p) => p,
        None => single_server_pid()?,
    };
    let sig = command_signal(parts[0]).ok_or_else(|| format!("unknown signal {:?}", parts[0]))?;
    kill(Pid::from_raw(pid), sig).map_err(errno_text)
}

/// The one other running `nats-server` process, found in `/proc` (Go uses `pgrep`).
fn single_server_pid() -> Result<i32, String> {
    let me = std::process::id();
    let mut pids = Vec::new();
    let dir = std::fs::read_dir("/proc").map_err(|_| "unable to resolve pid, try providing one")?;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end().contains(PROCESS_NAME) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    match pids.as_slice() {
        [] => Err(format!("no {PROCESS_NAME} processes running")),
        [one] => i32::try_from(*one).map_err(|_| format!("invalid pid: {one}")),
        many => {
            let list: Vec<String> = many.iter().map(u32::to_string).collect();
            Err(format!(
                "multiple {PROCESS_NAME} processes running:\n{}",
                list.join("\n")
            ))
        }
    }
}

/// How the server was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: the Go server exits 0.
    Interrupt,
    /// SIGTERM: exit 0, as Go 2.15.1 (2.9.10 exited 1; nothing depends on the code but
    /// service managers, which treat 0 as a clean stop).
    Terminate,
    /// SIGUSR2: lame duck mode, then a graceful stop (exit 0).
    LameDuck,
}

/// The server's signals, taken synchronously with `sigwait` on the program's main thread: no
/// handler runs, no async runtime is needed, and the meaning is the same whichever runtime
/// serves the clients.
#[derive(Debug)]
pub struct Handlers {
    set: SigSet,
}

impl Handlers {
    /// Blocks SIGINT, SIGTERM, SIGUSR1, SIGUSR2 and SIGHUP in the calling thread, and so in
    /// every thread it spawns afterwards: from here on they stay pending until
    /// [`wait_for_stop`](Self::wait_for_stop) takes them. Call on the main thread before any
    /// other thread starts (a thread that exists already keeps the default action for them:
    /// terminate). Errors: the OS refused the mask.
    pub fn install() -> std::io::Result<Handlers> {
        let mut set = SigSet::empty();
        for s in [
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGUSR1,
            Signal::SIGUSR2,
            Signal::SIGHUP,
        ] {
            set.add(s);
        }
        set.thread_block()?;
        Ok(Handlers { set })
    }

    /// Waits for SIGINT or SIGTERM, handling the others meanwhile: SIGUSR1 reopens the log
    /// file, SIGHUP calls `on_reload` (config reload); SIGUSR2 returns [`Stop::LameDuck`].
    /// Blocks the calling thread.
    pub fn wait_for_stop(&mut self, log: &LogHandle, on_reload: &mut dyn FnMut()) -> Stop {
        loop {
            match self.set.wait() {
                // Go 2.15.1 logs these at INF (2.9.10 at DBG).
                Ok(Signal::SIGINT) => {
                    tracing::info!("Trapped \"interrupt\" signal");
                    return Stop::Interrupt;
                }
                Ok(Signal::SIGTERM) => {
                    tracing::info!("Trapped \"terminated\" signal");
                    return Stop::Terminate;
                }
                Ok(Signal::SIGUSR1) => {
                    tracing::info!("Trapped \"user defined signal 1\" signal");
                    log.reopen();
                }
                Ok(Signal::SIGUSR2) => {
                    tracing::info!("Trapped \"user defined signal 2\" signal");
                    return Stop::LameDuck;
                }
                Ok(Signal::SIGHUP) => {
                    tracing::info!("Trapped \"hangup\" signal");
                    on_reload();
                }
                // Only signals of the set are returned; sigwait fails only on a bad set.
                Ok(_) => {}
                Err(e) => {
                    tracing::error!("Waiting for signals failed: {e}");
                    return Stop::Terminate;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_map_like_go() {
        assert_eq!(command_signal("stop"), Some(Signal::SIGKILL));
        assert_eq!(command_signal("quit"), Some(Signal::SIGINT));
        assert_eq!(command_signal("reopen"), Some(Signal::SIGUSR1));
        assert_eq!(command_signal("reload"), Some(Signal::SIGHUP));
        assert_eq!(command_signal("ldm"), Some(Signal::SIGUSR2));
        assert_eq!(command_signal("term"), Some(Signal::SIGTERM));
        assert_eq!(command_signal("nope"), None);
    }

    #[test]
    fn bad_specs_are_refused_with_go_wording() {
        assert_eq!(send("foo=1"), Err("unknown signal \"foo\"".into()));
        assert_eq!(send("quit=abc"), Err("invalid pid: abc".into()));
        assert_eq!(
            send("quit=1=2=3"),
            Err("invalid signal parameters: [2 3]".into())
        );
    }

    #[test]
    fn signal_to_a_missing_process_fails() {
        // Pid 0x3fffffff is above Linux's pid_max limit, so it never exists.
        assert_eq!(send("reopen=1073741823"), Err("no such process".into()));
    }
}

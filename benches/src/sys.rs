//! Process settings for the load generator: the open-file limit, CPU pinning and its own CPU
//! time.

use nix::sched::{sched_setaffinity, CpuSet};
use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};
use nix::sys::time::TimeValLike;
use nix::unistd::{sysconf, Pid, SysconfVar};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (servers launched by the tool inherit
/// it). Returns the soft limit now in force.
pub fn raise_nofile() -> Result<u64, String> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(|e| format!("setrlimit: {e}"))?;
    }
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {e}"))?;
    Ok(soft)
}

/// Pins the calling thread (and the threads it spawns later) to `cpu`.
pub fn pin_to(cpu: usize) -> Result<(), String> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| format!("cpu {cpu}: {e}"))?;
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| format!("sched_setaffinity: {e}"))
}

/// CPU time (user + system, all threads) this process has used, in seconds.
pub fn self_cpu_secs() -> Result<f64, String> {
    let u = getrusage(UsageWho::RUSAGE_SELF).map_err(|e| format!("getrusage: {e}"))?;
    Ok((u.user_time().num_microseconds() + u.system_time().num_microseconds()) as f64 / 1e6)
}

/// Clock ticks per second (the unit of `/proc/<pid>/stat`'s times).
pub fn clock_ticks() -> Result<u64, String> {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => Ok(t as u64),
        other => Err(format!("sysconf(CLK_TCK): {other:?}")),
    }
}

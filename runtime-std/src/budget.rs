//! How many connections the std runtime can hold: each costs two threads, and each thread a
//! stack and a signal stack, both with guard pages. Past the kernel's memory-map limit
//! (`vm.max_map_count`, 65530 by default) a new thread aborts the whole process while setting
//! up its signal stack, which no error handling can catch. So `max_connections` is capped
//! below that limit: the core then refuses the excess with the Go server's
//! `-ERR 'maximum connections exceeded'`, and the server stays up. (Found by natsd-bench's
//! `conns` scenario: 10k idle connections aborted the std runtime at about 8k.)

use natsd_core::options::Options;

/// Memory maps one connection may need: two threads × (stack + guard, signal stack + guard),
/// plus slack for the allocator's arenas and the socket.
const MAPS_PER_CONNECTION: usize = 10;

/// Used where the kernel limit cannot be read (not Linux, or no /proc).
const FALLBACK_BUDGET: usize = 4096;

/// The most connections this runtime can hold on this machine.
pub fn connection_budget() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .map_or(FALLBACK_BUDGET, |maps| (maps / MAPS_PER_CONNECTION).max(1))
}

/// Lowers `opts.max_connections` to the budget. Returns the budget when it had to (so the
/// caller can say so once).
pub fn clamp(opts: &mut Options) -> Option<usize> {
    let budget = connection_budget();
    (opts.max_connections > budget).then(|| {
        opts.max_connections = budget;
        budget
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_only_above_the_budget() {
        let budget = connection_budget();
        assert!(budget >= 1);
        let mut o = Options {
            max_connections: budget + 1,
            ..Options::default()
        };
        assert_eq!(clamp(&mut o), Some(budget));
        assert_eq!(o.max_connections, budget);
        let mut o = Options {
            max_connections: 1,
            ..Options::default()
        };
        assert_eq!(clamp(&mut o), None);
        assert_eq!(o.max_connections, 1);
    }
}

//! Counts live connections so shutdown can wait for them with a bound: each holds a
//! [`Tracked`] guard from before it is handed to a worker (or to its TLS start) until it is
//! finished and dropped.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Counts live connections so shutdown can wait for them with a bound.
#[derive(Debug, Default)]
pub struct Tracker {
    live: Mutex<usize>,
    idle: Condvar,
}

/// Held by one connection (and by the threads that stop the server waits for); dropping it,
/// even in a panic, counts it out.
pub struct Tracked(Arc<Tracker>);

impl Tracker {
    /// Counts one in. Taken before the hand-over, so shutdown never misses a starting one.
    pub fn enter(self: &Arc<Self>) -> Tracked {
        *self.live.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Tracked(Arc::clone(self))
    }

    /// How many are live.
    pub fn live(&self) -> usize {
        *self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until none is live, at most `bound`. Returns whether that happened.
    pub fn wait_idle(&self, bound: Duration) -> bool {
        let end = Instant::now() + bound;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        while *live > 0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            live = self
                .idle
                .wait_timeout(live, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut live = self.0.live.lock().unwrap_or_else(|e| e.into_inner());
        *live -= 1;
        if *live == 0 {
            self.0.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn tracker_waits_for_guards_with_a_bound() {
        let t = Arc::new(Tracker::default());
        assert!(t.wait_idle(Duration::ZERO));
        let g = t.enter();
        assert!(!t.wait_idle(Duration::from_millis(10)));
        let th = thread::spawn(move || drop(g));
        assert!(t.wait_idle(Duration::from_secs(10)));
        th.join().unwrap();
        assert_eq!(t.live(), 0);
    }
}

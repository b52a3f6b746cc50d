//! The node's driver, the same on every runtime: one thread that owns the core's
//! [`Node`], feeds it its inputs (queued by connections through `Shared::to_node`, or
//! lame duck from the program) and its timer, and carries out its actions through a
//! [`NodeHost`] the runtime implements (dial a route, stop accepting).
//!
//! A plain thread on both runtimes: the node is the cold path (a few inputs per route
//! connection's life, a timer a second while a route is down), so it needs no async, and a
//! thread keeps it off the workers that move messages.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use natsd_core::client::Notify;
use natsd_core::node::{Node, NodeAction};
use natsd_core::options::RouteUrl;
use natsd_core::shared::Shared;

use crate::clock;

/// How long a route dial may take (Go: `DEFAULT_ROUTE_DIAL`, 1 s).
pub const ROUTE_DIAL_TIMEOUT: Duration = Duration::from_secs(1);

/// What the node's actions need from the runtime.
pub trait NodeHost: Send + Sync + 'static {
    /// Connect to `url` within [`ROUTE_DIAL_TIMEOUT`], then run the connection made by
    /// `Connection::connect_route`; on failure, `Shared::to_node(NodeInput::DialFailed)`.
    /// Must not block the caller.
    fn dial(&self, url: RouteUrl);

    /// Close the client listener (lame duck mode). Must not block for long.
    fn stop_accepting(&self);
}

/// The driver's state, under one lock.
struct State {
    node: Node,
    /// An input is waiting (set by the waker).
    woken: bool,
    /// The driver must end.
    stop: bool,
    /// The node said `Shutdown` (the end of lame duck mode).
    shut_down: bool,
}

struct Inner {
    state: Mutex<State>,
    cv: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wakes the driver when a connection queues an input.
struct Waker(Arc<Inner>);

impl Notify for Waker {
    fn notify(&self) {
        self.0.lock().woken = true;
        self.0.cv.notify_all();
    }
}

/// The running driver. Dropping it stops the thread (without waiting).
pub struct NodeDriver {
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for NodeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeDriver").finish_non_exhaustive()
    }
}

impl NodeDriver {
    /// Starts the node of `sh`: registers its waker, dials the explicit routes.
    pub fn start(sh: Arc<Shared>, host: Arc<dyn NodeHost>) -> io::Result<NodeDriver> {
        let mut node = Node::new(Arc::clone(&sh));
        node.handle_start(clock::now());
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                node,
                woken: true,
                stop: false,
                shut_down: false,
            }),
            cv: Condvar::new(),
        });
        sh.set_node_waker(Arc::new(Waker(Arc::clone(&inner))));
        let run = Arc::clone(&inner);
        let thread = thread::Builder::new()
            .name("natsd-node".into())
            .spawn(move || drive(&run, &*host))?;
        Ok(NodeDriver {
            inner,
            thread: Some(thread),
        })
    }

    /// Enters lame duck mode (see `Node::handle_lame_duck`) and blocks until the node says
    /// `Shutdown`.
    pub fn lame_duck(&self, duration: Duration, grace: Duration) {
        let mut st = self.inner.lock();
        st.node.handle_lame_duck(clock::now(), duration, grace);
        st.woken = true;
        self.inner.cv.notify_all();
        while !st.shut_down && !st.stop {
            st = self.inner.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Stops the driver thread and waits for it.
    pub fn stop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.cv.notify_all();
        if let Some(t) = self.thread.take() {
            // A panic there was a bug, already reported by the panic hook.
            let _ = t.join();
        }
    }
}

impl Drop for NodeDriver {
    fn drop(&mut self) {
        self.inner.lock().stop = true;
        self.inner.cv.notify_all();
    }
}

/// The driver loop: wait for an input or the timer, let the node act, carry out its
/// actions outside the lock (a dial spawns; nothing here blocks for long).
fn drive(inner: &Inner, host: &dyn NodeHost) {
    let mut st = inner.lock();
    loop {
        if st.stop {
            return;
        }
        let now = clock::now();
        let due = st.node.poll_timeout().is_some_and(|t| t <= now);
        if !st.woken && !due {
            st = match st.node.poll_timeout() {
                Some(t) => {
                    inner
                        .cv
                        .wait_timeout(st, clock::until(t, now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => inner.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
            continue;
        }
        st.woken = false;
        st.node.handle_inputs(now);
        st.node.handle_timeout(now);
        let mut actions = Vec::new();
        while let Some(a) = st.node.poll_action() {
            actions.push(a);
        }
        drop(st);
        let mut shut_down = false;
        for a in actions {
            match a {
                NodeAction::Dial(url) => host.dial(url),
                NodeAction::StopAccepting => host.stop_accepting(),
                NodeAction::Log(level, line) => crate::events::log(level, &line),
                NodeAction::Shutdown => shut_down = true,
            }
        }
        st = inner.lock();
        if shut_down {
            st.shut_down = true;
            inner.cv.notify_all();
        }
    }
}

//! Binding the client port with the Go server's accept backlog.
//!
//! `std::net::TcpListener::bind` listens with a fixed backlog of 128: a burst of connections
//! (clients reconnecting after a restart) overflows it and the dropped SYNs are retried only
//! after a second. The Go server asks for more; on Linux we ask for
//! `SOMAXCONN`, which the kernel caps at `net.core.somaxconn`, as Go does. Elsewhere std's
//! listener is used as is. Both runtimes bind through here.

use std::io;
use std::net::{TcpListener, ToSocketAddrs};

/// Binds `host:port` (port 0 picks a free port), trying each address `host` resolves to, like
/// `TcpListener::bind`.
pub fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = None;
    for addr in (host, port).to_socket_addrs()? {
        match bind_one(addr) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

#[cfg(target_os = "linux")]
fn bind_one(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    use nix::sys::socket::{self, sockopt, AddressFamily, Backlog, SockFlag, SockType};
    use std::os::fd::AsRawFd;

    let family = if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    // As std does on Unix: a restarted server can bind while old connections sit in TIME_WAIT.
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::bind(fd.as_raw_fd(), &socket::SockaddrStorage::from(addr))?;
    socket::listen(&fd, Backlog::MAXCONN)?;
    Ok(TcpListener::from(fd))
}

#[cfg(not(target_os = "linux"))]
fn bind_one(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    #[test]
    fn binds_a_free_port_and_survives_a_burst_without_accepting() {
        let l = bind("127.0.0.1", 0).unwrap();
        let addr = l.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        // More than std's 128 complete without anyone calling accept.
        let socks: Vec<TcpStream> = (0..300)
            .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(socks.len(), 300);
        assert!(bind("127.0.0.1", addr.port()).is_err(), "port in use");
        assert!(bind("no such host.invalid", 0).is_err());
    }
}

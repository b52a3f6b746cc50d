//! The pid file (`-P`) and the ports file (`--ports_file_dir`), shaped as the Go server's.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use natsd_adapter::join_host_port;

/// Writes our pid (decimal, no newline; mode 0660) to `path`.
pub fn write_pid_file(path: &Path) -> io::Result<()> {
    write_file(path, std::process::id().to_string().as_bytes(), 0o660)
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.write_all(data)
}

/// `DIR/<executable name>_<pid>.ports`, as Go names it.
pub fn ports_file_path(dir: &Path) -> PathBuf {
    let exe = std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "nats-server".to_string());
    dir.join(format!("{exe}_{}.ports", std::process::id()))
}

/// The ports file's JSON: `{"nats":["nats://HOST:PORT",...]}`. Go omits empty lists, so
/// `monitoring` is absent until monitoring exists. An unspecified listen address (0.0.0.0,
/// ::) lists every interface address, as Go does.
pub fn ports_json(client: SocketAddr) -> String {
    let hosts = if client.ip().is_unspecified() {
        interface_ips()
    } else {
        vec![client.ip()]
    };
    let urls: Vec<String> = hosts
        .iter()
        .map(|ip| format!("nats://{}", join_host_port(&ip.to_string(), client.port())))
        .collect();
    serde_json::json!({ "nats": urls }).to_string()
}

/// Every address of every interface, grouped by interface in the order the OS lists them.
fn interface_ips() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut by_iface: Vec<(String, Vec<IpAddr>)> = Vec::new();
    for ifa in addrs {
        let Some(addr) = ifa.address else { continue };
        let ip = if let Some(v4) = addr.as_sockaddr_in() {
            IpAddr::V4(v4.ip())
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            IpAddr::V6(v6.ip())
        } else {
            continue;
        };
        match by_iface
            .iter_mut()
            .find(|(name, _)| *name == ifa.interface_name)
        {
            Some((_, ips)) => ips.push(ip),
            None => by_iface.push((ifa.interface_name, vec![ip])),
        }
    }
    by_iface.into_iter().flat_map(|(_, ips)| ips).collect()
}

/// Writes the ports file for a server listening on `client` into `dir` (mode 0666).
/// Returns its path, for removal at exit.
pub fn write_ports_file(dir: &Path, client: SocketAddr) -> io::Result<PathBuf> {
    let path = ports_file_path(dir);
    write_file(&path, ports_json(client).as_bytes(), 0o666)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_json_shape() {
        let a: SocketAddr = "127.0.0.1:4222".parse().unwrap();
        assert_eq!(ports_json(a), r#"{"nats":["nats://127.0.0.1:4222"]}"#);
        let a: SocketAddr = "[::1]:5".parse().unwrap();
        assert_eq!(ports_json(a), r#"{"nats":["nats://[::1]:5"]}"#);
        let any: SocketAddr = "0.0.0.0:7".parse().unwrap();
        assert!(ports_json(any).contains("nats://127.0.0.1:7"));
    }

    #[test]
    fn pid_and_ports_files() {
        let dir = std::env::temp_dir().join(format!("natsd-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid = dir.join("pid");
        write_pid_file(&pid).unwrap();
        assert_eq!(
            std::fs::read_to_string(&pid).unwrap(),
            std::process::id().to_string()
        );
        let p = write_ports_file(&dir, "127.0.0.1:1".parse().unwrap()).unwrap();
        assert!(p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with(&format!("_{}.ports", std::process::id())));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

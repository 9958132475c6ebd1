//! Listening sockets: binding TCP and Unix sockets, adopting systemd's.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use socket2::{Domain, SockAddr, Socket, Type};

use crate::config::{Address, Protocol, SocketSpec};

/// A bound, listening socket held by the master and passed to every worker.
#[derive(Debug)]
pub struct Listener {
    pub spec: SocketSpec,
    pub socket: Socket,
    /// The name given to workers in `LISTEN_FDNAMES`.
    pub name: String,
    /// A Unix socket file ebb created, removed when the socket is closed for good.
    owned_path: Option<PathBuf>,
}

impl Listener {
    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> String {
        match self.socket.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(a) => a.to_string(),
            None => self.spec.address.to_string(),
        }
    }

    /// Close the master's copy of the socket, keeping its file (if any) until [`remove_file`]:
    /// once the workers have closed theirs too, new connections are refused at once instead
    /// of waiting in a backlog nobody accepts from.
    pub fn release(self) -> Option<PathBuf> {
        self.owned_path
    }

    /// Close the socket and remove its file if ebb created it.
    pub fn close(self) {
        if let Some(p) = &self.owned_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Bind every socket of the configuration; fail with one clear line per problem.
pub fn bind_all(
    specs: &[SocketSpec],
    backlog: u32,
    chmod: Option<u32>,
    keep: &mut Vec<Listener>,
) -> Result<Vec<Listener>> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        // On reload, a socket that is already bound is kept as is.
        if let Some(i) = keep.iter().position(|l| l.spec == *spec) {
            out.push(keep.remove(i));
            continue;
        }
        out.push(bind(spec, backlog, chmod)?);
    }
    Ok(out)
}

pub fn bind(spec: &SocketSpec, backlog: u32, chmod: Option<u32>) -> Result<Listener> {
    let backlog = backlog.min(i32::MAX as u32) as i32;
    match &spec.address {
        Address::Tcp { host, port } => {
            let addr = resolve(host, *port)?;
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)
                .context("creating a TCP socket")?;
            socket.set_reuse_address(true)?;
            if addr.is_ipv6() {
                socket.set_only_v6(true)?;
            }
            socket.bind(&addr.into()).map_err(|e| bind_error(spec, e))?;
            socket
                .listen(backlog)
                .with_context(|| format!("cannot listen on {}", spec.address))?;
            Ok(Listener {
                spec: spec.clone(),
                socket,
                name: spec.protocol.name().into(),
                owned_path: None,
            })
        }
        Address::Unix(path) => {
            prepare_unix_path(path)?;
            let socket =
                Socket::new(Domain::UNIX, Type::STREAM, None).context("creating a Unix socket")?;
            let addr = SockAddr::unix(path)
                .with_context(|| format!("{} is not a valid socket path", path.display()))?;
            socket.bind(&addr).map_err(|e| bind_error(spec, e))?;
            if let Some(mode) = chmod {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
            }
            socket
                .listen(backlog)
                .with_context(|| format!("cannot listen on {}", path.display()))?;
            Ok(Listener {
                spec: spec.clone(),
                socket,
                name: spec.protocol.name().into(),
                owned_path: Some(path.clone()),
            })
        }
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve host {host:?}"))?
        .next()
        .with_context(|| format!("host {host:?} has no address"))
}

fn bind_error(spec: &SocketSpec, e: std::io::Error) -> anyhow::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => {
            "address already in use: another process listens there; stop it or pick another port"
        }
        Some(libc::EACCES) => {
            "permission denied: ports below 1024 need root (or CAP_NET_BIND_SERVICE)"
        }
        Some(libc::EADDRNOTAVAIL) => "that address does not belong to this machine",
        _ => "",
    };
    if hint.is_empty() {
        anyhow::anyhow!("cannot bind {}: {e}", spec.address)
    } else {
        anyhow::anyhow!("cannot bind {}: {hint}", spec.address)
    }
}

/// A stale socket file (nobody listening) is replaced; a live one is refused, as is any
/// file that is not a socket.
fn prepare_unix_path(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; remove it or choose another path",
            path.display()
        );
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => bail!(
            "{} is in use: another server is listening on it; stop it or choose another path",
            path.display()
        ),
        Err(_) => std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display())),
    }
}

/// Sockets passed to ebb itself by systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`).
pub fn from_systemd() -> Result<Vec<Listener>> {
    let pid_ok = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
    else {
        return Ok(Vec::new());
    };
    if !pid_ok || n <= 0 {
        return Ok(Vec::new());
    }
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .unwrap_or_default()
        .split(':')
        .map(String::from)
        .collect();
    let mut out = Vec::new();
    for i in 0..n {
        let fd = 3 + i;
        // Taking ownership of fds systemd passed: validate first that they are sockets.
        let st = nix::sys::stat::fstat(crate::spawn::borrow_fd(fd))
            .with_context(|| format!("LISTEN_FDS says fd {fd} is a socket, but it is not open"))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
            bail!("LISTEN_FDS says fd {fd} is a socket, but it is not");
        }
        let owned = crate::spawn::adopt_fd(fd);
        let socket = Socket::from(owned);
        socket.set_cloexec(true)?;
        let name = names.get(i as usize).cloned().unwrap_or_default();
        let protocol = if name == "uwsgi" {
            Protocol::Uwsgi
        } else {
            Protocol::Http
        };
        let address = match socket.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(a) => Address::Tcp {
                host: a.ip().to_string(),
                port: a.port(),
            },
            None => Address::Unix(
                socket
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                    .unwrap_or_else(|| PathBuf::from(format!("fd:{fd}"))),
            ),
        };
        out.push(Listener {
            spec: SocketSpec { address, protocol },
            socket,
            name: if name.is_empty() {
                protocol.name().into()
            } else {
                name
            },
            owned_path: None,
        });
    }
    Ok(out)
}

//! Listening sockets inherited through the systemd `LISTEN_FDS` protocol.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::socket::{self, AddressFamily, SockaddrLike, SockaddrStorage, sockopt};

/// The first inherited file descriptor (`SD_LISTEN_FDS_START`).
pub const LISTEN_FDS_START: RawFd = 3;

/// Upper bound on `LISTEN_FDS`, to reject garbage before touching any descriptor.
const MAX_LISTEN_FDS: usize = 4096;

/// Set once [`listeners`] has taken ownership of the inherited descriptors.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// A listening stream socket: TCP (IPv4 or IPv6) or Unix.
#[derive(Debug)]
pub enum Listener {
    /// A TCP listening socket.
    Tcp(TcpListener),
    /// A Unix-domain stream listening socket.
    Unix(UnixListener),
}

/// An accepted connection, from either kind of [`Listener`].
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix-domain stream connection.
    Unix(UnixStream),
}

impl Listener {
    /// Accepts one connection.
    ///
    /// The new socket is close-on-exec and **blocking** (on Linux, `accept` never inherits
    /// `O_NONBLOCK`), whatever the listener's mode. On a non-blocking listener this returns
    /// [`io::ErrorKind::WouldBlock`] when a sibling process took the connection first.
    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
        }
    }

    /// Sets `O_NONBLOCK` on the listener.
    ///
    /// Note that `O_NONBLOCK` belongs to the *open file description*, which is shared by every
    /// process that inherited this socket (the master and all sibling workers), so this changes
    /// it for them too. Workers that multiplex accept with [`crate::worker::Drain`] need it (another
    /// process may win the race between `poll` saying "readable" and our `accept`).
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.set_nonblocking(nonblocking),
            Listener::Unix(l) => l.set_nonblocking(nonblocking),
        }
    }

    /// A human-readable address for logs: `127.0.0.1:8000`, `[::]:80`, `unix:/run/app.sock`.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => a.to_string(),
                Err(_) => "tcp:?".to_string(),
            },
            Listener::Unix(l) => match l.local_addr() {
                Ok(a) => match (a.as_pathname(), abstract_name(&a)) {
                    (Some(p), _) => format!("unix:{}", p.display()),
                    (None, Some(n)) => format!("unix:@{n}"),
                    _ => "unix:(unnamed)".to_string(),
                },
                Err(_) => "unix:?".to_string(),
            },
        }
    }

    /// The TCP address, when this is a TCP listener.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(_) => None,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(a: &std::os::unix::net::SocketAddr) -> Option<String> {
    use std::os::linux::net::SocketAddrExt;
    a.as_abstract_name()
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_: &std::os::unix::net::SocketAddr) -> Option<String> {
    None
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l) => l.as_fd(),
        }
    }
}

impl From<Listener> for OwnedFd {
    fn from(l: Listener) -> OwnedFd {
        match l {
            Listener::Tcp(l) => l.into(),
            Listener::Unix(l) => l.into(),
        }
    }
}

impl Stream {
    /// Sets `TCP_NODELAY` (no-op on Unix sockets).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(nodelay),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Sets `O_NONBLOCK` on this connection.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
        }
    }

    /// Shuts down the read, write or both halves.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(how),
            Stream::Unix(s) => s.shutdown(how),
        }
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the `LISTEN_*` variables say, parsed but not yet acted upon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListenEnv {
    pub count: usize,
    pub names: Vec<String>,
}

/// Parses `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` (pure; `pid` is our own pid).
///
/// Returns `Ok(None)` when there is nothing for us: `LISTEN_FDS` unset, or `LISTEN_PID` set to
/// another process. A missing `LISTEN_PID` is tolerated. Names missing from `LISTEN_FDNAMES`
/// are `"unknown"`, as with systemd.
pub(crate) fn parse_listen_env(
    fds: Option<&str>,
    pid_var: Option<&str>,
    names: Option<&str>,
    pid: u32,
) -> io::Result<Option<ListenEnv>> {
    let Some(fds) = fds else { return Ok(None) };
    if let Some(p) = pid_var {
        let p: u32 = p
            .trim()
            .parse()
            .map_err(|_| invalid(format!("LISTEN_PID={p:?} is not a process id")))?;
        if p != pid {
            return Ok(None);
        }
    }
    let count: usize = fds
        .trim()
        .parse()
        .map_err(|_| invalid(format!("LISTEN_FDS={fds:?} is not a number")))?;
    if count > MAX_LISTEN_FDS {
        return Err(invalid(format!("LISTEN_FDS={count} is implausibly large")));
    }
    let mut list: Vec<String> = match names {
        Some(n) if !n.is_empty() => n.split(':').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    list.resize(count, "unknown".to_string());
    for name in &mut list {
        if name.is_empty() {
            *name = "unknown".to_string();
        }
    }
    Ok(Some(ListenEnv { count, names: list }))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Takes the listening sockets passed in `LISTEN_FDS` (fds 3, 4, …), with their
/// `LISTEN_FDNAMES` names (`http`, `uwsgi`, or anything systemd was told).
///
/// * Returns an empty list when `LISTEN_FDS` is unset or `LISTEN_PID` names another process;
///   a program that can also run standalone then binds its own socket.
/// * Every socket must be a listening stream socket (TCP or Unix), else this fails and names the
///   descriptor; nothing is closed in that case.
/// * The descriptors are marked close-on-exec, so they do not leak into programs the worker runs.
///   Their blocking mode is left as inherited (see [`Listener::set_nonblocking`]).
/// * The environment is not modified (no `set_var`, which is unsound with threads).
/// * Ownership can be taken only once per process: a second call fails with
///   [`io::ErrorKind::AlreadyExists`].
pub fn listeners() -> io::Result<Vec<(String, Listener)>> {
    let var = |k: &str| std::env::var(k).ok();
    let Some(env) = parse_listen_env(
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )?
    else {
        return Ok(Vec::new());
    };
    // Validate every descriptor before taking ownership of any of them.
    let mut kinds = Vec::with_capacity(env.count);
    for i in 0..env.count {
        let fd = LISTEN_FDS_START + i as RawFd;
        let name = &env.names[i];
        let addr: SockaddrStorage = socket::getsockname(fd).map_err(|e| {
            io::Error::other(format!(
                "LISTEN_FDS: fd {fd} ({name}) is not a usable socket: {e}"
            ))
        })?;
        let unix = match addr.family() {
            Some(AddressFamily::Inet | AddressFamily::Inet6) => false,
            Some(AddressFamily::Unix) => true,
            other => {
                return Err(io::Error::other(format!(
                    "LISTEN_FDS: fd {fd} ({name}) has unsupported address family {other:?}"
                )));
            }
        };
        kinds.push(unix);
    }
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the LISTEN_FDS sockets were already taken by an earlier listeners() call",
        ));
    }
    let mut owned = Vec::with_capacity(env.count);
    for (i, unix) in kinds.into_iter().enumerate() {
        let raw = LISTEN_FDS_START + i as RawFd;
        // `raw` is an open socket (getsockname succeeded above) that the LISTEN_FDS protocol
        // hands to this process, and nothing else in the process owns it: the TAKEN flag
        // guarantees at most one OwnedFd per inherited descriptor (spawn.rs holds the unsafe).
        let fd: OwnedFd = crate::spawn::adopt_fd(raw);
        owned.push((raw, unix, fd));
    }
    let mut out = Vec::with_capacity(owned.len());
    let mut failure = None;
    for ((raw, unix, fd), name) in owned.into_iter().zip(env.names) {
        if failure.is_some() {
            // Keep the remaining descriptors open: we refuse them, we do not close them.
            let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
            continue;
        }
        match check_listening(&fd, raw, &name) {
            Ok(()) => {
                let l = if unix {
                    Listener::Unix(UnixListener::from(fd))
                } else {
                    Listener::Tcp(TcpListener::from(fd))
                };
                out.push((name, l));
            }
            Err(e) => {
                let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
                failure = Some(e);
            }
        }
    }
    match failure {
        Some(e) => {
            // Give the good ones back too, unclosed, so the error leaves the fds as found.
            for (_, l) in out {
                let _ = std::os::fd::IntoRawFd::into_raw_fd(OwnedFd::from(l));
            }
            Err(e)
        }
        None => Ok(out),
    }
}

fn check_listening(fd: &OwnedFd, raw: RawFd, name: &str) -> io::Result<()> {
    let ty = socket::getsockopt(fd, sockopt::SockType)
        .map_err(|e| io::Error::other(format!("LISTEN_FDS: fd {raw} ({name}): SO_TYPE: {e}")))?;
    if ty != socket::SockType::Stream {
        return Err(io::Error::other(format!(
            "LISTEN_FDS: fd {raw} ({name}) is a {ty:?} socket, not a stream socket"
        )));
    }
    let listening = socket::getsockopt(fd, sockopt::AcceptConn).map_err(|e| {
        io::Error::other(format!("LISTEN_FDS: fd {raw} ({name}): SO_ACCEPTCONN: {e}"))
    })?;
    if !listening {
        return Err(io::Error::other(format!(
            "LISTEN_FDS: fd {raw} ({name}) is not listening (listen() was never called on it)"
        )));
    }
    fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| io::Error::other(format!("LISTEN_FDS: fd {raw} ({name}): FD_CLOEXEC: {e}")))?;
    Ok(())
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_means_none() {
        assert_eq!(parse_listen_env(None, None, None, 7).unwrap(), None);
    }

    #[test]
    fn other_pid_means_none() {
        assert_eq!(
            parse_listen_env(Some("2"), Some("8"), Some("http:uwsgi"), 7).unwrap(),
            None
        );
    }

    #[test]
    fn names_and_count() {
        let e = parse_listen_env(Some("2"), Some("7"), Some("http:uwsgi"), 7)
            .unwrap()
            .unwrap();
        assert_eq!(e.count, 2);
        assert_eq!(e.names, vec!["http", "uwsgi"]);
    }

    #[test]
    fn missing_pid_tolerated_and_missing_names_are_unknown() {
        let e = parse_listen_env(Some("3"), None, Some("web::"), 7)
            .unwrap()
            .unwrap();
        assert_eq!(e.names, vec!["web", "unknown", "unknown"]);
        let e = parse_listen_env(Some("2"), None, None, 7).unwrap().unwrap();
        assert_eq!(e.names, vec!["unknown", "unknown"]);
    }

    #[test]
    fn extra_names_are_dropped() {
        let e = parse_listen_env(Some("1"), None, Some("a:b:c"), 7)
            .unwrap()
            .unwrap();
        assert_eq!(e.names, vec!["a"]);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_listen_env(Some("x"), None, None, 7).is_err());
        assert!(parse_listen_env(Some("1"), Some("me"), None, 7).is_err());
        assert!(parse_listen_env(Some("99999999"), None, None, 7).is_err());
    }

    #[test]
    fn zero_fds() {
        let e = parse_listen_env(Some("0"), Some("7"), None, 7)
            .unwrap()
            .unwrap();
        assert_eq!(e.count, 0);
        assert!(e.names.is_empty());
    }
}

//! Sockets the master answers on besides the workers': the control socket, the stats and
//! metrics servers. Every socket is non-blocking and served from the master's one poll loop.
//!
//! A client gets one answer and the connection closes. What a client can cost is bounded:
//! at most [`MAX_CLIENTS`] at once per server (a new one closes the oldest), at most
//! [`INPUT_CAP`] bytes of request, one answer of output, and [`CLIENT_DEADLINE`] from accept
//! to the last byte written. A client that sends too much, stops reading or is too slow is
//! dropped; none can stall the loop (no call here blocks) or grow the master's memory.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::Address;

/// Clients served at once by one server.
pub const MAX_CLIENTS: usize = 32;
/// The longest request a client may send (a command line, an HTTP request head).
pub const INPUT_CAP: usize = 8192;
/// From accept to the answer's last byte.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(5);
/// Connections accepted per server per turn of the loop.
const ACCEPT_BURST: usize = 16;

/// What a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One command line in, one JSON document out.
    Control,
    /// uWSGI's stats server: the JSON document on connect, or over HTTP.
    Stats { http: bool },
    /// Prometheus: `GET /metrics`.
    Metrics,
}

pub enum Listening {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stream {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

pub struct Server {
    pub kind: Kind,
    pub listening: Listening,
}

impl Server {
    /// Listen on `addr`; a Unix socket file gets `mode` (a stale file is replaced).
    pub fn bind(kind: Kind, addr: &Address, mode: u32) -> Result<Server> {
        let listening = match addr {
            Address::Tcp { host, port } => {
                let host = if host.is_empty() { "0.0.0.0" } else { host };
                let l = TcpListener::bind((host, *port))
                    .with_context(|| format!("cannot listen on {addr}: is it in use?"))?;
                l.set_nonblocking(true)?;
                Listening::Tcp(l)
            }
            Address::Unix(path) => Listening::Unix(bind_unix(path, mode)?, path.clone()),
        };
        Ok(Server { kind, listening })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        match &self.listening {
            Listening::Tcp(l) => l.as_fd(),
            Listening::Unix(l, _) => l.as_fd(),
        }
    }

    /// The address bound, for the log (the port when 0 was asked).
    pub fn describe(&self) -> String {
        match &self.listening {
            Listening::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "?".into()),
            Listening::Unix(_, p) => p.display().to_string(),
        }
    }

    fn accept(&self) -> Option<Stream> {
        let s = match &self.listening {
            Listening::Tcp(l) => l.accept().ok().map(|(s, _)| Stream::Tcp(s)),
            Listening::Unix(l, _) => l.accept().ok().map(|(s, _)| Stream::Unix(s)),
        }?;
        let ok = match &s {
            Stream::Tcp(t) => t.set_nonblocking(true),
            Stream::Unix(u) => u.set_nonblocking(true),
        };
        ok.ok().map(|_| s)
    }

    /// Remove the socket file (on exit).
    pub fn remove(&self) {
        if let Listening::Unix(_, p) = &self.listening {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Bind a Unix stream socket at `path` with `mode`, replacing a stale socket file (one that
/// nobody answers on) but never another kind of file, nor a live socket.
pub fn bind_unix(path: &Path, mode: u32) -> Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            anyhow::bail!(
                "{} exists and is not a socket: remove it or choose another path",
                path.display()
            );
        }
        if UnixStream::connect(path).is_ok() {
            anyhow::bail!(
                "{} is in use by a running process (another ebb?): stop it or choose another \
                 path",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    let l = UnixListener::bind(path)
        .with_context(|| format!("cannot create the socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Where a client is in its one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading its request.
    Reading,
    /// The master is handling its command (a reload, say); the answer follows.
    Waiting,
    /// Writing the answer.
    Writing,
}

pub struct Client {
    pub id: u64,
    pub server: usize,
    pub kind: Kind,
    stream: Stream,
    pub input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pub deadline: Instant,
    pub phase: Phase,
}

impl Client {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.fd()
    }

    /// Queue the answer; it is written as the client reads.
    pub fn answer(&mut self, bytes: Vec<u8>) {
        self.output = bytes;
        self.written = 0;
        self.phase = Phase::Writing;
    }

    /// Read what is there. `Ok(true)`: the peer closed its side.
    pub fn read_some(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    if self.input.len() + n > INPUT_CAP {
                        return Err(std::io::Error::other("request too long"));
                    }
                    self.input.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Write what the socket takes. `Ok(true)`: all written.
    pub fn write_some(&mut self) -> std::io::Result<bool> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(std::io::Error::other("peer closed")),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Accept what is waiting on `server` (index `idx`), within the client cap.
pub fn accept_all(
    server: &Server,
    idx: usize,
    clients: &mut Vec<Client>,
    next_id: &mut u64,
    now: Instant,
) {
    for _ in 0..ACCEPT_BURST {
        let Some(stream) = server.accept() else {
            return;
        };
        if clients.iter().filter(|c| c.server == idx).count() >= MAX_CLIENTS {
            // Too many at once: the oldest goes (idle connections cannot lock others out).
            if let Some(pos) = clients.iter().position(|c| c.server == idx) {
                clients.remove(pos);
            }
        }
        *next_id += 1;
        clients.push(Client {
            id: *next_id,
            server: idx,
            kind: server.kind,
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            deadline: now + CLIENT_DEADLINE,
            phase: Phase::Reading,
        });
    }
}

//! Live state and control (issue 11): the control socket and uWSGI's master fifo, served
//! from the master's one poll loop (see [`server`] for what a client may cost).
//!
//! The master holds every worker's counters already (from the notify sockets); the stats
//! document ([`snapshot::stats_json`]) and `ebb status` ([`table`]) are renderings of that
//! one state, built only when someone asks: with nobody asking, nothing here wakes the loop.

pub mod control;
pub mod listenq;
pub mod metrics;
pub mod sdnotify;
pub mod server;
pub mod snapshot;
pub mod table;
pub mod title;

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use nix::poll::PollFlags;
use serde_json::{Value, json};

use crate::config::{Address, Config};
pub use control::Command;
pub use listenq::listen_info;
use server::{Client, Kind, Phase, Server};

/// A worker process's memory, in KiB, from /proc/PID/statm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Resident set size.
    pub rss_kb: u64,
    /// Virtual size (uWSGI's `vsz`).
    pub vsz_kb: u64,
}

/// The memory of each worker process, from `/proc/<pid>/statm`: one small read per
/// worker when someone asks, never a scan of every process on the machine (which costs
/// hundreds of context switches on a busy host).
pub fn worker_memory_kb(
    workers: &[(crate::policy::WorkerId, i32)],
) -> std::collections::HashMap<crate::policy::WorkerId, Memory> {
    let page_kb = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4, |p| (p as u64) / 1024);
    workers
        .iter()
        .filter_map(|&(id, pid)| {
            let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
            let mut f = statm.split_whitespace();
            let size: u64 = f.next()?.parse().ok()?;
            let resident: u64 = f.next()?.parse().ok()?;
            Some((
                id,
                Memory {
                    rss_kb: resident * page_kb,
                    vsz_kb: size * page_kb,
                },
            ))
        })
        .collect()
}

/// What the master must do for a client or the fifo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Answer client `id` with the stats document ([`Live::answer_document`]).
    Document { client: u64 },
    /// Carry out a control command and answer client `id` ([`Live::answer`]).
    Command { client: u64, command: Command },
    /// A one-letter command written to the master fifo.
    Fifo(char),
}

/// uWSGI's master fifo: a named pipe the master holds open for reading *and* writing, so a
/// writer closing it never leaves it at end-of-file (which would wake poll() forever).
struct Fifo {
    file: File,
    path: PathBuf,
}

pub struct Live {
    servers: Vec<Server>,
    clients: Vec<Client>,
    fifo: Option<Fifo>,
    next_client: u64,
    /// The control socket path, shown at start and removed at exit (`None`: the default
    /// place could not be used; ebb runs without one and said why).
    pub control_path: Option<PathBuf>,
}

impl Live {
    pub fn new(config: &Config) -> Result<Live> {
        let mut servers = Vec::new();
        let control_path = match &config.ops.control {
            Some(p) => {
                servers.push(
                    Server::bind(Kind::Control, &Address::Unix(p.clone()), 0o600)
                        .context("--control")?,
                );
                Some(p.clone())
            }
            None => {
                // The default place is a convenience: if it cannot be used, say so and run.
                let dir = control::default_dir();
                let path = control::default_path(std::process::id());
                match control::prepare_dir(&dir).and_then(|()| {
                    // Sockets of masters that were killed are left behind: clear them.
                    control::prune_stale(&dir);
                    Server::bind(Kind::Control, &Address::Unix(path.clone()), 0o600)
                }) {
                    Ok(s) => {
                        servers.push(s);
                        Some(path)
                    }
                    Err(e) => {
                        tracing::warn!(
                            "no control socket ({e:#}): ebb status and the other commands \
                             will not reach this ebb; give --control PATH"
                        );
                        None
                    }
                }
            }
        };
        if let Some(a) = &config.ops.stats {
            let http = config.ops.stats_http;
            servers.push(Server::bind(Kind::Stats { http }, a, 0o600).context("--stats")?);
        }
        if let Some(a) = &config.ops.metrics {
            servers.push(Server::bind(Kind::Metrics, a, 0o600).context("--metrics")?);
        }
        let fifo = match &config.ops.master_fifo {
            Some(p) => Some(open_fifo(p)?),
            None => None,
        };
        Ok(Live {
            servers,
            clients: Vec::new(),
            fifo,
            next_client: 0,
            control_path,
        })
    }

    /// Say where the stats and metrics servers listen (the port, when 0 was asked).
    pub fn announce(&self) {
        for s in &self.servers {
            let (what, event) = match s.kind {
                Kind::Control => continue,
                Kind::Stats { http: false } => ("stats server", "stats-listen"),
                Kind::Stats { http: true } => ("stats server (HTTP)", "stats-listen"),
                Kind::Metrics => ("Prometheus metrics at /metrics", "metrics-listen"),
            };
            tracing::info!(event, address = %s.describe(), "{what} on {}", s.describe());
        }
    }

    /// What to poll, in the order [`Live::on_poll`] expects the results.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut v: Vec<(BorrowedFd<'_>, PollFlags)> = self
            .servers
            .iter()
            .map(|s| (s.fd(), PollFlags::POLLIN))
            .collect();
        if let Some(f) = &self.fifo {
            v.push((f.file.as_fd(), PollFlags::POLLIN));
        }
        for c in &self.clients {
            let flags = match c.phase {
                Phase::Reading => PollFlags::POLLIN,
                Phase::Writing => PollFlags::POLLOUT,
                // Nothing to read or write until the master answers; errors still show.
                Phase::Waiting => PollFlags::empty(),
            };
            v.push((c.fd(), flags));
        }
        v
    }

    /// The nearest client deadline: only while a client is connected.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|c| c.deadline).min()
    }

    /// Handle what poll() reported (`ready[i]` for the i-th of [`Live::poll_fds`]).
    pub fn on_poll(&mut self, ready: &[PollFlags], now: Instant) -> Vec<Request> {
        let mut out = Vec::new();
        let n_servers = self.servers.len();
        let fifo_at = self.fifo.as_ref().map(|_| n_servers);
        let clients_at = n_servers + usize::from(self.fifo.is_some());
        // Clients first: the indices match the list as it was polled.
        let mut drop_ids = Vec::new();
        for (i, c) in self.clients.iter_mut().enumerate() {
            let Some(&r) = ready.get(clients_at + i) else {
                break;
            };
            if r.is_empty() {
                continue;
            }
            if r.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) {
                drop_ids.push(c.id);
                continue;
            }
            match c.phase {
                Phase::Reading => match c.read_some() {
                    Err(_) => drop_ids.push(c.id),
                    Ok(eof) => {
                        if let Some(req) = request_of(c, eof) {
                            match req {
                                Parsed::Need(r) => {
                                    c.phase = Phase::Waiting;
                                    out.push(r);
                                }
                                Parsed::Answer(bytes) => c.answer(bytes),
                            }
                        } else if eof {
                            drop_ids.push(c.id);
                        }
                    }
                },
                Phase::Writing => {}
                Phase::Waiting => {
                    if r.contains(PollFlags::POLLHUP) {
                        drop_ids.push(c.id);
                    }
                }
            }
        }
        self.clients.retain(|c| !drop_ids.contains(&c.id));
        self.flush();
        if let Some(at) = fifo_at
            && ready.get(at).is_some_and(|r| !r.is_empty())
            && let Some(f) = &mut self.fifo
        {
            let mut buf = [0u8; 256];
            if let Ok(n) = f.file.read(&mut buf) {
                out.extend(
                    buf[..n]
                        .iter()
                        .map(|&b| b as char)
                        .filter(|c| !c.is_whitespace())
                        .map(Request::Fifo),
                );
            }
        }
        for idx in 0..n_servers {
            if ready.get(idx).is_some_and(|r| !r.is_empty()) {
                let before = self.clients.len();
                server::accept_all(
                    &self.servers[idx],
                    idx,
                    &mut self.clients,
                    &mut self.next_client,
                    now,
                );
                // The plain stats server answers on connect, without reading.
                for c in &mut self.clients[before..] {
                    if c.kind == (Kind::Stats { http: false }) {
                        c.phase = Phase::Waiting;
                        out.push(Request::Document { client: c.id });
                    }
                }
            }
        }
        out
    }

    /// Drop clients past their deadline (too slow, stuck or hostile).
    pub fn expire(&mut self, now: Instant) {
        self.clients.retain(|c| now < c.deadline);
    }

    /// Answer a control command.
    pub fn answer(&mut self, client: u64, result: Result<String, String>) {
        let v = match result {
            Ok(m) => json!({"ok": true, "message": m}),
            Err(e) => json!({"ok": false, "error": e}),
        };
        self.answer_bytes(client, format!("{v}\n").into_bytes());
    }

    /// Answer with the stats document (plain, or over HTTP for `--stats-http`).
    pub fn answer_document(&mut self, client: u64, doc: &Value) {
        let Some(c) = self.clients.iter().find(|c| c.id == client) else {
            return;
        };
        let bytes = match c.kind {
            Kind::Stats { http: true } => {
                http_response("200 OK", "application/json", format!("{doc}\n").as_bytes())
            }
            Kind::Metrics => http_response(
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(doc).as_bytes(),
            ),
            _ => format!("{doc}\n").into_bytes(),
        };
        self.answer_bytes(client, bytes);
    }

    fn answer_bytes(&mut self, client: u64, bytes: Vec<u8>) {
        if let Some(c) = self.clients.iter_mut().find(|c| c.id == client) {
            c.answer(bytes);
        }
        self.flush();
    }

    /// Write what the clients take; close those that are done or broken.
    fn flush(&mut self) {
        self.clients.retain_mut(|c| {
            if c.phase != Phase::Writing {
                return true;
            }
            matches!(c.write_some(), Ok(false))
        });
    }

    /// Remove the socket files (the master is exiting).
    pub fn cleanup(&mut self) {
        for s in &self.servers {
            s.remove();
        }
        if let Some(f) = &self.fifo {
            let _ = std::fs::remove_file(&f.path);
        }
    }
}

enum Parsed {
    Need(Request),
    Answer(Vec<u8>),
}

/// A client's request, once complete.
fn request_of(c: &Client, eof: bool) -> Option<Parsed> {
    match c.kind {
        Kind::Control => {
            let end = c.input.iter().position(|&b| b == b'\n');
            let line = match (end, eof) {
                (Some(e), _) => &c.input[..e],
                (None, true) if !c.input.is_empty() => &c.input[..],
                _ => return None,
            };
            let line = String::from_utf8_lossy(line);
            Some(match Command::parse(&line) {
                Ok(Command::Status) => Parsed::Need(Request::Document { client: c.id }),
                Ok(command) => Parsed::Need(Request::Command {
                    client: c.id,
                    command,
                }),
                Err(e) => {
                    Parsed::Answer(format!("{}\n", json!({"ok": false, "error": e})).into_bytes())
                }
            })
        }
        Kind::Stats { .. } | Kind::Metrics => {
            let head_end = find_head_end(&c.input)?;
            let head = String::from_utf8_lossy(&c.input[..head_end]);
            let mut parts = head.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if method != "GET" && method != "HEAD" {
                return Some(Parsed::Answer(http_response(
                    "405 Method Not Allowed",
                    "text/plain",
                    b"use GET\n",
                )));
            }
            let path = path.split('?').next().unwrap_or("");
            if c.kind == Kind::Metrics && path != "/metrics" && path != "/" {
                return Some(Parsed::Answer(http_response(
                    "404 Not Found",
                    "text/plain",
                    b"metrics are at /metrics\n",
                )));
            }
            Some(Parsed::Need(Request::Document { client: c.id }))
        }
    }
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| b.windows(2).position(|w| w == b"\n\n"))
}

pub(crate) fn http_response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn open_fifo(path: &std::path::Path) -> Result<Fifo> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => anyhow::bail!(
            "--master-fifo {}: exists and is not a fifo; remove it or choose another path",
            path.display()
        ),
        Err(_) => nix::unistd::mkfifo(
            path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .with_context(|| format!("--master-fifo: cannot create {}", path.display()))?,
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .with_context(|| format!("--master-fifo: cannot open {}", path.display()))?;
    Ok(Fifo {
        file,
        path: path.to_path_buf(),
    })
}

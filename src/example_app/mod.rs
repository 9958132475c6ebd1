//! `ebb example-app`: a small, fast HTTP/1.1 worker built on [`crate::worker`].
//!
//! It is the app the integration tests and benchmarks run under the master, and it can run
//! alone (it then binds `EBB_EXAMPLE_BIND`, default `127.0.0.1:8000`).
//!
//! Routes (any method; `HEAD` gets headers only):
//!
//! | route | answer |
//! |---|---|
//! | `/` | `hello from worker=<id> pid=<pid> respawn=<n>` |
//! | `/job?ms=N&id=X` | 200 at once, then an N-ms background job named X (default `job-<n>`) |
//! | `/sleep?ms=N` | 200 after N ms |
//! | `/crash` | the process aborts |
//! | `/fds` | open descriptors, `fd -> target` per line, `(inherited)` if open at start |
//! | `/env` | `EBB_*`, `LISTEN_*`, `NOTIFY_SOCKET`, `WATCHDOG_*` variables |
//! | `/stats` | counters: requests, in flight, jobs, connections, draining |
//!
//! Anything else is 404; a malformed request 400; a request head over 16 KiB, or with more
//! than 64 headers, 431. Sockets named `uwsgi` speak the uwsgi protocol (one request per
//! connection, as nginx's `uwsgi_pass` does); every other socket speaks HTTP/1.x.
//!
//! Concurrency: `EBB_EXAMPLE_THREADS` event-loop threads (default: one per CPU). Each one
//! `poll()`s the listening sockets, the drain descriptor and its own connections (non-blocking),
//! accepts, and answers every request that is complete in its buffer (pipelined ones in one
//! write). A request that has to wait (`/sleep`, a body not yet received, `Expect:
//! 100-continue`) moves its connection to a thread of its own with blocking I/O, as do uwsgi
//! connections. One timer thread runs all background jobs (they are sleeps), so a job never
//! holds a thread. No timer ticks: every wait is a `poll()` or condition variable with the
//! nearest deadline.
//!
//! Draining (on `SIGTERM`, `SIGINT`, `SIGHUP` or `EBB_DRAIN_SIGNAL`): close the listeners, send
//! `STOPPING=1`, answer the next request on each connection with `Connection: close`, close
//! connections idle for `EBB_EXAMPLE_IDLE_GRACE_MS`, finish requests and jobs, report the
//! falling counts, exit 0. `SIGQUIT` exits at once.

use std::borrow::Cow;
use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::worker::{Drain, JobGuard, Listener, Notifier, Reporter, Stream, WorkerInfo};

/// One line to stderr in a single write, so it is never interleaved with the master's log
/// lines (`eprintln!` may split a line over several writes).
macro_rules! say {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
    }};
}

mod access;
mod conn;
mod event_loop;
mod http;
mod jobs;
mod routes;
mod step;
#[cfg(test)]
mod tests;

use access::*;
use conn::*;
use event_loop::*;
use http::*;
use jobs::*;
use routes::*;
use step::*;

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;
/// Longest `ms=` accepted for `/job` and `/sleep`: one hour.
const MAX_MS: u64 = 3_600_000;
/// First size of a connection's read buffer (it grows up to `MAX_HEAD`).
const INITIAL_BUF: usize = 4096;

const USAGE: &str = "\
usage: ebb example-app [--bind ADDR]

A small HTTP/1.1 worker for tests and benchmarks. Under ebb it serves the sockets it is given
(LISTEN_FDS); alone it binds ADDR, EBB_EXAMPLE_BIND or 127.0.0.1:8000 (`unix:/path` for a Unix
socket). Routes: /  /job?ms=N&id=X  /sleep?ms=N  /crash  /fds  /env  /stats

Environment:
  EBB_EXAMPLE_BIND=ADDR            standalone address (default 127.0.0.1:8000)
  EBB_EXAMPLE_IDLE_GRACE_MS=1000   on drain, close keep-alive connections idle this long
  EBB_EXAMPLE_KEEPALIVE_MS=30000   close keep-alive connections idle this long
  EBB_EXAMPLE_READ_TIMEOUT_MS=30000  give up on a request that stalls this long
  EBB_EXAMPLE_MAX_CONNS=10000      answer 503 beyond this many open connections
  EBB_EXAMPLE_THREADS=N            event-loop threads (default: number of CPUs)
  EBB_EXAMPLE_START_DELAY_MS=N     wait N ms before opening sockets (slow start)
  EBB_EXAMPLE_CRASH_AT_START=1     exit 1 at once (a failing import)
  EBB_EXAMPLE_NO_READY=1           never send READY=1
  EBB_JOB_JOURNAL=FILE             append `start`/`done` lines for every /job
";

/// Settings from the environment and arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Config {
    bind: String,
    idle_grace: Duration,
    keepalive: Duration,
    read_timeout: Duration,
    max_conns: usize,
    threads: usize,
    start_delay: Duration,
    crash_at_start: bool,
    no_ready: bool,
    journal: Option<String>,
}

impl Config {
    fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Config> {
        let ms = |key: &str, default: u64| -> anyhow::Result<Duration> {
            match env(key).filter(|v| !v.trim().is_empty()) {
                None => Ok(Duration::from_millis(default)),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Duration::from_millis)
                    .with_context(|| format!("{key}={v:?}: expected milliseconds")),
            }
        };
        let flag =
            |key: &str| env(key).is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"));
        let mut bind = env("EBB_EXAMPLE_BIND")
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "127.0.0.1:8000".to_string());
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--bind" => {
                    bind = it.next().context("--bind needs an address")?.clone();
                }
                s if s.starts_with("--bind=") => bind = s["--bind=".len()..].to_string(),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        let max_conns = match env("EBB_EXAMPLE_MAX_CONNS").filter(|v| !v.trim().is_empty()) {
            None => 10_000,
            Some(v) => v
                .trim()
                .parse()
                .with_context(|| format!("EBB_EXAMPLE_MAX_CONNS={v:?}: expected a number"))?,
        };
        let threads = match env("EBB_EXAMPLE_THREADS").filter(|v| !v.trim().is_empty()) {
            None => std::thread::available_parallelism().map_or(2, |n| n.get()),
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => bail!("EBB_EXAMPLE_THREADS={v:?}: expected a number from 1 to 1024"),
            },
        };
        Ok(Config {
            bind,
            threads,
            idle_grace: ms("EBB_EXAMPLE_IDLE_GRACE_MS", 1000)?,
            keepalive: ms("EBB_EXAMPLE_KEEPALIVE_MS", 30_000)?,
            read_timeout: ms("EBB_EXAMPLE_READ_TIMEOUT_MS", 30_000)?,
            max_conns,
            start_delay: ms("EBB_EXAMPLE_START_DELAY_MS", 0)?,
            crash_at_start: flag("EBB_EXAMPLE_CRASH_AT_START"),
            no_ready: flag("EBB_EXAMPLE_NO_READY"),
            journal: env("EBB_JOB_JOURNAL").filter(|v| !v.is_empty()),
        })
    }
}

/// Which protocol a listening socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Http,
    Uwsgi,
}

/// Everything the threads share. Leaked once per run: it lives as long as the process.
struct App {
    cfg: Config,
    slot: String,
    pid: u32,
    respawn: String,
    drain: Drain,
    reporter: Reporter,
    /// Open connections (event loops and threads).
    conns: Counter,
    /// Event loops still holding the listeners.
    accepting: Counter,
    jobs: JobTimer,
    journal: Option<File>,
    journal_failed: AtomicBool,
    /// Numbers anonymous jobs (`job-<n>`).
    job_names: AtomicU64,
    /// Orders jobs with equal deadlines.
    job_seq: AtomicU64,
    /// Jobs finished since start.
    jobs_done: AtomicU64,
    /// Descriptors open when `run` began.
    inherited_fds: Vec<i32>,
    hello: Hello,
    access: AccessLog,
}

/// Precomputed answers to `GET /`, the benchmark route.
struct Hello {
    body: String,
    keep_alive: Vec<u8>,
    keep_alive_10: Vec<u8>,
    close: Vec<u8>,
}

/// Runs the example app until it has drained; `args` are the words after `example-app`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return Ok(());
    }
    // Before opening anything: what we inherited, for GET /fds.
    let inherited_fds: Vec<i32> = open_fds()
        .map(|v| v.into_iter().map(|(n, _)| n).collect())
        .unwrap_or_default();
    let cfg = Config::parse(args, &|k| std::env::var(k).ok())?;
    let info = WorkerInfo::from_env();
    let slot = info.id.map_or("0".to_string(), |i| i.to_string());
    let respawn = info.respawn.map_or("0".to_string(), |g| g.to_string());
    let pid = std::process::id();
    let tag = format!("ebb example-app[worker={slot} pid={pid} respawn={respawn}]");

    if cfg.crash_at_start {
        say!(
            "{tag}: EBB_EXAMPLE_CRASH_AT_START=1: failing at start on purpose (simulated import error)"
        );
        std::process::exit(1);
    }

    // Signal handlers before anything else, and before READY.
    let drain = Drain::install().context("installing the drain signal handlers")?;
    if !cfg.start_delay.is_zero() {
        drain.wait_timeout(cfg.start_delay);
    }

    let from_ebb = std::env::var_os("LISTEN_FDS").is_some();
    let mut socks = crate::worker::listeners().context("taking the LISTEN_FDS sockets")?;
    if socks.is_empty() {
        if from_ebb {
            bail!("LISTEN_FDS is set but holds no socket for this process (LISTEN_PID mismatch?)");
        }
        socks.push(("http".to_string(), bind(&cfg.bind)?));
    }
    let notifier = Notifier::from_env().context("opening NOTIFY_SOCKET")?;
    let reporter = Reporter::new(notifier).context("starting the reporter thread")?;
    let journal = match &cfg.journal {
        None => None,
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .with_context(|| format!("opening EBB_JOB_JOURNAL={path}"))?,
        ),
    };
    let app = App::start(cfg, slot, respawn, drain, reporter, journal, inherited_fds)?;
    let described = app.serve(socks)?;

    if app.cfg.no_ready {
        say!(
            "{tag}: serving {} (EBB_EXAMPLE_NO_READY=1: not sending READY=1)",
            described.join(" ")
        );
    } else {
        // A failed send is not fatal: the master falls back to its ready timeout.
        let _ = app
            .reporter
            .ready(&format!("serving {}", described.join(" ")));
        // Under ebb the master logs "worker ready": one event, one line.
        if !from_ebb {
            say!("{tag}: ready, serving {}", described.join(" "));
        }
    }

    app.drain.wait();
    crate::worker::bound_orphan_drain(app.reporter.clone());
    let t0 = Instant::now();
    let done0 = app.jobs_done.load(Ordering::SeqCst);
    // Under ebb the master logs the drain and its end from this worker's reports.
    let quiet = from_ebb && std::env::var_os("EBB_MASTER_PID").is_some();
    if !quiet {
        say!(
            "{tag}: draining: {} requests in flight, {} connections, {} jobs running, {} requests served",
            app.reporter.inflight(),
            app.conns.get(),
            app.reporter.jobs(),
            app.reporter.requests()
        );
    }
    app.accepting.wait_zero(); // every loop has closed its listeners
    let _ = app.reporter.stopping();
    app.conns.wait_zero();
    app.reporter.wait_idle(None);
    let _ = app.reporter.flush();
    if !quiet {
        say!(
            "{tag}: drained in {:.2}s: {} jobs finished during the drain, {} requests served; exiting",
            t0.elapsed().as_secs_f64(),
            app.jobs_done.load(Ordering::SeqCst) - done0,
            app.reporter.requests()
        );
    }
    Ok(())
}

impl App {
    /// Builds the shared state (leaked: it lives as long as the process) and starts the job
    /// thread.
    fn start(
        cfg: Config,
        slot: String,
        respawn: String,
        drain: Drain,
        reporter: Reporter,
        journal: Option<File>,
        inherited_fds: Vec<i32>,
    ) -> anyhow::Result<&'static App> {
        let pid = std::process::id();
        let hello_body = format!("hello from worker={slot} pid={pid} respawn={respawn}\n");
        let app: &'static App = Box::leak(Box::new(App {
            hello: Hello::new(&hello_body),
            access: AccessLog::from_env(&|k| std::env::var(k).ok()),
            cfg,
            slot,
            pid,
            respawn,
            drain,
            reporter,
            conns: Counter::default(),
            accepting: Counter::default(),
            jobs: JobTimer::default(),
            journal,
            journal_failed: AtomicBool::new(false),
            job_names: AtomicU64::new(0),
            job_seq: AtomicU64::new(0),
            jobs_done: AtomicU64::new(0),
            inherited_fds,
        }));
        std::thread::Builder::new()
            .name("jobs".into())
            .stack_size(128 * 1024)
            .spawn(move || app.jobs.run(app))
            .context("starting the job thread")?;
        Ok(app)
    }

    /// Starts the event loops on these listeners; returns `name=address` for each.
    fn serve(&'static self, socks: Vec<(String, Listener)>) -> anyhow::Result<Vec<String>> {
        let mut described = Vec::new();
        let mut listeners = Vec::new();
        for (name, listener) in socks {
            let proto = if name == "uwsgi" {
                Proto::Uwsgi
            } else {
                Proto::Http
            };
            // Shared with the siblings (see Listener::set_nonblocking): they do the same.
            listener
                .set_nonblocking(true)
                .with_context(|| format!("making socket {name} non-blocking"))?;
            described.push(format!("{name}={}", listener.describe()));
            listeners.push((proto, listener));
        }
        let listeners = Arc::new(listeners);
        for i in 0..self.cfg.threads {
            let ev = EventLoop {
                app: self,
                listeners: Some(Arc::clone(&listeners)),
                paused_until: None,
                last_error_log: None,
                conns: Vec::new(),
            };
            self.accepting.inc();
            if let Err(e) = std::thread::Builder::new()
                .name(format!("loop-{i}"))
                .stack_size(256 * 1024)
                .spawn(move || ev.run())
            {
                self.accepting.dec(&self.drain);
                return Err(e).context("starting an event-loop thread");
            }
        }
        // The loops hold the only references now: the listeners close when all loops have
        // seen the drain.
        Ok(described)
    }
}

/// Binds the standalone socket: `host:port`, or `unix:/path`.
fn bind(addr: &str) -> anyhow::Result<Listener> {
    if let Some(path) = addr.strip_prefix("unix:") {
        let l = UnixListener::bind(path)
            .with_context(|| format!("binding unix socket {path} (EBB_EXAMPLE_BIND)"))?;
        return Ok(Listener::Unix(l));
    }
    let l = TcpListener::bind(addr)
        .with_context(|| format!("binding {addr} (set EBB_EXAMPLE_BIND or --bind to change it)"))?;
    Ok(Listener::Tcp(l))
}

impl Hello {
    fn new(body: &str) -> Hello {
        let make = |conn: &str| {
            let mut v = Vec::new();
            write_head(&mut v, 200, body.len(), conn);
            v.extend_from_slice(body.as_bytes());
            v
        };
        Hello {
            body: body.to_string(),
            keep_alive: make(""),
            keep_alive_10: make("Connection: keep-alive\r\n"),
            close: make("Connection: close\r\n"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connection counting

/// Open connections, with a wait-for-zero used by the drain.
#[derive(Default)]
struct Counter {
    n: AtomicUsize,
    lock: Mutex<()>,
    cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Counter {
    fn get(&self) -> usize {
        self.n.load(Ordering::SeqCst)
    }
    fn inc(&self) -> usize {
        self.n.fetch_add(1, Ordering::SeqCst) + 1
    }
    /// Decrements; wakes the drain when the last connection closes while draining (the drain
    /// flag is set before anyone waits, so a decrement that sees it unset needs no wake-up).
    fn dec(&self, drain: &Drain) {
        if self.n.fetch_sub(1, Ordering::SeqCst) == 1 && drain.is_draining() {
            let _g = lock(&self.lock);
            self.cv.notify_all();
        }
    }
    fn wait_zero(&self) {
        let mut g = lock(&self.lock);
        while self.get() != 0 {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
    }
}

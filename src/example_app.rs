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
        say!("{tag}: ready, serving {}", described.join(" "));
    }

    app.drain.wait();
    crate::worker::bound_orphan_drain(app.reporter.clone());
    let t0 = Instant::now();
    let done0 = app.jobs_done.load(Ordering::SeqCst);
    say!(
        "{tag}: draining: {} requests in flight, {} connections, {} jobs running, {} requests served",
        app.reporter.inflight(),
        app.conns.get(),
        app.reporter.jobs(),
        app.reporter.requests()
    );
    app.accepting.wait_zero(); // every loop has closed its listeners
    let _ = app.reporter.stopping();
    app.conns.wait_zero();
    app.reporter.wait_idle(None);
    let _ = app.reporter.flush();
    say!(
        "{tag}: drained in {:.2}s: {} jobs finished during the drain, {} requests served; exiting",
        t0.elapsed().as_secs_f64(),
        app.jobs_done.load(Ordering::SeqCst) - done0,
        app.reporter.requests()
    );
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

// ---------------------------------------------------------------------------------------------
// Background jobs

/// One timer thread runs every job: a job is a deadline, its journal lines and its guard.
#[derive(Default)]
struct JobTimer {
    heap: Mutex<BinaryHeap<Job>>,
    cv: Condvar,
}

struct Job {
    due: Instant,
    seq: u64,
    id: String,
    ms: u64,
    _guard: JobGuard,
}

impl PartialEq for Job {
    fn eq(&self, o: &Job) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Job) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    /// Reversed, so the max-heap pops the earliest deadline first.
    fn cmp(&self, o: &Job) -> CmpOrdering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

impl JobTimer {
    fn submit(&self, job: Job) {
        let mut h = lock(&self.heap);
        let earliest = h.peek().is_none_or(|top| job.due < top.due);
        h.push(job);
        if earliest {
            self.cv.notify_one();
        }
    }

    fn run(&self, app: &App) {
        let mut h = lock(&self.heap);
        loop {
            let now = Instant::now();
            match h.peek().map(|j| j.due) {
                Some(due) if due <= now => {
                    let job = h.pop().expect("peeked");
                    drop(h);
                    // Journal first, then drop the guard: "no jobs" implies "all journaled".
                    app.journal("done", &job.id, job.ms);
                    app.jobs_done.fetch_add(1, Ordering::SeqCst);
                    drop(job);
                    h = lock(&self.heap);
                }
                Some(due) => {
                    h = self
                        .cv
                        .wait_timeout(h, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => h = self.cv.wait(h).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

impl App {
    /// Appends `<what> <id> worker=<slot> pid=<pid> ms=<ms>` with one `O_APPEND` write.
    fn journal(&self, what: &str, id: &str, ms: u64) {
        let Some(f) = &self.journal else { return };
        let line = format!(
            "{what} {id} worker={} pid={} ms={ms}\n",
            self.slot, self.pid
        );
        let res = (&*f).write(line.as_bytes());
        let ok = matches!(res, Ok(n) if n == line.len());
        if !ok && !self.journal_failed.swap(true, Ordering::Relaxed) {
            say!(
                "ebb example-app[worker={} pid={}]: writing EBB_JOB_JOURNAL failed: {res:?}",
                self.slot,
                self.pid
            );
        }
    }

    fn start_job(&self, id: Option<&str>, ms: u64) -> String {
        let id = match id {
            Some(i) if !i.is_empty() => journal_safe(i),
            _ => format!("job-{}", self.job_names.fetch_add(1, Ordering::Relaxed) + 1),
        };
        // Count the job before the request that started it is answered.
        let guard = self.reporter.job(&id);
        self.journal("start", &id, ms);
        self.jobs.submit(Job {
            due: Instant::now() + Duration::from_millis(ms),
            seq: self.job_seq.fetch_add(1, Ordering::Relaxed),
            id: id.clone(),
            ms,
            _guard: guard,
        });
        id
    }
}

/// A job id safe for the one-line journal: no whitespace or control characters, ≤ 128 bytes.
fn journal_safe(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(if c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Event loops: accept, and serve every request that needs no waiting

/// What to do with a connection after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Keep,
    Close,
    /// It needs blocking work (a body still to read, `/sleep`, `Expect: 100-continue`): hand it
    /// to a thread of its own.
    HandOff,
}

/// One event-loop thread: it polls the listening sockets, the drain descriptor and its own
/// connections, and answers every request that is complete in its buffer.
struct EventLoop {
    app: &'static App,
    /// Dropped on drain: when every loop has dropped its clone, our listener copies close.
    listeners: Option<Arc<Vec<(Proto, Listener)>>>,
    /// Accepting paused until then, after running out of descriptors or memory.
    paused_until: Option<Instant>,
    last_error_log: Option<Instant>,
    conns: Vec<LoopConn>,
}

/// A connection owned by an event loop (non-blocking socket).
struct LoopConn {
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    sent: usize,
    /// End of the last response (or accept): the keep-alive idle clock.
    last_active: Instant,
    /// Last read or write progress: the stall clock for half-received requests and blocked
    /// writes.
    last_io: Instant,
    /// Close once `out` is written.
    closing: bool,
    /// Half-closed, reading until EOF or this deadline.
    linger_until: Option<Instant>,
}

impl EventLoop {
    fn run(mut self) {
        let app = self.app;
        let mut revents: Vec<PollFlags> = Vec::new();
        loop {
            let draining = app.drain.is_draining();
            if draining && self.listeners.take().is_some() {
                app.accepting.dec(&app.drain);
            }
            let now = Instant::now();
            let accept_on = self.listeners.is_some() && self.paused_until.is_none_or(|t| now >= t);
            let mut next = if accept_on { None } else { self.paused_until };
            for c in &self.conns {
                let d = c.deadline(app, draining);
                next = Some(next.map_or(d, |n: Instant| n.min(d)));
            }
            let timeout = match next {
                None => PollTimeout::NONE,
                Some(t) => poll_timeout(t.saturating_duration_since(now)),
            };
            let nlisten = match (&self.listeners, accept_on) {
                (Some(l), true) => l.len(),
                _ => 0,
            };
            let watch_drain = usize::from(!draining);
            {
                let mut fds = Vec::with_capacity(watch_drain + nlisten + self.conns.len());
                if !draining {
                    fds.push(PollFd::new(app.drain.fd(), PollFlags::POLLIN));
                }
                if let (Some(ls), true) = (&self.listeners, accept_on) {
                    for (_, l) in ls.iter() {
                        fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                    }
                }
                for c in &self.conns {
                    fds.push(PollFd::new(c.stream.as_fd(), c.interest()));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        // Only EINVAL/ENOMEM are possible; back off rather than spin.
                        say!("ebb example-app: poll failed: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
                revents.clear();
                revents.extend(
                    fds.iter()
                        .map(|f| f.revents().unwrap_or(PollFlags::empty())),
                );
            }
            let now = Instant::now();
            let draining = app.drain.is_draining();
            // Connections first (indices stay valid: new ones are pushed after them).
            let first_conn = watch_drain + nlisten;
            for i in (0..revents.len() - first_conn).rev() {
                let ev = revents[first_conn + i];
                let c = &mut self.conns[i];
                let mut next = if ev.is_empty() {
                    Next::Keep
                } else {
                    c.on_event(app, ev, now)
                };
                if next == Next::Keep && now >= c.deadline(app, draining) {
                    next = c.expire(app, now);
                }
                match next {
                    Next::Keep => {}
                    Next::Close => {
                        drop(self.conns.swap_remove(i));
                        app.conns.dec(&app.drain);
                    }
                    Next::HandOff => {
                        let c = self.conns.swap_remove(i);
                        c.hand_off(app);
                    }
                }
            }
            if let Some(ls) = self.listeners.take() {
                for (k, (proto, l)) in ls.iter().enumerate().take(nlisten) {
                    if !draining && !revents[watch_drain + k].is_empty() {
                        self.accept_from(*proto, l);
                    }
                }
                self.listeners = Some(ls);
            }
        }
    }

    /// Accepts what is queued (a bounded batch, for fairness with the connections).
    fn accept_from(&mut self, proto: Proto, l: &Listener) {
        let app = self.app;
        for _ in 0..64 {
            match l.accept() {
                Ok(s) => {
                    if app.conns.inc() > app.cfg.max_conns {
                        refuse_busy(s);
                        app.conns.dec(&app.drain);
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    match proto {
                        Proto::Uwsgi => spawn_conn(app, Conn::new(app, s), Conn::serve_uwsgi),
                        Proto::Http => {
                            if s.set_nonblocking(true).is_err() {
                                app.conns.dec(&app.drain);
                                continue;
                            }
                            self.conns.push(LoopConn::new(s));
                        }
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return, // a sibling got it
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    _ if e.raw_os_error() == Some(libc::EPROTO) => {}
                    _ => {
                        // Out of descriptors or memory (or worse): pause accepting briefly
                        // instead of spinning on a listener that stays readable.
                        if self
                            .last_error_log
                            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
                        {
                            say!(
                                "ebb example-app: accept on {}: {e}; pausing accepts",
                                l.describe()
                            );
                            self.last_error_log = Some(Instant::now());
                        }
                        self.paused_until = Some(Instant::now() + Duration::from_millis(50));
                        return;
                    }
                },
            }
        }
    }
}

/// Answers 503 and closes: over `EBB_EXAMPLE_MAX_CONNS`.
fn refuse_busy(mut s: Stream) {
    let _ = s.set_nonblocking(true);
    let _ = s.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver busy\n",
    );
    let _ = s.shutdown(Shutdown::Write);
}

fn poll_timeout(d: Duration) -> PollTimeout {
    // Round up, so we never wake before the deadline and spin.
    let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

impl LoopConn {
    fn new(stream: Stream) -> LoopConn {
        let now = Instant::now();
        LoopConn {
            stream,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            out: Vec::new(),
            sent: 0,
            last_active: now,
            last_io: now,
            closing: false,
            linger_until: None,
        }
    }

    fn out_pending(&self) -> bool {
        self.sent < self.out.len()
    }

    fn interest(&self) -> PollFlags {
        if self.out_pending() {
            PollFlags::POLLOUT
        } else {
            PollFlags::POLLIN
        }
    }

    /// When this connection times out: lingering ends, a stalled request or write is dropped,
    /// an idle keep-alive connection is closed (after the short grace once draining).
    fn deadline(&self, app: &App, draining: bool) -> Instant {
        if let Some(t) = self.linger_until {
            return t;
        }
        if self.out_pending() || self.start < self.end {
            return self.last_io + app.cfg.read_timeout;
        }
        let idle = if draining {
            app.cfg.idle_grace.min(app.cfg.keepalive)
        } else {
            app.cfg.keepalive
        };
        self.last_active + idle
    }

    fn expire(&mut self, app: &App, now: Instant) -> Next {
        let idle = self.linger_until.is_none() && !self.out_pending() && self.start == self.end;
        if idle {
            self.begin_linger(app, now);
            Next::Keep
        } else {
            Next::Close
        }
    }

    fn begin_linger(&mut self, app: &App, now: Instant) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.linger_until = Some(now + linger_time(app));
    }

    fn on_event(&mut self, app: &App, ev: PollFlags, now: Instant) -> Next {
        if self.linger_until.is_some() {
            return self.linger_read();
        }
        if self.out_pending() {
            if ev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)
                && !ev.contains(PollFlags::POLLOUT)
            {
                return Next::Close;
            }
            return self.process(app, now);
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize((self.buf.len() * 2).min(MAX_HEAD), 0);
            } else {
                return Next::Close; // cannot happen: a full buffer is a 431 already
            }
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                self.end += n;
                self.last_io = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Next::Keep,
            Err(_) => return Next::Close,
        }
        self.process(app, now)
    }

    /// Answers the complete requests in the buffer, then writes what it can.
    fn process(&mut self, app: &App, now: Instant) -> Next {
        if !self.out_pending() {
            self.out.clear();
            self.sent = 0;
            while !self.closing && self.start < self.end {
                match step(app, &self.buf[self.start..self.end], &mut self.out) {
                    Step::Partial => break,
                    Step::Answered { used, keep } => {
                        self.start += used;
                        self.last_active = now;
                        self.closing = !keep;
                    }
                    Step::Error(status, msg) => {
                        error_response(&mut self.out, status, msg);
                        self.closing = true;
                    }
                    Step::Slow => return Next::HandOff,
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
        }
        while self.out_pending() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    self.sent += n;
                    self.last_io = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        if self.closing {
            self.begin_linger(app, now);
            return self.linger_read();
        }
        Next::Keep
    }

    /// Reads and discards until EOF (close) or until nothing is available (keep lingering).
    fn linger_read(&mut self) -> Next {
        let mut scratch = [0u8; 4096];
        loop {
            match self.stream.read(&mut scratch) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Moves the connection to a thread with blocking I/O, with its buffered bytes and any
    /// responses not yet written.
    fn hand_off(self, app: &'static App) {
        if self.stream.set_nonblocking(false).is_err() {
            app.conns.dec(&app.drain);
            return;
        }
        let mut c = Conn::new(app, self.stream);
        c.buf = self.buf;
        c.start = self.start;
        c.end = self.end;
        c.out = self.out;
        c.out.drain(..self.sent);
        c.last_active = self.last_active;
        spawn_conn(app, c, Conn::serve_http);
    }
}

/// How long a closing connection waits for the client's FIN.
fn linger_time(app: &App) -> Duration {
    app.cfg.idle_grace.max(Duration::from_millis(100))
}

/// Runs `serve` on a thread of its own; the connection counts until it returns.
fn spawn_conn(app: &'static App, conn: Conn, serve: fn(Conn)) {
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            serve(conn);
            app.conns.dec(&app.drain);
        });
    if let Err(e) = spawned {
        say!("ebb example-app: cannot start a connection thread: {e}");
        app.conns.dec(&app.drain);
    }
}

// ---------------------------------------------------------------------------------------------
// One request, without blocking

/// The outcome of [`step`].
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The head is not complete yet.
    Partial,
    /// Answered (response appended); `used` bytes consumed; keep the connection open?
    Answered { used: usize, keep: bool },
    /// Unusable request: answer this, then close.
    Error(u16, &'static str),
    /// Needs blocking work: let [`Conn::slow_request`] handle it (nothing was consumed, and
    /// no route ran).
    Slow,
}

/// Handles the request at the front of `data` if that needs no waiting: the head and any
/// `Content-Length` body are buffered, and the route answers at once.
fn step(app: &App, data: &[u8], out: &mut Vec<u8>) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if data.len() >= MAX_HEAD => {
            return Step::Error(431, "request header fields too large");
        }
        Ok(httparse::Status::Partial) => return Step::Partial,
        Err(httparse::Error::TooManyHeaders) => return Step::Error(431, "too many header fields"),
        Err(_) => return Step::Error(400, "malformed request"),
    };
    let info = match RequestInfo::from(&req) {
        Ok(i) => i,
        Err(msg) => return Step::Error(400, msg),
    };
    let body = match info.body {
        Body::None => 0,
        Body::Length(n) if (data.len() - head_len) as u64 >= n => n as usize,
        _ => return Step::Slow,
    };
    let (path, query) = split_target(req.path.unwrap_or("/"));
    if path == "/sleep" {
        return Step::Slow;
    }
    let method = req.method.unwrap_or("GET");
    let guard = app.reporter.request();
    let reply = route(
        app,
        &Req {
            method,
            path,
            query,
        },
    );
    let keep = respond(app, out, &info, method == "HEAD", reply);
    drop(guard);
    Step::Answered {
        used: head_len + body,
        keep,
    }
}

/// Appends the response for `reply`; returns whether the connection stays open.
fn respond(app: &App, out: &mut Vec<u8>, info: &RequestInfo, head: bool, reply: Reply) -> bool {
    let keep = info.keep_alive && !info.must_close && !app.drain.is_draining();
    let conn_hdr = match (keep, info.http10) {
        (false, _) => "Connection: close\r\n",
        (true, true) => "Connection: keep-alive\r\n",
        (true, false) => "",
    };
    match reply {
        Reply::Hello if !head => out.extend_from_slice(match (keep, info.http10) {
            (false, _) => &app.hello.close,
            (true, true) => &app.hello.keep_alive_10,
            (true, false) => &app.hello.keep_alive,
        }),
        Reply::Hello => write_text(out, 200, &app.hello.body, true, conn_hdr),
        Reply::Text(status, body) => write_text(out, status, &body, head, conn_hdr),
        Reply::Sleep(ms) => {
            // Only the blocking path gets here, after it slept.
            let body = format!("slept {ms} ms {}", app.hello.body);
            write_text(out, 200, &body, head, conn_hdr);
        }
        Reply::Crash => crash(app),
    }
    keep
}

fn crash(app: &App) -> ! {
    say!(
        "ebb example-app[worker={} pid={}]: /crash: aborting on purpose",
        app.slot,
        app.pid
    );
    std::process::abort();
}

fn error_response(out: &mut Vec<u8>, status: u16, msg: &str) {
    let body = format!("{msg}\n");
    write_text(out, status, &body, false, "Connection: close\r\n");
}

// ---------------------------------------------------------------------------------------------
// Connections with a thread of their own (blocking I/O)

/// Why a blocking connection ends.
enum End {
    /// Close now (peer gone, timeout, I/O error).
    Now,
    /// Send this last response (if any), then close gracefully.
    After(Option<(u16, &'static str)>),
}

/// A connection served by its own thread with blocking I/O: uwsgi connections, and HTTP
/// connections handed off by an event loop for a request that has to wait.
struct Conn {
    app: &'static App,
    stream: Stream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    last_active: Instant,
}

/// A parsed request, reduced to what the routes need.
struct Req<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
}

/// A route's answer.
enum Reply {
    Hello,
    Text(u16, String),
    Sleep(u64),
    Crash,
}

impl Conn {
    fn new(app: &'static App, stream: Stream) -> Conn {
        Conn {
            app,
            stream,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            out: Vec::with_capacity(1024),
            last_active: Instant::now(),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let r = self.stream.write_all(&self.out);
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Reads more bytes into the buffer (compacting/growing it). With a `timeout`, waits for
    /// data at most that long first; without, the caller knows the socket is readable.
    /// `Ok(false)` on EOF or timeout.
    fn fill(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = (self.buf.len() * 2).min(MAX_HEAD.max(self.buf.len()));
            if n == self.buf.len() {
                return Err(io::Error::other("request head too large"));
            }
            self.buf.resize(n, 0);
        }
        if let Some(t) = timeout
            && !wait_plain(self.stream.as_fd(), t)?
        {
            return Ok(false);
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads more within the read timeout; `false` on EOF, timeout or error.
    fn more(&mut self) -> bool {
        matches!(self.fill(Some(self.app.cfg.read_timeout)), Ok(true))
    }

    /// Waits for the next request on a keep-alive connection: until data arrives, the
    /// keep-alive timeout, or — once draining — the idle grace. `false`: close.
    fn await_next(&mut self) -> bool {
        let app = self.app;
        loop {
            let idle = self.last_active.elapsed();
            let limit = if app.drain.is_draining() {
                app.cfg.idle_grace.min(app.cfg.keepalive)
            } else {
                app.cfg.keepalive
            };
            let Some(left) = limit.checked_sub(idle).filter(|d| !d.is_zero()) else {
                return false;
            };
            match app.drain.wait_readable(self.stream.as_fd(), Some(left)) {
                Ok(w) if w.readable => return true,
                Ok(_) => {} // drain started or time passed: recompute the limit
                Err(_) => return false,
            }
        }
    }

    fn serve_http(mut self) {
        let end = self.http_loop();
        self.finish(end);
    }

    fn finish(mut self, end: End) {
        match end {
            End::Now => {
                let _ = self.flush();
            }
            End::After(last) => {
                if let Some((status, msg)) = last {
                    error_response(&mut self.out, status, msg);
                }
                if self.flush().is_ok() {
                    self.linger();
                }
            }
        }
    }

    /// Half-closes and reads until the peer closes (bounded), so unread request bytes cannot turn
    /// our close into a reset that destroys the last response before the client reads it.
    fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + linger_time(self.app);
        let mut scratch = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !matches!(wait_plain(self.stream.as_fd(), left), Ok(true)) {
                return;
            }
            match self.stream.read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn http_loop(&mut self) -> End {
        let app = self.app;
        loop {
            if self.start == self.end {
                // Between requests: send what is pending, then wait for the next one.
                if self.flush().is_err() {
                    return End::Now;
                }
                if !self.await_next() {
                    return End::After(None);
                }
                if !matches!(self.fill(None), Ok(true)) {
                    return End::Now;
                }
                continue;
            }
            match step(app, &self.buf[self.start..self.end], &mut self.out) {
                Step::Partial => {
                    // A request has begun: it is in flight, so the drain does not cut it.
                    if self.flush().is_err() {
                        return End::Now;
                    }
                    match self.fill(Some(app.cfg.read_timeout)) {
                        Ok(true) => {}
                        Ok(false) => return End::Now,
                        Err(e) if e.kind() == io::ErrorKind::Other => {
                            return End::After(Some((431, "request header fields too large")));
                        }
                        Err(_) => return End::Now,
                    }
                }
                Step::Answered { used, keep } => {
                    self.start += used;
                    self.last_active = Instant::now();
                    if !keep {
                        return End::After(None);
                    }
                }
                Step::Error(status, msg) => return End::After(Some((status, msg))),
                Step::Slow => match self.slow_request() {
                    Ok(true) => self.last_active = Instant::now(),
                    Ok(false) => return End::After(None),
                    Err(end) => return end,
                },
            }
        }
    }

    /// A request [`step`] could not finish without waiting: its head is complete in the buffer.
    /// Returns whether to keep the connection.
    fn slow_request(&mut self) -> Result<bool, End> {
        let app = self.app;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = req.parse(&self.buf[self.start..self.end])
        else {
            return Err(End::After(Some((400, "malformed request"))));
        };
        let guard = app.reporter.request();
        let info = RequestInfo::from(&req).map_err(|m| End::After(Some((400, m))))?;
        let method = req.method.unwrap_or("GET").to_string();
        let (path, query) = split_target(req.path.unwrap_or("/"));
        let reply = route(
            app,
            &Req {
                method: &method,
                path,
                query,
            },
        );
        self.start += head_len;
        if info.expect_continue && !info.body_in(self.end - self.start) {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush().map_err(|_| End::Now)?;
        }
        let body_ok = match info.body {
            Body::None => true,
            Body::Length(n) => self.discard(n),
            Body::Chunked => self.discard_chunked(),
        };
        if !body_ok {
            return Err(End::Now);
        }
        if let Reply::Sleep(ms) = reply {
            self.flush().map_err(|_| End::Now)?;
            std::thread::sleep(Duration::from_millis(ms));
        }
        let keep = respond(app, &mut self.out, &info, method == "HEAD", reply);
        drop(guard);
        Ok(keep)
    }

    /// Reads and throws away `n` body bytes.
    fn discard(&mut self, mut n: u64) -> bool {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return true;
            }
            if !self.more() {
                return false;
            }
        }
    }

    /// Reads and throws away a chunked body, trailers included.
    fn discard_chunked(&mut self) -> bool {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.start += used;
                    if size == 0 {
                        break;
                    }
                    if !self.discard(size) || !self.expect_crlf() {
                        return false;
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > 1024 || !self.more() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        // Trailer section: header lines up to an empty line.
        let mut total = 0;
        loop {
            let pending = &self.buf[self.start..self.end];
            match pending.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.start += 2;
                    return true;
                }
                Some(i) => {
                    self.start += i + 2;
                    total += i + 2;
                    if total > MAX_HEAD {
                        return false;
                    }
                }
                None => {
                    if self.end - self.start > MAX_HEAD || !self.more() {
                        return false;
                    }
                }
            }
        }
    }

    fn expect_crlf(&mut self) -> bool {
        while self.end - self.start < 2 {
            if !self.more() {
                return false;
            }
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return false;
        }
        self.start += 2;
        true
    }

    // -----------------------------------------------------------------------------------------
    // uwsgi

    /// One uwsgi request: a 4-byte header, the vars block, the body; a plain HTTP response;
    /// then close.
    fn serve_uwsgi(mut self) {
        let end = self.uwsgi_request();
        self.finish(end);
    }

    fn uwsgi_request(&mut self) -> End {
        let app = self.app;
        while self.end < 4 {
            if !self.more() {
                return End::Now;
            }
        }
        let (modifier1, size) = (self.buf[0], u16::from_le_bytes([self.buf[1], self.buf[2]]));
        if modifier1 != 0 {
            return End::After(Some((400, "unsupported uwsgi modifier")));
        }
        let need = 4 + size as usize;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end < need {
            if !self.more() {
                return End::Now;
            }
        }
        let Some(vars) = parse_uwsgi_vars(&self.buf[4..need]) else {
            return End::After(Some((400, "malformed uwsgi packet")));
        };
        let var = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let method = var("REQUEST_METHOD").unwrap_or("GET").to_string();
        let path = match var("PATH_INFO") {
            Some(p) => p.to_string(),
            None => split_target(var("REQUEST_URI").unwrap_or("/"))
                .0
                .to_string(),
        };
        let query = var("QUERY_STRING").unwrap_or("").to_string();
        let length = match var("CONTENT_LENGTH")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => 0,
            Some(v) => match v.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return End::After(Some((400, "bad CONTENT_LENGTH"))),
            },
        };
        self.start = need;
        let guard = app.reporter.request();
        let reply = route(
            app,
            &Req {
                method: &method,
                path: &path,
                query: &query,
            },
        );
        if !self.discard(length) {
            return End::Now;
        }
        if let Reply::Sleep(ms) = reply {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let info = RequestInfo {
            http10: false,
            keep_alive: false,
            must_close: true,
            body: Body::None,
            expect_continue: false,
        };
        respond(app, &mut self.out, &info, method == "HEAD", reply);
        drop(guard);
        End::After(None)
    }
}

/// Waits for `fd` to be readable (or hung up) for at most `timeout`, ignoring the drain.
fn wait_plain(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Round up, so we never wake before the deadline and spin.
        let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a uwsgi vars block: repeated (u16 LE key length, key, u16 LE value length, value).
fn parse_uwsgi_vars(mut b: &[u8]) -> Option<Vec<(&str, &str)>> {
    fn take<'a>(b: &mut &'a [u8]) -> Option<&'a str> {
        let (len, rest) = b.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len) as usize;
        let s = rest.get(..len)?;
        *b = &rest[len..];
        std::str::from_utf8(s).ok()
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        out.push((k, v));
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// HTTP details

#[derive(Debug, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
}

/// What the headers say about framing and connection reuse.
#[derive(Debug, PartialEq, Eq)]
struct RequestInfo {
    http10: bool,
    keep_alive: bool,
    /// Close after answering, whatever the client wants (e.g. both Transfer-Encoding and
    /// Content-Length were sent).
    must_close: bool,
    body: Body,
    expect_continue: bool,
}

impl RequestInfo {
    fn from(req: &httparse::Request<'_, '_>) -> Result<RequestInfo, &'static str> {
        let http10 = req.version == Some(0);
        let mut close = false;
        let mut ka = false;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut te = false;
        let mut expect_continue = false;
        for h in req.headers.iter() {
            let name = h.name;
            let value = std::str::from_utf8(h.value).map_err(|_| "header value is not UTF-8");
            if name.eq_ignore_ascii_case("content-length") {
                let v = value?.trim();
                if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err("bad Content-Length");
                }
                let n: u64 = v.parse().map_err(|_| "bad Content-Length")?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length headers");
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                // Only the final coding matters for framing; it must be chunked.
                chunked = value?
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for tok in value?.split(',') {
                    let tok = tok.trim();
                    close |= tok.eq_ignore_ascii_case("close");
                    ka |= tok.eq_ignore_ascii_case("keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value?.trim().eq_ignore_ascii_case("100-continue");
            }
        }
        if te && (http10 || !chunked) {
            return Err("unsupported Transfer-Encoding");
        }
        let body = match (chunked, length) {
            (true, _) => Body::Chunked,
            (false, Some(0)) | (false, None) => Body::None,
            (false, Some(n)) => Body::Length(n),
        };
        Ok(RequestInfo {
            http10,
            keep_alive: if http10 { ka && !close } else { !close },
            must_close: te && length.is_some(),
            body,
            expect_continue: expect_continue && !http10,
        })
    }

    /// Whether the whole body is already buffered (`buffered` bytes after the head).
    fn body_in(&self, buffered: usize) -> bool {
        match self.body {
            Body::None => true,
            Body::Length(n) => buffered as u64 >= n,
            Body::Chunked => false,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

fn write_head(out: &mut Vec<u8>, status: u16, len: usize, conn_hdr: &str) {
    let _ = write!(
        VecWriter(out),
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n{conn_hdr}\r\n",
        reason(status)
    );
}

fn write_text(out: &mut Vec<u8>, status: u16, body: &str, head_only: bool, conn_hdr: &str) {
    write_head(out, status, body.len(), conn_hdr);
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

/// `fmt::Write` into a byte vector, for `write!` without a temporary `String`.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Splits a request target into path and query; absolute-form targets lose scheme and host.
fn split_target(target: &str) -> (&str, &str) {
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    }
}

/// The value of `key` in a query string, percent-decoded (`+` is a space).
fn query_param<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Parses `ms=` (absent: 0) for `/job` and `/sleep`.
fn parse_ms(query: &str) -> Result<u64, String> {
    match query_param(query, "ms") {
        None => Ok(0),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= MAX_MS => Ok(n),
            Ok(_) => Err(format!("ms must be at most {MAX_MS}\n")),
            Err(_) => Err(format!("ms={v:?} is not a number of milliseconds\n")),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Routes

fn route(app: &App, req: &Req<'_>) -> Reply {
    let _ = req.method; // every method is served the same way
    match req.path {
        "/" => Reply::Hello,
        "/job" => match parse_ms(req.query) {
            Err(e) => Reply::Text(400, e),
            Ok(ms) => {
                let id = query_param(req.query, "id");
                let id = app.start_job(id.as_deref(), ms);
                Reply::Text(
                    200,
                    format!(
                        "job {id} accepted ms={ms} worker={} pid={} respawn={}\n",
                        app.slot, app.pid, app.respawn
                    ),
                )
            }
        },
        "/sleep" => match parse_ms(req.query) {
            Err(e) => Reply::Text(400, e),
            Ok(ms) => Reply::Sleep(ms),
        },
        "/crash" => Reply::Crash,
        "/fds" => Reply::Text(200, list_fds(&app.inherited_fds)),
        "/env" => Reply::Text(200, list_env()),
        "/stats" => Reply::Text(
            200,
            format!(
                "requests={} inflight={} jobs={} connections={} draining={} worker={} pid={} respawn={}\n",
                app.reporter.requests(),
                app.reporter.inflight(),
                app.reporter.jobs(),
                app.conns.get(),
                u8::from(app.drain.is_draining()),
                app.slot,
                app.pid,
                app.respawn
            ),
        ),
        _ => Reply::Text(404, format!("not found: {}\n", req.path)),
    }
}

/// Open descriptors as `(fd, readlink target)`, sorted, without the listing's own descriptor.
fn open_fds() -> io::Result<Vec<(i32, String)>> {
    let own_dir = format!("/proc/{}/fd", std::process::id());
    let mut fds: Vec<(i32, String)> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "?".to_string());
            (target != own_dir).then_some((n, target))
        })
        .collect();
    fds.sort();
    Ok(fds)
}

/// `fd -> target` per open descriptor, with ` (inherited)` on those already open when the
/// app started (before it opened anything): a leak test expects only 0, 1, 2 and the
/// `LISTEN_FDS` sockets there.
fn list_fds(inherited: &[i32]) -> String {
    let fds = match open_fds() {
        Ok(f) => f,
        Err(e) => return format!("cannot list /proc/self/fd: {e}\n"),
    };
    let mut s = String::new();
    for (n, t) in fds {
        let mark = if inherited.contains(&n) {
            " (inherited)"
        } else {
            ""
        };
        let _ = writeln!(s, "{n} -> {t}{mark}");
    }
    s
}

/// The protocol variables, `KEY=VALUE` per line, sorted.
fn list_env() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("EBB_")
                || k.starts_with("LISTEN_")
                || k.starts_with("WATCHDOG_")
                || k == "NOTIFY_SOCKET"
        })
        .collect();
    vars.sort();
    let mut s = String::new();
    for (k, v) in vars {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn config_defaults_and_overrides() {
        let c = Config::parse(&[], &env_of(&[])).unwrap();
        assert_eq!(c.bind, "127.0.0.1:8000");
        assert_eq!(c.idle_grace, Duration::from_secs(1));
        assert!(!c.crash_at_start && !c.no_ready && c.journal.is_none());
        let c = Config::parse(
            &["--bind".into(), "0.0.0.0:9".into()],
            &env_of(&[
                ("EBB_EXAMPLE_BIND", "x:1"),
                ("EBB_EXAMPLE_IDLE_GRACE_MS", "250"),
                ("EBB_EXAMPLE_CRASH_AT_START", "1"),
                ("EBB_EXAMPLE_NO_READY", "0"),
                ("EBB_EXAMPLE_START_DELAY_MS", "5"),
                ("EBB_JOB_JOURNAL", "/tmp/j"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bind, "0.0.0.0:9");
        assert_eq!(c.idle_grace, Duration::from_millis(250));
        assert_eq!(c.start_delay, Duration::from_millis(5));
        assert!(c.crash_at_start && !c.no_ready);
        assert_eq!(c.journal.as_deref(), Some("/tmp/j"));
        assert!(Config::parse(&["--nope".into()], &env_of(&[])).is_err());
        assert!(Config::parse(&[], &env_of(&[("EBB_EXAMPLE_IDLE_GRACE_MS", "soon")])).is_err());
    }

    #[test]
    fn query_strings() {
        assert_eq!(query_param("ms=5&id=x", "ms").as_deref(), Some("5"));
        assert_eq!(query_param("ms=5&id=x", "id").as_deref(), Some("x"));
        assert_eq!(query_param("ms=5&id=x", "nope"), None);
        assert_eq!(
            query_param("id=a%20b+c%2C", "id").as_deref(),
            Some("a b c,")
        );
        assert_eq!(query_param("id=100%", "id").as_deref(), Some("100%"));
        assert_eq!(query_param("id=%zz", "id").as_deref(), Some("%zz"));
        assert_eq!(query_param("flag&id=", "flag").as_deref(), Some(""));
        assert_eq!(query_param("", "ms"), None);
        assert_eq!(parse_ms("ms=250"), Ok(250));
        assert_eq!(parse_ms("id=x"), Ok(0));
        assert!(parse_ms("ms=abc").is_err());
        assert!(parse_ms("ms=-1").is_err());
        assert!(parse_ms("ms=99999999999").is_err());
    }

    #[test]
    fn targets() {
        assert_eq!(split_target("/job?ms=1"), ("/job", "ms=1"));
        assert_eq!(split_target("/"), ("/", ""));
        assert_eq!(split_target("http://h:1/x?y"), ("/x", "y"));
        assert_eq!(split_target("http://h"), ("/", ""));
    }

    #[test]
    fn journal_ids() {
        assert_eq!(journal_safe("a b\nc"), "a_b_c");
        assert_eq!(journal_safe(&"x".repeat(500)).len(), 128);
    }

    fn info(raw: &str) -> Result<RequestInfo, &'static str> {
        let mut h = [httparse::EMPTY_HEADER; 16];
        let mut r = httparse::Request::new(&mut h);
        assert!(r.parse(raw.as_bytes()).unwrap().is_complete());
        RequestInfo::from(&r)
    }

    #[test]
    fn framing_and_keep_alive() {
        let i = info("GET / HTTP/1.1\r\n\r\n").unwrap();
        assert!(i.keep_alive && !i.http10 && i.body == Body::None);
        let i = info("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
        assert!(!i.keep_alive);
        let i = info("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!i.keep_alive && i.http10);
        let i = info("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
        assert!(i.keep_alive);
        let i = info("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(i.body, Body::Length(12));
        assert!(!i.body_in(11) && i.body_in(12));
        let i = info("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
        assert_eq!(i.body, Body::Chunked);
        let i = info("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
        assert!(i.must_close);
        assert!(info("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").is_err());
        assert!(info("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").is_err());
        assert!(info("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
        assert!(info("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n").is_ok());
        let i =
            info("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
        assert!(i.expect_continue);
    }

    #[test]
    fn uwsgi_vars() {
        let mut b = Vec::new();
        for s in [
            "REQUEST_METHOD",
            "GET",
            "PATH_INFO",
            "/job",
            "QUERY_STRING",
            "",
        ] {
            b.extend_from_slice(&(s.len() as u16).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let v = parse_uwsgi_vars(&b).unwrap();
        assert_eq!(
            v,
            vec![
                ("REQUEST_METHOD", "GET"),
                ("PATH_INFO", "/job"),
                ("QUERY_STRING", "")
            ]
        );
        assert!(parse_uwsgi_vars(&b[..b.len() - 1]).is_none());
        assert!(parse_uwsgi_vars(&[5, 0, b'a']).is_none());
    }

    #[test]
    fn hello_responses() {
        let h = Hello::new("hello from worker=1 pid=2 respawn=3\n");
        let s = String::from_utf8(h.keep_alive.clone()).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 36\r\n\r\nhello from worker=1"));
        assert!(!s.contains("Connection"));
        assert!(String::from_utf8_lossy(&h.close).contains("Connection: close\r\n"));
        assert!(String::from_utf8_lossy(&h.keep_alive_10).contains("Connection: keep-alive\r\n"));
    }

    #[test]
    fn job_order() {
        let r = Reporter::new(Notifier::disabled()).unwrap();
        let now = Instant::now();
        let mut h = BinaryHeap::new();
        for (ms, seq) in [(30, 0), (10, 1), (20, 2), (10, 3)] {
            h.push(Job {
                due: now + Duration::from_millis(ms),
                seq,
                id: format!("{ms}-{seq}"),
                ms,
                _guard: r.job("x"),
            });
        }
        let order: Vec<String> = std::iter::from_fn(|| h.pop().map(|j| j.id)).collect();
        assert_eq!(order, vec!["10-1", "10-3", "20-2", "30-0"]);
        assert_eq!(r.jobs(), 0);
    }

    fn test_app(env: &[(&str, &str)]) -> &'static App {
        let cfg = Config::parse(&[], &env_of(env)).unwrap();
        App::start(
            cfg,
            "3".into(),
            "9".into(),
            Drain::manual().unwrap(),
            Reporter::new(Notifier::disabled()).unwrap(),
            None,
            Vec::new(),
        )
        .unwrap()
    }

    #[test]
    fn steps() {
        let app = test_app(&[]);
        let mut out = Vec::new();
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            step(app, get, &mut out),
            Step::Answered {
                used: get.len(),
                keep: true
            }
        );
        assert_eq!(out, app.hello.keep_alive);
        assert!(String::from_utf8_lossy(&out).contains("worker=3 pid="));
        assert!(String::from_utf8_lossy(&out).contains(" respawn=9"));
        assert_eq!(step(app, b"GET / HTTP/1.1\r\nHo", &mut out), Step::Partial);
        assert_eq!(
            step(app, b"GET /sleep?ms=5 HTTP/1.1\r\n\r\n", &mut out),
            Step::Slow
        );
        let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab";
        assert_eq!(step(app, post, &mut out), Step::Slow);
        let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
        assert_eq!(
            step(app, post, &mut out),
            Step::Answered {
                used: post.len() - 3,
                keep: true
            }
        );
        assert_eq!(
            step(
                app,
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                &mut out
            ),
            Step::Slow
        );
        assert_eq!(
            step(app, b"\x01GET / HTTP/1.1\r\n\r\n", &mut out),
            Step::Error(400, "malformed request")
        );
        let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(matches!(step(app, &big, &mut out), Step::Error(431, _)));
        out.clear();
        let head = b"HEAD /nope HTTP/1.0\r\n\r\n";
        assert_eq!(
            step(app, head, &mut out),
            Step::Answered {
                used: head.len(),
                keep: false
            }
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(text.contains("Connection: close\r\n") && text.ends_with("\r\n\r\n"));
        assert_eq!(app.reporter.inflight(), 0);
        assert_eq!(app.reporter.requests(), 3);
    }

    #[test]
    fn step_while_draining_closes() {
        let app = test_app(&[]);
        app.drain.start();
        let mut out = Vec::new();
        let get = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            step(app, get, &mut out),
            Step::Answered {
                used: get.len(),
                keep: false
            }
        );
        assert_eq!(out, app.hello.close);
    }

    fn read_response(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> String {
        loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= i + 4 + len {
                    let all = String::from_utf8_lossy(&buf[..i + 4 + len]).into_owned();
                    buf.drain(..i + 4 + len);
                    return all;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[test]
    fn event_loop_serves_and_drains() {
        let app = test_app(&[
            ("EBB_EXAMPLE_THREADS", "1"),
            ("EBB_EXAMPLE_IDLE_GRACE_MS", "200"),
        ]);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let names = app.serve(vec![("http".into(), Listener::Tcp(l))]).unwrap();
        assert_eq!(names, vec![format!("http={addr}")]);
        let mut busy = std::net::TcpStream::connect(addr).unwrap();
        busy.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = Vec::new();
        // Pipelined: a fast request, a slow one (handed off to a thread), a job.
        busy.write_all(
            b"GET / HTTP/1.1\r\n\r\nGET /sleep?ms=50 HTTP/1.1\r\n\r\nGET /job?ms=300&id=t1 HTTP/1.1\r\n\r\n",
        )
        .unwrap();
        assert!(read_response(&mut busy, &mut buf).contains("hello from worker=3"));
        assert!(read_response(&mut busy, &mut buf).contains("slept 50 ms"));
        assert!(read_response(&mut busy, &mut buf).contains("job t1 accepted ms=300"));
        assert_eq!(app.reporter.jobs(), 1);
        assert_eq!(app.reporter.job_names(), vec!["t1"]);
        let mut idle = std::net::TcpStream::connect(addr).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(app.conns.get(), 2);

        let t0 = Instant::now();
        app.drain.start();
        app.accepting.wait_zero();
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "listener still open"
        );
        busy.write_all(b"GET /stats HTTP/1.1\r\n\r\n").unwrap();
        let r = read_response(&mut busy, &mut buf);
        assert!(
            r.contains("Connection: close\r\n") && r.contains("draining=1"),
            "{r}"
        );
        assert_eq!(busy.read(&mut [0u8; 16]).unwrap(), 0);
        assert_eq!(idle.read(&mut [0u8; 16]).unwrap(), 0);
        let idle_closed = t0.elapsed();
        assert!(idle_closed >= Duration::from_millis(100), "{idle_closed:?}");
        app.conns.wait_zero();
        assert!(app.reporter.wait_idle(Some(Duration::from_secs(5))));
        assert_eq!(app.jobs_done.load(Ordering::SeqCst), 1);
    }
}

//! The supervisor's decisions, as a pure state machine.
//!
//! [`Policy::handle`] takes an [`Event`] and the current time and returns the [`Action`]s the
//! master loop must carry out. Nothing in here reads the clock, touches a process or writes a
//! log: the master does all of that, so every decision can be tested with tables of events.
//!
//! A worker lives `Starting → Ready → Draining → Exited` (or `Killing` when a deadline runs
//! out). Each worker belongs to a *slot* (1..=processes). Recycling slot k means: start a
//! replacement in slot k, wait for its READY, then drain the old worker. As Kubernetes counts
//! `maxSurge`, workers that are draining (they have stopped accepting) do not count against
//! the surge: at most `processes + max_surge` workers are starting or serving, and at most
//! `max_draining` are draining, so a long job in one old worker never holds back the
//! replacement of the others.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::notify::Update;

/// The master's own identifier for a worker (pids are reused; these are not).
pub type WorkerId = u64;

/// Backoff after a worker fails to start: first delay, and the cap.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How often a draining worker's progress is logged.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// After a fast stop (SIGQUIT to workers), how long before their groups are killed.
pub const FAST_STOP_GRACE: Duration = Duration::from_secs(3);
/// How often process trees are measured when `reload_on_rss` is set.
pub const RSS_EVERY: Duration = Duration::from_secs(5);
/// A worker that has not reported `X_EBB_REQUESTS` this long after READY cannot be
/// recycled by count; ebb says so once.
pub const REQUESTS_REPORT_GRACE: Duration = Duration::from_secs(10);

/// The part of the configuration the policy decides with.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub processes: usize,
    pub max_surge: usize,
    /// Replaced workers that may be draining at once.
    pub max_draining: usize,
    pub drain_timeout: Duration,
    pub ready_timeout: Duration,
    pub max_requests: Option<u64>,
    pub max_requests_delta: u64,
    pub max_requests_jitter: u64,
    pub max_worker_lifetime: Option<Duration>,
    pub max_worker_lifetime_delta: Duration,
    pub reload_on_rss_mb: Option<u64>,
    /// A ready worker that sent `WATCHDOG=1` once and then none for this long is replaced.
    pub watchdog: Option<Duration>,
    /// The drain signal's number: a draining worker killed by it exited as asked (some
    /// servers, uvicorn among them, re-raise it to exit).
    pub drain_signal: i32,
    /// Before any worker was ever ready, a slot failing to start this many times in a row
    /// ends ebb with [`EXIT_NO_APP`] (uWSGI's `need-app`, gunicorn's "worker failed to boot"),
    /// so a service manager sees the failure. 0: keep trying with back-off.
    pub start_attempts: u32,
}

/// ebb's exit status when no worker could ever start (gunicorn's for a worker that failed to
/// boot).
pub const EXIT_NO_APP: i32 = 3;

impl Params {
    pub fn from_config(c: &crate::config::Config) -> Self {
        Params {
            processes: c.processes,
            max_surge: c.max_surge,
            max_draining: c.max_draining.unwrap_or(c.processes),
            drain_timeout: c.drain_timeout,
            ready_timeout: c.ready_timeout,
            max_requests: c.max_requests,
            max_requests_delta: c.max_requests_delta,
            max_requests_jitter: c.max_requests_jitter,
            max_worker_lifetime: c.max_worker_lifetime,
            max_worker_lifetime_delta: c.max_worker_lifetime_delta,
            reload_on_rss_mb: c.reload_on_rss_mb,
            watchdog: c.watchdog,
            drain_signal: c.drain_signal as i32,
            start_attempts: c.start_attempts,
        }
    }
}

/// Something that happened, as the master saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Time passed (the nearest deadline was reached).
    Tick,
    /// The master forked worker `id` (after a [`Action::Spawn`]) as `pid`.
    Spawned { id: WorkerId, pid: i32 },
    /// The master could not start worker `id` (fork or exec setup failed).
    SpawnFailed { id: WorkerId, error: String },
    /// Worker `id` sent a notify datagram.
    Notify { id: WorkerId, update: Update },
    /// The process `pid` was reaped.
    Exited { pid: i32, status: ExitStatus },
    /// The RSS of each sampled worker's process tree, in KiB.
    Rss { samples: Vec<(WorkerId, u64)> },
    /// SIGTERM/SIGINT (graceful) or SIGQUIT (fast).
    Stop { graceful: bool },
    /// A new configuration was loaded (SIGHUP): replace every worker.
    Reload { params: Params },
    /// SIGTTIN: one worker more.
    AddWorker,
    /// SIGTTOU: one worker less (the last slot is drained).
    RemoveWorker,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => {
                let name = nix::sys::signal::Signal::try_from(*s)
                    .map(|s| s.as_str())
                    .unwrap_or("unknown signal");
                write!(f, "signal {s} ({name})")
            }
        }
    }
}

/// Who a log line or a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerRef {
    pub id: WorkerId,
    pub slot: usize,
    pub respawn: u64,
    pub pid: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// A log line for the master to write (it adds the worker's fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    pub level: Level,
    pub worker: Option<WorkerRef>,
    /// A short machine-friendly name of the transition (`spawn`, `ready`, `drain`, …).
    pub event: &'static str,
    pub message: String,
}

/// What a forced kill (or a crash) lost: written at ERROR and to the lost-work journal.
#[derive(Debug, Clone, PartialEq)]
pub struct LostWork {
    pub worker: WorkerRef,
    /// Why the worker was killed or died.
    pub reason: String,
    pub requests_in_flight: u64,
    pub jobs: u64,
    /// Job names with how long each had been running.
    pub job_names: Vec<(String, Duration)>,
    pub lived: Duration,
    /// How long before the loss the worker last reported its counts (they may be stale).
    pub reported_ago: Duration,
}

/// What the master must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fork and exec a worker for `slot`; report back with [`Event::Spawned`].
    Spawn {
        id: WorkerId,
        slot: usize,
        respawn: u64,
        generation: u64,
    },
    /// Send the drain signal to the worker.
    Drain {
        id: WorkerId,
        pid: i32,
    },
    /// Send SIGQUIT to the worker (fast stop).
    Quit {
        id: WorkerId,
        pid: i32,
    },
    /// SIGKILL the worker's process group.
    Kill {
        id: WorkerId,
        pid: i32,
    },
    /// Measure these workers' RSS and answer with [`Event::Rss`].
    SampleRss {
        workers: Vec<(WorkerId, i32)>,
    },
    /// Close the worker's notify socket (it has exited).
    Forget {
        id: WorkerId,
    },
    Lost(LostWork),
    Log(Log),
    /// Everything has stopped: exit the master with this code.
    Exit(i32),
}

/// Why a worker is being replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    MaxRequests,
    Lifetime,
    Rss,
    Reload,
    Stuck,
    /// It stopped sending `WATCHDOG=1`.
    Watchdog,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::MaxRequests => "max-requests",
            Reason::Lifetime => "max-worker-lifetime",
            Reason::Rss => "reload-on-rss",
            Reason::Reload => "reload",
            Reason::Stuck => "harakiri",
            Reason::Watchdog => "watchdog",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Forked, has not said READY=1 yet.
    Starting,
    Ready,
    /// Told to drain at `since`.
    Draining {
        since: Instant,
    },
    /// Its group was SIGKILLed; waiting to reap it.
    Killing,
}

/// The master's view of one worker process.
#[derive(Debug, Clone)]
pub struct Worker {
    pub id: WorkerId,
    pub slot: usize,
    pub respawn: u64,
    pub generation: u64,
    pub pid: Option<i32>,
    pub state: State,
    pub started: Instant,
    pub ready_at: Option<Instant>,
    pub requests: Option<u64>,
    pub inflight: u64,
    pub jobs: u64,
    /// The running job names, each with the moment it was first reported.
    pub job_names: Vec<(String, Instant)>,
    pub status: Option<String>,
    pub stopping: bool,
    pub stuck: bool,
    pub rss_kb: Option<u64>,
    /// This worker's own request limit (max-requests + delta + jitter).
    pub request_limit: Option<u64>,
    /// When this worker must be recycled by age.
    pub lifetime_deadline: Option<Instant>,
    /// Why it is being (or must be) replaced, and since when.
    pub recycle: Option<Reason>,
    pub recycle_since: Option<Instant>,
    /// Peak job count seen while draining: the jobs that finished during the drain.
    pub drain_jobs_peak: u64,
    /// Requests in flight when the drain began.
    pub drain_inflight: u64,
    /// When the worker last sent a datagram.
    pub last_report: Instant,
    /// When the worker last sent `WATCHDOG=1`; the first one arms the watchdog.
    pub last_watchdog: Option<Instant>,
    /// `EXTEND_TIMEOUT_USEC` while starting: the ready deadline, when pushed past the
    /// ready timeout.
    pub ready_extended: Option<Instant>,
    /// The last `ERRNO=` the worker sent (0 clears it), shown when it exits unexpectedly.
    pub errno: Option<i32>,
    next_progress: Option<Instant>,
    kill_reason: Option<&'static str>,
    said_waiting: bool,
}

impl Worker {
    pub fn reference(&self) -> WorkerRef {
        WorkerRef {
            id: self.id,
            slot: self.slot,
            respawn: self.respawn,
            pid: self.pid,
        }
    }

    fn is_draining(&self) -> bool {
        matches!(self.state, State::Draining { .. } | State::Killing)
    }

    /// When a starting worker is taken as ready without READY=1.
    fn ready_deadline(&self, ready_timeout: Duration) -> Instant {
        let t = self.started + ready_timeout;
        self.ready_extended.map_or(t, |e| e.max(t))
    }

    /// When a ready worker that opted in to the watchdog (by sending `WATCHDOG=1` once)
    /// must have sent the next one. The period starts again when the worker becomes ready,
    /// as systemd's does, so a slow start does not count against it.
    fn watchdog_deadline(&self, watchdog: Option<Duration>) -> Option<Instant> {
        let limit = watchdog?;
        let last = self.last_watchdog?;
        let since = self.ready_at.map_or(last, |r| r.max(last));
        Some(since + limit)
    }

    /// " (it reported errno N: description)", or nothing.
    fn errno_note(&self) -> String {
        self.errno
            .map(|n| {
                format!(
                    " (it reported errno {n}: {})",
                    nix::errno::Errno::from_raw(n).desc()
                )
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// The worker serving this slot (Starting on first start, then Ready).
    current: Option<WorkerId>,
    /// Its replacement, while a recycle is under way.
    replacement: Option<WorkerId>,
    /// Generations spawned in this slot so far.
    respawns: u64,
    /// Consecutive failures to start; reset by a READY.
    failures: u32,
    /// No spawn in this slot before this moment (back-off).
    retry_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Running,
    Stopping { graceful: bool, since: Instant },
}

/// The supervisor state.
#[derive(Debug)]
pub struct Policy {
    params: Params,
    /// Incremented on every reload; workers of an older generation are replaced.
    generation: u64,
    slots: Vec<Slot>,
    workers: BTreeMap<WorkerId, Worker>,
    next_id: WorkerId,
    mode: Mode,
    rng: u64,
    next_rss: Option<Instant>,
    warned_no_requests: bool,
    lost_any: bool,
    exit_sent: bool,
    /// Some worker has been ready once: from then on crashes back off instead of ending ebb.
    ever_ready: bool,
    /// Set when ebb gives up starting workers: the exit status then.
    exit_code: Option<i32>,
}

fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A configured limit as given (`2s`, `1.5s`, `0.25s`).
fn given(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The longest `EXTEND_TIMEOUT_USEC` honoured (about 136 years: no overflow, never reached).
const MAX_EXTEND: Duration = Duration::from_secs(u32::MAX as u64);

impl Policy {
    pub fn new(params: Params, seed: u64) -> Self {
        let slots = vec![Slot::default(); params.processes];
        Policy {
            params,
            generation: 1,
            slots,
            workers: BTreeMap::new(),
            next_id: 1,
            mode: Mode::Running,
            rng: seed | 1,
            next_rss: None,
            warned_no_requests: false,
            lost_any: false,
            exit_sent: false,
            ever_ready: false,
            exit_code: None,
        }
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    pub fn worker(&self, id: WorkerId) -> Option<&Worker> {
        self.workers.get(&id)
    }

    pub fn is_stopping(&self) -> bool {
        matches!(self.mode, Mode::Stopping { .. })
    }

    fn random(&mut self) -> u64 {
        // xorshift64: deterministic for tests, seeded by the master.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Handle one event at time `now`; return what to do.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Tick => {}
            Event::Spawned { id, pid } => {
                if let Some(w) = self.workers.get_mut(&id) {
                    w.pid = Some(pid);
                    w.started = now;
                    let r = w.reference();
                    log(
                        &mut out,
                        Level::Info,
                        Some(r),
                        "spawn",
                        "worker started".into(),
                    );
                    if matches!(self.mode, Mode::Stopping { .. }) {
                        // A stop arrived between the spawn decision and the fork.
                        out.push(Action::Drain { id, pid });
                        w.state = State::Draining { since: now };
                    }
                }
            }
            Event::SpawnFailed { id, error } => {
                if let Some(w) = self.workers.remove(&id) {
                    log(
                        &mut out,
                        Level::Error,
                        Some(w.reference()),
                        "spawn-failed",
                        format!("could not start worker: {error}"),
                    );
                    out.push(Action::Forget { id });
                    self.start_failed(w.slot, now, &mut out);
                }
            }
            Event::Notify { id, update } => self.on_notify(id, update, now, &mut out),
            Event::Exited { pid, status } => self.on_exit(pid, status, now, &mut out),
            Event::Rss { samples } => {
                for (id, kb) in samples {
                    if let Some(w) = self.workers.get_mut(&id) {
                        w.rss_kb = Some(kb);
                    }
                }
            }
            Event::Stop { graceful } => self.on_stop(graceful, now, &mut out),
            Event::Reload { params } => self.on_reload(params, now, &mut out),
            Event::AddWorker => {
                if !self.is_stopping() {
                    self.params.processes += 1;
                    self.slots.push(Slot::default());
                    log(
                        &mut out,
                        Level::Info,
                        None,
                        "scale",
                        format!("one worker more: {} processes", self.params.processes),
                    );
                }
            }
            Event::RemoveWorker => {
                if !self.is_stopping() && self.params.processes > 1 {
                    self.params.processes -= 1;
                    log(
                        &mut out,
                        Level::Info,
                        None,
                        "scale",
                        format!("one worker less: {} processes", self.params.processes),
                    );
                } else if !self.is_stopping() {
                    log(
                        &mut out,
                        Level::Warn,
                        None,
                        "scale",
                        "SIGTTOU ignored: at least one worker must run".into(),
                    );
                }
            }
        }
        self.reconcile(now, &mut out);
        out
    }

    fn on_notify(&mut self, id: WorkerId, u: Update, now: Instant, out: &mut Vec<Action>) {
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.last_report = now;
        if let Some(r) = u.requests {
            w.requests = Some(r);
        }
        if let Some(n) = u.inflight {
            w.inflight = n;
        }
        if let Some(n) = u.jobs {
            w.jobs = n;
            if w.is_draining() {
                w.drain_jobs_peak = w.drain_jobs_peak.max(n);
            }
        }
        if let Some(names) = u.job_names {
            let old = std::mem::take(&mut w.job_names);
            w.job_names = names
                .into_iter()
                .map(|n| {
                    let seen = old.iter().find(|(o, _)| *o == n).map_or(now, |(_, t)| *t);
                    (n, seen)
                })
                .collect();
        } else if u.jobs == Some(0) {
            w.job_names.clear();
        }
        if let Some(s) = u.status {
            w.status = Some(s);
        }
        if let Some(n) = u.errno {
            w.errno = (n != 0).then_some(n);
        }
        if u.watchdog {
            if w.last_watchdog.is_none()
                && let Some(limit) = self.params.watchdog
            {
                let r = w.reference();
                log(
                    out,
                    Level::Debug,
                    Some(r),
                    "watchdog-armed",
                    format!(
                        "worker sent WATCHDOG=1: it is replaced if it sends none for {} \
                         (--watchdog)",
                        given(limit)
                    ),
                );
            }
            w.last_watchdog = Some(now);
        }
        if let Some(usec) = u.extend_timeout_usec
            && w.state == State::Starting
            && w.pid.is_some()
        {
            let more = Duration::from_micros(usec).min(MAX_EXTEND);
            let current = w.ready_deadline(self.params.ready_timeout);
            if let Some(asked) = now.checked_add(more) {
                w.ready_extended = Some(current.max(asked));
            }
            let deadline = w.ready_deadline(self.params.ready_timeout);
            let r = w.reference();
            log(
                out,
                Level::Info,
                Some(r),
                "extend-timeout",
                format!(
                    "worker asked for {} more to start (EXTEND_TIMEOUT_USEC); taken as ready \
                     in {} at the latest",
                    secs(more),
                    secs(deadline.saturating_duration_since(now))
                ),
            );
        }
        if u.stopping && !w.stopping {
            w.stopping = true;
            let r = w.reference();
            log(
                out,
                Level::Debug,
                Some(r),
                "stopping",
                "worker stopped accepting".into(),
            );
        }
        if u.stuck == Some(true) && !w.stuck {
            w.stuck = true;
            let r = w.reference();
            log(
                out,
                Level::Error,
                Some(r),
                "harakiri",
                format!(
                    "worker reports a request stuck past the harakiri limit{}; replacing it",
                    w.status
                        .as_deref()
                        .map(|s| format!(" ({})", clip(s, STATUS_IN_LOG)))
                        .unwrap_or_default()
                ),
            );
        }
        if u.ready && w.state == State::Starting {
            w.state = State::Ready;
            w.ready_at = Some(now);
            let r = w.reference();
            let took = now.saturating_duration_since(w.started);
            log(
                out,
                Level::Info,
                Some(r),
                "ready",
                format!("worker ready in {}", secs(took)),
            );
            if let Some(slot) = self.slots.get_mut(w.slot - 1) {
                slot.failures = 0;
                slot.retry_at = None;
            }
            self.ever_ready = true;
        }
    }

    fn on_exit(&mut self, pid: i32, status: ExitStatus, now: Instant, out: &mut Vec<Action>) {
        let Some(id) = self
            .workers
            .values()
            .find(|w| w.pid == Some(pid))
            .map(|w| w.id)
        else {
            return; // not ours (a grandchild re-parented to us, say)
        };
        let w = self.workers.remove(&id).expect("found above");
        out.push(Action::Forget { id });
        let lived = now.saturating_duration_since(w.started);
        let r = w.reference();
        if let Some(slot) = self.slots.get_mut(w.slot - 1) {
            if slot.current == Some(id) {
                slot.current = None;
            }
            if slot.replacement == Some(id) {
                slot.replacement = None;
            }
        }
        let clean = status == ExitStatus::Code(0)
            || (matches!(w.state, State::Draining { .. })
                && status == ExitStatus::Signal(self.params.drain_signal));
        match w.state {
            State::Killing => {
                log(
                    out,
                    Level::Warn,
                    Some(r),
                    "exit",
                    format!("killed worker reaped ({status}) after {}", secs(lived)),
                );
            }
            State::Draining { since } => {
                let took = now.saturating_duration_since(since);
                if clean {
                    log(
                        out,
                        Level::Info,
                        Some(r),
                        "drained",
                        format!(
                            "worker drained in {}: {} requests finished, {} jobs done; lived {}, served {}",
                            secs(took),
                            w.drain_inflight,
                            w.drain_jobs_peak,
                            secs(lived),
                            w.requests.map_or("?".into(), |n| n.to_string()),
                        ),
                    );
                } else {
                    log(
                        out,
                        Level::Warn,
                        Some(r),
                        "exit",
                        format!(
                            "draining worker exited with {status} after {}{}",
                            secs(took),
                            w.errno_note()
                        ),
                    );
                    self.report_lost(
                        &w,
                        &format!("exited with {status} while draining"),
                        now,
                        out,
                    );
                }
            }
            State::Starting | State::Ready
                if matches!(
                    self.mode,
                    Mode::Stopping {
                        graceful: false,
                        ..
                    }
                ) =>
            {
                // Told to quit: an exit is what was asked for, not a surprise.
                log(
                    out,
                    Level::Info,
                    Some(r),
                    "quit",
                    format!("worker quit ({status}) after {}", secs(lived)),
                );
                self.report_lost(&w, &format!("fast stop ({status})"), now, out);
            }
            State::Starting | State::Ready => {
                let before_ready = w.state == State::Starting;
                let level = if before_ready || !clean {
                    Level::Error
                } else {
                    Level::Warn
                };
                log(
                    out,
                    level,
                    Some(r),
                    "exit",
                    format!(
                        "worker exited unexpectedly with {status} after {}{}{}",
                        secs(lived),
                        if before_ready {
                            " before it was ready"
                        } else {
                            ""
                        },
                        w.errno_note()
                    ),
                );
                self.report_lost(&w, &format!("exited with {status}"), now, out);
                if before_ready && !self.is_stopping() {
                    self.start_failed(w.slot, now, out);
                }
            }
        }
    }

    /// A worker of `slot` died before READY (or could not be forked): back off.
    fn start_failed(&mut self, slot: usize, now: Instant, out: &mut Vec<Action>) {
        let Some(s) = self.slots.get_mut(slot - 1) else {
            return;
        };
        s.failures += 1;
        let failures = s.failures;
        let attempts = self.params.start_attempts;
        let stopping = matches!(self.mode, Mode::Stopping { .. });
        if !self.ever_ready && attempts > 0 && failures >= attempts && !stopping {
            s.retry_at = None;
            log(
                out,
                Level::Error,
                None,
                "need-app",
                format!(
                    "no worker has ever become ready and slot {slot} failed to start {failures} \
                     time{} in a row: giving up, exit status {EXIT_NO_APP}. Fix the app or its \
                     command (its output is above); --start-attempts 0 keeps retrying",
                    if failures == 1 { "" } else { "s" }
                ),
            );
            self.exit_code = Some(EXIT_NO_APP);
            self.on_stop(false, now, out);
            return;
        }
        let delay = backoff(s.failures);
        s.retry_at = Some(now + delay);
        log(
            out,
            Level::Warn,
            None,
            "backoff",
            format!(
                "slot {slot}: worker failed to start {} time{} in a row; next attempt in {} \
                 (fix the app or its command; see its output above)",
                s.failures,
                if s.failures == 1 { "" } else { "s" },
                secs(delay)
            ),
        );
    }

    fn report_lost(&mut self, w: &Worker, reason: &str, now: Instant, out: &mut Vec<Action>) {
        if w.inflight == 0 && w.jobs == 0 {
            return;
        }
        self.lost_any = true;
        out.push(Action::Lost(LostWork {
            worker: w.reference(),
            reason: reason.to_string(),
            requests_in_flight: w.inflight,
            jobs: w.jobs,
            job_names: w
                .job_names
                .iter()
                .map(|(n, t)| (n.clone(), now.saturating_duration_since(*t)))
                .collect(),
            lived: now.saturating_duration_since(w.started),
            reported_ago: now.saturating_duration_since(w.last_report),
        }));
    }

    fn on_stop(&mut self, graceful: bool, now: Instant, out: &mut Vec<Action>) {
        match self.mode {
            Mode::Stopping {
                graceful: false, ..
            } => return,
            Mode::Stopping { graceful: true, .. } if graceful => return,
            _ => {}
        }
        self.mode = Mode::Stopping {
            graceful,
            since: now,
        };
        log(
            out,
            Level::Info,
            None,
            "stop",
            if graceful {
                format!(
                    "graceful stop: draining {} workers (up to {} each)",
                    self.workers.len(),
                    secs(self.params.drain_timeout)
                )
            } else {
                format!("fast stop: {} workers told to quit", self.workers.len())
            },
        );
        for s in &mut self.slots {
            s.retry_at = None;
        }
        for w in self.workers.values_mut() {
            let Some(pid) = w.pid else { continue };
            if graceful {
                if !w.is_draining() {
                    begin_drain(w, now, out);
                }
            } else if w.state != State::Killing {
                out.push(Action::Quit { id: w.id, pid });
            }
        }
    }

    fn on_reload(&mut self, params: Params, now: Instant, out: &mut Vec<Action>) {
        if self.is_stopping() {
            return;
        }
        self.generation += 1;
        self.params = params;
        log(
            out,
            Level::Info,
            None,
            "reload",
            format!(
                "reload: replacing every worker with configuration generation {} ({} processes)",
                self.generation, self.params.processes
            ),
        );
        // Replacements still starting on the old configuration are drained: their slot
        // starts over on the new one.
        for s in &mut self.slots {
            s.failures = 0;
            s.retry_at = None;
            if let Some(rid) = s.replacement.take()
                && let Some(w) = self.workers.get_mut(&rid)
            {
                begin_drain(w, now, out);
            }
        }
    }

    /// Bring the world toward the desired state. Called after every event.
    fn reconcile(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.check_deadlines(now, out);
        if let Mode::Stopping { .. } = self.mode {
            if self.workers.is_empty() && !self.exit_sent {
                self.exit_sent = true;
                let code = self.exit_code.unwrap_or(i32::from(self.lost_any));
                log(
                    out,
                    Level::Info,
                    None,
                    "exit",
                    if self.lost_any {
                        "all workers stopped; some work was lost (see the errors above)".into()
                    } else {
                        "all workers stopped".into()
                    },
                );
                out.push(Action::Exit(code));
            }
            return;
        }
        self.drain_removed_slots(now, out);
        self.promote_ready_replacements(now, out);
        self.mark_recycles(now, out);
        self.spawn_needed(now, out);
        self.schedule_rss(now, out);
    }

    fn check_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        let p = self.params.clone();
        let mut lost = Vec::new();
        let mut started_slots = Vec::new();
        for w in self.workers.values_mut() {
            match w.state {
                State::Starting if w.pid.is_some() && now >= w.ready_deadline(p.ready_timeout) => {
                    w.state = State::Ready;
                    w.ready_at = Some(now);
                    self.ever_ready = true;
                    started_slots.push(w.slot);
                    let r = w.reference();
                    log(
                        out,
                        Level::Warn,
                        Some(r),
                        "ready-timeout",
                        format!(
                            "worker did not send READY=1 within {}; taking it as ready \
                                 (make it notify, or raise --ready-timeout)",
                            secs(
                                w.ready_deadline(p.ready_timeout)
                                    .saturating_duration_since(w.started)
                            )
                        ),
                    );
                }
                State::Draining { since } => {
                    let limit = match self.mode {
                        Mode::Stopping {
                            graceful: false,
                            since: quit,
                        } => (since + p.drain_timeout).min(quit + FAST_STOP_GRACE),
                        _ => since + p.drain_timeout,
                    };
                    if now >= limit {
                        let pid = w.pid.expect("draining workers have pids");
                        w.state = State::Killing;
                        w.kill_reason = Some("drain timeout");
                        out.push(Action::Kill { id: w.id, pid });
                        lost.push(w.id);
                    } else if w.next_progress.is_some_and(|t| now >= t) {
                        w.next_progress = Some(now + PROGRESS_EVERY);
                        let r = w.reference();
                        log(
                            out,
                            Level::Info,
                            Some(r),
                            "draining",
                            format!(
                                "still draining after {}: {} requests, {} jobs in flight{}; killed in {}",
                                secs(now.saturating_duration_since(since)),
                                w.inflight,
                                w.jobs,
                                job_list(&w.job_names, w.jobs, now),
                                secs(limit.saturating_duration_since(now))
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        if let Mode::Stopping {
            graceful: false,
            since,
        } = self.mode
            && now >= since + FAST_STOP_GRACE
        {
            for w in self.workers.values_mut() {
                if let (Some(pid), false) = (w.pid, w.state == State::Killing) {
                    w.state = State::Killing;
                    w.kill_reason = Some("fast stop");
                    out.push(Action::Kill { id: w.id, pid });
                    lost.push(w.id);
                }
            }
        }
        for slot in started_slots {
            if let Some(s) = self.slots.get_mut(slot - 1) {
                s.failures = 0;
                s.retry_at = None;
            }
        }
        for id in lost {
            let w = self.workers[&id].clone();
            let why = w.kill_reason.unwrap_or("killed");
            let r = w.reference();
            log(
                out,
                Level::Error,
                Some(r),
                "kill",
                format!(
                    "{why}: killing worker's process group with {} requests and {} jobs in flight{}",
                    w.inflight,
                    w.jobs,
                    job_list(&w.job_names, w.jobs, now)
                ),
            );
            self.report_lost(&w, why, now, out);
        }
    }

    /// Slots beyond `processes` (after SIGTTOU or a reload with fewer processes) are drained.
    fn drain_removed_slots(&mut self, now: Instant, out: &mut Vec<Action>) {
        while self.slots.len() > self.params.processes {
            let s = self.slots.pop().expect("len > processes >= 0");
            for id in [s.current, s.replacement].into_iter().flatten() {
                if let Some(w) = self.workers.get_mut(&id)
                    && !w.is_draining()
                {
                    if w.pid.is_some() {
                        begin_drain(w, now, out);
                    } else {
                        self.workers.remove(&id);
                    }
                }
            }
        }
        while self.slots.len() < self.params.processes {
            self.slots.push(Slot::default());
        }
    }

    /// A replacement that is ready takes over its slot; the old worker drains.
    fn promote_ready_replacements(&mut self, now: Instant, out: &mut Vec<Action>) {
        for s in &mut self.slots {
            let Some(rid) = s.replacement else { continue };
            if self.workers.get(&rid).map(|w| w.state) != Some(State::Ready) {
                continue;
            }
            s.replacement = None;
            let old = s.current.replace(rid);
            if let Some(oid) = old
                && let Some(w) = self.workers.get_mut(&oid)
                && !w.is_draining()
            {
                begin_drain(w, now, out);
            }
        }
    }

    /// Decide which serving workers must be replaced, and why.
    fn mark_recycles(&mut self, now: Instant, out: &mut Vec<Action>) {
        let generation = self.generation;
        let p = &self.params;
        for w in self.workers.values_mut() {
            if w.state != State::Ready || w.recycle.is_some() {
                continue;
            }
            let watchdog_due = w.watchdog_deadline(p.watchdog).filter(|&t| now >= t);
            let reason = if w.stuck {
                Some(Reason::Stuck)
            } else if watchdog_due.is_some() {
                Some(Reason::Watchdog)
            } else if w.generation < generation {
                Some(Reason::Reload)
            } else if let (Some(limit), Some(n)) = (w.request_limit, w.requests)
                && n >= limit
            {
                Some(Reason::MaxRequests)
            } else if w.lifetime_deadline.is_some_and(|t| now >= t) {
                Some(Reason::Lifetime)
            } else if let (Some(mb), Some(kb)) = (p.reload_on_rss_mb, w.rss_kb)
                && kb >= mb * 1024
            {
                Some(Reason::Rss)
            } else {
                None
            };
            if let Some(reason) = reason {
                w.recycle = Some(reason);
                w.recycle_since = Some(now);
                let detail = match reason {
                    Reason::MaxRequests => format!(
                        "{} requests served, limit {}",
                        w.requests.unwrap_or(0),
                        w.request_limit.unwrap_or(0)
                    ),
                    Reason::Lifetime => {
                        format!("lived {}", secs(now.saturating_duration_since(w.started)))
                    }
                    Reason::Rss => format!(
                        "RSS {} MiB over {} MiB",
                        w.rss_kb.unwrap_or(0) / 1024,
                        p.reload_on_rss_mb.unwrap_or(0)
                    ),
                    Reason::Reload => format!("configuration generation {generation}"),
                    Reason::Stuck => "a request is stuck".into(),
                    Reason::Watchdog => {
                        let silent = now.saturating_duration_since(w.last_watchdog.unwrap_or(now));
                        let r = w.reference();
                        log(
                            out,
                            Level::Error,
                            Some(r),
                            "watchdog",
                            format!(
                                "worker sent no WATCHDOG=1 for {} (--watchdog {}); replacing it",
                                secs(silent),
                                given(p.watchdog.unwrap_or_default())
                            ),
                        );
                        format!("no WATCHDOG=1 for {}", secs(silent))
                    }
                };
                let r = w.reference();
                log(
                    out,
                    Level::Info,
                    Some(r),
                    "recycle",
                    format!("recycling worker ({}: {detail})", reason.as_str()),
                );
            }
            if p.max_requests.is_some()
                && w.requests.is_none()
                && !self.warned_no_requests
                && w.ready_at.is_some_and(|t| now >= t + REQUESTS_REPORT_GRACE)
            {
                self.warned_no_requests = true;
                let r = w.reference();
                log(
                    out,
                    Level::Warn,
                    Some(r),
                    "no-request-count",
                    "--max-requests is set but this worker never reports X_EBB_REQUESTS: \
                     it cannot be recycled by request count (see docs/protocol.md)"
                        .into(),
                );
            }
        }
    }

    /// Replacements started for a slot that still has its worker: each will send that worker
    /// to drain once it is ready, so it holds a place under `max_draining` from the start.
    fn replacements_pending(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.replacement.is_some() && s.current.is_some())
            .count()
    }

    /// Workers starting or serving, and workers draining (or being killed).
    fn counts_for_surge(&self) -> (usize, usize) {
        let draining = self.workers.values().filter(|w| w.is_draining()).count();
        (self.workers.len() - draining, draining)
    }

    fn spawn_needed(&mut self, now: Instant, out: &mut Vec<Action>) {
        let cap = self.params.processes + self.params.max_surge;
        let draining_cap = self.params.max_draining.max(1);
        // Empty slots first (capacity), then recycles in the order they were asked for, so a
        // free surge place goes to the worker that has waited longest.
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by_key(|&i| {
            self.slots[i]
                .current
                .and_then(|id| self.workers.get(&id))
                .and_then(|w| w.recycle_since)
        });
        for idx in order {
            let s = &mut self.slots[idx];
            if s.replacement.is_some() {
                continue;
            }
            match s.retry_at {
                Some(t) if now < t => continue,
                // Past: forget it, so it never becomes a deadline in the past (a spin).
                Some(_) => s.retry_at = None,
                None => {}
            }
            let s = &self.slots[idx];
            let current = s.current.and_then(|id| self.workers.get(&id));
            let has_current = current.is_some();
            let needs = match current {
                None => true,
                Some(w) => w.recycle.is_some(),
            };
            if !needs {
                continue;
            }
            // A slot with no worker at all is always filled (capacity first); a
            // replacement waits for a free place under the surge cap, and for room among the
            // draining (its READY will send the old worker there).
            let (serving, draining) = self.counts_for_surge();
            let wait = if !has_current {
                None
            } else if serving >= cap {
                Some(format!(
                    "{serving} of at most {cap} workers are starting or serving (--processes {} + \
                     --max-surge {})",
                    self.params.processes, self.params.max_surge
                ))
            } else if draining + self.replacements_pending() >= draining_cap {
                Some(format!(
                    "{draining} replaced workers are draining and {} more will once their \
                     replacements are ready (--max-draining {draining_cap})",
                    self.replacements_pending()
                ))
            } else {
                None
            };
            if let Some(why) = wait {
                let cid = s.current.expect("current is some");
                let w = self.workers.get_mut(&cid).expect("current exists");
                if !w.said_waiting {
                    w.said_waiting = true;
                    let r = w.reference();
                    log(
                        out,
                        Level::Info,
                        Some(r),
                        "surge-wait",
                        format!("recycle waits: {why}; it keeps serving meanwhile"),
                    );
                }
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let slot = idx + 1;
            let jitter = if self.params.max_requests_jitter > 0 {
                self.random() % (self.params.max_requests_jitter + 1)
            } else {
                0
            };
            let p = &self.params;
            let s = &mut self.slots[idx];
            s.respawns += 1;
            let respawn = s.respawns;
            let request_limit = p
                .max_requests
                .map(|n| n + (slot as u64 - 1) * p.max_requests_delta + jitter);
            let lifetime_deadline = p
                .max_worker_lifetime
                .map(|l| now + l + p.max_worker_lifetime_delta * (slot as u32 - 1));
            if has_current {
                s.replacement = Some(id);
            } else {
                s.current = Some(id);
            }
            self.workers.insert(
                id,
                Worker {
                    id,
                    slot,
                    respawn,
                    generation: self.generation,
                    pid: None,
                    state: State::Starting,
                    started: now,
                    ready_at: None,
                    requests: None,
                    inflight: 0,
                    jobs: 0,
                    job_names: Vec::new(),
                    status: None,
                    stopping: false,
                    stuck: false,
                    rss_kb: None,
                    request_limit,
                    lifetime_deadline,
                    recycle: None,
                    recycle_since: None,
                    drain_jobs_peak: 0,
                    drain_inflight: 0,
                    last_report: now,
                    last_watchdog: None,
                    ready_extended: None,
                    errno: None,
                    next_progress: None,
                    kill_reason: None,
                    said_waiting: false,
                },
            );
            out.push(Action::Spawn {
                id,
                slot,
                respawn,
                generation: self.generation,
            });
        }
    }

    fn schedule_rss(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.params.reload_on_rss_mb.is_none() {
            self.next_rss = None;
            return;
        }
        match self.next_rss {
            Some(t) if now < t => {}
            _ => {
                self.next_rss = Some(now + RSS_EVERY);
                let workers: Vec<_> = self
                    .workers
                    .values()
                    .filter(|w| w.state == State::Ready)
                    .filter_map(|w| w.pid.map(|p| (w.id, p)))
                    .collect();
                if !workers.is_empty() {
                    out.push(Action::SampleRss { workers });
                }
            }
        }
    }

    /// The nearest moment something must happen even if no event arrives.
    pub fn next_deadline(&self) -> Option<Instant> {
        let p = &self.params;
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| {
            best = Some(best.map_or(t, |b| b.min(t)));
        };
        for s in &self.slots {
            if let Some(t) = s.retry_at {
                consider(t);
            }
        }
        for w in self.workers.values() {
            match w.state {
                State::Starting if w.pid.is_some() => consider(w.ready_deadline(p.ready_timeout)),
                State::Draining { since } => {
                    consider(since + p.drain_timeout);
                    if let Some(t) = w.next_progress {
                        consider(t);
                    }
                }
                // Recycles are decided only while running: a fast stop leaves workers Ready,
                // and their deadlines would then pass unhandled (a busy loop).
                State::Ready if w.recycle.is_none() && self.mode == Mode::Running => {
                    if let Some(t) = w.lifetime_deadline {
                        consider(t);
                    }
                    if let Some(t) = w.watchdog_deadline(p.watchdog) {
                        consider(t);
                    }
                    if p.max_requests.is_some()
                        && w.requests.is_none()
                        && !self.warned_no_requests
                        && let Some(t) = w.ready_at
                    {
                        consider(t + REQUESTS_REPORT_GRACE);
                    }
                }
                _ => {}
            }
        }
        if let Mode::Stopping {
            graceful: false,
            since,
        } = self.mode
            && self.workers.values().any(|w| w.state != State::Killing)
        {
            consider(since + FAST_STOP_GRACE);
        }
        if let (Some(t), Mode::Running) = (self.next_rss, self.mode) {
            consider(t);
        }
        best
    }
}

/// A worker's `STATUS=` text is shown in log lines cut to this many characters.
const STATUS_IN_LOG: usize = 120;

/// `s` cut to `max` characters, saying how long it was when cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}… ({} bytes in all)", &s[..at], s.len()),
    }
}

fn begin_drain(w: &mut Worker, now: Instant, out: &mut Vec<Action>) {
    let Some(pid) = w.pid else { return };
    w.state = State::Draining { since: now };
    w.drain_jobs_peak = w.jobs;
    w.drain_inflight = w.inflight;
    w.next_progress = Some(now + PROGRESS_EVERY);
    out.push(Action::Drain { id: w.id, pid });
    let r = w.reference();
    log(
        out,
        Level::Info,
        Some(r),
        "drain",
        format!(
            "draining worker: {} requests served, {} in flight, {} jobs{}",
            w.requests.map_or("?".into(), |n| n.to_string()),
            w.inflight,
            w.jobs,
            job_list(&w.job_names, w.jobs, now)
        ),
    );
}

/// ` [a (1.2s), b (0.3s)]`; workers name at most 20 jobs, so a shorter list than `jobs`
/// says so: ` [a (1.2s), …; 20 of 61 jobs named]`.
fn job_list(names: &[(String, Instant)], jobs: u64, now: Instant) -> String {
    if names.is_empty() {
        return String::new();
    }
    let list: Vec<String> = names
        .iter()
        .map(|(n, t)| format!("{n} ({})", secs(now.saturating_duration_since(*t))))
        .collect();
    if (names.len() as u64) < jobs {
        format!(
            " [{}; {} of {jobs} jobs named]",
            list.join(", "),
            names.len()
        )
    } else {
        format!(" [{}]", list.join(", "))
    }
}

fn log(
    out: &mut Vec<Action>,
    level: Level,
    worker: Option<WorkerRef>,
    event: &'static str,
    message: String,
) {
    out.push(Action::Log(Log {
        level,
        worker,
        event,
        message,
    }));
}

#[cfg(test)]
mod tests;

//! The policy's vocabulary: its parameters, the events it takes, the actions it returns,
//! and its view of each worker and slot.

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
    /// Recycle a worker whose process group's address space (VSZ) exceeds this many MiB
    /// (`reload-on-as`).
    pub reload_on_as_mb: Option<u64>,
    /// A worker replaced by harakiri is killed this long after its drain began, instead of
    /// `drain_timeout` (`harakiri-graceful-timeout`).
    pub harakiri_graceful_timeout: Option<Duration>,
    /// A ready worker that sent `WATCHDOG=1` once and then none for this long is replaced.
    pub watchdog: Option<Duration>,
    /// The drain signal's number: a draining worker killed by it exited as asked (some
    /// servers, uvicorn among them, re-raise it to exit).
    pub drain_signal: i32,
    /// After a graceful stop is asked, keep serving this long before draining
    /// (`--shutdown-delay`, for Kubernetes endpoint removal).
    pub shutdown_delay: Duration,
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
            reload_on_as_mb: c.python_opts.reload_on_as_mb,
            harakiri_graceful_timeout: c.python_opts.harakiri_graceful_timeout,
            watchdog: c.watchdog,
            drain_signal: c.drain_signal as i32,
            shutdown_delay: c.ops.shutdown_delay,
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
    /// The same, for want of file descriptors (EMFILE, ENFILE) under the master's open-files
    /// limit: no fault of the app, and retrying will not help until the limit is raised.
    SpawnOutOfFds { id: WorkerId, error: String },
    /// Worker `id` sent a notify datagram.
    Notify { id: WorkerId, update: Update },
    /// The process `pid` was reaped.
    Exited { pid: i32, status: ExitStatus },
    /// The RSS of each sampled worker's process tree, in KiB.
    Rss { samples: Vec<(WorkerId, u64)> },
    /// The address space (VSZ) of each sampled worker's process group, in KiB (measured with
    /// the RSS, for `reload-on-as`).
    AddressSpace { samples: Vec<(WorkerId, u64)> },
    /// SIGTERM/SIGINT (graceful) or SIGQUIT (fast).
    Stop { graceful: bool },
    /// A new configuration was loaded (SIGHUP): replace every worker.
    Reload { params: Params },
    /// SIGTTIN: one worker more.
    AddWorker,
    /// SIGTTOU: one worker less (the last slot is drained).
    RemoveWorker,
    /// `ebb scale N`: run this many workers (the slots beyond it are drained).
    Scale { processes: usize },
    /// `ebb recycle N`: replace slot N's worker (new one first, as for any recycle).
    Recycle { slot: usize },
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
    /// Its address space passed `reload-on-as`.
    AddressSpace,
    Reload,
    Stuck,
    /// It stopped sending `WATCHDOG=1`.
    Watchdog,
    /// Asked for: `ebb recycle`, or every worker by the fifo's `w`.
    Command,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MaxRequests => "max-requests",
            Reason::Lifetime => "max-worker-lifetime",
            Reason::Rss => "reload-on-rss",
            Reason::AddressSpace => "reload-on-as",
            Reason::Reload => "reload",
            Reason::Stuck => "harakiri",
            Reason::Watchdog => "watchdog",
            Reason::Command => "command",
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
    /// Response bytes sent (head and body) and time spent in requests (µs), as reported.
    pub tx: u64,
    pub rt_us: u64,
    pub inflight: u64,
    pub jobs: u64,
    /// The running job names, each with the moment it was first reported.
    pub job_names: Vec<(String, Instant)>,
    pub status: Option<String>,
    pub stopping: bool,
    pub stuck: bool,
    pub rss_kb: Option<u64>,
    /// Its process group's address space (VSZ), when `reload-on-as` is set.
    pub vsz_kb: Option<u64>,
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
    pub(super) next_progress: Option<Instant>,
    pub(super) kill_reason: Option<&'static str>,
    pub(super) said_waiting: bool,
}

impl Worker {
    /// How long its drain may last before it is killed, and what the kill is then called.
    pub(super) fn drain_limit(&self, p: &Params) -> (Duration, &'static str) {
        match (self.recycle, p.harakiri_graceful_timeout) {
            (Some(Reason::Stuck), Some(d)) => (d, "harakiri-graceful-timeout"),
            _ => (p.drain_timeout, "drain timeout"),
        }
    }

    pub fn reference(&self) -> WorkerRef {
        WorkerRef {
            id: self.id,
            slot: self.slot,
            respawn: self.respawn,
            pid: self.pid,
        }
    }

    pub(super) fn is_draining(&self) -> bool {
        matches!(self.state, State::Draining { .. } | State::Killing)
    }

    /// When a starting worker is taken as ready without READY=1.
    pub(super) fn ready_deadline(&self, ready_timeout: Duration) -> Instant {
        let t = self.started + ready_timeout;
        self.ready_extended.map_or(t, |e| e.max(t))
    }

    /// When a ready worker that opted in to the watchdog (by sending `WATCHDOG=1` once)
    /// must have sent the next one. The period starts again when the worker becomes ready,
    /// as systemd's does, so a slow start does not count against it.
    pub(super) fn watchdog_deadline(&self, watchdog: Option<Duration>) -> Option<Instant> {
        let limit = watchdog?;
        let last = self.last_watchdog?;
        let since = self.ready_at.map_or(last, |r| r.max(last));
        Some(since + limit)
    }

    /// " (it reported errno N: description)", or nothing.
    pub(super) fn errno_note(&self) -> String {
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
pub(super) struct Slot {
    /// The worker serving this slot (Starting on first start, then Ready).
    pub(super) current: Option<WorkerId>,
    /// Its replacement, while a recycle is under way.
    pub(super) replacement: Option<WorkerId>,
    /// Why and when this slot was last recycled.
    pub(super) last_recycle: Option<super::LastRecycle>,
    /// Generations spawned in this slot so far.
    pub(super) respawns: u64,
    /// Consecutive failures to start; reset by a READY.
    pub(super) failures: u32,
    /// No spawn in this slot before this moment (back-off).
    pub(super) retry_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Running,
    /// A graceful stop was asked with a shutdown delay: serving as usual until `until`
    /// (while a load balancer takes the endpoint out), then the stop begins.
    Delaying {
        until: Instant,
    },
    Stopping {
        graceful: bool,
        since: Instant,
    },
}

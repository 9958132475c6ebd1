//! The worker SDK: what a Rust program needs to run as an ebb worker.
//!
//! ebb's master starts each worker with the systemd socket-activation and notify protocols plus
//! a few `EBB_*` variables (see `design.md`). This module wraps them:
//!
//! * [`listeners`]: the listening sockets at fds 3.. (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`).
//! * [`Notifier`]: `READY=1`, `STATUS=`, `STOPPING=1`, `WATCHDOG=1` to `NOTIFY_SOCKET`.
//! * [`Reporter`]: request / in-flight / background-job counters, reported to the master as
//!   absolute `X_EBB_*` values, coalesced off the hot path.
//! * [`Drain`]: the drain signal as a flag every thread can check, and a descriptor every
//!   thread can `poll()` next to its socket.
//! * [`WorkerInfo`]: `EBB_WORKER_ID`, `EBB_RESPAWN`, `EBB_MASTER_PID`.
//!
//! A worker's life with the SDK:
//!
//! ```no_run
//! use ebb::worker::{Drain, Notifier, Reporter, listeners};
//! # fn main() -> std::io::Result<()> {
//! let drain = Drain::install()?;                 // 1. signal handlers first
//! let socks = listeners()?;                      // 2. sockets from the master
//! let reporter = Reporter::new(Notifier::from_env()?)?;
//! // 3. start accept threads: loop { drain.wait_readable(listener, None) ... }
//! reporter.ready("serving")?;                   // 4. only now: READY=1 + counts
//! drain.wait();                                  // 5. drain signal
//! drop(socks);                                   //    stop accepting (close our copies)
//! reporter.stopping()?;                          //    STOPPING=1 + counts
//! reporter.wait_idle(None);                      // 6. requests and jobs finish
//! reporter.flush()?;                             //    last report: all zero
//! # Ok(()) }
//! ```
//!
//! Signals: `SIGTERM`, `SIGINT`, `SIGHUP` and `EBB_DRAIN_SIGNAL` start a drain; `SIGQUIT` exits
//! at once with [`FAST_EXIT_STATUS`].

mod drain;
mod listen;
mod notify;
mod report;

pub use drain::{DEFAULT_DRAIN_SIGNALS, Drain, FAST_EXIT_STATUS, Wake, parse_signal};
pub use listen::{LISTEN_FDS_START, Listener, Stream, listeners};
pub use notify::{MAX_MESSAGE, Notifier};
pub use report::{COALESCE, JobGuard, MAX_JOB_NAME_LEN, MAX_JOB_NAMES, Reporter, RequestGuard};

/// Who this worker is, from `EBB_WORKER_ID`, `EBB_RESPAWN` and `EBB_MASTER_PID`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Slot number, 1..=N (`None` when not run by ebb).
    pub id: Option<u32>,
    /// How many times this slot has been (re)started, per the master.
    pub respawn: Option<u64>,
    /// The master's pid.
    pub master_pid: Option<u32>,
}

impl WorkerInfo {
    /// Reads the `EBB_*` identity variables; missing or unparsable values are `None`.
    pub fn from_env() -> WorkerInfo {
        let get = |k: &str| std::env::var(k).ok();
        WorkerInfo::parse(
            get("EBB_WORKER_ID").as_deref(),
            get("EBB_RESPAWN").as_deref(),
            get("EBB_MASTER_PID").as_deref(),
        )
    }

    fn parse(id: Option<&str>, respawn: Option<&str>, master: Option<&str>) -> WorkerInfo {
        WorkerInfo {
            id: id.and_then(|v| v.trim().parse().ok()),
            respawn: respawn.and_then(|v| v.trim().parse().ok()),
            master_pid: master.and_then(|v| v.trim().parse().ok()),
        }
    }

    /// Whether an ebb master started us.
    pub fn under_ebb(&self) -> bool {
        self.master_pid.is_some()
    }
}

/// The drain deadline to keep on our own: `EBB_DRAIN_TIMEOUT` when the master that started
/// us is gone (killed: its `PR_SET_PDEATHSIG` started our drain), else `None` — a live master
/// enforces the deadline itself and reports what was lost.
pub fn orphan_drain_timeout() -> Option<std::time::Duration> {
    let master: u32 = std::env::var("EBB_MASTER_PID").ok()?.trim().parse().ok()?;
    let parent = nix::unistd::getppid().as_raw();
    orphan_timeout(
        master,
        parent,
        std::env::var("EBB_DRAIN_TIMEOUT").ok().as_deref(),
    )
}

fn orphan_timeout(master: u32, parent: i32, timeout: Option<&str>) -> Option<std::time::Duration> {
    if i64::from(master) == i64::from(parent) {
        return None;
    }
    let secs: f64 = timeout?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}

/// Call when a drain starts. If the master is gone, a thread ends the process once
/// `EBB_DRAIN_TIMEOUT` has passed, first saying what is still running — one line on stderr,
/// and, when the master keeps a lost-work journal (`EBB_LOST_WORK_LOG`), the same JSON line
/// the master would have appended — so a worker never outlives its master by more than the
/// drain timeout and nothing is lost silently.
pub fn bound_orphan_drain(reporter: Reporter) {
    let Some(limit) = orphan_drain_timeout() else {
        return;
    };
    let started = std::time::Instant::now();
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        let names = reporter.job_names();
        let line = format!(
            "ebb worker pid {}: the master is gone and the drain timeout ({:.1}s) passed; \
             exiting with work unfinished: {} requests in flight, {} jobs [{}]\n",
            std::process::id(),
            limit.as_secs_f64(),
            reporter.inflight(),
            reporter.jobs(),
            names.join(", ")
        );
        // One write: a line split over several writes could interleave with others'.
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        if let Some(path) = std::env::var_os("EBB_LOST_WORK_LOG") {
            let record = orphan_loss_record(&reporter, &names, started.elapsed());
            let appended = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
                .and_then(|mut f| {
                    std::io::Write::write_all(&mut f, format!("{record}\n").as_bytes())
                });
            if let Err(e) = appended {
                let _ = std::io::Write::write_all(
                    &mut std::io::stderr().lock(),
                    format!(
                        "ebb worker pid {}: cannot append to the lost-work log {}: {e}\n",
                        std::process::id(),
                        std::path::Path::new(&path).display()
                    )
                    .as_bytes(),
                );
            }
        }
        std::process::exit(1);
    });
}

/// The lost-work journal line for work an orphaned worker gives up: the master's fields,
/// with `"orphan": true` and the reason.
fn orphan_loss_record(
    reporter: &Reporter,
    names: &[String],
    drained: std::time::Duration,
) -> serde_json::Value {
    let info = WorkerInfo::from_env();
    let num = |k: &str| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    serde_json::json!({
        "time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        "worker": info.id,
        "pid": std::process::id(),
        "respawn": info.respawn,
        "generation": num("EBB_CONFIG_GENERATION"),
        "reason": "the master is gone and the drain timeout passed",
        "orphan": true,
        "requests_in_flight": reporter.inflight(),
        "jobs": reporter.jobs(),
        "job_names": names,
        "drained_s": drained.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn orphan_timeout_only_without_the_master() {
        use std::time::Duration;
        let cases = [
            (100, 100, Some("5"), None),
            (100, 1, Some("5"), Some(Duration::from_secs(5))),
            (100, 1, Some("0.5"), Some(Duration::from_millis(500))),
            (100, 1, None, None),
            (100, 1, Some("soon"), None),
            (100, 1, Some("-1"), None),
        ];
        for (master, parent, timeout, want) in cases {
            assert_eq!(
                super::orphan_timeout(master, parent, timeout),
                want,
                "{master} {parent} {timeout:?}"
            );
        }
    }

    use super::*;

    #[test]
    fn worker_info() {
        let w = WorkerInfo::parse(Some("2"), Some("7"), Some("100"));
        assert_eq!(
            w,
            WorkerInfo {
                id: Some(2),
                respawn: Some(7),
                master_pid: Some(100)
            }
        );
        assert!(w.under_ebb());
        let w = WorkerInfo::parse(None, Some("x"), None);
        assert_eq!(w, WorkerInfo::default());
        assert!(!w.under_ebb());
    }
}

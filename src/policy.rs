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
//!
//! By concern: `types` (params, events, actions, the worker and slot records), `notify`
//! (what a datagram changes), `exit` (exits, lost work, back-off), `lifecycle` (stop and
//! reload), `recycle` (what must be replaced and why), `spawn` (starting workers under the
//! surge cap), `deadlines` (time passing and the next wake-up). This file holds the state and
//! [`Policy::handle`], which routes each event and then reconciles.

mod counters;
pub mod cron;
pub mod daemons;
mod deadlines;
mod exit;
mod lifecycle;
mod notify;
mod recycle;
mod spawn;
mod types;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use counters::{BUCKETS, Counters, Histogram, LastRecycle};
pub use types::*;

use exit::Cause;

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
    counters: Counters,
}

fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// A configured limit as given (`2s`, `1.5s`, `0.25s`).
pub(crate) fn given(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
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
            counters: Counters::default(),
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

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Slot `slot`'s (1-based) last recycle, when it had one.
    pub fn last_recycle(&self, slot: usize) -> Option<LastRecycle> {
        self.slots.get(slot.checked_sub(1)?)?.last_recycle
    }

    /// Every serving slot has a ready worker of the current configuration, and no replacement
    /// is under way: the state systemd's READY=1 announces.
    pub fn settled(&self) -> bool {
        self.mode == Mode::Running
            && self.slots.iter().all(|s| {
                s.replacement.is_none()
                    && s.current
                        .and_then(|id| self.workers.get(&id))
                        .is_some_and(|w| w.state == State::Ready && w.generation == self.generation)
            })
    }

    /// A graceful stop is waiting out `--shutdown-delay` until this moment.
    pub fn shutdown_delay_until(&self) -> Option<Instant> {
        match self.mode {
            Mode::Delaying { until } => Some(until),
            _ => None,
        }
    }

    /// How long a graceful stop asked now serves on before it begins: the shutdown delay
    /// while running with one; `None` once delaying or stopping, or without a delay.
    pub fn graceful_stop_delay(&self) -> Option<Duration> {
        let delay = self.params.shutdown_delay;
        (matches!(self.mode, Mode::Running) && !delay.is_zero()).then_some(delay)
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
                // A fork server answers later than an exec: a reload (or a scale) may have
                // taken the worker's place meanwhile.
                let orphan = self.workers.get(&id).is_some_and(|w| {
                    !self
                        .slots
                        .get(w.slot - 1)
                        .is_some_and(|s| s.current == Some(id) || s.replacement == Some(id))
                });
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
                    } else if orphan && w.state == State::Starting {
                        begin_drain(w, now, &mut out);
                    }
                }
            }
            Event::SpawnFailed { id, error } => {
                self.spawn_failed(id, &error, Cause::Worker, now, &mut out)
            }
            Event::SpawnOutOfFds { id, error } => {
                self.spawn_failed(id, &error, Cause::MasterFds, now, &mut out)
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
            Event::AddressSpace { samples } => {
                for (id, kb) in samples {
                    if let Some(w) = self.workers.get_mut(&id) {
                        w.vsz_kb = Some(kb);
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
            Event::Scale { processes } => self.scale(processes, &mut out),
            Event::Recycle { slot } => {
                if !self.is_stopping() {
                    self.recycle_slot(slot, now, &mut out);
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

    /// `ebb scale N`: the slots beyond N drain in `reconcile`; new ones are filled there.
    fn scale(&mut self, processes: usize, out: &mut Vec<Action>) {
        if self.is_stopping() {
            return;
        }
        if processes == 0 {
            log(
                out,
                Level::Warn,
                None,
                "scale",
                "scale to 0 ignored: at least one worker must run (stop ebb instead)".into(),
            );
            return;
        }
        let before = self.params.processes;
        self.params.processes = processes;
        log(
            out,
            Level::Info,
            None,
            "scale",
            format!("scaling from {before} to {processes} processes"),
        );
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

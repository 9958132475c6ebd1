//! A worker exited (or never started): what it lost, and the back-off before its slot is
//! tried again.

use std::time::Instant;

use super::*;

/// Why a worker could not start, for what the log advises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cause {
    /// The app or the worker's command (the usual case: its output says more).
    Worker,
    /// Out of file descriptors under the master's open-files limit (its workers inherit it).
    MasterFds,
}

impl Policy {
    pub(super) fn on_exit(
        &mut self,
        pid: i32,
        status: ExitStatus,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(id) = self
            .workers
            .values()
            .find(|w| w.pid == Some(pid))
            .map(|w| w.id)
        else {
            return; // not ours (a grandchild re-parented to us, say)
        };
        let w = self.workers.remove(&id).expect("found above");
        self.counters.requests_retired += w.requests.unwrap_or(0);
        self.counters.tx_retired += w.tx;
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
        // A fast stop told every worker to quit, draining ones too: their exit is no surprise.
        let quitting = matches!(
            self.mode,
            Mode::Stopping {
                graceful: false,
                ..
            }
        );
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
                self.counters.drain_seconds.observe(took);
                if !clean && !quitting {
                    self.counters.crashes += 1;
                }
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
                } else if quitting {
                    log(
                        out,
                        Level::Info,
                        Some(r),
                        "quit",
                        format!(
                            "draining worker quit ({status}) after {} of its drain",
                            secs(took)
                        ),
                    );
                    self.report_lost(&w, &format!("fast stop ({status})"), now, out);
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
            State::Starting | State::Ready if quitting => {
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
                self.counters.crashes += 1;
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

    /// The master could not start worker `id`: say why, forget it, back off (or give up).
    pub(super) fn spawn_failed(
        &mut self,
        id: WorkerId,
        error: &str,
        cause: Cause,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(w) = self.workers.remove(&id) else {
            return;
        };
        let stopping = self.is_stopping();
        // Out of descriptors while ebb stops: the other slots fail for the reason the first
        // one gave, said once.
        if !(cause == Cause::MasterFds && stopping) {
            let advice = match cause {
                Cause::Worker => "",
                Cause::MasterFds => ": out of file descriptors",
            };
            log(
                out,
                Level::Error,
                Some(w.reference()),
                "spawn-failed",
                format!("could not start worker: {error}{advice}"),
            );
        }
        out.push(Action::Forget { id });
        self.start_failed_because(w.slot, cause, now, out);
    }

    /// A worker of `slot` died before READY: back off.
    pub(super) fn start_failed(&mut self, slot: usize, now: Instant, out: &mut Vec<Action>) {
        self.start_failed_because(slot, Cause::Worker, now, out);
    }

    /// A worker of `slot` died before READY or could not be started: back off, or give up
    /// when no worker ever became ready (after --start-attempts failures of the app; at once
    /// when out of file descriptors with no worker running, which a retry does not mend).
    fn start_failed_because(
        &mut self,
        slot: usize,
        cause: Cause,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let stopping = self.is_stopping();
        let Some(s) = self.slots.get_mut(slot - 1) else {
            return;
        };
        s.failures += 1;
        let failures = s.failures;
        let attempts = self.params.start_attempts;
        if stopping {
            s.retry_at = None; // nothing is started again while ebb stops
            return;
        }
        // Out of descriptors with no worker running, none ever ready: retrying cannot help.
        // (With one running, ebb serves on it and keeps retrying the others.)
        if cause == Cause::MasterFds
            && !self.ever_ready
            && !self.workers.values().any(|w| w.pid.is_some())
        {
            s.retry_at = None;
            log(
                out,
                Level::Error,
                None,
                "need-fds",
                format!(
                    "no worker could be started: giving up, exit status {EXIT_NO_APP}. Raise \
                     the open-files limit (ulimit -n, or LimitNOFILE= in a systemd unit)"
                ),
            );
            self.exit_code = Some(EXIT_NO_APP);
            self.on_stop(false, now, out);
            return;
        }
        if !self.ever_ready && attempts > 0 && failures >= attempts {
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
                 ({})",
                s.failures,
                if s.failures == 1 { "" } else { "s" },
                secs(delay),
                match cause {
                    Cause::Worker => "fix the app or its command; see its output above",
                    Cause::MasterFds => "raise the open-files limit",
                }
            ),
        );
    }

    pub(super) fn report_lost(
        &mut self,
        w: &Worker,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if w.inflight == 0 && w.jobs == 0 {
            return;
        }
        self.counters.jobs_lost += w.jobs;
        self.counters.requests_lost += w.inflight;
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
}

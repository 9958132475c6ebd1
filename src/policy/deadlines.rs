//! Time passing: ready and drain deadlines, fast-stop kills, RSS sampling, and the nearest
//! moment the loop must wake.

use std::time::Instant;

use super::*;

impl Policy {
    pub(super) fn check_deadlines(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Mode::Delaying { until } = self.mode
            && now >= until
        {
            self.on_stop(true, now, out);
        }
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
                    let (drain, why) = w.drain_limit(&p);
                    let limit = match self.mode {
                        Mode::Stopping {
                            graceful: false,
                            since: quit,
                        } => (since + drain).min(quit + FAST_STOP_GRACE),
                        _ => since + drain,
                    };
                    if now >= limit {
                        let pid = w.pid.expect("draining workers have pids");
                        w.state = State::Killing;
                        w.kill_reason = Some(why);
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

    pub(super) fn schedule_rss(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.params.reload_on_rss_mb.is_none() && self.params.reload_on_as_mb.is_none() {
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
                    consider(since + w.drain_limit(p).0);
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
        if let Mode::Delaying { until } = self.mode {
            consider(until);
        }
        best
    }
}

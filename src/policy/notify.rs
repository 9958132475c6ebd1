//! What a worker's notify datagram changes: its counts, its job names, READY, the watchdog.

use std::time::{Duration, Instant};

use super::*;
use crate::notify::Update;

impl Policy {
    pub(super) fn on_notify(
        &mut self,
        id: WorkerId,
        u: Update,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        w.last_report = now;
        if let Some(r) = u.requests {
            w.requests = Some(r);
        }
        if let Some(n) = u.tx {
            w.tx = n;
        }
        if let Some(n) = u.rt_us {
            w.rt_us = n;
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
}

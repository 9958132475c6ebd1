//! The master-wide requests: stop (graceful or fast) and reload.

use std::time::Instant;

use super::*;

impl Policy {
    pub(super) fn on_stop(&mut self, graceful: bool, now: Instant, out: &mut Vec<Action>) {
        if let Some(delay) = self.graceful_stop_delay().filter(|_| graceful) {
            self.mode = Mode::Delaying { until: now + delay };
            log(
                out,
                Level::Info,
                None,
                "shutdown-delay",
                format!(
                    "graceful stop in {}: serving meanwhile, as the endpoint is removed \
                     (--shutdown-delay; another TERM stops at once)",
                    given(delay)
                ),
            );
            return;
        }
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

    pub(super) fn on_reload(&mut self, params: Params, now: Instant, out: &mut Vec<Action>) {
        if self.is_stopping() {
            return;
        }
        if self.shutdown_delay_until().is_some() {
            log(
                out,
                Level::Info,
                None,
                "reload",
                "reload ignored: ebb is shutting down (--shutdown-delay)".into(),
            );
            return;
        }
        self.generation += 1;
        self.counters.reloads += 1;
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
}

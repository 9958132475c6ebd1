//! Starting workers: empty slots first, then replacements, under the surge cap.

use std::time::Instant;

use super::*;

impl Policy {
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

    pub(super) fn spawn_needed(&mut self, now: Instant, out: &mut Vec<Action>) {
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
            let pending = self.replacements_pending();
            let wait = if !has_current {
                None
            } else if serving >= cap {
                Some(format!(
                    "{serving} of at most {cap} workers are starting or serving (--processes {} + \
                     --max-surge {})",
                    self.params.processes, self.params.max_surge
                ))
            } else if draining + pending >= draining_cap {
                Some(format!(
                    "{draining} replaced workers are draining and {pending} more will once their \
                     replacements are ready (--max-draining {draining_cap})"
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
                    tx: 0,
                    rt_us: 0,
                    inflight: 0,
                    jobs: 0,
                    job_names: Vec::new(),
                    status: None,
                    stopping: false,
                    stuck: false,
                    rss_kb: None,
                    vsz_kb: None,
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
}

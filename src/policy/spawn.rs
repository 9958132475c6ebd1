//! Starting workers: empty slots first, then replacements, under the surge cap.

use std::time::Instant;

use super::*;

impl Policy {
    pub(super) fn alive(&self) -> usize {
        self.workers.len()
    }

    pub(super) fn spawn_needed(&mut self, now: Instant, out: &mut Vec<Action>) {
        let cap = self.params.processes + self.params.max_surge;
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
            // replacement waits for a free place under the surge cap.
            if has_current && self.alive() >= cap {
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
                        format!(
                            "recycle waits: {} of at most {} worker processes exist \
                             (--processes {} + --max-surge {}); it keeps serving meanwhile",
                            self.workers.len(),
                            cap,
                            self.params.processes,
                            self.params.max_surge
                        ),
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
}

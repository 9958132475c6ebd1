//! Recycling: which workers must be replaced and why, replacements taking over their slot,
//! slots removed by scaling down.

use std::time::Instant;

use super::*;

impl Policy {
    /// Slots beyond `processes` (after SIGTTOU or a reload with fewer processes) are drained.
    pub(super) fn drain_removed_slots(&mut self, now: Instant, out: &mut Vec<Action>) {
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
    pub(super) fn promote_ready_replacements(&mut self, now: Instant, out: &mut Vec<Action>) {
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
                if let Some(since) = w.recycle_since {
                    self.counters
                        .replace_seconds
                        .observe(now.saturating_duration_since(since));
                }
                begin_drain(w, now, out);
            }
        }
    }

    /// `ebb recycle N`: replace slot N's serving worker, as for any other recycle.
    pub(super) fn recycle_slot(&mut self, slot: usize, now: Instant, out: &mut Vec<Action>) {
        let Some(id) = self.slots.get(slot.wrapping_sub(1)).and_then(|s| s.current) else {
            log(
                out,
                Level::Warn,
                None,
                "recycle",
                format!(
                    "recycle of worker {slot} ignored: there are workers 1 to {}",
                    self.slots.len()
                ),
            );
            return;
        };
        let Some(w) = self.workers.get_mut(&id) else {
            return;
        };
        if w.recycle.is_some() || w.is_draining() {
            return;
        }
        w.recycle = Some(Reason::Command);
        w.recycle_since = Some(now);
        self.counters.recycled(Reason::Command);
        self.slots[slot - 1].last_recycle = Some(LastRecycle {
            reason: Reason::Command,
            at: now,
        });
        let r = w.reference();
        log(
            out,
            Level::Info,
            Some(r),
            "recycle",
            "recycling worker (command: asked for)".into(),
        );
    }

    /// Decide which serving workers must be replaced, and why.
    pub(super) fn mark_recycles(&mut self, now: Instant, out: &mut Vec<Action>) {
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
            } else if let (Some(mb), Some(kb)) = (p.reload_on_as_mb, w.vsz_kb)
                && kb >= mb * 1024
            {
                Some(Reason::AddressSpace)
            } else {
                None
            };
            if let Some(reason) = reason {
                w.recycle = Some(reason);
                w.recycle_since = Some(now);
                self.counters.recycled(reason);
                if let Some(s) = self.slots.get_mut(w.slot - 1) {
                    s.last_recycle = Some(LastRecycle { reason, at: now });
                }
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
                    Reason::AddressSpace => format!(
                        "address space {} MiB over {} MiB",
                        w.vsz_kb.unwrap_or(0) / 1024,
                        p.reload_on_as_mb.unwrap_or(0)
                    ),
                    Reason::Reload => format!("configuration generation {generation}"),
                    Reason::Stuck => "a request is stuck".into(),
                    Reason::Command => "asked for".into(),
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
}

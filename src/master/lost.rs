//! Work lost to a kill: said at ERROR, and appended to the lost-work journal when set.

use std::io::Write;

use tracing::error;

use super::Master;
use crate::policy::LostWork;

impl Master {
    pub(super) fn record_lost(&mut self, lost: &LostWork) {
        let names: Vec<String> = lost
            .job_names
            .iter()
            .map(|(n, age)| format!("{n} (running {:.1}s)", age.as_secs_f64()))
            .collect();
        // Workers name at most 20 jobs: say when the list is not all of them.
        let shown = if !names.is_empty() && (names.len() as u64) < lost.jobs {
            format!(" ({} of {} jobs named)", names.len(), lost.jobs)
        } else {
            String::new()
        };
        let generation = self
            .io
            .get(&lost.worker.id)
            .map(|io| io.generation)
            .or_else(|| {
                self.gone
                    .iter()
                    .find(|g| g.0 == lost.worker.id)
                    .map(|g| g.1)
            })
            .unwrap_or(0);
        error!(
            worker = lost.worker.slot,
            pid = lost.worker.pid.unwrap_or(0),
            generation,
            respawn = lost.worker.respawn,
            reason = %lost.reason,
            "LOST WORK: {} requests in flight and {} background jobs were lost{}{} \
             (as last reported by the worker {:.0} ms before)",
            lost.requests_in_flight,
            lost.jobs,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            },
            shown,
            lost.reported_ago.as_secs_f64() * 1000.0
        );
        if let Some(f) = &mut self.lost_log {
            let line = serde_json::json!({
                "time": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                "worker": lost.worker.slot,
                "pid": lost.worker.pid,
                "generation": generation,
                "respawn": lost.worker.respawn,
                "reason": lost.reason,
                "requests_in_flight": lost.requests_in_flight,
                "jobs": lost.jobs,
                "job_names": lost.job_names.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "job_ages_s": lost.job_names.iter().map(|(_, a)| a.as_secs_f64()).collect::<Vec<_>>(),
                "lived_s": lost.lived.as_secs_f64(),
                "reported_ms_before": lost.reported_ago.as_millis() as u64,
            });
            if let Err(e) = writeln!(f, "{line}") {
                error!("cannot append to the lost-work log: {e}");
            }
        }
    }
}

//! Prometheus text exposition (format 0.0.4) of the stats document: the same state as the
//! stats server and `ebb status`, in another shape. Pure.

use std::fmt::Write;

use serde_json::Value;

use crate::policy::BUCKETS;

/// Every recycle reason, so each counter exists from the start (rate() needs a zero).
const REASONS: &[&str] = &[
    "max-requests",
    "max-worker-lifetime",
    "reload-on-rss",
    "reload",
    "harakiri",
    "watchdog",
    "command",
];
const STATES: &[&str] = &["starting", "ready", "draining", "killing"];

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, ty: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {ty}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, String)], v: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(self.0, "{name}{{{}}} {v}", l.join(","));
        }
    }
    fn one(&mut self, name: &str, ty: &str, help: &str, v: impl std::fmt::Display) {
        self.head(name, ty, help);
        self.sample(name, &[], v);
    }
    fn histogram(&mut self, name: &str, help: &str, h: &Value) {
        self.head(name, "histogram", help);
        let counts: Vec<u64> = h["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c.as_u64().unwrap_or(0))
            .collect();
        // Cumulative in the document; a short list repeats its last count.
        let last = counts.last().copied().unwrap_or(0);
        for (b, c) in BUCKETS
            .iter()
            .zip(counts.iter().chain(std::iter::repeat(&last)))
        {
            self.sample(&format!("{name}_bucket"), &[("le", format!("{b}"))], c);
        }
        let count = h["count"].as_u64().unwrap_or(0);
        self.sample(&format!("{name}_bucket"), &[("le", "+Inf".into())], count);
        self.sample(
            &format!("{name}_sum"),
            &[],
            h["sum"].as_f64().unwrap_or(0.0),
        );
        self.sample(&format!("{name}_count"), &[], count);
    }
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The metrics text for one stats document.
pub fn render(doc: &Value) -> String {
    let ebb = &doc["ebb"];
    let workers = doc["workers"].as_array().cloned().unwrap_or_default();
    let mut o = Out(String::new());
    o.head("ebb_workers", "gauge", "Worker processes by state.");
    for s in STATES {
        let c = workers.iter().filter(|w| w["state"] == *s).count();
        o.sample("ebb_workers", &[("state", s.to_string())], c);
    }
    o.one(
        "ebb_processes",
        "gauge",
        "Worker processes configured (--processes, ebb scale).",
        n(&ebb["processes"]),
    );
    let threads = n(&ebb["threads_per_worker"]).max(1);
    let busy: u64 = workers.iter().map(|w| n(&w["in_flight"])).sum();
    let idle: u64 = workers
        .iter()
        .filter(|w| w["state"] == "ready")
        .map(|w| threads.saturating_sub(n(&w["in_flight"])))
        .sum();
    o.head(
        "ebb_worker_threads",
        "gauge",
        "Request threads of serving workers, busy (a request in flight) or idle (--threads; one per worker for other programs).",
    );
    o.sample("ebb_worker_threads", &[("state", "busy".into())], busy);
    o.sample("ebb_worker_threads", &[("state", "idle".into())], idle);
    o.one(
        "ebb_requests_total",
        "counter",
        "Requests handled, as reported by the workers (X_EBB_REQUESTS), including exited ones.",
        n(&ebb["requests_total"]),
    );
    o.one(
        "ebb_response_bytes_total",
        "counter",
        "Response bytes sent, head and body, as reported by the workers (X_EBB_TX), including exited ones.",
        n(&ebb["response_bytes_total"]),
    );
    o.one(
        "ebb_requests_in_flight",
        "gauge",
        "Requests in progress (X_EBB_INFLIGHT).",
        busy,
    );
    o.one(
        "ebb_jobs_running",
        "gauge",
        "Background jobs in progress (X_EBB_JOBS).",
        n(&ebb["jobs"]),
    );
    o.one(
        "ebb_jobs_lost_total",
        "counter",
        "Background jobs lost to a kill or a crash.",
        n(&ebb["jobs_lost"]),
    );
    o.one(
        "ebb_requests_lost_total",
        "counter",
        "Requests in flight lost to a kill or a crash.",
        n(&ebb["requests_lost"]),
    );
    o.head(
        "ebb_recycles_total",
        "counter",
        "Worker recycles decided, by reason.",
    );
    for r in REASONS {
        o.sample(
            "ebb_recycles_total",
            &[("reason", r.to_string())],
            n(&ebb["recycles"][*r]),
        );
    }
    o.one(
        "ebb_worker_crashes_total",
        "counter",
        "Workers that exited unexpectedly (or uncleanly while draining).",
        n(&ebb["crashes"]),
    );
    o.one(
        "ebb_reloads_total",
        "counter",
        "Configuration reloads applied.",
        n(&ebb["reloads"]),
    );
    o.one(
        "ebb_config_generation",
        "gauge",
        "The configuration generation workers are started with.",
        n(&ebb["config_generation"]),
    );
    o.histogram(
        "ebb_drain_duration_seconds",
        "From the drain signal to the worker's exit.",
        &ebb["drain_seconds"],
    );
    o.histogram(
        "ebb_replacement_ready_seconds",
        "From a recycle's decision to its replacement being ready and taking over.",
        &ebb["replace_seconds"],
    );
    o.head(
        "ebb_worker_rss_bytes",
        "gauge",
        "Resident memory of each worker process (what uWSGI reports as rss).",
    );
    for w in &workers {
        o.sample(
            "ebb_worker_rss_bytes",
            &[
                ("worker", w["id"].to_string()),
                ("pid", w["pid"].to_string()),
            ],
            n(&w["rss"]),
        );
    }
    let sockets = doc["sockets"].as_array().cloned().unwrap_or_default();
    o.head(
        "ebb_listen_queue",
        "gauge",
        "Connections waiting to be accepted on a listening TCP socket.",
    );
    for s in &sockets {
        if !s["queue_known"].as_bool().unwrap_or(true) {
            continue;
        }
        o.sample(
            "ebb_listen_queue",
            &[("socket", s["name"].as_str().unwrap_or("").to_string())],
            n(&s["queue"]),
        );
    }
    o.head(
        "ebb_listen_queue_limit",
        "gauge",
        "The listen backlog of a TCP socket ebb bound (--listen, capped by net.core.somaxconn).",
    );
    for s in &sockets {
        if n(&s["max_queue"]) == 0 {
            continue;
        }
        o.sample(
            "ebb_listen_queue_limit",
            &[("socket", s["name"].as_str().unwrap_or("").to_string())],
            n(&s["max_queue"]),
        );
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_counters_histograms_and_labels() {
        let doc = json!({
            "sockets": [{"name": "127.0.0.1:8000", "queue": 3, "max_queue": 1024}],
            "workers": [
                {"id": 1, "pid": 10, "state": "ready", "in_flight": 2, "rss": 1000},
                {"id": 1, "pid": 9, "state": "draining", "in_flight": 1, "rss": 2000},
            ],
            "ebb": {"processes": 1, "threads_per_worker": 8, "requests_total": 5,
                    "jobs": 4, "recycles": {"reload": 2}, "crashes": 1,
                    "drain_seconds": {"buckets": [0, 0, 0, 0, 1, 1], "sum": 0.9, "count": 1}},
        });
        let t = render(&doc);
        for want in [
            "ebb_workers{state=\"ready\"} 1\n",
            "ebb_workers{state=\"draining\"} 1\n",
            "ebb_worker_threads{state=\"busy\"} 3\n",
            "ebb_worker_threads{state=\"idle\"} 6\n",
            "ebb_recycles_total{reason=\"reload\"} 2\n",
            "ebb_recycles_total{reason=\"command\"} 0\n",
            "ebb_drain_duration_seconds_bucket{le=\"0.5\"} 0\n",
            "ebb_drain_duration_seconds_bucket{le=\"1\"} 1\n",
            "ebb_drain_duration_seconds_bucket{le=\"+Inf\"} 1\n",
            "ebb_drain_duration_seconds_count 1\n",
            "ebb_worker_rss_bytes{worker=\"1\",pid=\"9\"} 2000\n",
            "ebb_listen_queue{socket=\"127.0.0.1:8000\"} 3\n",
            "ebb_listen_queue_limit{socket=\"127.0.0.1:8000\"} 1024\n",
            "# TYPE ebb_requests_total counter\n",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

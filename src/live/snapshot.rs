//! One picture of the master's state, built from what the policy already holds (and the
//! RSS and listen queues measured when someone asks). The stats JSON, the Prometheus text and
//! `ebb status` are renderings of it. Pure: time and measurements are passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::policy::{Counters, Policy, State, WorkerId};

/// A listening socket and its accept queue (from /proc/net/tcp for TCP sockets).
#[derive(Debug, Clone, PartialEq)]
pub struct ListenInfo {
    pub name: String,
    pub proto: String,
    /// Connections waiting to be accepted, and the backlog limit; `None` when unknown
    /// (Unix sockets).
    pub queue: Option<u64>,
    pub max_queue: Option<u64>,
}

/// A fork server (`--fork-server`), as the master holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ForkServerInfo {
    pub pid: i32,
    pub generation: u64,
    /// importing, ready, lazy (its workers import the app themselves) or retired.
    pub state: &'static str,
    /// How long the import took, once it finished.
    pub import_s: Option<f64>,
    pub started: Instant,
    /// When it entered its state.
    pub since: Instant,
}

/// The fork servers under the stats document's `fork_servers` key (ebb's own).
pub fn fork_servers_json(list: &[ForkServerInfo], now: Instant) -> Value {
    list.iter()
        .map(|f| {
            json!({
                "pid": f.pid,
                "config_generation": f.generation,
                "state": f.state,
                "import_s": f.import_s.map(|s| (s * 1000.0).round() / 1000.0),
                "age_s": round1(now.saturating_duration_since(f.started)),
                "since_s": round1(now.saturating_duration_since(f.since)),
            })
        })
        .collect()
}

/// What the snapshot needs besides the policy.
pub struct Inputs<'a> {
    pub now: Instant,
    pub wall: SystemTime,
    pub master_pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
    pub started: Instant,
    /// Memory of each worker process (see [`super::worker_memory_kb`]).
    pub memory: &'a HashMap<WorkerId, super::Memory>,
    pub listen: Vec<ListenInfo>,
    /// Request threads per worker (`--threads`; 1 for other programs).
    pub threads_per_worker: u64,
}

fn histogram(h: &crate::policy::Histogram) -> Value {
    let cum = h.cumulative();
    json!({
        "buckets": cum[..cum.len() - 1].iter().map(|(_, c)| c).collect::<Vec<_>>(),
        "le": crate::policy::BUCKETS,
        "sum": h.sum,
        "count": h.count,
    })
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Starting => "starting",
        State::Ready => "ready",
        State::Draining { .. } => "draining",
        State::Killing => "killing",
    }
}

fn unix_secs(wall: SystemTime, now: Instant, then: Instant) -> u64 {
    let ago = now.saturating_duration_since(then);
    wall.checked_sub(ago)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn round1(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

/// The stats document: uWSGI's stats server fields with their types (so `uwsgitop`, the
/// Telegraf, Datadog and Netdata collectors read it unchanged), plus ebb's own under names
/// uWSGI does not use. The control socket's `status` answers the same document.
pub fn stats_json(p: &Policy, i: &Inputs<'_>) -> Value {
    let mut workers: Vec<_> = p.workers().collect();
    // By slot; in a slot the serving worker before its replacement and the draining one.
    workers.sort_by_key(|w| {
        (
            w.slot,
            matches!(w.state, State::Draining { .. } | State::Killing),
            w.id,
        )
    });
    let list: Vec<Value> = workers
        .iter()
        .map(|w| {
            let requests = w.requests.unwrap_or(0);
            let mem = i.memory.get(&w.id).copied();
            let rss = mem.map(|m| m.rss_kb).or(w.rss_kb).unwrap_or(0) * 1024;
            let vsz = mem.map_or(0, |m| m.vsz_kb) * 1024;
            let accepting = w.state == State::Ready && !w.stopping;
            let mut jobs: Vec<(&String, Duration)> = w
                .job_names
                .iter()
                .map(|(n, t)| (n, i.now.saturating_duration_since(*t)))
                .collect();
            jobs.sort_by_key(|j| std::cmp::Reverse(j.1));
            let last = p.last_recycle(w.slot);
            json!({
                "id": w.slot,
                "pid": w.pid.unwrap_or(0),
                "accepting": u8::from(accepting),
                "requests": requests,
                "delta_requests": 0,
                "exceptions": 0,
                "harakiri_count": u8::from(w.stuck),
                "signals": 0,
                "signal_queue": 0,
                "status": if w.inflight > 0 { "busy" } else { "idle" },
                "rss": rss,
                "vsz": vsz,
                // uWSGI's: total request time (µs) and the average per request; ebb's
                // average is the plain mean (uWSGI's halves towards each new request).
                "running_time": w.rt_us,
                "last_spawn": unix_secs(i.wall, i.now, w.started),
                "respawn_count": w.respawn,
                "tx": w.tx,
                "avg_rt": w.rt_us.checked_div(requests).unwrap_or(0),
                "apps": [],
                "cores": [{
                    "id": 0,
                    "requests": requests,
                    "static_requests": 0,
                    "routed_requests": 0,
                    "offloaded_requests": 0,
                    "write_errors": 0,
                    "read_errors": 0,
                    "in_request": w.inflight,
                    "vars": [],
                    "req_info": {},
                }],
                // ebb's own.
                "state": state_name(w.state),
                "config_generation": w.generation,
                "respawn": w.respawn,
                "age_s": round1(i.now.saturating_duration_since(w.started)),
                "in_flight": w.inflight,
                "request_limit": w.request_limit,
                "jobs": w.jobs,
                "job_names": jobs.iter().map(|(n, a)| json!({"name": n, "age_s": round1(*a)})).collect::<Vec<_>>(),
                "draining_s": match w.state {
                    State::Draining { since } => Some(round1(i.now.saturating_duration_since(since))),
                    _ => None,
                },
                "recycling": w.recycle.map(|r| r.as_str()),
                "last_recycle": last.map(|l| json!({
                    "reason": l.reason.as_str(),
                    "ago_s": round1(i.now.saturating_duration_since(l.at)),
                })),
                "worker_status": w.status,
            })
        })
        .collect();
    let queue: u64 = i.listen.iter().filter_map(|l| l.queue).sum();
    let sockets: Vec<Value> = i
        .listen
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "proto": l.proto,
                "queue": l.queue.unwrap_or(0),
                "max_queue": l.max_queue.unwrap_or(0),
                "shared": 0,
                "can_offload": 0,
                "queue_known": l.queue.is_some(),
            })
        })
        .collect();
    let c: &Counters = p.counters();
    let live_requests: u64 = p.workers().map(|w| w.requests.unwrap_or(0)).sum();
    json!({
        "version": format!("ebb-{}", env!("CARGO_PKG_VERSION")),
        "listen_queue": queue,
        "listen_queue_errors": 0,
        "signal_queue": 0,
        "load": queue,
        "pid": i.master_pid,
        "uid": i.uid,
        "gid": i.gid,
        "cwd": i.cwd,
        "locks": [],
        "sockets": sockets,
        "workers": list,
        "ebb": {
            "state": if p.is_stopping() {
                "stopping"
            } else if p.shutdown_delay_until().is_some() {
                "shutdown-delay"
            } else {
                "running"
            },
            "shutdown_in_s": p
                .shutdown_delay_until()
                .map(|t| round1(t.saturating_duration_since(i.now))),
            "config_generation": p.generation(),
            "processes": p.params().processes,
            "max_surge": p.params().max_surge,
            "uptime_s": round1(i.now.saturating_duration_since(i.started)),
            "settled": p.settled(),
            "requests_total": c.requests_retired + live_requests,
            "response_bytes_total": c.tx_retired + p.workers().map(|w| w.tx).sum::<u64>(),
            "recycles": c.recycles,
            "crashes": c.crashes,
            "reloads": c.reloads,
            "jobs_lost": c.jobs_lost,
            "requests_lost": c.requests_lost,
            "in_flight": p.workers().map(|w| w.inflight).sum::<u64>(),
            "jobs": p.workers().map(|w| w.jobs).sum::<u64>(),
            "threads_per_worker": i.threads_per_worker,
            "drain_seconds": histogram(&c.drain_seconds),
            "replace_seconds": histogram(&c.replace_seconds),
        },
    })
}

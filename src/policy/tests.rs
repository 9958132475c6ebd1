//! Table tests for the policy: scripts of events, each step with the actions it must yield.
//!
//! Workers are numbered by the policy from 1 in spawn order (`w1`, `w2`, …); the harness
//! answers every spawn at once with pid `100 + id`. Actions are summarised as short strings
//! (`spawn w3 s1 g2`, `drain w1`, `kill w2`, `lost w2 jobs=1`, `exit 0`); log lines are left
//! out except where a step asks for a log event by name (`log drained`), or by name and a
//! part of its message (`log exit ~errno 2`). `no log watchdog` asserts that a step logs no
//! such event.

use super::*;
use crate::notify::Update;

const MS: u64 = 1;

fn params() -> Params {
    Params {
        processes: 1,
        max_surge: 1,
        max_draining: 1,
        start_attempts: 0,
        drain_timeout: Duration::from_secs(10),
        ready_timeout: Duration::from_secs(5),
        max_requests: None,
        max_requests_delta: 0,
        max_requests_jitter: 0,
        max_worker_lifetime: None,
        max_worker_lifetime_delta: Duration::ZERO,
        reload_on_rss_mb: None,
        reload_on_as_mb: None,
        harakiri_graceful_timeout: None,
        watchdog: None,
        drain_signal: 15,
        shutdown_delay: Duration::ZERO,
    }
}

#[derive(Clone, Debug)]
enum In {
    Tick,
    Ready(u64),
    Requests(u64, u64),
    Jobs(u64, u64, &'static [&'static str]),
    Inflight(u64, u64),
    Exit(u64, i32),
    Killed(u64),
    Signaled(u64, i32),
    Stop,
    Quit,
    Reload(Params),
    Ttin,
    Ttou,
    RssKb(u64, u64),
    /// The address space of worker N's group, in KiB.
    VszKb(u64, u64),
    Stuck(u64),
    /// `WATCHDOG=1`.
    Watchdog(u64),
    /// `EXTEND_TIMEOUT_USEC=N`.
    Extend(u64, u64),
    /// `ERRNO=N`.
    Errno(u64, i32),
    /// `ebb scale N`.
    Scale(usize),
    /// `ebb recycle SLOT`.
    Recycle(usize),
}

struct Step {
    at_ms: u64,
    input: In,
    want: &'static [&'static str],
}

fn step(at_ms: u64, input: In, want: &'static [&'static str]) -> Step {
    Step { at_ms, input, want }
}

fn pid(id: u64) -> i32 {
    100 + id as i32
}

struct Harness {
    p: Policy,
    t0: Instant,
}

impl Harness {
    fn new(params: Params) -> Self {
        Harness {
            p: Policy::new(params, 42),
            t0: Instant::now(),
        }
    }

    fn feed(&mut self, at_ms: u64, e: Event) -> Vec<Action> {
        let now = self.t0 + Duration::from_millis(at_ms * MS);
        let mut out = self.p.handle(now, e);
        // Answer spawns at once, as the master does.
        let mut i = 0;
        while i < out.len() {
            if let Action::Spawn { id, .. } = out[i] {
                let more = self.p.handle(now, Event::Spawned { id, pid: pid(id) });
                out.extend(more);
            }
            i += 1;
        }
        out
    }

    fn input(&mut self, at_ms: u64, input: In) -> Vec<Action> {
        let notify = |id, update| Event::Notify { id, update };
        let e = match input {
            In::Tick => Event::Tick,
            In::Ready(id) => notify(
                id,
                Update {
                    ready: true,
                    requests: Some(0),
                    ..Default::default()
                },
            ),
            In::Requests(id, n) => notify(
                id,
                Update {
                    requests: Some(n),
                    ..Default::default()
                },
            ),
            In::Jobs(id, n, names) => notify(
                id,
                Update {
                    jobs: Some(n),
                    job_names: Some(names.iter().map(|s| s.to_string()).collect()),
                    ..Default::default()
                },
            ),
            In::Inflight(id, n) => notify(
                id,
                Update {
                    inflight: Some(n),
                    ..Default::default()
                },
            ),
            In::Stuck(id) => notify(
                id,
                Update {
                    stuck: Some(true),
                    ..Default::default()
                },
            ),
            In::Watchdog(id) => notify(
                id,
                Update {
                    watchdog: true,
                    ..Default::default()
                },
            ),
            In::Extend(id, usec) => notify(
                id,
                Update {
                    extend_timeout_usec: Some(usec),
                    ..Default::default()
                },
            ),
            In::Errno(id, n) => notify(
                id,
                Update {
                    errno: Some(n),
                    ..Default::default()
                },
            ),
            In::Exit(id, code) => Event::Exited {
                pid: pid(id),
                status: ExitStatus::Code(code),
            },
            In::Killed(id) => Event::Exited {
                pid: pid(id),
                status: ExitStatus::Signal(9),
            },
            In::Signaled(id, sig) => Event::Exited {
                pid: pid(id),
                status: ExitStatus::Signal(sig),
            },
            In::Stop => Event::Stop { graceful: true },
            In::Quit => Event::Stop { graceful: false },
            In::Reload(p) => Event::Reload { params: p },
            In::Ttin => Event::AddWorker,
            In::Ttou => Event::RemoveWorker,
            In::Scale(n) => Event::Scale { processes: n },
            In::Recycle(slot) => Event::Recycle { slot },
            In::RssKb(id, kb) => Event::Rss {
                samples: vec![(id, kb)],
            },
            In::VszKb(id, kb) => Event::AddressSpace {
                samples: vec![(id, kb)],
            },
        };
        self.feed(at_ms, e)
    }
}

/// `want_logs` are wanted log specs without the `log ` prefix: an event name, optionally
/// followed by ` ~` and text its message must contain (or end with, when it ends in `$`). A log line whose event is wanted
/// shows as the spec when its message matches, else with its whole message.
fn summary(actions: &[Action], want_logs: &[&str]) -> Vec<String> {
    let wid = |pid: i32| pid as u64 - 100;
    let log_line = |l: &Log| -> Option<String> {
        let specs: Vec<(&str, Option<&str>)> = want_logs
            .iter()
            .map(|w| match w.split_once(" ~") {
                Some((e, text)) => (e, Some(text)),
                None => (*w, None),
            })
            .filter(|(e, _)| *e == l.event)
            .collect();
        if specs.is_empty() {
            return None;
        }
        if specs.iter().any(|(_, text)| text.is_none()) {
            return Some(format!("log {}", l.event));
        }
        Some(
            match specs.iter().find(|(_, text)| {
                text.is_some_and(|t| match t.strip_suffix('$') {
                    Some(end) => l.message.ends_with(end),
                    None => l.message.contains(t),
                })
            }) {
                Some((e, Some(text))) => format!("log {e} ~{text}"),
                _ => format!("log {} ~<{}>", l.event, l.message),
            },
        )
    };
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn {
                id, slot, respawn, ..
            } => Some(format!("spawn w{id} s{slot} g{respawn}")),
            Action::Drain { pid, .. } => Some(format!("drain w{}", wid(*pid))),
            Action::Quit { pid, .. } => Some(format!("quit w{}", wid(*pid))),
            Action::Kill { pid, .. } => Some(format!("kill w{}", wid(*pid))),
            Action::SampleRss { workers } => Some(format!("rss {}", workers.len())),
            Action::Lost(l) => Some(format!("lost w{} jobs={}", l.worker.id, l.jobs)),
            Action::Exit(c) => Some(format!("exit {c}")),
            Action::Log(l) => log_line(l),
            Action::Forget { .. } => None,
        })
        .collect()
}

fn run(name: &str, params: Params, steps: &[Step]) {
    let mut h = Harness::new(params);
    for (i, s) in steps.iter().enumerate() {
        let wanted_logs: Vec<&str> = s
            .want
            .iter()
            .filter_map(|w| w.strip_prefix("log "))
            .collect();
        let absent: Vec<&str> = s
            .want
            .iter()
            .filter_map(|w| w.strip_prefix("no log "))
            .collect();
        let want: Vec<&str> = s
            .want
            .iter()
            .copied()
            .filter(|w| !w.starts_with("no log "))
            .collect();
        let actions = h.input(s.at_ms, s.input.clone());
        for a in &actions {
            if let Action::Log(l) = a {
                assert!(
                    !absent.contains(&l.event),
                    "case {name:?}, step {i} ({:?} at {} ms): unwanted log {:?}: {}",
                    s.input,
                    s.at_ms,
                    l.event,
                    l.message
                );
            }
        }
        let got = summary(&actions, &wanted_logs);
        // Invariant: a deadline is always in the future, or the loop would spin.
        let now = h.t0 + Duration::from_millis(s.at_ms);
        if let Some(d) = h.p.next_deadline() {
            assert!(
                d > now,
                "case {name:?}, step {i}: deadline in the past: a busy loop"
            );
        }
        assert_eq!(
            got, want,
            "case {name:?}, step {i} ({:?} at {} ms)",
            s.input, s.at_ms
        );
    }
}

fn with(f: impl FnOnce(&mut Params)) -> Params {
    let mut p = params();
    f(&mut p);
    p
}

#[test]
fn lifecycle_table() {
    let two = with(|p| p.processes = 2);
    let two_drain2 = with(|p| {
        p.processes = 2;
        p.max_draining = 2;
    });
    let three_drain1 = with(|p| {
        p.processes = 3;
        p.max_surge = 2;
        p.max_draining = 1;
    });
    let recycle10 = with(|p| p.max_requests = Some(10));
    let two_recycle10 = with(|p| {
        p.processes = 2;
        p.max_requests = Some(10);
    });
    let watchdog2 = with(|p| p.watchdog = Some(Duration::from_secs(2)));
    let delay2 = with(|p| p.shutdown_delay = Duration::from_secs(2));
    let cases: Vec<(&str, Params, Vec<Step>)> = vec![
        (
            "shutdown delay: keep serving (and replacing a crash), then drain",
            delay2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(100, In::Stop, &["log shutdown-delay ~graceful stop in 2s"]),
                step(200, In::Reload(delay2.clone()), &["log reload ~ignored"]),
                step(300, In::Exit(1, 1), &["spawn w2 s1 g2"]),
                step(400, In::Ready(2), &[]),
                step(2100, In::Tick, &["log stop", "drain w2"]),
                step(2200, In::Exit(2, 0), &["exit 0"]),
            ],
        ),
        (
            "shutdown delay: a second TERM stops at once, QUIT is fast",
            delay2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(100, In::Stop, &[]),
                step(200, In::Stop, &["drain w1"]),
                step(300, In::Quit, &["quit w1"]),
            ],
        ),
        (
            "ebb recycle: the slot's replacement starts first, then the old one drains",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Ready(1), &[]),
                step(10, In::Ready(2), &[]),
                step(
                    20,
                    In::Recycle(2),
                    &["log recycle ~command", "spawn w3 s2 g2"],
                ),
                step(25, In::Recycle(2), &[]),
                step(30, In::Ready(3), &["drain w2"]),
                step(
                    40,
                    In::Recycle(7),
                    &["log recycle ~there are workers 1 to 2"],
                ),
            ],
        ),
        (
            "ebb scale: up fills new slots, down drains the last ones, 0 is refused",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(
                    20,
                    In::Scale(3),
                    &["log scale", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(30, In::Ready(2), &[]),
                step(30, In::Ready(3), &[]),
                step(40, In::Scale(1), &["log scale", "drain w3", "drain w2"]),
                step(50, In::Scale(0), &["log scale ~at least one"]),
            ],
        ),
        (
            "starts one worker per slot, no idle deadlines once ready",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Ready(1), &[]),
                step(10, In::Ready(2), &[]),
                step(5000, In::Tick, &[]),
            ],
        ),
        (
            "max-requests: replacement first, then drain, then a clean exit",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(20, In::Requests(1, 9), &[]),
                step(30, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(40, In::Requests(1, 12), &[]),
                step(50, In::Ready(2), &["drain w1"]),
                step(60, In::Exit(1, 0), &["log drained"]),
                step(70, In::Requests(2, 10), &["spawn w3 s1 g3"]),
            ],
        ),
        (
            "surge cap: the second recycle waits for a free place",
            two_recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(1, 10), &["spawn w3 s1 g2"]),
                step(11, In::Requests(2, 10), &["log surge-wait"]),
                step(12, In::Requests(2, 11), &[]),
                step(20, In::Ready(3), &["drain w1"]),
                step(30, In::Exit(1, 0), &["spawn w4 s2 g2"]),
                step(40, In::Ready(4), &["drain w2"]),
            ],
        ),
        (
            "drain timeout kills the group and names the lost jobs",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["report-42"]), &[]),
                step(3, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
                step(5000, In::Tick, &[]),
                step(9999, In::Tick, &["log draining"]),
                step(10004, In::Tick, &["kill w1", "log kill", "lost w1 jobs=1"]),
                step(10010, In::Killed(1), &[]),
            ],
        ),
        (
            "exit at the drain deadline, before the tick: no kill",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(3, In::Ready(2), &["drain w1"]),
                step(10003, In::Exit(1, 0), &[]),
                step(10003, In::Tick, &[]),
            ],
        ),
        (
            "replacement never says READY: taken as ready at the timeout",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4000, In::Tick, &[]),
                step(5002, In::Tick, &["log ready-timeout", "drain w1"]),
                step(5003, In::Ready(2), &[]),
            ],
        ),
        (
            "replacement crashes before READY: old keeps serving, retry with back-off",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(100, In::Exit(2, 1), &["log backoff"]),
                step(599, In::Tick, &[]),
                step(600, In::Tick, &["spawn w3 s1 g3"]),
                step(700, In::Exit(3, 1), &["log backoff"]),
                step(1699, In::Tick, &[]),
                step(1700, In::Tick, &["spawn w4 s1 g4"]),
                step(1800, In::Ready(4), &["drain w1"]),
            ],
        ),
        (
            "crash at start: exponential back-off, never a fork loop",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 4), &["log backoff"]),
                step(11, In::Tick, &[]),
                step(510, In::Tick, &["spawn w2 s1 g2"]),
                step(520, In::Exit(2, 4), &[]),
                step(1519, In::Tick, &[]),
                step(1520, In::Tick, &["spawn w3 s1 g3"]),
                step(1530, In::Exit(3, 4), &[]),
                step(3529, In::Tick, &[]),
                step(3530, In::Tick, &["spawn w4 s1 g4"]),
                step(3540, In::Ready(4), &[]),
            ],
        ),
        (
            "a ready worker killed by SIGKILL is replaced at once",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Killed(1), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "a crash with jobs in flight is reported as lost work",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 2, &["a", "b"]), &[]),
                step(3, In::Killed(1), &["lost w1 jobs=2", "spawn w2 s1 g2"]),
            ],
        ),
        (
            "graceful stop waits for every worker, exits 0",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Stop, &["drain w1", "drain w2"]),
                step(11, In::Stop, &[]),
                step(20, In::Exit(1, 0), &[]),
                step(1500, In::Exit(2, 0), &["exit 0"]),
            ],
        ),
        (
            "a draining worker that re-raises the drain signal exited as asked",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["j"]), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(20, In::Signaled(1, 15), &["log drained", "exit 0"]),
            ],
        ),
        (
            "graceful stop with a job past the deadline: killed, lost, exit 1",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(10010, In::Tick, &["kill w1", "lost w1 jobs=1"]),
                step(10011, In::Killed(1), &["exit 1"]),
            ],
        ),
        (
            "fast stop: QUIT, then kill after the grace",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Quit, &["quit w1"]),
                step(3010, In::Tick, &["kill w1"]),
                step(3011, In::Killed(1), &["exit 0"]),
            ],
        ),
        (
            "fast stop: the worker's exit is the quit asked for, not an unexpected exit",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Quit, &["quit w1"]),
                step(20, In::Exit(1, 0), &["log quit", "exit 0"]),
            ],
        ),
        (
            "work lost before the stop: the exit status still says so",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["j"]), &[]),
                step(3, In::Killed(1), &["lost w1 jobs=1", "spawn w2 s1 g2"]),
                step(4, In::Ready(2), &[]),
                step(10, In::Stop, &["drain w2"]),
                step(20, In::Exit(2, 0), &["exit 1"]),
            ],
        ),
        (
            "graceful stop escalated to fast stop",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(20, In::Quit, &["quit w1"]),
                step(3020, In::Tick, &["kill w1", "log kill"]),
            ],
        ),
        (
            "stop while a worker is failing to start: no more spawns",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 1), &["log backoff"]),
                step(20, In::Stop, &["exit 0"]),
                step(1000, In::Tick, &[]),
            ],
        ),
        (
            "reload: a rolling replacement bounded by the surge",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Reload(two.clone()), &["spawn w3 s1 g2"]),
                step(20, In::Ready(3), &["drain w1"]),
                step(30, In::Exit(1, 0), &["spawn w4 s2 g2"]),
                step(40, In::Ready(4), &["drain w2"]),
                step(50, In::Exit(2, 0), &[]),
                step(60, In::Tick, &[]),
            ],
        ),
        (
            "reload: a long drain does not hold back the next replacement (--max-draining 2)",
            two_drain2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(10, In::Reload(two_drain2.clone()), &["spawn w3 s1 g2"]),
                // w1 drains its long job; slot 2 is replaced meanwhile: draining workers do
                // not count against the surge.
                step(20, In::Ready(3), &["drain w1", "spawn w4 s2 g2"]),
                step(30, In::Ready(4), &["drain w2"]),
                step(40, In::Exit(2, 0), &[]),
                step(5000, In::Exit(1, 0), &[]),
            ],
        ),
        (
            "max-draining bounds the draining: the next replacement waits for a drain to end",
            three_drain1.clone(),
            vec![
                step(
                    0,
                    In::Tick,
                    &["spawn w1 s1 g1", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(1, In::Ready(3), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(
                    10,
                    In::Reload(three_drain1.clone()),
                    &[
                        "spawn w4 s1 g2",
                        "log surge-wait ~--max-draining 1",
                        "log surge-wait ~--max-draining 1",
                    ],
                ),
                step(20, In::Ready(4), &["drain w1"]),
                // One worker drains: slot 2 keeps its old worker serving until w1 is gone.
                step(30, In::Tick, &[]),
                step(5000, In::Exit(1, 0), &["spawn w5 s2 g2"]),
                step(5010, In::Ready(5), &["drain w2"]),
                step(5020, In::Exit(2, 0), &["spawn w6 s3 g2"]),
            ],
        ),
        (
            "need-app: no worker ever ready, the attempts run out: exit 3",
            with(|p| p.start_attempts = 2),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 4), &["log backoff"]),
                step(510, In::Tick, &["spawn w2 s1 g2"]),
                step(520, In::Exit(2, 4), &["log need-app", "exit 3"]),
                step(2000, In::Tick, &[]),
            ],
        ),
        (
            "need-app: the other starting workers are told to quit, then exit 3",
            with(|p| {
                p.processes = 2;
                p.start_attempts = 1;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Exit(1, 4), &["log need-app", "quit w2"]),
                step(20, In::Exit(2, 4), &["exit 3"]),
            ],
        ),
        (
            "need-app: once a worker was ready, failed starts back off as before",
            with(|p| p.start_attempts = 1),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Exit(1, 1), &["spawn w2 s1 g2"]),
                step(20, In::Exit(2, 4), &["log backoff", "no log need-app"]),
                step(520, In::Tick, &["spawn w3 s1 g3"]),
            ],
        ),
        (
            "HUP during HUP: the old-config replacement drains, the new one starts",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Reload(params()), &["spawn w2 s1 g2"]),
                step(20, In::Reload(params()), &["drain w2"]),
                step(30, In::Exit(2, 0), &["spawn w3 s1 g3"]),
                step(40, In::Ready(3), &["drain w1"]),
            ],
        ),
        (
            "HUP during HUP after the replacement is ready: replaced again",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Reload(params()), &["spawn w2 s1 g2"]),
                step(11, In::Ready(2), &["drain w1"]),
                step(20, In::Reload(params()), &[]),
                step(21, In::Exit(1, 0), &["spawn w3 s1 g3"]),
                step(30, In::Ready(3), &["drain w2"]),
            ],
        ),
        (
            "reload to more processes adds slots; to fewer drains the extra ones",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(
                    10,
                    In::Reload(with(|p| p.processes = 2)),
                    &["spawn w2 s2 g1", "spawn w3 s1 g2"],
                ),
                step(11, In::Ready(3), &["drain w1"]),
                step(12, In::Ready(2), &[]),
                step(13, In::Exit(1, 0), &[]),
                step(20, In::Reload(params()), &["drain w2"]),
                step(30, In::Exit(2, 0), &["spawn w4 s1 g3"]),
                step(40, In::Ready(4), &["drain w3"]),
            ],
        ),
        (
            "TTIN adds a slot, TTOU drains the last one",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Ttin, &["spawn w2 s2 g1"]),
                step(11, In::Ready(2), &[]),
                step(20, In::Ttou, &["drain w2"]),
                step(21, In::Ttou, &["log scale"]),
                step(30, In::Exit(2, 0), &[]),
            ],
        ),
        (
            "TTOU while the last slot's worker is being recycled",
            with(|p| {
                p.processes = 2;
                p.max_requests = Some(10);
                p.max_surge = 2;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(2, 10), &["spawn w3 s2 g2"]),
                step(11, In::Ready(3), &["drain w2"]),
                step(12, In::Ttou, &["drain w3"]),
                step(13, In::Exit(2, 0), &[]),
                step(14, In::Exit(3, 0), &[]),
                step(15, In::Tick, &[]),
            ],
        ),
        (
            "a free surge place goes to the worker that has waited longest",
            with(|p| {
                p.processes = 3;
                p.max_requests = Some(10);
            }),
            vec![
                step(
                    0,
                    In::Tick,
                    &["spawn w1 s1 g1", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(1, In::Ready(3), &[]),
                step(10, In::Requests(1, 10), &["spawn w4 s1 g2"]),
                step(11, In::Requests(3, 10), &[]),
                step(12, In::Requests(2, 10), &[]),
                step(20, In::Ready(4), &["drain w1"]),
                // Slot 3 asked before slot 2: it goes first, though slot 2 comes first.
                step(30, In::Exit(1, 0), &["spawn w5 s3 g2"]),
                step(40, In::Ready(5), &["drain w3"]),
                step(50, In::Exit(3, 0), &["spawn w6 s2 g2"]),
            ],
        ),
        (
            "max-requests-delta spreads the limits per slot",
            with(|p| {
                p.processes = 2;
                p.max_requests = Some(10);
                p.max_requests_delta = 5;
                p.max_surge = 2;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(2, 14), &[]),
                step(11, In::Requests(2, 15), &["spawn w3 s2 g2"]),
            ],
        ),
        (
            "max-worker-lifetime",
            with(|p| p.max_worker_lifetime = Some(Duration::from_secs(60))),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(59_999, In::Tick, &[]),
                step(60_000, In::Tick, &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "reload-on-rss samples every few seconds and recycles",
            with(|p| p.reload_on_rss_mb = Some(100)),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(4999, In::Tick, &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 50 * 1024), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::RssKb(1, 200 * 1024), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "reload-on-as alone samples too, and recycles on the address space, not the RSS",
            with(|p| p.reload_on_as_mb = Some(100)),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(4999, In::Tick, &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 500 * 1024), &[]),
                step(5002, In::VszKb(1, 100 * 1024 - 1), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::VszKb(1, 100 * 1024), &["spawn w2 s1 g2"]),
                step(10_002, In::Ready(2), &["drain w1"]),
            ],
        ),
        (
            "reload-on-rss and reload-on-as: each limit holds on its own measure",
            with(|p| {
                p.reload_on_rss_mb = Some(100);
                p.reload_on_as_mb = Some(1000);
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 50 * 1024), &[]),
                step(5002, In::VszKb(1, 999 * 1024), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::VszKb(1, 2000 * 1024), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "harakiri: a stuck worker is replaced at once",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Inflight(1, 1), &[]),
                step(3, In::Stuck(1), &["log harakiri", "spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
            ],
        ),
        (
            "harakiri-graceful-timeout: the stuck worker is killed that long after its drain \
             began; another drained worker still has drain-timeout",
            with(|p| {
                p.processes = 2;
                p.harakiri_graceful_timeout = Some(Duration::from_secs(2));
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(2, In::Inflight(1, 1), &[]),
                step(3, In::Stuck(1), &["log harakiri", "spawn w3 s1 g2"]),
                step(4, In::Ready(3), &["drain w1"]),
                step(2003, In::Tick, &[]),
                step(2004, In::Tick, &["kill w1", "log kill", "lost w1 jobs=0"]),
                step(2005, In::Ttou, &["drain w2"]),
                step(4005, In::Tick, &[]),
                step(12_004, In::Tick, &[]),
                step(12_005, In::Tick, &["kill w2", "log kill"]),
            ],
        ),
        (
            "watchdog: a worker that never sent WATCHDOG=1 is not held to it",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2_001, In::Tick, &["no log watchdog"]),
                step(60_000, In::Tick, &["no log watchdog"]),
            ],
        ),
        (
            "watchdog: armed by a ping; silence past the limit replaces the worker",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Watchdog(1), &["log watchdog-armed"]),
                step(600, In::Jobs(1, 1, &["report-7"]), &[]),
                step(2_499, In::Tick, &[]),
                step(
                    2_500,
                    In::Tick,
                    &[
                        "log watchdog ~worker sent no WATCHDOG=1 for 2.0s (--watchdog 2s); \
                         replacing it",
                        "log recycle ~(watchdog: no WATCHDOG=1 for 2.0s)",
                        "spawn w2 s1 g2",
                    ],
                ),
                // The hung worker serves on until its replacement is ready.
                step(3_000, In::Tick, &[]),
                step(3_100, In::Ready(2), &["drain w1"]),
                // A hung worker does not drain: the drain timeout kills it, reporting its job.
                step(13_100, In::Tick, &["kill w1", "lost w1 jobs=1"]),
                step(13_101, In::Killed(1), &[]),
            ],
        ),
        (
            "watchdog: pings keep a worker alive; the period starts at READY",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                // A ping while starting arms it; the ready timeout governs this state.
                step(10, In::Watchdog(1), &[]),
                step(3_000, In::Ready(1), &[]),
                step(4_999, In::Tick, &["no log watchdog"]),
                step(4_999, In::Watchdog(1), &[]),
                step(6_500, In::Watchdog(1), &[]),
                step(8_000, In::Watchdog(1), &[]),
                step(9_999, In::Tick, &["no log watchdog"]),
                step(10_000, In::Tick, &["log watchdog", "spawn w2 s1 g2"]),
            ],
        ),
        (
            "watchdog: a draining worker is not held to it",
            with(|p| {
                p.watchdog = Some(Duration::from_secs(2));
                p.max_requests = Some(10);
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Watchdog(1), &[]),
                step(3, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
                step(2_002, In::Tick, &["no log watchdog"]),
                step(9_000, In::Tick, &["no log watchdog"]),
                step(9_500, In::Exit(1, 0), &["log drained"]),
            ],
        ),
        (
            "watchdog: after a fast stop, no deadline for it",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Watchdog(1), &[]),
                step(1_000, In::Quit, &["quit w1"]),
                step(2_500, In::Tick, &["no log watchdog"]),
                step(4_000, In::Tick, &["kill w1"]),
            ],
        ),
        (
            "a fast stop does not wake for a lifetime deadline either",
            with(|p| p.max_worker_lifetime = Some(Duration::from_secs(1))),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Quit, &["quit w1"]),
                step(1_500, In::Tick, &[]),
                step(3_500, In::Tick, &["kill w1"]),
            ],
        ),
        (
            "EXTEND_TIMEOUT_USEC while starting pushes the ready deadline out",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    4_000,
                    In::Extend(1, 3_000_000),
                    &["log extend-timeout ~worker asked for 3.0s more to start"],
                ),
                step(5_000, In::Tick, &["no log ready-timeout"]),
                step(6_999, In::Tick, &["no log ready-timeout"]),
                step(
                    7_000,
                    In::Tick,
                    &["log ready-timeout ~did not send READY=1 within 7.0s"],
                ),
            ],
        ),
        (
            "EXTEND_TIMEOUT_USEC never shortens the ready deadline, and is ignored once ready",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    100,
                    In::Extend(1, 1_000_000),
                    &["log extend-timeout ~taken as ready in 4.9s at the latest"],
                ),
                step(4_999, In::Tick, &["no log ready-timeout"]),
                step(5_000, In::Tick, &["log ready-timeout ~within 5.0s"]),
                step(5_001, In::Extend(1, 60_000_000), &["no log extend-timeout"]),
            ],
        ),
        (
            "ERRNO is named when the worker exits unexpectedly",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Errno(1, 2), &[]),
                step(
                    3,
                    In::Exit(1, 1),
                    &[
                        "log exit ~worker exited unexpectedly with exit code 1 after 0.0s \
                         (it reported errno 2: No such file or directory)",
                        "spawn w2 s1 g2",
                    ],
                ),
            ],
        ),
        (
            "ERRNO is named when the worker fails to start; ERRNO=0 clears it",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Errno(1, 98), &[]),
                step(
                    2,
                    In::Exit(1, 1),
                    &[
                        "log exit ~before it was ready (it reported errno 98: Address already \
                         in use)",
                        "log backoff",
                    ],
                ),
                step(502, In::Tick, &["spawn w2 s1 g2"]),
                step(503, In::Errno(2, 98), &[]),
                step(504, In::Errno(2, 0), &[]),
                step(505, In::Exit(2, 1), &["log exit ~before it was ready$"]),
            ],
        ),
    ];
    for (name, params, steps) in cases {
        run(name, params, &steps);
    }
}

#[test]
fn no_wakeups_when_idle_and_deadlines_when_needed() {
    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    assert!(h.p.next_deadline().is_some(), "ready-timeout pending");
    h.input(1, In::Ready(1));
    assert_eq!(
        h.p.next_deadline(),
        None,
        "an idle supervisor must not wake up"
    );
    h.input(2, In::Stop);
    assert_eq!(
        h.p.next_deadline(),
        Some(h.t0 + Duration::from_millis(2 + 5000)),
        "the first progress report of the drain"
    );
}

#[test]
fn watchdog_and_extended_ready_deadlines_wake_the_loop() {
    let t = |h: &Harness, ms| Some(h.t0 + Duration::from_millis(ms));
    let mut h = Harness::new(with(|p| p.watchdog = Some(Duration::from_secs(2))));
    h.input(0, In::Tick);
    h.input(1, In::Ready(1));
    assert_eq!(h.p.next_deadline(), None, "not armed: no wake-up");
    h.input(500, In::Watchdog(1));
    assert_eq!(h.p.next_deadline(), t(&h, 2_500));
    h.input(1_000, In::Watchdog(1));
    assert_eq!(h.p.next_deadline(), t(&h, 3_000));

    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    assert_eq!(h.p.next_deadline(), t(&h, 5_000), "the ready timeout");
    h.input(4_000, In::Extend(1, 3_000_000));
    assert_eq!(h.p.next_deadline(), t(&h, 7_000), "extended");
    h.input(4_500, In::Extend(1, 1_000_000));
    assert_eq!(h.p.next_deadline(), t(&h, 7_000), "never shortened");
}

#[test]
fn warns_once_when_a_worker_never_reports_requests() {
    let mut h = Harness::new(with(|p| {
        p.processes = 2;
        p.max_requests = Some(10);
    }));
    h.input(0, In::Tick);
    let ready_without_count = |id| Event::Notify {
        id,
        update: Update {
            ready: true,
            ..Default::default()
        },
    };
    h.feed(1, ready_without_count(1));
    h.feed(1, ready_without_count(2));
    assert_eq!(
        h.p.next_deadline(),
        Some(h.t0 + Duration::from_millis(1) + REQUESTS_REPORT_GRACE)
    );
    let out = h.input(10_001, In::Tick);
    let warnings = summary(&out, &["no-request-count"]);
    assert_eq!(warnings, vec!["log no-request-count"]);
    let out = h.input(20_001, In::Tick);
    assert!(summary(&out, &["no-request-count"]).is_empty());
    assert_eq!(h.p.next_deadline(), None);
}

#[test]
fn jitter_stays_within_bounds_and_varies() {
    let mut limits = std::collections::BTreeSet::new();
    let mut h = Harness::new(with(|p| {
        p.max_requests = Some(100);
        p.max_requests_jitter = 10;
    }));
    h.input(0, In::Tick);
    for respawn in 1..40u64 {
        h.input(respawn * 10, In::Ready(respawn));
        let limit = h.p.worker(respawn).unwrap().request_limit.unwrap();
        assert!((100..=110).contains(&limit), "limit {limit}");
        limits.insert(limit);
        h.input(respawn * 10 + 1, In::Requests(respawn, 1000));
        h.input(respawn * 10 + 2, In::Ready(respawn + 1));
        h.input(respawn * 10 + 3, In::Exit(respawn, 0));
    }
    assert!(limits.len() > 3, "jitter should vary: {limits:?}");
}

#[test]
fn job_ages_survive_updates() {
    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    h.input(1, In::Ready(1));
    h.input(1000, In::Jobs(1, 1, &["a"]));
    h.input(3000, In::Jobs(1, 2, &["a", "b"]));
    let w = h.p.worker(1).unwrap();
    let t = |ms| h.t0 + Duration::from_millis(ms);
    assert_eq!(
        w.job_names,
        vec![("a".to_string(), t(1000)), ("b".to_string(), t(3000))]
    );
}

#[test]
fn backoff_is_capped() {
    assert_eq!(backoff(1), BACKOFF_FIRST);
    assert_eq!(backoff(2), BACKOFF_FIRST * 2);
    assert_eq!(backoff(40), BACKOFF_MAX);
}

#[test]
fn counters_follow_recycles_drains_crashes_and_reloads() {
    let mut h = Harness::new(with(|p| p.max_requests = Some(10)));
    h.input(0, In::Tick);
    h.input(10, In::Ready(1));
    assert!(h.p.settled());
    h.input(20, In::Requests(1, 10));
    assert!(!h.p.settled(), "a replacement is under way");
    h.input(520, In::Ready(2));
    h.input(1520, In::Exit(1, 0));
    h.input(2000, In::Jobs(2, 1, &["mail"]));
    h.input(2100, In::Killed(2));
    h.input(2200, In::Reload(with(|p| p.max_requests = Some(10))));
    let c = h.p.counters();
    assert_eq!(c.recycles.get("max-requests"), Some(&1));
    assert_eq!(c.requests_retired, 10);
    assert_eq!(c.drain_seconds.count, 1);
    assert!((c.drain_seconds.sum - 1.0).abs() < 1e-9);
    assert_eq!(c.replace_seconds.count, 1);
    assert!((c.replace_seconds.sum - 0.5).abs() < 1e-9);
    assert_eq!(c.crashes, 1);
    assert_eq!(c.jobs_lost, 1);
    assert_eq!(c.reloads, 1);
    let last = h.p.last_recycle(1).expect("slot 1 was recycled");
    assert_eq!(last.reason, Reason::MaxRequests);
    assert_eq!(h.p.last_recycle(2), None);
    let cum = c.drain_seconds.cumulative();
    assert_eq!(cum.last(), Some(&(f64::INFINITY, 1)));
    assert_eq!(cum.iter().find(|(b, _)| *b == 1.0).map(|x| x.1), Some(1));
    assert_eq!(cum.iter().find(|(b, _)| *b == 0.5).map(|x| x.1), Some(0));
}

#[test]
fn job_lists_say_when_they_are_cut() {
    let now = Instant::now();
    let names: Vec<(String, Instant)> = (0..2).map(|i| (format!("j{i}"), now)).collect();
    assert_eq!(super::job_list(&names, 2, now), " [j0 (0.0s), j1 (0.0s)]");
    assert_eq!(
        super::job_list(&names, 61, now),
        " [j0 (0.0s), j1 (0.0s); 2 of 61 jobs named]"
    );
    assert_eq!(super::job_list(&[], 5, now), "");
}

#[test]
fn status_text_is_clipped_in_log_lines() {
    assert_eq!(clip("short", 10), "short");
    assert_eq!(clip("0123456789abc", 10), "0123456789… (13 bytes in all)");
    // Cut on a character boundary, never inside one.
    assert_eq!(clip("ééé", 2), "éé… (6 bytes in all)");
}

/// A fork server answers a spawn later than an exec does: a reload that came in between took
/// the slot for the new generation, so the late worker is drained as soon as its pid is known
/// (it never serves in a slot it no longer has).
#[test]
fn a_worker_forked_after_a_reload_took_its_slot_drains_at_once() {
    let mut p = Policy::new(params(), 42);
    let t0 = Instant::now();
    let spawns = |a: &[Action]| -> Vec<(WorkerId, u64)> {
        a.iter()
            .filter_map(|a| match a {
                Action::Spawn { id, generation, .. } => Some((*id, *generation)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(spawns(&p.handle(t0, Event::Tick)), [(1, 1)]);
    p.handle(t0, Event::Spawned { id: 1, pid: 101 });
    let ready = Update {
        ready: true,
        requests: Some(0),
        ..Default::default()
    };
    p.handle(
        t0,
        Event::Notify {
            id: 1,
            update: ready.clone(),
        },
    );
    // A recycle asks for w2; before its pid comes back, a reload.
    assert_eq!(spawns(&p.handle(t0, Event::Recycle { slot: 1 })), [(2, 1)]);
    let a = p.handle(t0, Event::Reload { params: params() });
    assert!(
        spawns(&a).is_empty(),
        "w2 still holds the surge place: {a:?}"
    );
    let a = p.handle(t0, Event::Spawned { id: 2, pid: 102 });
    assert!(
        a.contains(&Action::Drain { id: 2, pid: 102 }),
        "the late worker drains at once: {a:?}"
    );
    // Once it has exited, the slot starts over on generation 2 (w1 serves meanwhile).
    let a = p.handle(
        t0,
        Event::Exited {
            pid: 102,
            status: ExitStatus::Code(0),
        },
    );
    assert_eq!(spawns(&a), [(3, 2)], "{a:?}");
    // w3, answered in time, is not drained; it replaces w1 once ready.
    let a = p.handle(t0, Event::Spawned { id: 3, pid: 103 });
    assert!(
        !a.iter().any(|a| matches!(a, Action::Drain { id: 3, .. })),
        "{a:?}"
    );
    let a = p.handle(
        t0,
        Event::Notify {
            id: 3,
            update: ready,
        },
    );
    assert!(a.contains(&Action::Drain { id: 1, pid: 101 }), "{a:?}");
}

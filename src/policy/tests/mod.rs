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

mod lifecycle;
mod rules;
mod starts;

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
    /// The master could not start worker N.
    SpawnFailed(u64),
    /// The same, the master being out of file descriptors.
    OutOfFds(u64),
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
            In::SpawnFailed(id) => Event::SpawnFailed {
                id,
                error: "exec: No such file or directory".into(),
            },
            In::OutOfFds(id) => Event::SpawnOutOfFds {
                id,
                error: "creating a pipe: Too many open files".into(),
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

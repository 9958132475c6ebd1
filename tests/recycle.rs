//! Issue "recycling": workers are replaced (max-requests, reload, scaling) without failing a
//! request or losing a background job.
//!
//! The two load tests share the machine's two cores with everything else, so they take a
//! lock and run one after the other.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

static LOAD: Mutex<()> = Mutex::new(());

fn load_lock() -> std::sync::MutexGuard<'static, ()> {
    LOAD.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug, Default)]
struct Stats {
    ok: u64,
    failed: u64,
    failures: Vec<String>,
    /// Jobs the server accepted (200) by id.
    jobs: Vec<String>,
    /// Responses with `Connection: close` (the drain's keep-alive hand-off).
    closes: u64,
    connections: u64,
    pids: HashSet<i32>,
}

/// A keep-alive load generator: `threads` connections, each alternating `GET /` and
/// `GET /job?ms=200&id=<unique>`, reconnecting when the server says `Connection: close`.
/// Every error counts as a failure (no retries).
struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<Stats>>,
}

impl Load {
    fn start(t: &Target, threads: usize, tag: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|i| {
                let t = t.clone();
                let stop = Arc::clone(&stop);
                let tag = format!("{tag}{i}");
                std::thread::spawn(move || client(&t, &stop, &tag))
            })
            .collect();
        Load { stop, handles }
    }

    fn finish(self) -> Stats {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Stats::default();
        for h in self.handles {
            let s = h.join().expect("client thread");
            all.ok += s.ok;
            all.failed += s.failed;
            all.failures.extend(s.failures);
            all.jobs.extend(s.jobs);
            all.closes += s.closes;
            all.connections += s.connections;
            all.pids.extend(s.pids);
        }
        all
    }
}

fn client(t: &Target, stop: &AtomicBool, tag: &str) -> Stats {
    let mut s = Stats::default();
    let mut conn: Option<Conn> = None;
    let mut n: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        let c = match &mut conn {
            Some(c) => c,
            None => match Conn::open(t) {
                Ok(c) => {
                    s.connections += 1;
                    conn.insert(c)
                }
                Err(e) => {
                    s.failed += 1;
                    s.failures.push(format!("{tag}: connect: {e}"));
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        n += 1;
        let job = n.is_multiple_of(2).then(|| format!("{tag}-{n}"));
        let path = match &job {
            Some(id) => format!("/job?ms=200&id={id}"),
            None => "/".to_string(),
        };
        let served_before = c.served;
        match c.get(&path, true) {
            Ok(r) if r.status == 200 => {
                s.ok += 1;
                if let Some(p) = r.pid() {
                    s.pids.insert(p);
                }
                if let Some(id) = job {
                    s.jobs.push(id);
                }
                if r.closes() {
                    s.closes += 1;
                    conn = None;
                }
            }
            Ok(r) => {
                s.failed += 1;
                s.failures.push(format!(
                    "{tag}: GET {path}: status {} {:?}",
                    r.status, r.body
                ));
                if r.closes() {
                    conn = None;
                }
            }
            Err(e) => {
                s.failed += 1;
                s.failures.push(format!(
                    "{tag}: GET {path}: {e} (request {} on its connection)",
                    served_before + 1
                ));
                conn = None;
            }
        }
        // A little pacing so the load leaves the box some air (2 cores, other tests).
        std::thread::sleep(Duration::from_micros(500));
    }
    s
}

fn journal_env(journal: &Path) -> [String; 2] {
    [
        "--env".to_string(),
        format!("EBB_JOB_JOURNAL={}", journal.display()),
    ]
}

/// Stop ebb gracefully, check exit 0, and check that every job the clients got a 200 for
/// was started and finished.
fn stop_and_check_jobs(ebb: &mut Ebb, journal: &Path, stats: &Stats) -> Journal {
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    let j = Journal::read(journal);
    assert_jobs_complete(ebb, &j, &stats.jobs);
    if status.code() != Some(0) {
        ebb.fail(&format!("ebb exited with {status}, expected 0"));
    }
    j
}

fn check_no_failures(ebb: &Ebb, stats: &Stats) {
    if stats.failed > 0 {
        ebb.fail(&format!(
            "{} of {} requests failed; first ones: {:#?}",
            stats.failed,
            stats.ok + stats.failed,
            &stats.failures[..stats.failures.len().min(20)]
        ));
    }
    let kills = ebb.count(|l| l.is_event("kill") || l.message().contains("LOST WORK"));
    if kills > 0 {
        ebb.fail(&format!(
            "{kills} kill/lost-work lines during a clean recycle"
        ));
    }
}

/// (13) Steady keep-alive load with --max-requests 50: dozens of recycles, zero failed
/// requests, zero lost jobs.
#[test]
fn recycling_under_load_loses_nothing() {
    let _g = load_lock();
    let dir = Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--max-requests", "50", "--drain-timeout", "20"])
        .args(journal_env(&journal))
        .start();
    let t = ebb.ready(2);
    let t0 = Instant::now();
    let load = Load::start(&t, 4, "a");
    std::thread::sleep(Duration::from_secs(10));
    let stats = load.finish();
    let secs = t0.elapsed().as_secs_f64();
    let drained = ebb.count(|l| l.is_event("drained"));
    let recycles = ebb.count(|l| l.is_event("recycle"));
    let j = stop_and_check_jobs(&mut ebb, &journal, &stats);
    eprintln!(
        "{secs:.1} s of load: {} requests ok ({:.0}/s), {} failed, {} jobs accepted, {} started, {} done; \
         {recycles} recycles decided, {drained} workers drained during the load; {} connections, \
         {} Connection: close; {} distinct worker pids answered",
        stats.ok,
        stats.ok as f64 / secs,
        stats.failed,
        stats.jobs.len(),
        j.starts.len(),
        j.dones.len(),
        stats.connections,
        stats.closes,
        stats.pids.len()
    );
    check_no_failures(&ebb, &stats);
    assert!(drained >= 15, "expected dozens of recycles, got {drained}");
    assert!(
        stats.ok > 1000,
        "too little load to mean anything: {}",
        stats.ok
    );
}

/// (14) The same load with SIGHUP three times: zero failures, zero lost jobs, and every worker
/// ends on configuration generation 4.
#[test]
fn reloads_under_load_lose_nothing() {
    let _g = load_lock();
    let dir = Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--max-requests", "50", "--drain-timeout", "20"])
        .args(journal_env(&journal))
        .start();
    let t = ebb.ready(2);
    let t0 = Instant::now();
    let load = Load::start(&t, 4, "h");
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(2500));
        ebb.signal(Signal::SIGHUP);
    }
    std::thread::sleep(Duration::from_millis(2500));
    let stats = load.finish();
    let secs = t0.elapsed().as_secs_f64();
    // Every reload was applied.
    let reloads = ebb
        .wait_n_after(0, 3, |l| l.is_event("reload"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    assert!(
        reloads[2].message().contains("generation 4"),
        "{}",
        reloads[2].raw
    );
    // All live workers converge on generation 4 (old ones drain away).
    let converged = poll_until(Duration::from_secs(30), || {
        let ws = ebb.workers();
        (ws.len() == 2
            && ws
                .iter()
                .all(|(_, e)| e.get("EBB_CONFIG_GENERATION").map(String::as_str) == Some("4")))
        .then_some(ws)
    });
    if converged.is_none() {
        let ws: Vec<(i32, Option<String>)> = ebb
            .workers()
            .into_iter()
            .map(|(p, e)| (p, e.get("EBB_CONFIG_GENERATION").cloned()))
            .collect();
        ebb.fail(&format!("workers did not converge on generation 4: {ws:?}"));
    }
    // And each says so itself.
    let mut slots = BTreeSet::new();
    let deadline = Instant::now() + SOON;
    while slots.len() < 2 && Instant::now() < deadline {
        let r = get_ok(&ebb, &t, "/env");
        let env = r.env();
        assert_eq!(
            env.get("EBB_CONFIG_GENERATION").map(String::as_str),
            Some("4"),
            "{}",
            r.body
        );
        slots.insert(env.get("EBB_WORKER_ID").cloned().unwrap_or_default());
    }
    assert_eq!(slots.len(), 2, "both slots answered /env: {slots:?}");
    let drained = ebb.count(|l| l.is_event("drained"));
    let reload_recycles = ebb.count(|l| l.is_event("recycle") && l.message().contains("reload"));
    let j = stop_and_check_jobs(&mut ebb, &journal, &stats);
    eprintln!(
        "{secs:.1} s of load with 3 reloads: {} requests ok, {} failed, {} jobs ({} done); \
         {drained} drained, {reload_recycles} replaced for a reload",
        stats.ok,
        stats.failed,
        j.starts.len(),
        j.dones.len()
    );
    check_no_failures(&ebb, &stats);
    // Under this load most workers are already marked for max-requests when a reload comes,
    // so few recycles carry the reason "reload"; the generation check above is what proves that
    // the reloads were applied.
}

fn config_text(journal: &Path, extra_env: &[&str]) -> String {
    let mut env = vec![format!("\"EBB_JOB_JOURNAL={}\"", journal.display())];
    env.extend(extra_env.iter().map(|e| format!("\"{e}\"")));
    format!(
        "http-socket = [\"127.0.0.1:0\"]\n\
         processes = 2\n\
         example-app = true\n\
         drain-timeout = \"10s\"\n\
         env = [{}]\n",
        env.join(", ")
    )
}

/// Requests for `window` on fresh connections; all must succeed, from `allowed` pids.
fn serve_for(ebb: &Ebb, t: &Target, window: Duration, allowed: &HashSet<i32>) -> usize {
    let end = Instant::now() + window;
    let mut n = 0;
    while Instant::now() < end {
        let r = get_ok(ebb, t, "/");
        let pid = r.pid().unwrap();
        if !allowed.contains(&pid) {
            ebb.fail(&format!(
                "answered by {pid}, not one of the old workers {allowed:?}"
            ));
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    n
}

/// (15) A reload whose new workers crash at start: the old workers keep serving, the
/// replacements back off; fixing the file and reloading again recovers.
#[test]
fn crashing_replacement_keeps_old_workers_serving() {
    let dir = Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let conf = dir.path().join("ebb.toml");
    write_atomic(&conf, &config_text(&journal, &[]));
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args(["--config", &conf.display().to_string()])
        .start();
    let t = ebb.ready(2);
    let old: HashSet<i32> = ebb.worker_pids().into_iter().collect();
    assert_eq!(old.len(), 2);

    write_atomic(
        &conf,
        &config_text(&journal, &["EBB_EXAMPLE_CRASH_AT_START=1"]),
    );
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.expect_after(mark, "the reload", |l| l.is_event("reload"), SOON);
    let served = serve_for(&ebb, &t, Duration::from_secs(4), &old);
    let backoffs = ebb.count_after(mark, |l| l.is_event("backoff"));
    let spawns = ebb.count_after(mark, |l| l.is_event("spawn"));
    eprintln!(
        "{served} requests served by the old workers; {spawns} spawn attempts, {backoffs} back-offs in 4 s"
    );
    if backoffs == 0 {
        ebb.fail("no back-off logged for the crashing replacements");
    }
    // Back-off 0.5 s, 1 s, 2 s, 4 s…: at most 4 or 5 attempts per slot in 4 s.
    for slot in [1, 2] {
        let n = ebb.count_after(mark, |l| l.is_event("spawn") && l.worker() == Some(slot));
        assert!(
            n <= 5,
            "slot {slot}: {n} spawn attempts in 4 s: not backing off"
        );
    }
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("drain")),
        0,
        "old workers must not be drained before a replacement is ready"
    );
    assert!(old.iter().all(|p| is_alive(*p)), "old workers alive");

    // Fix the file and reload: new workers start, the old ones drain.
    write_atomic(&conf, &config_text(&journal, &[]));
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.wait_ready(mark, 2, SOON);
    ebb.wait_n_after(mark, 2, |l| l.is_event("drained"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    let new: HashSet<i32> = ebb.worker_pids().into_iter().collect();
    assert!(new.is_disjoint(&old), "old {old:?} replaced by {new:?}");
    let r = get_ok(&ebb, &t, "/env");
    assert_eq!(
        r.env().get("EBB_CONFIG_GENERATION").map(String::as_str),
        Some("3"),
        "{}",
        r.body
    );
    ebb.signal(Signal::SIGTERM);
    assert_eq!(ebb.expect_exit(SOON).code(), Some(0));
}

/// (16) SIGHUP with a broken config file: the errors are logged, the old workers keep
/// serving, nothing is spawned.
#[test]
fn reload_with_broken_config_keeps_running() {
    let dir = Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let conf = dir.path().join("ebb.toml");
    write_atomic(&conf, &config_text(&journal, &[]));
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args(["--config", &conf.display().to_string()])
        .start();
    let t = ebb.ready(2);
    let old: HashSet<i32> = ebb.worker_pids().into_iter().collect();

    write_atomic(
        &conf,
        "http-socket = [\"127.0.0.1:0\"]\nprocesses = \"many\"\nexample-app = true\ndrain-timeout = \"never\"\n",
    );
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    let aborted = ebb.expect_after(
        mark,
        "the aborted reload",
        |l| l.level() == Some("ERROR") && l.message().contains("reload aborted"),
        SOON,
    );
    let errors: Vec<String> = ebb.lines()[mark..]
        .iter()
        .filter(|l| l.level() == Some("ERROR"))
        .map(|l| l.message().to_string())
        .collect();
    eprintln!("reload errors: {errors:#?}");
    assert!(
        aborted.message().contains("2 error"),
        "{}",
        aborted.message()
    );
    assert!(
        errors.iter().any(|e| e.contains("processes")),
        "the processes error is logged"
    );
    assert!(
        errors.iter().any(|e| e.contains("drain-timeout")),
        "the drain-timeout error is logged"
    );
    let served = serve_for(&ebb, &t, Duration::from_secs(2), &old);
    eprintln!("{served} requests served by the old workers after the failed reload");
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("spawn")),
        0,
        "nothing spawned"
    );
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("reload")),
        0,
        "no reload event"
    );
    let now: HashSet<i32> = ebb.worker_pids().into_iter().collect();
    assert_eq!(now, old, "same workers");
    ebb.signal(Signal::SIGTERM);
    assert_eq!(ebb.expect_exit(SOON).code(), Some(0));
}

/// (17) SIGTTIN/SIGTTOU add and remove a worker.
#[test]
fn ttin_ttou_change_the_worker_count() {
    let mut ebb = Ebb::example(2).start();
    let t = ebb.ready(2);
    let count_is = |ebb: &Ebb, n: usize| {
        poll_until(SOON, || (ebb.worker_pids().len() == n).then_some(())).unwrap_or_else(|| {
            ebb.fail(&format!(
                "expected {n} live workers, have {:?}",
                ebb.worker_pids()
            ))
        });
    };
    count_is(&ebb, 2);

    let mark = ebb.mark();
    ebb.signal(Signal::SIGTTIN);
    let scale = ebb.expect_after(mark, "scale up", |l| l.is_event("scale"), SOON);
    assert!(scale.message().contains("3 processes"), "{}", scale.raw);
    let ready = ebb.wait_ready(mark, 1, SOON);
    assert_eq!(ready[0].worker(), Some(3), "the new worker has slot 3");
    count_is(&ebb, 3);
    let mut slots = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while slots.len() < 3 && Instant::now() < deadline {
        slots.insert(get_ok(&ebb, &t, "/").num("worker").unwrap());
    }
    assert_eq!(slots, BTreeSet::from([1, 2, 3]), "three workers serve");

    for n in [2, 1] {
        let mark = ebb.mark();
        ebb.signal(Signal::SIGTTOU);
        let scale = ebb.expect_after(mark, "scale down", |l| l.is_event("scale"), SOON);
        assert!(
            scale.message().contains(&format!("{n} processes")),
            "{}",
            scale.raw
        );
        let drained = ebb.expect_after(mark, "the drained worker", |l| l.is_event("drained"), SOON);
        assert_eq!(
            drained.worker(),
            Some(n as i64 + 1),
            "the last slot is drained"
        );
        count_is(&ebb, n);
    }
    // At one worker, SIGTTOU is refused.
    let mark = ebb.mark();
    ebb.signal(Signal::SIGTTOU);
    let w = ebb.expect_after(mark, "the refusal", |l| l.is_event("scale"), SOON);
    assert_eq!(w.level(), Some("WARN"), "{}", w.raw);
    assert_eq!(ebb.count_after(mark, |l| l.is_event("drain")), 0);
    count_is(&ebb, 1);
    get_ok(&ebb, &t, "/");
    ebb.signal(Signal::SIGTERM);
    assert_eq!(ebb.expect_exit(SOON).code(), Some(0));
}

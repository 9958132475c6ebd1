//! The Python fork server, with real processes: one import per configuration generation,
//! workers forked from it and re-parented to the master, recycles by fork, reloads that load
//! new code (or keep the old when the new does not import), the safety fallback, the
//! after-fork hook, `--lazy-apps`, and a fork server that dies.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Python start-up on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

/// An app that appends its pid to `imports.log` at import, answers with what it is
/// (`version pid= ppid= gen= worker=`), and runs `extra` at import.
fn app_source(version: &str, extra: &str) -> String {
    format!(
        r#"import os, sys, threading
import ebb
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "imports.log"), "a") as f:
    f.write("%d\n" % os.getpid())
VERSION = {version:?}
{extra}

@ebb.after_fork
def _hook():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.log"), "a") as f:
        f.write("%d\n" % os.getpid())

def application(environ, start_response):
    body = "%s pid=%d ppid=%d gen=%s worker=%s threads=%s\n" % (
        VERSION, os.getpid(), os.getppid(), os.environ.get("EBB_CONFIG_GENERATION"),
        os.environ.get("EBB_WORKER_ID"), ",".join(sorted(t.name for t in threading.enumerate())))
    body = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"#
    )
}

struct Site {
    dir: Arc<tempfile::TempDir>,
}

impl Site {
    fn new(version: &str, extra: &str) -> Site {
        let dir = Arc::new(tempdir());
        let s = Site { dir };
        s.write(version, extra);
        s
    }

    fn app(&self) -> PathBuf {
        self.dir.path().join("app.py")
    }

    fn write(&self, version: &str, extra: &str) {
        write_atomic(&self.app(), &app_source(version, extra));
        // A new mtime second is not needed: the fork server imports from source each time.
        let _ = std::fs::remove_dir_all(self.dir.path().join("__pycache__"));
    }

    fn lines_of(&self, name: &str) -> Vec<i32> {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn imports(&self) -> Vec<i32> {
        self.lines_of("imports.log")
    }

    fn builder(&self) -> EbbBuilder {
        Ebb::builder().dir(self.dir.clone()).args([
            "--http-socket".to_string(),
            "127.0.0.1:0".to_string(),
            "--wsgi-file".to_string(),
            self.app().display().to_string(),
        ])
    }
}

fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The parent pid of `pid` (from /proc).
fn ppid_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn fork_server_pid(line: &Line) -> i32 {
    line.pid().expect("the fork-server line names its pid")
}

/// Every worker until `pred` holds for answers from `n` distinct pids in a row.
fn wait_serving(
    ebb: &Ebb,
    t: &Target,
    n: usize,
    timeout: Duration,
    pred: impl Fn(&Response) -> bool,
) -> Vec<Response> {
    let deadline = Instant::now() + timeout;
    let mut seen: Vec<Response> = Vec::new();
    loop {
        let r = get_ok(ebb, t, "/");
        if pred(&r) {
            if !seen.iter().any(|s| s.pid() == r.pid()) {
                seen.push(r);
            }
            if seen.len() >= n {
                return seen;
            }
        } else {
            seen.clear();
        }
        if Instant::now() > deadline {
            ebb.fail(&format!(
                "no {n} workers matching within {timeout:?}; last: {seen:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn workers_are_forked_from_one_import_and_belong_to_the_master() {
    let site = Site::new("v1", "");
    let ebb = site.builder().args(["-p", "3"]).start();
    let t = ebb.target();
    let server = ebb
        .wait_for(|l| l.is_event("fork-server-ready"), START)
        .unwrap_or_else(|e| ebb.fail(&e));
    ebb.wait_ready(0, 3, START);
    let fs = fork_server_pid(&server);
    let rs = wait_serving(&ebb, &t, 3, SOON, |r| r.body.starts_with("v1"));
    for r in &rs {
        let pid = r.pid().unwrap();
        assert_ne!(pid, fs, "the fork server never serves");
        assert_eq!(
            field(&r.body, "ppid"),
            Some(ebb.pid.to_string().as_str()),
            "a worker is the master's child: {}",
            r.body
        );
        assert_eq!(ppid_of(pid), Some(ebb.pid));
        // Only the worker's own threads: none of the fork server's.
        assert!(!r.body.contains("Dummy"), "{}", r.body);
    }
    // The app was imported once, by the fork server, which is the master's child too.
    assert_eq!(site.imports(), vec![fs], "one import, in the fork server");
    assert_eq!(ppid_of(fs), Some(ebb.pid));
    // Each worker ran the after-fork hook once.
    let mut hooks = site.lines_of("hooks.log");
    hooks.sort();
    let mut pids: Vec<i32> = rs.iter().map(|r| r.pid().unwrap()).collect();
    pids.sort();
    assert_eq!(hooks, pids, "ebb.after_fork ran once in each worker");
    // /proc shows each worker's own environment (ps e, and the tests' helpers).
    let ws = ebb.workers();
    let mut slots: Vec<String> = ws
        .iter()
        .map(|(_, e)| e.get("EBB_WORKER_ID").cloned().unwrap_or_default())
        .collect();
    slots.sort();
    assert_eq!(slots, ["1", "2", "3"], "{ws:?}");
    for (pid, env) in &ws {
        assert_eq!(env.get("LISTEN_PID"), Some(&pid.to_string()));
    }
}

#[test]
fn a_recycle_forks_a_replacement_without_importing_again() {
    let site = Site::new("v1", "");
    let ebb = site
        .builder()
        .args(["-p", "1", "--max-requests", "5"])
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    let first = get_ok(&ebb, &t, "/").pid();
    let mark = ebb.mark();
    for _ in 0..5 {
        get_ok(&ebb, &t, "/");
    }
    let recycle = ebb.expect_after(mark, "a recycle", |l| l.is_event("recycle"), SOON);
    let ready = ebb.expect_after(
        mark,
        "the replacement's READY",
        |l| l.is_event("ready"),
        SOON,
    );
    // The old worker accepts until it is told to drain: ask once it has.
    ebb.expect_after(
        mark,
        "the old worker's drain",
        |l| l.is_event("drained"),
        SOON,
    );
    let r = get_retry(&t, "/", SOON).unwrap_or_else(|e| ebb.fail(&e));
    assert_ne!(r.pid(), first, "a new worker serves");
    assert_eq!(field(&r.body, "ppid"), Some(ebb.pid.to_string().as_str()));
    assert_eq!(
        site.imports().len(),
        1,
        "recycled by fork: no second import"
    );
    eprintln!(
        "replacement READY {:.1} ms after the recycle decision",
        secs_between(&recycle, &ready) * 1000.0
    );
}

/// Seconds from one log line to another (their `ts`).
fn secs_between(a: &Line, b: &Line) -> f64 {
    let ts = |l: &Line| -> f64 {
        let s = l.str_field("ts").expect("ts");
        // 2026-12-01T12:34:31.953Z: seconds of the day are enough within a test.
        let t = &s[11..s.len() - 1];
        let mut parts = t.split(':');
        let h: f64 = parts.next().unwrap().parse().unwrap();
        let m: f64 = parts.next().unwrap().parse().unwrap();
        let sec: f64 = parts.next().unwrap().parse().unwrap();
        h * 3600.0 + m * 60.0 + sec
    };
    ts(b) - ts(a)
}

/// Requests on fresh connections until stopped; every failure is kept.
fn traffic(t: &Target) -> (Arc<AtomicBool>, std::thread::JoinHandle<(u64, Vec<String>)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (t, s) = (t.clone(), Arc::clone(&stop));
    let h = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0u64, Vec::new());
        while !s.load(Ordering::SeqCst) {
            match get(&t, "/") {
                Ok(r) if r.status == 200 => ok += 1,
                Ok(r) => failed.push(format!("status {}", r.status)),
                Err(e) => failed.push(e.to_string()),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        (ok, failed)
    });
    (stop, h)
}

#[test]
fn a_reload_imports_the_new_code_and_a_broken_one_keeps_the_old() {
    let site = Site::new("v1", "");
    let ebb = site.builder().args(["-p", "2"]).start();
    let t = ebb.target();
    ebb.wait_ready(0, 2, START);
    wait_serving(&ebb, &t, 2, SOON, |r| r.body.starts_with("v1"));
    let (stop, h) = traffic(&t);

    // New code that fails at import: the old generation keeps serving, the traceback once.
    site.write("v2", "raise RuntimeError('broken on purpose')");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    let failed = ebb.expect_after(
        mark,
        "the failed reload",
        |l| l.is_event("reload-failed"),
        START,
    );
    assert!(failed.message().contains("still serving"), "{}", failed.raw);
    assert_eq!(
        ebb.count_after(mark, |l| l.contains("broken on purpose")
            && l.contains("Traceback")),
        1,
        "the traceback is logged once"
    );
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("reload")),
        0,
        "no worker is replaced"
    );
    wait_serving(&ebb, &t, 2, SOON, |r| {
        r.body.starts_with("v1") && field(&r.body, "gen") == Some("1")
    });

    // Fixed: the next reload runs v2 in every worker, generation 2.
    site.write("v2", "");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.expect_after(mark, "the reload", |l| l.is_event("reload"), START);
    ebb.wait_ready(mark, 2, START);
    wait_serving(&ebb, &t, 2, SOON, |r| {
        r.body.starts_with("v2") && field(&r.body, "gen") == Some("2")
    });
    stop.store(true, Ordering::SeqCst);
    let (ok, failures) = h.join().unwrap();
    assert!(ok > 0);
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    // Imports: v1, the broken v2, v2.
    assert_eq!(site.imports().len(), 3, "{:?}", site.imports());
    // The first generation's fork server exits once its generation is gone.
    ebb.expect_after(
        mark,
        "the old fork server's exit",
        |l| l.is_event("fork-server-exit") && l.int_field("generation") == Some(1),
        SOON,
    );
}

#[test]
fn an_app_that_starts_a_thread_at_import_is_imported_in_each_worker() {
    let extra = "threading.Thread(target=lambda: threading.Event().wait(), name='metrics-pusher', \
                 daemon=True).start()";
    let site = Site::new("v1", extra);
    let ebb = site.builder().args(["-p", "2"]).start();
    let t = ebb.target();
    let warn = ebb
        .wait_for(|l| l.contains("metrics-pusher"), START)
        .unwrap_or_else(|e| ebb.fail(&e));
    assert!(warn.message().contains("--fork-anyway"), "{}", warn.raw);
    assert_eq!(warn.level(), Some("WARN"), "{}", warn.raw);
    ebb.expect_after(0, "the fallback", |l| l.is_event("fork-server-lazy"), SOON);
    ebb.wait_ready(0, 2, START);
    let rs = wait_serving(&ebb, &t, 2, SOON, |r| r.body.starts_with("v1"));
    for r in &rs {
        assert!(
            r.body.contains("metrics-pusher"),
            "the thread runs in the worker: {}",
            r.body
        );
    }
    // The fork server's import, then one per worker.
    assert_eq!(site.imports().len(), 3, "{:?}", site.imports());
}

#[test]
fn fork_anyway_forks_despite_a_thread() {
    let extra = "threading.Thread(target=lambda: threading.Event().wait(), name='metrics-pusher', \
                 daemon=True).start()";
    let site = Site::new("v1", extra);
    let ebb = site.builder().args(["-p", "2", "--fork-anyway"]).start();
    let t = ebb.target();
    let warn = ebb
        .wait_for(|l| l.contains("forking anyway"), START)
        .unwrap_or_else(|e| ebb.fail(&e));
    assert!(warn.message().contains("metrics-pusher"), "{}", warn.raw);
    ebb.wait_ready(0, 2, START);
    let rs = wait_serving(&ebb, &t, 2, SOON, |r| r.body.starts_with("v1"));
    for r in &rs {
        assert!(
            !r.body.contains("metrics-pusher"),
            "not in a forked worker: {}",
            r.body
        );
    }
    assert_eq!(site.imports().len(), 1);
}

#[test]
fn lazy_apps_import_in_each_worker() {
    let site = Site::new("v1", "");
    let ebb = site.builder().args(["-p", "2", "--lazy-apps"]).start();
    let t = ebb.target();
    ebb.wait_ready(0, 2, START);
    let rs = wait_serving(&ebb, &t, 2, SOON, |r| r.body.starts_with("v1"));
    let mut imports = site.imports();
    imports.sort();
    let mut pids: Vec<i32> = rs.iter().map(|r| r.pid().unwrap()).collect();
    pids.sort();
    assert_eq!(imports, pids, "each worker imported the app itself");
    assert_eq!(ebb.count(|l| l.is_event("fork-server")), 0);
    // The hook runs in lazy workers too (after their import).
    let mut hooks = site.lines_of("hooks.log");
    hooks.sort();
    assert_eq!(hooks, pids);
}

#[test]
fn a_killed_fork_server_is_started_again() {
    let site = Site::new("v1", "");
    let ebb = site
        .builder()
        .args(["-p", "1", "--max-requests", "3"])
        .start();
    let t = ebb.target();
    let first = ebb
        .wait_for(|l| l.is_event("fork-server-ready"), START)
        .unwrap_or_else(|e| ebb.fail(&e));
    ebb.wait_ready(0, 1, START);
    let mark = ebb.mark();
    kill(Pid::from_raw(fork_server_pid(&first)), Signal::SIGKILL).expect("kill -9");
    ebb.expect_after(
        mark,
        "the death noticed",
        |l| l.is_event("fork-server-died"),
        SOON,
    );
    let again = ebb.expect_after(
        mark,
        "a new fork server",
        |l| l.is_event("fork-server-ready"),
        START,
    );
    assert_ne!(fork_server_pid(&again), fork_server_pid(&first));
    // The worker kept serving meanwhile, and a recycle forks from the new server.
    let mark = ebb.mark();
    for _ in 0..4 {
        get_ok(&ebb, &t, "/");
    }
    ebb.expect_after(mark, "a recycle", |l| l.is_event("recycle"), SOON);
    ebb.wait_ready(mark, 1, SOON);
    let r = get_retry(&t, "/", SOON).unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(field(&r.body, "ppid"), Some(ebb.pid.to_string().as_str()));
    assert_eq!(site.imports().len(), 2, "{:?}", site.imports());
}

/// A fork server killed the moment it forked a worker: the worker was announced by the
/// intermediate child, so the master knows it (it is in the status, it drains on stop) and
/// nothing runs behind the master's back.
#[test]
fn a_fork_server_killed_right_after_a_fork_leaves_no_unknown_worker() {
    let site = Site::new("v1", "");
    let mut ebb = site
        .builder()
        .args(["-p", "2"])
        .env("EBB_TEST_FORK_SERVER_DIES_AFTER_FORK", "1")
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 2, START);
    assert!(ebb.count(|l| l.is_event("fork-server-died")) >= 1);
    let rs = wait_serving(&ebb, &t, 2, SOON, |r| r.body.starts_with("v1"));
    let mut served: Vec<i32> = rs.iter().map(|r| r.pid().unwrap()).collect();
    served.sort();
    let mut known: Vec<i32> = ebb.events("ready").iter().filter_map(|l| l.pid()).collect();
    known.sort();
    assert_eq!(
        served, known,
        "every serving worker is one the master started"
    );
    ebb.signal(Signal::SIGTERM);
    assert!(ebb.expect_exit(START).success());
    for pid in served {
        assert!(!is_alive(pid), "worker {pid} outlived ebb");
    }
}

/// The fork server's import fails at start: the traceback once per attempt, back-off, and
/// need-app's exit status 3 when no worker ever started.
#[test]
fn an_import_error_at_start_ends_ebb_after_the_attempts() {
    let site = Site::new("v1", "raise RuntimeError('broken on purpose')");
    let mut ebb = site
        .builder()
        .args(["-p", "2", "--start-attempts", "2"])
        .start();
    let status = ebb.expect_exit(START);
    assert_eq!(status.code(), Some(3));
    let attempts = ebb.count(|l| l.is_event("fork-server"));
    let tracebacks = ebb.count(|l| l.contains("broken on purpose") && l.contains("Traceback"));
    assert_eq!(attempts, 2, "two imports");
    assert_eq!(tracebacks, attempts, "the traceback once per attempt");
    assert!(ebb.count(|l| l.is_event("backoff")) >= 1);
}

/// A socket connected at import would be shared by every forked worker: named, and the app
/// is imported in each worker instead.
#[test]
fn a_connection_left_open_at_import_is_named_and_not_forked() {
    let site = Site::new("v1", "import socket\n_pair = socket.socketpair()");
    let ebb = site.builder().args(["-p", "1"]).start();
    let t = ebb.target();
    let warn = ebb
        .wait_for(|l| l.contains("a connected Unix socket"), START)
        .unwrap_or_else(|e| ebb.fail(&e));
    assert!(
        warn.message().contains("share those connections"),
        "{}",
        warn.raw
    );
    ebb.expect_after(0, "the fallback", |l| l.is_event("fork-server-lazy"), SOON);
    ebb.wait_ready(0, 1, START);
    wait_serving(&ebb, &t, 1, SOON, |r| r.body.starts_with("v1"));
    assert_eq!(
        site.imports().len(),
        2,
        "the fork server's import, then the worker's"
    );
}

/// A new fork server stuck importing is killed at --ready-timeout; the old generation keeps
/// serving, and the next reload works.
#[test]
fn a_reload_stuck_importing_is_bounded_by_the_ready_timeout() {
    let site = Site::new("v1", "");
    let ebb = site
        .builder()
        .args(["-p", "1", "--ready-timeout", "2"])
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    site.write("v2", "import time\ntime.sleep(600)");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    let failed = ebb.expect_after(
        mark,
        "the reload given up",
        |l| l.is_event("reload-failed"),
        Duration::from_secs(30),
    );
    assert!(
        failed.message().contains("--ready-timeout"),
        "{}",
        failed.raw
    );
    wait_serving(&ebb, &t, 1, SOON, |r| {
        r.body.starts_with("v1") && field(&r.body, "gen") == Some("1")
    });
    site.write("v3", "");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.wait_ready(mark, 1, START);
    wait_serving(&ebb, &t, 1, SOON, |r| r.body.starts_with("v3"));
}

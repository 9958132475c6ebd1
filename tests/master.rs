//! Issue "master": the supervisor's foundation, tested on the real binary.
//!
//! Every test starts its own `ebb` on port 0 (the bound port is read from the master's start
//! line) in its own temp dir, so the tests run in parallel safely. Every wait has a deadline;
//! `Ebb`'s drop kills the master and all its workers even when a test fails, and a failing
//! test prints the tail of ebb's log.

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn sigkill(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
}

/// (1) With -p 3, requests on fresh connections are served by 3 distinct worker processes.
#[test]
fn requests_are_served_by_n_workers() {
    let ebb = Ebb::example(3).start();
    let t = ebb.ready(3);
    let mut pids = HashSet::new();
    let mut slots = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while (pids.len() < 3 || slots.len() < 3) && Instant::now() < deadline {
        let r = get_ok(&ebb, &t, "/");
        assert!(r.body.contains("hello from worker="), "body {:?}", r.body);
        pids.insert(r.pid().expect("pid= in the body"));
        slots.insert(r.num("worker").expect("worker= in the body"));
        n += 1;
    }
    eprintln!("3 distinct workers seen after {n} requests");
    if pids.len() != 3 {
        ebb.fail(&format!(
            "after {n} requests only these pids answered: {pids:?}"
        ));
    }
    assert_eq!(slots, BTreeSet::from([1, 2, 3]));
    // They are exactly the master's live workers.
    let live: HashSet<i32> = ebb.worker_pids().into_iter().collect();
    assert_eq!(
        live, pids,
        "the pids that answered are the master's workers"
    );
}

/// (2) A worker killed with SIGKILL is replaced and the replacement serves quickly.
#[test]
fn killed_worker_is_replaced_quickly() {
    let ebb = Ebb::example(1).start();
    let t = ebb.ready(1);
    let mut times = Vec::new();
    for round in 0..3 {
        let old = get_ok(&ebb, &t, "/").pid().unwrap();
        let mark = ebb.mark();
        let t0 = Instant::now();
        sigkill(old);
        // The listening socket stays open in the master: a connection made now waits in the
        // backlog until the replacement accepts it.
        let new = poll_until(Duration::from_secs(10), || match get(&t, "/") {
            Ok(r) if r.status == 200 && r.pid() != Some(old) => r.pid(),
            _ => None,
        })
        .unwrap_or_else(|| ebb.fail(&format!("round {round}: no new worker within 10 s")));
        let took = t0.elapsed();
        times.push(took);
        eprintln!("round {round}: worker {old} killed; {new} served after {took:?}");
        // The exit is logged as an error naming the signal.
        let exit = ebb.expect_after(
            mark,
            "the exit of the killed worker",
            |l| l.is_event("exit") && l.pid() == Some(old),
            SOON,
        );
        assert_eq!(exit.level(), Some("ERROR"), "{}", exit.raw);
        assert!(exit.message().contains("signal 9"), "{}", exit.raw);
    }
    let mut sorted = times.clone();
    sorted.sort();
    let (median, worst) = (sorted[1], sorted[2]);
    eprintln!("time from SIGKILL to the first answer of the replacement: {times:?}");
    // The issue says "within a second". Measured: 7-20 ms, on 2 cores with other tests
    // running. The median must be under a second (robust: ~50x margin); the worst case gets
    // a generous bound so that one scheduling hiccup on a loaded box does not flake.
    assert!(
        median < Duration::from_secs(1),
        "replacement took {median:?} (median; all: {times:?})"
    );
    assert!(
        worst < Duration::from_secs(5),
        "replacement took {worst:?} (all: {times:?})"
    );
}

/// (3) An app that crashes before READY is restarted with a growing back-off, not in a loop.
#[test]
fn crash_at_start_backs_off() {
    let ebb = Ebb::example(1)
        .args([
            "--env",
            "EBB_EXAMPLE_CRASH_AT_START=1",
            "--start-attempts",
            "0",
        ])
        .start();
    ebb.started_line(SOON);
    ebb.expect_after(0, "a back-off message", |l| l.is_event("backoff"), SOON);
    // An observation window, not a wait for an event: what happens over ~4 s.
    let t0 = ebb
        .wait_for(|l| l.is_event("spawn"), SOON)
        .expect("a spawn came before the back-off")
        .at;
    std::thread::sleep((t0 + Duration::from_secs(4)).saturating_duration_since(Instant::now()));
    let spawns = ebb.count(|l| l.is_event("spawn"));
    let backoffs = ebb.events("backoff");
    eprintln!(
        "over 4 s: {spawns} spawn attempts; back-off messages: {:#?}",
        backoffs
            .iter()
            .map(|l| l.message().to_string())
            .collect::<Vec<_>>()
    );
    if !(2..=5).contains(&spawns) {
        ebb.fail(&format!("{spawns} spawn attempts in 4 s (expected 2..=5)"));
    }
    assert!(
        backoffs.len() >= 2,
        "expected at least two back-off messages"
    );
    assert!(
        backoffs
            .iter()
            .all(|l| l.message().contains("next attempt in")),
        "back-off lines say when the next attempt is"
    );
    assert_eq!(
        ebb.count(|l| l.is_event("ready")),
        0,
        "it never became ready"
    );
    // Each failure is logged at ERROR as an exit before READY.
    assert!(ebb.count(|l| l.is_event("exit") && l.message().contains("before it was ready")) >= 2);
    let mut ebb = ebb;
    ebb.signal(Signal::SIGTERM);
    ebb.expect_exit(SOON);
}

/// (4) SIGTERM with background jobs in flight: ebb exits 0 only after every job is done.
#[test]
fn sigterm_waits_for_background_jobs() {
    let dir = std::sync::Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args([
            "--env".to_string(),
            format!("EBB_JOB_JOURNAL={}", journal.display()),
        ])
        .start();
    let t = ebb.ready(2);
    let n = 8;
    let mut workers = HashSet::new();
    for i in 0..n {
        let r = get_ok(&ebb, &t, &format!("/job?ms=1500&id=term-{i}"));
        workers.insert(r.pid().unwrap());
    }
    assert_eq!(Journal::read(&journal).starts.len(), n, "every job started");
    let t0 = Instant::now();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(20));
    let took = t0.elapsed();
    let j = Journal::read(&journal);
    eprintln!(
        "exit {status} after {took:?}; {} starts, {} dones; jobs ran on {workers:?}",
        j.starts.len(),
        j.dones.len()
    );
    assert!(j.lost().is_empty(), "jobs lost: {:?}", j.lost());
    assert_eq!(j.dones.len(), n);
    if status.code() != Some(0) {
        ebb.fail(&format!("exit status {status}, expected 0"));
    }
    assert!(
        ebb.count(|l| l.is_event("drained")) == 2,
        "both workers drained"
    );
    assert_eq!(ebb.count(|l| l.is_event("kill")), 0, "nothing was killed");
    assert!(ebb.workers().is_empty(), "no worker outlives the master");
}

/// (5) A job longer than the drain timeout: the worker is killed, the loss is logged at ERROR
/// with the job's name, ebb exits 1, and the lost-work log has a JSON line naming it.
#[test]
fn job_longer_than_drain_timeout_is_reported_lost() {
    let dir = std::sync::Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let lost = dir.path().join("lost.jsonl");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args([
            "--drain-timeout".to_string(),
            "1".to_string(),
            "--lost-work-log".to_string(),
            lost.display().to_string(),
            "--env".to_string(),
            format!("EBB_JOB_JOURNAL={}", journal.display()),
        ])
        .start();
    let t = ebb.ready(1);
    let r = get_ok(&ebb, &t, "/job?ms=10000&id=slowjob");
    let pid = r.pid().unwrap();
    // No wait for the job report: the master keeps reading reports while the worker drains.
    let t0 = Instant::now();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    let took = t0.elapsed();
    eprintln!("exit {status} after {took:?}");
    let errors: Vec<Line> = ebb
        .lines()
        .into_iter()
        .filter(|l| l.level() == Some("ERROR") && l.contains("slowjob"))
        .collect();
    if errors.is_empty() {
        ebb.fail("no ERROR line names slowjob");
    }
    for e in &errors {
        eprintln!("ERROR line: {}", e.message());
    }
    assert!(
        errors.iter().any(|l| l.message().contains("LOST WORK")),
        "a LOST WORK line names the job"
    );
    assert_eq!(status.code(), Some(1), "work was lost: exit code 1");
    assert!(
        took < Duration::from_secs(8),
        "the kill came after about 1 s, took {took:?}"
    );
    let text = std::fs::read_to_string(&lost).expect("the lost-work log exists");
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    eprintln!("lost-work log: {text}");
    let rec = records
        .iter()
        .find(|r| {
            r["job_names"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "slowjob"))
        })
        .unwrap_or_else(|| ebb.fail(&format!("no lost-work record names slowjob: {text}")));
    assert_eq!(rec["pid"].as_i64(), Some(pid as i64));
    assert_eq!(rec["jobs"].as_u64(), Some(1));
    // The job really died with the worker.
    let j = Journal::read(&journal);
    assert_eq!(j.lost(), vec!["slowjob".to_string()]);
    assert!(!is_alive(pid), "the worker was killed");
}

/// (6) SIGKILL of the master: its workers are told to drain (parent-death signal), finish
/// their jobs and exit on their own, within the drain timeout.
#[test]
fn workers_drain_and_exit_when_the_master_is_killed() {
    let dir = std::sync::Arc::new(tempdir());
    let journal = dir.path().join("journal");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args([
            "--drain-timeout".to_string(),
            "3".to_string(),
            "--env".to_string(),
            format!("EBB_JOB_JOURNAL={}", journal.display()),
        ])
        .start();
    let t = ebb.ready(2);
    for i in 0..4 {
        get_ok(&ebb, &t, &format!("/job?ms=1000&id=orphan-{i}"));
    }
    let pids = ebb.worker_pids();
    assert_eq!(pids.len(), 2, "two workers: {pids:?}");
    let master = ebb.pid;
    let t0 = Instant::now();
    sigkill(master);
    ebb.expect_exit(SOON);
    let gone = poll_until(Duration::from_secs(3 + 5), || {
        workers_of(master).is_empty().then(|| t0.elapsed())
    });
    let j = Journal::read(&journal);
    match gone {
        Some(took) => eprintln!("all workers gone {took:?} after the master's SIGKILL"),
        None => panic!(
            "workers still alive 8 s after the master died: {:?}",
            workers_of(master)
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
        ),
    }
    assert!(j.lost().is_empty(), "jobs lost: {:?}", j.lost());
    assert_eq!(j.dones.len(), 4, "the orphaned workers finished their jobs");
}

/// (6b) Same, with a job longer than the drain timeout: the orphaned worker should still not
/// outlive the master by more than the drain timeout (it cannot be killed by the master any
/// more, so the worker must know the limit itself).
#[test]
fn orphaned_worker_respects_the_drain_timeout() {
    let mut ebb = Ebb::example(1).args(["--drain-timeout", "2"]).start();
    let t = ebb.ready(1);
    let pid = get_ok(&ebb, &t, "/job?ms=9000&id=orphan-long")
        .pid()
        .unwrap();
    let master = ebb.pid;
    let t0 = Instant::now();
    sigkill(master);
    ebb.expect_exit(SOON);
    let gone = poll_until(Duration::from_secs(2 + 3), || {
        (!is_alive(pid)).then(|| t0.elapsed())
    });
    if gone.is_none() {
        // Measure how long it really lives, for the report.
        let lived = poll_until(Duration::from_secs(10), || {
            (!is_alive(pid)).then(|| t0.elapsed())
        });
        panic!(
            "the orphaned worker (pid {pid}, running a 9 s job) outlived the SIGKILLed master by \
             {lived:?}: more than --drain-timeout 2 s + 3 s slack. The master cannot kill it any \
             more, so the worker must enforce the drain timeout itself (e.g. EBB_DRAIN_TIMEOUT \
             in its environment)."
        );
    }
    eprintln!("orphaned worker gone {gone:?} after the master's SIGKILL");
}

/// The fds of a process: `fd -> link target`.
fn proc_fds(pid: i32) -> HashMap<i32, String> {
    let mut out = HashMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in dir.flatten() {
            if let (Some(n), Ok(t)) = (
                e.file_name().to_str().and_then(|s| s.parse().ok()),
                std::fs::read_link(e.path()),
            ) {
                out.insert(n, t.display().to_string());
            }
        }
    }
    out
}

/// `GET /fds` lines are `N -> target`, with ` (inherited)` after the descriptors that were
/// open when the app started; the target alone is compared with the master's.
fn parse_fds(body: &str) -> Vec<(i32, String)> {
    body.lines()
        .filter_map(|l| l.split_once(" -> "))
        .filter_map(|(n, t)| {
            let t = t.trim();
            let t = t.strip_suffix(" (inherited)").unwrap_or(t);
            Some((n.trim().parse().ok()?, t.to_string()))
        })
        .collect()
}

/// Check one worker's descriptors (`fd -> target`) against the master's open descriptors.
fn check_fds(ebb: &Ebb, who: &str, fds: &[(i32, String)], n_listeners: i32) {
    let master = proc_fds(ebb.pid);
    let master_targets: HashSet<&String> = master
        .iter()
        .filter(|(n, _)| **n > 2)
        .map(|(_, t)| t)
        .collect();
    let listeners: HashSet<&String> = master_targets
        .iter()
        .copied()
        .filter(|t| t.starts_with("socket:"))
        .collect();
    let numbers: Vec<i32> = fds.iter().map(|(n, _)| *n).collect();
    for n in 0..3 + n_listeners {
        if !numbers.contains(&n) {
            ebb.fail(&format!("{who}: fd {n} missing: {fds:?}"));
        }
    }
    let own_stdio: HashSet<&String> = fds.iter().filter(|(n, _)| *n < 3).map(|(_, t)| t).collect();
    let mut own = Vec::new();
    for (n, target) in fds {
        if *n < 3 {
            continue;
        }
        if *n < 3 + n_listeners {
            if !(target.starts_with("socket:") && listeners.contains(target)) {
                ebb.fail(&format!(
                    "{who}: fd {n} ({target}) should be one of the master's listening sockets"
                ));
            }
            continue;
        }
        // Right after the sockets: EBB_LOG_FD, the record pipe the master reads.
        if *n == 3 + n_listeners {
            if !target.starts_with("pipe:") {
                ebb.fail(&format!(
                    "{who}: fd {n} ({target}) should be the EBB_LOG_FD pipe"
                ));
            }
            continue;
        }
        // Anything else must be the worker's own: not an object the master holds open
        // (same socket/pipe inode, or the same file), unless it is a copy of its own stdio.
        if master_targets.contains(target) && !own_stdio.contains(target) {
            ebb.fail(&format!(
                "{who}: fd {n} -> {target} is also open in the master: leaked\nworker: {fds:?}\nmaster: {master:?}"
            ));
        }
        own.push(format!("{n} -> {target}"));
    }
    eprintln!(
        "{who}: fds 0-2, listeners at 3..={}, and its own: {own:?}",
        2 + n_listeners
    );
}

/// `GET /fds` (the worker's own view) and `/proc/<pid>/fd` of every live worker.
fn check_worker_fds(ebb: &Ebb, t: &Target, n_listeners: i32) {
    let r = get_ok(ebb, t, "/fds");
    let fds = parse_fds(&r.body);
    check_fds(ebb, "GET /fds", &fds, n_listeners);
    let workers = ebb.worker_pids();
    assert!(!workers.is_empty());
    for pid in workers {
        let mut fds: Vec<(i32, String)> = proc_fds(pid).into_iter().collect();
        fds.sort();
        check_fds(ebb, &format!("worker {pid} (/proc)"), &fds, n_listeners);
    }
}

/// (7) No master descriptor leaks into a worker: only stdio (pipes to the master), the
/// listening sockets at 3.., the record pipe after them (EBB_LOG_FD), and what the worker
/// opened itself (checked by inode against the master's open fds).
#[test]
fn no_master_fd_leaks_into_workers() {
    let dir = std::sync::Arc::new(tempdir());
    let sock = dir.path().join("fds.sock");
    let lost = dir.path().join("lost.jsonl");
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args([
            "--http-socket".to_string(),
            sock.display().to_string(),
            "--lost-work-log".to_string(),
            lost.display().to_string(),
        ])
        .start();
    let t = ebb.ready(2);
    check_worker_fds(&ebb, &t, 2);
    // The master's open fds, for the record.
    let mut m: Vec<(i32, String)> = proc_fds(ebb.pid).into_iter().collect();
    m.sort();
    eprintln!("master fds: {m:?}");
    // Workers started after a reload (the master has more open by then) are clean too.
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.wait_ready(mark, 2, SOON);
    ebb.wait_n_after(mark, 2, |l| l.is_event("drained"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    check_worker_fds(&ebb, &t, 2);
    // Over the Unix socket, too.
    check_worker_fds(&ebb, &Target::Unix(sock), 2);
}

/// (8) A config file with three errors on different lines: every error is printed with its
/// line, exit status 2. `--check-config` on a good file exits 0.
#[test]
fn bad_config_reports_every_error_with_its_line() {
    let dir = tempdir();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "# three mistakes, on lines 3, 5 and 6\n\
         http-socket = [\"127.0.0.1:0\"]\n\
         processes = 0\n\
         example-app = true\n\
         drain-timeout = \"forever\"\n\
         max-requests = \"lots\"\n",
    )
    .unwrap();
    let bad_s = bad.display().to_string();
    for extra in [&[][..], &["--check-config"][..]] {
        let mut args = vec!["--config", bad_s.as_str()];
        args.extend_from_slice(extra);
        let (status, out, err) = run_ebb(&args, SOON);
        eprintln!("ebb {args:?}: {status}\nstdout: {out}\nstderr: {err}");
        assert_eq!(
            status.code(),
            Some(2),
            "exit status 2 for an invalid config"
        );
        for (line, key) in [(3, "processes"), (5, "drain-timeout"), (6, "max-requests")] {
            let hit = err.lines().any(|l| {
                l.contains(key)
                    && (l.contains(&format!("line {line}"))
                        || l.contains(&format!(":{line}:"))
                        || l.contains(&format!(":{line} ")))
            });
            assert!(hit, "no error names {key} with line {line}:\n{err}");
        }
        assert!(!err.contains("panicked"), "{err}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "http-socket = [\"127.0.0.1:0\"]\nprocesses = 2\nexample-app = true\ndrain-timeout = \"5s\"\n",
    )
    .unwrap();
    let (status, out, err) = run_ebb(
        &["--config", &good.display().to_string(), "--check-config"],
        SOON,
    );
    eprintln!("--check-config good: {status}\nstdout: {out}\nstderr: {err}");
    assert_eq!(status.code(), Some(0), "a good config checks OK");
    for line in [
        "configuration OK",
        "processes: 2 (+1 starting while replacing, up to 2 draining)",
        "worker: the bundled example app",
        "recycle: on reload only",
        "drain: SIGTERM signal, 5s timeout",
        "log: text to stderr; access lines: every request, ebb's line, with the rest",
    ] {
        assert!(out.contains(line), "--check-config says {line:?}: {out}");
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            if it.peek() == Some(&'[') {
                it.next();
                for d in it.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// (9) A port already in use: one error line, a non-zero exit, no panic or backtrace.
#[test]
fn port_in_use_is_one_clear_error() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let (status, out, err) = run_ebb(
        &["--http-socket", &addr, "--processes", "1", "--example-app"],
        SOON,
    );
    let err = strip_ansi(&err);
    eprintln!("{status}\nstdout: {out:?}\nstderr: {err:?}");
    assert!(!status.success(), "ebb must fail when its port is taken");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line of error: {lines:?}");
    assert!(lines[0].contains("ERROR"), "{}", lines[0]);
    assert!(
        lines[0].contains("already in use") && lines[0].contains(&addr),
        "the error names the address and the cause: {}",
        lines[0]
    );
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "{bad} in {err}");
    }
    drop(held);
}

/// (10) Serving on a Unix socket: a live socket file is refused, a stale one is replaced,
/// and the file is removed on a clean exit.
#[test]
fn unix_socket_lifecycle() {
    let dir = tempdir();
    let sock = dir.path().join("ebb.sock");
    let sock_s = sock.display().to_string();
    let args = [
        "--http-socket",
        sock_s.as_str(),
        "--processes",
        "2",
        "--example-app",
    ];

    // Live: another server listens there.
    let live = UnixListener::bind(&sock).unwrap();
    let (status, _, err) = run_ebb(&args, SOON);
    let err = strip_ansi(&err);
    eprintln!("live socket: {status}: {err}");
    assert!(!status.success(), "a live socket must be refused");
    assert!(err.contains("in use"), "{err}");
    assert!(
        std::os::unix::net::UnixStream::connect(&sock).is_ok(),
        "the other server's socket is untouched"
    );

    // Stale: its server is gone, the file stays.
    drop(live);
    assert!(
        sock.exists(),
        "std leaves the socket file behind: a stale socket"
    );
    let mut ebb = Ebb::builder().args(args).start();
    ebb.wait_ready(0, 2, SOON);
    let t = Target::Unix(sock.clone());
    let r = get_retry(&t, "/", SOON).unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200);
    assert!(r.body.contains("hello from worker="), "{}", r.body);

    // Clean exit removes the file.
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert_eq!(status.code(), Some(0));
    assert!(!sock.exists(), "the socket file is removed on a clean exit");
}

/// (11) Any program can be a worker: a plain Python HTTP server given the sockets the
/// systemd way.
#[test]
fn any_program_serves() {
    let app =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/plain_python_worker.py");
    if !app.exists() {
        eprintln!(
            "SKIPPED: {} does not exist (another engineer is writing it)",
            app.display()
        );
        return;
    }
    let mut ebb = Ebb::builder()
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--processes",
            "2",
            "--ready-timeout",
            "5",
            "--drain-timeout",
            "5",
            "--",
            "python3",
            &app.display().to_string(),
        ])
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 2, SOON);
    let mut pids = HashSet::new();
    for _ in 0..20 {
        let r = get_retry(&t, "/", SOON).unwrap_or_else(|e| ebb.fail(&e));
        assert_eq!(r.status, 200, "{r:?}");
        pids.insert(r.body.clone());
    }
    eprintln!("answers from the Python worker: {pids:?}");
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert_eq!(status.code(), Some(0), "clean stop");
}

const JUNK_PY: &str = r#"
import os, socket, time
path = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.settimeout(0.2)
end = time.monotonic() + float(os.environ.get("JUNK_SECS", "5"))
junk = [b"garbage without an equals sign", b"\xff\xfe not utf-8 \xc3", b"X_EBB_REQUESTS=lots",
        b"", b"A" * 5000, b"READY\nSTATUS"]
sent = 0
while time.monotonic() < end:
    try:
        s.sendto(junk[sent % len(junk)], path)
        sent += 1
    except socket.timeout:
        pass
    except (FileNotFoundError, ConnectionRefusedError):
        break
    except OSError:
        time.sleep(0.001)
with open(os.environ["JUNK_COUNT"], "a") as f:
    f.write("%d\n" % sent)
"#;

/// (12) A worker that floods its notify socket with garbage does not stall the master: it
/// still replaces killed workers and scales, and warns at a limited rate.
#[test]
fn notify_garbage_does_not_stall_the_loop() {
    let dir = std::sync::Arc::new(tempdir());
    let junk = dir.path().join("junk.py");
    let counts = dir.path().join("junk-counts");
    std::fs::write(&junk, JUNK_PY).unwrap();
    let script = format!("python3 {} & exec {EBB} example-app", junk.display());
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .env("JUNK_SECS", "5")
        .env("JUNK_COUNT", counts.display().to_string())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--processes",
            "2",
            "--ready-timeout",
            "2",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 2, SOON);
    let t_start = Instant::now();
    // Requests are served throughout.
    for _ in 0..50 {
        get_ok(&ebb, &t, "/");
    }
    // Kill a worker mid-flood (one whose garbage the master has seen): the master must
    // notice, respawn, and see the replacement ready.
    let victim = ebb
        .expect_after(
            0,
            "a bad-notify warning",
            |l| l.message().contains("bad notify message"),
            SOON,
        )
        .pid()
        .expect("the warning names the worker's pid");
    assert!(is_alive(victim));
    let mark = ebb.mark();
    let t0 = Instant::now();
    sigkill(victim);
    ebb.expect_after(mark, "a replacement spawn", |l| l.is_event("spawn"), SOON);
    let spawned = t0.elapsed();
    ebb.wait_ready(mark, 1, SOON);
    let ready = t0.elapsed();
    // Scale up mid-flood: the signal is handled promptly.
    let mark2 = ebb.mark();
    let t1 = Instant::now();
    ebb.signal(Signal::SIGTTIN);
    ebb.expect_after(
        mark2,
        "a spawn after SIGTTIN",
        |l| l.is_event("spawn"),
        SOON,
    );
    let ttin = t1.elapsed();
    ebb.wait_ready(mark2, 1, SOON);
    for _ in 0..50 {
        get_ok(&ebb, &t, "/");
    }
    // Let the floods run out, then stop.
    std::thread::sleep(
        (t_start + Duration::from_secs(6)).saturating_duration_since(Instant::now()),
    );
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    let warnings: Vec<Line> = ebb
        .lines()
        .into_iter()
        .filter(|l| l.message().contains("bad notify message"))
        .collect();
    let sent: Vec<u64> = std::fs::read_to_string(&counts)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    let timeouts = ebb.count(|l| l.is_event("ready-timeout"));
    let readies = ebb.count(|l| l.is_event("ready"));
    eprintln!(
        "junk datagrams sent per flooder: {sent:?}; {} warnings; respawn logged {spawned:?} and ready {ready:?} \
         after the kill; SIGTTIN spawn after {ttin:?}; READY=1 seen {readies}, ready-timeout {timeouts}; exit {status}",
        warnings.len()
    );
    for w in &warnings {
        eprintln!("  {}", w.message());
    }
    for l in ebb.lines().iter().filter(|l| l.contains("LOST WORK")) {
        // Killing a worker with SIGKILL right after it answered can leave a stale in-flight
        // count in the master (its last report may have been dropped in the flood).
        eprintln!("  (note) {}", l.raw);
    }
    assert!(!warnings.is_empty(), "bad datagrams are reported");
    assert!(
        warnings.len() <= 12,
        "{} warnings for {} junk datagrams: not rate-limited",
        warnings.len(),
        sent.iter().sum::<u64>()
    );
    assert!(spawned < Duration::from_secs(3), "respawn took {spawned:?}");
    assert!(ttin < Duration::from_secs(3), "SIGTTIN took {ttin:?}");
}

/// (13) `--watchdog`: workers get `WATCHDOG_USEC` (an inherited one and `WATCHDOG_PID` are
/// replaced); a worker that fed the watchdog and then went quiet is logged at ERROR, replaced,
/// and drained once its replacement is ready.
#[test]
fn watchdog_replaces_a_silent_worker() {
    let app =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/watchdog_worker.py");
    let mut ebb = Ebb::builder()
        // What systemd would give ebb itself: it describes ebb, not the workers.
        .env("WATCHDOG_USEC", "999")
        .env("WATCHDOG_PID", "1")
        .env("PINGS", "3")
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--watchdog",
            "1",
            "--ready-timeout",
            "5",
            "--drain-timeout",
            "5",
            "--",
            "python3",
            &app.display().to_string(),
        ])
        .start();
    ebb.started_line(SOON);
    let first = ebb.wait_ready(0, 1, SOON).remove(0);
    let old = first.pid().expect("the ready line names the pid");
    assert!(first.is_event("ready"), "it said READY=1: {}", first.raw);
    let env = proc_environ(old).unwrap_or_else(|| ebb.fail("the first worker is gone"));
    assert_eq!(
        env.get("WATCHDOG_USEC").map(String::as_str),
        Some("1000000"),
        "WATCHDOG_USEC is --watchdog in microseconds"
    );
    assert_eq!(env.get("WATCHDOG_PID"), None, "no WATCHDOG_PID");

    // 3 pings 0.5 s apart, then silence: the watchdog fires about 1 s after the last one.
    let fired = ebb.expect_after(0, "the watchdog line", |l| l.is_event("watchdog"), SOON);
    assert_eq!(fired.pid(), Some(old), "{}", fired.raw);
    assert_eq!(fired.level(), Some("ERROR"), "{}", fired.raw);
    let msg = fired.message();
    assert!(
        msg.starts_with("worker sent no WATCHDOG=1 for ")
            && msg.ends_with("(--watchdog 1s); replacing it"),
        "{msg}"
    );

    // A replacement (respawn 2, which keeps pinging) becomes ready; then the old one drains.
    let is_replacement_ready = |l: &Line| l.is_event("ready") && l.int_field("respawn") == Some(2);
    let replacement = ebb.expect_after(0, "the replacement's READY", is_replacement_ready, SOON);
    assert_ne!(replacement.pid(), Some(old));
    let is_drained = |l: &Line| l.is_event("drained") && l.pid() == Some(old);
    ebb.expect_after(0, "the old worker drained", is_drained, SOON);
    // In this order: the silent worker serves on until its replacement is ready.
    let lines = ebb.lines();
    let at = |what: &str, pred: &dyn Fn(&Line) -> bool| {
        lines
            .iter()
            .position(pred)
            .unwrap_or_else(|| ebb.fail(&format!("no {what} line")))
    };
    let order = [
        at("watchdog", &|l| l.is_event("watchdog")),
        at("replacement ready", &is_replacement_ready),
        at("drain", &|l| l.is_event("drain") && l.pid() == Some(old)),
        at("drained", &is_drained),
    ];
    assert!(
        order.is_sorted(),
        "watchdog, replacement ready, drain, drained: lines {order:?}"
    );
    assert_eq!(ebb.count(|l| l.is_event("kill")), 0, "nothing was killed");

    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert_eq!(status.code(), Some(0), "clean stop");
}

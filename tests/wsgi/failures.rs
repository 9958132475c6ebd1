//! An import error at start (once per attempt, with back-off), harakiri (the stack, the
//! replacement), and the worker's process name.

use super::*;

// (8) Import error at start

/// The record's own time (`"ts":"...T23:42:43.398Z"`) as seconds of the day: the
/// master's clock, not when the harness happened to read the line.
fn log_time(l: &Line) -> f64 {
    let ts = l
        .json
        .as_ref()
        .and_then(|j| j.get("ts").or_else(|| j.get("timestamp")))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no timestamp in {}", l.raw));
    let hms = ts.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = hms.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let sec: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + sec
}

fn secs_between(a: &Line, b: &Line) -> f64 {
    let d = log_time(b) - log_time(a);
    if d < -43_200.0 { d + 86_400.0 } else { d }
}

/// `--module nonexistent_mod:app`: each attempt prints the error once, clearly; the master
/// backs off (a handful of attempts in ~4 s), it does not fork-loop.
#[test]
fn import_error_is_reported_once_per_attempt_with_backoff() {
    let dir = Arc::new(tempdir());
    let ebb = Ebb::builder()
        .dir(dir)
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--module",
            "nonexistent_mod:app",
            "--start-attempts",
            "0",
            // Each attempt is a worker of its own (tests/forkserver.rs: the fork server's).
            "--lazy-apps",
        ])
        .start();
    ebb.started_line(SOON);
    // Three failed attempts (each one a Python start-up: slow on a loaded machine).
    let failed = |l: &Line| l.is_event("exit") && l.message().contains("before it was ready");
    if let Err(e) = ebb.wait_n_after(0, 3, failed, Duration::from_secs(60)) {
        ebb.fail(&format!("waiting for 3 failed attempts: {e}"));
    }
    let lines = ebb.lines();
    let spawns: Vec<&Line> = lines.iter().filter(|l| l.is_event("spawn")).collect();
    let exits: Vec<&Line> = lines.iter().filter(|l| failed(l)).collect();
    let backoffs: Vec<&Line> = lines.iter().filter(|l| l.is_event("backoff")).collect();
    for (i, (s, e)) in spawns.iter().zip(&exits).enumerate() {
        eprintln!(
            "attempt {}: pid {:?} ran {:.2}s; {}",
            i + 1,
            s.pid(),
            secs_between(s, e),
            backoffs.get(i).map_or("", |b| b.message())
        );
    }
    // Each attempt printed the error exactly once, with its cause and the advice.
    for e in &exits {
        let pid = e.pid().unwrap();
        let n = lines
            .iter()
            .filter(|l| {
                l.pid() == Some(pid)
                    && l.message()
                        .contains("cannot load the WSGI application nonexistent_mod:app")
            })
            .count();
        if n != 1 {
            ebb.fail(&format!("attempt pid {pid}: {n} 'cannot load' messages"));
        }
        assert!(
            e.message().contains("exit code 4") && e.level() == Some("ERROR"),
            "an ERROR naming exit code 4 (import error): {}",
            e.raw
        );
    }
    let loads = ebb.count(|l| l.contains("cannot load the WSGI application nonexistent_mod:app"));
    let causes =
        ebb.count(|l| l.contains("ModuleNotFoundError: No module named 'nonexistent_mod'"));
    let hints = ebb.count(|l| l.contains("What to do:"));
    assert_eq!(causes, loads, "the cause once per message");
    assert_eq!(hints, loads, "the advice once per message");
    assert!(
        loads <= spawns.len(),
        "{loads} messages, {} attempts",
        spawns.len()
    );
    // Back-off: the next attempt waits 0.5 s, then 1 s, ... after a failure (no fork loop).
    assert!(backoffs.len() >= 2);
    for (k, e) in exits.iter().enumerate().take(2) {
        let next = spawns
            .get(k + 1)
            .unwrap_or_else(|| ebb.fail(&format!("no attempt after failure {}", k + 1)));
        let gap = secs_between(e, next);
        let want = 0.5 * f64::from(1u32 << k);
        assert!(
            backoffs[k].message().contains("next attempt in"),
            "{}",
            backoffs[k].raw
        );
        assert!(
            gap >= want - 0.05,
            "attempt {} came {gap:.2}s after failure {} (back-off {want}s)",
            k + 2,
            k + 1
        );
    }
    // A handful of attempts in the first 4 s, however fast Python fails.
    let in_4s = spawns
        .iter()
        .filter(|s| secs_between(spawns[0], s) <= 4.0)
        .count();
    assert!(in_4s <= 5, "{in_4s} attempts in 4 s");
    assert_eq!(ebb.count(|l| l.is_event("ready")), 0);
    let mut ebb = ebb;
    ebb.signal(Signal::SIGTERM);
    ebb.expect_exit(SOON);
}

// ---------------------------------------------------------------------------------------------
// (10) harakiri

/// `--harakiri 2`, a handler that sleeps 30 s: the log shows the stuck request with its Python
/// stack (naming the sleeping function), a new worker serves, and other requests succeed
/// throughout.
#[test]
fn harakiri_reports_the_stack_and_replaces_the_worker() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b
        .args(["-p", "2", "--threads", "2", "--harakiri", "2"])
        .args(["--drain-timeout", "4"])
        .start();
    let t = ready(&ebb, 2);
    let initial: HashSet<i32> = ebb.worker_pids().into_iter().collect();

    // Steady traffic on fresh connections for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (t, stop) = (t.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut ok, mut failures, mut pids) = (0u64, Vec::new(), Vec::<i32>::new());
            while !stop.load(Ordering::SeqCst) {
                match get(&t, "/") {
                    Ok(r) if r.status == 200 => {
                        ok += 1;
                        if let Some(p) = r.pid()
                            && !pids.contains(&p)
                        {
                            pids.push(p);
                        }
                    }
                    Ok(r) => failures.push(format!("status {}", r.status)),
                    Err(e) => failures.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            (ok, failures, pids)
        })
    };
    let stuck_client = {
        let t = t.clone();
        std::thread::spawn(move || {
            exchange(
                &t,
                b"GET /stuck?s=30 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                Duration::from_secs(60),
            )
        })
    };
    let t0 = Instant::now();
    let report = ebb.expect_after(
        0,
        "the worker's harakiri report",
        |l| l.contains("harakiri: request 'GET /stuck?s=30 HTTP/1.1'"),
        START,
    );
    let seen_after = t0.elapsed();
    // The stack's last frame (the report is one write, but may be read in pieces).
    let report_at = ebb
        .lines()
        .iter()
        .position(|l| l.raw == report.raw)
        .unwrap();
    ebb.expect_after(
        report_at,
        "the sleeping line of the stack",
        |l| l.contains("time.sleep(seconds)"),
        START,
    );
    let lines = ebb.lines();
    let from = lines.iter().position(|l| l.raw == report.raw).unwrap();
    let stack: Vec<&str> = lines[from..]
        .iter()
        .take(40)
        // The worker's report is one record (its lines in one message); master lines between.
        .filter(|l| l.str_field("source") == Some("worker"))
        .flat_map(|l| l.message().lines())
        .collect();
    eprintln!("after {seen_after:?}:\n{}", stack.join("\n"));
    assert!(
        stack.iter().any(|l| l.contains("in stuck_in_sleep")),
        "the stack names the sleeping function"
    );
    assert!(
        stack.iter().any(|l| l.contains("time.sleep(seconds)")),
        "the stack shows the sleeping line"
    );
    let master = ebb.expect_after(
        0,
        "the master's harakiri line",
        |l| l.is_event("harakiri"),
        START,
    );
    let stuck_pid = master.pid().expect("pid");
    assert_eq!(master.level(), Some("ERROR"));
    assert!(initial.contains(&stuck_pid));
    // Its replacement starts, becomes ready and serves.
    let spawn = ebb.expect_after(
        0,
        "the replacement's spawn",
        |l| l.is_event("spawn") && !initial.contains(&l.pid().unwrap_or(0)),
        START,
    );
    let new_pid = spawn.pid().unwrap();
    let served = poll_until(START, || {
        get(&t, "/")
            .ok()
            .filter(|r| r.pid() == Some(new_pid))
            .map(|_| ())
    });
    if served.is_none() {
        ebb.fail(&format!("the replacement {new_pid} never served"));
    }
    // The stuck worker drains; its stuck request cannot finish, so the drain timeout kills it
    // (an ERROR naming the request lost).
    let kill = ebb.expect_after(
        0,
        "the kill of the stuck worker",
        |l| l.is_event("kill") && l.pid() == Some(stuck_pid),
        START,
    );
    eprintln!("{}", kill.message());
    assert!(
        count_before(kill.message(), "requests and").is_some_and(|n| n >= 1),
        "the stuck request is named as lost: {}",
        kill.raw
    );
    poll_until(SOON, || (!is_alive(stuck_pid)).then_some(()))
        .unwrap_or_else(|| ebb.fail("the stuck worker is still alive"));
    let stuck_result = stuck_client.join().unwrap();
    eprintln!(
        "the stuck request ended with {:?}",
        stuck_result.as_ref().map(|b| String::from_utf8_lossy(b)
            .lines()
            .next()
            .unwrap_or("")
            .to_string())
    );
    stop.store(true, Ordering::SeqCst);
    let (ok, failures, pids) = traffic.join().unwrap();
    eprintln!("traffic: {ok} ok, {} failed; pids {pids:?}", failures.len());
    if !failures.is_empty() {
        ebb.fail(&format!(
            "requests failed during the harakiri: {failures:?}"
        ));
    }
    assert!(pids.contains(&new_pid));
    // The stuck request was lost: the exit status says so, however long ago it was.
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    if status.code() != Some(1) {
        ebb.fail(&format!(
            "ebb exited with {status}, expected 1: work was lost"
        ));
    }
}

/// Each Python worker's comm (what `ps`, `top` and `pgrep` show) is the first 15 bytes of the
/// title the master gives it in `EBB_PROCNAME` (`ebb worker 1 gen 1 …`); its command line is
/// left alone (no re-exec).
#[test]
fn python_worker_takes_its_process_name() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let ebb = b.args(["-p", "2"]).start();
    ready(&ebb, 2);
    let workers = ebb.workers();
    assert_eq!(workers.len(), 2, "{workers:?}");
    for (pid, env) in workers {
        let title = &env["EBB_PROCNAME"];
        assert!(title.starts_with("ebb worker "), "{title}");
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim_end(), &title[..15], "worker {pid}");
    }
}

/// Out of file descriptors at accept (EMFILE), a Python worker says so once a minute with a
/// count, not at each 0.5 s retry, and serves again once connections close. `--max-fd 64`
/// gives the worker a soft limit of 64; the master warns about it at start.
#[test]
fn running_out_of_fds_is_said_once_not_at_every_retry() {
    let (_dir, b) = wsgi_file("hello.py");
    let ebb = b.args(["--callable", "app", "--max-fd", "64"]).start();
    let t = ready(&ebb, 1);
    let Target::Tcp(addr) = t else {
        panic!("a TCP target")
    };
    ebb.expect_after(
        0,
        "the low-limit warning",
        |l| l.message().contains("the open-files limit is 64"),
        SOON,
    );
    // More connections than the worker has descriptors for.
    let held: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let emfile = |l: &Line| l.message().contains("Too many open files");
    let first = ebb.expect_after(0, "the EMFILE line", emfile, START);
    assert_eq!(first.level(), Some("ERROR"), "{}", first.raw);
    // The accept is retried every 0.5 s: six retries, and no second line.
    let mark = ebb.mark();
    if let Ok(again) = ebb.wait_for_after(mark, emfile, Duration::from_secs(3)) {
        ebb.fail(&format!("EMFILE said again within 3 s: {}", again.raw));
    }
    drop(held);
    let r = get_retry(&t, "/", SOON).unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200);
}

//! Background jobs through recycles and reloads (the motivating scenario), threads started
//! at import, and the explicit `ebb` API: jobs killed at the drain timeout are named.

use super::*;

// (1), (2) The motivating scenario

#[derive(Default)]
struct Tally {
    ok: u64,
    failures: Vec<String>,
    jobs: Vec<String>,
    pids: HashSet<i32>,
    closes: u64,
}

/// One client: `n` requests of `/job?...`, on one keep-alive connection (reconnecting when
/// told `Connection: close`) or a fresh connection each. Every error is a failure (no retry).
fn job_client(
    t: &Target,
    how: &str,
    tag: &str,
    n: usize,
    keep_alive: bool,
    pace: Duration,
    answered: &AtomicUsize,
) -> Tally {
    let mut s = Tally::default();
    let mut conn: Option<Conn> = None;
    for i in 0..n {
        let id = format!("{tag}-{i}");
        // 1-3 s jobs, spread deterministically.
        let ms = 1000 + (i * 7919 + tag.len() * 104_729) % 2000;
        let path = format!("/job?id={id}&ms={ms}&how={how}");
        let res = if keep_alive {
            let c = match &mut conn {
                Some(c) => Ok(c),
                None => Conn::open(t).map(|c| conn.insert(c)),
            };
            c.and_then(|c| c.get(&path, true))
        } else {
            get(t, &path)
        };
        match res {
            Ok(r) if r.status == 200 => {
                s.ok += 1;
                s.jobs.push(id);
                if let Some(p) = r.pid() {
                    s.pids.insert(p);
                }
                if r.closes() {
                    s.closes += 1;
                    conn = None;
                }
            }
            Ok(r) => {
                s.failures
                    .push(format!("{path}: status {} body {:?}", r.status, r.body));
                conn = None;
            }
            Err(e) => {
                s.failures.push(format!(
                    "{path}: {e} ({})",
                    if keep_alive {
                        "keep-alive"
                    } else {
                        "fresh connection"
                    }
                ));
                conn = None;
            }
        }
        answered.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(pace);
    }
    s
}

/// A WSGI app answers 200 at once and runs a 1-3 s job in the background (on a module-level
/// ThreadPoolExecutor or a daemon thread), under `--max-requests 10 -p 2 --threads 4`, with a
/// SIGHUP in the middle of a few hundred requests: zero failed requests, every job done.
fn motivating_scenario(how: &str) {
    let _g = load_lock();
    let (dir, b) = wsgi_file("jobs_app.py");
    let journal = dir.path().join("journal");
    let mut ebb = b
        .args(["-p", "2", "--threads", "4", "--max-requests", "10"])
        // A surge of 2 lets two replacements start at once, so that several recycles happen
        // during the few seconds of load (draining workers are bounded by --max-draining).
        .args(["--max-surge", "2", "--drain-timeout", "60"])
        // A draining worker closes a connection that has been idle for EBB_DRAIN_GRACE (1 s)
        // since the drain began. These clients send every 120 ms, but a client thread that
        // the saturated box deschedules for over a second could trip that race (seen once
        // during a machine-wide stall: 3 of 300 requests). 5 s keeps the test about jobs and
        // recycling; `fresh_connection_accepted_before_a_drain_is_served` covers the grace.
        .args(env_arg("EBB_DRAIN_GRACE", 5))
        .args(env_arg("WSGI_TEST_JOURNAL", journal.display()))
        .start();
    let t = ready(&ebb, 2);

    const CLIENTS: usize = 6;
    const PER_CLIENT: usize = 50;
    let answered = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let t = t.clone();
            let how = how.to_string();
            let answered = Arc::clone(&answered);
            std::thread::spawn(move || {
                job_client(
                    &t,
                    &how,
                    &format!("{how}-c{c}"),
                    PER_CLIENT,
                    c % 2 == 0,
                    Duration::from_millis(120),
                    &answered,
                )
            })
        })
        .collect();
    // SIGHUP in the middle of the load: a rolling reload of both workers.
    let half = CLIENTS * PER_CLIENT / 2;
    poll_until(Duration::from_secs(60), || {
        (answered.load(Ordering::SeqCst) >= half).then_some(())
    })
    .unwrap_or_else(|| ebb.fail("the clients did not get through half of the requests in 60 s"));
    let hup_mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    let mut all = Tally::default();
    for h in handles {
        let s = h.join().expect("client thread");
        all.ok += s.ok;
        all.failures.extend(s.failures);
        all.jobs.extend(s.jobs);
        all.pids.extend(s.pids);
        all.closes += s.closes;
    }
    let load_took = t0.elapsed();
    ebb.expect_after(hup_mark, "the reload", |l| l.is_event("reload"), SOON);
    // The rolling reload completes: every worker of the old configuration drains (its jobs
    // done) and exits; the new respawn serves.
    let old_epoch_gone = poll_until(Duration::from_secs(60), || {
        let ws = ebb.workers();
        (!ws.is_empty()
            && ws
                .iter()
                .all(|(_, env)| env.get("EBB_CONFIG_GENERATION").map(String::as_str) != Some("1")))
        .then_some(ws.len())
    });
    if old_epoch_gone.is_none() {
        ebb.fail("workers of the configuration before SIGHUP still run after 60 s");
    }
    get_ok(&ebb, &t, "/");

    let stop = wait_for_exit_ok(&mut ebb, Duration::from_secs(60));
    let j = Journal::read(&journal);
    let recycles = ebb.count(|l| l.is_event("recycle"));
    let drained = ebb.events("drained");
    let waited: Vec<&Line> = drained
        .iter()
        .filter(|l| count_before(l.message(), "jobs done").is_some_and(|n| n > 0))
        .collect();
    eprintln!(
        "{how}: {} requests ok, {} failed in {load_took:?}; {} jobs started, {} done; {} pids \
         served; {} Connection: close hand-offs; {recycles} recycles, {} drains ({} waited for \
         jobs); SIGTERM to exit: {stop:?}",
        all.ok,
        all.failures.len(),
        j.starts.len(),
        j.dones.len(),
        all.pids.len(),
        all.closes,
        drained.len(),
        waited.len()
    );
    for l in waited.iter().take(4) {
        eprintln!("  e.g. {}", l.message());
    }
    if !all.failures.is_empty() {
        ebb.fail(&format!(
            "{} of {} requests failed: {:#?}",
            all.failures.len(),
            CLIENTS * PER_CLIENT,
            &all.failures[..all.failures.len().min(20)]
        ));
    }
    assert_eq!(all.ok as usize, CLIENTS * PER_CLIENT);
    assert_jobs_complete(&ebb, &j, &all.jobs);
    assert_eq!(j.dones.len(), CLIENTS * PER_CLIENT, "every job done once");
    let kills = ebb.count(|l| l.is_event("kill") || l.message().contains("LOST WORK"));
    if kills > 0 {
        ebb.fail(&format!("{kills} kill / LOST WORK lines"));
    }
    if recycles < 3 {
        ebb.fail(&format!("only {recycles} recycles during the load"));
    }
    assert!(
        ebb.count(|l| l.is_event("recycle") && l.message().contains("max-requests")) >= 2,
        "recycles by --max-requests"
    );
    if waited.len() < 2 {
        ebb.fail(&format!(
            "only {} drains waited for background jobs",
            waited.len()
        ));
    }
    // The master's drain line says what the worker waited for (the worker does not say it
    // again: one event, one line).
    assert!(
        ebb.count(|l| l.is_event("drain") && !l.message().contains(", 0 jobs")) >= 1,
        "a drain log line counts jobs in flight"
    );
    assert_eq!(
        ebb.count(|l| l.str_field("source") == Some("worker")
            && ["draining", "still draining", "drained"]
                .iter()
                .any(|w| l.message().starts_with(w))),
        0,
        "the Python worker repeats the master's drain lines"
    );
    assert!(
        all.pids.len() >= 4,
        "recycled workers served: {:?}",
        all.pids
    );
}

/// (1) Jobs on a module-level ThreadPoolExecutor.
#[test]
fn executor_jobs_survive_recycling_and_reload() {
    motivating_scenario("executor");
}

/// (2) Jobs on daemon threads started during the request (what uWSGI and gunicorn lose
/// silently, every time).
#[test]
fn daemon_thread_jobs_survive_recycling_and_reload() {
    motivating_scenario("thread");
}

// ---------------------------------------------------------------------------------------------
// (3) Threads started at import time

/// A forever-running daemon thread started at import (a metrics flusher) is not a job: SIGTERM
/// drains both workers promptly, far from the drain timeout.
#[test]
fn import_time_thread_is_not_a_job() {
    let (_dir, b) = wsgi_file("import_thread_app.py");
    let mut ebb = b
        .args(["-p", "2", "--threads", "2", "--drain-timeout", "30"])
        .start();
    let t = ready(&ebb, 2);
    // The workers serve (their serving threads are up; the flusher runs).
    for _ in 0..6 {
        let r = get_ok(&ebb, &t, "/");
        assert!(r.body.contains("flushes="), "{:?}", r.body);
    }
    let took = wait_for_exit_ok(&mut ebb, Duration::from_secs(40));
    eprintln!("SIGTERM to exit with an import-time flusher thread: {took:?}");
    let drains = ebb.events("drain");
    for d in &drains {
        eprintln!("  {}", d.message());
        assert!(
            d.message().contains(", 0 jobs"),
            "no job counted: {}",
            d.raw
        );
    }
    assert_eq!(ebb.count(|l| l.is_event("drained")), 2, "both drained");
    assert_eq!(ebb.count(|l| l.is_event("kill")), 0, "nothing killed");
    assert!(
        took < Duration::from_secs(8),
        "the drain took {took:?}: the import-time thread was waited for"
    );
}

// ---------------------------------------------------------------------------------------------
// (4) The explicit API

/// `ebb.background(fn, name="report-1")` and `with ebb.job("reindex")`: jobs longer than
/// `--drain-timeout 2` are killed at SIGTERM and their names are in the ERROR log and the
/// lost-work log; a short named job finishes.
#[test]
fn named_jobs_killed_at_drain_timeout_are_reported_by_name() {
    let (dir, b) = wsgi_file("api_app.py");
    let journal = dir.path().join("journal");
    let lost = dir.path().join("lost.jsonl");
    let mut ebb = b
        .args(["-p", "1", "--threads", "2", "--drain-timeout", "2"])
        .args(["--lost-work-log".to_string(), lost.display().to_string()])
        .args(env_arg("WSGI_TEST_JOURNAL", journal.display()))
        .start();
    let t = ready(&ebb, 1);
    let r = get_ok(&ebb, &t, "/report?name=report-1&s=30");
    assert!(
        r.body.contains("in_worker=True worker_id=1"),
        "the ebb module knows it runs under ebb: {:?}",
        r.body
    );
    assert!(
        r.body.contains("report-1"),
        "ebb.jobs() lists it: {:?}",
        r.body
    );
    let r = get_ok(&ebb, &t, "/reindex?name=reindex&s=30");
    assert!(
        r.body.contains("reindex"),
        "ebb.jobs() lists it: {:?}",
        r.body
    );
    get_ok(&ebb, &t, "/report?name=short-report&s=0.5");
    // The master has heard of the jobs (the drain line lists them).
    let t0 = Instant::now();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    let took = t0.elapsed();
    let errors: Vec<Line> = ebb
        .lines()
        .into_iter()
        .filter(|l| l.level() == Some("ERROR"))
        .collect();
    eprintln!("exit {status} after {took:?}; ERROR lines:");
    for e in &errors {
        eprintln!("  {}", e.message());
    }
    for name in ["report-1", "reindex"] {
        if !errors.iter().any(|l| l.message().contains(name)) {
            ebb.fail(&format!("no ERROR line names {name}"));
        }
        if !errors
            .iter()
            .any(|l| l.message().contains("LOST WORK") && l.message().contains(name))
        {
            ebb.fail(&format!("the LOST WORK line does not name {name}"));
        }
    }
    assert_eq!(status.code(), Some(1), "work was lost: exit code 1");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(15),
        "killed after the 2 s drain timeout, took {took:?}"
    );
    let text = std::fs::read_to_string(&lost).expect("the lost-work log exists");
    eprintln!("lost-work log: {text}");
    let names: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .flat_map(|r| {
            r["job_names"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|n| n.as_str().map(str::to_string))
        })
        .collect();
    for name in ["report-1", "reindex"] {
        assert!(
            names
                .iter()
                .any(|n| n == name || n.starts_with(&format!("{name}#"))),
            "the lost-work log names {name}: {names:?}"
        );
    }
    assert!(
        !names.iter().any(|n| n.starts_with("short-report")),
        "the short job was not lost: {names:?}"
    );
    let j = Journal::read(&journal);
    assert!(
        j.dones.contains(&"short-report".to_string()),
        "the short job finished during the drain: {j:?}"
    );
    let mut lost_ids = j.lost();
    lost_ids.sort();
    assert_eq!(lost_ids, ["reindex", "report-1"]);
}

/// A graceful stop with the Python worker: once no worker accepts, a new connection is refused
/// at once (the fork server holds no listening socket), while a job still keeps ebb up; the
/// job finishes and ebb exits 0.
#[test]
fn a_graceful_stop_refuses_new_connections_at_once() {
    let (dir, b) = wsgi_file("jobs_app.py");
    let journal = dir.path().join("journal");
    let mut ebb = b
        .args(["-p", "2"])
        .args(env_arg("WSGI_TEST_JOURNAL", journal.display()))
        .start();
    let t = ready(&ebb, 2);
    let Target::Tcp(addr) = t else {
        panic!("a TCP target")
    };
    get_ok(&ebb, &t, "/job?id=keeps-ebb-up&ms=5000");
    ebb.signal(Signal::SIGTERM);
    let refused = poll_until(Duration::from_secs(3), || {
        let t0 = Instant::now();
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(t0.elapsed()),
            _ => None,
        }
    })
    .unwrap_or_else(|| ebb.fail("new connections were still accepted 3 s into the stop"));
    assert!(
        ebb.try_status().is_none(),
        "ebb exited before its job ended"
    );
    eprintln!("refused in {refused:?}");
    assert_eq!(ebb.expect_exit(START).code(), Some(0));
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    assert!(text.contains("done keeps-ebb-up"), "{text}");
}

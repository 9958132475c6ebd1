//! Work under way and work lost, as the stats, `ebb status` and the metrics show it: jobs by
//! name and age, requests in flight, busy and idle threads, a drain, lost jobs, crashes,
//! reloads, a listen queue that fills, a worker that is still starting.

use super::stats::{ops_venv, parsed_metrics};
use super::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The metrics text, read with one plain request (fast enough to watch a drain).
fn metrics_text(addr: &str) -> String {
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    metrics_response(s)
}

/// The value of the sample written exactly `series` (`name` or `name{labels}`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

fn worker_by_pid(v: &Value, pid: i32) -> Option<Value> {
    v["workers"]
        .as_array()?
        .iter()
        .find(|w| w["pid"] == pid)
        .cloned()
}

fn job_names(w: &Value) -> Vec<String> {
    w["job_names"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| j["name"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Issue 11's own stats and metrics with real work: two named jobs on one worker (longest
/// first, with ages, in the document and the `ebb status` row), a request in flight (busy,
/// `in_flight`, `cores[0].in_request`, `ebb_requests_in_flight`, busy/idle threads), a
/// recycle watched while it drains (`draining`, `draining_s`, `recycling`), its jobs lost
/// at `--drain-timeout` (`jobs_lost`, `ebb_jobs_lost_total`, `last_recycle`), a crash
/// (`crashes`, `ebb_worker_crashes_total`), a reload (`ebb_reloads_total`), and connections
/// waiting in the listen queue while both workers are stopped (`listen_queue`,
/// `ebb_listen_queue`). Every family the issue names then parses with prometheus_client.
#[test]
fn stats_and_metrics_follow_the_work() {
    let venv = ops_venv();
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let c = ctl.to_str().unwrap().to_string();
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--stats", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args([
            "--control",
            &c,
            "--drain-timeout",
            "4",
            "--max-requests",
            "1000",
        ])
        .start();
    let t = ebb.ready(2);
    let stats = listen_addr(&ebb, "stats-listen");
    let metrics = listen_addr(&ebb, "metrics-listen");

    // Two jobs on one worker (one keep-alive connection), the second started later.
    let mut conn = Conn::open(&t).unwrap();
    let r = conn.get("/job?ms=60000&id=report", true).unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let pid = r.pid().expect("pid");
    let slot = r.num("worker").expect("worker");
    poll_until(SOON, || {
        let w = worker_by_pid(&stats_doc(&stats), pid)?;
        (w["job_names"][0]["age_s"].as_f64()? >= 0.3).then_some(())
    })
    .unwrap_or_else(|| ebb.fail(&format!("job report never showed: {}", stats_doc(&stats))));
    let r = conn.get("/job?ms=60000&id=mail", true).unwrap();
    assert_eq!(r.pid(), Some(pid), "{}", r.body);
    let w = poll_until(SOON, || {
        let w = worker_by_pid(&stats_doc(&stats), pid)?;
        (w["jobs"] == 2).then_some(w)
    })
    .unwrap_or_else(|| ebb.fail(&format!("2 jobs never showed: {}", stats_doc(&stats))));
    assert_eq!(job_names(&w), ["report", "mail"], "longest first: {w}");
    let (a0, a1) = (
        w["job_names"][0]["age_s"].as_f64().unwrap(),
        w["job_names"][1]["age_s"].as_f64().unwrap(),
    );
    assert!(a0 > a1, "ages: {w}");
    // The report of the second request's end can come after the one of the job it started:
    // wait for the row to show it (in flight back to 0).
    let table = poll_until(SOON, || {
        let t = ok(&ebb_cmd(&["status", "--control", &c], &[]));
        let row = t
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(&pid.to_string()))?;
        (row.split_whitespace().nth(6) == Some("0")).then_some(t)
    })
    .unwrap_or_else(|| {
        let t = ok(&ebb_cmd(&["status", "--control", &c], &[]));
        ebb.fail(&format!("the request never showed as finished:\n{t}"))
    });
    let row = table
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(&pid.to_string()))
        .unwrap_or_else(|| panic!("no row for {pid}:\n{table}"));
    assert!(
        row.contains("2: report ") && row.contains(", mail "),
        "{row}"
    );
    let header: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "WORKER", "PID", "GEN", "STATE", "AGE", "REQUESTS", "INFLIGHT", "RSS", "JOBS"
        ]
    );
    let cells: Vec<&str> = row.split_whitespace().collect();
    let limit = w["request_limit"].as_u64().expect("a request limit");
    assert!((1000..2000).contains(&limit), "{w}");
    assert_eq!(cells[0], slot.to_string(), "{row}");
    assert_eq!(cells[2], "1", "generation: {row}");
    assert_eq!(cells[3], "ready", "{row}");
    // (Its request count may have moved on since `w`: the report of a request's end can
    // come after the one of the job it started.)
    let served = cells[5]
        .strip_suffix(&format!("/{limit}"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("requests/limit: {row}"));
    assert!((1..=2).contains(&served), "{row}");
    assert_eq!(cells[6], "0", "in flight: {row}");
    assert!(cells[7].ends_with('M'), "RSS: {row}");
    assert!(
        table.lines().next().unwrap().contains(", 2 jobs,"),
        "{table}"
    );

    // A request in flight.
    let t2 = t.clone();
    let sleeper = std::thread::spawn(move || get(&t2, "/sleep?ms=3000"));
    let v = poll_until(SOON, || {
        let v = stats_doc(&stats);
        (v["ebb"]["in_flight"] == 1).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail(&format!("no request in flight: {}", stats_doc(&stats))));
    let busy: Vec<&Value> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["in_flight"] == 1)
        .collect();
    assert_eq!(busy.len(), 1, "{v}");
    assert_eq!(busy[0]["status"], "busy", "{v}");
    assert_eq!(busy[0]["cores"][0]["in_request"], 1, "{v}");
    let text = metrics_text(&metrics);
    assert_eq!(sample(&text, "ebb_requests_in_flight"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "ebb_jobs_running"), Some(2.0), "{text}");
    assert_eq!(
        sample(&text, r#"ebb_worker_threads{state="busy"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"ebb_worker_threads{state="idle"}"#),
        Some(1.0),
        "{text}"
    );
    let r = sleeper
        .join()
        .unwrap()
        .expect("the slow request is answered");
    assert_eq!(r.status, 200);

    // Recycle the worker with the jobs: it drains (seen while it does), then loses them at
    // --drain-timeout.
    let crashes_before = stats_doc(&stats)["ebb"]["crashes"].as_u64().unwrap();
    ok(&ebb_cmd(
        &["recycle", &slot.to_string(), "--control", &c],
        &[],
    ));
    let w = poll_until(SOON, || {
        let w = worker_by_pid(&stats_doc(&stats), pid)?;
        (w["state"] == "draining").then_some(w)
    })
    .unwrap_or_else(|| ebb.fail(&format!("{pid} never drained: {}", stats_doc(&stats))));
    assert!(w["draining_s"].as_f64().is_some(), "{w}");
    assert_eq!(w["recycling"], "command", "{w}");
    assert_eq!(w["jobs"], 2, "{w}");
    let text = metrics_text(&metrics);
    assert_eq!(
        sample(&text, r#"ebb_workers{state="draining"}"#),
        Some(1.0),
        "{text}"
    );
    let v = poll_until(SOON, || {
        let v = stats_doc(&stats);
        (worker_by_pid(&v, pid).is_none() && v["ebb"]["jobs_lost"] == 2).then_some(v)
    })
    .unwrap_or_else(|| {
        ebb.fail(&format!(
            "the 2 jobs were never lost: {}",
            stats_doc(&stats)
        ))
    });
    let again = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == slot)
        .cloned()
        .expect("the slot is served again");
    assert_eq!(again["last_recycle"]["reason"], "command", "{again}");
    assert!(again["last_recycle"]["ago_s"].as_f64().is_some(), "{again}");
    let text = metrics_text(&metrics);
    assert_eq!(sample(&text, "ebb_jobs_lost_total"), Some(2.0), "{text}");

    // A crash.
    let crashes_before = v["ebb"]["crashes"].as_u64().unwrap().max(crashes_before);
    let _ = get(&t, "/crash");
    let want = crashes_before + 1;
    poll_until(SOON, || {
        (stats_doc(&stats)["ebb"]["crashes"] == want).then_some(())
    })
    .unwrap_or_else(|| ebb.fail(&format!("no crash counted: {}", stats_doc(&stats))));
    let text = metrics_text(&metrics);
    assert_eq!(
        sample(&text, "ebb_worker_crashes_total"),
        Some(want as f64),
        "{text}"
    );

    // A reload.
    ok(&ebb_cmd(&["reload", "--control", &c], &[]));
    wait_status(&ebb, &ctl, "generation 2 settled, 2 ready", |v| {
        v["ebb"]["settled"] == true && v["ebb"]["config_generation"] == 2 && ready_workers(v) == 2
    });
    let text = metrics_text(&metrics);
    assert_eq!(sample(&text, "ebb_reloads_total"), Some(1.0), "{text}");
    assert_eq!(sample(&text, "ebb_config_generation"), Some(2.0), "{text}");

    // Both workers stopped: connections wait in the listen queue, and the stats say so.
    let pids = poll_until(SOON, || {
        let v = stats_doc(&stats);
        let ws = v["workers"].as_array().unwrap().clone();
        (ws.len() == 2).then(|| {
            ws.iter()
                .map(|w| w["pid"].as_i64().unwrap() as i32)
                .collect::<Vec<_>>()
        })
    })
    .unwrap_or_else(|| ebb.fail(&format!("not 2 workers: {}", stats_doc(&stats))));
    let cont = |pids: &[i32]| {
        for p in pids {
            let _ = kill(Pid::from_raw(*p), Signal::SIGCONT);
        }
    };
    for p in &pids {
        kill(Pid::from_raw(*p), Signal::SIGSTOP).unwrap();
    }
    // The signal is delivered later: wait until the kernel says both are stopped ("T").
    let stopped = |p: &i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| Some(s.rsplit_once(')')?.1.split_whitespace().next()? == "T"))
            .unwrap_or(false)
    };
    if poll_until(SOON, || pids.iter().all(stopped).then_some(())).is_none() {
        cont(&pids);
        ebb.fail("the workers never stopped");
    }
    let Target::Tcp(sa) = t else { unreachable!() };
    let waiting: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(sa).unwrap())
        .collect();
    let v = poll_until(SOON, || {
        let v = stats_doc(&stats);
        (v["listen_queue"] == 3).then_some(v)
    });
    let text = metrics_text(&metrics);
    cont(&pids);
    let v = v.unwrap_or_else(|| ebb.fail(&format!("listen queue never 3: {}", stats_doc(&stats))));
    assert_eq!(v["sockets"][0]["queue"], 3, "{v}");
    assert_eq!(
        sample(&text, &format!(r#"ebb_listen_queue{{socket="{sa}"}}"#)),
        Some(3.0),
        "{text}"
    );
    drop(waiting);

    // Every family the issue names, with its type, read by a real parser.
    let got = parsed_metrics(&venv, &metrics);
    for (family, ty) in [
        ("ebb_workers", "gauge"),
        ("ebb_worker_threads", "gauge"),
        ("ebb_requests", "counter"),
        ("ebb_requests_in_flight", "gauge"),
        ("ebb_jobs_running", "gauge"),
        ("ebb_jobs_lost", "counter"),
        ("ebb_requests_lost", "counter"),
        ("ebb_recycles", "counter"),
        ("ebb_drain_duration_seconds", "histogram"),
        ("ebb_replacement_ready_seconds", "histogram"),
        ("ebb_worker_rss_bytes", "gauge"),
        ("ebb_listen_queue", "gauge"),
        ("ebb_listen_queue_limit", "gauge"),
        ("ebb_worker_crashes", "counter"),
        ("ebb_reloads", "counter"),
    ] {
        assert_eq!(got[format!("type:{family}")], ty, "{family}: {got}");
    }
    assert_eq!(got["ebb_jobs_lost_total"], 2.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=command"], 1.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=reload"], 2.0, "{got}");
}

/// A worker that has not said READY=1 is `starting` in the stats and the metrics, and has no
/// idle thread to offer.
#[test]
fn a_starting_worker_shows_as_starting() {
    let ebb = Ebb::builder()
        .args(["--http-socket", "127.0.0.1:0", "-p", "1"])
        .args(["--stats", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .args(["--ready-timeout", "60", "--", "sleep", "60"])
        .start();
    let stats = listen_addr(&ebb, "stats-listen");
    let metrics = listen_addr(&ebb, "metrics-listen");
    let v = poll_until(SOON, || {
        let v = stats_doc(&stats);
        (v["workers"][0]["pid"].as_u64() > Some(0)).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail(&format!("no worker: {}", stats_doc(&stats))));
    assert_eq!(v["workers"][0]["state"], "starting", "{v}");
    assert_eq!(v["workers"][0]["accepting"], 0, "{v}");
    let text = metrics_text(&metrics);
    assert_eq!(
        sample(&text, r#"ebb_workers{state="starting"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"ebb_workers{state="ready"}"#),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"ebb_worker_threads{state="idle"}"#),
        Some(0.0),
        "{text}"
    );
}

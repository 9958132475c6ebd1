//! The control socket and its commands, the default socket, the master fifo, hostile control clients.

use super::*;

/// `ebb status`, `scale`, `recycle`, `reload` and `stop` through `--control`; wrong requests
/// get one clear error and a non-zero status.
#[test]
fn control_commands_steer_the_master() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--control", ctl.to_str().unwrap()])
        .start();
    let t = ebb.ready(2);
    let mode = std::fs::metadata(&ctl).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the control socket is owner-only");
    get_ok(&ebb, &t, "/");

    let v = status_json(&ctl);
    assert_eq!(v["pid"], ebb.pid);
    assert_eq!(v["ebb"]["config_generation"], 1);
    let mut pids: Vec<i64> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["pid"].as_i64().unwrap())
        .collect();
    pids.sort();
    let mut real: Vec<i64> = ebb.worker_pids().into_iter().map(i64::from).collect();
    real.sort();
    assert_eq!(pids, real);
    assert!(
        v["workers"][0]["rss"].as_u64().unwrap() > 0,
        "RSS is measured"
    );
    assert!(
        v["workers"][0]["vsz"].as_u64().unwrap() >= v["workers"][0]["rss"].as_u64().unwrap(),
        "the virtual size is measured, and holds the resident set"
    );

    let table = ok(&ebb_cmd(
        &["status", "--control", ctl.to_str().unwrap()],
        &[],
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[1].starts_with("WORKER"), "{table}");
    assert_eq!(lines.len(), 4, "{table}");

    let c = ctl.to_str().unwrap();
    ok(&ebb_cmd(&["scale", "3", "--control", c], &[]));
    wait_status(&ebb, &ctl, "3 ready workers", |v| ready_workers(v) == 3);

    let mark = ebb.mark();
    let out = ok(&ebb_cmd(&["recycle", "1", "--control", c], &[]));
    assert!(out.contains("recycling worker 1"), "{out}");
    ebb.expect_after(
        mark,
        "worker 1 drained",
        |l| l.is_event("drained") && l.worker() == Some(1),
        SOON,
    );
    let v = wait_status(&ebb, &ctl, "the recycle of worker 1", |v| {
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["id"] == 1 && w["last_recycle"]["reason"] == "command")
    });
    assert_eq!(v["ebb"]["recycles"]["command"], 1);

    let out = ebb_cmd(&["recycle", "9", "--control", c], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no worker 9"));

    ok(&ebb_cmd(&["reload", "--control", c], &[]));
    wait_status(&ebb, &ctl, "every worker on generation 2", |v| {
        let ws = v["workers"].as_array().unwrap();
        v["ebb"]["settled"] == true && ws.iter().all(|w| w["config_generation"] == 2)
    });

    ok(&ebb_cmd(&["stop", "--control", c], &[]));
    assert!(ebb.expect_exit(SOON).success());
    assert!(!ctl.exists(), "the control socket is removed at exit");

    let out = ebb_cmd(&["status", "--control", c], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is ebb running?"));
}

/// Without --control, commands find the master's socket in $XDG_RUNTIME_DIR/ebb; with two
/// masters they ask which one.
#[test]
fn commands_find_the_default_socket() {
    let run = tempdir();
    let xdg = run.path().to_str().unwrap().to_string();
    let mut a = Ebb::example(1).env("XDG_RUNTIME_DIR", &xdg).start();
    a.ready(1);
    let dir = run.path().join("ebb");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let sock = dir.join(format!("{}.ctl", a.pid));
    assert!(sock.exists(), "{} missing", sock.display());
    let env = [("XDG_RUNTIME_DIR", xdg.as_str())];
    let v: Value = serde_json::from_str(&ok(&ebb_cmd(&["status", "--json"], &env))).unwrap();
    assert_eq!(v["pid"], a.pid);

    // A file left by a killed master is not taken for a running one.
    std::os::unix::net::UnixListener::bind(dir.join("999999.ctl")).unwrap();
    let v: Value = serde_json::from_str(&ok(&ebb_cmd(&["status", "--json"], &env))).unwrap();
    assert_eq!(v["pid"], a.pid);

    let pidfile = run.path().join("b.pid");
    let b = Ebb::example(1)
        .env("XDG_RUNTIME_DIR", &xdg)
        .args(["--pidfile", pidfile.to_str().unwrap()])
        .start();
    b.ready(1);
    let out = ebb_cmd(&["status"], &env);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 ebbs are running") && err.contains("--pidfile"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&ok(&ebb_cmd(
        &["status", "--json", "--pidfile", pidfile.to_str().unwrap()],
        &env,
    )))
    .unwrap();
    assert_eq!(v["pid"], b.pid);

    ok(&ebb_cmd(
        &["stop", "--pidfile", pidfile.to_str().unwrap()],
        &env,
    ));
    let mut b = b;
    assert!(b.expect_exit(SOON).success());
    // One left: found again without being told. `--fast`: QUIT, no drain.
    let mark = a.mark();
    let out = ok(&ebb_cmd(&["stop", "--fast"], &env));
    assert!(out.contains("fast stop"), "{out}");
    a.expect_exit(SOON);
    a.expect_after(
        mark,
        "the workers quit",
        |l| l.is_event("quit") && l.worker() == Some(1),
        SOON,
    );
    assert_eq!(a.count_after(mark, |l| l.is_event("drain")), 0);
}

/// uWSGI's master fifo: `+` one worker more, `w` every worker replaced, `q` graceful stop.
#[test]
fn master_fifo_takes_uwsgi_letters() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let fifo = dir.path().join("ebb.fifo");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--control", ctl.to_str().unwrap()])
        .args(["--master-fifo", fifo.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let write = |s: &str| {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        f.write_all(s.as_bytes()).unwrap();
    };
    write("+\n");
    wait_status(&ebb, &ctl, "2 ready workers", |v| ready_workers(v) == 2);
    let mark = ebb.mark();
    write("w");
    ebb.wait_n_after(mark, 2, |l| l.is_event("drained"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    write("q");
    assert!(ebb.expect_exit(SOON).success());
    assert!(!fifo.exists(), "the fifo is removed at exit");
}

/// Clients that never send, send without end, or never read are dropped; others are still
/// answered at once meanwhile.
#[test]
fn hostile_control_clients_cannot_stall_the_master() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--control", ctl.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let baseline = open_fds(ebb.pid);
    // Silent clients, more than the per-server cap.
    let mut silent: Vec<UnixStream> = (0..40)
        .map(|_| UnixStream::connect(&ctl).unwrap())
        .collect();
    // One that sends and sends without a newline.
    let mut flood = UnixStream::connect(&ctl).unwrap();
    flood
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let chunk = vec![b'x'; 4096];
    let mut sent = 0;
    while sent < 1 << 20 {
        match flood.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break, // dropped (reset) or blocked: either way the master moved on
        }
    }
    assert!(
        sent < 1 << 20,
        "the master kept reading {sent} bytes of one request"
    );
    // Meanwhile the loop answers.
    let t0 = Instant::now();
    status_json(&ctl);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "status took {:?}",
        t0.elapsed()
    );
    // The silent ones are closed by the client deadline (5 s).
    let s = &mut silent[0];
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut buf = [0u8; 16];
    let t0 = Instant::now();
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "a silent client gets no answer");
    assert!(t0.elapsed() < Duration::from_secs(8));
    // The master holds what it held before the clients came, no more.
    let fds = poll_until(SOON, || {
        let n = open_fds(ebb.pid);
        (n <= baseline).then_some(n)
    });
    assert!(fds.is_some(), "the master still holds the clients' fds");
}

/// A reload refused for a bad configuration file says why to the one who asked: every
/// error with its file and line, and the old configuration keeps serving.
#[test]
fn a_refused_reload_lists_the_errors() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let conf = dir.path().join("site.ini");
    let good = "[uwsgi]\nexample-app = true\nhttp-socket = 127.0.0.1:0\nprocesses = 1\n";
    std::fs::write(&conf, good).unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args([conf.to_str().unwrap(), "--control", ctl.to_str().unwrap()])
        .start();
    let t = ebb.ready(1);
    write_atomic(
        &conf,
        &format!("{good}max-requests = lots\nharakiri = -1\n"),
    );
    let out = ebb_cmd(&["reload", "--control", ctl.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let f = conf.display();
    assert!(
        err.contains("the configuration has 2 error(s)")
            && err.contains(&format!("{f}:5: max-requests: "))
            && err.contains(&format!("{f}:6: harakiri: "))
            && err.contains("still running the previous configuration"),
        "{err}"
    );
    get_ok(&ebb, &t, "/");
    assert_eq!(status_json(&ctl)["ebb"]["config_generation"], 1);
}

/// Fork servers show in `ebb status` (table and `--json`) and in the stats document under
/// `fork_servers`: pid, configuration generation, state, import time; after a reload the
/// new generation's is listed and the old one's goes.
#[test]
fn status_lists_the_fork_servers() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "def application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [b'hi\\n']\n",
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--processes",
            "2",
            "--wsgi-file",
            app.to_str().unwrap(),
            "--control",
            ctl.to_str().unwrap(),
            "--stats",
            "127.0.0.1:0",
        ])
        .start();
    let first = ebb
        .wait_for(|l| l.is_event("fork-server-ready"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e))
        .pid()
        .expect("the fork-server-ready line names its pid");
    ebb.ready(2);
    let v = wait_status(&ebb, &ctl, "the fork server ready", |v| {
        v["fork_servers"][0]["state"] == "ready"
    });
    let f = &v["fork_servers"][0];
    assert_eq!(v["fork_servers"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(f["pid"], first, "{f}");
    assert_eq!(f["config_generation"], 1, "{f}");
    assert!(f["import_s"].as_f64().is_some_and(|s| s >= 0.0), "{f}");
    assert!(f["since_s"].as_f64().is_some(), "{f}");
    // uWSGI's fields are untouched: the fork server is not one of the workers.
    assert!(
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["pid"] != first),
        "{v}"
    );
    let table = ok(&ebb_cmd(
        &["status", "--control", ctl.to_str().unwrap()],
        &[],
    ));
    let row = table
        .lines()
        .find(|l| l.starts_with(&format!("{first} ")))
        .unwrap_or_else(|| panic!("no fork server row in:\n{table}"));
    assert!(table.contains("FORK SERVER  GEN  STATE"), "{table}");
    assert!(row.split_whitespace().nth(2) == Some("ready"), "{row}");

    // The plain stats server says the same.
    let doc = stats_doc(&listen_addr(&ebb, "stats-listen"));
    assert_eq!(doc["fork_servers"][0]["pid"], first, "{doc}");

    // A reload imports the app again in a new fork server; the old one retires and goes.
    ok(&ebb_cmd(
        &["reload", "--control", ctl.to_str().unwrap()],
        &[],
    ));
    let v = wait_status(&ebb, &ctl, "only generation 2's fork server, ready", |v| {
        let list = v["fork_servers"].as_array().cloned().unwrap_or_default();
        list.len() == 1 && list[0]["config_generation"] == 2 && list[0]["state"] == "ready"
    });
    assert_ne!(v["fork_servers"][0]["pid"], first, "{v}");
}

/// The fifo's other letters: `r`, `R` and `c` reload (one configuration generation each),
/// `-` one worker less, `W` every worker replaced (gracefully, unlike uWSGI), `s` the status table in the log, an unknown letter a warning and
/// nothing else, `l` the log file reopened (logrotate's way), `Q` a fast stop.
#[test]
fn master_fifo_reload_scale_down_status_reopen_and_fast_stop() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let fifo = dir.path().join("ebb.fifo");
    let main = dir.path().join("main.log");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--control", ctl.to_str().unwrap()])
        .args(["--master-fifo", fifo.to_str().unwrap()])
        .args(["--logto", main.to_str().unwrap()])
        .start();
    let read = || std::fs::read_to_string(&main).unwrap_or_default();
    let write = |s: &str| {
        let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        f.write_all(s.as_bytes()).unwrap();
    };
    // The log goes to the file: the control socket says when the workers are ready.
    poll_until(SOON, || ctl.exists().then_some(()))
        .unwrap_or_else(|| panic!("no control socket; log:\n{}", read()));
    wait_status(&ebb, &ctl, "2 ready workers", |v| ready_workers(v) == 2);
    for (letter, generation) in [("r", 2), ("R", 3), ("c", 4)] {
        write(letter);
        wait_status(
            &ebb,
            &ctl,
            &format!("generation {generation} settled"),
            |v| v["ebb"]["settled"] == true && v["ebb"]["config_generation"] == generation,
        );
    }
    write("-");
    let v = wait_status(&ebb, &ctl, "1 worker", |v| {
        v["ebb"]["processes"] == 1 && v["workers"].as_array().unwrap().len() == 1
    });
    assert_eq!(v["ebb"]["config_generation"], 4, "{v}");

    // W (uWSGI's brutal reload of the workers): replaced gracefully, on the configuration
    // already loaded (as `w`: a generation of its own, the same parameters).
    let before = v["workers"][0]["pid"].clone();
    write("W");
    let v = wait_status(&ebb, &ctl, "the worker replaced", |v| {
        let list = v["workers"].as_array().unwrap();
        list.len() == 1 && list[0]["pid"] != before && list[0]["state"] == "ready"
    });
    assert_eq!(v["ebb"]["config_generation"], 5, "{v}");
    assert!(read().contains("replaces them gracefully"), "{}", read());

    write("s");
    let pid = v["workers"][0]["pid"].to_string();
    poll_until(SOON, || {
        let log = read();
        let table = log.lines().skip_while(|l| !l.contains("WORKER  PID"));
        table
            .take(3)
            .any(|l| l.contains(&format!(" {pid} ")))
            .then_some(())
    })
    .unwrap_or_else(|| ebb.fail(&format!("no status table in the log:\n{}", read())));

    write("x");
    poll_until(SOON, || {
        read()
            .contains("master fifo: unknown command 'x'")
            .then_some(())
    })
    .unwrap_or_else(|| ebb.fail(&format!("no warning for x:\n{}", read())));
    assert_eq!(status_json(&ctl)["ebb"]["config_generation"], 5);

    let moved = dir.path().join("moved.log");
    std::fs::rename(&main, &moved).unwrap();
    write("l");
    poll_until(SOON, || read().contains("log files reopened").then_some(())).unwrap_or_else(|| {
        panic!("the log was not reopened; moved log:\n{}", {
            std::fs::read_to_string(&moved).unwrap_or_default()
        })
    });

    // Q: the workers get QUIT and ebb exits without a drain (the reopened file has it all).
    write("Q");
    assert!(ebb.expect_exit(SOON).code().is_some());
    let log = read();
    assert!(
        log.contains("fast stop: 1 workers told to quit") && log.contains(r#""event":"quit""#),
        "{log}"
    );
    assert!(!log.contains(r#""event":"drain""#), "{log}");
}

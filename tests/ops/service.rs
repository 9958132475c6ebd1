//! Under a service manager: systemd notify and socket activation, process titles, the shutdown delay, the Kubernetes manifest.

use super::*;

/// Datagrams the master sent to the test's NOTIFY_SOCKET, read until `pred` holds.
fn notify_until(
    ebb: &Ebb,
    sock: &std::os::unix::net::UnixDatagram,
    got: &mut Vec<String>,
    what: &str,
    pred: impl Fn(&[String]) -> bool,
) {
    let deadline = Instant::now() + SOON;
    let mut buf = [0u8; 4096];
    while !pred(got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            ebb.fail(&format!("no {what} on NOTIFY_SOCKET; got {got:?}"));
        }
        sock.set_read_timeout(Some(left)).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

/// Type=notify: READY=1 only once every worker is ready; a reload says RELOADING=1 with
/// MONOTONIC_USEC, then READY=1 when every worker runs the new generation; STATUS= follows;
/// STOPPING=1; WATCHDOG=1 when WATCHDOG_USEC asks. The workers never see systemd's socket.
#[test]
fn systemd_notify_ready_reloading_stopping_watchdog() {
    let dir = std::sync::Arc::new(tempdir());
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .env("WATCHDOG_USEC", "400000")
        .args(["--stats", "127.0.0.1:0"])
        .start();
    let stats = listen_addr(&ebb, "stats-listen");
    let mut got = Vec::new();
    notify_until(&ebb, &sock, &mut got, "READY=1", |g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    // Both workers' ready lines were written before READY=1 (the harness may read them a
    // moment later); the first word to systemd was that it was starting.
    ebb.wait_ready(0, 2, SOON);
    assert!(got[0].starts_with("STATUS=starting: "), "{got:?}");
    let ready = got.iter().find(|m| m.starts_with("READY=1")).unwrap();
    assert!(
        ready.contains("STATUS=2 workers, 0 draining, 0 jobs"),
        "{ready}"
    );
    for (pid, env) in ebb.workers() {
        let n = env.get("NOTIFY_SOCKET").cloned().unwrap_or_default();
        assert_ne!(
            n,
            path.to_str().unwrap(),
            "worker {pid} got systemd's socket"
        );
        assert!(
            !env.contains_key("WATCHDOG_USEC"),
            "worker {pid} got the master's watchdog"
        );
    }
    // The watchdog: pings at half the period, and nothing else while idle.
    let before = got.len();
    notify_until(&ebb, &sock, &mut got, "3 watchdog pings", |g| {
        g[before..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 3
    });

    // STATUS= follows the work: a job shows, then its end. (Changes are sent at most once a
    // second, src/live/sdnotify.rs's tests; the job outlasts that.)
    let t = ebb.target();
    got.clear();
    get_ok(&ebb, &t, "/job?ms=1500&id=short");
    notify_until(&ebb, &sock, &mut got, "STATUS= with 1 job", |g| {
        g.iter().any(|m| m == "STATUS=2 workers, 0 draining, 1 job")
    });
    notify_until(&ebb, &sock, &mut got, "STATUS= with 0 jobs again", |g| {
        g.iter()
            .any(|m| m == "STATUS=2 workers, 0 draining, 0 jobs")
    });

    got.clear();
    ebb.signal(nix::sys::signal::Signal::SIGHUP);
    notify_until(&ebb, &sock, &mut got, "RELOADING=1 then READY=1", |g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    let reloading = got
        .iter()
        .position(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no RELOADING=1: {got:?}"));
    // Read at once: no worker of generation 1 is serving when READY=1 comes.
    let v = stats_doc(&stats);
    let ready = got.iter().position(|m| m.starts_with("READY=1")).unwrap();
    assert!(reloading < ready, "{got:?}");
    for w in v["workers"].as_array().unwrap() {
        assert!(
            w["config_generation"] == 2 || w["state"] == "draining" || w["state"] == "killing",
            "READY=1 while generation 1 serves: {w}"
        );
    }
    let usec: u64 = got[reloading]
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(usec > 0);
    // Every serving worker is of generation 2 when READY=1 is sent.
    ebb.wait_n_after(
        0,
        2,
        |l| l.is_event("ready") && l.int_field("respawn") == Some(2),
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&e));

    got.clear();
    ebb.signal(nix::sys::signal::Signal::SIGTERM);
    notify_until(&ebb, &sock, &mut got, "STOPPING=1", |g| {
        g.iter().any(|m| m.starts_with("STOPPING=1"))
    });
    assert!(ebb.expect_exit(SOON).success());
}

/// READY=1 waits for every worker of the first generation: with worker 1 ready and worker
/// 2 silent (a program that never notifies), systemd hears nothing but STATUS= until
/// worker 2 is taken as ready at --ready-timeout.
/// WATCHDOG_PID (systemd's convention): the watchdog is for the process it names. A master
/// told another pid sends no WATCHDOG=1, while a master beside it with no WATCHDOG_PID, started
/// at the same time with the same period, pings three times (the observation window).
#[test]
fn systemd_watchdog_pid_names_who_pings() {
    let dir = std::sync::Arc::new(tempdir());
    let start = |name: &str, pid: Option<&str>| {
        let path = dir.path().join(name);
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let mut b = Ebb::example(1)
            .dir(dir.clone())
            .env("NOTIFY_SOCKET", path.to_str().unwrap())
            .env("WATCHDOG_USEC", "200000");
        if let Some(p) = pid {
            b = b.env("WATCHDOG_PID", p);
        }
        (b.start(), sock)
    };
    let (other, other_sock) = start("other.sock", Some("1"));
    let (ours, ours_sock) = start("ours.sock", None);
    let mut got_other = Vec::new();
    notify_until(&other, &other_sock, &mut got_other, "READY=1", |g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    let mut got_ours = Vec::new();
    notify_until(&ours, &ours_sock, &mut got_ours, "3 watchdog pings", |g| {
        g.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3
    });
    other_sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while let Ok(n) = other_sock.recv(&mut buf) {
        got_other.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(
        !got_other.iter().any(|m| m == "WATCHDOG=1"),
        "WATCHDOG_PID=1, yet the master pinged: {got_other:?}"
    );
}

#[test]
fn systemd_ready_waits_for_every_first_worker() {
    let dir = std::sync::Arc::new(tempdir());
    let path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    let script = format!(
        "if [ \"$EBB_WORKER_ID\" = 1 ]; then exec {EBB} example-app; else exec sleep 60; fi"
    );
    let t0 = Instant::now();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "-p",
            "2",
            "--ready-timeout",
            "3",
        ])
        .args(["--", "sh", "-c", &script])
        .env("NOTIFY_SOCKET", path.to_str().unwrap())
        .start();
    ebb.wait_for(|l| l.is_event("ready") && l.worker() == Some(1), SOON)
        .unwrap_or_else(|e| ebb.fail(&format!("worker 1 never ready: {e}")));
    let mut got = Vec::new();
    notify_until(&ebb, &sock, &mut got, "READY=1", |g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(2900),
        "READY=1 after {waited:?}, before worker 2's ready timeout (3 s): {got:?}"
    );
    // (The log is read apart from the notify socket: its line may come a moment later.)
    ebb.wait_for(
        |l| l.is_event("ready-timeout") && l.worker() == Some(2),
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&format!("worker 2 was not taken as ready: {e}")));
    assert!(
        got.iter()
            .take_while(|m| !m.starts_with("READY=1"))
            .all(|m| m.starts_with("STATUS=starting: ")),
        "{got:?}"
    );
}

/// A process started outside the harness (under systemd-socket-activate): killed with its
/// workers on drop.
struct Started {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Started {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) {
        if poll_until(SOON, || pred(&self.log()).then_some(())).is_none() {
            panic!("no {what} in the log:\n{}", self.log());
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_workers_of(pid, SOON);
    }
}

/// Socket activation as systemd does it (`systemd-socket-activate`, Debian's systemd
/// package; it execs ebb in its own process, so LISTEN_PID is ebb's): ebb adopts the passed
/// socket and its workers serve on it, the first connection included; a socket named
/// `uwsgi` (conf/ebb.socket's `FileDescriptorName=uwsgi`) speaks the uwsgi protocol.
#[test]
fn systemd_socket_activation() {
    let activate = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("systemd-socket-activate is missing: apt-get install systemd (.ci/run does)");
    for fdname in ["http", "uwsgi"] {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let dir = tempdir();
        let ctl = dir.path().join("ebb.ctl");
        let log = dir.path().join("ebb.log");
        let child = Command::new(activate)
            .args(["-l", &addr, &format!("--fdname={fdname}"), EBB])
            .args(["-p", "2", "--example-app", "--log-format", "json"])
            .args(["--control", ctl.to_str().unwrap()])
            .env_remove("LISTEN_FDS")
            .env_remove("NOTIFY_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let ebb = Started { child, log };
        // It listens, and execs ebb when the first connection comes (which then waits in the
        // socket's queue for a worker).
        ebb.wait_log("systemd-socket-activate listening", |l| {
            l.contains("Listening on")
        });
        let t = Target::Tcp(addr.parse().unwrap());
        let r = if fdname == "uwsgi" {
            uwsgi_request(&t, "GET", "/", b"")
                .unwrap_or_else(|e| panic!("uwsgi GET /: {e}\n{}", ebb.log()))
        } else {
            get(&t, "/").unwrap_or_else(|e| panic!("GET /: {e}\n{}", ebb.log()))
        };
        ebb.wait_log("adoption of the socket", |l| {
            l.contains("using sockets passed by systemd")
        });
        ebb.wait_log("2 ready workers", |l| {
            l.matches("\"event\":\"ready\"").count() >= 2
        });
        assert_eq!(r.status, 200, "{fdname}");
        assert!(r.body.contains("hello from worker="), "{}", r.body);
        let v = status_json(&ctl);
        assert_eq!(v["pid"], ebb.child.id());
        assert_eq!(v["sockets"][0]["name"], addr);
        assert_eq!(v["sockets"][0]["proto"], fdname);
        assert_eq!(v["sockets"][0]["queue_known"], true);
    }
}

fn cmdline(pid: i32) -> String {
    let b = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&b)
        .replace('\0', " ")
        .trim_end()
        .to_string()
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// `ps` says who is who: `ebb master ARGS` and `ebb worker N gen G`, with uWSGI's
/// procname-prefix-spaced and procname-append; every worker gets its title in EBB_PROCNAME.
#[test]
fn process_titles() {
    let ebb = Ebb::example(2)
        .args([
            "--procname-prefix-spaced",
            "shop",
            "--procname-append",
            "+prod",
        ])
        .start();
    ebb.ready(2);
    let m = cmdline(ebb.pid);
    assert!(m.starts_with("shop ebb master+prod --http-socket"), "{m}");
    assert_eq!(comm(ebb.pid), "shop ebb master");
    let mut titles: Vec<String> = ebb.worker_pids().into_iter().map(cmdline).collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "shop ebb worker 1 gen 1+prod example-app",
            "shop ebb worker 2 gen 1+prod example-app"
        ]
    );
    for (_, env) in ebb.workers() {
        assert!(
            env["EBB_PROCNAME"].starts_with("shop ebb worker "),
            "{env:?}"
        );
    }
    drop(ebb);

    let ebb = Ebb::example(1).start();
    ebb.ready(1);
    let mark = ebb.mark();
    ebb.signal(nix::sys::signal::Signal::SIGHUP);
    ebb.wait_ready(mark, 1, SOON);
    let pid = poll_until(SOON, || {
        let p = ebb.worker_pids();
        (p.len() == 1).then(|| p[0])
    })
    .unwrap();
    assert_eq!(cmdline(pid), "ebb worker 1 gen 2 example-app");
    assert!(cmdline(ebb.pid).starts_with("ebb master --http-socket"));
}

/// `--shutdown-delay`: after SIGTERM ebb keeps serving (new connections too) for the delay,
/// then drains and exits; `ebb status` says so meanwhile.
#[test]
fn shutdown_delay_keeps_serving_then_drains() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let mut ebb = Ebb::example(2)
        .dir(dir.clone())
        // No access lines: the loop below sends thousands of requests, and a log flooded
        // faster than the test reads it drops lines by design (the master never blocks on its
        // log), the stop line among them.
        .args([
            "--shutdown-delay",
            "3",
            "--control",
            ctl.to_str().unwrap(),
            "--disable-logging",
        ])
        .start();
    let t = ebb.ready(2);
    let mark = ebb.mark();
    let t0 = Instant::now();
    ebb.signal(nix::sys::signal::Signal::SIGTERM);
    ebb.expect_after(
        mark,
        "the shutdown delay",
        |l| l.is_event("shutdown-delay"),
        SOON,
    );
    assert_eq!(status_json(&ctl)["ebb"]["state"], "shutdown-delay");
    // A request that outlasts the delay (3 s) is finished by the drain, not cut.
    let t2 = t.clone();
    let spanning = std::thread::spawn(move || get(&t2, "/sleep?ms=3500"));
    // New connections are served for the delay (a margin of 0.5 s for a loaded machine).
    let mut served = 0;
    while served == 0 || t0.elapsed() < Duration::from_millis(2500) {
        let r =
            get(&t, "/").unwrap_or_else(|e| ebb.fail(&format!("refused during the delay: {e}")));
        assert_eq!(r.status, 200);
        served += 1;
    }
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("drain")),
        0,
        "drained during the delay"
    );
    let stop = ebb.expect_after(mark, "the stop", |l| l.is_event("stop"), SOON);
    let stopped = t0.elapsed();
    assert!(
        stopped >= Duration::from_millis(3000),
        "stopped after {stopped:?}: {}",
        stop.message()
    );
    let r = spanning
        .join()
        .unwrap()
        .unwrap_or_else(|e| ebb.fail(&format!("the request across the drain failed: {e}")));
    assert_eq!(r.status, 200);
    assert!(ebb.expect_exit(SOON).success());
}

/// `ebb stop` with `--shutdown-delay` waits out the delay as SIGTERM does, and says so; a
/// second `ebb stop` skips the rest of it (as a second TERM does).
#[test]
fn ebb_stop_honours_the_shutdown_delay_and_a_second_one_skips_it() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let c = ctl.to_str().unwrap();
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--shutdown-delay", "30", "--control", c])
        .start();
    let t = ebb.ready(1);
    let first = ok(&ebb_cmd(&["stop", "--control", c], &[]));
    assert!(
        first.contains("graceful stop in 30s (--shutdown-delay)"),
        "{first}"
    );
    assert_eq!(status_json(&ctl)["ebb"]["state"], "shutdown-delay");
    let r = get(&t, "/").unwrap_or_else(|e| ebb.fail(&format!("refused during the delay: {e}")));
    assert_eq!(r.status, 200);
    let t0 = Instant::now();
    let second = ok(&ebb_cmd(&["stop", "--control", c], &[]));
    assert!(
        second.contains("the rest of the shutdown delay is skipped"),
        "{second}"
    );
    assert!(ebb.expect_exit(SOON).success());
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "waited out the delay"
    );
}

/// conf/kubernetes.yaml adds up: ebb accepts its arguments, and the grace period covers the
/// shutdown delay plus the drain timeout.
#[test]
fn kubernetes_manifest_adds_up() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/kubernetes.yaml"))
            .unwrap();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} not in conf/kubernetes.yaml"))
            .trim()
            .to_string()
    };
    let grace: u64 = field("terminationGracePeriodSeconds:").parse().unwrap();
    let args: Vec<String> = serde_json::from_str(&field("args:")).expect("args as a flow list");
    let value = |flag: &str| -> u64 {
        let i = args
            .iter()
            .position(|a| a == flag)
            .unwrap_or_else(|| panic!("no {flag}"));
        args[i + 1].parse().unwrap()
    };
    let (delay, drain) = (value("--shutdown-delay"), value("--drain-timeout"));
    // The ports the manifest names are the ones ebb is told to listen on.
    let port_of = |flag: &str| -> String {
        let i = args.iter().position(|a| a == flag).unwrap();
        args[i + 1].rsplit(':').next().unwrap().to_string()
    };
    let metrics_port = port_of("--metrics");
    assert_eq!(
        field("prometheus.io/port:").trim_matches('"'),
        metrics_port,
        "the scrape annotation"
    );
    assert!(
        text.contains(&format!("{{name: metrics, containerPort: {metrics_port}}}")),
        "the metrics containerPort"
    );
    assert!(
        text.contains(&format!(
            "{{name: http, containerPort: {}}}",
            port_of("--http-socket")
        )),
        "the http containerPort"
    );
    assert_eq!(field("prometheus.io/path:"), "/metrics");
    assert!(grace > delay + drain, "grace {grace} <= {delay} + {drain}");
    let mut check: Vec<&str> = args.iter().map(String::as_str).collect();
    // The manifest's app is not here: check the configuration alone.
    check.extend(["--check-config", "--no-app"]);
    let (status, out, err) = run_ebb(&check, SOON);
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(&format!(
            "shutdown delay {delay}s (stops within {}s",
            delay + drain
        )),
        "{out}"
    );
}

/// uWSGI's own title options from an ini file (`procname`, `procname-prefix`,
/// `procname-master`, `auto-procname`; with its `stats` line), and the Python worker's titles: its fork server and
/// its workers set their comm (what `ps -o comm`, `top` and `pgrep` show) from the title ebb
/// gives them.
#[test]
fn uwsgi_procname_options_and_python_titles() {
    let dir = std::sync::Arc::new(tempdir());
    let ini = dir.path().join("site.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nexample-app = true\nhttp-socket = 127.0.0.1:0\nprocesses = 1\n\
         auto-procname = true\nprocname-prefix = shop-\nprocname = web\nprocname-master = boss\n\
         stats = 127.0.0.1:0\n",
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .arg(ini.to_str().unwrap())
        .start();
    ebb.ready(1);
    let m = cmdline(ebb.pid);
    assert!(
        m.starts_with(&format!("shop-boss {} ", ini.display())),
        "{m}"
    );
    assert_eq!(comm(ebb.pid), "shop-boss");
    let w = ebb.worker_pids();
    assert_eq!(w.len(), 1);
    assert_eq!(cmdline(w[0]), "shop-web example-app");
    // And the `stats = ADDR` line one real uwsgi.ini in ten has.
    let doc = stats_doc(&listen_addr(&ebb, "stats-listen"));
    assert_eq!(doc["pid"], ebb.pid);
    drop(ebb);

    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "def application(env, start):\n    start('200 OK', [])\n    return [b'hi']\n",
    )
    .unwrap();
    let ctl = dir.path().join("ebb.ctl");
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args(["--http-socket", "127.0.0.1:0", "-p", "2"])
        .args(["--wsgi-file", app.to_str().unwrap()])
        .args(["--control", ctl.to_str().unwrap()])
        .start();
    ebb.ready(2);
    let v = wait_status(&ebb, &ctl, "the fork server ready", |v| {
        v["fork_servers"][0]["state"] == "ready"
    });
    let fork = v["fork_servers"][0]["pid"].as_i64().unwrap() as i32;
    assert_eq!(comm(fork), "ebb fork server");
    let mut comms: Vec<String> = v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| comm(w["pid"].as_i64().unwrap() as i32))
        .collect();
    comms.sort();
    // The first 15 bytes of `ebb worker N gen 1 app.py`.
    assert_eq!(comms, ["ebb worker 1 ge", "ebb worker 2 ge"]);
    let titled: Vec<String> = ebb
        .workers()
        .into_iter()
        .filter(|(_, env)| env.contains_key("EBB_WORKER_ID"))
        .map(|(_, env)| env["EBB_PROCNAME"].clone())
        .collect();
    assert_eq!(titled.len(), 2, "{titled:?}");
    for t in titled {
        assert!(
            t.starts_with("ebb worker ") && t.ends_with(" gen 1 app.py"),
            "{t}"
        );
    }
}

/// conf/ebb.service and conf/ebb.socket: `systemd-analyze verify` finds nothing to say (with
/// ExecStart pointed at this ebb), the service is Type=notify with NotifyAccess=main,
/// KillMode=mixed and a watchdog, its ExecReload sends HUP, its ExecStart's arguments are
/// valid ebb ones (conf/ebb.toml standing for /etc/ebb/myapp.toml), and TimeoutStopSec
/// covers that configuration's drain timeout and shutdown delay; the socket names a
/// protocol ebb knows.
#[test]
fn systemd_units_verify_and_cover_the_drain() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let service = std::fs::read_to_string(root.join("conf/ebb.service")).unwrap();
    let socket = std::fs::read_to_string(root.join("conf/ebb.socket")).unwrap();
    let key = |text: &str, k: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in the unit"))
            .trim()
            .to_string()
    };
    assert_eq!(key(&service, "Type"), "notify");
    assert_eq!(key(&service, "NotifyAccess"), "main");
    assert_eq!(key(&service, "KillMode"), "mixed");
    assert_eq!(key(&service, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert!(key(&service, "WatchdogSec").parse::<u64>().unwrap() > 0);
    assert!(
        ["http", "uwsgi"].contains(&key(&socket, "FileDescriptorName").as_str()),
        "{socket}"
    );
    assert!(key(&socket, "ListenStream").contains(':'));

    // ExecStart's arguments, checked by ebb itself.
    let exec = key(&service, "ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/ebb"));
    let toml = root.join("conf/ebb.toml");
    let mut args: Vec<String> = words
        .map(|w| {
            if w == "/etc/ebb/myapp.toml" {
                toml.display().to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let dir = tempdir();
    // /run/myapp is the unit's RuntimeDirectory: here, a directory of the test's.
    for a in &mut args {
        if let Some(rest) = a.strip_prefix("/run/myapp/") {
            *a = dir.path().join(rest).display().to_string();
        }
    }
    args.extend(["--check-config".into(), "--no-app".into()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, out, err) = run_ebb(&argv, SOON);
    assert!(status.success(), "{out}{err}");
    let secs_after = |marker: &str| -> u64 {
        out.split(marker)
            .nth(1)
            .map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let drain = secs_after("signal, ");
    assert!(drain > 0, "no drain timeout in:\n{out}");
    let delay = secs_after("shutdown delay ");
    let stop: u64 = key(&service, "TimeoutStopSec").parse().unwrap();
    assert!(
        stop > drain + delay,
        "TimeoutStopSec={stop} <= drain {drain} + delay {delay}"
    );

    // systemd's own reading of both units.
    let analyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("systemd-analyze is missing: apt-get install systemd (.ci/run does)");
    std::fs::write(
        dir.path().join("myapp.service"),
        service.replace("/usr/local/bin/ebb", EBB),
    )
    .unwrap();
    std::fs::write(dir.path().join("myapp.socket"), &socket).unwrap();
    let out = Command::new(analyze)
        .current_dir(dir.path())
        .args(["verify", "./myapp.service", "./myapp.socket"])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

//! Issue 11, operating ebb: the control socket and its commands, the master fifo, the stats
//! and metrics servers (read by the real uwsgitop and prometheus_client), systemd notify and
//! socket activation, process titles, the shutdown delay. Real processes on 127.0.0.1;
//! every wait has a deadline; `Ebb`'s drop kills everything even when a test fails.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Run `ebb ARGS` (a command for a running master) with `env`, within a deadline.
fn ebb_cmd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(EBB);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("XDG_RUNTIME_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start ebb");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(SOON) {
        Ok(out) => out.expect("ebb ran"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("ebb {args:?} did not finish within {SOON:?}");
        }
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status_json(ctl: &Path) -> Value {
    let out = ebb_cmd(
        &["status", "--json", "--control", ctl.to_str().unwrap()],
        &[],
    );
    serde_json::from_str(&ok(&out)).expect("status --json is JSON")
}

/// Wait until the status document satisfies `pred`.
fn wait_status(ebb: &Ebb, ctl: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    poll_until(SOON, || {
        let v = status_json(ctl);
        pred(&v).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail(&format!("status never showed {what}: {}", status_json(ctl))))
}

fn ready_workers(v: &Value) -> usize {
    v["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["state"] == "ready")
        .count()
}

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
    // One left: found again without being told.
    ok(&ebb_cmd(&["stop", "--fast"], &env));
    a.expect_exit(SOON);
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

/// How many descriptors `pid` has open.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The venv with uwsgitop and prometheus_client (`$EBB_TEST_VENV`, default
/// `target/ci-venv`, made by `scripts/test`). Missing: the test fails and says what to run.
fn ops_venv() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("EBB_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/ci-venv"));
    let venv = if venv.is_absolute() {
        venv
    } else {
        root.join(venv)
    };
    let has = venv.join("bin/uwsgitop").exists()
        && Command::new(venv.join("bin/python"))
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        has,
        "{0} lacks uwsgitop or prometheus_client: run scripts/test (it makes the venv), or \
         {0}/bin/pip install uwsgitop prometheus_client",
        venv.display()
    );
    venv
}

/// The address a `stats-listen` / `metrics-listen` line names.
fn listen_addr(ebb: &Ebb, event: &str) -> String {
    let l = ebb
        .wait_for(|l| l.is_event(event), SOON)
        .unwrap_or_else(|e| ebb.fail(&format!("no {event} line: {e}")));
    l.str_field("address").expect("address field").to_string()
}

/// A tmux server of the test's own, killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The real uwsgitop (PyPI) draws ebb's workers from `--stats`: their pids, request
/// counts and the listen queue, on a TCP address and on a Unix socket; `--stats-http` serves
/// the same document over HTTP.
#[test]
fn uwsgitop_draws_the_workers() {
    let venv = ops_venv();
    let dir = std::sync::Arc::new(tempdir());
    let unix = dir.path().join("stats.sock");
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--stats", "127.0.0.1:0"])
        .start();
    let t = ebb.ready(2);
    for _ in 0..5 {
        get_ok(&ebb, &t, "/");
    }
    let addr = listen_addr(&ebb, "stats-listen");

    // The raw protocol: connect, read one document, EOF.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["workers"].as_array().unwrap().len(), 2);
    for key in [
        "requests",
        "rss",
        "pid",
        "last_spawn",
        "respawn_count",
        "tx",
        "avg_rt",
    ] {
        assert!(v["workers"][0][key].is_u64(), "{key}: {}", v["workers"][0]);
    }
    assert!(v["workers"][0]["status"].is_string());
    assert!(v["listen_queue"].is_u64());
    assert_eq!(v["sockets"][0]["max_queue"], 1024);
    assert_eq!(v["workers"][0]["state"], "ready");

    let tmux = Tmux {
        socket: dir.path().join("tmux.sock"),
    };
    let top = venv.join("bin/uwsgitop");
    tmux.run(&[
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "40",
        "-s",
        "top",
        &format!("TERM=xterm {} {addr}", top.display()),
    ]);
    let pids = ebb.worker_pids();
    let screen = poll_until(SOON, || {
        let s = tmux.run(&["capture-pane", "-p", "-t", "top"]);
        (s.contains("WID") && pids.iter().all(|p| s.contains(&p.to_string()))).then_some(s)
    })
    .unwrap_or_else(|| {
        ebb.fail(&format!(
            "uwsgitop never showed the workers {pids:?}:\n{}",
            tmux.run(&["capture-pane", "-p", "-t", "top"])
        ))
    });
    assert!(screen.contains("req: 5"), "{screen}");
    assert!(screen.contains("lq: 0"), "{screen}");
    drop(tmux);
    drop(ebb);

    // A Unix socket, and the HTTP flavour, with uwsgitop's one-shot reading.
    let ebb = Ebb::example(1)
        .args(["--stats", unix.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let mode = std::fs::metadata(&unix).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut s = UnixStream::connect(&unix).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["pid"], ebb.pid);
    drop(ebb);

    let ebb = Ebb::example(1)
        .args(["--stats", "127.0.0.1:0", "--stats-http"])
        .start();
    ebb.ready(1);
    let addr = listen_addr(&ebb, "stats-listen");
    let py = format!(
        "import json, urllib.request; d = json.load(urllib.request.urlopen('http://{addr}/')); \
         print(d['pid'], len(d['workers']))"
    );
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} 1", ebb.pid),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET /metrics` parses with prometheus_client's own text parser and counts what happened:
/// requests, a recycle by reason, the drain histogram, RSS and the listen queue.
#[test]
fn metrics_parse_with_prometheus_client() {
    let venv = ops_venv();
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args([
            "--metrics",
            "127.0.0.1:0",
            "--control",
            ctl.to_str().unwrap(),
        ])
        .start();
    let t = ebb.ready(2);
    for _ in 0..7 {
        get_ok(&ebb, &t, "/");
    }
    let mark = ebb.mark();
    ok(&ebb_cmd(
        &["recycle", "2", "--control", ctl.to_str().unwrap()],
        &[],
    ));
    ebb.expect_after(mark, "worker 2 drained", |l| l.is_event("drained"), SOON);
    let addr = listen_addr(&ebb, "metrics-listen");
    let py = format!(
        r#"
import json, urllib.request
from prometheus_client.parser import text_string_to_metric_families
r = urllib.request.urlopen('http://{addr}/metrics')
assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4'), r.headers
out = {{}}
for fam in text_string_to_metric_families(r.read().decode()):
    for s in fam.samples:
        key = s.name + ''.join('|%s=%s' % kv for kv in sorted(s.labels.items()) if kv[0] != 'pid')
        out[key] = out.get(key, 0) + s.value
    out['type:' + fam.name] = fam.type
print(json.dumps(out))
"#
    );
    let got = poll_until(SOON, || {
        let out = Command::new(venv.join("bin/python"))
            .args(["-c", &py])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["ebb_requests_total"].as_f64() >= Some(7.0)).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail("ebb_requests_total never reached 7"));
    assert_eq!(got["type:ebb_requests"], "counter", "{got}");
    assert_eq!(got["ebb_workers|state=ready"], 2.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=command"], 1.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=max-requests"], 0.0, "{got}");
    assert_eq!(got["type:ebb_drain_duration_seconds"], "histogram", "{got}");
    assert_eq!(got["ebb_drain_duration_seconds_count"], 1.0, "{got}");
    assert_eq!(got["ebb_replacement_ready_seconds_count"], 1.0, "{got}");
    assert_eq!(
        got["ebb_drain_duration_seconds_bucket|le=+Inf"], 1.0,
        "{got}"
    );
    assert!(
        got["ebb_worker_rss_bytes|worker=1"].as_f64() > Some(0.0),
        "{got}"
    );
    let Target::Tcp(sa) = t else { unreachable!() };
    assert_eq!(
        got[format!("ebb_listen_queue_limit|socket={sa}")],
        1024.0,
        "{got}"
    );
    assert_eq!(got["ebb_jobs_lost_total"], 0.0, "{got}");
    assert_eq!(got["type:ebb_worker_threads"], "gauge", "{got}");

    // Other paths and methods get a clear answer, not the metrics.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

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
        .start();
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

    got.clear();
    ebb.signal(nix::sys::signal::Signal::SIGHUP);
    notify_until(&ebb, &sock, &mut got, "RELOADING=1 then READY=1", |g| {
        g.iter().any(|m| m.starts_with("READY=1"))
    });
    let reloading = got
        .iter()
        .position(|m| m.starts_with("RELOADING=1\nMONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no RELOADING=1: {got:?}"));
    let ready = got.iter().position(|m| m.starts_with("READY=1")).unwrap();
    assert!(reloading < ready, "{got:?}");
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
/// socket and its workers serve on it, the first connection included.
#[test]
fn systemd_socket_activation() {
    let activate = [
        "/usr/bin/systemd-socket-activate",
        "/bin/systemd-socket-activate",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("systemd-socket-activate is missing: apt-get install systemd (.ci/run does)");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = tempdir();
    let ctl = dir.path().join("ebb.ctl");
    let log = dir.path().join("ebb.log");
    let child = Command::new(activate)
        .args(["-l", &addr, "--fdname=http", EBB])
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
    let r = get(&t, "/").unwrap_or_else(|e| panic!("GET /: {e}\n{}", ebb.log()));
    ebb.wait_log("adoption of the socket", |l| {
        l.contains("using sockets passed by systemd")
    });
    ebb.wait_log("2 ready workers", |l| {
        l.matches("\"event\":\"ready\"").count() >= 2
    });
    assert_eq!(r.status, 200);
    assert!(r.body.contains("hello from worker="), "{}", r.body);
    let v = status_json(&ctl);
    assert_eq!(v["pid"], ebb.child.id());
    assert_eq!(v["sockets"][0]["name"], addr);
    assert_eq!(v["sockets"][0]["queue_known"], true);
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
        .args(["--shutdown-delay", "3", "--control", ctl.to_str().unwrap()])
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
    assert!(
        t0.elapsed() >= Duration::from_millis(3000),
        "stopped after {:?}: {}",
        t0.elapsed(),
        stop.message()
    );
    assert!(ebb.expect_exit(SOON).success());
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

/// The stats and metrics servers too: a slow request head, an endless one, and many
/// clients that never read cannot stall the loop or keep the master's memory.
#[test]
fn hostile_stats_and_metrics_clients_are_dropped() {
    let ebb = Ebb::example(1)
        .args(["--stats", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .start();
    ebb.ready(1);
    let baseline = open_fds(ebb.pid);
    let stats = listen_addr(&ebb, "stats-listen");
    let metrics = listen_addr(&ebb, "metrics-listen");
    let scrape = || {
        let mut s = std::net::TcpStream::connect(&metrics).unwrap();
        s.set_read_timeout(Some(SOON)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    };
    // A head that never ends (slowloris), and one that is too long.
    let mut slow = std::net::TcpStream::connect(&metrics).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    let mut long = std::net::TcpStream::connect(&metrics).unwrap();
    long.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let junk = vec![b'a'; 16 * 1024];
    let _ = long.write_all(&junk);
    // Stats clients that never read (the document waits in their socket buffers).
    let idle: Vec<_> = (0..40)
        .map(|_| std::net::TcpStream::connect(&stats).unwrap())
        .collect();
    let t0 = Instant::now();
    scrape();
    let mut s = std::net::TcpStream::connect(&stats).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut doc = String::new();
    s.read_to_string(&mut doc).unwrap();
    assert!(serde_json::from_str::<Value>(&doc).is_ok());
    // A loop stalled behind those clients would answer only once they are dropped, at their
    // 5 s deadline: anything sooner is the loop serving others meanwhile (the margin is for a
    // loaded machine).
    assert!(
        t0.elapsed() < Duration::from_millis(4900),
        "answers took {:?}",
        t0.elapsed()
    );
    // The long head is refused at once; the slow one when its deadline (5 s) passes.
    long.set_read_timeout(Some(SOON)).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(long.read(&mut buf), Ok(0) | Err(_)),
        "the long head was answered"
    );
    slow.set_read_timeout(Some(SOON)).unwrap();
    let t1 = Instant::now();
    assert!(matches!(slow.read(&mut buf), Ok(0) | Err(_)));
    assert!(t1.elapsed() < Duration::from_secs(8));
    drop(idle);
    // The master holds what it held before the clients came, no more.
    let fds = poll_until(SOON, || {
        let n = open_fds(ebb.pid);
        (n <= baseline).then_some(n)
    });
    assert!(fds.is_some(), "the master still holds the clients' fds");
    scrape();
}

//! Issue "hardening": ebb keeps working when its surroundings misbehave.
//!
//! Every test starts its own `ebb` on port 0 in its own temp dir; every wait has a deadline;
//! `Ebb`'s drop kills the master and all its workers even when a test fails.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const SOON: Duration = Duration::from_secs(20);

/// A tmp cleaner removes the runtime dir under a running master: it is put back at once, the
/// workers' reports still arrive (a max-requests recycle happens), and a killed worker is
/// replaced and becomes ready.
#[test]
fn a_removed_runtime_dir_is_recreated() {
    let rt = tempdir();
    let ebb = Ebb::example(2)
        .env("XDG_RUNTIME_DIR", rt.path().display().to_string())
        .args(["--max-requests", "40"])
        .start();
    let t = ebb.ready(2);
    let (_, env) = ebb.workers().into_iter().next().expect("a worker");
    let sock = PathBuf::from(env.get("NOTIFY_SOCKET").expect("NOTIFY_SOCKET"));
    let dir = sock.parent().expect("the runtime dir").to_path_buf();
    assert!(
        dir.starts_with(rt.path()),
        "{} is not under $XDG_RUNTIME_DIR",
        dir.display()
    );

    let mark = ebb.mark();
    // Moved away and then removed, so the removal is one step (the master puts files back
    // faster than `rm -rf` removes them).
    let gone = rt.path().join("removed");
    std::fs::rename(&dir, &gone).expect("move the runtime dir away");
    std::fs::remove_dir_all(&gone).expect("rm -rf the runtime dir");
    ebb.expect_after(
        mark,
        "the runtime dir to be recreated",
        |l| l.contains("runtime directory was removed"),
        SOON,
    );
    poll_until(SOON, || sock.exists().then_some(()))
        .unwrap_or_else(|| ebb.fail("the notify socket was not recreated"));

    // Reports reach the master again: enough requests make a worker recycle by count.
    for _ in 0..120 {
        get_ok(&ebb, &t, "/");
    }
    ebb.expect_after(
        mark,
        "a max-requests recycle",
        |l| l.is_event("drained"),
        SOON,
    );

    // A new worker starts and reports ready in the recreated dir.
    let mark = ebb.mark();
    let pid = ebb.worker_pids()[0];
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
    ebb.wait_ready(mark, 1, SOON);
    get_ok(&ebb, &t, "/");
}

/// A reload is not held back by one worker's long job: draining workers do not count against
/// `--max-surge` (as Kubernetes counts `maxSurge`), so the other workers are replaced while it
/// finishes; the job still completes.
#[test]
fn a_long_job_does_not_stall_a_reload() {
    let ebb = Ebb::example(3).args(["--drain-timeout", "30"]).start();
    let t = ebb.ready(3);
    // The long job goes to slot 1, which is replaced first: with draining workers counted
    // against the surge, slots 2 and 3 would wait for it.
    let mut conn = poll_until(SOON, || {
        let mut c = Conn::open(&t).ok()?;
        let r = c.get("/", true).ok()?;
        (r.num("worker") == Some(1)).then_some(c)
    })
    .unwrap_or_else(|| ebb.fail("no connection reached worker 1"));
    conn.get("/job?ms=6000&id=long", false)
        .unwrap_or_else(|e| ebb.fail(&format!("/job: {e}")));
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    // All three replacements are ready well before the 6 s job ends.
    ebb.wait_ready(mark, 3, Duration::from_secs(4));
    ebb.wait_n_after(mark, 2, |l| l.is_event("drained"), Duration::from_secs(4))
        .unwrap_or_else(|e| ebb.fail(&format!("the two idle old workers did not drain: {e}")));
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("drained")),
        2,
        "the busy old worker drained before its job ended"
    );
    ebb.expect_after(
        mark,
        "the long job's worker to drain once its job is done",
        |l| l.is_event("drained") && l.message().contains("1 jobs done"),
        SOON,
    );
}

/// During a graceful stop, once no worker accepts any more, a new connection is refused at
/// once (as gunicorn does) rather than waiting in a backlog nobody accepts from.
#[test]
fn a_graceful_stop_refuses_new_connections_at_once() {
    let mut ebb = Ebb::example(2).start();
    let t = ebb.ready(2);
    let Target::Tcp(addr) = t else {
        panic!("a TCP target")
    };
    get_ok(&ebb, &t, "/job?ms=3000&id=still-running");
    ebb.signal(Signal::SIGTERM);
    // The job keeps the master alive; meanwhile connecting must soon fail, and fail fast.
    let refused = poll_until(Duration::from_secs(2), || {
        let t0 = std::time::Instant::now();
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(t0.elapsed()),
            _ => None,
        }
    })
    .unwrap_or_else(|| ebb.fail("new connections were still accepted 2 s into the stop"));
    assert!(
        ebb.try_status().is_none(),
        "ebb exited before its job ended"
    );
    eprintln!("refused in {refused:?}");
    let status = ebb.expect_exit(SOON);
    assert_eq!(status.code(), Some(0));
}

/// Work an orphaned worker gives up (its master was SIGKILLed, then its own drain bound
/// passed) is named in the lost-work journal, as the master would have named it.
#[test]
fn an_orphans_losses_reach_the_lost_work_log() {
    let dir = std::sync::Arc::new(tempdir());
    let journal = dir.path().join("lost.jsonl");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--drain-timeout", "1"])
        .arg(format!("--lost-work-log={}", journal.display()))
        .start();
    let t = ebb.ready(1);
    let pid = get_ok(&ebb, &t, "/job?ms=30000&id=given-up")
        .pid()
        .expect("pid");
    kill(Pid::from_raw(ebb.pid), Signal::SIGKILL).expect("kill -9 the master");
    ebb.expect_exit(SOON);
    poll_until(SOON, || (!is_alive(pid)).then_some(()))
        .unwrap_or_else(|| ebb.fail("the orphaned worker outlived its drain bound"));
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each journal line is JSON"))
        .collect();
    let named = records.iter().any(|r| {
        r["orphan"] == true
            && r["pid"] == pid
            && r["jobs"] == 1
            && r["job_names"]
                .as_array()
                .is_some_and(|a| a.iter().any(|n| n == "given-up"))
    });
    assert!(named, "no orphan record naming the job in {text:?}");
}

/// need-app: an app that cannot be imported ends ebb with exit status 3 after a bounded
/// number of attempts, its error shown once per attempt, so a service manager or Kubernetes
/// sees the failure instead of a master that retries for ever.
#[test]
fn an_app_that_cannot_start_ends_ebb() {
    let dir = std::sync::Arc::new(tempdir());
    let mut ebb = Ebb::builder()
        .dir(dir)
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "-p",
            "2",
            "--module",
            "no_such_module_here:app",
            "--start-attempts",
            "2",
        ])
        .start();
    let status = ebb.expect_exit(Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(3),
        "exit status 3: the app cannot start"
    );
    let giving_up = ebb.events("need-app");
    assert_eq!(giving_up.len(), 1, "one line says ebb gives up");
    assert_eq!(giving_up[0].level(), Some("ERROR"));
    assert!(
        giving_up[0].message().contains("failed to start 2 times"),
        "{}",
        giving_up[0].raw
    );
    // An attempt is a worker started, or (the default for Python) a fork server's import.
    let spawns = ebb.count(|l| l.is_event("spawn") || l.is_event("fork-server"));
    assert!(
        (2..=4).contains(&spawns),
        "{spawns} attempts: at most 2 per slot"
    );
    assert!(
        ebb.count(|l| l.contains("No module named 'no_such_module_here'")) >= 2,
        "the import error is shown"
    );
}

/// The same for a command that does not exist: ebb ends at once with the reason.
#[test]
fn a_missing_command_ends_ebb() {
    let mut ebb = Ebb::builder()
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--",
            "/nonexistent/ebb-worker",
        ])
        .start();
    let status = ebb.expect_exit(SOON);
    assert_eq!(status.code(), Some(3));
    assert!(
        ebb.count(|l| l.contains("/nonexistent/ebb-worker does not exist")) >= 1,
        "the reason is shown"
    );
}

/// touch-reload (uWSGI's): a file whose mtime changes triggers a reload, seen through inotify
/// even when the file did not exist at start; touch-workers-reload replaces the workers
/// without reading the configuration again.
#[test]
fn touching_a_file_reloads() {
    let dir = std::sync::Arc::new(tempdir());
    let reload = dir.path().join("reload.txt");
    let workers = dir.path().join("restart.txt");
    std::fs::write(&workers, "").unwrap();
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .arg(format!("--touch-reload={}", reload.display()))
        .arg(format!("--touch-workers-reload={}", workers.display()))
        .start();
    ebb.ready(2);
    let touch = |p: &std::path::Path, secs: u64| {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs))
            .unwrap();
    };
    for (n, (path, what)) in [
        (&reload, "reloading"),
        (&workers, "replacing every worker"),
        (&reload, "reloading"),
    ]
    .into_iter()
    .enumerate()
    {
        let mark = ebb.mark();
        touch(path, n as u64);
        ebb.expect_after(
            mark,
            "the touch to be noticed",
            |l| l.message().contains("touched") && l.message().contains(what),
            SOON,
        );
        let generation = n + 2;
        ebb.expect_after(
            mark,
            "the reload",
            |l| l.is_event("reload") && l.message().contains(&format!("generation {generation}")),
            SOON,
        );
        ebb.wait_ready(mark, 2, SOON);
    }
    // Another file in the same directory, or an event that leaves the mtime as it was,
    // changes nothing; a later real touch shows those events were read.
    let mark = ebb.mark();
    std::fs::write(dir.path().join("unrelated.txt"), "x").unwrap();
    touch(&reload, 2);
    touch(&workers, 10);
    let reload = ebb.expect_after(
        mark,
        "the last touch's reload",
        |l| l.is_event("reload"),
        SOON,
    );
    assert!(
        reload.message().contains("generation 5"),
        "the first reload after the untouched events is the workers reload: {}",
        reload.raw
    );
}

/// chown-socket (uWSGI's): the Unix socket file is given to that user and group; without
/// root, ebb refuses to start with one error that says why.
#[test]
fn chown_socket_gives_the_socket_away() {
    let dir = std::sync::Arc::new(tempdir());
    let sock = dir.path().join("app.sock");
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("a user named nobody");
    let args = [
        "--socket".to_string(),
        sock.display().to_string(),
        "--chown-socket".to_string(),
        format!("nobody:{}", nobody.gid),
        "--example-app".to_string(),
    ];
    if nix::unistd::Uid::effective().is_root() {
        let ebb = Ebb::builder().dir(dir.clone()).args(args).start();
        ebb.wait_ready(0, 1, SOON);
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&sock).expect("the socket file");
        assert_eq!(
            (meta.uid(), meta.gid()),
            (nobody.uid.as_raw(), nobody.gid.as_raw())
        );
    } else {
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, _, err) = run_ebb(&argv, SOON);
        assert!(!status.success());
        assert!(err.contains("chown-socket: cannot give"), "{err}");
    }
}

/// The master's `ebb status --json` document (through its control socket).
fn status_json(ctl: &std::path::Path) -> Option<serde_json::Value> {
    let out = std::process::Command::new(EBB)
        .args(["status", "--json", "--control"])
        .arg(ctl)
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// The exit status is about the whole run (docs/protocol.md, README): work lost to a worker
/// SIGKILLed long before makes a later, clean graceful stop exit 1.
#[test]
fn a_loss_before_the_stop_still_exits_1() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--control", &ctl.display().to_string()])
        .start();
    let t = ebb.ready(1);
    let pid = get_ok(&ebb, &t, "/job?ms=30000&id=doomed")
        .pid()
        .expect("pid");
    // The master knows of the job before the kill (else nothing it knew of was lost).
    poll_until(SOON, || {
        (status_json(&ctl)?["ebb"]["jobs"].as_u64() == Some(1)).then_some(())
    })
    .unwrap_or_else(|| ebb.fail("the master never heard of the job"));
    let mark = ebb.mark();
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9 the worker");
    ebb.expect_after(
        mark,
        "the loss to be logged",
        |l| l.message().contains("LOST WORK") && l.message().contains("doomed"),
        SOON,
    );
    ebb.wait_ready(mark, 1, SOON);
    // Later, nothing running: the stop itself loses nothing.
    get_ok(&ebb, &t, "/");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert_eq!(
        ebb.count_after(mark, |l| l.message().contains("LOST WORK")),
        0,
        "the stop lost nothing"
    );
    assert_eq!(status.code(), Some(1), "work was lost during the run");
}

/// A fast stop (SIGQUIT) logs each worker's exit as the quit it asked for, never as an
/// unexpected exit, and exits 0 when nothing was lost.
#[test]
fn a_fast_stop_is_not_an_unexpected_exit() {
    let mut ebb = Ebb::example(3).start();
    ebb.ready(3);
    let mark = ebb.mark();
    ebb.signal(Signal::SIGQUIT);
    let status = ebb.expect_exit(SOON);
    let quits = ebb.count_after(mark, |l| l.is_event("quit"));
    let bad: Vec<String> = ebb.lines()[mark..]
        .iter()
        .filter(|l| matches!(l.level(), Some("WARN" | "ERROR")) || l.contains("unexpectedly"))
        .map(|l| l.raw.clone())
        .collect();
    assert_eq!(quits, 3, "one 'worker quit' line per worker");
    assert!(bad.is_empty(), "a fast stop warned: {bad:#?}");
    assert_eq!(status.code(), Some(0));
}

/// A fast stop (SIGQUIT) during a graceful one: the draining worker's exit is the quit asked
/// for (not a WARN about a draining worker's exit status), and its job is named as lost.
#[test]
fn a_fast_stop_during_a_drain_is_the_quit_asked_for() {
    let mut ebb = Ebb::example(1).start();
    let t = ebb.ready(1);
    get_ok(&ebb, &t, "/job?ms=30000&id=cut-short");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGTERM);
    ebb.expect_after(mark, "the drain", |l| l.is_event("drain"), SOON);
    ebb.signal(Signal::SIGQUIT);
    let status = ebb.expect_exit(SOON);
    let warns: Vec<String> = ebb.lines()[mark..]
        .iter()
        .filter(|l| l.level() == Some("WARN"))
        .map(|l| l.raw.clone())
        .collect();
    assert!(warns.is_empty(), "{warns:#?}");
    assert_eq!(ebb.count_after(mark, |l| l.is_event("quit")), 1);
    assert_eq!(
        ebb.count_after(mark, |l| l.message().contains("LOST WORK")
            && l.message().contains("cut-short")),
        1
    );
    assert_eq!(status.code(), Some(1), "work was lost");
}

/// A configuration file that cannot be read or parsed at reload is one error (with its file
/// and line) and one "reload aborted" line, not followed by errors that only follow from it
/// (no socket, no worker...); the old workers keep serving.
#[test]
fn a_bad_toml_file_at_reload_is_one_error() {
    let dir = std::sync::Arc::new(tempdir());
    let conf = dir.path().join("ebb.toml");
    let good = "http-socket = [\"127.0.0.1:0\"]\nprocesses = 1\nexample-app = true\n";
    std::fs::write(&conf, good).unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args(["--config", &conf.display().to_string()])
        .start();
    let t = ebb.ready(1);
    let cases: [(&str, Option<&str>, &str); 3] = [
        (
            "a TOML syntax error",
            Some("http-socket = [\"127.0.0.1:0\"\n[[[ not TOML\n"),
            "ebb.toml:2:",
        ),
        ("a removed file", None, "cannot read the config file"),
        (
            "a file of bad bytes",
            Some("\u{0}\u{1}\u{2}="),
            "ebb.toml:1:",
        ),
    ];
    for (what, text, says) in cases {
        match text {
            Some(text) => std::fs::write(&conf, text).unwrap(),
            None => std::fs::remove_file(&conf).unwrap(),
        }
        let mark = ebb.mark();
        ebb.signal(Signal::SIGHUP);
        let aborted = ebb.expect_after(
            mark,
            "the aborted reload",
            |l| l.message().contains("reload aborted"),
            SOON,
        );
        // A request answered by the old worker: the turn that read the file is over.
        get_ok(&ebb, &t, "/");
        let errors: Vec<String> = ebb.lines()[mark..]
            .iter()
            .filter(|l| l.level() == Some("ERROR"))
            .map(|l| l.message().to_string())
            .collect();
        assert!(
            aborted.message().contains("1 error(s)"),
            "{what}: {}",
            aborted.message()
        );
        assert_eq!(
            errors.len(),
            2,
            "{what}: one error and the abort: {errors:#?}"
        );
        assert!(errors[0].contains(says), "{what}: {errors:#?}");
        assert_eq!(ebb.count_after(mark, |l| l.is_event("spawn")), 0);
    }
}

/// A worker that repeats `X_EBB_STUCK=1` (with a long STATUS) for as long as it lives is
/// logged once, not once per datagram, and its STATUS is cut in the line.
#[test]
fn a_repeated_stuck_report_is_logged_once() {
    let dir = std::sync::Arc::new(tempdir());
    let script = dir.path().join("stuck.py");
    let flag = dir.path().join("stuck.flag");
    std::fs::write(
        &script,
        r#"import os, signal, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
s.sendto(b"READY=1", addr)
try:
    os.close(os.open(os.environ["STUCK_FLAG"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
except FileExistsError:
    signal.pause()          # the replacement: idle until told to drain
    sys.exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)   # keeps saying it is stuck while it drains
msg = b"X_EBB_STUCK=1\nSTATUS=" + b"s" * 3000
end = time.monotonic() + 3
n = 0
while time.monotonic() < end:
    try:
        s.sendto(msg, addr)
        n += 1
    except OSError:
        pass
    time.sleep(0.001)
print("sent %d stuck reports" % n, file=sys.stderr, flush=True)
"#,
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .env("STUCK_FLAG", flag.display().to_string())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--drain-timeout",
            "20",
            "--",
            "python3",
            &script.display().to_string(),
        ])
        .start();
    let first = ebb.wait_ready(0, 1, SOON)[0].pid().expect("pid");
    ebb.expect_after(
        0,
        "the stuck worker's end",
        |l| l.contains("stuck reports"),
        SOON,
    );
    ebb.expect_after(
        0,
        "the stuck worker's exit",
        |l| l.pid() == Some(first) && (l.is_event("drained") || l.is_event("exit")),
        SOON,
    );
    let sent = ebb
        .lines()
        .iter()
        .find(|l| l.contains("stuck reports"))
        .map(|l| l.message().to_string())
        .unwrap_or_default();
    let harakiri: Vec<Line> = ebb.events("harakiri");
    let bytes: usize = ebb.lines().iter().map(|l| l.raw.len() + 1).sum();
    eprintln!(
        "{sent}; {} harakiri lines; {bytes} bytes of log",
        harakiri.len()
    );
    assert_eq!(harakiri.len(), 1, "one line for the stuck worker");
    assert_eq!(harakiri[0].pid(), Some(first));
    assert!(
        !harakiri[0].raw.contains(&"s".repeat(200)),
        "the STATUS is cut: {}",
        harakiri[0].raw
    );
    assert!(bytes < 20_000, "{bytes} bytes of log for one stuck worker");
}

/// With `--shutdown-delay` (issue 8), a graceful stop serves new connections for the delay,
/// and refuses them at once as soon as the delay is over and the drain begins, while a job
/// still keeps ebb running.
#[test]
fn after_the_shutdown_delay_new_connections_are_refused_at_once() {
    let mut ebb = Ebb::example(1).args(["--shutdown-delay", "1"]).start();
    let t = ebb.ready(1);
    let Target::Tcp(addr) = t else {
        panic!("a TCP target")
    };
    get_ok(&ebb, &t, "/job?ms=6000&id=keeps-ebb-up");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGTERM);
    ebb.expect_after(
        mark,
        "the shutdown delay",
        |l| l.is_event("shutdown-delay"),
        SOON,
    );
    // Served during the delay (tests/ops/service.rs checks it in depth).
    get_ok(&ebb, &t, "/");
    let stop = ebb.expect_after(mark, "the stop", |l| l.is_event("stop"), SOON);
    let refused = poll_until(Duration::from_secs(2), || {
        let t0 = std::time::Instant::now();
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(t0.elapsed()),
            _ => None,
        }
    })
    .unwrap_or_else(|| {
        ebb.fail(&format!(
            "new connections still accepted 2 s after the stop: {}",
            stop.raw
        ))
    });
    assert!(
        ebb.try_status().is_none(),
        "ebb exited before its job ended"
    );
    eprintln!("refused in {refused:?}");
    assert_eq!(ebb.expect_exit(SOON).code(), Some(0));
}

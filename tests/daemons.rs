//! Side processes (`attach-daemon`, `mule`, `cron`) with real processes: started with the
//! master, their output in ebb's log, restarted when they exit (backing off when they exit at
//! once), stopped with ebb, replaced on a reload.

mod common;

use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A line a side process wrote (`source` is its kind).
fn output_of<'a>(kind: &'a str, text: &'a str) -> impl Fn(&Line) -> bool + 'a {
    move |l| l.str_field("source") == Some(kind) && l.message().contains(text)
}

fn alive(pid: i32) -> bool {
    // A zombie is not alive: check /proc's state too.
    kill(Pid::from_raw(pid), None).is_ok()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn daemon_is_started_restarted_and_stopped_with_ebb() {
    let mut ebb = Ebb::example(1)
        .args(["--attach-daemon", "echo up $$; exec sleep 60"])
        .start();
    let first = ebb.expect_after(0, "the daemon's output", output_of("daemon", "up "), SOON);
    assert_eq!(first.int_field("daemon"), Some(1), "{}", first.raw);
    let pid = first.pid().expect("the daemon's pid");
    assert!(first.message().contains(&pid.to_string()), "{}", first.raw);
    // It runs in its own process group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgrp: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pgrp, pid, "the daemon leads its own process group");

    // It dies: its exit is logged with the signal, and it is started again.
    let mark = ebb.mark();
    kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
    let exit = ebb.expect_after(
        mark,
        "the daemon's exit",
        |l| l.message().contains("daemon 1") && l.message().contains("signal 9"),
        SOON,
    );
    assert_eq!(exit.level(), Some("ERROR"), "{}", exit.raw);
    let second = ebb.expect_after(
        mark,
        "the restarted daemon",
        output_of("daemon", "up "),
        SOON,
    );
    let pid2 = second.pid().unwrap();
    assert_ne!(pid2, pid);
    assert_eq!(second.int_field("restarts"), Some(1), "{}", second.raw);

    // ebb stops: the daemon is stopped with it (TERM to its group), before ebb exits.
    let mark = ebb.mark();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert!(status.success(), "{status:?}");
    assert!(!alive(pid2), "the daemon outlived ebb");
    ebb.expect_after(
        mark,
        "the daemon's stop",
        |l| l.message().contains("daemon 1") && l.message().contains("stopped (signal 15"),
        Duration::from_secs(1),
    );
}

#[test]
fn a_daemon_that_ignores_term_is_killed_after_the_bound() {
    let mut ebb = Ebb::example(1)
        .args([
            "--drain-timeout",
            "1",
            "--attach-daemon",
            "trap '' TERM; echo up; exec sleep 60",
        ])
        .start();
    let up = ebb.expect_after(0, "the daemon", output_of("daemon", "up"), SOON);
    let pid = up.pid().unwrap();
    let t0 = Instant::now();
    ebb.signal(Signal::SIGTERM);
    ebb.expect_exit(SOON);
    let took = t0.elapsed();
    assert!(!alive(pid), "the daemon outlived ebb");
    assert!(
        took >= Duration::from_millis(900),
        "killed before the bound: {took:?}"
    );
    assert!(
        ebb.count(|l| l.message().contains("did not exit in time")) == 1,
        "the kill is said once"
    );
}

#[test]
fn a_failing_command_backs_off_and_is_logged_once() {
    let ebb = Ebb::example(1)
        .args(["--attach-daemon", "echo oops >&2; exit 2"])
        .start();
    let tries = ebb
        .wait_n_after(0, 3, output_of("daemon", "oops"), Duration::from_secs(15))
        .unwrap_or_else(|e| ebb.fail(&e));
    // The delays grow: about 1 s, then about 2 s.
    let gap1 = tries[1].at - tries[0].at;
    let gap2 = tries[2].at - tries[1].at;
    assert!(gap1 >= Duration::from_millis(800), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(1800), "{gap2:?}");
    assert!(gap2 > gap1, "{gap1:?} then {gap2:?}");
    // Three quick exits, one error line.
    let said =
        ebb.count(|l| l.message().contains("exited (exit code 2)") && l.level() == Some("ERROR"));
    assert_eq!(said, 1, "the back-off is said once, not per try");
}

#[test]
fn a_mule_runs_with_the_apps_pythonpath_and_directory() {
    let dir = std::sync::Arc::new(tempdir());
    let root = dir.path();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(root.join("mules")).unwrap();
    std::fs::write(
        root.join("app.py"),
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    )
    .unwrap();
    std::fs::write(root.join("lib/helper.py"), "ANSWER = 42\n").unwrap();
    std::fs::write(
        root.join("mules/poller.py"),
        "import os, sys, time\nimport helper\n\
         print('mule sees helper', helper.ANSWER, 'in', os.getcwd(), 'as', __name__, \
         'env', os.environ.get('MY_SETTING'))\nsys.stdout.flush()\ntime.sleep(60)\n",
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--chdir",
            &root.display().to_string(),
            "--wsgi-file",
            "app.py",
            "--pythonpath",
            "lib",
            "--env",
            "MY_SETTING=on",
            "--mule",
            "mules/poller.py",
        ])
        .start();
    let line = ebb.expect_after(
        0,
        "the mule's output",
        output_of("mule", "mule sees helper"),
        SOON,
    );
    let want = format!(
        "mule sees helper 42 in {} as __main__ env on",
        root.canonicalize().unwrap().display()
    );
    assert_eq!(line.message(), want, "{}", line.raw);
    assert_eq!(line.int_field("mule"), Some(1));
}

#[test]
fn cron_runs_at_the_next_minute() {
    // The master's cron clock is set to 2 s before a minute boundary.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let skew = 58 - now.rem_euclid(60);
    let ebb = Ebb::example(1)
        .env("EBB_TEST_CLOCK_SKEW_S", skew.to_string())
        .args(["--cron", "-1 -1 -1 -1 -1 echo cron ran in $(pwd)"])
        .start();
    let t0 = Instant::now();
    let out = ebb.expect_after(0, "the cron run", output_of("cron", "cron ran"), SOON);
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert_eq!(out.int_field("cron"), Some(1));
    ebb.expect_after(
        0,
        "the run's end",
        |l| l.message().contains("cron 1") && l.message().contains("finished (exit code 0)"),
        SOON,
    );
    // Once a minute: nothing more in the next second.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(ebb.count(output_of("cron", "cron ran")), 1);
}

#[test]
fn a_reload_restarts_the_daemons_with_the_new_configuration() {
    let dir = std::sync::Arc::new(tempdir());
    let ini = dir.path().join("app.ini");
    let write = |mark: &str| {
        std::fs::write(
            &ini,
            format!(
                "[uwsgi]\nhttp-socket = 127.0.0.1:0\nexample-app = true\nenv = MARK={mark}\n\
                 attach-daemon2 = reloadsignal=INT,cmd=trap 'echo got INT; exit 0' INT; \
                 echo up $$ $MARK; while :; do sleep 0.1; done\n"
            ),
        )
        .unwrap()
    };
    write("one");
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .arg(ini.display().to_string())
        .start();
    let first = ebb.expect_after(0, "the daemon", output_of("daemon", "up "), SOON);
    assert!(first.message().ends_with(" one"), "{}", first.raw);
    let pid = first.pid().unwrap();
    write("two");
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    // The old one gets the reload signal, the new one has the new environment.
    ebb.expect_after(
        mark,
        "the reload signal",
        output_of("daemon", "got INT"),
        SOON,
    );
    let second = ebb.expect_after(mark, "the new daemon", output_of("daemon", " two"), SOON);
    assert_ne!(second.pid().unwrap(), pid);
    assert!(wait_gone(pid, SOON), "the old daemon still runs");
}

#[test]
fn status_lists_the_side_processes() {
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ctl.sock");
    let ebb = Ebb::example(1)
        .dir(dir.clone())
        .args([
            "--control",
            &ctl.display().to_string(),
            "--attach-daemon",
            "echo up; exec sleep 60",
            "--cron",
            "0 3 -1 -1 -1 /bin/true nightly",
        ])
        .start();
    let up = ebb.expect_after(0, "the daemon", output_of("daemon", "up"), SOON);
    let out = std::process::Command::new(EBB)
        .args(["status", "--json", "--control", &ctl.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let side = v["side_processes"]
        .as_array()
        .expect("side_processes listed");
    assert_eq!(side.len(), 2, "{v}");
    assert_eq!(side[0]["kind"], "daemon");
    assert_eq!(side[0]["pid"].as_i64(), Some(i64::from(up.pid().unwrap())));
    assert_eq!(side[0]["command"], "echo up; exec sleep 60");
    assert_eq!(side[1]["kind"], "cron");
    assert!(side[1]["pid"].is_null(), "{v}");
    let table = std::process::Command::new(EBB)
        .args(["status", "--control", &ctl.display().to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("\nSIDE "), "{text}");
    assert!(text.contains("/bin/true nightly"), "{text}");
}

#[test]
fn a_control_daemon_that_exits_stops_ebb() {
    let mut ebb = Ebb::example(1)
        .args([
            "--attach-daemon2",
            "control=1,cmd=echo up; sleep 0.3; exit 4",
        ])
        .start();
    ebb.expect_after(0, "the daemon", output_of("daemon", "up"), SOON);
    ebb.expect_exit(SOON);
    assert_eq!(
        ebb.count(|l| l.message().contains("control daemon: ebb stops")
            && l.message().contains("exit code 4")),
        1
    );
    assert_eq!(ebb.count(output_of("daemon", "up")), 1, "not restarted");
}

#[test]
fn a_fast_stop_kills_side_processes_after_three_seconds() {
    let mut ebb = Ebb::example(1)
        .args(["--attach-daemon", "trap '' TERM; echo up; exec sleep 60"])
        .start();
    let pid = ebb
        .expect_after(0, "the daemon", output_of("daemon", "up"), SOON)
        .pid()
        .unwrap();
    let t0 = Instant::now();
    ebb.signal(Signal::SIGQUIT);
    ebb.expect_exit(SOON);
    let took = t0.elapsed();
    assert!(!alive(pid), "the daemon outlived ebb");
    // drain-timeout is 60 s: the fast stop's 3 s bound applies.
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_secs(8),
        "{took:?}"
    );
}

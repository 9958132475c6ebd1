//! uWSGI's `umask` and `max-fd`: the master and its workers get the file-mode mask and the
//! open-files limit a uwsgi.ini file asks for (read back from /proc), and a limit that cannot
//! be had is one error at start.

mod common;

use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

fn proc_field(pid: i32, file: &str, prefix: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /proc/{pid}/{file}"))
        .to_string()
}

/// The soft open-files limit of `pid`.
fn nofile(pid: i32) -> u64 {
    proc_field(pid, "limits", "Max open files")
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap()
}

/// Run ebb to its end with the open-files limit `limits` ("soft:hard", prlimit's form;
/// `timeout` bounds the run should it not end by itself): its exit code and all it wrote.
fn with_nofile(limits: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new("timeout")
        .args(["30", "prlimit", &format!("--nofile={limits}"), EBB])
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("prlimit (util-linux) runs ebb");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), all)
}

#[test]
fn umask_and_max_fd_reach_the_master_and_its_workers() {
    let hard = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1;
    // A limit below the hard one, so the test needs no root.
    let want = hard.min(4096) - 7;
    let mut ebb = Ebb::example(2)
        .args(["--umask", "027", "--max-fd", &want.to_string()])
        .start();
    ebb.wait_ready(0, 2, SOON);
    let master = ebb.started_line(SOON).pid().unwrap();
    let mut pids = ebb.worker_pids();
    pids.push(master);
    for pid in pids {
        assert_eq!(
            proc_field(pid, "status", "Umask:"),
            "Umask:\t0027",
            "pid {pid}"
        );
        assert_eq!(nofile(pid), want, "pid {pid}");
    }
    ebb.signal(Signal::SIGTERM);
    assert_eq!(ebb.expect_exit(Duration::from_secs(30)).code(), Some(0));
}

#[test]
fn a_max_fd_above_the_hard_limit_is_one_error() {
    // A hard limit of 1024, and no CAP_SYS_RESOURCE to go above it (as any user, or as root
    // with it dropped); `timeout` bounds the run should ebb start anyway.
    let out = std::process::Command::new("timeout")
        .args(["30", "prlimit", "--nofile=1024:1024", "setpriv"])
        .args(["--bounding-set", "-sys_resource", "--", EBB])
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--example-app",
            "--max-fd",
            "4096",
        ])
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux) runs ebb");
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(all.matches("max-fd 4096").count(), 1, "{all}");
    assert!(all.contains("cannot raise the open-files limit"), "{all}");
}

/// Without max-fd, the soft open-files limit is raised to the hard one at start (workers
/// inherit it), and a limit that stays low is one warning saying how many connections a
/// worker can hold. The worker prints its own soft limit and exits before READY, so ebb
/// ends by itself (need-app: one attempt).
#[test]
fn the_soft_open_files_limit_is_raised_to_the_hard_one() {
    for (limits, want, warns) in [("256:8192", "8192", false), ("256:1024", "1024", true)] {
        let (code, all) = with_nofile(
            limits,
            &[
                "--http-socket",
                "127.0.0.1:0",
                "--start-attempts",
                "1",
                "--",
                "sh",
                "-c",
                "echo soft-nofile=$(ulimit -Sn)",
            ],
        );
        assert_eq!(code, Some(3), "{limits}: {all}");
        assert!(
            all.contains(&format!("soft-nofile={want}")),
            "{limits}: the worker's soft limit is not {want}: {all}"
        );
        assert_eq!(
            all.matches("the open-files limit is").count(),
            usize::from(warns),
            "{limits}: {all}"
        );
        if warns {
            assert!(
                all.contains("each worker can hold about"),
                "{limits}: {all}"
            );
        }
    }
}

/// An open-files limit too low for the master to start a worker: one error that says so and
/// what to do, exit status 3 at once (no retries, and no advice to fix the app, which is not
/// the cause).
#[test]
fn too_few_file_descriptors_to_start_a_worker_is_one_error() {
    let (code, all) = with_nofile(
        "32:32",
        &["--http-socket", "127.0.0.1:0", "-p", "2", "--example-app"],
    );
    assert_eq!(code, Some(3), "{all}");
    assert_eq!(all.matches("out of file descriptors").count(), 1, "{all}");
    assert_eq!(
        all.matches("no worker could be started: giving up").count(),
        1,
        "{all}"
    );
    assert!(all.contains("Raise the open-files limit"), "{all}");
    assert!(!all.contains("fix the app"), "{all}");
    assert!(!all.contains("next attempt"), "{all}");
}

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

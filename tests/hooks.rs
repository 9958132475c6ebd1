//! uWSGI's hooks with real processes: `exec-asap` before the log file is opened, pre-app and
//! post-app around each generation's import (fork server and `--lazy-apps`), and a failing
//! pre-app hook that fails the start once per attempt.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// Python start-up on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

/// An app that appends `import PID` to `order.log` when it is imported.
const APP: &str = r#"import os
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "order.log"), "a") as f:
    f.write("import %d\n" % os.getpid())

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
"#;

fn site() -> std::sync::Arc<tempfile::TempDir> {
    let dir = std::sync::Arc::new(tempdir());
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    dir
}

/// `order.log` without the pids: `pre`, `import`, `post`...
fn order(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("order.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

fn ini(dir: &Path, extra: &str) -> String {
    let d = dir.display();
    let text = format!(
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = {d}/app.py\n\
         exec-pre-app = echo pre >> {d}/order.log\n\
         hook-post-app = exec:echo post >> {d}/order.log\n{extra}"
    );
    let p = dir.join("site.ini");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn pre_and_post_app_hooks_run_around_each_generations_import() {
    let dir = site();
    let d = dir.path().display().to_string();
    // exec-asap makes the folder the log file is opened in (a common uWSGI pattern).
    let extra = format!("exec-asap = mkdir -p {d}/logs\nlogto = {d}/logs/ebb.log\nprocesses = 2\n");
    let conf = ini(dir.path(), &extra);
    let ebb = Ebb::builder().dir(dir.clone()).arg(conf).start();
    let log = dir.path().join("logs/ebb.log");
    wait_log_file(&log, 2, |l| l.is_event("ready"), START).unwrap_or_else(|e| ebb.fail(&e));
    // One import for both workers (the fork server), with its hooks around it.
    assert_eq!(order(dir.path()), ["pre", "import", "post"]);
    // A reload is a new generation: its fork server runs the hooks again.
    ebb.signal(Signal::SIGHUP);
    wait_log_file(&log, 4, |l| l.is_event("ready"), START).unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(
        order(dir.path()),
        ["pre", "import", "post", "pre", "import", "post"]
    );
}

#[test]
fn with_lazy_apps_each_worker_runs_the_hooks() {
    let dir = site();
    let conf = ini(dir.path(), "processes = 2\nlazy-apps = true\n");
    let ebb = Ebb::builder().dir(dir.clone()).arg(conf).start();
    ebb.wait_ready(0, 2, START);
    let mut o = order(dir.path());
    o.sort();
    assert_eq!(o, ["import", "import", "post", "post", "pre", "pre"]);
}

#[test]
fn a_failing_pre_app_hook_fails_the_start_without_importing() {
    let dir = site();
    let conf = ini(
        dir.path(),
        "hook-pre-app = exec:exit 7\nstart-attempts = 2\n",
    );
    let mut ebb = Ebb::builder().dir(dir.clone()).arg(conf).start();
    let status = ebb.expect_exit(START);
    assert_eq!(status.code(), Some(3), "need-app: no worker ever started");
    let failures =
        ebb.count(|l| l.contains("hook-pre-app exec:exit 7: the command failed (exit status 7)"));
    assert_eq!(failures, 2, "once per attempt:\n{}", ebb.tail(40));
    assert_eq!(
        order(dir.path()),
        ["pre", "pre"],
        "the app was never imported"
    );
}

#[test]
fn a_failing_asap_hook_stops_ebb_before_it_starts() {
    let dir = site();
    let conf = ini(dir.path(), "exec-asap = false\n");
    let (status, _, err) = run_ebb(&[&conf], START);
    assert_eq!(status.code(), Some(2));
    assert_eq!(
        err.trim(),
        "ebb: hook-asap exec:false: the command failed (exit status: 1)"
    );
    assert!(order(dir.path()).is_empty());
}

//! gunicorn command lines run unchanged: the command Django's documentation gives
//! (`gunicorn myproject.wsgi`, with `--chdir` and `-b`), and gunicorn's environment
//! variables (`GUNICORN_CMD_ARGS`, `WEB_CONCURRENCY`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

const START: Duration = Duration::from_secs(60);

/// `gunicorn --chdir DIR -b HOST:PORT mysite.wsgi` (Django's "How to use Django with
/// Gunicorn"), with `WEB_CONCURRENCY=2` and `GUNICORN_CMD_ARGS="--threads 2"`: two Django
/// workers serve, each with two threads, and stop gracefully.
#[test]
fn django_documented_gunicorn_command_serves() {
    let venv = test_venv();
    let dir = Arc::new(tempdir());
    let d = dir.path();
    copy_tree(&wsgi_app("mysite"), &d.join("mysite"));
    let port = free_port();
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--chdir".to_string(),
            d.join("mysite").display().to_string(),
            "-b".to_string(),
            format!("127.0.0.1:{port}"),
            "--virtualenv".to_string(),
            venv.display().to_string(),
            "mysite.wsgi".to_string(),
        ])
        .env("WEB_CONCURRENCY", "2")
        .env("GUNICORN_CMD_ARGS", "--threads 2 --timeout 30")
        .start();
    ebb.wait_ready(0, 2, START);
    let pids = direct_workers_of(ebb.pid);
    assert_eq!(pids.len(), 2, "WEB_CONCURRENCY=2");
    for p in &pids {
        let c = std::fs::read(format!("/proc/{p}/cmdline")).unwrap();
        let c = String::from_utf8_lossy(&c).replace('\0', " ");
        assert!(
            c.contains("--module mysite.wsgi") && c.contains("--threads 2"),
            "{c}"
        );
    }
    let t = Target::Tcp(([127, 0, 0, 1], port).into());
    let r = http_request(&t, "GET", "/", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.starts_with("hello from django"), "{:?}", r.body);
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0));
}

//! Issue "Python WSGI apps with no code change": ebb's bundled Python worker, on the real
//! binary, with real apps (`tests/wsgi_apps/`): background jobs survive recycling, the
//! explicit `ebb` API, Django and Flask, HTTP edge cases, import errors, nginx in front over
//! the uwsgi protocol, and harakiri.
//!
//! Every test copies its app into its own temp dir (no `__pycache__` in the source tree) and
//! starts its own `ebb` on port 0. Framework tests run the worker in the venv named by
//! `$EBB_TEST_VENV` (default `target/ci-venv`, made by `scripts/test`); they fail, never skip,
//! when it is missing. The two load tests take a lock so they do not compete for the cores.

#[path = "../common/mod.rs"]
mod common;
mod failures;
mod frameworks;
mod http;
mod jobs;
mod nginx;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;

static LOAD: Mutex<()> = Mutex::new(());

fn load_lock() -> std::sync::MutexGuard<'static, ()> {
    LOAD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copy `tests/wsgi_apps/<name>` (a file or a directory) into `dir`; returns the copy.
fn app_copy(dir: &Path, name: &str) -> PathBuf {
    let src = wsgi_app(name);
    let dst = dir.join(name);
    if src.is_dir() {
        copy_tree(&src, &dst);
    } else {
        std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    dst
}

/// `ebb --http-socket 127.0.0.1:0 --wsgi-file <copy of the app>` in a fresh temp dir.
fn wsgi_file(app: &str) -> (Arc<tempfile::TempDir>, EbbBuilder) {
    let dir = Arc::new(tempdir());
    let file = app_copy(dir.path(), app);
    let b = Ebb::builder().dir(dir.clone()).args([
        "--http-socket".to_string(),
        "127.0.0.1:0".to_string(),
        "--wsgi-file".to_string(),
        file.display().to_string(),
    ]);
    (dir, b)
}

/// Wait (generously: Python start-up on a loaded 2-core box) for `n` ready workers; returns
/// the HTTP target.
fn ready(ebb: &Ebb, n: usize) -> Target {
    let t = ebb.target();
    ebb.wait_ready(0, n, START);
    t
}

/// A generous bound for Python workers to start (or a stuck job to be noticed) under load.
const START: Duration = Duration::from_secs(60);

fn env_arg(k: &str, v: impl std::fmt::Display) -> [String; 2] {
    ["--env".to_string(), format!("{k}={v}")]
}

/// The number before `what` in `s` ("... 7 jobs done" → 7 for "jobs done").
fn count_before(s: &str, what: &str) -> Option<u64> {
    let i = s.find(what)?;
    s[..i].split_whitespace().last()?.parse().ok()
}

fn wait_for_exit_ok(ebb: &mut Ebb, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(timeout);
    let took = t0.elapsed();
    if status.code() != Some(0) {
        ebb.fail(&format!(
            "ebb exited with {status} after {took:?}, expected 0"
        ));
    }
    took
}

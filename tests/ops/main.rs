//! Issue 11, operating ebb: the control socket and its commands, the master fifo, the stats
//! and metrics servers (read by the real uwsgitop and prometheus_client) and what they show
//! of work under way and lost (work.rs), systemd notify, socket activation and the unit
//! files, process titles, the shutdown delay and the Kubernetes manifest. Real processes on 127.0.0.1;
//! every wait has a deadline; `Ebb`'s drop kills everything even when a test fails.

#[path = "../common/mod.rs"]
mod common;
mod control;
mod service;
mod stats;
mod work;

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

/// How many descriptors `pid` has open.
fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The address a `stats-listen` / `metrics-listen` line names.
fn listen_addr(ebb: &Ebb, event: &str) -> String {
    let l = ebb
        .wait_for(|l| l.is_event(event), SOON)
        .unwrap_or_else(|e| ebb.fail(&format!("no {event} line: {e}")));
    l.str_field("address").expect("address field").to_string()
}

/// One document from the stats server at `addr` (TCP): connect, read to EOF, parse.
/// `GET /metrics` over `s` (TCP or a Unix socket): the whole response, checked to be a 200.
fn metrics_response(mut s: impl Read + Write) -> String {
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

fn stats_doc(addr: &str) -> Value {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

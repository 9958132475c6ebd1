//! uWSGI's logger options as real uwsgi.ini files use them (issue 13): encoders, named
//! loggers and routes, request encoders, rotation names, log-truncate, and a syslog
//! logger to a UDP socket the test binds. Real processes: ebb, the example app and
//! tests/apps/log_worker.py.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

fn log_worker() -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/log_worker.py");
    vec!["--".into(), "python3".into(), script.display().to_string()]
}

fn write_ini(dir: &Path, body: &str) -> PathBuf {
    let ini = dir.join("app.ini");
    std::fs::write(&ini, format!("[uwsgi]\n{body}")).unwrap();
    ini
}

/// The HTTP address in a message saying `listening on http://…`.
fn http_addr(text: &str) -> Option<SocketAddr> {
    let at = text.find("listening on http://")? + "listening on http://".len();
    let end = text[at..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .map_or(text.len(), |e| at + e);
    text[at..end].parse().ok()
}

fn stop(ebb: &mut Ebb) {
    ebb.signal(Signal::SIGTERM);
    let st = ebb.expect_exit(SOON);
    assert!(st.success(), "{st:?}\n{}", ebb.tail(30));
}

fn json(l: &Line) -> Value {
    serde_json::from_str(&l.raw).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", l.raw))
}

/// HumanSignal/label-studio's deploy/uwsgi.ini logging block: the app's JSON lines pass
/// through as they are, every other line becomes a JSON object; so every line is JSON.
#[test]
fn encoders_and_routes_make_every_line_json() {
    let dir = tempdir();
    let ini = write_ini(
        dir.path(),
        "http-socket = 127.0.0.1:0\nprocesses = 1\n\
         logger = applogger stdio\n\
         log-route = applogger {\n\
         log-encoder = format:applogger ${msg}\n\
         logger = default stdio\n\
         log-route = default ^((?!\\{).)*$\n\
         log-encoder = json:default {\"timestamp\": \"${strftime:%%d/%%b/%%Y:%%H:%%M:%%S %%z}\", \
         \"source\": \"uwsgi\", \"levelname\": \"INFO\", \"message\": \"${msg}\"}\n\
         log-encoder = nl\n",
    );
    let mut ebb = Ebb::builder()
        .arg(ini.display().to_string())
        .args(log_worker())
        .text_log()
        .start();
    let started = ebb
        .wait_for(|l| l.contains("listening on http://"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    let j = json(&started);
    assert_eq!(j["source"], "uwsgi", "{}", started.raw);
    let t = Target::Tcp(http_addr(j["message"].as_str().unwrap()).unwrap());
    get_retry(
        &t,
        "/print?text=%7B%22event%22%3A%22app%22%2C%22n%22%3A1%7D",
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    get_retry(&t, "/stderr?text=plain+%22quoted%22+%5C+line", SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    ebb.wait_for(|l| l.raw == r#"{"event":"app","n":1}"#, SOON)
        .unwrap_or_else(|e| ebb.fail(&format!("the app's JSON line, unwrapped: {e}")));
    // (Not the access line of that request, which names it URL-encoded and may come first.)
    let wrapped = ebb
        .wait_for(|l| l.contains(r#"plain \"quoted\""#), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    let w = json(&wrapped);
    assert_eq!(w["message"], r#"plain "quoted" \ line"#, "{}", wrapped.raw);
    assert!(w["timestamp"].as_str().unwrap().ends_with(" +0000"));
    // Access lines take the default route too.
    ebb.wait_for(|l| l.contains("GET /stderr"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    for l in ebb.lines() {
        json(&l);
    }
}

/// MIT-LCP/physionet-build's request log: `logger-req = stdio`, a log-format that writes
/// JSON fields, and `log-req-encoder` making each access line one JSON object.
#[test]
fn request_encoders_wrap_access_lines() {
    let dir = tempdir();
    let ini = write_ini(
        dir.path(),
        "http-socket = 127.0.0.1:0\nprocesses = 1\nexample-app = true\n\
         logger-req = stdio\n\
         log-format = \"address\":\"%(addr)\", \"worker_id\":%(wid), \"host\":\"%(json_host)\", \
         \"method\":\"%(method)\", \"uri\":\"%(json_uri)\", \"resp_size\":%(size), \
         \"req_body_size\":%(cl), \"resp_status\":%(status), \"resp_time\":%(secs)\n\
         log-req-encoder = format {\"time\":${unix}, \"source\":\"uwsgi-req\", ${msg}}\n\
         log-req-encoder = nl\n",
    );
    let mut ebb = Ebb::builder()
        .arg(ini.display().to_string())
        .text_log()
        .start();
    let started = ebb
        .wait_for(|l| l.contains("listening on http://"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    let t = Target::Tcp(http_addr(&started.raw).unwrap());
    get_retry(&t, "/?x=1", SOON).unwrap_or_else(|e| ebb.fail(&e));
    let l = ebb
        .wait_for(|l| l.contains("uwsgi-req"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let j = json(&l);
    assert_eq!(j["uri"], "/?x=1");
    assert_eq!(j["method"], "GET");
    assert_eq!(j["resp_status"], 200);
    assert_eq!(j["worker_id"], 1);
    assert_eq!(j["req_body_size"], 0);
    assert!(j["time"].as_i64().unwrap() > 1_700_000_000);
    // The rest of the log keeps ebb's stamped lines.
    assert!(started.raw.contains(" master pid="), "{}", started.raw);
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Start the example app logging to `main` with `extra` options, make `n` requests.
fn run_and_rotate(dir: &Path, main: &Path, extra: &[&str], n: usize) -> Ebb {
    let mut args = vec!["--logto", main.to_str().unwrap(), "--log-maxsize", "3000"];
    args.extend(extra);
    let ebb = Ebb::example(1).args(args).text_log().start();
    let port = poll_until(SOON, || {
        let text = std::fs::read_to_string(main).ok()?;
        http_addr(&text)
    })
    .unwrap_or_else(|| panic!("no listening line in {:?}", files_in(dir)));
    let t = Target::Tcp(port);
    get_retry(&t, "/", SOON).unwrap();
    for _ in 0..n {
        get_ok(&ebb, &t, "/");
    }
    ebb
}

#[test]
fn rotation_keeps_backupcount_files_or_one_backupname() {
    // log-backupcount = 3: main.log.1 .. main.log.3 and never a fourth.
    let dir = tempdir();
    let main = dir.path().join("main.log");
    let mut ebb = run_and_rotate(dir.path(), &main, &["--log-backupcount", "3"], 150);
    let want = ["main.log", "main.log.1", "main.log.2", "main.log.3"];
    let got = poll_until(SOON, || {
        let f = files_in(dir.path());
        want.iter().all(|w| f.contains(&w.to_string())).then_some(f)
    })
    .unwrap_or_else(|| panic!("{:?}", files_in(dir.path())));
    let logs: Vec<&str> = got
        .iter()
        .map(String::as_str)
        .filter(|f| f.starts_with("main.log"))
        .collect();
    assert_eq!(logs, want);
    stop(&mut ebb);

    // log-backupname: one backup, replaced at each rotation; no FILE.<time> names.
    let dir = tempdir();
    let main = dir.path().join("main.log");
    let old = dir.path().join("main.log.backup");
    let mut ebb = run_and_rotate(
        dir.path(),
        &main,
        &["--log-backupname", old.to_str().unwrap()],
        150,
    );
    poll_until(SOON, || old.exists().then_some(())).unwrap();
    stop(&mut ebb);
    assert_eq!(files_in(dir.path()), ["main.log", "main.log.backup"]);
    let n = std::fs::metadata(&old).unwrap().len();
    assert!((3000..3000 + 64 * 1024).contains(&n), "{n}");
}

#[test]
fn log_truncate_empties_the_file_at_start() {
    let dir = tempdir();
    let main = dir.path().join("main.log");
    std::fs::write(&main, "an old line from the last run\n").unwrap();
    let ini = write_ini(
        dir.path(),
        &format!(
            "http-socket = 127.0.0.1:0\nexample-app = true\nlogto = {}\nlog-truncate = true\n",
            main.display()
        ),
    );
    let mut ebb = Ebb::builder()
        .arg(ini.display().to_string())
        .text_log()
        .start();
    poll_until(SOON, || {
        std::fs::read_to_string(&main)
            .ok()
            .and_then(|t| http_addr(&t))
    })
    .unwrap();
    stop(&mut ebb);
    let text = std::fs::read_to_string(&main).unwrap();
    assert!(!text.contains("an old line"), "{text}");
    assert!(text.contains("listening on"), "{text}");
}

/// dricottone/container-images: `logger = rsyslog:127.0.0.1:514,uwsgi`, here to a port the
/// test listens on: every line arrives as one RFC 3164 datagram.
#[test]
fn rsyslog_logger_sends_each_line_as_a_datagram() {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let dir = tempdir();
    let ini = write_ini(
        dir.path(),
        &format!(
            "http-socket = 127.0.0.1:0\nexample-app = true\nlogger = rsyslog:127.0.0.1:{port},uwsgi\n"
        ),
    );
    let mut ebb = Ebb::builder()
        .arg(ini.display().to_string())
        .text_log()
        .start();
    let mut got: Vec<String> = Vec::new();
    let recv = |got: &mut Vec<String>, want: &dyn Fn(&str) -> bool| -> Option<String> {
        let deadline = Instant::now() + SOON;
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                let s = String::from_utf8_lossy(&buf[..n]).into_owned();
                got.push(s.clone());
                if want(&s) {
                    return Some(s);
                }
            }
        }
        None
    };
    let started = recv(&mut got, &|s| s.contains("listening on http://"))
        .unwrap_or_else(|| ebb.fail(&format!("no listening datagram: {got:?}")));
    let t = Target::Tcp(http_addr(&started).unwrap());
    get_retry(&t, "/via-syslog", SOON).unwrap_or_else(|e| ebb.fail(&e));
    let access = recv(&mut got, &|s| s.contains("GET /via-syslog"))
        .unwrap_or_else(|| ebb.fail(&format!("no access datagram: {got:?}")));
    stop(&mut ebb);
    for d in [&started, &access] {
        // <PRI>Mmm dd hh:mm:ss HOST uwsgi[PID]: 2026-…Z INFO  …
        assert!(d.starts_with("<30>"), "{d}");
        let tag = format!(" uwsgi[{}]: ", ebb.pid);
        assert!(d.contains(&tag), "{d}");
        assert_eq!(&d[7..8], " ", "{d}");
        assert!(d.len() <= 1024);
    }
    // Nothing of the log went to stderr.
    assert!(
        !ebb.lines().iter().any(|l| l.contains("listening on")),
        "{:?}",
        ebb.lines()
    );
}

/// Each bad value is one error naming the file, line and key.
#[test]
fn bad_logger_values_are_errors_with_file_line_key() {
    let dir = tempdir();
    let ini = write_ini(
        dir.path(),
        "http-socket = 127.0.0.1:0\nexample-app = true\n\
         log-encoder = gzip\n\
         log-encoder = json {\"m\":\"${msgln}\"}\n\
         log-route = errors (unclosed\n\
         logger = redis:127.0.0.1\n\
         logger = rsyslog:nohostport\n\
         log-format = %(addr) %(user_id)\n",
    );
    let (st, _out, err) = run_ebb(&["--check-config", ini.to_str().unwrap()], SOON);
    assert_eq!(st.code(), Some(2), "{err}");
    for (line, key, says) in [
        (4, "log-encoder", "gzip encoder is not supported"),
        (5, "log-encoder", "did you mean ${msgnl}"),
        (6, "log-route", "cannot compile"),
        (7, "logger", "ebb's loggers are"),
        (8, "logger", "HOST:PORT"),
        (9, "log-format", "uwsgi.set_logvar()"),
    ] {
        let want = format!("app.ini:{line}: {key}: ");
        let l = err
            .lines()
            .find(|l| l.contains(&want))
            .unwrap_or_else(|| panic!("no {want}: {err}"));
        assert!(l.contains(says), "{l}");
    }
}

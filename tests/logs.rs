//! One log stream (issue 10): every line stamped with time and worker, text or JSON, the
//! access formats, filters, bounds on odd output, rotation and reopen. Real processes: the
//! example app, and tests/apps/log_worker.py (a plain worker that writes to stdout, stderr
//! and EBB_LOG_FD as docs/protocol.md says).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;
use serde_json::Value;

fn log_worker() -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/log_worker.py");
    vec!["--".into(), "python3".into(), script.display().to_string()]
}

/// `ebb --http-socket 127.0.0.1:0 -p N EXTRA… -- python3 log_worker.py`
fn with_log_worker(processes: usize, extra: &[&str]) -> EbbBuilder {
    Ebb::builder()
        .args(["--http-socket", "127.0.0.1:0", "--processes"])
        .arg(processes.to_string())
        .args(extra.iter().copied())
        .args(log_worker())
}

/// Text mode: wait for `n` "worker ready" lines.
fn ready_text(ebb: &Ebb, n: usize) -> Target {
    let t = ebb.target();
    ebb.wait_n_after(0, n, |l| l.contains("event=ready"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    t
}

fn stop(ebb: &mut Ebb) {
    ebb.signal(Signal::SIGTERM);
    let st = ebb.expect_exit(SOON);
    assert!(st.success(), "{st:?}\n{}", ebb.tail(30));
}

/// `2026-12-01T09:39:46.123Z INFO  worker=1 pid=… generation=1 respawn=1 …` or
/// `… master pid=…`.
fn assert_stamped_text(line: &str) {
    let b = line.as_bytes();
    let ts_ok = b.len() > 25
        && b[4] == b'-'
        && b[10] == b'T'
        && b[23] == b'Z'
        && line[..4].bytes().all(|c| c.is_ascii_digit());
    assert!(ts_ok, "no timestamp: {line:?}");
    let rest = line[25..]
        .trim_start_matches(|c: char| c.is_ascii_uppercase())
        .trim_start();
    let who = rest.starts_with("master pid=")
        || (rest.starts_with("worker=")
            && rest.contains(" pid=")
            && rest.contains(" generation=")
            && rest.contains(" respawn="));
    assert!(who, "no worker or master: {line:?}");
}

fn assert_stamped_json(l: &Line) -> &Value {
    let j = l
        .json
        .as_ref()
        .unwrap_or_else(|| panic!("not JSON: {:?}", l.raw));
    let ts = j["ts"]
        .as_str()
        .unwrap_or_else(|| panic!("no ts: {}", l.raw));
    assert!(ts.len() == 24 && ts.ends_with('Z'), "{ts}");
    assert!(j["level"].is_string() && j["msg"].is_string(), "{}", l.raw);
    match j["source"].as_str() {
        Some("master") => {}
        Some("worker") => {
            for k in ["worker", "pid", "generation", "respawn"] {
                assert!(j[k].is_u64(), "no {k}: {}", l.raw);
            }
        }
        other => panic!("source {other:?}: {}", l.raw),
    }
    j
}

#[test]
fn default_text_lines_with_the_example_app() {
    let mut ebb = Ebb::example(2)
        .args(["--max-requests", "100"])
        .text_log()
        .start();
    let t = ready_text(&ebb, 2);
    get_ok(&ebb, &t, "/");
    let _ = get(&t, "/nope?x=1");
    ebb.wait_n_after(0, 2, |l| l.contains(" access | "), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let lines = ebb.lines();
    for l in &lines {
        assert_stamped_text(&l.raw);
    }
    let access: Vec<&Line> = lines.iter().filter(|l| l.contains(" access | ")).collect();
    assert_eq!(access.len(), 2, "{}", ebb.tail(30));
    let hello = access.iter().find(|l| l.contains("GET / ")).unwrap();
    assert!(
        hello.contains("access | 127.0.0.1 GET / HTTP/1.1 => 200, ")
            && hello.contains(" bytes in ")
            && hello.raw.ends_with("(req: 1/100)"),
        "{}",
        hello.raw
    );
    let nope = access.iter().find(|l| l.contains("/nope")).unwrap();
    assert!(
        nope.contains("GET /nope?x=1 HTTP/1.1 => 404, "),
        "{}",
        nope.raw
    );
    // One event, one line: the master reports the drain; the example app does not repeat it.
    assert_eq!(ebb.count(|l| l.contains("drained")), 2, "{}", ebb.tail(30));
}

#[test]
fn json_lines_parse_and_carry_every_kind_of_output() {
    let mut ebb = with_log_worker(1, &[]).start();
    let t = ebb.ready(1);
    for path in [
        "/print?text=hello+from+print",
        "/stderr?text=to+stderr",
        "/traceback",
        "/binary",
        "/long?n=40000",
        "/longrecord",
        "/status?code=500",
    ] {
        get_ok_or_status(&ebb, &t, path);
    }
    ebb.wait_for(
        |l| l.contains("\"kind\":\"access\"") && l.contains("/status?code=500"),
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let lines = ebb.lines();
    let objs: Vec<&Value> = lines.iter().map(assert_stamped_json).collect();
    let find = |pred: &dyn Fn(&Value) -> bool| -> &Value {
        objs.iter()
            .find(|o| pred(o))
            .copied()
            .unwrap_or_else(|| panic!("no such line in\n{}", ebb.tail(40)))
    };
    let p = find(&|o| o["msg"] == "hello from print");
    assert_eq!(
        (p["stream"].as_str(), p["source"].as_str()),
        (Some("stdout"), Some("worker"))
    );
    assert_eq!(find(&|o| o["msg"] == "to stderr")["stream"], "stderr");
    // A traceback is one record, its lines kept together.
    let tb = find(&|o| {
        o["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("Traceback"))
    });
    assert_eq!(tb["level"], "ERROR");
    assert!(
        tb["msg"].as_str().unwrap().ends_with("ValueError: boom"),
        "{tb}"
    );
    // Bytes that are not UTF-8 and escape sequences are escaped, never raw.
    let bin = find(&|o| o["msg"].as_str().is_some_and(|m| m.starts_with("bin ")));
    assert_eq!(bin["msg"], "bin \\xff\\xfe \\x1b[31mred\\x1b[0m end");
    // A 40000-byte line: cut into 16 KiB pieces, nothing lost.
    let pieces: Vec<&&Value> = objs
        .iter()
        .filter(|o| o["msg"].as_str().is_some_and(|m| m.starts_with("xxxx")))
        .collect();
    assert_eq!(pieces.len(), 3, "{}", ebb.tail(10));
    let total: usize = pieces
        .iter()
        .map(|o| o["msg"].as_str().unwrap().len())
        .sum();
    assert_eq!(total, 40000);
    assert_eq!(pieces[0]["cut"], true);
    assert_eq!(pieces[2]["continued"], true);
    // A record over the bound is truncated, and says so.
    let long = find(&|o| o["msg"].as_str().is_some_and(|m| m.contains("truncated")));
    assert_eq!(long["level"], "WARN");
    let a = find(&|o| o["kind"] == "access" && o["status"] == 500);
    assert_eq!(
        (a["method"].as_str(), a["uri"].as_str()),
        (Some("GET"), Some("/status?code=500"))
    );
    assert_eq!(a["addr"], "127.0.0.1");
    assert!(a["duration_us"].is_u64() && a["requests"] == 7, "{a}");
}

#[test]
fn python_worker_access_records_carry_times_sizes_and_counts() {
    // The Python worker's own records (the compact hex form) as the master renders them in
    // JSON: the start, the duration of a request that slept 0.3 s, sizes and the count.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let app = wsgi_app("edge_app.py");
    let mut ebb = Ebb::builder()
        .args(["--http-socket", "127.0.0.1:0", "-p", "1", "--wsgi-file"])
        .arg(app.display().to_string())
        .start();
    let t = ebb.ready(1);
    for path in ["/", "/stuck?s=0.3", "/boom?x=%22q%22"] {
        let _ = get(&t, path).unwrap_or_else(|e| ebb.fail(&format!("GET {path}: {e}")));
    }
    ebb.wait_for(
        |l| l.contains("\"kind\":\"access\"") && l.contains("/boom"),
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let lines = ebb.lines();
    let access: Vec<Value> = lines
        .iter()
        .map(assert_stamped_json)
        .filter(|o| o["kind"] == "access")
        .cloned()
        .collect();
    let uris: Vec<&str> = access.iter().map(|a| a["uri"].as_str().unwrap()).collect();
    assert_eq!(
        uris,
        ["/", "/stuck?s=0.3", "/boom?x=%22q%22"],
        "{}",
        ebb.tail(20)
    );
    let statuses: Vec<u64> = access
        .iter()
        .map(|a| a["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 500]);
    let counts: Vec<u64> = access
        .iter()
        .map(|a| a["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [1, 2, 3]);
    let hello = &access[0];
    assert!(hello["size"].as_u64().unwrap() > 10, "{hello}");
    assert_eq!(
        (&hello["method"], &hello["addr"]),
        (&"GET".into(), &"127.0.0.1".into())
    );
    let slept = access[1]["duration_us"].as_u64().unwrap();
    assert!((300_000..10_000_000).contains(&slept), "{}", access[1]);
    assert!(access[0]["duration_us"].as_u64().unwrap() < slept);
    // The start: an RFC 3339 time, not before the test began (to the second).
    let start = access[0]["start"].as_str().unwrap();
    let secs = start
        .get(..19)
        .and_then(chrono_like_secs)
        .unwrap_or_else(|| panic!("start {start:?}"));
    assert!(
        secs + 1.0 >= before && secs < before + 120.0,
        "start {start:?}"
    );
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) as Unix seconds.
fn chrono_like_secs(s: &str) -> Option<f64> {
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (h, mi, se) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + se) as f64)
}

/// 200, or the status the route asked for.
fn get_ok_or_status(ebb: &Ebb, t: &Target, path: &str) {
    match get(t, path) {
        Ok(_) => {}
        Err(e) => ebb.fail(&format!("GET {path}: {e}")),
    }
}

#[test]
fn gunicorn_access_format_to_its_own_file() {
    let dir = std::sync::Arc::new(tempdir());
    let access = dir.path().join("access.log");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .text_log()
        .args(["--access-logfile", access.to_str().unwrap()])
        .args([
            "--access-logformat",
            r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-test}i)s %(p)s"#,
        ])
        .start();
    let t = ready_text(&ebb, 1);
    let pid = ebb.worker_pids()[0];
    let mut c = std::net::TcpStream::connect(match &t {
        Target::Tcp(a) => *a,
        _ => unreachable!(),
    })
    .unwrap();
    use std::io::{Read, Write};
    c.write_all(
        b"GET /?a=b HTTP/1.1\r\nHost: h\r\nUser-Agent: ua/1\r\nX-Test: yes\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut sink = Vec::new();
    let _ = c.read_to_end(&mut sink);
    let line = poll_until(SOON, || {
        std::fs::read_to_string(&access)
            .ok()
            .and_then(|s| s.lines().next().map(String::from))
    })
    .unwrap_or_else(|| ebb.fail("no access line in access.log"));
    stop(&mut ebb);
    // 127.0.0.1 - - [01/Dec/2026:09:39:46 +0000] "GET /?a=b HTTP/1.1" 200 36 "-" "ua/1" yes PID
    let (before, after) = line.split_once(" [").unwrap();
    assert_eq!(before, "127.0.0.1 - -", "{line}");
    let after = after.split_once("] ").unwrap().1;
    let size = format!("hello from worker=1 pid={pid} respawn=1\n").len();
    assert_eq!(
        after,
        format!("\"GET /?a=b HTTP/1.1\" 200 {size} \"-\" \"ua/1\" yes {pid}")
    );
    // Not in the main log.
    assert_eq!(ebb.count(|l| l.contains("GET /?a=b")), 0);
}

#[test]
fn uwsgi_log_format_from_an_ini_with_json_style_on_the_command_line() {
    let dir = tempdir();
    let ini = dir.path().join("app.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nprocesses = 1\nexample-app = true\n\
         log-format = %(addr) %(method) %(uri) %(proto) %(status) %(rsize) wid=%(wid) req=%(req)\n",
    )
    .unwrap();
    let mut ebb = Ebb::builder().arg(ini.display().to_string()).start();
    let t = ebb.ready(1);
    get_ok(&ebb, &t, "/");
    let l = ebb
        .wait_for(|l| l.str_field("kind") == Some("access"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let pid = l.int_field("pid").unwrap();
    let size = format!("hello from worker=1 pid={pid} respawn=1\n").len();
    assert_eq!(
        l.message(),
        format!("127.0.0.1 GET / HTTP/1.1 200 {size} wid=1 req=1")
    );
    assert_eq!(l.int_field("status"), Some(200));
    // The same ini in text style: the line exactly as the format says.
    let mut ebb = Ebb::builder()
        .arg(ini.display().to_string())
        .text_log()
        .start();
    let t = ready_text(&ebb, 1);
    let _ = get(&t, "/x");
    let l = ebb
        .wait_for(|l| l.raw.starts_with("127.0.0.1 GET /x"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    assert_eq!(l.raw, "127.0.0.1 GET /x HTTP/1.1 404 14 wid=1 req=1");
}

#[test]
fn unknown_format_atoms_are_config_errors() {
    for args in [
        vec!["--log-format", "%(method) %(nope)"],
        vec!["--access-logformat", "%(h)s %(zz)s"],
    ] {
        let mut all = vec!["--http-socket", "127.0.0.1:0", "--example-app"];
        all.extend(&args);
        let (st, _out, err) = run_ebb(&all, SOON);
        assert_eq!(st.code(), Some(2), "{err}");
        let atom = if args[0] == "--log-format" {
            "%(nope)"
        } else {
            "%(zz)s"
        };
        assert!(err.contains(atom), "{err}");
    }
}

#[test]
fn disable_logging_keeps_4xx_and_5xx_when_asked() {
    let mut ebb = Ebb::example(1)
        .args(["--disable-logging", "--log-4xx"])
        .start();
    let t = ebb.ready(1);
    get_ok(&ebb, &t, "/");
    get_ok(&ebb, &t, "/");
    let _ = get(&t, "/missing");
    ebb.wait_for(|l| l.str_field("kind") == Some("access"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let access: Vec<Line> = ebb
        .lines()
        .into_iter()
        .filter(|l| l.str_field("kind") == Some("access"))
        .collect();
    assert_eq!(access.len(), 1, "{}", ebb.tail(20));
    assert_eq!(access[0].int_field("status"), Some(404));
    assert_eq!(access[0].int_field("requests"), Some(3));

    // 5xx only, with the plain worker (the filter is decided in the worker).
    let mut ebb = with_log_worker(1, &["--disable-logging", "--log-5xx"]).start();
    let t = ebb.ready(1);
    for p in ["/", "/status?code=404", "/status?code=503"] {
        get_ok_or_status(&ebb, &t, p);
    }
    ebb.wait_for(|l| l.str_field("kind") == Some("access"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    let statuses: Vec<i64> = ebb
        .lines()
        .iter()
        .filter(|l| l.str_field("kind") == Some("access"))
        .filter_map(|l| l.int_field("status"))
        .collect();
    assert_eq!(statuses, [503]);
}

#[test]
fn a_partial_line_is_logged_when_its_worker_exits() {
    let mut ebb = with_log_worker(1, &[]).start();
    let t = ebb.ready(1);
    get_ok_or_status(&ebb, &t, "/partial");
    let l = ebb
        .wait_for(|l| l.message() == "no newline at exit", SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    // Logged before the master reports the exit.
    let exit = ebb
        .wait_for(
            |l| l.is_event("exit") || l.message().contains("exit code 3"),
            SOON,
        )
        .unwrap_or_else(|e| ebb.fail(&e));
    assert!(l.at <= exit.at);
    ebb.wait_ready(0, 2, SOON);
    stop(&mut ebb);
}

#[test]
fn a_flooding_worker_does_not_stall_the_master() {
    let mut ebb = with_log_worker(1, &[]).start();
    let t = ebb.ready(1);
    get_ok_or_status(&ebb, &t, "/flood?s=4");
    ebb.wait_for(|l| l.message().starts_with("flood "), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    // While the flood goes on, the master still answers signals: one worker more.
    let mark = ebb.mark();
    let asked = std::time::Instant::now();
    ebb.signal(Signal::SIGTTIN);
    ebb.wait_ready(mark, 1, Duration::from_secs(3));
    let took = asked.elapsed();
    let floods = ebb.count(|l| l.message().starts_with("flood "));
    eprintln!("a second worker was ready {took:?} after SIGTTIN, during {floods} flood lines");
    assert!(floods > 1000, "{floods}");
    stop(&mut ebb);
    // Every flood line whole: 206 bytes of text, none split or interleaved.
    for l in ebb
        .lines()
        .iter()
        .filter(|l| l.message().starts_with("flood "))
    {
        assert_eq!(l.message().len(), 206, "{}", l.raw);
    }
}

fn files_in(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort();
    v
}

#[test]
fn log_files_rotate_at_maxsize_and_reopen_on_usr1() {
    let dir = std::sync::Arc::new(tempdir());
    let log = dir.path().join("ebb.log.d");
    std::fs::create_dir(&log).unwrap();
    let main = log.join("main.log");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--logto", main.to_str().unwrap(), "--log-maxsize", "4000"])
        .text_log()
        .start();
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let addr_line = poll_until(SOON, || {
        read(&main)
            .lines()
            .find(|l| l.contains("event=ready"))
            .map(|_| ())
    });
    assert!(addr_line.is_some(), "no ready line in {}", main.display());
    let started = files_in(&log, "main.log")
        .iter()
        .flat_map(|p| read(p).lines().map(String::from).collect::<Vec<_>>())
        .find(|l| l.contains("listening on http://"))
        .unwrap();
    let port = started.split("http://127.0.0.1:").nth(1).unwrap();
    let port: u16 = port[..port.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap();
    let t = Target::Tcp(([127, 0, 0, 1], port).into());
    for _ in 0..200 {
        get_ok(&ebb, &t, "/");
    }
    let rotated = poll_until(SOON, || {
        let f = files_in(&log, "main.log.");
        (f.len() >= 2).then_some(f)
    })
    .unwrap_or_else(|| panic!("no rotation: {:?}", files_in(&log, "")));
    for f in &rotated {
        let n = std::fs::metadata(f).unwrap().len();
        assert!(n <= 4000 + 64 * 1024, "{}: {n}", f.display());
    }
    // Every line of every file stamped; none lost across rotations (200 access lines).
    let all: Vec<String> = files_in(&log, "main.log")
        .iter()
        .flat_map(|p| read(p).lines().map(String::from).collect::<Vec<_>>())
        .collect();
    for l in &all {
        assert_stamped_text(l);
    }
    let access = poll_until(SOON, || {
        let n = files_in(&log, "main.log")
            .iter()
            .map(|p| read(p).matches(" access | ").count())
            .sum::<usize>();
        (n == 200).then_some(n)
    });
    assert_eq!(access, Some(200));

    // logrotate's way: move the file, send USR1; new lines go to a new file.
    let moved = log.join("moved.log");
    std::fs::rename(&main, &moved).unwrap();
    ebb.signal(Signal::SIGUSR1);
    let reopened = poll_until(SOON, || {
        read(&main).contains("log files reopened").then_some(())
    });
    assert!(reopened.is_some(), "{:?}", files_in(&log, ""));
    let _ = get(&t, "/after-reopen");
    let after = poll_until(SOON, || read(&main).contains("/after-reopen").then_some(()));
    assert!(after.is_some());
    assert!(!read(&moved).contains("/after-reopen"));
    ebb.signal(Signal::SIGTERM);
    ebb.expect_exit(SOON);
}

/// Kills a daemonized master (and its workers) when the test ends, however it ends.
struct Daemon(i32);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0 > 0 && is_alive(self.0) {
            kill_workers_of(self.0, Duration::from_secs(1));
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

#[test]
fn daemonize_detaches_and_logs_to_its_file() {
    let dir = tempdir();
    let log = dir.path().join("daemon.log");
    let pidfile = dir.path().join("ebb.pid");
    let (st, _out, err) = run_ebb(
        &[
            "--http-socket",
            "127.0.0.1:0",
            "--example-app",
            "--daemonize",
            log.to_str().unwrap(),
            "--pidfile",
            pidfile.to_str().unwrap(),
        ],
        SOON,
    );
    assert!(st.success(), "{st:?} {err}");
    let pid: i32 = poll_until(SOON, || {
        std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    })
    .expect("a pidfile from the detached master");
    let _guard = Daemon(pid);
    let ready = poll_until(SOON, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("event=ready").then_some(text)
    })
    .unwrap_or_else(|| panic!("no ready line in {}", log.display()));
    for l in ready.lines() {
        assert_stamped_text(l);
    }
    // A new session: the master leads it, away from the test's terminal and group.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        fields[3],
        pid.to_string(),
        "session id = the master's pid: {stat}"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGTERM).unwrap();
    assert!(
        poll_until(SOON, || (!is_alive(pid)).then_some(())).is_some(),
        "the detached master did not stop on SIGTERM"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("ebb master exiting"), "{text}");

    // Under systemd it is an error that says why.
    let mut cmd = std::process::Command::new(EBB);
    cmd.args([
        "--http-socket",
        "127.0.0.1:0",
        "--example-app",
        "--daemonize",
    ])
    .arg(&log)
    .env("INVOCATION_ID", "0123");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("makes no sense under systemd"));
}

#[test]
fn uwsgi_protocol_requests_are_logged_too() {
    let dir = std::sync::Arc::new(tempdir());
    let sock = dir.path().join("app.sock");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--socket", sock.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let t = Target::Unix(sock);
    uwsgi_request(&t, "GET", "/?via=nginx", b"").unwrap_or_else(|e| ebb.fail(&e));
    let l = ebb
        .wait_for(|l| l.str_field("kind") == Some("access"), SOON)
        .unwrap_or_else(|e| ebb.fail(&e));
    stop(&mut ebb);
    assert_eq!(l.str_field("uri"), Some("/?via=nginx"), "{}", l.raw);
    assert_eq!(l.str_field("addr"), Some("127.0.0.1"));
    assert_eq!(l.str_field("proto"), Some("HTTP/1.1"));
    assert_eq!(l.str_field("host"), Some("ebb-test"));
    assert_eq!(l.int_field("status"), Some(200));
}

//! The stats server read by the real uwsgitop, Prometheus metrics read by prometheus_client, and hostile clients of both.

use super::*;

/// The venv with uwsgitop and prometheus_client (`$EBB_TEST_VENV`, default
/// `target/ci-venv`, made by `scripts/test`). Missing: the test fails and says what to run.
pub(super) fn ops_venv() -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("EBB_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target/ci-venv"));
    let venv = if venv.is_absolute() {
        venv
    } else {
        root.join(venv)
    };
    let has = venv.join("bin/uwsgitop").exists()
        && Command::new(venv.join("bin/python"))
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        has,
        "{0} lacks uwsgitop or prometheus_client: run scripts/test (it makes the venv), or \
         {0}/bin/pip install uwsgitop prometheus_client",
        venv.display()
    );
    venv
}

/// A tmux server of the test's own, killed on drop.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The real uwsgitop (PyPI) draws ebb's workers from `--stats`: their pids, request
/// counts, bytes sent and the listen queue on a TCP address; their pids on a Unix socket and
/// over HTTP (`--stats-http`, `uwsgitop http://ADDR/`), as the README shows.
#[test]
fn uwsgitop_draws_the_workers() {
    let venv = ops_venv();
    let dir = std::sync::Arc::new(tempdir());
    let unix = dir.path().join("stats.sock");
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args(["--stats", "127.0.0.1:0"])
        .start();
    let t = ebb.ready(2);
    // Every byte the workers sent, head and body, counted by the client.
    let served = served_bytes(&t, 5);
    let addr = listen_addr(&ebb, "stats-listen");

    // The raw protocol: connect, read one document, EOF.
    let read_doc = || stats_doc(&addr);
    let sum = |v: &Value, key: &str| -> u64 {
        v["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w[key].as_u64().unwrap())
            .sum()
    };
    // tx: uWSGI's bytes sent (head and body); the reports come within tens of ms.
    let v = poll_until(SOON, || {
        let v = read_doc();
        (sum(&v, "requests") == 5 && sum(&v, "tx") == served).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail(&format!("tx never reached {served}: {}", read_doc())));
    for w in v["workers"].as_array().unwrap() {
        let (req, rt, run) = (
            w["requests"].as_u64().unwrap(),
            w["avg_rt"].as_u64().unwrap(),
            w["running_time"].as_u64().unwrap(),
        );
        // avg_rt: the mean request time in µs; running_time: their sum. (The example app
        // answers `/` in less than a microsecond, each counted in whole µs: both may be 0.)
        assert!(run >= rt * req && run < (rt + 1) * req.max(1), "{w}");
        assert!(
            rt < 10_000_000,
            "a request of the example app takes no 10 s: {w}"
        );
    }
    assert_eq!(v["ebb"]["response_bytes_total"], served);
    assert_eq!(v["workers"].as_array().unwrap().len(), 2);
    for key in [
        "requests",
        "rss",
        "pid",
        "last_spawn",
        "respawn_count",
        "tx",
        "avg_rt",
    ] {
        assert!(v["workers"][0][key].is_u64(), "{key}: {}", v["workers"][0]);
    }
    assert!(v["workers"][0]["status"].is_string());
    assert!(v["listen_queue"].is_u64());
    assert_eq!(v["sockets"][0]["max_queue"], 1024);
    assert_eq!(v["workers"][0]["state"], "ready");

    let screen = uwsgitop_screen(&venv, &ebb, &addr);
    assert!(screen.contains("req: 5"), "{screen}");
    let human = if served >= 1024 {
        format!("{:.1}K", served as f64 / 1024.0)
    } else {
        served.to_string()
    };
    assert!(screen.contains(&format!("tx: {human}")), "{screen}");
    assert!(screen.contains("lq: 0"), "{screen}");
    drop(ebb);

    // A Unix socket, and the HTTP flavour: the raw reading, then uwsgitop's.
    let ebb = Ebb::example(1)
        .args(["--stats", unix.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let mode = std::fs::metadata(&unix).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut s = UnixStream::connect(&unix).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["pid"], ebb.pid);
    uwsgitop_screen(&venv, &ebb, unix.to_str().unwrap());
    drop(ebb);

    let ebb = Ebb::example(1)
        .args(["--stats", "127.0.0.1:0", "--stats-http"])
        .start();
    ebb.ready(1);
    let addr = listen_addr(&ebb, "stats-listen");
    let py = format!(
        "import json, urllib.request; d = json.load(urllib.request.urlopen('http://{addr}/')); \
         print(d['pid'], len(d['workers']))"
    );
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{} 1", ebb.pid),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    uwsgitop_screen(&venv, &ebb, &format!("http://{addr}/"));
}

/// The real uwsgitop run on `addr` (host:port, a Unix socket path or an http:// URL) under a
/// tmux of the test's own, until its screen shows every worker's pid: that screen.
fn uwsgitop_screen(venv: &Path, ebb: &Ebb, addr: &str) -> String {
    let tmux = Tmux {
        socket: ebb.dir.path().join(format!("tmux-{}.sock", ebb.pid)),
    };
    let top = venv.join("bin/uwsgitop");
    tmux.run(&[
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "40",
        "-s",
        "top",
        &format!("TERM=xterm {} {addr}", top.display()),
    ]);
    let pids = ebb.worker_pids();
    poll_until(SOON, || {
        let s = tmux.run(&["capture-pane", "-p", "-t", "top"]);
        (s.contains("WID") && pids.iter().all(|p| s.contains(&p.to_string()))).then_some(s)
    })
    .unwrap_or_else(|| {
        ebb.fail(&format!(
            "uwsgitop {addr} never showed the workers {pids:?}:\n{}",
            tmux.run(&["capture-pane", "-p", "-t", "top"])
        ))
    })
}

/// `GET /metrics` parses with prometheus_client's own text parser and counts what happened:
/// requests, a recycle by reason, the drain histogram, RSS and the listen queue.
#[test]
fn metrics_parse_with_prometheus_client() {
    let venv = ops_venv();
    let dir = std::sync::Arc::new(tempdir());
    let ctl = dir.path().join("ebb.ctl");
    let ebb = Ebb::example(2)
        .dir(dir.clone())
        .args([
            "--metrics",
            "127.0.0.1:0",
            "--control",
            ctl.to_str().unwrap(),
        ])
        .start();
    let t = ebb.ready(2);
    for _ in 0..7 {
        get_ok(&ebb, &t, "/");
    }
    let mark = ebb.mark();
    ok(&ebb_cmd(
        &["recycle", "2", "--control", ctl.to_str().unwrap()],
        &[],
    ));
    ebb.expect_after(mark, "worker 2 drained", |l| l.is_event("drained"), SOON);
    let addr = listen_addr(&ebb, "metrics-listen");
    let got = poll_until(SOON, || {
        let v = parsed_metrics(&venv, &addr);
        (v["ebb_requests_total"].as_f64() >= Some(7.0)).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail("ebb_requests_total never reached 7"));
    assert_eq!(got["type:ebb_requests"], "counter", "{got}");
    assert_eq!(got["type:ebb_response_bytes"], "counter", "{got}");
    assert!(
        got["ebb_response_bytes_total"].as_f64() > Some(0.0),
        "{got}"
    );
    assert_eq!(got["ebb_workers|state=ready"], 2.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=command"], 1.0, "{got}");
    assert_eq!(got["ebb_recycles_total|reason=max-requests"], 0.0, "{got}");
    assert_eq!(got["type:ebb_drain_duration_seconds"], "histogram", "{got}");
    assert_eq!(got["ebb_drain_duration_seconds_count"], 1.0, "{got}");
    assert_eq!(got["ebb_replacement_ready_seconds_count"], 1.0, "{got}");
    assert_eq!(
        got["ebb_drain_duration_seconds_bucket|le=+Inf"], 1.0,
        "{got}"
    );
    assert!(
        got["ebb_worker_rss_bytes|worker=1"].as_f64() > Some(0.0),
        "{got}"
    );
    let Target::Tcp(sa) = t else { unreachable!() };
    assert_eq!(
        got[format!("ebb_listen_queue_limit|socket={sa}")],
        1024.0,
        "{got}"
    );
    assert_eq!(got["ebb_jobs_lost_total"], 0.0, "{got}");
    assert_eq!(got["type:ebb_worker_threads"], "gauge", "{got}");

    // Other paths and methods get a clear answer, not the metrics.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

/// `--metrics PATH` (a Unix socket, as the man page allows): owner-only, and `GET /metrics`
/// is answered there as on TCP; the socket file goes when ebb stops.
#[test]
fn metrics_on_a_unix_socket() {
    let dir = std::sync::Arc::new(tempdir());
    let path = dir.path().join("metrics.sock");
    let mut ebb = Ebb::example(1)
        .dir(dir.clone())
        .args(["--metrics", path.to_str().unwrap()])
        .start();
    ebb.ready(1);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let text = metrics_response(s);
    assert!(
        text.contains("\nebb_workers{state=\"ready\"} 1\n"),
        "{text}"
    );
    ebb.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(ebb.expect_exit(SOON).success());
    assert!(!path.exists(), "the metrics socket is removed at exit");
}

/// `GET /metrics` from `addr`, parsed by prometheus_client's own text parser: each sample
/// summed over its labels but `pid`, as `name|label=value|...`, and each family's type as
/// `type:family`.
pub(super) fn parsed_metrics(venv: &Path, addr: &str) -> Value {
    let py = format!(
        r#"
import json, urllib.request
from prometheus_client.parser import text_string_to_metric_families
r = urllib.request.urlopen('http://{addr}/metrics')
assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4'), r.headers
out = {{}}
for fam in text_string_to_metric_families(r.read().decode()):
    for s in fam.samples:
        key = s.name + ''.join('|%s=%s' % kv for kv in sorted(s.labels.items()) if kv[0] != 'pid')
        out[key] = out.get(key, 0) + s.value
    out['type:' + fam.name] = fam.type
print(json.dumps(out))
"#
    );
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether the master still holds `s` open: nothing to read yet (not EOF, not reset).
fn still_connected(mut s: &std::net::TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let open = matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    s.set_nonblocking(false).unwrap();
    open
}

/// The stats and metrics servers too: slow request heads, an endless one, and many clients
/// that never read cannot stall the loop or keep the master's memory.
///
/// No wall-clock bound: the slow heads are held by the master until their deadline (5 s
/// after accept), so the order tells whether the loop served others meanwhile. The scrape
/// and the stats document must arrive while every slow client is still connected; a loop
/// that waits on a client (or that spends seconds per document) answers only after the
/// master dropped them.
#[test]
fn hostile_stats_and_metrics_clients_are_dropped() {
    let ebb = Ebb::example(1)
        .args(["--stats", "127.0.0.1:0", "--metrics", "127.0.0.1:0"])
        .start();
    ebb.ready(1);
    let baseline = open_fds(ebb.pid);
    let stats = listen_addr(&ebb, "stats-listen");
    let metrics = listen_addr(&ebb, "metrics-listen");
    let scrape = || {
        let mut s = std::net::TcpStream::connect(&metrics).unwrap();
        s.set_read_timeout(Some(SOON)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    };
    let t0 = Instant::now();
    // Heads that never end (slowloris), and one that is too long.
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&metrics).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let mut long = std::net::TcpStream::connect(&metrics).unwrap();
    long.set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let junk = vec![b'a'; 16 * 1024];
    let _ = long.write_all(&junk);
    // Stats clients that never read (the document waits in their socket buffers).
    let idle: Vec<_> = (0..40)
        .map(|_| std::net::TcpStream::connect(&stats).unwrap())
        .collect();
    scrape();
    let mut s = std::net::TcpStream::connect(&stats).unwrap();
    s.set_read_timeout(Some(SOON)).unwrap();
    let mut doc = String::new();
    s.read_to_string(&mut doc).unwrap();
    assert!(serde_json::from_str::<Value>(&doc).is_ok());
    let answered = t0.elapsed();
    let held = slow.iter().filter(|s| still_connected(s)).count();
    eprintln!(
        "answers after {answered:?}, {held} of {} slow clients still held",
        slow.len()
    );
    assert_eq!(
        held,
        slow.len(),
        "the scrape and the stats document came after the master dropped the slow clients \
         ({answered:?} after they connected): the loop waited behind them"
    );
    // The long head is refused at once; the slow ones when their deadline (5 s) passes.
    long.set_read_timeout(Some(SOON)).unwrap();
    let mut buf = [0u8; 64];
    assert!(
        matches!(long.read(&mut buf), Ok(0) | Err(_)),
        "the long head was answered"
    );
    for mut s in slow {
        s.set_read_timeout(Some(SOON)).unwrap();
        assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
    }
    drop(idle);
    // The master holds what it held before the clients came, no more.
    let fds = poll_until(SOON, || {
        let n = open_fds(ebb.pid);
        (n <= baseline).then_some(n)
    });
    assert!(fds.is_some(), "the master still holds the clients' fds");
    scrape();

    // Memory: hundreds more clients that never read, far past the per-server cap, and the
    // master's resident memory stays where it was (each keeps at most one document).
    let before = rss_kb(ebb.pid);
    for _ in 0..5 {
        let idle: Vec<_> = (0..100)
            .map(|_| std::net::TcpStream::connect(&stats).unwrap())
            .collect();
        let flood: Vec<_> = (0..100)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(&metrics).unwrap();
                let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
                s
            })
            .collect();
        scrape();
        drop((idle, flood));
    }
    let after = rss_kb(ebb.pid);
    eprintln!("master RSS {before} kB before 1,000 clients that never read, {after} kB after");
    assert!(
        after < before + 1024,
        "the master grew from {before} kB to {after} kB"
    );
}

/// VmRSS of `pid`, in kB.
fn rss_kb(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The Python worker reports `tx` (bytes sent, head and body) and `avg_rt` for every
/// request, with access logging off too (`--disable-logging`): the stats count what the
/// client received.
#[test]
fn python_worker_reports_tx_and_avg_rt() {
    let dir = std::sync::Arc::new(tempdir());
    let app = dir.path().join("app.py");
    std::fs::write(
        &app,
        "def application(env, start):\n    start('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [b'x' * 3000]\n",
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--processes",
            "1",
            "--wsgi-file",
            app.to_str().unwrap(),
            "--stats",
            "127.0.0.1:0",
            "--disable-logging",
        ])
        .start();
    let t = ebb.ready(1);
    let served = served_bytes(&t, 3);
    let addr = listen_addr(&ebb, "stats-listen");
    let read_doc = || stats_doc(&addr);
    let v = poll_until(SOON, || {
        let v = read_doc();
        (v["workers"][0]["tx"] == served).then_some(v)
    })
    .unwrap_or_else(|| ebb.fail(&format!("tx never reached {served}: {}", read_doc())));
    let w = &v["workers"][0];
    assert_eq!(w["requests"], 3, "{w}");
    let (rt, run) = (
        w["avg_rt"].as_u64().unwrap(),
        w["running_time"].as_u64().unwrap(),
    );
    assert!(rt > 0 && run >= 3 * rt && run < 3 * (rt + 1), "{w}");
    assert_eq!(v["ebb"]["response_bytes_total"], served, "{v}");
}

/// `n` plain requests with `Connection: close`, each answered 200: every byte the workers
/// sent, head and body, as the client counted them.
fn served_bytes(t: &Target, n: usize) -> u64 {
    let mut served = 0;
    for _ in 0..n {
        let got = exchange(
            t,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            SOON,
        )
        .unwrap();
        assert!(
            got.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&got)
        );
        served += got.len() as u64;
    }
    served
}

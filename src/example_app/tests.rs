use super::*;
use std::net::TcpListener;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

#[test]
fn config_defaults_and_overrides() {
    let c = Config::parse(&[], &env_of(&[])).unwrap();
    assert_eq!(c.bind, "127.0.0.1:8000");
    assert_eq!(c.idle_grace, Duration::from_secs(1));
    assert!(!c.crash_at_start && !c.no_ready && c.journal.is_none());
    let c = Config::parse(
        &["--bind".into(), "0.0.0.0:9".into()],
        &env_of(&[
            ("EBB_EXAMPLE_BIND", "x:1"),
            ("EBB_EXAMPLE_IDLE_GRACE_MS", "250"),
            ("EBB_EXAMPLE_CRASH_AT_START", "1"),
            ("EBB_EXAMPLE_NO_READY", "0"),
            ("EBB_EXAMPLE_START_DELAY_MS", "5"),
            ("EBB_JOB_JOURNAL", "/tmp/j"),
        ]),
    )
    .unwrap();
    assert_eq!(c.bind, "0.0.0.0:9");
    assert_eq!(c.idle_grace, Duration::from_millis(250));
    assert_eq!(c.start_delay, Duration::from_millis(5));
    assert!(c.crash_at_start && !c.no_ready);
    assert_eq!(c.journal.as_deref(), Some("/tmp/j"));
    assert!(Config::parse(&["--nope".into()], &env_of(&[])).is_err());
    assert!(Config::parse(&[], &env_of(&[("EBB_EXAMPLE_IDLE_GRACE_MS", "soon")])).is_err());
}

#[test]
fn query_strings() {
    assert_eq!(query_param("ms=5&id=x", "ms").as_deref(), Some("5"));
    assert_eq!(query_param("ms=5&id=x", "id").as_deref(), Some("x"));
    assert_eq!(query_param("ms=5&id=x", "nope"), None);
    assert_eq!(
        query_param("id=a%20b+c%2C", "id").as_deref(),
        Some("a b c,")
    );
    assert_eq!(query_param("id=100%", "id").as_deref(), Some("100%"));
    assert_eq!(query_param("id=%zz", "id").as_deref(), Some("%zz"));
    assert_eq!(query_param("flag&id=", "flag").as_deref(), Some(""));
    assert_eq!(query_param("", "ms"), None);
    assert_eq!(parse_ms("ms=250"), Ok(250));
    assert_eq!(parse_ms("id=x"), Ok(0));
    assert!(parse_ms("ms=abc").is_err());
    assert!(parse_ms("ms=-1").is_err());
    assert!(parse_ms("ms=99999999999").is_err());
}

#[test]
fn targets() {
    assert_eq!(split_target("/job?ms=1"), ("/job", "ms=1"));
    assert_eq!(split_target("/"), ("/", ""));
    assert_eq!(split_target("http://h:1/x?y"), ("/x", "y"));
    assert_eq!(split_target("http://h"), ("/", ""));
}

#[test]
fn journal_ids() {
    assert_eq!(journal_safe("a b\nc"), "a_b_c");
    assert_eq!(journal_safe(&"x".repeat(500)).len(), 128);
}

fn info(raw: &str) -> Result<RequestInfo, &'static str> {
    let mut h = [httparse::EMPTY_HEADER; 16];
    let mut r = httparse::Request::new(&mut h);
    assert!(r.parse(raw.as_bytes()).unwrap().is_complete());
    RequestInfo::from(&r)
}

#[test]
fn framing_and_keep_alive() {
    let i = info("GET / HTTP/1.1\r\n\r\n").unwrap();
    assert!(i.keep_alive && !i.http10 && i.body == Body::None);
    let i = info("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!i.keep_alive);
    let i = info("GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(!i.keep_alive && i.http10);
    let i = info("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap();
    assert!(i.keep_alive);
    let i = info("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
    assert_eq!(i.body, Body::Length(12));
    assert!(!i.body_in(11) && i.body_in(12));
    let i = info("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").unwrap();
    assert_eq!(i.body, Body::Chunked);
    let i =
        info("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n").unwrap();
    assert!(i.must_close);
    assert!(info("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").is_err());
    assert!(info("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").is_err());
    assert!(info("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
    assert!(info("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n").is_ok());
    let i = info("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    assert!(i.expect_continue);
}

#[test]
fn uwsgi_vars() {
    let mut b = Vec::new();
    for s in [
        "REQUEST_METHOD",
        "GET",
        "PATH_INFO",
        "/job",
        "QUERY_STRING",
        "",
    ] {
        b.extend_from_slice(&(s.len() as u16).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    }
    let v = parse_uwsgi_vars(&b).unwrap();
    assert_eq!(
        v,
        vec![
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/job"),
            ("QUERY_STRING", "")
        ]
    );
    assert!(parse_uwsgi_vars(&b[..b.len() - 1]).is_none());
    assert!(parse_uwsgi_vars(&[5, 0, b'a']).is_none());
}

#[test]
fn hello_responses() {
    let h = Hello::new("hello from worker=1 pid=2 respawn=3\n");
    let s = String::from_utf8(h.keep_alive.clone()).unwrap();
    assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(s.contains("Content-Length: 36\r\n\r\nhello from worker=1"));
    assert!(!s.contains("Connection"));
    assert!(String::from_utf8_lossy(&h.close).contains("Connection: close\r\n"));
    assert!(String::from_utf8_lossy(&h.keep_alive_10).contains("Connection: keep-alive\r\n"));
}

#[test]
fn job_order() {
    let r = Reporter::new(Notifier::disabled()).unwrap();
    let now = Instant::now();
    let mut h = BinaryHeap::new();
    for (ms, seq) in [(30, 0), (10, 1), (20, 2), (10, 3)] {
        h.push(Job {
            due: now + Duration::from_millis(ms),
            seq,
            id: format!("{ms}-{seq}"),
            ms,
            _guard: r.job("x"),
        });
    }
    let order: Vec<String> = std::iter::from_fn(|| h.pop().map(|j| j.id)).collect();
    assert_eq!(order, vec!["10-1", "10-3", "20-2", "30-0"]);
    assert_eq!(r.jobs(), 0);
}

fn test_app(env: &[(&str, &str)]) -> &'static App {
    let cfg = Config::parse(&[], &env_of(env)).unwrap();
    App::start(
        cfg,
        "3".into(),
        "9".into(),
        Drain::manual().unwrap(),
        Reporter::new(Notifier::disabled()).unwrap(),
        None,
        Vec::new(),
    )
    .unwrap()
}

#[test]
fn steps() {
    let app = test_app(&[]);
    let mut out = Vec::new();
    let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(
        step(app, get, &mut out, ""),
        Step::Answered {
            used: get.len(),
            keep: true
        }
    );
    assert_eq!(out, app.hello.keep_alive);
    assert!(String::from_utf8_lossy(&out).contains("worker=3 pid="));
    assert!(String::from_utf8_lossy(&out).contains(" respawn=9"));
    assert_eq!(
        step(app, b"GET / HTTP/1.1\r\nHo", &mut out, ""),
        Step::Partial
    );
    assert_eq!(
        step(app, b"GET /sleep?ms=5 HTTP/1.1\r\n\r\n", &mut out, ""),
        Step::Slow
    );
    let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nab";
    assert_eq!(step(app, post, &mut out, ""), Step::Slow);
    let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET";
    assert_eq!(
        step(app, post, &mut out, ""),
        Step::Answered {
            used: post.len() - 3,
            keep: true
        }
    );
    assert_eq!(
        step(
            app,
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &mut out,
            ""
        ),
        Step::Slow
    );
    assert_eq!(
        step(app, b"\x01GET / HTTP/1.1\r\n\r\n", &mut out, ""),
        Step::Error(400, "malformed request")
    );
    let big = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
    assert!(matches!(step(app, &big, &mut out, ""), Step::Error(431, _)));
    out.clear();
    let head = b"HEAD /nope HTTP/1.0\r\n\r\n";
    assert_eq!(
        step(app, head, &mut out, ""),
        Step::Answered {
            used: head.len(),
            keep: false
        }
    );
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"));
    assert!(text.contains("Connection: close\r\n") && text.ends_with("\r\n\r\n"));
    assert_eq!(app.reporter.inflight(), 0);
    assert_eq!(app.reporter.requests(), 3);
}

#[test]
fn step_while_draining_closes() {
    let app = test_app(&[]);
    app.drain.start();
    let mut out = Vec::new();
    let get = b"GET / HTTP/1.1\r\n\r\n";
    assert_eq!(
        step(app, get, &mut out, ""),
        Step::Answered {
            used: get.len(),
            keep: false
        }
    );
    assert_eq!(out, app.hello.close);
}

fn read_response(s: &mut std::net::TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= i + 4 + len {
                let all = String::from_utf8_lossy(&buf[..i + 4 + len]).into_owned();
                buf.drain(..i + 4 + len);
                return all;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn event_loop_serves_and_drains() {
    let app = test_app(&[
        ("EBB_EXAMPLE_THREADS", "1"),
        ("EBB_EXAMPLE_IDLE_GRACE_MS", "200"),
    ]);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let names = app.serve(vec![("http".into(), Listener::Tcp(l))]).unwrap();
    assert_eq!(names, vec![format!("http={addr}")]);
    let mut busy = std::net::TcpStream::connect(addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    // Pipelined: a fast request, a slow one (handed off to a thread), a job.
    busy.write_all(
        b"GET / HTTP/1.1\r\n\r\nGET /sleep?ms=50 HTTP/1.1\r\n\r\nGET /job?ms=300&id=t1 HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    assert!(read_response(&mut busy, &mut buf).contains("hello from worker=3"));
    assert!(read_response(&mut busy, &mut buf).contains("slept 50 ms"));
    assert!(read_response(&mut busy, &mut buf).contains("job t1 accepted ms=300"));
    assert_eq!(app.reporter.jobs(), 1);
    assert_eq!(app.reporter.job_names(), vec!["t1"]);
    let mut idle = std::net::TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(app.conns.get(), 2);

    let t0 = Instant::now();
    app.drain.start();
    app.accepting.wait_zero();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener still open"
    );
    busy.write_all(b"GET /stats HTTP/1.1\r\n\r\n").unwrap();
    let r = read_response(&mut busy, &mut buf);
    assert!(
        r.contains("Connection: close\r\n") && r.contains("draining=1"),
        "{r}"
    );
    assert_eq!(busy.read(&mut [0u8; 16]).unwrap(), 0);
    assert_eq!(idle.read(&mut [0u8; 16]).unwrap(), 0);
    let idle_closed = t0.elapsed();
    assert!(idle_closed >= Duration::from_millis(100), "{idle_closed:?}");
    app.conns.wait_zero();
    assert!(app.reporter.wait_idle(Some(Duration::from_secs(5))));
    assert_eq!(app.jobs_done.load(Ordering::SeqCst), 1);
}

#[test]
fn a_stale_idle_verdict_still_answers_the_waiting_request() {
    // The loop polled, found the connection idle, then stalled (SIGSTOP, a VM pause) past the
    // drain's idle grace while the client sent its next request: that request is answered.
    let app = test_app(&[("EBB_EXAMPLE_IDLE_GRACE_MS", "10")]);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (server, _) = l.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut c = LoopConn::new(Stream::Tcp(server), false);
    app.drain.start();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let now = Instant::now() + Duration::from_secs(1);
    assert!(now >= c.deadline(app, true));
    let mut next = c.expire(app, now);
    while next == Next::Keep && c.out_pending() {
        next = c.on_event(app, PollFlags::POLLOUT, Instant::now());
    }
    let mut buf = Vec::new();
    let r = read_response(&mut client, &mut buf);
    assert!(
        r.starts_with("HTTP/1.1 200 OK") && r.contains("Connection: close"),
        "{r}"
    );

    // Nothing waiting: an idle connection past its grace is closed (lingering first).
    let mut idle = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (server, _) = l.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut c = LoopConn::new(Stream::Tcp(server), false);
    assert_eq!(c.expire(app, now), Next::Keep);
    assert!(c.linger_until.is_some());
    assert_eq!(idle.read(&mut [0u8; 16]).unwrap(), 0);
}

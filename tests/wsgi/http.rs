//! HTTP edge cases against the Python worker: malformed and huge requests, slow clients and
//! bodies, keep-alive, drains, the request-head bounds.

use super::*;

// (7) HTTP edge cases against the Python worker

fn raw_status(ebb: &Ebb, t: &Target, what: &str, req: &[u8]) -> Response {
    let raw = exchange(t, req, Duration::from_secs(15))
        .unwrap_or_else(|e| ebb.fail(&format!("{what}: {e}")));
    parse_response(&raw).unwrap_or_else(|e| ebb.fail(&format!("{what}: {e}")))
}

/// Malformed request line → 400, huge header → 431, very long URI → 414, chunked upload
/// echoed, `Expect: 100-continue`, app exception → 500 with a traceback naming the request.
#[test]
fn http_edge_cases() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b.args(["-p", "2", "--threads", "2"]).start();
    let t = ready(&ebb, 2);
    let Target::Tcp(addr) = t.clone() else {
        unreachable!()
    };

    // Malformed request lines.
    for req in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let r = raw_status(&ebb, &t, "malformed request line", req);
        assert_eq!(
            r.status,
            400,
            "{:?} -> {} {:?}",
            String::from_utf8_lossy(req),
            r.status,
            r.body
        );
    }
    // A header field over the per-field limit, and a head over the whole-head limit.
    for size in [20_000, 100_000] {
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let r = raw_status(&ebb, &t, "huge header", req.as_bytes());
        assert_eq!(
            r.status, 431,
            "{size}-byte header: {} {:?}",
            r.status, r.body
        );
    }
    // A very long URI (the whole head within the head limit; see also
    // `very_long_uri_is_414_however_it_arrives`).
    let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(20_000));
    let r = raw_status(&ebb, &t, "long URI", req.as_bytes());
    assert_eq!(r.status, 414, "20000-byte URI: {} {:?}", r.status, r.body);

    // A chunked upload, sent in pieces (with a chunk extension and a trailer), echoed back.
    let big: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let pieces: Vec<Vec<u8>> = vec![b"hello ".to_vec(), b"chunked ".to_vec(), big, b"!".to_vec()];
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/x-test\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    for (i, p) in pieces.iter().enumerate() {
        let ext = if i == 1 { ";note=yes" } else { "" };
        s.write_all(format!("{:x}{ext}\r\n", p.len()).as_bytes())
            .unwrap();
        s.write_all(p).unwrap();
        s.write_all(b"\r\n").unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    s.write_all(b"0\r\nX-Trailer: done\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = parse_response(&raw).unwrap_or_else(|e| ebb.fail(&e));
    let want: Vec<u8> = pieces.concat();
    assert_eq!(r.status, 200, "{:?}", &r.body[..r.body.len().min(200)]);
    let (head, echoed) = r.body.split_once('\n').unwrap();
    assert!(
        head.starts_with(&format!(
            "method=POST length={} ctype=text/x-test",
            want.len()
        )),
        "{head}"
    );
    assert!(
        echoed.as_bytes() == want,
        "the chunked upload came back intact"
    );

    // Expect: 100-continue: the server says 100 Continue before the client sends the body.
    let body = b"continued body";
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(
        format!(
            "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| ebb.fail(&format!("waiting for 100 Continue: {e}")));
        assert!(n > 0, "closed before 100 Continue");
        got.extend_from_slice(&buf[..n]);
    }
    let interim = String::from_utf8_lossy(&got).to_string();
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "interim response: {interim:?}"
    );
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut rest = got[end..].to_vec();
    s.write_all(body).unwrap();
    s.read_to_end(&mut rest).unwrap();
    let r = parse_response(&rest).unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200);
    assert!(
        r.body.ends_with("\ncontinued body"),
        "the body after 100 Continue: {:?}",
        r.body
    );

    // An exception in the app: 500, and the log has the traceback naming the request line.
    let mark = ebb.mark();
    let r = http_request(&t, "GET", "/boom?x=1", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 500, "{:?}", r.body);
    let first = ebb.expect_after(
        mark,
        "the app error log line",
        |l| l.contains("error handling 'GET /boom?x=1 HTTP/1.1'"),
        START,
    );
    ebb.expect_after(
        mark,
        "the exception in the traceback",
        |l| l.contains("ValueError: kaboom from the edge app"),
        START,
    );
    let lines = ebb.lines();
    let from = lines.iter().position(|l| l.raw == first.raw).unwrap();
    let tb: Vec<&str> = lines[from..]
        .iter()
        .take(12)
        .map(|l| l.raw.as_str())
        .collect();
    eprintln!("the app error as logged:\n{}", tb.join("\n"));
    assert!(
        tb.iter()
            .any(|l| l.contains("Traceback (most recent call last)")),
        "a traceback"
    );
    assert!(
        tb.iter()
            .any(|l| l.contains("edge_app.py") && l.contains("in application")),
        "the traceback names the app's frame"
    );
    // The worker still serves.
    get_ok(&ebb, &t, "/");
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// A request line over the limit is "414 URI Too Long" whether the request arrives in pieces
/// or at once, and whatever the size of the head it is in (nginx answers 414 for both).
#[test]
fn very_long_uri_is_414_however_it_arrives() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b.args(["-p", "1"]).start();
    let t = ready(&ebb, 1);
    let Target::Tcp(addr) = t.clone() else {
        unreachable!()
    };
    let mut results = Vec::new();
    for size in [10_000, 60_000, 100_000, 200_000] {
        let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(size));
        // At once (one write)...
        let r = raw_status(&ebb, &t, "long URI at once", req.as_bytes());
        results.push((size, "at once", r.status));
        // ... and in 4 KiB pieces.
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut sent = 0;
        for piece in req.as_bytes().chunks(4096) {
            if s.write_all(piece).is_err() {
                break; // the server answered and closed early
            }
            sent += piece.len();
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let status = parse_response(&raw).map_or(0, |r| r.status);
        results.push((size, "in pieces", status));
        eprintln!("{size}-byte URI in pieces: {sent} bytes sent before the answer");
    }
    eprintln!("(URI size, how, status): {results:?}");
    let wrong: Vec<_> = results.iter().filter(|r| r.2 != 414).collect();
    if !wrong.is_empty() {
        ebb.fail(&format!(
            "long URIs not answered 414: {wrong:?} (all: {results:?})"
        ));
    }
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// A client that sends half a request head and stalls does not block others, even with one
/// worker and one thread, and is answered 408 and closed after the request timeout.
#[test]
fn slow_client_does_not_block_others_and_times_out() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b
        .args(["-p", "1", "--threads", "1"])
        .args(env_arg("EBB_REQUEST_TIMEOUT", 4))
        .start();
    let t = ready(&ebb, 1);
    let Target::Tcp(addr) = t.clone() else {
        unreachable!()
    };
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let t0 = Instant::now();
    slow.write_all(b"GET /env HTTP/1.1\r\nHost: slow\r\nX-Test: ")
        .unwrap();
    // Meanwhile, others are served promptly, fresh and keep-alive.
    let mut worst = Duration::ZERO;
    let mut c = Conn::open(&t).unwrap();
    for i in 0..20 {
        let t1 = Instant::now();
        let r = if i % 2 == 0 {
            get(&t, "/")
        } else {
            c.get("/", true)
        }
        .unwrap_or_else(|e| ebb.fail(&format!("request {i} while a client stalls: {e}")));
        assert_eq!(r.status, 200);
        worst = worst.max(t1.elapsed());
    }
    let others_done = t0.elapsed();
    eprintln!("20 requests served in {others_done:?} while a client stalled (worst {worst:?})");
    // The stalled client: 408 then close, after about the 4 s request timeout.
    let mut raw = Vec::new();
    let res = slow.read_to_end(&mut raw);
    let took = t0.elapsed();
    eprintln!(
        "the stalled client got {:?} after {took:?} ({res:?})",
        String::from_utf8_lossy(&raw).lines().next()
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "timed out after {took:?}"
    );
    // The others did not wait for the stalled client's timeout.
    assert!(
        others_done < took && worst < Duration::from_secs(3),
        "20 requests took {others_done:?} (worst {worst:?}) while a client stalled for {took:?}"
    );
    if !raw.is_empty() {
        let r = parse_response(&raw).unwrap_or_else(|e| ebb.fail(&e));
        assert_eq!(r.status, 408);
    }
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// A client that sends the head and half of the body, then stalls, holds one thread only:
/// the other thread keeps serving, and the stalled request is dropped after the timeout.
#[test]
fn slow_request_body_holds_one_thread_only() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b
        .args(["-p", "1", "--threads", "2"])
        .args(env_arg("EBB_REQUEST_TIMEOUT", 4))
        .start();
    let t = ready(&ebb, 1);
    let Target::Tcp(addr) = t.clone() else {
        unreachable!()
    };
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let t0 = Instant::now();
    slow.write_all(b"POST /echo HTTP/1.1\r\nHost: slow\r\nContent-Length: 100\r\n\r\nonly half")
        .unwrap();
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let t1 = Instant::now();
        let r = get(&t, "/").unwrap_or_else(|e| ebb.fail(&format!("request {i}: {e}")));
        assert_eq!(r.status, 200);
        worst = worst.max(t1.elapsed());
    }
    let others_done = t0.elapsed();
    let mut raw = Vec::new();
    let _ = slow.read_to_end(&mut raw);
    let took = t0.elapsed();
    eprintln!(
        "stalled body: the connection ended after {took:?} with {:?}; the others were done \
         after {others_done:?} (worst {worst:?})",
        String::from_utf8_lossy(&raw).lines().next()
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "{took:?}"
    );
    assert!(
        others_done < took && worst < Duration::from_secs(3),
        "others: {others_done:?} (worst {worst:?})"
    );
    assert!(
        !String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"),
        "a half body is not answered as complete"
    );
    // Both threads serve again.
    get_ok(&ebb, &t, "/");
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// A client that connects just before its worker starts draining, and sends its first request
/// a little later (a slow network, a busy client), is served: it was never answered nor told
/// `Connection: close`, so it has no reason to expect a close and cannot safely retry.
///
/// The drain grace (`EBB_DRAIN_GRACE`, 1 s) applies only to connections that have been served;
/// a brand-new one keeps its own deadline, gets its answer, then is closed.  With
/// `--no-defer-accept` the old worker accepts the silent connection at once and must answer
/// it; by default (TCP_DEFER_ACCEPT) the kernel holds it until its first bytes (or about a
/// second), so it is answered by whichever worker accepts it then.
#[test]
fn fresh_connection_accepted_before_a_drain_is_served() {
    fresh_connection_across_a_drain(&["--no-defer-accept"], true);
    fresh_connection_across_a_drain(&[], false);
}

fn fresh_connection_across_a_drain(args: &[&str], by_old: bool) {
    let (_dir, b) = wsgi_file("edge_app.py");
    let ebb = b.args(["-p", "1"]).args(args.iter().copied()).start();
    let t = ready(&ebb, 1);
    let Target::Tcp(addr) = t.clone() else {
        unreachable!()
    };
    let old = get_ok(&ebb, &t, "/").pid().unwrap();
    let mut fresh = TcpStream::connect(addr).unwrap();
    fresh.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // A reload makes the old worker drain.
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    ebb.expect_after(
        mark,
        "the old worker's drain",
        |l| l.is_event("drain") && l.pid() == Some(old),
        START,
    );
    // The client's first request arrives 2.5 s later (an observation window, not a wait).
    std::thread::sleep(Duration::from_millis(2500));
    let mut raw = Vec::new();
    let res = fresh
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .and_then(|()| fresh.read_to_end(&mut raw));
    match parse_response(&raw) {
        // The worker that accepted it answers it, draining or not.
        Ok(r) if r.status == 200 && (!by_old || r.pid() == Some(old)) => {
            eprintln!("{args:?}: served by {:?} (old {old})", r.pid())
        }
        other => ebb.fail(&format!(
            "{args:?}: the first request on a connection opened before the drain failed: \
             {res:?} {other:?}"
        )),
    }
}

/// 16 concurrent keep-alive clients against `-p 2 --threads 1`: all progress; idle keep-alive
/// connections hold no thread.
#[test]
fn sixteen_keepalive_clients_on_two_single_thread_workers() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let mut ebb = b.args(["-p", "2", "--threads", "1"]).start();
    let t = ready(&ebb, 2);
    const CLIENTS: usize = 16;
    const N: usize = 25;
    let t0 = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || -> Result<(Duration, usize), String> {
                let mut c = Conn::open(&t).map_err(|e| format!("client {i}: connect: {e}"))?;
                let mut worst = Duration::ZERO;
                let mut conns = 1;
                for k in 0..N {
                    let t1 = Instant::now();
                    let r = c
                        .get("/", true)
                        .map_err(|e| format!("client {i} request {k}: {e}"))?;
                    if r.status != 200 {
                        return Err(format!("client {i} request {k}: status {}", r.status));
                    }
                    worst = worst.max(t1.elapsed());
                    if r.closes() {
                        c = Conn::open(&t).map_err(|e| format!("client {i}: reconnect: {e}"))?;
                        conns += 1;
                    }
                    // Think time: the connection sits idle between requests.
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok((worst, conns))
            })
        })
        .collect();
    let mut worst = Duration::ZERO;
    let mut conns = 0;
    for h in handles {
        match h.join().expect("client thread") {
            Ok((w, c)) => {
                worst = worst.max(w);
                conns += c;
            }
            Err(e) => ebb.fail(&e),
        }
    }
    let took = t0.elapsed();
    eprintln!(
        "{CLIENTS} keep-alive clients x {N} requests in {took:?}; worst latency {worst:?}; \
         {conns} connections"
    );
    assert!(
        worst < Duration::from_secs(4),
        "a keep-alive client stalled for {worst:?}"
    );
    assert_eq!(conns, CLIENTS, "the connections were kept alive");
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// uWSGI's buffer-size bounds the Python worker's whole request head (431), together with
/// gunicorn's limit-request-field_size (each field within it, the sum over buffer-size).
#[test]
fn buffer_size_bounds_the_request_head() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let ebb = b
        .args([
            "--buffer-size",
            "2048",
            "--limit-request-field-size",
            "1500",
        ])
        .start();
    let t = ready(&ebb, 1);
    let one = format!("X-A: {}", "a".repeat(1200));
    let two = format!("X-B: {}", "b".repeat(1200));
    let long = format!("X-C: {}", "c".repeat(1600));
    let status = |h: &[&str]| {
        http_request(&t, "GET", "/", h, b"")
            .unwrap_or_else(|e| ebb.fail(&format!("request: {e}")))
            .status
    };
    assert_eq!(status(&[&one]), 200, "one field under both limits");
    assert_eq!(
        status(&[&long]),
        431,
        "a field over limit-request-field-size"
    );
    assert_eq!(
        status(&[&one, &two]),
        431,
        "fields within their limit, the head over buffer-size"
    );
}

/// gunicorn's limit-request-line, limit-request-fields and limit-request-field_size (its
/// spelling, with the underscore) reach the Python worker: 414 and 431 past each, 200 within.
#[test]
fn gunicorn_request_limits_reach_the_worker() {
    let (_dir, b) = wsgi_file("edge_app.py");
    let ebb = b
        .args([
            "--limit-request-line",
            "100",
            "--limit-request-fields",
            "4",
            "--limit-request-field_size",
            "60",
        ])
        .start();
    let t = ready(&ebb, 1);
    let status = |path: &str, h: &[&str]| {
        http_request(&t, "GET", path, h, b"")
            .unwrap_or_else(|e| ebb.fail(&format!("request: {e}")))
            .status
    };
    // Host and Connection are two of the four fields.
    let (a, b, c) = ("X-A: 1", "X-B: 2", "X-C: 3");
    let field = format!("X-D: {}", "d".repeat(50));
    let long_field = format!("X-D: {}", "d".repeat(60));
    assert_eq!(status("/", &[a, b]), 200, "within every limit");
    assert_eq!(status(&format!("/?{}", "q".repeat(60)), &[]), 200);
    assert_eq!(status(&format!("/?{}", "q".repeat(100)), &[]), 414, "line");
    assert_eq!(status("/", &[a, b, c]), 431, "fields");
    assert_eq!(status("/", &[&field]), 200, "a 55-byte field");
    assert_eq!(status("/", &[&long_field]), 431, "a 65-byte field");
}

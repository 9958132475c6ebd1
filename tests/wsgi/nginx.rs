//! The uwsgi protocol behind a real nginx.

use super::*;

// (9) The uwsgi protocol behind a real nginx

/// `ebb --socket <tmp>/app.sock` (uwsgi protocol on a Unix socket) behind nginx's
/// `uwsgi_pass unix:...; include uwsgi_params;`: GET and POST end to end.
#[test]
fn uwsgi_socket_behind_nginx() {
    let (dir, b) = wsgi_file("edge_app.py");
    let sock = dir.path().join("app.sock");
    let mut ebb = b
        .args(["-p", "2", "--threads", "2"])
        .args(["--socket".to_string(), sock.display().to_string()])
        .start();
    ebb.wait_ready(0, 2, START);
    // ebb also answers the uwsgi protocol directly (what nginx will send).
    let r = uwsgi_request(&Target::Unix(sock.clone()), "GET", "/env?direct=1", b"")
        .unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body.contains("QUERY_STRING=direct=1"), "{:?}", r.body);

    let nginx = Nginx::start(
        dir.path(),
        "uwsgi.conf",
        &format!("unix:{}", sock.display()),
    );
    let nt = nginx.target();
    let check = |r: Result<Response, String>, what: &str| -> Response {
        match r {
            Ok(r) if r.status == 200 => r,
            Ok(r) => ebb.fail(&format!(
                "{what} through nginx: status {} {:?}\nnginx error log:\n{}",
                r.status,
                r.body,
                nginx.error_log()
            )),
            Err(e) => ebb.fail(&format!(
                "{what} through nginx: {e}\nnginx error log:\n{}",
                nginx.error_log()
            )),
        }
    };
    let r = check(
        http_request(&nt, "GET", "/env?a=1&b=two", &["X-Test: via-nginx"], b""),
        "GET",
    );
    let env = r.env();
    eprintln!("environ through nginx: {env:?}");
    assert_eq!(env["REQUEST_METHOD"], "GET");
    assert_eq!(env["PATH_INFO"], "/env");
    assert_eq!(env["QUERY_STRING"], "a=1&b=two");
    assert_eq!(env["REQUEST_URI"], "/env?a=1&b=two");
    assert_eq!(env["HTTP_X_TEST"], "via-nginx");
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    // A POST with a body (bigger than nginx's in-memory buffer and than one socket read).
    let body: Vec<u8> = (0..300_000u32).map(|i| b'A' + (i % 23) as u8).collect();
    let r = check(
        http_request(
            &nt,
            "POST",
            "/echo",
            &["Content-Type: application/x-test"],
            &body,
        ),
        "POST",
    );
    let (head, echoed) = r.body.split_once('\n').unwrap();
    assert!(
        head.starts_with("method=POST length=300000 ctype=application/x-test"),
        "{head}"
    );
    assert!(echoed.as_bytes() == body, "the POST body arrived intact");
    // A chunked upload to nginx arrives with a Content-Length over uwsgi.
    let raw = exchange(
        &nt,
        b"POST /echo HTTP/1.1\r\nHost: ebb-test\r\nConnection: close\r\n\
          Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        IO_TIMEOUT,
    )
    .unwrap();
    let r = check(parse_response(&raw), "chunked POST");
    assert!(r.body.starts_with("method=POST length=11"), "{:?}", r.body);
    assert!(r.body.ends_with("\nhello world"), "{:?}", r.body);
    // Several requests on one keep-alive connection to nginx.
    let mut c = Conn::open(&nt).unwrap();
    for _ in 0..5 {
        let r = c.get("/", true).unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.starts_with("hello pid="));
    }
    drop(c);
    drop(nginx);
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

//! uWSGI's internal routing (request chain) and `add-header`, from a real uwsgi.ini file, run
//! by the real binary's Python worker and checked with curl: return, redirects with groups and
//! variables, route-if on a header, basicauth, headers added to the app's and the static
//! files' responses. A rule ebb cannot run is one configuration error naming file and line.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// A generous bound for Python workers to start on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

/// `curl -si` of `path` with extra arguments: (status, lower-cased headers, body).
fn curl(t: &Target, path: &str, extra: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let Target::Tcp(addr) = t else {
        panic!("a TCP target")
    };
    let out = Command::new("curl")
        .args(["-si", "--max-time", "10"])
        .args(extra)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {path}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn routing_rules_from_a_uwsgi_ini_file() {
    let dir = Arc::new(tempdir());
    std::fs::copy(wsgi_app("hello.py"), dir.path().join("app.py")).unwrap();
    std::fs::create_dir_all(dir.path().join("static")).unwrap();
    std::fs::write(dir.path().join("static/site.css"), "body {}\n").unwrap();
    let ini = dir.path().join("site.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\n\
         http-socket = 127.0.0.1:0\n\
         wsgi-file = %dapp.py\n\
         processes = 1\n\
         static-map = /static=%dstatic\n\
         add-header = X-Content-Type-Options: nosniff\n\
         route = ^/static/ addheader:Cache-Control: public, max-age=60\n\
         route = ^/health/?$ return:204\n\
         route = ^/old/(.*)$ redirect-permanent:/new/$1\n\
         route-if = equal:${HTTP_X_FORWARDED_PROTO};http redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}\n\
         route = ^/admin basicauth:Staff,ann:s3cret\n\
         route = ^/admin log:admin page seen by ${REMOTE_USER}\n",
    )
    .unwrap();
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .arg(ini.display().to_string())
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);

    let (s, h, body) = curl(&t, "/health", &[]);
    assert_eq!((s, body.as_str()), (204, ""));
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));

    let (s, h, _) = curl(&t, "/old/a/b", &[]);
    assert_eq!((s, header(&h, "location")), (301, Some("/new/a/b")));

    let (s, h, body) = curl(&t, "/static/site.css", &[]);
    assert_eq!((s, body.as_str()), (200, "body {}\n"));
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=60"));
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));

    let (s, h, body) = curl(&t, "/shop?x=1", &[]);
    assert!(s == 200 && body.starts_with("hello pid="), "{s} {body}");
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&h, "cache-control"), None);

    let (s, h, _) = curl(&t, "/shop?x=1", &["-H", "X-Forwarded-Proto: http"]);
    let Target::Tcp(addr) = &t else {
        unreachable!()
    };
    assert_eq!(s, 301);
    assert_eq!(
        header(&h, "location"),
        Some(format!("https://{addr}/shop?x=1").as_str())
    );

    let (s, h, _) = curl(&t, "/admin", &[]);
    assert_eq!(s, 401);
    assert_eq!(
        header(&h, "www-authenticate"),
        Some("Basic realm=\"Staff\"")
    );
    assert_eq!(curl(&t, "/admin", &["-u", "ann:wrong"]).0, 401);
    let (s, _, body) = curl(&t, "/admin", &["-u", "ann:s3cret"]);
    assert!(s == 200 && body.starts_with("hello pid="), "{s} {body}");
    if let Err(e) = ebb.wait_for(|l| l.contains("admin page seen by ann"), SOON) {
        ebb.fail(&e);
    }

    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(0), "{}", ebb.tail(20));
}

#[test]
fn a_rule_ebb_cannot_run_is_one_error_with_file_and_line() {
    let dir = tempdir();
    std::fs::copy(wsgi_app("hello.py"), dir.path().join("app.py")).unwrap();
    let ini = dir.path().join("bad.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\n\
         http-socket = 127.0.0.1:0\n\
         wsgi-file = %dapp.py\n\
         route = ^/api/ http:127.0.0.1:9000\n\
         route-if = sameas:a;b last:\n",
    )
    .unwrap();
    let ini_s = ini.display().to_string();
    let (status, out, err) = run_ebb(&["--check-config", "--no-app", &ini_s], SOON);
    assert!(!status.success(), "{out}{err}");
    let all = format!("{out}{err}");
    let errors: Vec<&str> = all.lines().filter(|l| l.contains("bad.ini:")).collect();
    assert_eq!(errors.len(), 2, "{all}");
    assert!(
        errors[0].contains("bad.ini:4") && errors[0].contains("\"http\" is not supported by ebb"),
        "{all}"
    );
    assert!(
        errors[1].contains("bad.ini:5") && errors[1].contains("unknown condition \"sameas\""),
        "{all}"
    );
}

//! Django and Flask apps, run unchanged in the test venv.

use super::*;

// (5), (6) Django and Flask

/// A minimal Django project (`tests/wsgi_apps/mysite`) served with `--module
/// mysite.wsgi:application --chdir`: a view, a csrf-exempt form POST, CSRF protection on.
#[test]
fn django_project_serves_views_and_forms() {
    let venv = test_venv();
    let dir = Arc::new(tempdir());
    let project = app_copy(dir.path(), "mysite");
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args(["--http-socket", "127.0.0.1:0", "-p", "2", "--threads", "2"])
        .args(["--module", "mysite.wsgi:application"])
        .args(["--chdir".to_string(), project.display().to_string()])
        .args(["--virtualenv".to_string(), venv.display().to_string()])
        .args(env_arg(
            "DJANGO_SETTINGS_MODULE",
            "mysite.settings.production",
        ))
        .start();
    let t = ready(&ebb, 2);
    let r = get_ok(&ebb, &t, "/");
    assert!(
        r.body.starts_with("hello from django settings=production"),
        "{:?}",
        r.body
    );
    let r = http_request(
        &t,
        "POST",
        "/form/",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"name=ebb+worker&count=3&note=caf%C3%A9",
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body, "posted count=3 name=ebb worker note=café\n");
    // Django's CSRF middleware is active: a view that is not exempt refuses the POST.
    let r = http_request(
        &t,
        "POST",
        "/protected/",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"a=b",
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = http_request(&t, "GET", "/no/such/page/", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 404);
    // Keep-alive through Django.
    let mut c = Conn::open(&t).unwrap();
    for _ in 0..5 {
        let r = c
            .get("/", true)
            .unwrap_or_else(|e| ebb.fail(&e.to_string()));
        assert_eq!(r.status, 200);
        assert!(!r.closes());
    }
    drop(c);
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

/// A Flask app: routes, JSON in and out, a streamed (chunked) response, 404.
#[test]
fn flask_app_routes_json_streaming_404() {
    let venv = test_venv();
    let (_dir, b) = wsgi_file("flask_app.py");
    let mut ebb = b
        .args(["--callable", "app", "-p", "1", "--threads", "4"])
        .args(["--virtualenv".to_string(), venv.display().to_string()])
        .start();
    let t = ready(&ebb, 1);
    let r = get_ok(&ebb, &t, "/");
    assert!(r.body.starts_with("hello from flask pid="), "{:?}", r.body);
    let r = get_ok(&ebb, &t, "/user/ada");
    assert_eq!(r.body, "hello ada\n");
    let r = get_ok(&ebb, &t, "/json");
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    assert_eq!(v["ok"], true);
    assert_eq!(v["items"], serde_json::json!([1, 2, 3]));
    let r = http_request(
        &t,
        "POST",
        "/json",
        &["Content-Type: application/json"],
        br#"{"numbers": [1, 2, 39], "who": "ebb"}"#,
    )
    .unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200, "{:?}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
    assert_eq!(v["total"], 42);
    assert_eq!(v["got"]["who"], "ebb");
    // A streamed response: no Content-Length, so HTTP/1.1 chunked.
    let r = http_request(&t, "GET", "/stream?n=50", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("transfer-encoding"),
        Some("chunked"),
        "{:?}",
        r.headers
    );
    let want: String = (1..=50).map(|i| format!("line {i} of 50\n")).collect();
    assert_eq!(r.body, want);
    // The same stream on a keep-alive connection, then another request on it.
    let mut c = Conn::open(&t).unwrap();
    let r = c.get("/user/bob", true).unwrap();
    assert_eq!(r.body, "hello bob\n");
    let r = http_request(&t, "GET", "/nope", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Not Found"), "{:?}", r.body);
    let r = http_request(&t, "DELETE", "/json", &[], b"").unwrap_or_else(|e| ebb.fail(&e));
    assert_eq!(r.status, 405, "Flask's method check");
    drop(c);
    wait_for_exit_ok(&mut ebb, Duration::from_secs(30));
}

//! Rendering tests: each style, each kind of line.

use super::*;

pub(super) fn tag() -> WorkerTag {
    WorkerTag {
        slot: 2,
        pid: 4242,
        generation: 1,
        respawn: 3,
        side: None,
    }
}

/// Render with a logger writing into a file, and return the lines.
fn render(style: LogFormat, format: AccessFormat, f: impl FnOnce(&mut Logger)) -> Vec<String> {
    let s = Settings {
        access_format: format,
        ..Settings::default()
    };
    render_with(style, &s, f)
}

/// The same with any settings (uWSGI's loggers included).
pub(super) fn render_with(
    style: LogFormat,
    s: &Settings,
    f: impl FnOnce(&mut Logger),
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut l = Logger::new(style, None, s).unwrap();
    l.main = Sink::open(
        Target::File {
            path: path.clone(),
            redirect: false,
        },
        rotate::Rotation::default(),
    )
    .unwrap();
    f(&mut l);
    l.flush();
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

pub(super) fn piece(b: &[u8]) -> Piece<'_> {
    Piece {
        bytes: b,
        cut: false,
        continued: false,
    }
}

pub(super) const ACCESS: &[u8] = br#"{"t":"access","addr":"127.0.0.1","method":"GET","uri":"/x?y=1","proto":"HTTP/1.1","status":404,"size":9,"hsize":70,"start":1796117986.5,"us":2500,"req":7}"#;

#[test]
fn text_lines_are_stamped() {
    let lines = render(LogFormat::Text, AccessFormat::Default, |l| {
        l.master(
            Level::Info,
            "spawned",
            &[
                ("worker", Field::I64(2)),
                ("pid", Field::I64(4242)),
                ("respawn", Field::U64(3)),
                ("generation", Field::U64(1)),
                ("event", Field::Str("spawn".into())),
            ],
        );
        l.master(Level::Warn, "alone", &[("path", Field::Str("a b".into()))]);
        l.output(&tag(), Stream::Stdout, &piece(b"hello \xff"));
        l.record(
            &tag(),
            Some(5000),
            &piece(
                br#"{"t":"log","level":"error","msg":"Traceback:\n  line 1\n","stream":"stderr"}"#,
            ),
        );
        l.record(&tag(), Some(5000), &piece(ACCESS));
        l.record(&tag(), None, &piece(b"not json"));
    });
    let w = "worker=2 pid=4242 generation=1 respawn=3";
    let want = [
        format!("INFO  {w} | spawned event=spawn"),
        format!(
            "WARN  master pid={} | alone path=\"a b\"",
            std::process::id()
        ),
        format!("INFO  {w} stdout | hello \\xff"),
        format!("ERROR {w} stderr | Traceback:"),
        format!("ERROR {w} stderr |   line 1"),
        format!(
            "INFO  {w} access | 127.0.0.1 GET /x?y=1 HTTP/1.1 => 404, 9 bytes in 2.50 ms (req: 7/5000)"
        ),
        format!("INFO  {w} records | not json"),
    ];
    assert_eq!(lines.len(), want.len(), "{lines:#?}");
    for (got, want) in lines.iter().zip(&want) {
        // 2026-12-01T09:39:46.123Z + space
        assert_eq!(&got[25..], want.as_str(), "{got}");
        assert!(
            got.as_bytes()[10] == b'T' && got.as_bytes()[23] == b'Z',
            "{got}"
        );
    }
}

#[test]
fn json_lines_are_all_json() {
    let lines = render(LogFormat::Json, AccessFormat::Default, |l| {
        l.master(
            Level::Error,
            "lost \"it\"",
            &[("worker", Field::I64(2)), ("msg", Field::Str("x".into()))],
        );
        l.output(
            &tag(),
            Stream::Stderr,
            &Piece {
                bytes: b"\x00bin\xfe",
                cut: true,
                continued: false,
            },
        );
        l.record(
            &tag(),
            Some(10),
            &piece(br#"{"t":"log","level":"warning","msg":"a\nb"}"#),
        );
        l.record(&tag(), Some(10), &piece(ACCESS));
        l.record(
            &tag(),
            Some(10),
            &Piece {
                bytes: b"{\"t\":\"access\",\"uri\":\"/aaaa",
                cut: true,
                continued: false,
            },
        );
    });
    let objs: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(objs.len(), 5);
    for o in &objs {
        assert!(o["ts"].as_str().unwrap().ends_with('Z'));
        assert!(o["level"].is_string() && o["msg"].is_string());
    }
    assert_eq!(objs[0]["source"], "master");
    assert_eq!(objs[0]["worker"], 2);
    assert_eq!(objs[0]["field_msg"], "x");
    assert_eq!(objs[0]["msg"], "lost \"it\"");
    assert_eq!(objs[1]["source"], "worker");
    assert_eq!(objs[1]["msg"], "\\x00bin\\xfe");
    assert_eq!(objs[1]["cut"], true);
    assert_eq!(objs[1]["stream"], "stderr");
    assert_eq!(objs[2]["level"], "WARN");
    assert_eq!(objs[2]["msg"], "a\nb");
    let a = &objs[3];
    assert_eq!(
        (
            a["kind"].as_str(),
            a["status"].as_u64(),
            a["request_limit"].as_u64()
        ),
        (Some("access"), Some(404), Some(10))
    );
    assert_eq!(
        (
            a["worker"].as_u64(),
            a["pid"].as_u64(),
            a["generation"].as_u64(),
            a["respawn"].as_u64()
        ),
        (Some(2), Some(4242), Some(1), Some(3))
    );
    assert_eq!(a["duration_us"], 2500);
    assert_eq!(a["start"], "2026-12-01T09:39:46.500Z");
    assert!(objs[4]["msg"].as_str().unwrap().contains("truncated"));
}

#[test]
fn custom_formats_are_written_as_given() {
    let f = AccessFormat::uwsgi("%(method) %(uri) %(status) %(wid)/%(pid)").unwrap();
    let lines = render(LogFormat::Text, f.clone(), |l| {
        l.record(&tag(), None, &piece(ACCESS))
    });
    assert_eq!(lines, vec!["GET /x?y=1 404 2/4242"]);
    let lines = render(LogFormat::Json, f, |l| {
        l.record(&tag(), None, &piece(ACCESS))
    });
    let o: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(o["msg"], "GET /x?y=1 404 2/4242");
    assert_eq!(o["uri"], "/x?y=1");
}

#[test]
fn worker_env_says_what_to_send() {
    let s = Settings {
        requests: false,
        log_5xx: true,
        slow_ms: Some(250),
        access_format: AccessFormat::gunicorn("%({x-id}i)s %({ct}o)s %({PATH_INFO}e)s").unwrap(),
        ..Settings::default()
    };
    let env: Vec<(&str, String)> = s.worker_env();
    let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("EBB_LOG_REQUESTS"), Some("0"));
    assert_eq!(get("EBB_LOG_4XX"), Some("0"));
    assert_eq!(get("EBB_LOG_5XX"), Some("1"));
    assert_eq!(get("EBB_LOG_SLOW_MS"), Some("250"));
    assert_eq!(get("EBB_LOG_REQ_HEADERS"), Some("x-id"));
    assert_eq!(get("EBB_LOG_RESP_HEADERS"), Some("ct"));
    assert_eq!(get("EBB_LOG_ENV"), Some("PATH_INFO"));
    assert_eq!(get("EBB_LOG_MEMORY"), Some("0"));
}

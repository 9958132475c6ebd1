//! uWSGI's routes and encoders through the logger: which line each message becomes.

use super::tests::{ACCESS, piece, render_with, tag};
use super::*;
use crate::config::LogFormat as Style;

fn settings(pairs: &[(crate::config::options::Id, &str)]) -> Settings {
    let mut c = crate::config::Config::default();
    for (id, v) in pairs {
        settings::apply(
            *id,
            &crate::config::values::Raw::Str(v.to_string()),
            std::path::Path::new("/srv"),
            None,
            &mut c,
        )
        .unwrap();
    }
    c.logs
}

#[test]
fn label_studio_routes_json_lines_raw_and_wraps_the_rest() {
    use crate::config::options::Id::*;
    // deploy/uwsgi.ini of HumanSignal/label-studio, as ebb reads it (%% already %).
    let s = settings(&[
        (Logger, "applogger stdio"),
        (LogRoute, "applogger {"),
        (LogEncoder, "format:applogger ${msg}"),
        (Logger, "default stdio"),
        (LogRoute, r"default ^((?!\{).)*$"),
        (
            LogEncoder,
            r#"json:default {"timestamp": "${strftime:%d/%b/%Y:%H:%M:%S %z}", "source": "uwsgi", "levelname": "INFO", "message": "${msg}"}"#,
        ),
        (LogEncoder, "nl"),
    ]);
    for style in [Style::Text, Style::Json] {
        let lines = render_with(style, &s, |l| {
            l.output(
                &tag(),
                Stream::Stdout,
                &piece(br#"{"level": "info", "msg": "app"}"#),
            );
            l.output(&tag(), Stream::Stderr, &piece(b"Traceback \"x\" \\ y"));
            l.master(
                Level::Info,
                "worker ready",
                &[
                    ("worker", Field::I64(2)),
                    ("pid", Field::I64(4242)),
                    ("event", Field::Str("ready".into())),
                ],
            );
            l.record(&tag(), Some(10), &piece(ACCESS));
        });
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert_eq!(lines[0], r#"{"level": "info", "msg": "app"}"#);
        let v: Vec<serde_json::Value> = lines[1..]
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(v[0]["message"], "Traceback \"x\" \\ y");
        assert_eq!(v[0]["source"], "uwsgi");
        assert!(v[0]["timestamp"].as_str().unwrap().ends_with(" +0000"));
        assert_eq!(
            v[1]["message"],
            "worker ready worker=2 pid=4242 generation=0 respawn=0 event=ready"
        );
        assert_eq!(
            v[2]["message"],
            "127.0.0.1 GET /x?y=1 HTTP/1.1 => 404, 9 bytes in 2.50 ms (req: 7/10)"
        );
    }
}

#[test]
fn req_encoders_take_access_lines_when_a_req_logger_is_set() {
    use crate::config::options::Id::*;
    let s = settings(&[
        (ReqLogger, "stdio"),
        (LogFormat, r#""status":%(status), "uri":"%(json_uri)""#),
        (
            LogReqEncoder,
            r#"format {"time":${unix}, "source":"uwsgi-req", ${msg}}"#,
        ),
        (LogReqEncoder, "nl"),
        (LogEncoder, "prefix [main]"),
    ]);
    let lines = render_with(Style::Text, &s, |l| {
        l.record(&tag(), None, &piece(ACCESS));
        l.output(&tag(), Stream::Stdout, &piece(b"hello"));
    });
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (v["status"].as_u64(), v["uri"].as_str()),
        (Some(404), Some("/x?y=1"))
    );
    assert_eq!(v["source"], "uwsgi-req");
    // The main chain still applies to everything else.
    assert_eq!(lines[1], "[main]hello");
}

#[test]
fn without_an_encoder_for_a_line_it_keeps_ebbs_style() {
    use crate::config::options::Id::*;
    // Only nl (and an encoder for another logger): ebb's stamped line.
    let s = settings(&[(LogEncoder, "nl"), (LogEncoder, "format:other ${msg}")]);
    let lines = render_with(Style::Text, &s, |l| {
        l.output(&tag(), Stream::Stdout, &piece(b"hello"));
    });
    assert_eq!(lines.len(), 1);
    assert!(lines[0].ends_with("worker=2 pid=4242 generation=1 respawn=3 stdout | hello"));
    // A route to a logger nobody defined: said once, then ignored as uWSGI does.
    let s = settings(&[(LogRoute, "ghost .")]);
    let r = dispatch::Router::open(&s.uwsgi, None).unwrap().unwrap();
    assert!(
        r.notes[0].contains("no logger is named ghost"),
        "{:?}",
        r.notes
    );
    let lines = render_with(Style::Text, &s, |l| {
        l.output(&tag(), Stream::Stdout, &piece(b"hello"));
    });
    assert!(lines[0].ends_with("stdout | hello"), "{lines:#?}");
}

/// `cargo test --release --lib logs::tests_dispatch::access_line_cost -- --ignored
/// --nocapture`: ns per access record through the master's logger, without uWSGI's
/// loggers (the default path) and with a route and two encoders.
#[test]
#[ignore]
fn access_line_cost() {
    use crate::config::options::Id::*;
    let plain = Settings::default();
    let encoded = settings(&[
        (Logger, "default stdio"),
        (LogRoute, r"default ^((?!\{).)*$"),
        (
            LogEncoder,
            r#"json:default {"time":${unix}, "message":"${msg}"}"#,
        ),
        (LogEncoder, "nl"),
    ]);
    // The compact form the Python worker writes (access.py), and the JSON form.
    let x: &[u8] = b"x\t019400000000000000090000004618ed17cae005b90018ed17cae02bdea00000000000000007\t127.0.0.1\t\tGET\tHTTP/1.1\t127.0.0.1:8000\t\tcurl/8.5.0\t/x?y=1";
    for (name, s, rec) in [
        ("compact, no encoder", &plain, x),
        ("json, no encoder", &plain, ACCESS),
        ("compact, route + json encoder", &encoded, x),
    ]
    .into_iter()
    .filter(|(name, ..)| std::env::var("EBB_COST_CASE").map_or(true, |c| name.starts_with(&c)))
    {
        // EBB_COST_N=20000 with one round: for counting instructions (valgrind).
        let (n, rounds) = match std::env::var("EBB_COST_N")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            Some(n) => (n, 1),
            None => (200_000, 5),
        };
        let mut best = f64::MAX;
        for _ in 0..rounds {
            let dir = tempfile::tempdir().unwrap();
            let mut l = super::Logger::new(Style::Text, None, s).unwrap();
            l.main = Sink::open(
                Target::File {
                    path: dir.path().join("log"),
                    redirect: false,
                },
                rotate::Rotation::default(),
            )
            .unwrap();
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                l.record(&tag(), Some(5000), &piece(rec));
            }
            l.flush();
            best = best.min(t0.elapsed().as_nanos() as f64 / n as f64);
        }
        println!("{name}: {best:.0} ns per access line");
    }
}

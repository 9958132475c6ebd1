//! Loading tests: the TOML front end.

use super::*;

#[test]
fn toml_errors_all_at_once_with_lines() {
    let errs = errors(&["--config", "tests/config/bad.toml"], &[]);
    let f = "tests/config/bad.toml";
    let want = [
        format!("{f}:2: http-socket: \"localhost\" has no port: write localhost:8000 (gunicorn's default port), or :8000 for every interface"),
        format!("{f}:3: processes: expected a positive integer, got \"four\""),
        format!("{f}:4: proceses: unknown key; did you mean processes?"),
        format!("{f}:5: drain-timeout: expected a duration like 30, 30s, 500ms, 2m or 1h, got \"soon\""),
        format!("{f}:6: chmod-socket: expected an octal file mode like 660, got \"999\""),
        format!("{f}:7: drain-signal: \"KILL\" cannot be caught, so a worker could not drain; use TERM, INT, QUIT or USR1"),
        format!("{f}:8: threads: must be between 1 and 4096, got 0"),
        format!("{f}:9: master: master is a uWSGI option ebb does not need (always on in ebb); remove it"),
        format!("{f}:10: command: give the command as an array of words, like command = [\"gunicorn\", \"app:app\"], so arguments with spaces stay whole"),
        format!("{f}:11: env: expected KEY=VALUE, got \"NOEQUALS\""),
        format!("{f}:13: uwsgi: unknown section [uwsgi] (uWSGI ini files are read with --ini; in TOML, options go at the top level)"),
        "worker: no worker to run: give exactly one of --example-app, --module MOD (or --wsgi-file FILE), or -- CMD ARGS... (the worker command)".to_string(),
        // No "no socket to listen on": the socket given is named above.
    ];
    assert_eq!(errs, want);
}

#[test]
fn toml_syntax_error_is_one_error() {
    // Issue 14: no consequential errors after a syntax error (the recovered document's
    // values, "no worker", "no socket").
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.toml", "processes = [\nexample-app = true\n");
    let e = load_in(dir.path(), &["a.toml"], &[]).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.to_string().starts_with("a.toml:"), "{e}");
}

#[test]
fn toml_syntax_errors_have_lines() {
    let errs = errors(&["tests/config/syntax.toml"], &[]);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("tests/config/syntax.toml:2: ")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.starts_with("tests/config/syntax.toml:4: ")),
        "{errs:#?}"
    );
}

#[test]
fn toml_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "ebb.toml",
        r#"
http_socket = ":8000"
socket = ["run.sock", "127.0.0.1:3031"]
workers = 3
chmod-socket = 0o660
listen = 128
env = { DJANGO_DEBUG = "0", WORKERS = 3 }
drain-timeout = 1.5
max_requests = 1_000
reload-on-rss = "2G"
command = ["sh", "-c", "exec my-server --fd 3"]
log-format = "json"
"#,
    );
    let c = load_in(d, &["ebb.toml"], &[]).unwrap().config;
    assert_eq!(
        c.sockets,
        [
            tcp("", 8000, Protocol::Http),
            unix(d.join("run.sock"), Protocol::Uwsgi),
            tcp("127.0.0.1", 3031, Protocol::Uwsgi)
        ]
    );
    assert_eq!(c.processes, 3);
    assert_eq!(c.chmod_socket, Some(0o660));
    assert_eq!(c.listen, 128);
    assert_eq!(
        c.env,
        [
            ("DJANGO_DEBUG".into(), "0".into()),
            ("WORKERS".into(), "3".into())
        ]
    );
    assert_eq!(c.drain_timeout, Duration::from_millis(1500));
    assert_eq!(c.max_requests, Some(1000));
    assert_eq!(c.reload_on_rss_mb, Some(2048));
    assert_eq!(
        c.command,
        WorkerCommand::Exec(vec![
            "sh".into(),
            "-c".into(),
            "exec my-server --fd 3".into()
        ])
    );
    assert_eq!(c.log_format, LogFormat::Json);

    write(
        d,
        "dup.toml",
        "processes = 2\nworkers = 3\nexample-app = true\nbind = \":1\"\n",
    );
    let e = load_in(d, &["dup.toml"], &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        "dup.toml:2: workers: processes is already set as processes on line 1: set it once"
    );

    write(
        d,
        "cli.toml",
        "check-config = true\nexample-app = true\nbind = \":1\"\n",
    );
    let e = load_in(d, &["cli.toml"], &[]).unwrap_err().to_string();
    assert_eq!(
        e,
        "cli.toml:1: check-config: check-config is a command-line option (--check-config); it \
         cannot be set in a config file"
    );

    let e = load_in(d, &["--config", "missing.toml"], &[]).unwrap_err();
    // One error: no consequential "no worker", "no socket".
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(
        e.0[0]
            .to_string()
            .starts_with("missing.toml: cannot read the config file: "),
        "{e}"
    );

    let e = load_in(d, &["--config", "gunicorn.conf.py"], &[]).unwrap_err();
    assert!(
        e.0[0]
            .to_string()
            .contains("gunicorn's Python config files"),
        "{e}"
    );
}

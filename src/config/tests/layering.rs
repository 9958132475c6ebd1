//! Loading tests: layering of files, environment and command line.

use super::*;

#[test]
fn layering_file_env_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "app.ini",
        "[uwsgi]\nprocesses = 2\nhttp-socket = :8001\nenv = A=file\nenv = B=file\nexample-app = true\nmax-requests = 10\n",
    );
    type Row<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], usize);
    let table: &[Row] = &[
        (&["app.ini"], &[], 2),
        (&["app.ini"], &[("UWSGI_PROCESSES", "3")], 3),
        (&["app.ini", "-p", "4"], &[("UWSGI_PROCESSES", "3")], 4),
        (&["-p", "4", "--ini", "app.ini"], &[], 4),
        (&["app.ini"], &[("UWSGI_WORKERS", "5")], 5),
    ];
    for (args, env, want) in table {
        let c = load_in(d, args, env).unwrap().config;
        assert_eq!(c.processes, *want, "{args:?} {env:?}");
    }

    // Lists add up across layers, in order; a variable set twice takes the later value.
    let c = load_in(
        d,
        &["app.ini", "--http-socket", ":8003", "--env", "A=cli"],
        &[("UWSGI_HTTP_SOCKET", ":8002"), ("UWSGI_ENV", "B=env")],
    )
    .unwrap()
    .config;
    assert_eq!(
        c.sockets,
        [
            tcp("", 8001, Protocol::Http),
            tcp("", 8002, Protocol::Http),
            tcp("", 8003, Protocol::Http)
        ]
    );
    assert_eq!(
        c.env,
        [("B".into(), "env".into()), ("A".into(), "cli".into())]
    );
    assert_eq!(c.max_requests, Some(10));
    assert_eq!(c.source, Some(d.join("app.ini")));

    // UWSGI_INI names a file, read before the command line's.
    let c = load_in(d, &[], &[("UWSGI_INI", "app.ini")]).unwrap().config;
    assert_eq!(c.processes, 2);

    // TOML and ini together, in the order given.
    write(d, "more.toml", "processes = 7\nhttp-socket = [\":8004\"]\n");
    let c = load_in(d, &["--ini", "app.ini", "--config", "more.toml"], &[])
        .unwrap()
        .config;
    assert_eq!(c.processes, 7);
    assert_eq!(c.sockets.len(), 2);
    let c = load_in(d, &["--config", "more.toml", "--ini", "app.ini"], &[])
        .unwrap()
        .config;
    assert_eq!(c.processes, 2);
}

#[test]
fn reload_rereads_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write(
        d,
        "ebb.toml",
        "example-app = true\nhttp-socket = \":8000\"\nprocesses = 2\n",
    );
    let env: Vec<(String, String)> = Vec::new();
    let loader = Loader::with_environment(argv(&["--config", "ebb.toml"]), d.to_path_buf(), env);
    assert_eq!(loader.load().unwrap().config.processes, 2);
    std::fs::write(
        &file,
        "example-app = true\nhttp-socket = \":8000\"\nprocesses = 3\n",
    )
    .unwrap();
    assert_eq!(loader.clone().load().unwrap().config.processes, 3);
    std::fs::write(&file, "processes = \"x\"\n").unwrap();
    assert!(loader.load().is_err());
}

#[test]
fn environment_variables() {
    let c = load(
        &[],
        &[
            ("UWSGI_HTTP_SOCKET", "127.0.0.1:9000"),
            ("UWSGI_EXAMPLE_APP", "1"),
            ("UWSGI_MAX_REQUESTS", "50"),
            ("UWSGI_MASTER", ""),
            ("UWSGI_RELOADS", "3"),
            ("UWSGI_LOG_LEVEL", "debug"),
        ],
    )
    .unwrap();
    assert_eq!(c.config.sockets, [tcp("127.0.0.1", 9000, Protocol::Http)]);
    assert_eq!(c.config.max_requests, Some(50));
    assert_eq!(c.config.log_level, "debug");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let errs = errors(&with_ex(&[]), &[("UWSGI_PROCESSES", "many")]);
    assert_eq!(
        errs,
        ["UWSGI_PROCESSES: expected a positive integer, got \"many\""]
    );

    let l = load(
        &with_ex(&[]),
        &[("UWSGI_STATS_PUSH", "statsd:x"), ("UWSGI_PROCESES", "2")],
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        [
            "unsupported uWSGI options ignored: proceses (UWSGI_PROCESES: unknown option, did you \
          mean processes?), stats-push (UWSGI_STATS_PUSH) (see docs/uwsgi-compat.md)"
        ]
    );
}

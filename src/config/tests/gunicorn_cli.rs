//! Loading tests: gunicorn command lines and settings.

use super::*;

/// A Python app for the gunicorn command lines (the module need not exist to load).
const PY: &[&str] = &["-b", ":8000", "app:application"];

fn with_py<'a>(args: &[&'a str]) -> Vec<&'a str> {
    PY.iter().copied().chain(args.iter().copied()).collect()
}

fn warnings(args: &[&str]) -> Vec<String> {
    match load(args, &[]) {
        Ok(l) => l.warnings,
        Err(e) => panic!("{args:?} failed:\n{e}"),
    }
}

#[test]
fn gunicorn_short_flag_clashes() {
    // gunicorn's -w N: the number of workers; in ebb (uWSGI's) the WSGI module.
    for (args, flag) in [
        (vec!["-b", ":1", "-w", "4"], "-w"),
        (vec!["-b", ":1", "-w", "4", "app:app"], "-w"),
        (vec!["-b", ":1", "--wsgi", "4"], "--wsgi"),
        (vec!["-b", ":1", "--module=4"], "--module"),
    ] {
        assert_eq!(
            errors(&args, &[]),
            [
                "--module: 4 is a number, not a Python module: in ebb (as in uWSGI) -w names the \
                 WSGI module to run; for 4 worker processes (gunicorn's -w 4) use -p 4 or \
                 --workers 4"
            ],
            "{flag}: {args:?}"
        );
    }
    // gunicorn's -p FILE: the pid file; in ebb (uWSGI's) the number of processes.
    for file in ["app.pid", "/run/app/app.pid", "run/pid"] {
        for flag in ["-p", "--processes", "--workers"] {
            assert_eq!(
                errors(&with_py(&[flag, file]), &[]),
                [format!(
                    "--processes: {file:?} is not a number of processes: in ebb (as in uWSGI) -p \
                     is the number of worker processes; to write the master's pid to a file \
                     (gunicorn's -p FILE) use --pidfile {file}"
                )],
                "{flag} {file}"
            );
        }
    }
    // Values that are neither keep their usual messages; good ones load.
    assert_eq!(
        errors(&with_py(&["-p", "2.5"]), &[]),
        ["--processes: expected a positive integer, got \"2.5\""]
    );
    assert_eq!(
        errors(&with_py(&["-p", "four"]), &[]),
        ["--processes: expected a positive integer, got \"four\""]
    );
    assert!(
        errors(&["-b", ":1", "-w", "4app"], &[])[0]
            .starts_with("--module: \"4app\" is not a Python module name")
    );
    assert_eq!(ok(&with_py(&["-p", "4"])).processes, 4);
    assert_eq!(
        python(&ok(&["-b", ":1", "-w", "app4"])).module.as_deref(),
        Some("app4")
    );
    // gunicorn's long spellings work.
    let c = ok(&with_py(&["--workers", "3", "--pid", "/tmp/app.pid"]));
    assert_eq!((c.processes, c.pidfile), (3, Some("/tmp/app.pid".into())));

    // From a file or a variable: the same check, named by file, line and key.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "g.toml",
        "http-socket = \":1\"\nmodule = 4\nworkers = \"app.pid\"\n",
    );
    assert_eq!(
        load_in(d, &["g.toml"], &[]).unwrap_err().to_string(),
        "g.toml:2: module: 4 is a number, not a Python module: this names the WSGI module to \
         run; for 4 worker processes set processes = 4\n\
         g.toml:3: workers: \"app.pid\" is not a number of processes: to write the master's pid \
         to a file set pidfile = \"app.pid\""
    );
    assert_eq!(
        errors(&with_py(&[]), &[("UWSGI_PROCESSES", "ebb.pid")]),
        [
            "UWSGI_PROCESSES: \"ebb.pid\" is not a number of processes: to write the master's pid \
          to a file set pidfile = \"ebb.pid\""
        ]
    );
}

#[test]
fn gunicorn_flags_on_the_command_line() {
    use super::gunicorn::{self, Status};

    // Accepted quietly.
    for args in [
        &["-k", "gthread"][..],
        &["-k", "sync"],
        &["--worker-class", "gthread", "--threads", "8"],
        &["--worker-class=gunicorn.workers.sync.SyncWorker"],
        &["--capture-output", "--worker-tmp-dir", "/dev/shm"],
        &["--worker-connections", "1000", "--header-map", "drop"],
        &[
            "--enable-stdio-inheritance",
            "--disable-redirect-access-to-syslog",
        ],
    ] {
        assert_eq!(warnings(&with_py(args)), Vec::<String>::new(), "{args:?}");
    }
    // sync: one request at a time, as in gunicorn (threads keep their default of 1).
    assert_eq!(python(&ok(&with_py(&["-k", "sync"]))).threads, 1);
    assert_eq!(
        python(&ok(&with_py(&["-k", "gthread", "--threads", "8"]))).threads,
        8
    );

    // Other worker classes: an error saying what to do instead.
    for class in [
        "gevent",
        "eventlet",
        "tornado",
        "uvicorn.workers.UvicornWorker",
    ] {
        for flag in ["-k", "--worker-class"] {
            assert_eq!(
                errors(&with_py(&[flag, class]), &[]),
                [format!(
                    "--worker-class: {class:?} is not available: ebb's Python worker is threaded \
                     WSGI: use -k gthread with --threads N; for an ASGI app run ebb -b ADDR -p N \
                     -- uvicorn app:app --fd 3 (any program after -- gets the listening socket \
                     at fd 3)"
                )],
                "{flag} {class}"
            );
        }
    }

    // Unsupported: one warning line each, naming it and what to do, in command-line order.
    assert_eq!(
        warnings(&with_py(&[
            "--spew",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(h)s %(r)s",
            "-D",
            "--reload",
        ])),
        [
            "gunicorn's --spew is ignored: not supported (--strict makes this an error)",
            "gunicorn's --daemon is ignored: ebb runs in the foreground: run it under systemd or \
             another process supervisor (--strict makes this an error)",
            "gunicorn's --reload is ignored: ebb does not watch files: send SIGHUP to reload \
             (every worker is replaced, new before old) (--strict makes this an error)",
        ]
    );
    assert_eq!(
        warnings(&with_py(&["--daemon"])),
        warnings(&with_py(&["-D"]))
    );
    // A gunicorn command line can mix with uWSGI flags: one line for those.
    assert_eq!(
        warnings(&with_py(&[
            "--statsd-host",
            "localhost:8125",
            "--stats-push",
            "statsd:x"
        ])),
        [
            "unsupported uWSGI options ignored: --stats-push (see docs/uwsgi-compat.md)",
            "gunicorn's --statsd-host is ignored: ebb pushes no metrics: scrape --metrics \
             (Prometheus) or read --stats (--strict makes this an error)",
        ]
    );

    // Refused: running would surprise.
    assert_eq!(
        errors(&with_py(&["--print-config"]), &[]),
        [
            "--print-config: use --check-config: it checks the configuration, prints a summary \
          and exits"
        ]
    );

    // -t/--timeout is harakiri: different, and documented as such.
    for flag in ["-t", "--timeout"] {
        assert_eq!(
            ok(&with_py(&[flag, "30"])).harakiri,
            Some(Duration::from_secs(30)),
            "{flag}"
        );
    }
    assert!(matches!(
        gunicorn::find("timeout", "30").map(|s| s.status),
        Some(Status::Different("harakiri", how)) if how.contains("gunicorn kills a worker")
    ));

    // Mapped spellings.
    let c = ok(&with_py(&[
        "--bind",
        "127.0.0.1:9",
        "--backlog",
        "64",
        "--graceful-timeout",
        "5",
        "--max-requests",
        "100",
        "--max-requests-jitter",
        "10",
        "-e",
        "A=1",
        "--log-level",
        "critical",
        "--chdir",
        "tests",
    ]));
    assert_eq!(c.listen, 64);
    assert_eq!(c.drain_timeout, Duration::from_secs(5));
    assert_eq!((c.max_requests, c.max_requests_jitter), (Some(100), 10));
    assert_eq!(c.env, [("A".to_string(), "1".to_string())]);
    assert_eq!(c.log_level, "error");
    assert_eq!(c.sockets.len(), 2);
    // --log-file - (and --error-logfile -) is stderr, not a file named "-".
    for flag in ["--log-file", "--error-logfile", "--logto"] {
        assert_eq!(ok(&with_py(&[flag, "-"])).logto, None, "{flag}");
    }
    assert_eq!(
        ok(&with_py(&["--log-file", "/tmp/ebb.log", "--log-file", "-"])).logto,
        None
    );

    // gunicorn's Python config files, by path or module.
    for spec in ["gunicorn.conf.py", "python:myproject.gunicorn_conf"] {
        let e = errors(&with_py(&["-c", spec]), &[]);
        assert!(
            e[0].ends_with(
                "gunicorn's Python config files are not read: write the options in a TOML file \
                 (see conf/ebb.toml) and pass it with --config"
            ),
            "{e:?}"
        );
    }
    // gunicorn's --pythonpath takes a comma-separated list; ebb one directory.
    let e = errors(&with_py(&["--pythonpath", "src,lib"]), &[]);
    assert!(
        e[0].ends_with("(gunicorn's comma-separated list is not split)"),
        "{e:?}"
    );
}

#[test]
fn strict_makes_unsupported_gunicorn_flags_errors() {
    let want = ["--spew: unsupported gunicorn option (strict mode): not supported"];
    // --preload is ebb's default (a fork server imports the app once): accepted quietly.
    let args = with_py(&[
        "--spew",
        "--preload",
        "--access-logfile",
        "-",
        "-k",
        "gthread",
    ]);
    let strict: Vec<&str> = args.iter().copied().chain(["--strict"]).collect();
    assert_eq!(errors(&strict, &[]), want);
    // strict from the environment, or from a file, covers the command line too.
    assert_eq!(errors(&args, &[("UWSGI_STRICT", "1")]), want);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "s.toml", "strict = true\n");
    let mut from_file = vec!["--config", "s.toml"];
    from_file.extend(&args);
    assert_eq!(
        load_in(dir.path(), &from_file, &[])
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        want
    );
    // Quiet ones stay quiet.
    let mut quiet = with_py(&["-k", "sync", "--capture-output"]);
    quiet.push("--strict");
    assert!(ok(&quiet).processes == 1);
}

#[test]
fn keep_alive_reaches_the_worker_environment() {
    let var = |c: &Config| -> Vec<String> {
        c.env
            .iter()
            .filter(|(k, _)| k == "EBB_KEEPALIVE_TIMEOUT")
            .map(|(_, v)| v.clone())
            .collect()
    };
    // Not given: the worker's own default (5 s), no variable.
    assert!(var(&ok(PY)).is_empty());
    for (args, want) in [
        (&["--keep-alive", "10"][..], "10"),
        (&["--keep-alive", "1500ms"], "1.5"),
        (&["--keepalive", "2"], "2"),
        // The option wins over a variable set by hand, whatever the order.
        (&["--keep-alive", "3", "-e", "EBB_KEEPALIVE_TIMEOUT=9"], "3"),
        (&["-e", "EBB_KEEPALIVE_TIMEOUT=9", "--keep-alive", "3"], "3"),
    ] {
        assert_eq!(var(&ok(&with_py(args))), [want], "{args:?}");
    }
    // The variable set by hand still works alone.
    assert_eq!(
        var(&ok(&with_py(&["-e", "EBB_KEEPALIVE_TIMEOUT=9"]))),
        ["9"]
    );
    // In files: gunicorn's setting name, and ebb's key.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "k.toml", "keepalive = 4\n");
    write(d, "k.ini", "[uwsgi]\nkeep-alive = 0.25\n");
    let c = load_in(d, &["--config", "k.toml", "-b", ":1", "-w", "app"], &[])
        .unwrap()
        .config;
    assert_eq!(var(&c), ["4"]);
    let c = load_in(d, &["k.ini", "-b", ":1", "-w", "app"], &[])
        .unwrap()
        .config;
    assert_eq!(var(&c), ["0.25"]);
    // 0 would close new connections before their first request: refused.
    assert_eq!(
        errors(&with_py(&["--keep-alive", "0"]), &[]),
        [
            "--keep-alive: must be more than 0: ebb's Python worker always keeps connections \
          alive, and this is how long an idle one stays open (gunicorn's --keep-alive 0, \
          keep-alive off, has no equivalent)"
        ]
    );
    // Only the Python worker reads it.
    let l = load(&with_ex(&["--keep-alive", "10"]), &[]).unwrap();
    assert!(var(&l.config).is_empty());
    assert_eq!(
        l.warnings,
        ["keep-alive only apply to the Python worker (--module or --wsgi-file): ignored"]
    );
}

#[test]
fn no_defer_accept_reaches_the_worker_environment() {
    let var = |c: &Config| -> Vec<String> {
        c.env
            .iter()
            .filter(|(k, _)| k == "EBB_DEFER_ACCEPT")
            .map(|(_, v)| v.clone())
            .collect()
    };
    // Not given: the worker defers (its default), no variable.
    assert!(var(&ok(PY)).is_empty());
    assert_eq!(var(&ok(&with_py(&["--no-defer-accept"]))), ["0"]);
    // uWSGI's option in an ini file, and the TOML key.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "n.ini", "[uwsgi]\nno-defer-accept = true\n");
    write(d, "n.toml", "no-defer-accept = false\n");
    let c = load_in(d, &["n.ini", "-b", ":1", "-w", "app"], &[])
        .unwrap()
        .config;
    assert_eq!(var(&c), ["0"]);
    let c = load_in(d, &["--config", "n.toml", "-b", ":1", "-w", "app"], &[])
        .unwrap()
        .config;
    assert!(var(&c).is_empty());
    // Only the Python worker reads it.
    let l = load(&with_ex(&["--no-defer-accept"]), &[]).unwrap();
    assert!(var(&l.config).is_empty());
    assert!(
        l.warnings.iter().any(|w| w.contains("no-defer-accept")),
        "{:?}",
        l.warnings
    );
}

#[test]
fn gunicorn_settings_in_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "g.toml",
        r#"http-socket = ":1"
module = "app"
worker_class = "gevent"
preload_app = true
raw_env = ["A=1"]
errorlog = "-"
capture_output = true
post_fork = "hooks.post_fork"
workers = 2
keepalive = 3
"#,
    );
    let errs: Vec<String> = load_in(d, &["g.toml"], &[])
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            "g.toml:3: worker_class: \"gevent\" is not available: ebb's Python worker is \
             threaded WSGI: use -k gthread with --threads N; for an ASGI app run ebb -b ADDR -p \
             N -- uvicorn app:app --fd 3 (any program after -- gets the listening socket at fd 3)",
            "g.toml:4: preload_app: preload_app is a gunicorn setting ebb does not need (the \
             default: a fork server imports the app once per configuration and forks the \
             workers; unlike gunicorn, SIGHUP imports the new code (--lazy-apps imports it in \
             each worker)); remove it",
            "g.toml:5: raw_env: raw_env is gunicorn's name for env: write env instead",
            "g.toml:6: errorlog: errorlog is gunicorn's name for logto: write logto instead",
            "g.toml:7: capture_output: capture_output is a gunicorn setting ebb does not need \
             (the workers' stdout and stderr always go to ebb's log (stderr or logto)); remove it",
            "g.toml:8: post_fork: post_fork is a gunicorn setting ebb does not support: register \
             the per-worker setup with ebb.after_fork(fn) in the WSGI module: it runs in each \
             worker after the fork, before it serves",
        ]
    );
    write(d, "ok.toml", "worker_class = \"gthread\"\n");
    let e = load_in(d, &["ok.toml"], &[]).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "ok.toml:1: worker_class: worker_class is a gunicorn setting ebb does not need \
             (ebb's Python worker is threaded"
        ),
        "{e}"
    );
}

#[test]
fn django_documented_command_runs_the_module() {
    // `gunicorn myproject.wsgi`: no such file here, so the module.
    let c = ok(&["-b", ":8000", "myproject.wsgi"]);
    assert_eq!(python(&c).module.as_deref(), Some("myproject.wsgi"));
    assert_eq!(python(&c).wsgi_file, None);
    // A file by that name: the file (mod_wsgi's app.wsgi).
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "site.wsgi", "");
    let c = load_in(dir.path(), &["-b", ":8000", "site.wsgi"], &[])
        .unwrap()
        .config;
    assert_eq!(python(&c).wsgi_file, Some(dir.path().join("site.wsgi")));
}

#[test]
fn gunicorn_environment_variables() {
    let env = [
        (
            "GUNICORN_CMD_ARGS",
            "--workers 3 --threads '2' --preload --spew",
        ),
        ("WEB_CONCURRENCY", "5"),
    ];
    let l = load(&["-b", ":8000", "app:application"], &env).unwrap();
    assert_eq!(
        l.config.processes, 3,
        "GUNICORN_CMD_ARGS wins over WEB_CONCURRENCY"
    );
    assert_eq!(python(&l.config).threads, 2);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].starts_with("gunicorn's GUNICORN_CMD_ARGS --spew is ignored"),
        "{:?}",
        l.warnings
    );
    // The command line wins over GUNICORN_CMD_ARGS.
    let c = load(&["-b", ":8000", "app:application", "-p", "2"], &env)
        .unwrap()
        .config;
    assert_eq!(c.processes, 2);
    // WEB_CONCURRENCY is the default number of workers; PORT the default socket.
    let c = load(
        &["app:application"],
        &[("WEB_CONCURRENCY", "4"), ("PORT", "5000")],
    )
    .unwrap()
    .config;
    assert_eq!(c.processes, 4);
    assert_eq!(c.sockets, [tcp("0.0.0.0", 5000, Protocol::Http)]);
    let c = load(&["-b", ":8000", "app:application"], &[("PORT", "5000")])
        .unwrap()
        .config;
    assert_eq!(c.sockets, [tcp("", 8000, Protocol::Http)]);
    let errs = errors(
        &["app:application"],
        &[("WEB_CONCURRENCY", "many"), ("PORT", "http")],
    );
    assert_eq!(
        errs,
        [
            "WEB_CONCURRENCY: expected a positive integer, got \"many\"",
            "PORT: expected a port number (0 to 65535), got \"http\"",
        ]
    );
    let errs = errors(
        &["-b", ":1", "app:application"],
        &[("GUNICORN_CMD_ARGS", "--workers 'x")],
    );
    assert_eq!(errs, ["GUNICORN_CMD_ARGS: a ' quote is not closed"]);
    let errs = errors(
        &["-b", ":1", "app:application"],
        &[("GUNICORN_CMD_ARGS", "--workers zero")],
    );
    assert_eq!(
        errs,
        ["GUNICORN_CMD_ARGS --processes: expected a positive integer, got \"zero\""]
    );
}

#[test]
fn numbers_out_of_range_say_the_range() {
    for (args, want) in [
        (
            vec!["--processes", "-1"],
            "--processes: must be between 1 and 1024, got -1",
        ),
        (
            vec!["--processes", "5000"],
            "--processes: must be between 1 and 1024, got 5000",
        ),
        (
            vec!["--max-requests", "-5"],
            "--max-requests: must be 0 or more, got -5",
        ),
        (
            vec!["--max-requests", "99999999999999999999999"],
            "--max-requests: 99999999999999999999999 is too large: at most 18446744073709551615",
        ),
        (
            vec!["--harakiri", "-3"],
            "--harakiri: must not be negative, got \"-3\": give a duration like 30, 30s, \
             500ms, 2m or 1h",
        ),
    ] {
        let errs = errors(&with_py(&args), &[]);
        assert_eq!(errs, [want], "{args:?}");
    }
    let errs = errors(&["-b", "0.0.0.0", "app:application"], &[]);
    assert_eq!(
        errs,
        [
            "--http-socket: \"0.0.0.0\" has no port: write 0.0.0.0:8000 (gunicorn's default \
          port), or :8000 for every interface"
        ]
    );
}

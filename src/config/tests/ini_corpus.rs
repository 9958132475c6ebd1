//! Loading tests: the uWSGI ini corpus under `tests/config/ini/`, and strict mode.

use super::*;

#[test]
fn corpus_django_behind_nginx() {
    let l = load(&["tests/config/ini/django-nginx.ini"], &[]).unwrap();
    let c = &l.config;
    let dir = fixture("ini");
    assert_eq!(c.source, Some(dir.join("django-nginx.ini")));
    assert_eq!(c.sockets, [unix("/tmp/mysite.sock", Protocol::Uwsgi)]);
    assert_eq!(c.chmod_socket, Some(0o664));
    assert_eq!(c.processes, 5);
    assert_eq!(c.chdir, Some(dir.join("mysite")));
    assert_eq!(
        c.command,
        WorkerCommand::Python(PythonApp {
            module: Some("mysite.wsgi:application".into()),
            wsgi_file: None,
            callable: "application".into(),
            pythonpath: vec![],
            home: Some(dir.join("venv")),
            python: None,
            threads: 2,
            lazy_apps: false,
            fork_anyway: false,
        })
    );
    assert_eq!(c.max_requests, Some(5000));
    assert_eq!(c.max_requests_delta, 100);
    assert_eq!(c.harakiri, Some(Duration::from_secs(30)));
    assert_eq!(c.drain_timeout, Duration::from_secs(90));
    assert_eq!(
        c.env,
        [
            (
                "DJANGO_SETTINGS_MODULE".into(),
                "mysite.settings.production".into()
            ),
            ("LANG".into(), "en_US.UTF-8".into()),
            // buffer-size = 32768 bounds the head, and the line and fields within it.
            ("EBB_LIMIT_REQUEST_LINE".into(), "8190".into()),
            ("EBB_LIMIT_REQUEST_FIELDS".into(), "100".into()),
            ("EBB_LIMIT_REQUEST_FIELD_SIZE".into(), "8190".into()),
            ("EBB_LIMIT_REQUEST_HEAD".into(), "32768".into()),
        ]
    );
    assert_eq!(c.pidfile, Some("/tmp/mysite-master.pid".into()));
    assert_eq!((c.uid.as_deref(), c.gid.as_deref()), (None, None));
    assert_eq!(
        l.warnings,
        [
            "uid = www-data, gid = www-data ignored: ebb is not running as root, so the workers \
          run as the current user"
        ]
    );
    // The rest is as the defaults.
    let rest = Config {
        source: c.source.clone(),
        sockets: c.sockets.clone(),
        chmod_socket: c.chmod_socket,
        processes: c.processes,
        chdir: c.chdir.clone(),
        command: c.command.clone(),
        max_requests: c.max_requests,
        max_requests_delta: c.max_requests_delta,
        harakiri: c.harakiri,
        drain_timeout: c.drain_timeout,
        env: c.env.clone(),
        pidfile: c.pidfile.clone(),
        ..Config::default()
    };
    assert_eq!(*c, rest);
}

#[test]
fn corpus_flask_on_http_socket() {
    let l = load(&["--ini", "tests/config/ini/flask-http.ini"], &[]).unwrap();
    let c = &l.config;
    let flask = fixture("ini/flask");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let want = Config {
        source: Some(fixture("ini/flask-http.ini")),
        sockets: vec![tcp("", 8080, Protocol::Http)],
        chdir: Some(flask.clone()),
        command: WorkerCommand::Python(PythonApp {
            module: None,
            wsgi_file: Some(flask.join("app.py")),
            callable: "app".into(),
            pythonpath: vec![flask.join("lib")],
            home: None,
            python: None,
            threads: 4,
            // `lazy-apps = true` in the file.
            lazy_apps: true,
            fork_anyway: false,
        }),
        processes: 4,
        listen: 256,
        max_worker_lifetime: Some(Duration::from_secs(3600)),
        max_worker_lifetime_delta: Duration::from_secs(30),
        reload_on_rss_mb: Some(512),
        logto: Some("/tmp/flask-app.log".into()),
        ..Config::default()
    };
    assert_eq!(*c, want);
}

#[test]
fn corpus_placeholders_env_and_repeats() {
    let env = [("APP_PORT", "8765"), ("APP_ENV", "staging")];
    let l = load(&["tests/config/ini/placeholders.ini"], &env).unwrap();
    let c = &l.config;
    let dir = fixture("ini");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let want = Config {
        source: Some(dir.join("placeholders.ini")),
        sockets: vec![
            tcp("127.0.0.1", 8765, Protocol::Http),
            tcp("::1", 8765, Protocol::Http),
            unix(dir.join("run/placeholders.sock"), Protocol::Uwsgi),
        ],
        env: vec![
            ("APP_ENV".into(), "staging".into()),
            ("APP_NAME".into(), "placeholders".into()),
            ("GREETING".into(), "100% staging".into()),
        ],
        command: WorkerCommand::Python(PythonApp {
            module: Some("hello:app".into()),
            callable: "application".into(),
            pythonpath: vec![dir.join("flask"), dir.join("flask/lib")],
            threads: 1,
            ..PythonApp::default()
        }),
        processes: 3,
        drain_signal: Signal::SIGINT,
        ready_timeout: Duration::from_secs(120),
        ..Config::default()
    };
    assert_eq!(*c, want);

    // Another section.
    let c = load(&["tests/config/ini/placeholders.ini:production"], &[])
        .unwrap()
        .config;
    assert_eq!(c.sockets, [tcp("", 80, Protocol::Http)]);
    assert_eq!(c.processes, 16);
    assert_eq!(c.max_requests, Some(10000));

    // A variable that is not set.
    let errs = errors(&["tests/config/ini/placeholders.ini"], &[("APP_ENV", "x")]);
    assert_eq!(
        errs,
        [
            "tests/config/ini/placeholders.ini:5: http-socket: environment variable APP_PORT is \
             not set: set it where ebb starts, or write the value here",
            "tests/config/ini/placeholders.ini:6: http-socket: environment variable APP_PORT is \
             not set: set it where ebb starts, or write the value here",
        ]
    );

    let errs = errors(&["tests/config/ini/placeholders.ini:staging"], &env);
    assert_eq!(
        errs,
        [
            "tests/config/ini/placeholders.ini: no [staging] section (its sections are [uwsgi], \
          [production]): ebb reads [uwsgi], or the section named with FILE.ini:SECTION",
        ]
    );
}

#[test]
fn corpus_unsupported_options() {
    let l = load(&["tests/config/ini/unsupported.ini"], &[]).unwrap();
    let c = &l.config;
    assert_eq!(c.sockets, [tcp("", 9000, Protocol::Http)]);
    assert_eq!(python(c).module.as_deref(), Some("app:application"));
    assert_eq!(c.processes, 1, "the misspelt proceses is not taken");
    assert_eq!(
        l.warnings,
        [
            // memory-report (line 6) and cheaper (line 9) have no effect in ebb: quiet.
            "unsupported uWSGI options ignored: stats-push (line 5), static-skip-ext (line 7), hook-as-user \
          (line 8), proceses (line 10: unknown option, did you mean processes?), plugins (line \
          11), response-route (line 12) (see docs/uwsgi-compat.md)"
        ]
    );
}

#[test]
fn strict_mode_makes_them_errors() {
    let f = "tests/config/ini/unsupported.ini";
    for args in [vec![f, "--strict"], vec![f]] {
        let env: &[(&str, &str)] = if args.len() == 1 {
            &[("UWSGI_STRICT", "true")]
        } else {
            &[]
        };
        let errs = errors(&args, env);
        let keys: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
        // As in uWSGI: unknown keys are errors; valid uWSGI options ebb does not support
        // stay warnings.
        assert_eq!(keys, [format!("{f}:10")], "{errs:?}");
        assert_eq!(
            errs[0],
            format!("{f}:10: proceses: unknown option (strict mode); did you mean processes?")
        );
    }
    // strict in the file itself.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.ini",
        "[uwsgi]\nstrict = true\nexample-app\nhttp = :1\nmaster\nstats = :2\nbase = /x\nchdir = %(base)\n",
    );
    let e = load_in(dir.path(), &["s.ini"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("s.ini:7: base: not an option (strict mode)"),
        "{e}"
    );
    write(
        dir.path(),
        "s.ini",
        "[uwsgi]\nstrict = true\nexample-app\nhttp = :1\nmaster\nstats-push = statsd:x\nset-ph = base=/tmp\nchdir = %(base)\n",
    );
    let l = load_in(dir.path(), &["s.ini"], &[]).unwrap();
    assert_eq!(l.config.chdir, Some(PathBuf::from("/tmp")));
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
}

#[test]
fn ini_relative_paths_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("app")).unwrap();
    write(d, "app/wsgi.py", "");
    write(
        d,
        "site.ini",
        "[uwsgi]\nsocket = app.sock\nwsgi-file = app/wsgi.py\npidfile = site.pid\nprocesses = lots\nchdir = %(root)\nthreads\n",
    );
    // Relative paths start from the current directory, as in uWSGI.
    let errs: Vec<String> = load_in(d, &[d.join("site.ini").to_str().unwrap()], &[])
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    let f = d.join("site.ini");
    let f = f.display();
    assert_eq!(
        errs,
        [
            format!("{f}:5: processes: expected a positive integer, got \"lots\""),
            format!(
                "{f}:6: chdir: %(root) refers to no key: define it in the [uwsgi] section (root = ...)"
            ),
            format!("{f}:7: threads: expected a positive integer, got no value"),
        ]
    );
    write(
        d,
        "site.ini",
        "[uwsgi]\nsocket = app.sock\nwsgi-file = app/wsgi.py\npidfile = site.pid\n",
    );
    let c = load_in(d, &[d.join("site.ini").to_str().unwrap()], &[])
        .unwrap()
        .config;
    assert_eq!(c.sockets, [unix(d.join("app.sock"), Protocol::Uwsgi)]);
    let e = load_in(&root(), &[d.join("site.ini").to_str().unwrap()], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("wsgi-file: file") && e.contains("%d is the file's directory"),
        "{e}"
    );
    assert_eq!(python(&c).wsgi_file, Some(d.join("app/wsgi.py")));
    assert_eq!(c.pidfile, Some(d.join("site.pid")));
}

#[test]
fn placeholder_math_and_yes_no_numbers_as_uwsgi_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // label-studio's and flask-prometheus-metrics' files: `%k` (the CPU count) in math.
    let cores = std::thread::available_parallelism().unwrap().get();
    write(
        d,
        "m.ini",
        "[uwsgi]\nmodule = app\nhttp = :1\nprocesses = %(%k * 2)\nbase = 3\nthreads = true\n\
         max-requests = %(base * 100 + 1)\n",
    );
    let l = load_in(d, &["m.ini"], &[]).unwrap();
    assert_eq!(l.config.processes, cores * 2);
    assert_eq!(l.config.max_requests, Some(301));
    assert_eq!(
        l.warnings,
        [
            "threads (m.ini:6): \"true\" is not a number; uWSGI reads it as 0, ebb as 1 \
          (write a number to silence this)"
        ]
    );
    // library_registry's `%((%k * 2) + 1)`: uWSGI has no parentheses (it would read 0).
    write(
        d,
        "p.ini",
        "[uwsgi]\nexample-app\nhttp = :1\nprocesses = %((%k * 2) + 1)\nthreads = %(nokey + 1)\n",
    );
    let errs: Vec<String> = load_in(d, &["p.ini"], &[])
        .unwrap_err()
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            format!(
                "p.ini:4: processes: %(({cores} * 2): uWSGI's placeholder math has no \
                 parentheses: it reads left to right, so write %(a * 2 + 1) for (a * 2) + 1"
            ),
            "p.ini:5: threads: %(nokey + 1): \"nokey\" is not a number, an operator \
             (+ - * / ++ --) or a key in the file"
                .to_string(),
        ]
    );
}

#[test]
fn a_key_tested_with_if_opt_is_a_placeholder() {
    // olympia's file: the key is set from the environment, then tested with if-not-opt.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "o.ini",
        "[uwsgi]\nmodule = app\nhttp = :1\nif-env = CIRCLECI\nrunning-circleci = %(_)\nendif =\n\
         if-not-env = CIRCLECI\nrunning-circleci = none\nendif =\n\
         if-not-opt = running-circleci=true\nthreads = 3\nendif =\n",
    );
    let l = load_in(dir.path(), &["o.ini"], &[]).unwrap();
    assert_eq!(python(&l.config).threads, 3);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

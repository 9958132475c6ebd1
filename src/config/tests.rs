//! Loading tests: command line and aliases, layering, TOML and ini front ends, the uWSGI
//! ini corpus under `tests/config/ini/`, strict mode, and `conf/ebb.toml`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> PathBuf {
    root().join("tests/config").join(rel)
}

fn argv(args: &[&str]) -> Vec<OsString> {
    std::iter::once("ebb")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

/// Load with `args`, the environment `env` only, the crate root as cwd, not as root.
fn load_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Loader::with_environment(argv(args), cwd.to_path_buf(), env)
        .with_root(false)
        .load()
}

fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Loaded, ConfigErrors> {
    load_in(&root(), args, env)
}

fn ok(args: &[&str]) -> Config {
    match load(args, &[]) {
        Ok(l) => l.config,
        Err(e) => panic!("{args:?} failed:\n{e}"),
    }
}

fn errors(args: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    match load(args, env) {
        Ok(l) => panic!("{args:?} loaded: {:?}", l.config),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn tcp(host: &str, port: u16, protocol: Protocol) -> SocketSpec {
    SocketSpec {
        address: Address::Tcp {
            host: host.to_string(),
            port,
        },
        protocol,
    }
}

fn unix(path: impl Into<PathBuf>, protocol: Protocol) -> SocketSpec {
    SocketSpec {
        address: Address::Unix(path.into()),
        protocol,
    }
}

fn python(c: &Config) -> &PythonApp {
    match &c.command {
        WorkerCommand::Python(app) => app,
        other => panic!("expected the Python worker, got {other:?}"),
    }
}

const EX: &[&str] = &["--example-app", "--http-socket", ":8000"];

fn with_ex<'a>(args: &[&'a str]) -> Vec<&'a str> {
    EX.iter().copied().chain(args.iter().copied()).collect()
}

#[test]
fn defaults() {
    let c = ok(EX);
    let want = Config {
        sockets: vec![tcp("", 8000, Protocol::Http)],
        command: WorkerCommand::ExampleApp,
        ..Config::default()
    };
    assert_eq!(c, want);
}

#[test]
fn cli_options_and_aliases() {
    type Check = fn(&Config) -> bool;
    let venv = fixture("ini/venv");
    let venv = venv.to_str().unwrap();
    let cases: Vec<(Vec<&str>, Check)> = vec![
        (vec!["--example-app", "-b", ":8000"], |c| {
            c.sockets == [tcp("", 8000, Protocol::Http)]
        }),
        (vec!["--example-app", "--http", "127.0.0.1:1"], |c| {
            c.sockets == [tcp("127.0.0.1", 1, Protocol::Http)]
        }),
        (vec!["--example-app", "--bind", "[::1]:2"], |c| {
            c.sockets == [tcp("::1", 2, Protocol::Http)]
        }),
        (vec!["--example-app", "-s", "/tmp/a.sock"], |c| {
            c.sockets == [unix("/tmp/a.sock", Protocol::Uwsgi)]
        }),
        (vec!["--example-app", "--uwsgi-socket", ":3031"], |c| {
            c.sockets == [tcp("", 3031, Protocol::Uwsgi)]
        }),
        (with_ex(&["-p", "4"]), |c| c.processes == 4),
        (with_ex(&["--workers", "5"]), |c| c.processes == 5),
        (with_ex(&["--processes=6"]), |c| c.processes == 6),
        (with_ex(&["-p", "2", "-p", "3"]), |c| c.processes == 3),
        (with_ex(&["-l", "64"]), |c| c.listen == 64),
        (with_ex(&["--chmod-socket"]), |c| {
            c.chmod_socket == Some(0o666)
        }),
        (with_ex(&["--chmod-socket=660"]), |c| {
            c.chmod_socket == Some(0o660)
        }),
        (with_ex(&["--chmod-socket", "600"]), |c| {
            c.chmod_socket == Some(0o600)
        }),
        (with_ex(&["-e", "A=1", "--env", "B=2"]), |c| {
            c.env == [("A".into(), "1".into()), ("B".into(), "2".into())]
        }),
        (with_ex(&["-R", "100"]), |c| c.max_requests == Some(100)),
        (with_ex(&["--max-requests", "0"]), |c| {
            c.max_requests.is_none()
        }),
        (
            with_ex(&["--max-requests-delta", "7", "--max-requests-jitter", "9"]),
            |c| c.max_requests_delta == 7 && c.max_requests_jitter == 9,
        ),
        (with_ex(&["--worker-reload-mercy", "5"]), |c| {
            c.drain_timeout == Duration::from_secs(5)
        }),
        (with_ex(&["--graceful-timeout", "1500ms"]), |c| {
            c.drain_timeout == Duration::from_millis(1500)
        }),
        (with_ex(&["--drain-timeout", "2m"]), |c| {
            c.drain_timeout == Duration::from_secs(120)
        }),
        (with_ex(&["--ready-timeout", "0.5"]), |c| {
            c.ready_timeout == Duration::from_millis(500)
        }),
        (with_ex(&["--drain-signal", "USR1"]), |c| {
            c.drain_signal == Signal::SIGUSR1
        }),
        (with_ex(&["--drain-signal", "2"]), |c| {
            c.drain_signal == Signal::SIGINT
        }),
        (
            with_ex(&[
                "--max-worker-lifetime",
                "1h",
                "--max-worker-lifetime-delta",
                "10",
            ]),
            |c| {
                c.max_worker_lifetime == Some(Duration::from_secs(3600))
                    && c.max_worker_lifetime_delta == Duration::from_secs(10)
            },
        ),
        (with_ex(&["--reload-on-rss", "1G"]), |c| {
            c.reload_on_rss_mb == Some(1024)
        }),
        (with_ex(&["--harakiri", "30"]), |c| {
            c.harakiri == Some(Duration::from_secs(30))
        }),
        (with_ex(&["--timeout", "0"]), |c| c.harakiri.is_none()),
        (with_ex(&["--watchdog", "1500ms"]), |c| {
            c.watchdog == Some(Duration::from_millis(1500))
        }),
        (with_ex(&["--watchdog", "0"]), |c| c.watchdog.is_none()),
        (with_ex(&["--max-surge", "3"]), |c| c.max_surge == 3),
        (with_ex(&["--lost-work-log", "/tmp/lost.jsonl"]), |c| {
            c.lost_work_log == Some("/tmp/lost.jsonl".into())
        }),
        (with_ex(&["--pidfile", "/tmp/ebb.pid"]), |c| {
            c.pidfile == Some("/tmp/ebb.pid".into())
        }),
        (with_ex(&["--logto", "/tmp/ebb.log"]), |c| {
            c.logto == Some("/tmp/ebb.log".into())
        }),
        (with_ex(&["--log-format", "json"]), |c| {
            c.log_format == LogFormat::Json
        }),
        (with_ex(&["-v"]), |c| c.log_level == "debug"),
        (with_ex(&["-vv"]), |c| c.log_level == "trace"),
        (with_ex(&["-vvvv"]), |c| c.log_level == "trace"),
        (with_ex(&["-q"]), |c| c.log_level == "warn"),
        (with_ex(&["-qqq"]), |c| c.log_level == "error"),
        (with_ex(&["--log-level", "debug", "-q"]), |c| {
            c.log_level == "info"
        }),
        (with_ex(&["--log-level", "warning"]), |c| {
            c.log_level == "warn"
        }),
        (with_ex(&["--chdir", "tests"]), |c| {
            c.chdir == Some(root().join("tests"))
        }),
        (
            with_ex(&["-M", "-T", "--master", "--vacuum", "--die-on-term"]),
            |c| c.processes == 1,
        ),
    ];
    for (args, check) in cases {
        let c = ok(&args);
        assert!(check(&c), "{args:?} gave {c:#?}");
    }

    // Python worker spellings.
    let py_cases: Vec<(Vec<&str>, Check)> = vec![
        (vec!["-b", ":1", "-w", "app:app"], |c| {
            python(c).module.as_deref() == Some("app:app")
        }),
        (vec!["-b", ":1", "--wsgi", "pkg.mod"], |c| {
            python(c).module.as_deref() == Some("pkg.mod")
        }),
        (vec!["-b", ":1", "myproject.wsgi:application"], |c| {
            python(c).module.as_deref() == Some("myproject.wsgi:application")
        }),
        (
            vec!["-b", ":1", "--file", "tests/config/ini/flask/app.py"],
            |c| python(c).wsgi_file == Some(fixture("ini/flask/app.py")),
        ),
        (vec!["-b", ":1", "tests/config/ini/flask/app.py"], |c| {
            python(c).wsgi_file == Some(fixture("ini/flask/app.py"))
        }),
        (
            vec![
                "-b",
                ":1",
                "--chdir",
                "tests/config/ini/flask",
                "--wsgi-file",
                "app.py",
                "--pp",
                "lib",
            ],
            |c| {
                python(c).wsgi_file == Some(fixture("ini/flask/app.py"))
                    && python(c).pythonpath == [fixture("ini/flask/lib")]
            },
        ),
        (
            vec![
                "-b",
                ":1",
                "-w",
                "a:b",
                "--callable",
                "app",
                "--threads",
                "8",
            ],
            |c| python(c).callable == "app" && python(c).threads == 8,
        ),
        (
            vec!["-b", ":1", "-w", "a:b", "--python", "python3.12"],
            |c| python(c).python == Some("python3.12".into()),
        ),
    ];
    for (args, check) in py_cases {
        let c = ok(&args);
        assert!(check(&c), "{args:?} gave {c:#?}");
    }
    for flag in ["-H", "--home", "--venv", "--virtualenv"] {
        let c = ok(&["-b", ":1", "-w", "a", flag, venv]);
        assert_eq!(python(&c).home.as_deref(), Some(Path::new(venv)), "{flag}");
    }

    // Any program after --.
    let c = ok(&["-b", ":1", "--", "gunicorn", "--bind", "fd://3", "app:app"]);
    assert_eq!(
        c.command,
        WorkerCommand::Exec(vec![
            "gunicorn".into(),
            "--bind".into(),
            "fd://3".into(),
            "app:app".into()
        ])
    );
}

#[test]
fn uwsgi_flags_on_the_command_line() {
    let l = load(
        &with_ex(&["--stats", ":9191", "--master", "--py-autoreload", "1"]),
        &[],
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        vec![
            "unsupported uWSGI options ignored: --stats, --py-autoreload; set strict = true \
             to make these errors"
                .to_string()
        ]
    );
    let errs = errors(&with_ex(&["--stats", ":9191", "--strict"]), &[]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("--stats: unsupported uWSGI option (strict mode): "),
        "{errs:?}"
    );
}

#[test]
fn worker_command_exactly_one() {
    let errs = errors(&["-b", ":1"], &[]);
    assert_eq!(
        errs,
        [
            "worker: no worker to run: give exactly one of --example-app, --module MOD (or \
          --wsgi-file FILE), or -- CMD ARGS... (the worker command)"
        ]
    );
    let errs = errors(
        &["-b", ":1", "--example-app", "-w", "app", "--", "prog"],
        &[],
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("more than one worker: --example-app and --module and --"),
        "{errs:?}"
    );
    // A higher layer's worker replaces a lower layer's.
    let c = load(&["-b", ":1", "--example-app"], &[("UWSGI_MODULE", "app")])
        .unwrap()
        .config;
    assert_eq!(c.command, WorkerCommand::ExampleApp);
    let c = load(&["-b", ":1"], &[("UWSGI_MODULE", "app")])
        .unwrap()
        .config;
    assert_eq!(python(&c).module.as_deref(), Some("app"));
}

#[test]
fn sockets_required_unless_systemd_passes_them() {
    let errs = errors(&["--example-app"], &[]);
    assert_eq!(
        errs,
        [
            "http-socket: no socket to listen on: add --http-socket 127.0.0.1:8000 (or \
          http-socket = \"127.0.0.1:8000\" in the config file)"
        ]
    );
    let pid = std::process::id().to_string();
    let l = load(
        &["--example-app"],
        &[("LISTEN_FDS", "2"), ("LISTEN_PID", &pid)],
    )
    .unwrap();
    assert!(l.config.sockets.is_empty());
    // Meant for another process: not ours.
    assert!(
        load(
            &["--example-app"],
            &[("LISTEN_FDS", "2"), ("LISTEN_PID", "1")]
        )
        .is_err()
    );
}

#[test]
fn sockets_deduplicated_and_conflicts() {
    let c = ok(&["--example-app", "-b", ":8000", "--http", ":8000"]);
    assert_eq!(c.sockets, [tcp("", 8000, Protocol::Http)]);
    let errs = errors(&["--example-app", "-b", ":8000", "-s", ":8000"], &[]);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("--socket: :8000 is already a http socket"),
        "{errs:?}"
    );
}

#[test]
fn cli_value_errors_all_reported() {
    let errs = errors(
        &[
            "-b",
            "8000",
            "-p",
            "0",
            "--threads",
            "x",
            "-w",
            "a",
            "--drain-timeout",
            "0",
            "--env",
            "X",
        ],
        &[],
    );
    assert_eq!(
        errs,
        [
            "--http-socket: \"8000\" has no host: write :8000 (every interface) or 127.0.0.1:8000",
            "--processes: must be between 1 and 1024, got 0",
            "--threads: expected a positive integer, got \"x\"",
            "--drain-timeout: must be more than 0",
            "--env: expected KEY=VALUE, got \"X\"",
            "http-socket: no socket to listen on: add --http-socket 127.0.0.1:8000 (or \
             http-socket = \"127.0.0.1:8000\" in the config file)",
        ]
    );
}

#[test]
fn missing_paths_named() {
    let errs = errors(
        &[
            "-b",
            ":1",
            "--chdir",
            "/nonexistent/dir",
            "--wsgi-file",
            "/nonexistent/app.py",
            "--pythonpath",
            "/nonexistent/lib",
            "--pidfile",
            "/nonexistent/run/ebb.pid",
            "-s",
            "/nonexistent/run/app.sock",
        ],
        &[],
    );
    assert_eq!(
        errs,
        [
            "--chdir: directory /nonexistent/dir does not exist: create it, or fix the path",
            "--pidfile: directory /nonexistent/run does not exist: create it first",
            "--wsgi-file: file /nonexistent/app.py does not exist: fix the path (relative paths \
             start from chdir when set, else from the config file's directory)",
            "--pythonpath: /nonexistent/lib does not exist: fix the path",
            "--socket: directory /nonexistent/run does not exist: create it first",
        ]
    );
}

#[test]
fn uid_gid_only_for_root() {
    let l = load(&with_ex(&["--uid", "nobody", "-g", "nogroup"]), &[]).unwrap();
    assert_eq!(l.config.uid, None);
    assert_eq!(
        l.warnings,
        [
            "uid = nobody, gid = nogroup ignored: ebb is not running as root, so the workers run \
          as the current user"
        ]
    );
    let env: Vec<(String, String)> = Vec::new();
    let l = Loader::with_environment(argv(&with_ex(&["--uid", "0", "--gid", "0"])), root(), env)
        .with_root(true)
        .load()
        .unwrap();
    assert_eq!(l.config.uid.as_deref(), Some("0"));
    assert!(l.warnings.is_empty());
    let env: Vec<(String, String)> = Vec::new();
    let e = Loader::with_environment(argv(&with_ex(&["--uid", "no-such-user-here"])), root(), env)
        .with_root(true)
        .load()
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--uid: no user named \"no-such-user-here\" on this system"
    );
}

#[test]
fn python_options_without_python_worker_warn() {
    let l = load(&with_ex(&["--threads", "4"]), &[]).unwrap();
    assert_eq!(
        l.warnings,
        ["threads only apply to the Python worker (--module or --wsgi-file): ignored"]
    );
}

// ---- gunicorn ------------------------------------------------------------------------

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
            "--preload",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(h)s %(r)s",
            "-D",
            "--reload",
        ])),
        [
            "gunicorn's --preload is ignored: each ebb worker starts a fresh Python interpreter \
             and imports the app itself, so nothing is loaded before the workers start \
             (--strict makes this an error)",
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
            "--stats",
            ":1"
        ])),
        [
            "unsupported uWSGI options ignored: --stats; set strict = true to make these errors",
            "gunicorn's --statsd-host is ignored: no metrics are sent: ebb logs each worker's \
             start, recycle and exit (--strict makes this an error)",
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
    let want = [
        "--preload: unsupported gunicorn option (strict mode): each ebb worker starts a fresh \
         Python interpreter and imports the app itself, so nothing is loaded before the workers \
         start",
    ];
    let args = with_py(&["--preload", "--access-logfile", "-", "-k", "gthread"]);
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
            "g.toml:4: preload_app: preload_app is a gunicorn setting ebb does not support: each \
             ebb worker starts a fresh Python interpreter and imports the app itself, so nothing \
             is loaded before the workers start",
            "g.toml:5: raw_env: raw_env is gunicorn's name for env: write env instead",
            "g.toml:6: errorlog: errorlog is gunicorn's name for logto: write logto instead",
            "g.toml:7: capture_output: capture_output is a gunicorn setting ebb does not need \
             (the workers' stdout and stderr always go to ebb's log (stderr or logto)); remove it",
            "g.toml:8: post_fork: post_fork is a gunicorn setting ebb does not support: each \
             worker imports the app itself: put per-worker setup in the WSGI module",
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

// ---- Layering ------------------------------------------------------------------------

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

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
        &[("UWSGI_STATS", ":9191"), ("UWSGI_PROCESES", "2")],
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        [
            "unsupported uWSGI options ignored: proceses (UWSGI_PROCESES: unknown option, did you \
          mean processes?), stats (UWSGI_STATS); set strict = true to make these errors"
        ]
    );
}

// ---- TOML ----------------------------------------------------------------------------

#[test]
fn toml_errors_all_at_once_with_lines() {
    let errs = errors(&["--config", "tests/config/bad.toml"], &[]);
    let f = "tests/config/bad.toml";
    let want = [
        format!("{f}:2: http-socket: expected host:port, :port, [::1]:port or a Unix socket path, got \"localhost\""),
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
        "http-socket: no socket to listen on: add --http-socket 127.0.0.1:8000 (or http-socket = \"127.0.0.1:8000\" in the config file)".to_string(),
    ];
    assert_eq!(errs, want);
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
    assert_eq!(e.0.len(), 3, "{e}");
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

// ---- uWSGI ini corpus ------------------------------------------------------------------

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
            ("LANG".into(), "en_US.UTF-8".into())
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
            "worker: no worker to run: give exactly one of --example-app, --module MOD (or \
          --wsgi-file FILE), or -- CMD ARGS... (the worker command)",
            "http-socket: no socket to listen on: add --http-socket 127.0.0.1:8000 (or \
          http-socket = \"127.0.0.1:8000\" in the config file)"
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
            "unsupported uWSGI options ignored: stats (line 5), static-skip-ext \
          (line 7), hook-pre-app (line 8), cheaper (line 9), proceses (line 10: unknown option, \
          did you mean processes?), plugins (line 11), route (line 12); set strict = true to \
          make these errors"
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
        assert_eq!(
            keys,
            [
                format!("{f}:5"),
                format!("{f}:7"),
                format!("{f}:8"),
                format!("{f}:9"),
                format!("{f}:10"),
                format!("{f}:11"),
                format!("{f}:12"),
            ]
        );
        assert_eq!(
            errs[0],
            format!(
                "{f}:5: stats: unsupported uWSGI option (strict mode): there is no stats server: ebb logs each worker's start, recycle and exit"
            )
        );
        assert_eq!(
            errs[4],
            format!("{f}:10: proceses: unknown option (strict mode); did you mean processes?")
        );
        assert!(
            errs[5].contains("plugin gevent is not available"),
            "{errs:?}"
        );
    }
    // strict in the file itself.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "s.ini",
        "[uwsgi]\nstrict = true\nexample-app\nhttp = :1\nmaster\nstats = :2\n",
    );
    let e = load_in(dir.path(), &["s.ini"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("s.ini:6: stats: unsupported uWSGI option (strict mode)"),
        "{e}"
    );
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
    let errs: Vec<String> = load_in(&root(), &[d.join("site.ini").to_str().unwrap()], &[])
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
    let c = load_in(&root(), &[d.join("site.ini").to_str().unwrap()], &[])
        .unwrap()
        .config;
    assert_eq!(c.sockets, [unix(d.join("app.sock"), Protocol::Uwsgi)]);
    assert_eq!(python(&c).wsgi_file, Some(d.join("app/wsgi.py")));
    assert_eq!(c.pidfile, Some(d.join("site.pid")));
}

// ---- conf/ebb.toml ---------------------------------------------------------------------

#[test]
fn example_config_loads_and_shows_every_option() {
    let path = root().join("conf/ebb.toml");
    let text = std::fs::read_to_string(&path).expect("conf/ebb.toml exists");
    let l = load(&["--config", "conf/ebb.toml"], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);

    for o in options::OPTIONS.iter().filter(|o| o.scope.toml) {
        let line = text.lines().find(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{} = ", o.name))
        });
        let line = line.unwrap_or_else(|| panic!("conf/ebb.toml does not show {}", o.name));
        // Each commented example, uncommented, is a valid value for its key.
        let snippet = line.trim_start_matches('#').trim_start();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "one.toml", &format!("{snippet}\n"));
        let mut out = load::Collected::default();
        toml_file::collect(Path::new("one.toml"), dir.path(), snippet, &mut out);
        assert!(out.errors.is_empty(), "{snippet}: {:?}", out.errors);
        assert!(!out.settings.is_empty(), "{snippet}");
    }
}

#[test]
fn error_display() {
    let cases = [
        (
            ConfigError {
                file: Some("conf/bad.toml".into()),
                line: Some(3),
                key: "processes".into(),
                message: "expected a positive integer, got \"four\"".into(),
            },
            "conf/bad.toml:3: processes: expected a positive integer, got \"four\"",
        ),
        (
            ConfigError {
                file: None,
                line: None,
                key: "--processes".into(),
                message: "m".into(),
            },
            "--processes: m",
        ),
        (
            ConfigError {
                file: Some("a.toml".into()),
                line: None,
                key: String::new(),
                message: "cannot read".into(),
            },
            "a.toml: cannot read",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
    let all = ConfigErrors(vec![cases_first(), cases_first()]);
    assert_eq!(all.to_string(), "--x: y\n--x: y");
}

fn cases_first() -> ConfigError {
    ConfigError {
        file: None,
        line: None,
        key: "--x".into(),
        message: "y".into(),
    }
}

#[test]
fn example_ini_maps_every_option() {
    let path = root().join("conf/uwsgi-example.ini");
    let text = std::fs::read_to_string(&path).expect("conf/uwsgi-example.ini exists");
    let ctx = load::Context {
        cwd: root(),
        env: Default::default(),
        pid: 1,
        is_root: false,
    };
    let mut out = load::Collected::default();
    let named = Path::new("conf/uwsgi-example.ini");
    ini::collect(
        named,
        &path,
        &root().join("conf"),
        "uwsgi",
        &text,
        &ctx,
        &mut out,
    );
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.extras.is_empty(), "{:?}", out.extras);
    assert_eq!(out.settings.len(), 20);
    // Its values are valid (the paths are an example: /srv/mysite need not exist here).
    let errs = errors(&["conf/uwsgi-example.ini"], &[]);
    for e in &errs {
        assert!(e.contains("does not exist"), "{e}");
    }
}

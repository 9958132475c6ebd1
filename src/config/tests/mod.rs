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
        &with_ex(&[
            "--stats-push",
            "statsd:x",
            "--master",
            "--pymodule-alias",
            "x=y",
        ]),
        &[],
    )
    .unwrap();
    assert_eq!(
        l.warnings,
        vec![
            "unsupported uWSGI options ignored: --stats-push, --pymodule-alias (see \
             docs/uwsgi-compat.md)"
                .to_string()
        ]
    );
    // strict: a valid uWSGI option ebb does not support stays a warning, as in uWSGI.
    let l = load(&with_ex(&["--stats-push", "statsd:x", "--strict"]), &[]).unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
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
            // No consequential "no socket to listen on": the socket given is named.
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
             start from chdir when set, else from the current directory; in an ini file %d is \
             the file's directory)",
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

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

mod example_toml;
mod gunicorn_cli;
mod ini_corpus;
mod layering;
mod mapped;
mod props;
mod toml;

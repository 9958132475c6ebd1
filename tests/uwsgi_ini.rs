//! Issue "drop-in for uWSGI": the uWSGI ini files of `tests/config/ini/` (written for the unit
//! tests of the option mapping) really run. Each is copied into a temp dir with only its
//! sockets, ports and paths changed to free ones (its structure, placeholders and options
//! kept), started as `ebb FILE.ini` and as `ebb --ini FILE.ini`, and shown to serve: over
//! HTTP, over the uwsgi protocol, or through a real nginx (`uwsgi_pass`).
//!
//! Also: the single warning listing unsupported options, `--strict` / `strict = true`
//! refusing to start, and the precedence of `UWSGI_*` variables and the command line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// A generous bound for starting several Python (Django) workers on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug)]
enum How {
    /// `ebb FILE.ini`
    Positional,
    /// `ebb --ini FILE.ini`
    Flag,
}

const BOTH: [How; 2] = [How::Positional, How::Flag];

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/config/ini")
        .join(name)
}

/// Copy `tests/config/ini/<name>` to `dir/<name>` with literal replacements (each must occur:
/// a changed corpus file makes the test fail loudly rather than test something else).
fn render(name: &str, dir: &Path, replace: &[(&str, String)]) -> PathBuf {
    let mut text = std::fs::read_to_string(corpus(name)).expect("corpus ini");
    for (from, to) in replace {
        assert!(
            text.contains(from),
            "{name} no longer contains {from:?}: update this test"
        );
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn ini_args(how: How, ini: &Path) -> Vec<String> {
    match how {
        How::Positional => vec![ini.display().to_string()],
        How::Flag => vec!["--ini".to_string(), ini.display().to_string()],
    }
}

fn stop_ok(ebb: &mut Ebb) {
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    if status.code() != Some(0) {
        ebb.fail(&format!("ebb exited with {status}, expected 0"));
    }
}

fn ok(ebb: &Ebb, what: &str, r: Result<Response, String>) -> Response {
    match r {
        Ok(r) if r.status == 200 => r,
        Ok(r) => ebb.fail(&format!("{what}: status {} {:?}", r.status, r.body)),
        Err(e) => ebb.fail(&format!("{what}: {e}")),
    }
}

/// The worker processes' command lines (NUL-separated args joined by spaces).
fn cmdlines(pids: &[i32]) -> Vec<String> {
    pids.iter()
        .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .collect()
}

fn group_name() -> String {
    let gid = nix::unistd::getgid();
    nix::unistd::Group::from_gid(gid)
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

// ---------------------------------------------------------------------------------------------
// (11) The corpus serves

/// `django-nginx.ini`: Django (placeholders `%(project)`, `%(base)` = `%d`), 5 processes x 2
/// threads on a uwsgi Unix socket with `chmod-socket = 664`, behind nginx's `uwsgi_pass`.
#[test]
fn django_behind_nginx_ini_serves() {
    let venv = test_venv();
    for how in BOTH {
        let dir = Arc::new(tempdir());
        let d = dir.path();
        // The project (chdir = %(base)%(project)) and its virtualenv (home = %(base)venv).
        copy_tree(&wsgi_app("mysite"), &d.join("mysite"));
        std::os::unix::fs::symlink(&venv, d.join("venv")).unwrap();
        // Only what must change: the socket and pidfile paths out of the shared /tmp, and
        // the user (www-data cannot run an interpreter under /root on a dev box).
        let ini = render(
            "django-nginx.ini",
            d,
            &[
                ("/tmp/", format!("{}/", d.display())),
                ("uid = www-data", format!("uid = {}", current_user())),
                ("gid = www-data", format!("gid = {}", group_name())),
            ],
        );
        let sock = d.join("mysite.sock");
        let mut ebb = Ebb::builder()
            .dir(dir.clone())
            .args(ini_args(how, &ini))
            .start();
        ebb.wait_ready(0, 5, START);
        let started = ebb.started_line(SOON);
        eprintln!("{how:?}: {}", started.message());
        assert_eq!(started.int_field("processes"), Some(5));
        assert_eq!(direct_workers_of(ebb.pid).len(), 5, "processes = 5");
        assert!(
            cmdlines(&direct_workers_of(ebb.pid)).iter().all(|c| c
                .contains("--module mysite.wsgi:application")
                && c.contains("--threads 2")
                && c.contains("--harakiri 30")
                && c.contains(&format!("{}/bin/python", d.join("venv").display()))),
            "module, threads, harakiri and home from the ini: {:?}",
            cmdlines(&direct_workers_of(ebb.pid))
        );
        let mode = std::fs::metadata(&sock)
            .expect("the socket file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o664, "chmod-socket = 664");
        let pidfile = std::fs::read_to_string(d.join("mysite-master.pid")).expect("pidfile");
        assert_eq!(pidfile.trim(), ebb.pid.to_string());

        let nginx = Nginx::start(d, "uwsgi.conf", &format!("unix:{}", sock.display()));
        let t = nginx.target();
        let r = ok(
            &ebb,
            "GET / through nginx",
            http_request(&t, "GET", "/", &[], b""),
        );
        // env = DJANGO_SETTINGS_MODULE=%(project).settings.production, env = LANG=...
        assert!(
            r.body
                .starts_with("hello from django settings=production lang=en_US.UTF-8 "),
            "{:?}",
            r.body
        );
        let r = ok(
            &ebb,
            "POST /form/ through nginx",
            http_request(
                &t,
                "POST",
                "/form/",
                &["Content-Type: application/x-www-form-urlencoded"],
                b"name=ini&via=nginx",
            ),
        );
        assert_eq!(r.body, "posted name=ini via=nginx\n");
        drop(nginx);
        stop_ok(&mut ebb);
        assert!(
            !sock.exists(),
            "the socket file is removed at exit (vacuum)"
        );
        assert!(
            !d.join("mysite-master.pid").exists(),
            "the pidfile is removed"
        );
    }
}

/// `flask-http.ini`: a Flask app on `http-socket = :PORT` (all interfaces), `chdir = %dflask`,
/// `wsgi-file`, `callable`, `pythonpath`, 4 processes x 4 threads, `logto`.
#[test]
fn flask_http_socket_ini_serves() {
    let venv = test_venv();
    for how in BOTH {
        let dir = Arc::new(tempdir());
        let d = dir.path();
        std::fs::create_dir_all(d.join("flask/lib")).unwrap();
        std::fs::copy(wsgi_app("flask_app.py"), d.join("flask/app.py")).unwrap();
        let port = free_port();
        let log = d.join("flask-app.log");
        let ini = render(
            "flask-http.ini",
            d,
            &[
                ("http-socket = :8080", format!("http-socket = :{port}")),
                (
                    "logto = /tmp/flask-app.log",
                    format!("logto = {}", log.display()),
                ),
            ],
        );
        // The ini has no `home`: the interpreter with Flask comes from the command line.
        let mut ebb = Ebb::builder()
            .dir(dir.clone())
            .args(ini_args(how, &ini))
            .args(["--virtualenv".to_string(), venv.display().to_string()])
            .start();
        // logto: the master's log and the workers' output go to the file, not stderr.
        if let Err(e) = wait_log_file(&log, 4, |l| l.is_event("ready"), START) {
            ebb.fail(&e);
        }
        let started = read_log_file(&log)
            .into_iter()
            .find(|l| l.message().contains("listening on"))
            .expect("start line in the logto file");
        eprintln!("{how:?}: {}", started.message());
        assert_eq!(started.int_field("processes"), Some(4));
        let pids = direct_workers_of(ebb.pid);
        assert_eq!(pids.len(), 4, "processes = 4");
        for c in cmdlines(&pids) {
            assert!(
                c.contains("--callable app")
                    && c.contains("--threads 4")
                    && c.contains(&format!("--wsgi-file {}", d.join("flask/app.py").display()))
                    && c.contains(&format!("--pythonpath {}", d.join("flask/lib").display())),
                "{c}"
            );
        }
        let t = Target::Tcp(([127, 0, 0, 1], port).into());
        let r = ok(&ebb, "GET /", http_request(&t, "GET", "/", &[], b""));
        assert!(r.body.starts_with("hello from flask pid="), "{:?}", r.body);
        let r = ok(
            &ebb,
            "GET /json",
            http_request(&t, "GET", "/json", &[], b""),
        );
        assert!(r.body.contains("\"items\":[1,2,3]"), "{:?}", r.body);
        let r = ok(
            &ebb,
            "GET /stream",
            http_request(&t, "GET", "/stream?n=3", &[], b""),
        );
        assert_eq!(r.body, "line 1 of 3\nline 2 of 3\nline 3 of 3\n");
        stop_ok(&mut ebb);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.contains("all workers stopped") && text.contains("drained in"),
            "the master's and the workers' lines are in the logto file"
        );
        assert!(ebb.lines().is_empty(), "nothing on stderr with logto");
    }
}

/// `placeholders.ini`: `%d`, `%n`, `%(key)` of invented keys, `$(VAR)`, `%%`, repeated
/// `http-socket` / `pythonpath` / `env`, `workers` then `processes`, `drain-signal`: serves
/// HTTP on 127.0.0.1 and [::1] and the uwsgi protocol on `%(app_root)run/%(app_name).sock`.
#[test]
fn placeholders_ini_serves_on_every_socket() {
    for how in BOTH {
        let dir = Arc::new(tempdir());
        let d = dir.path();
        std::fs::create_dir_all(d.join("run")).unwrap();
        std::fs::create_dir_all(d.join("flask/lib")).unwrap();
        std::fs::copy(wsgi_app("hello.py"), d.join("flask/hello.py")).unwrap();
        // Unchanged: its ports come from $(APP_PORT), its paths from %d.
        let ini = render("placeholders.ini", d, &[]);
        let port = free_port();
        let mut ebb = Ebb::builder()
            .dir(dir.clone())
            .args(ini_args(how, &ini))
            .env("APP_PORT", port.to_string())
            .env("APP_ENV", "staging")
            .start();
        ebb.wait_ready(0, 3, START);
        let started = ebb.started_line(SOON);
        eprintln!("{how:?}: {}", started.message());
        assert_eq!(
            started.int_field("processes"),
            Some(3),
            "the last of workers/processes"
        );
        assert_eq!(direct_workers_of(ebb.pid).len(), 3);
        for (_, env) in ebb.workers() {
            assert_eq!(
                env.get("EBB_DRAIN_SIGNAL").map(String::as_str),
                Some("SIGINT"),
                "drain-signal = SIGINT"
            );
        }
        let want = [
            "APP_ENV=staging",
            "APP_NAME=placeholders",
            "GREETING=100% staging",
            &format!("path={0}flask:{0}flask/lib", format!("{}/", d.display())),
        ];
        let sock = d.join("run/placeholders.sock");
        for (what, t, uwsgi) in [
            (
                "http 127.0.0.1",
                Target::Tcp(([127, 0, 0, 1], port).into()),
                false,
            ),
            (
                "http [::1]",
                Target::Tcp(std::net::SocketAddr::new("::1".parse().unwrap(), port)),
                false,
            ),
            ("uwsgi unix socket", Target::Unix(sock.clone()), true),
        ] {
            let r = if uwsgi {
                uwsgi_request(&t, "GET", "/", b"")
            } else {
                http_request(&t, "GET", "/", &[], b"")
            };
            let r = ok(&ebb, what, r);
            for w in &want {
                assert!(r.body.contains(w), "{what}: {w:?} not in {:?}", r.body);
            }
        }
        stop_ok(&mut ebb);
        assert_eq!(
            ebb.count(|l| l.is_event("drained")),
            3,
            "SIGINT drained all 3"
        );
        assert!(!sock.exists(), "the uwsgi socket file is removed at exit");
    }
    // Its [production] section (`--ini file:section`) is read instead of [uwsgi]
    // (`--no-app`: the corpus file's app is not on this import path).
    let (status, out, err) = run_ebb(
        &[
            "--check-config",
            "--no-app",
            "--ini",
            &format!("{}:production", corpus("placeholders.ini").display()),
        ],
        SOON,
    );
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(
        out.contains("processes: 16") && out.contains("recycle: after 10000 requests"),
        "{out}"
    );
}

/// `unsupported.ini`: ebb starts and serves, with one WARN line listing every unsupported
/// option and the typo (with a suggestion); with `--strict` or `strict = true` it refuses to
/// start and names the unknown key and its line (the unsupported options stay warnings).
#[test]
fn unsupported_ini_warns_once_and_strict_refuses() {
    let expected = [
        ("stats-push", 5),
        ("static-skip-ext", 7),
        ("hook-as-user", 8),
        ("proceses", 10),
        ("plugins", 11),
        ("route", 12),
    ];
    for how in BOTH {
        let dir = Arc::new(tempdir());
        let d = dir.path();
        std::fs::copy(wsgi_app("hello.py"), d.join("app.py")).unwrap();
        let port = free_port();
        let ini = render(
            "unsupported.ini",
            d,
            &[("http-socket = :9000", format!("http-socket = :{port}"))],
        );
        // module = app:application; the app is in the temp dir.
        let mut ebb = Ebb::builder()
            .dir(dir.clone())
            .args(ini_args(how, &ini))
            .args(["--chdir".to_string(), d.display().to_string()])
            .start();
        ebb.wait_ready(0, 1, START);
        let r = ok(
            &ebb,
            "GET /",
            http_request(
                &Target::Tcp(([127, 0, 0, 1], port).into()),
                "GET",
                "/",
                &[],
                b"",
            ),
        );
        assert!(r.body.starts_with("hello pid="), "{:?}", r.body);
        let warns: Vec<Line> = ebb
            .lines()
            .into_iter()
            .filter(|l| l.message().contains("unsupported uWSGI options"))
            .collect();
        if warns.len() != 1 {
            ebb.fail(&format!("{} warning lines: {warns:?}", warns.len()));
        }
        let w = warns[0].message();
        eprintln!("{how:?}: {w}");
        assert_eq!(warns[0].level(), Some("WARN"));
        for (opt, line) in expected {
            assert!(
                w.contains(&format!("{opt} (line {line}")),
                "{opt} line {line}: {w}"
            );
        }
        assert!(w.contains("did you mean processes?"), "{w}");
        assert!(
            w.contains("docs/uwsgi-compat.md"),
            "says where to read more: {w}"
        );
        for quiet in [
            "master",
            "disable-logging",
            "module",
            "http-socket",
            "memory-report",
            "cheaper",
        ] {
            assert!(
                !w.contains(&format!("{quiet} (")),
                "{quiet} is not listed: {w}"
            );
        }
        stop_ok(&mut ebb);

        // --strict on the command line, and strict = true in the file: refused at start.
        let strict_ini = d.join("strict").join("unsupported.ini");
        std::fs::create_dir_all(strict_ini.parent().unwrap()).unwrap();
        std::fs::write(
            &strict_ini,
            std::fs::read_to_string(&ini).unwrap() + "strict = true\n",
        )
        .unwrap();
        let ini_s = ini.display().to_string();
        let strict_s = strict_ini.display().to_string();
        for (what, args) in [
            ("--strict", {
                let mut a = vec!["--strict".to_string()];
                a.extend(ini_args(how, &ini));
                a
            }),
            ("strict = true", ini_args(how, &strict_ini)),
        ] {
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let (status, out, err) = run_ebb(&argv, SOON);
            eprintln!("{how:?} {what}: exit {status}\n{err}");
            assert_eq!(status.code(), Some(2), "{what}: refused\n{out}{err}");
            assert!(!err.contains("listening on"), "{what}: never started");
            let file = if what == "--strict" {
                &ini_s
            } else {
                &strict_s
            };
            // As in uWSGI, the unknown key is the error; valid uWSGI options ebb does not
            // support stay warnings (still printed, after the errors).
            for (opt, line) in expected {
                let error = format!("{file}:{line}: {opt}: ");
                assert_eq!(
                    err.contains(&error),
                    opt == "proceses",
                    "{what}: {opt} at line {line} in {err}"
                );
            }
            assert!(err.contains("did you mean processes?"), "{err}");
            assert!(
                err.contains("warning: unsupported uWSGI options ignored: stats"),
                "{err}"
            );
        }
        // Nothing was left listening on the port.
        std::net::TcpListener::bind(("0.0.0.0", port)).expect("the port is free again");
    }
}

// ---------------------------------------------------------------------------------------------
// (12) Precedence: the ini file < UWSGI_* variables < the command line

/// `processes = 4` in the ini; `UWSGI_PROCESSES=3` → 3 workers; `--processes 2` as well → 2.
/// Likewise for `threads`; and repeatable `env` adds up from all three. `UWSGI_INI` names
/// the file with no argument at all.
#[test]
fn uwsgi_env_and_command_line_override_the_ini() {
    let dir = Arc::new(tempdir());
    let d = dir.path();
    std::fs::copy(wsgi_app("hello.py"), d.join("hello.py")).unwrap();
    let ini = d.join("app.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = %dhello.py\ncallable = app\n\
         processes = 4\nthreads = 2\nenv = FROM_INI=ini\nmaster = true\n",
    )
    .unwrap();
    struct Case {
        name: &'static str,
        env: Vec<(&'static str, String)>,
        args: Vec<String>,
        processes: usize,
        threads: usize,
        vars: &'static [&'static str],
    }
    let ini_s = ini.display().to_string();
    let cases = [
        Case {
            name: "the ini alone",
            env: vec![],
            args: vec![ini_s.clone()],
            processes: 4,
            threads: 2,
            vars: &["FROM_INI=ini"],
        },
        Case {
            name: "UWSGI_PROCESSES=3 UWSGI_THREADS=3",
            env: vec![
                ("UWSGI_PROCESSES", "3".into()),
                ("UWSGI_THREADS", "3".into()),
                ("UWSGI_ENV", "FROM_ENV=env".into()),
            ],
            args: vec!["--ini".into(), ini_s.clone()],
            processes: 3,
            threads: 3,
            vars: &["FROM_INI=ini", "FROM_ENV=env"],
        },
        Case {
            name: "UWSGI_PROCESSES=3 and --processes 2 --threads 1",
            env: vec![
                ("UWSGI_PROCESSES", "3".into()),
                ("UWSGI_THREADS", "3".into()),
                ("UWSGI_ENV", "FROM_ENV=env".into()),
            ],
            args: vec![
                ini_s.clone(),
                "--processes".into(),
                "2".into(),
                "--threads".into(),
                "1".into(),
                "--env".into(),
                "FROM_CLI=cli".into(),
            ],
            processes: 2,
            threads: 1,
            vars: &["FROM_INI=ini", "FROM_ENV=env", "FROM_CLI=cli"],
        },
        Case {
            name: "UWSGI_INI and UWSGI_PROCESSES=3, no arguments",
            env: vec![
                ("UWSGI_INI", ini_s.clone()),
                ("UWSGI_PROCESSES", "3".into()),
            ],
            args: vec![],
            processes: 3,
            threads: 2,
            vars: &["FROM_INI=ini"],
        },
    ];
    for c in cases {
        let mut b = Ebb::builder().dir(dir.clone()).args(c.args.clone());
        for (k, v) in &c.env {
            b = b.env(k, v.clone());
        }
        let mut ebb = b.start();
        let t = ebb.ready(c.processes);
        let started = ebb.started_line(SOON);
        let pids = direct_workers_of(ebb.pid);
        eprintln!(
            "{}: processes {:?} in the start line, {} live workers",
            c.name,
            started.int_field("processes"),
            pids.len()
        );
        assert_eq!(
            started.int_field("processes"),
            Some(c.processes as i64),
            "{}",
            c.name
        );
        assert_eq!(pids.len(), c.processes, "{}: live workers", c.name);
        for cl in cmdlines(&pids) {
            assert!(
                cl.contains(&format!("--threads {}", c.threads)),
                "{}: {cl}",
                c.name
            );
        }
        let r = ok(&ebb, c.name, http_request(&t, "GET", "/", &[], b""));
        for v in c.vars {
            assert!(r.body.contains(v), "{}: {v} not in {:?}", c.name, r.body);
        }
        for v in ["FROM_INI=ini", "FROM_ENV=env", "FROM_CLI=cli"] {
            if !c.vars.contains(&v) {
                assert!(!r.body.contains(v), "{}: {v} in {:?}", c.name, r.body);
            }
        }
        stop_ok(&mut ebb);
        // No more workers were started than the configuration says.
        assert_eq!(
            ebb.count(|l| l.is_event("spawn")),
            c.processes,
            "{}",
            c.name
        );
    }
}

// ---------------------------------------------------------------------------------------------
// (13) The ini language: includes and conditionals, evaluated while reading

/// An ini tree as real deployments write it: a base file, a per-environment file chosen by
/// `if-env`, an optional local override found by `if-exists`, a section of the same file
/// (`ini = :section`), a `for` loop, `%(key)` placeholders across files, inline comments,
/// and the graceful-stop hook. It serves with what each branch gave.
#[test]
fn ini_tree_with_includes_and_conditionals_serves() {
    for how in BOTH {
        let dir = Arc::new(tempdir());
        let d = dir.path();
        std::fs::copy(wsgi_app("hello.py"), d.join("app.py")).unwrap();
        std::fs::create_dir_all(d.join("conf")).unwrap();
        let port = free_port();
        std::fs::write(
            d.join("conf/base.ini"),
            "[uwsgi]\nmaster = true\nmodule = app:application ; the WSGI app\nenv = APP_NAME=%(name)\nprocesses = 1\n",
        )
        .unwrap();
        std::fs::write(
            d.join("conf/prod.ini"),
            "[uwsgi]\nprocesses = 2 ; two in production\nenv = GREETING=production\n",
        )
        .unwrap();
        std::fs::write(d.join("local.ini"), "[uwsgi]\nenv = FROM_INI=local\n").unwrap();
        let main = d.join("site.ini");
        std::fs::write(
            &main,
            format!(
                "[uwsgi]\n\
                 name = tree\n\
                 base = %d\n\
                 ini = %(base)conf/base.ini\n\
                 if-env = APP_ENV=prod\n\
                 ini = %(base)conf/prod.ini\n\
                 endif =\n\
                 if-not-env = APP_ENV\n\
                 env = GREETING=development\n\
                 endif =\n\
                 if-exists = %(base)local.ini\n\
                 include = %(_)\n\
                 endif =\n\
                 if-exists = %(base)missing.ini\n\
                 env = FROM_INI=wrong\n\
                 endif =\n\
                 ini = :sockets\n\
                 chdir = %(base)\n\
                 hook-master-start = unix_signal:15 gracefully_kill_them_all\n\
                 \n\
                 [sockets]\n\
                 for = 127.0.0.1\n\
                 http-socket = %(_):{port}\n\
                 endfor =\n"
            ),
        )
        .unwrap();
        let mut ebb = Ebb::builder()
            .dir(dir.clone())
            .args(ini_args(how, &main))
            .env("APP_ENV", "prod")
            .start();
        ebb.wait_ready(0, 2, START);
        assert_eq!(
            direct_workers_of(ebb.pid).len(),
            2,
            "processes from prod.ini"
        );
        let r = ok(
            &ebb,
            "GET /",
            http_request(
                &Target::Tcp(([127, 0, 0, 1], port).into()),
                "GET",
                "/",
                &[],
                b"",
            ),
        );
        for want in [
            "APP_ENV=prod",
            "APP_NAME=tree",
            "GREETING=production",
            "FROM_INI=local",
        ] {
            assert!(r.body.contains(want), "{how:?}: {want:?} in {:?}", r.body);
        }
        let warns: Vec<Line> = ebb
            .lines()
            .into_iter()
            .filter(|l| l.level() == Some("WARN"))
            .collect();
        assert!(warns.is_empty(), "no warnings: {warns:?}");
        stop_ok(&mut ebb);
    }
}

/// `--check-config` imports the app in a child interpreter: an app that raises at import
/// fails with its traceback (exit 1); `--no-app` checks the configuration alone; a near-miss
/// key fails with the suggestion (exit 2).
#[test]
fn check_config_imports_the_app() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::copy(wsgi_app("hello.py"), d.join("app.py")).unwrap();
    std::fs::write(
        d.join("broken.py"),
        "raise RuntimeError('boom at import')\n",
    )
    .unwrap();
    let ini = d.join("site.ini");
    let check = |module: &str, extra: &str, flags: &[&str]| {
        std::fs::write(
            &ini,
            format!(
                "[uwsgi]\nhttp-socket = 127.0.0.1:0\nchdir = {}\nmodule = {module}\n{extra}",
                d.display()
            ),
        )
        .unwrap();
        let ini_s = ini.display().to_string();
        let mut args = vec!["--check-config", ini_s.as_str()];
        args.extend_from_slice(flags);
        run_ebb(&args, START)
    };
    let (status, out, err) = check("app:application", "", &[]);
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(out.contains("configuration OK"), "{out}");

    let (status, out, err) = check("broken", "", &[]);
    assert_eq!(status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("RuntimeError: boom at import"),
        "the traceback: {err}"
    );
    assert!(
        err.contains("--no-app"),
        "says how to skip the import: {err}"
    );
    assert!(!out.contains("configuration OK"), "{out}");

    let (status, out, err) = check("broken", "", &["--no-app"]);
    assert_eq!(status.code(), Some(0), "{out}{err}");

    let (status, out, err) = check("app:application", "proceses = 4\n", &[]);
    assert_eq!(status.code(), Some(2), "{out}{err}");
    assert!(
        err.contains("site.ini:5: proceses: unknown option; did you mean processes?"),
        "{err}"
    );
}

//! The Python app's uWSGI options (issue 13), with real masters, fork servers and workers:
//! `pyargv`, `import` (and `shared-import`), `honour-stdin`, `no-site` and `limit-post`.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;

/// A generous bound for Python workers on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

/// The app: `/argv` (sys.argv as JSON), `/patched` (what the imports left), `/stdin` (a line
/// read from stdin), `/site` (the site module and site-packages), `/count` (requests that
/// reached it), `POST /` (the body's length).
const APP: &str = r#"
import builtins, json, os, sys

CALLS = [0]

def application(environ, start_response):
    CALLS[0] += 1
    path = environ["PATH_INFO"]
    if path == "/argv":
        body = json.dumps(sys.argv)
    elif path == "/patched":
        body = json.dumps(sorted(getattr(builtins, "EBB_TEST_IMPORTS", [])))
    elif path == "/stdin":
        body = os.readlink("/proc/self/fd/0") + " " + repr(sys.stdin.readline())
    elif path == "/site":
        body = json.dumps({"no_site": sys.flags.no_site, "site": "site" in sys.modules,
                           "site_packages": any("site-packages" in p for p in sys.path)})
    elif path == "/count":
        body = "calls=%d" % (CALLS[0] - 1)
    else:
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = "got=%d" % len(environ["wsgi.input"].read(n))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

fn setup(ini_body: &str) -> (Arc<tempfile::TempDir>, String) {
    let dir = Arc::new(tempdir());
    std::fs::write(dir.path().join("app.py"), APP).unwrap();
    let path = dir.path().join("app.ini");
    std::fs::write(
        &path,
        format!(
            "[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = {}\n{ini_body}",
            dir.path().join("app.py").display()
        ),
    )
    .unwrap();
    (dir, path.display().to_string())
}

fn start(ini_body: &str) -> (Ebb, Target) {
    let (dir, file) = setup(ini_body);
    let ebb = Ebb::builder().dir(dir).arg(file).start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    (ebb, t)
}

/// pyargv: sys.argv is ["uwsgi"] and the words, split at spaces as uWSGI splits them (no
/// quoting), in a forked worker and with lazy-apps; the app sees it at import too.
#[test]
fn pyargv_is_the_apps_sys_argv() {
    for lazy in ["false", "true"] {
        let (ebb, t) = start(&format!(
            "pyargv = -c /cc.yml  -od /data/ '/a b'\nlazy-apps = {lazy}\n"
        ));
        assert_eq!(
            get_ok(&ebb, &t, "/argv").body,
            r#"["uwsgi", "-c", "/cc.yml", "-od", "/data/", "'/a", "b'"]"#,
            "lazy-apps = {lazy}"
        );
    }
}

/// import (module and file, repeated, under its several names): imported before the app,
/// where the app is imported; a failing import is logged with its traceback and the app still
/// loads, as in uWSGI.
#[test]
fn import_runs_before_the_app() {
    let (dir, file) = setup(
        "pythonpath = %d\nimport = patch_one\npyimport = %d/patch_two.py\nshared-import = \
         missing_module_xyz\nshared-python-import = patch_one\n",
    );
    for (name, tag) in [("patch_one.py", "one"), ("patch_two.py", "two")] {
        std::fs::write(
            dir.path().join(name),
            format!(
                "import builtins, sys\nassert 'app' not in sys.modules, 'imported after the \
                 app'\nbuiltins.EBB_TEST_IMPORTS = getattr(builtins, 'EBB_TEST_IMPORTS', []) + \
                 ['{tag}']\n"
            ),
        )
        .unwrap();
    }
    let ebb = Ebb::builder().dir(dir).arg(file).start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    // Each module once, though named twice.
    assert_eq!(get_ok(&ebb, &t, "/patched").body, r#"["one", "two"]"#);
    ebb.expect_after(
        0,
        "the failed import's error",
        |l| {
            l.message().contains("import missing_module_xyz failed")
                && l.message().contains("ModuleNotFoundError")
        },
        SOON,
    );
}

/// A bad import value is one error naming the file, line and key.
#[test]
fn bad_values_name_file_line_and_key() {
    let (_dir, file) = setup(
        "import = not-a-module\nlimit-post = lots\npy-autoreload = -1\nmount = /a=a:app\nmount \
         = /b=/nonexistent/b/wsgi.py\n",
    );
    let (status, _out, err) = run_ebb(&["--check-config", "--no-app", &file], SOON);
    assert!(!status.success(), "{err}");
    for (line, key) in [
        (4, "import"),
        (5, "limit-post"),
        (6, "py-autoreload"),
        (8, "mount"),
    ] {
        assert!(
            err.contains(&format!("{file}:{line}: {key}: ")),
            "{key} at line {line}: {err}"
        );
    }
}

/// honour-stdin: workers read ebb's stdin (a pipe here); without it they read /dev/null.
#[test]
fn honour_stdin_keeps_ebbs_stdin() {
    for honour in [false, true] {
        let (dir, file) = setup(&format!("honour-stdin = {honour}\n"));
        let port = free_port();
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
        std::fs::write(&file, text).unwrap();
        let log = std::fs::File::create(dir.path().join("ebb.log")).unwrap();
        let mut child = Command::new(EBB)
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let guard = Stop(child.id() as i32);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"from the terminal\n")
            .unwrap();
        let t = Target::Tcp(format!("127.0.0.1:{port}").parse().unwrap());
        let r = get_retry(&t, "/stdin", START).unwrap_or_else(|e| {
            panic!(
                "{e}\n{}",
                std::fs::read_to_string(dir.path().join("ebb.log")).unwrap_or_default()
            )
        });
        if honour {
            assert!(r.body.starts_with("pipe:"), "{}", r.body);
            assert!(r.body.ends_with("'from the terminal\\n'"), "{}", r.body);
        } else {
            assert_eq!(r.body, "/dev/null ''");
        }
        drop(guard);
        child.wait().unwrap();
    }
}

/// Stops a master started by hand (SIGTERM: its workers drain and it exits).
struct Stop(i32);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// no-site: the interpreter runs with -S: no site module and no site-packages on sys.path,
/// a virtualenv's included; without it both are there.
#[test]
fn no_site_runs_python_without_site() {
    let venv = test_venv();
    for no_site in [true, false] {
        let (ebb, t) = start(&format!(
            "no-site = {no_site}\nvirtualenv = {}\n",
            venv.display()
        ));
        let want = if no_site {
            r#"{"no_site": 1, "site": false, "site_packages": false}"#
        } else {
            r#"{"no_site": 0, "site": true, "site_packages": true}"#
        };
        assert_eq!(get_ok(&ebb, &t, "/site").body, want, "no-site = {no_site}");
    }
}

fn curl_post(t: &Target, body_len: usize, dir: &Path) -> String {
    let Target::Tcp(addr) = t else { unreachable!() };
    let data = dir.join(format!("body-{body_len}"));
    std::fs::write(&data, vec![b'x'; body_len]).unwrap();
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", " %{http_code}", "--data-binary"])
        .arg(format!("@{}", data.display()))
        .arg(format!("http://{addr}/"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// limit-post: a Content-Length over the limit is answered 413 and the app is not called; at
/// the limit the app gets the body.
#[test]
fn limit_post_answers_413_without_the_app() {
    let (ebb, t) = start("limit-post = 1000\n");
    let dir = ebb.dir.clone();
    assert_eq!(curl_post(&t, 1000, dir.path()), "got=1000 200");
    let over = curl_post(&t, 1001, dir.path());
    assert!(over.ends_with(" 413"), "{over}");
    assert!(over.contains("too large"), "{over}");
    assert_eq!(
        curl_post(&t, 200_000, dir.path()).split(' ').next_back(),
        Some("413")
    );
    assert_eq!(
        get_ok(&ebb, &t, "/count").body,
        "calls=1",
        "only the first POST reached the app"
    );
}

/// A mounted app: its name, where it was imported, the worker, SCRIPT_NAME and PATH_INFO.
fn mounted_app(name: &str) -> String {
    format!(
        r#"
import os
IMPORTED_IN = os.getpid()

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("{name} import=%d worker=%d %r %r" % (IMPORTED_IN, os.getpid(),
             environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()]
"#
    )
}

/// Several mounts (as in a real file with seven): with manage-script-name each request goes
/// to the longest prefix that its path starts with at a segment boundary, which becomes
/// SCRIPT_NAME; every app is imported once, in the fork server; with no-default-app a path
/// under no prefix is 404, else the first app takes it.
#[test]
fn several_mounts_dispatch_by_the_longest_prefix() {
    for no_default in [true, false] {
        let dir = Arc::new(tempdir());
        for (sub, name) in [("about", "about"), ("help", "help")] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("wsgi.py"), mounted_app(name)).unwrap();
        }
        std::fs::write(dir.path().join("deep_app.py"), mounted_app("deep")).unwrap();
        let d = dir.path().display();
        let file = dir.path().join("app.ini");
        std::fs::write(
            &file,
            format!(
                "[uwsgi]\nhttp-socket = 127.0.0.1:0\nprocesses = 2\nchdir = {d}\ncallable = \
                 application\nmanage-script-name = true\nno-default-app = {no_default}    # \
                 comment\nmount = /about={d}/about/wsgi.py\nmount = /help={d}/help/wsgi.py\n\
                 mount = /help/deep=deep_app:application\n"
            ),
        )
        .unwrap();
        let file = file.display().to_string();
        let (status, out, err) = run_ebb(&["--check-config", &file], START);
        assert!(status.success(), "{out}{err}");
        let ebb = Ebb::builder().dir(dir.clone()).arg(&file).start();
        let t = ebb.target();
        ebb.wait_ready(0, 2, START);
        let mut imported = std::collections::HashSet::new();
        let mut workers = std::collections::HashSet::new();
        for (path, want) in [
            ("/about", "about '/about' ''"),
            ("/about/team?x=1", "about '/about' '/team'"),
            ("/help/x", "help '/help' '/x'"),
            ("/help/deep/y", "deep '/help/deep' '/y'"),
            ("/help/deeper", "help '/help' '/deeper'"),
        ] {
            let r = get_ok(&ebb, &t, path);
            let words: Vec<&str> = r.body.split(' ').collect();
            assert_eq!(
                format!("{} {} {}", words[0], words[3], words[4]),
                want,
                "{path}: {}",
                r.body
            );
            imported.insert(words[1].to_string());
            workers.insert(words[2].to_string());
        }
        assert_eq!(
            imported.len(),
            1,
            "every app imported in one process: {imported:?}"
        );
        assert!(
            imported.is_disjoint(&workers),
            "imported in the fork server, not in a worker"
        );
        for path in ["/", "/aboutx", "/other/about"] {
            let r = get(&t, path).unwrap();
            if no_default {
                assert_eq!((r.status, r.body.as_str()), (404, "Not Found\n"), "{path}");
            } else {
                assert_eq!(r.status, 200, "{path}");
                assert!(
                    r.body.starts_with("about "),
                    "{path}: the first app: {}",
                    r.body
                );
            }
        }
    }
}

/// show-config: the resolved configuration is logged at start, a line per item.
#[test]
fn show_config_logs_the_resolved_configuration() {
    let (ebb, _t) = start("show-config = true\nreload-on-as = 900\nprocesses = 1\n");
    for want in [
        "config: worker: Python WSGI file",
        "over 900 MB of address space",
    ] {
        ebb.expect_after(
            0,
            want,
            |l| l.is_event("show-config") && l.message().contains(want),
            SOON,
        );
    }
}

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
    let (_dir, file) = setup("import = not-a-module\nlimit-post = lots\npy-autoreload = -1\n");
    let (status, _out, err) = run_ebb(&["--check-config", "--no-app", &file], SOON);
    assert!(!status.success(), "{err}");
    for (line, key) in [(4, "import"), (5, "limit-post"), (6, "py-autoreload")] {
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

//! Reload triggers from uWSGI files (issue 13), with real masters, fork servers and workers:
//! `py-autoreload` (a file of an imported module changes, including a module first imported
//! during a request), `fs-reload` (a directory's entries, a file) and `reload-on-as` (a
//! worker's address space passes the limit).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tempfile::TempDir;

use common::*;

/// A generous bound for Python workers on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

fn ini(dir: &Path, body: &str) -> String {
    let path = dir.join("app.ini");
    std::fs::write(&path, format!("[uwsgi]\nhttp-socket = 127.0.0.1:0\n{body}")).unwrap();
    path.display().to_string()
}

/// A site in a new directory: `files` (paths relative to it, `app` the WSGI file among them)
/// and a uwsgi.ini that serves it with `options`; started, with `workers` ready.
fn site(files: &[(&str, &str)], app: &str, options: &str, workers: usize) -> (Arc<TempDir>, Ebb) {
    let dir = Arc::new(tempdir());
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let app = dir.path().join(app);
    let file = ini(
        dir.path(),
        &format!("wsgi-file = {}\n{options}", app.display()),
    );
    let ebb = Ebb::builder().dir(dir.clone()).arg(file).start();
    ebb.wait_ready(0, workers, START);
    (dir, ebb)
}

const APP: &str = r#"
import sys
import helper

def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/lazy":
        import lazymod
        body = lazymod.VALUE
    else:
        body = helper.VALUE
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

/// After a reload: `n` new workers are ready and the `n` old ones have drained (until then an
/// old worker may still take a request, and answer with the old code).
fn replaced(ebb: &Ebb, mark: usize, n: usize) {
    ebb.wait_ready(mark, n, START);
    poll_until(START, || {
        (ebb.count_after(mark, |l| l.is_event("drained")) >= n).then_some(())
    })
    .unwrap_or_else(|| ebb.fail("the old workers never drained"));
}

fn body(ebb: &Ebb, t: &Target, path: &str) -> String {
    get_ok(ebb, t, path).body
}

/// py-autoreload: the master watches the files of the modules the app imported (reported by
/// the fork server after the import, and by each worker when it imported more since) and
/// reloads gracefully, saying which file changed; other files in the directory change
/// nothing.
#[test]
fn py_autoreload_reloads_when_an_imported_module_changes() {
    let (dir, ebb) = site(
        &[
            ("src/app.py", APP),
            ("src/helper.py", "VALUE = 'one'\n"),
            ("src/lazymod.py", "VALUE = 'lazy one'\n"),
        ],
        "src/app.py",
        "py-autoreload = 1\nprocesses = 2\n",
        2,
    );
    let src = dir.path().join("src");
    let t = ebb.target();
    assert_eq!(body(&ebb, &t, "/"), "one");

    // A file in the same directory that no module comes from: no reload; the edit of
    // helper.py after it is the one named.
    let mark = ebb.mark();
    std::fs::write(src.join("notes.txt"), "x").unwrap();
    // (A new size: an edit of the same size within the second of the first write would
    // leave Python's bytecode cache looking fresh, and the new import would read "one".)
    write_atomic(&src.join("helper.py"), "VALUE = 'second'\n");
    let line = ebb.expect_after(mark, "the reload", |l| l.is_event("watch-reload"), START);
    assert!(
        line.message().contains(&format!(
            "{} changed (py-autoreload)",
            src.join("helper.py").display()
        )),
        "{}",
        line.raw
    );
    ebb.expect_after(
        mark,
        "the new generation",
        |l| l.is_event("reload") && l.message().contains("generation 2"),
        START,
    );
    replaced(&ebb, mark, 2);
    assert_eq!(
        ebb.count_after(mark, |l| l.is_event("watch-reload")),
        1,
        "one edit, one reload"
    );
    let t = ebb.target();
    assert_eq!(body(&ebb, &t, "/"), "second");

    // A module first imported during a request, in a worker: reported within a second or
    // two (py-autoreload = 1), then watched like the others.
    assert_eq!(body(&ebb, &t, "/lazy"), "lazy one");
    let lazy = src.join("lazymod.py");
    let mark = ebb.mark();
    let reloaded = poll_until(START, || {
        // Until the worker's report came, an edit changes nothing: edit again.
        write_atomic(&lazy, "VALUE = 'lazy second'\n");
        ebb.wait_for_after(
            mark,
            |l| l.is_event("watch-reload"),
            Duration::from_millis(1500),
        )
        .ok()
    })
    .unwrap_or_else(|| ebb.fail("an edit of the lazily imported module never reloaded"));
    assert!(
        reloaded.message().contains("lazymod.py changed"),
        "{}",
        reloaded.raw
    );
    replaced(&ebb, mark, 2);
    let t = ebb.target();
    assert_eq!(body(&ebb, &t, "/lazy"), "lazy second");
}

/// py-autoreload with lazy-apps: each worker imports the app and reports its modules itself.
#[test]
fn py_autoreload_with_lazy_apps() {
    let (dir, ebb) = site(
        &[("app.py", APP), ("helper.py", "VALUE = 'one'\n")],
        "app.py",
        "py-autoreload = 2\nlazy-apps = true\n",
        1,
    );
    let t = ebb.target();
    assert_eq!(body(&ebb, &t, "/"), "one");
    let mark = ebb.mark();
    write_atomic(&dir.path().join("helper.py"), "VALUE = 'second'\n");
    let line = ebb.expect_after(mark, "the reload", |l| l.is_event("watch-reload"), START);
    assert!(line.message().contains("helper.py changed"), "{}", line.raw);
    replaced(&ebb, mark, 1);
    let t = ebb.target();
    assert_eq!(body(&ebb, &t, "/"), "second");
}

/// fs-reload: a directory (a file created or removed in it) and a file (written), each a
/// graceful reload that names the path.
#[test]
fn fs_reload_watches_a_directory_and_a_file() {
    let dir = Arc::new(tempdir());
    let deploy = dir.path().join("artifacts");
    std::fs::create_dir(&deploy).unwrap();
    let stamp = dir.path().join("stamp");
    std::fs::write(&stamp, "1").unwrap();
    let file = ini(
        dir.path(),
        &format!(
            "example-app = true\nprocesses = 2\nfs-reload = {}/\nfs-reload = {}\n",
            deploy.display(),
            stamp.display()
        ),
    );
    let ebb = Ebb::builder().dir(dir.clone()).arg(file).start();
    ebb.ready(2);
    for (n, (change, named)) in [
        (
            Box::new(|| std::fs::write(deploy.join("build-1.tar"), "x").unwrap()) as Box<dyn Fn()>,
            format!(
                "{} changed (fs-reload",
                deploy.join("build-1.tar").display()
            ),
        ),
        (
            Box::new(|| std::fs::remove_file(deploy.join("build-1.tar")).unwrap()),
            "build-1.tar changed (fs-reload".to_string(),
        ),
        (
            Box::new(|| std::fs::write(&stamp, "2").unwrap()),
            format!("{} changed (fs-reload)", stamp.display()),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mark = ebb.mark();
        change();
        let line = ebb.expect_after(mark, "the reload", |l| l.is_event("watch-reload"), SOON);
        assert!(line.message().contains(&named), "{named}: {}", line.raw);
        let generation = n + 2;
        ebb.expect_after(
            mark,
            "the new generation",
            |l| l.is_event("reload") && l.message().contains(&format!("generation {generation}")),
            SOON,
        );
        ebb.wait_ready(mark, 2, SOON);
    }
}

/// reload-on-as: a worker whose address space (VSZ) passes the limit is recycled gracefully
/// (its RSS stays small: the mapping is never touched, so reload-on-rss would not see it).
#[test]
fn reload_on_as_recycles_a_worker_over_its_address_space() {
    const GROWS: &str = r#"
import mmap, os
KEEP = []

def application(environ, start_response):
    if environ["PATH_INFO"] == "/grow":
        KEEP.append(mmap.mmap(-1, 1024 << 20))   # 1 GiB of address space, not touched
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("pid=%d" % os.getpid()).encode()]
"#;
    let (_dir, ebb) = site(
        &[("app.py", GROWS)],
        "app.py",
        "reload-on-as = 512\nreload-on-rss = 512\n",
        1,
    );
    let t = ebb.target();
    let first = get_ok(&ebb, &t, "/").pid().expect("pid");
    let mark = ebb.mark();
    assert_eq!(get_ok(&ebb, &t, "/grow").pid(), Some(first));
    // Sampled every 5 s.
    let line = ebb.expect_after(
        mark,
        "the recycle",
        |l| l.is_event("recycle") && l.pid() == Some(first),
        Duration::from_secs(20),
    );
    assert!(
        line.message().contains("reload-on-as: address space")
            && line.message().contains("over 512 MiB"),
        "{}",
        line.raw
    );
    ebb.wait_ready(mark, 1, START);
    ebb.expect_after(
        mark,
        "the old worker's drain",
        |l| l.is_event("drained") && l.pid() == Some(first),
        SOON,
    );
    let t = ebb.target();
    assert_ne!(get_ok(&ebb, &t, "/").pid(), Some(first));
}

/// harakiri-graceful-timeout: a worker stuck in a request is replaced (harakiri), drained,
/// and killed that long after its drain began, not after drain-timeout (60 s here: the
/// 30 s bound on the kill fails without the option).
#[test]
fn harakiri_graceful_timeout_bounds_the_stuck_workers_drain() {
    const HANGS: &str = r#"
import os, time

def application(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        time.sleep(120)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("pid=%d" % os.getpid()).encode()]
"#;
    let (_dir, ebb) = site(
        &[("app.py", HANGS)],
        "app.py",
        "harakiri = 1\nharakiri-graceful-timeout = 1\ndrain-timeout = 60\n",
        1,
    );
    let t = ebb.target();
    let stuck = get_ok(&ebb, &t, "/").pid().expect("pid");
    let mark = ebb.mark();
    let hang = {
        let t = t.clone();
        std::thread::spawn(move || get(&t, "/hang").map(|r| r.status))
    };
    ebb.expect_after(
        mark,
        "the stuck worker's drain",
        |l| l.is_event("drain") && l.pid() == Some(stuck),
        Duration::from_secs(30),
    );
    let kill = ebb.expect_after(
        mark,
        "the kill",
        |l| l.is_event("kill") && l.pid() == Some(stuck),
        Duration::from_secs(30),
    );
    assert!(
        kill.message()
            .starts_with("harakiri-graceful-timeout: killing"),
        "{}",
        kill.raw
    );
    // The client sees the connection end, not a 60 s wait.
    assert!(
        hang.join().unwrap().is_err(),
        "the stuck request got no answer"
    );
    let t = ebb.target();
    assert_ne!(get_ok(&ebb, &t, "/").pid(), Some(stuck));
}

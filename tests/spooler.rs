//! uWSGI's spooler with real processes: an app queues tasks from a request (`uwsgi.spool`,
//! uwsgidecorators), spooler processes run them (their side effect is a line in a file), retry,
//! order and priorities, `at`, several processes never running a task twice, a stop that lets
//! the task in progress finish, a task cut short that stays on disk and is named, and
//! spooler-harakiri.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use nix::sys::signal::Signal;

struct Setup {
    dir: Arc<tempfile::TempDir>,
    spool: PathBuf,
    out: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = Arc::new(tempdir());
        let spool = dir.path().join("spool");
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        Setup { dir, spool, out }
    }

    /// ebb running `tests/wsgi_apps/spooler/APP` with a spooler on `self.spool`.
    fn start(&self, app: &str, extra: &[&str]) -> Ebb {
        let app = wsgi_app("spooler").join(app);
        let mut args = vec![
            "--http-socket".to_string(),
            "127.0.0.1:0".into(),
            "--wsgi-file".into(),
            app.display().to_string(),
            "--spooler".into(),
            self.spool.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Ebb::builder()
            .dir(self.dir.clone())
            .env("SPOOL_OUT", self.out.display().to_string())
            .args(args)
            .start()
    }

    /// The lines the spooler function wrote so far.
    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.out.join("log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Wait until the function's log has `n` lines starting with `prefix`.
    fn wait_log(&self, ebb: &Ebb, prefix: &str, n: usize, timeout: Duration) -> Vec<String> {
        poll_until(timeout, || {
            let l: Vec<String> = self
                .log()
                .into_iter()
                .filter(|l| l.starts_with(prefix))
                .collect();
            (l.len() >= n).then_some(l)
        })
        .unwrap_or_else(|| {
            ebb.fail(&format!(
                "waiting for {n} line(s) {prefix:?} from the spooler; it wrote {:?}",
                self.log()
            ))
        })
    }

    /// Task files left in the spool directory (priority subdirectories included).
    fn tasks(&self) -> Vec<PathBuf> {
        fn walk(d: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if e
                    .file_name()
                    .to_string_lossy()
                    .starts_with("uwsgi_spoolfile_on_")
                {
                    out.push(p);
                }
            }
        }
        let mut v = Vec::new();
        walk(&self.spool, &mut v);
        v
    }
}

/// `GET path` that must answer 200: the body.
fn fetch(ebb: &Ebb, t: &Target, path: &str) -> String {
    get_ok(ebb, t, path).body
}

fn spooler_ready(ebb: &Ebb, n: usize) {
    ebb.wait_n_after(
        0,
        n,
        |l| l.str_field("source") == Some("spooler") && l.message().contains("spooler ready"),
        SOON,
    )
    .unwrap_or_else(|e| ebb.fail(&format!("waiting for {n} spooler(s): {e}")));
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_task_queued_by_a_request_runs_at_once_and_is_removed() {
    let s = Setup::new();
    // The default frequency is 30 s: running within 3 s means the new task woke the spooler.
    let ebb = s.start("app.py", &[]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    let url = format!("http://{}/spool?name=first&body=70000", ebb.addr());
    let out = Command::new("curl").args(["-sf", &url]).output().unwrap();
    assert!(out.status.success(), "curl: {out:?}");
    let file = String::from_utf8(out.stdout).unwrap();
    assert!(
        file.starts_with(&format!("{}/uwsgi_spoolfile_on_", s.spool.display())),
        "uwsgi.spool() returns the task's path: {file}"
    );
    let t0 = Instant::now();
    let ran = s.wait_log(&ebb, "ran first", 1, Duration::from_secs(3));
    assert!(t0.elapsed() < Duration::from_secs(3));
    // The body (bigger than the 64 KiB of the vars) reaches the function as env['body'].
    s.wait_log(&ebb, "body 70000", 1, SOON);
    poll_until(SOON, || s.tasks().is_empty().then_some(()))
        .unwrap_or_else(|| ebb.fail(&format!("SPOOL_OK left {:?}", s.tasks())));
    // The spooler's lines are in ebb's log, tagged like a mule's.
    let done = ebb.expect_after(
        0,
        "the spooler's done line",
        |l| l.str_field("source") == Some("spooler") && l.message().contains("done with task"),
        SOON,
    );
    assert_eq!(done.int_field("spooler"), Some(1), "{}", done.raw);
    let pid: i32 = ran[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(done.pid(), Some(pid), "{}", done.raw);
    // worker_id, numproc and opt as uWSGI gives them.
    let info = fetch(&ebb, &t, "/info");
    assert_eq!(
        info,
        format!("worker 1 numproc 1 spooler b'{}'", s.spool.display())
    );
}

#[test]
fn spool_retry_keeps_the_task_and_it_runs_again() {
    let s = Setup::new();
    let ebb = s.start("app.py", &["--spooler-frequency", "1"]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    fetch(&ebb, &t, "/spool?name=again&mode=retry");
    s.wait_log(&ebb, "ran again", 1, SOON);
    assert_eq!(s.tasks().len(), 1, "SPOOL_RETRY keeps the file");
    s.wait_log(&ebb, "ran again", 2, SOON);
    poll_until(SOON, || s.tasks().is_empty().then_some(()))
        .unwrap_or_else(|| ebb.fail("the retried task was not removed once it returned OK"));
    // SPOOL_IGNORE keeps the file too.
    fetch(&ebb, &t, "/spool?name=ign&mode=ignore");
    s.wait_log(&ebb, "ran ign", 2, SOON);
    assert_eq!(s.tasks().len(), 1, "SPOOL_IGNORE keeps the file");
}

#[test]
fn ordered_tasks_run_by_priority_then_in_queue_order() {
    let s = Setup::new();
    let ebb = s.start("app.py", &["--spooler-ordered"]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    // The spooler is busy with this one while the others are queued.
    fetch(&ebb, &t, "/spool?name=blocker&mode=sleep&secs=1.5");
    s.wait_log(&ebb, "ran blocker", 1, SOON);
    for q in [
        "name=x1",
        "name=x2",
        "name=p9&priority=9",
        "name=x3",
        "name=p10&priority=10",
        "name=p1&priority=1",
    ] {
        fetch(&ebb, &t, &format!("/spool?{q}"));
    }
    let ran = s.wait_log(&ebb, "ran ", 7, SOON);
    let order: Vec<&str> = ran.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(order, ["blocker", "p1", "p9", "p10", "x1", "x2", "x3"]);
}

#[test]
fn a_task_with_at_waits_for_its_time() {
    let s = Setup::new();
    let ebb = s.start("app.py", &[]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    let at = now_s().ceil() + 2.0;
    fetch(&ebb, &t, &format!("/spool?name=later&at={at}"));
    s.wait_log(&ebb, "ran later", 1, Duration::from_secs(6));
    let ran_at = now_s();
    assert!(ran_at >= at, "ran at {ran_at}, before its time {at}");
    // The frequency is 30 s: the spooler woke at the task's time, not at its next pass.
    assert!(ran_at < at + 2.0, "ran at {ran_at}, long after {at}");
}

#[test]
fn several_processes_never_run_a_task_twice() {
    let s = Setup::new();
    let ebb = s.start("app.py", &["--spooler-processes", "4"]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 4);
    let n = 60;
    let mut c = Conn::open(&t).unwrap();
    for i in 0..n {
        let r = c
            .get(&format!("/spool?name=t{i}&mode=sleep&secs=0.02"), true)
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let ran = s.wait_log(&ebb, "finished ", n, Duration::from_secs(30));
    poll_until(SOON, || s.tasks().is_empty().then_some(()))
        .unwrap_or_else(|| ebb.fail("tasks left"));
    let all = s.log();
    let runs: Vec<&String> = all.iter().filter(|l| l.starts_with("ran ")).collect();
    assert_eq!(runs.len(), n, "each task runs once: {runs:?}");
    let mut names: Vec<&str> = runs.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
    let mut pids: Vec<&str> = ran.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
    pids.sort();
    pids.dedup();
    assert!(pids.len() > 1, "only one process ran tasks: {pids:?}");
}

#[test]
fn a_stop_lets_the_running_task_finish() {
    let s = Setup::new();
    let mut ebb = s.start("app.py", &[]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    fetch(&ebb, &t, "/spool?name=long&mode=sleep&secs=2");
    s.wait_log(&ebb, "ran long", 1, SOON);
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(SOON);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        s.log()
            .iter()
            .filter(|l| l.starts_with("finished long"))
            .count(),
        1
    );
    assert!(s.tasks().is_empty(), "the finished task is removed");
    assert_eq!(ebb.count(|l| l.message().contains("LOST WORK")), 0);
}

#[test]
fn a_task_cut_short_stays_on_disk_and_is_named() {
    let s = Setup::new();
    let lost = s.dir.path().join("lost.jsonl");
    let mut ebb = s.start(
        "app.py",
        &[
            "--drain-timeout",
            "1",
            "--lost-work-log",
            &lost.display().to_string(),
        ],
    );
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    let file = fetch(&ebb, &t, "/spool?name=stuck&mode=sleep&secs=60");
    s.wait_log(&ebb, "ran stuck", 1, SOON);
    ebb.signal(Signal::SIGTERM);
    ebb.expect_exit(SOON);
    let line = ebb.expect_after(
        0,
        "the lost task",
        |l| l.message().contains("LOST WORK"),
        Duration::from_secs(1),
    );
    assert!(line.message().contains(&file), "{}", line.raw);
    assert_eq!(s.tasks(), [PathBuf::from(&file)], "the task stays");
    let journal = std::fs::read_to_string(&lost).unwrap();
    let entry: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(entry["spooler_task"], file.as_str(), "{journal}");

    // Started again, the spooler runs it again.
    let ebb = s.start("app.py", &[]);
    s.wait_log(&ebb, "ran stuck", 2, SOON);
}

#[test]
fn spooler_harakiri_kills_a_stuck_task_and_a_new_process_takes_over() {
    let s = Setup::new();
    let ebb = s.start("app.py", &["--spooler-harakiri", "1"]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    let file = fetch(&ebb, &t, "/spool?name=stuck&mode=sleep&secs=60");
    s.wait_log(&ebb, "ran stuck", 1, SOON);
    let h = ebb.expect_after(
        0,
        "the harakiri line",
        |l| l.message().contains("HARAKIRI"),
        Duration::from_secs(4),
    );
    assert!(h.message().contains(&file), "{}", h.raw);
    let lost = ebb.expect_after(0, "LOST WORK", |l| l.message().contains("LOST WORK"), SOON);
    assert!(lost.message().contains(&file), "{}", lost.raw);
    // A new spooler process starts, and runs the task again (and kills it again).
    ebb.expect_after(
        0,
        "the new spooler",
        |l| l.message().contains("spooler 1") && l.message().contains("restart 1"),
        SOON,
    );
    s.wait_log(&ebb, "ran stuck", 2, SOON);
    assert!(s.tasks().contains(&PathBuf::from(&file)));
}

#[test]
fn uwsgidecorators_spool_with_pickled_arguments_and_postfork() {
    let s = Setup::new();
    let ebb = s.start("deco_app.py", &[]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    fetch(&ebb, &t, "/send?to=bob");
    fetch(&ebb, &t, "/raw?name=zed");
    s.wait_log(
        &ebb,
        "mail to bob subject hello count 3 forked True",
        1,
        SOON,
    );
    s.wait_log(&ebb, "plain zed", 1, SOON);
    poll_until(SOON, || s.tasks().is_empty().then_some(()))
        .unwrap_or_else(|| ebb.fail("@spool tasks are done once the function returns"));
}

#[test]
fn max_tasks_recycles_the_spooler_process() {
    let s = Setup::new();
    let ebb = s.start("app.py", &["--spooler-max-tasks", "1"]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    fetch(&ebb, &t, "/spool?name=one");
    let first = s.wait_log(&ebb, "ran one", 1, SOON);
    ebb.expect_after(0, "the recycle", |l| l.message().contains("recycled"), SOON);
    fetch(&ebb, &t, "/spool?name=two");
    let second = s.wait_log(&ebb, "ran two", 1, SOON);
    let pid = |l: &str| l.rsplit(' ').next().unwrap().to_string();
    assert_ne!(pid(&first[0]), pid(&second[0]));
}

#[test]
fn a_uwsgi_ini_with_the_corpus_spooler_options_runs_unchanged() {
    let s = Setup::new();
    let root = s.dir.path();
    // A plain app; the spooler function comes from spooler-import, run in the spooler only.
    std::fs::write(
        root.join("plain.py"),
        "import uwsgi\n\ndef application(environ, start_response):\n    \
         name = uwsgi.spool({b'name': b'from-ini'})\n    \
         start_response('200 OK', [])\n    return [name]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("tasks.py"),
        "import os, uwsgi\n\ndef run(env):\n    \
         with open(os.path.join(os.environ['SPOOL_OUT'], 'log'), 'a') as f:\n        \
         f.write('ran %s in %s\\n' % (env[b'name'].decode(), os.getcwd()))\n    \
         return uwsgi.SPOOL_OK\n\nuwsgi.spooler = run\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("work")).unwrap();
    let ini = root.join("uwsgi.ini");
    std::fs::write(
        &ini,
        format!(
            "[uwsgi]\nbase = {}\nhttp-socket = 127.0.0.1:0\nmaster = true\n\
             wsgi-file = %(base)/plain.py\nspooler = %(base)/spoolertasks\n\
             spooler-processes = 2\nspooler-frequency = 5\nspooler-ordered = 1\n\
             spooler-harakiri = 600\nspooler-quiet = 1\nspooler-import = %(base)/tasks.py\n\
             spooler-chdir = %(base)/work\n",
            root.display()
        ),
    )
    .unwrap();
    let ebb = Ebb::builder()
        .dir(s.dir.clone())
        .env("SPOOL_OUT", s.out.display().to_string())
        .args(["--ini", &ini.display().to_string()])
        .start();
    let t = ebb.ready(1);
    spooler_ready(&ebb, 2);
    let file = fetch(&ebb, &t, "/");
    assert!(file.contains("/spoolertasks/uwsgi_spoolfile_on_"), "{file}");
    let ran = s.wait_log(&ebb, "ran from-ini", 1, SOON);
    assert_eq!(
        ran[0],
        format!("ran from-ini in {}", root.join("work").display())
    );
    // spooler-quiet: no line per task, and no warning about the spooler options.
    assert_eq!(
        ebb.count(|l| l.message().contains("managing request") || l.message().contains("written")),
        0
    );
    assert_eq!(
        ebb.count(|l| l.message().contains("unsupported") && l.message().contains("spooler")),
        0
    );
}

#[test]
fn a_spooler_without_a_python_app_is_a_configuration_error() {
    let (status, _out, err) = run_ebb(
        &[
            "--check-config",
            "--example-app",
            "--http-socket",
            "127.0.0.1:0",
            "--spooler",
            "/tmp",
        ],
        SOON,
    );
    assert!(!status.success(), "{err}");
    assert!(err.contains("has no Python app"), "{err}");
}

#[test]
fn a_reload_lets_the_running_task_finish_then_starts_new_spoolers() {
    let s = Setup::new();
    let ebb = s.start("app.py", &[]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 1);
    fetch(&ebb, &t, "/spool?name=during&mode=sleep&secs=1.5");
    s.wait_log(&ebb, "ran during", 1, SOON);
    let mark = ebb.mark();
    ebb.signal(Signal::SIGHUP);
    s.wait_log(&ebb, "finished during", 1, SOON);
    // The new configuration's spooler starts once the old one has exited, and runs new tasks.
    ebb.expect_after(
        mark,
        "the new spooler",
        |l| l.str_field("source") == Some("spooler") && l.message().contains("spooler ready"),
        SOON,
    );
    ebb.wait_ready(mark, 1, SOON);
    fetch(&ebb, &t, "/spool?name=after");
    s.wait_log(&ebb, "ran after", 1, SOON);
    assert!(s.tasks().is_empty());
    assert_eq!(ebb.count(|l| l.message().contains("LOST WORK")), 0);
}

#[test]
fn check_config_imports_an_app_with_spool_decorators() {
    let s = Setup::new();
    let app = wsgi_app("spooler").join("deco_app.py");
    let spool = s.spool.display().to_string();
    let (status, _out, err) = run_ebb(
        &[
            "--check-config",
            "--http-socket",
            "127.0.0.1:0",
            "--wsgi-file",
            &app.display().to_string(),
            "--env",
            &format!("SPOOL_OUT={}", s.out.display()),
            "--spooler",
            &spool,
        ],
        SOON,
    );
    assert!(status.success(), "{err}");
}

#[test]
fn several_spooler_dirs_each_run_their_own_tasks() {
    let s = Setup::new();
    let second = s.dir.path().join("second");
    let ebb = s.start("app.py", &["--spooler", &second.display().to_string()]);
    let t = ebb.ready(1);
    spooler_ready(&ebb, 2);
    let file = fetch(
        &ebb,
        &t,
        &format!("/spool?name=two&spooler={}", second.display()),
    );
    assert!(
        file.starts_with(&format!("{}/", second.display())),
        "{file}"
    );
    s.wait_log(&ebb, "ran two", 1, SOON);
    let done = ebb.expect_after(
        0,
        "the second spooler's done line",
        |l| l.str_field("source") == Some("spooler") && l.message().contains("done with task"),
        SOON,
    );
    assert_eq!(done.int_field("spooler"), Some(2), "{}", done.raw);
    assert!(done.message().contains(&second.display().to_string()));
    // The first directory is the default.
    fetch(&ebb, &t, "/spool?name=one");
    let ran = s.wait_log(&ebb, "ran one", 1, SOON);
    let pid: i32 = ran[0].rsplit(' ').next().unwrap().parse().unwrap();
    let first = ebb.expect_after(
        0,
        "the first spooler",
        |l| l.int_field("spooler") == Some(1) && l.message().contains("spooler ready"),
        SOON,
    );
    assert_eq!(first.pid(), Some(pid));
}

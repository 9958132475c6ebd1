//! Process titles, so `ps` and `top` say who is who: `ebb master ARGS…` and
//! `ebb worker 2 gen 3 mysite.wsgi` (uWSGI's `procname*` options change them).
//!
//! Without `unsafe`, a process cannot rewrite its own argv; it can be *started* with the
//! argv[0] it should show. So ebb re-executes itself once at start with the master's title
//! as argv[0] (same pid, same fds and environment: systemd's `LISTEN_PID`/`NOTIFY_SOCKET`
//! still hold), and gives each worker its title in `EBB_PROCNAME`: `ebb example-app` applies
//! it the same way, the Python worker sets its thread name from it (`prctl(PR_SET_NAME)`),
//! other programs may use it.

use crate::config::{Config, Ops, WorkerCommand};

/// The app, in a word: the module, the file's name, or the program's name.
pub fn app_name(c: &Config) -> String {
    match &c.command {
        WorkerCommand::ExampleApp => "example-app".into(),
        WorkerCommand::Python(app) => match (&app.module, &app.wsgi_file) {
            (Some(m), _) => m.split(':').next().unwrap_or(m).to_string(),
            (None, Some(f)) => f
                .file_name()
                .map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into()),
            _ => "python".into(),
        },
        WorkerCommand::Exec(argv) => argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
            .unwrap_or_default(),
    }
}

fn wrap(o: &Ops, core: String) -> String {
    format!("{}{core}{}", o.procname_prefix, o.procname_append)
}

/// The master's argv[0] (its arguments follow it in `ps`).
pub fn master(o: &Ops) -> String {
    let core = match (&o.procname_master, &o.procname) {
        (Some(m), _) => m.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => "ebb master".into(),
    };
    wrap(o, core)
}

/// A worker's title.
pub fn worker(c: &Config, slot: usize, generation: u64) -> String {
    let core = match (&c.ops.procname, &c.command) {
        (Some(p), _) => p.clone(),
        // Its argument, `example-app`, follows in ps.
        (None, WorkerCommand::ExampleApp) => format!("ebb worker {slot} gen {generation}"),
        (None, _) => format!("ebb worker {slot} gen {generation} {}", app_name(c)),
    };
    wrap(&c.ops, core)
}

/// Re-execute this program with `title` as argv[0] and the same arguments, unless argv[0]
/// is already `title`. Returns only when that is not possible (the error says why); on
/// success the process image is replaced and it never returns.
pub fn become_titled(title: &str) -> std::io::Error {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    if args.next().is_some_and(|a| a == title) {
        return std::io::Error::other("already titled");
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return e,
    };
    // The kernel's 16-byte name for top and ps -o comm: the start of the title.
    std::process::Command::new(exe)
        .arg0(title)
        .args(args)
        .exec()
}

/// `top` shows the 15-byte `comm`; after the exec it is the executable's name. Set it to
/// the title's start (writing /proc/self/comm needs nothing unsafe).
pub fn set_comm(title: &str) {
    let short: String = title.chars().take(15).collect();
    let _ = std::fs::write("/proc/self/comm", short);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PythonApp;

    #[test]
    fn titles() {
        let mut c = Config {
            command: WorkerCommand::Python(PythonApp {
                module: Some("mysite.wsgi:application".into()),
                ..PythonApp::default()
            }),
            ..Config::default()
        };
        assert_eq!(worker(&c, 2, 3), "ebb worker 2 gen 3 mysite.wsgi");
        assert_eq!(master(&c.ops), "ebb master");
        c.ops.procname_prefix = "shop ".into();
        c.ops.procname_append = " [prod]".into();
        assert_eq!(
            worker(&c, 1, 1),
            "shop ebb worker 1 gen 1 mysite.wsgi [prod]"
        );
        c.ops.procname = Some("shop-w".into());
        assert_eq!(worker(&c, 1, 1), "shop shop-w [prod]");
        assert_eq!(master(&c.ops), "shop shop-w [prod]");
        c.ops.procname_master = Some("boss".into());
        assert_eq!(master(&c.ops), "shop boss [prod]");
        c.command = WorkerCommand::Exec(vec!["/usr/bin/node".into(), "s.js".into()]);
        assert_eq!(app_name(&c), "node");
    }
}

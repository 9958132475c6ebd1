//! The spooler processes, the master's side (`crate::config::spooler`). They are side
//! processes: started, restarted, stopped (TERM: the task in progress finishes, KILL after
//! `drain-timeout`) and replaced on a reload by `crate::master::daemons`. This file says what
//! they run, creates their directories, and tells when one ended in the middle of a task.
//!
//! A spooler process writes the path of the task it runs to `spooler-PID.task` in the
//! master's runtime directory, and empties it when the task is over. When the process ends
//! and that file names a task, the task was cut short (killed at the end of the drain, by
//! `spooler-harakiri`, or it crashed): the task file is still in its directory and runs again,
//! and the master says so as LOST WORK, in the log and in `--lost-work-log`.

use std::io::Write;
use std::path::PathBuf;

use tracing::{error, info};

use super::Master;
use super::workers::set_env;
use crate::config::WorkerCommand;
use crate::policy::ExitStatus;

impl Master {
    /// The argv of a spooler process on `dir`: the worker's launcher in spooler mode.
    pub(super) fn spooler_argv(&self, dir: &str) -> Vec<String> {
        let WorkerCommand::Python(app) = &self.config.command else {
            // Refused by the configuration check (a spooler needs a Python app).
            return vec!["/bin/false".into()];
        };
        let launcher = self.rundir.path().join("python/run_worker.py");
        let mut v = vec![
            app.interpreter(),
            launcher.display().to_string(),
            "--spooler".into(),
            dir.to_string(),
        ];
        v.extend(app.app_args());
        v
    }

    /// What a spooler process is told beyond the workers' environment.
    pub(super) fn spooler_env(&self, env: &mut Vec<(String, String)>) {
        for (k, v) in self.config.side.spooler.env() {
            set_env(env, k, v);
        }
        let py = self.rundir.path().join("python").display().to_string();
        let pp = match env.iter().find(|(k, _)| k == "PYTHONPATH") {
            Some((_, old)) if !old.is_empty() => format!("{py}:{old}"),
            _ => py,
        };
        set_env(env, "PYTHONPATH", pp);
        set_env(env, "PYTHONUNBUFFERED", "1".into());
        set_env(
            env,
            "EBB_SPOOLER_STATE_DIR",
            self.rundir.path().display().to_string(),
        );
        set_env(env, "EBB_PROCESSES", self.config.processes.to_string());
    }

    /// Create the spooler directories that do not exist yet (as uWSGI does), as the user the
    /// spoolers run as.
    pub(super) fn spooler_prepare(&self) {
        for dir in &self.config.side.spooler.dirs {
            if dir.is_dir() {
                continue;
            }
            match std::fs::create_dir_all(dir) {
                Ok(()) => {
                    if let Some((uid, gid)) = self.ids {
                        let _ = std::os::unix::fs::chown(dir, Some(uid), Some(gid));
                    }
                    info!(
                        side = "spooler",
                        "created the spooler directory {}",
                        dir.display()
                    );
                }
                Err(e) => error!(
                    side = "spooler",
                    "cannot create the spooler directory {}: {e}; its spooler processes will \
                     fail until it exists",
                    dir.display()
                ),
            }
        }
    }

    fn spooler_state_file(&self, pid: i32) -> PathBuf {
        self.rundir.path().join(format!("spooler-{pid}.task"))
    }

    /// Process `pid` ended: when it was a spooler in the middle of a task, say which task
    /// was cut short (it stays in its directory and runs again).
    pub(super) fn spooler_exited(&mut self, pid: i32, n: usize, status: ExitStatus) {
        let path = self.spooler_state_file(pid);
        let Ok(task) = std::fs::read_to_string(&path) else {
            return;
        };
        let _ = std::fs::remove_file(&path);
        let task = task.trim();
        // Empty: it was between tasks. Gone: the task ended before the file was emptied.
        if task.is_empty() || !std::path::Path::new(task).exists() {
            return;
        }
        error!(
            side = "spooler",
            n,
            pid,
            "LOST WORK: spooler {n} ended ({status}) while running the task {task}: the task \
             file stays where it is and runs again"
        );
        if let Some(f) = &mut self.lost_log {
            let line = serde_json::json!({
                "time": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                "spooler": n,
                "pid": pid,
                "reason": status.to_string(),
                "spooler_task": task,
                "kept": true,
            });
            if let Err(e) = writeln!(f, "{line}") {
                error!("cannot append to the lost-work log: {e}");
            }
        }
    }
}

//! The master's side of each worker: spawning it with its environment, its notify socket,
//! reaping it and reading what it reports.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tracing::{error, info, warn};

use super::Master;
use crate::config::WorkerCommand;
use crate::logs::WorkerTag;
use crate::logs::pipes::Pipes;
use crate::notify;
use crate::policy::{Event, ExitStatus, WorkerId};
use crate::spawn;

/// What [`Master::spawn`] did.
pub(super) enum Started {
    /// Forked and executed: this is its pid.
    Pid(i32),
    /// Asked of the fork server: [`Event::Spawned`] (or `SpawnFailed`) follows.
    Asked,
}

/// How many datagrams are read from one worker per turn, so a flood cannot stall the loop.
const NOTIFY_BURST: usize = 64;
/// How many exited workers' generations are remembered for their last log lines.
const GONE_KEPT: usize = 64;
/// Warnings about bad datagrams from one worker are written at most this often.
const NOTIFY_WARN_EVERY: Duration = Duration::from_secs(10);

/// The master's side of one worker: its notify socket and datagram accounting.
pub(super) struct WorkerIo {
    pub(super) notify: UnixDatagram,
    path: PathBuf,
    bad: u64,
    last_warn: Option<Instant>,
    slot: usize,
    pub(super) pid: Option<i32>,
    pub(super) generation: u64,
    respawn: u64,
    /// The worker's stdout, stderr and record pipes (`crate::logs::pipes`).
    pub(super) pipes: Option<Pipes>,
}

impl WorkerIo {
    /// The stamp on this worker's lines.
    pub(super) fn tag(&self) -> WorkerTag {
        WorkerTag {
            slot: self.slot,
            pid: self.pid.unwrap_or(0),
            generation: self.generation,
            respawn: self.respawn,
            side: None,
        }
    }
}

/// The environment every worker starts from: ebb's own, without systemd's per-process
/// variables (they describe ebb, not the worker; `WATCHDOG_USEC` is set again in `spawn`
/// when `--watchdog` is). The `EBB_*` variables ebb sets replace inherited ones in `spawn`;
/// other `EBB_*` variables pass through.
pub(super) fn base_env() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "LISTEN_FDS"
                    | "LISTEN_PID"
                    | "LISTEN_FDNAMES"
                    | "NOTIFY_SOCKET"
                    | "WATCHDOG_USEC"
                    | "WATCHDOG_PID"
            )
        })
        .collect()
}

/// Set `key` in `env`, replacing any earlier value (a duplicate would be read differently
/// by different languages' `getenv`).
pub(super) fn set_env(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value));
}

impl Master {
    pub(super) fn forget(&mut self, id: WorkerId) {
        if let Some(io) = self.io.remove(&id) {
            // Its last lines (drained, exited) are logged after this: keep its generation.
            if self.gone.len() == GONE_KEPT {
                self.gone.pop_front();
            }
            self.gone.push_back((id, io.generation));
            let _ = std::fs::remove_file(&io.path);
            if io.bad > 1 {
                warn!(
                    worker = io.slot,
                    pid = io.pid.unwrap_or(0),
                    "{} bad notify messages were dropped from this worker in all",
                    io.bad
                );
            }
        }
    }

    /// The worker's command line; `fork_server`: the Python fork server's (the same
    /// arguments after `--fork-server`).
    pub(super) fn worker_argv(&self, fork_server: bool) -> Result<Vec<String>> {
        Ok(match &self.config.command {
            WorkerCommand::ExampleApp => {
                let exe = std::env::current_exe().context("finding ebb's own executable")?;
                vec![exe.display().to_string(), "example-app".into()]
            }
            WorkerCommand::Exec(argv) => argv.clone(),
            WorkerCommand::Python(app) => {
                let python = app.interpreter();
                let mut v = vec![python];
                v.extend(self.config.python_opts.interpreter_flags());
                v.extend([self
                    .rundir
                    .path()
                    .join("python/run_worker.py")
                    .display()
                    .to_string()]);
                if fork_server {
                    v.push("--fork-server".into());
                }
                v.extend(app.app_args());
                v.extend(["--threads".into(), app.threads.to_string()]);
                if let Some(h) = self.config.harakiri {
                    v.extend(["--harakiri".into(), h.as_secs().max(1).to_string()]);
                }
                v
            }
        })
    }

    /// The environment every worker of this configuration shares (the fork server's too):
    /// ebb's own, `--env`, and what ebb tells each worker beyond its identity.
    pub(super) fn common_env(&self) -> Vec<(String, String)> {
        let mut env = base_env();
        for (k, v) in &self.config.env {
            set_env(&mut env, k, v.clone());
        }
        for (k, v) in [
            ("EBB_DRAIN_SIGNAL", self.config.drain_signal.as_str().into()),
            // For a worker orphaned by a killed master: nobody enforces the deadline then.
            (
                "EBB_DRAIN_TIMEOUT",
                format!("{}", self.config.drain_timeout.as_secs_f64()),
            ),
        ] {
            set_env(&mut env, k, v);
        }
        if let Some(p) = &self.config.lost_work_log {
            // For a worker orphaned by a killed master: it appends its own losses.
            set_env(&mut env, "EBB_LOST_WORK_LOG", p.display().to_string());
        }
        if let Some(w) = self.config.watchdog {
            // systemd's convention: send WATCHDOG=1 every WATCHDOG_USEC/2. No WATCHDOG_PID,
            // which sd_watchdog_enabled() accepts: a `sh -c` wrapper's child may send too.
            let usec = w.as_micros().clamp(1, u128::from(u64::MAX));
            set_env(&mut env, "WATCHDOG_USEC", usec.to_string());
        }
        // uWSGI's spooler: where uwsgi.spool() writes (ebb_worker.uwsgi_api).
        for (k, v) in self.config.side.spooler.env() {
            set_env(&mut env, k, v);
        }
        set_env(&mut env, "EBB_PROCESSES", self.config.processes.to_string());
        if let WorkerCommand::Python(_) = self.config.command {
            for (k, v) in self.python_opts_env() {
                set_env(&mut env, k, v);
            }
            let dir = self.rundir.path().join("python").display().to_string();
            let pp = match env.iter().find(|(k, _)| k == "PYTHONPATH") {
                Some((_, old)) if !old.is_empty() => format!("{dir}:{old}"),
                _ => dir,
            };
            set_env(&mut env, "PYTHONPATH", pp);
            set_env(&mut env, "PYTHONUNBUFFERED", "1".into());
            // Static files and routing: one variable per option, repeated values one per line.
            let mut statics: Vec<(&str, String)> = Vec::new();
            for (k, v) in &self.config.layer_env {
                match statics.iter_mut().find(|(key, _)| key == k) {
                    Some((_, all)) => {
                        all.push('\n');
                        all.push_str(v);
                    }
                    None => statics.push((k, v.clone())),
                }
            }
            for (k, v) in statics {
                set_env(&mut env, k, v);
            }
        }
        for (k, v) in self.config.logs.worker_env() {
            set_env(&mut env, k, v);
        }
        env
    }

    /// Start worker `id`: by exec, or by asking the fork server of `generation` (the pid
    /// then comes later, as [`Event::Spawned`]).
    pub(super) fn spawn(
        &mut self,
        id: WorkerId,
        slot: usize,
        respawn: u64,
        generation: u64,
    ) -> Result<Started> {
        // Without inotify a removed runtime dir is noticed here, before it fails a start.
        if let Ok(true) = self.rundir.repair() {
            self.rebind_notify_sockets(&mut Vec::new());
        }
        let path = self.rundir.path().join(format!("w{id}.sock"));
        let _ = std::fs::remove_file(&path);
        let notify = UnixDatagram::bind(&path)
            .with_context(|| format!("binding the notify socket {}", path.display()))?;
        notify.set_nonblocking(true)?;
        if let Some((uid, gid)) = self.ids {
            // The worker runs as another user: let it (and only it) send to its socket.
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", path.display()))?;
        }
        self.io.insert(
            id,
            WorkerIo {
                notify,
                path: path.clone(),
                bad: 0,
                last_warn: None,
                slot,
                pid: None,
                generation,
                respawn,
                pipes: None,
            },
        );
        let mut env = self.common_env();
        let names: Vec<&str> = self.listeners.iter().map(|l| l.name.as_str()).collect();
        for (k, v) in [
            ("LISTEN_FDS", self.listeners.len().to_string()),
            ("LISTEN_FDNAMES", names.join(":")),
            ("NOTIFY_SOCKET", path.display().to_string()),
            ("EBB_WORKER_ID", slot.to_string()),
            ("EBB_RESPAWN", respawn.to_string()),
            ("EBB_CONFIG_GENERATION", generation.to_string()),
            ("EBB_MASTER_PID", std::process::id().to_string()),
            // The worker's process title (see crate::live::title).
            (
                "EBB_PROCNAME",
                crate::live::title::worker(&self.config, slot, generation),
            ),
        ] {
            set_env(&mut env, k, v);
        }
        let fds: Vec<RawFd> = self.listeners.iter().map(|l| l.fd()).collect();
        // The worker's output comes to the master through pipes (docs/protocol.md, "Log
        // records"); the record pipe is the fd after the sockets.
        let (pipes, ends) = Pipes::create().context("creating the worker's log pipes")?;
        set_env(&mut env, "EBB_LOG_FD", (3 + fds.len()).to_string());
        if let Some(io) = self.io.get_mut(&id) {
            io.pipes = Some(pipes);
        }
        let (env, ends) = if self.fork_mode() {
            match self.ask_fork(id, generation, env, ends)? {
                None => return Ok(Started::Asked),
                Some(back) => back,
            }
        } else {
            (env, ends)
        };
        let pid = self.exec_worker(&env, ends)?;
        if let Some(io) = self.io.get_mut(&id) {
            io.pid = Some(pid);
        }
        Ok(Started::Pid(pid))
    }

    /// Start a worker by exec with the environment and log pipes already made for it.
    pub(super) fn exec_worker(
        &mut self,
        env: &[(String, String)],
        ends: crate::logs::pipes::ChildEnds,
    ) -> Result<i32> {
        let argv = self.worker_argv(false)?;
        let stdin = self.workers_stdin()?;
        let fds: Vec<RawFd> = self.listeners.iter().map(|l| l.fd()).collect();
        let mut prepared = spawn::Prepared::new(&spawn::Command {
            argv: &argv,
            env,
            listen_fds: &fds,
            output: Some(spawn::Output {
                stdout: ends.stdout.as_raw_fd(),
                stderr: ends.stderr.as_raw_fd(),
                records: ends.records.as_raw_fd(),
            }),
            after: &[],
            chdir: self.config.chdir.as_deref(),
            ids: self.ids,
            death_signal: self.config.drain_signal as i32,
            stdin: stdin.as_ref().map(|f| f.as_raw_fd()),
        })?;
        let pid = prepared.spawn()?;
        // Only the worker holds the write ends now (`ends` is dropped on return): its exit,
        // and its children's, is EOF on the pipes.
        Ok(pid)
    }

    /// Reap every child that has exited.
    pub(super) fn reap(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            let (pid, status) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), ExitStatus::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    (pid.as_raw(), ExitStatus::Signal(sig as i32))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            if self.side_exited(pid, status, &mut events)
                || self.fork_server_exited(pid, status, &mut events)
                || self.keep_early_exit(pid, status)
            {
                continue;
            }
            self.last_words(pid, &mut events);
            events.push(Event::Exited { pid, status });
        }
        events
    }

    /// Read what an exited worker sent before it died, so its final counts are known and
    /// its last lines (a partial one included) are logged before its exit.
    pub(super) fn last_words(&mut self, pid: i32, events: &mut Vec<Event>) {
        if let Some(id) = self
            .io
            .iter()
            .find(|(_, io)| io.pid == Some(pid))
            .map(|(id, _)| *id)
        {
            self.read_notify(id, events);
            let limit = self.request_limit(id);
            if let Some(io) = self.io.get_mut(&id) {
                let tag = io.tag();
                if let Some(p) = &mut io.pipes {
                    p.finish(&tag, limit);
                }
            }
        }
    }

    fn request_limit(&self, id: WorkerId) -> Option<u64> {
        self.policy.worker(id).and_then(|w| w.request_limit)
    }

    /// Log what pipe `i` of worker `id` holds (a bounded amount per turn).
    pub(super) fn read_output(&mut self, id: WorkerId, i: usize) {
        let limit = self.request_limit(id);
        if let Some(io) = self.io.get_mut(&id) {
            let tag = io.tag();
            if let Some(p) = &mut io.pipes {
                p.read(i, &tag, limit);
            }
        }
    }

    /// The runtime dir or files in it were removed: put them back, and give every live
    /// worker whose notify socket is gone a new one at the same path (a worker sends to the
    /// path, so its next report arrives).
    pub(super) fn repair_rundir(&mut self, events: &mut Vec<Event>) {
        match self.rundir.repair() {
            Ok(_) => self.rebind_notify_sockets(events),
            Err(e) => error!("{e:#}; workers cannot start or report until it exists again"),
        }
    }

    fn rebind_notify_sockets(&mut self, events: &mut Vec<Event>) {
        let gone: Vec<WorkerId> = self
            .io
            .iter()
            .filter(|(_, io)| !io.path.exists())
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            // What the old socket still holds was sent before the removal: read it first.
            self.read_notify(id, events);
            let Some(io) = self.io.get_mut(&id) else {
                continue;
            };
            let rebound = UnixDatagram::bind(&io.path).and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(s)
            });
            match rebound {
                Ok(sock) => {
                    if let Some((uid, gid)) = self.ids
                        && let Err(e) = std::os::unix::fs::chown(&io.path, Some(uid), Some(gid))
                    {
                        warn!(worker = io.slot, "chown {}: {e}", io.path.display());
                    }
                    io.notify = sock;
                    info!(
                        worker = io.slot,
                        pid = io.pid.unwrap_or(0),
                        "notify socket {} recreated",
                        io.path.display()
                    );
                }
                Err(e) => error!(
                    worker = io.slot,
                    pid = io.pid.unwrap_or(0),
                    "cannot recreate the notify socket {}: {e}; this worker's reports are lost \
                     until it is replaced",
                    io.path.display()
                ),
            }
        }
    }

    pub(super) fn read_notify(&mut self, id: WorkerId, events: &mut Vec<Event>) {
        let Some(io) = self.io.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; notify::MAX_DATAGRAM + 1];
        for _ in 0..NOTIFY_BURST {
            let n = match io.notify.recv(&mut buf) {
                Ok(n) => n,
                Err(_) => break, // WouldBlock: nothing more for now
            };
            match notify::parse(&buf[..n]) {
                Ok(update) => events.push(Event::Notify { id, update }),
                Err(e) => {
                    io.bad += 1;
                    let now = Instant::now();
                    if io
                        .last_warn
                        .is_none_or(|t| now.duration_since(t) >= NOTIFY_WARN_EVERY)
                    {
                        warn!(
                            worker = io.slot,
                            pid = io.pid.unwrap_or(0),
                            "dropped a bad notify message ({e}); {} dropped from this worker so far",
                            io.bad
                        );
                        io.last_warn = Some(now);
                    }
                }
            }
        }
    }
}

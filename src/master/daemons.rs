//! Side processes, the master's side: starting `attach-daemon`s, mules and cron runs,
//! reading their output into the log, restarting them, stopping them. The decisions (restart
//! delays, what to say, when a cron entry is due) are in `crate::policy::daemons` and
//! `crate::policy::cron`; this file carries them out in the master's one loop.
//!
//! - Start: once the master is set up, every daemon and mule starts (`/bin/sh -c CMD`, or the
//!   app's Python for a mule), in its own process group, in `chdir`, with `env`, as
//!   `uid`/`gid`, its stdout and stderr in the log as `daemon=N` / `mule=N`.
//! - Exit: logged with its status; started again, at once after a long run, with doubling
//!   delays after quick exits. A `control` daemon's exit stops ebb.
//! - Stop: its stop signal (TERM) to its process group, KILL after `drain-timeout` (3 s on a
//!   fast stop, QUIT); ebb exits once every side process has.
//! - Reload: as uWSGI, every daemon and mule is stopped (with `reloadsignal` when given) and
//!   the new configuration's are started once the old ones have exited. Cron runs in progress
//!   finish; the new entries take over.
//! - Cron: the master sleeps until the nearest entry's next time; a run that comes while the
//!   previous one of the same entry still runs is skipped and logged.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tracing::{debug, error, info, warn};

use super::Master;
use super::workers::{base_env, set_env};
use crate::config::daemons::{CronSpec, DaemonSpec, Run, SideProcesses};
use crate::config::{Config, WorkerCommand};
use crate::logs::WorkerTag;
use crate::logs::pipes::Pipes;
use crate::policy::cron::{Due, Timer};
use crate::policy::daemons::{DEFAULT_CAP, Restarts, STABLE};
use crate::policy::{Event, ExitStatus, Level};
use crate::spawn;

/// Runs a mule: a file as `__main__`, or `module:function` called.
const MULE_RUNNER: &str = "import sys, runpy\n\
target = sys.argv[1]\n\
sys.argv = sys.argv[1:]\n\
if target.endswith('.py'):\n    runpy.run_path(target, run_name='__main__')\n\
else:\n    import importlib\n    mod, _, fn = target.partition(':')\n    getattr(importlib.import_module(mod), fn)()\n";

/// How long side processes get on a fast stop (QUIT) before they are killed, as workers.
const FAST_STOP: Duration = Duration::from_secs(3);

/// Shortened commands in log lines.
const COMMAND_IN_LOG: usize = 80;

/// A running side process.
struct Proc {
    pid: i32,
    pipes: Pipes,
    started: Instant,
    tag: WorkerTag,
    /// When it is killed: set once it was asked to stop, or by a cron `harakiri`.
    kill_at: Option<Instant>,
}

struct Daemon {
    spec: DaemonSpec,
    n: usize,
    proc: Option<Proc>,
    restarts: Restarts,
    /// A restart waiting for its back-off delay.
    start_at: Option<Instant>,
    /// When to say it recovered (only after quick exits).
    stable_at: Option<Instant>,
}

struct Cron {
    spec: CronSpec,
    n: usize,
    timer: Timer,
    proc: Option<Proc>,
    runs: u64,
}

/// The side processes and their state.
#[derive(Default)]
pub(super) struct Side {
    daemons: Vec<Daemon>,
    crons: Vec<Cron>,
    /// Processes of a previous configuration being stopped (daemons) or finishing (cron runs).
    old: Vec<(Proc, String, bool)>,
    /// Start the configuration's daemons once the old ones have exited (after a reload).
    start_pending: bool,
    stopping: bool,
}

/// Where a pipe belongs, for [`Master::side_read`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Who {
    Daemon(usize),
    Cron(usize),
    Old(usize),
}

/// The wall clock as Unix seconds. `EBB_TEST_CLOCK_SKEW_S` shifts it for cron (tests only:
/// a test cannot wait for the next minute).
fn wall_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now + std::env::var("EBB_TEST_CLOCK_SKEW_S")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
}

fn offset(t: i64) -> i64 {
    spawn::utc_offset(t)
}

/// The `Instant` at which the wall clock (as [`wall_now`] reads it) reaches `t`.
fn instant_of(t: i64) -> Instant {
    let now = Instant::now();
    let ahead = t - wall_now();
    if ahead <= 0 {
        now
    } else {
        now + Duration::from_secs(ahead as u64)
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(COMMAND_IN_LOG) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

fn describe(kind: &str, n: usize, command: &str) -> String {
    format!("{kind} {n} {:?}", clip(command))
}

fn log(level: Level, kind: &str, n: usize, pid: i32, msg: &str) {
    match level {
        Level::Debug => debug!(side = kind, n, pid, "{msg}"),
        Level::Info => info!(side = kind, n, pid, "{msg}"),
        Level::Warn => warn!(side = kind, n, pid, "{msg}"),
        Level::Error => error!(side = kind, n, pid, "{msg}"),
    }
}

impl Side {
    fn new(s: &SideProcesses, now_wall: i64) -> Side {
        let mut counts = std::collections::HashMap::new();
        let daemons = s
            .all_daemons()
            .into_iter()
            .map(|spec| {
                let n = counts.entry(spec.kind()).or_insert(0usize);
                *n += 1;
                Daemon {
                    spec,
                    n: *n,
                    proc: None,
                    restarts: Restarts::default(),
                    start_at: None,
                    stable_at: None,
                }
            })
            .collect();
        let crons = s
            .crons
            .iter()
            .enumerate()
            .map(|(i, spec)| Cron {
                spec: spec.clone(),
                n: i + 1,
                timer: Timer::new(spec.schedule, now_wall, &offset),
                proc: None,
                runs: 0,
            })
            .collect();
        Side {
            daemons,
            crons,
            ..Side::default()
        }
    }

    /// The nearest moment something must happen.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let procs = self
            .daemons
            .iter()
            .filter_map(|d| d.proc.as_ref())
            .chain(self.crons.iter().filter_map(|c| c.proc.as_ref()))
            .chain(self.old.iter().map(|(p, _, _)| p))
            .filter_map(|p| p.kill_at);
        let daemons = self
            .daemons
            .iter()
            .flat_map(|d| [d.start_at, d.stable_at])
            .flatten();
        let crons = self
            .crons
            .iter()
            .filter(|_| !self.stopping)
            .filter_map(|c| c.timer.next.map(instant_of));
        // After a reload with no old daemon left to wait for: start the new ones now.
        let pending = (self.start_pending && !self.old.iter().any(|(_, _, daemon)| *daemon))
            .then(Instant::now);
        procs.chain(daemons).chain(crons).chain(pending).min()
    }

    /// Every open output pipe, for `poll()`.
    pub(super) fn poll_fds(&self) -> Vec<(Who, usize, BorrowedFd<'_>)> {
        let daemons = self.daemons.iter().enumerate();
        let daemons = daemons.filter_map(|(i, d)| Some((Who::Daemon(i), d.proc.as_ref()?)));
        let crons = self.crons.iter().enumerate();
        let crons = crons.filter_map(|(i, c)| Some((Who::Cron(i), c.proc.as_ref()?)));
        let old = self
            .old
            .iter()
            .enumerate()
            .map(|(i, (p, _, _))| (Who::Old(i), p));
        daemons
            .chain(crons)
            .chain(old)
            .flat_map(|(who, p)| {
                p.pipes
                    .poll_fds()
                    .into_iter()
                    .map(move |(i, fd)| (who, i, fd))
            })
            .collect()
    }

    fn proc_mut(&mut self, who: Who) -> Option<&mut Proc> {
        match who {
            Who::Daemon(i) => self.daemons.get_mut(i)?.proc.as_mut(),
            Who::Cron(i) => self.crons.get_mut(i)?.proc.as_mut(),
            Who::Old(i) => self.old.get_mut(i).map(|(p, _, _)| p),
        }
    }

    /// The log tag of side process `pid`, if it is one.
    fn tag_of(&self, pid: i32) -> Option<WorkerTag> {
        let daemons = self.daemons.iter().filter_map(|d| d.proc.as_ref());
        daemons
            .chain(self.old.iter().map(|(p, _, _)| p))
            .find(|p| p.pid == pid)
            .map(|p| p.tag)
    }

    /// Whether any side process is still running.
    pub(super) fn alive(&self) -> bool {
        self.daemons.iter().any(|d| d.proc.is_some())
            || self.crons.iter().any(|c| c.proc.is_some())
            || !self.old.is_empty()
    }
}

/// Ask `p`'s process group to stop with `sig`; KILL at `kill_at`.
fn ask_to_stop(p: &mut Proc, sig: Signal, kill_at: Instant) {
    if killpg(Pid::from_raw(p.pid), sig).is_err() {
        let _ = kill(Pid::from_raw(p.pid), sig);
    }
    p.kill_at = Some(p.kill_at.map_or(kill_at, |k| k.min(kill_at)));
}

impl Master {
    /// Start every daemon and mule, and arm the cron entries. Called once the master is set
    /// up, before the first worker starts.
    pub(super) fn side_start(&mut self) {
        let s = &self.config.side;
        if s.idle_mules > 0 {
            warn!(
                "{} mule(s) without a script (mules = N, or mule with no file): ebb starts \
                 nothing for them. Such mules only run code sent with uwsgi.mule_msg() or \
                 registered with uwsgidecorators, an API ebb's worker does not offer; give a \
                 mule a script (mule = tasks.py) or run the consumer as attach-daemon",
                s.idle_mules
            );
        }
        for c in &s.crons {
            if c.schedule.next_after(wall_now(), &offset).is_none() {
                warn!(
                    "cron {:?}: that date never comes (such as February 30th): it never runs",
                    clip(&c.command)
                );
            }
        }
        self.side = Side::new(s, wall_now());
        self.spooler_prepare();
        for i in 0..self.side.daemons.len() {
            self.start_daemon(i);
        }
    }

    fn start_daemon(&mut self, i: usize) {
        let now = Instant::now();
        let d = &self.side.daemons[i];
        let (kind, n, restarts) = (d.spec.kind(), d.n, d.restarts.restarts);
        let what = describe(kind, n, d.spec.command());
        let argv = self.side_argv(&d.spec.run);
        let chdir = d.spec.chdir.clone();
        let sig = d.spec.stop_signal;
        match self.side_spawn(&argv, chdir.as_deref(), sig, kind, n, restarts) {
            Ok(p) => {
                let line = format!(
                    "{what} started (pid {}){}",
                    p.pid,
                    if restarts > 0 {
                        format!(", restart {restarts}")
                    } else {
                        String::new()
                    }
                );
                let d = &mut self.side.daemons[i];
                let level = if d.restarts.quick > 1 {
                    Level::Debug
                } else {
                    Level::Info
                };
                log(level, kind, n, p.pid, &line);
                d.stable_at = (d.restarts.quick > 0).then_some(now + STABLE);
                d.start_at = None;
                d.proc = Some(p);
            }
            Err(e) => {
                // Like an exit at once: back off and try again.
                let d = &mut self.side.daemons[i];
                let cap = d.spec.max_throttle.unwrap_or(DEFAULT_CAP);
                let r = d
                    .restarts
                    .on_exit(&what, Duration::ZERO, ExitStatus::Code(127), cap);
                let msg = if r.level == Level::Debug {
                    format!(
                        "{what} could not start: {e:#}; next try in {:.0}s",
                        r.delay.as_secs_f64()
                    )
                } else {
                    format!(
                        "{what} could not start: {e:#}; trying again in {:.0}s, with growing delays",
                        r.delay.as_secs_f64()
                    )
                };
                log(r.level, kind, n, 0, &msg);
                d.start_at = Some(now + r.delay);
            }
        }
    }

    /// The argv of a daemon or mule.
    fn side_argv(&self, run: &Run) -> Vec<String> {
        match run {
            Run::Shell(cmd) => vec!["/bin/sh".into(), "-c".into(), cmd.clone()],
            Run::MuleScript(t) | Run::MuleCallable(t) => {
                let python = match &self.config.command {
                    WorkerCommand::Python(app) => app.interpreter(),
                    _ => "python3".into(),
                };
                vec![python, "-c".into(), MULE_RUNNER.into(), t.clone()]
            }
            Run::Spooler(dir) => self.spooler_argv(dir),
        }
    }

    /// Fork and exec a side process with the workers' environment (no sockets).
    fn side_spawn(
        &mut self,
        argv: &[String],
        chdir: Option<&std::path::Path>,
        death_signal: Signal,
        kind: &'static str,
        n: usize,
        restarts: u64,
    ) -> Result<Proc> {
        let mut env = base_env();
        for (k, v) in &self.config.env {
            set_env(&mut env, k, v.clone());
        }
        set_env(&mut env, "EBB_MASTER_PID", std::process::id().to_string());
        if let WorkerCommand::Python(app) = &self.config.command
            && kind == "mule"
        {
            let mut pp: Vec<String> = app
                .pythonpath
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            if let Some((_, old)) = env.iter().find(|(k, _)| k == "PYTHONPATH")
                && !old.is_empty()
            {
                pp.push(old.clone());
            }
            if !pp.is_empty() {
                set_env(&mut env, "PYTHONPATH", pp.join(":"));
            }
            set_env(&mut env, "PYTHONUNBUFFERED", "1".into());
        }
        if kind == "spooler" {
            self.spooler_env(&mut env);
        }
        let (pipes, ends) = Pipes::create().context("creating the log pipes")?;
        // Its record pipe is fd 3, as for a worker: lines written there are logged too.
        set_env(&mut env, "EBB_LOG_FD", "3".into());
        let chdir = chdir.or(self.config.chdir.as_deref());
        let mut prepared = spawn::Prepared::new(&spawn::Command {
            argv,
            env: &env,
            listen_fds: &[],
            after: &[],
            output: Some(spawn::Output {
                stdout: ends.stdout.as_raw_fd(),
                stderr: ends.stderr.as_raw_fd(),
                records: ends.records.as_raw_fd(),
            }),
            chdir,
            ids: self.ids,
            death_signal: death_signal as i32,
            // A daemon's stdin is ebb's, as in uWSGI.
            stdin: None,
        })?;
        let pid = prepared.spawn()?;
        drop(ends);
        Ok(Proc {
            pid,
            pipes,
            started: Instant::now(),
            tag: WorkerTag {
                slot: n,
                pid,
                generation: 0,
                respawn: restarts,
                side: Some(kind),
            },
            kill_at: None,
        })
    }

    /// Log what one of a side process's pipes holds.
    pub(super) fn side_read(&mut self, who: Who, i: usize) {
        if let Some(p) = self.side.proc_mut(who) {
            let tag = p.tag;
            p.pipes.read(i, &tag, None);
        }
    }

    /// A child exited: if it is a side process, handle it and return true.
    pub(super) fn side_exited(
        &mut self,
        pid: i32,
        status: ExitStatus,
        events: &mut Vec<Event>,
    ) -> bool {
        let now = Instant::now();
        if let Some(tag) = self.side.tag_of(pid).filter(|t| t.side == Some("spooler")) {
            self.spooler_exited(pid, tag.slot, status);
        }
        let side = &mut self.side;
        if let Some(i) = side
            .daemons
            .iter()
            .position(|d| d.proc.as_ref().is_some_and(|p| p.pid == pid))
        {
            let d = &mut side.daemons[i];
            let mut p = d.proc.take().expect("found above");
            p.pipes.finish(&p.tag, None);
            let (kind, n) = (d.spec.kind(), d.n);
            let what = describe(kind, n, d.spec.command());
            d.stable_at = None;
            if side.stopping {
                log(
                    Level::Info,
                    kind,
                    n,
                    pid,
                    &format!("{what} stopped ({})", status),
                );
            } else if d.spec.control {
                log(
                    Level::Warn,
                    kind,
                    n,
                    pid,
                    &format!(
                        "{what} exited ({}); it is a control daemon: ebb stops",
                        status
                    ),
                );
                events.push(Event::Stop { graceful: true });
            } else if kind == "spooler" && status == ExitStatus::Code(0) {
                // Only spooler-max-tasks makes a spooler exit 0 by itself: a new one now.
                log(Level::Info, kind, n, pid, &format!("{what} recycled"));
                d.start_at = Some(now);
            } else {
                let cap = d.spec.max_throttle.unwrap_or(DEFAULT_CAP);
                let r = d.restarts.on_exit(&what, now - p.started, status, cap);
                log(r.level, kind, n, pid, &r.message);
                d.start_at = Some(now + r.delay);
            }
            return true;
        }
        if let Some(i) = side
            .crons
            .iter()
            .position(|c| c.proc.as_ref().is_some_and(|p| p.pid == pid))
        {
            let c = &mut side.crons[i];
            let mut p = c.proc.take().expect("found above");
            p.pipes.finish(&p.tag, None);
            let took = (now - p.started).as_secs_f64();
            let what = describe("cron", c.n, &c.spec.command);
            let level = if status == ExitStatus::Code(0) {
                Level::Info
            } else {
                Level::Warn
            };
            log(
                level,
                "cron",
                c.n,
                pid,
                &format!("{what} finished ({}) in {took:.1}s", status),
            );
            return true;
        }
        if let Some(i) = side.old.iter().position(|(p, _, _)| p.pid == pid) {
            let (mut p, what, _) = side.old.remove(i);
            p.pipes.finish(&p.tag, None);
            let kind = p.tag.side.unwrap_or("daemon");
            log(
                Level::Info,
                kind,
                p.tag.slot,
                pid,
                &format!("{what} exited ({})", status),
            );
            return true;
        }
        false
    }

    /// Time passed: restarts whose delay is over, recoveries, cron runs, kills.
    pub(super) fn side_tick(&mut self) {
        let now = Instant::now();
        for d in &mut self.side.daemons {
            if d.stable_at.is_some_and(|t| t <= now) {
                d.stable_at = None;
                let what = describe(d.spec.kind(), d.n, d.spec.command());
                if let Some(msg) = d.restarts.on_stable(&what) {
                    let pid = d.proc.as_ref().map_or(0, |p| p.pid);
                    log(Level::Info, d.spec.kind(), d.n, pid, &msg);
                }
            }
        }
        // Kills: a stop or a cron harakiri that ran out.
        let side = &mut self.side;
        let procs = side
            .daemons
            .iter_mut()
            .filter_map(|d| d.proc.as_mut())
            .chain(side.crons.iter_mut().filter_map(|c| c.proc.as_mut()))
            .chain(side.old.iter_mut().map(|(p, _, _)| p));
        for p in procs {
            if p.kill_at.is_some_and(|t| t <= now) {
                let kind = p.tag.side.unwrap_or("daemon");
                log(
                    Level::Error,
                    kind,
                    p.tag.slot,
                    p.pid,
                    &format!(
                        "{kind} {} did not exit in time: killing its process group",
                        p.tag.slot
                    ),
                );
                if killpg(Pid::from_raw(p.pid), Signal::SIGKILL).is_err() {
                    let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
                }
                p.kill_at = None;
            }
        }
        if self.side.stopping {
            return;
        }
        if self.side.start_pending && !self.side.old.iter().any(|(_, _, daemon)| *daemon) {
            self.side.start_pending = false;
            for i in 0..self.side.daemons.len() {
                self.start_daemon(i);
            }
        }
        for i in 0..self.side.daemons.len() {
            let d = &self.side.daemons[i];
            if d.proc.is_none() && d.start_at.is_some_and(|t| t <= now) {
                self.start_daemon(i);
            }
        }
        let wall = wall_now();
        for i in 0..self.side.crons.len() {
            let c = &mut self.side.crons[i];
            let running = c.proc.is_some();
            match c.timer.tick(wall, running, &offset) {
                None => {}
                Some(Due::Skip) => {
                    let what = describe("cron", c.n, &c.spec.command);
                    let pid = c.proc.as_ref().map_or(0, |p| p.pid);
                    warn!(
                        side = "cron",
                        n = c.n,
                        pid,
                        skipped = c.timer.skipped,
                        "{what}: run skipped, the previous one (pid {pid}) is still running"
                    );
                }
                Some(Due::Run) => self.run_cron(i),
            }
        }
    }

    fn run_cron(&mut self, i: usize) {
        let c = &self.side.crons[i];
        let (n, runs) = (c.n, c.runs);
        let what = describe("cron", n, &c.spec.command);
        let argv = vec!["/bin/sh".into(), "-c".into(), c.spec.command.clone()];
        let harakiri = c.spec.harakiri;
        match self.side_spawn(&argv, None, Signal::SIGTERM, "cron", n, runs) {
            Ok(mut p) => {
                info!(
                    side = "cron",
                    n,
                    pid = p.pid,
                    "{what} running (pid {})",
                    p.pid
                );
                p.kill_at = harakiri.map(|h| p.started + h);
                let c = &mut self.side.crons[i];
                c.runs += 1;
                c.proc = Some(p);
            }
            Err(e) => error!(side = "cron", n, "{what} could not start: {e:#}"),
        }
    }

    /// ebb is stopping: ask every side process to stop; nothing starts again.
    pub(super) fn side_stop(&mut self) {
        if self.side.stopping {
            return;
        }
        self.side_stop_within(self.config.drain_timeout);
    }

    /// QUIT (fast stop): as [`Master::side_stop`], killing what is left after 3 s, as the
    /// workers are.
    pub(super) fn side_fast_stop(&mut self) {
        self.side_stop_within(FAST_STOP);
    }

    fn side_stop_within(&mut self, bound: Duration) {
        self.side.stopping = true;
        let kill_at = Instant::now() + bound;
        let side = &mut self.side;
        for d in &mut side.daemons {
            d.start_at = None;
            d.stable_at = None;
            if let Some(p) = &mut d.proc {
                info!(
                    side = d.spec.kind(),
                    n = d.n,
                    pid = p.pid,
                    "stopping {} {} ({})",
                    d.spec.kind(),
                    d.n,
                    d.spec.stop_signal.as_str()
                );
                ask_to_stop(p, d.spec.stop_signal, kill_at);
            }
        }
        for c in &mut side.crons {
            if let Some(p) = &mut c.proc {
                info!(
                    side = "cron",
                    n = c.n,
                    pid = p.pid,
                    "stopping the running cron {} (SIGTERM)",
                    c.n
                );
                ask_to_stop(p, Signal::SIGTERM, kill_at);
            }
        }
        for (p, _, _) in &mut side.old {
            ask_to_stop(p, Signal::SIGTERM, kill_at);
        }
    }

    /// A reload applied `new`: stop the daemons and mules (reload signal if they have one)
    /// and start the new ones once they exited; cron runs in progress finish.
    pub(super) fn side_reload(&mut self, new: &Config) {
        if self.side.stopping {
            return;
        }
        let kill_at = Instant::now() + new.drain_timeout;
        let old = std::mem::replace(&mut self.side, Side::new(&new.side, wall_now()));
        let mut moved = old.old;
        for d in old.daemons {
            if let Some(mut p) = d.proc {
                let sig = d.spec.reload_signal.unwrap_or(d.spec.stop_signal);
                let what = describe(d.spec.kind(), d.n, d.spec.command());
                info!(
                    side = d.spec.kind(),
                    n = d.n,
                    pid = p.pid,
                    "reload: stopping {what} ({}); the new configuration's start once it exited",
                    sig.as_str()
                );
                ask_to_stop(&mut p, sig, kill_at);
                moved.push((p, what, true));
            }
        }
        for c in old.crons {
            if let Some(p) = c.proc {
                moved.push((p, describe("cron", c.n, &c.spec.command), false));
            }
        }
        self.side.old = moved;
        // Started from the loop (next_deadline says when), once `self.config` is the new one.
        self.side.start_pending = true;
    }

    /// The master is exiting: wait (bounded by the stop deadlines) for the side processes
    /// that are still running, logging their last output.
    pub(super) fn side_finish(&mut self) {
        self.side_stop();
        let give_up = Instant::now() + self.config.drain_timeout + Duration::from_secs(2);
        while self.side.alive() && Instant::now() < give_up {
            let mut events = Vec::new();
            let reaped = self.reap();
            events.extend(reaped);
            self.side_tick();
            if !self.side.alive() {
                break;
            }
            let deadline = self.side.next_deadline().unwrap_or(give_up).min(give_up);
            let ms = deadline
                .saturating_duration_since(Instant::now())
                .as_millis()
                .clamp(1, 100) as u16;
            let pipes: Vec<(Who, usize)> = self
                .side
                .poll_fds()
                .into_iter()
                .map(|(w, i, _)| (w, i))
                .collect();
            {
                let mut pfds: Vec<nix::poll::PollFd> = self
                    .side
                    .poll_fds()
                    .into_iter()
                    .map(|(_, _, fd)| nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN))
                    .collect();
                let _ = nix::poll::poll(&mut pfds, nix::poll::PollTimeout::from(ms));
            }
            for (w, i) in pipes {
                self.side_read(w, i);
            }
        }
    }

    /// The side processes for the stats document and `ebb status`: kind, number, pid (null
    /// when not running), command, restarts (runs, for a cron entry).
    pub(super) fn side_json(&self) -> Vec<serde_json::Value> {
        let daemons = self.side.daemons.iter().map(|d| {
            serde_json::json!({
                "kind": d.spec.kind(),
                "n": d.n,
                "pid": d.proc.as_ref().map(|p| p.pid),
                "command": d.spec.command(),
                "restarts": d.restarts.restarts,
            })
        });
        let crons = self.side.crons.iter().map(|c| {
            serde_json::json!({
                "kind": "cron",
                "n": c.n,
                "pid": c.proc.as_ref().map(|p| p.pid),
                "command": c.spec.command,
                "restarts": c.runs,
                "skipped": c.timer.skipped,
            })
        });
        daemons.chain(crons).collect()
    }
}

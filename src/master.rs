//! The master loop: the one place where the policy's decisions meet the operating system.
//!
//! Single-threaded. Each turn: reap children, wait in `poll()` on the signal pipes and
//! every worker's notify socket with the nearest policy deadline as timeout (no fixed tick),
//! turn what happened into [`Event`]s, and carry out the [`Action`]s the policy returns.

use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use tracing::{debug, error, info, warn};

use crate::config::{Config, Loaded, Loader, WorkerCommand};
use crate::notify;
use crate::policy::{Action, Event, ExitStatus, Level, Log, LostWork, Params, Policy, WorkerId};
use crate::sockets::{self, Listener};
use crate::spawn;

/// The Python worker and the `ebb` module, embedded in the binary.
pub const PYTHON_WORKER: &str = include_str!("python/ebb_worker.py");
/// Runs the worker as an imported module, so that Python caches its bytecode.
pub const PYTHON_LAUNCHER: &str = include_str!("python/run_worker.py");
pub const PYTHON_MODULE: &str = include_str!("python/ebb/__init__.py");

/// How many datagrams are read from one worker per turn, so a flood cannot stall the loop.
const NOTIFY_BURST: usize = 64;
/// Warnings about bad datagrams from one worker are written at most this often.
const NOTIFY_WARN_EVERY: Duration = Duration::from_secs(10);

const SIGNALS: [Signal; 9] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGHUP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCHLD,
];

/// Self-pipes, one per signal, written by signal-hook's async-signal-safe handler.
struct Signals {
    pipes: Vec<(Signal, UnixStream)>,
}

impl Signals {
    fn install() -> Result<Signals> {
        let mut pipes = Vec::new();
        for sig in SIGNALS {
            let (r, w) = UnixStream::pair().context("creating a signal pipe")?;
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            signal_hook::low_level::pipe::register(sig as i32, w)
                .with_context(|| format!("installing the {sig} handler"))?;
            pipes.push((sig, r));
        }
        Ok(Signals { pipes })
    }

    /// The signals that arrived, in a fixed order, each as many times as it was counted.
    fn drain(&mut self, ready: &[bool]) -> Vec<Signal> {
        let mut got = Vec::new();
        for ((sig, r), &is_ready) in self.pipes.iter_mut().zip(ready) {
            if !is_ready {
                continue;
            }
            let mut buf = [0u8; 64];
            loop {
                match std::io::Read::read(r, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend(std::iter::repeat_n(*sig, n)),
                    Err(_) => break,
                }
            }
        }
        got
    }
}

/// The master's side of one worker: its notify socket and datagram accounting.
struct WorkerIo {
    notify: UnixDatagram,
    path: PathBuf,
    bad: u64,
    last_warn: Option<Instant>,
    slot: usize,
    pid: Option<i32>,
}

pub struct Master {
    loader: Loader,
    config: Config,
    policy: Policy,
    listeners: Vec<Listener>,
    rundir: tempfile::TempDir,
    io: HashMap<WorkerId, WorkerIo>,
    signals: Signals,
    ids: Option<(u32, u32)>,
    lost_log: Option<File>,
    started: Instant,
}

fn log_action(l: &Log) {
    let (slot, pid, generation) = match l.worker {
        Some(w) => (
            w.slot as i64,
            w.pid.unwrap_or(0) as i64,
            w.generation as i64,
        ),
        None => (0, 0, 0),
    };
    let event = l.event;
    let msg = &l.message;
    if l.worker.is_some() {
        match l.level {
            Level::Debug => debug!(worker = slot, pid, generation, event, "{msg}"),
            Level::Info => info!(worker = slot, pid, generation, event, "{msg}"),
            Level::Warn => warn!(worker = slot, pid, generation, event, "{msg}"),
            Level::Error => error!(worker = slot, pid, generation, event, "{msg}"),
        }
    } else {
        match l.level {
            Level::Debug => debug!(event, "{msg}"),
            Level::Info => info!(event, "{msg}"),
            Level::Warn => warn!(event, "{msg}"),
            Level::Error => error!(event, "{msg}"),
        }
    }
}

/// The environment every worker starts from: ebb's own, without systemd's per-process
/// variables (they describe ebb, not the worker; `WATCHDOG_USEC` is set again in `spawn`
/// when `--watchdog` is). The `EBB_*` variables ebb sets replace inherited ones in `spawn`;
/// other `EBB_*` variables pass through.
fn base_env() -> Vec<(String, String)> {
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
fn set_env(env: &mut Vec<(String, String)>, key: &str, value: String) {
    env.retain(|(k, _)| k != key);
    env.push((key.to_string(), value));
}

fn resolve_ids(config: &Config) -> Result<Option<(u32, u32)>> {
    if config.uid.is_none() && config.gid.is_none() {
        return Ok(None);
    }
    if !nix::unistd::Uid::effective().is_root() {
        warn!("--uid/--gid ignored: ebb is not running as root");
        return Ok(None);
    }
    let user = match &config.uid {
        None => None,
        Some(u) => Some(match u.parse::<u32>() {
            Ok(n) => nix::unistd::User::from_uid(n.into())?
                .with_context(|| format!("--uid {u}: no such user"))?,
            Err(_) => nix::unistd::User::from_name(u)?
                .with_context(|| format!("--uid {u}: no such user"))?,
        }),
    };
    let gid = match &config.gid {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::unistd::Group::from_name(g)?
                .with_context(|| format!("--gid {g}: no such group"))?
                .gid
                .as_raw(),
        },
        None => user.as_ref().map_or(0, |u| u.gid.as_raw()),
    };
    let uid = user.map_or(0, |u| u.uid.as_raw());
    Ok(Some((uid, gid)))
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))
}

/// Point the master's stdout and stderr (and so the workers') at the log file.
pub fn redirect_output(path: &Path) -> Result<()> {
    let f = open_append(path)?;
    nix::unistd::dup2_stdout(f.as_fd()).context("redirecting stdout")?;
    nix::unistd::dup2_stderr(f.as_fd()).context("redirecting stderr")?;
    Ok(())
}

impl Master {
    /// Set everything up: sockets, signal handlers, runtime dir, pidfile.
    pub fn new(loader: Loader, loaded: Loaded) -> Result<Master> {
        let config = loaded.config;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let signals = Signals::install()?;
        let mut listeners = sockets::from_systemd()?;
        if !listeners.is_empty() {
            info!(count = listeners.len(), "using sockets passed by systemd");
        }
        let mut bound = sockets::bind_all(
            &config.sockets,
            config.listen,
            config.chmod_socket,
            &mut Vec::new(),
        )?;
        listeners.append(&mut bound);
        if listeners.is_empty() {
            anyhow::bail!("no socket to listen on: add --http-socket 127.0.0.1:8000");
        }
        let rundir = tempfile::Builder::new()
            .prefix("ebb-")
            .tempdir_in(runtime_base())
            .context("creating the private runtime directory")?;
        // Private to the master; traversable (not listable) by workers of another user,
        // who reach their own notify socket and the Python files by path.
        let ids = resolve_ids(&config)?;
        let mode = if ids.is_some() { 0o711 } else { 0o700 };
        std::fs::set_permissions(rundir.path(), std::fs::Permissions::from_mode(mode))?;
        write_python_files(rundir.path())?;
        if let Some((uid, gid)) = ids {
            // Workers of another user may write Python's bytecode cache next to the worker.
            let py = rundir.path().join("python");
            std::os::unix::fs::chown(&py, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", py.display()))?;
        }
        if let Some(p) = &config.pidfile {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .with_context(|| format!("cannot write the pidfile {}", p.display()))?;
        }
        let lost_log = config
            .lost_work_log
            .as_deref()
            .map(open_append)
            .transpose()?;
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        let policy = Policy::new(Params::from_config(&config), seed);
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.local_addr()))
            .collect();
        info!(
            pid = std::process::id(),
            processes = config.processes,
            "ebb {} master started, listening on {}; worker: {}",
            env!("CARGO_PKG_VERSION"),
            addrs.join(", "),
            describe(&config.command)
        );
        Ok(Master {
            loader,
            config,
            policy,
            listeners,
            rundir,
            io: HashMap::new(),
            signals,
            ids,
            lost_log,
            started: Instant::now(),
        })
    }

    /// Run until the workers have stopped; returns the exit code.
    pub fn run(mut self) -> Result<i32> {
        let mut queue: VecDeque<Action> = self.policy.handle(Instant::now(), Event::Tick).into();
        loop {
            while let Some(action) = queue.pop_front() {
                if let Some(code) = self.execute(action, &mut queue)? {
                    self.cleanup();
                    return Ok(code);
                }
            }
            let mut events = self.reap();
            if events.is_empty() {
                events = self.wait()?;
            }
            let now = Instant::now();
            for e in events {
                queue.extend(self.policy.handle(now, e));
            }
            queue.extend(self.policy.handle(now, Event::Tick));
        }
    }

    fn feed(&mut self, event: Event, queue: &mut VecDeque<Action>) {
        queue.extend(self.policy.handle(Instant::now(), event));
    }

    /// Carry out one action. Returns `Some(code)` when the master must exit.
    fn execute(&mut self, action: Action, queue: &mut VecDeque<Action>) -> Result<Option<i32>> {
        match action {
            Action::Log(l) => log_action(&l),
            Action::Spawn {
                id,
                slot,
                generation,
                epoch,
            } => {
                let event = match self.spawn(id, slot, generation, epoch) {
                    Ok(pid) => Event::Spawned { id, pid },
                    Err(e) => {
                        self.forget(id);
                        Event::SpawnFailed {
                            id,
                            error: format!("{e:#}"),
                        }
                    }
                };
                self.feed(event, queue);
            }
            Action::Drain { id: _, pid } => {
                let _ = kill(Pid::from_raw(pid), self.config.drain_signal);
            }
            Action::Quit { id: _, pid } => {
                let _ = kill(Pid::from_raw(pid), Signal::SIGQUIT);
            }
            Action::Kill { id: _, pid } => {
                // The worker leads its own process group: kill all it started too.
                if killpg(Pid::from_raw(pid), Signal::SIGKILL).is_err() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            Action::SampleRss { workers } => {
                let samples = rss_by_group(&workers);
                self.feed(Event::Rss { samples }, queue);
            }
            Action::Forget { id } => self.forget(id),
            Action::Lost(lost) => self.record_lost(&lost),
            Action::Exit(code) => return Ok(Some(code)),
        }
        Ok(None)
    }

    fn forget(&mut self, id: WorkerId) {
        if let Some(io) = self.io.remove(&id) {
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

    fn record_lost(&mut self, lost: &LostWork) {
        let names: Vec<String> = lost
            .job_names
            .iter()
            .map(|(n, age)| format!("{n} (running {:.1}s)", age.as_secs_f64()))
            .collect();
        error!(
            worker = lost.worker.slot,
            pid = lost.worker.pid.unwrap_or(0),
            generation = lost.worker.generation,
            reason = %lost.reason,
            "LOST WORK: {} requests in flight and {} background jobs were lost{} \
             (as last reported by the worker {:.0} ms before)",
            lost.requests_in_flight,
            lost.jobs,
            if names.is_empty() {
                String::new()
            } else {
                format!(": {}", names.join(", "))
            },
            lost.reported_ago.as_secs_f64() * 1000.0
        );
        if let Some(f) = &mut self.lost_log {
            let line = serde_json::json!({
                "time": std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                "worker": lost.worker.slot,
                "pid": lost.worker.pid,
                "generation": lost.worker.generation,
                "reason": lost.reason,
                "requests_in_flight": lost.requests_in_flight,
                "jobs": lost.jobs,
                "job_names": lost.job_names.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "job_ages_s": lost.job_names.iter().map(|(_, a)| a.as_secs_f64()).collect::<Vec<_>>(),
                "lived_s": lost.lived.as_secs_f64(),
                "reported_ms_before": lost.reported_ago.as_millis() as u64,
            });
            if let Err(e) = writeln!(f, "{line}") {
                error!("cannot append to the lost-work log: {e}");
            }
        }
    }

    fn worker_argv(&self) -> Result<Vec<String>> {
        Ok(match &self.config.command {
            WorkerCommand::ExampleApp => {
                let exe = std::env::current_exe().context("finding ebb's own executable")?;
                vec![exe.display().to_string(), "example-app".into()]
            }
            WorkerCommand::Exec(argv) => argv.clone(),
            WorkerCommand::Python(app) => {
                let python = app.interpreter();
                let mut v = vec![
                    python,
                    self.rundir
                        .path()
                        .join("python/run_worker.py")
                        .display()
                        .to_string(),
                ];
                if let Some(m) = &app.module {
                    v.extend(["--module".into(), m.clone()]);
                }
                if let Some(f) = &app.wsgi_file {
                    v.extend(["--wsgi-file".into(), f.display().to_string()]);
                }
                v.extend(["--callable".into(), app.callable.clone()]);
                for p in &app.pythonpath {
                    v.extend(["--pythonpath".into(), p.display().to_string()]);
                }
                v.extend(["--threads".into(), app.threads.to_string()]);
                if let Some(h) = self.config.harakiri {
                    v.extend(["--harakiri".into(), h.as_secs().max(1).to_string()]);
                }
                v
            }
        })
    }

    fn spawn(&mut self, id: WorkerId, slot: usize, generation: u64, epoch: u64) -> Result<i32> {
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
            },
        );
        let argv = self.worker_argv()?;
        let mut env = base_env();
        for (k, v) in &self.config.env {
            set_env(&mut env, k, v.clone());
        }
        let names: Vec<&str> = self.listeners.iter().map(|l| l.name.as_str()).collect();
        for (k, v) in [
            ("LISTEN_FDS", self.listeners.len().to_string()),
            ("LISTEN_FDNAMES", names.join(":")),
            ("NOTIFY_SOCKET", path.display().to_string()),
            ("EBB_WORKER_ID", slot.to_string()),
            ("EBB_GENERATION", generation.to_string()),
            ("EBB_EPOCH", epoch.to_string()),
            ("EBB_MASTER_PID", std::process::id().to_string()),
            ("EBB_DRAIN_SIGNAL", self.config.drain_signal.as_str().into()),
            // For a worker orphaned by a killed master: nobody enforces the deadline then.
            (
                "EBB_DRAIN_TIMEOUT",
                format!("{}", self.config.drain_timeout.as_secs_f64()),
            ),
        ] {
            set_env(&mut env, k, v);
        }
        if let Some(w) = self.config.watchdog {
            // systemd's convention: send WATCHDOG=1 every WATCHDOG_USEC/2. No WATCHDOG_PID,
            // which sd_watchdog_enabled() accepts: a `sh -c` wrapper's child may send too.
            let usec = w.as_micros().clamp(1, u128::from(u64::MAX));
            set_env(&mut env, "WATCHDOG_USEC", usec.to_string());
        }
        if let WorkerCommand::Python(_) = self.config.command {
            let dir = self.rundir.path().join("python").display().to_string();
            let pp = match env.iter().find(|(k, _)| k == "PYTHONPATH") {
                Some((_, old)) if !old.is_empty() => format!("{dir}:{old}"),
                _ => dir,
            };
            set_env(&mut env, "PYTHONPATH", pp);
            set_env(&mut env, "PYTHONUNBUFFERED", "1".into());
        }
        let fds: Vec<RawFd> = self.listeners.iter().map(|l| l.fd()).collect();
        let mut prepared = spawn::Prepared::new(&spawn::Command {
            argv: &argv,
            env: &env,
            listen_fds: &fds,
            chdir: self.config.chdir.as_deref(),
            ids: self.ids,
            death_signal: self.config.drain_signal as i32,
        })?;
        let pid = prepared.spawn()?;
        if let Some(io) = self.io.get_mut(&id) {
            io.pid = Some(pid);
        }
        Ok(pid)
    }

    /// Reap every child that has exited.
    fn reap(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.last_words(pid.as_raw(), &mut events);
                    events.push(Event::Exited {
                        pid: pid.as_raw(),
                        status: ExitStatus::Code(code),
                    })
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.last_words(pid.as_raw(), &mut events);
                    events.push(Event::Exited {
                        pid: pid.as_raw(),
                        status: ExitStatus::Signal(sig as i32),
                    })
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        events
    }

    /// Read what an exited worker sent before it died, so its final counts are known.
    fn last_words(&mut self, pid: i32, events: &mut Vec<Event>) {
        if let Some(id) = self
            .io
            .iter()
            .find(|(_, io)| io.pid == Some(pid))
            .map(|(id, _)| *id)
        {
            self.read_notify(id, events);
        }
    }

    /// Block until a signal, a datagram or the nearest deadline.
    fn wait(&mut self) -> Result<Vec<Event>> {
        let timeout = match self.policy.next_deadline() {
            None => PollTimeout::NONE,
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                // Round up so we never wake a hair before the deadline and spin.
                let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms.max(0)).unwrap_or(PollTimeout::MAX)
            }
        };
        let ids: Vec<WorkerId> = self.io.keys().copied().collect();
        let (sig_ready, notify_ready) = {
            let mut fds: Vec<PollFd> = Vec::with_capacity(SIGNALS.len() + ids.len());
            for (_, r) in &self.signals.pipes {
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
            for id in &ids {
                fds.push(PollFd::new(self.io[id].notify.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll failed"),
            }
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            let (s, n) = ready.split_at(SIGNALS.len());
            (s.to_vec(), n.to_vec())
        };
        let mut events = Vec::new();
        for sig in self.signals.drain(&sig_ready) {
            self.on_signal(sig, &mut events);
        }
        for (id, ready) in ids.into_iter().zip(notify_ready) {
            if ready {
                self.read_notify(id, &mut events);
            }
        }
        events.extend(self.reap());
        Ok(events)
    }

    fn on_signal(&mut self, sig: Signal, events: &mut Vec<Event>) {
        match sig {
            Signal::SIGTERM | Signal::SIGINT => {
                info!(signal = sig.as_str(), "graceful stop requested");
                events.push(Event::Stop { graceful: true });
            }
            Signal::SIGQUIT => {
                info!(signal = sig.as_str(), "fast stop requested");
                events.push(Event::Stop { graceful: false });
            }
            Signal::SIGHUP => {
                if let Some(e) = self.reload() {
                    events.push(e);
                }
            }
            Signal::SIGTTIN => events.push(Event::AddWorker),
            Signal::SIGTTOU => events.push(Event::RemoveWorker),
            Signal::SIGUSR1 => {
                if let Some(p) = &self.config.logto {
                    match redirect_output(p) {
                        Ok(()) => info!(path = %p.display(), "log file reopened"),
                        Err(e) => error!("cannot reopen the log file: {e:#}"),
                    }
                }
            }
            Signal::SIGUSR2 => info!("SIGUSR2 ignored (ebb has no use for it)"),
            _ => {} // SIGCHLD: reaping happens on every turn
        }
    }

    /// SIGHUP: load the configuration again; apply it if valid, else keep the old one.
    fn reload(&mut self) -> Option<Event> {
        if self.policy.is_stopping() {
            info!("SIGHUP ignored: ebb is stopping");
            return None;
        }
        info!("reload requested (SIGHUP): reading the configuration again");
        let loaded = match self.loader.load() {
            Ok(l) => l,
            Err(errs) => {
                for e in &errs.0 {
                    error!("{e}");
                }
                error!(
                    "reload aborted: the configuration has {} error(s); still running the previous one",
                    errs.0.len()
                );
                return None;
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let new = loaded.config;
        let mut old = std::mem::take(&mut self.listeners);
        let inherited: Vec<Listener> = {
            // Sockets from systemd are not in the configuration: keep them as they are.
            let (sd, rest): (Vec<_>, Vec<_>) = old
                .into_iter()
                .partition(|l| !self.config.sockets.contains(&l.spec));
            old = rest;
            sd
        };
        match sockets::bind_all(&new.sockets, new.listen, new.chmod_socket, &mut old) {
            Ok(mut bound) => {
                let mut all = inherited;
                all.append(&mut bound);
                self.listeners = all;
                for l in old {
                    info!(socket = %l.spec.address, "socket closed: no longer configured");
                    l.close();
                }
            }
            Err(e) => {
                error!("reload aborted: {e:#}; still running the previous configuration");
                let mut all = inherited;
                all.append(&mut old);
                self.listeners = all;
                return None;
            }
        }
        match resolve_ids(&new) {
            Ok(ids) => self.ids = ids,
            Err(e) => {
                error!("reload aborted: {e:#}; still running the previous configuration");
                return None;
            }
        }
        if new.lost_work_log != self.config.lost_work_log {
            self.lost_log = new
                .lost_work_log
                .as_deref()
                .and_then(|p| open_append(p).map_err(|e| error!("{e:#}")).ok());
        }
        let params = Params::from_config(&new);
        self.config = new;
        Some(Event::Reload { params })
    }

    fn read_notify(&mut self, id: WorkerId, events: &mut Vec<Event>) {
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

    fn cleanup(&mut self) {
        for l in self.listeners.drain(..) {
            l.close();
        }
        if let Some(p) = &self.config.pidfile {
            let _ = std::fs::remove_file(p);
        }
        info!(
            uptime_s = self.started.elapsed().as_secs(),
            "ebb master exiting"
        );
    }
}

/// The worker, in words (the start-up log line, `--check-config`).
pub fn describe(c: &WorkerCommand) -> String {
    match c {
        WorkerCommand::ExampleApp => "the bundled example app".into(),
        WorkerCommand::Exec(argv) => argv.join(" "),
        WorkerCommand::Python(app) => match (&app.module, &app.wsgi_file) {
            (Some(m), _) => format!("Python WSGI module {m}"),
            (None, Some(f)) => format!("Python WSGI file {}", f.display()),
            _ => "Python WSGI app".into(),
        },
    }
}

/// Where the private runtime directory goes: `$XDG_RUNTIME_DIR` when usable, else the
/// temporary directory.
fn runtime_base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

/// Materialise the embedded Python worker and module under `dir/python`.
pub fn write_python_files(dir: &Path) -> Result<()> {
    let py = dir.join("python");
    std::fs::create_dir_all(py.join("ebb"))?;
    std::fs::write(py.join("ebb_worker.py"), PYTHON_WORKER)?;
    std::fs::write(py.join("run_worker.py"), PYTHON_LAUNCHER)?;
    std::fs::write(py.join("ebb/__init__.py"), PYTHON_MODULE)?;
    Ok(())
}

/// The RSS of each worker's process group (the worker and what it started), in KiB.
fn rss_by_group(workers: &[(WorkerId, i32)]) -> Vec<(WorkerId, u64)> {
    let page_kb = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4, |p| (p as u64) / 1024);
    let mut by_group: HashMap<i32, u64> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the ")" that ends the command name: state ppid pgrp ... rss is
            // field 24 overall, i.e. index 21 after the name.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let (Some(pgrp), Some(rss)) = (
                f.get(2).and_then(|s| s.parse::<i32>().ok()),
                f.get(21).and_then(|s| s.parse::<u64>().ok()),
            ) else {
                continue;
            };
            *by_group.entry(pgrp).or_default() += rss * page_kb;
        }
    }
    workers
        .iter()
        .filter_map(|(id, pid)| by_group.get(pid).map(|kb| (*id, *kb)))
        .collect()
}

//! The master loop: the one place where the policy's decisions meet the operating system.
//!
//! Single-threaded. Each turn: reap children, wait in `poll()` on the signal pipes and
//! every worker's notify socket with the nearest policy deadline as timeout (no fixed tick),
//! turn what happened into [`Event`]s, and carry out the [`Action`]s the policy returns.

mod daemons;
mod forkserver;
mod live;
mod lost;
mod reload;
mod rundir;
mod setup;
mod signals;
mod spooler;
mod touch;
mod watch;
mod workers;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use anyhow::{Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tracing::{debug, error, info, warn};

use rundir::RunDir;
use setup::{open_append, raise_nofile_limit, resolve_ids, unix_perms};
use signals::{SIGNALS, Signals};
use touch::{Touch, TouchWatch};
use workers::WorkerIo;

use crate::config::{Config, Loaded, Loader, WorkerCommand};
use crate::policy::{Action, Event, Level, Log, Params, Policy, WorkerId};
use crate::procinfo::memory_by_group;
use crate::sockets::{self, Listener};

pub struct Master {
    loader: Loader,
    config: Config,
    policy: Policy,
    listeners: Vec<Listener>,
    rundir: RunDir,
    touch: TouchWatch,
    /// `fs-reload` paths and `py-autoreload` module files.
    watch: watch::Watch,
    io: HashMap<WorkerId, WorkerIo>,
    /// Generations of the workers forgotten last (their final lines come after).
    gone: VecDeque<(WorkerId, u64)>,
    signals: Signals,
    ids: Option<(u32, u32)>,
    lost_log: Option<File>,
    /// Unix socket files whose sockets were released at the stop, removed at exit.
    released: Vec<std::path::PathBuf>,
    started: Instant,
    live: crate::live::Live,
    /// systemd's notify socket, when ebb runs as a `Type=notify` service.
    sd: Option<crate::live::sdnotify::SdNotify>,
    /// The configuration generation whose start-up pages were last unmapped (0: none yet).
    pages_released: u64,
    /// The Python fork servers (one per configuration generation).
    forks: forkserver::ForkServers,
    /// Daemons, mules and cron entries (`daemons`).
    side: daemons::Side,
}

fn log_action(l: &Log, generation: Option<u64>) {
    let (slot, pid, respawn) = match l.worker {
        Some(w) => (w.slot as i64, w.pid.unwrap_or(0) as i64, w.respawn as i64),
        None => (0, 0, 0),
    };
    let generation = generation.unwrap_or(0);
    let event = l.event;
    let msg = &l.message;
    if l.worker.is_some() {
        match l.level {
            Level::Debug => debug!(worker = slot, pid, generation, respawn, event, "{msg}"),
            Level::Info => info!(worker = slot, pid, generation, respawn, event, "{msg}"),
            Level::Warn => warn!(worker = slot, pid, generation, respawn, event, "{msg}"),
            Level::Error => error!(worker = slot, pid, generation, respawn, event, "{msg}"),
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

impl Master {
    /// Set everything up: sockets, signal handlers, runtime dir, pidfile.
    pub fn new(loader: Loader, loaded: Loaded) -> Result<Master> {
        let config = loaded.config;
        for w in &loaded.warnings {
            warn!("{w}");
        }
        if let Some(mask) = config.umask {
            // Before the sockets and the pidfile are created; workers inherit it.
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        }
        raise_nofile_limit(config.max_fd)?;
        let signals = Signals::install()?;
        let mut listeners = sockets::from_systemd()?;
        if !listeners.is_empty() {
            info!(count = listeners.len(), "using sockets passed by systemd");
        }
        let mut bound = sockets::bind_all(
            &config.sockets,
            config.listen,
            unix_perms(&config)?,
            &mut Vec::new(),
        )?;
        listeners.append(&mut bound);
        if listeners.is_empty() {
            anyhow::bail!("no socket to listen on: add --http-socket 127.0.0.1:8000");
        }
        let ids = resolve_ids(&config)?;
        let rundir = RunDir::create(ids)?;
        let touch = TouchWatch::new(&config.touch_reload, &config.touch_workers_reload);
        let watch = watch::Watch::new(&config, rundir.path(), ids);
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
        let live = crate::live::Live::new(&config)?;
        let addrs: Vec<String> = listeners
            .iter()
            .map(|l| format!("{}://{}", l.name, l.local_addr()))
            .collect();
        info!(
            pid = std::process::id(),
            processes = config.processes,
            control = %live.control_path.as_deref().map(|p| p.display().to_string()).unwrap_or_default(),
            "ebb {} master started, listening on {}; worker: {}",
            env!("CARGO_PKG_VERSION"),
            addrs.join(", "),
            describe(&config.command)
        );
        live.announce();
        Ok(Master {
            loader,
            config,
            policy,
            listeners,
            rundir,
            touch,
            watch,
            io: HashMap::new(),
            gone: VecDeque::new(),
            signals,
            ids,
            lost_log,
            released: Vec::new(),
            started: Instant::now(),
            live,
            sd: crate::live::sdnotify::SdNotify::from_env(),
            pages_released: 0,
            forks: forkserver::ForkServers::default(),
            side: daemons::Side::default(),
        })
    }

    /// Run until the workers have stopped; returns the exit code.
    pub fn run(mut self) -> Result<i32> {
        self.side_start();
        let mut queue: VecDeque<Action> = self.policy.handle(Instant::now(), Event::Tick).into();
        loop {
            while let Some(action) = queue.pop_front() {
                if let Some(code) = self.execute(action, &mut queue)? {
                    self.notify_systemd();
                    self.cleanup();
                    return Ok(code);
                }
            }
            self.notify_systemd();
            let mut events = self.reap();
            if events.is_empty() {
                self.release_pages_once_settled();
                events = self.wait()?;
            }
            let events = self.gate_reloads(events);
            let now = Instant::now();
            for e in events {
                queue.extend(self.policy.handle(now, e));
            }
            queue.extend(self.policy.handle(now, Event::Tick));
            for e in self.tidy_fork_servers() {
                queue.extend(self.policy.handle(now, e));
            }
            if self.policy.is_stopping() {
                self.side_stop();
            }
            if self.policy.is_stopping() && !self.listeners.is_empty() {
                // No worker starts again: the master's copies only keep connections waiting
                // in a backlog that nobody will accept from once the workers stop accepting.
                self.released
                    .extend(self.listeners.drain(..).filter_map(Listener::release));
            }
        }
    }

    /// Once every worker runs the current configuration generation and none drains (after the
    /// start, after each reload), unmap the code and constant pages the start or the reload
    /// touched and the idle loop does not use (`spawn::release_clean_pages`: an idle master
    /// had 6.1 MB of RSS before, 3.8 MB after, with stats, metrics and control on).
    fn release_pages_once_settled(&mut self) {
        let generation = self.policy.generation();
        if self.pages_released == generation {
            return; // done for this generation: no scan of the workers at each loop turn
        }
        let quiet = self.policy.settled()
            && self
                .policy
                .workers()
                .all(|w| w.state == crate::policy::State::Ready);
        if quiet {
            self.pages_released = generation;
            crate::spawn::release_clean_pages();
        }
    }

    /// Tell systemd what changed this turn (READY, RELOADING, STOPPING, STATUS, WATCHDOG).
    fn notify_systemd(&mut self) {
        if let Some(sd) = &mut self.sd {
            sd.step(&self.policy, Instant::now());
        }
    }

    fn feed(&mut self, event: Event, queue: &mut VecDeque<Action>) {
        queue.extend(self.policy.handle(Instant::now(), event));
    }

    /// Carry out one action. Returns `Some(code)` when the master must exit.
    fn execute(&mut self, action: Action, queue: &mut VecDeque<Action>) -> Result<Option<i32>> {
        match action {
            Action::Log(l) => {
                let generation = l.worker.and_then(|w| {
                    self.io
                        .get(&w.id)
                        .map(|io| io.generation)
                        .or_else(|| self.policy.worker(w.id).map(|p| p.generation))
                        .or_else(|| self.gone.iter().find(|g| g.0 == w.id).map(|g| g.1))
                });
                log_action(&l, generation);
            }
            Action::Spawn {
                id,
                slot,
                respawn,
                generation,
            } => {
                let event = match self.spawn(id, slot, respawn, generation) {
                    Ok(workers::Started::Pid(pid)) => Event::Spawned { id, pid },
                    // The fork server answers later (read in `wait`).
                    Ok(workers::Started::Asked) => return Ok(None),
                    Err(e) => {
                        self.forget(id);
                        spawn_failed(id, &e)
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
                let both = memory_by_group(&workers);
                let samples = both.iter().map(|(id, rss, _)| (*id, *rss)).collect();
                self.feed(Event::Rss { samples }, queue);
                if self.config.python_opts.reload_on_as_mb.is_some() {
                    let samples = both.iter().map(|(id, _, vsz)| (*id, *vsz)).collect();
                    self.feed(Event::AddressSpace { samples }, queue);
                }
            }
            Action::Forget { id } => self.forget(id),
            Action::Lost(lost) => self.record_lost(&lost),
            Action::Exit(code) => {
                self.side_finish();
                return Ok(Some(code));
            }
        }
        Ok(None)
    }

    /// Block until a signal, a datagram or the nearest deadline.
    fn wait(&mut self) -> Result<Vec<Event>> {
        let sd_deadline = self.sd.as_ref().and_then(|s| s.announcer.next_deadline());
        let deadline = [
            self.policy.next_deadline(),
            self.live.next_deadline(),
            sd_deadline,
            self.forks.next_deadline(self.config.ready_timeout),
            self.side.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                // Round up so we never wake a hair before the deadline and spin.
                let ms = d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms.max(0)).unwrap_or(PollTimeout::MAX)
            }
        };
        let ids: Vec<WorkerId> = self.io.keys().copied().collect();
        // Every worker's open log pipes, after the signal pipes and notify sockets.
        let outputs: Vec<(WorkerId, usize)> = ids
            .iter()
            .flat_map(|id| {
                self.io[id]
                    .pipes
                    .iter()
                    .flat_map(|p| p.poll_fds().into_iter().map(|(i, _)| (*id, i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        crate::logs::flush();
        let fork_fds: Vec<(i32, Option<usize>)> = self
            .forks
            .poll_fds()
            .into_iter()
            .map(|(pid, i, _)| (pid, i))
            .collect();
        let side_fds = self.side.poll_fds();
        let side_pipes: Vec<(daemons::Who, usize)> =
            side_fds.iter().map(|(w, i, _)| (*w, *i)).collect();
        let (
            sig_ready,
            notify_ready,
            output_ready,
            live_ready,
            fork_ready,
            rundir_changed,
            touched,
            watched,
            side_ready,
        ) = {
            let mut fds: Vec<PollFd> =
                Vec::with_capacity(SIGNALS.len() + ids.len() + outputs.len() + 2);
            for (_, r) in &self.signals.pipes {
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            }
            for id in &ids {
                fds.push(PollFd::new(self.io[id].notify.as_fd(), PollFlags::POLLIN));
            }
            for id in &ids {
                if let Some(p) = &self.io[id].pipes {
                    for (_, fd) in p.poll_fds() {
                        fds.push(PollFd::new(fd, PollFlags::POLLIN));
                    }
                }
            }
            let live_from = fds.len();
            for (fd, flags) in self.live.poll_fds() {
                fds.push(PollFd::new(fd, flags));
            }
            let live_to = fds.len();
            for (_, _, fd) in self.forks.poll_fds() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let fork_to = fds.len();
            // Optional descriptors go last, each remembered by its index.
            let rundir_at = push_optional(&mut fds, self.rundir.watch_fd());
            let touch_at = push_optional(&mut fds, self.touch.fd());
            let watch_at = push_optional(&mut fds, self.watch.fd());
            let side_from = fds.len();
            for (_, _, fd) in &side_fds {
                fds.push(PollFd::new(*fd, PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e).context("poll failed"),
            }
            let revents: Vec<PollFlags> = fds
                .iter()
                .map(|f| f.revents().unwrap_or(PollFlags::empty()))
                .collect();
            let ready: Vec<bool> = revents.iter().map(|r| !r.is_empty()).collect();
            let at = |i: Option<usize>| i.is_some_and(|i| ready[i]);
            let (s, rest) = ready.split_at(SIGNALS.len());
            let (n, rest) = rest.split_at(ids.len());
            (
                s.to_vec(),
                n.to_vec(),
                rest[..outputs.len()].to_vec(),
                revents[live_from..live_to].to_vec(),
                ready[live_to..fork_to].to_vec(),
                at(rundir_at),
                at(touch_at),
                at(watch_at),
                ready[side_from..].to_vec(),
            )
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
        for ((id, i), ready) in outputs.into_iter().zip(output_ready) {
            if ready {
                self.read_output(id, i);
            }
        }
        // Output first: a fork server's traceback is logged before what the master says.
        for ((pid, i), ready) in fork_fds.iter().zip(&fork_ready) {
            if let (true, Some(i)) = (*ready, i) {
                self.read_fork_output(*pid, *i);
            }
        }
        for ((pid, i), ready) in fork_fds.into_iter().zip(fork_ready) {
            if ready && i.is_none() {
                self.read_fork_channel(pid, &mut events);
            }
        }
        for ((who, i), ready) in side_pipes.into_iter().zip(side_ready) {
            if ready {
                self.side_read(who, i);
            }
        }
        self.side_tick();
        if rundir_changed {
            self.rundir.drain_events();
            self.repair_rundir(&mut events);
        }
        if touched {
            self.on_touch(&mut events);
        }
        if watched {
            self.on_watch(&mut events);
        }
        let now = Instant::now();
        let requests = self.live.on_poll(&live_ready, now);
        self.serve_live(requests, &mut events);
        self.live.expire(now);
        events.extend(self.reap());
        Ok(events)
    }

    /// A `touch-reload` or `touch-workers-reload` file's mtime changed.
    fn on_touch(&mut self, events: &mut Vec<Event>) {
        let Some((touch, path)) = self.touch.touched() else {
            return;
        };
        if self.policy.is_stopping() {
            info!(path = %path.display(), "{} touched; ignored: ebb is stopping", path.display());
            return;
        }
        match touch {
            Touch::Reload => {
                info!(path = %path.display(), "{} touched: reloading", path.display());
                if let Ok(e) = self.reload() {
                    events.push(e);
                }
            }
            Touch::Workers => {
                info!(
                    path = %path.display(),
                    "{} touched: replacing every worker (the configuration is not read again)",
                    path.display()
                );
                events.push(Event::Reload {
                    params: Params::from_config(&self.config),
                });
            }
        }
    }

    pub(super) fn on_signal(&mut self, sig: Signal, events: &mut Vec<Event>) {
        match sig {
            Signal::SIGTERM | Signal::SIGINT => {
                info!(signal = sig.as_str(), "graceful stop requested");
                events.push(Event::Stop { graceful: true });
            }
            Signal::SIGQUIT => {
                info!(signal = sig.as_str(), "fast stop requested");
                self.side_fast_stop();
                events.push(Event::Stop { graceful: false });
            }
            Signal::SIGHUP => {
                if let Ok(e) = self.reload() {
                    events.push(e);
                }
            }
            Signal::SIGTTIN => events.push(Event::AddWorker),
            Signal::SIGTTOU => events.push(Event::RemoveWorker),
            Signal::SIGUSR1 => {
                let (files, errs) =
                    crate::logs::with(|l| (l.files(), l.reopen())).unwrap_or_default();
                for e in errs {
                    error!("cannot reopen a log file: {e}");
                }
                if !files.is_empty() {
                    let names: Vec<String> =
                        files.iter().map(|p| p.display().to_string()).collect();
                    info!(
                        signal = "SIGUSR1",
                        "log files reopened: {}",
                        names.join(", ")
                    );
                }
            }
            Signal::SIGUSR2 => info!("SIGUSR2 ignored (ebb has no use for it)"),
            _ => {} // SIGCHLD: reaping happens on every turn
        }
    }

    fn cleanup(&mut self) {
        self.stop_fork_servers();
        self.live.cleanup();
        for l in self.listeners.drain(..) {
            l.close();
        }
        for p in self.released.drain(..) {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &self.config.pidfile {
            let _ = std::fs::remove_file(p);
        }
        info!(
            uptime_s = self.started.elapsed().as_secs(),
            "ebb master exiting"
        );
        crate::logs::flush();
    }
}

/// Add `fd` to the poll set if there is one; its index there.
fn push_optional<'a>(fds: &mut Vec<PollFd<'a>>, fd: Option<BorrowedFd<'a>>) -> Option<usize> {
    fd.map(|fd| {
        fds.push(PollFd::new(fd, PollFlags::POLLIN));
        fds.len() - 1
    })
}

/// The worker, in words (the start-up log line, `--check-config`).
pub fn describe(c: &WorkerCommand) -> String {
    match c {
        WorkerCommand::ExampleApp => "the bundled example app".into(),
        WorkerCommand::Exec(argv) => argv.join(" "),
        WorkerCommand::Python(app) => {
            let what = match (&app.module, &app.wsgi_file) {
                (Some(m), _) => format!("Python WSGI module {m}"),
                (None, Some(f)) => format!("Python WSGI file {}", f.display()),
                _ => "Python WSGI app".into(),
            };
            if app.lazy_apps {
                format!("{what}, imported by each worker (--lazy-apps)")
            } else {
                format!("{what}, imported once by a fork server that forks the workers")
            }
        }
    }
}

/// The event for a worker the master could not start: `SpawnOutOfFds` when it was for want of
/// file descriptors (EMFILE or ENFILE somewhere in the error's chain), else `SpawnFailed`.
pub(crate) fn spawn_failed(id: WorkerId, e: &anyhow::Error) -> Event {
    let error = format!("{e:#}");
    let errno = |c: &(dyn std::error::Error + 'static)| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .or_else(|| c.downcast_ref::<nix::errno::Errno>().map(|n| *n as i32))
    };
    if e.chain()
        .any(|c| matches!(errno(c), Some(libc::EMFILE | libc::ENFILE)))
    {
        Event::SpawnOutOfFds { id, error }
    } else {
        Event::SpawnFailed { id, error }
    }
}

//! The master's side of the Python fork servers (docs/protocol.md, "The fork server").
//!
//! One fork server per configuration generation imports the app and forks the workers the
//! master asks for. The master stays the only supervisor: it is a child subreaper
//! (`PR_SET_CHILD_SUBREAPER`), the fork server forks each worker through an intermediate
//! child that exits at once, so the worker is re-parented to the master, which reaps it and
//! signals its process group like any worker. The fork server answers each request with the
//! worker's pid over its channel, a `SOCK_SEQPACKET` socketpair; the worker's own descriptors
//! (its log pipes and the listening sockets) travel with the request (`SCM_RIGHTS`).
//!
//! Everything here runs in the master's loop: the channel and the server's log pipes are
//! polled with the rest, and its deadlines (the import bounded by `--ready-timeout`, each
//! answer by [`ANSWER_TIMEOUT`]) join the loop's timeout. The policy sees only what it saw
//! before: `Spawned` (later than with exec), `SpawnFailed`, `Exited`, and a `Reload` that
//! arrives once the new code imported.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, killpg};
use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr, recv, sendmsg,
    socketpair,
};
use nix::unistd::Pid;
use tracing::{error, info, warn};

use super::Master;
use super::workers::set_env;
use crate::config::WorkerCommand;
use crate::logs::WorkerTag;
use crate::logs::pipes::{ChildEnds, Pipes};
use crate::policy::{Event, ExitStatus, Params, WorkerId};
use crate::spawn;

/// How long a fork server that has imported the app may take to answer a request.
pub(super) const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Exits reaped before the fork server named the pid: kept this long, at most this many.
const EARLY_EXIT_KEPT: Duration = Duration::from_secs(60);
const EARLY_EXITS_MAX: usize = 256;
/// Room in the fork server's environment for each worker's own (see forkserver.py,
/// `show_environ`).
const ENV_ROOM: usize = 2048;
/// The biggest message a fork server sends.
const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Importing the app.
    Importing,
    /// Imported; answers fork requests.
    Ready,
    /// The import made forking unsafe: this generation's workers import the app themselves.
    Lazy,
    /// Its generation is over: the channel is closed and it exits.
    Retired,
}

/// A request waiting for the import to finish.
struct Queued {
    id: WorkerId,
    env: Vec<(String, String)>,
    ends: ChildEnds,
}

pub(super) struct ForkServer {
    generation: u64,
    pid: i32,
    chan: Option<OwnedFd>,
    state: State,
    started: Instant,
    /// When it entered its state, and how long its import took (as it said), for the status.
    since: Instant,
    import_s: Option<f64>,
    /// Listening sockets when it started (the places it holds for them).
    nfds: usize,
    queued: Vec<Queued>,
    /// Requests sent, with when; answered by pid.
    asked: Vec<(WorkerId, Instant)>,
    pipes: Pipes,
    /// A reload waiting for this import: given to the policy once it succeeded.
    reload: Option<Params>,
    /// Why the master killed it, when it did.
    killed: Option<String>,
    /// Its exit, reaped while fork requests were unanswered: the intermediate children it
    /// forked answer for them, so it is finished once the channel is closed (every holder
    /// gone) or the answer timeout passes.
    exited: Option<ExitStatus>,
}

impl ForkServer {
    fn tag(&self) -> WorkerTag {
        WorkerTag {
            slot: 0,
            pid: self.pid,
            generation: self.generation,
            respawn: 0,
            side: None,
        }
    }

    fn kill(&mut self, why: String) {
        if self.killed.is_none() {
            self.killed = Some(why);
        }
        let _ = killpg(Pid::from_raw(self.pid), Signal::SIGKILL);
    }
}

/// Every fork server, and what is waiting on them.
#[derive(Default)]
pub(super) struct ForkServers {
    servers: Vec<ForkServer>,
    /// Exits reaped before the fork server said whose they were.
    early_exits: VecDeque<(i32, ExitStatus, Instant)>,
    /// Generations whose fork server found forking unsafe: their workers are exec'd.
    lazy: Vec<u64>,
    /// Whether the master became a child subreaper (`None`: not tried yet).
    subreaper: Option<bool>,
    /// Reloads whose import succeeded, for the policy (not gated again).
    pub(super) released: Vec<Event>,
    /// /dev/null, opened once: what the fork server's socket places hold.
    devnull: Option<std::fs::File>,
}

impl ForkServers {
    /// Some request waits for a pid.
    fn awaiting(&self) -> bool {
        self.servers
            .iter()
            .any(|s| !s.asked.is_empty() || !s.queued.is_empty())
    }

    /// Each fork server for `ebb status` and the stats document.
    pub(super) fn status(&self) -> Vec<crate::live::snapshot::ForkServerInfo> {
        self.servers
            .iter()
            .map(|s| crate::live::snapshot::ForkServerInfo {
                pid: s.pid,
                generation: s.generation,
                state: match s.state {
                    State::Importing => "importing",
                    State::Ready => "ready",
                    State::Lazy => "lazy",
                    State::Retired => "retired",
                },
                import_s: s.import_s,
                started: s.started,
                since: s.since,
            })
            .collect()
    }

    /// The fds to poll: (server pid, `None` for the channel or the pipe's index, fd).
    pub(super) fn poll_fds(&self) -> Vec<(i32, Option<usize>, BorrowedFd<'_>)> {
        let mut v = Vec::new();
        for s in &self.servers {
            if let Some(c) = &s.chan {
                v.push((s.pid, None, c.as_fd()));
            }
            for (i, fd) in s.pipes.poll_fds() {
                v.push((s.pid, Some(i), fd));
            }
        }
        v
    }

    /// The nearest moment a fork server's deadline passes.
    pub(super) fn next_deadline(&self, ready_timeout: Duration) -> Option<Instant> {
        self.servers
            .iter()
            .flat_map(|s| {
                let import = (s.state == State::Importing && s.killed.is_none())
                    .then_some(s.started + ready_timeout);
                let answer = s.asked.iter().map(|(_, t)| *t + ANSWER_TIMEOUT).min();
                import.into_iter().chain(answer)
            })
            .min()
    }
}

/// One message from a fork server.
#[derive(serde::Deserialize)]
struct Message {
    t: String,
    #[serde(default)]
    id: Option<WorkerId>,
    #[serde(default)]
    pid: Option<i32>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    import_s: Option<f64>,
}

impl Master {
    /// Workers of the current configuration are forked from a fork server: a Python app
    /// without `--lazy-apps`, and the master could become a child subreaper.
    pub(super) fn fork_mode(&mut self) -> bool {
        let WorkerCommand::Python(app) = &self.config.command else {
            return false;
        };
        if app.lazy_apps {
            return false;
        }
        *self.forks.subreaper.get_or_insert_with(|| {
            match nix::sys::prctl::set_child_subreaper(true) {
                Ok(()) => true,
                Err(e) => {
                    warn!(
                        "cannot become a child subreaper ({e}): each Python worker imports the \
                         app itself (as with --lazy-apps)"
                    );
                    false
                }
            }
        })
    }

    /// Hand worker `id` to the fork server of `generation` (started if there is none).
    /// `Ok(None)`: asked (or queued until its import ends); `Ok(Some(..))`: start it by
    /// exec instead (this generation imports in each worker, or the sockets changed since
    /// the server started).
    #[allow(clippy::type_complexity)]
    pub(super) fn ask_fork(
        &mut self,
        id: WorkerId,
        generation: u64,
        env: Vec<(String, String)>,
        ends: ChildEnds,
    ) -> Result<Option<(Vec<(String, String)>, ChildEnds)>> {
        if self.forks.lazy.contains(&generation) {
            return Ok(Some((env, ends)));
        }
        let at = match self.server_index(generation) {
            Some(i) => i,
            None => {
                self.start_fork_server(generation, None)?;
                self.forks.servers.len() - 1
            }
        };
        let n = self.listeners.len();
        let s = &mut self.forks.servers[at];
        match s.state {
            State::Importing => {
                s.queued.push(Queued { id, env, ends });
                Ok(None)
            }
            State::Ready if s.nfds == n => {
                self.send_fork(at, id, &env, &ends)?;
                Ok(None)
            }
            _ => Ok(Some((env, ends))),
        }
    }

    /// The live (not retired) fork server of `generation`.
    fn server_index(&self, generation: u64) -> Option<usize> {
        self.forks
            .servers
            .iter()
            .position(|s| s.generation == generation && s.state != State::Retired)
    }

    fn send_fork(
        &mut self,
        at: usize,
        id: WorkerId,
        env: &[(String, String)],
        ends: &ChildEnds,
    ) -> Result<()> {
        let map: serde_json::Map<String, serde_json::Value> = env
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let body = serde_json::json!({"t": "fork", "id": id, "env": map}).to_string();
        let mut fds: Vec<RawFd> = vec![
            ends.stdout.as_raw_fd(),
            ends.stderr.as_raw_fd(),
            ends.records.as_raw_fd(),
        ];
        fds.extend(self.listeners.iter().map(|l| l.fd()));
        let s = &mut self.forks.servers[at];
        let chan = s
            .chan
            .as_ref()
            .context("the fork server's channel is closed")?;
        let sent = sendmsg::<UnixAddr>(
            chan.as_raw_fd(),
            &[IoSlice::new(body.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            None,
        );
        match sent {
            Ok(_) => {
                s.asked.push((id, Instant::now()));
                Ok(())
            }
            Err(e) => {
                s.kill(format!("its channel failed ({e})"));
                Err(e).context("asking the fork server for a worker")
            }
        }
    }

    /// Start the fork server of `generation`; `reload`: the policy gets this reload once
    /// the import succeeded.
    pub(super) fn start_fork_server(
        &mut self,
        generation: u64,
        reload: Option<Params>,
    ) -> Result<()> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("creating the fork server's channel")?;
        nix::fcntl::fcntl(
            &ours,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .context("making the fork server's channel non-blocking")?;
        if self.forks.devnull.is_none() {
            self.forks.devnull =
                Some(std::fs::File::open("/dev/null").context("opening /dev/null")?);
        }
        let null = self
            .forks
            .devnull
            .as_ref()
            .map(|f| f.as_raw_fd())
            .unwrap_or(-1);
        let n = self.listeners.len();
        let places = vec![null; n];
        let mut env = self.common_env();
        for (k, v) in [
            ("EBB_FORK_CHANNEL", (4 + n).to_string()),
            ("EBB_FORK_LISTEN_FDS", n.to_string()),
            ("EBB_LOG_FD", (3 + n).to_string()),
            ("EBB_CONFIG_GENERATION", generation.to_string()),
            ("EBB_PROCNAME", format!("ebb fork server gen {generation}")),
            ("EBB_ENV_ROOM", " ".repeat(ENV_ROOM)),
        ] {
            set_env(&mut env, k, v);
        }
        if let WorkerCommand::Python(app) = &self.config.command
            && app.fork_anyway
        {
            set_env(&mut env, "EBB_FORK_ANYWAY", "1".into());
        }
        let (pipes, ends) = Pipes::create().context("creating the fork server's log pipes")?;
        let argv = self.worker_argv(true)?;
        let stdin = self.workers_stdin()?;
        let mut prepared = spawn::Prepared::new(&spawn::Command {
            argv: &argv,
            env: &env,
            listen_fds: &places,
            output: Some(spawn::Output {
                stdout: ends.stdout.as_raw_fd(),
                stderr: ends.stderr.as_raw_fd(),
                records: ends.records.as_raw_fd(),
            }),
            after: &[theirs.as_raw_fd()],
            chdir: self.config.chdir.as_deref(),
            ids: self.ids,
            death_signal: Signal::SIGKILL as i32,
            stdin: stdin.as_ref().map(|f| f.as_raw_fd()),
        })?;
        let pid = prepared
            .spawn()
            .context("starting the Python fork server")?;
        drop(ends);
        drop(theirs);
        info!(
            pid,
            generation,
            event = "fork-server",
            "fork server started: importing the app for configuration generation {generation}"
        );
        self.forks.servers.push(ForkServer {
            generation,
            pid,
            chan: Some(ours),
            state: State::Importing,
            since: Instant::now(),
            import_s: None,
            started: Instant::now(),
            nfds: n,
            queued: Vec::new(),
            asked: Vec::new(),
            pipes,
            reload,
            killed: None,
            exited: None,
        });
        Ok(())
    }

    /// Reloads load new code first when the workers are forked: a new fork server imports
    /// the app, and the policy gets the reload only once that import succeeded.
    pub(super) fn gate_reloads(&mut self, events: Vec<Event>) -> Vec<Event> {
        let mut out = Vec::with_capacity(events.len());
        for e in events {
            match e {
                Event::Reload { params }
                    if !self.policy.is_stopping()
                        && self.policy.shutdown_delay_until().is_none()
                        && self.fork_mode() =>
                {
                    let generation = self.policy.generation() + 1;
                    // A newer reload replaces one still importing.
                    for s in &mut self.forks.servers {
                        if s.reload.is_some() && s.state == State::Importing {
                            s.reload = None;
                            s.kill("a newer reload replaced it".into());
                            s.state = State::Retired;
                            s.since = Instant::now();
                            s.chan = None;
                        }
                    }
                    if let Err(e) = self.start_fork_server(generation, Some(params)) {
                        error!(
                            "reload aborted: {e:#}; still serving configuration generation {}",
                            self.policy.generation()
                        );
                    }
                }
                other => out.push(other),
            }
        }
        out.append(&mut self.forks.released);
        out
    }

    /// Read what fork server `pid`'s channel holds.
    pub(super) fn read_fork_channel(&mut self, pid: i32, events: &mut Vec<Event>) {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let Some(at) = self.forks.servers.iter().position(|s| s.pid == pid) else {
                return;
            };
            let Some(chan) = self.forks.servers[at].chan.as_ref() else {
                return;
            };
            let n = match recv(chan.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => {
                    // It closed its end: its exit is reaped next (or was: finish it now).
                    self.forks.servers[at].chan = None;
                    if let Some(status) = self.forks.servers[at].exited {
                        self.fork_server_gone(at, status, events);
                    }
                    return;
                }
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return, // EAGAIN: nothing more now
            };
            match serde_json::from_slice::<Message>(&buf[..n]) {
                Ok(m) => self.on_fork_message(at, m, events),
                Err(e) => warn!(
                    pid,
                    "dropped a bad message from the fork server ({e}): {}",
                    String::from_utf8_lossy(&buf[..n.min(200)])
                ),
            }
        }
    }

    fn on_fork_message(&mut self, at: usize, m: Message, events: &mut Vec<Event>) {
        let s = &mut self.forks.servers[at];
        let (pid, generation) = (s.pid, s.generation);
        match m.t.as_str() {
            "ready" | "lazy" => {
                let took = s.started.elapsed().as_secs_f64();
                s.since = Instant::now();
                s.import_s = Some(m.import_s.unwrap_or(took));
                if m.t == "ready" {
                    s.state = State::Ready;
                    info!(
                        pid,
                        generation,
                        event = "fork-server-ready",
                        "fork server ready: the app imported in {:.3}s ({took:.3}s since start); \
                         workers are forked from it",
                        m.import_s.unwrap_or(took)
                    );
                } else {
                    s.state = State::Lazy;
                    s.chan = None;
                    self.forks.lazy.push(generation);
                    info!(
                        pid,
                        generation,
                        event = "fork-server-lazy",
                        "workers of configuration generation {generation} import the app \
                         themselves: {}",
                        m.why.as_deref().unwrap_or("forking was unsafe")
                    );
                }
                if let Some(params) = s.reload.take() {
                    self.forks.released.push(Event::Reload { params });
                }
                let queued = std::mem::take(&mut self.forks.servers[at].queued);
                for q in queued {
                    self.start_queued(at, q, events);
                }
            }
            "forked" => {
                let (Some(id), Some(wpid)) = (m.id, m.pid) else {
                    return;
                };
                s.asked.retain(|(a, _)| *a != id);
                if let Some(io) = self.io.get_mut(&id) {
                    io.pid = Some(wpid);
                    events.push(Event::Spawned { id, pid: wpid });
                    if let Some(i) = self.forks.early_exits.iter().position(|e| e.0 == wpid) {
                        let (_, status, _) = self.forks.early_exits.remove(i).expect("found");
                        self.last_words(wpid, events);
                        events.push(Event::Exited { pid: wpid, status });
                    }
                } else {
                    // Forgotten meanwhile (it should not happen): do not leave it running.
                    let _ = killpg(Pid::from_raw(wpid), Signal::SIGKILL);
                }
            }
            "fork-failed" => {
                let Some(id) = m.id else { return };
                if self.io.get(&id).is_some_and(|io| io.pid.is_some()) {
                    // Its pid came first (the intermediate child answered, then was killed
                    // before it exited cleanly): the worker runs.
                    return;
                }
                s.asked.retain(|(a, _)| *a != id);
                events.push(Event::SpawnFailed {
                    id,
                    error: format!(
                        "the fork server could not fork it: {}",
                        m.error.as_deref().unwrap_or("no reason given")
                    ),
                });
            }
            other => warn!(pid, "unknown message {other:?} from the fork server"),
        }
    }

    /// A request that waited for the import: send it, or exec the worker.
    fn start_queued(&mut self, at: usize, q: Queued, events: &mut Vec<Event>) {
        let n = self.listeners.len();
        let s = &self.forks.servers[at];
        let result = if s.state == State::Ready && s.nfds == n {
            self.send_fork(at, q.id, &q.env, &q.ends).map(|()| None)
        } else {
            self.exec_worker(&q.env, q.ends).map(Some)
        };
        match result {
            Ok(None) => {}
            Ok(Some(pid)) => {
                if let Some(io) = self.io.get_mut(&q.id) {
                    io.pid = Some(pid);
                }
                events.push(Event::Spawned { id: q.id, pid });
            }
            Err(e) => events.push(super::spawn_failed(q.id, &e)),
        }
    }

    /// A reaped child that may be a fork server: log its end, fail what waited on it, and
    /// start the current generation's again if it died while serving. Returns whether
    /// `pid` was one.
    pub(super) fn fork_server_exited(
        &mut self,
        pid: i32,
        status: ExitStatus,
        events: &mut Vec<Event>,
    ) -> bool {
        if !self.forks.servers.iter().any(|s| s.pid == pid) {
            return false;
        }
        // What it said before it exited comes first: its exit can be reaped before its last
        // message ("lazy": the app is not safe to fork) is read in the loop.
        self.read_fork_channel(pid, events);
        let Some(at) = self.forks.servers.iter().position(|s| s.pid == pid) else {
            return true; // finished by the channel's end just now
        };
        let s = &mut self.forks.servers[at];
        if s.chan.is_some() && !s.asked.is_empty() {
            // A worker it forked may be announced still, by the intermediate child.
            s.exited = Some(status);
            return true;
        }
        self.fork_server_gone(at, status, events);
        true
    }

    /// A fork server's exit, once nothing more can come from it: log it, fail what waited
    /// on it, and start the current generation's again if it died while serving.
    fn fork_server_gone(&mut self, at: usize, status: ExitStatus, events: &mut Vec<Event>) {
        let mut s = self.forks.servers.remove(at);
        let pid = s.pid;
        let tag = s.tag();
        s.pipes.finish(&tag, None);
        let generation = s.generation;
        let why = s.killed.clone().unwrap_or_else(|| status.to_string());
        let current = generation == self.policy.generation();
        for (id, _) in s.asked.drain(..) {
            events.push(Event::SpawnFailed {
                id,
                error: format!("the fork server exited ({why}) before it answered"),
            });
        }
        match s.state {
            State::Importing => {
                let what = format!(
                    "the fork server could not import the app ({why}; its output is above)"
                );
                if s.reload.is_some() {
                    error!(
                        pid,
                        generation,
                        event = "reload-failed",
                        "reload aborted: {what}; still serving configuration generation {}",
                        self.policy.generation()
                    );
                } else {
                    error!(pid, generation, event = "fork-server-failed", "{what}");
                }
                for q in s.queued.drain(..) {
                    events.push(Event::SpawnFailed {
                        id: q.id,
                        error: what.clone(),
                    });
                }
            }
            State::Ready if current && s.killed.is_none() && !self.policy.is_stopping() => {
                warn!(
                    pid,
                    generation,
                    event = "fork-server-died",
                    "the fork server of configuration generation {generation} exited ({why}); \
                     the workers keep serving, and another one imports the app"
                );
                if let Err(e) = self.start_fork_server(generation, None) {
                    error!("{e:#}; the next worker starts it again");
                }
            }
            _ => info!(
                pid,
                generation,
                event = "fork-server-exit",
                "fork server of configuration generation {generation} exited ({why})"
            ),
        }
    }

    /// An exit reaped while a fork request waits: it may be that worker's (it died before
    /// its pid came back), so it is kept until the pid arrives. Returns whether it was kept.
    pub(super) fn keep_early_exit(&mut self, pid: i32, status: ExitStatus) -> bool {
        if self.io.values().any(|io| io.pid == Some(pid)) || !self.forks.awaiting() {
            return false;
        }
        let now = Instant::now();
        while self
            .forks
            .early_exits
            .front()
            .is_some_and(|e| now.duration_since(e.2) > EARLY_EXIT_KEPT)
            || self.forks.early_exits.len() >= EARLY_EXITS_MAX
        {
            self.forks.early_exits.pop_front();
        }
        self.forks.early_exits.push_back((pid, status, now));
        true
    }

    /// Log what fork server `pid`'s pipe `i` holds.
    pub(super) fn read_fork_output(&mut self, pid: i32, i: usize) {
        if let Some(s) = self.forks.servers.iter_mut().find(|s| s.pid == pid) {
            let tag = s.tag();
            s.pipes.read(i, &tag, None);
        }
    }

    /// Each turn: deadlines, and fork servers whose generation is over. Returns what the
    /// policy learns from fork servers finished here.
    pub(super) fn tidy_fork_servers(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        let now = Instant::now();
        while let Some(at) = self.forks.servers.iter().position(|s| {
            s.exited.is_some() && s.asked.iter().any(|(_, t)| now >= *t + ANSWER_TIMEOUT)
        }) {
            let status = self.forks.servers[at].exited.expect("exited");
            self.fork_server_gone(at, status, &mut events);
        }
        let ready_timeout = self.config.ready_timeout;
        let current = self.policy.generation();
        let stopping = self.policy.is_stopping();
        for s in &mut self.forks.servers {
            if s.state == State::Importing && s.killed.is_none() && now >= s.started + ready_timeout
            {
                s.kill(format!(
                    "it did not finish importing the app within --ready-timeout {}s",
                    ready_timeout.as_secs_f64()
                ));
            }
            if s.asked.iter().any(|(_, t)| now >= *t + ANSWER_TIMEOUT) {
                s.kill(format!(
                    "it did not answer a fork request within {}s",
                    ANSWER_TIMEOUT.as_secs()
                ));
            }
            // Over: an older generation (or any, when stopping) with nothing outstanding,
            // or a newer one whose reload the policy did not take.
            let over = stopping
                || s.generation < current
                || (s.generation > current && s.reload.is_none());
            if over && s.asked.is_empty() && s.queued.is_empty() && s.state != State::Retired {
                if s.state == State::Importing {
                    s.kill("its configuration generation is over".into());
                }
                s.state = State::Retired;
                s.since = Instant::now();
                s.chan = None; // EOF: it exits
            }
        }
        events
    }

    /// At exit: no fork server outlives the master.
    pub(super) fn stop_fork_servers(&mut self) {
        for s in &mut self.forks.servers {
            s.chan = None;
            let _ = killpg(Pid::from_raw(s.pid), Signal::SIGKILL);
        }
    }
}

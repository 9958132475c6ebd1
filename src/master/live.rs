//! Wiring for `src/live/`: the control socket, the master fifo, the stats and metrics
//! servers, answered from this loop. The logic lives in `crate::live`.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use nix::sys::signal::Signal;
use tracing::{info, warn};

use super::Master;
use crate::live::snapshot::{self, Inputs};
use crate::live::{Command, Request};
use crate::policy::Event;

impl Master {
    /// The stats document, from the policy's state and fresh RSS and listen-queue readings.
    pub(super) fn stats_document(&self) -> serde_json::Value {
        let now = Instant::now();
        let pids: Vec<_> = self
            .policy
            .workers()
            .filter_map(|w| w.pid.map(|p| (w.id, p)))
            .collect();
        let memory: HashMap<_, _> = crate::live::worker_memory_kb(&pids);
        let inputs = Inputs {
            now,
            wall: SystemTime::now(),
            master_pid: std::process::id(),
            uid: nix::unistd::getuid().as_raw(),
            gid: nix::unistd::getgid().as_raw(),
            cwd: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            started: self.started,
            memory: &memory,
            threads_per_worker: match &self.config.command {
                crate::config::WorkerCommand::Python(app) => app.threads as u64,
                _ => 1,
            },
            listen: crate::live::listen_info(&self.listeners),
        };
        let mut doc = snapshot::stats_json(&self.policy, &inputs);
        let forks = self.forks.status();
        if !forks.is_empty() {
            doc["fork_servers"] = snapshot::fork_servers_json(&forks, now);
        }
        let side = self.side_json();
        if !side.is_empty() {
            doc["side_processes"] = serde_json::Value::Array(side);
        }
        doc
    }

    /// Carry out what clients of the control socket and the fifo asked for.
    pub(super) fn serve_live(&mut self, requests: Vec<Request>, events: &mut Vec<Event>) {
        let mut doc = None;
        for r in requests {
            match r {
                Request::Document { client } => {
                    let d = doc.get_or_insert_with(|| self.stats_document());
                    self.live.answer_document(client, d);
                }
                Request::Command { client, command } => {
                    info!(command = %command.line(), "control command");
                    let result = self.command(&command, events);
                    self.live.answer(client, result);
                }
                Request::Fifo(c) => self.fifo_command(c, events),
            }
        }
    }

    fn command(&mut self, c: &Command, events: &mut Vec<Event>) -> Result<String, String> {
        if self.policy.is_stopping() && !matches!(c, Command::Stop { .. }) {
            return Err("ebb is stopping".into());
        }
        match *c {
            Command::Status => Ok(String::new()),
            Command::Reload => {
                events.push(self.reload()?);
                Ok(format!(
                    "reloading: every worker is replaced with configuration generation {}",
                    self.policy.generation() + 1
                ))
            }
            Command::Stop { fast } => {
                if fast {
                    self.side_fast_stop();
                }
                events.push(Event::Stop { graceful: !fast });
                // Asked before the stop is handled: the policy's state as the stop finds it.
                let delay = self.policy.graceful_stop_delay();
                Ok(if fast {
                    "fast stop: workers told to quit".into()
                } else if self.policy.shutdown_delay_until().is_some() {
                    "graceful stop now: the rest of the shutdown delay is skipped; every \
                     worker drains, then ebb exits"
                        .into()
                } else if let Some(delay) = delay {
                    format!(
                        "graceful stop in {} (--shutdown-delay): ebb serves meanwhile, then \
                         every worker drains and ebb exits; ebb stop again skips the delay",
                        crate::policy::given(delay)
                    )
                } else {
                    "graceful stop: every worker drains, then ebb exits".into()
                })
            }
            Command::Scale(n) if n == 0 || n > 1024 => Err(format!(
                "scale {n}: give 1 to 1024 workers (to stop ebb: ebb stop)"
            )),
            Command::Scale(n) => {
                events.push(Event::Scale { processes: n });
                Ok(format!("scaling to {n} workers"))
            }
            Command::Recycle(slot) => {
                let serving = self.policy.params().processes;
                if slot == 0 || slot > serving {
                    return Err(format!(
                        "there is no worker {slot}: workers are numbered 1 to {serving} \
                         (see ebb status)"
                    ));
                }
                events.push(Event::Recycle { slot });
                Ok(format!(
                    "recycling worker {slot}: a replacement starts, then it drains"
                ))
            }
        }
    }

    /// uWSGI's master-fifo letters.
    fn fifo_command(&mut self, c: char, events: &mut Vec<Event>) {
        info!(command = %c, "master fifo command");
        match c {
            'r' | 'R' | 'c' => {
                if c == 'R' {
                    info!(
                        "master fifo: R (a brutal reload in uWSGI) reloads gracefully here: \
                         in-flight requests and jobs finish first (Q stops at once)"
                    );
                }
                if let Ok(e) = self.reload() {
                    events.push(e);
                }
            }
            'w' | 'W' => {
                if c == 'W' {
                    info!(
                        "master fifo: W (a brutal reload of the workers in uWSGI) replaces \
                         them gracefully here: in-flight requests and jobs finish first"
                    );
                }
                // Every worker replaced, on the configuration already loaded.
                let params = self.policy.params().clone();
                events.push(Event::Reload { params });
            }
            'q' => events.push(Event::Stop { graceful: true }),
            'Q' => {
                self.side_fast_stop();
                events.push(Event::Stop { graceful: false });
            }
            '+' => events.push(Event::AddWorker),
            '-' => events.push(Event::RemoveWorker),
            's' => {
                let doc = self.stats_document();
                for line in crate::live::table::render(&doc).lines() {
                    info!(event = "status", "{line}");
                }
            }
            'l' => self.on_signal(Signal::SIGUSR1, events),
            other => {
                warn!(
                    "master fifo: unknown command {other:?} (ebb takes r, R, c, w, W, q, Q, +, -, s, l)"
                )
            }
        }
    }
}

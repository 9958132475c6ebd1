//! Signals reach the loop through self-pipes: one per signal, written by signal-hook's
//! async-signal-safe handler, read in the same `poll()` as everything else.

use std::os::unix::net::UnixStream;

use anyhow::{Context, Result};
use nix::sys::signal::Signal;

pub(super) const SIGNALS: [Signal; 9] = [
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
pub(super) struct Signals {
    pub(super) pipes: Vec<(Signal, UnixStream)>,
}

impl Signals {
    pub(super) fn install() -> Result<Signals> {
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
    pub(super) fn drain(&mut self, ready: &[bool]) -> Vec<Signal> {
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

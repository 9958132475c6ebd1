//! The master speaking systemd's notify protocol (`Type=notify`), when `NOTIFY_SOCKET` is
//! set: `READY=1` once the first generation of workers is ready; on a reload `RELOADING=1`
//! with `MONOTONIC_USEC`, then `READY=1` when every serving worker runs the new
//! configuration; `STOPPING=1`; `STATUS=` kept current ("4 workers, 1 draining, 12 jobs"),
//! at most once a second; `WATCHDOG=1` every half `WATCHDOG_USEC` when systemd asks.
//!
//! [`Announcer`] decides (pure: time and state passed in); [`SdNotify`] sends. A status
//! change arms a deadline only while a send is held back by the rate limit, so an idle
//! master never wakes for it.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::policy::{Policy, State};

/// The least time between two `STATUS=` messages.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

/// What the announcer looks at after each turn of the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub settled: bool,
    pub stopping: bool,
    pub generation: u64,
    pub status: String,
}

impl View {
    pub fn of(p: &Policy) -> View {
        let draining = p
            .workers()
            .filter(|w| matches!(w.state, State::Draining { .. } | State::Killing))
            .count();
        let serving = p.workers().count() - draining;
        let jobs: u64 = p.workers().map(|w| w.jobs).sum();
        let mut status = format!(
            "{serving} worker{}, {draining} draining, {jobs} job{}",
            if serving == 1 { "" } else { "s" },
            if jobs == 1 { "" } else { "s" }
        );
        if p.is_stopping() {
            status = format!("stopping: {status}");
        } else if p.shutdown_delay_until().is_some() {
            status = format!("stopping after --shutdown-delay: {status}");
        } else if !p.settled() && p.generation() > 1 {
            status += &format!(", reloading to configuration generation {}", p.generation());
        }
        View {
            settled: p.settled(),
            stopping: p.is_stopping() || p.shutdown_delay_until().is_some(),
            generation: p.generation(),
            status,
        }
    }
}

/// Decides which notify messages to send; knows nothing of sockets or clocks.
#[derive(Debug, Default)]
pub struct Announcer {
    /// The generation `READY=1` was last sent for (0: never).
    ready_for: u64,
    reloading_for: u64,
    stopping_sent: bool,
    status_sent: Option<(String, Instant)>,
    /// A status change held back by the rate limit: when it may go.
    status_due: Option<Instant>,
    watchdog: Option<Duration>,
    watchdog_due: Option<Instant>,
}

impl Announcer {
    pub fn new(watchdog: Option<Duration>) -> Announcer {
        Announcer {
            watchdog,
            ..Announcer::default()
        }
    }

    /// The messages due now. `monotonic_usec`: CLOCK_MONOTONIC now, for `RELOADING=1`.
    pub fn step(&mut self, v: &View, now: Instant, monotonic_usec: u64) -> Vec<String> {
        let mut out = Vec::new();
        if v.stopping {
            if !self.stopping_sent {
                self.stopping_sent = true;
                out.push(format!("STOPPING=1\nSTATUS={}", v.status));
                self.status_sent = Some((v.status.clone(), now));
                self.status_due = None;
            }
        } else {
            if self.ready_for > 0 && v.generation > self.ready_for.max(self.reloading_for) {
                self.reloading_for = v.generation;
                out.push(format!(
                    "RELOADING=1\nMONOTONIC_USEC={monotonic_usec}\nSTATUS={}",
                    v.status
                ));
                self.status_sent = Some((v.status.clone(), now));
                self.status_due = None;
            }
            if v.settled && v.generation > self.ready_for {
                self.ready_for = v.generation;
                out.push(format!("READY=1\nSTATUS={}", v.status));
                self.status_sent = Some((v.status.clone(), now));
                self.status_due = None;
            }
        }
        match &self.status_sent {
            Some((s, _)) if *s == v.status => self.status_due = None,
            Some((_, at)) if now < *at + STATUS_EVERY => self.status_due = Some(*at + STATUS_EVERY),
            _ if self.ready_for == 0 && !v.stopping => {
                // Before READY=1 the status says what the start is waiting for.
                if self
                    .status_sent
                    .as_ref()
                    .is_none_or(|(s, _)| *s != v.status)
                {
                    out.push(format!("STATUS=starting: {}", v.status));
                    self.status_sent = Some((v.status.clone(), now));
                }
            }
            _ => {
                out.push(format!("STATUS={}", v.status));
                self.status_sent = Some((v.status.clone(), now));
                self.status_due = None;
            }
        }
        if let Some(every) = self.watchdog
            && self.watchdog_due.is_none_or(|t| now >= t)
        {
            out.push("WATCHDOG=1".into());
            self.watchdog_due = Some(now + every / 2);
        }
        out
    }

    /// When [`Announcer::step`] has something to send even if nothing else happens.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.status_due, self.watchdog_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The socket side: `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
pub struct SdNotify {
    socket: UnixDatagram,
    target: std::os::unix::net::SocketAddr,
    pub announcer: Announcer,
}

impl SdNotify {
    /// From ebb's environment: `None` when not started by systemd with `Type=notify`.
    pub fn from_env() -> Option<SdNotify> {
        let path = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())?;
        let target = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name).ok()?
        } else {
            std::os::unix::net::SocketAddr::from_pathname(&path).ok()?
        };
        let socket = UnixDatagram::unbound().ok()?;
        socket.set_nonblocking(true).ok()?;
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Some(SdNotify {
            socket,
            target,
            announcer: Announcer::new(watchdog),
        })
    }

    /// Send what is due (a full socket drops the message: systemd's state is absolute).
    pub fn step(&mut self, p: &Policy, now: Instant) {
        let mono = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
            t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000
        });
        for m in self.announcer.step(&View::of(p), now, mono) {
            if let Err(e) = self.socket.send_to_addr(m.as_bytes(), &self.target) {
                tracing::debug!("sd_notify: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(settled: bool, generation: u64, status: &str) -> View {
        View {
            settled,
            stopping: false,
            generation,
            status: status.into(),
        }
    }

    #[test]
    fn ready_once_then_reloading_then_ready_again() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut a = Announcer::new(None);
        let steps: Vec<(u64, View, &[&str])> = vec![
            (
                0,
                view(false, 1, "1 worker"),
                &["STATUS=starting: 1 worker"],
            ),
            (10, view(false, 1, "1 worker"), &[]),
            (
                20,
                view(true, 1, "2 workers"),
                &["READY=1\nSTATUS=2 workers"],
            ),
            (30, view(true, 1, "2 workers"), &[]),
            // A change within the second waits; the deadline says when.
            (40, view(true, 1, "2 workers, 1 job"), &[]),
            (
                1020,
                view(true, 1, "2 workers, 1 job"),
                &["STATUS=2 workers, 1 job"],
            ),
            (
                2000,
                view(false, 2, "reloading"),
                &["RELOADING=1\nMONOTONIC_USEC=7\nSTATUS=reloading"],
            ),
            (2100, view(false, 2, "reloading"), &[]),
            (2200, view(true, 2, "done"), &["READY=1\nSTATUS=done"]),
            (
                2300,
                View {
                    stopping: true,
                    ..view(false, 2, "stopping")
                },
                &["STOPPING=1\nSTATUS=stopping"],
            ),
            (
                2400,
                View {
                    stopping: true,
                    ..view(false, 2, "stopping")
                },
                &[],
            ),
        ];
        for (ms, v, want) in steps {
            let got = a.step(&v, at(ms), 7);
            assert_eq!(got, want, "at {ms} ms");
            if ms == 40 {
                assert_eq!(a.next_deadline(), Some(at(1020)));
            }
            if ms == 30 || ms == 2400 {
                assert_eq!(a.next_deadline(), None, "idle: no wake-up at {ms} ms");
            }
        }
    }

    #[test]
    fn watchdog_every_half_period() {
        let t0 = Instant::now();
        let mut a = Announcer::new(Some(Duration::from_secs(2)));
        let v = view(true, 1, "x");
        assert!(a.step(&v, t0, 0).contains(&"WATCHDOG=1".to_string()));
        assert_eq!(a.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert!(
            !a.step(&v, t0 + Duration::from_millis(500), 0)
                .contains(&"WATCHDOG=1".to_string())
        );
        assert!(
            a.step(&v, t0 + Duration::from_secs(1), 0)
                .contains(&"WATCHDOG=1".to_string())
        );
    }
}

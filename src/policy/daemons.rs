//! Side processes (uWSGI's `attach-daemon`, `mule`): when to restart one that exited, and
//! what to say about it. Pure: the master passes the time and the exit status.
//!
//! A side process that ran for [`STABLE`] or longer is restarted at once (uWSGI restarts a
//! daemon at once unless it was started less than 3 s before). One that exits sooner is
//! restarted after a delay that doubles with each quick exit in a row (1 s, 2 s, 4 s… up to
//! the cap, `max_throttle` in `attach-daemon2`), and the log says so once: on the first quick
//! exit and again only when the exit status changes; the retries are debug lines. When it
//! then stays up for [`STABLE`], the log says it recovered.

use std::time::Duration;

use super::{ExitStatus, Level};

/// How long a side process must stay up for its next exit to be restarted at once.
pub const STABLE: Duration = Duration::from_secs(10);
/// The first delay after a quick exit.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay, unless `max_throttle` says otherwise.
pub const DEFAULT_CAP: Duration = Duration::from_secs(60);

/// One side process's restart history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restarts {
    /// Starts after the first one.
    pub restarts: u64,
    /// Quick exits in a row.
    pub quick: u32,
    /// The last exit's status.
    pub last: Option<ExitStatus>,
}

/// What to do after an exit: start again after `delay`, and maybe say so.
#[derive(Debug, Clone, PartialEq)]
pub struct Restart {
    pub delay: Duration,
    pub level: Level,
    pub message: String,
}

/// The delay after `quick` quick exits in a row (1 s, 2 s, 4 s…, at most `cap`).
pub fn delay(quick: u32, cap: Duration) -> Duration {
    if quick == 0 {
        return Duration::ZERO;
    }
    let shift = (quick - 1).min(20);
    FIRST_DELAY.saturating_mul(1 << shift).min(cap)
}

impl Restarts {
    /// `what` (e.g. `daemon 2 "celery -A app worker"`) exited with `status` after running
    /// for `ran`.
    pub fn on_exit(
        &mut self,
        what: &str,
        ran: Duration,
        status: ExitStatus,
        cap: Duration,
    ) -> Restart {
        let changed = self.last != Some(status);
        self.last = Some(status);
        self.restarts += 1;
        let ran_s = format!("{:.1}s", ran.as_secs_f64());
        if ran >= STABLE {
            self.quick = 0;
            return Restart {
                delay: Duration::ZERO,
                level: Level::Warn,
                message: format!("{what} exited ({status}) after {ran_s}; starting it again"),
            };
        }
        self.quick += 1;
        let d = delay(self.quick, cap);
        let d_s = format!("{:.0}s", d.as_secs_f64());
        if self.quick == 1 {
            Restart {
                delay: d,
                level: Level::Error,
                message: format!(
                    "{what} exited ({status}) after {ran_s}; starting it again in {d_s}, with \
                     delays doubling up to {:.0}s while it keeps exiting within {:.0}s (said \
                     once: each retry is logged at debug level)",
                    cap.as_secs_f64(),
                    STABLE.as_secs_f64()
                ),
            }
        } else if changed {
            Restart {
                delay: d,
                level: Level::Error,
                message: format!(
                    "{what} now exits with {status} after {ran_s} ({} quick exits in a row); \
                     next try in {d_s}",
                    self.quick
                ),
            }
        } else {
            Restart {
                delay: d,
                level: Level::Debug,
                message: format!(
                    "{what} exited ({status}) after {ran_s}, quick exit {} in a row; next try in {d_s}",
                    self.quick
                ),
            }
        }
    }

    /// It has been up for [`STABLE`] since its last start: the back-off ends. A line to log
    /// when it had been failing.
    pub fn on_stable(&mut self, what: &str) -> Option<String> {
        if self.quick == 0 {
            return None;
        }
        let n = std::mem::take(&mut self.quick);
        Some(format!(
            "{what} has stayed up for {:.0}s after {n} quick exit(s): back to normal",
            STABLE.as_secs_f64()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(8);

    #[test]
    fn delays_double_up_to_the_cap() {
        let got: Vec<u64> = (0..7).map(|q| delay(q, CAP).as_secs()).collect();
        assert_eq!(got, vec![0, 1, 2, 4, 8, 8, 8]);
        assert_eq!(delay(u32::MAX, DEFAULT_CAP), DEFAULT_CAP);
    }

    #[test]
    fn exit_table() {
        let quick = Duration::from_millis(100);
        let long = STABLE + Duration::from_secs(1);
        let code = ExitStatus::Code;
        // (ran, status, expected delay s, expected level, message contains)
        let steps: &[(Duration, ExitStatus, u64, Level, &str)] = &[
            (quick, code(1), 1, Level::Error, "starting it again in 1s"),
            (quick, code(1), 2, Level::Debug, "quick exit 2 in a row"),
            (quick, code(1), 4, Level::Debug, "quick exit 3 in a row"),
            // The status changed: said again.
            (
                quick,
                code(2),
                8,
                Level::Error,
                "now exits with exit code 2",
            ),
            (quick, code(2), 8, Level::Debug, "next try in 8s"),
            // A long run: restarted at once, back-off over.
            (long, ExitStatus::Signal(9), 0, Level::Warn, "after 11.0s"),
            // Failing again: said again, from the first delay.
            (quick, ExitStatus::Signal(9), 1, Level::Error, "said once"),
        ];
        let mut r = Restarts::default();
        for (i, (ran, status, secs, level, says)) in steps.iter().enumerate() {
            let got = r.on_exit("daemon 1 \"x\"", *ran, *status, CAP);
            assert_eq!(got.delay.as_secs(), *secs, "step {i}: {got:?}");
            assert_eq!(got.level, *level, "step {i}: {got:?}");
            assert!(got.message.contains(says), "step {i}: {}", got.message);
        }
        assert_eq!(r.restarts, steps.len() as u64);
    }

    #[test]
    fn recovery_is_said_once() {
        let mut r = Restarts::default();
        assert_eq!(r.on_stable("daemon 1"), None);
        r.on_exit("daemon 1", Duration::ZERO, ExitStatus::Code(1), CAP);
        r.on_exit("daemon 1", Duration::ZERO, ExitStatus::Code(1), CAP);
        let said = r.on_stable("daemon 1").unwrap();
        assert!(said.contains("after 2 quick exit(s)"), "{said}");
        assert_eq!(r.on_stable("daemon 1"), None);
        // The next quick exit starts from the first delay again.
        let next = r.on_exit("daemon 1", Duration::ZERO, ExitStatus::Code(1), CAP);
        assert_eq!(next.delay, FIRST_DELAY);
    }
}

//! When cron entries run (uWSGI's `cron`, `cron2`, `unique-cron`): pure.
//!
//! A [`Schedule`] is uWSGI's five numbers, `minute hour day month weekday`, where `-1` means
//! "every" and `-N` "every N" (the value modulo N is 0: `-5` minutes is 0, 5, 10…). As in
//! uWSGI, day of month and weekday are ORed when both are given, and ANDed otherwise; weekday
//! 7 is Sunday (0). Times are the machine's local time: the UTC offset at an instant is passed
//! in as a function, so daylight-saving changes are handled without reading the clock or the
//! time zone here. The master sleeps until [`Schedule::next_after`]: no per-minute wake-up.

/// uWSGI's five cron numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub minute: i32,
    pub hour: i32,
    pub day: i32,
    pub month: i32,
    pub week: i32,
}

/// A broken-down local time: month 1..=12, weekday 0 = Sunday.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub wday: u32,
}

/// The local time `local` seconds after 1970-01-01 00:00 (local seconds: UTC plus offset).
pub fn civil(local: i64) -> Civil {
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = crate::calendar::civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: (secs / 3600) as u32,
        minute: ((secs % 3600) / 60) as u32,
        wday: (days + 4).rem_euclid(7) as u32,
    }
}

use crate::calendar::days_from_civil;

/// The furthest ahead a next run is looked for: a schedule that never matches in this many
/// years (February 30th) never runs.
const HORIZON_S: i64 = 8 * 366 * 86_400;

impl Schedule {
    /// Parse the five numbers, checking each is in range (`-N` for "every N").
    pub fn parse(fields: &[&str]) -> Result<Schedule, String> {
        let names = ["minute", "hour", "day", "month", "weekday"];
        let ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
        if fields.len() != 5 {
            return Err(format!(
                "expected five numbers (minute hour day month weekday, -1 for every) before \
                 the command, got {}",
                fields.len()
            ));
        }
        let mut v = [0i32; 5];
        for i in 0..5 {
            v[i] = Self::field(fields[i], names[i], ranges[i])?;
        }
        Ok(Schedule {
            minute: v[0],
            hour: v[1],
            day: v[2],
            month: v[3],
            week: v[4],
        })
    }

    /// One field: `lo..=hi`, or `-N` with N in `1..=hi` ("every N").
    pub fn field(text: &str, name: &str, (lo, hi): (i32, i32)) -> Result<i32, String> {
        let n: i32 = text.trim().parse().map_err(|_| {
            format!("{name} {text:?} is not a number (use -1 for every {name}, -N for every N)")
        })?;
        let ok = if n < 0 {
            -n <= hi.max(1)
        } else {
            (lo..=hi).contains(&n)
        };
        if !ok {
            return Err(format!(
                "{name} {n} is out of range: {lo}..={hi}, -1 for every {name}, or -N for every N"
            ));
        }
        Ok(n)
    }

    /// Whether the minute `c` is one this schedule runs at (uWSGI's rule).
    pub fn matches(&self, c: &Civil) -> bool {
        self.time_ok(c) && self.month_ok(c) && self.day_ok(c)
    }

    fn time_ok(&self, c: &Civil) -> bool {
        self.hour_ok(c) && one(self.minute, c.minute)
    }
    fn hour_ok(&self, c: &Civil) -> bool {
        one(self.hour, c.hour)
    }
    fn month_ok(&self, c: &Civil) -> bool {
        one(self.month, c.month)
    }
    fn day_ok(&self, c: &Civil) -> bool {
        let week = if self.week == 7 { 0 } else { self.week };
        let d = one(self.day, c.day);
        let w = one(week, c.wday);
        if self.day >= 0 && self.week >= 0 {
            d || w
        } else {
            d && w
        }
    }

    /// The first whole local minute strictly after `after` (Unix seconds) that matches, as
    /// Unix seconds; `offset(t)` is the local time's offset from UTC at `t`, in seconds.
    /// `None` when nothing matches within eight years (the date does not exist).
    pub fn next_after(&self, after: i64, offset: &dyn Fn(i64) -> i64) -> Option<i64> {
        let start = after;
        let mut t = after - (after + offset(after)).rem_euclid(60) + 60;
        while t - start <= HORIZON_S {
            let off = offset(t);
            let local = t + off;
            let c = civil(local);
            let jump_to = if !self.month_ok(&c) {
                let (y, m) = if c.month == 12 {
                    (c.year + 1, 1)
                } else {
                    (c.year, c.month + 1)
                };
                days_from_civil(y, m, 1) * 86_400
            } else if !self.day_ok(&c) {
                local - local.rem_euclid(86_400) + 86_400
            } else if !self.hour_ok(&c) {
                local - local.rem_euclid(3600) + 3600
            } else if !one(self.minute, c.minute) {
                local - local.rem_euclid(60) + 60
            } else {
                return Some(t);
            };
            // Always forward, even when the offset changed between here and there.
            t = (jump_to - off).max(t + 60);
        }
        None
    }
}

/// One field against the current value: exact, or `-N`: a multiple of N.
fn one(field: i32, cur: u32) -> bool {
    if field < 0 {
        cur.is_multiple_of(field.unsigned_abs())
    } else {
        field as u32 == cur
    }
}

/// What to do when an entry's time has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Start the command.
    Run,
    /// Its previous run is still going: this one is skipped (and logged).
    Skip,
}

/// One entry's timing: its next run and whether the last one is still going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub schedule: Schedule,
    /// Unix seconds of the next run.
    pub next: Option<i64>,
    /// Runs skipped because the previous one was still going.
    pub skipped: u64,
}

impl Timer {
    pub fn new(schedule: Schedule, now: i64, offset: &dyn Fn(i64) -> i64) -> Timer {
        Timer {
            schedule,
            next: schedule.next_after(now, offset),
            skipped: 0,
        }
    }

    /// Time (Unix seconds) has reached `now`: whether the entry is due and what to do. A
    /// clock that jumped past several runs gives one run, not a burst; the next run is
    /// counted from `now`.
    pub fn tick(&mut self, now: i64, running: bool, offset: &dyn Fn(i64) -> i64) -> Option<Due> {
        let next = self.next?;
        if now < next {
            return None;
        }
        self.next = self.schedule.next_after(now.max(next), offset);
        if running {
            self.skipped += 1;
            Some(Due::Skip)
        } else {
            Some(Due::Run)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UTC: &dyn Fn(i64) -> i64 = &|_| 0;

    /// Unix seconds of a UTC date.
    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    fn sched(s: &str) -> Schedule {
        Schedule::parse(&s.split_whitespace().collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn civil_round_trips_and_knows_weekdays() {
        // 1970-01-01 was a Thursday; 2000-02-29 a Tuesday; 2026-12-01 a Tuesday.
        let cases = [
            ((1970, 1, 1), 4),
            ((2000, 2, 29), 2),
            ((2026, 12, 1), 2),
            ((1969, 12, 31), 3),
            ((2100, 3, 1), 1),
        ];
        for ((y, m, d), wday) in cases {
            let c = civil(at(y, m, d, 13, 7));
            assert_eq!((c.year, c.month, c.day, c.hour, c.minute), (y, m, d, 13, 7));
            assert_eq!(c.wday, wday, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parse_checks_ranges() {
        assert_eq!(
            sched("0 2 -1 -1 -1"),
            Schedule {
                minute: 0,
                hour: 2,
                day: -1,
                month: -1,
                week: -1
            }
        );
        for (bad, says) in [
            ("60 2 -1 -1 -1", "minute 60 is out of range"),
            ("0 24 -1 -1 -1", "hour 24 is out of range"),
            ("0 0 0 -1 -1", "day 0 is out of range"),
            ("0 0 -1 13 -1", "month 13 is out of range"),
            ("0 0 -1 -1 8", "weekday 8 is out of range"),
            ("-61 0 -1 -1 -1", "minute -61 is out of range"),
            ("x 0 -1 -1 -1", "minute \"x\" is not a number"),
        ] {
            let err = Schedule::parse(&bad.split_whitespace().collect::<Vec<_>>()).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let err = Schedule::parse(&["0", "1"]).unwrap_err();
        assert!(err.contains("five numbers"), "{err}");
    }

    #[test]
    fn next_run_table() {
        // (schedule, after, expected next), UTC.
        let cases: &[(&str, i64, Option<i64>)] = &[
            // Every minute: the next minute boundary, strictly after.
            (
                "-1 -1 -1 -1 -1",
                at(2026, 12, 1, 12, 0) + 5,
                Some(at(2026, 12, 1, 12, 1)),
            ),
            (
                "-1 -1 -1 -1 -1",
                at(2026, 12, 1, 12, 0),
                Some(at(2026, 12, 1, 12, 1)),
            ),
            // 02:00 every day: today if before, else tomorrow.
            (
                "0 2 -1 -1 -1",
                at(2026, 12, 1, 1, 59),
                Some(at(2026, 12, 1, 2, 0)),
            ),
            (
                "0 2 -1 -1 -1",
                at(2026, 12, 1, 2, 0),
                Some(at(2026, 12, 2, 2, 0)),
            ),
            // Every 5 minutes (-5): multiples of 5.
            (
                "-5 -1 -1 -1 -1",
                at(2026, 12, 1, 12, 3),
                Some(at(2026, 12, 1, 12, 5)),
            ),
            (
                "-15 -1 -1 -1 -1",
                at(2026, 12, 1, 12, 59),
                Some(at(2026, 12, 1, 13, 0)),
            ),
            // Every 6 hours at :30.
            (
                "30 -6 -1 -1 -1",
                at(2026, 12, 1, 7, 0),
                Some(at(2026, 12, 1, 12, 30)),
            ),
            // New year's midnight, from December.
            (
                "0 0 1 1 -1",
                at(2026, 12, 1, 0, 0),
                Some(at(2027, 1, 1, 0, 0)),
            ),
            // Day and weekday both given: ORed (the 15th, or a Sunday). 2026-12-06 is a Sunday.
            (
                "0 3 15 -1 0",
                at(2026, 12, 1, 12, 0),
                Some(at(2026, 12, 6, 3, 0)),
            ),
            // Weekday 7 is Sunday too.
            (
                "0 3 -1 -1 7",
                at(2026, 12, 1, 12, 0),
                Some(at(2026, 12, 6, 3, 0)),
            ),
            // Monday only (ANDed with every day).
            (
                "0 9 -1 -1 1",
                at(2026, 12, 1, 12, 0),
                Some(at(2026, 12, 7, 9, 0)),
            ),
            // Every other month (-2: even months), first day.
            (
                "0 0 1 -2 -1",
                at(2026, 12, 1, 0, 1),
                Some(at(2027, 2, 1, 0, 0)),
            ),
            // February 29th: the next leap year.
            (
                "0 0 29 2 -1",
                at(2026, 12, 1, 0, 0),
                Some(at(2028, 2, 29, 0, 0)),
            ),
            // February 30th never comes.
            ("0 0 30 2 -1", at(2026, 12, 1, 0, 0), None),
            // The 31st: skips months that lack it.
            (
                "0 0 31 -1 -1",
                at(2027, 1, 31, 0, 0),
                Some(at(2027, 3, 31, 0, 0)),
            ),
        ];
        for (s, after, want) in cases {
            assert_eq!(sched(s).next_after(*after, UTC), *want, "{s} after {after}");
        }
    }

    #[test]
    fn next_run_is_local_time() {
        // UTC+2: 02:00 local is 00:00 UTC.
        let plus2: &dyn Fn(i64) -> i64 = &|_| 7200;
        assert_eq!(
            sched("0 2 -1 -1 -1").next_after(at(2026, 11, 30, 23, 0), plus2),
            Some(at(2026, 12, 1, 0, 0))
        );
        // A daylight-saving change at 2027-03-28 01:00 UTC (+1 → +2): 03:30 local that day
        // is 01:30 UTC, the day before it is 02:30 UTC.
        let change = at(2027, 3, 28, 1, 0);
        let dst: &dyn Fn(i64) -> i64 = &move |t| if t < change { 3600 } else { 7200 };
        let s = sched("30 3 -1 -1 -1");
        assert_eq!(
            s.next_after(at(2027, 3, 27, 0, 0), dst),
            Some(at(2027, 3, 27, 2, 30))
        );
        assert_eq!(
            s.next_after(at(2027, 3, 27, 2, 30), dst),
            Some(at(2027, 3, 28, 1, 30))
        );
        // 02:30 local does not exist that day: the next 02:30 is the day after.
        assert_eq!(
            sched("30 2 -1 -1 -1").next_after(at(2027, 3, 27, 1, 30), dst),
            Some(at(2027, 3, 29, 0, 30))
        );
    }

    #[test]
    fn every_result_matches_and_nothing_earlier_does() {
        // Brute force over a week of minutes for a few schedules.
        for s in [
            "-7 -1 -1 -1 -1",
            "15 -3 -1 -1 -1",
            "0 0 -1 -1 3",
            "5 4 2 -1 5",
        ] {
            let s = sched(s);
            let start = at(2026, 12, 1, 0, 0) + 17;
            let got = s.next_after(start, UTC).unwrap();
            let mut t = start - start.rem_euclid(60) + 60;
            while !s.matches(&civil(t)) {
                t += 60;
            }
            assert_eq!(got, t, "{s:?}");
        }
    }

    #[test]
    fn timer_runs_once_per_time_and_skips_while_running() {
        let mut t = Timer::new(sched("-1 -1 -1 -1 -1"), at(2026, 12, 1, 12, 0) + 30, UTC);
        let first = at(2026, 12, 1, 12, 1);
        assert_eq!(t.next, Some(first));
        assert_eq!(t.tick(first - 1, false, UTC), None);
        assert_eq!(t.tick(first, false, UTC), Some(Due::Run));
        assert_eq!(t.next, Some(first + 60));
        // Still running at the next minute: skipped, counted.
        assert_eq!(t.tick(first + 60, true, UTC), Some(Due::Skip));
        assert_eq!(t.skipped, 1);
        // The clock jumps an hour ahead: one run, and the next is counted from now.
        let later = first + 3600 + 10;
        assert_eq!(t.tick(later, false, UTC), Some(Due::Run));
        assert_eq!(t.next, Some(first + 3600 + 60));
        assert_eq!(t.tick(later + 1, false, UTC), None);
        // A schedule that never runs never fires.
        let mut never = Timer::new(sched("0 0 30 2 -1"), first, UTC);
        assert_eq!(never.tick(i64::MAX / 2, false, UTC), None);
    }
}

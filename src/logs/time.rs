//! Timestamps without a time-zone database: every time ebb writes is UTC.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds and microseconds since the Unix epoch (0 before it).
pub fn unix_micros(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_micros()),
        Err(_) => (0, 0),
    }
}

/// Year, month (1-12), day, hour, minute, second of a Unix time (UTC).
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = crate::calendar::civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// `2026-12-01T09:39:46.123Z`: the stamp on every line.
pub fn rfc3339_millis(secs: i64, micros: u32) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        micros / 1000
    )
}

/// `01/Dec/2026:09:39:46 +0000`: Apache's common log time (gunicorn `%(t)s` adds brackets,
/// uWSGI `%(ltime)`).
pub fn apache(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!(
        "{d:02}/{}/{y:04}:{h:02}:{mi:02}:{s:02} +0000",
        MONTHS[(mo - 1) as usize]
    )
}

/// `Tue Dec  1 09:39:46 2026`: C's `ctime` (uWSGI `%(ctime)`).
pub fn ctime(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    let wd = DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize];
    format!(
        "{wd} {} {d:2} {h:02}:{mi:02}:{s:02} {y}",
        MONTHS[(mo - 1) as usize]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let cases: &[(i64, u32, &str, &str, &str)] = &[
            (
                0,
                0,
                "1970-01-01T00:00:00.000Z",
                "01/Jan/1970:00:00:00 +0000",
                "Thu Jan  1 00:00:00 1970",
            ),
            (
                1_796_117_986,
                123_456,
                "2026-12-01T09:39:46.123Z",
                "01/Dec/2026:09:39:46 +0000",
                "Tue Dec  1 09:39:46 2026",
            ),
            (
                951_782_400,
                0,
                "2000-02-29T00:00:00.000Z",
                "29/Feb/2000:00:00:00 +0000",
                "Tue Feb 29 00:00:00 2000",
            ),
        ];
        for &(secs, us, iso, ap, ct) in cases {
            assert_eq!(rfc3339_millis(secs, us), iso);
            assert_eq!(apache(secs), ap);
            assert_eq!(ctime(secs), ct);
        }
    }
}

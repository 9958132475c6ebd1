//! C's `strftime`, for uWSGI's `${strftime:FMT}` in log encoders: parsed once when the
//! configuration is read (an unknown conversion is an error then), rendered in UTC as every
//! time ebb writes (`%z` is `+0000`, `%Z` is `UTC`).

use std::fmt::Write as _;

use super::time::civil;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Day 0 of the Unix epoch was a Thursday.
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Conv(char),
}

/// A parsed `strftime` format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strftime(Vec<Piece>);

/// The conversions ebb renders.
const KNOWN: &str = "aAbBhcdeDFHIjmMnpSsTtuwyYzZ%";

impl Strftime {
    pub fn parse(fmt: &str) -> Result<Strftime, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            // glibc's flags and modifiers (`%-d`, `%Ey`) are not taken.
            match chars.next() {
                Some(k) if KNOWN.contains(k) => {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Conv(k));
                }
                Some(k) => {
                    return Err(format!(
                        "strftime conversion %{k} is not supported in {fmt:?}; ebb knows %a %A \
                         %b %B %c %d %D %e %F %H %I %j %m %M %n %p %s %S %t %T %u %w %y %Y %z %Z %%"
                    ));
                }
                None => return Err(format!("a lone % ends the strftime format {fmt:?}")),
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(Strftime(pieces))
    }

    /// Render Unix time `secs` (UTC) into `out`.
    pub fn render(&self, secs: i64, out: &mut String) {
        let (y, mo, d, h, mi, s) = civil(secs);
        let days = secs.div_euclid(86_400);
        let wd = days.rem_euclid(7) as usize; // 0 = Thursday
        let month = MONTHS[(mo - 1) as usize];
        let day = DAYS[wd];
        // Monday = 1 .. Sunday = 7; Sunday = 0 for %w.
        let iso_wd = (wd + 3) % 7 + 1;
        for p in &self.0 {
            let _ = match p {
                Piece::Lit(l) => {
                    out.push_str(l);
                    Ok(())
                }
                Piece::Conv(c) => match c {
                    'a' => write!(out, "{}", &day[..3]),
                    'A' => write!(out, "{day}"),
                    'b' | 'h' => write!(out, "{}", &month[..3]),
                    'B' => write!(out, "{month}"),
                    'c' => write!(
                        out,
                        "{} {} {d:2} {h:02}:{mi:02}:{s:02} {y}",
                        &day[..3],
                        &month[..3]
                    ),
                    'd' => write!(out, "{d:02}"),
                    'e' => write!(out, "{d:2}"),
                    'D' => write!(out, "{mo:02}/{d:02}/{:02}", y.rem_euclid(100)),
                    'F' => write!(out, "{y:04}-{mo:02}-{d:02}"),
                    'H' => write!(out, "{h:02}"),
                    'I' => write!(out, "{:02}", (h + 11) % 12 + 1),
                    'j' => write!(out, "{:03}", day_of_year(y, mo, d)),
                    'm' => write!(out, "{mo:02}"),
                    'M' => write!(out, "{mi:02}"),
                    'n' => writeln!(out),
                    'p' => write!(out, "{}", if h < 12 { "AM" } else { "PM" }),
                    's' => write!(out, "{secs}"),
                    'S' => write!(out, "{s:02}"),
                    't' => write!(out, "\t"),
                    'T' => write!(out, "{h:02}:{mi:02}:{s:02}"),
                    'u' => write!(out, "{iso_wd}"),
                    'w' => write!(out, "{}", iso_wd % 7),
                    'y' => write!(out, "{:02}", y.rem_euclid(100)),
                    'Y' => write!(out, "{y}"),
                    'z' => write!(out, "+0000"),
                    'Z' => write!(out, "UTC"),
                    _ => write!(out, "%"),
                },
            };
        }
    }
}

fn day_of_year(y: i64, mo: u32, d: u32) -> u32 {
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    CUM[(mo - 1) as usize] + d + u32::from(leap && mo > 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_c_in_utc() {
        // 2026-12-01T09:39:46Z, a Tuesday.
        let t = 1_796_117_986;
        let cases: &[(&str, &str)] = &[
            ("%d/%b/%Y:%H:%M:%S %z", "01/Dec/2026:09:39:46 +0000"),
            ("%Y-%m-%dT%H:%M:%S", "2026-12-01T09:39:46"),
            ("%F %T,000", "2026-12-01 09:39:46,000"),
            ("%a, %d %b %Y %T %z", "Tue, 01 Dec 2026 09:39:46 +0000"),
            ("%A %B %e %j %u %w", "Tuesday December  1 335 2 2"),
            ("%y%m%d-%I%p %s %Z 100%%", "261201-09AM 1796117986 UTC 100%"),
            ("%c|%D", "Tue Dec  1 09:39:46 2026|12/01/26"),
            ("plain", "plain"),
        ];
        for (fmt, want) in cases {
            let mut s = String::new();
            Strftime::parse(fmt).unwrap().render(t, &mut s);
            assert_eq!(&s, want, "{fmt}");
        }
        let mut s = String::new();
        Strftime::parse("%a %j")
            .unwrap()
            .render(951_782_400, &mut s); // 2000-02-29
        assert_eq!(s, "Tue 060");
    }

    #[test]
    fn bad_formats_are_named() {
        let e = Strftime::parse("%Y %Q").unwrap_err();
        assert!(e.contains("%Q"), "{e}");
        assert!(Strftime::parse("50%").unwrap_err().contains("lone %"));
    }
}

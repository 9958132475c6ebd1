//! Parsing of single option values, shared by every front end.
//!
//! Each front end turns what it read into a [`Raw`] value; the functions here turn a `Raw`
//! into a typed value or an error message that says what was expected and what to write
//! instead. Messages never name the key or the file: the caller adds those.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::model::{Address, LogFormat};

/// A value as a front end read it, before it is given a type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Raw {
    /// Text: every command-line, ini and environment value, and TOML strings.
    Str(String),
    /// A TOML integer, digits as written (without sign prefix handling beyond `-`) and radix.
    Int { digits: String, radix: u32 },
    /// A TOML float.
    Float(f64),
    /// A TOML boolean, or a command-line flag.
    Bool(bool),
    /// An ini key with no `= value`, or an empty `UWSGI_*` variable: "true" for flags.
    Bare,
    /// A list of strings (the worker command).
    Argv(Vec<String>),
    /// A TOML value of a type no option takes ("a table", "a date", "an array").
    Other(&'static str),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Str(s) => write!(f, "{s:?}"),
            Raw::Int { digits, radix: 8 } => write!(f, "0o{digits}"),
            Raw::Int { digits, radix: 16 } => write!(f, "0x{digits}"),
            Raw::Int { digits, radix: 2 } => write!(f, "0b{digits}"),
            Raw::Int { digits, .. } => write!(f, "{digits}"),
            Raw::Float(x) => write!(f, "{x}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Bare => write!(f, "no value"),
            Raw::Argv(v) => write!(f, "{v:?}"),
            Raw::Other(what) => write!(f, "{what}"),
        }
    }
}

type R<T> = Result<T, String>;

/// The text of a value for options that take text; numbers and booleans are accepted as
/// their text (`callable = 1` is odd, but not wrong).
fn text(raw: &Raw, what: &str) -> R<String> {
    match raw {
        Raw::Str(s) => Ok(s.trim().to_string()),
        Raw::Int { .. } | Raw::Float(_) | Raw::Bool(_) => Ok(raw.to_string()),
        Raw::Bare => Err(format!("needs a value: {what}")),
        other => Err(format!("expected {what}, got {other}")),
    }
}

/// Non-empty text.
pub(crate) fn parse_text(raw: &Raw, what: &str) -> R<String> {
    let s = text(raw, what)?;
    if s.is_empty() {
        return Err(format!("expected {what}, got an empty value"));
    }
    Ok(s)
}

/// A whole number in `min..=max`. `what` describes it ("a positive integer").
pub(crate) fn parse_uint(raw: &Raw, min: u64, max: u64) -> R<u64> {
    let what = if min >= 1 {
        "a positive integer"
    } else {
        "a whole number (0 or more)"
    };
    let n = match raw {
        Raw::Int { digits, radix } => u64::from_str_radix(digits, *radix).ok(),
        Raw::Str(s) => {
            let s = s.trim().replace('_', "");
            s.strip_prefix('+').unwrap_or(&s).parse::<u64>().ok()
        }
        Raw::Float(x) if x.fract() == 0.0 && *x >= 0.0 => Some(*x as u64),
        _ => None,
    };
    let Some(n) = n else {
        // A whole number, but negative or too big: say the range, not "expected".
        let t = match raw {
            Raw::Str(s) => s.trim().replace('_', ""),
            Raw::Int { digits, .. } => digits.clone(),
            Raw::Float(x) if x.fract() == 0.0 => format!("{x}"),
            _ => String::new(),
        };
        let digits = t.strip_prefix(['-', '+']).unwrap_or(&t);
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(if max == u64::MAX && t.starts_with('-') {
                format!("must be {min} or more, got {t}")
            } else if max == u64::MAX {
                format!("{t} is too large: at most {max}")
            } else {
                format!("must be between {min} and {max}, got {t}")
            });
        }
        return Err(format!("expected {what}, got {raw}"));
    };
    if n < min || n > max {
        return Err(if max == u64::MAX {
            format!("must be at least {min}, got {n}")
        } else {
            format!("must be between {min} and {max}, got {n}")
        });
    }
    Ok(n)
}

/// A flag: TOML booleans, or `true/false/yes/no/on/off/1/0`; a bare ini key means true.
pub(crate) fn parse_bool(raw: &Raw) -> R<bool> {
    match raw {
        Raw::Bool(b) => Ok(*b),
        Raw::Bare => Ok(true),
        Raw::Int { digits, .. } if digits == "0" => Ok(false),
        Raw::Int { digits, .. } if digits == "1" => Ok(true),
        Raw::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "" | "true" | "yes" | "on" | "1" | "y" => Ok(true),
            "false" | "no" | "off" | "0" | "n" => Ok(false),
            _ => Err(format!("expected true or false, got {raw}")),
        },
        _ => Err(format!("expected true or false, got {raw}")),
    }
}

const DURATION_HINT: &str = "a duration like 30, 30s, 500ms, 2m or 1h";

/// A duration: a number of seconds (`30`, `1.5`), or numbers with units (`500ms`, `2s`,
/// `1m30s`, `2 min`, `1h`, `1d`). Zero is allowed here; callers decide what it means.
pub(crate) fn parse_duration(raw: &Raw) -> R<Duration> {
    let negative = match raw {
        Raw::Str(s) => s.trim().starts_with('-'),
        Raw::Int { digits, .. } => digits.starts_with('-'),
        Raw::Float(x) => *x < 0.0,
        _ => false,
    };
    if negative {
        return Err(format!(
            "must not be negative, got {raw}: give {DURATION_HINT}"
        ));
    }
    match raw {
        Raw::Int { digits, radix } => u64::from_str_radix(digits, *radix)
            .map(Duration::from_secs)
            .map_err(|_| format!("expected {DURATION_HINT}, got {raw}")),
        Raw::Float(x) if x.is_finite() && *x >= 0.0 => Ok(Duration::from_secs_f64(*x)),
        Raw::Str(s) => {
            duration_text(s).ok_or_else(|| format!("expected {DURATION_HINT}, got {raw}"))
        }
        _ => Err(format!("expected {DURATION_HINT}, got {raw}")),
    }
}

fn duration_text(s: &str) -> Option<Duration> {
    let s = s.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    let mut rest = s.as_str();
    let mut total = 0f64;
    let mut parts = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].replace('_', "").parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let factor = match unit {
            "" if parts == 0 && rest.is_empty() => 1.0,
            "ns" | "nsec" | "nanosecond" | "nanoseconds" => 1e-9,
            "us" | "usec" | "microsecond" | "microseconds" => 1e-6,
            "ms" | "msec" | "msecs" | "milli" | "millis" | "millisecond" | "milliseconds" => 1e-3,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return None,
        };
        total += number * factor;
        parts += 1;
        // Allow "1m, 30s" and "1m and 30s"? Keep it to optional spaces between parts.
    }
    if !total.is_finite() || total > 1e12 {
        return None;
    }
    Some(Duration::from_secs_f64(total))
}

/// A size in MiB: `512` (MiB), `512M`, `512MB`, `1G`, `1.5GiB`, `2048K`.
pub(crate) fn parse_size_mb(raw: &Raw) -> R<u64> {
    const HINT: &str = "a size in megabytes like 512, 512M or 2G";
    let s = match raw {
        Raw::Int { .. } => return parse_uint(raw, 0, u64::MAX),
        Raw::Str(s) => s.trim().to_ascii_lowercase(),
        _ => return Err(format!("expected {HINT}, got {raw}")),
    };
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: f64 = s[..num_len]
        .parse()
        .map_err(|_| format!("expected {HINT}, got {raw}"))?;
    let factor = match s[num_len..].trim() {
        "" | "m" | "mb" | "mib" => 1.0,
        "k" | "kb" | "kib" => 1.0 / 1024.0,
        "g" | "gb" | "gib" => 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0,
        _ => return Err(format!("expected {HINT}, got {raw}")),
    };
    Ok((number * factor).ceil() as u64)
}

/// A file mode in octal (`660`, `0660`, `0o660`; TOML `0o660` or `660`); a bare key or
/// `true` means 666, as in uWSGI.
pub(crate) fn parse_octal_mode(raw: &Raw) -> R<u32> {
    const HINT: &str = "an octal file mode like 660";
    let mode = match raw {
        Raw::Bare | Raw::Bool(true) => Some(0o666),
        Raw::Int { digits, radix: 8 } => u32::from_str_radix(digits, 8).ok(),
        Raw::Int { digits, radix: 10 } => u32::from_str_radix(digits, 8).ok(),
        Raw::Str(s) => {
            let s = s.trim();
            let s = s
                .strip_prefix("0o")
                .or_else(|| s.strip_prefix("0O"))
                .unwrap_or(s);
            if s.is_empty() || s.eq_ignore_ascii_case("true") {
                Some(0o666)
            } else {
                u32::from_str_radix(s, 8).ok()
            }
        }
        _ => None,
    };
    match mode {
        Some(m) if m <= 0o777 => Ok(m),
        Some(m) => Err(format!("{m:o} is more than 777: expected {HINT}")),
        None => Err(format!("expected {HINT}, got {raw}")),
    }
}

/// A signal by name (`TERM`, `SIGTERM`, `sigterm`) or number (`15`). SIGKILL and SIGSTOP
/// cannot be caught, so a worker could never drain on them: they are refused.
pub(crate) fn parse_signal(raw: &Raw) -> R<Signal> {
    const HINT: &str = "a signal name like TERM, INT, QUIT, USR1 or a number";
    let signal = match raw {
        Raw::Int { digits, radix } => i32::from_str_radix(digits, *radix)
            .ok()
            .and_then(|n| Signal::try_from(n).ok()),
        Raw::Str(s) => {
            let s = s.trim();
            if let Ok(n) = s.parse::<i32>() {
                Signal::try_from(n).ok()
            } else {
                let upper = s.to_ascii_uppercase();
                let name = if upper.starts_with("SIG") {
                    upper
                } else {
                    format!("SIG{upper}")
                };
                name.parse::<Signal>().ok()
            }
        }
        _ => None,
    };
    match signal {
        Some(Signal::SIGKILL) | Some(Signal::SIGSTOP) => Err(format!(
            "{raw} cannot be caught, so a worker could not drain; use TERM, INT, QUIT or USR1"
        )),
        Some(s) => Ok(s),
        None => Err(format!("expected {HINT}, got {raw}")),
    }
}

/// `text` or `json`.
pub(crate) fn parse_log_format(raw: &Raw) -> R<LogFormat> {
    match text(raw, "text or json")?.to_ascii_lowercase().as_str() {
        "text" | "plain" | "human" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("expected text or json, got {raw}")),
    }
}

/// The log levels, least verbose first.
pub(crate) const LOG_LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// A log level: `error`, `warn` (`warning`), `info`, `debug`, `trace`, `off`; gunicorn's
/// `critical` is taken as `error`.
pub(crate) fn parse_log_level(raw: &Raw) -> R<&'static str> {
    let s = text(raw, "a log level")?.to_ascii_lowercase();
    let s = match s.as_str() {
        "warning" => "warn",
        "critical" | "fatal" => "error",
        "none" => "off",
        other => other,
    };
    LOG_LEVELS
        .iter()
        .find(|l| **l == s)
        .copied()
        .ok_or_else(|| format!("expected one of error, warn, info, debug, trace, off; got {raw}"))
}

/// A Python module, optionally with its callable: `pkg.mod`, `pkg.mod:app`,
/// `pkg.mod:create_app()`.
pub(crate) fn parse_module(raw: &Raw) -> R<String> {
    let s = parse_text(raw, "a Python module like myproject.wsgi:application")?;
    let (module, callable) = match s.split_once(':') {
        Some((m, c)) => (m, Some(c)),
        None => (s.as_str(), None),
    };
    let identifier = |p: &str| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if module.ends_with(".py") || module.contains('/') {
        return Err(format!(
            "{raw} is a file, not a module: use wsgi-file (--wsgi-file) for a file"
        ));
    }
    if let Some((before, _)) = s.split_once(" #")
        && !before.trim().is_empty()
    {
        return Err(format!(
            "{raw}: a '#' after a value is part of it in uWSGI ini files, not a comment; put \
             the comment on its own line (module = {})",
            before.trim()
        ));
    }
    // A number (gunicorn's `-w 4`) is caught before, with its own message.
    if !module.split('.').all(identifier) {
        return Err(format!(
            "{raw} is not a Python module name like myproject.wsgi or myproject.wsgi:application"
        ));
    }
    if callable.is_some_and(|c| c.trim().is_empty() || c.contains(char::is_whitespace)) {
        return Err(format!(
            "{raw}: the callable after ':' is empty or has spaces"
        ));
    }
    Ok(s)
}

/// `KEY=VALUE` for the workers' environment.
pub(crate) fn parse_env_pair(raw: &Raw) -> R<(String, String)> {
    let s = match raw {
        Raw::Str(s) => s.trim_start(),
        _ => return Err(format!("expected KEY=VALUE, got {raw}")),
    };
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("expected KEY=VALUE, got {raw}"));
    };
    let key = key.trim_end();
    if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '\0') {
        return Err(format!(
            "expected KEY=VALUE with a variable name before '=', got {raw}"
        ));
    }
    if value.contains('\0') {
        return Err("a value cannot contain a NUL byte".to_string());
    }
    Ok((key.to_string(), value.to_string()))
}

/// Make `p` absolute against `base`; expand a leading `~/` with `home`.
pub(crate) fn absolutize(p: &str, base: &Path, home: Option<&str>) -> PathBuf {
    let expanded = match (p.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Path::new(home).join(rest),
        _ => PathBuf::from(p),
    };
    if expanded.is_absolute() {
        expanded
    } else {
        normalize(&base.join(expanded))
    }
}

/// Remove `.` components and trailing slashes (not `..`: symlinks make that unsafe).
fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A path value: non-empty text, made absolute against `base`.
pub(crate) fn parse_path(raw: &Raw, base: &Path, home: Option<&str>) -> R<PathBuf> {
    let s = parse_text(raw, "a path")?;
    if s.contains('\0') {
        return Err("a path cannot contain a NUL byte".to_string());
    }
    Ok(absolutize(&s, base, home))
}

const ADDRESS_HINT: &str = "host:port, :port, [::1]:port or a Unix socket path";

/// A socket address: `host:port`, `:port` (every interface), `*:port`, `[::1]:port`,
/// `0.0.0.0:port`, or a Unix socket path (anything with a `/`, or ending in `.sock`;
/// `unix:` prefix accepted), made absolute against `base`.
pub(crate) fn parse_address(raw: &Raw, base: &Path) -> R<Address> {
    let s = parse_text(raw, ADDRESS_HINT)?;
    if let Some(rest) = s.strip_prefix("fd://") {
        return Err(format!(
            "inherited file descriptors (fd://{rest}) are not taken this way: ebb binds its \
             sockets itself, or adopts them from systemd socket activation (LISTEN_FDS)"
        ));
    }
    if s.starts_with('@') {
        return Err(format!(
            "abstract Unix sockets ({s}) are not supported: use a socket file path"
        ));
    }
    if s.starts_with('=') {
        return Err(format!(
            "uWSGI's inherited-socket syntax ({s}) is not supported: use systemd socket activation"
        ));
    }
    let unix = s.strip_prefix("unix:").unwrap_or(&s);
    if unix.contains('/') || unix.ends_with(".sock") || s.starts_with("unix:") {
        return Ok(Address::Unix(absolutize(unix, base, None)));
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, port)) = rest.split_once("]:") else {
            return Err(format!("expected [ipv6]:port, got {raw}"));
        };
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address"));
        }
        (host.to_string(), port)
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            if s.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!(
                    "{raw} has no host: write :{s} (every interface) or 127.0.0.1:{s}"
                ));
            }
            if s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
            {
                return Err(format!(
                    "{raw} has no port: write {s}:8000 (gunicorn's default port), or :8000 for \
                     every interface"
                ));
            }
            return Err(format!("expected {ADDRESS_HINT}, got {raw}"));
        };
        if host.contains(':') {
            return Err(format!(
                "put IPv6 addresses in brackets, like [{host}]:{port}"
            ));
        }
        let host = if host == "*" { "" } else { host };
        let valid_host = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
        if !valid_host {
            return Err(format!("{host:?} is not a host name or IP address"));
        }
        (host.to_string(), port)
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("the port must be a number from 0 to 65535, got {port:?}"))?;
    Ok(Address::Tcp { host, port })
}

/// Split `text` into words as a POSIX shell (and Python's `shlex.split`) does: spaces
/// separate, `'...'` and `"..."` quote, `\\` escapes.
pub(crate) fn shell_words(text: &str) -> R<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a ' quote is not closed".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \" quote is not closed".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a \" quote is not closed".to_string()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Raw {
        Raw::Str(x.to_string())
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<f64>)] = &[
            ("30", Some(30.0)),
            ("1.5", Some(1.5)),
            ("500ms", Some(0.5)),
            ("2s", Some(2.0)),
            ("2 s", Some(2.0)),
            ("1m", Some(60.0)),
            ("1m30s", Some(90.0)),
            ("1m 30s", Some(90.0)),
            ("2 min", Some(120.0)),
            ("1h", Some(3600.0)),
            ("1d", Some(86400.0)),
            ("250 millis", Some(0.25)),
            ("3 seconds", Some(3.0)),
            ("0", Some(0.0)),
            ("", None),
            ("abc", None),
            ("5 fortnights", None),
            ("1m30", None),
            ("-1", None),
        ];
        for (input, want) in cases {
            let got = parse_duration(&s(input)).ok().map(|d| d.as_secs_f64());
            assert_eq!(got, *want, "input {input:?}");
        }
        assert_eq!(
            parse_duration(&Raw::Int {
                digits: "7".into(),
                radix: 10
            }),
            Ok(Duration::from_secs(7))
        );
        assert_eq!(
            parse_duration(&Raw::Float(0.25)),
            Ok(Duration::from_millis(250))
        );
        let err = parse_duration(&s("soon")).unwrap_err();
        assert!(err.contains("500ms"), "{err}");
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint(&s("4"), 1, 1024), Ok(4));
        assert_eq!(
            parse_uint(&s("four"), 1, 1024),
            Err("expected a positive integer, got \"four\"".to_string())
        );
        assert_eq!(
            parse_uint(&s("0"), 1, 1024),
            Err("must be between 1 and 1024, got 0".to_string())
        );
        assert!(parse_uint(&s("-3"), 0, 10).is_err());
        assert_eq!(parse_uint(&s("1_000"), 0, u64::MAX), Ok(1000));
    }

    #[test]
    fn octal_modes() {
        let int = |d: &str, radix| Raw::Int {
            digits: d.into(),
            radix,
        };
        assert_eq!(parse_octal_mode(&s("660")), Ok(0o660));
        assert_eq!(parse_octal_mode(&s("0660")), Ok(0o660));
        assert_eq!(parse_octal_mode(&s("0o660")), Ok(0o660));
        assert_eq!(parse_octal_mode(&Raw::Bare), Ok(0o666));
        assert_eq!(parse_octal_mode(&int("660", 10)), Ok(0o660));
        assert_eq!(parse_octal_mode(&int("660", 8)), Ok(0o660));
        assert!(parse_octal_mode(&s("1777")).is_err());
        assert!(parse_octal_mode(&s("689")).is_err());
    }

    #[test]
    fn signals() {
        for name in ["TERM", "SIGTERM", "sigterm", "15", "term"] {
            assert_eq!(parse_signal(&s(name)), Ok(Signal::SIGTERM), "{name}");
        }
        assert_eq!(parse_signal(&s("USR1")), Ok(Signal::SIGUSR1));
        assert!(
            parse_signal(&s("KILL"))
                .unwrap_err()
                .contains("cannot be caught")
        );
        assert!(parse_signal(&s("SIGNOPE")).is_err());
        assert!(parse_signal(&s("999")).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size_mb(&s("512")), Ok(512));
        assert_eq!(parse_size_mb(&s("512M")), Ok(512));
        assert_eq!(parse_size_mb(&s("2G")), Ok(2048));
        assert_eq!(parse_size_mb(&s("1.5GiB")), Ok(1536));
        assert_eq!(parse_size_mb(&s("2048k")), Ok(2));
        assert!(parse_size_mb(&s("lots")).is_err());
    }

    #[test]
    fn addresses() {
        let base = Path::new("/etc/ebb");
        let tcp = |h: &str, p| -> Result<Address, ()> {
            Ok(Address::Tcp {
                host: h.to_string(),
                port: p,
            })
        };
        let cases: Vec<(&str, Result<Address, ()>)> = vec![
            ("127.0.0.1:8000", tcp("127.0.0.1", 8000)),
            (":8000", tcp("", 8000)),
            ("*:8000", tcp("", 8000)),
            ("0.0.0.0:0", tcp("0.0.0.0", 0)),
            ("localhost:9090", tcp("localhost", 9090)),
            ("[::1]:8000", tcp("::1", 8000)),
            ("[::]:80", tcp("::", 80)),
            ("/run/app.sock", Ok(Address::Unix("/run/app.sock".into()))),
            ("app.sock", Ok(Address::Unix("/etc/ebb/app.sock".into()))),
            ("./run/x", Ok(Address::Unix("/etc/ebb/run/x".into()))),
            ("unix:/tmp/x.sock", Ok(Address::Unix("/tmp/x.sock".into()))),
            ("8000", Err(())),
            ("::1:8000", Err(())),
            ("host:99999", Err(())),
            ("[zz]:80", Err(())),
            ("fd://3", Err(())),
            ("@abstract", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            let got = parse_address(&s(input), base).map_err(|_| ());
            assert_eq!(got, want, "input {input:?}");
        }
        let err = parse_address(&s("8000"), base).unwrap_err();
        assert!(err.contains(":8000"), "{err}");
    }

    #[test]
    fn modules() {
        for ok in [
            "app",
            "pkg.mod",
            "pkg.mod:app",
            "pkg.mod:create_app()",
            "_x.y2:a.b",
        ] {
            assert_eq!(parse_module(&s(ok)), Ok(ok.to_string()), "{ok}");
        }
        for bad in ["4", "app.py", "src/app", "pkg..mod", "pkg.mod:", "9lives"] {
            assert!(parse_module(&s(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_pairs() {
        assert_eq!(
            parse_env_pair(&s("A=b=c")),
            Ok(("A".to_string(), "b=c".to_string()))
        );
        assert_eq!(
            parse_env_pair(&s("EMPTY=")),
            Ok(("EMPTY".to_string(), String::new()))
        );
        assert!(parse_env_pair(&s("NOEQUALS")).is_err());
        assert!(parse_env_pair(&s("=x")).is_err());
    }

    #[test]
    fn bools_and_levels() {
        assert_eq!(parse_bool(&Raw::Bare), Ok(true));
        assert_eq!(parse_bool(&s("off")), Ok(false));
        assert!(parse_bool(&s("maybe")).is_err());
        assert_eq!(parse_log_level(&s("WARNING")), Ok("warn"));
        assert_eq!(parse_log_level(&s("critical")), Ok("error"));
        assert!(parse_log_level(&s("loud")).is_err());
    }
}

//! The log options, read into [`crate::config::Config`] (called by the loader for each
//! log option it meets, in precedence order: files, environment, command line).
//!
//! `log-format` names two things: ebb's log style (`text`, `json`) and uWSGI's request-line
//! format (`%(method) %(uri) %(status)`). The value decides: `text` or `json` is the style,
//! anything else a request format. So an ini's `log-format = %(method) %(uri)` and
//! `--log-format json` on the command line both work, together too. `logformat` (uWSGI's
//! other spelling) is always a request format.

use std::path::Path;

use super::AccessTo;
use super::access::AccessFormat;
use super::encoder::Encoder;
use super::route::{self, Out, Route};
use crate::config::Config;
use crate::config::options::Id;
use crate::config::values::{self, Raw};

/// Set what log option `id` says. Errors are messages for the key that gave `raw`.
pub(crate) fn apply(
    id: Id,
    raw: &Raw,
    base: &Path,
    home: Option<&str>,
    c: &mut Config,
) -> Result<(), String> {
    let l = &mut c.logs;
    match id {
        Id::LogFormat => {
            let text = values::parse_text(raw, "text, json or a uWSGI request format")?;
            match text.to_ascii_lowercase().as_str() {
                "text" | "plain" | "human" | "json" => {
                    c.log_format = values::parse_log_format(raw)?
                }
                _ if text.contains('%') => l.access_format = AccessFormat::uwsgi(&text)?,
                _ => {
                    return Err(format!(
                        "expected text, json or a uWSGI request format with %(variables), got {raw}"
                    ));
                }
            }
        }
        Id::Logformat => {
            l.access_format = AccessFormat::uwsgi(&values::parse_text(raw, "a log format")?)?
        }
        Id::AccessLogformat => {
            l.access_format =
                AccessFormat::gunicorn(&values::parse_text(raw, "an access log format")?)?
        }
        Id::DisableLogging => l.requests = !values::parse_bool(raw)?,
        Id::Log4xx => l.log_4xx = values::parse_bool(raw)?,
        Id::Log5xx => l.log_5xx = values::parse_bool(raw)?,
        Id::LogSlow => {
            // uWSGI reads the number with atoi(): `log-slow = true` is 0, off (checked with
            // uWSGI 2.0.31). The same here, rather than an error for a file uWSGI runs.
            let ms = match raw {
                Raw::Bool(_) | Raw::Bare => 0,
                Raw::Str(v)
                    if matches!(
                        v.trim().to_ascii_lowercase().as_str(),
                        "true" | "false" | "yes" | "no" | "on" | "off"
                    ) =>
                {
                    0
                }
                _ => values::parse_uint(raw, 0, u64::MAX)?,
            };
            l.slow_ms = (ms > 0).then_some(ms);
        }
        Id::LogXForwardedFor => l.xff = values::parse_bool(raw)?,
        Id::MemoryReport => l.memory = values::parse_bool(raw)?,
        Id::AccessLogfile => {
            l.access_to = match raw {
                Raw::Str(v) if v.trim() == "-" => AccessTo::Stdout,
                _ => AccessTo::File(values::parse_path(raw, base, home)?),
            }
        }
        Id::ReqLogger => {
            let spec = route::parse_logger(&values::parse_text(raw, "file:PATH or stdio")?)?;
            if let Some(n) = spec.name {
                return Err(format!(
                    "a named request logger ({n}) gets only what log-req-route sends it, and                      ebb has no log-req-route: leave the name out"
                ));
            }
            l.access_to = match spec.out {
                Out::Stdio => AccessTo::Main,
                Out::File(p) => {
                    AccessTo::File(values::absolutize(&p.to_string_lossy(), base, home))
                }
                Out::Syslog(_) => {
                    return Err("request lines to syslog are not supported: use file:PATH or                                 stdio (and logger = syslog:... for the rest)"
                        .into());
                }
            };
            l.uwsgi.req_logger = true;
        }
        Id::Logger => {
            let mut spec = route::parse_logger(&values::parse_text(raw, "a logger")?)?;
            if let Out::File(p) = &spec.out {
                spec.out = Out::File(values::absolutize(&p.to_string_lossy(), base, home));
            }
            let u = &mut l.uwsgi;
            match (spec.name.is_some(), spec.out) {
                (true, out) => u.add_logger(route::LoggerSpec { out, ..spec }),
                // One unnamed logger: the last given is the log.
                (false, Out::Stdio) => (c.logto, u.main_syslog) = (None, None),
                (false, Out::File(p)) => (c.logto, u.main_syslog) = (Some(p), None),
                (false, Out::Syslog(s)) => u.main_syslog = Some(s),
            }
        }
        Id::LogEncoder => l
            .uwsgi
            .encoders
            .push(Encoder::parse(&values::parse_text(raw, "an encoder")?)?),
        Id::LogReqEncoder => l
            .uwsgi
            .req_encoders
            .push(Encoder::parse(&values::parse_text(raw, "an encoder")?)?),
        Id::LogRoute => l
            .uwsgi
            .routes
            .push(Route::parse(&values::parse_text(raw, "LOGGER REGEX")?)?),
        Id::LogBackupname => l.uwsgi.backupname = Some(values::parse_path(raw, base, home)?),
        Id::LogBackupcount => {
            let n = values::parse_uint(raw, 0, 1000)? as u32;
            l.uwsgi.backupcount = (n > 0).then_some(n);
        }
        Id::LogTruncate => l.uwsgi.truncate = values::parse_bool(raw)?,
        Id::LogMaxsize => {
            let n = values::parse_uint(raw, 0, u64::MAX)?;
            l.max_size = (n > 0).then_some(n);
        }
        Id::Daemonize => {
            let p = values::parse_path(raw, base, home)?;
            l.daemonize = Some(p.clone());
            c.logto = Some(p);
        }
        other => unreachable!("{other:?} is not a log option"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(Id, &str)]) -> Result<Config, String> {
        let mut c = Config::default();
        for (id, v) in pairs {
            apply(
                *id,
                &Raw::Str(v.to_string()),
                Path::new("/srv"),
                None,
                &mut c,
            )?;
        }
        Ok(c)
    }

    #[test]
    fn log_format_is_a_style_or_a_request_format() {
        use crate::config::LogFormat;
        let c = run(&[
            (Id::LogFormat, "%(method) %(uri) %(status)"),
            (Id::LogFormat, "json"),
        ])
        .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(
            c.logs.access_format.source(),
            Some("%(method) %(uri) %(status)")
        );
        let c = run(&[(Id::LogFormat, "TEXT")]).unwrap();
        assert_eq!(
            (c.log_format, c.logs.access_format.source()),
            (LogFormat::Text, None)
        );
        let e = run(&[(Id::LogFormat, "yaml")]).unwrap_err();
        assert!(e.contains("text, json or a uWSGI request format"), "{e}");
        let e = run(&[(Id::Logformat, "%(method) %(nope)")]).unwrap_err();
        assert!(e.contains("%(nope)"), "{e}");
        let e = run(&[(Id::AccessLogformat, "%(h)s %(zz)s")]).unwrap_err();
        assert!(e.contains("%(zz)s"), "{e}");
    }

    #[test]
    fn loggers_and_files() {
        let c = run(&[
            (Id::ReqLogger, "file:access.log"),
            (Id::Logger, "file:/var/log/e.log"),
        ])
        .unwrap();
        assert_eq!(c.logs.access_to, AccessTo::File("/srv/access.log".into()));
        assert_eq!(c.logto, Some("/var/log/e.log".into()));
        let c = run(&[(Id::Logger, "file:/x"), (Id::Logger, "stdio")]).unwrap();
        assert_eq!(c.logto, None);
        let c = run(&[(Id::AccessLogfile, "-")]).unwrap();
        assert_eq!(c.logs.access_to, AccessTo::Stdout);
        assert!(
            run(&[(Id::Logger, "redis:foo")])
                .unwrap_err()
                .contains("file:PATH")
        );
        let c = run(&[(Id::Daemonize, "ebb.log"), (Id::LogMaxsize, "1000")]).unwrap();
        assert_eq!(c.logto, Some("/srv/ebb.log".into()));
        assert_eq!(c.logs.max_size, Some(1000));
    }

    #[test]
    fn filters() {
        let c = run(&[
            (Id::DisableLogging, "true"),
            (Id::Log4xx, "1"),
            (Id::LogSlow, "250"),
            (Id::LogXForwardedFor, "yes"),
            (Id::MemoryReport, "on"),
        ])
        .unwrap();
        let l = &c.logs;
        assert_eq!(
            (l.requests, l.log_4xx, l.log_5xx, l.slow_ms, l.xff, l.memory),
            (false, true, false, Some(250), true, true)
        );
        // uWSGI's atoi(): a word is 0, off (the corpus has log-slow = true).
        for word in ["true", "True", "false", "yes"] {
            let c = run(&[(Id::LogSlow, "250"), (Id::LogSlow, word)]).unwrap();
            assert_eq!(c.logs.slow_ms, None, "{word}");
        }
        assert!(run(&[(Id::LogSlow, "fast")]).is_err());
    }
}

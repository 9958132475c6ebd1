//! uWSGI's named loggers and `log-route`: `logger = NAME stdio|file:PATH` defines a logger
//! that gets only the lines a route sends it; `log-route = NAME REGEX` sends it every
//! message the regex matches (anywhere in it, as PCRE's search). Every matching route
//! gets the line; a line no route took goes to the unnamed log (stderr or `logto`), as in
//! uWSGI. Regexes are PCRE-like through `fancy-regex` (lookaround and backreferences
//! included); what it cannot compile is an error naming the route.

use std::path::PathBuf;

/// Where a logger writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// With the rest of the log (stderr, or the `logto` file).
    Stdio,
    File(PathBuf),
    Syslog(super::syslog::Spec),
}

/// `logger = [NAME] SPEC`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerSpec {
    pub name: Option<String>,
    pub out: Out,
}

/// `NAME REGEX`.
#[derive(Debug, Clone)]
pub struct Route {
    pub logger: String,
    source: String,
    re: fancy_regex::Regex,
    /// For uWSGI's idiom `^((?!X).)*$` ("a line without X"): X alone. Matched as "no
    /// newline and no X", the same answer without a lookahead at every character (the
    /// idiom through the backtracking engine costs ~10 µs a line; this, one search).
    without: Option<fancy_regex::Regex>,
}

impl PartialEq for Route {
    fn eq(&self, o: &Route) -> bool {
        self.logger == o.logger && self.source == o.source
    }
}

impl Route {
    pub fn parse(spec: &str) -> Result<Route, String> {
        let spec = spec.trim();
        let Some((logger, re)) = spec.split_once(' ') else {
            return Err(format!(
                "expected LOGGER REGEX (a logger named with logger = NAME ...), got {spec:?}"
            ));
        };
        let source = re.trim_start().to_string();
        // A bound on backtracking keeps one odd line from stalling the master's loop.
        let re = fancy_regex::RegexBuilder::new(&source)
            .backtrack_limit(100_000)
            .build()
            .map_err(|e| format!("route for {logger}: cannot compile {source:?}: {e}"))?;
        Ok(Route {
            logger: logger.to_string(),
            without: without(&source),
            source,
            re,
        })
    }

    /// Whether the route takes `msg`. A regex that gives up (backtracking limit) takes
    /// nothing.
    pub fn matches(&self, msg: &str) -> bool {
        match &self.without {
            Some(x) => !msg.contains('\n') && !x.is_match(msg).unwrap_or(true),
            None => self.re.is_match(msg).unwrap_or(false),
        }
    }
}

/// X of `^((?!X).)*$`, when X stands alone (a whole regex: `a)|(b` is not) and has
/// nothing the backtracking engine is needed for (lookaround, references, atomic or
/// possessive parts, conditionals, recursion): then the shortcut answers the same.
fn without(source: &str) -> Option<fancy_regex::Regex> {
    let inner = source.strip_prefix("^((?!")?.strip_suffix(").)*$")?;
    const HARD: [&str; 16] = [
        "(?=", "(?!", "(?<=", "(?<!", "(?>", "(?(", "(?R", "(?&", "(?P>", "(?P=", "\\k", "\\g",
        "\\K", "\\G", "*+", "++",
    ];
    let backref = inner
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b'\\' && w[1].is_ascii_digit());
    if inner.is_empty() || backref || HARD.iter().any(|h| inner.contains(h)) || inner.contains("?+")
    {
        return None;
    }
    fancy_regex::Regex::new(inner).ok()
}

/// uWSGI's logger spec, with an optional name first (letters and digits, then a space):
/// `stdio`, `file:PATH`, `syslog[:IDENT[,FACILITY]]`, `rsyslog:HOST:PORT[,IDENT]`.
/// Relative file paths are returned as given (the caller resolves them).
pub fn parse_logger(v: &str) -> Result<LoggerSpec, String> {
    let v = v.trim();
    let (name, spec) = match v.split_once(' ') {
        Some((n, s)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()) => {
            (Some(n.to_string()), s.trim())
        }
        _ => (None, v),
    };
    let (kind, arg) = match spec.split_once(':') {
        Some((k, a)) => (k, Some(a)),
        None => (spec, None),
    };
    let out = match (kind, arg) {
        ("stdio", _) => Out::Stdio,
        ("file", Some(p)) if !p.is_empty() => Out::File(PathBuf::from(p)),
        ("syslog" | "rsyslog", _) => Out::Syslog(super::syslog::Spec::parse(kind, arg)?),
        _ => {
            return Err(format!(
                "ebb's loggers are stdio, file:PATH, syslog[:IDENT] and \
                 rsyslog:HOST:PORT[,IDENT], got {v:?} (for others, ship the log file)"
            ));
        }
    };
    Ok(LoggerSpec { name, out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_as_pcre_searches() {
        // The corpus's routes: JSON lines to one logger, every other line to another.
        let json = Route::parse("applogger {").unwrap();
        let other = Route::parse(r"default ^((?!\{).)*$").unwrap();
        let cases: &[(&str, bool, bool)] = &[
            (r#"{"level": "info", "msg": "x"}"#, true, false),
            ("Traceback (most recent call last):", false, true),
            ("spawned worker 1", false, true),
            ("a { inside", true, false),
            ("", false, true),
        ];
        for (msg, j, o) in cases {
            assert_eq!((json.matches(msg), other.matches(msg)), (*j, *o), "{msg:?}");
        }
        // The idiom's shortcut gives the backtracking engine's answers.
        for src in [r"^((?!\{).)*$", r"^((?!msgName).)*$", r"^((?!a|b\d).)*$"] {
            let fast = Route::parse(&format!("x {src}")).unwrap();
            assert!(fast.without.is_some(), "{src}");
            let slow = fancy_regex::Regex::new(src).unwrap();
            for msg in [
                "",
                "plain",
                "{json}",
                "x{",
                "msgName=1",
                "a msgNam",
                "b7",
                "b",
                "two\nlines",
                "tail\n",
                "é{",
            ] {
                assert_eq!(
                    fast.matches(msg),
                    slow.is_match(msg).unwrap(),
                    "{src} {msg:?}"
                );
            }
        }
        for src in [r"^((?!a)|(b).)*$", r"^((?!(?<=a)b).)*$", r"^((?!(a)\1).)*$"] {
            assert!(
                Route::parse(&format!("x {src}")).unwrap().without.is_none(),
                "{src}"
            );
        }
        let r = Route::parse(r"err (\w+) \1").unwrap();
        assert!(r.matches("an err again again"));
        assert!(!r.matches("an err again other"));
        let r = Route::parse("x (?<=a)b").unwrap();
        assert_eq!(r.logger, "x");
        assert!(r.matches("ab") && !r.matches("cb"));
    }

    #[test]
    fn bad_routes_are_named() {
        assert!(
            Route::parse("onlyname")
                .unwrap_err()
                .contains("LOGGER REGEX")
        );
        let e = Route::parse("x (unclosed").unwrap_err();
        assert!(
            e.contains("cannot compile") && e.contains("(unclosed"),
            "{e}"
        );
    }

    #[test]
    fn logger_specs() {
        let ok: &[(&str, Option<&str>, Out)] = &[
            ("stdio", None, Out::Stdio),
            ("applogger stdio", Some("applogger"), Out::Stdio),
            (
                "file:/var/log/a.log",
                None,
                Out::File("/var/log/a.log".into()),
            ),
            ("acc file:x.log", Some("acc"), Out::File("x.log".into())),
        ];
        for (v, name, out) in ok {
            let l = parse_logger(v).unwrap();
            assert_eq!((l.name.as_deref(), &l.out), (*name, out), "{v}");
        }
        for bad in ["file:", "redis:127.0.0.1", "zeromq:tcp://x", "my-log stdio"] {
            let e = parse_logger(bad).unwrap_err();
            assert!(e.contains("ebb's loggers are"), "{bad}: {e}");
        }
    }
}

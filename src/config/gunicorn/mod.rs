//! How ebb treats every gunicorn setting: the compatibility table, as data.
//!
//! gunicorn's settings reach ebb as command-line flags (`-k gthread`, `--preload`), and as keys
//! of a TOML file written from a `gunicorn.conf.py` (`worker_class = "gthread"`). Settings ebb
//! maps are resolved through the option registry ([`super::options`]), where gunicorn's flags
//! are names or aliases (`--workers`, `--bind`, `--timeout`); the others are accepted on the
//! command line as hidden flags and classified here with the same [`Status`] as uWSGI's options:
//! accepted quietly, unsupported (one warning line each, errors with `--strict`), or refused
//! (`-k gevent`, `--print-config`). The documentation (`docs/gunicorn-compat.md`) is generated
//! from this table by [`compat_markdown`], and tests check that table and registry agree.
//!
//! Two short flags mean something else in ebb, as in uWSGI: `-w` is the WSGI module (gunicorn:
//! workers) and `-p` the number of processes (gunicorn: pid file). Values that only make sense
//! in gunicorn's meaning are errors that say so ([`short_flag_clash`]).

pub use super::compat::{Status, Verdict};
use super::options::{self, Id};
use super::source::Origin;
use super::values::Raw;

mod table;
pub use table::GUNICORN_SETTINGS;

/// One gunicorn setting, or one group of its values (`worker_class` has a row for `sync` and
/// `gthread`, and one for the rest).
#[derive(Debug, Clone, Copy)]
pub struct GunicornSetting {
    /// The setting's name, as in `gunicorn.conf.py` (`worker_class`).
    pub name: &'static str,
    /// Its long command-line flags, without `--` (`worker-class`); none for settings only a
    /// config file sets (server hooks).
    pub flags: &'static [&'static str],
    /// gunicorn's short flag (`-k`). ebb accepts it too unless ebb gives that letter another
    /// meaning (`-w`, `-p`, `-R`).
    pub short: Option<char>,
    /// On the command line, whether it takes a value (`--access-logfile FILE`) or is a flag
    /// (`--preload`).
    pub takes_value: bool,
    /// The values this row is about; empty for every value (or every value no other row of
    /// the same setting names).
    pub values: &'static [&'static str],
    pub status: Status,
    /// More for the documentation: defaults that differ, spellings.
    pub note: &'static str,
}

pub(super) const fn row(
    name: &'static str,
    flags: &'static [&'static str],
    status: Status,
) -> GunicornSetting {
    GunicornSetting {
        name,
        flags,
        short: None,
        takes_value: true,
        values: &[],
        status,
        note: "",
    }
}

impl GunicornSetting {
    /// A flag without a value (`--preload`).
    pub(super) const fn flag(mut self) -> Self {
        self.takes_value = false;
        self
    }
    pub(super) const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
    pub(super) const fn values(mut self, v: &'static [&'static str]) -> Self {
        self.values = v;
        self
    }
    pub(super) const fn note(mut self, n: &'static str) -> Self {
        self.note = n;
        self
    }

    /// Whether `key` (normalized) names this setting, by its name or one of its flags.
    fn named(&self, key: &str) -> bool {
        options::normalize_key(self.name) == key
            || self.flags.iter().any(|f| options::normalize_key(f) == key)
    }

    /// The command-line spellings, for the documentation: `-k`, `--worker-class`.
    pub fn spellings(&self) -> Vec<String> {
        self.short
            .map(|c| format!("-{c}"))
            .into_iter()
            .chain(self.flags.iter().map(|f| format!("--{f}")))
            .collect()
    }
}

/// The short flags gunicorn and ebb give different meanings: `(letter, gunicorn's, ebb's)`.
pub const SHORT_CLASHES: &[(char, &str, &str)] = &[
    ('w', "--workers N", "--module MOD (uWSGI's -w)"),
    ('p', "--pid FILE", "--processes N (uWSGI's -p)"),
    (
        'R',
        "--enable-stdio-inheritance",
        "--max-requests N (uWSGI's -R)",
    ),
    ('v', "--version", "--verbose"),
];

/// The row for `key` (a setting name or a long flag, in any spelling) and `value`.
pub fn find(key: &str, value: &str) -> Option<&'static GunicornSetting> {
    let key = options::normalize_key(key.trim_start_matches('-'));
    let value = value.trim();
    let rows = || GUNICORN_SETTINGS.iter().filter(|s| s.named(&key));
    rows()
        .find(|s| s.values.iter().any(|v| v.eq_ignore_ascii_case(value)))
        .or_else(|| rows().find(|s| s.values.is_empty()))
}

/// Classify a gunicorn flag or setting the option registry did not resolve, with its value.
pub fn classify(key: &str, value: &str) -> Verdict {
    let Some(s) = find(key, value) else {
        return Verdict::Unknown(None);
    };
    let value_rows = GUNICORN_SETTINGS
        .iter()
        .any(|o| o.name == s.name && !o.values.is_empty());
    match s.status {
        Status::AlwaysOn(_) => Verdict::Quiet,
        Status::Unsupported(hint) => Verdict::Unsupported(hint.to_string()),
        Status::Refused(hint) if value_rows => {
            Verdict::Error(format!("{:?} is not available: {hint}", value.trim()))
        }
        Status::Refused(hint) => Verdict::Error(hint.to_string()),
        // Mapped settings are found by the registry before they get here.
        Status::Same | Status::Alias(_) | Status::Different(..) => {
            Verdict::Unsupported("not available here".to_string())
        }
    }
}

/// gunicorn's meaning of `-w` and `-p`, given to ebb's: an error that says what to write
/// instead, or `None` when the value makes sense for ebb's option.
pub(crate) fn short_flag_clash(id: Id, raw: &Raw, origin: &Origin) -> Option<String> {
    let text = match raw {
        Raw::Str(s) => s.trim().to_string(),
        Raw::Int { digits, .. } => digits.clone(),
        _ => return None,
    };
    let cli = matches!(origin, Origin::Cli { .. });
    match id {
        Id::Module if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) => {
            Some(if cli {
                format!(
                    "{text} is a number, not a Python module: in ebb (as in uWSGI) -w names the WSGI \
                 module to run; for {text} worker processes (gunicorn's -w {text}) use -p {text} \
                 or --workers {text}"
                )
            } else {
                format!(
                    "{text} is a number, not a Python module: this names the WSGI module to run; for \
                 {text} worker processes set processes = {text}"
                )
            })
        }
        Id::Processes if looks_like_a_file(&text) => Some(if cli {
            format!(
                "{text:?} is not a number of processes: in ebb (as in uWSGI) -p is the number of \
                 worker processes; to write the master's pid to a file (gunicorn's -p FILE) use \
                 --pidfile {text}"
            )
        } else {
            format!(
                "{text:?} is not a number of processes: to write the master's pid to a file set \
                 pidfile = {text:?}"
            )
        }),
        _ => None,
    }
}

/// `app.pid`, `/run/app.pid`, `run/pid`: not a number, and shaped like a path (`2.5` is
/// a number, only not a whole one).
fn looks_like_a_file(text: &str) -> bool {
    text.parse::<f64>().is_err() && (text.contains('/') || text.contains('.'))
}

/// The compatibility table as Markdown: every gunicorn setting with its flags and status,
/// then the short flags that differ, the signals and the other differences.
pub fn compat_markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# gunicorn compatibility\n\n\
         <!-- Generated from src/config/gunicorn/ by ebb::config::gunicorn::compat_markdown(); do not edit. -->\n\n\
         ebb takes gunicorn's command-line flags (a few short ones mean something else: see \
         below), and its app argument (`ebb -b :8000 -p 4 myproject.wsgi:application`). gunicorn's Python config files are not \
         read: write the settings in a TOML file (see [conf/ebb.toml](../conf/ebb.toml)), where a \
         gunicorn setting name ebb does not take is an error that says what to write instead. \
         Each gunicorn setting is one of:\n\n\
         - **same**: same name, same meaning;\n\
         - **alias**: another name for an ebb option;\n\
         - **different**: mapped to an ebb option that behaves differently (the note says how);\n\
         - **always on**: accepted quietly, because ebb always behaves that way or the setting \
         has no effect in ebb;\n\
         - **unsupported**: accepted and ignored, with one warning line that names it and says \
         what to do; with `--strict` it is an error;\n\
         - **error**: the configuration does not load; the message says what to do.\n\n\
         | gunicorn setting | gunicorn flags | status | ebb | notes |\n|---|---|---|---|---|\n",
    );
    let mut rows: Vec<&GunicornSetting> = GUNICORN_SETTINGS.iter().collect();
    rows.sort_by_key(|s| (s.name, s.values.is_empty()));
    for s in rows {
        let name = if s.values.is_empty() {
            let specific = GUNICORN_SETTINGS
                .iter()
                .any(|o| o.name == s.name && !o.values.is_empty());
            if specific {
                format!("`{}` = any other", s.name)
            } else {
                format!("`{}`", s.name)
            }
        } else {
            let values: Vec<String> = s.values.iter().map(|v| format!("`{v}`")).collect();
            format!("`{}` = {}", s.name, values.join(", "))
        };
        let flags: Vec<String> = s.spellings().iter().map(|f| format!("`{f}`")).collect();
        let target = match s.status {
            Status::Same => format!("`{}`", options::normalize_key(s.name)),
            st => st.target().map(|t| format!("`{t}`")).unwrap_or_default(),
        };
        let note = [s.status.note(), s.note]
            .iter()
            .filter(|n| !n.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("; ");
        let flags = if flags.is_empty() {
            "(config file only)".to_string()
        } else {
            flags.join(", ")
        };
        out.push_str(&format!(
            "| {name} | {flags} | {} | {target} | {} |\n",
            s.status.label(),
            note.replace('|', "\\|")
        ));
    }
    out.push_str(
        "\n## Short flags that differ\n\n\
         ebb follows uWSGI's short flags where they and gunicorn's disagree. A value that only \
         makes sense in gunicorn's meaning (`-w 4`, `-p app.pid`) is an error that says what to \
         write instead.\n\n\
         | flag | gunicorn | ebb |\n|---|---|---|\n",
    );
    for (c, theirs, ours) in SHORT_CLASHES {
        out.push_str(&format!("| `-{c}` | `{theirs}` | `{ours}` |\n"));
    }
    out.push_str(
        "\n## Signals\n\n\
         | signal | gunicorn master | ebb master |\n\
         |---|---|---|\n\
         | `TERM` | graceful stop (`graceful_timeout`) | graceful stop: drain every worker (requests and background jobs), then exit |\n\
         | `INT`, `QUIT` | quick stop | `INT`: graceful stop; `QUIT`: fast stop, workers get `QUIT`, killed after 3 s |\n\
         | `HUP` | reload the configuration, start new workers, stop the old ones gracefully | the same, but an old worker drains only once its replacement is ready (`--max-surge` at a time); an invalid configuration is logged and the old one kept |\n\
         | `TTIN` / `TTOU` | one worker more / less | one worker more / less |\n\
         | `USR1` | reopen the log files | reopen the log file |\n\
         | `USR2` | upgrade the executable on the fly | logged and ignored |\n\
         | `WINCH` | stop the workers (daemon mode) | ignored |\n",
    );
    out.push_str(
        "\n## Other differences\n\n\
         - Recycling (`max_requests`, reload) starts the replacement first and drains the old \
         worker only once the new one is ready; the drain waits for background jobs, not only \
         requests, and a forced kill is logged with what was lost.\n\
         - As with `preload_app`, a fork server imports the app once and forks the workers \
         (shared copy-on-write, `gc.freeze()` after the import); unlike gunicorn, a reload \
         (SIGHUP) imports the new code in a new fork server first, and the workers are replaced \
         only once that import succeeded. `--lazy-apps` imports in each worker instead.\n\
         - `GUNICORN_CMD_ARGS` is read as gunicorn reads it (its flags count above config \
         files and below the command line); `WEB_CONCURRENCY` is the default number of workers \
         and `PORT` the default socket (`0.0.0.0:$PORT`); `FORWARDED_ALLOW_IPS` is not read. \
         ebb also reads `UWSGI_<OPTION>` variables (`UWSGI_PROCESSES=4`).\n\
         - The app argument as Django documents it, `ebb -b :8000 myproject.wsgi`, runs the \
         module `myproject.wsgi` when no file of that name exists (an existing `.wsgi` file is \
         run as a file).\n\
         - Any other server runs under ebb as the program after `--`; it gets the listening \
         sockets at fds 3 and up, the systemd way (`ebb -b :8000 -p 4 -- uvicorn app:app --fd 3`).\n",
    );
    out
}

#[cfg(test)]
mod tests;

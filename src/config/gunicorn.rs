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
use super::load::Origin;
use super::options::{self, Id};
use super::values::Raw;

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

const fn row(
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
    const fn flag(mut self) -> Self {
        self.takes_value = false;
        self
    }
    const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
    const fn values(mut self, v: &'static [&'static str]) -> Self {
        self.values = v;
        self
    }
    const fn note(mut self, n: &'static str) -> Self {
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

use Status::{Alias, AlwaysOn, Different, Refused, Same, Unsupported};

const RECYCLE: &str = "the replacement starts and is ready first; the old worker then finishes its \
                       requests and background jobs before it exits (gunicorn: the worker exits, \
                       then the master forks a new one)";
const WORKER_CLASS_OK: &str = "ebb's Python worker is threaded: with gthread set --threads N; with \
                               sync, --threads keeps its default of 1, as gunicorn's sync worker \
                               serves one request at a time";
const WORKER_CLASS_NO: &str = "ebb's Python worker is threaded WSGI: use -k gthread with --threads \
                               N; for an ASGI app run ebb -b ADDR -p N -- uvicorn app:app --fd 3 \
                               (any program after -- gets the listening socket at fd 3)";
const RELOAD: &str = "ebb does not watch files: send SIGHUP to reload (every worker is replaced, \
                      new before old)";
const LOGGING: &str = "ebb logs to stderr or to the logto file (--log-format json for \
                       structured lines); configure the app's own logging in its WSGI module";
const SYSLOG: &str =
    "ebb logs to stderr or to the logto file: let journald (or your log shipper) collect it";
const STATS: &str = "no metrics are sent: ebb logs each worker's start, recycle and exit";
const PROCNAME: &str = "process titles are not changed";
const TLS: &str = "terminate TLS in nginx or a load balancer";
const MASTER_HOOK: &str = "ebb runs no Python in the master: run these steps from the service \
                           manager (ExecStartPre=, ExecStopPost= in systemd)";
const WORKER_INIT: &str = "each worker imports the app itself: put per-worker setup in the WSGI \
                           module";
const WORKER_EXIT: &str = "register an atexit handler in the app (it runs when a worker exits); \
                           ebb logs every worker's exit";
const REQUEST_HOOK: &str = "use WSGI middleware";
const PASTE: &str = "write a WSGI module that calls paste.deploy.loadapp(\"config:/path/app.ini\") \
                     and run it with --module";
const SCHEME: &str = "on an HTTP socket wsgi.url_scheme is http: have the app trust the proxy's \
                      X-Forwarded-Proto (Django SECURE_PROXY_SSL_HEADER, Werkzeug ProxyFix); on a \
                      uwsgi socket nginx passes HTTPS";
const FIXED: &str = "not configurable";
const PRELOAD: &str = "each ebb worker starts a fresh Python interpreter and imports the app \
                       itself, so nothing is loaded before the workers start";

/// Every gunicorn setting (21 to 23), in the order of gunicorn's settings list.
pub static GUNICORN_SETTINGS: &[GunicornSetting] = &[
    // Config file.
    row(
        "config",
        &["config"],
        Different(
            "config",
            "reads a TOML file (see conf/ebb.toml); a gunicorn Python config file (.py, \
             python:MODULE) is an error that says so, and ./gunicorn.conf.py is not read",
        ),
    )
    .short('c'),
    row("wsgi_app", &[], Alias("module")).note(
        "or the positional argument, as in gunicorn: ebb -b :8000 myproject.wsgi:application",
    ),
    // Debugging.
    row("reload", &["reload"], Unsupported(RELOAD)).flag(),
    row("reload_engine", &["reload-engine"], Unsupported(RELOAD)),
    row(
        "reload_extra_files",
        &["reload-extra-file"],
        Unsupported(RELOAD),
    ),
    row("spew", &["spew"], Unsupported("not supported")).flag(),
    row(
        "check_config",
        &["check-config"],
        Different(
            "check-config",
            "also prints a summary; the exit status is 2 when the configuration is invalid \
             (gunicorn: 1)",
        ),
    )
    .flag(),
    row(
        "print_config",
        &["print-config"],
        Refused("use --check-config: it checks the configuration, prints a summary and exits"),
    )
    .flag(),
    // Logging.
    row("accesslog", &["access-logfile"], Alias("access-logfile"))
        .note("`-` is stdout, as in gunicorn"),
    row(
        "disable_redirect_access_to_syslog",
        &["disable-redirect-access-to-syslog"],
        AlwaysOn("nothing goes to syslog"),
    )
    .flag(),
    row(
        "access_log_format",
        &["access-logformat"],
        Alias("access-logformat"),
    )
    .note("an unknown atom is an error at start, not a `-`"),
    row("errorlog", &["error-logfile", "log-file"], Alias("logto"))
        .note("`-` is stderr, the default"),
    row("loglevel", &["log-level"], Alias("log-level"))
        .note("`warning` and `critical` are taken as warn and error"),
    row(
        "capture_output",
        &["capture-output"],
        AlwaysOn("the workers' stdout and stderr always go to ebb's log (stderr or logto)"),
    )
    .flag(),
    row("logger_class", &["logger-class"], Unsupported(LOGGING)),
    row("logconfig", &["log-config"], Unsupported(LOGGING)),
    row("logconfig_dict", &[], Unsupported(LOGGING)),
    row("logconfig_json", &["log-config-json"], Unsupported(LOGGING)),
    row("syslog_addr", &["log-syslog-to"], Unsupported(SYSLOG)),
    row("syslog", &["log-syslog"], Unsupported(SYSLOG)).flag(),
    row("syslog_prefix", &["log-syslog-prefix"], Unsupported(SYSLOG)),
    row(
        "syslog_facility",
        &["log-syslog-facility"],
        Unsupported(SYSLOG),
    ),
    row(
        "enable_stdio_inheritance",
        &["enable-stdio-inheritance"],
        AlwaysOn("ebb does not daemonize; the workers' output goes to ebb's log"),
    )
    .flag()
    .short('R')
    .note("ebb's -R is --max-requests (uWSGI's): write --enable-stdio-inheritance"),
    row("statsd_host", &["statsd-host"], Unsupported(STATS)),
    row("dogstatsd_tags", &["dogstatsd-tags"], Unsupported(STATS)),
    row("statsd_prefix", &["statsd-prefix"], Unsupported(STATS)),
    // Process naming.
    row("proc_name", &["name"], Unsupported(PROCNAME)).short('n'),
    row(
        "default_proc_name",
        &[],
        AlwaysOn("internal to gunicorn; process titles are not changed"),
    ),
    // SSL.
    row("keyfile", &["keyfile"], Unsupported(TLS)),
    row("certfile", &["certfile"], Unsupported(TLS)),
    row("ssl_version", &["ssl-version"], Unsupported(TLS)),
    row("cert_reqs", &["cert-reqs"], Unsupported(TLS)),
    row("ca_certs", &["ca-certs"], Unsupported(TLS)),
    row(
        "suppress_ragged_eofs",
        &["suppress-ragged-eofs"],
        Unsupported(TLS),
    )
    .flag(),
    row(
        "do_handshake_on_connect",
        &["do-handshake-on-connect"],
        Unsupported(TLS),
    )
    .flag(),
    row("ciphers", &["ciphers"], Unsupported(TLS)),
    // Security.
    row(
        "limit_request_line",
        &["limit-request-line"],
        Unsupported("fixed in ebb's Python worker: a request line over 8190 bytes gets 414"),
    ),
    row(
        "limit_request_fields",
        &["limit-request-fields"],
        Unsupported("fixed in ebb's Python worker: more than 100 header fields get 431"),
    ),
    row(
        "limit_request_field_size",
        &["limit-request-field_size"],
        Unsupported("fixed in ebb's Python worker: a header field over 8190 bytes gets 431"),
    )
    .note("gunicorn spells the flag with an underscore"),
    // Server hooks (gunicorn's Python config file only).
    row("on_starting", &[], Unsupported(MASTER_HOOK)),
    row("on_reload", &[], Unsupported(MASTER_HOOK)),
    row("when_ready", &[], Unsupported(MASTER_HOOK)),
    row("pre_fork", &[], Unsupported(WORKER_INIT)),
    row("post_fork", &[], Unsupported(WORKER_INIT)),
    row("post_worker_init", &[], Unsupported(WORKER_INIT)),
    row("worker_int", &[], Unsupported(WORKER_EXIT)),
    row("worker_abort", &[], Unsupported(WORKER_EXIT)),
    row("pre_exec", &[], Unsupported(MASTER_HOOK)),
    row("pre_request", &[], Unsupported(REQUEST_HOOK)),
    row("post_request", &[], Unsupported(REQUEST_HOOK)),
    row("child_exit", &[], Unsupported(WORKER_EXIT)),
    row("worker_exit", &[], Unsupported(WORKER_EXIT)),
    row("nworkers_changed", &[], Unsupported(MASTER_HOOK)),
    row("on_exit", &[], Unsupported(MASTER_HOOK)),
    row("ssl_context", &[], Unsupported(TLS)),
    // Server mechanics.
    row("preload_app", &["preload"], Unsupported(PRELOAD)).flag(),
    row(
        "sendfile",
        &["no-sendfile"],
        Unsupported(
            "not configurable: the Python worker sends wsgi.file_wrapper files with sendfile",
        ),
    )
    .flag(),
    row(
        "reuse_port",
        &["reuse-port"],
        Unsupported("workers share one listening socket"),
    )
    .flag(),
    row("chdir", &["chdir"], Same),
    row(
        "daemon",
        &["daemon"],
        Unsupported(
            "ebb runs in the foreground: run it under systemd or another process supervisor",
        ),
    )
    .flag()
    .short('D'),
    row("raw_env", &["env"], Alias("env")).short('e'),
    row(
        "pidfile",
        &["pid"],
        Different(
            "pidfile",
            "write --pid FILE or --pidfile FILE: ebb's -p is the number of processes (uWSGI's), \
             and -p with a file name is an error that says so",
        ),
    )
    .short('p'),
    row(
        "worker_tmp_dir",
        &["worker-tmp-dir"],
        AlwaysOn("there is no heartbeat file: workers report to the master on a datagram socket"),
    ),
    row("user", &["user"], Alias("uid"))
        .short('u')
        .note("only when ebb starts as root"),
    row("group", &["group"], Alias("gid"))
        .short('g')
        .note("only when ebb starts as root"),
    row(
        "umask",
        &["umask"],
        Unsupported("set UMask= in the systemd unit, or umask before starting ebb"),
    )
    .short('m'),
    row(
        "initgroups",
        &["initgroups"],
        Unsupported("the workers' only group is --gid (no supplementary groups)"),
    )
    .flag(),
    row("tmp_upload_dir", &[], AlwaysOn("no effect in ebb")),
    row("secure_scheme_headers", &[], Unsupported(SCHEME)),
    row(
        "forwarded_allow_ips",
        &["forwarded-allow-ips"],
        Unsupported(SCHEME),
    ),
    row(
        "pythonpath",
        &["pythonpath"],
        Different(
            "pythonpath",
            "one directory per --pythonpath (repeat it); gunicorn takes a comma-separated list",
        ),
    ),
    row("paste", &["paste", "paster"], Unsupported(PASTE)),
    row(
        "proxy_protocol",
        &["proxy-protocol"],
        Unsupported("not supported: have the proxy send X-Forwarded-For"),
    )
    .flag(),
    row(
        "proxy_allow_ips",
        &["proxy-allow-from"],
        Unsupported("not supported: have the proxy send X-Forwarded-For"),
    ),
    row(
        "raw_paste_global_conf",
        &["paste-global"],
        Unsupported(PASTE),
    ),
    row(
        "strip_header_spaces",
        &["strip-header-spaces"],
        Unsupported(FIXED),
    )
    .flag(),
    row(
        "permit_unconventional_http_method",
        &["permit-unconventional-http-method"],
        AlwaysOn("any method made of token characters is passed to the app"),
    )
    .flag(),
    row(
        "permit_unconventional_http_version",
        &["permit-unconventional-http-version"],
        Unsupported(FIXED),
    )
    .flag(),
    row(
        "casefold_http_method",
        &["casefold-http-method"],
        Unsupported("not supported: methods reach the app as sent"),
    )
    .flag(),
    row(
        "header_map",
        &["header-map"],
        AlwaysOn("headers with _ in their name are dropped, as by gunicorn's default"),
    )
    .values(&["drop"]),
    row(
        "header_map",
        &["header-map"],
        Unsupported("not configurable: headers with _ in their name are dropped (gunicorn's drop)"),
    ),
    row(
        "forwarder_headers",
        &["forwarder-headers"],
        Unsupported("not supported: set SCRIPT_NAME in the workers' environment (--env)"),
    ),
    row(
        "tolerate_dangerous_framing",
        &["tolerate-dangerous-framing"],
        Unsupported(FIXED),
    )
    .flag()
    .note("gunicorn 22 only"),
    // Server socket.
    row(
        "bind",
        &["bind"],
        Different(
            "http-socket",
            "no default address (gunicorn: 127.0.0.1:8000, or 0.0.0.0:$PORT): give -b; a host \
             without a port and fd://N are errors; unix:PATH works",
        ),
    )
    .short('b'),
    row("backlog", &["backlog"], Alias("listen")).note("default 1024 (gunicorn: 2048)"),
    // Worker processes.
    row(
        "workers",
        &["workers"],
        Different(
            "processes",
            "write -p N or --workers N: ebb's -w is the WSGI module (uWSGI's), and -w with a \
             number is an error that says so; WEB_CONCURRENCY is not read",
        ),
    )
    .short('w'),
    row("worker_class", &["worker-class"], AlwaysOn(WORKER_CLASS_OK))
        .short('k')
        .values(&[
            "sync",
            "gthread",
            "gunicorn.workers.sync.SyncWorker",
            "gunicorn.workers.gthread.ThreadWorker",
        ]),
    row("worker_class", &["worker-class"], Refused(WORKER_CLASS_NO))
        .short('k')
        .note("gevent, eventlet, tornado, uvicorn.workers.UvicornWorker, ..."),
    row("threads", &["threads"], Same),
    row(
        "worker_connections",
        &["worker-connections"],
        AlwaysOn(
            "not limited: idle connections wait in the worker's poller; --threads limits the \
             requests served at once",
        ),
    ),
    row(
        "max_requests",
        &["max-requests"],
        Different("max-requests", RECYCLE),
    ),
    row("max_requests_jitter", &["max-requests-jitter"], Same)
        .note("a random 0..=N added for each new worker, as in gunicorn"),
    row(
        "timeout",
        &["timeout"],
        Different(
            "harakiri",
            "gunicorn kills a worker that stays silent this long, with the requests it is \
             serving; ebb replaces the worker whose request has run longer than this: a \
             replacement starts first, then the stuck worker drains and is killed at \
             drain-timeout, and what it lost is logged. Default off (gunicorn: 30). Needs the \
             Python worker (or X_EBB_STUCK=1 from your own); see also --watchdog",
        ),
    )
    .short('t'),
    row(
        "graceful_timeout",
        &["graceful-timeout"],
        Different(
            "drain-timeout",
            "covers the background jobs the worker started, not only its requests; what a kill \
             loses is logged. Default 60 (gunicorn: 30)",
        ),
    ),
    row(
        "keepalive",
        &["keep-alive"],
        Different(
            "keep-alive",
            "default 5 (gunicorn: 2); must be more than 0 (gunicorn's 0 turns keep-alive off); \
             the bundled Python worker only",
        ),
    ),
];

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
         <!-- Generated from src/config/gunicorn.rs by ebb::config::gunicorn::compat_markdown(); do not edit. -->\n\n\
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
         - Each worker is a fresh process that imports the app (there is no `preload_app`): \
         nothing is shared copy-on-write, and a reload always runs the new code.\n\
         - `GUNICORN_CMD_ARGS`, `WEB_CONCURRENCY`, `PORT` and `FORWARDED_ALLOW_IPS` are not \
         read; ebb reads `UWSGI_<OPTION>` variables (`UWSGI_PROCESSES=4`).\n\
         - Any other server runs under ebb as the program after `--`; it gets the listening \
         sockets at fds 3 and up, the systemd way (`ebb -b :8000 -p 4 -- uvicorn app:app --fd 3`).\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::args;
    use crate::config::options::OPTIONS;
    use std::collections::HashSet;

    /// The registry option a long command-line flag names.
    fn cli_option(flag: &str) -> Option<&'static options::OptionSpec> {
        let flag = options::normalize_key(flag);
        OPTIONS
            .iter()
            .filter(|o| o.scope.cli)
            .find(|o| o.names().any(|n| n == flag))
    }

    #[test]
    fn table_agrees_with_registry() {
        let mut seen = HashSet::new();
        for s in GUNICORN_SETTINGS {
            assert!(
                seen.insert((s.name, s.values)),
                "{} {:?} listed twice",
                s.name,
                s.values
            );
            for f in s.flags {
                let mapped = cli_option(f);
                match s.status {
                    Status::Same => {
                        let m = mapped.unwrap_or_else(|| panic!("--{f} not in the registry"));
                        assert_eq!(m.name, options::normalize_key(s.name), "--{f}");
                    }
                    Status::Alias(t) | Status::Different(t, _) => {
                        let m = mapped.unwrap_or_else(|| panic!("--{f} not in the registry"));
                        assert_eq!(m.name, t, "--{f} maps to {}, table says {t}", m.name);
                    }
                    _ => assert!(mapped.is_none(), "--{f} is an ebb option"),
                }
            }
            if let Some(t) = s.status.target() {
                assert!(options::OPTIONS.iter().any(|o| o.name == t), "{t}");
            }
            // A short flag means the same in ebb, unless it is a listed clash.
            if let Some(c) = s.short {
                let ebb = OPTIONS.iter().find(|o| o.short == Some(c));
                let clash = SHORT_CLASHES.iter().any(|(x, _, _)| *x == c);
                match (s.status.target(), ebb) {
                    (_, Some(_)) if clash => {}
                    (Some(t), Some(o)) => assert_eq!(o.name, t, "-{c}"),
                    (None, Some(o)) if s.status == Status::Same => {
                        assert_eq!(o.name, options::normalize_key(s.name), "-{c}")
                    }
                    (_, Some(o)) => panic!("-{c} is ebb's {} but gunicorn's {}", o.name, s.name),
                    (_, None) => {}
                }
            }
        }
        // Settings with rows per value have a row for the rest.
        for s in GUNICORN_SETTINGS.iter().filter(|s| !s.values.is_empty()) {
            assert!(
                GUNICORN_SETTINGS
                    .iter()
                    .any(|o| o.name == s.name && o.values.is_empty()),
                "{} has no row for other values",
                s.name
            );
        }
    }

    /// Every gunicorn flag and short flag is accepted on ebb's command line: as an ebb
    /// option, or as a hidden flag classified here (or in the uWSGI table, which must agree).
    #[test]
    fn every_flag_is_accepted() {
        let cmd = args::command_line();
        for s in GUNICORN_SETTINGS {
            for f in s.flags {
                let arg = cmd.get_arguments().find(|a| {
                    a.get_long() == Some(f) || a.get_all_aliases().is_some_and(|v| v.contains(f))
                });
                let arg = arg.unwrap_or_else(|| panic!("--{f} is not accepted"));
                if s.status.target().is_none() && s.status != Status::Same {
                    assert!(arg.is_hide_set(), "--{f}");
                    assert_eq!(
                        arg.get_action().takes_values(),
                        s.takes_value,
                        "--{f} takes a value?"
                    );
                    // Also in the uWSGI table: the two must agree on warn or not.
                    if let Some(u) = crate::config::uwsgi::UWSGI_OPTIONS
                        .iter()
                        .find(|u| u.name == options::normalize_key(f))
                    {
                        assert_eq!(
                            std::mem::discriminant(&u.status),
                            std::mem::discriminant(&s.status),
                            "--{f}: uWSGI says {}, gunicorn {}",
                            u.status.label(),
                            s.status.label()
                        );
                    }
                }
            }
            if let Some(c) = s.short
                && !SHORT_CLASHES.iter().any(|(x, _, _)| *x == c)
            {
                assert!(
                    cmd.get_arguments().any(|a| a.get_short() == Some(c)),
                    "-{c} ({}) is not accepted",
                    s.name
                );
            }
        }
    }

    #[test]
    fn classification() {
        let no = |h: &str| Verdict::Unsupported(h.to_string());
        let cases: &[(&str, &str, Verdict)] = &[
            ("worker-class", "sync", Verdict::Quiet),
            ("worker_class", "gthread", Verdict::Quiet),
            ("--worker-class", "GTHREAD", Verdict::Quiet),
            (
                "worker-class",
                "gunicorn.workers.gthread.ThreadWorker",
                Verdict::Quiet,
            ),
            ("preload", "", no(PRELOAD)),
            ("preload_app", "true", no(PRELOAD)),
            ("reload", "", no(RELOAD)),
            ("capture-output", "", Verdict::Quiet),
            ("header-map", "drop", Verdict::Quiet),
            (
                "header-map",
                "refuse",
                no("not configurable: headers with _ in their name are dropped (gunicorn's drop)"),
            ),
            ("post_fork", "", no(WORKER_INIT)),
            ("frobnicate", "", Verdict::Unknown(None)),
        ];
        for (key, value, want) in cases {
            assert_eq!(&classify(key, value), want, "{key} {value}");
        }
        for class in [
            "gevent",
            "eventlet",
            "tornado",
            "uvicorn.workers.UvicornWorker",
        ] {
            let Verdict::Error(m) = classify("worker-class", class) else {
                panic!("{class} accepted");
            };
            assert_eq!(m, format!("{class:?} is not available: {WORKER_CLASS_NO}"));
        }
        assert!(matches!(
            classify("print-config", ""),
            Verdict::Error(m) if m.contains("--check-config")
        ));
        assert!(matches!(
            classify("daemon", ""),
            Verdict::Unsupported(m) if m.contains("systemd")
        ));
    }

    #[test]
    fn markdown_lists_every_setting() {
        let md = compat_markdown();
        for s in GUNICORN_SETTINGS {
            assert!(md.contains(&format!("| `{}`", s.name)), "{}", s.name);
            for f in s.flags {
                assert!(md.contains(&format!("`--{f}`")), "--{f}");
            }
        }
    }
}

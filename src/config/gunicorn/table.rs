//! The gunicorn compatibility table: every gunicorn setting, by name and flags.

use super::{GunicornSetting, Status, row};
use Status::{Alias, AlwaysOn, Different, Refused, Same, Unsupported};

pub(super) const RECYCLE: &str = "the replacement starts and is ready first; the old worker then finishes its \
                       requests and background jobs before it exits (gunicorn: the worker exits, \
                       then the master forks a new one)";
pub(super) const WORKER_CLASS_OK: &str = "ebb's Python worker is threaded: with gthread set --threads N; with \
                               sync, --threads keeps its default of 1, as gunicorn's sync worker \
                               serves one request at a time";
pub(super) const WORKER_CLASS_NO: &str = "ebb's Python worker is threaded WSGI: use -k gthread with --threads \
                               N; for an ASGI app run ebb -b ADDR -p N -- uvicorn app:app --fd 3 \
                               (any program after -- gets the listening socket at fd 3)";
pub(super) const RELOAD: &str = "ebb does not watch files: send SIGHUP to reload (every worker is replaced, \
                      new before old)";
pub(super) const LOGGING: &str = "ebb logs to stderr or to the logto file (--log-format json for \
                       structured lines); configure the app's own logging in its WSGI module";
pub(super) const SYSLOG: &str =
    "ebb logs to stderr or to the logto file: let journald (or your log shipper) collect it";
pub(super) const STATS: &str =
    "ebb pushes no metrics: scrape --metrics (Prometheus) or read --stats";
pub(super) const PROCNAME: &str = "process titles are not changed";
pub(super) const TLS: &str = "terminate TLS in nginx or a load balancer";
pub(super) const MASTER_HOOK: &str = "ebb runs no Python in the master: run these steps from the service \
                           manager (ExecStartPre=, ExecStopPost= in systemd)";
pub(super) const WORKER_INIT: &str = "register the per-worker setup with ebb.after_fork(fn) in the WSGI \
                           module: it runs in each worker after the fork, before it serves";
pub(super) const WORKER_EXIT: &str = "register an atexit handler in the app (it runs when a worker exits); \
                           ebb logs every worker's exit";
pub(super) const REQUEST_HOOK: &str = "use WSGI middleware";
pub(super) const PASTE: &str = "write a WSGI module that calls paste.deploy.loadapp(\"config:/path/app.ini\") \
                     and run it with --module";
pub(super) const SCHEME: &str = "on an HTTP socket wsgi.url_scheme is http: have the app trust the proxy's \
                      X-Forwarded-Proto (Django SECURE_PROXY_SSL_HEADER, Werkzeug ProxyFix); on a \
                      uwsgi socket nginx passes HTTPS";
pub(super) const FIXED: &str = "not configurable";
pub(super) const PRELOAD: &str = "the default: a fork server imports the app once per configuration \
                       and forks the workers; unlike gunicorn, SIGHUP imports the new code (--lazy-apps \
                       imports it in each worker)";

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
        Different(
            "limit-request-line",
            "default 8190 (gunicorn: 4094); 0 means the whole head's limit (buffer-size)",
        ),
    ),
    row("limit_request_fields", &["limit-request-fields"], Same),
    row(
        "limit_request_field_size",
        &["limit-request-field_size"],
        Different(
            "limit-request-field-size",
            "0 means the whole head's limit (buffer-size)",
        ),
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
    row("preload_app", &["preload"], AlwaysOn(PRELOAD)).flag(),
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
        Different("umask", "octal digits, as uWSGI reads them (022)"),
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
            "0.0.0.0:$PORT when PORT is set, as in gunicorn; otherwise no default address \
             (gunicorn: 127.0.0.1:8000): give -b; a host without a port (the error suggests \
             HOST:8000) and fd://N are errors; unix:PATH works",
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
             number is an error that says so; WEB_CONCURRENCY is the default, as in gunicorn",
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

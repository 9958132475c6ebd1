//! The uWSGI compatibility table: every uWSGI option ebb knows, and the families of
//! unsupported ones by prefix.

use super::{Status, UwsgiOption};

pub(super) const fn same(name: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::Same,
        takes_value: true,
        short: None,
    }
}
pub(super) const fn alias(name: &'static str, of: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::Alias(of),
        takes_value: true,
        short: None,
    }
}
pub(super) const fn diff(name: &'static str, of: &'static str, how: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::Different(of, how),
        takes_value: true,
        short: None,
    }
}
/// Accepted quietly; a flag on the command line.
pub(super) const fn on(name: &'static str, why: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::AlwaysOn(why),
        takes_value: false,
        short: None,
    }
}
/// Accepted quietly; takes a value on the command line.
pub(super) const fn on_v(name: &'static str, why: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::AlwaysOn(why),
        takes_value: true,
        short: None,
    }
}
/// Unsupported; takes a value on the command line.
pub(super) const fn no(name: &'static str, hint: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::Unsupported(hint),
        takes_value: true,
        short: None,
    }
}
/// Unsupported; a flag on the command line.
pub(super) const fn no_f(name: &'static str, hint: &'static str) -> UwsgiOption {
    UwsgiOption {
        name,
        status: Status::Unsupported(hint),
        takes_value: false,
        short: None,
    }
}
impl UwsgiOption {
    const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
}

pub(super) const RECYCLE: &str = "the replacement starts first, and the old worker finishes its requests and \
                       background jobs before it exits";
pub(super) const NO_REQUEST_LOG: &str = "ebb's request log has no such option: see log-format and \
                              access-logformat for what a line can show";
pub(super) const STATIC: &str = "serve static files from nginx, or from the app (e.g. WhiteNoise)";
pub(super) const ROUTING: &str = "ebb runs the request chain (route, route-if, route-run...); for this one, route in nginx or in the app";
pub(super) const TOUCH: &str =
    "send SIGHUP to the master instead (from the deploy script, or a systemd path unit)";
pub(super) const SMART_DAEMON: &str = "a pidfile-governed daemon that outlives ebb is not \
    supervised: run the program in the foreground with attach-daemon, or as its own service";
pub(super) const SUPERVISE: &str = "run it as its own service (systemd unit, timer or container)";
pub(super) const NO_ROUTER: &str = "ebb has no HTTP router process: workers speak HTTP directly; timeouts and buffering toward \
     clients belong in nginx";
pub(super) const ASYNC: &str = "ebb's Python worker uses threads: set threads";
pub(super) const SYSTEMD: &str = "set it where ebb is started (e.g. in the systemd unit)";
pub(super) const LOGIC: &str =
    "evaluated while an ini file is read (not on the command line or in UWSGI_* variables)";
pub(super) const INCLUDE: &str =
    "read where it appears in an ini file (on the command line: --ini FILE)";
pub(super) const PROCNAME: &str =
    "ebb takes procname, procname-prefix(-spaced), procname-append and procname-master";
pub(super) const STATS: &str =
    "ebb has the stats server (stats, stats-http) and Prometheus metrics (--metrics), no push";
pub(super) const LOGGING: &str = "ebb logs to stderr or to the logto file";
pub(super) const PROTOCOL: &str = "ebb speaks HTTP (http-socket) and uwsgi (socket) only";
pub(super) const SHARED_IMPORT: &str = "imported once, before the app, in the fork server that \
    forks the workers; with lazy-apps in each worker, as there is no master interpreter";
pub(super) const AUTORELOAD: &str = "the module files are watched with inotify (a change is \
    seen at once); every N seconds a worker reports the modules it imported since; the reload \
    is graceful, as on SIGHUP";
pub(super) const TLS: &str = "terminate TLS in nginx or a load balancer";

/// Every uWSGI option ebb knows about, by name. Options that start with a prefix in
/// [`UWSGI_PREFIXES`] and are not listed here are unsupported too.
/// The options, but those of features ebb leaves to other tools (`super::features`).
pub(super) static OPTIONS: &[UwsgiOption] = &[
    // Sockets.
    same("http-socket"),
    alias("http11-socket", "http-socket"),
    diff(
        "http",
        "http-socket",
        "no router process: the workers answer HTTP on the socket themselves",
    ),
    same("socket"),
    alias("uwsgi-socket", "socket"),
    same("chmod-socket"),
    alias("chmod", "chmod-socket"),
    same("no-defer-accept"),
    same("listen"),
    same("chown-socket"),
    no(
        "shared-socket",
        "list each socket with socket or http-socket",
    ),
    no_f("reuse-port", "workers share one listening socket"),
    no_f("so-keepalive", "not configurable"),
    no_f("tcp-nodelay", "not configurable"),
    no_f("freebind", "not configurable"),
    diff(
        "protocol",
        "socket-protocol",
        "uwsgi or http only (for the sockets given with socket)",
    ),
    diff(
        "socket-protocol",
        "socket-protocol",
        "uwsgi or http only (for the sockets given with socket)",
    ),
    no("fastcgi-socket", PROTOCOL),
    no("scgi-socket", PROTOCOL),
    no("suwsgi-socket", PROTOCOL),
    no("raw-socket", PROTOCOL),
    no("udp", PROTOCOL),
    no("https", TLS),
    no("https-socket", TLS),
    diff(
        "socket-timeout",
        "client-timeout",
        "the Python worker's timeout for a request head once begun and for each read or send \
         (default 30 s; uWSGI: 4 s)",
    ),
    on(
        "http-auto-chunked",
        "the Python worker sends a response of unknown length chunked to HTTP/1.1 clients",
    ),
    on_v(
        "http-keepalive",
        "workers keep HTTP/1.1 connections alive, and close them gently when they drain",
    ),
    diff(
        "http-timeout",
        "client-timeout",
        "no router process: the Python worker's timeout for a request head once begun and for \
         each read or send (default 30 s)",
    ),
    no_f("enable-proxy-protocol", "not supported"),
    // The app.
    same("module"),
    alias("wsgi", "module"),
    same("wsgi-file"),
    alias("file", "wsgi-file"),
    same("callable"),
    same("chdir"),
    diff(
        "chdir2",
        "chdir",
        "the worker changes directory before it loads the app, not after",
    ),
    same("pythonpath"),
    alias("python-path", "pythonpath"),
    alias("pp", "pythonpath"),
    alias("home", "virtualenv"),
    same("virtualenv"),
    alias("venv", "virtualenv"),
    alias("pyhome", "virtualenv"),
    same("env"),
    no("unenv", "unset it in the environment ebb starts with"),
    diff(
        "mount",
        "mount",
        "the apps share one interpreter (uWSGI gives each a sub-interpreter) and are imported \
         once, in the fork server; module or wsgi-file, if given too, must name the first \
         mount's app",
    ),
    UwsgiOption {
        takes_value: false,
        ..same("manage-script-name")
    },
    same("import"),
    alias("pyimport", "import"),
    alias("py-import", "import"),
    alias("python-import", "import"),
    diff("shared-import", "import", SHARED_IMPORT),
    diff("shared-pyimport", "import", SHARED_IMPORT),
    diff("shared-py-import", "import", SHARED_IMPORT),
    diff("shared-python-import", "import", SHARED_IMPORT),
    no("pymodule-alias", "not supported"),
    same("pyargv"),
    diff("py-autoreload", "py-autoreload", AUTORELOAD),
    diff("python-autoreload", "py-autoreload", AUTORELOAD),
    no_f(
        "catch-exceptions",
        "tracebacks are logged, not sent to clients: use your framework's debug mode",
    ),
    UwsgiOption {
        takes_value: false,
        ..same("honour-stdin")
    },
    UwsgiOption {
        takes_value: false,
        ..same("no-site")
    },
    no("wsgi-env-behaviour", "not supported"),
    no("wsgi-env-behavior", "not supported"),
    no_f("wsgi-strict", "not supported"),
    no_f("py-tracebacker", "not supported"),
    on(
        "wsgi-disable-file-wrapper",
        "wsgi.file_wrapper is the plain one from PEP 3333, which reads the file in blocks",
    ),
    on(
        "py-call-osafterfork",
        "workers are fresh processes, not forks of a master that loaded the app",
    ),
    on(
        "py-call-uwsgi-fork-hooks",
        "workers are fresh processes, not forks of a master that loaded the app",
    ),
    no_f("skip-atexit", "atexit handlers run when a worker exits"),
    no_f(
        "skip-atexit-teardown",
        "atexit handlers run when a worker exits",
    ),
    no("gevent", ASYNC),
    no_f("gevent-monkey-patch", ASYNC),
    no("async", ASYNC),
    no_f("ugreen", ASYNC),
    no_f("asyncio", ASYNC),
    no("greenlet", ASYNC),
    no("tornado", ASYNC),
    no("upload-progress", "not supported"),
    no("vhost", "one app per ebb"),
    UwsgiOption {
        takes_value: false,
        ..diff(
            "no-default-app",
            "no-default-app",
            "a request under no mount is answered 404 (uWSGI: 500)",
        )
    },
    // Processes.
    on("master", "there is always a master process").short('M'),
    same("processes"),
    alias("workers", "processes"),
    same("threads"),
    on("enable-threads", "Python threads always work").short('T'),
    no("threads-stacksize", "not configurable"),
    no("thread-stacksize", "not configurable"),
    same("lazy-apps"),
    alias("lazy", "lazy-apps"),
    on(
        "need-app",
        "a worker that cannot load the app exits with an error, and ebb logs it",
    ),
    on("single-interpreter", "there is one interpreter per worker"),
    on(
        "thunder-lock",
        "workers share one listening socket, and the kernel gives each connection to one worker",
    ),
    on(
        "vacuum",
        "ebb removes the Unix sockets and pidfile it created when it exits",
    ),
    on(
        "die-on-term",
        "SIGTERM stops ebb gracefully (SIGHUP reloads), unlike uWSGI's default",
    ),
    on(
        "no-orphans",
        "workers are told to drain when the master dies (Linux)",
    ),
    on("reaper", "the master reaps its children"),
    on_v(
        "plugins",
        "Python support is built in (other plugins are unsupported)",
    ),
    on_v(
        "plugin",
        "Python support is built in (other plugins are unsupported)",
    ),
    on_v("plugin-dir", "Python support is built in"),
    on_v("plugins-dir", "Python support is built in"),
    diff(
        "buffer-size",
        "buffer-size",
        "bounds the whole request head in the Python worker (default 64 KiB; uWSGI: 4 KiB); \
         the request line and each header field are bounded by it too",
    ),
    on_v(
        "post-buffering",
        "the app reads the request body from wsgi.input as it needs it",
    ),
    on_v(
        "post-buffering-bufsize",
        "the app reads the request body from wsgi.input as it needs it",
    ),
    on(
        "close-on-exec",
        "client connections are not inherited by programs the app runs",
    ),
    on(
        "close-on-exec2",
        "client connections are not inherited by programs the app runs",
    ),
    on(
        "ignore-sigpipe",
        "a client that goes away is not reported as an error",
    ),
    on(
        "ignore-write-errors",
        "a client that goes away is not reported as an error",
    ),
    on(
        "disable-write-exception",
        "a client that goes away is not reported as an error",
    ),
    no_f(
        "cheap",
        "workers start at once; ebb runs a fixed number (processes)",
    ),
    no("idle", "ebb runs a fixed number of workers"),
    no_f("die-on-idle", "ebb runs a fixed number of workers"),
    no("cpu-affinity", SYSTEMD),
    same("max-fd"),
    same("umask"),
    no("limit-as", "use reload-on-rss, or MemoryMax= in systemd"),
    diff(
        "reload-on-as",
        "reload-on-as",
        "the master measures the address space (VSZ) of every worker's process group, \
         and recycles it gracefully",
    ),
    diff(
        "evil-reload-on-as",
        "reload-on-as",
        "the master measures every worker's process group, and recycles it gracefully",
    ),
    same("limit-post"),
    no_f(
        "master-as-root",
        "the master runs as the user that starts it",
    ),
    no_f(
        "drop-after-init",
        "workers switch user before they load the app",
    ),
    no_f(
        "drop-after-apps",
        "workers switch user before they load the app",
    ),
    same("uid"),
    same("gid"),
    no("cap", "not supported"),
    no("chroot", "not supported"),
    no("unshare", "not supported"),
    same("daemonize"),
    alias("daemonize2", "daemonize"),
    same("pidfile"),
    diff(
        "pidfile2",
        "pidfile",
        "written by the master as the user ebb starts as",
    ),
    alias("safe-pidfile", "pidfile"),
    diff(
        "safe-pidfile2",
        "pidfile",
        "written by the master as the user ebb starts as",
    ),
    same("master-fifo"),
    no(
        "worker-exec",
        "run any program as the worker with -- CMD ARGS...",
    ),
    // Recycling.
    diff("max-requests", "max-requests", RECYCLE),
    same("max-requests-delta"),
    diff("max-worker-lifetime", "max-worker-lifetime", RECYCLE),
    same("max-worker-lifetime-delta"),
    diff("reload-on-rss", "reload-on-rss", RECYCLE),
    diff(
        "evil-reload-on-rss",
        "reload-on-rss",
        "the master measures every worker's process tree, and recycles it gracefully",
    ),
    no("min-worker-lifetime", "not supported"),
    no_f("reload-on-exception", "not supported"),
    diff(
        "worker-reload-mercy",
        "drain-timeout",
        "covers the background jobs the worker started, not only its requests",
    ),
    diff(
        "reload-mercy",
        "drain-timeout",
        "covers the background jobs the worker started, not only its requests",
    ),
    no(
        "mule-reload-mercy",
        "mules stop as daemons do: TERM, then KILL after drain-timeout",
    ),
    diff(
        "harakiri",
        "harakiri",
        "the stuck request's Python stack is logged and the worker is replaced at once; the stuck \
         worker drains its other requests and jobs and is killed at drain-timeout (what it \
         lost is logged). Needs the bundled Python worker (or X_EBB_STUCK=1 from your own)",
    ),
    on(
        "harakiri-verbose",
        "a harakiri kill is always logged with what it lost",
    ),
    diff(
        "harakiri-graceful-timeout",
        "harakiri-graceful-timeout",
        "the stuck worker gets the drain signal once its replacement is ready, and is killed \
         this long after",
    ),
    no("harakiri-graceful-signal", "not supported"),
    no("harakiri-no-arh", "not supported"),
    // Logging.
    same("logto"),
    diff(
        "logto2",
        "logto",
        "opened by the master as the user ebb starts as",
    ),
    on_v("log-reopen", "SIGUSR1 reopens the log file"),
    on_v("log-date", "every log line has a timestamp"),
    on_v("logdate", "every log line has a timestamp"),
    on(
        "log-master",
        "the master writes the workers' output to the log",
    ),
    same("disable-logging"),
    diff(
        "log-format",
        "log-format",
        "a value with %(variables) is the request-line format, as in uWSGI; text or json picks \
         ebb's log style",
    ),
    same("logformat"),
    on_v(
        "log-format-strftime",
        "times in request lines are always formatted: ISO 8601 UTC, %(ltime) and %(ftime) local",
    ),
    on_v(
        "logformat-strftime",
        "times in request lines are always formatted: ISO 8601 UTC, %(ltime) and %(ftime) local",
    ),
    same("log-4xx"),
    same("log-5xx"),
    diff(
        "log-slow",
        "log-slow",
        "a word (true, yes...) is 0, off, as uWSGI's atoi() reads it",
    ),
    no("log-big", NO_REQUEST_LOG),
    no_f("log-zero", NO_REQUEST_LOG),
    on(
        "log-micros",
        "ebb's default request line gives the duration to the 10 µs; %(micros) in log-format",
    ),
    same("log-x-forwarded-for"),
    no_f("log-ioerror", NO_REQUEST_LOG),
    on(
        "log-sendfile",
        "files sent with sendfile (static files) are logged as any request",
    ),
    diff(
        "req-logger",
        "req-logger",
        "file:PATH or stdio, unnamed (ebb has no log-req-route)",
    ),
    alias("logger-req", "req-logger"),
    diff(
        "logger",
        "logger",
        "stdio, file:PATH, syslog[:IDENT[,FACILITY]] (/dev/log) and rsyslog:HOST:PORT[,IDENT] \
         (UDP, RFC 3164); named ones get what log-route sends them; of the unnamed ones, the \
         last is the log",
    ),
    diff(
        "log-route",
        "log-route",
        "the regex is fancy-regex's (PCRE's syntax with lookaround and backreferences; no \
         PCRE verbs or recursion)",
    ),
    diff(
        "log-encoder",
        "log-encoder",
        "prefix, suffix, nl, format, json (gzip and compress refused); a line an encoder \
         rewrote has no ebb stamp; %z/strftime times are UTC; unknown ${vars} are errors",
    ),
    diff(
        "log-req-encoder",
        "log-req-encoder",
        "as log-encoder, for access lines when req-logger is set",
    ),
    diff(
        "log-maxsize",
        "log-maxsize",
        "the full file is renamed FILE.<unix time> (or log-backupname, or .1 .. .N with \
         log-backupcount)",
    ),
    same("log-backupname"),
    diff(
        "log-backupcount",
        "log-backupcount",
        "not a uWSGI option (uWSGI ignores the key): ebb keeps N rotated files, .1 newest",
    ),
    diff(
        "log-truncate",
        "log-truncate",
        "the logto file is emptied when ebb starts, not at a SIGHUP (uWSGI also empties it at \
         a reload with log-reopen)",
    ),
    on_v(
        "log-buffering",
        "not a uWSGI option (uWSGI ignores the key): ebb collects log lines and writes them \
         once per loop turn, at most 64 KiB at a time",
    ),
    no(
        "logfile-chown",
        "the log file belongs to the user ebb runs as",
    ),
    no(
        "logfile-chmod",
        "the log file belongs to the user ebb runs as",
    ),
    diff(
        "memory-report",
        "memory-report",
        "RSS and VSZ are added to each access record (and the default line)",
    ),
    // Process names.
    on(
        "auto-procname",
        "ebb always sets titles: ebb master ..., ebb worker N gen G APP",
    ),
    same("procname"),
    same("procname-prefix"),
    same("procname-prefix-spaced"),
    same("procname-append"),
    same("procname-master"),
    // Reloading.
    diff(
        "touch-reload",
        "touch-reload",
        "a graceful reload as on SIGHUP: the configuration is read again and every worker is \
         replaced, new before old; watched with inotify",
    ),
    diff(
        "touch-chain-reload",
        "touch-workers-reload",
        "ebb's reloads are always chained: workers are replaced one by one, each new one ready \
         before the old one drains",
    ),
    same("touch-workers-reload"),
    no("touch-logreopen", "send SIGUSR1 to reopen log files"),
    diff(
        "fs-reload",
        "fs-reload",
        "inotify, as in uWSGI, but a write is seen when the file is closed (one reload per \
         write, not one per write call)",
    ),
    // Monitoring.
    same("stats"),
    alias("stats-server", "stats"),
    same("stats-http"),
    no_f("stats-minified", STATS),
    no("stats-push", STATS),
    no_f("enable-metrics", STATS),
    // Configuration.
    same("strict"),
    on_v("ini", INCLUDE),
    on_v("inherit", INCLUDE),
    on_v("include", INCLUDE),
    no("xml", "only ini and TOML files are read"),
    no("yaml", "only ini and TOML files are read"),
    no("yml", "only ini and TOML files are read"),
    no("json", "only ini and TOML files are read"),
    on_v("set-placeholder", LOGIC),
    on_v("set-ph", LOGIC),
    on_v("if-env", LOGIC),
    on_v("ifenv", LOGIC),
    on_v("ifexists", LOGIC),
    on_v("ifdir", LOGIC),
    on_v("if-directory", LOGIC),
    on_v("if-not-directory", LOGIC),
    on_v("if-not-env", LOGIC),
    on_v("if-exists", LOGIC),
    on_v("if-not-exists", LOGIC),
    on_v("if-file", LOGIC),
    on_v("if-not-file", LOGIC),
    on_v("if-dir", LOGIC),
    on_v("if-not-dir", LOGIC),
    on_v("if-opt", LOGIC),
    on_v("if-not-opt", LOGIC),
    on_v("if-hostname", LOGIC),
    on_v("if-not-hostname", LOGIC),
    on_v("if-plugin", LOGIC),
    on_v("if-not-plugin", LOGIC),
    on_v("if-reload", LOGIC),
    on_v("if-not-reload", LOGIC),
    on_v("else", LOGIC),
    on_v("endif", LOGIC),
    on_v("end-if", LOGIC),
    on_v("for", LOGIC),
    on_v("for-glob", LOGIC),
    on_v("for-times", LOGIC),
    on_v("for-readline", LOGIC),
    on_v("endfor", LOGIC),
    on_v("end-for", LOGIC),
    on_v("end", LOGIC),
    on_v(
        "cheaper",
        "no effect: ebb always runs processes workers (the most cheaper mode would run); \
         SIGTTIN/SIGTTOU add or remove one",
    ),
    on_v(
        "cheaper-initial",
        "no effect: ebb starts processes workers at once (cheaper mode is not run)",
    ),
    on_v(
        "cheaper-step",
        "no effect: ebb starts processes workers at once (cheaper mode is not run)",
    ),
    diff(
        "hook-asap",
        "hook-asap",
        "actions exec, mkdir (an existing directory is fine), unlink, print; run once at start, not again on reload (uWSGI re-executes itself on reload and runs them again)",
    ),
    diff(
        "exec-asap",
        "exec-asap",
        "run once at start, not again on reload",
    ),
    diff(
        "hook-pre-app",
        "hook-pre-app",
        "actions exec, mkdir, unlink, print; once per configuration generation in the fork server, in each worker with lazy-apps; a failure is a failed import",
    ),
    diff(
        "exec-pre-app",
        "exec-pre-app",
        "once per configuration generation in the fork server, in each worker with lazy-apps; a failure is a failed import",
    ),
    diff(
        "hook-post-app",
        "hook-post-app",
        "as hook-pre-app, after the import",
    ),
    diff(
        "exec-post-app",
        "exec-post-app",
        "as exec-pre-app, after the import",
    ),
    no(
        "hook-master-start",
        "accepted as unix_signal:15 gracefully_kill_them_all (or unix_signal:2): TERM and INT \
         already stop gracefully; other master-start hooks: run them from the service manager",
    ),
    UwsgiOption {
        takes_value: false,
        ..diff(
            "show-config",
            "show-config",
            "logs what ebb resolved (sockets, workers, recycling...), as --check-config prints \
             it, not the options as ini",
        )
    },
    on_v(
        "print",
        "no effect: uWSGI prints the text while reading the file; ebb does not",
    ),
];

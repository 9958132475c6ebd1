//! The table itself: every ebb option with its names, type, heading, help and example.

use super::{Id, OptionSpec, Scope, Ty};
use crate::config::model::Protocol;

const H_SOCKETS: &str = "Sockets";
const H_WORKERS: &str = "Workers";
const H_PYTHON: &str = "Python WSGI worker";
const H_RECYCLE: &str = "Recycling";
const H_DRAIN: &str = "Draining";
pub(super) const H_LOG: &str = "Logging";
const H_CONFIG: &str = "Configuration";
const H_OPERATE: &str = "Operating";
pub(super) const H_SIDE: &str = "Side processes";

use Id::*;

/// The options, but the spooler's (`super::spooler`).
pub(super) static OPTIONS: &[OptionSpec] = &[
    // Sockets.
    OptionSpec::new(HttpSocket, "http-socket", Ty::Address(Protocol::Http), H_SOCKETS)
        .aliases(&["http", "bind"])
        .hidden(&["http11-socket"])
        .short('b')
        .repeat()
        .value("ADDR")
        .help(
            "Listen for HTTP on ADDR: host:port, :port (every interface), [::1]:port, or a Unix \
             socket path (contains '/' or ends in .sock). Repeatable.",
        )
        .example("[\"127.0.0.1:8000\"]"),
    OptionSpec::new(Socket, "socket", Ty::Address(Protocol::Uwsgi), H_SOCKETS)
        .aliases(&["uwsgi-socket"])
        .short('s')
        .repeat()
        .value("ADDR")
        .help(
            "Listen for the uwsgi protocol (nginx uwsgi_pass) on ADDR, a Unix socket path or \
             host:port. Repeatable.",
        )
        .example("[\"/run/myapp/uwsgi.sock\"]"),
    OptionSpec::new(Listen, "listen", Ty::Int { min: 1, max: 65535 }, H_SOCKETS)
        .hidden(&["backlog"])
        .short('l')
        .value("N")
        .default("1024")
        .help("Listen backlog: connections the kernel queues before workers accept them.")
        .example("1024"),
    OptionSpec::new(ChmodSocket, "chmod-socket", Ty::Octal, H_SOCKETS)
        .hidden(&["chmod"])
        .value("MODE")
        .help(
            "Mode of Unix socket files, in octal (660). Given without a value: 666, as in uWSGI.",
        )
        .example("\"660\""),
    OptionSpec::new(ChownSocket, "chown-socket", Ty::Text, H_SOCKETS)
        .value("USER[:GROUP]")
        .help("Owner of Unix socket files (names or ids; when ebb runs as root).")
        .example("\"www-data:www-data\""),
    // Workers.
    OptionSpec::new(Processes, "processes", Ty::Int { min: 1, max: 1024 }, H_WORKERS)
        .aliases(&["workers"])
        .short('p')
        .value("N")
        .default("1")
        .help("Number of worker processes.")
        .example("4"),
    OptionSpec::new(ExampleApp, "example-app", Ty::Flag, H_WORKERS)
        .help(
            "Workers run ebb's bundled example HTTP app (for trying ebb out and for \
             benchmarks). One of --example-app, --module/--wsgi-file or -- CMD is required.",
        )
        .example("true"),
    OptionSpec::new(Command, "command", Ty::Argv, H_WORKERS)
        .scope(Scope::CLI_TOML)
        .value("CMD")
        .help(
            "Any worker program and its arguments, given after --. It gets the sockets the \
             systemd way (LISTEN_FDS, fds 3..) and may report with NOTIFY_SOCKET.",
        )
        .example("[\"python3\", \"my_server.py\"]"),
    OptionSpec::new(Chdir, "chdir", Ty::Path, H_WORKERS)
        .hidden(&["chdir2"])
        .value("DIR")
        .help("Directory the workers start in.")
        .example("\"/srv/myproject\""),
    OptionSpec::new(Env, "env", Ty::EnvPair, H_WORKERS)
        .short('e')
        .repeat()
        .value("KEY=VAL")
        .help("Set an environment variable for the workers. Repeatable.")
        .example("[\"DJANGO_SETTINGS_MODULE=myproject.settings\"]"),
    OptionSpec::new(Uid, "uid", Ty::Text, H_WORKERS)
        .hidden(&["user"])
        .short('u')
        .value("USER")
        .help("User the workers run as (name or number). Only when ebb starts as root.")
        .example("\"www-data\""),
    OptionSpec::new(Gid, "gid", Ty::Text, H_WORKERS)
        .hidden(&["group"])
        .short('g')
        .value("GROUP")
        .help("Group the workers run as (name or number). Only when ebb starts as root.")
        .example("\"www-data\""),
    OptionSpec::new(Pidfile, "pidfile", Ty::Path, H_WORKERS)
        .hidden(&["pid", "safe-pidfile", "pidfile2", "safe-pidfile2"])
        .value("FILE")
        .help("Write the master's pid to FILE.")
        .example("\"/run/myapp/ebb.pid\""),
    OptionSpec::new(Umask, "umask", Ty::Octal, H_WORKERS)
        .short('m')
        .value("MODE")
        .help(
            "The file-mode mask of the master and its workers, in octal (022), set before \
             sockets and files are created.",
        )
        .example("\"022\""),
    OptionSpec::new(MaxFd, "max-fd", Ty::Int { min: 16, max: 1 << 20 }, H_WORKERS)
        .value("N")
        .help(
            "The open-files limit of the master and its workers. ebb raises the soft limit to \
             the hard one anyway; above the hard limit needs root (or LimitNOFILE= in systemd).",
        )
        .example("65536"),
    // Python.
    OptionSpec::new(Module, "module", Ty::Text, H_PYTHON)
        .aliases(&["wsgi"])
        .short('w')
        .value("MOD")
        .help("Run the WSGI app in Python module MOD (pkg.mod or pkg.mod:callable).")
        .example("\"myproject.wsgi:application\""),
    OptionSpec::new(WsgiFile, "wsgi-file", Ty::Path, H_PYTHON)
        .aliases(&["file"])
        .value("FILE")
        .help("Run the WSGI app defined in Python file FILE.")
        .example("\"/srv/myproject/app.py\""),
    OptionSpec::new(Callable, "callable", Ty::Text, H_PYTHON)
        .value("NAME")
        .default("application")
        .help("Name of the WSGI callable in the module or file.")
        .example("\"application\""),
    OptionSpec::new(Pythonpath, "pythonpath", Ty::Path, H_PYTHON)
        .aliases(&["pp"])
        .hidden(&["python-path"])
        .repeat()
        .value("DIR")
        .help("Add DIR to the Python import path. Repeatable.")
        .example("[\"/srv/myproject\"]"),
    // Static files, served by the Python worker in front of the app (uWSGI's names).
    OptionSpec::new(StaticMap, "static-map", Ty::Text, H_PYTHON)
        .repeat()
        .value("/PREFIX=DIR")
        .help(
            "Serve files under DIR for URLs under /PREFIX (the prefix is replaced by DIR) \
             without entering the app: sendfile, Content-Type by extension, Last-Modified and \
             304, single byte ranges, HEAD. DIR may be a file. Repeatable.",
        )
        .example("[\"/static=/srv/myproject/static\"]"),
    OptionSpec::new(StaticMap2, "static-map2", Ty::Text, H_PYTHON)
        .repeat()
        .value("/PREFIX=DIR")
        .help("Like --static-map, but the whole URL path is appended to DIR. Repeatable.")
        .example("[\"/media=/srv/myproject\"]"),
    OptionSpec::new(CheckStatic, "check-static", Ty::Text, H_PYTHON)
        .repeat()
        .value("DIR")
        .help("Serve any URL path that names a file under DIR (a document root). Repeatable.")
        .example("[\"/srv/myproject/public\"]"),
    OptionSpec::new(StaticIndex, "static-index", Ty::Text, H_PYTHON)
        .repeat()
        .value("NAME")
        .help("For a URL naming a mapped directory, serve this file in it (index.html). Repeatable.")
        .example("[\"index.html\"]"),
    OptionSpec::new(StaticSafe, "static-safe", Ty::Text, H_PYTHON)
        .repeat()
        .value("DIR")
        .help(
            "A folder that mapped files may resolve into through symlinks (otherwise a file \
             must really lie in its mapped folder). Repeatable.",
        )
        .example("[\"/srv/shared-assets\"]"),
    OptionSpec::new(StaticGzip, "static-gzip", Ty::Text, H_PYTHON)
        .hidden(&[
            "static-gzip-dir",
            "static-gzip-prefix",
            "static-gzip-ext",
            "static-gzip-suffix",
        ])
        .repeat()
        .value("PATTERN")
        .help(
            "Send FILE.gz instead of FILE when it exists and the client accepts gzip. ebb does \
             this for every mapped file once any static-gzip option is set.",
        )
        .example("[\"\\\\.(css|js)$\"]"),
    OptionSpec::new(StaticGzipAll, "static-gzip-all", Ty::Flag, H_PYTHON)
        .help("Send FILE.gz instead of FILE when it exists and the client accepts gzip.")
        .example("true"),
    OptionSpec::new(StaticExpiresType, "static-expires-type", Ty::Text, H_PYTHON)
        .hidden(&["static-expires-type-mtime"])
        .repeat()
        .value("TYPE=SECS")
        .help("Cache-Control max-age and Expires for static files of this content type. Repeatable.")
        .example("[\"text/css=86400\"]"),
    OptionSpec::new(StaticExpires, "static-expires", Ty::Text, H_PYTHON)
        .hidden(&["static-expires-mtime"])
        .repeat()
        .value("REGEXP SECS")
        .help("The same for static files whose path matches REGEXP. Repeatable.")
        .example("[\"\\\\.png$ 604800\"]"),
    OptionSpec::new(StaticExpiresUri, "static-expires-uri", Ty::Text, H_PYTHON)
        .hidden(&["static-expires-uri-mtime", "static-expires-path-info"])
        .repeat()
        .value("REGEXP SECS")
        .help("The same for static files whose URL matches REGEXP. Repeatable.")
        .example("[\"^/static/ 3600\"]"),
    OptionSpec::new(OffloadThreads, "offload-threads", Ty::Int { min: 0, max: 1024 }, H_PYTHON)
        .value("N")
        .help(
            "Accepted for uWSGI files; no effect: the serving thread sends a static file with \
             sendfile(2), which needs no thread of its own.",
        )
        .example("0"),
    // uWSGI's internal routing (request chain), run by the Python worker before the app.
    OptionSpec::new(Route, "route", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help(
            "A routing rule, as uWSGI writes it: when the URL path matches REGEXP, run ACTION \
             (continue, last, break[:STATUS], return:STATUS, redirect[-permanent]:URL, \
             rewrite[-last]:PATH, addheader:NAME: VALUE, delheader:NAME, addvar:KEY=VALUE, \
             setpathinfo, setscriptname, setmethod, goto:LABEL, log:TEXT, donotlog:, \
             static:FILE, basicauth:REALM,USER:PASSWORD). $1..$9 and ${VAR} expand in \
             ACTION. Rules run in order, before static files and the app. Repeatable.",
        )
        .example("[\"^/health/ return:204\"]"),
    OptionSpec::new(RouteHost, "route-host", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the Host header. Repeatable.")
        .example("[\"^www\\\\. redirect-permanent:https://example.com${REQUEST_URI}\"]"),
    OptionSpec::new(RouteUri, "route-uri", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the request URI (path and query). Repeatable.")
        .example("[\"^/old/(.*) redirect:/new/$1\"]"),
    OptionSpec::new(RouteQs, "route-qs", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the query string. Repeatable.")
        .example("[\"debug=1 break:403\"]"),
    OptionSpec::new(RouteRemoteAddr, "route-remote-addr", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the client address. Repeatable.")
        .example("[\"^10\\\\. addvar:INTERNAL=1\"]"),
    OptionSpec::new(RouteUserAgent, "route-user-agent", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the User-Agent header. Repeatable.")
        .example("[\"BadBot break:403\"]"),
    OptionSpec::new(RouteReferer, "route-referer", Ty::Text, H_PYTHON)
        .repeat()
        .value("REGEXP ACTION")
        .help("A routing rule on the Referer header. Repeatable.")
        .example("[\"spam\\\\.example break:403\"]"),
    OptionSpec::new(RouteIf, "route-if", Ty::Text, H_PYTHON)
        .repeat()
        .value("COND:ARGS ACTION")
        .help(
            "A routing rule on a condition: equal, startswith, endswith, contains, regexp \
             (each A;B), ishigher, islower (and -equal), empty, exists, isfile, isdir, islink. \
             Repeatable.",
        )
        .example("[\"equal:${HTTP_X_FORWARDED_PROTO};http redirect-permanent:https://${HTTP_HOST}${REQUEST_URI}\"]"),
    OptionSpec::new(RouteIfNot, "route-if-not", Ty::Text, H_PYTHON)
        .repeat()
        .value("COND:ARGS ACTION")
        .help("A routing rule that runs when its condition is false. Repeatable.")
        .example("[\"empty:${HTTP_AUTHORIZATION} addvar:AUTHED=1\"]"),
    OptionSpec::new(RouteRun, "route-run", Ty::Text, H_PYTHON)
        .repeat()
        .value("ACTION")
        .help("A routing action that always runs (at its place in the rules). Repeatable.")
        .example("[\"addheader:X-Frame-Options: DENY\"]"),
    OptionSpec::new(RouteLabel, "route-label", Ty::Text, H_PYTHON)
        .repeat()
        .value("NAME")
        .help("A place in the rules that goto:NAME jumps to. Repeatable.")
        .example("[\"https\"]"),
    OptionSpec::new(AddHeader, "add-header", Ty::Text, H_PYTHON)
        .repeat()
        .value("NAME: VALUE")
        .help("Add this header to every response (the app's, static files', routing's). Repeatable.")
        .example("[\"X-Content-Type-Options: nosniff\"]"),
    OptionSpec::new(DelHeader, "del-header", Ty::Text, H_PYTHON)
        .repeat()
        .value("NAME")
        .help("Remove this header from every response. Repeatable.")
        .example("[\"Server\"]"),
    OptionSpec::new(Virtualenv, "virtualenv", Ty::Path, H_PYTHON)
        .aliases(&["home", "venv"])
        .hidden(&["pyhome"])
        .short('H')
        .value("DIR")
        .help("Run the app with the virtualenv in DIR (its bin/python).")
        .example("\"/srv/myproject/.venv\""),
    OptionSpec::new(Python, "python", Ty::Text, H_PYTHON)
        .value("PATH")
        .default("python3")
        .help("Python interpreter to run (a path, or a name looked up in PATH).")
        .example("\"/usr/bin/python3\""),
    OptionSpec::new(Threads, "threads", Ty::Int { min: 1, max: 4096 }, H_PYTHON)
        .value("N")
        .default("1")
        .help("Threads per Python worker.")
        .example("4"),
    OptionSpec::new(LazyApps, "lazy-apps", Ty::Flag, H_PYTHON)
        .hidden(&["lazy"])
        .help(
            "Each Python worker imports the app itself (a fresh interpreter per worker). \
             Default: a fork server imports it once per configuration and forks the workers \
             (shared memory, recycles in milliseconds; SIGHUP imports the new code).",
        )
        .example("false"),
    OptionSpec::new(ForkAnyway, "fork-anyway", Ty::Flag, H_PYTHON)
        .help(
            "Fork the workers from the fork server even when the app's import started threads \
             or left connected sockets open (named in the log). Default: such an app is \
             imported in each worker instead.",
        )
        .example("false"),
    OptionSpec::new(KeepAlive, "keep-alive", Ty::Duration, H_PYTHON)
        .hidden(&["keepalive"])
        .value("SECS")
        .default("5")
        .help(
            "How long the Python worker keeps an idle connection open for its next (or first) \
             request (gunicorn's --keep-alive). Sets EBB_KEEPALIVE_TIMEOUT for the workers.",
        )
        .example("\"5s\""),
    OptionSpec::new(NoDeferAccept, "no-defer-accept", Ty::Flag, H_PYTHON)
        .help(
            "Accept TCP connections as soon as they are established instead of once their \
             first bytes have arrived (TCP_DEFER_ACCEPT, on by default as in uWSGI, spares the \
             Python worker a wake-up per new connection). Sets EBB_DEFER_ACCEPT=0 for the \
             workers.",
        )
        .example("false"),
    // Recycling.
    OptionSpec::new(MaxRequests, "max-requests", Ty::Int { min: 0, max: u64::MAX }, H_RECYCLE)
        .short('R')
        .value("N")
        .help(
            "Recycle a worker after N requests (0: never). The replacement starts first; the \
             old worker finishes its requests and background jobs before it exits.",
        )
        .example("1000"),
    OptionSpec::new(
        MaxRequestsDelta,
        "max-requests-delta",
        Ty::Int { min: 0, max: u64::MAX },
        H_RECYCLE,
    )
    .value("N")
    .default("0")
    .help("Worker k recycles after max-requests + (k-1)*N requests, so they do not all recycle at once.")
    .example("10"),
    OptionSpec::new(
        MaxRequestsJitter,
        "max-requests-jitter",
        Ty::Int { min: 0, max: u64::MAX },
        H_RECYCLE,
    )
    .value("N")
    .default("0")
    .help("Add a random 0..=N to max-requests for each new worker (gunicorn's spread).")
    .example("50"),
    OptionSpec::new(MaxWorkerLifetime, "max-worker-lifetime", Ty::Duration, H_RECYCLE)
        .value("SECS")
        .help("Recycle a worker after it has lived this long (0: never).")
        .example("\"1h\""),
    OptionSpec::new(
        MaxWorkerLifetimeDelta,
        "max-worker-lifetime-delta",
        Ty::Duration,
        H_RECYCLE,
    )
    .value("SECS")
    .default("0")
    .help("Worker k's lifetime is max-worker-lifetime + (k-1)*SECS.")
    .example("\"30s\""),
    OptionSpec::new(ReloadOnRss, "reload-on-rss", Ty::SizeMb, H_RECYCLE)
        .hidden(&["evil-reload-on-rss"])
        .value("MB")
        .help("Recycle a worker whose process tree uses more than MB megabytes of RSS (0: never).")
        .example("512"),
    OptionSpec::new(Harakiri, "harakiri", Ty::Duration, H_RECYCLE)
        .hidden(&["timeout"])
        .short('t')
        .value("SECS")
        .help("Replace a worker whose request has run longer than SECS (0: never).")
        .example("\"60s\""),
    OptionSpec::new(Watchdog, "watchdog", Ty::Duration, H_RECYCLE)
        .value("SECS")
        .help(
            "Replace a worker that stopped sending WATCHDOG=1 for SECS (0: never). Workers get \
             WATCHDOG_USEC; only workers that sent WATCHDOG=1 once are held to it.",
        )
        .example("\"30s\""),
    OptionSpec::new(MaxSurge, "max-surge", Ty::Int { min: 1, max: 1024 }, H_RECYCLE)
        .value("N")
        .default("1")
        .help(
            "How many workers may be starting beyond --processes while workers are replaced \
             (draining workers do not count: see --max-draining).",
        )
        .example("1"),
    OptionSpec::new(MaxDraining, "max-draining", Ty::Int { min: 1, max: 1024 }, H_RECYCLE)
        .value("N")
        .help(
            "How many replaced workers may be draining at once (default: --processes, so a \
             reload replaces every worker while the old ones finish their jobs). At most \
             processes + max-surge + max-draining worker processes exist.",
        )
        .example("4"),
    OptionSpec::new(StartAttempts, "start-attempts", Ty::Int { min: 0, max: 1000 }, H_RECYCLE)
        .value("N")
        .default("3")
        .help(
            "Until some worker has been ready once, a slot failing to start N times in a row \
             ends ebb with exit status 3, so a service manager sees that the app cannot start \
             (uWSGI's need-app). 0: keep retrying with back-off. Once a worker has served, \
             crashes always back off and retry.",
        )
        .example("3"),
    OptionSpec::new(TouchReload, "touch-reload", Ty::Path, H_RECYCLE)
        .repeat()
        .value("FILE")
        .help(
            "Reload (as on SIGHUP: read the configuration again, replace every worker) when \
             FILE's modification time changes, e.g. after `touch FILE` in a deploy script. \
             Watched with inotify: no polling. Repeatable.",
        )
        .example("[\"/srv/myproject/reload.txt\"]"),
    OptionSpec::new(TouchWorkersReload, "touch-workers-reload", Ty::Path, H_RECYCLE)
        .aliases(&["touch-chain-reload"])
        .repeat()
        .value("FILE")
        .help(
            "Replace every worker one by one (new code is loaded; the configuration is not read \
             again) when FILE's modification time changes. Repeatable.",
        )
        .example("[\"/srv/myproject/restart.txt\"]"),
    // Draining.
    OptionSpec::new(DrainSignal, "drain-signal", Ty::Signal, H_DRAIN)
        .value("SIG")
        .default("TERM")
        .help("Signal that asks a worker to stop accepting, finish its work and exit (name or number).")
        .example("\"TERM\""),
    OptionSpec::new(DrainTimeout, "drain-timeout", Ty::Duration, H_DRAIN)
        .aliases(&["worker-reload-mercy", "graceful-timeout"])
        .hidden(&["reload-mercy"])
        .value("SECS")
        .default("60")
        .help(
            "How long a draining worker may take to finish its requests and jobs before its \
             process group is killed (and what it lost is logged).",
        )
        .example("\"60s\""),
    OptionSpec::new(ReadyTimeout, "ready-timeout", Ty::Duration, H_DRAIN)
        .value("SECS")
        .default("30")
        .help("How long a new worker may take to report READY=1 before it is taken as ready anyway.")
        .example("\"30s\""),
    OptionSpec::new(LostWorkLog, "lost-work-log", Ty::Path, H_DRAIN)
        .value("FILE")
        .help(
            "Append one JSON line to FILE for every worker killed with work in flight, and for \
             an orphaned worker (its master died) that gives work up at its drain timeout.",
        )
        .example("\"/var/log/myapp/lost-work.jsonl\""),
    // Logging.
    OptionSpec::new(Logto, "logto", Ty::Path, H_LOG)
        .hidden(&["logto2", "log-file", "error-logfile"])
        .value("FILE")
        .help("Write the master's log and the workers' output to FILE instead of stderr.")
        .example("\"/var/log/myapp/ebb.log\""),
    // ---- Log options (issue 10): access lines, filters, files. Read by
    // crate::logs::settings::apply; the README's "Logs" section shows each format.
    OptionSpec::new(LogFormat, "log-format", Ty::Text, H_LOG)
        .value("FORMAT")
        .default("text")
        .help(
            "Log style: text, or json (one JSON object per line, worker output included). Any \
             other value is uWSGI's request-line format, e.g. \"%(addr) %(method) %(uri) \
             %(status)\", so a uWSGI ini's log-format keeps its meaning.",
        )
        .example("\"text\""),
    OptionSpec::new(Logformat, "logformat", Ty::Text, H_LOG)
        .value("FORMAT")
        .help(
            "uWSGI's request-line format: %(addr) %(user) %(method) %(uri) %(proto) %(status) \
             %(size) %(rsize) %(hsize) %(msecs) %(micros) %(secs) %(time) %(ctime) %(epoch) \
             %(ltime) %(host) %(referer) %(uagent) %(pid) %(wid) %(req) %(rss) %(vsz) %(rssM) \
             %(vszM) %(var.NAME).",
        )
        .example("\"%(addr) %(method) %(uri) %(status) %(msecs)ms\""),
    OptionSpec::new(AccessLogformat, "access-logformat", Ty::Text, H_LOG)
        .hidden(&["access-log-format"])
        .value("FORMAT")
        .help(
            "gunicorn's access line format: %(h)s %(l)s %(u)s %(t)s %(r)s %(m)s %(U)s %(q)s \
             %(H)s %(s)s %(B)s %(b)s %(f)s %(a)s %(T)s %(M)s %(D)s %(L)s %(p)s \
             %({header}i)s %({header}o)s %({variable}e)s.",
        )
        .example("'%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"'"),
    OptionSpec::new(AccessLogfile, "access-logfile", Ty::Path, H_LOG)
        .hidden(&["accesslog"])
        .value("FILE")
        .help("Write access lines to FILE (- for stdout) instead of with the rest of the log.")
        .example("\"/var/log/myapp/access.log\""),
    OptionSpec::new(DisableLogging, "disable-logging", Ty::Flag, H_LOG)
        .short('L')
        .help("No access line per request (the app's own output is still logged).")
        .example("false"),
    OptionSpec::new(Log4xx, "log-4xx", Ty::Flag, H_LOG)
        .help("With disable-logging, still log requests answered 400-499.")
        .example("false"),
    OptionSpec::new(Log5xx, "log-5xx", Ty::Flag, H_LOG)
        .help("With disable-logging, still log requests answered 500-599.")
        .example("false"),
    OptionSpec::new(LogSlow, "log-slow", Ty::Int { min: 0, max: u64::MAX }, H_LOG)
        .value("MS")
        .help("With disable-logging, still log requests that took MS milliseconds or more.")
        .example("1000"),
    OptionSpec::new(LogXForwardedFor, "log-x-forwarded-for", Ty::Flag, H_LOG)
        .help("The client address in access lines is the first X-Forwarded-For hop.")
        .example("false"),
    OptionSpec::new(MemoryReport, "memory-report", Ty::Flag, H_LOG)
        .help("Access records carry the worker's RSS and VSZ (shown on the default line).")
        .example("false"),
    OptionSpec::new(ReqLogger, "req-logger", Ty::Text, H_LOG)
        .hidden(&["logger-req"])
        .value("file:PATH")
        .help("uWSGI's request logger: access lines to file:PATH, or stdio (with the rest).")
        .example("\"file:/var/log/myapp/access.log\""),
    OptionSpec::new(Logger, "logger", Ty::Text, H_LOG)
        .value("file:PATH")
        .help("uWSGI's logger: file:PATH (as logto) or stdio (stderr).")
        .example("\"file:/var/log/myapp/ebb.log\""),
    OptionSpec::new(LogMaxsize, "log-maxsize", Ty::Int { min: 0, max: u64::MAX }, H_LOG)
        .value("BYTES")
        .help(
            "Rotate a log file once it holds BYTES: it is renamed FILE.<unix time> and a new \
             one started (0: never). SIGUSR1 reopens log files after an outside rotation.",
        )
        .example("104857600"),
    super::log_table::LOG_BACKUPNAME,
    super::log_table::LOG_BACKUPCOUNT,
    super::log_table::LOG_TRUNCATE,
    super::log_table::LOG_ENCODER,
    super::log_table::LOG_REQ_ENCODER,
    super::log_table::LOG_ROUTE,
    OptionSpec::new(Daemonize, "daemonize", Ty::Path, H_LOG)
        .hidden(&["daemonize2"])
        .value("FILE")
        .help(
            "Detach from the terminal (into the background, a new session) and log to FILE. \
             Under systemd or a container, leave this out: they expect the foreground.",
        )
        .example("\"/var/log/myapp/ebb.log\""),
    // ---- End of the log options.
    OptionSpec::new(
        LogLevel,
        "log-level",
        Ty::Choice(&["error", "warn", "info", "debug", "trace", "off"]),
        H_LOG,
    )
    .value("LEVEL")
    .default("info")
    .help("Log level: error, warn, info, debug, trace or off (RUST_LOG, when set, wins).")
    .example("\"info\""),
    OptionSpec::new(Verbose, "verbose", Ty::Count, H_LOG)
        .scope(Scope::CLI)
        .short('v')
        .help("Log more (-v debug, -vv trace)."),
    OptionSpec::new(Quiet, "quiet", Ty::Count, H_LOG)
        .scope(Scope::CLI)
        .short('q')
        .help("Log less (-q warnings and errors, -qq errors only)."),
    // Configuration.
    OptionSpec::new(Config, "config", Ty::Path, H_CONFIG)
        .scope(Scope::CLI)
        .short('c')
        .repeat()
        .value("FILE")
        .help("Read options from TOML file FILE (see conf/ebb.toml). Also: ebb FILE.toml."),
    OptionSpec::new(Ini, "ini", Ty::Text, H_CONFIG)
        .scope(Scope::CLI)
        .repeat()
        .value("FILE[:SECTION]")
        .help(
            "Read options from uWSGI ini file FILE, section [uwsgi] or SECTION. Also: ebb \
             FILE.ini. Repeatable.",
        ),
    OptionSpec::new(Strict, "strict", Ty::Flag, H_CONFIG)
        .help("Make unsupported and unknown uWSGI and gunicorn options errors instead of warnings.")
        .example("false"),
    OptionSpec::new(CheckConfig, "check-config", Ty::Flag, H_CONFIG)
        .scope(Scope::CLI)
        .help("Check the configuration, print a summary and exit (status 2 if it is invalid)."),
    // Operating ebb: the control socket and uWSGI's master fifo, the stats and metrics
    // servers, systemd notify, process titles, the Kubernetes shutdown delay. Served from
    // the master's one poll loop (src/live/); see the README's "Operating ebb".
    OptionSpec::new(Control, "control", Ty::Path, H_OPERATE)
        .value("PATH")
        .help(
            "Control socket for ebb status/reload/stop/scale/recycle (owner-only). Default: \
             $XDG_RUNTIME_DIR/ebb/<pid>.ctl (/run/ebb as root, else /tmp/ebb-<uid>), which \
             the commands find by themselves when one ebb runs.",
        )
        .example("\"/run/myapp/ebb.ctl\""),
    OptionSpec::new(MasterFifo, "master-fifo", Ty::Path, H_OPERATE)
        .value("PATH")
        .help(
            "A named pipe taking uWSGI's one-letter commands: r reload, w recycle every \
             worker, q graceful stop, Q fast stop, + one worker more, - one less, s log \
             status, l reopen the log.",
        )
        .example("\"/run/myapp/ebb.fifo\""),
    OptionSpec::new(Stats, "stats", Ty::Text, H_OPERATE)
        .aliases(&["stats-server"])
        .value("ADDR")
        .help(
            "uWSGI-compatible stats server on ADDR (host:port or a Unix socket path, made \
             owner-only): a client connects and reads one JSON document (uwsgitop ADDR works).",
        )
        .example("\"127.0.0.1:9191\""),
    OptionSpec::new(StatsHttp, "stats-http", Ty::Flag, H_OPERATE)
        .help("Serve the stats document over HTTP (GET any path), as uWSGI's stats-http.")
        .example("false"),
    OptionSpec::new(Metrics, "metrics", Ty::Text, H_OPERATE)
        .value("ADDR")
        .help(
            "Prometheus metrics on ADDR (host:port or a Unix socket path): GET /metrics in \
             the text exposition format.",
        )
        .example("\"127.0.0.1:9100\""),
    OptionSpec::new(Procname, "procname", Ty::Text, H_OPERATE)
        .value("NAME")
        .help(
            "Process title of every worker (and of the master, unless --procname-master), \
             instead of ebb's: ebb worker N gen G APP, and ebb master ARGS.",
        )
        .example("\"myapp\""),
    OptionSpec::new(ProcnamePrefix, "procname-prefix", Ty::Text, H_OPERATE)
        .value("TEXT")
        .help("Put TEXT before every process title.")
        .example("\"myapp-\""),
    OptionSpec::new(ProcnamePrefixSpaced, "procname-prefix-spaced", Ty::Text, H_OPERATE)
        .value("TEXT")
        .help("Put TEXT and a space before every process title.")
        .example("\"myapp\""),
    OptionSpec::new(ProcnameAppend, "procname-append", Ty::Text, H_OPERATE)
        .value("TEXT")
        .help("Put TEXT after every process title.")
        .example("\"+prod\""),
    OptionSpec::new(ProcnameMaster, "procname-master", Ty::Text, H_OPERATE)
        .value("NAME")
        .help("Process title of the master (its arguments follow it in ps).")
        .example("\"myapp master\""),
    OptionSpec::new(ShutdownDelay, "shutdown-delay", Ty::Duration, H_OPERATE)
        .value("SECS")
        .default("0")
        .help(
            "After SIGTERM (or ebb stop), keep serving SECS before draining, while a load \
             balancer or Kubernetes removes the endpoint; a second TERM drains at once. Keep \
             it + --drain-timeout under terminationGracePeriodSeconds / TimeoutStopSec.",
        )
        .example("\"5s\""),
    // ---- Added with issues 13 and 14 (cfg): uWSGI and gunicorn options mapped since.
    OptionSpec::new(
        SocketProtocol,
        "socket-protocol",
        Ty::Choice(&["uwsgi", "http"]),
        H_SOCKETS,
    )
    .hidden(&["protocol"])
    .value("PROTO")
    .default("uwsgi")
    .help("Protocol of the sockets given with --socket: uwsgi, or http (uWSGI's protocol = http).")
    .example("\"uwsgi\""),
    OptionSpec::new(ClientTimeout, "client-timeout", Ty::Duration, H_PYTHON)
        .hidden(&["socket-timeout", "http-timeout"])
        .value("SECS")
        .default("30")
        .help(
            "How long the Python worker waits for a client: for a request head once begun, and \
             for each read or send (uWSGI's socket-timeout and http-timeout).",
        )
        .example("30"),
    OptionSpec::new(Mount, "mount", Ty::Text, H_PYTHON)
        .repeat()
        .value("/PREFIX=APP")
        .help(
            "Run APP (a module, or a .py file) under the URL prefix /PREFIX (repeatable: the \
             longest matching prefix wins, else the first app); with --manage-script-name the \
             prefix becomes SCRIPT_NAME and is taken off PATH_INFO. Apps share one interpreter.",
        )
        .example("[\"/app=myproject.wsgi:application\"]"),
    OptionSpec::new(ManageScriptName, "manage-script-name", Ty::Flag, H_PYTHON)
        .help("With --mount: requests under the prefix get it as SCRIPT_NAME, and PATH_INFO without it.")
        .example("true"),
    OptionSpec::new(
        LimitRequestLine,
        "limit-request-line",
        Ty::Int { min: 0, max: 1_048_576 },
        H_PYTHON,
    )
    .value("BYTES")
    .default("8190")
    .help("Longest request line the Python worker takes (longer: 414); 0: only the head's limit.")
    .example("8190"),
    OptionSpec::new(
        LimitRequestFields,
        "limit-request-fields",
        Ty::Int { min: 0, max: 32768 },
        H_PYTHON,
    )
    .value("N")
    .default("100")
    .help("Most header fields in a request (more: 431); 0: 32768, gunicorn's maximum.")
    .example("100"),
    OptionSpec::new(
        LimitRequestFieldSize,
        "limit-request-field-size",
        Ty::Int { min: 0, max: 1_048_576 },
        H_PYTHON,
    )
    .value("BYTES")
    .default("8190")
    .help("Longest header field line (longer: 431); 0: only the head's limit.")
    .example("8190"),
    OptionSpec::new(
        BufferSize,
        "buffer-size",
        Ty::Int { min: 1024, max: 1_048_576 },
        H_PYTHON,
    )
    .value("BYTES")
    .default("65536")
    .help(
        "Largest request head (request line and header fields, or a uwsgi packet's variables) \
         the Python worker takes; longer: 431. uWSGI's buffer-size; the line and field limits \
         never exceed it.",
    )
    .example("65536"),
    OptionSpec::new(NoApp, "no-app", Ty::Flag, H_CONFIG)
        .scope(Scope::CLI)
        .help("With --check-config: check the configuration alone, without importing the app."),
];

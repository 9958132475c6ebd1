//! The families of uWSGI options ebb does not take, by prefix, with what to do instead.

use super::table::*;

/// Families of unsupported uWSGI options, by prefix (hooks, routers, cheaper...).
pub static UWSGI_PREFIXES: &[(&str, &str)] = &[
    (
        "hook-",
        "run these steps from the service manager (ExecStartPre= in systemd)",
    ),
    (
        "exec-",
        "run these steps from the service manager (ExecStartPre= in systemd)",
    ),
    (
        "call-",
        "run these steps from the service manager (ExecStartPre= in systemd)",
    ),
    (
        "cheaper",
        "ebb runs a fixed number of workers: set processes, and use SIGTTIN/SIGTTOU",
    ),
    ("route-", ROUTING),
    ("response-route", ROUTING),
    ("final-route", ROUTING),
    ("error-route", ROUTING),
    ("static-", STATIC),
    ("offload-", STATIC),
    (
        "spooler-",
        "ebb's spooler takes spooler-processes, -frequency, -ordered, -harakiri, -quiet, -max-tasks, -chdir, -import and -external",
    ),
    (
        "mule-",
        "mules run their script under ebb's supervision; their uWSGI tuning options do not apply",
    ),
    (
        "cron-",
        "cron entries run with /bin/sh -c; use cron2 harakiri=N to bound a run",
    ),
    ("legion", SUPERVISE),
    ("attach-", SUPERVISE),
    (
        "cache-",
        "use a cache service (Redis, memcached) or the app's own cache",
    ),
    (
        "emperor",
        "run one ebb per app, e.g. as a systemd template unit",
    ),
    (
        "vassal",
        "run one ebb per app, e.g. as a systemd template unit",
    ),
    ("subscribe", "not supported"),
    ("subscription", "not supported"),
    ("fastrouter", "not supported"),
    ("stats-", STATS),
    ("metric", STATS),
    ("carbon", STATS),
    ("touch-", TOUCH),
    ("procname-", PROCNAME),
    ("http-", NO_ROUTER),
    ("https-", TLS),
    ("ssl-", TLS),
    ("log-", LOGGING),
    ("logger-", LOGGING),
    (
        "if-",
        "this condition is not evaluated: use if-env, if-exists, if-file, if-dir, if-opt",
    ),
    (
        "for-",
        "this loop is not evaluated: use for, for-glob, for-times, for-readline",
    ),
    (
        "declare-option",
        "not supported: write the options it stands for",
    ),
    (
        "alarm",
        "not supported: alert from your log collector or monitoring",
    ),
    ("harakiri-", "not supported"),
    ("py-", "not supported"),
    ("python-", "not supported"),
    ("zerg", "not supported"),
    ("gevent-", ASYNC),
];

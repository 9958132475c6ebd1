//! The Python app's options and the reload triggers that uWSGI files use (issue 13), read by
//! [`crate::config::python_opts`]. Kept apart from [`super::table`], which is full.

use super::{Id, OptionSpec, Ty};

const H_PYTHON: &str = "Python WSGI worker";
const H_RECYCLE: &str = "Recycling";
const H_CONFIG: &str = "Configuration";

use Id::*;

pub(super) static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(
        HarakiriGracefulTimeout,
        "harakiri-graceful-timeout",
        Ty::Duration,
        H_RECYCLE,
    )
    .value("SECS")
    .help(
        "A worker replaced by --harakiri drains (its replacement takes over first) and is killed \
         SECS after its drain began, instead of after --drain-timeout (0: drain-timeout).",
    )
    .example("\"5s\""),
    OptionSpec::new(
        PyAutoreload,
        "py-autoreload",
        Ty::Int { min: 0, max: 86400 },
        H_RECYCLE,
    )
    .hidden(&["python-autoreload"])
    .value("SECS")
    .default("0")
    .help(
        "For development: reload (as on SIGHUP) when the file of any module the app \
             imported changes. The files are watched with inotify, so a change is seen at once; \
             every SECS a worker reports the modules it imported since (0: off).",
    )
    .example("1"),
    OptionSpec::new(FsReload, "fs-reload", Ty::Path, H_RECYCLE)
        .repeat()
        .value("PATH")
        .help(
            "Reload (as on SIGHUP) when PATH changes: a file written, touched or replaced, or, \
             for a directory, a file in it created, written, removed or renamed (inotify; not \
             recursive, as in uWSGI). Repeatable.",
        )
        .example("[\"/srv/myproject/deploy/\"]"),
    OptionSpec::new(ReloadOnAs, "reload-on-as", Ty::SizeMb, H_RECYCLE)
        .hidden(&["evil-reload-on-as"])
        .value("MB")
        .help(
            "Recycle a worker whose address space (VSZ, summed over its process group) passes \
             MB megabytes (0: never). See also reload-on-rss.",
        )
        .example("1024"),
    OptionSpec::new(Pyargv, "pyargv", Ty::Text, H_PYTHON)
        .value("ARGS")
        .help(
            "The app's sys.argv, as uWSGI gives it: [\"uwsgi\"] followed by ARGS split at \
             spaces and tabs (no quoting).",
        )
        .example("\"--config /etc/myapp.yml\""),
    OptionSpec::new(HonourStdin, "honour-stdin", Ty::Flag, H_PYTHON)
        .help("Workers keep ebb's standard input instead of /dev/null (for pdb, or a pipe).")
        .example("true"),
    OptionSpec::new(Import, "import", Ty::Text, H_PYTHON)
        .hidden(&[
            "pyimport",
            "python-import",
            "py-import",
            "shared-import",
            "shared-pyimport",
            "shared-python-import",
            "shared-py-import",
        ])
        .repeat()
        .value("MODULE")
        .help(
            "Import MODULE (or run a .py file) before the app, where the app is imported: once \
             in the fork server, or in each worker with --lazy-apps. A failure is logged with \
             its traceback and the app still loads, as in uWSGI. Repeatable.",
        )
        .example("[\"myproject.monkeypatch\"]"),
    OptionSpec::new(NoSite, "no-site", Ty::Flag, H_PYTHON)
        .help(
            "Run the worker's interpreter with -S: the site module is not imported, so no \
             site-packages (not even the virtualenv's) is on sys.path; add what the app needs \
             with --pythonpath.",
        )
        .example("true"),
    OptionSpec::new(
        LimitPost,
        "limit-post",
        Ty::Int {
            min: 0,
            max: 1 << 50,
        },
        H_PYTHON,
    )
    .value("BYTES")
    .default("0")
    .help(
        "Answer 413 to a request whose Content-Length is over BYTES, without calling the app \
         or reading the body (0: no limit). As in uWSGI, a chunked body is not counted.",
    )
    .example("104857600"),
    OptionSpec::new(ShowConfig, "show-config", Ty::Flag, H_CONFIG)
        .help(
            "Log the configuration as ebb resolved it when it starts (what --check-config \
             prints).",
        )
        .example("true"),
    OptionSpec::new(NoDefaultApp, "no-default-app", Ty::Flag, H_PYTHON)
        .help(
            "With --mount: a request under no mount's prefix is answered 404 (else the first \
             mount's app takes it).",
        )
        .example("true"),
];

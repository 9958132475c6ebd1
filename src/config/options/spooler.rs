//! uWSGI's spooler options (read by `crate::config::spooler`, run by `crate::master::spooler`).

use super::table::H_SIDE;
use super::{Id::*, OptionSpec, Ty};

pub(super) static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(Spooler, "spooler", Ty::Path, H_SIDE)
        .repeat()
        .value("DIR")
        .help(
            "Run a spooler on DIR (created if missing), as uWSGI does: a Python process that \
             imports the app and runs the tasks queued there with uwsgi.spool() or \
             uwsgidecorators' @spool, one at a time, calling uwsgi.spooler(env). Tasks are \
             uWSGI's spool files (a uWSGI spool dir keeps working); a new task wakes it at \
             once (inotify). On stop or reload it finishes its task (bounded by \
             --drain-timeout); a task cut short stays on disk and is named in the log. Output \
             as spooler=N. Repeatable.",
        )
        .example("[\"/srv/myproject/spool\"]"),
    OptionSpec::new(SpoolerExternal, "spooler-external", Ty::Path, H_SIDE)
        .repeat()
        .value("DIR")
        .help(
            "A spool directory run by another instance: the app may queue tasks there \
             (uwsgi.spool(spooler=DIR)); ebb starts no spooler for it. Repeatable.",
        )
        .example("[\"/srv/other/spool\"]"),
    OptionSpec::new(
        SpoolerProcesses,
        "spooler-processes",
        Ty::Int { min: 1, max: 256 },
        H_SIDE,
    )
    .value("N")
    .default("1")
    .help(
        "Spooler processes per spooler directory. A task is locked by the process that runs \
         it: two processes never run one task at once.",
    )
    .example("1"),
    OptionSpec::new(
        SpoolerFrequency,
        "spooler-frequency",
        Ty::Int { min: 1, max: 86400 },
        H_SIDE,
    )
    .value("SECONDS")
    .default("30")
    .help(
        "How often an idle spooler looks at its directory again (for retried tasks, and for \
         tasks written by hand or by another host); a task queued by the app wakes it at once.",
    )
    .example("30"),
    OptionSpec::new(SpoolerOrdered, "spooler-ordered", Ty::Flag, H_SIDE)
        .help(
            "Run tasks in name order (uWSGI's file names start with the time they were queued), \
         priority subdirectories first, lowest number first.",
        )
        .example("true"),
    OptionSpec::new(
        SpoolerHarakiri,
        "spooler-harakiri",
        Ty::Int {
            min: 0,
            max: 31_536_000,
        },
        H_SIDE,
    )
    .value("SECONDS")
    .help(
        "A task running longer is killed with its spooler process (logged with the task's \
         name); the task stays on disk and runs again; a new process takes over. 0: never.",
    )
    .example("600"),
    OptionSpec::new(SpoolerQuiet, "spooler-quiet", Ty::Flag, H_SIDE)
        .help("Do not log each task queued, started and done (errors are still logged).")
        .example("true"),
    OptionSpec::new(
        SpoolerMaxTasks,
        "spooler-max-tasks",
        Ty::Int {
            min: 0,
            max: 1 << 40,
        },
        H_SIDE,
    )
    .value("N")
    .help("A spooler process exits after N tasks and a new one takes over. 0: never.")
    .example("0"),
    OptionSpec::new(SpoolerChdir, "spooler-chdir", Ty::Path, H_SIDE)
        .value("DIR")
        .help("The directory a spooler runs its tasks in (default: --chdir).")
        .example("\"/srv/myproject\""),
    OptionSpec::new(SpoolerImport, "spooler-import", Ty::Text, H_SIDE)
        .aliases(&["spooler-python-import"])
        .repeat()
        .value("MODULE")
        .help(
            "Import MODULE (or run FILE.py) in the spooler processes only, after the app: the \
             place for the spooler function when the app does not import it. Repeatable.",
        )
        .example("[\"myproject.tasks\"]"),
];

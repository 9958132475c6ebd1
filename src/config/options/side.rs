//! The side processes' options (read by `crate::config::daemons`, run by
//! `crate::master::daemons`): daemons, mules, cron.

use super::table::H_SIDE;
use super::{Id::*, OptionSpec, Ty};

pub(super) static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(AttachDaemon, "attach-daemon", Ty::Text, H_SIDE)
        .repeat()
        .value("CMD")
        .help(
            "Run CMD (with /bin/sh -c, in --chdir, with --env, as --uid/--gid) beside the \
             workers, in its own process group, its output in ebb's log as daemon=N. Restarted \
             when it exits (with growing delays if it keeps exiting at once); TERM to its group \
             on stop (KILL after --drain-timeout); stopped and started again on a reload. \
             Repeatable.",
        )
        .example("[\"celery -A myproject worker\"]"),
    OptionSpec::new(AttachDaemon2, "attach-daemon2", Ty::Text, H_SIDE)
        .repeat()
        .value("KEY=VAL,...")
        .help(
            "attach-daemon with uWSGI's keys: cmd (last, it takes the rest of the line), \
             stopsignal, reloadsignal (sent on a reload instead), max_throttle (longest \
             restart delay, s), chdir, control (ebb stops when it exits). Repeatable.",
        )
        .example("[\"stopsignal=INT,cmd=celery -A myproject beat\"]"),
    OptionSpec::new(Mule, "mule", Ty::Text, H_SIDE)
        .repeat()
        .value("SCRIPT.py")
        .help(
            "Run a Python file as __main__ (or call module:function) with the app's \
             interpreter, virtualenv, pythonpath, chdir and env, supervised like \
             attach-daemon (output as mule=N). A mule without a script does nothing in ebb \
             (no uwsgi.mule_msg): it is accepted with a warning. Repeatable.",
        )
        .example("[\"mules/poller.py\"]"),
    OptionSpec::new(Mules, "mules", Ty::Int { min: 0, max: 1024 }, H_SIDE)
        .value("N")
        .help(
            "uWSGI's script-less mules, which only run code sent with uwsgi.mule_msg: \
             accepted with a warning, nothing is started.",
        )
        .example("0"),
    OptionSpec::new(Cron, "cron", Ty::Text, H_SIDE)
        .hidden(&["unique-cron"])
        .repeat()
        .value("M H D MON WD CMD")
        .help(
            "Run CMD (/bin/sh -c) at the local times given as uWSGI does: minute hour day \
             month weekday, -1 for every, -N for every N. A run never overlaps the previous \
             one of the same entry (it is skipped and logged). Output as cron=N. Repeatable.",
        )
        .example("[\"0 2 -1 -1 -1 /srv/myproject/backup.sh\"]"),
    OptionSpec::new(Cron2, "cron2", Ty::Text, H_SIDE)
        .repeat()
        .value("KEY=VAL,... CMD")
        .help(
            "cron with keys: minute, hour, day, month, week (unset: every), harakiri (kill a \
             run after N s), unique (always on). Repeatable.",
        )
        .example("[\"minute=-15,harakiri=600 /srv/myproject/sync.sh\"]"),
];

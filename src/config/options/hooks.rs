//! uWSGI's hooks (read by `crate::config::hooks`): `asap` in the master, `pre-app` and
//! `post-app` around the app's import.

use super::table::H_SIDE;
use super::{Id::*, OptionSpec, Ty};

pub(super) static OPTIONS: &[OptionSpec] = &[
    OptionSpec::new(HookAsap, "hook-asap", Ty::Text, H_SIDE)
        .repeat()
        .value("ACTION:ARG")
        .help(
            "At start, once the configuration is read and before anything else (log files, \
             sockets), in the master: exec:CMD (/bin/sh -c), mkdir:DIR, unlink:FILE or \
             print:TEXT, in the order given. A failure stops ebb. Not run again on reload.",
        )
        .example("[\"mkdir:/run/myproject\"]"),
    OptionSpec::new(ExecAsap, "exec-asap", Ty::Text, H_SIDE)
        .repeat()
        .value("CMD")
        .help("hook-asap = exec:CMD.")
        .example("[\"mkdir -p /var/log/myproject\"]"),
    OptionSpec::new(HookPreApp, "hook-pre-app", Ty::Text, H_SIDE)
        .repeat()
        .value("ACTION:ARG")
        .help(
            "Before the app is imported (ACTION as in --hook-asap), as the workers' user, in \
             their directory and environment: once per configuration generation, in the fork \
             server (at start and on every reload), or in each worker with --lazy-apps. A \
             failure counts as a failed import (at start ebb exits; on reload the old \
             workers keep serving).",
        )
        .example("[\"exec:python manage.py migrate --noinput\"]"),
    OptionSpec::new(ExecPreApp, "exec-pre-app", Ty::Text, H_SIDE)
        .repeat()
        .value("CMD")
        .help("hook-pre-app = exec:CMD.")
        .example("[\"python manage.py migrate --noinput\"]"),
    OptionSpec::new(HookPostApp, "hook-post-app", Ty::Text, H_SIDE)
        .repeat()
        .value("ACTION:ARG")
        .help("As --hook-pre-app, once the app is imported.")
        .example("[\"print:app loaded\"]"),
    OptionSpec::new(ExecPostApp, "exec-post-app", Ty::Text, H_SIDE)
        .repeat()
        .value("CMD")
        .help("hook-post-app = exec:CMD.")
        .example("[\"touch /run/myproject/loaded\"]"),
];

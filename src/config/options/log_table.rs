//! The rows for uWSGI's log encoders, routes and rotation names (issue 13), kept out of
//! the big table; `table.rs` lists them in their place. Read by `crate::logs::settings`.

use super::table::H_LOG;
use super::{Id, OptionSpec, Ty};

pub(super) const LOG_BACKUPNAME: OptionSpec =
    OptionSpec::new(Id::LogBackupname, "log-backupname", Ty::Path, H_LOG)
        .value("FILE")
        .help(
            "With log-maxsize: the main log file is renamed FILE when full (replacing the \
             previous one), as in uWSGI.",
        )
        .example("\"/var/log/myapp/ebb.log.old\"");

pub(super) const LOG_BACKUPCOUNT: OptionSpec = OptionSpec::new(
    Id::LogBackupcount,
    "log-backupcount",
    Ty::Int { min: 0, max: 1000 },
    H_LOG,
)
.value("N")
.help(
    "With log-maxsize: keep N rotated files, NAME.1 (newest) to NAME.N, where NAME is \
     log-backupname or the file's own name (not a uWSGI option: uWSGI ignores it).",
)
.example("5");

pub(super) const LOG_TRUNCATE: OptionSpec =
    OptionSpec::new(Id::LogTruncate, "log-truncate", Ty::Flag, H_LOG)
        .help("Empty the main log file (logto) when ebb starts, instead of appending to it.")
        .example("false");

pub(super) const LOG_ENCODER: OptionSpec =
    OptionSpec::new(Id::LogEncoder, "log-encoder", Ty::Text, H_LOG)
        .repeat()
        .value("ENC[:LOGGER] [ARGS]")
        .help(
            "uWSGI's log encoder, applied in order to each message: prefix TEXT, suffix TEXT, \
             nl, format TEMPLATE, json TEMPLATE (escaped). Templates take ${msg} ${msgnl} \
             ${unix} ${millis} ${micros} ${strftime:FMT}. A line an encoder rewrote is \
             written as it made it, without ebb's stamp. Repeatable.",
        )
        .example("[\"format [${strftime:%F %T}] ${msg}\"]");

pub(super) const LOG_REQ_ENCODER: OptionSpec =
    OptionSpec::new(Id::LogReqEncoder, "log-req-encoder", Ty::Text, H_LOG)
        .repeat()
        .value("ENC [ARGS]")
        .help("As log-encoder, for access lines when a req-logger is set. Repeatable.")
        .example("[\"prefix [access] \"]");

pub(super) const LOG_ROUTE: OptionSpec =
    OptionSpec::new(Id::LogRoute, "log-route", Ty::Text, H_LOG)
        .repeat()
        .value("LOGGER REGEX")
        .help(
            "Send messages matching REGEX (PCRE-like, lookaround included) to the logger \
             named LOGGER (logger = LOGGER stdio|file:PATH|syslog...) instead of the main log. \
             Repeatable.",
        )
        .example("[\"errors ERROR|Traceback\"]");

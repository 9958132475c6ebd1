//! The command line, built from the option registry; and what it sets.

use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::compat::Dialect;
use super::gunicorn::{self, GUNICORN_SETTINGS};
use super::options::{self, Id, OPTIONS, Ty};
use super::source::{Collected, Origin, Setting};
use super::uwsgi::{self, UWSGI_OPTIONS};
use super::values::Raw;

const ABOUT: &str = "A pre-fork process supervisor that recycles workers without losing work";

const LONG_ABOUT: &str = "\
ebb binds the listening sockets, starts worker processes that inherit them, and recycles \
workers (after max-requests, a lifetime, a memory limit, a reload) without losing work: a \
replacement starts and is ready first, then the old worker stops accepting, finishes its \
requests and the background jobs it started, and exits.

Workers are the bundled Python WSGI worker (--module, --wsgi-file), the bundled example app \
(--example-app), or any program given after -- (it gets the sockets the systemd way: \
LISTEN_FDS, fds 3..).

ebb takes uWSGI's option names (and uWSGI ini files: ebb app.ini), gunicorn's (-w and -p \
follow uWSGI: the WSGI module and the number of processes), and a TOML config file (ebb \
--config ebb.toml).";

const AFTER_LONG_HELP: &str = "\
CONFIGURATION:
  Options come from, lowest first: defaults, config files (--config FILE.toml, --ini \
FILE.ini[:section], or a file given as the only argument), UWSGI_<OPTION> environment \
variables (UWSGI_PROCESSES=4, UWSGI_HTTP_SOCKET=:8000), and the command line. The command \
line wins for single values; repeatable options (sockets, env, pythonpath) add up, as in \
uWSGI. Every option is also a TOML key and an ini key with its long name.

SIGNALS:
  TERM, INT: stop gracefully (drain every worker, then exit). QUIT: stop now. HUP: read the \
configuration again and replace every worker, one by one. TTIN, TTOU: one worker more, one \
less. USR1: reopen log files.

EXAMPLES:
  ebb --http-socket :8000 --processes 4 --module myproject.wsgi:application
  ebb uwsgi.ini
  ebb --http-socket 127.0.0.1:8000 -p 2 -- python3 my_server.py   (any program taking fd 3)
  ebb --config /etc/ebb/myapp.toml --check-config";

/// The `ebb` command line: every option in the registry, the uWSGI and gunicorn options ebb
/// accepts (hidden), the `example-app` and `python-path` subcommands, an optional config file
/// and the worker command after `--`.
pub fn command_line() -> Command {
    let mut cmd = Command::new("ebb")
        .version(env!("CARGO_PKG_VERSION"))
        .about(ABOUT)
        .long_about(LONG_ABOUT)
        .after_long_help(AFTER_LONG_HELP)
        .args_override_self(true)
        .disable_help_subcommand(true)
        .subcommand_negates_reqs(true)
        .max_term_width(100);
    for o in OPTIONS.iter().filter(|o| o.scope.cli) {
        if o.id == Id::Command {
            continue;
        }
        cmd = cmd.arg(arg_for(o));
    }
    for h in hidden_flags() {
        let mut a = Arg::new(h.long).long(h.long).hide(true);
        a = if h.takes_value {
            a.action(ArgAction::Set).allow_hyphen_values(true)
        } else {
            a.action(ArgAction::SetTrue)
        };
        if let Some(c) = h.short {
            a = a.short(c);
        }
        cmd = cmd.arg(a);
    }
    cmd.arg(
        Arg::new("FILE").index(1).value_name("FILE").help(
            "A uWSGI .ini or a .toml config file; or a WSGI module (pkg.mod:app) or .py file",
        ),
    )
    .arg(
        Arg::new("command")
            .index(2)
            .last(true)
            .num_args(1..)
            .allow_hyphen_values(true)
            .value_name("CMD")
            .help(options::spec(Id::Command).help),
    )
    .subcommand(
        Command::new("example-app")
            .about("Run the bundled example HTTP worker (ebb starts it with --example-app)")
            // `ebb example-app --help` is the app's own: its routes and variables.
            .disable_help_flag(true)
            .arg(
                Arg::new("args")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .value_name("ARGS"),
            ),
    )
    .subcommand(
        Command::new("python-path")
            .about("Print a directory to put on PYTHONPATH to import the ebb module outside ebb"),
    )
}

/// A uWSGI or gunicorn flag that is not an ebb option: hidden on the command line, so that
/// uWSGI and gunicorn command lines work (`--master`, `-k gthread`), and classified by its
/// table when given (quiet, a warning, or an error).
struct Hidden {
    long: &'static str,
    short: Option<char>,
    takes_value: bool,
    dialect: Dialect,
}

/// Every hidden flag: the uWSGI ones first, then gunicorn's that uWSGI does not have (a flag
/// both have is classified as uWSGI's; the tables' tests check that they agree). A short
/// flag is given only when ebb has no other use for the letter.
fn hidden_flags() -> Vec<Hidden> {
    let is_option = |name: &str| {
        let name = options::normalize_key(name);
        OPTIONS.iter().any(|o| o.names().any(|n| n == name))
    };
    let mut taken: Vec<char> = OPTIONS
        .iter()
        .filter(|o| o.scope.cli)
        .filter_map(|o| o.short)
        .chain(['h', 'V'])
        .collect();
    let mut out: Vec<Hidden> = Vec::new();
    for u in UWSGI_OPTIONS.iter().filter(|u| !is_option(u.name)) {
        taken.extend(u.short);
        out.push(Hidden {
            long: u.name,
            short: u.short,
            takes_value: u.takes_value,
            dialect: Dialect::Uwsgi,
        });
    }
    for g in GUNICORN_SETTINGS {
        for (i, long) in g.flags.iter().enumerate() {
            if is_option(long) {
                continue;
            }
            let short = g.short.filter(|c| i == 0 && !taken.contains(c));
            match out.iter_mut().find(|h| h.long == *long) {
                Some(h) if h.short.is_none() => h.short = short,
                Some(_) => continue,
                None => out.push(Hidden {
                    long,
                    short,
                    takes_value: g.takes_value,
                    dialect: Dialect::Gunicorn,
                }),
            }
            taken.extend(short);
        }
    }
    out
}

fn arg_for(o: &'static options::OptionSpec) -> Arg {
    let mut help = o.help.to_string();
    if let Some(d) = o.default {
        help.push_str(&format!(" [default: {d}]"));
    }
    let mut a = Arg::new(o.name)
        .long(o.name)
        .help(help)
        .help_heading(o.heading);
    for alias in o.aliases {
        a = a.visible_alias(*alias);
    }
    for alias in o.hidden_aliases {
        a = a.alias(*alias);
    }
    // gunicorn's spellings with an underscore (--limit-request-field_size).
    for g in GUNICORN_SETTINGS {
        for f in g.flags {
            if o.names().any(|n| n != *f && n == options::normalize_key(f)) {
                a = a.alias(*f);
            }
        }
    }
    if let Some(c) = o.short {
        a = a.short(c);
    }
    if o.id == Id::Cron {
        // `--cron "-1 -1 -1 -1 -1 CMD"` starts with a hyphen.
        a = a.allow_hyphen_values(true);
    }
    match o.ty {
        Ty::Flag => a.action(ArgAction::SetTrue),
        Ty::Count => a.action(ArgAction::Count),
        Ty::Octal => a
            .value_name(o.value_name)
            .num_args(0..=1)
            .default_missing_value("666")
            .action(ArgAction::Set),
        _ => {
            // `--processes -1` reaches the value's check (which names the range) instead of
            // clap's "unexpected argument" with its `-- -1` tip.
            a = a.value_name(o.value_name).allow_negative_numbers(true);
            if o.repeat {
                a.action(ArgAction::Append)
            } else {
                a.action(ArgAction::Set)
            }
        }
    }
}

/// A positional argument: what it names.
pub(crate) enum Positional {
    Toml(String),
    Ini(String),
    Module(String),
    WsgiFile(String),
}

/// Classify the positional FILE argument. `exists` tells whether a file is there: `ebb
/// myproject.wsgi` runs the module when no such file exists (Django's documented command,
/// `gunicorn myproject.wsgi`), the file when it does (mod_wsgi's `app.wsgi`).
pub(crate) fn positional(value: &str, exists: &dyn Fn(&str) -> bool) -> Result<Positional, String> {
    let lower = value.to_ascii_lowercase();
    let file_part = match value.rsplit_once(':') {
        Some((file, _)) if file.to_ascii_lowercase().ends_with(".ini") => file,
        _ => value,
    };
    if file_part.to_ascii_lowercase().ends_with(".ini") {
        return Ok(Positional::Ini(value.to_string()));
    }
    if lower.ends_with(".toml") {
        return Ok(Positional::Toml(value.to_string()));
    }
    if lower.ends_with(".py") || (lower.ends_with(".wsgi") && exists(value)) {
        return Ok(Positional::WsgiFile(value.to_string()));
    }
    let is_module = !value.is_empty()
        && value.split(':').count() <= 2
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:()".contains(c))
        && !value.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == ':');
    if is_module {
        return Ok(Positional::Module(value.to_string()));
    }
    Err(format!(
        "{value:?} is not a config file: give a .ini or .toml file (or a WSGI module like \
         myproject.wsgi:application)"
    ))
}

/// The config files the command line names, in the order given: `(is_ini, value)`.
pub(crate) fn config_files(m: &ArgMatches, cwd: &Path) -> Vec<(bool, String)> {
    let mut files: Vec<(usize, bool, String)> = Vec::new();
    for (id, is_ini) in [("config", false), ("ini", true)] {
        if let (Some(values), Some(indices)) = (m.get_many::<String>(id), m.indices_of(id)) {
            for (v, i) in values.zip(indices) {
                files.push((i, is_ini, v.clone()));
            }
        }
    }
    if let (Some(v), Some(i)) = (m.get_one::<String>("FILE"), m.index_of("FILE")) {
        match positional(v, &|f| cwd.join(f).is_file()) {
            Ok(Positional::Toml(f)) => files.push((i, false, f)),
            Ok(Positional::Ini(f)) => files.push((i, true, f)),
            _ => {}
        }
    }
    files.sort_by_key(|(i, _, _)| *i);
    files.into_iter().map(|(_, ini, f)| (ini, f)).collect()
}

/// The settings the command line gives, in the registry's terms.
pub(crate) fn collect(m: &ArgMatches, cwd: &Path, out: &mut Collected) {
    let cli = |name: &str| Origin::Cli {
        flag: format!("--{name}"),
    };
    if let Some(v) = m.get_one::<String>("FILE") {
        match positional(v, &|f| cwd.join(f).is_file()) {
            Ok(Positional::Module(module)) => {
                out.push(Setting::new(Id::Module, Raw::Str(module), cli("module")))
            }
            Ok(Positional::WsgiFile(f)) => {
                out.push(Setting::new(Id::WsgiFile, Raw::Str(f), cli("wsgi-file")))
            }
            Ok(_) => {}
            Err(message) => out.error_at(
                &Origin::Cli {
                    flag: "FILE".into(),
                },
                message,
            ),
        }
    }
    // In command-line order, so that errors are listed as the user wrote the options.
    let mut given: Vec<(usize, Setting)> = Vec::new();
    for o in OPTIONS.iter().filter(|o| o.scope.cli) {
        if m.value_source(o.name) != Some(ValueSource::CommandLine) {
            continue;
        }
        let indices: Vec<usize> = m.indices_of(o.name).into_iter().flatten().collect();
        match (o.id, o.ty) {
            (
                Id::Config
                | Id::Ini
                | Id::CheckConfig
                | Id::NoApp
                | Id::Verbose
                | Id::Quiet
                | Id::Command,
                _,
            ) => {}
            (_, Ty::Flag) => {
                let at = indices.first().copied().unwrap_or(0);
                given.push((at, Setting::new(o.id, Raw::Bool(true), cli(o.name))));
            }
            _ => {
                let values = m.get_many::<String>(o.name).into_iter().flatten();
                for (n, v) in values.enumerate() {
                    let at = indices.get(n).copied().unwrap_or(0);
                    given.push((at, Setting::new(o.id, Raw::Str(v.clone()), cli(o.name))));
                }
            }
        }
    }
    given.sort_by_key(|(at, _)| *at);
    for (_, s) in given {
        out.push(s);
    }
    if let Some(argv) = m.get_many::<String>("command") {
        let argv: Vec<String> = argv.cloned().collect();
        out.push(Setting::new(
            Id::Command,
            Raw::Argv(argv),
            Origin::Cli { flag: "--".into() },
        ));
    }
    // Also in command-line order.
    let mut hidden: Vec<(usize, Hidden, String)> = Vec::new();
    for h in hidden_flags() {
        if m.value_source(h.long) != Some(ValueSource::CommandLine) {
            continue;
        }
        let value = if h.takes_value {
            m.get_one::<String>(h.long).cloned().unwrap_or_default()
        } else {
            String::new()
        };
        hidden.push((m.index_of(h.long).unwrap_or(0), h, value));
    }
    hidden.sort_by_key(|(at, _, _)| *at);
    for (_, h, value) in hidden {
        let verdict = match h.dialect {
            Dialect::Uwsgi => uwsgi::classify(h.long, &value),
            Dialect::Gunicorn => gunicorn::classify(h.long, &value),
        };
        out.extra(h.dialect, h.long, verdict, cli(h.long));
    }
}

/// `-v`/`-q` counts.
pub(crate) fn verbosity(m: &ArgMatches) -> (u8, u8) {
    (m.get_count("verbose"), m.get_count("quiet"))
}

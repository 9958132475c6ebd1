//! The `ebb` invocation: what to do, from the command line.
//!
//! `main` calls [`parse`] with `std::env::args_os()`; the options themselves are defined
//! once, in [`crate::config::options`], and the command line is built from them
//! ([`command_line`], also used for the man page `man/ebb.1`).

use std::ffi::OsString;

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::config::{ConfigError, ConfigErrors, Loaded, Loader};
use crate::live::Command as ControlCommand;

/// The `ebb` command line: the options (from the registry) and every subcommand, among them
/// the commands that steer a running ebb through its control socket.
pub fn command_line() -> Command {
    let target = |c: Command| {
        c.after_help(
            "Exit status: 0 when the master agreed, 1 when it refused (the answer says why), 2 \
             when no master could be reached.",
        )
        .arg(
            Arg::new("control")
                .long("control")
                .value_name("PATH")
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "The master's control socket (default: the one ebb running as this user, \
                     found in $XDG_RUNTIME_DIR/ebb, /run/ebb or /tmp/ebb-<uid>)",
                ),
        )
        .arg(
            Arg::new("pidfile")
                .long("pidfile")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Talk to the master whose pid is in FILE (its --pidfile)"),
        )
    };
    let number = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .required(true)
            .value_name(if name == "worker" { "WORKER" } else { "N" })
            // Signed, so that `scale -1` says the range rather than clap's "use '-- -1'" tip.
            .allow_negative_numbers(true)
            .value_parser(clap::value_parser!(i64).range(1..=1024))
            .help(help)
    };
    crate::config::command_line()
        .subcommand(target(
            Command::new("status")
                .about("Show a running ebb's workers: pid, generation, state, requests, jobs, RSS")
                .arg(
                    Arg::new("json")
                        .long("json")
                        .action(ArgAction::SetTrue)
                        .help("Print the stats document (uWSGI's fields and ebb's) as JSON"),
                ),
        ))
        .subcommand(target(Command::new("reload").about(
            "Reload a running ebb: read the configuration again, replace every worker (new first)",
        )))
        .subcommand(target(
            Command::new("stop")
                .about("Stop a running ebb gracefully: every worker drains, then it exits")
                .arg(
                    Arg::new("fast")
                        .long("fast")
                        .action(ArgAction::SetTrue)
                        .help("Fast stop: workers get SIGQUIT, their groups are killed after 3 s"),
                ),
        ))
        .subcommand(target(
            Command::new("scale")
                .about("Run N workers (the removed ones drain)")
                .arg(number("n", "How many workers")),
        ))
        .subcommand(target(
            Command::new("recycle")
                .about("Replace worker WORKER (its replacement starts first, then it drains)")
                .arg(number(
                    "worker",
                    "The worker's number, as ebb status shows it",
                )),
        ))
}

/// A command for a running master (`ebb status`, `ebb reload`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub command: ControlCommand,
    /// `ebb status --json`.
    pub json: bool,
    pub control: Option<PathBuf>,
    pub pidfile: Option<PathBuf>,
}

fn control_of(name: &str, m: &ArgMatches) -> Option<Control> {
    let n = |k: &str| m.get_one::<i64>(k).map_or(0, |&v| v as usize);
    let command = match name {
        "status" => ControlCommand::Status,
        "reload" => ControlCommand::Reload,
        "stop" => ControlCommand::Stop {
            fast: m.get_flag("fast"),
        },
        "scale" => ControlCommand::Scale(n("n")),
        "recycle" => ControlCommand::Recycle(n("worker")),
        _ => return None,
    };
    Some(Control {
        command,
        json: name == "status" && m.get_flag("json"),
        control: m.get_one::<PathBuf>("control").cloned(),
        pidfile: m.get_one::<PathBuf>("pidfile").cloned(),
    })
}

/// What `ebb` was asked to do.
#[derive(Debug)]
pub enum Invocation {
    /// Run the master.
    Run(Loader, Loaded),
    /// `--check-config`: print "configuration OK" and a summary, exit 0.
    CheckConfig(Loaded),
    /// `ebb example-app [ARGS...]`: run the example worker with ARGS.
    ExampleApp(Vec<String>),
    /// `ebb python-path`: print a directory to put on PYTHONPATH to import `ebb`.
    PythonPath,
    /// `ebb status`, `reload`, `stop`, `scale N`, `recycle N`: talk to a running master.
    Control(Control),
}

/// Why the command line could not be used.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own: `--help`, `--version`, an unknown flag, a missing value.
    Clap(clap::Error),
    /// The configuration is invalid.
    Config(ConfigErrors),
}

/// Parse `args` (with `argv[0]`) and load the configuration. `--help`, `--version` and
/// command-line syntax errors print clap's message and exit the process (status 0 or 2).
pub fn parse(args: Vec<OsString>) -> Result<Invocation, ConfigErrors> {
    match try_parse(args) {
        Ok(i) => Ok(i),
        Err(ParseError::Clap(e)) => e.exit(),
        Err(ParseError::Config(e)) => Err(e),
    }
}

/// [`parse`], without exiting on clap's errors.
pub fn try_parse(args: Vec<OsString>) -> Result<Invocation, ParseError> {
    let loader = Loader::new(args);
    try_parse_with(loader)
}

/// [`try_parse`] with a prepared loader (tests inject the environment and directory).
pub fn try_parse_with(loader: Loader) -> Result<Invocation, ParseError> {
    let matches = command_line()
        .try_get_matches_from(loader.args())
        .map_err(ParseError::Clap)?;
    match matches.subcommand() {
        Some(("example-app", sub)) => {
            let args = sub
                .get_many::<String>("args")
                .into_iter()
                .flatten()
                .cloned()
                .collect();
            return Ok(Invocation::ExampleApp(args));
        }
        Some(("python-path", _)) => return Ok(Invocation::PythonPath),
        Some((name, sub)) if control_of(name, sub).is_some() => {
            return Ok(Invocation::Control(
                control_of(name, sub).expect("checked in the guard"),
            ));
        }
        Some((other, _)) => {
            return Err(ParseError::Config(ConfigErrors(vec![ConfigError {
                file: None,
                line: None,
                key: other.to_string(),
                message: "unknown subcommand".to_string(),
            }])));
        }
        None => {}
    }
    let loaded = loader.load().map_err(ParseError::Config)?;
    if matches.get_flag("check-config") {
        Ok(Invocation::CheckConfig(loaded))
    } else {
        Ok(Invocation::Run(loader, loaded))
    }
}

/// The man page, rendered from [`command_line`].
pub fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command_line())
        .render(&mut out)
        .expect("rendering to memory does not fail");
    out
}

/// Every man page as (file name, text): `ebb.1`, and one per subcommand (`ebb-status.1`,
/// `ebb-reload.1`…), which `ebb.1`'s SUBCOMMANDS section names.
pub fn man_pages() -> Vec<(String, Vec<u8>)> {
    let mut cmd = command_line();
    // Built, the subcommands are named `ebb-status`… as their pages are.
    cmd.build();
    let mut pages = vec![("ebb.1".to_string(), man_page())];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man =
            clap_mangen::Man::new(sub.clone()).source(format!("ebb {}", env!("CARGO_PKG_VERSION")));
        let mut out = Vec::new();
        man.render(&mut out)
            .expect("rendering to memory does not fail");
        pages.push((man.get_filename(), out));
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn run(args: &[&str]) -> Result<Invocation, ParseError> {
        let argv = std::iter::once("ebb")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let env: Vec<(String, String)> = Vec::new();
        try_parse_with(Loader::with_environment(
            argv,
            PathBuf::from(env!("CARGO_MANIFEST_DIR")),
            env,
        ))
    }

    #[test]
    fn invocations() {
        match run(&["example-app", "--port", "3", "x"]) {
            Ok(Invocation::ExampleApp(args)) => assert_eq!(args, ["--port", "3", "x"]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(run(&["example-app"]), Ok(Invocation::ExampleApp(a)) if a.is_empty()));
        // --help goes to the app, which prints its routes and variables.
        assert!(
            matches!(run(&["example-app", "--help"]), Ok(Invocation::ExampleApp(a)) if a == ["--help"])
        );
        assert!(matches!(run(&["python-path"]), Ok(Invocation::PythonPath)));
        // Commands for a running ebb are never read as an app called "status".
        let control = |args: &[&str]| match run(args) {
            Ok(Invocation::Control(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        };
        assert_eq!(control(&["status"]).command, ControlCommand::Status);
        assert!(control(&["status", "--json"]).json);
        assert_eq!(
            control(&["stop", "--fast"]).command,
            ControlCommand::Stop { fast: true }
        );
        assert_eq!(control(&["scale", "3"]).command, ControlCommand::Scale(3));
        assert_eq!(
            control(&["recycle", "2", "--control", "/x.ctl"]).control,
            Some(PathBuf::from("/x.ctl"))
        );
        assert_eq!(control(&["reload"]).command, ControlCommand::Reload);
        assert!(matches!(run(&["scale", "0"]), Err(ParseError::Clap(_))));
        // A negative number is out of range, said as such (not clap's "use '-- -1'" tip).
        for args in [&["scale", "-1"][..], &["recycle", "-2"]] {
            match run(args) {
                Err(ParseError::Clap(e)) => {
                    let text = e.to_string();
                    assert!(text.contains("1..=1024"), "{args:?}: {text}");
                    assert!(!text.contains("use '--"), "{args:?}: {text}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
        assert!(matches!(run(&["recycle"]), Err(ParseError::Clap(_))));
        assert!(matches!(
            run(&["--example-app", "-b", ":1", "--check-config"]),
            Ok(Invocation::CheckConfig(_))
        ));
        match run(&["--example-app", "-b", ":1", "-p", "3"]) {
            Ok(Invocation::Run(loader, loaded)) => {
                assert_eq!(loaded.config.processes, 3);
                assert_eq!(loader.load().unwrap().config, loaded.config);
            }
            other => panic!("{other:?}"),
        }
        match run(&["-b", ":1"]) {
            Err(ParseError::Config(e)) => assert!(e.to_string().starts_with("worker: "), "{e}"),
            other => panic!("{other:?}"),
        }
        match run(&["--no-such-flag"]) {
            Err(ParseError::Clap(e)) => {
                assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument)
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(run(&["--help"]), Err(ParseError::Clap(_))));
        assert!(matches!(run(&["--version"]), Err(ParseError::Clap(_))));
        match run(&["-b", ":1", "not a file!"]) {
            Err(ParseError::Config(e)) => assert!(
                e.to_string()
                    .starts_with("FILE: \"not a file!\" is not a config file"),
                "{e}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn command_line_is_consistent() {
        command_line().debug_assert();
    }

    /// A file generated from the code: `UPDATE_MAN=1` rewrites it, otherwise it must match.
    fn check_generated(rel: &str, fresh: &[u8], regenerate: &str) {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
        if std::env::var_os("UPDATE_MAN").is_some_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, fresh).unwrap();
            return;
        }
        let current = std::fs::read(&path).unwrap_or_default();
        assert!(
            current == fresh,
            "{rel} is out of date with the code it is generated from: run \
             `UPDATE_MAN=1 cargo test --lib {regenerate}` to regenerate it"
        );
    }

    /// `man/ebb.1` and the subcommands' pages are generated from the clap definitions;
    /// no other page is left in `man/`.
    #[test]
    fn man_pages_are_current() {
        let pages = man_pages();
        for (name, page) in &pages {
            check_generated(&format!("man/{name}"), page, "man_page");
        }
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        for want in [
            "ebb.1",
            "ebb-status.1",
            "ebb-reload.1",
            "ebb-stop.1",
            "ebb-scale.1",
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                names.contains(&name.as_str()),
                "man/{name} is not generated: remove it"
            );
        }
    }

    /// `docs/uwsgi-compat.md` is generated from the uWSGI option table.
    #[test]
    fn uwsgi_compat_page_is_current() {
        let fresh = crate::config::uwsgi::compat_markdown();
        check_generated("docs/uwsgi-compat.md", fresh.as_bytes(), "uwsgi_compat");
    }

    /// `docs/gunicorn-compat.md` is generated from the gunicorn settings table.
    #[test]
    fn gunicorn_compat_page_is_current() {
        let fresh = crate::config::gunicorn::compat_markdown();
        check_generated(
            "docs/gunicorn-compat.md",
            fresh.as_bytes(),
            "gunicorn_compat",
        );
    }
}

//! Configuration: the model every front end produces, and the front ends.
//!
//! Layers, lowest first: defaults < config files (`--config` TOML, `--ini` uWSGI ini, in
//! the order given; `UWSGI_INI` names one more, read first) < `UWSGI_<OPTION>` environment
//! variables < the command line. For single-valued options the highest layer wins (and
//! within a layer, the last value). Repeatable options (`http-socket`, `socket`, `env`,
//! `pythonpath`) **add up** across layers, as uWSGI does: `ebb --ini app.ini --http-socket
//! :9000` listens on the ini file's sockets and on :9000 (an address given twice is bound
//! once; an `env` variable set twice takes the later value). The worker command
//! (`example-app`, `module`/`wsgi-file`, `-- CMD`) is taken from the highest layer that
//! gives one, so `--example-app` on the command line overrides a file's `module`.
//!
//! Every value is validated, and every problem reported at once, with its file, line and
//! key ([`ConfigErrors`]).
//!
//! - [`options`]: the option registry (names, aliases, types, help) that drives all of it.
//! - [`uwsgi`], [`gunicorn`]: how each uWSGI option and gunicorn setting is treated (same,
//!   alias, different, always on, unsupported), with the types they share in [`compat`].
//! - `source`: what the front ends share (origins, settings, what was collected).
//! - `toml_file`, `ini`, `env`, `args`: the front ends; `load`: reading every layer;
//!   `build`: merging and validation, with `paths` (what a path must be) and `worker_env`
//!   (the Python worker's settings passed in its environment).

mod args;
mod build;
pub mod compat;
pub mod daemons;
mod env;
pub mod gunicorn;
pub mod hooks;
mod ini;
mod layers;
mod load;
mod model;
pub mod options;
mod paths;
pub mod python_opts;
mod source;
pub mod spooler;
#[cfg(test)]
mod tests;
mod toml_file;
pub mod uwsgi;
pub(crate) mod values;
mod worker_env;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

pub use args::command_line;
pub use model::*;

/// A configuration that loaded, and what the master should log about it once (at WARN).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// E.g. unsupported uWSGI or gunicorn options that were ignored, or `uid` given while
    /// not root.
    pub warnings: Vec<String>,
    /// Keys that look like misspelt options (`proceses`) and that no placeholder uses:
    /// `--check-config` fails on them; at start they are only warned about (in `warnings`).
    pub typos: Vec<ConfigError>,
}

/// Loads the configuration again from the same arguments, files and environment: SIGHUP
/// calls [`Loader::load`].
#[derive(Debug, Clone)]
pub struct Loader {
    args: Vec<OsString>,
    cwd: PathBuf,
    /// Replaces the process environment (tests).
    env: Option<BTreeMap<String, String>>,
    /// Replaces the effective-uid check (tests).
    is_root: Option<bool>,
}

impl Loader {
    /// A loader for `args` (including `argv[0]`); relative paths on the command line are
    /// taken against the current directory, captured now.
    pub fn new(args: Vec<OsString>) -> Loader {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Loader {
            args,
            cwd,
            env: None,
            is_root: None,
        }
    }

    /// A loader that sees `env` instead of the process environment and `cwd` as the current
    /// directory (for tests).
    pub fn with_environment(
        args: Vec<OsString>,
        cwd: PathBuf,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Loader {
        Loader {
            args,
            cwd,
            env: Some(env.into_iter().collect()),
            is_root: None,
        }
    }

    /// The arguments this loader parses (including `argv[0]`).
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Read the files and environment again and validate the result.
    pub fn load(&self) -> Result<Loaded, ConfigErrors> {
        self.load_all().map_err(|(e, _)| e)
    }

    /// [`Loader::load`], with the warnings also when there are errors: the
    /// unsupported-options line may name the option behind a failure.
    pub fn load_all(&self) -> Result<Loaded, (ConfigErrors, Vec<String>)> {
        let env = match &self.env {
            Some(env) => env.clone(),
            None => std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        };
        let ctx = source::Context {
            cwd: self.cwd.clone(),
            env,
            pid: std::process::id(),
            is_root: self
                .is_root
                .unwrap_or_else(|| nix::unistd::geteuid().is_root()),
        };
        load::load(&self.args, &ctx)
    }

    #[cfg(test)]
    pub(crate) fn with_root(mut self, yes: bool) -> Loader {
        self.is_root = Some(yes);
        self
    }
}

/// One problem with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the value came from, as it was named.
    pub file: Option<PathBuf>,
    /// 1-based line in `file`.
    pub line: Option<usize>,
    /// The key as written: `processes` in a file, `--processes` on the command line,
    /// `UWSGI_PROCESSES` in the environment; empty for a file's syntax error.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => {}
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, in file and line order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

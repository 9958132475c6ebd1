//! What every front end shares: where a value came from ([`Origin`]), one value for one
//! option ([`Setting`]), and everything read so far ([`Collected`]). The front ends
//! (`toml_file`, `ini`, `env`, `args`) fill a [`Collected`]; `load` merges and validates it.
//! This module depends on none of them, so the front ends and `load` do not import each
//! other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::compat::{Dialect, Verdict};
use super::options::Id;
use super::values::Raw;

/// What loading may look at besides the arguments: injected in tests.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub pid: u32,
    pub is_root: bool,
}

impl Context {
    pub(crate) fn home(&self) -> Option<&str> {
        self.env.get("HOME").map(String::as_str)
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    File {
        /// The file as it was named (for messages).
        file: PathBuf,
        /// Its directory, absolute: relative paths in it are taken from here.
        dir: PathBuf,
        line: Option<usize>,
        /// The key as written.
        key: String,
    },
    Env {
        var: String,
    },
    Cli {
        flag: String,
    },
}

impl Origin {
    /// 0 files, 1 environment, 2 command line.
    pub(crate) fn layer(&self) -> u8 {
        match self {
            Origin::File { .. } => 0,
            Origin::Env { .. } => 1,
            Origin::Cli { .. } => 2,
        }
    }

    pub(crate) fn key(&self) -> &str {
        match self {
            Origin::File { key, .. } => key,
            Origin::Env { var } => var,
            Origin::Cli { flag } => flag,
        }
    }

    /// `app.ini:12`, `UWSGI_PROCESSES`, `--processes`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Origin::File {
                file,
                line: Some(l),
                key,
                ..
            } => format!("{key} ({}:{l})", file.display()),
            Origin::File { file, key, .. } => format!("{key} ({})", file.display()),
            Origin::Env { var } => var.clone(),
            Origin::Cli { flag } => flag.clone(),
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        let (file, line) = match self {
            Origin::File { file, line, .. } => (Some(file.clone()), *line),
            _ => (None, None),
        };
        ConfigError {
            file,
            line,
            key: self.key().to_string(),
            message: message.into(),
        }
    }
}

/// One value for one option.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    pub id: Id,
    pub value: Raw,
    pub origin: Origin,
}

impl Setting {
    pub(crate) fn new(id: Id, value: Raw, origin: Origin) -> Setting {
        Setting { id, value, origin }
    }
}

/// A uWSGI or gunicorn option that is not an ebb option, to be warned about (or an error
/// in strict mode).
#[derive(Debug, Clone)]
pub(crate) struct Extra {
    pub dialect: Dialect,
    pub key: String,
    pub verdict: Verdict,
    pub origin: Origin,
}

/// Everything the front ends read, in precedence order (files, environment, command line).
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub settings: Vec<Setting>,
    pub extras: Vec<Extra>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
    /// ini keys that are only placeholders (`base = /srv` used as `%(base)`): errors in
    /// strict mode, as in uWSGI (declare them with `set-placeholder`).
    pub placeholders: Vec<Origin>,
    /// Files read, as named, in order.
    pub files: Vec<PathBuf>,
}

impl Collected {
    pub(crate) fn push(&mut self, s: Setting) {
        self.settings.push(s);
    }
    pub(crate) fn error_at(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push(origin.error(message));
    }
    pub(crate) fn file_error(
        &mut self,
        file: &Path,
        line: Option<usize>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            file: Some(file.to_path_buf()),
            line,
            key: String::new(),
            message: message.into(),
        });
    }
    /// An option of `dialect` that is not an ebb option: nothing to do when it is accepted
    /// quietly, an error now when it is refused, else kept for one warning (or errors in
    /// strict mode, which is known only once every layer is read).
    pub(crate) fn extra(&mut self, dialect: Dialect, key: &str, verdict: Verdict, origin: Origin) {
        match verdict {
            Verdict::Quiet => {}
            Verdict::Error(message) => self.error_at(&origin, message),
            verdict => self.extras.push(Extra {
                dialect,
                key: key.to_string(),
                verdict,
                origin,
            }),
        }
    }
}

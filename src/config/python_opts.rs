//! The Python app's options and reload triggers from uWSGI files (issue 13): `py-autoreload`,
//! `fs-reload`, `reload-on-as`, `pyargv`, `honour-stdin`, `import` (and its `pyimport` and
//! `shared-import` spellings), `no-site` and `limit-post`.
//!
//! Read here into [`PythonOpts`]; the master watches the files (`crate::master::watch`), the
//! policy recycles on the address space, and the Python worker reads the rest from its
//! environment ([`PythonOpts::worker_env`]).

use std::path::{Path, PathBuf};

use super::model::Config;
use super::options::Id;
use super::values::{self, Raw};

/// What these options asked for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonOpts {
    /// `py-autoreload = N`: watch the app's module files; N: how often (s) a worker reports
    /// the modules it imported since.
    pub py_autoreload: Option<u64>,
    /// `fs-reload`: paths whose change reloads.
    pub fs_reload: Vec<PathBuf>,
    /// `reload-on-as`: recycle over this many MiB of address space.
    pub reload_on_as_mb: Option<u64>,
    /// `pyargv`: the words after `uwsgi` in `sys.argv`.
    pub pyargv: Option<Vec<String>>,
    /// `honour-stdin`: workers keep ebb's stdin.
    pub honour_stdin: bool,
    /// `import`: modules (or `.py` files) imported before the app.
    pub imports: Vec<String>,
    /// `no-site`: the interpreter runs with `-S`.
    pub no_site: bool,
    /// `limit-post`: largest Content-Length the app is given.
    pub limit_post: Option<u64>,
    /// Every `mount = /PREFIX=APP`, in order (the prefix without its trailing `/`).
    pub mounts: Vec<(String, String)>,
    /// `no-default-app`: a request under no mount is answered 404.
    pub no_default_app: bool,
    /// `manage-script-name`, for the mounts' dispatcher.
    pub manage_script_name: bool,
    /// `harakiri-graceful-timeout`: a worker replaced by harakiri is killed this long after
    /// its drain began (not drain-timeout).
    pub harakiri_graceful_timeout: Option<std::time::Duration>,
    /// `show-config`: log the resolved configuration at start.
    pub show_config: bool,
}

/// Read one `mount = /PREFIX=APP` into `c.python_opts.mounts`; returns it.
pub(super) fn mount(raw: &Raw, c: &mut Config) -> Result<(String, String), String> {
    let text = values::parse_text(raw, "/PREFIX=APP")?;
    let Some((prefix, app)) = text.split_once('=') else {
        return Err(format!(
            "expected /PREFIX=APP (a module or a .py file), got {raw}"
        ));
    };
    let (prefix, app) = (prefix.trim(), app.trim());
    if !prefix.is_empty() && !prefix.starts_with('/') {
        return Err(format!("the prefix must start with '/', got {prefix:?}"));
    }
    if app.is_empty() {
        return Err("no app after '=': write /PREFIX=APP".to_string());
    }
    if app.contains(['\t', '\n']) || prefix.contains(['\t', '\n']) {
        return Err("a tab or a newline in a mount: write /PREFIX=APP".to_string());
    }
    let m = (prefix.trim_end_matches('/').to_string(), app.to_string());
    let mounts = &mut c.python_opts.mounts;
    // The first mount's file is checked with the worker's app; the others' here when their
    // path is absolute (a relative one is the worker's, from its directory).
    let file = Path::new(app);
    if !mounts.is_empty()
        && (app.ends_with(".py") || app.ends_with(".wsgi"))
        && file.is_absolute()
        && let Some(message) = super::paths::Need::File.check(file)
    {
        return Err(message);
    }
    if let Some((_, other)) = mounts.iter().find(|(p, _)| *p == m.0) {
        return Err(format!(
            "{} is mounted twice (the other is {other}): one app per prefix",
            if m.0.is_empty() { "/" } else { &m.0 }
        ));
    }
    mounts.push(m.clone());
    Ok(m)
}

/// Read one of these options into `c.python_opts`.
pub(super) fn apply(
    id: Id,
    raw: &Raw,
    base: &Path,
    home: Option<&str>,
    c: &mut Config,
) -> Result<(), String> {
    let o = &mut c.python_opts;
    match id {
        Id::PyAutoreload => {
            let n = values::parse_uint(raw, 0, 86400)?;
            o.py_autoreload = (n > 0).then_some(n);
        }
        Id::FsReload => o.fs_reload.push(values::parse_path(raw, base, home)?),
        Id::ReloadOnAs => {
            let mb = values::parse_size_mb(raw)?;
            o.reload_on_as_mb = (mb > 0).then_some(mb);
        }
        Id::Pyargv => {
            let text = values::parse_text(raw, "the app's arguments")?;
            o.pyargv = Some(pyargv_words(&text));
        }
        Id::HonourStdin => o.honour_stdin = values::parse_bool(raw)?,
        Id::Import => {
            let v = values::parse_text(raw, "a module name or a .py file")?;
            let v = v.trim().to_string();
            if !is_python_file(&v) && !is_module_name(&v) {
                return Err(format!(
                    "{v:?} is neither a module name (package.module) nor a Python file \
                     (ending in .py, or a path with '/')"
                ));
            }
            if !o.imports.contains(&v) {
                o.imports.push(v);
            }
        }
        Id::NoSite => o.no_site = values::parse_bool(raw)?,
        Id::LimitPost => {
            let n = values::parse_uint(raw, 0, 1 << 50)?;
            o.limit_post = (n > 0).then_some(n);
        }
        Id::NoDefaultApp => o.no_default_app = values::parse_bool(raw)?,
        Id::ShowConfig => o.show_config = values::parse_bool(raw)?,
        Id::HarakiriGracefulTimeout => {
            let d = values::parse_duration(raw)?;
            o.harakiri_graceful_timeout = (!d.is_zero()).then_some(d);
        }
        _ => unreachable!("{id:?} is not a python_opts option"),
    }
    Ok(())
}

/// uWSGI splits `pyargv` at spaces and tabs, with no quoting (`init_pyargv`, `strsep`).
pub fn pyargv_words(text: &str) -> Vec<String> {
    text.split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn is_python_file(v: &str) -> bool {
    v.ends_with(".py") || v.contains('/')
}

fn is_module_name(v: &str) -> bool {
    !v.is_empty()
        && v.split('.').all(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .is_some_and(|ch| ch.is_alphabetic() || ch == '_')
                && chars.all(|ch| ch.is_alphanumeric() || ch == '_')
        })
}

impl PythonOpts {
    /// Whether the worker dispatches between mounts (several, or `no-default-app`); one
    /// mount alone runs as the app, with its prefix as SCRIPT_NAME.
    pub fn dispatches(&self) -> bool {
        self.mounts.len() > 1 || (self.no_default_app && !self.mounts.is_empty())
    }

    /// The names of the options given that only the Python worker uses (for the warning when
    /// the worker is another program).
    pub(super) fn python_only_given(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (given, name) in [
            (self.py_autoreload.is_some(), "py-autoreload"),
            (self.pyargv.is_some(), "pyargv"),
            (!self.imports.is_empty(), "import"),
            (self.no_site, "no-site"),
            (self.limit_post.is_some(), "limit-post"),
        ] {
            if given {
                v.push(name);
            }
        }
        v
    }

    /// Flags for the worker's interpreter, before its script.
    pub fn interpreter_flags(&self) -> Vec<String> {
        if self.no_site {
            vec!["-S".to_string()]
        } else {
            Vec::new()
        }
    }

    /// What the Python worker reads from its environment (the fork server's too).
    pub fn worker_env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(words) = &self.pyargv {
            // One word per line: a word never holds a newline (split at spaces and tabs
            // only, a value is one line of a file).
            env.push(("EBB_PYARGV", words.join("\n")));
        }
        if !self.imports.is_empty() {
            env.push(("EBB_IMPORTS", self.imports.join("\n")));
        }
        if let Some(n) = self.limit_post {
            env.push(("EBB_LIMIT_POST", n.to_string()));
        }
        if let Some(n) = self.py_autoreload {
            env.push(("EBB_PY_AUTORELOAD", n.to_string()));
        }
        if self.dispatches() {
            // PREFIX<TAB>APP per line, the first mount first (the worker's own app).
            let lines: Vec<String> = self
                .mounts
                .iter()
                .map(|(p, a)| format!("{p}\t{a}"))
                .collect();
            env.push(("EBB_MOUNTS", lines.join("\n")));
            env.push((
                "EBB_MOUNT_FLAGS",
                format!(
                    "{}{}",
                    if self.manage_script_name {
                        "manage-script-name "
                    } else {
                        ""
                    },
                    if self.no_default_app {
                        "no-default-app"
                    } else {
                        ""
                    }
                )
                .trim()
                .to_string(),
            ));
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyargv_is_split_as_uwsgi_splits_it() {
        let cases: &[(&str, &[&str])] = &[
            ("-y /config.yml", &["-y", "/config.yml"]),
            (
                "-c /cc.yml  -od /data/\t-mf x.zip",
                &["-c", "/cc.yml", "-od", "/data/", "-mf", "x.zip"],
            ),
            // No quoting, as in uWSGI.
            ("-y '/a b'", &["-y", "'/a", "b'"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(pyargv_words(text), *want, "{text:?}");
        }
    }

    #[test]
    fn import_names() {
        for ok in [
            "dispatcharr.gevent_patch",
            "x",
            "_a.b2",
            "patch.py",
            "./p/x.py",
        ] {
            assert!(is_module_name(ok) || is_python_file(ok), "{ok}");
        }
        for bad in ["a..b", "2x", "a-b", "a:b", ""] {
            assert!(!is_module_name(bad) && !is_python_file(bad), "{bad}");
        }
    }
}

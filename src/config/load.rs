//! Loading: read every layer (files, `UWSGI_*` and gunicorn variables, the command line)
//! into settings; [`super::build`] merges and validates them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::source::{Collected, Context, Origin};
use super::values;
use super::{ConfigError, ConfigErrors, Loaded, args, env, ini, toml_file};

pub(super) fn general(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: None,
        line: None,
        key: key.to_string(),
        message: message.into(),
    }
}

/// Load the configuration `args` (with `argv[0]`) describe.
/// On errors, also the warnings (the unsupported-options line may name the option behind a
/// failure).
pub(crate) fn load(
    argv: &[OsString],
    ctx: &Context,
) -> Result<Loaded, (ConfigErrors, Vec<String>)> {
    let m = args::command_line()
        .try_get_matches_from(argv)
        .map_err(|e| {
            (
                ConfigErrors(vec![general("command line", e.to_string().trim_end())]),
                Vec::new(),
            )
        })?;
    let mut out = Collected::default();

    let mut files: Vec<(bool, String)> = Vec::new();
    if let Some(ini) = ctx.env.get("UWSGI_INI").filter(|s| !s.is_empty()) {
        files.push((true, ini.clone()));
    }
    files.extend(args::config_files(&m, &ctx.cwd));
    let mut source = None;
    for (is_ini, spec) in &files {
        let path = read_file(*is_ini, spec, ctx, &mut out);
        if source.is_none() {
            source = path;
        }
    }
    env::collect(ctx, &mut out);
    gunicorn_cmd_args(ctx, &mut out);
    args::collect(&m, &ctx.cwd, &mut out);
    let (verbose, quiet) = args::verbosity(&m);
    super::build::build(out, ctx, source, verbose, quiet)
}

/// `GUNICORN_CMD_ARGS="--workers 3 --threads 2"`: gunicorn's flags in a variable, above the
/// config files and below the command line (as gunicorn reads it).
fn gunicorn_cmd_args(ctx: &Context, out: &mut Collected) {
    const VAR: &str = "GUNICORN_CMD_ARGS";
    let Some(text) = ctx.env.get(VAR).filter(|t| !t.trim().is_empty()) else {
        return;
    };
    let words = match values::shell_words(text) {
        Ok(w) => w,
        Err(e) => {
            out.errors.push(general(VAR, e));
            return;
        }
    };
    let argv: Vec<OsString> = std::iter::once(OsString::from("ebb"))
        .chain(words.iter().map(OsString::from))
        .collect();
    let m = match args::command_line().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => {
            out.errors.push(general(VAR, e.to_string().trim_end()));
            return;
        }
    };
    let mut sub = Collected::default();
    args::collect(&m, &ctx.cwd, &mut sub);
    let relabel = |o: Origin| match o {
        Origin::Cli { flag } => Origin::Env {
            var: format!("{VAR} {flag}"),
        },
        other => other,
    };
    for mut s in sub.settings {
        s.origin = relabel(s.origin);
        out.settings.push(s);
    }
    for mut e in sub.extras {
        e.origin = relabel(e.origin);
        out.extras.push(e);
    }
    for mut e in sub.errors {
        e.key = format!("{VAR} {}", e.key);
        out.errors.push(e);
    }
}

/// Read one config file into `out`; returns its absolute path.
fn read_file(is_ini: bool, spec: &str, ctx: &Context, out: &mut Collected) -> Option<PathBuf> {
    let (name, section) = split_section(spec, is_ini);
    let lower = name.to_ascii_lowercase();
    let is_ini = if lower.ends_with(".ini") {
        true
    } else if lower.ends_with(".toml") {
        false
    } else {
        is_ini
    };
    let display = PathBuf::from(name);
    let abs = values::absolutize(name, &ctx.cwd, ctx.home());
    out.files.push(display.clone());
    if lower.ends_with(".py") || lower.starts_with("python:") {
        out.file_error(
            &display,
            None,
            "gunicorn's Python config files are not read: write the options in a TOML file \
             (see conf/ebb.toml) and pass it with --config",
        );
        return Some(abs);
    }
    let text = match std::fs::read_to_string(&abs) {
        Ok(t) => t,
        Err(e) => {
            out.file_error(&display, None, format!("cannot read the config file: {e}"));
            return Some(abs);
        }
    };
    let dir = abs
        .parent()
        .map_or_else(|| ctx.cwd.clone(), Path::to_path_buf);
    if is_ini {
        ini::collect(&display, &abs, section.unwrap_or("uwsgi"), &text, ctx, out);
    } else {
        if let Some(s) = section {
            out.file_error(
                &display,
                None,
                format!(
                    "TOML files have no sections to choose (:{s}); options go at the top level"
                ),
            );
        }
        toml_file::collect(&display, &dir, &text, out);
    }
    Some(abs)
}

/// `app.ini:prod` → (`app.ini`, Some(`prod`)).
fn split_section(spec: &str, is_ini: bool) -> (&str, Option<&str>) {
    if let Some((file, section)) = spec.rsplit_once(':')
        && (is_ini || file.to_ascii_lowercase().ends_with(".ini"))
        && !section.contains('/')
    {
        return (file, (!section.is_empty()).then_some(section));
    }
    (spec, None)
}

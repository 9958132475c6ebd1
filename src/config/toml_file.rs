//! TOML config files (`--config ebb.toml`): every option is a top-level key with its long
//! name (`max-requests` or `max_requests`); repeatable options take an array or a single
//! value; `env` may also be a table (`env = { DJANGO_DEBUG = "0" }`); `command` is an array.
//! Unknown keys are errors, with a suggestion when one is close, or with what to write
//! instead of a uWSGI option or gunicorn setting. Every error is reported, with its line.

use std::path::Path;

use ::toml::Spanned;
use ::toml::de::{DeTable, DeValue};

use super::compat::{Status, Verdict};
use super::gunicorn;
use super::options::{self, Front, Id, Ty};
use super::source::{Collected, Origin, Setting};
use super::uwsgi;
use super::values::Raw;

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn raw_of(v: &DeValue<'_>) -> Raw {
    match v {
        DeValue::String(s) => Raw::Str(s.to_string()),
        DeValue::Integer(i) => Raw::Int {
            digits: i.as_str().to_string(),
            radix: i.radix(),
        },
        DeValue::Float(f) => f
            .as_str()
            .replace('_', "")
            .parse()
            .map_or(Raw::Other("a float"), Raw::Float),
        DeValue::Boolean(b) => Raw::Bool(*b),
        DeValue::Datetime(_) => Raw::Other("a date"),
        DeValue::Array(_) => Raw::Other("an array"),
        DeValue::Table(_) => Raw::Other("a table"),
    }
}

pub(crate) fn collect(file: &Path, dir: &Path, text: &str, out: &mut Collected) {
    let (table, parse_errors) = DeTable::parse_recoverable(text);
    // A syntax error: one message per line, and nothing from the document, whose values
    // after recovery are guesses that only add consequential errors (issue 14).
    if !parse_errors.is_empty() {
        let mut lines_seen = Vec::new();
        for e in parse_errors {
            let line = e.span().map(|s| line_of(text, s.start));
            if lines_seen.contains(&line) {
                continue;
            }
            lines_seen.push(line);
            out.file_error(file, line, e.message().trim_end().to_string());
        }
        return;
    }
    let origin = |key: &str, at: usize| Origin::File {
        file: file.to_path_buf(),
        dir: dir.to_path_buf(),
        line: Some(line_of(text, at)),
        key: key.to_string(),
    };
    // Which spelling set an option first, for "set twice".
    let mut seen: Vec<(Id, String, usize)> = Vec::new();
    for (key, value) in table.get_ref().iter() {
        let name: &str = key.get_ref();
        let at = key.span().start;
        let here = origin(name, at);
        let Some(opt) = options::lookup(name, Front::Toml) else {
            out.error_at(&here, unknown_key(name, value.get_ref()));
            continue;
        };
        if let Some((_, first, first_at)) = seen.iter().find(|(id, _, _)| *id == opt.id) {
            out.error_at(
                &here,
                format!(
                    "{} is already set as {first} on line {}: set it once",
                    opt.name,
                    line_of(text, *first_at)
                ),
            );
            continue;
        }
        seen.push((opt.id, name.to_string(), at));
        values_of(opt, name, value, &origin, out);
    }
}

/// Turn one key's value into settings (several for arrays of repeatable options).
fn values_of(
    opt: &'static options::OptionSpec,
    name: &str,
    value: &Spanned<DeValue<'_>>,
    origin: &dyn Fn(&str, usize) -> Origin,
    out: &mut Collected,
) {
    let at = value.span().start;
    match value.get_ref() {
        DeValue::Array(items) if opt.ty == Ty::Argv => {
            let mut argv = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::String(s) => argv.push(s.to_string()),
                    other => {
                        out.error_at(
                            &origin(name, item.span().start),
                            format!(
                                "expected the command's words as strings, got {}",
                                raw_of(other)
                            ),
                        );
                        return;
                    }
                }
            }
            out.push(Setting::new(opt.id, Raw::Argv(argv), origin(name, at)));
        }
        DeValue::String(s) if opt.ty == Ty::Argv => {
            let words: Vec<String> = s.split_whitespace().map(str::to_string).collect();
            out.error_at(
                &origin(name, at),
                format!(
                    "give the command as an array of words, like command = {words:?}, so \
                     arguments with spaces stay whole"
                ),
            );
        }
        DeValue::Array(items) if opt.repeat => {
            for item in items.iter() {
                let raw = match item.get_ref() {
                    DeValue::Array(_) | DeValue::Table(_) => {
                        out.error_at(
                            &origin(name, item.span().start),
                            format!(
                                "expected a list of values, got {} in it",
                                raw_of(item.get_ref())
                            ),
                        );
                        continue;
                    }
                    v => raw_of(v),
                };
                out.push(Setting::new(opt.id, raw, origin(name, item.span().start)));
            }
        }
        DeValue::Table(t) if opt.id == Id::Env => {
            for (k, v) in t.iter() {
                let here = origin(name, k.span().start);
                match v.get_ref() {
                    DeValue::String(_)
                    | DeValue::Integer(_)
                    | DeValue::Float(_)
                    | DeValue::Boolean(_) => {
                        let text = match raw_of(v.get_ref()) {
                            Raw::Str(s) => s,
                            other => other.to_string(),
                        };
                        out.push(Setting::new(
                            opt.id,
                            Raw::Str(format!("{}={text}", k.get_ref())),
                            here,
                        ));
                    }
                    other => out.error_at(
                        &here,
                        format!(
                            "expected a string value for {}, got {}",
                            k.get_ref(),
                            raw_of(other)
                        ),
                    ),
                }
            }
        }
        DeValue::Array(_) => out.error_at(
            &origin(name, at),
            format!("{} takes one value, not an array", opt.name),
        ),
        v => out.push(Setting::new(opt.id, raw_of(v), origin(name, at))),
    }
}

/// The message for a key that is not an option.
fn unknown_key(name: &str, value: &DeValue<'_>) -> String {
    let key = options::normalize_key(name);
    if options::OPTIONS
        .iter()
        .any(|o| o.names().any(|n| n == key) && !o.scope.toml)
    {
        return format!(
            "{name} is a command-line option (--{key}); it cannot be set in a config file"
        );
    }
    if let DeValue::Table(_) = value {
        let hint = if key == "uwsgi" {
            " (uWSGI ini files are read with --ini; in TOML, options go at the top level)"
        } else {
            " (options go at the top level)"
        };
        return format!("unknown section [{name}]{hint}");
    }
    let text = match raw_of(value) {
        Raw::Str(s) => s,
        Raw::Int { digits, .. } => digits,
        Raw::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    // A uWSGI option by its exact name, then a gunicorn setting (`worker_class`,
    // `preload_app`), then the uWSGI families (`log-*`) and typos.
    let is_uwsgi = uwsgi::UWSGI_OPTIONS.iter().any(|o| o.name == key);
    if !is_uwsgi && let Some(g) = gunicorn::find(&key, &text) {
        return match (g.status, gunicorn::classify(&key, &text)) {
            (_, Verdict::Error(message)) => message,
            (Status::AlwaysOn(why), _) => {
                format!("{name} is a gunicorn setting ebb does not need ({why}); remove it")
            }
            (Status::Unsupported(hint), _) => {
                format!("{name} is a gunicorn setting ebb does not support: {hint}")
            }
            (status, _) => {
                let t = status.target().unwrap_or(g.name);
                format!("{name} is gunicorn's name for {t}: write {t} instead")
            }
        };
    }
    match uwsgi::classify(&key, &text) {
        Verdict::Quiet => {
            format!("{name} is a uWSGI option ebb does not need (always on in ebb); remove it")
        }
        Verdict::Unsupported(hint) => {
            format!("{name} is a uWSGI option ebb does not support: {hint}")
        }
        Verdict::Error(message) => message,
        Verdict::Unknown(_) => match options::suggest(&key, options::names_for(Front::Toml)) {
            Some(s) => format!("unknown key; did you mean {s}?"),
            None => "unknown key (see conf/ebb.toml for every option)".to_string(),
        },
    }
}

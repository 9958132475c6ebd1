//! The options a configuration gave that ebb does not take: warnings, and errors in strict mode.

use crate::config::ConfigError;
use crate::config::compat::{Dialect, Verdict};
use crate::config::source::{Extra, Origin};

/// uWSGI and gunicorn options ebb does not take: one warning line for the uWSGI ones,
/// one per gunicorn option (with what to do instead). In strict mode, as in uWSGI,
/// unknown uWSGI keys and undeclared placeholders are errors (valid uWSGI options ebb does
/// not support stay warnings); gunicorn's unsupported settings are errors.
pub(super) fn report(
    extras: Vec<Extra>,
    placeholders: Vec<Origin>,
    strict: bool,
    files: usize,
    errors: &mut Vec<ConfigError>,
    warnings: &mut Vec<String>,
    typos: &mut Vec<ConfigError>,
) {
    let (uwsgi, gunicorn): (Vec<Extra>, Vec<Extra>) = extras
        .into_iter()
        .partition(|e| e.dialect == Dialect::Uwsgi);
    let mut unsupported: Vec<Extra> = Vec::new();
    for e in uwsgi {
        match (&e.verdict, strict) {
            (Verdict::Unknown(s), true) => errors.push(e.origin.error(match s {
                Some(s) => format!("unknown option (strict mode); did you mean {s}?"),
                None => "unknown option (strict mode): fix the name or remove it".to_string(),
            })),
            (Verdict::Unknown(Some(s)), false) => {
                typos.push(e.origin.error(format!(
                    "unknown option; did you mean {s}? (ignored when ebb starts)"
                )));
                unsupported.push(e);
            }
            _ => unsupported.push(e),
        }
    }
    if strict {
        for o in placeholders {
            errors.push(o.error(
                "not an option (strict mode): uWSGI's strict mode allows no ad hoc \
                 placeholders; declare it with set-placeholder = NAME=VALUE",
            ));
        }
    }
    if !unsupported.is_empty() {
        warnings.push(warning(&unsupported, files));
    }
    for e in &gunicorn {
        if let Verdict::Unsupported(hint) = &e.verdict {
            if strict {
                errors.push(
                    e.origin
                        .error(format!("unsupported gunicorn option (strict mode): {hint}")),
                );
            } else {
                warnings.push(format!(
                    "gunicorn's {} is ignored: {hint} (--strict makes this an error)",
                    e.origin.key()
                ));
            }
        }
    }
}

fn warning(extras: &[Extra], files: usize) -> String {
    let items: Vec<String> = extras
        .iter()
        .map(|e| {
            let place = match &e.origin {
                Origin::File {
                    file,
                    line: Some(l),
                    ..
                } if files > 1 => format!("{}:{l}", file.display()),
                Origin::File { line: Some(l), .. } => format!("line {l}"),
                Origin::File { file, .. } => file.display().to_string(),
                Origin::Env { var } => var.clone(),
                Origin::Cli { flag } => flag.clone(),
            };
            let name = match &e.origin {
                Origin::Cli { .. } | Origin::Env { .. } => e.key.clone(),
                Origin::File { key, .. } => key.clone(),
            };
            match &e.verdict {
                Verdict::Unknown(Some(s)) => {
                    format!("{name} ({place}: unknown option, did you mean {s}?)")
                }
                Verdict::Unknown(None) => format!("{name} ({place}: unknown option)"),
                _ if matches!(e.origin, Origin::Cli { .. }) => place,
                _ => format!("{name} ({place})"),
            }
        })
        .collect();
    format!(
        "unsupported uWSGI options ignored: {} (see docs/uwsgi-compat.md)",
        items.join(", ")
    )
}

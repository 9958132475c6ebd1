//! `UWSGI_<OPTION>` environment variables: `UWSGI_PROCESSES=4`, `UWSGI_HTTP_SOCKET=:8000`.
//!
//! Every option that may be in an ini file may be a variable too (`-` becomes `_`, upper
//! case). `UWSGI_INI` names an ini file to read (handled by the loader). An empty value is
//! a bare flag (`UWSGI_MASTER=` means `master = true`).

use super::compat::Dialect;
use super::options::{self, Front};
use super::source::{Collected, Context, Origin, Setting};
use super::uwsgi;
use super::values::Raw;

/// Variables uWSGI sets for itself (on re-exec, under the Emperor): not options.
const INTERNAL: &[&str] = &["UWSGI_RELOADS", "UWSGI_ORIGINAL_PROC_NAME", "UWSGI_INI"];
const INTERNAL_PREFIXES: &[&str] = &["UWSGI_VASSAL_", "UWSGI_EMPEROR_", "UWSGI_FD_"];

pub(crate) fn collect(ctx: &Context, out: &mut Collected) {
    for (var, value) in &ctx.env {
        let Some(rest) = var.strip_prefix("UWSGI_") else {
            continue;
        };
        if rest.is_empty()
            || INTERNAL.contains(&var.as_str())
            || INTERNAL_PREFIXES.iter().any(|p| var.starts_with(p))
        {
            continue;
        }
        let key = options::normalize_key(rest);
        let origin = Origin::Env { var: var.clone() };
        let raw = if value.is_empty() {
            Raw::Bare
        } else {
            Raw::Str(value.clone())
        };
        match options::lookup(&key, Front::Env) {
            Some(o) => out.push(Setting::new(o.id, raw, origin)),
            None => out.extra(Dialect::Uwsgi, &key, uwsgi::classify(&key, value), origin),
        }
    }
}

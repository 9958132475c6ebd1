//! uWSGI ini files.
//!
//! As uWSGI reads them: options in the `[uwsgi]` section (or `file.ini:section`), one
//! `key = value` per line, a bare `key` meaning true, a repeated key adding a value (for
//! `socket`, `env`...; for single values the last one wins), whole-line comments with `#`
//! or `;` (a `#` later in a line is part of the value, as in uWSGI). Values may use:
//!
//! - magic variables: `%d` the file's directory *with* a trailing slash, `%n` its name
//!   without extension, `%p` its absolute path, `%s` its name, `%e` its extension, `%c` the
//!   name of its directory, `%x`/`%o` the file as named, `%v` ebb's working directory,
//!   `%h` the host name, `%k` the CPU count, `%u`/`%g` ebb's uid/gid, `%%` a `%`;
//! - `$(VAR)`: the environment variable VAR;
//! - `%(key)`: the value of another key in the section, including keys that are not
//!   options (`base = /srv/app` then `chdir = %(base)`).
//!
//! Keys that are not ebb options are classified by [`super::uwsgi`]; keys referred to by
//! `%(key)` are placeholders and never reported.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::compat::Dialect;
use super::load::{Collected, Context, Origin, Setting};
use super::options::{self, Front};
use super::uwsgi;
use super::values::Raw;

/// One `key = value` line of the chosen section, after expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    /// `None` for a bare key.
    pub value: Option<String>,
    pub line: usize,
    /// References left unexpanded: `%(name)` with no such key, `$(VAR)` not set.
    pub unresolved: Vec<String>,
}

/// The chosen section of an ini file.
#[derive(Debug, Default)]
pub(crate) struct Section {
    pub entries: Vec<Entry>,
    /// Keys some value refers to with `%(key)`.
    pub referenced: HashSet<String>,
}

/// Facts the magic variables expand to.
pub(crate) struct Magic<'a> {
    /// The file, absolute.
    pub path: &'a Path,
    /// The file as named.
    pub named: &'a Path,
    pub cwd: &'a Path,
    pub env: &'a BTreeMap<String, String>,
}

/// Parse `text`, keep `section`, expand values. Errs when the section is missing.
pub(crate) fn parse(text: &str, section: &str, magic: &Magic<'_>) -> Result<Section, String> {
    let mut raw: Vec<(String, Option<String>, usize)> = Vec::new();
    let mut current: Option<String> = None;
    let mut found = false;
    let mut sections = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest.strip_suffix(']').unwrap_or(rest).trim().to_string();
            found |= name == section;
            sections.push(name.clone());
            current = Some(name);
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().to_string())),
            None => (line, None),
        };
        raw.push((key.to_string(), value, i + 1));
    }
    if !found {
        let others = if sections.is_empty() {
            "the file has no sections".to_string()
        } else {
            format!("its sections are [{}]", sections.join("], ["))
        };
        return Err(format!(
            "no [{section}] section ({others}): ebb reads [uwsgi], or the section named with \
             FILE.ini:SECTION"
        ));
    }

    // Magic variables, then $(ENV), then %(key), as uWSGI does.
    let mut entries: Vec<Entry> = raw
        .into_iter()
        .map(|(key, value, line)| {
            let mut unresolved = Vec::new();
            let value = value.map(|v| {
                let v = expand_magic(&v, magic);
                expand_refs(
                    &v,
                    '$',
                    &mut |name| magic.env.get(name).cloned(),
                    &mut unresolved,
                )
            });
            Entry {
                key,
                value,
                line,
                unresolved,
            }
        })
        .collect();

    let mut referenced = HashSet::new();
    let values: Vec<(String, Option<String>)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    for e in &mut entries {
        if let Some(v) = &e.value {
            let mut unresolved = Vec::new();
            let mut lookup =
                |name: &str| resolve_key(name, &values, &mut referenced, &mut Vec::new());
            let expanded = expand_refs(v, '%', &mut lookup, &mut unresolved);
            e.value = Some(expanded);
            e.unresolved.extend(unresolved);
        }
    }
    Ok(Section {
        entries,
        referenced,
    })
}

/// The value of `%(name)`: the first value of key `name` (as uWSGI), itself expanded.
fn resolve_key(
    name: &str,
    values: &[(String, Option<String>)],
    referenced: &mut HashSet<String>,
    stack: &mut Vec<String>,
) -> Option<String> {
    let wanted = options::normalize_key(name);
    referenced.insert(wanted.clone());
    if stack.contains(&wanted) || stack.len() > 32 {
        return None;
    }
    let (_, value) = values
        .iter()
        .find(|(k, _)| options::normalize_key(k) == wanted)?;
    let value = value.clone().unwrap_or_else(|| "true".to_string());
    stack.push(wanted);
    let mut ignored = Vec::new();
    let out = expand_refs(
        &value,
        '%',
        &mut |n| resolve_key(n, values, referenced, stack),
        &mut ignored,
    );
    stack.pop();
    Some(out)
}

/// Replace `SYMBOL(name)` with `lookup(name)`; names not found are left as they are and
/// recorded in `unresolved` (as `SYMBOL(name)`).
fn expand_refs(
    value: &str,
    symbol: char,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
    unresolved: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let opener: String = [symbol, '('].iter().collect();
    while let Some(start) = rest.find(&opener) {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        match lookup(name) {
            Some(v) => out.push_str(&v),
            None => {
                let literal = format!("{opener}{name})");
                out.push_str(&literal);
                unresolved.push(literal);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `%d`, `%n`, ... (see the module documentation). Unknown `%X` stay as they are.
fn expand_magic(value: &str, m: &Magic<'_>) -> String {
    if !value.contains('%') {
        return value.to_string();
    }
    let file_name = m
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = m
        .path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = m.path.parent().unwrap_or(Path::new("/"));
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('%');
            break;
        };
        let replacement = match next {
            'd' => {
                let mut d = dir.display().to_string();
                if !d.ends_with('/') {
                    d.push('/');
                }
                Some(d)
            }
            'n' => Some(stem.clone()),
            's' => Some(file_name.clone()),
            'p' => Some(m.path.display().to_string()),
            'e' => Some(
                m.path
                    .extension()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            'c' => Some(
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            'x' | 'o' => Some(m.named.display().to_string()),
            'v' => Some(m.cwd.display().to_string()),
            'h' => Some(hostname(m.env)),
            'k' => Some(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
                    .to_string(),
            ),
            'u' => Some(nix::unistd::getuid().to_string()),
            'g' => Some(nix::unistd::getgid().to_string()),
            '%' => Some("%".to_string()),
            _ => None,
        };
        match replacement {
            Some(r) => {
                out.push_str(&r);
                chars.next();
            }
            None => out.push('%'),
        }
    }
    out
}

/// The host name (`%h`), without needing a libc call.
fn hostname(env: &BTreeMap<String, String>) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| env.get("HOSTNAME").cloned())
        .unwrap_or_default()
}

/// Read section `section` of the ini file `named` (absolute: `path`, in `dir`) into `out`.
pub(crate) fn collect(
    named: &Path,
    path: &Path,
    dir: &Path,
    section: &str,
    text: &str,
    ctx: &Context,
    out: &mut Collected,
) {
    let magic = Magic {
        path,
        named,
        cwd: &ctx.cwd,
        env: &ctx.env,
    };
    let parsed = match parse(text, section, &magic) {
        Ok(p) => p,
        Err(message) => {
            out.file_error(named, None, message);
            return;
        }
    };
    for e in parsed.entries {
        let origin = Origin::File {
            file: named.to_path_buf(),
            dir: dir.to_path_buf(),
            line: Some(e.line),
            key: e.key.clone(),
        };
        let raw = match &e.value {
            Some(v) => Raw::Str(v.clone()),
            None => Raw::Bare,
        };
        let Some(o) = options::lookup(&e.key, Front::Ini) else {
            let key = options::normalize_key(&e.key);
            if parsed.referenced.contains(&key) {
                continue; // a placeholder
            }
            let verdict = uwsgi::classify(&key, e.value.as_deref().unwrap_or(""));
            out.extra(Dialect::Uwsgi, &e.key, verdict, origin);
            continue;
        };
        // uWSGI's request formats are made of %(variables): those that name no key stay as
        // they are, for the format to fill in per request.
        let request_format = matches!(o.id, options::Id::LogFormat | options::Id::Logformat);
        if let Some(first) = e
            .unresolved
            .iter()
            .find(|u| !(request_format && u.starts_with("%(")))
        {
            let message = if let Some(var) = first.strip_prefix("$(") {
                let var = var.trim_end_matches(')');
                format!(
                    "environment variable {var} is not set: set it where ebb starts, or write \
                     the value here"
                )
            } else {
                let name = first.trim_start_matches("%(").trim_end_matches(')');
                format!(
                    "{first} refers to no key: define it in the [{section}] section \
                     ({name} = ...)"
                )
            };
            out.error_at(&origin, message);
            continue;
        }
        out.push(Setting::new(o.id, raw, origin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn magic_for<'a>(path: &'a Path, env: &'a BTreeMap<String, String>) -> Magic<'a> {
        Magic {
            path,
            named: path,
            cwd: Path::new("/home/me"),
            env,
        }
    }

    fn entries(text: &str, section: &str) -> Vec<(String, Option<String>, usize)> {
        let env: BTreeMap<String, String> = [("APP_ENV".to_string(), "prod".to_string())]
            .into_iter()
            .collect();
        let path = PathBuf::from("/srv/app/deploy/site.ini");
        parse(text, section, &magic_for(&path, &env))
            .unwrap()
            .entries
            .into_iter()
            .map(|e| (e.key, e.value, e.line))
            .collect()
    }

    fn kv(k: &str, v: Option<&str>, line: usize) -> (String, Option<String>, usize) {
        (k.to_string(), v.map(str::to_string), line)
    }

    #[test]
    fn sections_comments_bare_keys_and_repeats() {
        let text = "\
top = ignored
[other]
socket = /wrong
[uwsgi]
# a comment
; another
socket = /run/a.sock
socket = /run/b.sock
master
  processes=4  
value = a # not a comment
[prod]
processes = 8
";
        assert_eq!(
            entries(text, "uwsgi"),
            vec![
                kv("socket", Some("/run/a.sock"), 7),
                kv("socket", Some("/run/b.sock"), 8),
                kv("master", None, 9),
                kv("processes", Some("4"), 10),
                kv("value", Some("a # not a comment"), 11),
            ]
        );
        assert_eq!(entries(text, "prod"), vec![kv("processes", Some("8"), 13)]);
    }

    #[test]
    fn magic_env_and_references() {
        let text = "\
[uwsgi]
chdir = %dapp
name = %n
project = %c
base = /srv/%(name)
socket = %(base)/%n.sock
later = %(defined_below)
defined_below = yes
mode = $(APP_ENV)
missing = $(NOT_SET)
dangling = %(nope)
percent = 100%%
literal = %Z
twice = %(base)-%(base)
";
        let got = entries(text, "uwsgi");
        let get = |k: &str| {
            got.iter()
                .find(|(key, _, _)| key == k)
                .and_then(|(_, v, _)| v.clone())
                .unwrap()
        };
        assert_eq!(get("chdir"), "/srv/app/deploy/app");
        assert_eq!(get("name"), "site");
        assert_eq!(get("project"), "deploy");
        assert_eq!(get("base"), "/srv/site");
        assert_eq!(get("socket"), "/srv/site/site.sock");
        assert_eq!(get("later"), "yes");
        assert_eq!(get("mode"), "prod");
        assert_eq!(get("missing"), "$(NOT_SET)");
        assert_eq!(get("dangling"), "%(nope)");
        assert_eq!(get("percent"), "100%");
        assert_eq!(get("literal"), "%Z");
        assert_eq!(get("twice"), "/srv/site-/srv/site");
    }

    #[test]
    fn reference_cycles_stop() {
        let text = "[uwsgi]\na = %(b)\nb = %(a)\n";
        let got = entries(text, "uwsgi");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn missing_section() {
        let env = BTreeMap::new();
        let path = PathBuf::from("/x/app.ini");
        let err = parse("[app]\nsocket = x\n", "uwsgi", &magic_for(&path, &env)).unwrap_err();
        assert!(err.contains("no [uwsgi] section"), "{err}");
        assert!(err.contains("[app]"), "{err}");
    }
}

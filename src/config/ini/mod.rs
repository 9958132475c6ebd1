//! uWSGI ini files.
//!
//! As uWSGI reads them: options in the `[uwsgi]` section (or `file.ini:section`), one
//! `key = value` per line, a bare `key` meaning true, a repeated key adding a value (for
//! `socket`, `env`...; for single values the last one wins), whole-line comments with `#`
//! or `;`, and an inline comment after ` ;` (`max-requests = 1000 ; comment` is 1000; a `#`
//! later in a line is part of the value, as in uWSGI). Values may use:
//!
//! - magic variables: `%d` the file's directory *with* a trailing slash, `%n` its name
//!   without extension, `%p` its absolute path, `%s` its name, `%e` its extension, `%c` the
//!   name of its directory, `%x`/`%o` the file as named, `%v` ebb's working directory,
//!   `%h` the host name, `%k` the CPU count, `%u`/`%g` ebb's uid/gid, `%%` a `%`;
//! - `$(VAR)`: the environment variable VAR; `@(file)`: the file's contents;
//!   `@(exec://command)`: what the command prints (`/bin/sh -c`, as uWSGI);
//! - `%(key)`: the value of another key, including keys that are not options (`base =
//!   /srv/app` then `chdir = %(base)`), or placeholders set with `set-placeholder = k=v`;
//!   `%(a * 2 + 1)`: uWSGI's placeholder math, read left to right ([`expand::math`]).
//!
//! A yes/no word given to a number option (`threads = true`) is what uWSGI's atoi makes
//! of it, 0, raised to the option's least value, with a warning.
//!
//! Other files are read where `ini = file.ini[:section]`, `ini = :section` (this file),
//! `include` or `inherit` appear, and configuration logic is evaluated while reading:
//! `if-env`, `if-exists`, `if-file`, `if-dir`, `if-opt`, `if-hostname` (and `if-not-*`),
//! `else`, `endif`; `for`, `for-glob`, `for-times`, `for-readline`, `endfor`; `%(_)` in a
//! block is the value tested or the loop item ([`read`]).
//!
//! Relative paths are taken from the current directory, as uWSGI takes them (`%d` is
//! the file's directory). Keys that are not ebb options are classified by
//! [`super::uwsgi`]; keys referred to by `%(key)` are placeholders and never reported.

mod expand;
mod read;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::compat::Dialect;
use super::options::{self, Front};
use super::source::{Collected, Context, Origin, Setting};
use super::uwsgi;
use super::values::Raw;
use expand::expand_refs;

/// One `key = value` line of the tree, after expansion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    /// `None` for a bare key.
    pub value: Option<String>,
    /// The file it is in, as named.
    pub file: PathBuf,
    pub line: usize,
    /// References left unexpanded: `%(name)` with no such key, `$(VAR)` not set.
    pub unresolved: Vec<String>,
    /// Why a `%(a * b)` of `unresolved` could not be worked out: (the reference, the reason).
    pub math: Vec<(String, String)>,
    /// Set with `set-placeholder`: never an option.
    pub placeholder: bool,
}

/// The chosen section of an ini file, and what it included.
#[derive(Debug, Default)]
pub(crate) struct Section {
    pub entries: Vec<Entry>,
    /// Keys some value refers to with `%(key)`.
    pub referenced: HashSet<String>,
    /// Problems found while reading: file, line, key, message.
    pub problems: Vec<read::Problem>,
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

/// Read `text` (the file `magic.named`), keep `section`, follow includes and logic, and
/// expand values.
pub(crate) fn parse(text: &str, section: &str, magic: &Magic<'_>) -> Section {
    let mut reader = read::Reader::new(magic.cwd, magic.env);
    reader.read_text(magic.named, magic.path, section, text, None);
    let tree = reader.finish();
    let mut referenced = tree.referenced;
    let mut entries = tree.entries;
    let values: Vec<(String, Option<String>)> = entries
        .iter()
        .map(|e| (e.key.clone(), e.value.clone()))
        .collect();
    for e in &mut entries {
        if let Some(v) = &e.value {
            let mut unresolved = unset_vars(v);
            let mut lookup =
                |name: &str| resolve_key(name, &values, &mut referenced, &mut Vec::new());
            let expanded = expand_refs(v, '%', &mut lookup, &mut unresolved);
            e.value = Some(expanded);
            for u in &unresolved {
                let expr = u.trim_start_matches("%(").trim_end_matches(')');
                if expr.contains(' ') {
                    let mut lookup =
                        |k: &str| resolve_key(k, &values, &mut referenced, &mut Vec::new());
                    if let Err(why) = expand::math(expr, &mut lookup) {
                        e.math.push((u.clone(), why));
                    }
                }
            }
            e.unresolved.extend(unresolved);
        }
    }
    Section {
        entries,
        referenced,
        problems: tree.problems,
    }
}

/// `$(VAR)` left in a value: VAR was not set.
fn unset_vars(v: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(start) = rest.find("$(") {
        let after = &rest[start + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(format!("$({})", &after[..end]));
        rest = &after[end + 1..];
    }
    out
}

/// The value of `%(name)`: the first value of key `name` (as uWSGI), itself expanded; a
/// name with spaces is placeholder math (`%(processes * 2)`, see [`expand::math`]).
pub(crate) fn resolve_key(
    name: &str,
    values: &[(String, Option<String>)],
    referenced: &mut HashSet<String>,
    stack: &mut Vec<String>,
) -> Option<String> {
    if name.contains(' ') {
        return expand::math(name, &mut |k| resolve_key(k, values, referenced, stack)).ok();
    }
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

/// Read section `section` of the ini file `named` (absolute: `path`) and the files it
/// includes into `out`.
pub(crate) fn collect(
    named: &Path,
    path: &Path,
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
    let parsed = parse(text, section, &magic);
    for (file, line, key, message) in parsed.problems {
        out.errors.push(super::ConfigError {
            file: Some(file),
            line,
            key,
            message,
        });
    }
    for e in parsed.entries {
        if !out.files.contains(&e.file) {
            out.files.push(e.file.clone());
        }
        let origin = Origin::File {
            file: e.file.clone(),
            // uWSGI takes relative paths from the current directory (%d is the file's).
            dir: ctx.cwd.clone(),
            line: Some(e.line),
            key: e.key.clone(),
        };
        if e.placeholder || e.key.is_empty() {
            continue;
        }
        let Some(o) = options::lookup(&e.key, Front::Ini) else {
            let key = options::normalize_key(&e.key);
            let verdict = uwsgi::classify(&key, e.value.as_deref().unwrap_or(""));
            if parsed.referenced.contains(&key) {
                // A placeholder; uWSGI's strict mode refuses those that are not declared.
                if matches!(verdict, super::compat::Verdict::Unknown(_)) {
                    out.placeholders.push(origin);
                }
                continue;
            }
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
            } else if let Some((_, why)) = e.math.iter().find(|(u, _)| u == first) {
                format!("{first}: {why}")
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
        let raw = match &e.value {
            // `threads = true`: uWSGI reads a number with atoi, so a yes/no word is 0 there;
            // ebb takes the option's least value (what 0 comes to in uWSGI) and says so.
            Some(v)
                if let options::Ty::Int { min, .. } = o.ty
                    && is_yes_no(strip_hash_comment(v)) =>
            {
                let reads = match min {
                    0 => "uWSGI and ebb read it as 0".to_string(),
                    m => format!("uWSGI reads it as 0, ebb as {m}"),
                };
                out.warnings.push(format!(
                    "{}: {v:?} is not a number; {reads} (write a number to silence this)",
                    origin.describe()
                ));
                Raw::Str(min.to_string())
            }
            // `max-requests = 1000   # per worker`: uWSGI reads the number and ignores the
            // rest (atoi); text and paths keep a `#`, as in uWSGI.
            Some(v) if takes_a_number(o.ty) => Raw::Str(strip_hash_comment(v).to_string()),
            Some(v) => Raw::Str(v.clone()),
            None => Raw::Bare,
        };
        out.push(Setting::new(o.id, raw, origin));
    }
}

/// Options whose value uWSGI reads as a number, a flag or an address.
fn takes_a_number(ty: options::Ty) -> bool {
    use options::Ty;
    matches!(
        ty,
        Ty::Flag
            | Ty::Count
            | Ty::Int { .. }
            | Ty::Duration
            | Ty::SizeMb
            | Ty::Octal
            | Ty::Signal
            | Ty::Address(_)
            | Ty::Choice(_)
    )
}

/// `1000   # comment` → `1000`: a `#` after a space or tab.
/// A yes/no word where uWSGI's atoi wants digits.
fn is_yes_no(v: &str) -> bool {
    ["true", "false", "yes", "no", "on", "off"]
        .iter()
        .any(|w| v.trim().eq_ignore_ascii_case(w))
}

fn strip_hash_comment(v: &str) -> &str {
    let b = v.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return v[..i].trim_end();
        }
    }
    v
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
        let parsed = parse("[app]\nsocket = x\n", "uwsgi", &magic_for(&path, &env));
        let err = &parsed.problems[0].3;
        assert!(err.contains("no [uwsgi] section"), "{err}");
        assert!(err.contains("[app]"), "{err}");
    }

    /// Reads `main.ini` in a temporary directory (the current directory) holding `files`.
    fn tree(files: &[(&str, &str)], env: &[(&str, &str)]) -> Section {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = dir.path().join("main.ini");
        let text = std::fs::read_to_string(&path).unwrap();
        let magic = Magic {
            path: &path,
            named: Path::new("main.ini"),
            cwd: dir.path(),
            env: &env,
        };
        parse(&text, "uwsgi", &magic)
    }

    fn pairs(s: &Section) -> Vec<(String, String)> {
        s.entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn includes_sections_and_inline_comments() {
        let s = tree(
            &[
                (
                    "main.ini",
                    "[uwsgi]\nini = :base\nini = conf/more.ini\ninclude = conf/more.ini:extra\n\
                     max-requests = 1000 ; a comment\nname = @(name.txt)\n[base]\nprocesses = 2\n",
                ),
                (
                    "conf/more.ini",
                    "[uwsgi]\nthreads = 4\n[extra]\nchdir = %(base)/x\nbase = /srv\n",
                ),
                ("name.txt", "site\n"),
            ],
            &[],
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            pairs(&s),
            [
                p("processes", "2"),
                p("threads", "4"),
                p("chdir", "/srv/x"),
                p("base", "/srv"),
                p("max-requests", "1000"),
                p("name", "site"),
            ]
        );
        assert_eq!(s.entries[1].file, PathBuf::from("conf/more.ini"));
        assert_eq!(s.entries[1].line, 2);
    }

    #[test]
    fn exec_reads_a_commands_output_as_uwsgi() {
        // MikroWizard's file: `logto2 = /conf/logs/uwsgi-@(exec://date +%%Y-%%m-%%d).log`.
        let s = tree(
            &[
                (
                    "main.ini",
                    "[uwsgi]\nname = x-@(exec://printf %%s-%%s 4 2).log\nbad = @(exec://exit 3)\n\
                 here = @(exec://cat here.txt)\n",
                ),
                ("here.txt", "from the current directory\n"),
            ],
            &[],
        );
        assert_eq!(pairs(&s)[0], p("name", "x-4-2.log"));
        assert_eq!(pairs(&s)[2], p("here", "from the current directory"));
        let got: Vec<(Option<usize>, &str)> = s
            .problems
            .iter()
            .map(|(_, l, _, m)| (*l, m.as_str()))
            .collect();
        assert_eq!(
            got,
            [(
                Some(3),
                "@(exec://exit 3): the command failed (exit status: 3): fix it or write \
                     the value here"
            ),]
        );
    }

    #[test]
    fn include_problems_name_the_including_line() {
        let s = tree(
            &[
                (
                    "main.ini",
                    "[uwsgi]\nini = nope.ini\nini = :uwsgi\nini = other.ini:x\n",
                ),
                ("other.ini", "[uwsgi]\n"),
            ],
            &[],
        );
        let got: Vec<(Option<usize>, &str)> = s
            .problems
            .iter()
            .map(|(_, l, _, m)| (*l, m.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].1.starts_with("cannot read nope.ini"), "{got:?}");
        assert_eq!(got[0].0, Some(2));
        assert!(got[1].1.contains("includes itself"), "{got:?}");
        assert!(got[2].1.contains("no [x] section"), "{got:?}");
    }

    #[test]
    fn conditionals_and_loops() {
        let s = tree(
            &[
                (
                    "main.ini",
                    "[uwsgi]\n\
                     if-env = APP_ENV\nenv = MODE=%(_)\nendif =\n\
                     if-not-env = MISSING\nmissing = no\nendif\n\
                     if-env = APP_ENV=other\nwrong = 1\nelse =\nright = 1\nendif =\n\
                     if-exists = local.ini\nini = %(_)\nendif =\n\
                     if-file = nothing.ini\nwrong = 2\nendif =\n\
                     if-dir = conf\nif-opt = right\nnested = %(_)\nendif\nendif\n\
                     for = a b\nsocket = /run/%(_).sock\nendfor =\n\
                     for-times = 2\nn = %(_)\nendfor\n\
                     for-glob = conf/*.txt\ng = %(_)\nendfor\n\
                     if-env = NOPE\nunclosed = 1\n",
                ),
                ("local.ini", "[uwsgi]\nlocal = yes\n"),
                ("conf/b.txt", ""),
                ("conf/a.txt", ""),
            ],
            &[("APP_ENV", "prod")],
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            pairs(&s),
            [
                p("env", "MODE=prod"),
                p("missing", "no"),
                p("right", "1"),
                p("local", "yes"),
                p("nested", "1"),
                p("socket", "/run/a.sock"),
                p("socket", "/run/b.sock"),
                p("n", "1"),
                p("n", "2"),
                p("g", "conf/a.txt"),
                p("g", "conf/b.txt"),
            ]
        );
    }

    #[test]
    fn older_spellings_of_conditions() {
        let s = tree(
            &[
                (
                    "main.ini",
                    "[uwsgi]
                 ifenv = APP_ENV
env = MODE=%(_)
endif =
                 ifenv = NOPE
wrong = 1
endif =
                 ifdir = conf
d = 1
endif
                 if-directory = conf
d = 2
endif
                 if-not-directory = conf
wrong = 2
endif
                 ifexists = conf/a.txt
e = %(_)
endif
",
                ),
                ("conf/a.txt", ""),
            ],
            &[("APP_ENV", "prod")],
        );
        assert!(s.problems.is_empty(), "{:?}", s.problems);
        assert_eq!(
            pairs(&s),
            [
                p("env", "MODE=prod"),
                p("d", "1"),
                p("d", "2"),
                p("e", "conf/a.txt")
            ]
        );
    }

    #[test]
    fn placeholders_declared() {
        let s = tree(
            &[(
                "main.ini",
                "[uwsgi]\nset-ph = root=/srv\nchdir = %(root)/app\nset-placeholder = bad\n",
            )],
            &[],
        );
        assert_eq!(s.problems.len(), 1, "{:?}", s.problems);
        assert!(s.entries[0].placeholder);
        assert_eq!(s.entries[1].value.as_deref(), Some("/srv/app"));
    }
}

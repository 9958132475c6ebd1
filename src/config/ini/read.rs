//! Reading an ini tree as uWSGI does: the chosen section of each file, line by line, with
//! includes (`ini`, `include`, `inherit`) and configuration logic (`if-*` ... `endif`,
//! `for*` ... `endfor`) evaluated while reading.
//!
//! Differences from uWSGI, where uWSGI's behaviour is an accident of its implementation:
//! blocks nest (uWSGI lets an inner `if-*` replace the outer one), and `ini = :section`
//! names a section of the file it is written in (uWSGI: of the last file it opened).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::expand::{expand_magic, expand_refs};
use super::{Entry, Magic};
use crate::config::options;
use crate::config::values;

/// How deep includes may go (a file that includes itself is caught before this).
const MAX_DEPTH: usize = 16;
/// How many entries a tree may produce (`for-times = 1000000000` is a mistake).
const MAX_ENTRIES: usize = 100_000;

/// One `key = value` line of a chosen section, after magic variables and `$(VAR)`.
#[derive(Debug, Clone)]
struct Line {
    key: String,
    value: Option<String>,
    line: usize,
}

/// The file a line comes from.
#[derive(Debug, Clone)]
struct FileCtx {
    /// As named (for messages).
    named: PathBuf,
    /// Absolute.
    abs: PathBuf,
}

/// A problem: file as named, line, key (empty for the file itself), message.
pub(crate) type Problem = (PathBuf, Option<usize>, String, String);

/// What reading a tree gives.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub entries: Vec<Entry>,
    /// Keys some value or condition refers to with `%(key)`.
    pub referenced: HashSet<String>,
    pub problems: Vec<Problem>,
}

pub(crate) struct Reader<'a> {
    cwd: &'a Path,
    env: &'a BTreeMap<String, String>,
    tree: Tree,
    /// Files (absolute) and sections being read, for include cycles.
    stack: Vec<(PathBuf, String)>,
}

fn is_end(key: &str) -> bool {
    matches!(key, "end" | "endif" | "end-if" | "endfor" | "end-for")
}

fn is_opener(key: &str) -> bool {
    let key = logic_alias(key);
    key.starts_with("if-") || key == "for" || key.starts_with("for-")
}

/// uWSGI's older spellings of its conditions (`ifenv`, `ifdir`, `if-directory`...).
fn logic_alias(key: &str) -> &str {
    match key {
        "ifenv" => "if-env",
        "ifexists" => "if-exists",
        "ifdir" | "if-directory" => "if-dir",
        "if-not-directory" => "if-not-dir",
        k => k,
    }
}

/// `value ; comment` → `value` (a `;` after a space or tab starts a comment).
pub(crate) fn strip_inline_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b';' && i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return value[..i].trim_end();
        }
    }
    value
}

/// `file.ini:section` → (`file.ini`, Some(`section`)); `:section` → ("", Some(section)).
pub(crate) fn split_section(spec: &str) -> (&str, Option<&str>) {
    match spec.rsplit_once(':') {
        Some((file, section)) if !section.contains('/') && !file.ends_with(':') => {
            (file, (!section.is_empty()).then_some(section))
        }
        _ => (spec, None),
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(cwd: &'a Path, env: &'a BTreeMap<String, String>) -> Reader<'a> {
        Reader {
            cwd,
            env,
            tree: Tree::default(),
            stack: Vec::new(),
        }
    }

    pub(crate) fn finish(self) -> Tree {
        self.tree
    }

    fn problem(&mut self, file: &Path, line: Option<usize>, key: &str, message: String) {
        self.tree
            .problems
            .push((file.to_path_buf(), line, key.to_string(), message));
    }

    /// Read section `section` of the file `named` (absolute `abs`) whose text is `text`.
    /// `from` is the including line, for messages about this file as a whole.
    pub(crate) fn read_text(
        &mut self,
        named: &Path,
        abs: &Path,
        section: &str,
        text: &str,
        from: Option<(&Path, usize, &str)>,
    ) {
        let file = FileCtx {
            named: named.to_path_buf(),
            abs: abs.to_path_buf(),
        };
        let magic = Magic {
            path: abs,
            named,
            cwd: self.cwd,
            env: self.env,
        };
        let mut lines = Vec::new();
        let mut current: Option<String> = None;
        let mut found = false;
        let mut sections: Vec<String> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.strip_suffix(']').unwrap_or(rest).trim().to_string();
                found |= name == section;
                if !sections.contains(&name) {
                    sections.push(name.clone());
                }
                current = Some(name);
                continue;
            }
            if current.as_deref() != Some(section) {
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.trim(), Some(strip_inline_comment(v.trim()))),
                None => (line, None),
            };
            let value = value.map(|v| self.expand_now(v, &magic, &file, i + 1, key));
            lines.push(Line {
                key: key.to_string(),
                value,
                line: i + 1,
            });
        }
        if !found {
            let others = if sections.is_empty() {
                "the file has no sections".to_string()
            } else {
                format!("its sections are [{}]", sections.join("], ["))
            };
            let message = format!(
                "no [{section}] section ({others}): ebb reads [uwsgi], or the section named \
                 with FILE.ini:SECTION"
            );
            match from {
                Some((f, l, k)) => {
                    self.problem(f, Some(l), k, format!("{}: {message}", named.display()))
                }
                None => self.problem(named, None, "", message),
            }
            return;
        }
        self.stack.push((abs.to_path_buf(), section.to_string()));
        self.run(lines, &file, section);
        self.stack.pop();
    }

    /// Magic variables, `$(VAR)` and `@(file)`, which uWSGI expands as it reads.
    fn expand_now(
        &mut self,
        value: &str,
        magic: &Magic<'_>,
        file: &FileCtx,
        line: usize,
        key: &str,
    ) -> String {
        let v = expand_magic(value, magic);
        let mut ignored = Vec::new();
        let v = expand_refs(
            &v,
            '$',
            &mut |name| self.env.get(name).cloned(),
            &mut ignored,
        );
        if !v.contains("@(") {
            return v;
        }
        let mut missing = Vec::new();
        let mut failed: Vec<(String, String)> = Vec::new();
        let cwd = self.cwd;
        let home = self.env.get("HOME").cloned();
        let out = expand_refs(
            &v,
            '@',
            &mut |name| {
                let text = match name.strip_prefix("exec://") {
                    Some(command) => command_output(command, cwd)
                        .map_err(|why| failed.push((format!("@({name})"), why)))
                        .ok()?,
                    None => {
                        let p = values::absolutize(name, cwd, home.as_deref());
                        std::fs::read_to_string(p).ok()?
                    }
                };
                Some(text.trim_end_matches(['\n', '\r']).to_string())
            },
            &mut missing,
        );
        for m in missing {
            let message = match failed.iter().find(|(f, _)| *f == m) {
                Some((_, why)) => format!("{m}: {why}"),
                None => format!(
                    "{m}: cannot read that file (relative paths start from the current directory)"
                ),
            };
            self.problem(&file.named, Some(line), key, message);
        }
        out
    }

    /// Process the lines of one section (or one block's body).
    fn run(&mut self, lines: Vec<Line>, file: &FileCtx, section: &str) {
        let mut i = 0;
        while i < lines.len() {
            let l = &lines[i];
            let key = options::normalize_key(&l.key);
            if is_opener(&key) {
                // The body: up to the matching end, or the end of the section.
                let mut depth = 0usize;
                let mut j = i + 1;
                while j < lines.len() {
                    let k = options::normalize_key(&lines[j].key);
                    if is_opener(&k) {
                        depth += 1;
                    } else if is_end(&k) {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    j += 1;
                }
                let body = lines[i + 1..j.min(lines.len())].to_vec();
                let opener = l.clone();
                self.block(&key, &opener, body, file, section);
                i = j + 1;
                continue;
            }
            if is_end(&key) || key == "else" {
                // Without a block: uWSGI ignores it too.
                i += 1;
                continue;
            }
            self.option(l, file, section);
            i += 1;
        }
    }

    /// One option line outside logic: an include, a placeholder, or an entry.
    fn option(&mut self, l: &Line, file: &FileCtx, section: &str) {
        if self.tree.entries.len() >= MAX_ENTRIES {
            if self.tree.entries.len() == MAX_ENTRIES {
                self.problem(
                    &file.named,
                    Some(l.line),
                    &l.key,
                    format!("more than {MAX_ENTRIES} options: is a for loop too long?"),
                );
                self.tree.entries.push(Entry {
                    key: String::new(),
                    value: None,
                    file: file.named.clone(),
                    line: l.line,
                    unresolved: Vec::new(),
                    math: Vec::new(),
                    placeholder: true,
                });
            }
            return;
        }
        let key = options::normalize_key(&l.key);
        match key.as_str() {
            "ini" | "include" | "inherit" => {
                let spec = l.value.clone().unwrap_or_default();
                self.include(&spec, l, file, section);
            }
            "set-placeholder" | "set-ph" => {
                let v = l.value.clone().unwrap_or_default();
                match v.split_once('=') {
                    Some((name, value)) if !name.trim().is_empty() => {
                        self.tree.entries.push(Entry {
                            key: name.trim().to_string(),
                            value: Some(value.trim().to_string()),
                            file: file.named.clone(),
                            line: l.line,
                            unresolved: Vec::new(),
                            math: Vec::new(),
                            placeholder: true,
                        })
                    }
                    _ => self.problem(
                        &file.named,
                        Some(l.line),
                        &l.key,
                        format!("expected NAME=VALUE, got {v:?}"),
                    ),
                }
            }
            _ => self.tree.entries.push(Entry {
                key: l.key.clone(),
                value: l.value.clone(),
                file: file.named.clone(),
                line: l.line,
                unresolved: Vec::new(),
                math: Vec::new(),
                placeholder: false,
            }),
        }
    }

    fn include(&mut self, spec: &str, l: &Line, file: &FileCtx, section: &str) {
        let spec = self.expand_known(spec.trim());
        let (name, asked) = split_section(&spec);
        let asked = asked.unwrap_or("uwsgi");
        let lower = name.to_ascii_lowercase();
        if lower.contains("://") {
            self.problem(
                &file.named,
                Some(l.line),
                &l.key,
                format!("{spec}: only local files can be included"),
            );
            return;
        }
        if [".xml", ".yaml", ".yml", ".json", ".js", ".toml"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            self.problem(
                &file.named,
                Some(l.line),
                &l.key,
                format!(
                    "{spec}: only ini files can be included here (pass a TOML file with --config)"
                ),
            );
            return;
        }
        let (named, abs) = if name.is_empty() {
            (file.named.clone(), file.abs.clone())
        } else {
            let home = self.env.get("HOME").cloned();
            (
                PathBuf::from(name),
                values::absolutize(name, self.cwd, home.as_deref()),
            )
        };
        if self
            .stack
            .iter()
            .any(|(f, s)| *f == abs && s.as_str() == asked)
            || (name.is_empty() && asked == section)
        {
            self.problem(
                &file.named,
                Some(l.line),
                &l.key,
                format!("[{asked}] of {} includes itself", named.display()),
            );
            return;
        }
        if self.stack.len() >= MAX_DEPTH {
            self.problem(
                &file.named,
                Some(l.line),
                &l.key,
                format!("includes nest more than {MAX_DEPTH} deep"),
            );
            return;
        }
        let text = match std::fs::read_to_string(&abs) {
            Ok(t) => t,
            Err(e) => {
                self.problem(
                    &file.named,
                    Some(l.line),
                    &l.key,
                    format!(
                        "cannot read {}: {e} (relative paths start from the current \
                         directory, {}; write %d for this file's directory)",
                        named.display(),
                        self.cwd.display()
                    ),
                );
                return;
            }
        };
        let from = (file.named.clone(), l.line, l.key.clone());
        self.read_text(&named, &abs, asked, &text, Some((&from.0, from.1, &from.2)));
    }

    /// `%(key)` with what was read so far (for include names and conditions).
    fn expand_known(&mut self, value: &str) -> String {
        if !value.contains("%(") {
            return value.to_string();
        }
        let values: Vec<(String, Option<String>)> = self
            .tree
            .entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        let mut referenced = std::mem::take(&mut self.tree.referenced);
        let mut ignored = Vec::new();
        let out = expand_refs(
            value,
            '%',
            &mut |n| super::resolve_key(n, &values, &mut referenced, &mut Vec::new()),
            &mut ignored,
        );
        self.tree.referenced = referenced;
        out
    }

    /// The first value of `key` read so far, for `if-opt`.
    fn option_value(&self, key: &str) -> Option<String> {
        let k = options::normalize_key(key);
        self.tree
            .entries
            .iter()
            .find(|e| options::normalize_key(&e.key) == k)
            .map(|e| e.value.clone().unwrap_or_else(|| "true".to_string()))
    }

    /// A logic block: `opener` and its `body` (without the end line).
    fn block(&mut self, key: &str, opener: &Line, body: Vec<Line>, file: &FileCtx, section: &str) {
        let arg = self.expand_known(opener.value.as_deref().unwrap_or("").trim());
        let items: Vec<String> = match key {
            "for" => arg.split_whitespace().map(str::to_string).collect(),
            "for-times" => match arg.parse::<u64>() {
                Ok(n) if n as usize <= MAX_ENTRIES => (1..=n).map(|i| i.to_string()).collect(),
                _ => {
                    self.problem(
                        &file.named,
                        Some(opener.line),
                        &opener.key,
                        format!("expected a number of times (at most {MAX_ENTRIES}), got {arg:?}"),
                    );
                    return;
                }
            },
            "for-readline" => {
                let home = self.env.get("HOME").cloned();
                let p = values::absolutize(&arg, self.cwd, home.as_deref());
                match std::fs::read_to_string(&p) {
                    Ok(t) => t.lines().map(str::to_string).collect(),
                    Err(e) => {
                        self.problem(
                            &file.named,
                            Some(opener.line),
                            &opener.key,
                            format!("cannot read {arg}: {e}"),
                        );
                        return;
                    }
                }
            }
            "for-glob" => glob(&arg, self.cwd),
            _ if key.starts_with("for-") => {
                self.problem(
                    &file.named,
                    Some(opener.line),
                    &opener.key,
                    "this loop is not supported: use for, for-glob, for-times or for-readline"
                        .to_string(),
                );
                return;
            }
            _ => {
                if matches!(logic_alias(key), "if-opt" | "if-not-opt") {
                    // A key tested with if-opt is used, as one referred to with %(key) is.
                    let name = arg.split_once('=').map_or(arg.as_str(), |(n, _)| n);
                    self.tree.referenced.insert(options::normalize_key(name));
                }
                let Some(data) = self.condition(key, &arg) else {
                    self.problem(
                        &file.named,
                        Some(opener.line),
                        &opener.key,
                        "this condition is not supported: use if-env, if-exists, if-file, \
                         if-dir, if-opt, if-hostname (or their if-not- forms)"
                            .to_string(),
                    );
                    return;
                };
                // Split at a top-level `else`.
                let mut depth = 0usize;
                let mut split = body.len();
                for (n, l) in body.iter().enumerate() {
                    let k = options::normalize_key(&l.key);
                    if is_opener(&k) {
                        depth += 1;
                    } else if is_end(&k) {
                        depth = depth.saturating_sub(1);
                    } else if k == "else" && depth == 0 {
                        split = n;
                        break;
                    }
                }
                let (then, otherwise) = body.split_at(split);
                match data {
                    Some(d) => self.run(substitute(then, &d), file, section),
                    None => self.run(otherwise.iter().skip(1).cloned().collect(), file, section),
                }
                return;
            }
        };
        for item in items {
            self.run(substitute(&body, &item), file, section);
        }
    }

    /// A condition: `None` when unknown, `Some(None)` when false, `Some(Some(data))` when
    /// true, `data` being what `%(_)` stands for.
    fn condition(&self, key: &str, arg: &str) -> Option<Option<String>> {
        let key = logic_alias(key);
        let (negated, what) = match key.strip_prefix("if-not-") {
            Some(w) => (true, w),
            None => (false, key.strip_prefix("if-")?),
        };
        let home = self.env.get("HOME").cloned();
        let path = || values::absolutize(arg, self.cwd, home.as_deref());
        let (holds, data): (bool, String) = match what {
            "env" | "opt" => {
                let (name, want) = match arg.split_once('=') {
                    Some((n, w)) => (n, Some(w)),
                    None => (arg, None),
                };
                let got = if what == "env" {
                    self.env.get(name).cloned()
                } else {
                    self.option_value(name)
                };
                let holds = match (&got, want) {
                    (Some(g), Some(w)) => g == w,
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                (holds, got.unwrap_or_else(|| arg.to_string()))
            }
            "exists" => (path().exists(), arg.to_string()),
            "file" => (path().is_file(), arg.to_string()),
            "dir" => (path().is_dir(), arg.to_string()),
            "hostname" => (super::expand::hostname(self.env) == arg, arg.to_string()),
            // The Python and HTTP plugins are built in.
            "plugin" => (arg.starts_with("python") || arg == "http", arg.to_string()),
            // ebb reads its configuration afresh on reload: never uWSGI's re-exec.
            "reload" => (false, arg.to_string()),
            _ => return None,
        };
        Some((holds != negated).then_some(data))
    }
}

/// `%(_)` replaced by `data` in the lines of a body that belong to it (not in nested
/// blocks' bodies, which have their own `%(_)`).
fn substitute(body: &[Line], data: &str) -> Vec<Line> {
    let mut depth = 0usize;
    body.iter()
        .map(|l| {
            let k = options::normalize_key(&l.key);
            let mine = depth == 0;
            if is_opener(&k) {
                depth += 1;
            } else if is_end(&k) {
                depth = depth.saturating_sub(1);
            }
            let mut l = l.clone();
            if mine && let Some(v) = &l.value {
                l.value = Some(v.replace("%(_)", data));
            }
            l
        })
        .collect()
}

/// `dir/*.ini`: a `*` or `?` in the last component only (what configs use); sorted.
fn glob(pattern: &str, cwd: &Path) -> Vec<String> {
    let (dir, leaf) = match pattern.rsplit_once('/') {
        Some((d, l)) => (d, l),
        None => ("", pattern),
    };
    if !leaf.contains(['*', '?']) {
        return vec![pattern.to_string()];
    }
    let base = if dir.is_empty() {
        cwd.to_path_buf()
    } else if dir.starts_with('/') {
        PathBuf::from(dir)
    } else {
        cwd.join(dir)
    };
    let mut out: Vec<String> = std::fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.') && wildcard(leaf.as_bytes(), n.as_bytes()))
        .map(|n| {
            if dir.is_empty() {
                n
            } else {
                format!("{dir}/{n}")
            }
        })
        .collect();
    out.sort();
    if out.is_empty() {
        // As glob(3) with GLOB_NOCHECK: the pattern itself.
        out.push(pattern.to_string());
    }
    out
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

/// `@(exec://command)`: what the command prints, as uWSGI reads it (`/bin/sh -c`, from the
/// current directory, stdin closed; stderr goes to ebb's). Fails with what went wrong.
fn command_output(command: &str, cwd: &Path) -> Result<String, String> {
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run /bin/sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the command failed ({}): fix it or write the value here",
            out.status
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "the command printed bytes that are not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_comments_and_sections() {
        assert_eq!(strip_inline_comment("1000 ; comment"), "1000");
        assert_eq!(strip_inline_comment("1000\t; c"), "1000");
        assert_eq!(strip_inline_comment("a;b"), "a;b");
        assert_eq!(strip_inline_comment("a # b"), "a # b");
        assert_eq!(split_section("a.ini:prod"), ("a.ini", Some("prod")));
        assert_eq!(split_section(":prod"), ("", Some("prod")));
        assert_eq!(split_section("a.ini"), ("a.ini", None));
        assert_eq!(split_section("/x/a.ini:"), ("/x/a.ini", None));
        assert_eq!(split_section("http://x/a.ini"), ("http://x/a.ini", None));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.ini", b"a.ini"));
        assert!(!wildcard(b"*.ini", b"a.toml"));
        assert!(wildcard(b"a?c", b"abc"));
        assert!(wildcard(b"*", b""));
    }
}

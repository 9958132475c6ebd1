//! Expansions in ini values: magic variables (`%d`...), `$(VAR)`, `@(file)` and `%(key)`.

use std::collections::BTreeMap;
use std::path::Path;

use super::Magic;

/// Replace `SYMBOL(name)` with `lookup(name)`; names not found are left as they are and
/// recorded in `unresolved` (as `SYMBOL(name)`).
pub(crate) fn expand_refs(
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
pub(crate) fn expand_magic(value: &str, m: &Magic<'_>) -> String {
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
pub(crate) fn hostname(env: &BTreeMap<String, String>) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| env.get("HOSTNAME").cloned())
        .unwrap_or_default()
}

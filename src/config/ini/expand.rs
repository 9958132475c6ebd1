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

/// uWSGI's placeholder math, `%(a * b + 1)`: the words of the name, separated by spaces, read
/// left to right as a pipeline (no precedence, no parentheses): a number or a key's value
/// joins the result (string concatenation, `%(a b)`), or is applied by the operator before it
/// (`+ - * /`, whole numbers; dividing by 0 gives 0, as uWSGI); `++` and `--` add or take one.
/// Where uWSGI reads an unknown key as empty and a word as 0, this says what is wrong.
pub(crate) fn math(
    expr: &str,
    lookup: &mut dyn FnMut(&str) -> Option<String>,
) -> Result<String, String> {
    #[derive(Clone, Copy)]
    enum Op {
        Concat,
        Add,
        Sub,
        Mul,
        Div,
    }
    fn number(v: &str, what: &str) -> Result<i64, String> {
        v.trim()
            .parse()
            .map_err(|_| format!("{what} is {v:?}, not a whole number"))
    }
    if expr.contains('(') || expr.contains(')') {
        return Err(
            "uWSGI's placeholder math has no parentheses: it reads left to right, \
                    so write %(a * 2 + 1) for (a * 2) + 1"
                .to_string(),
        );
    }
    let mut current: Option<String> = None;
    let mut op = Op::Concat;
    for word in expr.split(' ').filter(|w| !w.is_empty()) {
        let value = match word {
            "+" => {
                op = Op::Add;
                continue;
            }
            "-" => {
                op = Op::Sub;
                continue;
            }
            "*" => {
                op = Op::Mul;
                continue;
            }
            "/" => {
                op = Op::Div;
                continue;
            }
            "++" | "--" => {
                if let Some(c) = &current {
                    let n = number(c, "the value before ++/--")?;
                    current = Some((if word == "++" { n + 1 } else { n - 1 }).to_string());
                }
                op = Op::Concat;
                continue;
            }
            w if w.bytes().all(|b| b.is_ascii_digit()) => w.to_string(),
            w => lookup(w).ok_or_else(|| {
                format!("{w:?} is not a number, an operator (+ - * / ++ --) or a key in the file")
            })?,
        };
        current = Some(match op {
            Op::Concat => current.unwrap_or_default() + &value,
            _ => {
                let a = match &current {
                    Some(c) => number(c, "the value before the operator")?,
                    None => 0,
                };
                let b = number(&value, &format!("{word:?}"))?;
                let n = match op {
                    Op::Add => a.checked_add(b),
                    Op::Sub => a.checked_sub(b),
                    Op::Mul => a.checked_mul(b),
                    _ => Some(if b == 0 { 0 } else { a / b }),
                };
                n.ok_or("the result is out of range")?.to_string()
            }
        });
        op = Op::Concat;
    }
    current.ok_or_else(|| "the expression is empty".to_string())
}

#[cfg(test)]
mod tests {
    use super::math;

    #[test]
    fn placeholder_math_reads_left_to_right_as_uwsgi() {
        let mut keys = |k: &str| match k {
            "processes" => Some("2".to_string()),
            "cores" => Some("8".to_string()),
            "name" => Some("app".to_string()),
            _ => None,
        };
        let table: &[(&str, Result<&str, &str>)] = &[
            ("4 * 2", Ok("8")),
            ("4 * 2 + 1", Ok("9")),
            ("processes cores + 2", Ok("30")),
            ("processes ++", Ok("3")),
            ("processes --", Ok("1")),
            ("7 / 2", Ok("3")),
            ("7 / 0", Ok("0")),
            ("1 - 3", Ok("-2")),
            ("name 1", Ok("app1")),
            ("cores  *  2", Ok("16")),
            ("(4 * 2", Err("no parentheses")),
            ("nope + 1", Err("\"nope\" is not a number")),
            ("name + 1", Err("not a whole number")),
            ("9223372036854775807 + 1", Err("out of range")),
        ];
        for (expr, want) in table {
            let got = math(expr, &mut keys);
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{expr}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{expr}: {g}"),
                _ => panic!("{expr}: got {got:?}, want {want:?}"),
            }
        }
    }
}

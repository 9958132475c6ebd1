//! uWSGI's hooks: `hook-PHASE = ACTION:ARG` and `exec-PHASE = CMD` (= `hook-PHASE = exec:CMD`),
//! for the phases ebb has: `asap` (the master, at start, before anything else) and
//! `pre-app` / `post-app` (around the app's import, in the Python worker or its fork server).

use std::path::PathBuf;

use super::model::Config;
use super::options::Id;
use super::values::{self, Raw};

/// One step of a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// `/bin/sh -c CMD`; a non-zero exit fails.
    Exec(String),
    /// Create one directory (an existing one is fine; `exec:mkdir -p` for a tree).
    Mkdir(PathBuf),
    /// Remove one file (it must exist).
    Unlink(PathBuf),
    /// Write the text to the log.
    Print(String),
}

impl Hook {
    /// As written in the ini file: `ACTION:ARG`.
    pub fn line(&self) -> String {
        match self {
            Hook::Exec(c) => format!("exec:{c}"),
            Hook::Mkdir(p) => format!("mkdir:{}", p.display()),
            Hook::Unlink(p) => format!("unlink:{}", p.display()),
            Hook::Print(t) => format!("print:{t}"),
        }
    }
}

/// The variables the Python worker reads its hooks from: one `ACTION:ARG` per line.
pub const PRE_APP_ENV: &str = "EBB_HOOK_PRE_APP";
pub const POST_APP_ENV: &str = "EBB_HOOK_POST_APP";

pub(super) fn apply(id: Id, raw: &Raw, c: &mut Config) -> Result<(), String> {
    let text = values::parse_text(raw, "ACTION:ARG")?;
    let hook = match id {
        Id::ExecAsap | Id::ExecPreApp | Id::ExecPostApp => Hook::Exec(command(&text)?),
        _ => parse(&text)?,
    };
    match id {
        Id::HookAsap | Id::ExecAsap => c.asap_hooks.push(hook),
        // The app's phases run in the Python worker: they reach it in its environment.
        Id::HookPreApp | Id::ExecPreApp => c.layer_env.push((PRE_APP_ENV, hook.line())),
        _ => c.layer_env.push((POST_APP_ENV, hook.line())),
    }
    Ok(())
}

fn command(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("needs a command".to_string());
    }
    Ok(t.to_string())
}

/// `ACTION:ARG`.
fn parse(text: &str) -> Result<Hook, String> {
    let Some((action, arg)) = text.trim().split_once(':') else {
        return Err(format!(
            "{text:?}: write ACTION:ARG, e.g. exec:./manage.py migrate (ebb's actions: exec, \
             mkdir, unlink, print)"
        ));
    };
    let path = || -> Result<PathBuf, String> {
        match arg.trim() {
            "" => Err(format!("{action}: needs a path")),
            p => Ok(PathBuf::from(p)),
        }
    };
    Ok(match action.trim() {
        "exec" => Hook::Exec(command(arg)?),
        "mkdir" => Hook::Mkdir(path()?),
        "unlink" => Hook::Unlink(path()?),
        "print" | "log" => Hook::Print(arg.to_string()),
        other => {
            return Err(format!(
                "hook action {other:?} is not one ebb runs (exec, mkdir, unlink, print): \
                 write it as exec:COMMAND"
            ));
        }
    })
}

/// Run the `asap` hooks in the master, before anything else: the first failure is the error.
pub fn run_asap(hooks: &[Hook]) -> Result<(), String> {
    for h in hooks {
        let failed = |why: String| format!("hook-asap {}: {why}", h.line());
        match h {
            Hook::Exec(cmd) => {
                let status = std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .status()
                    .map_err(|e| failed(format!("cannot run /bin/sh: {e}")))?;
                if !status.success() {
                    return Err(failed(format!("the command failed ({status})")));
                }
            }
            Hook::Mkdir(p) => match std::fs::create_dir(p) {
                Err(e) if !(e.kind() == std::io::ErrorKind::AlreadyExists && p.is_dir()) => {
                    return Err(failed(e.to_string()));
                }
                _ => {}
            },
            Hook::Unlink(p) => std::fs::remove_file(p).map_err(|e| failed(e.to_string()))?,
            Hook::Print(t) => eprintln!("{t}"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_lines() {
        let table: &[(&str, Result<Hook, &str>)] = &[
            (
                "exec:./manage.py migrate",
                Ok(Hook::Exec("./manage.py migrate".into())),
            ),
            ("mkdir:/run/x", Ok(Hook::Mkdir("/run/x".into()))),
            (
                "unlink: /tmp/x.sock",
                Ok(Hook::Unlink("/tmp/x.sock".into())),
            ),
            ("print:hello: world", Ok(Hook::Print("hello: world".into()))),
            ("exec:", Err("needs a command")),
            ("mkdir:", Err("mkdir: needs a path")),
            ("chown:/x", Err("hook action \"chown\" is not one ebb runs")),
            ("./manage.py migrate", Err("write ACTION:ARG")),
        ];
        for (text, want) in table {
            match (parse(text), want) {
                (Ok(h), Ok(w)) => {
                    assert_eq!(&h, w, "{text}");
                    assert_eq!(parse(&h.line()), Ok(h.clone()));
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "{text}: {e}"),
                (got, _) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn asap_runs_in_order_and_stops_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("made");
        let marker = dir.path().join("marker");
        let hooks = [
            Hook::Mkdir(d.clone()),
            Hook::Exec(format!("touch {}", marker.display())),
            Hook::Exec("exit 3".into()),
            Hook::Exec(format!("rm {}", marker.display())),
        ];
        let e = run_asap(&hooks).unwrap_err();
        assert_eq!(
            e,
            "hook-asap exec:exit 3: the command failed (exit status: 3)"
        );
        assert!(d.is_dir() && marker.exists());
        run_asap(&hooks[..1]).unwrap();
        let e = run_asap(&[Hook::Mkdir(marker.clone())]).unwrap_err();
        assert!(
            e.starts_with(&format!("hook-asap mkdir:{}: ", marker.display())),
            "{e}"
        );
    }
}

//! The control socket: its commands, where it lives by default, and the client side used by
//! `ebb status`, `ebb reload`, `ebb stop`, `ebb scale` and `ebb recycle`.
//!
//! Wire format: the client sends one line (`status`, `reload`, `stop`, `stop fast`,
//! `scale N`, `recycle N`), the master answers one JSON document and closes. `status`
//! answers the stats document (see [`super::snapshot::stats_json`]); the others answer
//! `{"ok": true, "message": …}` or `{"ok": false, "error": …}`.
//!
//! Default path: `<dir>/<master pid>.ctl`, where `<dir>` is `$XDG_RUNTIME_DIR/ebb` when
//! `XDG_RUNTIME_DIR` is set, `/run/ebb` as root, else `/tmp/ebb-<uid>`; the directory is
//! made 0700 and must belong to the user. Keyed by pid, two ebbs of one user never collide,
//! and a file left by a killed master is recognised (nobody answers) and removed. A command
//! without `--control` uses the one live socket in `<dir>`, and when several ebbs run it
//! lists them and asks for `--control PATH` or `--pidfile FILE`.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// A command for the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Reload,
    Stop { fast: bool },
    Scale(usize),
    Recycle(usize),
}

impl Command {
    /// Parse one command line. Errors say what is accepted.
    pub fn parse(line: &str) -> Result<Command, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number = |w: Option<&&str>, what: &str| -> Result<usize, String> {
            w.and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| format!("{what} needs a number, like `{what} 2`"))
        };
        match words.as_slice() {
            ["status"] => Ok(Command::Status),
            ["reload"] => Ok(Command::Reload),
            ["stop"] => Ok(Command::Stop { fast: false }),
            ["stop", "fast" | "--fast"] => Ok(Command::Stop { fast: true }),
            ["scale", rest @ ..] if rest.len() <= 1 => {
                number(rest.first(), "scale").map(Command::Scale)
            }
            ["recycle", rest @ ..] if rest.len() <= 1 => {
                number(rest.first(), "recycle").map(Command::Recycle)
            }
            _ => Err(format!(
                "unknown command {:?}: use status, reload, stop, stop fast, scale N or recycle N",
                line.trim()
            )),
        }
    }

    /// The line sent for this command.
    pub fn line(&self) -> String {
        match self {
            Command::Status => "status".into(),
            Command::Reload => "reload".into(),
            Command::Stop { fast: false } => "stop".into(),
            Command::Stop { fast: true } => "stop fast".into(),
            Command::Scale(n) => format!("scale {n}"),
            Command::Recycle(n) => format!("recycle {n}"),
        }
    }
}

/// The directory default control sockets live in (see the module docs).
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && d.is_dir()
    {
        return d.join("ebb");
    }
    let uid = nix::unistd::Uid::effective();
    if uid.is_root() {
        PathBuf::from("/run/ebb")
    } else {
        std::env::temp_dir().join(format!("ebb-{uid}"))
    }
}

/// Create `dir` 0700 if missing; refuse one that another user owns or others may write.
pub fn prepare_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the control directory {}", dir.display()))?;
        // /run/ebb also holds the masters' runtime dirs, which workers of another user
        // (--uid) must traverse: 0755 there (each socket is 0600); 0700 elsewhere.
        let mode = if dir == Path::new("/run/ebb") {
            0o755
        } else {
            0o700
        };
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    let meta = std::fs::metadata(dir)?;
    let me = nix::unistd::Uid::effective().as_raw();
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        bail!(
            "{} belongs to another user or is writable by others: remove it, or give \
             --control PATH in a directory of your own",
            dir.display()
        );
    }
    Ok(())
}

/// Remove the sockets of masters that were killed (nobody answers on them) from `dir`.
pub fn prune_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_some_and(|x| x == "ctl")
            && let Err(err) = UnixStream::connect(&path)
            && err.kind() == std::io::ErrorKind::ConnectionRefused
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The default control path of the master with pid `pid`.
pub fn default_path(pid: u32) -> PathBuf {
    default_dir().join(format!("{pid}.ctl"))
}

/// Which master a command talks to.
pub fn find(control: Option<&Path>, pidfile: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = control {
        return Ok(p.to_path_buf());
    }
    if let Some(f) = pidfile {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("cannot read the pidfile {}", f.display()))?;
        let pid: u32 = text.trim().parse().with_context(|| {
            format!(
                "{} does not hold a pid (it has {:?})",
                f.display(),
                text.trim()
            )
        })?;
        return Ok(default_path(pid));
    }
    let dir = default_dir();
    // Files left by masters that were killed: nobody answers.
    prune_stale(&dir);
    let mut live = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "ctl") && UnixStream::connect(&path).is_ok() {
                live.push(path);
            }
        }
    }
    live.sort();
    match live.len() {
        1 => Ok(live.remove(0)),
        0 => bail!(
            "no running ebb found in {}: is it running as this user? If it was started with \
             --control PATH, pass the same --control PATH",
            dir.display()
        ),
        _ => bail!(
            "{} ebbs are running ({}): choose one with --control PATH or --pidfile FILE",
            live.len(),
            live.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Send `cmd` to the master at `path`; return its JSON answer.
pub fn request(path: &Path, cmd: &Command) -> Result<serde_json::Value> {
    let mut s = UnixStream::connect(path).with_context(|| {
        format!(
            "cannot connect to the control socket {}: is ebb running?",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{}\n", cmd.line()).as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .with_context(|| format!("reading the answer from {}", path.display()))?;
    serde_json::from_slice(&out).with_context(|| {
        format!(
            "the control socket {} answered something that is not JSON",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        let ok: &[(&str, Command)] = &[
            ("status", Command::Status),
            ("reload\n", Command::Reload),
            ("stop", Command::Stop { fast: false }),
            ("stop fast", Command::Stop { fast: true }),
            ("stop --fast", Command::Stop { fast: true }),
            ("scale 3", Command::Scale(3)),
            (" recycle  2 ", Command::Recycle(2)),
        ];
        for (line, want) in ok {
            assert_eq!(Command::parse(line).as_ref(), Ok(want), "{line:?}");
            assert_eq!(Command::parse(&want.line()).as_ref(), Ok(want));
        }
        for bad in [
            "",
            "scale",
            "scale x",
            "recycle -1",
            "frob",
            "stop now",
            "scale 1 2",
        ] {
            let e = Command::parse(bad).unwrap_err();
            assert!(e.contains("scale") || e.contains("recycle"), "{bad:?}: {e}");
        }
    }
}

//! Where a full log file goes when it is rotated (`log-maxsize`): the policy, pure.
//!
//! - Neither option: `FILE.<unix time>` (`.1`, `.2` … added if taken), as uWSGI.
//! - `log-backupname = NAME`: renamed to NAME, replacing the previous one, as uWSGI (only
//!   the main log file: the one `logto`/`logger = file:` names).
//! - `log-backupcount = N` (not a uWSGI option: Python's `RotatingFileHandler` and
//!   logrotate have it): `BASE.1` is the newest, up to `BASE.N`; the oldest is removed.
//!   BASE is `log-backupname` if given, else the file's own name.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Rotate once the file holds this many bytes.
    pub max_size: Option<u64>,
    pub backupname: Option<PathBuf>,
    pub backupcount: Option<u32>,
}

/// One step of a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

fn numbered(base: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", base.display()))
}

/// The steps that rotate `path` at Unix time `now`, in order. `exists` tells which files
/// are there (for the names that must not be taken, and the shifts).
pub fn plan(path: &Path, r: &Rotation, now: i64, exists: impl Fn(&Path) -> bool) -> Vec<Step> {
    if let Some(count) = r.backupcount.filter(|&n| n > 0) {
        let base = r.backupname.as_deref().unwrap_or(path);
        let mut steps = Vec::new();
        let oldest = numbered(base, count);
        if exists(&oldest) {
            steps.push(Step::Remove(oldest));
        }
        for n in (1..count).rev() {
            let from = numbered(base, n);
            if exists(&from) {
                steps.push(Step::Rename(from, numbered(base, n + 1)));
            }
        }
        steps.push(Step::Rename(path.to_path_buf(), numbered(base, 1)));
        return steps;
    }
    if let Some(b) = &r.backupname {
        return vec![Step::Rename(path.to_path_buf(), b.clone())];
    }
    let mut dest = PathBuf::from(format!("{}.{now}", path.display()));
    let mut n = 1;
    while exists(&dest) {
        dest = PathBuf::from(format!("{}.{now}.{n}", path.display()));
        n += 1;
    }
    vec![Step::Rename(path.to_path_buf(), dest)]
}

/// Carry out `steps`; the first error stops it.
pub fn run(steps: &[Step]) -> std::io::Result<()> {
    for s in steps {
        match s {
            Step::Remove(p) => match std::fs::remove_file(p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
            Step::Rename(a, b) => std::fs::rename(a, b)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Step::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn plans() {
        let f = Path::new("/l/app.log");
        let none = Rotation::default();
        let bn = Rotation {
            backupname: Some(p("/l/app.log.old")),
            ..Rotation::default()
        };
        let c3 = Rotation {
            backupcount: Some(3),
            ..Rotation::default()
        };
        let c3bn = Rotation {
            backupcount: Some(3),
            backupname: Some(p("/b/bk")),
            ..Rotation::default()
        };
        let have = |names: &'static [&'static str]| {
            move |q: &Path| names.iter().any(|n| q == Path::new(n))
        };
        type Exists = Box<dyn Fn(&Path) -> bool>;
        let cases: Vec<(&Rotation, Vec<Step>, Exists)> = vec![
            (
                &none,
                vec![Rename(p("/l/app.log"), p("/l/app.log.100"))],
                Box::new(have(&[])),
            ),
            (
                &none,
                vec![Rename(p("/l/app.log"), p("/l/app.log.100.2"))],
                Box::new(have(&["/l/app.log.100", "/l/app.log.100.1"])),
            ),
            (
                &bn,
                vec![Rename(p("/l/app.log"), p("/l/app.log.old"))],
                Box::new(have(&["/l/app.log.old"])),
            ),
            (
                &c3,
                vec![Rename(p("/l/app.log"), p("/l/app.log.1"))],
                Box::new(have(&[])),
            ),
            (
                &c3,
                vec![
                    Rename(p("/l/app.log.1"), p("/l/app.log.2")),
                    Rename(p("/l/app.log"), p("/l/app.log.1")),
                ],
                Box::new(have(&["/l/app.log.1"])),
            ),
            (
                &c3,
                vec![
                    Remove(p("/l/app.log.3")),
                    Rename(p("/l/app.log.2"), p("/l/app.log.3")),
                    Rename(p("/l/app.log.1"), p("/l/app.log.2")),
                    Rename(p("/l/app.log"), p("/l/app.log.1")),
                ],
                Box::new(have(&["/l/app.log.1", "/l/app.log.2", "/l/app.log.3"])),
            ),
            (
                &c3bn,
                vec![Rename(p("/l/app.log"), p("/b/bk.1"))],
                Box::new(have(&[])),
            ),
        ];
        for (r, want, exists) in cases {
            assert_eq!(plan(f, r, 100, exists), want, "{r:?}");
        }
    }
}

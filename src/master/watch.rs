//! Reload triggers from uWSGI files: `fs-reload` (a path that changes) and `py-autoreload`
//! (a file of a module the app imported that changes); and the Python options the master
//! carries out itself (`honour-stdin`, and the variables of `crate::config::python_opts`).
//!
//! uWSGI's py-autoreload polls the mtime of every module in each worker every N seconds.
//! Here the master watches the files with inotify, so a change is seen at once and nothing
//! wakes while nothing changes. The Python side (ebb_worker/autoreload.py) reports which
//! files: the process that imports the app (the fork server, or each worker with lazy-apps)
//! writes the list to `EBB_AUTORELOAD_DIR/<pid>.list` once imported, and each worker writes
//! it again, every N seconds, when it has imported more modules since. A line is
//! `MTIME_NS<TAB>PATH`: the mtime the process saw, so that a file changed between its import
//! and the master reading the list is noticed too. The master reads and removes each list.
//!
//! Either trigger reloads as SIGHUP does (read the configuration again, replace every
//! worker, new before old), and the log says which file changed.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tracing::{info, warn};

use super::Master;
use crate::config::Config;
use crate::policy::Event;

/// Why a reload is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Trigger {
    /// An `fs-reload` path, and the entry in it that changed (for a directory).
    Fs(PathBuf, Option<OsString>),
    /// A module file (`py-autoreload`).
    Module(PathBuf),
}

struct ModuleFile {
    path: PathBuf,
    mtime: Option<SystemTime>,
}

#[derive(Default)]
pub(super) struct Watch {
    inotify: Option<Inotify>,
    /// `fs-reload` paths by their watch.
    fs: HashMap<WatchDescriptor, PathBuf>,
    /// The directory the Python processes write their lists to, and its watch.
    reports: Option<(PathBuf, WatchDescriptor)>,
    /// Module files by their directory's watch, then by name.
    modules: HashMap<WatchDescriptor, HashMap<OsString, ModuleFile>>,
    /// Files never watched: ebb's own Python files (the runtime directory).
    skip: Option<PathBuf>,
    /// A directory that could not be watched was said once.
    warned: bool,
}

/// Anything that changes a file or a directory's entries: uWSGI's fs-reload set, with a
/// write seen when the file is closed (IN_CLOSE_WRITE) rather than at each write
/// (IN_MODIFY), so that `echo > FILE` (a truncation, then a write) reloads once.
fn fs_flags() -> AddWatchFlags {
    AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
}

/// A module file's directory: a file written, touched, or replaced by a rename (editors).
/// Added to what the directory's watch already has (it may be an fs-reload directory too).
fn module_flags() -> AddWatchFlags {
    AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::from_bits_retain(libc::IN_MASK_ADD)
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn nanos(t: Option<SystemTime>) -> Option<u128> {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
}

impl Watch {
    /// Watch `config`'s fs-reload paths, and with py-autoreload, `reports` (created here,
    /// writable by the workers' user `ids`). Nothing to watch: no descriptor.
    pub(super) fn new(config: &Config, rundir: &Path, ids: Option<(u32, u32)>) -> Watch {
        let o = &config.python_opts;
        let autoreload = o.py_autoreload.is_some()
            && matches!(config.command, crate::config::WorkerCommand::Python(_));
        let mut w = Watch {
            skip: Some(rundir.to_path_buf()),
            ..Watch::default()
        };
        if o.fs_reload.is_empty() && !autoreload {
            return w;
        }
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => i,
            Err(e) => {
                warn!("fs-reload and py-autoreload are off: inotify is unavailable ({e})");
                return w;
            }
        };
        for p in &o.fs_reload {
            match inotify.add_watch(p, fs_flags()) {
                Ok(wd) => {
                    w.fs.insert(wd, p.clone());
                }
                Err(e) => warn!(
                    path = %p.display(),
                    "fs-reload: cannot watch {} ({e}); it is not watched: create it, or fix \
                     the path",
                    p.display()
                ),
            }
        }
        if autoreload {
            let dir = reports_dir(rundir);
            match make_reports_dir(&dir, ids).and_then(|()| {
                inotify
                    .add_watch(
                        &dir,
                        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
                    )
                    .with_context(|| format!("watching {}", dir.display()))
            }) {
                Ok(wd) => w.reports = Some((dir, wd)),
                Err(e) => warn!("py-autoreload is off: {e:#}"),
            }
        }
        w.inotify = Some(inotify);
        w
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(|i| i.as_fd())
    }

    /// Read the pending events: the first change that asks for a reload, if any.
    pub(super) fn changed(&mut self) -> Option<Trigger> {
        let inotify = self.inotify.as_ref()?;
        let mut events = Vec::new();
        while let Ok(batch) = inotify.read_events() {
            if batch.is_empty() {
                break;
            }
            events.extend(batch.into_iter().map(|e| (e.wd, e.name)));
        }
        let mut found: Option<Trigger> = None;
        let mut lists: Vec<PathBuf> = Vec::new();
        for (wd, name) in events {
            if let Some(path) = self.fs.get(&wd) {
                found.get_or_insert_with(|| Trigger::Fs(path.clone(), name.clone()));
            }
            if let (Some((dir, rwd)), Some(n)) = (&self.reports, &name)
                && *rwd == wd
                && Path::new(n).extension().is_some_and(|e| e == "list")
            {
                lists.push(dir.join(n));
            }
            if let (Some(files), Some(n)) = (self.modules.get_mut(&wd), &name)
                && let Some(f) = files.get_mut(n)
            {
                let now = mtime(&f.path);
                // A removed file is not a change yet: what replaces it is.
                if now.is_some() && now != f.mtime {
                    f.mtime = now;
                    found.get_or_insert_with(|| Trigger::Module(f.path.clone()));
                }
            }
        }
        lists.sort();
        lists.dedup();
        for list in lists {
            if let Some(stale) = self.read_list(&list) {
                found.get_or_insert(Trigger::Module(stale));
            }
        }
        found
    }

    /// Watch the files a list names (and remove it); a file already changed since the
    /// process imported it is returned.
    fn read_list(&mut self, list: &Path) -> Option<PathBuf> {
        let text = std::fs::read_to_string(list).ok()?;
        let _ = std::fs::remove_file(list);
        let mut stale = None;
        for line in text.lines() {
            let Some((seen, path)) = line.split_once('\t') else {
                continue;
            };
            let path = PathBuf::from(path);
            if !path.is_absolute() || self.skip.as_ref().is_some_and(|s| path.starts_with(s)) {
                continue;
            }
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            if self
                .modules
                .values()
                .any(|files| files.get(name).is_some_and(|f| f.path == path))
            {
                continue;
            }
            let Some(inotify) = &self.inotify else {
                return None;
            };
            let wd = match inotify.add_watch(dir, module_flags()) {
                Ok(wd) => wd,
                Err(e) => {
                    if !self.warned {
                        self.warned = true;
                        warn!(
                            "py-autoreload: cannot watch {} ({e}); its modules are not watched \
                             (raise fs.inotify.max_user_watches if it says no space left)",
                            dir.display()
                        );
                    }
                    continue;
                }
            };
            let now = mtime(&path);
            if stale.is_none() && now.is_some() && seen.parse::<u128>().ok() != nanos(now) {
                stale = Some(path.clone());
            }
            self.modules.entry(wd).or_default().insert(
                name.to_os_string(),
                ModuleFile {
                    path: path.clone(),
                    mtime: now,
                },
            );
        }
        stale
    }
}

/// Where the Python processes write their lists.
fn reports_dir(rundir: &Path) -> PathBuf {
    rundir.join("autoreload")
}

fn make_reports_dir(dir: &Path, ids: Option<(u32, u32)>) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    if let Some((uid, gid)) = ids {
        std::os::unix::fs::chown(dir, Some(uid), Some(gid))
            .with_context(|| format!("chown {}", dir.display()))?;
    }
    Ok(())
}

impl Master {
    /// The workers' stdin: `/dev/null`, as uWSGI gives it, unless `honour-stdin`.
    pub(super) fn workers_stdin(&self) -> Result<Option<File>> {
        if self.config.python_opts.honour_stdin {
            return Ok(None);
        }
        File::open("/dev/null")
            .map(Some)
            .context("opening /dev/null")
    }

    /// What the Python processes read from their environment for these options.
    pub(super) fn python_opts_env(&self) -> Vec<(&'static str, String)> {
        let mut env = self.config.python_opts.worker_env();
        if let Some((dir, _)) = &self.watch.reports {
            env.push(("EBB_AUTORELOAD_DIR", dir.display().to_string()));
        }
        env
    }

    /// After a reload: watch what the new configuration names.
    pub(super) fn rewatch(&mut self, new: &Config) {
        let (old, now) = (&self.config, new);
        if (&old.python_opts.fs_reload, old.python_opts.py_autoreload)
            != (&now.python_opts.fs_reload, now.python_opts.py_autoreload)
        {
            self.watch = Watch::new(new, self.rundir.path(), self.ids);
        }
    }

    /// A watched path or module file changed: reload, as on SIGHUP.
    pub(super) fn on_watch(&mut self, events: &mut Vec<Event>) {
        let Some(trigger) = self.watch.changed() else {
            return;
        };
        let what = match &trigger {
            Trigger::Fs(p, Some(name)) => {
                format!(
                    "{} changed (fs-reload {})",
                    p.join(name).display(),
                    p.display()
                )
            }
            Trigger::Fs(p, None) => format!("{} changed (fs-reload)", p.display()),
            Trigger::Module(p) => format!("{} changed (py-autoreload)", p.display()),
        };
        if self.policy.is_stopping() {
            info!("{what}; ignored: ebb is stopping");
            return;
        }
        info!(event = "watch-reload", "{what}: reloading");
        if let Ok(e) = self.reload() {
            events.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fs: Vec<PathBuf>, autoreload: bool) -> Config {
        let mut c = Config {
            command: crate::config::WorkerCommand::Python(Default::default()),
            ..Config::default()
        };
        c.python_opts.fs_reload = fs;
        c.python_opts.py_autoreload = autoreload.then_some(1);
        c
    }

    fn settle(w: &mut Watch) {
        // Events from setting up (none expected) are drained.
        let _ = w.changed();
    }

    #[test]
    fn nothing_to_watch_no_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let w = Watch::new(&config(vec![], false), dir.path(), None);
        assert!(w.fd().is_none());
    }

    #[test]
    fn fs_reload_directory_entries_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let watched = dir.path().join("deploy");
        std::fs::create_dir(&watched).unwrap();
        let file = dir.path().join("reload.txt");
        std::fs::write(&file, "1").unwrap();
        let run = tempfile::tempdir().unwrap();
        let mut w = Watch::new(
            &config(vec![watched.clone(), file.clone()], false),
            run.path(),
            None,
        );
        settle(&mut w);
        assert_eq!(w.changed(), None);
        std::fs::write(watched.join("new"), "x").unwrap();
        assert_eq!(
            w.changed(),
            Some(Trigger::Fs(watched.clone(), Some("new".into())))
        );
        std::fs::remove_file(watched.join("new")).unwrap();
        assert!(matches!(w.changed(), Some(Trigger::Fs(p, _)) if p == watched));
        std::fs::write(&file, "2").unwrap();
        assert_eq!(w.changed(), Some(Trigger::Fs(file.clone(), None)));
    }

    #[test]
    fn module_lists_are_read_and_their_files_watched() {
        let src = tempfile::tempdir().unwrap();
        let a = src.path().join("a.py");
        let b = src.path().join("b.py");
        std::fs::write(&a, "x = 1\n").unwrap();
        std::fs::write(&b, "y = 1\n").unwrap();
        let run = tempfile::tempdir().unwrap();
        let own = run.path().join("python/ebb_worker/main.py");
        let mut w = Watch::new(&config(vec![], true), run.path(), None);
        let reports = reports_dir(run.path());
        let seen = |p: &Path| nanos(mtime(p)).unwrap();
        let list = format!(
            "{}\t{}\n{}\t{}\n0\t{}\n0\trelative.py\n",
            seen(&a),
            a.display(),
            seen(&b),
            b.display(),
            own.display()
        );
        std::fs::write(reports.join("7.tmp"), list).unwrap();
        std::fs::rename(reports.join("7.tmp"), reports.join("7.list")).unwrap();
        assert_eq!(w.changed(), None, "an up-to-date list starts watching");
        assert!(!reports.join("7.list").exists(), "the list is removed");
        // A write to another file in the directory is not a change of a module.
        std::fs::write(src.path().join("notes.txt"), "n").unwrap();
        assert_eq!(w.changed(), None);
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&b, "y = 2\n").unwrap();
        assert_eq!(w.changed(), Some(Trigger::Module(b.clone())));
        // A list whose mtime is older than the file's: changed since the import.
        let c = src.path().join("c.py");
        std::fs::write(&c, "z = 1\n").unwrap();
        std::fs::write(reports.join("8.list"), format!("1\t{}\n", c.display())).unwrap();
        assert_eq!(w.changed(), Some(Trigger::Module(c)));
    }
}

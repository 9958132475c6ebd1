//! `touch-reload` and `touch-workers-reload`: a reload when a file's modification time changes.
//!
//! uWSGI polls these files; ebb watches their directories with inotify, so there is no wake-up
//! while nothing changes, and a file that does not exist yet, or that an editor or a deploy
//! replaces by renaming, is still seen. An event only counts when the file's mtime differs from
//! the one last seen (other files in the same directory wake the loop, nothing more).

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tracing::warn;

/// What a touched file asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Touch {
    /// Read the configuration again and replace every worker (SIGHUP).
    Reload,
    /// Replace every worker with the configuration in force.
    Workers,
}

struct Watched {
    path: PathBuf,
    name: OsString,
    touch: Touch,
    mtime: Option<SystemTime>,
}

pub(super) struct TouchWatch {
    inotify: Option<Inotify>,
    dirs: HashMap<WatchDescriptor, Vec<Watched>>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl TouchWatch {
    /// Watch `reload` and `workers` files (empty lists: nothing is watched, no descriptor).
    pub(super) fn new(reload: &[PathBuf], workers: &[PathBuf]) -> TouchWatch {
        let mut w = TouchWatch {
            inotify: None,
            dirs: HashMap::new(),
        };
        let files: Vec<(&PathBuf, Touch)> = reload
            .iter()
            .map(|p| (p, Touch::Reload))
            .chain(workers.iter().map(|p| (p, Touch::Workers)))
            .collect();
        if files.is_empty() {
            return w;
        }
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(i) => i,
            Err(e) => {
                warn!("touch-reload files are not watched: inotify is unavailable ({e})");
                return w;
            }
        };
        // Not IN_CREATE: a file created and then touched (`touch NEW`, or open + utimes) would
        // count twice, once with its creation time and once with the time set; the
        // IN_ATTRIB or IN_CLOSE_WRITE that follows a creation is enough.
        let flags =
            AddWatchFlags::IN_ATTRIB | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MOVED_TO;
        for (path, touch) in files {
            let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                warn!(path = %path.display(), "touch-reload: not a file path; ignored");
                continue;
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            match inotify.add_watch(dir, flags) {
                Ok(wd) => w.dirs.entry(wd).or_default().push(Watched {
                    path: path.clone(),
                    name: name.to_os_string(),
                    touch,
                    mtime: mtime(path),
                }),
                Err(e) => warn!(
                    path = %path.display(),
                    "touch-reload: cannot watch {} ({e}); create the directory, or fix the path",
                    dir.display()
                ),
            }
        }
        if !w.dirs.is_empty() {
            w.inotify = Some(inotify);
        }
        w
    }

    pub(super) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.inotify.as_ref().map(|i| i.as_fd())
    }

    /// Read the pending events: what the files whose mtime changed ask for (a reload wins
    /// over a workers reload; each at most once per call).
    pub(super) fn touched(&mut self) -> Option<(Touch, PathBuf)> {
        let inotify = self.inotify.as_ref()?;
        let mut names: Vec<(WatchDescriptor, OsString)> = Vec::new();
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            names.extend(events.into_iter().filter_map(|e| e.name.map(|n| (e.wd, n))));
        }
        let mut found: Option<(Touch, PathBuf)> = None;
        for (wd, name) in names {
            let Some(files) = self.dirs.get_mut(&wd) else {
                continue;
            };
            for f in files.iter_mut().filter(|f| f.name == name) {
                let now = mtime(&f.path);
                if now.is_none() || now == f.mtime {
                    continue;
                }
                f.mtime = now;
                if found.as_ref().is_none_or(|(t, _)| *t == Touch::Workers) {
                    found = Some((f.touch, f.path.clone()));
                }
            }
        }
        found
    }
}

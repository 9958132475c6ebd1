//! The master's private runtime directory: the workers' notify sockets and the Python files.
//!
//! Tmp cleaners remove old files under /tmp, and a long-running master must survive that. So
//! the directory goes where cleaners do not go when it can (`$XDG_RUNTIME_DIR`, or `/run/ebb`
//! when ebb runs as root), and it is watched with inotify (no polling, no wake-ups while
//! nothing happens): when it or a file in it is removed, the master puts it back at once.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tracing::warn;

use crate::embedded::{python_files_present, write_python_files};

pub(super) struct RunDir {
    dir: tempfile::TempDir,
    mode: u32,
    ids: Option<(u32, u32)>,
    watch: Option<Inotify>,
}

/// Where the private runtime directory goes: `$XDG_RUNTIME_DIR` when usable, `/run/ebb` when
/// running as root, else the temporary directory.
fn base() -> PathBuf {
    if let Some(p) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && p.is_dir()
    {
        return p;
    }
    if nix::unistd::Uid::effective().is_root() {
        let run = PathBuf::from("/run/ebb");
        if std::fs::DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(&run)
            .is_ok()
        {
            return run;
        }
    }
    std::env::temp_dir()
}

impl RunDir {
    /// Create the directory, private to the master: `0700`, or `0711` (traversable, not
    /// listable) when workers run as another user and reach their socket and the Python files
    /// by path.
    pub(super) fn create(ids: Option<(u32, u32)>) -> Result<RunDir> {
        let base = base();
        let dir = tempfile::Builder::new()
            .prefix("ebb-")
            .tempdir_in(&base)
            .with_context(|| {
                format!(
                    "creating the private runtime directory in {} (set XDG_RUNTIME_DIR to a \
                     writable directory)",
                    base.display()
                )
            })?;
        let mode = if ids.is_some() { 0o711 } else { 0o700 };
        let mut rd = RunDir {
            dir,
            mode,
            ids,
            watch: None,
        };
        rd.populate()?;
        rd.rewatch();
        Ok(rd)
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The inotify descriptor to poll, if watching works here.
    pub(super) fn watch_fd(&self) -> Option<BorrowedFd<'_>> {
        self.watch.as_ref().map(|w| w.as_fd())
    }

    /// Read the pending inotify events (the descriptor is non-blocking).
    pub(super) fn drain_events(&mut self) {
        if let Some(w) = &self.watch {
            while let Ok(events) = w.read_events() {
                if events.is_empty() {
                    break;
                }
            }
        }
    }

    /// Put the directory and the Python files back if something removed them. Returns whether
    /// anything had to be recreated (the caller then rebinds the notify sockets that are gone).
    pub(super) fn repair(&mut self) -> Result<bool> {
        let path = self.path().to_path_buf();
        let dir_gone = !path.is_dir();
        let files_gone = !python_files_present(&path);
        if !dir_gone && !files_gone {
            return Ok(false);
        }
        if dir_gone {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(self.mode)
                .create(&path)
                .with_context(|| {
                    format!(
                        "recreating the runtime directory {} (something removed it)",
                        path.display()
                    )
                })?;
        }
        self.populate()?;
        self.rewatch();
        warn!(
            path = %path.display(),
            "{} removed (a tmp cleaner?): recreated",
            if dir_gone {
                "the runtime directory was"
            } else {
                "files in the runtime directory were"
            }
        );
        Ok(true)
    }

    fn populate(&mut self) -> Result<()> {
        let path = self.path();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(self.mode))
            .with_context(|| format!("chmod {}", path.display()))?;
        write_python_files(path)
            .with_context(|| format!("writing the Python worker to {}", path.display()))?;
        if let Some((uid, gid)) = self.ids {
            // Workers of another user may write Python's bytecode cache next to the worker.
            let py = path.join("python");
            std::os::unix::fs::chown(&py, Some(uid), Some(gid))
                .with_context(|| format!("chown {}", py.display()))?;
        }
        Ok(())
    }

    /// (Re)start watching: after the directory was removed its old watch is gone.
    fn rewatch(&mut self) {
        let flags = AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM;
        let path = self.path().to_path_buf();
        let watch = self.watch.take().or_else(|| {
            Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
                .map_err(|e| warn!("inotify unavailable ({e}): a removed runtime directory is noticed only at the next worker start"))
                .ok()
        });
        self.watch = watch.and_then(|w| match w.add_watch(&path, flags) {
            Ok(_) => Some(w),
            Err(e) => {
                warn!(path = %path.display(), "cannot watch the runtime directory: {e}");
                None
            }
        });
    }
}

//! What the master sets up once: the user to run workers as, log files, the runtime dir.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tracing::warn;

use crate::config::Config;

pub(super) fn resolve_ids(config: &Config) -> Result<Option<(u32, u32)>> {
    if config.uid.is_none() && config.gid.is_none() {
        return Ok(None);
    }
    if !nix::unistd::Uid::effective().is_root() {
        warn!("--uid/--gid ignored: ebb is not running as root");
        return Ok(None);
    }
    let user = match &config.uid {
        None => None,
        Some(u) => Some(match u.parse::<u32>() {
            Ok(n) => nix::unistd::User::from_uid(n.into())?
                .with_context(|| format!("--uid {u}: no such user"))?,
            Err(_) => nix::unistd::User::from_name(u)?
                .with_context(|| format!("--uid {u}: no such user"))?,
        }),
    };
    let gid = match &config.gid {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => nix::unistd::Group::from_name(g)?
                .with_context(|| format!("--gid {g}: no such group"))?
                .gid
                .as_raw(),
        },
        None => user.as_ref().map_or(0, |u| u.gid.as_raw()),
    };
    let uid = user.map_or(0, |u| u.uid.as_raw());
    Ok(Some((uid, gid)))
}

pub(super) fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))
}

/// Where the private runtime directory goes: `$XDG_RUNTIME_DIR` when usable, else the
/// temporary directory.
pub(super) fn runtime_base() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

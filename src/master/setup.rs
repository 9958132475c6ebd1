//! What the master sets up once: the user to run workers as, log files, the runtime dir.

use std::fs::{File, OpenOptions};
use std::path::Path;

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

/// Below this many open files a worker runs out of descriptors for connections quickly.
const FEW_FILES: u64 = 4096;

/// Raise the soft open-files limit to the hard one (workers inherit it): a soft limit of 1024,
/// or 64 in some containers, caps how many connections a worker can hold. Warn when even the
/// hard limit is low.
pub(super) fn raise_nofile_limit(max_fd: Option<u64>) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(());
    };
    if let Some(want) = max_fd.filter(|&n| n > hard) {
        // Above the hard limit: only root may, as with uWSGI's max-fd.
        setrlimit(Resource::RLIMIT_NOFILE, want, want).map_err(|e| {
            anyhow::anyhow!(
                "max-fd {want}: cannot raise the open-files limit above its hard limit {hard} \
                 ({e}): start ebb as root, or raise it where ebb starts (LimitNOFILE= in a \
                 systemd unit, ulimit -Hn)"
            )
        })?;
        return Ok(());
    }
    // RLIM_INFINITY as the hard limit: the kernel still caps at fs.nr_open; stay reasonable.
    // max-fd is the limit asked for (higher or lower); without it, the most we may have.
    let target = max_fd.unwrap_or(hard.min(1 << 20));
    let now = if (target > soft || max_fd.is_some())
        && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok()
    {
        target
    } else {
        soft
    };
    if now < FEW_FILES {
        warn!(
            limit = now,
            "the open-files limit is {now}: each worker can hold about {} connections; raise it \
             (ulimit -n, or LimitNOFILE= in a systemd unit)",
            now.saturating_sub(16)
        );
    }
    Ok(())
}

/// `chmod-socket` and `chown-socket` for the Unix sockets ebb creates; names are looked up
/// now, so a user that does not exist is one clear error at start (or at reload).
pub(super) fn unix_perms(config: &Config) -> Result<crate::sockets::UnixPerms> {
    let owner = match &config.chown_socket {
        None => None,
        Some(spec) => {
            let (user, group) = match spec.split_once(':') {
                Some((u, g)) => (u, Some(g)),
                None => (spec.as_str(), None),
            };
            let uid = match user {
                "" => None,
                u => Some(match u.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => nix::unistd::User::from_name(u)?
                        .with_context(|| format!("chown-socket {spec}: no such user {u}"))?
                        .uid
                        .as_raw(),
                }),
            };
            let gid = match group {
                None | Some("") => None,
                Some(g) => Some(match g.parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => nix::unistd::Group::from_name(g)?
                        .with_context(|| format!("chown-socket {spec}: no such group {g}"))?
                        .gid
                        .as_raw(),
                }),
            };
            Some((uid, gid))
        }
    };
    Ok(crate::sockets::UnixPerms {
        mode: config.chmod_socket,
        owner,
    })
}

//! Starting worker processes: fork + execve with everything prepared beforehand.
//!
//! This is the one module with `unsafe`. Between `fork` and `execve` the child runs only
//! async-signal-safe libc calls on memory prepared before the fork: no allocation, no
//! locks, no logging, no panics. What cannot be known before the fork — the child's own pid
//! for `LISTEN_PID` — is written into a buffer reserved for it.
//!
//! A close-on-exec pipe reports an exec failure back to the parent, so "python3: not found"
//! is an error in the master's log, not a silent exit code 127.

use std::ffi::{CString, OsStr};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The reserved room for the decimal pid in `LISTEN_PID=`.
const PID_DIGITS: usize = 20;
/// The most listening sockets a worker can be given.
pub const MAX_LISTEN_FDS: usize = 64;
/// The most fds placed after the record fd.
const MAX_AFTER_FDS: usize = 4;
const LISTEN_PID_KEY: &[u8] = b"LISTEN_PID=";

/// Everything the child needs, built before the fork.
pub struct Prepared {
    path: CString,
    argv: Vec<CString>,
    /// The environment; one entry is `LISTEN_PID=` followed by [`PID_DIGITS`] NULs.
    env: Vec<Vec<u8>>,
    listen_pid_index: Option<usize>,
    listen_fds: Vec<RawFd>,
    output: Option<Output>,
    after: Vec<RawFd>,
    chdir: Option<CString>,
    ids: Option<(libc::uid_t, libc::gid_t)>,
    death_signal: libc::c_int,
    master_pid: libc::pid_t,
    stdin: Option<RawFd>,
}

/// Where a worker's output goes: the write ends of the master's log pipes, to become its
/// fd 1, fd 2 and the record fd (`EBB_LOG_FD`, right after the listening sockets).
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub records: RawFd,
}

/// What to start.
pub struct Command<'a> {
    /// `argv[0]` (searched in `PATH` when it has no `/`) and its arguments.
    pub argv: &'a [String],
    /// The complete environment (the caller strips inherited `LISTEN_*`/`NOTIFY_SOCKET`).
    pub env: &'a [(String, String)],
    /// Listening sockets, to become fds 3, 4, … in the child.
    pub listen_fds: &'a [RawFd],
    /// The log pipes; `None` leaves fds 1 and 2 as the master's.
    pub output: Option<Output>,
    /// More fds, placed right after the record fd (the fork server's channel); only with
    /// `output`.
    pub after: &'a [RawFd],
    /// Set `LISTEN_PID` to the child's pid (when `listen_fds` is not empty).
    pub chdir: Option<&'a Path>,
    /// User and group to switch to (when the master runs as root).
    pub ids: Option<(u32, u32)>,
    /// Delivered to the child if the master dies (`PR_SET_PDEATHSIG`).
    pub death_signal: i32,
    /// An fd to become the child's stdin (`/dev/null` for workers); `None` keeps the
    /// master's (`honour-stdin`).
    pub stdin: Option<RawFd>,
}

/// Find `name` in `PATH` the way a shell would (before forking: this allocates).
pub fn resolve_program(name: &str) -> Result<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        if !p.exists() {
            bail!("worker program {name} does not exist");
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(name);
        if let Ok(meta) = candidate.metadata() {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    bail!("worker program {name:?} was not found in PATH; give its full path or install it")
}

fn cstring(s: &[u8], what: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("{what} contains a NUL byte"))
}

impl Prepared {
    pub fn new(cmd: &Command<'_>) -> Result<Prepared> {
        let first = cmd.argv.first().context("empty worker command")?;
        if cmd.listen_fds.len() > MAX_LISTEN_FDS {
            bail!("at most {MAX_LISTEN_FDS} listening sockets are supported");
        }
        if cmd.after.len() > MAX_AFTER_FDS || (!cmd.after.is_empty() && cmd.output.is_none()) {
            bail!("at most {MAX_AFTER_FDS} fds after the record fd, and only with log pipes");
        }
        let path = resolve_program(first)?;
        let path = cstring(path.as_os_str().as_bytes(), "worker program path")?;
        let argv = cmd
            .argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "a worker argument"))
            .collect::<Result<Vec<_>>>()?;
        let mut env = Vec::with_capacity(cmd.env.len() + 1);
        for (k, v) in cmd.env {
            let mut e = Vec::with_capacity(k.len() + v.len() + 2);
            e.extend_from_slice(k.as_bytes());
            e.push(b'=');
            e.extend_from_slice(v.as_bytes());
            if e.contains(&0) {
                bail!("environment variable {k} contains a NUL byte");
            }
            e.push(0);
            env.push(e);
        }
        let listen_pid_index = if cmd.listen_fds.is_empty() {
            None
        } else {
            let mut e = LISTEN_PID_KEY.to_vec();
            e.resize(LISTEN_PID_KEY.len() + PID_DIGITS + 1, 0);
            env.push(e);
            Some(env.len() - 1)
        };
        let chdir = cmd
            .chdir
            .map(|d| cstring(OsStr::as_bytes(d.as_os_str()), "chdir path"))
            .transpose()?;
        Ok(Prepared {
            path,
            argv,
            env,
            listen_pid_index,
            listen_fds: cmd.listen_fds.to_vec(),
            output: cmd.output,
            after: cmd.after.to_vec(),
            chdir,
            ids: cmd.ids,
            death_signal: cmd.death_signal,
            master_pid: std::process::id() as libc::pid_t,
            stdin: cmd.stdin,
        })
    }

    /// Fork and exec. Returns the child's pid once the exec succeeded, or the reason it
    /// failed (read from the child through a close-on-exec pipe).
    pub fn spawn(&mut self) -> Result<i32> {
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self
            .env
            .iter()
            .map(|e| e.as_ptr() as *const libc::c_char)
            .collect();
        envp.push(std::ptr::null());
        let pid_slot: *mut u8 = match self.listen_pid_index {
            // SAFETY: the entry was sized to hold the key, PID_DIGITS digits and a NUL.
            Some(i) => unsafe { self.env[i].as_mut_ptr().add(LISTEN_PID_KEY.len()) },
            None => std::ptr::null_mut(),
        };
        // Where each listening socket (and log pipe) goes first: above every fd the child
        // will use, so that the final dup2 never has old == new (which would keep
        // FD_CLOEXEC set).
        let n = self.listen_fds.len() as RawFd;
        let high_base: RawFd = 4 + n + self.after.len() as RawFd;

        let (err_r, err_w) = cloexec_pipe().context("creating the exec status pipe")?;
        let err_w_fd = err_w.as_raw_fd();

        // SAFETY: the child only calls async-signal-safe functions (listed in child_setup)
        // on memory prepared before the fork, then execs or _exits; it never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error()).context("fork failed");
        }
        if pid == 0 {
            // SAFETY: we are the child of a fork; see child_setup's contract.
            unsafe {
                child_setup(ChildArgs {
                    path: self.path.as_ptr(),
                    argv: argv.as_ptr(),
                    envp: envp.as_ptr(),
                    pid_slot,
                    listen_fds: &self.listen_fds,
                    output: self.output,
                    after: &self.after,
                    high_base,
                    chdir: self.chdir.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
                    ids: self.ids,
                    death_signal: self.death_signal,
                    master_pid: self.master_pid,
                    stdin: self.stdin,
                    err_fd: err_w_fd,
                })
            }
        }
        drop(err_w);
        let mut buf = [0u8; 8];
        let mut file = std::fs::File::from(err_r);
        let mut got = 0;
        loop {
            match file.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(k) => {
                    got += k;
                    if got == buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading the exec status pipe"),
            }
        }
        if got == 0 {
            return Ok(pid);
        }
        // The child failed before or at exec; it has _exited. Reap it here so the loop
        // never sees an unknown pid.
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let err = io::Error::from_raw_os_error(errno);
        let what = match stage {
            STAGE_CHDIR => "changing directory",
            STAGE_IDS => "switching user/group",
            STAGE_FDS => "passing the listening sockets",
            STAGE_PARENT_GONE => "starting (the master exited meanwhile)",
            _ => "executing",
        };
        // The errno stays in the chain (a caller tells EMFILE from the rest).
        Err(err).with_context(|| format!("{what} for {:?} failed", self.path))
    }
}

/// `daemonize`: fork into the background and start a new session; the parent exits 0 at
/// once. Call only while the process has one thread (before logging starts): the child
/// goes on running Rust code after the fork. stdin becomes /dev/null; stdout and stderr
/// are pointed at the log file by the log writer afterwards.
pub fn daemonize() -> Result<()> {
    let devnull = std::fs::File::open("/dev/null").context("opening /dev/null")?;
    // SAFETY: the process is single-threaded here (the caller's contract), so the child is
    // a complete copy and may run any code.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error()).context("fork failed (daemonize)");
    }
    if pid > 0 {
        // SAFETY: _exit ends the parent without running destructors or atexit handlers
        // that belong to the child now.
        unsafe { libc::_exit(0) };
    }
    nix::unistd::setsid().context("setsid (daemonize)")?;
    nix::unistd::dup2_stdin(&devnull).context("stdin to /dev/null (daemonize)")?;
    Ok(())
}

/// Take ownership of an fd inherited from our own parent (systemd socket activation, or a
/// worker's `EBB_LOG_FD`). The caller checked that `fd` is open and that nothing else in
/// the process owns it.
pub fn adopt_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: per the contract above, the fd is open and has no other owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Borrow an inherited fd for the time of a check (`fstat`) before adopting it.
pub fn borrow_fd(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: used only on fds 3.. passed by systemd or the master (EBB_LOG_FD), which stay
    // open until adopted.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}

/// The local time's offset from UTC at `t` (Unix seconds), in seconds, as the C library
/// reads the time zone (`TZ`, `/etc/localtime`); 0 when it cannot tell. For cron entries,
/// which are in local time as in uWSGI.
pub fn utc_offset(t: i64) -> i64 {
    let tt = t as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value (integers and a null zone pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `tt` and writes only into `tm`, both valid and ours; it is
    // the reentrant form, and the master calls it from its one thread.
    let r = unsafe { libc::localtime_r(&tt, &mut tm) };
    if r.is_null() { 0 } else { tm.tm_gmtoff }
}

/// Drop from the page tables the pages of code and read-only data that startup touched and
/// the idle loop does not use: every private, file-backed mapping that is not writable and
/// holds no private copy of a page (ebb's code and constant tables, the C library's). The
/// kernel maps up to 64 KiB around each page it faults in, so parsing a configuration and
/// building the command line leave megabytes mapped that a quiet master never reads again
/// (2.4 MB of ebb's code and 1.5 MB of its read-only data, 1.3 MB of libc's, measured). The
/// pages stay in the page cache: code that runs again (a reload, a stats request) maps them
/// back with a minor fault. Returns the bytes of the mappings released.
pub fn release_clean_pages() -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut released = 0;
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: [start, end) is one whole mapping the kernel listed as ours: private,
        // file-backed, not writable, and with no anonymous (private, modified) page, so every
        // page in it is the file's own content. MADV_DONTNEED only unmaps those pages; the
        // next access reads them again, unchanged, from the same file. (A mapping written by
        // the dynamic loader's relocations holds anonymous pages and is never listed.)
        let r =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if r == 0 {
            released += end - start;
        }
    }
    released
}

/// The mappings of `/proc/self/smaps` text that are private, file-backed, readable, not
/// writable and hold no anonymous page: (start, end) addresses.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    // The mapping being read: (start, end, a candidate so far).
    let mut cur: Option<(usize, usize, bool)> = None;
    let finish = |cur: Option<(usize, usize, bool)>, out: &mut Vec<(usize, usize)>| {
        if let Some((start, end, true)) = cur {
            out.push((start, end));
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            finish(cur.take(), &mut out);
            let perms = f.next().unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            let clean =
                start < end && (perms == "r-xp" || perms == "r--p") && path.starts_with('/');
            cur = Some((start, end, clean));
        } else if first == "Anonymous:"
            && f.next() != Some("0")
            && let Some(c) = cur.as_mut()
        {
            c.2 = false;
        }
    }
    finish(cur, &mut out);
    out
}

fn cloexec_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

const STAGE_EXEC: u32 = 0;
const STAGE_CHDIR: u32 = 1;
const STAGE_IDS: u32 = 2;
const STAGE_FDS: u32 = 3;
const STAGE_PARENT_GONE: u32 = 4;

struct ChildArgs<'a> {
    path: *const libc::c_char,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    pid_slot: *mut u8,
    listen_fds: &'a [RawFd],
    output: Option<Output>,
    after: &'a [RawFd],
    high_base: RawFd,
    chdir: *const libc::c_char,
    ids: Option<(libc::uid_t, libc::gid_t)>,
    death_signal: libc::c_int,
    master_pid: libc::pid_t,
    stdin: Option<RawFd>,
    err_fd: RawFd,
}

/// Report `stage` and errno through the pipe and exit. Async-signal-safe.
unsafe fn fail(err_fd: RawFd, stage: u32) -> ! {
    // SAFETY: errno location is thread-local and valid; write/_exit are async-signal-safe.
    unsafe {
        let errno = *libc::__errno_location();
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&stage.to_ne_bytes());
        buf[4..].copy_from_slice(&errno.to_ne_bytes());
        libc::write(err_fd, buf.as_ptr() as *const libc::c_void, 8);
        libc::_exit(127)
    }
}

/// The child side of the fork. Uses only: sigprocmask, signal, setpgid, prctl, getppid,
/// getpid, chdir, setgroups, setgid, setuid, fcntl, dup2, close, syscall(close_range),
/// execve, write, _exit — all async-signal-safe. No allocation.
///
/// # Safety
/// Must be called only in a freshly forked child; pointers must stay valid (they point
/// into the parent's memory image, copied by fork).
unsafe fn child_setup(a: ChildArgs<'_>) -> ! {
    // SAFETY: every call below is async-signal-safe and uses memory prepared pre-fork.
    unsafe {
        // Signals: an empty mask (handlers are reset by exec anyway). SIGPIPE stays
        // ignored, as systemd starts services (IgnoreSIGPIPE=yes): a worker's stdout and
        // stderr are pipes to the master, and if the master dies a write must fail with
        // EPIPE, not kill a worker that is still draining its jobs.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);

        // Its own process group, so a forced kill reaches everything it started.
        libc::setpgid(0, 0);

        if !a.pid_slot.is_null() {
            write_decimal(a.pid_slot, libc::getpid() as u64);
        }

        if !a.chdir.is_null() && libc::chdir(a.chdir) != 0 {
            fail(a.err_fd, STAGE_CHDIR);
        }
        if let Some((uid, gid)) = a.ids {
            let groups = [gid];
            if libc::setgroups(1, groups.as_ptr()) != 0
                || libc::setgid(gid) != 0
                || libc::setuid(uid) != 0
            {
                fail(a.err_fd, STAGE_IDS);
            }
        }

        // If the master dies, the worker is asked to drain. Set after the credential
        // switch, which would clear it.
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            a.death_signal as libc::c_ulong,
            0,
            0,
            0,
        );
        if libc::getppid() != a.master_pid {
            fail(a.err_fd, STAGE_PARENT_GONE);
        }

        // Listening sockets to 3.., via high temporary fds so old != new in dup2.
        let mut tmp: [RawFd; MAX_LISTEN_FDS] = [-1; MAX_LISTEN_FDS];
        for (i, &fd) in a.listen_fds.iter().enumerate() {
            tmp[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, a.high_base);
            if tmp[i] < 0 {
                fail(a.err_fd, STAGE_FDS);
            }
        }
        // The log pipes likewise: fd 1, fd 2, and the record fd after the sockets.
        let n = a.listen_fds.len();
        let mut out_tmp: [RawFd; 3] = [-1; 3];
        let mut out_dst: [RawFd; 3] = [1, 2, 3 + n as RawFd];
        if let Some(o) = a.output {
            for (i, fd) in [o.stdout, o.stderr, o.records].into_iter().enumerate() {
                out_tmp[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, a.high_base);
                if out_tmp[i] < 0 {
                    fail(a.err_fd, STAGE_FDS);
                }
            }
        } else {
            out_dst = [-1; 3];
        }
        // And the fds after the record fd.
        let mut after_tmp: [RawFd; MAX_AFTER_FDS] = [-1; MAX_AFTER_FDS];
        for (i, &fd) in a.after.iter().enumerate() {
            after_tmp[i] = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, a.high_base);
            if after_tmp[i] < 0 {
                fail(a.err_fd, STAGE_FDS);
            }
        }
        // The new stdin likewise.
        let stdin_tmp = match a.stdin {
            Some(fd) => {
                let t = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, a.high_base);
                if t < 0 {
                    fail(a.err_fd, STAGE_FDS);
                }
                t
            }
            None => -1,
        };
        if stdin_tmp >= 0 && libc::dup2(stdin_tmp, 0) < 0 {
            fail(a.err_fd, STAGE_FDS);
        }
        for (i, &fd) in tmp.iter().take(n).enumerate() {
            if libc::dup2(fd, 3 + i as RawFd) < 0 {
                fail(a.err_fd, STAGE_FDS);
            }
        }
        for (fd, dst) in out_tmp.into_iter().zip(out_dst) {
            if dst >= 0 && libc::dup2(fd, dst) < 0 {
                fail(a.err_fd, STAGE_FDS);
            }
        }
        for (i, &fd) in after_tmp.iter().take(a.after.len()).enumerate() {
            if libc::dup2(fd, 4 + (n + i) as RawFd) < 0 {
                fail(a.err_fd, STAGE_FDS);
            }
        }
        // Every other fd above the sockets (and the record fd) goes, whatever its flags
        // (the error pipe is close-on-exec and must stay open until exec).
        let first_free = (3 + n + usize::from(a.output.is_some()) + a.after.len()) as libc::c_uint;
        close_all_from(first_free, a.err_fd);

        libc::execve(a.path, a.argv, a.envp);
        fail(a.err_fd, STAGE_EXEC)
    }
}

/// Close every fd >= `from`, except `keep`. Async-signal-safe.
unsafe fn close_all_from(from: libc::c_uint, keep: RawFd) {
    let keep = keep as libc::c_uint;
    // SAFETY: close_range/close only close descriptors; no memory is touched.
    unsafe {
        let ranges: [(libc::c_uint, libc::c_uint); 2] = if keep >= from {
            [
                (from, keep.saturating_sub(1)),
                (keep + 1, libc::c_uint::MAX),
            ]
        } else {
            [(from, libc::c_uint::MAX), (1, 0)]
        };
        for (lo, hi) in ranges {
            if lo > hi {
                continue;
            }
            if libc::syscall(libc::SYS_close_range, lo, hi, 0) != 0 {
                // Kernel without close_range (< 5.9): close one by one up to a bound.
                let top = hi.min(65_536);
                let mut fd = lo;
                while fd <= top {
                    libc::close(fd as RawFd);
                    fd += 1;
                }
            }
        }
    }
}

/// Write `n` in decimal at `dst` followed by a NUL. At most 20 digits fit.
///
/// # Safety
/// `dst` must have room for `PID_DIGITS + 1` bytes.
unsafe fn write_decimal(dst: *mut u8, mut n: u64) {
    let mut digits = [0u8; PID_DIGITS];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 || len == PID_DIGITS {
            break;
        }
    }
    for i in 0..len {
        // SAFETY: i < len <= PID_DIGITS, inside the reserved room.
        unsafe { *dst.add(i) = digits[len - 1 - i] };
    }
    // SAFETY: len <= PID_DIGITS, and the room holds PID_DIGITS + 1 bytes.
    unsafe { *dst.add(len) = 0 };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_file_mappings_hold_only_the_files_pages() {
        let smaps = "\
55d0c0a00000-55d0c0b00000 r--p 00000000 08:01 131 /usr/bin/ebb
Rss:                 100 kB
Anonymous:             0 kB
55d0c0b00000-55d0c1000000 r-xp 00100000 08:01 131 /usr/bin/ebb
Anonymous:             0 kB
55d0c1000000-55d0c1010000 r--p 00600000 08:01 131 /usr/bin/ebb
Anonymous:            64 kB
55d0c1010000-55d0c1020000 rw-p 00610000 08:01 131 /usr/bin/ebb
Anonymous:             8 kB
7f00aa000000-7f00aa100000 r-xp 00028000 08:01 77 /usr/lib/x86_64-linux-gnu/libc.so.6
7f00ab000000-7f00ab001000 r--p 00000000 00:00 0 
Anonymous:             0 kB
7fff00000000-7fff00002000 r-xp 00000000 00:00 0 [vdso]
7f00ac000000-7f00ac100000 rwxp 00000000 08:01 78 /tmp/jit
7f00ad000000-7f00ad100000 r--s 00000000 08:01 79 /tmp/shared
bad line
";
        assert_eq!(
            clean_file_mappings(smaps),
            [
                (0x55d0c0a00000, 0x55d0c0b00000),
                (0x55d0c0b00000, 0x55d0c1000000),
                (0x7f00aa000000, 0x7f00aa100000)
            ],
            "not the relocated data (anonymous pages), the writable, anonymous, special or \
             shared mappings"
        );
    }

    #[test]
    fn released_pages_come_back_when_used() {
        fn rss_file_kb() -> u64 {
            let s = std::fs::read_to_string("/proc/self/status").unwrap();
            s.lines()
                .find_map(|l| l.strip_prefix("RssFile:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
                .unwrap()
        }
        let before = rss_file_kb();
        assert!(
            release_clean_pages() > 0,
            "this test binary has file mappings"
        );
        let after = rss_file_kb();
        assert!(after < before, "file-backed RSS {before} kB -> {after} kB");
        // Code and constants released work again (their pages are mapped back).
        assert!(resolve_program("sh").is_ok());
        assert_eq!(format!("{}", u64::MAX), "18446744073709551615");
    }

    #[test]
    fn decimal_writer_fits_the_slot() {
        for n in [0u64, 7, 42, 1234567, u64::MAX] {
            let mut buf = [0xffu8; PID_DIGITS + 1];
            // SAFETY: the buffer has PID_DIGITS + 1 bytes.
            unsafe { write_decimal(buf.as_mut_ptr(), n) };
            let end = buf.iter().position(|&b| b == 0).unwrap();
            assert_eq!(std::str::from_utf8(&buf[..end]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn resolves_programs_and_reports_missing_ones() {
        assert!(resolve_program("sh").unwrap().is_absolute());
        let err = resolve_program("no-such-program-ebb").unwrap_err();
        assert!(err.to_string().contains("not found in PATH"), "{err}");
    }

    #[test]
    fn exec_failure_is_reported_not_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("noexec.sh");
        std::fs::write(&script, "#!/nonexistent/interpreter\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let argv = vec![script.display().to_string()];
        let mut p = Prepared::new(&Command {
            argv: &argv,
            env: &[],
            listen_fds: &[],
            output: None,
            after: &[],
            chdir: None,
            ids: None,
            death_signal: libc::SIGTERM,
            stdin: None,
        })
        .unwrap();
        let err = p.spawn().unwrap_err().to_string();
        assert!(err.contains("executing"), "{err}");
    }

    #[test]
    fn child_gets_its_own_pid_and_only_the_listed_fds() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // A stray fd the master holds: it must not reach the child.
        let _stray = std::fs::File::open("/dev/null").unwrap();
        // Python checks fds with fstat, which opens nothing itself.
        let script = format!(
            "import os\n\
             fds = [fd for fd in range(256) if _open(fd)]\n\
             open({o:?}, 'w').write(os.environ['LISTEN_PID'] + ' ' + str(os.getpid()) + '\\n' + \
             '\\n'.join(map(str, fds)))",
            o = out.display().to_string()
        );
        let prelude = "import os\ndef _open(fd):\n    try:\n        os.fstat(fd)\n        return True\n    except OSError:\n        return False\n";
        let argv = vec![
            "python3".to_string(),
            "-S".to_string(),
            "-c".to_string(),
            format!("{prelude}{script}"),
        ];
        let env = vec![("PATH".to_string(), std::env::var("PATH").unwrap())];
        let mut p = Prepared::new(&Command {
            argv: &argv,
            env: &env,
            listen_fds: &[listener.as_raw_fd()],
            output: None,
            after: &[],
            chdir: Some(dir.path()),
            ids: None,
            death_signal: libc::SIGTERM,
            stdin: None,
        })
        .unwrap();
        let pid = p.spawn().unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let text = std::fs::read_to_string(&out).unwrap();
        let mut lines = text.lines();
        let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
        assert_eq!(first[0], first[1], "LISTEN_PID must be the child's pid");
        assert_eq!(first[0], pid.to_string());
        let mut fds: Vec<i32> = lines.map(|l| l.parse().unwrap()).collect();
        fds.sort();
        // 0, 1, 2 and the socket at 3; nothing else of the master's.
        assert_eq!(fds, vec![0, 1, 2, 3], "unexpected fds in the worker");
    }
}

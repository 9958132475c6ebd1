//! Where log lines go: the master's stderr or stdout, or a file ebb opens itself (so it can
//! rotate it at `log-maxsize` and reopen it on SIGUSR1). Lines are collected in a buffer
//! and written at the end of each loop turn (or when the buffer is full), one `write()`
//! for many lines.
//!
//! A slow output cannot stall the master's loop: a file is written as it is, but a pipe, a
//! terminal or a socket (stderr or stdout under a service manager or a `| tee`) is written
//! only as far as it takes bytes, waiting at most [`STALL_WAIT`] per loop turn. What it does
//! not take stays buffered, up to [`MAX_BUFFERED`]; lines that come while the buffer is
//! full are dropped, counted, and the count is written as soon as there is room again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Bytes collected before a write is forced.
const FLUSH_AT: usize = 64 * 1024;
/// Most bytes held for an output that does not take them; later lines are dropped.
pub const MAX_BUFFERED: usize = 4 * 1024 * 1024;
/// Longest wait for a slow pipe or terminal in one loop turn.
pub const STALL_WAIT: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Stdout,
    /// A file, appended to; with `redirect`, the master's own fds 1 and 2 point at it too
    /// (so a panic message lands in the same file).
    File {
        path: PathBuf,
        redirect: bool,
    },
}

pub struct Sink {
    target: Target,
    file: Option<File>,
    /// Bytes in the current file (for rotation).
    size: u64,
    rotation: super::rotate::Rotation,
    buf: Vec<u8>,
    /// A write error already reported (reported once until a write succeeds again).
    failing: bool,
    /// stdout / stderr is a pipe, terminal or socket (written without blocking).
    slow: bool,
    /// Lines dropped since the buffer was last full.
    dropped: u64,
}

pub fn open_append(path: &Path) -> anyhow::Result<File> {
    use anyhow::Context;
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {} for appending", path.display()))
}

impl Sink {
    pub fn open(target: Target, rotation: super::rotate::Rotation) -> anyhow::Result<Sink> {
        let mut s = Sink {
            target,
            file: None,
            size: 0,
            rotation,
            buf: Vec::with_capacity(FLUSH_AT),
            failing: false,
            slow: false,
            dropped: 0,
        };
        s.reopen()?;
        Ok(s)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Open the file again (after logrotate moved it, on SIGUSR1).
    pub fn reopen(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        self.flush();
        if let Target::File { path, redirect } = &self.target {
            let f = open_append(path)?;
            if *redirect {
                nix::unistd::dup2_stdout(f.as_fd()).context("redirecting stdout")?;
                nix::unistd::dup2_stderr(f.as_fd()).context("redirecting stderr")?;
            }
            self.size = f.metadata().map_or(0, |m| m.len());
            self.file = Some(f);
        }
        self.slow = match self.target {
            Target::Stdout => !is_regular_file(io::stdout().as_fd()),
            Target::Stderr => !is_regular_file(io::stderr().as_fd()),
            Target::File { .. } => false,
        };
        Ok(())
    }

    /// Append one line (the newline is added); dropped (and counted) when the output has
    /// not taken [`MAX_BUFFERED`] bytes.
    pub fn line(&mut self, line: &str) {
        if self.buf.len() + line.len() >= MAX_BUFFERED {
            self.dropped += 1;
            return;
        }
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.write_out(Duration::ZERO);
        }
    }

    /// Lines dropped so far because the output was too slow (then the buffer was full).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Write what is buffered (a slow pipe or terminal: what it takes within
    /// [`STALL_WAIT`]); rotate the file when it has grown past `log-maxsize`.
    pub fn flush(&mut self) {
        self.write_out(STALL_WAIT);
    }

    fn write_out(&mut self, wait: Duration) {
        if self.buf.is_empty() {
            return;
        }
        let (written, result) = match (&self.target, &mut self.file) {
            (Target::File { .. }, Some(f)) => (self.buf.len(), f.write_all(&self.buf)),
            (Target::Stdout, _) if self.slow => {
                write_bounded(io::stdout().as_fd(), &self.buf, wait)
            }
            (Target::Stdout, _) => (self.buf.len(), io::stdout().lock().write_all(&self.buf)),
            _ if self.slow => write_bounded(io::stderr().as_fd(), &self.buf, wait),
            _ => (self.buf.len(), io::stderr().lock().write_all(&self.buf)),
        };
        match result {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                // The log itself is what fails: say it where it can still be seen.
                let _ = writeln!(io::stderr(), "ebb: cannot write the log: {e}");
            }
            Err(_) => {}
        }
        self.size += written as u64;
        if written >= self.buf.len() || self.failing {
            self.buf.clear();
        } else {
            self.buf.drain(..written);
        }
        if self.dropped > 0 && self.buf.len() < MAX_BUFFERED / 2 {
            let note = format!(
                "ebb: {} log line(s) dropped: the log output did not take them in time",
                self.dropped
            );
            self.dropped = 0;
            self.buf.extend_from_slice(note.as_bytes());
            self.buf.push(b'\n');
        }
        if let Some(max) = self.rotation.max_size
            && self.size >= max
        {
            self.rotate();
        }
    }

    /// Move the full file aside (where [`super::rotate`] says) and start a new one, as
    /// uWSGI's `log-maxsize` does.
    fn rotate(&mut self) {
        let Target::File { path, .. } = &self.target else {
            return;
        };
        let secs = super::time::unix_micros(std::time::SystemTime::now()).0;
        let steps = super::rotate::plan(path, &self.rotation, secs, |p| p.exists());
        if let Err(e) = super::rotate::run(&steps) {
            let _ = writeln!(io::stderr(), "ebb: cannot rotate {}: {e}", path.display());
            self.rotation.max_size = None;
            return;
        }
        if let Err(e) = self.reopen() {
            let _ = writeln!(io::stderr(), "ebb: {e:#}");
        }
    }
}

fn is_regular_file(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG)
}

/// Write as much of `buf` as `fd` (a pipe, terminal or socket, maybe blocking) takes within
/// `wait`: each write is at most one page, and only after poll says there is room, so none
/// blocks. Each write ends at the end of a line when the page holds one, so what is left
/// when the time is up (at exit: dropped) starts a line: no line is cut, except one longer
/// than a page. Returns the bytes written, and the error that stopped it (none for "no
/// room").
fn write_bounded(fd: BorrowedFd<'_>, buf: &[u8], wait: Duration) -> (usize, io::Result<()>) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    const CHUNK: usize = 4096; // PIPE_BUF: a write this small into a pipe with room never blocks
    let deadline = Instant::now() + wait;
    let mut off = 0;
    while off < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
        match poll(&mut fds, ms) {
            Ok(0) => break, // no room within the wait
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return (off, Err(e.into())),
        }
        let mut end = buf.len().min(off + CHUNK);
        if let Some(nl) = buf[off..end].iter().rposition(|&b| b == b'\n') {
            end = off + nl + 1;
        }
        match nix::unistd::write(fd, &buf[off..end]) {
            Ok(n) => off += n,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => {}
            Err(e) => return (off, Err(e.into())),
        }
    }
    (off, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_past_the_size_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut s = Sink::open(
            Target::File {
                path: path.clone(),
                redirect: false,
            },
            super::super::rotate::Rotation {
                max_size: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
        for i in 0..30 {
            s.line(&format!("line {i:02}"));
            s.flush();
        }
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "{files:?}");
        let mut all = String::new();
        for f in &files {
            let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
            assert!(text.len() <= 100 + 8, "{f}: {}", text.len());
            all += &text;
        }
        // Nothing lost across rotations.
        assert_eq!(all.lines().count(), 30);
        // Reopen after the file was moved away: a new file with the new lines.
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        s.reopen().unwrap();
        s.line("after");
        s.flush();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "after\n");
    }

    #[test]
    fn a_pipe_nobody_reads_takes_what_fits_and_never_blocks() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let data = vec![b'x'; 1 << 20]; // more than a pipe holds (64 KiB by default)
        let t0 = Instant::now();
        let (n, res) = write_bounded(w.as_fd(), &data, Duration::from_millis(50));
        assert!(res.is_ok());
        assert!(n > 0 && n < data.len(), "{n}");
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        // Once read, the rest goes.
        let reader = std::thread::spawn(move || {
            let mut f = File::from(r);
            let mut all = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut all).unwrap();
            all.len()
        });
        let (m, res) = write_bounded(w.as_fd(), &data[n..], Duration::from_secs(10));
        assert!(res.is_ok());
        assert_eq!(n + m, data.len());
        drop(w);
        assert_eq!(reader.join().unwrap(), data.len());
        // Lines: what a full pipe took ends at the end of a line, whatever the page bounds.
        let (r2, w2) = nix::unistd::pipe().unwrap();
        let lines: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("line {i:05} {}\n", "x".repeat(i % 300)).into_bytes())
            .collect();
        let (n, res) = write_bounded(w2.as_fd(), &lines, Duration::from_millis(50));
        assert!(res.is_ok());
        assert!(n > 0 && n < lines.len(), "{n}");
        assert_eq!(lines[n - 1], b'\n', "a line was cut at byte {n}");
        drop(r2);
        // A pipe whose reader is gone: the error, not a hang (SIGPIPE is ignored by Rust).
        let (r, w) = nix::unistd::pipe().unwrap();
        drop(r);
        let (n, res) = write_bounded(w.as_fd(), b"line\n", Duration::from_millis(50));
        assert_eq!(n, 0);
        assert!(res.is_err());
    }
}

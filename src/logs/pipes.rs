//! The master's side of a worker's output: three pipes (stdout, stderr, records), read
//! without blocking in the master's poll loop, a bounded number of bytes per turn.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use super::line::LineBuf;
use super::{MAX_LINE, Stream, WorkerTag};

/// Bytes read from one pipe per loop turn: a worker that writes without pause cannot
/// keep the loop from its signals, notify sockets and other workers.
pub const READ_BUDGET: usize = 64 * 1024;
/// Most bytes read from a pipe after its worker exited (a grandchild may keep it open
/// and keep writing; what it writes after this is not read).
const FINAL_READ: usize = 4 * 1024 * 1024;
/// Pipe capacity asked for (`F_SETPIPE_SZ`; the kernel caps it at
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default): a burst of this much output never makes
/// a worker wait for the master.
const STDIO_PIPE_SIZE: i32 = 256 * 1024;
const RECORD_PIPE_SIZE: i32 = 1024 * 1024;

struct Reader {
    file: File,
    lines: LineBuf,
    stream: Stream,
    open: bool,
}

/// A worker's three pipes, master side.
pub struct Pipes {
    readers: Vec<Reader>,
}

/// The ends the worker gets: its fd 1, fd 2 and `EBB_LOG_FD`. Close-on-exec in the
/// master; the child's `dup2` clears the flag.
pub struct ChildEnds {
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub records: OwnedFd,
}

fn pipe(size: i32) -> io::Result<(File, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // Best effort: a smaller pipe only means the worker waits sooner.
    let _ = fcntl(&w, FcntlArg::F_SETPIPE_SZ(size));
    fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((File::from(r), w))
}

impl Pipes {
    pub fn create() -> io::Result<(Pipes, ChildEnds)> {
        let (out_r, out_w) = pipe(STDIO_PIPE_SIZE)?;
        let (err_r, err_w) = pipe(STDIO_PIPE_SIZE)?;
        let (rec_r, rec_w) = pipe(RECORD_PIPE_SIZE)?;
        let reader = |file, stream| Reader {
            file,
            lines: LineBuf::new(MAX_LINE),
            stream,
            open: true,
        };
        Ok((
            Pipes {
                readers: vec![
                    reader(out_r, Stream::Stdout),
                    reader(err_r, Stream::Stderr),
                    reader(rec_r, Stream::Records),
                ],
            },
            ChildEnds {
                stdout: out_w,
                stderr: err_w,
                records: rec_w,
            },
        ))
    }

    /// The pipes still open, for `poll()`: (index, fd).
    pub fn poll_fds(&self) -> Vec<(usize, BorrowedFd<'_>)> {
        self.readers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.open)
            .map(|(i, r)| (i, r.file.as_fd()))
            .collect()
    }

    /// Read what pipe `i` holds, up to [`READ_BUDGET`] bytes, and log its lines.
    pub fn read(&mut self, i: usize, tag: &WorkerTag, limit: Option<u64>) {
        if let Some(r) = self.readers.get_mut(i) {
            read_some(r, tag, limit, READ_BUDGET);
        }
    }

    /// The worker exited: read what is left (bounded), log partial lines, close.
    pub fn finish(&mut self, tag: &WorkerTag, limit: Option<u64>) {
        for r in &mut self.readers {
            if r.open {
                read_some(r, tag, limit, FINAL_READ);
            }
            let stream = r.stream;
            super::with(|l| {
                r.lines.finish(&mut |p| emit(l, stream, tag, limit, &p));
            });
            r.open = false;
        }
    }
}

fn emit(
    l: &mut super::Logger,
    stream: Stream,
    tag: &WorkerTag,
    limit: Option<u64>,
    p: &super::line::Piece<'_>,
) {
    match stream {
        Stream::Records => l.record(tag, limit, p),
        s => l.output(tag, s, p),
    }
}

fn read_some(r: &mut Reader, tag: &WorkerTag, limit: Option<u64>, budget: usize) {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    while total < budget && r.open {
        match r.file.read(&mut buf) {
            Ok(0) => r.open = false,
            Ok(n) => {
                total += n;
                let stream = r.stream;
                let lines = &mut r.lines;
                let pushed = super::with(|l| {
                    lines.push(&buf[..n], &mut |p| emit(l, stream, tag, limit, &p));
                });
                if pushed.is_none() {
                    // No logger (a unit test): keep the lines' framing anyway.
                    lines.push(&buf[..n], &mut |_| {});
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break, // WouldBlock: nothing more for now
        }
    }
}

//! Where log lines go: the master's stderr or stdout, or a file ebb opens itself (so it can
//! rotate it at `log-maxsize` and reopen it on SIGUSR1). Lines are collected in a buffer
//! and written at the end of each loop turn (or when the buffer is full), one `write()`
//! for many lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

/// Bytes collected before a write is forced.
const FLUSH_AT: usize = 64 * 1024;

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
    max_size: Option<u64>,
    buf: Vec<u8>,
    /// A write error already reported (reported once until a write succeeds again).
    failing: bool,
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
    pub fn open(target: Target, max_size: Option<u64>) -> anyhow::Result<Sink> {
        let mut s = Sink {
            target,
            file: None,
            size: 0,
            max_size,
            buf: Vec::with_capacity(FLUSH_AT),
            failing: false,
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
        Ok(())
    }

    /// Append one line (the newline is added).
    pub fn line(&mut self, line: &str) {
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Write what is buffered; rotate the file when it has grown past `log-maxsize`.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let result = match (&self.target, &mut self.file) {
            (Target::File { .. }, Some(f)) => f.write_all(&self.buf),
            (Target::Stdout, _) => io::stdout().lock().write_all(&self.buf),
            _ => io::stderr().lock().write_all(&self.buf),
        };
        match result {
            Ok(()) => {
                self.failing = false;
                self.size += self.buf.len() as u64;
            }
            Err(e) if !self.failing => {
                self.failing = true;
                // The log itself is what fails: say it where it can still be seen.
                let _ = writeln!(io::stderr(), "ebb: cannot write the log: {e}");
            }
            Err(_) => {}
        }
        self.buf.clear();
        if let Some(max) = self.max_size
            && self.size >= max
        {
            self.rotate();
        }
    }

    /// Move the full file aside (`FILE.<unix time>`, `.1`, `.2` … if taken) and start a
    /// new one, as uWSGI's `log-maxsize` does.
    fn rotate(&mut self) {
        let Target::File { path, .. } = &self.target else {
            return;
        };
        let secs = super::time::unix_micros(std::time::SystemTime::now()).0;
        let mut dest = PathBuf::from(format!("{}.{secs}", path.display()));
        let mut n = 1;
        while dest.exists() {
            dest = PathBuf::from(format!("{}.{secs}.{n}", path.display()));
            n += 1;
        }
        if let Err(e) = std::fs::rename(path, &dest) {
            let _ = writeln!(io::stderr(), "ebb: cannot rotate {}: {e}", path.display());
            self.max_size = None;
            return;
        }
        if let Err(e) = self.reopen() {
            let _ = writeln!(io::stderr(), "ebb: {e:#}");
        }
    }
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
            Some(100),
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
}

//! The drain flag: set by the drain signal, visible to every thread, and pollable.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::raw::c_int;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};

/// Exit status after `SIGQUIT` (fast stop): `128 + SIGQUIT`, like a shell reports a signal death,
/// but without a core dump.
pub const FAST_EXIT_STATUS: i32 = 128 + libc::SIGQUIT;

/// Signals that always start a drain: `SIGTERM`, `SIGINT`, `SIGHUP`.
pub const DEFAULT_DRAIN_SIGNALS: [c_int; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// A one-way "start draining" switch shared by all threads of a worker.
///
/// Once set (by a drain signal or by [`Drain::start`]) it stays set. Threads either check
/// [`Drain::is_draining`] (one atomic load) or wait on a socket and the drain at the same time with
/// [`Drain::wait_readable`]: the drain's file descriptor ([`Drain::fd`]) becomes readable for
/// everybody when the drain starts and stays readable, so any number of threads blocked in
/// `poll()` wake up at once, with no timers.
///
/// Cheap to clone (an `Arc`).
#[derive(Clone, Debug)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    flag: Arc<AtomicBool>,
    /// Becomes readable on drain. Nobody ever reads it, so it stays readable.
    rx: UnixStream,
    /// Our own write end, for [`Drain::start`]. Signal handlers have their own clones.
    tx: UnixStream,
    signals: Vec<c_int>,
}

impl Inner {
    fn new(signals: Vec<c_int>) -> io::Result<Inner> {
        let (rx, tx) = UnixStream::pair()?; // close-on-exec
        tx.set_nonblocking(true)?;
        Ok(Inner {
            flag: Arc::new(AtomicBool::new(false)),
            rx,
            tx,
            signals,
        })
    }
}

/// What [`Drain::wait_readable`] saw. Both can be true; both false means the timeout expired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    /// The socket is readable (or at EOF, or in error: the next read will tell).
    pub readable: bool,
    /// The drain has started.
    pub draining: bool,
}

impl Drain {
    /// The worker-side drain signals: [`DEFAULT_DRAIN_SIGNALS`] plus the one named by
    /// `EBB_DRAIN_SIGNAL` (`SIGUSR1`, `USR1` or a number), and `SIGQUIT` as a fast exit with
    /// status [`FAST_EXIT_STATUS`] (unless `EBB_DRAIN_SIGNAL` makes `SIGQUIT` a drain signal).
    ///
    /// Call it from the main thread before starting other threads: it also unblocks these
    /// signals in the calling thread's mask (threads started later inherit it), in case the
    /// parent left them blocked. Fails on an invalid `EBB_DRAIN_SIGNAL`.
    pub fn install() -> io::Result<Drain> {
        let signals = drain_signals(std::env::var("EBB_DRAIN_SIGNAL").ok().as_deref())?;
        let fast = (!signals.contains(&libc::SIGQUIT)).then_some(libc::SIGQUIT);
        Drain::with_signals(&signals, fast)
    }

    /// Like [`Drain::install`] with an explicit set of drain signals, and optionally a signal that
    /// exits the process at once (`_exit(FAST_EXIT_STATUS)`, no cleanup).
    pub fn with_signals(signals: &[c_int], fast_exit: Option<c_int>) -> io::Result<Drain> {
        let mut mask = SigSet::empty();
        for &sig in signals.iter().chain(fast_exit.iter()) {
            check_signal(sig)?;
            if let Ok(s) = Signal::try_from(sig) {
                mask.add(s);
            }
        }
        let inner = Inner::new(signals.to_vec())?;
        for &sig in signals {
            // Order matters: the flag is set before the fd becomes readable, so whoever wakes
            // up from the fd sees is_draining() == true.
            signal_hook::flag::register(sig, Arc::clone(&inner.flag))?;
            signal_hook::low_level::pipe::register(sig, inner.tx.try_clone()?)?;
        }
        if let Some(sig) = fast_exit {
            signal_hook::flag::register_conditional_shutdown(
                sig,
                FAST_EXIT_STATUS,
                Arc::new(AtomicBool::new(true)),
            )?;
        }
        mask.thread_unblock().map_err(io::Error::from)?;
        Ok(Drain {
            inner: Arc::new(inner),
        })
    }

    /// A drain switch with no signal handlers: it starts only with [`Drain::start`].
    pub fn manual() -> io::Result<Drain> {
        Ok(Drain {
            inner: Arc::new(Inner::new(Vec::new())?),
        })
    }

    /// Whether the drain has started. One atomic load: fine on any hot path.
    #[inline]
    pub fn is_draining(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Starts the drain from code, as the drain signal would.
    pub fn start(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        // Non-blocking: if the buffer is full it is already readable.
        let _ = (&self.inner.tx).write(b"x");
    }

    /// The drain signals this switch listens to (empty for [`Drain::manual`]).
    pub fn signals(&self) -> &[c_int] {
        &self.inner.signals
    }

    /// A descriptor that becomes readable when the drain starts and then stays readable.
    /// Never read from it; poll it for `POLLIN` alongside your own descriptors.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.inner.rx.as_fd()
    }

    /// Blocks until the drain starts.
    pub fn wait(&self) {
        while !self.is_draining() {
            let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => panic!("poll on the drain fd failed: {e}"),
            }
        }
    }

    /// Blocks until the drain starts or `timeout` passes; returns whether draining.
    /// An interruptible sleep.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.is_draining() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let mut fds = [PollFd::new(self.fd(), PollFlags::POLLIN)];
            match poll(&mut fds, poll_ms(left)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => panic!("poll on the drain fd failed: {e}"),
            }
        }
        self.is_draining()
    }

    /// Waits until `fd` is readable, the drain starts, or `timeout` passes (`None`: no timeout).
    ///
    /// Returns at once with `draining: true` if the drain has already started. Retries on
    /// `EINTR`. Use it for accept loops (`fd` = the listener) and keep-alive waits (`fd` = the
    /// connection).
    pub fn wait_readable(&self, fd: BorrowedFd<'_>, timeout: Option<Duration>) -> io::Result<Wake> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let ms = match deadline {
                None => PollTimeout::NONE,
                Some(d) => poll_ms(d.saturating_duration_since(Instant::now())),
            };
            let mut fds = [
                PollFd::new(fd, PollFlags::POLLIN),
                PollFd::new(self.fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, ms) {
                Ok(_) => {
                    let ready = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
                    let wake = Wake {
                        readable: ready(&fds[0]),
                        draining: ready(&fds[1]) || self.is_draining(),
                    };
                    if wake.readable || wake.draining {
                        return Ok(wake);
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(Wake::default());
                    }
                }
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Poll timeout in milliseconds, rounded up so we never wake before the deadline.
fn poll_ms(d: Duration) -> PollTimeout {
    let ms = d.as_nanos().div_ceil(1_000_000);
    PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
}

fn check_signal(sig: c_int) -> io::Result<()> {
    if sig <= 0 || sig >= 65 || signal_hook::consts::FORBIDDEN.contains(&sig) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("signal {sig} cannot be handled (forbidden or out of range)"),
        ));
    }
    Ok(())
}

/// Parses a signal given as a name (`SIGUSR1`, `usr1`) or a number (`10`).
pub fn parse_signal(s: &str) -> Option<c_int> {
    let s = s.trim();
    if let Ok(n) = s.parse::<c_int>() {
        return (1..65).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().ok().map(|s| s as c_int)
}

/// The drain signal set: the defaults plus `extra` (the `EBB_DRAIN_SIGNAL` value), if any.
pub(crate) fn drain_signals(extra: Option<&str>) -> io::Result<Vec<c_int>> {
    let mut v = DEFAULT_DRAIN_SIGNALS.to_vec();
    if let Some(e) = extra.map(str::trim).filter(|e| !e.is_empty()) {
        let sig = parse_signal(e).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("EBB_DRAIN_SIGNAL={e:?} is not a signal name or number"),
            )
        })?;
        check_signal(sig)?;
        if !v.contains(&sig) {
            v.push(sig);
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("SIGUSR1"), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("usr2"), Some(libc::SIGUSR2));
        assert_eq!(parse_signal(" sigwinch "), Some(libc::SIGWINCH));
        assert_eq!(parse_signal("15"), Some(libc::SIGTERM));
        assert_eq!(parse_signal("0"), None);
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal(""), None);
    }

    #[test]
    fn drain_signal_set() {
        assert_eq!(drain_signals(None).unwrap(), DEFAULT_DRAIN_SIGNALS.to_vec());
        assert_eq!(
            drain_signals(Some("")).unwrap(),
            DEFAULT_DRAIN_SIGNALS.to_vec()
        );
        assert_eq!(
            drain_signals(Some("SIGUSR1")).unwrap(),
            vec![libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1]
        );
        assert_eq!(drain_signals(Some("TERM")).unwrap().len(), 3);
        assert!(drain_signals(Some("KILL")).is_err());
        assert!(drain_signals(Some("bogus")).is_err());
    }

    #[test]
    fn manual_start_wakes_waiters() {
        let d = Drain::manual().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!d.is_draining());
        let w = d
            .wait_readable(l.as_fd(), Some(Duration::from_millis(10)))
            .unwrap();
        assert_eq!(w, Wake::default());
        assert!(!d.wait_timeout(Duration::from_millis(5)));
        let d2 = d.clone();
        let t = std::thread::spawn(move || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            d2.wait_readable(l.as_fd(), None).unwrap()
        });
        std::thread::sleep(Duration::from_millis(20));
        d.start();
        let w = t.join().unwrap();
        assert!(w.draining && !w.readable);
        d.wait();
        assert!(d.wait_timeout(Duration::from_secs(5)));
        // Stays readable for everybody.
        assert!(d.wait_readable(l.as_fd(), None).unwrap().draining);
        d.start();
        assert!(d.is_draining());
    }

    #[test]
    fn readable_socket_wakes() {
        let d = Drain::manual().unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let w = d
            .wait_readable(l.as_fd(), Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(
            w,
            Wake {
                readable: true,
                draining: false
            }
        );
    }

    #[test]
    fn signal_starts_drain() {
        // SIGUSR2 is used by no other test in this crate.
        let d = Drain::with_signals(&[libc::SIGUSR2], None).unwrap();
        assert_eq!(d.signals(), &[libc::SIGUSR2]);
        signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
        d.wait();
        assert!(d.is_draining());
    }
}

//! `sd_notify`-style messages to the master over `NOTIFY_SOCKET`.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::Arc;
use std::time::Duration;

/// Largest datagram the master accepts.
pub const MAX_MESSAGE: usize = 4096;

/// Sends `KEY=VALUE` datagrams to the master (or systemd) at `NOTIFY_SOCKET`.
///
/// Cheap to clone and safe to share between threads. When `NOTIFY_SOCKET` is absent every
/// method is a no-op that returns `Ok(())`, so a worker runs the same way standalone.
///
/// Sends never block: the socket is non-blocking, and a datagram that does not fit in the
/// receiver's queue right now (`EAGAIN`) is dropped silently. ebb's counters are absolute
/// values, so the next report repairs a dropped one.
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    target: Option<Arc<Target>>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
struct Target {
    sock: UnixDatagram,
    addr: SocketAddr,
    display: String,
}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// Builds a notifier from `NOTIFY_SOCKET` (a path, or `@name` for a Linux abstract socket)
    /// and `WATCHDOG_USEC` (honoured when `WATCHDOG_PID` is unset or is our pid).
    ///
    /// Disabled when `NOTIFY_SOCKET` is unset or empty.
    pub fn from_env() -> io::Result<Notifier> {
        let mut n = match std::env::var("NOTIFY_SOCKET") {
            Ok(a) if !a.is_empty() => Notifier::new(&a)?,
            _ => Notifier::disabled(),
        };
        n.watchdog = parse_watchdog(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        Ok(n)
    }

    /// A notifier sending to `address`: a filesystem path, or `@name` for an abstract socket.
    pub fn new(address: &str) -> io::Result<Notifier> {
        let addr = match address.strip_prefix('@') {
            Some(name) => abstract_addr(name)?,
            None => SocketAddr::from_pathname(address)?,
        };
        let sock = UnixDatagram::unbound()?; // std sets close-on-exec
        sock.set_nonblocking(true)?;
        Ok(Notifier {
            target: Some(Arc::new(Target {
                sock,
                addr,
                display: address.to_string(),
            })),
            watchdog: None,
        })
    }

    /// Whether messages go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The `NOTIFY_SOCKET` address, if any.
    pub fn address(&self) -> Option<&str> {
        self.target.as_deref().map(|t| t.display.as_str())
    }

    /// Half of `WATCHDOG_USEC`: how often to send `WATCHDOG=1`, when a watchdog is configured.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends one datagram of newline-separated `KEY=VALUE` lines.
    ///
    /// `Ok(())` also when disabled or when the datagram was dropped because the receiver's queue
    /// is full. Fails with [`io::ErrorKind::InvalidInput`] over [`MAX_MESSAGE`] bytes, and with the
    /// socket error otherwise (e.g. `ECONNREFUSED` once the master is gone).
    pub fn send(&self, msg: &str) -> io::Result<()> {
        let Some(t) = &self.target else { return Ok(()) };
        if msg.len() > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "notify message of {} bytes exceeds {MAX_MESSAGE}",
                    msg.len()
                ),
            ));
        }
        match t.sock.send_to_addr(msg.as_bytes(), &t.addr) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `READY=1`: listeners are open and signal handlers installed.
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1")
    }

    /// `STATUS=<text>` (newlines in `text` become spaces).
    pub fn status(&self, text: &str) -> io::Result<()> {
        self.send(&status_message(text))
    }

    /// `STOPPING=1`: the worker has stopped accepting and is draining.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }

    /// `WATCHDOG=1`: keep-alive for the master's worker timeout.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }
}

/// `STATUS=…` with line breaks flattened, so the text cannot inject other keys.
pub(crate) fn status_message(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 7);
    s.push_str("STATUS=");
    s.extend(
        text.chars()
            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
    );
    if s.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

pub(crate) fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok() != Some(me)
    {
        return None;
    }
    match usec?.trim().parse::<u64>() {
        Ok(0) | Err(_) => None,
        Ok(us) => Some(Duration::from_micros(us)),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &str) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_: &str) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract NOTIFY_SOCKET addresses (@name) exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_one_line() {
        assert_eq!(status_message("a\nb\r\nc"), "STATUS=a b  c");
        let long = "é".repeat(MAX_MESSAGE);
        let m = status_message(&long);
        assert!(m.len() <= MAX_MESSAGE);
    }

    #[test]
    fn watchdog_env() {
        assert_eq!(
            parse_watchdog(Some("2000000"), None, 5),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_watchdog(Some("2000000"), Some("5"), 5),
            Some(Duration::from_secs(2))
        );
        assert_eq!(parse_watchdog(Some("2000000"), Some("6"), 5), None);
        assert_eq!(parse_watchdog(Some("0"), None, 5), None);
        assert_eq!(parse_watchdog(Some("x"), None, 5), None);
        assert_eq!(parse_watchdog(None, None, 5), None);
    }

    #[test]
    fn disabled_is_a_noop() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        n.ready().unwrap();
        n.send(&"x".repeat(MAX_MESSAGE + 1)).unwrap();
    }

    #[test]
    fn sends_datagrams_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.ready().unwrap();
        n.status("hi\nthere").unwrap();
        let mut buf = [0u8; 4096];
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"READY=1");
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"STATUS=hi there");
        assert!(n.send(&"x".repeat(MAX_MESSAGE + 1)).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!(
            "ebb-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        );
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(&name).unwrap()).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        n.stopping().unwrap();
        let mut buf = [0u8; 64];
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"STOPPING=1");
    }

    #[test]
    fn full_queue_drops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _rx = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        // Nobody reads: the queue fills, and sends keep returning at once.
        for _ in 0..2000 {
            n.send("X_EBB_REQUESTS=1").unwrap();
        }
    }
}

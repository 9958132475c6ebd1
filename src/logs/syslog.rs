//! Syslog loggers: `syslog[:IDENT[,FACILITY]]` (the local daemon, over `/dev/log`) and
//! `rsyslog:HOST:PORT[,IDENT]` (a remote one, over UDP), as uWSGI's plugins of those names.
//! Each line is one RFC 3164 datagram, `<PRI>Mmm dd hh:mm:ss HOST IDENT[PID]: LINE`, cut at
//! 1024 bytes as RFC 3164 says (uWSGI's default `rsyslog-packet-size`). Sends never
//! block the master: a datagram the socket does not take at once is dropped and counted.

use std::net::{ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;

use super::Level;
use super::time::civil;

/// Longest datagram (RFC 3164 §4.1).
pub const MAX_PACKET: usize = 1024;
const LOCAL_SOCKETS: [&str; 2] = ["/dev/log", "/var/run/syslog"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// `None`: the local daemon; `Some`: `host:port` over UDP.
    pub remote: Option<String>,
    pub ident: String,
    /// Facility number (`daemon` = 3 unless given).
    pub facility: u8,
}

const FACILITIES: [(&str, u8); 12] = [
    ("user", 1),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

impl Spec {
    /// `kind` is `syslog` or `rsyslog`; `arg` what follows its colon.
    pub fn parse(kind: &str, arg: Option<&str>) -> Result<Spec, String> {
        let arg = arg.unwrap_or("");
        if kind == "rsyslog" {
            let (addr, ident) = match arg.split_once(',') {
                Some((a, i)) => (a, i),
                None => (arg, ""),
            };
            let port_ok = addr
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok {
                return Err(format!(
                    "rsyslog needs HOST:PORT[,IDENT], like rsyslog:127.0.0.1:514,myapp; got {arg:?}"
                ));
            }
            return Ok(Spec {
                remote: Some(addr.to_string()),
                ident: if ident.is_empty() { "ebb" } else { ident }.to_string(),
                facility: 3,
            });
        }
        let (ident, facility) = match arg.split_once(',') {
            Some((i, f)) => (i, Some(f)),
            None => (arg, None),
        };
        let facility = match facility {
            None => 3,
            Some(f) => FACILITIES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(f.trim()))
                .map(|(_, n)| *n)
                .ok_or_else(|| {
                    format!(
                        "unknown syslog facility {f:?}: use user, daemon, auth, syslog or \
                         local0..local7"
                    )
                })?,
        };
        Ok(Spec {
            remote: None,
            ident: if ident.is_empty() { "ebb" } else { ident }.to_string(),
            facility,
        })
    }
}

enum Socket {
    Udp(UdpSocket),
    Local(UnixDatagram),
}

/// An open syslog logger.
pub struct Syslog {
    spec: Spec,
    sock: Socket,
    host: String,
    pid: u32,
    packet: Vec<u8>,
    /// Datagrams the socket did not take (or errors), since the last report.
    pub dropped: u64,
}

impl Syslog {
    pub fn open(spec: &Spec) -> anyhow::Result<Syslog> {
        use anyhow::Context;
        let sock = match &spec.remote {
            Some(addr) => {
                let to = addr
                    .to_socket_addrs()
                    .with_context(|| format!("rsyslog: cannot resolve {addr}"))?
                    .next()
                    .with_context(|| format!("rsyslog: {addr} has no address"))?;
                let bind = if to.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
                let s = UdpSocket::bind(bind).context("rsyslog: cannot open a UDP socket")?;
                s.connect(to)
                    .with_context(|| format!("rsyslog: cannot send to {to}"))?;
                s.set_nonblocking(true)?;
                Socket::Udp(s)
            }
            None => {
                let s = UnixDatagram::unbound().context("syslog: cannot open a socket")?;
                LOCAL_SOCKETS
                    .iter()
                    .find(|p| s.connect(p).is_ok())
                    .with_context(|| {
                        "syslog: no syslog daemon listens on /dev/log: start one (rsyslog, \
                         systemd-journald) or use logger = rsyslog:HOST:PORT"
                    })?;
                s.set_nonblocking(true)?;
                Socket::Local(s)
            }
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Ok(Syslog {
            spec: spec.clone(),
            sock,
            host,
            pid: std::process::id(),
            packet: Vec::with_capacity(MAX_PACKET),
            dropped: 0,
        })
    }

    /// Send one line.
    pub fn line(&mut self, level: Level, secs: i64, line: &str) {
        format_packet(
            &mut self.packet,
            &self.spec,
            &self.host,
            self.pid,
            level,
            secs,
            line,
        );
        let r = match &self.sock {
            Socket::Udp(s) => s.send(&self.packet),
            Socket::Local(s) => s.send(&self.packet),
        };
        if r.is_err() {
            self.dropped += 1;
        }
    }

    /// The drop count since the last call, if any.
    pub fn take_dropped(&mut self) -> Option<u64> {
        (self.dropped > 0).then(|| std::mem::take(&mut self.dropped))
    }
}

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `<PRI>Mmm dd hh:mm:ss HOST IDENT[PID]: LINE` (the local form has no HOST, as glibc's
/// `syslog()` writes it), cut at [`MAX_PACKET`] on a character boundary.
fn format_packet(
    out: &mut Vec<u8>,
    spec: &Spec,
    host: &str,
    pid: u32,
    level: Level,
    secs: i64,
    line: &str,
) {
    use std::io::Write as _;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    out.clear();
    let (_, mo, d, h, mi, s) = civil(secs);
    let pri = u32::from(spec.facility) * 8 + u32::from(severity(level));
    let _ = write!(
        out,
        "<{pri}>{} {d:2} {h:02}:{mi:02}:{s:02} ",
        MONTHS[(mo - 1) as usize]
    );
    if spec.remote.is_some() {
        let _ = write!(out, "{host} ");
    }
    let _ = write!(out, "{}[{pid}]: ", spec.ident);
    let room = MAX_PACKET.saturating_sub(out.len());
    let mut cut = line.len().min(room);
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    out.extend_from_slice(&line.as_bytes()[..cut]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let s = Spec::parse("syslog", Some("uwsgi")).unwrap();
        assert_eq!((s.remote, s.ident.as_str(), s.facility), (None, "uwsgi", 3));
        let s = Spec::parse("syslog", Some("app,local6")).unwrap();
        assert_eq!(s.facility, 22);
        assert_eq!(Spec::parse("syslog", None).unwrap().ident, "ebb");
        let s = Spec::parse("rsyslog", Some("127.0.0.1:514,uwsgi")).unwrap();
        assert_eq!(
            (s.remote.as_deref(), s.ident.as_str()),
            (Some("127.0.0.1:514"), "uwsgi")
        );
        for (kind, arg, says) in [
            ("rsyslog", "127.0.0.1", "HOST:PORT"),
            ("rsyslog", ":514", "HOST:PORT"),
            ("rsyslog", "h:99999", "HOST:PORT"),
            ("syslog", "x,kern9", "facility"),
        ] {
            let e = Spec::parse(kind, Some(arg)).unwrap_err();
            assert!(e.contains(says), "{arg}: {e}");
        }
    }

    #[test]
    fn packets_are_rfc3164_and_bounded() {
        let remote = Spec::parse("rsyslog", Some("h:514,uwsgi")).unwrap();
        let local = Spec::parse("syslog", Some("app")).unwrap();
        let mut p = Vec::new();
        let t = 1_796_117_986; // Dec  1 09:39:46
        format_packet(&mut p, &remote, "web1", 42, Level::Error, t, "boom");
        assert_eq!(
            String::from_utf8_lossy(&p),
            "<27>Dec  1 09:39:46 web1 uwsgi[42]: boom"
        );
        format_packet(&mut p, &local, "web1", 42, Level::Info, t, "hi");
        assert_eq!(
            String::from_utf8_lossy(&p),
            "<30>Dec  1 09:39:46 app[42]: hi"
        );
        let long = "é".repeat(2000);
        format_packet(&mut p, &local, "web1", 42, Level::Info, t, &long);
        assert!(
            p.len() <= MAX_PACKET && std::str::from_utf8(&p).is_ok(),
            "{}",
            p.len()
        );
    }
}

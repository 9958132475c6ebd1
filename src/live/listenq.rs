//! Listen queues of the master's TCP sockets, as uWSGI's `listen_queue`: `TCP_INFO` on a
//! socket in LISTEN state gives the connections waiting to be accepted (`tcpi_unacked`,
//! the kernel's `sk_ack_backlog`) and the backlog limit (`tcpi_sacked`,
//! `sk_max_ack_backlog`, already capped by `net.core.somaxconn`), for sockets ebb bound and
//! for those inherited from systemd alike. One `getsockopt` per listener, read only when
//! someone asks.
//!
//! Not /proc/net/tcp: reading it costs the master's loop time in proportion to every TCP
//! socket on the host (tens of thousands of TIME_WAIT entries after a benchmark made each
//! stats document cost most of a second), and every stats or metrics client would pay it.

use nix::sys::socket::getsockopt;
use nix::{getsockopt_impl, sockopt_impl};

use super::snapshot::ListenInfo;
use crate::sockets::Listener;

sockopt_impl!(
    /// `TCP_INFO`: for a listening socket, its accept queue and backlog limit.
    TcpInfo,
    GetOnly,
    libc::IPPROTO_TCP,
    libc::TCP_INFO,
    libc::tcp_info
);

/// `(waiting, limit)` for a TCP socket in LISTEN state; `None` for anything else.
pub fn accept_queue<F: std::os::fd::AsFd>(fd: &F) -> Option<(u64, u64)> {
    let info = getsockopt(fd, TcpInfo).ok()?;
    // TCP_LISTEN is state 10 in the kernel's numbering.
    (info.tcpi_state == 10).then_some((u64::from(info.tcpi_unacked), u64::from(info.tcpi_sacked)))
}

/// Each listener with its queue (TCP) or without (Unix sockets: the kernel does not say).
pub fn listen_info(listeners: &[Listener]) -> Vec<ListenInfo> {
    listeners
        .iter()
        .map(|l| {
            let q = accept_queue(&l.socket);
            ListenInfo {
                name: l.local_addr(),
                proto: l.name.clone(),
                queue: q.map(|q| q.0),
                max_queue: q.map(|q| q.1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_shows_its_queue_and_limit() {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
        s.listen(7).unwrap();
        assert_eq!(accept_queue(&s), Some((0, 7)));
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let _a = std::net::TcpStream::connect(addr).unwrap();
        let _b = std::net::TcpStream::connect(addr).unwrap();
        assert_eq!(accept_queue(&s), Some((2, 7)));
        // A connected socket is not a listener.
        assert_eq!(accept_queue(&_a), None);
    }

    #[test]
    fn a_unix_socket_has_no_tcp_queue() {
        let dir = tempfile::tempdir().unwrap();
        let l = std::os::unix::net::UnixListener::bind(dir.path().join("s")).unwrap();
        assert_eq!(accept_queue(&l), None);
    }
}

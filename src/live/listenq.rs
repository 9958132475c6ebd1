//! Listen queues of the master's TCP sockets, as uWSGI's `listen_queue`: for a socket in
//! LISTEN state, /proc/net/tcp{,6} shows the connections waiting to be accepted as
//! `rx_queue` (the kernel's `sk_ack_backlog`). The socket is found by the inode of its fd.
//! The limit is not there (`tx_queue` is 0 for listeners; only netlink's inet_diag has
//! it): it is the backlog ebb asked for, capped by `net.core.somaxconn` as the kernel caps
//! it, and unknown for sockets inherited from systemd. Read only when someone asks.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use super::snapshot::ListenInfo;
use crate::sockets::Listener;

/// `inode → accept queue` for the LISTEN entries of a /proc/net/tcp{,6} text.
pub fn parse_proc_net_tcp(text: &str) -> HashMap<u64, u64> {
    let mut out = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
        if f.len() < 10 || f[3] != "0A" {
            continue;
        }
        let Some((_, rx)) = f[4].split_once(':') else {
            continue;
        };
        let (Ok(rx), Ok(inode)) = (u64::from_str_radix(rx, 16), f[9].parse::<u64>()) else {
            continue;
        };
        out.insert(inode, rx);
    }
    out
}

/// Each listener with its queue (TCP) or without (Unix sockets: the kernel does not say).
/// `backlog`: what ebb asked for the sockets it bound (`configured`); others are inherited.
pub fn listen_info(
    listeners: &[Listener],
    configured: &[crate::config::SocketSpec],
    backlog: u32,
) -> Vec<ListenInfo> {
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(4096);
    let mut table = HashMap::new();
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(t) = std::fs::read_to_string(f) {
            table.extend(parse_proc_net_tcp(&t));
        }
    }
    listeners
        .iter()
        .map(|l| {
            let inode = std::fs::metadata(format!("/proc/self/fd/{}", l.fd()))
                .ok()
                .map(|m| m.ino());
            let queue = inode.and_then(|i| table.get(&i)).copied();
            let ours = configured.contains(&l.spec);
            ListenInfo {
                name: l.local_addr(),
                proto: l.name.clone(),
                queue,
                max_queue: (queue.is_some() && ours).then(|| u64::from(backlog).min(somaxconn)),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_entries_give_queue_and_limit() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000400:00000003 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 4243 1 0000000000000000 20 4 30 10 -1\n";
        let t = parse_proc_net_tcp(text);
        assert_eq!(t.get(&4242), Some(&3));
        assert_eq!(
            t.get(&4243),
            None,
            "established connections are not listeners"
        );
    }

    #[test]
    fn a_real_listener_is_found_by_inode() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l);
        let ino = std::fs::metadata(format!("/proc/self/fd/{fd}"))
            .unwrap()
            .ino();
        let mut all = parse_proc_net_tcp(&std::fs::read_to_string("/proc/net/tcp").unwrap());
        let queue = all.remove(&ino).expect("the listener is in /proc/net/tcp");
        assert_eq!(queue, 0);
    }
}

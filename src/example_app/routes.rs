//! Routes.

use super::*;

pub(super) fn route(app: &App, req: &Req<'_>) -> Reply {
    let _ = req.method; // every method is served the same way
    match req.path {
        "/" => Reply::Hello,
        "/job" => match parse_ms(req.query) {
            Err(e) => Reply::Text(400, e),
            Ok(ms) => {
                let id = query_param(req.query, "id");
                let id = app.start_job(id.as_deref(), ms);
                Reply::Text(
                    200,
                    format!(
                        "job {id} accepted ms={ms} worker={} pid={} respawn={}\n",
                        app.slot, app.pid, app.respawn
                    ),
                )
            }
        },
        "/sleep" => match parse_ms(req.query) {
            Err(e) => Reply::Text(400, e),
            Ok(ms) => Reply::Sleep(ms),
        },
        "/crash" => Reply::Crash,
        "/fds" => Reply::Text(200, list_fds(&app.inherited_fds)),
        "/env" => Reply::Text(200, list_env()),
        "/stats" => Reply::Text(
            200,
            format!(
                "requests={} inflight={} jobs={} connections={} draining={} worker={} pid={} respawn={}\n",
                app.reporter.requests(),
                app.reporter.inflight(),
                app.reporter.jobs(),
                app.conns.get(),
                u8::from(app.drain.is_draining()),
                app.slot,
                app.pid,
                app.respawn
            ),
        ),
        _ => Reply::Text(404, format!("not found: {}\n", req.path)),
    }
}

/// Open descriptors as `(fd, readlink target)`, sorted, without the listing's own descriptor.
pub(super) fn open_fds() -> io::Result<Vec<(i32, String)>> {
    let own_dir = format!("/proc/{}/fd", std::process::id());
    let mut fds: Vec<(i32, String)> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let n: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "?".to_string());
            (target != own_dir).then_some((n, target))
        })
        .collect();
    fds.sort();
    Ok(fds)
}

/// `fd -> target` per open descriptor, with ` (inherited)` on those already open when the
/// app started (before it opened anything): a leak test expects only 0, 1, 2 and the
/// `LISTEN_FDS` sockets there.
pub(super) fn list_fds(inherited: &[i32]) -> String {
    let fds = match open_fds() {
        Ok(f) => f,
        Err(e) => return format!("cannot list /proc/self/fd: {e}\n"),
    };
    let mut s = String::new();
    for (n, t) in fds {
        let mark = if inherited.contains(&n) {
            " (inherited)"
        } else {
            ""
        };
        let _ = writeln!(s, "{n} -> {t}{mark}");
    }
    s
}

/// The protocol variables, `KEY=VALUE` per line, sorted.
pub(super) fn list_env() -> String {
    let mut vars: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("EBB_")
                || k.starts_with("LISTEN_")
                || k.starts_with("WATCHDOG_")
                || k == "NOTIFY_SOCKET"
        })
        .collect();
    vars.sort();
    let mut s = String::new();
    for (k, v) in vars {
        let _ = writeln!(s, "{k}={v}");
    }
    s
}

//! One request, without blocking.

use super::*;

/// The outcome of [`step`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The head is not complete yet.
    Partial,
    /// Answered (response appended); `used` bytes consumed; keep the connection open?
    Answered { used: usize, keep: bool },
    /// Unusable request: answer this, then close.
    Error(u16, &'static str),
    /// Needs blocking work: let [`Conn::slow_request`] handle it (nothing was consumed, and
    /// no route ran).
    Slow,
}

/// Handles the request at the front of `data` if that needs no waiting: the head and any
/// `Content-Length` body are buffered, and the route answers at once.
pub(super) fn step(app: &App, data: &[u8], out: &mut Vec<u8>, peer: &str) -> Step {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(data) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if data.len() >= MAX_HEAD => {
            return Step::Error(431, "request header fields too large");
        }
        Ok(httparse::Status::Partial) => return Step::Partial,
        Err(httparse::Error::TooManyHeaders) => return Step::Error(431, "too many header fields"),
        Err(_) => return Step::Error(400, "malformed request"),
    };
    let info = match RequestInfo::from(&req) {
        Ok(i) => i,
        Err(msg) => return Step::Error(400, msg),
    };
    let body = match info.body {
        Body::None => 0,
        Body::Length(n) if (data.len() - head_len) as u64 >= n => n as usize,
        _ => return Step::Slow,
    };
    let (path, query) = split_target(req.path.unwrap_or("/"));
    if path == "/sleep" {
        return Step::Slow;
    }
    let method = req.method.unwrap_or("GET");
    let logging = app.access.enabled();
    let (start, began) = if logging {
        (std::time::SystemTime::now(), Instant::now())
    } else {
        (std::time::UNIX_EPOCH, Instant::now())
    };
    let guard = app.reporter.request();
    let reply = route(
        app,
        &Req {
            method,
            path,
            query,
        },
    );
    let head = method == "HEAD";
    let shape = logging.then(|| reply_shape(app, &reply, head));
    let before = out.len();
    let keep = respond(app, out, &info, head, reply);
    guard.done((out.len() - before) as u64);
    if let Some((status, size)) = shape {
        let entry = Entry {
            peer,
            method,
            uri: req.path.unwrap_or("/"),
            proto: if info.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
            status,
            size,
            hsize: (out.len() - before).saturating_sub(size),
            start,
            began,
            headers: Headers::Http(req.headers),
        };
        app.access.record(&entry, app.reporter.requests());
    }
    Step::Answered {
        used: head_len + body,
        keep,
    }
}

/// Appends the response for `reply`; returns whether the connection stays open.
pub(super) fn respond(
    app: &App,
    out: &mut Vec<u8>,
    info: &RequestInfo,
    head: bool,
    reply: Reply,
) -> bool {
    let keep = info.keep_alive && !info.must_close && !app.drain.is_draining();
    let conn_hdr = match (keep, info.http10) {
        (false, _) => "Connection: close\r\n",
        (true, true) => "Connection: keep-alive\r\n",
        (true, false) => "",
    };
    match reply {
        Reply::Hello if !head => out.extend_from_slice(match (keep, info.http10) {
            (false, _) => &app.hello.close,
            (true, true) => &app.hello.keep_alive_10,
            (true, false) => &app.hello.keep_alive,
        }),
        Reply::Hello => write_text(out, 200, &app.hello.body, true, conn_hdr),
        Reply::Text(status, body) => write_text(out, status, &body, head, conn_hdr),
        Reply::Sleep(ms) => {
            // Only the blocking path gets here, after it slept.
            let body = format!("slept {ms} ms {}", app.hello.body);
            write_text(out, 200, &body, head, conn_hdr);
        }
        Reply::Crash => crash(app),
    }
    keep
}

pub(super) fn crash(app: &App) -> ! {
    say!(
        "ebb example-app[worker={} pid={}]: /crash: aborting on purpose",
        app.slot,
        app.pid
    );
    std::process::abort();
}

pub(super) fn error_response(out: &mut Vec<u8>, status: u16, msg: &str) {
    let body = format!("{msg}\n");
    write_text(out, status, &body, false, "Connection: close\r\n");
}

//! Access records (docs/protocol.md, "Log records"): one line per request on `EBB_LOG_FD`
//! in the compact form (tab-separated fields), for the master to render. Cheap enough for ~100k requests/s: a record is
//! formatted into the thread's own buffer, and each event loop writes its buffer once per
//! turn (blocking connection threads write after each request), under one lock so records
//! never interleave. Outside ebb (no `EBB_LOG_FD`) each record is a text line on stderr.

use std::cell::RefCell;
use std::time::SystemTime;

use super::*;

/// A thread's buffer is written once it holds this much.
const FLUSH_AT: usize = 32 * 1024;

/// Which requests get a record, and where it goes (`EBB_LOG_*`).
pub(super) struct AccessLog {
    out: Option<Mutex<File>>,
    /// Records are wanted at all (some filter is on).
    on: bool,
    all: bool,
    c4xx: bool,
    c5xx: bool,
    slow_us: Option<u64>,
    xff: bool,
    memory: bool,
    req_headers: Vec<String>,
    /// The master is gone (EPIPE): records are dropped from now on.
    dead: AtomicBool,
}

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(FLUSH_AT + 1024));
}

/// What a request was, for its record.
pub(super) struct Entry<'a> {
    pub(super) peer: &'a str,
    pub(super) method: &'a str,
    pub(super) uri: &'a str,
    pub(super) proto: &'a str,
    pub(super) status: u16,
    pub(super) size: usize,
    pub(super) hsize: usize,
    pub(super) start: SystemTime,
    pub(super) began: Instant,
    pub(super) headers: Headers<'a>,
}

/// A request's headers: as parsed from HTTP, or (uwsgi protocol) `HTTP_*` vars turned back
/// into lower-case names.
pub(super) enum Headers<'a> {
    Http(&'a [httparse::Header<'a>]),
    Pairs(&'a [(String, String)]),
}

impl Headers<'_> {
    fn get(&self, name: &str) -> &str {
        match self {
            Headers::Http(h) => h
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map_or("", |h| std::str::from_utf8(h.value).unwrap_or("")),
            Headers::Pairs(p) => p
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map_or("", |(_, v)| v.as_str()),
        }
    }
}

/// uwsgi vars `HTTP_X_REQUEST_ID` → `x-request-id`, for [`Headers::Pairs`].
pub(super) fn uwsgi_headers(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("HTTP_")
                .map(|n| (n.to_ascii_lowercase().replace('_', "-"), v.to_string()))
        })
        .collect()
}

impl AccessLog {
    pub(super) fn from_env(env: &dyn Fn(&str) -> Option<String>) -> AccessLog {
        let flag = |k: &str, default: bool| {
            env(k).map_or(default, |v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
        };
        let out = env("EBB_LOG_FD")
            .and_then(|v| v.trim().parse::<i32>().ok())
            .filter(|&fd| fd > 2 && fd_is_open(fd))
            .map(|fd| Mutex::new(File::from(crate::spawn::adopt_fd(fd))));
        let all = flag("EBB_LOG_REQUESTS", true);
        let c4xx = flag("EBB_LOG_4XX", false);
        let c5xx = flag("EBB_LOG_5XX", false);
        let slow_us = env("EBB_LOG_SLOW_MS")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|ms| ms * 1000);
        let req_headers = env("EBB_LOG_REQ_HEADERS")
            .map(|v| {
                v.split(',')
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        AccessLog {
            out,
            on: all || c4xx || c5xx || slow_us.is_some(),
            all,
            c4xx,
            c5xx,
            slow_us,
            xff: flag("EBB_LOG_XFF", false),
            memory: flag("EBB_LOG_MEMORY", false),
            req_headers,
            dead: AtomicBool::new(false),
        }
    }

    /// Off: no record will be written (nothing to measure either).
    pub(super) fn enabled(&self) -> bool {
        self.on && !self.dead.load(Ordering::Relaxed)
    }

    fn wanted(&self, status: u16, us: u64) -> bool {
        self.all
            || (self.c4xx && (400..500).contains(&status))
            || (self.c5xx && (500..600).contains(&status))
            || self.slow_us.is_some_and(|s| us >= s)
    }

    /// Record one request (`req`: requests handled, this one included).
    pub(super) fn record(&self, e: &Entry<'_>, req: u64) {
        let us = e.began.elapsed().as_micros() as u64;
        if !self.enabled() || !self.wanted(e.status, us) {
            return;
        }
        let header = |name: &str| e.headers.get(name);
        let mut addr = e.peer;
        if self.xff
            && let Some(first) = header("x-forwarded-for").split(',').next()
            && !first.trim().is_empty()
        {
            addr = first.trim();
        }
        let Some(out) = &self.out else {
            say!(
                "{addr} {} {} {} => {} {} bytes in {us} us (req {req})",
                e.method,
                e.uri,
                e.proto,
                e.status,
                e.size
            );
            return;
        };
        let start_us = e
            .start
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        // The compact form (docs/protocol.md, "Log records"): `a`, the numbers, the strings,
        // then the extra fields as one JSON object when there are any.
        let full = BUF.with(|b| {
            let mut b = b.borrow_mut();
            let mut w = VecWriter(&mut b);
            let _ = write!(
                w,
                "a\t{}\t{}\t{}\t{start_us}\t{us}\t{req}",
                e.status, e.size, e.hsize
            );
            for s in [
                addr,
                "",
                e.method,
                e.proto,
                header("host"),
                header("referer"),
                header("user-agent"),
                e.uri,
            ] {
                w.0.push(b'\t');
                field_str(&mut w, s);
            }
            let mut extra = false;
            let mut member = |w: &mut VecWriter<'_>| {
                w.0.extend_from_slice(if extra { b"," } else { b"\t{" });
                extra = true;
            };
            if !self.req_headers.is_empty() {
                member(&mut w);
                let _ = write!(w, "\"rh\":{{");
                let mut first = true;
                for h in &self.req_headers {
                    let v = header(h);
                    if v.is_empty() {
                        continue;
                    }
                    if !first {
                        let _ = write!(w, ",");
                    }
                    first = false;
                    json_str(&mut w, h);
                    let _ = write!(w, ":");
                    json_str(&mut w, v);
                }
                let _ = write!(w, "}}");
            }
            if self.memory
                && let Some((rss, vsz)) = memory()
            {
                member(&mut w);
                let _ = write!(w, "\"rss\":{rss},\"vsz\":{vsz}");
            }
            if extra {
                w.0.push(b'}');
            }
            w.0.push(b'\n');
            b.len() >= FLUSH_AT
        });
        if full {
            self.flush_with(out);
        }
    }

    /// Write this thread's buffered records.
    pub(super) fn flush(&self) {
        if let Some(out) = &self.out {
            self.flush_with(out);
        }
    }

    fn flush_with(&self, out: &Mutex<File>) {
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            if b.is_empty() {
                return;
            }
            if !self.dead.load(Ordering::Relaxed) {
                let mut f = lock(out);
                if f.write_all(&b).is_err() {
                    // EPIPE: the master is gone. Drop records from now on; keep draining.
                    self.dead.store(true, Ordering::Relaxed);
                }
            }
            b.clear();
        });
    }
}

/// `"…"` with JSON escapes.
fn json_str(w: &mut VecWriter<'_>, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        w.0.push(b'"');
        w.0.extend_from_slice(s.as_bytes());
        w.0.push(b'"');
        return;
    }
    let _ = serde_json::to_writer(&mut *w.0, s);
}

/// A string field of the compact form: a JSON string's text without its quotes.
fn field_str(w: &mut VecWriter<'_>, s: &str) {
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        w.0.extend_from_slice(s.as_bytes());
        return;
    }
    let quoted = serde_json::to_string(s).unwrap_or_default();
    w.0.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
}

/// RSS and VSZ in bytes, from `/proc/self/statm`.
fn memory() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut it = s.split_whitespace().map(|n| n.parse::<u64>().ok());
    let vsz = it.next()??;
    let rss = it.next()??;
    Some((rss * 4096, vsz * 4096))
}

fn fd_is_open(fd: i32) -> bool {
    nix::fcntl::fcntl(crate::spawn::borrow_fd(fd), nix::fcntl::FcntlArg::F_GETFD).is_ok()
}

/// Writes the thread's buffered records when an event loop ends.
pub(super) struct FlushOnDrop(pub(super) &'static AccessLog);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// The client address of a connection, for its records.
pub(super) fn peer_of(s: &Stream) -> String {
    match s {
        Stream::Tcp(t) => t
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        Stream::Unix(_) => String::new(),
    }
}

/// Status and body length of a reply as [`respond`] writes it.
pub(super) fn reply_shape(app: &App, reply: &Reply, head: bool) -> (u16, usize) {
    let (status, len) = match reply {
        Reply::Hello => (200, app.hello.body.len()),
        Reply::Text(s, b) => (*s, b.len()),
        Reply::Sleep(ms) => (
            200,
            "slept  ms ".len() + ms.to_string().len() + app.hello.body.len(),
        ),
        Reply::Crash => (500, 0),
    };
    (status, if head { 0 } else { len })
}

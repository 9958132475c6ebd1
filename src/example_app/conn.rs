//! Connections with a thread of their own (blocking I/O).

use super::*;

/// Why a blocking connection ends.
pub(super) enum End {
    /// Close now (peer gone, timeout, I/O error).
    Now,
    /// Send this last response (if any), then close gracefully.
    After(Option<(u16, &'static str)>),
}

/// A connection served by its own thread with blocking I/O: uwsgi connections, and HTTP
/// connections handed off by an event loop for a request that has to wait.
pub(super) struct Conn {
    pub(super) app: &'static App,
    pub(super) stream: Stream,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) out: Vec<u8>,
    pub(super) last_active: Instant,
    /// The client's address, for access records (empty when they are off).
    pub(super) peer: String,
}

/// A parsed request, reduced to what the routes need.
pub(super) struct Req<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
}

/// A route's answer.
pub(super) enum Reply {
    Hello,
    Text(u16, String),
    Sleep(u64),
    Crash,
}

impl Conn {
    pub(super) fn new(app: &'static App, stream: Stream) -> Conn {
        Conn {
            app,
            peer: if app.access.enabled() {
                peer_of(&stream)
            } else {
                String::new()
            },
            stream,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            out: Vec::with_capacity(1024),
            last_active: Instant::now(),
        }
    }

    pub(super) fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let r = self.stream.write_all(&self.out);
            self.out.clear();
            r?;
        }
        Ok(())
    }

    /// Reads more bytes into the buffer (compacting/growing it). With a `timeout`, waits for
    /// data at most that long first; without, the caller knows the socket is readable.
    /// `Ok(false)` on EOF or timeout.
    pub(super) fn fill(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let n = (self.buf.len() * 2).min(MAX_HEAD.max(self.buf.len()));
            if n == self.buf.len() {
                return Err(io::Error::other("request head too large"));
            }
            self.buf.resize(n, 0);
        }
        if let Some(t) = timeout
            && !wait_plain(self.stream.as_fd(), t)?
        {
            return Ok(false);
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads more within the read timeout; `false` on EOF, timeout or error.
    pub(super) fn more(&mut self) -> bool {
        matches!(self.fill(Some(self.app.cfg.read_timeout)), Ok(true))
    }

    /// Waits for the next request on a keep-alive connection: until data arrives, the
    /// keep-alive timeout, or — once draining — the idle grace. `false`: close.
    pub(super) fn await_next(&mut self) -> bool {
        let app = self.app;
        loop {
            let idle = self.last_active.elapsed();
            let limit = if app.drain.is_draining() {
                app.cfg.idle_grace.min(app.cfg.keepalive)
            } else {
                app.cfg.keepalive
            };
            let Some(left) = limit.checked_sub(idle).filter(|d| !d.is_zero()) else {
                // Out of time, but a request that arrived meanwhile is still answered.
                return matches!(wait_plain(self.stream.as_fd(), Duration::ZERO), Ok(true));
            };
            match app.drain.wait_readable(self.stream.as_fd(), Some(left)) {
                Ok(w) if w.readable => return true,
                Ok(_) => {} // drain started or time passed: recompute the limit
                Err(_) => return false,
            }
        }
    }

    pub(super) fn serve_http(mut self) {
        let end = self.http_loop();
        self.finish(end);
    }

    pub(super) fn finish(mut self, end: End) {
        match end {
            End::Now => {
                let _ = self.flush();
            }
            End::After(last) => {
                if let Some((status, msg)) = last {
                    error_response(&mut self.out, status, msg);
                }
                if self.flush().is_ok() {
                    self.linger();
                }
            }
        }
    }

    /// Half-closes and reads until the peer closes (bounded), so unread request bytes cannot turn
    /// our close into a reset that destroys the last response before the client reads it.
    pub(super) fn linger(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + linger_time(self.app);
        let mut scratch = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !matches!(wait_plain(self.stream.as_fd(), left), Ok(true)) {
                return;
            }
            match self.stream.read(&mut scratch) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    pub(super) fn http_loop(&mut self) -> End {
        let app = self.app;
        let _records = FlushOnDrop(&app.access);
        loop {
            if self.start == self.end {
                // Between requests: send what is pending, then wait for the next one.
                app.access.flush();
                if self.flush().is_err() {
                    return End::Now;
                }
                if !self.await_next() {
                    return End::After(None);
                }
                if !matches!(self.fill(None), Ok(true)) {
                    return End::Now;
                }
                continue;
            }
            match step(
                app,
                &self.buf[self.start..self.end],
                &mut self.out,
                &self.peer,
            ) {
                Step::Partial => {
                    // A request has begun: it is in flight, so the drain does not cut it.
                    if self.flush().is_err() {
                        return End::Now;
                    }
                    match self.fill(Some(app.cfg.read_timeout)) {
                        Ok(true) => {}
                        Ok(false) => return End::Now,
                        Err(e) if e.kind() == io::ErrorKind::Other => {
                            return End::After(Some((431, "request header fields too large")));
                        }
                        Err(_) => return End::Now,
                    }
                }
                Step::Answered { used, keep } => {
                    self.start += used;
                    self.last_active = Instant::now();
                    if !keep {
                        return End::After(None);
                    }
                }
                Step::Error(status, msg) => return End::After(Some((status, msg))),
                Step::Slow => match self.slow_request() {
                    Ok(true) => self.last_active = Instant::now(),
                    Ok(false) => return End::After(None),
                    Err(end) => return end,
                },
            }
        }
    }

    /// A request [`step`] could not finish without waiting: its head is complete in the buffer.
    /// Returns whether to keep the connection.
    pub(super) fn slow_request(&mut self) -> Result<bool, End> {
        let app = self.app;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head_len)) = req.parse(&self.buf[self.start..self.end])
        else {
            return Err(End::After(Some((400, "malformed request"))));
        };
        let began = Instant::now();
        let start = std::time::SystemTime::now();
        // For the access record, after the body was read (the buffer is reused).
        let head_copy = app
            .access
            .enabled()
            .then(|| self.buf[self.start..self.start + head_len].to_vec());
        let guard = app.reporter.request();
        let info = RequestInfo::from(&req).map_err(|m| End::After(Some((400, m))))?;
        let method = req.method.unwrap_or("GET").to_string();
        let (path, query) = split_target(req.path.unwrap_or("/"));
        let reply = route(
            app,
            &Req {
                method: &method,
                path,
                query,
            },
        );
        self.start += head_len;
        if info.expect_continue && !info.body_in(self.end - self.start) {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            self.flush().map_err(|_| End::Now)?;
        }
        let body_ok = match info.body {
            Body::None => true,
            Body::Length(n) => self.discard(n),
            Body::Chunked => self.discard_chunked(),
        };
        if !body_ok {
            return Err(End::Now);
        }
        if let Reply::Sleep(ms) = reply {
            self.flush().map_err(|_| End::Now)?;
            std::thread::sleep(Duration::from_millis(ms));
        }
        let head = method == "HEAD";
        let (status, size) = reply_shape(app, &reply, head);
        let before = self.out.len();
        let keep = respond(app, &mut self.out, &info, head, reply);
        guard.done((self.out.len() - before) as u64);
        if let Some(copy) = head_copy {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            let _ = req.parse(&copy);
            let entry = Entry {
                peer: &self.peer,
                method: &method,
                uri: req.path.unwrap_or("/"),
                proto: if info.http10 { "HTTP/1.0" } else { "HTTP/1.1" },
                status,
                size,
                hsize: (self.out.len() - before).saturating_sub(size),
                start,
                began,
                headers: Headers::Http(req.headers),
            };
            app.access.record(&entry, app.reporter.requests());
            app.access.flush();
        }
        Ok(keep)
    }

    /// Reads and throws away `n` body bytes.
    pub(super) fn discard(&mut self, mut n: u64) -> bool {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return true;
            }
            if !self.more() {
                return false;
            }
        }
    }

    /// Reads and throws away a chunked body, trailers included.
    pub(super) fn discard_chunked(&mut self) -> bool {
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete((used, size))) => {
                    self.start += used;
                    if size == 0 {
                        break;
                    }
                    if !self.discard(size) || !self.expect_crlf() {
                        return false;
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > 1024 || !self.more() {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        // Trailer section: header lines up to an empty line.
        let mut total = 0;
        loop {
            let pending = &self.buf[self.start..self.end];
            match pending.windows(2).position(|w| w == b"\r\n") {
                Some(0) => {
                    self.start += 2;
                    return true;
                }
                Some(i) => {
                    self.start += i + 2;
                    total += i + 2;
                    if total > MAX_HEAD {
                        return false;
                    }
                }
                None => {
                    if self.end - self.start > MAX_HEAD || !self.more() {
                        return false;
                    }
                }
            }
        }
    }

    pub(super) fn expect_crlf(&mut self) -> bool {
        while self.end - self.start < 2 {
            if !self.more() {
                return false;
            }
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return false;
        }
        self.start += 2;
        true
    }

    // -----------------------------------------------------------------------------------------
    // uwsgi

    /// One uwsgi request: a 4-byte header, the vars block, the body; a plain HTTP response;
    /// then close.
    pub(super) fn serve_uwsgi(mut self) {
        let end = self.uwsgi_request();
        self.finish(end);
    }

    pub(super) fn uwsgi_request(&mut self) -> End {
        let app = self.app;
        while self.end < 4 {
            if !self.more() {
                return End::Now;
            }
        }
        let (modifier1, size) = (self.buf[0], u16::from_le_bytes([self.buf[1], self.buf[2]]));
        if modifier1 != 0 {
            return End::After(Some((400, "unsupported uwsgi modifier")));
        }
        let need = 4 + size as usize;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        while self.end < need {
            if !self.more() {
                return End::Now;
            }
        }
        let Some(vars) = parse_uwsgi_vars(&self.buf[4..need]) else {
            return End::After(Some((400, "malformed uwsgi packet")));
        };
        let var = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let method = var("REQUEST_METHOD").unwrap_or("GET").to_string();
        let path = match var("PATH_INFO") {
            Some(p) => p.to_string(),
            None => split_target(var("REQUEST_URI").unwrap_or("/"))
                .0
                .to_string(),
        };
        let query = var("QUERY_STRING").unwrap_or("").to_string();
        // For the access record (the vars borrow the buffer, which is reused below).
        let logged = app.access.enabled().then(|| {
            let uri = match var("REQUEST_URI") {
                Some(u) => u.to_string(),
                None if query.is_empty() => path.clone(),
                None => format!("{path}?{query}"),
            };
            (
                var("REMOTE_ADDR").unwrap_or("").to_string(),
                uri,
                var("SERVER_PROTOCOL").unwrap_or("HTTP/1.1").to_string(),
                uwsgi_headers(&vars),
            )
        });
        let began = Instant::now();
        let start = std::time::SystemTime::now();
        let length = match var("CONTENT_LENGTH")
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => 0,
            Some(v) => match v.parse::<u64>() {
                Ok(n) => n,
                Err(_) => return End::After(Some((400, "bad CONTENT_LENGTH"))),
            },
        };
        self.start = need;
        let guard = app.reporter.request();
        let reply = route(
            app,
            &Req {
                method: &method,
                path: &path,
                query: &query,
            },
        );
        if !self.discard(length) {
            return End::Now;
        }
        if let Reply::Sleep(ms) = reply {
            std::thread::sleep(Duration::from_millis(ms));
        }
        let info = RequestInfo {
            http10: false,
            keep_alive: false,
            must_close: true,
            body: Body::None,
            expect_continue: false,
        };
        let head = method == "HEAD";
        let (status, size) = reply_shape(app, &reply, head);
        let before = self.out.len();
        respond(app, &mut self.out, &info, head, reply);
        guard.done((self.out.len() - before) as u64);
        if let Some((addr, uri, proto, headers)) = logged {
            let entry = Entry {
                peer: &addr,
                method: &method,
                uri: &uri,
                proto: &proto,
                status,
                size,
                hsize: (self.out.len() - before).saturating_sub(size),
                start,
                began,
                headers: Headers::Pairs(&headers),
            };
            app.access.record(&entry, app.reporter.requests());
            app.access.flush();
        }
        End::After(None)
    }
}

/// Waits for `fd` to be readable (or hung up) for at most `timeout`, ignoring the drain.
pub(super) fn wait_plain(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // Round up, so we never wake before the deadline and spin.
        let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Parses a uwsgi vars block: repeated (u16 LE key length, key, u16 LE value length, value).
pub(super) fn parse_uwsgi_vars(mut b: &[u8]) -> Option<Vec<(&str, &str)>> {
    pub(super) fn take<'a>(b: &mut &'a [u8]) -> Option<&'a str> {
        let (len, rest) = b.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len) as usize;
        let s = rest.get(..len)?;
        *b = &rest[len..];
        std::str::from_utf8(s).ok()
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let k = take(&mut b)?;
        let v = take(&mut b)?;
        out.push((k, v));
    }
    Some(out)
}

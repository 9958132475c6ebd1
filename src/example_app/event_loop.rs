//! Event loops: accept, and serve every request that needs no waiting.

use super::*;

/// What to do with a connection after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    Keep,
    Close,
    /// It needs blocking work (a body still to read, `/sleep`, `Expect: 100-continue`): hand it
    /// to a thread of its own.
    HandOff,
}

/// One event-loop thread: it polls the listening sockets, the drain descriptor and its own
/// connections, and answers every request that is complete in its buffer.
pub(super) struct EventLoop {
    pub(super) app: &'static App,
    /// Dropped on drain: when every loop has dropped its clone, our listener copies close.
    pub(super) listeners: Option<Arc<Vec<(Proto, Listener)>>>,
    /// Accepting paused until then, after running out of descriptors or memory.
    pub(super) paused_until: Option<Instant>,
    pub(super) last_error_log: Option<Instant>,
    pub(super) conns: Vec<LoopConn>,
}

/// A connection owned by an event loop (non-blocking socket).
pub(super) struct LoopConn {
    pub(super) stream: Stream,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) out: Vec<u8>,
    /// Bytes of `out` already written.
    pub(super) sent: usize,
    /// End of the last response (or accept): the keep-alive idle clock.
    pub(super) last_active: Instant,
    /// Last read or write progress: the stall clock for half-received requests and blocked
    /// writes.
    pub(super) last_io: Instant,
    /// Close once `out` is written.
    pub(super) closing: bool,
    /// Half-closed, reading until EOF or this deadline.
    pub(super) linger_until: Option<Instant>,
    /// The client's address, for access records (empty when they are off).
    pub(super) peer: String,
}

impl EventLoop {
    pub(super) fn run(mut self) {
        let app = self.app;
        let mut revents: Vec<PollFlags> = Vec::new();
        let _records = FlushOnDrop(&app.access);
        loop {
            // This turn's access records, in one write.
            app.access.flush();
            let draining = app.drain.is_draining();
            if draining && self.listeners.take().is_some() {
                app.accepting.dec(&app.drain);
            }
            let now = Instant::now();
            let accept_on = self.listeners.is_some() && self.paused_until.is_none_or(|t| now >= t);
            let mut next = if accept_on { None } else { self.paused_until };
            for c in &self.conns {
                let d = c.deadline(app, draining);
                next = Some(next.map_or(d, |n: Instant| n.min(d)));
            }
            let timeout = match next {
                None => PollTimeout::NONE,
                Some(t) => poll_timeout(t.saturating_duration_since(now)),
            };
            let nlisten = match (&self.listeners, accept_on) {
                (Some(l), true) => l.len(),
                _ => 0,
            };
            let watch_drain = usize::from(!draining);
            {
                let mut fds = Vec::with_capacity(watch_drain + nlisten + self.conns.len());
                if !draining {
                    fds.push(PollFd::new(app.drain.fd(), PollFlags::POLLIN));
                }
                if let (Some(ls), true) = (&self.listeners, accept_on) {
                    for (_, l) in ls.iter() {
                        fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                    }
                }
                for c in &self.conns {
                    fds.push(PollFd::new(c.stream.as_fd(), c.interest()));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        // Only EINVAL/ENOMEM are possible; back off rather than spin.
                        say!("ebb example-app: poll failed: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                }
                revents.clear();
                revents.extend(
                    fds.iter()
                        .map(|f| f.revents().unwrap_or(PollFlags::empty())),
                );
            }
            let now = Instant::now();
            let draining = app.drain.is_draining();
            // Connections first (indices stay valid: new ones are pushed after them).
            let first_conn = watch_drain + nlisten;
            for i in (0..revents.len() - first_conn).rev() {
                let ev = revents[first_conn + i];
                let c = &mut self.conns[i];
                let mut next = if ev.is_empty() {
                    Next::Keep
                } else {
                    c.on_event(app, ev, now)
                };
                if next == Next::Keep && now >= c.deadline(app, draining) {
                    next = c.expire(app, now);
                }
                match next {
                    Next::Keep => {}
                    Next::Close => {
                        drop(self.conns.swap_remove(i));
                        app.conns.dec(&app.drain);
                    }
                    Next::HandOff => {
                        let c = self.conns.swap_remove(i);
                        c.hand_off(app);
                    }
                }
            }
            if let Some(ls) = self.listeners.take() {
                for (k, (proto, l)) in ls.iter().enumerate().take(nlisten) {
                    if !draining && !revents[watch_drain + k].is_empty() {
                        self.accept_from(*proto, l);
                    }
                }
                self.listeners = Some(ls);
            }
        }
    }

    /// Accepts what is queued (a bounded batch, for fairness with the connections).
    pub(super) fn accept_from(&mut self, proto: Proto, l: &Listener) {
        let app = self.app;
        for _ in 0..64 {
            match l.accept() {
                Ok(s) => {
                    if app.conns.inc() > app.cfg.max_conns {
                        refuse_busy(s);
                        app.conns.dec(&app.drain);
                        continue;
                    }
                    let _ = s.set_nodelay(true);
                    match proto {
                        Proto::Uwsgi => spawn_conn(app, Conn::new(app, s), Conn::serve_uwsgi),
                        Proto::Http => {
                            if s.set_nonblocking(true).is_err() {
                                app.conns.dec(&app.drain);
                                continue;
                            }
                            self.conns.push(LoopConn::new(s, app.access.enabled()));
                        }
                    }
                }
                Err(e) => match e.kind() {
                    io::ErrorKind::WouldBlock => return, // a sibling got it
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => {}
                    _ if e.raw_os_error() == Some(libc::EPROTO) => {}
                    _ => {
                        // Out of descriptors or memory (or worse): pause accepting briefly
                        // instead of spinning on a listener that stays readable.
                        if self
                            .last_error_log
                            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
                        {
                            say!(
                                "ebb example-app: accept on {}: {e}; pausing accepts",
                                l.describe()
                            );
                            self.last_error_log = Some(Instant::now());
                        }
                        self.paused_until = Some(Instant::now() + Duration::from_millis(50));
                        return;
                    }
                },
            }
        }
    }
}

/// Answers 503 and closes: over `EBB_EXAMPLE_MAX_CONNS`.
pub(super) fn refuse_busy(mut s: Stream) {
    let _ = s.set_nonblocking(true);
    let _ = s.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver busy\n",
    );
    let _ = s.shutdown(Shutdown::Write);
}

pub(super) fn poll_timeout(d: Duration) -> PollTimeout {
    // Round up, so we never wake before the deadline and spin.
    let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

impl LoopConn {
    pub(super) fn new(stream: Stream, log: bool) -> LoopConn {
        let now = Instant::now();
        LoopConn {
            peer: if log { peer_of(&stream) } else { String::new() },
            stream,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            out: Vec::new(),
            sent: 0,
            last_active: now,
            last_io: now,
            closing: false,
            linger_until: None,
        }
    }

    pub(super) fn out_pending(&self) -> bool {
        self.sent < self.out.len()
    }

    pub(super) fn interest(&self) -> PollFlags {
        if self.out_pending() {
            PollFlags::POLLOUT
        } else {
            PollFlags::POLLIN
        }
    }

    /// When this connection times out: lingering ends, a stalled request or write is dropped,
    /// an idle keep-alive connection is closed (after the short grace once draining).
    pub(super) fn deadline(&self, app: &App, draining: bool) -> Instant {
        if let Some(t) = self.linger_until {
            return t;
        }
        if self.out_pending() || self.start < self.end {
            return self.last_io + app.cfg.read_timeout;
        }
        let idle = if draining {
            app.cfg.idle_grace.min(app.cfg.keepalive)
        } else {
            app.cfg.keepalive
        };
        self.last_active + idle
    }

    pub(super) fn expire(&mut self, app: &App, now: Instant) -> Next {
        let idle = self.linger_until.is_none() && !self.out_pending() && self.start == self.end;
        if idle {
            // The poll's verdict may be stale (the thread stalled after it: a SIGSTOP, a VM
            // pause): a request waiting in the socket is answered, not cut.
            if matches!(wait_plain(self.stream.as_fd(), Duration::ZERO), Ok(true)) {
                return self.on_event(app, PollFlags::POLLIN, now);
            }
            self.begin_linger(app, now);
            Next::Keep
        } else {
            Next::Close
        }
    }

    pub(super) fn begin_linger(&mut self, app: &App, now: Instant) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.linger_until = Some(now + linger_time(app));
    }

    pub(super) fn on_event(&mut self, app: &App, ev: PollFlags, now: Instant) -> Next {
        if self.linger_until.is_some() {
            return self.linger_read();
        }
        if self.out_pending() {
            if ev.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)
                && !ev.contains(PollFlags::POLLOUT)
            {
                return Next::Close;
            }
            return self.process(app, now);
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD {
                self.buf.resize((self.buf.len() * 2).min(MAX_HEAD), 0);
            } else {
                return Next::Close; // cannot happen: a full buffer is a 431 already
            }
        }
        match self.stream.read(&mut self.buf[self.end..]) {
            Ok(0) => return Next::Close,
            Ok(n) => {
                self.end += n;
                self.last_io = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Next::Keep,
            Err(_) => return Next::Close,
        }
        self.process(app, now)
    }

    /// Answers the complete requests in the buffer, then writes what it can.
    pub(super) fn process(&mut self, app: &App, now: Instant) -> Next {
        if !self.out_pending() {
            self.out.clear();
            self.sent = 0;
            while !self.closing && self.start < self.end {
                match step(
                    app,
                    &self.buf[self.start..self.end],
                    &mut self.out,
                    &self.peer,
                ) {
                    Step::Partial => break,
                    Step::Answered { used, keep } => {
                        self.start += used;
                        self.last_active = now;
                        self.closing = !keep;
                    }
                    Step::Error(status, msg) => {
                        error_response(&mut self.out, status, msg);
                        self.closing = true;
                    }
                    Step::Slow => return Next::HandOff,
                }
            }
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            }
        }
        while self.out_pending() {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => return Next::Close,
                Ok(n) => {
                    self.sent += n;
                    self.last_io = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
        if self.closing {
            self.begin_linger(app, now);
            return self.linger_read();
        }
        Next::Keep
    }

    /// Reads and discards until EOF (close) or until nothing is available (keep lingering).
    pub(super) fn linger_read(&mut self) -> Next {
        let mut scratch = [0u8; 4096];
        loop {
            match self.stream.read(&mut scratch) {
                Ok(0) => return Next::Close,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Next::Close,
            }
        }
    }

    /// Moves the connection to a thread with blocking I/O, with its buffered bytes and any
    /// responses not yet written.
    pub(super) fn hand_off(self, app: &'static App) {
        if self.stream.set_nonblocking(false).is_err() {
            app.conns.dec(&app.drain);
            return;
        }
        let mut c = Conn::new(app, self.stream);
        c.buf = self.buf;
        c.start = self.start;
        c.end = self.end;
        c.out = self.out;
        c.out.drain(..self.sent);
        c.last_active = self.last_active;
        spawn_conn(app, c, Conn::serve_http);
    }
}

/// How long a closing connection waits for the client's FIN.
pub(super) fn linger_time(app: &App) -> Duration {
    app.cfg.idle_grace.max(Duration::from_millis(100))
}

/// Runs `serve` on a thread of its own; the connection counts until it returns.
pub(super) fn spawn_conn(app: &'static App, conn: Conn, serve: fn(Conn)) {
    let spawned = std::thread::Builder::new()
        .name("conn".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            serve(conn);
            app.conns.dec(&app.drain);
        });
    if let Err(e) = spawned {
        say!("ebb example-app: cannot start a connection thread: {e}");
        app.conns.dec(&app.drain);
    }
}

"""The event loop and its serving threads (one leads, one stands by), connections, the drain."""

import collections
import errno
import itertools
import os
import select
import signal
import socket
import struct
import threading
import time
import traceback
from _socket import socket as _socket_object

from .accept import Accepting
from .handover import keeps_waiting, may_stick, probe as _probe, serve_waited
from .poller import make_poller
from .harakiri import Harakiri
from .http1 import HTTPServing, _error_response
from .logs import _deferred, flush_deferred, log, records as log_records
from .master import Reporting, _bound_orphan_drain
from .uwsgi import UwsgiServing
from .wsgi import Responding, _Ctx
from .settings import (DEFER_ACCEPT, DRAIN_GRACE, HAND_OVER_AFTER, HAND_OVER_FOR,
                       KEEPALIVE_TIMEOUT, LINGER, MSG_DONTWAIT, RECV, REQUEST_TIMEOUT,
                       STICK_FOR, TAKEOVER, _monotonic)

# --------------------------------------------------------------------------------------------
# Connections and per-thread request state


class _Listener(object):
    __slots__ = ("sock", "fd", "kind", "family", "tcp", "base", "wildcard", "name", "inherits")


class _Conn(object):
    __slots__ = ("sock", "fd", "env", "buf", "deadline", "partial", "handler", "unix", "tcp",
                 "fresh", "polled", "muted")

    def __init__(self, sock, fd, env, handler, unix):
        self.sock = sock
        self.fd = fd
        self.env = env
        self.buf = b""
        self.deadline = 0.0
        self.partial = 0.0       # when the first byte of an incomplete request arrived
        self.handler = handler
        self.unix = unix
        self.fresh = True        # accepted, no request yet
        self.polled = False      # registered in the poller (at its first park)
        self.muted = False       # its events stopped: a thread waits on it (Server._stick)


class Server(HTTPServing, UwsgiServing, Responding, Reporting, Harakiri, Accepting):
    def __init__(self, app, listeners, threads, harakiri, notifier, worker_id):
        self.app = app
        self.listeners = {l.fd: l for l in listeners}
        self.nthreads = threads
        self.harakiri = harakiri
        self.notifier = notifier
        self.worker_id = worker_id
        self.poller = make_poller()
        self.idle = {}            # fd -> _Conn: parked in the poller, owned by no thread
        self.conns = {}           # fd -> _Conn: every open connection
        self.pending = set()      # fds that raised an event while a thread held them
        self.ctxs = []
        self.reqno = itertools.count(1)   # requests handled, for the access records
        self.ctx_by_ident = {}
        self.listen_lock = threading.Lock()
        self.draining = False
        self.drain_t0 = 0.0
        self.drain_requested = False
        self._init_accepting()
        self.notify_armed = False
        self._rcvtimeo = struct.pack("ll", int(REQUEST_TIMEOUT),
                                     int((REQUEST_TIMEOUT - int(REQUEST_TIMEOUT)) * 1e6))
        for lst in listeners:         # inherited by accepted sockets (see _socket_options)
            try:
                if lst.tcp:
                    lst.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    _defer_accept(lst.sock)
                lst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._rcvtimeo)
                lst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._rcvtimeo)
            except OSError:
                lst.inherits = False
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        # The event loop: one leader thread waits in the poller and serves what it returns;
        # one standby thread watches it and takes over when it is stuck (see _thread_main).
        self.leader = None        # the _Ctx of the leading thread
        # Until then, requests are known to wait: nobody leads, every idle thread waits in
        # the poller and serves what it gets (_roam).  A measured serve that waited
        # (serve_waited, then keeps_waiting) moves it to HAND_OVER_FOR from then.
        self.handing_over_until = 0.0
        # Requests served in the current period, and how many of them were slow
        # (HAND_OVER_AFTER): counted without a lock (a count lost to a race does not matter).
        self.period_served = 0
        self.period_slow = 0
        self.periods_since = 0.0  # when the periods in a row up to now began
        self.probe_next = False   # a serve was slow: measure the next one (_probe_start)
        # When the measured serve running began (one at a time is enough; one that runs for
        # longer than HAND_OVER_FOR, a request that blocks, no longer holds the others back).
        self.probing_since = -HAND_OVER_FOR
        self.ready = collections.deque()      # fds returned by the poller, not yet served
        self.follow_lock = threading.Lock()   # held by the standby thread
        self.standby_wake = threading.Lock()  # a binary semaphore: released to wake the standby
        self.standby_wake.acquire()
        self.standby_parked = False
        self.loop_r, self.loop_w = os.pipe()  # wakes a leader waiting in the poller
        os.set_blocking(self.loop_r, False)
        os.set_blocking(self.loop_w, False)
        self.poller.register(self.loop_r)
        self.script_name = os.environ.get("SCRIPT_NAME", "").rstrip("/")

    # ---- connections

    def _socket_options(self, sock, lst):
        """TCP_NODELAY and the read/send timeouts.  They are set on the listening sockets at
        start; where accepted sockets inherit them (Linux, the BSDs) nothing is set per
        connection.  That is checked on the connections accepted first: one that has them
        settles it; one that lacks them may have been queued before they were set, so it takes
        64 of those to decide that this platform does not pass them on."""
        inherits = lst.inherits
        if inherits is True:
            return
        if inherits is not False:
            try:
                ok = (sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
                      == self._rcvtimeo
                      and sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)
                      == self._rcvtimeo
                      and (not lst.tcp
                           or sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0))
            except OSError:
                ok = False
            if ok:
                lst.inherits = True
                return
            lst.inherits = False if inherits is not None and inherits >= 63 else (inherits or 0) + 1
        try:
            if lst.tcp:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, self._rcvtimeo)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._rcvtimeo)
        except OSError:
            pass

    def _new_conn(self, fd, addr, lst):
        """A _Conn for an accepted socket, published in `idle` (owned by no thread) but not yet
        in the poller: whoever serves it first reads it at once (a client usually sends its
        request with the connection), and it is registered when it first parks."""
        # The C socket object, not socket.socket: none of what that subclass adds (makefile,
        # sendfile, close() counting makefile references) is used on a connection, and its
        # Python __init__ and close() were 3,500 of the 44,000 instructions that a new
        # connection cost (tests/python/reqcost.py --close).
        sock = _socket_object(lst.family, socket.SOCK_STREAM, 0, fd)
        self._socket_options(sock, lst)
        env = lst.base.copy()
        if lst.tcp:
            host = addr[0]
            if host.startswith("::ffff:") and "." in host:
                host = host[7:]          # an IPv4 client of a dual-stack socket
            env["REMOTE_ADDR"] = host
            env["REMOTE_PORT"] = str(addr[1])
            if lst.wildcard:
                try:
                    local = sock.getsockname()
                    env["SERVER_NAME"] = local[0]
                except OSError:
                    pass
        else:
            env["REMOTE_ADDR"] = ""
            env["REMOTE_PORT"] = ""
        handler = self._serve_http if lst.kind == "http" else self._serve_uwsgi
        conn = _Conn(sock, fd, env, handler, not lst.tcp)
        conn.deadline = _monotonic() + KEEPALIVE_TIMEOUT
        self.conns[fd] = conn
        self.idle[fd] = conn

    def _poll_conn(self, conn):
        """Register a connection in the poller (edge-triggered; data already waiting raises an
        event at once) before it is published in `idle`."""
        conn.polled = True
        try:
            self.poller.register(conn.fd)
        except FileExistsError:       # a stale registration of a closed fd's number
            self.poller.unregister(conn.fd)
            self.poller.register(conn.fd)

    def _close(self, conn):
        fd = conn.fd
        if conn.polled:
            try:
                self.poller.unregister(fd)
            except (OSError, ValueError):
                pass
        self.conns.pop(fd, None)
        self.pending.discard(fd)
        try:
            conn.sock.close()
        except OSError:
            pass
        if self.accept_resume_at:
            self._closed_while_deferred()

    def _park(self, conn, buf):
        """Give the connection back to the poller (no thread holds it any more).  Only after a
        read saw EAGAIN (edge-triggered: data already there would raise no new event)."""
        conn.buf = buf
        now = _monotonic()
        if buf:
            if not conn.partial:
                conn.partial = now
            conn.deadline = conn.partial + REQUEST_TIMEOUT
        else:
            conn.partial = 0.0
            conn.deadline = now + KEEPALIVE_TIMEOUT
        if not conn.polled:
            self._poll_conn(conn)
        self.idle[conn.fd] = conn

    def _linger(self, conn):
        """Close politely: stop sending, read (and drop) what the client still sends for a while,
        so that it sees our response rather than a reset."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        conn.handler = self._serve_linger
        conn.buf = b""
        conn.partial = 0.0
        conn.deadline = _monotonic() + LINGER
        self._serve_linger(conn, None)

    def _serve_linger(self, conn, ctx):
        sock = conn.sock
        for _ in range(16):
            try:
                data = sock.recv(RECV, MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError:
                self._close(conn)
                return
            if not data:
                self._close(conn)
                return
        # Wait for more (or EOF) in the poller; the sweep closes it at its deadline.  (After 16
        # reads without EAGAIN the client is still sending: its next bytes raise a new edge.)
        if not conn.polled:
            self._poll_conn(conn)
        self.idle[conn.fd] = conn

    def _reject(self, conn, status, reason="", http=True):
        try:
            conn.sock.sendall(_error_response(status, http=http))
        except OSError:
            self._close(conn)
            return
        self._linger(conn)

    # ---- serving threads

    def _thread_main(self, ctx):
        """A serving thread.  One thread at a time leads: it waits in the poller and serves
        the connections it returns, one after the other, in itself (a fast request is never
        handed between threads: no lock, no wake-up, no GIL hand-over on the hot path).  One
        other thread stands by; when the leader has been serving one connection for TAKEOVER
        seconds (the app blocks, or a client is slow) the standby takes the loop over and the
        old leader, once done with that connection, queues up to stand by again.  While
        requests are known to wait (serve_waited) nobody leads: every idle thread roams
        (waits in the poller for one event and serves it), so each ready request gets a
        thread at once, woken by the kernel rather than handed from thread to thread, for as
        long as measured serves keep waiting.  At most `threads` requests run at once."""
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)
        except (AttributeError, OSError, ValueError):
            pass
        ctx.ident = threading.get_ident()
        self.ctx_by_ident[ctx.ident] = ctx
        while True:
            with self.follow_lock:
                leads = self._stand_by(ctx)
            try:
                if not (self._lead(ctx) if leads else self._roam(ctx)):
                    return
            except BaseException:
                # A bug here must not leave the loop without a leader (the standby would
                # wait for it forever): give the lead up, say so, and queue up again.
                if self.leader is ctx:
                    self.leader = None
                    self._wake_standby()
                log("internal error in the event loop:\n" + traceback.format_exc(), "error")

    def _stand_by(self, ctx):
        """Wait until there is no leader or it is stuck, then lead (True); or, once requests
        wait, roam instead (False, see _roam).  While the leader is busy this wakes every
        TAKEOVER seconds; after a quiet interval it sleeps until woken."""
        seen = -1
        while True:
            if self._requests_wait():
                return False
            ldr = self.leader
            if ldr is None:
                break
            since = ldr.since
            if since:
                now = _monotonic()
                t = since + TAKEOVER - now
                if t <= 0:
                    break     # stuck: no request waits for this one
            elif ldr.turns != seen:
                seen = ldr.turns
                t = TAKEOVER
            else:
                self.standby_parked = True
                if ldr.since or ldr.turns != seen or self.leader is not ldr:
                    self.standby_parked = False     # it moved meanwhile: look again
                    continue
                t = -1
            self.standby_wake.acquire(True, t)
            self.standby_parked = False
        self.leader = ctx
        return True

    def _wake_standby(self):
        self.standby_parked = False
        try:
            self.standby_wake.release()
        except RuntimeError:
            pass          # already released: the standby has a wake-up pending

    def _lead(self, ctx):
        """Run the event loop while this thread leads; False when the poller is gone."""
        wait = self.poller.wait
        ready = self.ready
        serve = self._serve_fd
        while self.leader is ctx:
            if ready:
                try:
                    fd = ready.popleft()
                except IndexError:
                    continue
                serve(fd, ctx)
                continue
            if _deferred:
                flush_deferred()      # about to wait: the access records of what it served
            events = self._wait(wait, self.resume_accept() if self.accept_resume_at else -1)
            if events is None:
                return False
            if len(events) == 1 and self.leader is ctx:
                serve(events[0][0], ctx)
                continue
            for fd, _ev in events:
                ready.append(fd)
        if _deferred:
            flush_deferred()          # what it served while it led
        if ready:
            # Taken over with work queued (or while waiting: it looked stuck just as it
            # finished): the new leader may be waiting in the poller; wake it to serve that.
            self._wake_loop()
        return True

    def _roam(self, ctx):
        """While requests wait (hand-over mode): wait in the poller beside the other idle
        threads for one event at a time, and serve it; back to the queue of threads when the
        mode ends (True), False when the poller is gone.  The kernel wakes one waiting thread
        per event: no lock passes between threads and no request waits for a thread to hand
        the loop over.  A new connection is one accept per event here (accept_quota): the
        listener, still ready, wakes another idle thread for the next."""
        wait_one = self.poller.wait_one
        ready = self.ready
        serve = self._serve_fd
        while True:
            if ready:
                try:
                    fd = ready.popleft()
                except IndexError:
                    continue
                if ready:
                    self._wake_loop()     # the next one for another thread
                serve(fd, ctx)
                continue
            left = self.handing_over_until - _monotonic()
            if left <= 0:
                return True
            if _deferred:
                flush_deferred()
            if self.accept_resume_at:
                resume = self.resume_accept()
                if 0 <= resume < left:
                    left = resume
            events = self._wait(wait_one, left)
            if events is None:
                return False
            for fd, _ev in events:
                serve(fd, ctx)

    @staticmethod
    def _wait(wait, timeout):
        """The poller's events (wait or wait_one); None once it is gone (closed at exit)."""
        try:
            return wait(timeout)
        except OSError as e:
            if e.errno == errno.EBADF:
                return None
            log("poll failed: %s" % e, "error")
            time.sleep(0.1)
            return []

    def _wake_loop(self):
        """Wake a thread waiting in the poller (the leader, or a roaming thread)."""
        try:
            os.write(self.loop_w, b"x")
        except OSError:
            pass

    def _serve_fd(self, fd, ctx):
        """Serve what the poller reported for `fd`.  Ownership: whoever pops the connection
        from `idle` serves it.  An edge for a connection another thread holds is recorded in
        `pending`; that thread looks there after putting the connection back in `idle` (and
        this one looks in `idle` again after recording it), so one of the two serves the new
        data."""
        conn = self.idle.pop(fd, None)
        if conn is None:
            if fd in self.listeners:
                try:
                    self.ready.extend(self._accept(fd))      # served next, by the leader
                except Exception:
                    log("internal error accepting:\n" + traceback.format_exc(), "error")
                return
            if fd == self.loop_r:
                try:
                    while os.read(fd, 4096):
                        pass
                except OSError:
                    pass
                return
            self.pending.add(fd)
            conn = self.idle.pop(fd, None)
            if conn is None:
                return
        ctx.turns += 1
        ctx.since = t0 = _monotonic()
        left = self.handing_over_until - t0
        if left > 0 and self.leader is ctx:
            # Requests wait (serve_waited): stop leading before serving.  The idle threads
            # roam meanwhile (_roam: each waits in the poller itself), so every ready request
            # gets a thread at once instead of TAKEOVER apart; the standby is woken to join
            # them, and what this thread had queued goes to them through the loop pipe.
            self.leader = None
            if self.follow_lock.locked():
                self._wake_standby()
            if self.ready:
                self._wake_loop()
        elif self.standby_parked:
            self._wake_standby()
        pending = self.pending
        # Measured: the serve after a slow one, and serves in the second half of a hand-over
        # period (the test inline: a method call here cost 1 % of a hello-world request).
        probe = self._probe_start(t0) \
            if self.probe_next or 0 < left < HAND_OVER_FOR / 2 else None
        while conn is not None:
            if pending:
                pending.discard(fd)
            served = conn
            try:
                conn.handler(conn, ctx)
            except BaseException:
                ctx.busy = 0
                log("internal error serving a connection:\n" + traceback.format_exc(), "error")
                self.idle.pop(fd, None)
                self._close(conn)
                break
            if probe is not None:
                self._probe_end(probe, t0, left)
                probe = None
            else:
                slow = _monotonic() - t0 >= HAND_OVER_AFTER
                if left > 0:
                    self.period_served += 1
                    self.period_slow += slow
                elif slow:
                    self.probe_next = True
            conn = self.idle.pop(fd, None) if pending and fd in pending else None
            if conn is None and (self.leader is not ctx or served.muted):
                conn = self._stick(served, ctx)
                if conn is not None:
                    # The next request on a connection this thread waited on: measured as a
                    # serve of its own (the wait for the client is not the app's).
                    t0 = _monotonic()
                    left = self.handing_over_until - t0
                    if self.probe_next or 0 < left < HAND_OVER_FOR / 2:
                        probe = self._probe_start(t0)
        ctx.since = 0.0

    def _requests_wait(self):
        """Whether a hand-over period is on (requests are known to wait: see _probe_end)."""
        return self.handing_over_until > _monotonic()

    def _probe_start(self, t0):
        """Measure the serve starting at `t0` (the one after a slow serve, or one in the second
        half of a hand-over period, until one that waited extends it), unless another is being
        measured: one at a time.  The probe (see _probe_end), or None."""
        if t0 - self.probing_since >= HAND_OVER_FOR:
            self.probe_next = False
            if self.nthreads > 1:
                self.probing_since = t0
                return _probe()
        return None

    def _probe_end(self, probe, t0, left):
        """The verdict on a serve measured since `t0` (probe: _probe_start's): one that waited
        starts a hand-over period, or extends the one it ran in (`left` > 0)."""
        cpu, nivcsw, own, tcpu = _probe()
        t1 = _monotonic()
        self.probing_since = -HAND_OVER_FOR
        wall = t1 - t0
        if left > 0 and own is not None:
            waited = keeps_waiting(wall, cpu - probe[0], tcpu - probe[3], own != probe[2],
                                   self.period_slow, self.period_served,
                                   t1 - self.periods_since)
        else:
            waited = serve_waited(wall, cpu - probe[0], nivcsw != probe[1],
                                  own is None or own != probe[2])
            if waited:
                self.periods_since = t1
        if waited:
            self.handing_over_until = t1 + HAND_OVER_FOR
            self.period_served = self.period_slow = 0

    def _await_first(self, conn, ctx):
        """A new connection whose request has not arrived yet (it follows the handshake by
        microseconds): while requests wait, a thread that does not lead waits for it here, up
        to STICK_FOR, rather than registering the connection in the poller for an event that
        another thread would take.  True when it arrived."""
        if conn.polled or self.leader is ctx or not self._requests_wait():
            return False
        try:
            return _wait_readable(conn.fd, STICK_FOR)
        except (OSError, ValueError):
            return False

    def _stick(self, conn, ctx):
        """After a serve by a thread that does not lead: while requests wait and the process
        holds no more connections than threads (no other connection can want this thread),
        wait on the keep-alive connection just parked for its next request, as a thread per
        connection does; returns it when that arrives (owned by this thread again), None
        otherwise (given back to the loop).  Its events are stopped meanwhile, so that the
        leader is not woken by requests this thread serves."""
        fd = conn.fd
        if self.idle.get(fd) is not conn:
            return None               # closed, or taken by another thread
        if not may_stick(self._requests_wait(), len(self.conns), self.nthreads,
                         self.leader is ctx, conn.handler == self._serve_http and not conn.buf,
                         self.draining, STICK_FOR):
            if conn.muted:
                self._unmute(conn)
            return None
        if self.idle.pop(fd, None) is not conn:
            return None               # the leader (or the sweep) took it meanwhile
        if not conn.muted:
            try:
                self.poller.mute(fd)
            except OSError:
                self.idle[fd] = conn
                return None
            conn.muted = True
        try:
            ready = _wait_readable(fd, STICK_FOR)
        except (OSError, ValueError):
            ready = False
        if ready:
            return conn
        # Back in `idle` before its events are on again: the edge of a request arriving now
        # finds it there (the other way round, the leader could meet neither the connection
        # nor, once this thread has gone, anyone to serve the edge it recorded).
        self.idle[fd] = conn
        self._unmute(conn)
        return None

    def _unmute(self, conn):
        """Give a connection's events back to the loop (data that arrived meanwhile raises one
        at once)."""
        conn.muted = False
        try:
            self.poller.unmute(conn.fd)
        except OSError:
            pass

    # ---- drain, sweeps, harakiri (main thread)

    def begin_drain(self):
        if self.draining:
            return
        self.draining = True
        self.drain_t0 = _monotonic()
        with self.listen_lock:
            for fd, lst in list(self.listeners.items()):
                try:
                    self.poller.unlisten(fd)
                    self.poller.unregister(fd)
                except (OSError, ValueError):
                    pass
                try:
                    lst.sock.close()
                except OSError:
                    pass
            self.listeners.clear()
        req, busy = self.counts()
        import ebb
        njobs, _ = ebb._snapshot(0)
        if not log_records():       # under ebb the master logs the drain from the reports
            log("draining: stopped accepting; %d connection(s), %d request(s) in flight, "
                "%d job(s)" % (len(self.conns), busy, njobs))
        self.report("STOPPING=1\nSTATUS=draining")
        _bound_orphan_drain(self)

    def sweep(self, now):
        """Close connections whose idle / head / linger deadline has passed."""
        draining = self.draining
        for fd, conn in list(self.idle.items()):
            dl = conn.deadline
            if draining:
                if conn.handler == self._serve_linger or conn.fresh:
                    pass       # a connection that has not sent its first request yet keeps
                    # its deadline: it was accepted to be served, and will be (then closed)
                elif conn.buf:
                    dl = min(dl, self.drain_t0 + 5.0)
                else:
                    dl = min(dl, self.drain_t0 + DRAIN_GRACE)
            if now < dl:
                continue
            if self.idle.get(fd) is not conn:
                continue       # a thread took it meanwhile (or the fd number was reused)
            if not conn.buf and conn.handler != self._serve_linger and self._has_data(conn):
                # Not idle: a request arrived while nothing ran (the process was stopped, a
                # thread held the GIL, a VM paused) and its event is on the way to the leader.
                # Read and answer it rather than reset it; the head deadline bounds it.
                conn.deadline = now + REQUEST_TIMEOUT
                continue
            if self.idle.pop(fd, None) is not conn:
                continue
            if conn.buf and conn.handler == self._serve_http:
                try:
                    conn.sock.send(_error_response(408), MSG_DONTWAIT)
                except OSError:
                    pass
            self._close(conn)

    @staticmethod
    def _has_data(conn):
        try:
            return bool(conn.sock.recv(1, socket.MSG_PEEK | MSG_DONTWAIT))
        except OSError:
            return False

    def start_threads(self):
        for i in range(self.nthreads):
            ctx = _Ctx(self, "ebb-serve-%d" % (i + 1))
            self.ctxs.append(ctx)
        for ctx in self.ctxs:
            t = threading.Thread(target=self._thread_main, args=(ctx,), name=ctx.name,
                                 daemon=True)
            t._ebb_untracked = True
            t.start()
        for fd in self.listeners:
            self.poller.listen(fd)

    def in_request(self):
        ctx = self.ctx_by_ident.get(threading.get_ident())
        return ctx is not None and ctx.busy == 1


def _defer_accept(sock):
    """TCP_DEFER_ACCEPT on a listening socket, on or off as configured (the socket is shared
    with the workers of other configurations: set either way, so that a reload with
    --no-defer-accept turns it off).  Where the platform lacks it, nothing."""
    opt = getattr(socket, "TCP_DEFER_ACCEPT", None)
    if opt is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, opt, 1 if DEFER_ACCEPT else 0)
        except OSError:
            pass


def _wait_readable(fd, timeout):
    """Whether `fd` becomes readable (data or end of stream) within `timeout` seconds."""
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000.0))


_HANDLED_SIGNALS = set()

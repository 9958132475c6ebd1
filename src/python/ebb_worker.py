"""ebb's Python WSGI worker (standard library only, Python >= 3.8).

Run by the ebb master as

    python3 ebb_worker.py (--module pkg.mod[:callable] | --wsgi-file app.py) [--callable NAME]
                          [--pythonpath DIR]... [--threads N] [--harakiri SECONDS]

with the listening sockets at fds 3.. (LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES: `http` or `uwsgi`)
and a datagram NOTIFY_SOCKET for READY=1, STOPPING=1 and the X_EBB_* counters.  On the drain
signal (EBB_DRAIN_SIGNAL, default SIGTERM; also SIGTERM and SIGINT) it stops accepting, finishes
its requests, closes its keep-alive connections politely, waits for every background job (work
submitted to any ThreadPoolExecutor, threads started while handling a request, ebb.background /
ebb.job) and exits 0.  SIGQUIT exits at once.

Design: one event loop (epoll, or kqueue) holds every idle connection, so an idle keep-alive
connection never holds a thread.  One of the N serving threads leads: it waits for events and
serves each ready connection itself (read the request, run the app, write the response), so a
fast request is never handed between threads and the GIL is not passed around.  A second thread
stands by; when the leader has been busy with one connection for TAKEOVER seconds (the app
blocks, or a client is slow) the standby takes the loop over.  Once a request has been seen to
wait (HAND_OVER_AFTER), the leader hands the loop over before each request for a while, so that
requests that wait run side by side on all the threads.  The main thread only handles signals,
timeouts, harakiri and the coalesced reports to the master.

Exit codes: 0 drained (or SIGQUIT), 2 bad command line, 3 bad environment (no listening sockets,
unusable NOTIFY_SOCKET, Python too old), 4 the application could not be imported.
"""

import sys

if sys.version_info < (3, 8):
    sys.stderr.write("ebb: the Python worker needs Python >= 3.8, this is %s (%s)\n"
                     % (sys.version.split()[0], sys.executable))
    sys.exit(3)

import collections
import errno
import functools
import io
import os
import select
import signal
import socket
import struct
import threading
import time
import traceback
from urllib.parse import unquote_to_bytes

EXIT_USAGE = 2
EXIT_ENV = 3
EXIT_IMPORT = 4

VERSION = "0.1"
SERVER_SOFTWARE = "ebb/" + VERSION

MAX_LINE = 8190          # request line; longer -> 414
MAX_HEAD = 65536         # whole header section; longer -> 431
MAX_FIELDS = 100         # header fields; more -> 431
MAX_FIELD = 8190         # one header field line; longer -> 431
RECV = 65536
DISCARD_MAX = 65536      # unread body still read after the response, to keep the connection
BIG = 65536              # bodies at least this big are sent without being copied into the head


def _env_float(name, default):
    v = os.environ.get(name)
    if not v:
        return default
    try:
        return float(v)
    except ValueError:
        sys.stderr.write("ebb: ignoring %s=%r (not a number)\n" % (name, v))
        return default


KEEPALIVE_TIMEOUT = _env_float("EBB_KEEPALIVE_TIMEOUT", 5.0)   # idle keep-alive connection
REQUEST_TIMEOUT = _env_float("EBB_REQUEST_TIMEOUT", 30.0)      # head once begun; each read/send
DRAIN_GRACE = _env_float("EBB_DRAIN_GRACE", 1.0)               # idle connections after the drain
LINGER = 2.0                                                   # reading leftovers before a close
# A leader that has been serving one connection this long (the app blocks, or a slow client)
# lets the standby thread take the event loop over (see Server._thread_main).
TAKEOVER = _env_float("EBB_TAKEOVER", 0.002)
# When two inline serves in a row took HAND_OVER_AFTER or longer (the app waits on something:
# one alone may just have lost the CPU to another process), the leader hands the loop over
# before serving each connection for the next HAND_OVER_FOR seconds: when requests wait, every
# thread takes one at once.  Only inline serves start that period (threads competing for the
# GIL make every serve look slow, which would keep it going for ever); the next inline serves
# after it measure again.
HAND_OVER_AFTER = 0.0005
HAND_OVER_FOR = 0.1

_monotonic = time.monotonic
_time = time.time
MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class ClientGone(OSError):
    """The client went away or stopped sending/receiving (raised from wsgi.input and write())."""


class BadRequestBody(ClientGone):
    """The request body's framing is invalid (e.g. a bad chunk size)."""


class _HTTPError(Exception):
    def __init__(self, status, reason=""):
        Exception.__init__(self, status)
        self.status = status
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Logging


_log_lock = threading.Lock()
_log_prefix = "[ebb worker ? pid %d] " % os.getpid()


def log(msg):
    text = _log_prefix + msg
    if not text.endswith("\n"):
        text += "\n"
    with _log_lock:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# HTTP date


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date = [0.0, ""]   # [valid until, "Date: ...\r\n"]


def _date_line():
    now = _time()
    if now >= _date[0]:
        sec = int(now)
        t = time.gmtime(sec)
        _date[1] = "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n" % (
            _WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
            t.tm_hour, t.tm_min, t.tm_sec)
        _date[0] = sec + 1
    return _date[1]


# --------------------------------------------------------------------------------------------
# wsgi.input


class _EmptyInput(object):
    """wsgi.input of a request without a body (stateless, shared)."""
    __slots__ = ()

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())

    def close(self):
        pass


_EMPTY = _EmptyInput()
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Body(object):
    """wsgi.input for a body not (entirely) received yet: Content-Length or chunked.  It never
    reads past the end of the body; "100 Continue" is sent before the first read from the socket
    when the client asked for it."""

    __slots__ = ("_sock", "_buf", "_left", "_chunked", "_raw", "_state", "_expect", "_ntrail")

    def __init__(self, sock, data, left, chunked, expect):
        self._sock = sock
        self._expect = expect
        self._chunked = chunked
        self._ntrail = 0
        if chunked:
            self._buf = bytearray()
            self._raw = bytearray(data)
            self._left = 0
            self._state = 0        # 0 size line, 1 data, 2 CRLF after data, 3 trailers, 4 done
        else:
            self._buf = bytearray(data)
            self._raw = None
            self._left = left      # bytes of the body still on the socket
            self._state = 4 if left <= 0 else 1
        if data and expect:
            self._expect = False   # the client did not wait for 100 Continue

    # -- socket side

    def _recv(self, n):
        if self._expect:
            self._expect = False
            try:
                self._sock.sendall(_CONTINUE)
            except OSError as e:
                raise ClientGone("cannot send 100 Continue: %s" % e)
        try:
            data = self._sock.recv(n)
        except (BlockingIOError, socket.timeout):
            raise ClientGone("timed out reading the request body (%.0f s)" % REQUEST_TIMEOUT)
        except OSError as e:
            raise ClientGone("error reading the request body: %s" % e)
        if not data:
            raise ClientGone("the client closed the connection before sending the whole body")
        return data

    def _rawline(self):
        raw = self._raw
        while True:
            j = raw.find(b"\n")
            if j >= 0:
                line = bytes(raw[:j])
                del raw[:j + 1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                return line
            if len(raw) > 8192:
                raise BadRequestBody("chunked body: line too long")
            raw += self._recv(RECV)

    def _next(self, n):
        """The next piece of the body (at most n bytes, n > 0); b"" at its end."""
        if not self._chunked:
            left = self._left
            if left <= 0:
                return b""
            data = self._recv(n if n < left else left)
            self._left = left - len(data)
            if self._left <= 0:
                self._state = 4
            return data
        while True:
            st = self._state
            if st == 1:
                raw = self._raw
                k = self._left if self._left < n else n
                if raw:
                    if k > len(raw):
                        k = len(raw)
                    data = bytes(raw[:k])
                    del raw[:k]
                else:
                    data = self._recv(k)
                self._left -= len(data)
                if self._left == 0:
                    self._state = 2
                return data
            if st == 4:
                return b""
            line = self._rawline()
            if st == 0:
                size = line.split(b";", 1)[0].strip(b" \t")
                if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
                    raise BadRequestBody("chunked body: invalid chunk size %r" % line[:40])
                size = int(size, 16)
                if size == 0:
                    self._state = 3
                else:
                    self._left = size
                    self._state = 1
            elif st == 2:
                if line:
                    raise BadRequestBody("chunked body: missing CRLF after a chunk")
                self._state = 0
            else:   # trailers
                if not line:
                    self._state = 4
                    return b""
                self._ntrail += 1
                if self._ntrail > MAX_FIELDS:
                    raise BadRequestBody("chunked body: too many trailer fields")

    # -- the file API

    def read(self, size=-1):
        buf = self._buf
        if size is None or size < 0:
            parts = [bytes(buf)]
            buf.clear()
            while True:
                d = self._next(RECV)
                if not d:
                    break
                parts.append(d)
            return b"".join(parts)
        if len(buf) >= size:
            data = bytes(buf[:size])
            del buf[:size]
            return data
        parts = [bytes(buf)]
        have = len(buf)
        buf.clear()
        while have < size:
            d = self._next(size - have)
            if not d:
                break
            parts.append(d)
            have += len(d)
        return b"".join(parts)

    def readline(self, size=-1):
        buf = self._buf
        if size is None or size < 0:
            size = -1
        start = 0
        while True:
            j = buf.find(b"\n", start)
            if j >= 0:
                end = j + 1
                break
            if 0 <= size <= len(buf):
                end = size
                break
            start = len(buf)
            d = self._next(RECV)
            if not d:
                end = len(buf)
                break
            buf += d
        if 0 <= size < end:
            end = size
        line = bytes(buf[:end])
        del buf[:end]
        return line

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass

    # -- for the server

    def finished(self):
        return self._state == 4

    def can_keep(self):
        """Can the connection stay open once the response is sent?"""
        if self._state == 4:
            return True
        return (not self._chunked and not self._expect and self._left <= DISCARD_MAX)

    def discard(self):
        """Read what the app left unread (small Content-Length bodies only)."""
        while self._next(RECV):
            pass
        self._buf.clear()

    def leftover(self):
        return bytes(self._raw) if self._raw else b""


# --------------------------------------------------------------------------------------------
# wsgi.file_wrapper


class FileWrapper(object):
    """wsgi.file_wrapper: iterates in blocks; sent with os.sendfile when the file has a fileno."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __getitem__(self, key):      # the old iteration protocol, as in PEP 3333's example
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise IndexError

    def __iter__(self):
        read = self.filelike.read
        blksize = self.blksize
        while True:
            data = read(blksize)
            if not data:
                return
            yield data


# --------------------------------------------------------------------------------------------
# Pollers.  The leading thread waits in the set (see Server._thread_main).  Connections are
# edge-triggered (no re-arm syscall per request; see Server._serve_fd for how an edge that
# arrives while a thread holds the connection is not lost); listening sockets are one-shot,
# re-armed after each accept batch.


class _EpollPoller(object):
    def __init__(self):
        self._ep = select.epoll()
        edge = select.EPOLLIN | select.EPOLLET
        once = select.EPOLLIN | select.EPOLLONESHOT
        ep = self._ep
        self.register = lambda fd: ep.register(fd, edge)
        self.register_listener = lambda fd: ep.register(fd, once)
        self.rearm = lambda fd: ep.modify(fd, once)
        self.unregister = ep.unregister
        self.wait = functools.partial(ep.poll, -1, 64)


class _KqueuePoller(object):
    def __init__(self):
        kq = select.kqueue()
        self._kq = kq
        once = select.KQ_EV_ADD | select.KQ_EV_ONESHOT
        edge = select.KQ_EV_ADD | select.KQ_EV_CLEAR
        rd = select.KQ_FILTER_READ
        kev = select.kevent

        def arm(fd):
            kq.control([kev(fd, rd, once)], 0, 0)

        def register(fd):
            kq.control([kev(fd, rd, edge)], 0, 0)

        def unregister(fd):
            try:
                kq.control([kev(fd, rd, select.KQ_EV_DELETE)], 0, 0)
            except OSError:
                pass

        def wait():
            return [(e.ident, 1) for e in kq.control(None, 64, None)]

        self.register = register
        self.register_listener = arm
        self.rearm = arm
        self.unregister = unregister
        self.wait = wait


def _make_poller():
    if hasattr(select, "epoll"):
        return _EpollPoller()
    if hasattr(select, "kqueue"):
        return _KqueuePoller()
    raise RuntimeError("this platform has neither epoll nor kqueue")


# --------------------------------------------------------------------------------------------
# Connections and per-thread request state


class _Listener(object):
    __slots__ = ("sock", "fd", "kind", "family", "tcp", "base", "wildcard", "name", "inherits")


class _Conn(object):
    __slots__ = ("sock", "fd", "env", "buf", "deadline", "partial", "handler", "unix", "tcp",
                 "fresh", "polled")

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


class _Ctx(object):
    """A serving thread's state: its counters and the request it is handling."""
    __slots__ = ("requests", "busy", "ident", "name", "sock", "status", "headers", "head_sent",
                 "chunked", "keep", "no_body", "clen", "sent", "body", "v11", "head_req", "http",
                 "proto", "reqline", "start_response", "write", "server",
                 "hk_seen", "hk_since", "hk_reported", "since", "turns")

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.requests = 0
        self.busy = 0
        self.ident = None
        self.sock = None
        self.status = None
        self.headers = None
        self.head_sent = False
        self.chunked = False
        self.keep = False
        self.no_body = False
        self.clen = None
        self.sent = 0
        self.body = None
        self.v11 = True
        self.head_req = False
        self.http = True
        self.proto = "HTTP/1.1"
        self.reqline = ""
        self.start_response = self._start_response
        self.write = self._write
        self.hk_seen = -1
        self.hk_since = 0.0
        self.hk_reported = -1
        self.since = 0.0         # when it began serving its current connection; 0.0: it is not
        self.turns = 0           # connections served so far (the standby watches it change)

    def _start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError("start_response() called a second time without exc_info")
        if type(status) is not str:
            raise TypeError("start_response(): the status must be a str, got %r" % (status,))
        if type(headers) is not list:
            raise TypeError("start_response(): the headers must be a list of (name, value) "
                            "tuples, got %r" % (type(headers).__name__,))
        self.status = status
        self.headers = headers
        return self.write

    def _write(self, data):
        if self.status is None:
            raise AssertionError("write() called before start_response()")
        if type(data) is not bytes:
            data = _as_bytes(data)
        self.server._send_body(self, data)


def _as_bytes(data):
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("the response body must be bytes, got %s %r"
                    % (type(data).__name__, data[:40] if isinstance(data, str) else data))


_SPECIAL = frozenset(("content-length", "connection", "transfer-encoding", "keep-alive", "date"))
_NOBODY_CODES = frozenset(("204", "304"))
_STATUS = {}        # status line -> "this status has no body" (validated statuses, bounded)
_HNAME = {}         # response header name -> its lower-case form when special, else "" (bounded)


def _check_status(status):
    code = status[:3]
    if len(status) < 3 or not (code.isdigit() and code.isascii()) or status[3:4] not in ("", " "):
        raise ValueError("invalid status %r: it must look like '200 OK'" % (status,))
    if "\r" in status or "\n" in status:
        raise ValueError("the response status contains CR or LF: %r" % (status,))
    nobody = code in _NOBODY_CODES or code[0] == "1"
    if len(_STATUS) < 1000:
        _STATUS[status] = nobody
    return nobody


def _hname(name):
    """The kind of a response header name ("" or its lower-case form when special); validates
    the name (only valid names are cached)."""
    if type(name) is not str:
        raise TypeError("response header names must be str, got %r" % (name,))
    if "\r" in name or "\n" in name or ":" in name or not name:
        raise ValueError("invalid response header name %r" % (name,))
    ln = name.lower()
    kind = ln if ln in _SPECIAL else ""
    if len(_HNAME) < 1000:
        _HNAME[name] = kind
    return kind
_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                      "CONNECT", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
                      "UNLOCK", "REPORT", "PURGE"))
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEADER_KEYS = {"Content-Type": "CONTENT_TYPE", "Content-Length": "CONTENT_LENGTH",
                "content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
_DROP = ""   # marker in _HEADER_KEYS: header dropped (underscore in its name)
_REASONS = {400: "Bad Request", 408: "Request Timeout", 413: "Content Too Large",
            414: "URI Too Long", 417: "Expectation Failed", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented",
            505: "HTTP Version Not Supported"}


def _header_key(name):
    """The environ key for a request header name (str), "" to drop it; raises _HTTPError."""
    if not name or not _TCHARS.issuperset(name):
        raise _HTTPError(400, "invalid header name %r" % name[:40])
    if "_" in name:
        key = _DROP    # ambiguous with '-' once in the environ (header smuggling); nginx drops too
    else:
        up = name.upper().replace("-", "_")
        if up == "CONTENT_TYPE" or up == "CONTENT_LENGTH":
            key = up
        else:
            key = "HTTP_" + up
    if len(_HEADER_KEYS) < 2000:
        _HEADER_KEYS[name] = key
    return key


def _has_token(value, token):
    for part in value.split(","):
        if part.strip().lower() == token:
            return True
    return False


def _error_response(status, close=True, body=None, http=True):
    reason = _REASONS.get(status, "Error")
    if body is None:
        body = reason + "\n"
    body = body.encode("latin-1", "replace")
    head = ("HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: %d\r\n" % (status, reason, len(body)))
    if close and http:
        head += "Connection: close\r\n"
    return (head + _date_line() + "\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------------------------
# The server


class Server(object):
    def __init__(self, app, listeners, threads, harakiri, notifier, worker_id):
        self.app = app
        self.listeners = {l.fd: l for l in listeners}
        self.nthreads = threads
        self.harakiri = harakiri
        self.notifier = notifier
        self.worker_id = worker_id
        self.poller = _make_poller()
        self.idle = {}            # fd -> _Conn: parked in the poller, owned by no thread
        self.conns = {}           # fd -> _Conn: every open connection
        self.pending = set()      # fds that raised an event while a thread held them
        self.ctxs = []
        self.ctx_by_ident = {}
        self.listen_lock = threading.Lock()
        self.draining = False
        self.drain_t0 = 0.0
        self.drain_requested = False
        self.accept_paused = False
        self.notify_armed = False
        self._rcvtimeo = struct.pack("ll", int(REQUEST_TIMEOUT),
                                     int((REQUEST_TIMEOUT - int(REQUEST_TIMEOUT)) * 1e6))
        for lst in listeners:         # inherited by accepted sockets (see _socket_options)
            try:
                if lst.tcp:
                    lst.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
        # Until then, requests are known to block: the leader hands the loop over before
        # serving each connection (a wake-up per request, worth it when requests wait).
        self.handing_over_until = 0.0
        self.slow_serves = 0      # inline serves in a row that took HAND_OVER_AFTER or longer
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

    # ---- reporting

    def poke(self):
        """Counts changed: let the main thread report (coalesced)."""
        if not self.notify_armed:
            self.notify_armed = True
            try:
                os.write(self.wake_w, b"n")
            except OSError:
                pass

    def counts(self):
        req = 0
        busy = 0
        for c in self.ctxs:
            req += c.requests
            busy += c.busy
        return req, busy

    def report(self, extra=None):
        import ebb
        req, busy = self.counts()
        njobs, names = ebb._snapshot(20)
        lines = []
        if extra:
            lines.append(extra)
        lines.append("X_EBB_REQUESTS=%d\nX_EBB_INFLIGHT=%d\nX_EBB_JOBS=%d" % (req, busy, njobs))
        msg = "\n".join(lines)
        while names:
            tail = "\nX_EBB_JOB_NAMES=" + ",".join(names)
            if len((msg + tail).encode("utf-8", "replace")) <= 4096:
                msg += tail
                break
            names = names[1:]
        else:
            msg += "\nX_EBB_JOB_NAMES="
        self.notifier.send(msg)
        return req, busy, njobs

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
        sock = socket.socket(lst.family, socket.SOCK_STREAM, 0, fileno=fd)
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

    def _accept(self, lfd):
        """Accept a batch (the listener is re-armed before any of it is served); returns the
        fds of the new connections."""
        fresh = []
        with self.listen_lock:
            lst = self.listeners.get(lfd)
            if lst is None:
                return fresh
            paused = False
            try:
                paused = self._accept_batch(lfd, lst, fresh)
            finally:
                if not paused:
                    self.poller.rearm(lfd)
        return fresh

    def _accept_batch(self, lfd, lst, fresh):
        """Accept up to one connection per idle thread (so that processes share a burst of
        new keep-alive connections by the threads they have free, as uWSGI's threads do, when
        requests may block); True when accepting is paused (out of fds: the main thread
        re-arms the listener later)."""
        acc = lst.sock._accept
        free = self.nthreads
        for c in self.ctxs:
            if c.since:
                free -= 1
        for _ in range(max(1, free)):
            try:
                fd, addr = acc()
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self.accept_paused:
                        log("cannot accept connections: %s; pausing accept for 0.5 s "
                            "(raise the open-files limit?)" % e)
                    self.accept_paused = True
                    self.poke()
                    return True
                log("accept failed on %s: %s" % (lst.name, e))
                break
            try:
                self._new_conn(fd, addr, lst)
            except OSError as e:
                log("cannot set up a new connection: %s" % e)
                try:
                    os.close(fd)
                except OSError:
                    pass
                continue
            fresh.append(fd)
        return False

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
        requests are known to wait (see HAND_OVER_AFTER) the leader hands the loop over before
        serving each connection instead.  At most `threads` requests run at once."""
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED_SIGNALS)
        except (AttributeError, OSError, ValueError):
            pass
        ctx.ident = threading.get_ident()
        self.ctx_by_ident[ctx.ident] = ctx
        while True:
            with self.follow_lock:
                self._stand_by(ctx)
            try:
                if not self._lead(ctx):
                    return
            except BaseException:
                # A bug here must not leave the loop without a leader (the standby would
                # wait for it forever): give the lead up, say so, and queue up again.
                if self.leader is ctx:
                    self.leader = None
                    self._wake_standby()
                log("internal error in the event loop:\n" + traceback.format_exc())

    def _stand_by(self, ctx):
        """Wait until there is no leader or it is stuck, then lead.  While the leader is busy
        this wakes every TAKEOVER seconds; after a quiet interval it sleeps until woken."""
        seen = -1
        while True:
            ldr = self.leader
            if ldr is None:
                break
            since = ldr.since
            if since:
                now = _monotonic()
                t = since + TAKEOVER - now
                if t <= 0:
                    break
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
            try:
                events = wait()
            except OSError as e:
                if e.errno == errno.EBADF:
                    return False
                log("poll failed: %s" % e)
                time.sleep(0.1)
                continue
            if len(events) == 1 and self.leader is ctx:
                serve(events[0][0], ctx)
                continue
            for fd, _ev in events:
                ready.append(fd)
        if ready:
            # Taken over with work queued (or while waiting: it looked stuck just as it
            # finished): the new leader may be waiting in the poller; wake it to serve that.
            try:
                os.write(self.loop_w, b"x")
            except OSError:
                pass
        return True

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
                    log("internal error accepting:\n" + traceback.format_exc())
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
        inline = self.handing_over_until <= t0
        if not inline and self.leader is ctx:
            # Requests wait (see HAND_OVER_AFTER): hand the loop to the standby before serving,
            # so that every thread takes a connection at once instead of TAKEOVER apart.
            self.leader = None
            self._wake_standby()
        elif self.standby_parked:
            self._wake_standby()
        pending = self.pending
        while conn is not None:
            if pending:
                pending.discard(fd)
            try:
                conn.handler(conn, ctx)
            except BaseException:
                ctx.busy = 0
                log("internal error serving a connection:\n" + traceback.format_exc())
                self.idle.pop(fd, None)
                self._close(conn)
                break
            conn = self.idle.pop(fd, None) if pending and fd in pending else None
        ctx.since = 0.0
        if inline and self.nthreads > 1:
            t1 = _monotonic()
            if t1 - t0 < HAND_OVER_AFTER:
                self.slow_serves = 0
            elif self.slow_serves:
                self.slow_serves = 0
                self.handing_over_until = t1 + HAND_OVER_FOR
            else:
                self.slow_serves = 1

    def _serve_http(self, conn, ctx):
        sock = conn.sock
        buf = conn.buf
        conn.buf = b""
        full = False
        while True:
            # ---- a complete request head (edge-triggered: read until EAGAIN before parking)
            i = buf.find(b"\r\n\r\n") if buf else -1
            head = None
            while i < 0:
                if len(buf) > MAX_HEAD:
                    found = self._lf_head(conn, buf)     # rejects with 414 / 431
                    if found is None:
                        return
                    head, buf = found
                    break
                try:
                    data = sock.recv(RECV, MSG_DONTWAIT)
                except BlockingIOError:
                    if not buf:
                        self._park(conn, b"")
                        return
                    found = self._lf_head(conn, buf)     # bare-LF head, or park the partial one
                    if found is None:
                        return
                    head, buf = found
                    break
                except OSError:
                    self._close(conn)
                    return
                if not data:
                    self._close(conn)
                    return
                full = len(data) == RECV
                if buf:
                    buf += data
                else:
                    buf = data
                i = buf.find(b"\r\n\r\n")
            if head is None:
                head = buf[:i].decode("latin-1")
                buf = buf[i + 4:]
            conn.partial = 0.0
            try:
                env, keep, v11, body, buf = self._parse(conn, head, buf)
            except _HTTPError as e:
                if e.status == 0:      # empty lines before the request line: skip them
                    buf = (head + "\r\n\r\n").encode("latin-1").lstrip(b"\r\n") + buf
                    continue
                if e.reason:
                    log("%d: %s (from %s)" % (e.status, e.reason,
                                             conn.env.get("REMOTE_ADDR") or "unix socket"))
                self._reject(conn, e.status)
                return
            # ---- run the application
            ctx.sock = sock
            ctx.status = None
            ctx.head_sent = False
            ctx.chunked = False
            ctx.clen = None
            ctx.sent = 0
            ctx.keep = keep
            ctx.v11 = v11
            ctx.body = body
            ctx.head_req = env["REQUEST_METHOD"] == "HEAD"
            ctx.reqline = head
            ctx.busy = 1
            if not self.notify_armed:
                self.poke()
            conn.fresh = False
            self._run_app(ctx, env)
            ctx.busy = 0
            ctx.requests += 1
            if not self.notify_armed:
                self.poke()
            if not ctx.keep:
                if body is not None and not body.finished() or buf:
                    self._linger(conn)
                else:
                    self._close(conn)
                return
            if body is not None:
                if not body.finished():
                    try:
                        body.discard()
                    except OSError:
                        self._close(conn)
                        return
                if body._chunked:
                    buf = body.leftover()
                full = True       # the body reads may have left data on the socket: look
            if not buf and not full:
                # park (inline: the hot path).  The last read returned less than asked, so the
                # socket was empty then: anything arriving later raises a new edge.
                conn.deadline = _monotonic() + KEEPALIVE_TIMEOUT
                if not conn.polled:
                    self._poll_conn(conn)
                self.idle[conn.fd] = conn
                return
            # a pipelined request is already buffered (or may be on the socket): go on here

    def _lf_head(self, conn, buf):
        """No CRLFCRLF in buf: a head ended by bare LFs, an incomplete head (park it), or one
        over the limits.  Returns (head str with CRLF line ends, rest) or None."""
        j = -1
        for sep in (b"\n\n", b"\n\r\n"):
            k = buf.find(sep)
            if k >= 0 and (j < 0 or k < j):
                j = k
                seplen = len(sep)
        if 0 <= j <= MAX_HEAD:
            lines = buf[:j].split(b"\n")
            head = b"\r\n".join(l[:-1] if l.endswith(b"\r") else l for l in lines)
            return head.decode("latin-1"), buf[j + seplen:]
        nl = buf.find(b"\n")
        if (nl < 0 and len(buf) > MAX_LINE) or nl > MAX_LINE + 1:
            self._reject(conn, 414)
            return None
        if len(buf) > MAX_HEAD:
            self._reject(conn, 431)
            return None
        if not buf.strip(b"\r\n"):
            buf = b""      # only empty lines so far
        self._park(conn, buf)
        return None

    def _parse(self, conn, head, buf):
        """Parse a request head (str, CRLF line ends, latin-1 decoded).  Returns
        (environ, keep_alive, is_http11, body or None, rest of buf)."""
        if len(head) > MAX_HEAD:
            nl = head.find("\r\n")
            if nl < 0 or nl > MAX_LINE:
                raise _HTTPError(414)      # the request line is what is too long
            raise _HTTPError(431, "request head over %d bytes" % MAX_HEAD)
        lines = head.split("\r\n")
        n = len(lines)
        rl = lines[0]
        if len(rl) > MAX_LINE:
            raise _HTTPError(414)
        if not rl:
            raise _HTTPError(0)
        if n > MAX_FIELDS + 1:
            raise _HTTPError(431, "more than %d header fields" % MAX_FIELDS)
        if head.count("\n") != n - 1 or head.count("\r") != n - 1 or "\0" in head:
            raise _HTTPError(400, "stray CR, LF or NUL in the request head")
        try:
            method, target, ver = rl.split(" ")
        except ValueError:
            raise _HTTPError(400, "malformed request line %r" % rl[:100])
        if ver == "HTTP/1.1":
            v11 = True
        elif ver == "HTTP/1.0":
            v11 = False
        elif ver[:5] == "HTTP/" and len(ver) == 8 and ver[5].isdigit() and ver[6] == "." \
                and ver[7].isdigit():
            if ver[5] != "1":
                raise _HTTPError(505)
            v11 = True
            ver = "HTTP/1.1"
        else:
            raise _HTTPError(400, "malformed request line %r" % rl[:100])
        if method not in _METHODS and (not method or not _TCHARS.issuperset(method)):
            raise _HTTPError(400, "malformed method %r" % method[:40])

        env = conn.env.copy()
        env["REQUEST_METHOD"] = method
        env["SERVER_PROTOCOL"] = ver
        env["REQUEST_URI"] = env["RAW_URI"] = target
        if target[:1] != "/":
            target = self._odd_target(method, target)
        q = target.find("?")
        if q >= 0:
            path = target[:q]
            query = target[q + 1:]
            if "#" in query:
                query = query.split("#", 1)[0]
        else:
            path = target
            query = ""
            if "#" in path:
                path = path.split("#", 1)[0]
        if "%" in path:
            path = unquote_to_bytes(path).decode("latin-1")
        if self.script_name:
            sn = self.script_name
            if path == sn or path.startswith(sn + "/"):
                path = path[len(sn):]
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query

        hk = _HEADER_KEYS
        if n > 1:
            for line in lines[1:]:
                k, sep, v = line.partition(":")
                if not sep:
                    raise _HTTPError(400, "malformed header line %r" % line[:60])
                key = hk.get(k)
                if key is None:
                    if len(line) > MAX_FIELD:
                        raise _HTTPError(431, "header field over %d bytes" % MAX_FIELD)
                    key = _header_key(k)
                if not key:
                    continue
                v = v.strip(" \t")
                if key in env:
                    if key == "CONTENT_LENGTH":
                        if env[key] != v:
                            raise _HTTPError(400, "conflicting Content-Length headers")
                        continue
                    v = env[key] + ("; " if key == "HTTP_COOKIE" else ", ") + v
                env[key] = v
            if conn.unix:
                host = env.get("HTTP_HOST")
                if host:
                    if host.startswith("["):
                        end = host.find("]") + 1
                        name, port = host[:end], host[end + 1:]
                    else:
                        name, _, port = host.partition(":")
                    env["SERVER_NAME"] = name or "localhost"
                    if port.isdigit():
                        env["SERVER_PORT"] = port
            c = env.get("HTTP_CONNECTION")
            if c is None:
                keep = v11
            elif v11:
                keep = not _has_token(c, "close")
            else:
                keep = _has_token(c, "keep-alive")
            cl = env.get("CONTENT_LENGTH")
            te = env.get("HTTP_TRANSFER_ENCODING")
            if cl is None and te is None:
                if "HTTP_EXPECT" in env:
                    self._expect(env, v11)
                return env, keep, v11, None, buf
            return self._body(conn, env, keep, v11, cl, te, buf)
        return env, v11, v11, None, buf

    def _expect(self, env, v11):
        ex = env["HTTP_EXPECT"]
        if ex.lower() != "100-continue":
            raise _HTTPError(417, "unsupported Expect: %r" % ex[:40])
        return v11

    def _body(self, conn, env, keep, v11, cl, te, buf):
        expect = False
        if "HTTP_EXPECT" in env:
            expect = self._expect(env, v11)
        if te is not None:
            if cl is not None:
                raise _HTTPError(400, "both Content-Length and Transfer-Encoding")
            if not v11:
                raise _HTTPError(400, "Transfer-Encoding in an HTTP/1.0 request")
            codings = [t.strip().lower() for t in te.split(",")]
            if codings != ["chunked"]:
                if codings[-1] != "chunked":
                    raise _HTTPError(400, "Transfer-Encoding does not end with chunked")
                raise _HTTPError(501, "unsupported Transfer-Encoding %r" % te[:60])
            body = _Body(conn.sock, buf, 0, True, expect)
            env["wsgi.input"] = body
            return env, keep, v11, body, b""
        if not (cl.isdigit() and cl.isascii()) or len(cl) > 18:
            raise _HTTPError(400, "invalid Content-Length %r" % cl[:40])
        n = int(cl)
        env["CONTENT_LENGTH"] = str(n)
        if n == 0:
            return env, keep, v11, None, buf
        if len(buf) >= n:
            env["wsgi.input"] = io.BytesIO(buf[:n])
            return env, keep, v11, None, buf[n:]
        body = _Body(conn.sock, buf, n - len(buf), False, expect)
        env["wsgi.input"] = body
        return env, keep, v11, body, b""

    def _odd_target(self, method, target):
        """A request target not starting with '/': absolute form, '*' or authority form."""
        low = target[:8].lower()
        if low.startswith("http://") or low.startswith("https://"):
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            q = rest.find("?")
            if slash < 0 or (0 <= q < slash):
                return "/" + rest[q:] if q >= 0 else "/"
            return rest[slash:]
        if target == "*" and method == "OPTIONS":
            return ""
        raise _HTTPError(400, "malformed request target %r" % target[:100])

    # ---- the uwsgi protocol (nginx uwsgi_pass)

    def _serve_uwsgi(self, conn, ctx):
        sock = conn.sock
        buf = conn.buf
        conn.buf = b""
        while True:
            if len(buf) >= 4:
                if buf[0] != 0:
                    log("uwsgi packet with modifier1=%d (only 0, WSGI, is supported)" % buf[0])
                    self._close(conn)
                    return
                size = buf[1] | (buf[2] << 8)
                if len(buf) >= 4 + size:
                    break
            try:
                data = sock.recv(RECV, MSG_DONTWAIT)
            except BlockingIOError:
                self._park(conn, buf)
                return
            except OSError:
                self._close(conn)
                return
            if not data:
                self._close(conn)
                return
            buf = buf + data if buf else data
        conn.partial = 0.0
        env = conn.env.copy()
        pos = 4
        end = 4 + size
        try:
            while pos < end:
                kl = buf[pos] | (buf[pos + 1] << 8)
                pos += 2
                k = buf[pos:pos + kl].decode("latin-1")
                pos += kl
                vl = buf[pos] | (buf[pos + 1] << 8)
                pos += 2
                v = buf[pos:pos + vl].decode("latin-1")
                pos += vl
                env[k] = v
            if pos != end:
                raise IndexError
        except IndexError:
            log("malformed uwsgi packet (from %s)"
                % (conn.env.get("REMOTE_ADDR") or "unix socket"))
            self._close(conn)
            return
        buf = buf[end:]
        env.setdefault("REQUEST_METHOD", "GET")
        env.setdefault("SCRIPT_NAME", "")
        env.setdefault("QUERY_STRING", "")
        proto = env.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
        if "PATH_INFO" not in env:
            env["PATH_INFO"] = unquote_to_bytes(
                env.get("REQUEST_URI", "/").split("?", 1)[0]).decode("latin-1")
        scheme = env.get("UWSGI_SCHEME") or env.get("REQUEST_SCHEME")
        if scheme:
            env["wsgi.url_scheme"] = scheme
        elif env.get("HTTPS", "").lower() in ("on", "1"):
            env["wsgi.url_scheme"] = "https"
        body = None
        cl = env.get("CONTENT_LENGTH")
        if cl:
            if not cl.isdigit():
                self._reject(conn, 400, http=False)
                return
            n = int(cl)
            if len(buf) >= n:
                env["wsgi.input"] = io.BytesIO(buf[:n])
            else:
                body = _Body(sock, buf, n - len(buf), False, False)
                env["wsgi.input"] = body
        ctx.sock = sock
        ctx.status = None
        ctx.head_sent = False
        ctx.chunked = False
        ctx.clen = None
        ctx.sent = 0
        ctx.keep = False
        ctx.v11 = proto == "HTTP/1.1"
        ctx.body = body
        ctx.http = False
        ctx.proto = proto if proto.startswith("HTTP/") else "HTTP/1.1"
        ctx.head_req = env["REQUEST_METHOD"] == "HEAD"
        ctx.reqline = "%s %s %s" % (env["REQUEST_METHOD"], env.get("REQUEST_URI")
                                    or env["PATH_INFO"], proto)
        ctx.busy = 1
        if not self.notify_armed:
            self.poke()
        try:
            conn.fresh = False
            self._run_app(ctx, env)
        finally:
            ctx.http = True          # the default (not set per HTTP request)
        ctx.busy = 0
        ctx.requests += 1
        if not self.notify_armed:
            self.poke()
        self._close(conn)

    # ---- running the app and writing the response

    def _run_app(self, ctx, env):
        result = None
        try:
            result = self.app(env, ctx.start_response)
            if type(result) is list:
                self._respond(ctx, result)
            else:
                try:
                    self._respond(ctx, result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
        except ClientGone as e:
            ctx.keep = False
            if isinstance(e, BadRequestBody) and not ctx.head_sent:
                log("400: %s (request %r)" % (e, ctx.reqline.split("\r\n", 1)[0][:200]))
                self._send_error(ctx, 400)
        except BaseException:
            ctx.keep = False
            self._app_error(ctx)

    def _app_error(self, ctx):
        line = ctx.reqline.split("\r\n", 1)[0]
        log("error handling %r (thread %s):\n%s" % (line[:300], ctx.name,
                                                   traceback.format_exc().rstrip()))
        if not ctx.head_sent:
            self._send_error(ctx, 500)

    def _send_error(self, ctx, status):
        ctx.head_sent = True
        try:
            ctx.sock.sendall(_error_response(status, http=ctx.http))
        except OSError:
            pass

    def _head(self, ctx, known):
        """The response head (bytes) for ctx.status/ctx.headers; decides framing and keep-alive.
        known: the body's length when the whole body is known, else None."""
        status = ctx.status
        nobody_code = _STATUS.get(status)
        if nobody_code is None:
            nobody_code = _check_status(status)      # also rejects CR / LF
        head_req = ctx.head_req
        ctx.no_body = nobody_code or head_req
        http = ctx.http
        hb = ("HTTP/1.1 " if http else ctx.proto + " ") + status + "\r\n"
        clen = None
        has_date = False
        keep = ctx.keep
        hname = _HNAME.get
        try:
            for name, value in ctx.headers:
                ln = hname(name)
                if ln is None:
                    ln = _hname(name)                # validates the name
                if "\n" in value or "\r" in value:
                    raise ValueError("the response header %r contains CR or LF: %r"
                                     % (name, value))
                if ln:
                    if ln == "content-length":
                        clen = value
                    elif ln == "date":
                        has_date = True
                    else:                            # hop-by-hop: ours to send, not the app's
                        if ln == "connection" and _has_token(value, "close"):
                            keep = False
                        continue
                hb += "%s: %s\r\n" % (name, value)
        except TypeError:
            raise TypeError("the response headers must be a list of (str, str) tuples, got %r"
                            % (ctx.headers,))
        if clen is not None:
            if not clen.isdigit():
                raise ValueError("invalid Content-Length header %r from the application" % (clen,))
            ctx.clen = int(clen)
        elif nobody_code:
            pass
        elif known is not None and not (head_req and known == 0):
            ctx.clen = known
            hb += "Content-Length: %d\r\n" % known
        elif head_req:
            pass
        elif ctx.v11 and http:
            ctx.chunked = True
            hb += "Transfer-Encoding: chunked\r\n"
        else:
            keep = False
        if keep:
            body = ctx.body
            if (body is not None and not body.can_keep()) or self.draining:
                keep = False
        ctx.keep = keep
        if http:
            if not keep:
                hb += "Connection: close\r\n"
            elif not ctx.v11:
                hb += "Connection: keep-alive\r\n"
        if not has_date:
            hb += _date_line()
        hb += "\r\n"
        return hb.encode("latin-1")

    def _respond(self, ctx, result):
        sock = ctx.sock
        if type(result) is list and len(result) == 1 and not ctx.head_sent:
            body = result[0]
            if ctx.status is None:
                raise AssertionError("the application returned without calling start_response()")
            if type(body) is not bytes:
                body = _as_bytes(body)
            n = len(body)
            head = self._head(ctx, n)
            ctx.head_sent = True
            try:
                if ctx.no_body:
                    sock.sendall(head)
                    return
                clen = ctx.clen
                if clen != n:
                    if clen < n:
                        body = body[:clen]
                        n = clen
                    else:
                        ctx.keep = False
                ctx.sent = n
                if n < BIG:
                    sock.sendall(head + body)
                else:
                    sock.sendall(head)
                    sock.sendall(body)
            except OSError as e:
                raise ClientGone(str(e))
            return
        if type(result) is FileWrapper and not ctx.head_sent and self._sendfile(ctx, result):
            return
        send_body = self._send_body
        for data in result:
            if data:
                if type(data) is not bytes:
                    data = _as_bytes(data)
                send_body(ctx, data)
            elif ctx.status is None:
                raise AssertionError("the application yielded before calling start_response()")
        if ctx.status is None:
            raise AssertionError("the application returned without calling start_response()")
        try:
            if not ctx.head_sent:
                sock.sendall(self._head(ctx, 0))
                ctx.head_sent = True
            elif ctx.chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as e:
            raise ClientGone(str(e))
        if ctx.clen is not None and ctx.sent < ctx.clen and not ctx.no_body:
            log("response to %r: the application sent %d bytes, its Content-Length said %d; "
                "closing the connection" % (ctx.reqline.split("\r\n", 1)[0][:200], ctx.sent,
                                            ctx.clen))
            ctx.keep = False

    def _send_body(self, ctx, data):
        sock = ctx.sock
        if not ctx.head_sent:
            head = self._head(ctx, None)
            ctx.head_sent = True
        else:
            head = None
        try:
            if ctx.no_body:
                if head:
                    sock.sendall(head)
                return
            clen = ctx.clen
            if clen is not None and ctx.sent + len(data) > clen:
                data = data[:max(0, clen - ctx.sent)]
            n = len(data)
            ctx.sent += n
            if ctx.chunked and n:
                prefix = b"%x\r\n" % n
                if head:
                    prefix = head + prefix
                if n < BIG:
                    sock.sendall(prefix + data + b"\r\n")
                else:
                    sock.sendall(prefix)
                    sock.sendall(data)
                    sock.sendall(b"\r\n")
            elif head:
                if n < BIG:
                    sock.sendall(head + data)
                else:
                    sock.sendall(head)
                    sock.sendall(data)
            elif n:
                sock.sendall(data)
        except OSError as e:
            raise ClientGone(str(e))

    def _sendfile(self, ctx, wrapper):
        """Send a FileWrapper of a regular file with os.sendfile; False to fall back."""
        f = wrapper.filelike
        sendfile = getattr(os, "sendfile", None)
        if sendfile is None or not hasattr(f, "fileno"):
            return False
        try:
            fd = f.fileno()
            st = os.fstat(fd)
            if not (st.st_mode & 0o170000 == 0o100000):   # S_ISREG
                return False
            offset = f.tell() if hasattr(f, "tell") else os.lseek(fd, 0, os.SEEK_CUR)
        except (OSError, ValueError, io.UnsupportedOperation):
            return False
        if ctx.status is None:
            raise AssertionError("the application returned without calling start_response()")
        size = max(0, st.st_size - offset)
        head = self._head(ctx, size)
        ctx.head_sent = True
        sock = ctx.sock
        try:
            sock.sendall(head)
            if ctx.no_body:
                return True
            count = min(size, ctx.clen if ctx.clen is not None else size)
            out = sock.fileno()
            while count > 0:
                try:
                    sent = sendfile(out, fd, offset, min(count, 1 << 30))
                except BlockingIOError:
                    raise ClientGone("timed out sending a file")
                if sent == 0:
                    break
                offset += sent
                count -= sent
                ctx.sent += sent
        except OSError as e:
            raise ClientGone(str(e))
        if ctx.clen is not None and ctx.sent < ctx.clen:
            ctx.keep = False
        return True

    # ---- drain, sweeps, harakiri (main thread)

    def begin_drain(self):
        if self.draining:
            return
        self.draining = True
        self.drain_t0 = _monotonic()
        with self.listen_lock:
            for fd, lst in list(self.listeners.items()):
                try:
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
        log("draining: stopped accepting; %d connection(s), %d request(s) in flight, %d job(s)"
            % (len(self.conns), busy, njobs))
        self.report("STOPPING=1\nSTATUS=draining")
        _bound_orphan_drain()

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
            if self.idle.pop(fd, None) is not conn:
                continue
            if conn.buf and conn.handler == self._serve_http:
                try:
                    conn.sock.send(_error_response(408), MSG_DONTWAIT)
                except OSError:
                    pass
            self._close(conn)

    def check_harakiri(self, now):
        frames = None
        for ctx in self.ctxs:
            if not ctx.busy:
                ctx.hk_seen = -1
                continue
            if ctx.hk_seen != ctx.requests:
                ctx.hk_seen = ctx.requests
                ctx.hk_since = now
                continue
            if ctx.hk_reported == ctx.requests or now - ctx.hk_since < self.harakiri:
                continue
            ctx.hk_reported = ctx.requests
            if frames is None:
                frames = sys._current_frames()
            frame = frames.get(ctx.ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)\n"
            line = ctx.reqline.split("\r\n", 1)[0][:300]
            log("harakiri: request %r has been running for more than %d s (thread %s); its "
                "stack:\n%s" % (line, self.harakiri, ctx.name, stack.rstrip()))
            self.report("X_EBB_STUCK=1\nSTATUS=harakiri: request %s running over %d s"
                        % (line[:200].replace("\n", " "), self.harakiri))

    def rearm_listeners(self):
        with self.listen_lock:
            self.accept_paused = False
            for fd in self.listeners:
                try:
                    self.poller.rearm(fd)
                except OSError:
                    pass

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
            self.poller.register_listener(fd)

    def in_request(self):
        ctx = self.ctx_by_ident.get(threading.get_ident())
        return ctx is not None and ctx.busy == 1


_HANDLED_SIGNALS = set()


# --------------------------------------------------------------------------------------------
# The notify socket


class Notifier(object):
    def __init__(self, path):
        self.addr = None
        self.sock = None
        if not path:
            return
        if path.startswith("@"):
            path = "\0" + path[1:]
        self.addr = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.warned = False

    def send(self, msg):
        if self.sock is None:
            return
        try:
            self.sock.sendto(msg.encode("utf-8", "replace"), self.addr)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK) and not self.warned:
                self.warned = True
                log("cannot report to the master on NOTIFY_SOCKET: %s (further errors not logged)"
                    % e)


# --------------------------------------------------------------------------------------------
# Start-up


USAGE = ("usage: ebb_worker.py (--module pkg.mod[:callable] | --wsgi-file app.py) "
         "[--callable NAME] [--pythonpath DIR]... [--threads N] [--harakiri SECONDS]")


class Options(object):
    module = None
    wsgi_file = None
    callable = None
    pythonpath = ()
    threads = 1
    harakiri = 0


def parse_args(argv):
    opts = Options()
    opts.pythonpath = []
    it = iter(argv)

    def value(flag):
        try:
            return next(it)
        except StopIteration:
            usage("%s needs a value" % flag)

    for arg in it:
        if "=" in arg and arg.startswith("--"):
            flag, _, val = arg.partition("=")
            rest = [val]
        else:
            flag, rest = arg, None
        get = (lambda f=flag, r=rest: r[0]) if rest else (lambda f=flag: value(f))
        if flag == "--module":
            opts.module = get()
        elif flag == "--wsgi-file":
            opts.wsgi_file = get()
        elif flag == "--callable":
            opts.callable = get()
        elif flag == "--pythonpath":
            opts.pythonpath.append(get())
        elif flag in ("--threads", "--harakiri"):
            v = get()
            try:
                n = int(v)
                if n < 0 or (flag == "--threads" and n < 1):
                    raise ValueError
            except ValueError:
                usage("%s needs a %s integer, got %r"
                      % (flag, "positive" if flag == "--threads" else "non-negative", v))
            setattr(opts, flag[2:], n)
        elif flag in ("-h", "--help"):
            sys.stdout.write(USAGE + "\n")
            sys.exit(0)
        else:
            usage("unknown argument %r" % arg)
    if bool(opts.module) == bool(opts.wsgi_file):
        usage("give exactly one of --module and --wsgi-file")
    return opts


def usage(msg):
    sys.stderr.write("ebb worker: %s\n%s\n" % (msg, USAGE))
    sys.exit(EXIT_USAGE)


def env_error(msg):
    sys.stderr.write(_log_prefix + msg + "\n")
    sys.exit(EXIT_ENV)


def listeners_from_env(threads):
    nfds = os.environ.get("LISTEN_FDS")
    pid = os.environ.get("LISTEN_PID")
    names = os.environ.get("LISTEN_FDNAMES", "")
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    if not nfds:
        env_error("no listening sockets: LISTEN_FDS is not set.  This program is started by the "
                  "ebb master (ebb --module ... / --wsgi-file ...), which passes the sockets.")
    if pid and pid != str(os.getpid()):
        env_error("LISTEN_PID=%s is not this process (%d): the sockets were meant for another "
                  "process" % (pid, os.getpid()))
    try:
        n = int(nfds)
    except ValueError:
        env_error("LISTEN_FDS=%r is not a number" % nfds)
    if n < 1:
        env_error("LISTEN_FDS=%d: no listening sockets" % n)
    names = names.split(":") if names else []
    out = []
    for i in range(n):
        fd = 3 + i
        name = names[i] if i < len(names) and names[i] else "http"
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            env_error("fd %d (LISTEN_FDS=%d) is not a socket: %s" % (fd, n, e))
        if sock.type != socket.SOCK_STREAM:
            env_error("fd %d is not a stream socket" % fd)
        try:
            if not sock.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_ACCEPTCONN", 30)):
                env_error("fd %d is not a listening socket" % fd)
        except OSError:
            pass
        os.set_inheritable(fd, False)
        sock.setblocking(False)
        lst = _Listener()
        lst.sock = sock
        lst.fd = fd
        lst.kind = "uwsgi" if name == "uwsgi" else "http"
        lst.name = "%s socket fd %d" % (name, fd)
        lst.family = sock.family
        lst.tcp = sock.family in (socket.AF_INET, getattr(socket, "AF_INET6", -1))
        lst.wildcard = False
        lst.inherits = None
        base = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": _EMPTY,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": threads > 1,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": os.environ.get("SCRIPT_NAME", "").rstrip("/"),
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
        }
        if lst.tcp:
            addr = sock.getsockname()
            host = addr[0]
            lst.wildcard = host in ("0.0.0.0", "::")
            base["SERVER_NAME"] = host
            base["SERVER_PORT"] = str(addr[1])
        else:
            base["SERVER_NAME"] = "localhost"
            base["SERVER_PORT"] = "80"
        lst.base = base
        out.append(lst)
    return out


def load_app(opts):
    """Import the application; on failure print why and what to do, and exit 4."""
    import importlib
    import importlib.util
    cwd = os.getcwd()
    here = os.path.dirname(os.path.abspath(__file__))
    extra = [os.path.abspath(p) for p in opts.pythonpath] + [cwd]
    if opts.wsgi_file:
        extra.append(os.path.dirname(os.path.abspath(opts.wsgi_file)))
    pos = 1 if sys.path and sys.path[0] in (here, "") else 0
    for p in extra:
        if p not in sys.path:
            sys.path.insert(pos, p)
            pos += 1
    callable_name = opts.callable or "application"
    if opts.module:
        what = opts.module
        modname, sep, attr = opts.module.partition(":")
        if sep and attr:
            callable_name = attr
        what = "%s:%s" % (modname, callable_name)
    else:
        what = "%s (callable %s)" % (opts.wsgi_file, callable_name)
    try:
        if opts.module:
            mod = importlib.import_module(modname)
        else:
            path = os.path.abspath(opts.wsgi_file)
            if not os.path.isfile(path):
                raise FileNotFoundError("no such file: %s" % path)
            stem = os.path.splitext(os.path.basename(path))[0]
            modname = stem if stem.isidentifier() and stem not in sys.modules else "ebb_wsgi_file"
            spec = importlib.util.spec_from_file_location(modname, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        obj = mod
        call = callable_name.endswith("()")
        for part in (callable_name[:-2] if call else callable_name).split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                hint = ""
                for guess in ("application", "app", "create_app()", "make_app()"):
                    g = guess[:-2] if guess.endswith("()") else guess
                    if guess != callable_name and hasattr(mod, g):
                        hint = " (it has %r: use --callable %s)" % (g, guess)
                        break
                raise AttributeError("module %r has no attribute %r%s"
                                     % (mod.__name__, callable_name, hint))
        if call:
            obj = obj()
        if not callable(obj):
            raise TypeError("%r in module %r is a %s, not a WSGI callable"
                            % (callable_name, mod.__name__, type(obj).__name__))
        return obj
    except BaseException as e:
        tb = traceback.format_exc().rstrip()
        sys.stderr.write(
            "%scannot load the WSGI application %s\n%s\n\n"
            "  python:    %s (%s)\n"
            "  cwd:       %s\n"
            "  sys.path:  %s\n"
            "  What to do: check the module / --wsgi-file and --callable names; that --chdir or "
            "--pythonpath name the directory that contains the package; and that the virtualenv "
            "(--virtualenv / --python) is the one with the app's dependencies.  Exit code %d: "
            "ebb retries with a back-off.\n"
            % (_log_prefix, what, tb, sys.executable, sys.version.split()[0], cwd,
               sys.path, EXIT_IMPORT))
        sys.stderr.flush()
        if isinstance(e, KeyboardInterrupt):
            os._exit(EXIT_IMPORT)
        sys.exit(EXIT_IMPORT)


def _signal_number(name):
    name = (name or "").strip().upper()
    if not name:
        return signal.SIGTERM
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal, name, None)
    if not isinstance(sig, int):
        sys.stderr.write("%signoring EBB_DRAIN_SIGNAL=%r (unknown signal); using SIGTERM\n"
                         % (_log_prefix, name))
        return signal.SIGTERM
    return sig


def _bound_orphan_drain():
    """If the master is gone (killed: its PR_SET_PDEATHSIG started this drain), nobody
    enforces the drain timeout: keep it ourselves, and say what is abandoned."""
    try:
        master = int(os.environ.get("EBB_MASTER_PID", ""))
        limit = float(os.environ.get("EBB_DRAIN_TIMEOUT", ""))
    except ValueError:
        return
    if os.getppid() == master or limit < 0:
        return

    def expire():
        import ebb
        njobs, names = ebb._snapshot(20)
        log("the master is gone and the drain timeout (%.1fs) passed; exiting with %d job(s) "
            "unfinished: %s" % (limit, njobs, ", ".join(names) or "-"))
        os._exit(1)

    t = threading.Timer(limit, expire)
    t.daemon = True
    t.start()


def main(argv=None):
    global _log_prefix
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    wid = os.environ.get("EBB_WORKER_ID")
    _log_prefix = "[ebb worker %s pid %d] " % (wid or "?", os.getpid())
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except (AttributeError, ValueError):
            pass

    listeners = listeners_from_env(opts.threads)
    notify_path = os.environ.pop("NOTIFY_SOCKET", None)
    try:
        notifier = Notifier(notify_path)
    except OSError as e:
        env_error("cannot open a socket for NOTIFY_SOCKET=%s: %s" % (notify_path, e))

    # The shared job registry; patch the executors and Thread.start before the app is imported.
    import ebb
    ebb._in_worker = True
    try:
        ebb._worker_id = int(wid) if wid else None
    except ValueError:
        ebb._worker_id = None
    ebb._install()

    # Signals: a drain signal while the app is still being imported exits at once (nothing is
    # served yet); afterwards it starts the drain.
    server_box = []
    drain_sig = _signal_number(os.environ.get("EBB_DRAIN_SIGNAL"))

    def on_drain(signum, frame):
        if not server_box:
            # Still importing the app: nothing is served yet, nothing to finish.
            sys.stderr.write("%sdrain signal during start-up: exiting\n" % _log_prefix)
            sys.stderr.flush()
            os._exit(0)
        server_box[0].drain_requested = True

    def on_quit(signum, frame):
        try:
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(0)

    for sig in {drain_sig, signal.SIGTERM, signal.SIGINT}:
        signal.signal(sig, on_drain)
        _HANDLED_SIGNALS.add(sig)
    signal.signal(signal.SIGQUIT, on_quit)
    _HANDLED_SIGNALS.add(signal.SIGQUIT)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    app = load_app(opts)

    server = Server(app, listeners, opts.threads, opts.harakiri, notifier, wid)
    server_box.append(server)
    ebb._reporter = server.poke
    ebb._in_request = server.in_request
    ebb._track_executors = True
    signal.set_wakeup_fd(server.wake_w, warn_on_full_buffer=False)
    server.start_threads()
    server.report("READY=1\nSTATUS=serving %s with %d thread(s)"
                  % (opts.module or opts.wsgi_file, opts.threads))
    return run(server)


def run(server):
    """The main thread: signals, reports, timeouts, drain."""
    import ebb
    poll = select.poll()
    poll.register(server.wake_r, select.POLLIN)
    last_report = _monotonic()
    next_sweep = last_report + 1.0
    next_hk = last_report + 1.0
    wd = os.environ.get("WATCHDOG_USEC")
    wd_interval = int(wd) / 2e6 if wd and wd.isdigit() and int(wd) > 0 else 0
    next_wd = last_report + wd_interval
    next_pause = 0.0
    last_waiting_log = 0.0
    hinted = False
    while True:
        now = _monotonic()
        timeout = None
        if server.notify_armed:
            timeout = max(0.0, last_report + 0.02 - now)
        if server.conns or server.draining:
            t = max(0.0, next_sweep - now)
            timeout = t if timeout is None else min(timeout, t)
        if server.harakiri:
            t = max(0.0, next_hk - now)
            timeout = t if timeout is None else min(timeout, t)
        if wd_interval:
            t = max(0.0, next_wd - now)
            timeout = t if timeout is None else min(timeout, t)
        if server.accept_paused:
            if not next_pause:
                next_pause = now + 0.5
            t = max(0.0, next_pause - now)
            timeout = t if timeout is None else min(timeout, t)
        try:
            ready = poll.poll(None if timeout is None else int(timeout * 1000 + 0.999))
        except InterruptedError:
            ready = ()
        if ready:
            try:
                while os.read(server.wake_r, 4096):
                    pass
            except OSError:
                pass
        if server.drain_requested and not server.draining:
            server.begin_drain()
            last_report = _monotonic()
            next_sweep = last_report
        now = _monotonic()
        if now >= next_sweep:
            server.sweep(now)
            next_sweep = now + (0.1 if server.draining else 1.0)
        if server.harakiri and now >= next_hk:
            server.check_harakiri(now)
            next_hk = now + 1.0
        if wd_interval and now >= next_wd:
            server.notifier.send("WATCHDOG=1")
            next_wd = now + wd_interval
        if server.accept_paused and next_pause and now >= next_pause:
            next_pause = 0.0
            if not server.draining:
                server.rearm_listeners()
        if server.notify_armed and now >= last_report + 0.02:
            server.notify_armed = False
            last_report = now
            req, busy, njobs = server.report()
        if server.draining:
            req, busy = server.counts()
            njobs = len(ebb._active)
            if not server.conns and not busy and not njobs:
                break
            if now - last_waiting_log >= 5.0 and now - server.drain_t0 >= 5.0:
                last_waiting_log = now
                _, names = ebb._snapshot(20)
                log("still draining after %.0f s: %d connection(s), %d request(s), %d job(s)%s"
                    % (now - server.drain_t0, len(server.conns), busy, njobs,
                       (": " + ", ".join(names)) if names else ""))
                if njobs and not hinted:
                    hinted = True
                    log("hint: a job that never ends keeps this worker alive until the master's "
                        "drain timeout.  If one of these is a helper thread that a library starts "
                        "during a request and that lives forever, start it inside "
                        "`with ebb.untracked():` or add its module to EBB_UNTRACKED_THREADS")
    req, busy, njobs = server.report("STATUS=drained")
    log("drained in %.1f s: %d request(s) served" % (_monotonic() - server.drain_t0, req))
    # Python's exit joins the remaining non-daemon threads (and the executors' idle threads).
    # Say so if some of them (started at import time, so not jobs) keep running.
    main_t = threading.main_thread()
    others = [t for t in threading.enumerate()
              if t is not main_t and not t.daemon and not t.name.startswith("ThreadPoolExecutor")]
    for t in others:
        t.join(0.2)
    others = [t for t in others if t.is_alive()]
    if others:
        log("exit waits for non-daemon thread(s) started outside requests (not jobs): %s"
            % ", ".join(t.name for t in others[:10]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

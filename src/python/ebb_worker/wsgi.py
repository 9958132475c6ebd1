"""WSGI: a serving thread's request state (start_response, write), wsgi.file_wrapper, and
running the application and writing its response."""

import io
import os
import traceback

from .errors import BadRequestBody, ClientGone
from .http1 import _date_line, _error_response, _has_token
from .logs import log
from .settings import BIG


# Files up to this size are read and sent with their head; larger ones with os.sendfile.
SMALL_FILE = 32768


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


class _Ctx(object):
    """A serving thread's state: its counters and the request it is handling."""
    __slots__ = ("requests", "tx", "rt_ns", "busy", "ident", "name", "sock", "status", "headers", "head_sent",
                 "chunked", "keep", "no_body", "clen", "sent", "body", "v11", "head_req", "http",
                 "proto", "reqline", "start_response", "write", "server", "hsize", "err_status",
                 "hk_seen", "hk_since", "hk_reported", "since", "turns")

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.requests = 0
        self.tx = 0              # response bytes sent, head and body, all requests (`tx`)
        self.rt_ns = 0           # request time, all requests, nanoseconds (`avg_rt`)
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
        self.hsize = 0           # response head bytes sent
        self.err_status = 0      # the status of an error response ebb sent instead of the app
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

    def begin(self, sock, keep, v11, body, head_req, reqline):
        """Start serving one request on `sock`: the response state starts afresh."""
        self.sock = sock
        self.status = None
        self.head_sent = False
        self.chunked = False
        self.clen = None
        self.sent = 0
        self.hsize = 0
        self.err_status = 0
        self.keep = keep
        self.v11 = v11
        self.body = body
        self.head_req = head_req
        self.reqline = reqline
        self.busy = 1

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


def _send(sock, head, data, tail=b""):
    """head + data + tail on sock: one send when data is small (one segment), else the big
    data on its own (not copied)."""
    if len(data) < BIG:
        sock.sendall(head + data + tail)
    else:
        sock.sendall(head)
        sock.sendall(data)
        if tail:
            sock.sendall(tail)


_HEADS = {}         # (status, *headers) -> _prepare's result: heads the app sent before
_HEADS_MAX = 256    # (bounded: emptied when full; an app whose headers vary keeps a few)


def _prepare(status, headers):
    """What a response head takes from the app's status and headers, validated: (its header
    lines as one str, without ours; the app's Content-Length as an int, or None; whether the
    app sent a Date; whether it asked to close the connection; whether the status has no
    body).  The same for every response with this status and these headers (see _HEADS)."""
    nobody_code = _STATUS.get(status)
    if nobody_code is None:
        nobody_code = _check_status(status)      # also rejects CR / LF
    out = []
    clen = None
    has_date = False
    close = False
    hname = _HNAME.get
    try:
        for name, value in headers:
            ln = hname(name)
            if ln is None:
                ln = _hname(name)                # validates the name
            if "\n" in value or "\r" in value:
                raise ValueError("the response header %r contains CR or LF: %r" % (name, value))
            if ln:
                if ln == "content-length":
                    clen = value
                elif ln == "date":
                    has_date = True
                else:                            # hop-by-hop: ours to send, not the app's
                    if ln == "connection" and _has_token(value, "close"):
                        close = True
                    continue
            out.append("%s: %s\r\n" % (name, value))
    except TypeError:
        raise TypeError("the response headers must be a list of (str, str) tuples, got %r"
                        % (headers,))
    if clen is not None:
        if not clen.isdigit():
            raise ValueError("invalid Content-Length header %r from the application" % (clen,))
        clen = int(clen)
    return "".join(out), clen, has_date, close, nobody_code


class Responding(object):
    """Server methods: run the app, write its response (a mixin of loop.Server)."""

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
                                                   traceback.format_exc().rstrip()), "error")
        if not ctx.head_sent:
            self._send_error(ctx, 500)

    def _send_error(self, ctx, status):
        ctx.head_sent = True
        ctx.err_status = status
        data = _error_response(status, http=ctx.http)
        ctx.hsize = data.find(b"\r\n\r\n") + 4
        ctx.sent = len(data) - ctx.hsize
        try:
            ctx.sock.sendall(data)
        except OSError:
            pass

    def _head(self, ctx, known):
        """The response head (bytes) for ctx.status/ctx.headers; decides framing and keep-alive.
        known: the body's length when the whole body is known, else None."""
        status = ctx.status
        headers = ctx.headers
        try:
            key = (status, *headers)
            prep = _HEADS.get(key)
        except TypeError:            # a header that is a list, or not even a tuple: not kept
            key = prep = None
        if prep is None:
            prep = _prepare(status, headers)     # validates: only valid heads are kept
            if key is not None:
                if len(_HEADS) >= _HEADS_MAX:
                    _HEADS.clear()
                _HEADS[key] = prep
        lines, clen, has_date, app_close, nobody_code = prep
        head_req = ctx.head_req
        ctx.no_body = nobody_code or head_req
        http = ctx.http
        keep = ctx.keep and not app_close
        if clen is not None:
            ctx.clen = clen
        elif nobody_code:
            pass
        elif known is not None and not (head_req and known == 0):
            ctx.clen = known
            lines += "Content-Length: %d\r\n" % known
        elif head_req:
            pass
        elif ctx.v11 and http:
            ctx.chunked = True
            lines += "Transfer-Encoding: chunked\r\n"
        else:
            keep = False
        if keep:
            body = ctx.body
            if (body is not None and not body.can_keep()) or self.draining:
                keep = False
        ctx.keep = keep
        if http:
            if not keep:
                lines += "Connection: close\r\n"
            elif not ctx.v11:
                lines += "Connection: keep-alive\r\n"
        out = ("%s%s\r\n%s%s\r\n" % ("HTTP/1.1 " if http else ctx.proto + " ", status, lines,
                                    "" if has_date else _date_line())).encode("latin-1")
        ctx.hsize = len(out)
        return out

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
                _send(sock, head, body)
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
                                            ctx.clen), "warning")
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
                _send(sock, head + prefix if head else prefix, data, b"\r\n")
            elif head:
                _send(sock, head, data)
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
            if ctx.no_body:
                sock.sendall(head)
                return True
            count = min(size, ctx.clen if ctx.clen is not None else size)
            if count <= SMALL_FILE:
                # A small file goes with its head in one send (one segment, one syscall
                # fewer than the head and a sendfile).
                data = os.pread(fd, count, offset)
                sock.sendall(head + data)
                ctx.sent += len(data)
                count = 0
            else:
                sock.sendall(head)
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

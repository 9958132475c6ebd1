"""HTTP/1.1 on a connection: the request head (request line, headers, framing of the body),
error responses and the Date header."""

import io
import os
import socket
import time
from urllib.parse import unquote_to_bytes

from . import access
from .access import ON as ACCESS
from .body import _Body
from .errors import _HTTPError
from .logs import log
from .static import StaticFiles
from .settings import (KEEPALIVE_TIMEOUT, MAX_FIELD, MAX_FIELDS, MAX_HEAD, MAX_LINE, MSG_DONTWAIT,
                       RECV, _monotonic, _time, _time_ns)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MSG_MORE = getattr(socket, "MSG_MORE", 0)
_sendfile = getattr(os, "sendfile", None)
_date = [0.0, "", b""]   # [valid until, "Date: ...\r\n", the same as bytes]


def _date_line():
    now = _time()
    if now >= _date[0]:
        _new_date(now)
    return _date[1]


def _date_bytes():
    now = _time()
    if now >= _date[0]:
        _new_date(now)
    return _date[2]


def _new_date(now):
    sec = int(now)
    t = time.gmtime(sec)
    line = "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n" % (
        _WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year,
        t.tm_hour, t.tm_min, t.tm_sec)
    _date[1:] = [line, line.encode("latin-1")]
    _date[0] = sec + 1


_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
                      "CONNECT", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
                      "UNLOCK", "REPORT", "PURGE"))
_TCHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEADER_KEYS = {"Content-Type": "CONTENT_TYPE", "Content-Length": "CONTENT_LENGTH",
                "content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
# Control characters (but HTAB) are in no valid request head (RFC 9110 5.5: a field value
# with one is invalid): rejected rather than passed to the app.  CR and LF are in the set,
# counted against the CRLFs that end the lines (_parse).
_CTL_CRLF = bytes(list(range(0, 9)) + list(range(10, 32)) + [127])
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


# A client on a kept-alive connection (a browser, a proxy, a health check, another service)
# mostly sends the same header lines request after request: their parsed form is kept, keyed
# by the header lines as they came (only valid ones: an error is raised before).  A browser's
# ten headers cost a third of its request's instructions to parse (tests/python/reqcost.py
# --browser).  Bounded: up to _BLOCKS_MAX blocks of at most _BLOCK_MAX characters, emptied
# when full (a stream of clients that never repeat costs a lookup and an insert each).
_BLOCKS = {}
_BLOCKS_MAX = 64
_BLOCK_MAX = 2048


def _check_ctl(text, crlfs):
    """Raises _HTTPError unless `text` holds `crlfs` CRLFs and no other CR, LF or control
    character but HTAB: one pass deleting all of them (the text was split on CRLF, so it
    holds at least those)."""
    raw = text.encode("latin-1")
    if len(raw) - len(raw.translate(None, _CTL_CRLF)) != 2 * crlfs:
        raise _HTTPError(400, "stray CR or LF, or a control character, in the request head")


def _fields(lines):
    """The header lines of a request head (lines[1:]) as environ items (a dict); raises
    _HTTPError."""
    hk = _HEADER_KEYS
    out = {}
    for line in lines[1:]:
        k, sep, v = line.partition(":")
        if not sep:
            raise _HTTPError(400, "malformed header line %r" % line[:60])
        key = hk.get(k)
        if key is None:
            key = _header_key(k)
        if not key:
            continue
        v = v.strip(" \t")
        if key in out:
            # A repeat: Host is an error (RFC 9112 3.2: which host would the app see?);
            # Content-Length only when it differs; any other header is a list (RFC 9110
            # 5.3) and is joined, Cookie with "; " (RFC 6265 5.4).
            if key == "CONTENT_LENGTH":
                if out[key] != v:
                    raise _HTTPError(400, "conflicting Content-Length headers")
                continue
            if key == "HTTP_HOST":
                raise _HTTPError(400, "more than one Host header")
            v = out[key] + ("; " if key == "HTTP_COOKIE" else ", ") + v
        out[key] = v
    return out


class HTTPServing(object):
    """Server methods: serve an HTTP/1.x connection (a mixin of loop.Server)."""

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
                        if conn.fresh and self._await_first(conn, ctx):
                            continue
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
            t_start = _time_ns()
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
            ctx.begin(sock, keep, v11, body, env["REQUEST_METHOD"] == "HEAD", head)
            if not self.notify_armed:
                self.poke()
            conn.fresh = False
            hit = None
            if type(self.app) is StaticFiles and body is None:
                hit = self.app.fast_hit(env)
            if hit is None:
                self._run_app(ctx, env)
            else:
                self._send_static(ctx, hit)
            ctx.busy = 0
            ctx.requests += 1
            t_end = _time_ns()
            ctx.tx += ctx.sent + ctx.hsize
            ctx.rt_ns += t_end - t_start
            if not self.notify_armed:
                self.poke()
            if ACCESS:
                access.record(env, ctx, t_start, t_end, next(self.reqno),
                              env.get("RAW_URI", ""))
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

    def _send_static(self, ctx, hit):
        """Answer a GET or HEAD with a remembered static file (static.StaticFiles.fast_hit):
        its head is prepared, a small file's bytes go in the same send, a large file follows
        by sendfile (the head corked with MSG_MORE, so it leaves with the first bytes)."""
        keep = ctx.keep and not self.draining
        ctx.keep = keep
        if not keep:
            conn_line = b"Connection: close\r\n"
        elif not ctx.v11:
            conn_line = b"Connection: keep-alive\r\n"
        else:
            conn_line = b""
        head = hit.head + conn_line + _date_bytes() + b"\r\n"
        ctx.status = "200 OK"
        ctx.head_sent = True
        ctx.hsize = len(head)
        if access.RESP_HEADERS:        # for the access record's %({header}o)s
            ctx.headers = [("Content-Type", hit.ctype), ("Last-Modified", hit.last_modified),
                           ("Accept-Ranges", "bytes"), ("Content-Length", str(hit.size))]
        sock = ctx.sock
        try:
            if ctx.head_req:
                sock.sendall(head)
                return
            data, f = hit.body()
            if data is not None:
                sock.sendall(head + data)
                ctx.sent = len(data)
                return
            if _sendfile is None:
                sock.sendall(head)
                f = hit.reopen()
                while f is not None and ctx.sent < hit.size:
                    chunk = f.read(65536)
                    if not chunk:
                        break
                    sock.sendall(chunk)
                    ctx.sent += len(chunk)
                if f is not None:
                    f.close()
                if ctx.sent < hit.size:
                    ctx.keep = False
                return
            opened = f is None
            if opened:
                f = hit.reopen()
                if f is None:          # gone since the check: a short answer, then close
                    sock.sendall(head)
                    ctx.keep = False
                    return
            try:
                sock.sendall(head, MSG_MORE)
                out, fd, offset, count = sock.fileno(), f.fileno(), 0, hit.size
                while count > 0:
                    try:
                        sent = _sendfile(out, fd, offset, min(count, 1 << 30))
                    except BlockingIOError:
                        raise OSError("timed out sending a file")
                    if sent == 0:
                        break
                    offset += sent
                    count -= sent
                ctx.sent = offset
                if count:
                    ctx.keep = False        # the file shrank meanwhile: the length was wrong
            finally:
                if opened:
                    f.close()
        except OSError:
            ctx.keep = False

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
        # No CR, LF or control character in the request line (the header lines are checked
        # in _fields, when they are not known from before).
        _check_ctl(rl, 0)
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
            # the path is the request's bytes decoded as latin-1: back to those bytes, then
            # unquoted (unquote_to_bytes would encode a str as UTF-8: raw non-ASCII twice)
            path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
        if self.script_name:
            sn = self.script_name
            if path == sn or path.startswith(sn + "/"):
                path = path[len(sn):]
        env["PATH_INFO"] = path
        env["QUERY_STRING"] = query

        if n > 1:
            if len(head) > MAX_FIELD:      # else no line can be over the limit
                for line in lines[1:]:
                    if len(line) > MAX_FIELD:
                        raise _HTTPError(431, "header field over %d bytes" % MAX_FIELD)
            block = head[len(rl) + 2:]
            fields = _BLOCKS.get(block)
            if fields is None:
                _check_ctl(block, n - 2)
                fields = _fields(lines)
                if len(block) <= _BLOCK_MAX:
                    if len(_BLOCKS) >= _BLOCKS_MAX:
                        _BLOCKS.clear()
                    _BLOCKS[block] = fields
            env.update(fields)
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
            return "*"          # PATH_INFO '*', as gunicorn and uWSGI give it
        raise _HTTPError(400, "malformed request target %r" % target[:100])

"""The uwsgi wire protocol (nginx uwsgi_pass): a 4-byte header, then the vars; plain HTTP back."""

import io
from urllib.parse import unquote_to_bytes

from . import access
from .access import ON as ACCESS
from .body import _Body
from .logs import log
from .settings import MAX_HEAD, MSG_DONTWAIT, RECV, _time_ns


def parse_vars(buf, pos, end):
    """The vars of a uwsgi packet, `buf[pos:end]`: repeated (u16 LE key length, key, u16 LE
    value length, value), decoded as latin-1. None when they do not fill the span exactly (a
    length that runs past `end`, or bytes left over) or a key is empty (uWSGI refuses those)."""
    pv = {}
    while pos < end:
        if pos + 2 > end:
            return None
        kl = buf[pos] | (buf[pos + 1] << 8)
        pos += 2
        if not kl or pos + kl + 2 > end:
            return None
        k = buf[pos:pos + kl].decode("latin-1")
        pos += kl
        vl = buf[pos] | (buf[pos + 1] << 8)
        pos += 2
        if pos + vl > end:
            return None
        pv[k] = buf[pos:pos + vl].decode("latin-1")
        pos += vl
    return pv


class UwsgiServing(object):
    """Server methods: serve a uwsgi-protocol connection (a mixin of loop.Server)."""

    def _too_big(self, conn, size):
        """A packet whose variables exceed buffer-size: uWSGI drops it; answer 431 so the
        proxy and the client see why."""
        log("431: uwsgi packet of %d bytes over the limit of %d (buffer-size) (from %s)"
            % (size, MAX_HEAD, conn.env.get("REMOTE_ADDR") or "unix socket"))
        self._reject(conn, 431, http=False)

    def _serve_uwsgi(self, conn, ctx):
        sock = conn.sock
        buf = conn.buf
        conn.buf = b""
        while True:
            if len(buf) >= 4:
                if buf[0] != 0:
                    log("uwsgi packet with modifier1=%d (only 0, WSGI, is supported)" % buf[0], "warning")
                    self._close(conn)
                    return
                size = buf[1] | (buf[2] << 8)
                if size > MAX_HEAD:
                    self._too_big(conn, size)
                    return
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
        t_start = _time_ns()
        end = 4 + size
        pv = parse_vars(buf, 4, end)
        if not pv:
            # as uWSGI: a packet with no variables is not a request (it would be GET /)
            log("malformed uwsgi packet (from %s)"
                % (conn.env.get("REMOTE_ADDR") or "unix socket"), "warning")
            self._close(conn)
            return
        buf = buf[end:]
        env = conn.env.copy()
        env.update(pv)
        env.setdefault("REQUEST_METHOD", "GET")
        env.setdefault("SCRIPT_NAME", "")
        env.setdefault("QUERY_STRING", "")
        proto = env.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
        if "PATH_INFO" not in env:
            env["PATH_INFO"] = unquote_to_bytes(
                env.get("REQUEST_URI", "/").split("?", 1)[0].encode("latin-1")).decode("latin-1")
        sn = self.script_name
        if sn and "SCRIPT_NAME" not in pv:
            # mount + manage-script-name: the prefix moves from PATH_INFO to SCRIPT_NAME (at a
            # segment boundary), as for HTTP; a SCRIPT_NAME that nginx sent is kept as it is.
            path = env["PATH_INFO"]
            if path == sn or path.startswith(sn + "/"):
                env["PATH_INFO"] = path[len(sn):]
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
        ctx.begin(sock, False, proto == "HTTP/1.1", body, env["REQUEST_METHOD"] == "HEAD",
                  "%s %s %s" % (env["REQUEST_METHOD"], env.get("REQUEST_URI") or env["PATH_INFO"],
                                proto))
        ctx.http = False
        ctx.proto = proto if proto.startswith("HTTP/") else "HTTP/1.1"
        if not self.notify_armed:
            self.poke()
        try:
            conn.fresh = False
            self._run_app(ctx, env)
        finally:
            ctx.http = True          # the default (not set per HTTP request)
        ctx.busy = 0
        ctx.requests += 1
        t_end = _time_ns()
        ctx.tx += ctx.sent + ctx.hsize
        ctx.rt_ns += t_end - t_start
        if not self.notify_armed:
            self.poke()
        if ACCESS:
            uri = env.get("REQUEST_URI")
            if uri is None:
                uri = env["PATH_INFO"] + ("?" + env["QUERY_STRING"] if env["QUERY_STRING"] else "")
            access.record(env, ctx, t_start, t_end,
                          next(self.reqno), uri)
        self._close(conn)

"""Tests of ebb's Python WSGI worker (src/python/ebb_worker/), with real processes.

Run from the repository root:

    python3 -m unittest discover -s tests/python -v
"""

import functools
import json
import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
import unittest

from launch import WorkerProc, bind_tcp, bind_unix, HERE

APPS = os.path.join(HERE, "apps")
TESTAPP = os.path.join(APPS, "testapp.py")


# ------------------------------------------------------------------------------------------
# A small raw HTTP client


class Response(object):
    def __init__(self, status, reason, headers, body, version):
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (lower name, value)
        self.body = body
        self.version = version

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Client(object):
    def __init__(self, addr, timeout=10.0):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(addr)
        except BaseException:
            self.sock.close()       # a failed connect (a server not up yet) leaks nothing
            raise
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed by the server")
        self.buf += data

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        while True:
            try:
                self._fill()
            except EOFError:
                break
        out, self.buf = self.buf, b""
        return out

    def is_closed(self, timeout=3.0):
        """True when the server closed the connection (EOF or reset) within timeout."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if data:
            self.buf += data
            return False
        return True

    def response(self, head_request=False):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        headers = []
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers.append((k.strip().lower(), v.strip()))
        r = Response(int(status), reason, headers, b"", version)
        if head_request or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        te = r.header("transfer-encoding")
        cl = r.header("content-length")
        if te and "chunked" in te.lower():
            parts = []
            while True:
                size = int(self.read_until(b"\r\n")[:-2].split(b";")[0], 16)
                if size == 0:
                    self.read_until(b"\r\n")
                    break
                parts.append(self.read_exact(size))
                self.read_exact(2)
            r.body = b"".join(parts)
        elif cl is not None:
            r.body = self.read_exact(int(cl))
        else:
            r.body = self.read_to_eof()
        return r

    def request(self, method="GET", path="/", headers=(), body=None, version="HTTP/1.1"):
        lines = ["%s %s %s" % (method, path, version), "Host: test.local"]
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                        for k, _ in headers):
            lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        return self.response(head_request=(method == "HEAD"))


def run_together(targets, timeout=30):
    """Run the callables in threads at once and wait for them all."""
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def wait_for(pred, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


# ------------------------------------------------------------------------------------------


class WorkerTestCase(unittest.TestCase):
    """Starts workers on demand; kills them in tearDown."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ebbtest-")
        self.workers = []
        self.socks = []

    def tearDown(self):
        for w in self.workers:
            w.close()
        for s in self.socks:
            s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, args=None, listeners=None, env=None, n=1, ready=True, callable_name="app"):
        if listeners is None:
            s = bind_tcp()
            self.socks.append(s)
            listeners = [(s, "http")]
        if args is None:
            args = ["--wsgi-file", TESTAPP, "--callable", callable_name, "--threads", "2"]
        ws = []
        for i in range(n):
            w = WorkerProc(args, listeners, env=env, worker_id=i + 1, tmpdir=self.tmp)
            self.workers.append(w)
            ws.append(w)
        if ready:
            for w in ws:
                w.wait_ready()
        self.addr = listeners[0][0].getsockname()
        return ws[0] if n == 1 else ws

    def client(self, addr=None, timeout=10.0):
        c = Client(addr or self.addr, timeout)
        self.addCleanup(c.close)
        return c


class BasicHTTPTests(WorkerTestCase):
    def test_hello_world_and_keepalive(self):
        self.start()
        c = self.client()
        for _ in range(3):
            r = c.request("GET", "/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"Hello, World!")
            self.assertEqual(r.header("content-length"), "13")
            self.assertIsNotNone(r.header("date"))
            self.assertIsNone(r.header("connection"))
        r = c.request("HEAD", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-length"), "13")
        r = c.request("GET", "/", headers=[("Connection", "close")])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.is_closed())

    def test_http10(self):
        self.start()
        c = self.client()
        r = c.request("GET", "/", version="HTTP/1.0")
        self.assertEqual(r.body, b"Hello, World!")
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.is_closed())
        c = self.client()
        r = c.request("GET", "/", version="HTTP/1.0", headers=[("Connection", "keep-alive")])
        self.assertEqual(r.header("connection"), "keep-alive")
        r = c.request("GET", "/stream?n=2", version="HTTP/1.0",
                      headers=[("Connection", "keep-alive")])
        self.assertIsNone(r.header("transfer-encoding"))   # no chunking for 1.0: close instead
        self.assertEqual(r.body, b"chunk0;chunk1;")

    def test_environ(self):
        self.start()
        c = self.client()
        r = c.request("GET", "/env?a=1&b=%20x", headers=[("X-Custom-Thing", "v1"),
                                                         ("X-Custom-Thing", "v2"),
                                                         ("Content-Type", "text/x-test"),
                                                         ("X_Smuggled", "no")])
        env = json.loads(r.body)
        self.assertEqual(env["REQUEST_METHOD"], "GET")
        self.assertEqual(env["PATH_INFO"], "/env")
        self.assertEqual(env["SCRIPT_NAME"], "")
        self.assertEqual(env["QUERY_STRING"], "a=1&b=%20x")
        self.assertEqual(env["SERVER_PROTOCOL"], "HTTP/1.1")
        self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
        self.assertTrue(env["REMOTE_PORT"].isdigit())
        self.assertEqual(env["SERVER_NAME"], "127.0.0.1")
        self.assertEqual(env["SERVER_PORT"], str(self.addr[1]))
        self.assertEqual(env["HTTP_HOST"], "test.local")
        self.assertEqual(env["HTTP_X_CUSTOM_THING"], "v1, v2")
        self.assertEqual(env["CONTENT_TYPE"], "text/x-test")
        self.assertNotIn("HTTP_CONTENT_TYPE", env)
        self.assertNotIn("HTTP_X_SMUGGLED", env)
        self.assertEqual(env["wsgi.url_scheme"], "http")
        self.assertEqual(env["wsgi.version"], [1, 0])
        self.assertIs(env["wsgi.multithread"], True)
        self.assertIs(env["wsgi.multiprocess"], True)
        self.assertIs(env["wsgi.run_once"], False)
        self.assertEqual(env["REQUEST_URI"], "/env?a=1&b=%20x")
        # PATH_INFO: percent-decoded bytes, decoded as latin-1 (PEP 3333)
        env = json.loads(c.request("GET", "/env/caf%C3%A9%2Fx?q=%C3%A9").body)
        self.assertEqual(env["PATH_INFO"], "/env/caf\xc3\xa9/x")
        self.assertEqual(env["QUERY_STRING"], "q=%C3%A9")
        self.assertEqual(env["REQUEST_URI"], "/env/caf%C3%A9%2Fx?q=%C3%A9")
        r = c.request("GET", "http://other.example/env?z=1")
        env = json.loads(r.body)
        self.assertEqual(env["PATH_INFO"], "/env")
        self.assertEqual(env["QUERY_STRING"], "z=1")

    def test_path_info_decoding(self):
        self.start()
        c = self.client()
        c.send(b"GET /env/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n")   # raw UTF-8 in the target
        env = json.loads(c.response().body)
        self.assertEqual(env["PATH_INFO"], "/env/caf\xc3\xa9")
        # a path the app routes on, with an encoded character
        r = c.request("GET", "/%65nv")
        env = json.loads(r.body)
        self.assertEqual(env["PATH_INFO"], "/env")
        self.assertEqual(env["RAW_URI"], "/%65nv")

    def test_chunked_response_write_and_204(self):
        self.start()
        c = self.client()
        r = c.request("GET", "/stream?n=3")
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        self.assertEqual(r.body, b"chunk0;chunk1;chunk2;")
        r = c.request("GET", "/write")
        self.assertEqual(r.body, b"written;returned")
        r = c.request("GET", "/empty")
        self.assertEqual(r.status, 204)
        self.assertIsNone(r.header("content-length"))
        r = c.request("GET", "/")       # the connection is still usable
        self.assertEqual(r.body, b"Hello, World!")

    def test_pipelined_requests(self):
        self.start()
        c = self.client()
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /stream?n=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response().body, b"Hello, World!")
        self.assertEqual(c.response().body, b"hello")
        self.assertEqual(c.response().body, b"chunk0;")

    def test_post_bodies(self):
        self.start()
        c = self.client()
        big = os.urandom(300000)
        r = c.request("POST", "/echo", body=big)
        self.assertEqual(r.body, big)
        # the body arrives after the head, in pieces
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
        time.sleep(0.05)
        c.send(b"56789")
        self.assertEqual(c.response().body, b"0123456789")
        r = c.request("POST", "/echo-lines", body=b"a\nbb\nccc")
        self.assertEqual(json.loads(r.body), ["a\n", "bb\n", "ccc"])
        # the app ignores a small body: the connection is kept and the body skipped
        r = c.request("POST", "/noread", body=b"x" * 1000)
        self.assertEqual(r.body, b"ignore")
        r = c.request("GET", "/")
        self.assertEqual(r.body, b"Hello, World!")

    def test_large_unread_body_gets_response_then_close(self):
        self.start()
        c = self.client()
        big = b"x" * 3000000
        c.send(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big))
        errors = []

        def push():
            try:
                c.sock.sendall(big)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=push)
        t.start()
        r = c.response()
        t.join(10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ignore")
        self.assertEqual(r.header("connection"), "close")
        self.assertTrue(c.is_closed(timeout=5))

    def test_chunked_upload(self):
        self.start()
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n")
        time.sleep(0.05)
        c.send(b"7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello, world")
        r = c.request("GET", "/")       # keep-alive after a chunked body
        self.assertEqual(r.body, b"Hello, World!")
        # a big chunked body, in one go with a pipelined request after it
        big = os.urandom(200000)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 70000]), big[i:i + 70000])
                          for i in range(0, len(big), 70000))
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunks + b"0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response().body, big)
        self.assertEqual(c.response().body, b"Hello, World!")
        # bad chunk size -> 400
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        r = c.response()
        self.assertEqual(r.status, 400)

    def test_expect_100_continue(self):
        w = self.start()
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        interim = c.read_until(b"\r\n\r\n")
        self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
        c.send(b"hello")
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello")
        # the app answers without reading: no 100, final response, connection closed
        c.send(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("connection"), "close")
        # unknown expectation -> 417
        c = self.client()
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: magic\r\n\r\n")
        self.assertEqual(c.response().status, 417)
        self.assertIn("417", w.stderr_text())

    def test_malformed_requests_400(self):
        self.start()
        for raw in (b"GARBAGE\r\n\r\n",
                    b"GET /\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n",
                    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                    b"Content-Length: 2\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
                    b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"GET / FTP/1.1\r\n\r\n"):
            c = self.client()
            c.send(raw)
            r = c.response()
            self.assertEqual(r.status, 400, raw)
            self.assertEqual(r.header("connection"), "close")
            self.assertTrue(c.is_closed(), raw)
        c = self.client()
        c.send(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response().status, 505)

    def test_limits_414_431(self):
        self.start()
        c = self.client()
        c.send(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response().status, 414)
        c = self.client()
        c.send(b"GET /" + b"a" * 20000)     # no end of line yet
        self.assertEqual(c.response().status, 414)
        c = self.client()
        try:
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100000 + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(c.response().status, 431)
        c = self.client()
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        self.assertEqual(c.response().status, 431)
        # a large but acceptable head is fine
        c = self.client()
        r = c.request("GET", "/", headers=[("Cookie", "c" * 6000)])
        self.assertEqual(r.status, 200)

    def test_lf_only_and_leading_blank_lines(self):
        self.start()
        c = self.client()
        c.send(b"GET / HTTP/1.1\nHost: x\n\n")
        self.assertEqual(c.response().body, b"Hello, World!")
        c.send(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response().body, b"Hello, World!")

    def test_app_exception_500_and_traceback(self):
        w = self.start()
        c = self.client()
        r = c.request("GET", "/error?x=1")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.header("connection"), "close")
        wait_for(lambda: "boom from the test app" in w.stderr_text(), what="traceback")
        err = w.stderr_text()
        self.assertIn("Traceback (most recent call last)", err)
        self.assertIn("RuntimeError: boom from the test app", err)
        self.assertIn("GET /error?x=1 HTTP/1.1", err)
        self.assertIn("[ebb worker 1 pid %d]" % w.pid, err)
        # after the headers were sent: the connection is cut (no terminating chunk)
        c = self.client()
        c.send(b"GET /error-late HTTP/1.1\r\nHost: x\r\n\r\n")
        data = c.read_to_eof()
        self.assertIn(b"partial", data)
        self.assertNotIn(b"0\r\n\r\n", data)
        wait_for(lambda: "late boom" in w.stderr_text(), what="late traceback")
        # header injection from the app is refused
        c = self.client()
        r = c.request("GET", "/bad-header")
        self.assertEqual(r.status, 500)
        self.assertNotIn("injected", [k for k, _ in r.headers])
        c = self.client()
        self.assertEqual(c.request("GET", "/bad-status").status, 500)
        wait_for(lambda: "invalid status 'OK'" in w.stderr_text(), what="bad status logged")

    def test_wsgiref_validate(self):
        w = self.start(callable_name="validated")
        c = self.client()
        for method, path, body in (("GET", "/", None), ("GET", "/env?x=y", None),
                                   ("POST", "/echo", b"validated body"),
                                   ("POST", "/echo-lines", b"l1\nl2\n"),
                                   ("GET", "/stream?n=4", None), ("GET", "/write", None),
                                   ("HEAD", "/", None), ("GET", "/missing", None)):
            r = c.request(method, path, body=body)
            self.assertIn(r.status, (200, 404), (path, w.stderr_text()[-2000:]))
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n0\r\n\r\n")
        self.assertEqual(c.response().body, b"abc")
        fpath = os.path.join(self.tmp, "data.bin")
        with open(fpath, "wb") as f:
            f.write(b"z" * 5000)
        r = c.request("GET", "/file?path=" + fpath)
        self.assertEqual(r.body, b"z" * 5000)
        err = w.stderr_text()
        self.assertNotIn("Traceback", err)
        self.assertNotIn("Warning", err)

    def test_file_wrapper_sendfile(self):
        self.start()
        fpath = os.path.join(self.tmp, "big.bin")
        data = os.urandom(1500000)
        with open(fpath, "wb") as f:
            f.write(data)
        c = self.client()
        r = c.request("GET", "/file?path=" + fpath)
        self.assertEqual(r.header("content-length"), str(len(data)))
        self.assertEqual(r.body, data)
        r = c.request("HEAD", "/file?path=" + fpath)
        self.assertEqual(r.body, b"")
        self.assertEqual(c.request("GET", "/").body, b"Hello, World!")

    def test_unix_socket_listener(self):
        path = os.path.join(self.tmp, "http.sock")
        s = bind_unix(path)
        self.socks.append(s)
        self.start(listeners=[(s, "http")])
        c = self.client(addr=path)
        env = json.loads(c.request("GET", "/env").body)
        self.assertEqual(env["SERVER_NAME"], "test.local")
        self.assertEqual(env["REMOTE_ADDR"], "")
        self.assertEqual(c.request("GET", "/").body, b"Hello, World!")


class ListenerTests(WorkerTestCase):
    def test_ipv6_listener(self):
        try:
            s = bind_tcp("::1", 0)
        except OSError:
            self.skipTest("no IPv6 loopback")
        self.socks.append(s)
        self.start(listeners=[(s, "http")])
        c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        c.settimeout(10)
        self.addCleanup(c.close)
        c.connect(s.getsockname()[:2])
        c.sendall(b"GET /env HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
        env = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(env["REMOTE_ADDR"], "::1")
        self.assertEqual(env["SERVER_NAME"], "::1")

    def test_script_name_from_environment(self):
        self.start(env={"SCRIPT_NAME": "/prefix/"})
        c = self.client()
        env = json.loads(c.request("GET", "/prefix/env/x?q=1").body)
        self.assertEqual(env["SCRIPT_NAME"], "/prefix")
        self.assertEqual(env["PATH_INFO"], "/env/x")


class ConcurrencyTests(WorkerTestCase):
    def test_connection_per_request_churn_keeps_accepting(self):
        """Many short connections (fd numbers reused at a high rate, events from closed
        connections still in flight in other threads): the listener must stay armed.  This
        once lost the listener when a stale event let another thread close a new connection
        before the accepting thread had registered it."""
        self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "8"])
        addr = self.addr
        stop = time.monotonic() + 4.0
        done = [0]
        errors = []

        def churn():
            while time.monotonic() < stop and not errors:
                try:
                    with socket.create_connection(addr, timeout=10) as c:
                        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        data = b""
                        while True:
                            chunk = c.recv(4096)
                            if not chunk:
                                break
                            data += chunk
                    if not data.startswith(b"HTTP/1.1 200"):
                        errors.append(data[:40])
                    done[0] += 1
                except OSError as e:
                    errors.append(repr(e))

        run_together([churn] * 8)
        self.assertEqual(errors, [])
        self.assertGreater(done[0], 100)
        # Still accepting afterwards.
        self.assertEqual(self.client(timeout=5).request("GET", "/").status, 200)

    def test_keepalive_clients_do_not_hold_threads(self):
        """--threads 1: idle keep-alive connections must not block other clients."""
        self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "1"])
        idle = [self.client() for _ in range(10)]
        for c in idle:
            self.assertEqual(c.request("GET", "/").status, 200)   # now idle, kept alive
        t0 = time.monotonic()
        fresh = self.client()
        self.assertEqual(fresh.request("GET", "/").body, b"Hello, World!")
        self.assertLess(time.monotonic() - t0, 1.0)
        for c in idle:                                            # all still alive and served
            self.assertEqual(c.request("GET", "/").status, 200)

    def test_16_keepalive_clients_two_single_threaded_workers(self):
        s = bind_tcp()
        self.socks.append(s)
        self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "1"],
                   listeners=[(s, "http")], n=2)
        errors = []
        worst = [0.0]
        counts = [0] * 16

        def run(i):
            try:
                c = Client(self.addr, timeout=10)
                try:
                    deadline = time.monotonic() + 2.0
                    while time.monotonic() < deadline:
                        t0 = time.monotonic()
                        r = c.request("GET", "/")
                        dt = time.monotonic() - t0
                        worst[0] = max(worst[0], dt)
                        if r.status != 200:
                            errors.append(r.status)
                        counts[i] += 1
                finally:
                    c.close()
            except Exception as e:
                errors.append(repr(e))

        run_together([functools.partial(run, i) for i in range(16)])
        self.assertEqual(errors, [])
        self.assertTrue(all(n > 10 for n in counts), counts)
        self.assertLess(worst[0], 2.0, "a request stalled for %.2f s" % worst[0])

    def test_blocked_requests_take_threads_up_to_the_limit(self):
        """A request blocked in the app leaves the event loop to another thread (so other
        clients are served meanwhile) until all --threads are in the app; then new requests
        wait for a thread and are served as soon as one is free."""
        self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "3"])
        files = [os.path.join(self.tmp, "release-%d" % i) for i in range(3)]
        blocked = []
        for i, f in enumerate(files):
            c = self.client()
            c.send(("GET /wait?file=%s HTTP/1.1\r\nHost: x\r\n\r\n" % f).encode())
            blocked.append(c)
            if i < 2:        # a thread is still free: a new client is served meanwhile
                self.assertEqual(self.client().request("GET", "/").body, b"Hello, World!")
        late = self.client()
        late.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertFalse(late.is_closed(timeout=0.5))       # all three threads are in the app
        self.assertEqual(late.buf, b"", "answered with all threads blocked in the app")
        open(files[0], "w").close()
        self.assertEqual(blocked[0].response().body, b"waited")
        self.assertEqual(late.response().body, b"Hello, World!")
        for f, c in zip(files[1:], blocked[1:]):
            open(f, "w").close()
            self.assertEqual(c.response().body, b"waited")

    def test_short_waits_in_the_app_still_run_in_parallel(self):
        """Requests that wait 1 ms (a quick database query) are shorter than the takeover
        delay, yet the threads must serve them side by side, not one after the other."""
        self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "4"])
        errors = []

        def run():
            try:
                c = Client(self.addr, timeout=10)
                try:
                    for _ in range(40):
                        if c.request("GET", "/sleep?s=0.001").status != 200:
                            errors.append("status")
                finally:
                    c.close()
            except Exception as e:
                errors.append(repr(e))

        run_together([run] * 8)
        self.assertEqual(errors, [])
        peak = int(self.client().request("GET", "/peak").body)
        self.assertGreaterEqual(peak, 3, "at most %d requests ran at once on 4 threads" % peak)

    def test_slow_client_does_not_pin_the_thread(self):
        w = self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "1"],
                       env={"EBB_REQUEST_TIMEOUT": "2"})
        slow = self.client()
        slow.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow:")      # and then nothing
        t0 = time.monotonic()
        fast = self.client()
        self.assertEqual(fast.request("GET", "/").body, b"Hello, World!")
        self.assertLess(time.monotonic() - t0, 1.0)     # not after the slow client's timeout
        # the slow client gets a 408 and is disconnected after the request timeout
        r = slow.response()
        self.assertEqual(r.status, 408)
        self.assertTrue(slow.is_closed())
        self.assertLess(time.monotonic() - t0, 6.0)
        self.assertEqual(fast.request("GET", "/").status, 200)
        # a client that stalls in the middle of its body times out too and frees the thread
        body_staller = self.client()
        body_staller.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        wait_for(lambda: body_staller.is_closed(timeout=0.2), timeout=5, what="body timeout")
        self.assertEqual(fast.request("GET", "/").status, 200)
        self.assertEqual(w.proc.poll(), None)

    def test_idle_keepalive_timeout(self):
        self.start(env={"EBB_KEEPALIVE_TIMEOUT": "0.5"})
        c = self.client()
        self.assertEqual(c.request("GET", "/").status, 200)
        t0 = time.monotonic()
        self.assertTrue(c.is_closed(timeout=8))     # after ~0.5-1.5 s (1 s sweeps); slack for load
        self.assertLess(time.monotonic() - t0, 6.0)


class UwsgiProtocolTests(WorkerTestCase):
    @staticmethod
    def packet(vars_, body=b""):
        data = b""
        for k, v in vars_.items():
            k = k.encode("latin-1")
            v = v.encode("latin-1")
            data += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
        return struct.pack("<BHB", 0, len(data), 0) + data + body

    def test_uwsgi_request(self):
        s = bind_tcp()
        self.socks.append(s)
        self.start(listeners=[(s, "uwsgi")])
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "POST", "PATH_INFO": "/echo", "QUERY_STRING": "",
                            "REQUEST_URI": "/echo", "SERVER_PROTOCOL": "HTTP/1.1",
                            "CONTENT_LENGTH": "11", "SERVER_NAME": "example.org",
                            "SERVER_PORT": "443", "REMOTE_ADDR": "10.1.2.3", "HTTPS": "on",
                            "HTTP_HOST": "example.org"}, b"hello uwsgi"))
        r = c.response()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello uwsgi")
        self.assertTrue(c.is_closed())
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/env", "QUERY_STRING": "a=b",
                            "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "example.org",
                            "SERVER_PORT": "443", "REMOTE_ADDR": "10.1.2.3", "HTTPS": "on",
                            "HTTP_X_FORWARDED_FOR": "1.2.3.4"}))
        r = c.response()
        env = json.loads(r.body)          # no Content-Length: read to EOF
        self.assertEqual(env["REMOTE_ADDR"], "10.1.2.3")
        self.assertEqual(env["SERVER_NAME"], "example.org")
        self.assertEqual(env["wsgi.url_scheme"], "https")
        self.assertEqual(env["QUERY_STRING"], "a=b")
        self.assertEqual(env["HTTP_X_FORWARDED_FOR"], "1.2.3.4")
        # a streamed response is not chunked on a uwsgi socket
        c = self.client()
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/stream",
                            "QUERY_STRING": "n=2", "SERVER_PROTOCOL": "HTTP/1.1"}))
        r = c.response()
        self.assertIsNone(r.header("transfer-encoding"))
        self.assertEqual(r.body, b"chunk0;chunk1;")

    def test_mount_prefix_is_split_off_uwsgi_requests(self):
        s = bind_tcp()
        self.socks.append(s)
        app = os.path.join(self.tmp, "where.py")
        with open(app, "w") as f:
            f.write("import json\n"
                    "def app(environ, start_response):\n"
                    "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
                    "    return [json.dumps([environ['SCRIPT_NAME'], environ['PATH_INFO']])"
                    ".encode()]\n")
        self.start(args=["--wsgi-file", app, "--callable", "app"], listeners=[(s, "uwsgi")],
                   env={"SCRIPT_NAME": "/app"})
        for sent, want in [({"PATH_INFO": "/app/env"}, ("/app", "/env")),
                           ({"PATH_INFO": "/app"}, ("/app", "")),
                           ({"REQUEST_URI": "/app/env?x=1"}, ("/app", "/env")),
                           ({"PATH_INFO": "/application/env"}, ("/app", "/application/env")),
                           # nginx sent SCRIPT_NAME: its split stands
                           ({"PATH_INFO": "/app/env", "SCRIPT_NAME": "/x"}, ("/x", "/app/env"))]:
            c = self.client()
            v = {"REQUEST_METHOD": "GET", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1"}
            v.update(sent)
            c.send(self.packet(v))
            self.assertEqual(tuple(json.loads(c.response().body)), want, sent)

    def test_through_nginx_uwsgi_pass(self):
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        params = "/etc/nginx/uwsgi_params"
        if not nginx or not os.path.exists(params):
            self.skipTest("nginx (with /etc/nginx/uwsgi_params) is not installed")
        s = bind_tcp()
        self.socks.append(s)
        self.start(listeners=[(s, "uwsgi")])
        front = bind_tcp()
        port = front.getsockname()[1]
        front.close()
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
daemon off; master_process off; worker_processes 1; pid %(t)s/nginx.pid;
error_log %(t)s/nginx-error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path %(t)s/body; proxy_temp_path %(t)s/proxy;
  fastcgi_temp_path %(t)s/fcgi; uwsgi_temp_path %(t)s/uwsgi; scgi_temp_path %(t)s/scgi;
  server {
    listen 127.0.0.1:%(port)d;
    location / { include %(params)s; uwsgi_pass 127.0.0.1:%(up)d; }
  }
}
""" % {"t": self.tmp, "port": port, "params": params, "up": s.getsockname()[1]})
        import subprocess
        proc = subprocess.Popen([nginx, "-c", conf, "-p", self.tmp], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    c = Client(("127.0.0.1", port))
                    break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        self.fail("nginx did not start")
                    time.sleep(0.05)
            self.addCleanup(c.close)
            r = c.request("GET", "/env/x%20y?a=1")
            self.assertEqual(r.status, 200)
            env = json.loads(r.body)
            self.assertEqual(env["PATH_INFO"], "/env/x y")
            self.assertEqual(env["QUERY_STRING"], "a=1")
            self.assertEqual(env["REQUEST_METHOD"], "GET")
            self.assertEqual(env["REMOTE_ADDR"], "127.0.0.1")
            self.assertEqual(env["HTTP_HOST"], "test.local")
            body = os.urandom(100000)
            r = c.request("POST", "/echo", body=body)
            self.assertEqual(r.body, body)
            r = c.request("GET", "/stream?n=3")
            self.assertEqual(r.body, b"chunk0;chunk1;chunk2;")
        finally:
            proc.terminate()
            proc.wait(10)

    def test_http_and_uwsgi_sockets_together(self):
        s1 = bind_tcp()
        s2 = bind_tcp()
        self.socks += [s1, s2]
        self.start(listeners=[(s1, "http"), (s2, "uwsgi")])
        self.assertEqual(self.client(s1.getsockname()).request("GET", "/").status, 200)
        c = self.client(s2.getsockname())
        c.send(self.packet({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}))
        self.assertEqual(c.response().body, b"Hello, World!")


class LifecycleTests(WorkerTestCase):
    def test_notify_messages(self):
        w = self.start()
        ready = w.wait_ready()
        self.assertEqual(ready.get("X_EBB_REQUESTS"), "0")
        c = self.client()
        for _ in range(5):
            c.request("GET", "/")
        w.wait_message(lambda m: m.get("X_EBB_REQUESTS") == "5" and m.get("X_EBB_INFLIGHT") == "0")
        out = os.path.join(self.tmp, "jobs.txt")
        c.request("GET", "/jobs?s=0.5&file=" + out)
        m = w.wait_message(lambda m: m.get("X_EBB_JOBS") == "2")
        self.assertIn("testapp.send_email#", m["X_EBB_JOB_NAMES"])
        self.assertIn("testapp.daemon_job#", m["X_EBB_JOB_NAMES"])
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "0" and m.get("X_EBB_REQUESTS") == "6")
        # the master is not flooded: far fewer datagrams than requests
        before = len(w.messages)
        for _ in range(300):
            c.request("GET", "/")
        w.wait_message(lambda m: m.get("X_EBB_REQUESTS") == "306")
        self.assertLess(len(w.messages) - before, 150)

    def test_drain_waits_for_executor_and_daemon_thread_jobs(self):
        w = self.start()
        out = os.path.join(self.tmp, "done.txt")
        c = self.client()
        r = c.request("GET", "/jobs?s=1&file=" + out)
        self.assertEqual(r.body, b"started")
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "2")
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        # an idle keep-alive connection is closed after the grace period
        self.assertTrue(c.is_closed(timeout=5))
        code = w.wait(20)
        self.assertEqual(code, 0, w.stderr_text())
        with open(out) as f:
            done = sorted(f.read().split())
        self.assertEqual(done, ["daemon-thread-done", "executor-job-done"])
        self.assertGreater(time.monotonic() - t0, 0.5)
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "0")
        self.assertIn("drained", w.stderr_text())

    def test_drain_runs_queued_executor_work(self):
        """Work still queued in an executor when the drain starts is run, not dropped."""
        w = self.start()
        out = os.path.join(self.tmp, "queued.txt")
        c = self.client()
        for _ in range(3):      # EXECUTOR has 2 threads: at least 2 items are queued behind
            c.request("GET", "/jobs?s=0.4&file=" + out)
        w.wait_message(lambda m: int(m.get("X_EBB_JOBS", "0")) >= 4)
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(20), 0, w.stderr_text())
        with open(out) as f:
            lines = f.read().split()
        self.assertEqual(lines.count("executor-job-done"), 3)
        self.assertEqual(lines.count("daemon-thread-done"), 3)

    def test_drain_finishes_inflight_request_and_closes_keepalive(self):
        w = self.start()
        busy = self.client()
        busy.send(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        ka = self.client()
        self.assertEqual(ka.request("GET", "/").status, 200)
        w.wait_message(lambda m: m.get("X_EBB_INFLIGHT") == "1")
        w.signal(signal.SIGTERM)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        # the keep-alive connection's next request is answered, with Connection: close
        r = ka.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("connection"), "close")
        r = busy.response()
        self.assertEqual(r.body, b"slept")
        self.assertEqual(r.header("connection"), "close")
        self.assertEqual(w.wait(10), 0)
        # new connections are no longer accepted by this worker
        self.assertEqual(w.proc.returncode, 0)

    def test_ebb_background_and_job_names(self):
        w = self.start()
        out = os.path.join(self.tmp, "bg.txt")
        c = self.client()
        c.request("GET", "/bg?s=0.8&file=" + out)
        m = w.wait_message(lambda m: m.get("X_EBB_JOBS") == "1")
        self.assertTrue(m["X_EBB_JOB_NAMES"].startswith("bg-daemon-job#"), m)
        info = json.loads(c.request("GET", "/info").body)
        self.assertTrue(info["in_worker"])
        self.assertEqual(info["worker_id"], 1)
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(10), 0)
        with open(out) as f:
            self.assertEqual(f.read().split(), ["daemon-thread-done"])

    def test_a_job_is_reported_before_its_request_is_answered(self):
        """The datagram naming a job is sent when the job starts, not on the coalesced report
        (20 ms later): when the answer arrives, the notify socket already holds it."""
        w = self.start()
        c = self.client()
        out = os.path.join(self.tmp, "bg.txt")
        for i in range(10):       # back to back: inside the coalescing period of each other
            self.assertEqual(c.request("GET", "/bg?s=30&file=" + out).status, 200)
            new = w.poll_messages(0)
            self.assertTrue(any(m.get("X_EBB_JOBS") == str(i + 1)
                                and m.get("X_EBB_JOB_NAMES", "").count("bg-daemon-job#") == i + 1
                                for m in new),
                            "request %d answered before its job was reported: %r" % (i, new))

    def test_import_time_threads_are_not_jobs(self):
        w = self.start()
        self.assertEqual(w.wait_ready().get("X_EBB_JOBS"), "0")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(10), 0)     # the import-time helper thread did not block it

    def test_import_error(self):
        w = self.start(args=["--wsgi-file", os.path.join(APPS, "broken.py")], ready=False)
        self.assertEqual(w.wait(15), 4)
        err = w.stderr_text()
        self.assertIn("cannot load the WSGI application", err)
        self.assertIn("No module named 'this_module_does_not_exist'", err)
        self.assertIn("sys.path", err)
        self.assertIn("What to do", err)
        self.assertEqual(err.count("Traceback (most recent call last)"), 1)
        self.assertFalse(any(m.get("READY") for m in w.messages))

    def test_module_not_found_and_missing_callable(self):
        w = self.start(args=["--module", "no_such_pkg.wsgi:application"], ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("No module named 'no_such_pkg'", w.stderr_text())
        w = self.start(args=["--module", "testapp", "--pythonpath", APPS, "--callable", "nope"],
                       ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("has no attribute 'nope'", w.stderr_text())

    def test_a_crash_or_exit_at_import_gets_a_hint_about_the_apps_code(self):
        for name, code, said in [("crash.py", "raise RuntimeError('no DATABASE_URL')\n",
                                  "its own code raised RuntimeError"),
                                 ("quits.py", "import sys\nsys.exit(3)\n",
                                  "its own code called sys.exit(3)")]:
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(code)
            w = self.start(args=["--wsgi-file", path], ready=False)
            self.assertEqual(w.wait(15), 4)
            err = w.stderr_text()
            self.assertIn(said, err)
            self.assertIn("Traceback (most recent call last)", err)
            self.assertIn(name, err)
            self.assertNotIn("check the module / --wsgi-file", err)
        # a wrong module path keeps the hint about names and paths
        w = self.start(args=["--module", "no_such_pkg.wsgi:application"], ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("check the module / --wsgi-file", w.stderr_text())

    def test_module_form(self):
        self.start(args=["--module", "testapp:app", "--pythonpath", APPS, "--threads", "1"])
        self.assertEqual(self.client().request("GET", "/").body, b"Hello, World!")

    def test_bad_environment(self):
        w = self.start(args=["--wsgi-file", TESTAPP], env={"LISTEN_FDS": "0"}, ready=False)
        self.assertEqual(w.wait(15), 3)
        w = self.start(args=["--bogus"], ready=False)
        self.assertEqual(w.wait(15), 2)

    @unittest.skipUnless(os.path.exists("/proc/self/comm"), "Linux only")
    def test_process_name_from_ebb_procname(self):
        w = self.start(env={"EBB_PROCNAME": "ebb worker 2 gen 3 mysite.wsgi"})
        with open("/proc/%d/comm" % w.pid) as f:
            self.assertEqual(f.read().rstrip("\n"), "ebb worker 2 ge")   # 15 bytes

    def test_sigquit_exits_at_once(self):
        w = self.start()
        c = self.client()
        c.send(b"GET /sleep?s=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        w.wait_message(lambda m: m.get("X_EBB_INFLIGHT") == "1")
        t0 = time.monotonic()
        w.signal(signal.SIGQUIT)
        w.wait(5)
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_drain_signal_from_env(self):
        w = self.start(env={"EBB_DRAIN_SIGNAL": "SIGUSR1"})
        w.signal(signal.SIGUSR1)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        self.assertEqual(w.wait(10), 0)

    def test_harakiri(self):
        w = self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "2",
                             "--harakiri", "1"])
        c = self.client()
        c.send(b"GET /sleep?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        m = w.wait_message(lambda m: m.get("X_EBB_STUCK") == "1", timeout=6)
        self.assertIn("harakiri", m.get("STATUS", ""))
        err = w.stderr_text()
        self.assertIn("harakiri", err)
        self.assertIn("time.sleep", err + "sleep")     # the stack is logged
        self.assertIn("testapp.py", err)
        self.assertEqual(c.response().body, b"slept")   # the request still finishes


if __name__ == "__main__":
    unittest.main()

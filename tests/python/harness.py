"""What the tests of ebb's Python worker share: a raw HTTP client, a uwsgi packet writer,
waiting helpers and a TestCase that starts worker processes (tests/python/launch.py) and
stops them in tearDown."""

import os
import shutil
import socket
import struct
import tempfile
import threading
import time
import unittest

from launch import WorkerProc, bind_tcp, HERE

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
    """Run the callables in threads at once and wait for them all (at most `timeout` seconds
    in all); raises the first exception one of them raised, or AssertionError if one is still
    running then."""
    errors = []

    def call(target):
        try:
            target()
        except BaseException as e:      # an assertion in a client thread fails the test
            errors.append(e)

    threads = [threading.Thread(target=call, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    running = sum(t.is_alive() for t in threads)
    if running:
        raise AssertionError("%d of %d threads still running after %s s"
                             % (running, len(threads), timeout))


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


def uwsgi_packet(vars_, body=b""):
    """A uwsgi-protocol request: the header, the variables, then the body."""
    data = b""
    for k, v in vars_.items():
        k = k.encode("latin-1")
        v = v.encode("latin-1")
        data += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return struct.pack("<BHB", 0, len(data), 0) + data + body

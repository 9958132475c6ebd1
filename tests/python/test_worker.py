"""Tests of ebb's Python WSGI worker (src/python/ebb_worker/), with real processes.

Run from the repository root:

    python3 -m unittest discover -s tests/python -v
"""

import functools
import json
import os
import socket
import threading
import time
import unittest

from launch import bind_tcp, bind_unix
from harness import TESTAPP, Client, WorkerTestCase, run_together, wait_for


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


if __name__ == "__main__":
    unittest.main()

"""The worker's log records on EBB_LOG_FD (the contract: LOG_RECORDS.md), with a real pipe."""

import fcntl
import json
import os
import select
import signal
import struct
import sys
import threading
import time
import unittest

from launch import WorkerProc, bind_tcp
import harness
from harness import APPS, Client, WorkerTestCase, run_together, wait_for

LOGAPP = os.path.join(APPS, "logapp.py")


_NUMS = ("status", "size", "hsize", "start", "us", "req")
_STRS = ("addr", "user", "method", "proto", "host", "referer", "ua", "uri")


def decode(line):
    """One record line as a dict: a JSON object, or an access record in a compact form
    (docs/protocol.md, "Log records": "a" with decimal numbers, "x" with the numbers in one
    hex field), decoded as the master reads it; ValueError for anything else."""
    if line.startswith(b"x\t"):
        f = line.decode("ascii").split("\t")[1:]
        if len(f) not in (9, 10) or len(f[0]) != 76:
            raise ValueError("an x access record has 9 or 10 fields, 76 hex digits first: %r"
                             % line)
        status, size, hsize, start_ns, end_ns, req = struct.unpack(">HQIQQQ",
                                                                   bytes.fromhex(f[0]))
        nums = [status, size, hsize, start_ns // 1000, max(0, end_ns - start_ns) // 1000, req]
        f = [str(n) for n in nums] + f[1:]
    elif line.startswith(b"a\t"):
        f = line.decode("ascii").split("\t")[1:]
    else:
        return json.loads(line)
    if len(f) not in (14, 15):
        raise ValueError("a compact access record has 14 or 15 fields: %r" % line)
    r = {"t": "access"}
    for k, v in zip(_NUMS, f[:6]):
        if not v.isdigit():
            raise ValueError("%s is not a number in %r" % (k, line))
        r[k] = int(v)
    r["start"] /= 1e6
    for k, v in zip(_STRS, f[6:14]):
        r[k] = json.loads('"' + v + '"')
    if len(f) == 15:
        extra = json.loads(f[14])
        if not isinstance(extra, dict):
            raise ValueError("the extra fields are not a JSON object in %r" % line)
        r.update(extra)
    return r


class Records(object):
    """The read end of an EBB_LOG_FD pipe, read by a thread into parsed records."""

    def __init__(self):
        r, w = os.pipe()
        self.wfd = fcntl.fcntl(w, fcntl.F_DUPFD, 60)   # clear of 3.. and 100.. (see launch.py)
        os.close(w)
        self.rfd = r
        self.lines = []            # raw lines (bytes)
        self.cond = threading.Condition()
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while not self.stop:
            if not select.select([self.rfd], [], [], 0.05)[0]:
                continue
            try:
                data = os.read(self.rfd, 65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\n")
            with self.cond:
                self.lines.extend(lines)
                self.cond.notify_all()

    def close(self):
        self.close_write_end()
        self.close_read_end()

    def parsed(self):
        with self.cond:
            return [decode(l) for l in self.lines]

    def wait(self, pred, n=1, timeout=10.0, what="records"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in (decode(l) for l in self.lines) if pred(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%d %s expected within %.0f s, got %r (all: %r)"
                                         % (n, what, timeout, got, self.lines[-10:]))
                self.cond.wait(left)

    def close_write_end(self):
        if self.wfd is not None:
            os.close(self.wfd)
            self.wfd = None

    def close_read_end(self):
        """As when the master dies (the reader stops first: its fd number may be reused)."""
        if self.rfd is None:
            return
        self.stop = True
        self.thread.join(5)
        os.close(self.rfd)
        self.rfd = None


def access(r):
    return r.get("t") == "access"


class LogRecordTestCase(WorkerTestCase):
    def start_logged(self, env=None, threads=2, app=LOGAPP, listeners=None):
        rec = Records()
        self.addCleanup(rec.close)
        e = {"EBB_LOG_FD": str(rec.wfd)}
        e.update(env or {})
        if listeners is None:
            s = bind_tcp()
            self.socks.append(s)
            listeners = [(s, "http")]
        w = WorkerProc(["--wsgi-file", app, "--callable", "app", "--threads", str(threads)],
                       listeners, env=e, tmpdir=self.tmp, extra_fds=[rec.wfd])
        self.workers.append(w)
        w.wait_ready()
        rec.close_write_end()          # the worker holds the only write end now
        self.addr = listeners[0][0].getsockname()
        return w, rec


class AccessRecordTests(LogRecordTestCase):
    def test_every_request_gives_one_record_that_parses(self):
        w, rec = self.start_logged({"EBB_LOG_REQ_HEADERS": "x-trace",
                                    "EBB_LOG_RESP_HEADERS": "x-resp,content-length",
                                    "EBB_LOG_ENV": "PATH_INFO,wsgi.url_scheme",
                                    "EBB_LOG_MEMORY": "1"}, threads=1)  # records in order
        c = self.client()
        t0 = time.time()
        paths = ["/a?x=1&y=%C3%A9", "/status?code=404", "/error", "/b"]
        for p in paths:
            c.request("GET", p, headers=[("X-Trace", "t-1"), ("User-Agent", "tester/1"),
                                         ("Referer", "http://ref/")])
            c = self.client() if p == "/error" else c      # a 500 closes the connection
        got = rec.wait(access, n=len(paths), what="access records")
        self.assertEqual(len(got), len(paths))
        self.assertEqual([r["uri"] for r in got], paths)
        self.assertEqual([r["status"] for r in got], [200, 404, 500, 200])
        self.assertEqual([r["req"] for r in got], [1, 2, 3, 4])
        first = got[0]
        self.assertEqual(first["addr"], "127.0.0.1")
        self.assertEqual(first["method"], "GET")
        self.assertEqual(first["proto"], "HTTP/1.1")
        self.assertEqual(first["user"], "")
        self.assertEqual(first["size"], len(b"ok /a"))
        self.assertGreater(first["hsize"], 20)
        self.assertEqual(first["ua"], "tester/1")
        self.assertEqual(first["referer"], "http://ref/")
        self.assertTrue(first["host"])
        self.assertGreaterEqual(first["us"], 0)
        self.assertLess(abs(first["start"] - t0), 30)
        self.assertEqual(first["rh"], {"x-trace": "t-1"})
        self.assertEqual(first["oh"], {"x-resp": "yes", "content-length": "5"})
        self.assertEqual(first["env"], {"PATH_INFO": "/a", "wsgi.url_scheme": "http"})
        if os.path.exists("/proc/self/statm"):
            self.assertGreater(first["rss"], 1 << 20)
            self.assertGreater(first["vsz"], first["rss"])
        self.assertEqual(got[2]["size"], len(b"Internal Server Error\n"))
        # access records in the compact form, the rest JSON: every line parsed above
        compact = [l for l in rec.lines if l.startswith(b"x\t")]
        self.assertEqual(len(compact), len(paths), rec.lines)
        self.assertTrue(all(l.startswith(b"{") for l in rec.lines if not l.startswith(b"x\t")))
        self.assertIn(b"\t{", compact[0])           # the extra fields, as a JSON object

    def test_records_are_batched_but_in_order_and_soon(self):
        # Access records wait (at most FLUSH_S, 20 ms) to leave in one write; a log record
        # written meanwhile goes after them, so the pipe keeps the order things happened in.
        w, rec = self.start_logged(threads=1)
        rec.wait(lambda r: r.get("stream") == "stdout")       # printed at import
        c = self.client()
        t0 = time.monotonic()
        for p in ("/a", "/b", "/print", "/c"):
            self.assertEqual(c.request("GET", p).status, 200)
        got = rec.wait(access, n=4, timeout=5.0, what="access records")
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual([r["uri"] for r in got], ["/a", "/b", "/print", "/c"])
        order = [r["uri"] if access(r) else r["msg"] for r in rec.parsed()[1:]]
        self.assertEqual(order[:3], ["/a", "/b", "hello from print"], order)
        self.assertEqual(order[-1], "/c", order)
        # An idle worker's last record is not held back: it arrives on its own.
        n = len(rec.lines)
        c.request("GET", "/d")
        rec.wait(lambda r: access(r) and r["uri"] == "/d", timeout=2.0, what="the /d record")
        self.assertEqual(len(rec.lines), n + 1)

    def test_a_record_over_the_bound_is_cut_and_says_so(self):
        # Escaped, these headers make a record over the master's 16 KiB bound: the worker
        # sends a cut one that says so; the requests around it get whole records (the
        # string fields are cached per value: nothing of the cut one leaks into them).
        w, rec = self.start_logged(threads=1)
        c = self.client()
        big = [("User-Agent", '"' * 6000), ("Referer", "\\" * 4000)]
        for headers in ([("User-Agent", "small/1")], big, [("User-Agent", "small/2")]):
            self.assertEqual(c.request("GET", "/same?q=1", headers=headers).status, 200)
        got = rec.wait(access, n=3, what="access records")
        self.assertTrue(all(len(l) < 16384 for l in rec.lines))
        self.assertEqual([r.get("truncated", False) for r in got], [False, True, False])
        self.assertEqual([r["ua"] for r in got], ["small/1", "", "small/2"])
        self.assertEqual([r["req"] for r in got], [1, 2, 3])
        cut = got[1]
        self.assertEqual((cut["status"], cut["method"], cut["addr"]), (200, "GET", "127.0.0.1"))
        self.assertEqual(cut["uri"], "/same?q=1...")
        self.assertEqual([r["uri"] for r in (got[0], got[2])], ["/same?q=1"] * 2)

    def test_uri_escapes_survive_the_compact_form(self):
        s = bind_tcp()
        self.socks.append(s)
        w, rec = self.start_logged(listeners=[(s, "uwsgi")])
        uri = '/t\tab"quote\\back\u00e9\x01'
        c = self.client()
        c.send(harness.uwsgi_packet({
            "REQUEST_METHOD": "GET", "PATH_INFO": "/u", "QUERY_STRING": "",
            "REQUEST_URI": uri, "SERVER_PROTOCOL": "HTTP/1.0", "REMOTE_ADDR": "10.1.2.3",
            "HTTP_USER_AGENT": "ua\twith tab", "HTTP_HOST": "h\u00f6st"}))
        self.assertEqual(c.response().status, 200)
        r = rec.wait(access)[0]
        self.assertEqual((r["uri"], r["ua"], r["host"]), (uri, "ua\twith tab", "h\u00f6st"))
        line = [l for l in rec.lines if l.startswith(b"x\t")][0]
        self.assertEqual(len(line.split(b"\t")), 10, line)      # no raw tab inside a field

    def test_uwsgi_protocol_request_gives_a_record(self):
        s = bind_tcp()
        self.socks.append(s)
        w, rec = self.start_logged(listeners=[(s, "uwsgi")])
        c = self.client()
        c.send(harness.uwsgi_packet({
            "REQUEST_METHOD": "GET", "PATH_INFO": "/u", "QUERY_STRING": "q=1",
            "REQUEST_URI": "/u?q=1", "SERVER_PROTOCOL": "HTTP/1.0", "REMOTE_ADDR": "10.1.2.3",
            "HTTP_HOST": "example.org"}))
        self.assertEqual(c.response().status, 200)
        r = rec.wait(access)[0]
        self.assertEqual((r["addr"], r["uri"], r["proto"], r["status"], r["host"]),
                         ("10.1.2.3", "/u?q=1", "HTTP/1.0", 200, "example.org"))

    def test_x_forwarded_for(self):
        w, rec = self.start_logged({"EBB_LOG_XFF": "1"})
        c = self.client()
        c.request("GET", "/", headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1")])
        c.request("GET", "/")
        got = rec.wait(access, n=2)
        self.assertEqual([r["addr"] for r in got], ["203.0.113.7", "127.0.0.1"])

    def test_filters(self):
        w, rec = self.start_logged({"EBB_LOG_REQUESTS": "0", "EBB_LOG_4XX": "1",
                                    "EBB_LOG_SLOW_MS": "250"})
        c = self.client()
        for p in ["/fast", "/status?code=404", "/status?code=503", "/sleep?s=0.3", "/last"]:
            self.assertIn(c.request("GET", p).status, (200, 404, 503))
        c.request("GET", "/status?code=403")            # a marker: records are in order
        got = rec.wait(access, n=3)
        self.assertEqual([r["uri"] for r in got],
                         ["/status?code=404", "/sleep?s=0.3", "/status?code=403"])
        self.assertGreaterEqual(got[1]["us"], 250000)
        self.assertEqual(got[2]["req"], 6)               # the count includes unlogged requests

    def test_5xx_filter_and_requests_off(self):
        w, rec = self.start_logged({"EBB_LOG_REQUESTS": "0", "EBB_LOG_5XX": "1"})
        c = self.client()
        c.request("GET", "/status?code=404")
        c.request("GET", "/status?code=502")
        got = rec.wait(access)
        self.assertEqual([r["status"] for r in got], [502])
        w2, rec2 = self.start_logged({"EBB_LOG_REQUESTS": "0"})
        c2 = self.client()
        c2.request("GET", "/status?code=500")
        c2.request("GET", "/")
        w2.signal(signal.SIGTERM)
        self.assertEqual(w2.wait(15), 0)
        rec2.thread.join(10)
        self.assertEqual([r for r in rec2.parsed() if access(r)], [])


class RecordFormTests(unittest.TestCase):
    """The numbers of a record: the hex form, and the decimal form for a number it cannot
    hold (built by access.record in a fresh interpreter, decoded as the master reads them)."""

    SCRIPT = r"""
import json, os, sys
r, w = os.pipe()
os.environ["EBB_LOG_FD"] = str(w)
from ebb_worker import access, logs, wsgi
logs.setup()
env = {"REMOTE_ADDR": "10.0.0.1", "REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1",
       "HTTP_HOST": "h", "HTTP_USER_AGENT": "ua/1"}
ctx = wsgi._Ctx(None, "t")
ctx.begin(None, True, True, None, False, "")
ctx.status, ctx.head_sent, ctx.sent, ctx.hsize = "201 Created", True, 5, 70
t = 1796117986250000000
for start, end in [(t, t + 1234999), (t, t - 5000), (-2000000, 1000)]:
    access.record(env, ctx, start, end, 7, "/a?b=1")
print(json.dumps(logs._deferred))
"""

    def test_numbers_in_hex_and_out_of_range_in_decimal(self):
        import subprocess
        from launch import PYDIR
        out = subprocess.run([sys.executable, "-c", self.SCRIPT], check=True, timeout=30,
                             capture_output=True, env=dict(os.environ, PYTHONPATH=PYDIR)).stdout
        lines = [l.encode("ascii") for l in json.loads(out)]
        self.assertEqual([l[:2] for l in lines], [b"x\t", b"x\t", b"a\t"])
        got = [decode(l.rstrip(b"\n")) for l in lines]
        self.assertEqual([(r["status"], r["size"], r["hsize"], r["req"], r["uri"], r["ua"])
                          for r in got], [(201, 5, 70, 7, "/a?b=1", "ua/1")] * 3)
        self.assertEqual([r["us"] for r in got], [1234, 0, 2001])   # a clock gone back: 0
        self.assertEqual(got[0]["start"], 1796117986.25)
        self.assertEqual(got[2]["start"], 0)      # before 1970: clamped, in the decimal form


class WorkerAndAppOutputTests(LogRecordTestCase):
    def test_app_output_becomes_records(self):
        w, rec = self.start_logged()
        out = rec.wait(lambda r: r.get("stream") == "stdout")   # printed at import
        self.assertEqual(out[0]["msg"], "logapp imported")
        self.assertEqual(self.client().request("GET", "/print").status, 200)
        got = rec.wait(lambda r: r.get("stream") in ("stdout", "stderr"), n=4)
        msgs = [(r["stream"], r["msg"]) for r in got]
        self.assertEqual(msgs, [("stdout", "logapp imported"),
                                ("stdout", "hello from print"),
                                ("stdout", "part one, part two"),
                                ("stderr", "err line 1\nerr line 2")])
        self.assertTrue(all(r["t"] == "log" and r["level"] in ("info", "warning") for r in got))

    def test_a_traceback_is_one_record(self):
        w, rec = self.start_logged()
        c = self.client()
        self.assertEqual(c.request("GET", "/error").status, 500)
        err = rec.wait(lambda r: r.get("t") == "log" and r.get("level") == "error")[0]
        self.assertIn("Traceback (most recent call last)", err["msg"])
        self.assertIn("RuntimeError: boom from logapp", err["msg"])
        self.assertIn("GET /error", err["msg"])
        self.assertNotIn("stream", err)
        c = self.client()
        self.assertEqual(c.request("GET", "/logging").status, 200)
        lg = rec.wait(lambda r: "lookup failed" in r.get("msg", ""))
        self.assertEqual(len(lg), 1)
        self.assertIn("KeyError: 'missing'", lg[0]["msg"])
        self.assertEqual(lg[0]["stream"], "stderr")

    def test_harakiri_stack_is_one_record(self):
        rec = Records()
        self.addCleanup(rec.close)
        s = bind_tcp()
        self.socks.append(s)
        w = WorkerProc(["--wsgi-file", LOGAPP, "--callable", "app", "--harakiri", "1"],
                       [(s, "http")], env={"EBB_LOG_FD": str(rec.wfd)}, tmpdir=self.tmp,
                       extra_fds=[rec.wfd])
        self.workers.append(w)
        w.wait_ready()
        rec.close_write_end()
        self.addr = s.getsockname()
        c = self.client()
        c.send(b"GET /sleep?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        hk = rec.wait(lambda r: "harakiri" in r.get("msg", ""), timeout=15)[0]
        self.assertEqual(hk["level"], "error")
        self.assertIn("time.sleep", hk["msg"])
        self.assertIn("\n", hk["msg"])

    def test_import_error_is_one_record(self):
        rec = Records()
        self.addCleanup(rec.close)
        s = bind_tcp()
        self.socks.append(s)
        w = WorkerProc(["--wsgi-file", os.path.join(APPS, "broken.py")], [(s, "http")],
                       env={"EBB_LOG_FD": str(rec.wfd)}, tmpdir=self.tmp, extra_fds=[rec.wfd])
        self.workers.append(w)
        rec.close_write_end()
        self.assertEqual(w.wait(15), 4)
        rec.thread.join(10)
        errs = [r for r in rec.parsed() if r.get("level") == "error"]
        self.assertEqual(len(errs), 1, rec.parsed())
        self.assertIn("cannot load the WSGI application", errs[0]["msg"])
        self.assertIn("Traceback", errs[0]["msg"])

    def test_closed_read_end_neither_kills_nor_blocks_the_worker(self):
        w, rec = self.start_logged()
        c = self.client()
        self.assertEqual(c.request("GET", "/").status, 200)
        rec.wait(access)
        rec.close_read_end()             # the master died
        for p in ["/print", "/error", "/", "/logging"] * 5:
            c = self.client()
            self.assertIn(c.request("GET", p).status, (200, 500))
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(15), 0)
        self.assertNotIn("BrokenPipe", w.stderr_text())

    def test_full_pipe_blocks_only_while_nobody_reads(self):
        # A pipe nobody reads fills up; the worker waits as on a slow terminal and goes on
        # once the reader catches up: no record is lost or split.
        w, rec = self.start_logged({"EBB_LOG_REQ_HEADERS": "x-pad"})
        pad = "p" * 4000
        stop = threading.Event()

        def client():
            c = Client(self.addr, 20)
            try:
                for _ in range(40):
                    c.request("GET", "/", headers=[("X-Pad", pad)])
            finally:
                c.close()
                stop.set()

        t = threading.Thread(target=client, daemon=True)
        t.start()
        wait_for(stop.is_set, 30, "the client's 40 requests")
        got = rec.wait(access, n=40)
        self.assertEqual([r["req"] for r in got], list(range(1, 41)))
        self.assertTrue(all(r["rh"]["x-pad"] == pad for r in got))


    def test_concurrent_clients_every_record_arrives(self):
        # Records of requests served in one turn of the event loop leave together: all of
        # them arrive, whole, once the load stops (nothing waits for a later request).
        w, rec = self.start_logged(threads=2)

        def client():
            c = Client(self.addr, 20)
            try:
                for i in range(20):
                    self.assertEqual(c.request("GET", "/c%d" % i).status, 200)
            finally:
                c.close()

        run_together([client] * 8)
        got = rec.wait(access, n=160, timeout=10)
        self.assertEqual(sorted(r["req"] for r in got), list(range(1, 161)))


class OneEventOneLineTests(LogRecordTestCase):
    def test_drain_is_left_to_the_master_but_the_hint_stays(self):
        # Under ebb (EBB_LOG_FD) the master logs draining, its progress and its end from the
        # reports: the worker does not say them again, but keeps what only it knows.
        w, rec = self.start_logged(app=os.path.join(APPS, "testapp.py"))
        out = os.path.join(self.tmp, "bg.txt")
        self.assertEqual(self.client().request("GET", "/bg?s=5.6&file=" + out).status, 200)
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "1")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(20), 0, w.stderr_text())
        rec.thread.join(10)
        msgs = [r["msg"] for r in rec.parsed() if r.get("t") == "log" and "stream" not in r]
        self.assertTrue(any(m.startswith("hint: a job that never ends") for m in msgs), msgs)
        for m in msgs:
            self.assertFalse(m.startswith(("draining", "still draining", "drained")), m)

    def test_without_log_fd_the_worker_says_its_drain(self):
        w = self.start()
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(15), 0)
        err = w.stderr_text()
        self.assertIn("draining: stopped accepting", err)
        self.assertIn("drained in", err)


class OrphanTests(LogRecordTestCase):
    def test_orphan_drain_timeout_goes_to_the_lost_work_log(self):
        # EBB_MASTER_PID names a process that is not our parent: the master is gone, so the
        # worker keeps the drain timeout itself and journals what it abandons.
        journal = os.path.join(self.tmp, "lost.jsonl")
        s = bind_tcp()
        self.socks.append(s)
        rec = Records()
        self.addCleanup(rec.close)
        w = WorkerProc(["--wsgi-file", os.path.join(APPS, "testapp.py"), "--callable", "app"],
                       [(s, "http")], tmpdir=self.tmp, extra_fds=[rec.wfd],
                       env={"EBB_LOG_FD": str(rec.wfd), "EBB_MASTER_PID": "1",
                            "EBB_DRAIN_TIMEOUT": "0.5", "EBB_LOST_WORK_LOG": journal})
        self.workers.append(w)
        w.wait_ready()
        rec.close_write_end()
        self.addr = s.getsockname()
        out = os.path.join(self.tmp, "bg.txt")
        self.assertEqual(self.client().request("GET", "/bg?s=30&file=" + out).status, 200)
        rec.close_read_end()             # the master died
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(15), 1)
        with open(journal) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual(len(lines), 1)
        self.assertEqual((lines[0]["pid"], lines[0]["worker"], lines[0]["jobs"]), (w.pid, 1, 1))
        self.assertTrue(lines[0]["job_names"][0].startswith("bg-daemon-job"), lines[0])
        self.assertIs(lines[0]["orphan"], True)


class FallbackTests(WorkerTestCase):
    def test_without_log_fd_access_lines_go_to_stderr(self):
        w = self.start(["--wsgi-file", LOGAPP, "--callable", "app"])
        c = self.client()
        c.request("GET", "/some?thing=1")
        wait_for(lambda: '"GET /some?thing=1 HTTP/1.1" 200' in w.stderr_text(), 10,
                 "a plain access line")
        line = [l for l in w.stderr_text().splitlines() if "/some?thing=1" in l][0]
        self.assertTrue(line.startswith("[ebb worker 1 pid %d] 127.0.0.1 - " % w.pid), line)
        self.assertIn("(req 1)", line)
        self.assertIn("logapp imported", w.stderr_text())   # print() as it was


if __name__ == "__main__":
    unittest.main()

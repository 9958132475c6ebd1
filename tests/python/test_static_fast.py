"""The HTTP layer's fast path for static files (http1.HTTPServing._send_static): a file
remembered by the static-files layer is answered before the WSGI machinery, checked against
the disk on every request. Real worker processes, real sockets; every check asks for the same
file at least twice, so the second answer is the fast path's.

    python3 -m unittest discover -s tests/python -p 'test_static_fast.py' -v
"""

import os
import time
import unittest

from launch import bind_tcp
from test_log_records import LogRecordTestCase, access
from harness import TESTAPP, WorkerTestCase


class StaticFastPathTests(WorkerTestCase):
    def setUp(self):
        WorkerTestCase.setUp(self)
        self.pub = os.path.join(self.tmp, "pub")
        os.makedirs(self.pub)
        self.write("site.css", b"body { color: red }\n")
        self.big = os.urandom(300 * 1024)              # over static.SMALL: sent by sendfile
        self.write("big.bin", self.big)
        self.start(["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "2"],
                   env={"EBB_STATIC_MAP": "/static=%s" % self.pub})

    def write(self, name, data, mtime=None):
        path = os.path.join(self.pub, name)
        with open(path, "wb") as f:
            f.write(data)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
        return path

    def get(self, c, path, method="GET", **kw):
        return c.request(method, path, **kw)

    def test_the_second_answer_is_the_first_one(self):
        c = self.client()
        for name, body, ctype in (("site.css", b"body { color: red }\n", "text/css"),
                                  ("big.bin", self.big, "application/octet-stream")):
            first = self.get(c, "/static/" + name)
            second = self.get(c, "/static/" + name)
            for r in (first, second):
                self.assertEqual(r.status, 200)
                self.assertEqual(r.body, body)
                self.assertTrue(r.header("content-type").startswith(ctype), r.headers)
                self.assertEqual(r.header("content-length"), str(len(body)))
                self.assertEqual(r.header("accept-ranges"), "bytes")
                self.assertIsNone(r.header("connection"))
                self.assertTrue(r.header("date"))
            names = lambda r: sorted(k for k, _ in r.headers)
            self.assertEqual(names(first), names(second))
            self.assertEqual(first.header("last-modified"), second.header("last-modified"))
        # Still one keep-alive connection, and the app still answers its own paths.
        self.assertEqual(self.get(c, "/").status, 200)

    def test_a_file_written_in_place_is_served_anew(self):
        c = self.client()
        self.write("site.css", b"AAAA", mtime=1_600_000_000)
        self.assertEqual(self.get(c, "/static/site.css").body, b"AAAA")
        self.assertEqual(self.get(c, "/static/site.css").body, b"AAAA")
        # Same size, new bytes (its mtime and ctime change): never the remembered bytes.
        self.write("site.css", b"BBBB", mtime=1_600_000_100)
        r = self.get(c, "/static/site.css")
        self.assertEqual(r.body, b"BBBB")
        self.assertEqual(r.header("last-modified"), "Sun, 13 Sep 2020 12:28:20 GMT")
        self.assertEqual(self.get(c, "/static/site.css").body, b"BBBB")
        # The large one too (its open file is not used once the path leads elsewhere).
        self.get(c, "/static/big.bin")
        self.get(c, "/static/big.bin")
        new = os.urandom(len(self.big))
        tmp = self.write("big.new", new)
        os.rename(tmp, os.path.join(self.pub, "big.bin"))
        self.assertEqual(self.get(c, "/static/big.bin").body, new)
        self.assertEqual(self.get(c, "/static/big.bin").body, new)

    def test_a_removed_file_goes_to_the_app(self):
        c = self.client()
        self.get(c, "/static/site.css")
        self.get(c, "/static/site.css")
        os.unlink(os.path.join(self.pub, "site.css"))
        r = self.get(c, "/static/site.css")
        self.assertNotEqual(r.body, b"body { color: red }\n")
        self.assertNotIn("text/css", r.header("content-type") or "")

    def test_a_symlink_that_changes_target_is_followed(self):
        c = self.client()
        self.write("a.txt", b"from a")
        self.write("b.txt", b"from b")
        link = os.path.join(self.pub, "cur.txt")
        os.symlink("a.txt", link)
        self.assertEqual(self.get(c, "/static/cur.txt").body, b"from a")
        self.assertEqual(self.get(c, "/static/cur.txt").body, b"from a")
        os.unlink(link)
        os.symlink("b.txt", link)
        self.assertEqual(self.get(c, "/static/cur.txt").body, b"from b")
        # A link out of the folder is never followed, remembered or not.
        out = os.path.join(self.tmp, "secret.txt")
        with open(out, "wb") as f:
            f.write(b"secret")
        os.unlink(link)
        os.symlink(out, link)
        self.assertNotEqual(self.get(c, "/static/cur.txt").body, b"secret")

    def test_head_conditional_range_and_connection_handling(self):
        c = self.client()
        first = self.get(c, "/static/site.css")
        r = self.get(c, "/static/site.css", method="HEAD")
        self.assertEqual((r.status, r.body), (200, b""))
        self.assertEqual(r.header("content-length"), str(len(first.body)))
        # Conditional and range requests still get their answers (the full path).
        r = self.get(c, "/static/site.css",
                     headers=[("If-Modified-Since", first.header("last-modified"))])
        self.assertEqual(r.status, 304)
        r = self.get(c, "/static/site.css", headers=[("Range", "bytes=0-3")])
        self.assertEqual((r.status, r.body), (206, b"body"))
        r = self.get(c, "/static/big.bin", headers=[("Range", "bytes=-10")])
        self.assertEqual((r.status, r.body), (206, self.big[-10:]))
        self.assertEqual(self.get(c, "/static/site.css").status, 200)   # the same connection
        # HTTP/1.0 keep-alive is said; Connection: close is honoured.
        c10 = self.client()
        for _ in range(2):
            r = self.get(c10, "/static/site.css", version="HTTP/1.0",
                         headers=[("Connection", "keep-alive")])
            self.assertEqual(r.header("connection"), "keep-alive")
        r = self.get(c10, "/static/site.css", headers=[("Connection", "close")])
        self.assertEqual((r.status, r.header("connection")), (200, "close"))
        self.assertTrue(c10.is_closed())


class StaticFastPathRecordTests(LogRecordTestCase):
    def test_fast_answers_have_their_access_records(self):
        pub = os.path.join(self.tmp, "pub")
        os.makedirs(pub)
        with open(os.path.join(pub, "x.txt"), "wb") as f:
            f.write(b"12345")
        w, rec = self.start_logged({"EBB_STATIC_MAP": "/s=%s" % pub,
                                    "EBB_LOG_RESP_HEADERS": "content-type"}, threads=1)
        c = self.client()
        for method in ("GET", "GET", "HEAD"):
            self.assertEqual(c.request(method, "/s/x.txt").status, 200)
        got = rec.wait(access, n=3, what="access records")
        self.assertEqual([(r["method"], r["uri"], r["status"]) for r in got],
                         [("GET", "/s/x.txt", 200)] * 2 + [("HEAD", "/s/x.txt", 200)])
        self.assertEqual([r["size"] for r in got], [5, 5, 0])
        self.assertEqual(got[0]["hsize"], got[1]["hsize"])
        self.assertTrue(all(r["oh"]["content-type"].startswith("text/plain") for r in got))


if __name__ == "__main__":
    unittest.main()

"""The worker refuses invalid response heads from the application (500, nothing injected)."""

import os
import unittest

from harness import APPS, WorkerTestCase

BADRESP = os.path.join(APPS, "badresp.py")
PATHS = ("/name-crlf", "/name-colon", "/name-bytes", "/value-lf", "/value-bytes", "/value-int",
         "/status-crlf", "/clen-sign", "/clen-underscore", "/clen-negative")


class ResponseValidationTests(WorkerTestCase):
    def test_invalid_heads_are_500(self):
        self.start(args=["--wsgi-file", BADRESP, "--threads", "2"])
        for path in PATHS:
            for _ in range(2):          # the second time with the caches warm
                c = self.client()
                r = c.request("GET", path)
                self.assertEqual(r.status, 500, path)
                self.assertNotIn("injected", [k for k, _ in r.headers], path)

    def test_hop_by_hop_dropped_date_kept(self):
        self.start(args=["--wsgi-file", BADRESP, "--threads", "2"])
        c = self.client()
        for _ in range(2):
            r = c.request("GET", "/ok")
            self.assertEqual((r.status, r.body), (200, b"ok"))
            names = [k for k, _ in r.headers]
            self.assertNotIn("keep-alive", names)
            self.assertEqual(names.count("connection"), 0)
            self.assertEqual(r.header("date"), "Thu, 01 Jan 1970 00:00:00 GMT")
            self.assertEqual(names.count("date"), 1)

    def test_one_app_head_is_framed_for_each_request(self):
        # The worker keeps the heads the app sent before (wsgi._HEADS): what depends on the
        # request (HEAD, HTTP/1.0, the app's Connection: close, the length) is still decided
        # for each one.
        self.start(args=["--wsgi-file", BADRESP, "--threads", "2"])
        c = self.client()
        for _ in range(2):
            r = c.request("GET", "/same")
            self.assertEqual((r.status, r.body), (200, b"same"))
            self.assertEqual((r.header("content-length"), r.header("connection"),
                              r.header("x-same")), ("4", None, "1"))
            self.assertIsNotNone(r.header("date"))
            r = c.request("HEAD", "/same")
            self.assertEqual((r.status, r.body, r.header("content-length")), (200, b"", "4"))
        r = c.request("GET", "/same", headers=[("Connection", "keep-alive")], version="HTTP/1.0")
        self.assertEqual((r.body, r.header("connection")), (b"same", "keep-alive"))
        r = c.request("GET", "/same-close")
        self.assertEqual((r.body, r.header("connection")), (b"same", "close"))
        self.assertEqual(c.read_to_eof(), b"")     # and it closed
        c = self.client()
        r = c.request("GET", "/same", version="HTTP/1.0")
        self.assertEqual((r.body, r.header("connection")), (b"same", "close"))
        self.assertEqual(c.read_to_eof(), b"")
        r = self.client().request("GET", "/same")     # the first head is kept as it was
        self.assertEqual((r.header("content-length"), r.header("connection")), ("4", None))


if __name__ == "__main__":
    unittest.main()

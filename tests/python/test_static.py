"""Unit tests of the static-files layer (src/python/ebb_worker/static.py): mapping, safety,
conditional and range requests, precompressed files, expiry headers. Real files in a temp dir;
the WSGI calls are made directly (the worker's own tests serve the same over real sockets).

    python3 -m unittest discover -s tests/python -v
"""

import gzip
import importlib.util
import os
import shutil
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    "ebb_static_under_test",
    os.path.join(HERE, "..", "..", "src", "python", "ebb_worker", "static.py"))
static = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(static)


def fallback_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-From", "app")])
    return [b"from the app"]


def call(app, path, method="GET", **headers):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path}
    for k, v in headers.items():
        environ["HTTP_" + k.upper()] = v
    got = {}

    def start_response(status, hdrs, exc_info=None):
        got["status"] = status
        got["headers"] = dict(hdrs)
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):    # as a WSGI server must
            result.close()
    return int(got["status"].split()[0]), got["headers"], body


class StaticTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="ebb-static-")
        self.addCleanup(shutil.rmtree, self.root)
        self.pub = os.path.join(self.root, "public")
        os.makedirs(os.path.join(self.pub, "css"))
        os.makedirs(os.path.join(self.pub, "docs"))
        self.write("public/css/site.css", b"body { color: red }\n")
        self.write("public/app.js", b"console.log(1)\n" * 100)
        self.write("public/docs/index.html", b"<h1>docs</h1>")
        self.write("public/blob.bin", bytes(range(256)) * 4)
        self.write("secret.txt", b"top secret")

    def write(self, rel, data):
        path = os.path.join(self.root, rel)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def app(self, **kw):
        kw.setdefault("maps", [("/static", self.pub)])
        return static.StaticFiles(fallback_app, **kw)

    def test_a_mapped_file_is_served_with_type_and_date(self):
        status, h, body = call(self.app(), "/static/css/site.css")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"body { color: red }\n")
        self.assertEqual(h["Content-Type"], "text/css; charset=utf-8")
        self.assertEqual(h["Content-Length"], str(len(body)))
        self.assertIn("GMT", h["Last-Modified"])
        self.assertNotIn("X-From", h)

    def test_static_map2_keeps_the_prefix_and_check_static_the_whole_path(self):
        app = self.app(maps=[], maps2=[("/public", self.root)])
        self.assertEqual(call(app, "/public/app.js")[0], 200)
        app = self.app(maps=[], check=[self.pub])
        self.assertEqual(call(app, "/css/site.css")[2], b"body { color: red }\n")

    def test_other_paths_and_methods_go_to_the_app(self):
        for path, method in [("/static/missing.css", "GET"), ("/other", "GET"),
                             ("/static/css/site.css", "POST"), ("/static/css", "GET")]:
            status, h, body = call(self.app(), path, method)
            self.assertEqual(h.get("X-From"), "app", (path, method))

    def test_no_way_out_of_the_folder(self):
        os.symlink(os.path.join(self.root, "secret.txt"), os.path.join(self.pub, "link.txt"))
        for path in ["/static/../secret.txt", "/static/css/../../secret.txt",
                     "/static/./css/site.css", "/static/link.txt", "/static/\\..\\secret.txt",
                     "/static/css\0/site.css"]:
            status, h, body = call(self.app(), path)
            self.assertEqual(h.get("X-From"), "app", path)
            self.assertNotIn(b"secret", body, path)

    def test_static_safe_allows_a_symlink_target(self):
        os.symlink(os.path.join(self.root, "secret.txt"), os.path.join(self.pub, "link.txt"))
        status, h, body = call(self.app(safe=[self.root]), "/static/link.txt")
        self.assertEqual((status, body), (200, b"top secret"))

    def test_directory_index(self):
        status, h, body = call(self.app(index=["index.html"]), "/static/docs")
        self.assertEqual((status, body), (200, b"<h1>docs</h1>"))
        self.assertEqual(h["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(call(self.app(), "/static/docs")[1].get("X-From"), "app")

    def test_if_modified_since(self):
        path = os.path.join(self.pub, "app.js")
        old = time.time() - 3600
        os.utime(path, (old, old))
        stamp = static.http_date(old + 10)
        status, h, body = call(self.app(), "/static/app.js", if_modified_since=stamp)
        self.assertEqual((status, body), (304, b""))
        earlier = static.http_date(old - 10)
        self.assertEqual(call(self.app(), "/static/app.js", if_modified_since=earlier)[0], 200)
        self.assertEqual(call(self.app(), "/static/app.js", if_modified_since="garbage")[0], 200)

    def test_ranges(self):
        full = bytes(range(256)) * 4
        cases = [("bytes=0-9", 206, full[0:10], "bytes 0-9/1024"),
                 ("bytes=1000-", 206, full[1000:], "bytes 1000-1023/1024"),
                 ("bytes=-4", 206, full[-4:], "bytes 1020-1023/1024"),
                 ("bytes=10-2000", 206, full[10:], "bytes 10-1023/1024"),
                 ("bytes=0-1,5-6", 200, full, None),
                 ("bytes=9-2", 200, full, None),
                 ("lines=1-2", 200, full, None)]
        for rng, want_status, want_body, want_cr in cases:
            status, h, body = call(self.app(), "/static/blob.bin", range=rng)
            self.assertEqual((status, body), (want_status, want_body), rng)
            self.assertEqual(h.get("Content-Range"), want_cr, rng)
            self.assertEqual(h["Content-Length"], str(len(want_body)), rng)
        for rng in ("bytes=1024-", "bytes=-0"):
            status, h, body = call(self.app(), "/static/blob.bin", range=rng)
            self.assertEqual(status, 416, rng)
            self.assertEqual(h["Content-Range"], "bytes */1024")

    def test_head_has_the_headers_and_no_body(self):
        status, h, body = call(self.app(), "/static/app.js", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(h["Content-Length"], str(len(b"console.log(1)\n" * 100)))

    def test_precompressed_gzip_when_accepted(self):
        js = os.path.join(self.pub, "app.js")
        with open(js, "rb") as f, gzip.open(js + ".gz", "wb") as g:
            g.write(f.read())
        app = self.app(gzip=True)
        status, h, body = call(app, "/static/app.js", accept_encoding="gzip, br")
        self.assertEqual(h.get("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(body), b"console.log(1)\n" * 100)
        self.assertEqual(h["Vary"], "Accept-Encoding")
        status, h, body = call(app, "/static/app.js")
        self.assertNotIn("Content-Encoding", h)
        self.assertEqual(body, b"console.log(1)\n" * 100)

    def test_expires_by_type_and_by_pattern(self):
        app = self.app(expires_type=[("text/css", 3600)],
                       expires=[static.parse_expires(r"\.js$ 60")])
        self.assertEqual(call(app, "/static/css/site.css")[1]["Cache-Control"], "max-age=3600")
        self.assertEqual(call(app, "/static/app.js")[1]["Cache-Control"], "max-age=60")
        self.assertNotIn("Cache-Control", call(app, "/static/blob.bin")[1])

    def test_a_remembered_file_is_checked_again_on_every_request(self):
        # One app for all the requests, so the second and later ones take the cached path.
        app = self.app(index=["index.html"], gzip=True)
        css = os.path.join(self.pub, "css", "site.css")
        self.assertEqual(call(app, "/static/css/site.css")[2], b"body { color: red }\n")
        self.assertEqual(call(app, "/static/css/site.css")[0], 200)
        # Rewritten (new size and mtime): the new bytes and length.
        old = time.time() - 100
        self.write("public/css/site.css", b"p { margin: 0 }\n")
        os.utime(css, (old, old))
        status, h, body = call(app, "/static/css/site.css")
        self.assertEqual((status, body), (200, b"p { margin: 0 }\n"))
        self.assertEqual(h["Content-Length"], str(len(body)))
        self.assertEqual(h["Last-Modified"], static.http_date(int(old)))
        # Replaced by a symlink out of the folder: the app answers, the secret stays.
        os.unlink(css)
        os.symlink(os.path.join(self.root, "secret.txt"), css)
        status, h, body = call(app, "/static/css/site.css")
        self.assertEqual(h.get("X-From"), "app")
        self.assertNotIn(b"secret", body)
        # A directory of the path replaced by a symlink out of the folder (same file name).
        os.makedirs(os.path.join(self.root, "elsewhere"))
        self.write("elsewhere/index.html", b"secret elsewhere")
        self.assertEqual(call(app, "/static/docs/")[2], b"<h1>docs</h1>")
        shutil.rmtree(os.path.join(self.pub, "docs"))
        os.symlink(os.path.join(self.root, "elsewhere"), os.path.join(self.pub, "docs"))
        status, h, body = call(app, "/static/docs/")
        self.assertEqual(h.get("X-From"), "app")
        self.assertNotIn(b"secret", body)
        # Removed: the app answers.
        self.assertEqual(call(app, "/static/app.js")[0], 200)
        os.unlink(os.path.join(self.pub, "app.js"))
        self.assertEqual(call(app, "/static/app.js")[1].get("X-From"), "app")

    def test_a_remembered_symlink_that_changes_target_is_followed_again(self):
        self.write("public/a.txt", b"first")
        self.write("public/b.txt", b"second")
        link = os.path.join(self.pub, "link.txt")
        os.symlink("a.txt", link)
        app = self.app()
        self.assertEqual(call(app, "/static/link.txt")[2], b"first")
        self.assertEqual(call(app, "/static/link.txt")[2], b"first")
        os.unlink(link)
        os.symlink("b.txt", link)
        self.assertEqual(call(app, "/static/link.txt")[2], b"second")
        os.unlink(link)
        os.symlink(os.path.join(self.root, "secret.txt"), link)
        self.assertEqual(call(app, "/static/link.txt")[1].get("X-From"), "app")

    def test_a_gz_file_that_appears_or_goes_later(self):
        app = self.app(gzip=True)
        js = os.path.join(self.pub, "app.js")
        self.assertNotIn("Content-Encoding", call(app, "/static/app.js",
                                                  accept_encoding="gzip")[1])
        with open(js, "rb") as f, gzip.open(js + ".gz", "wb") as g:
            g.write(f.read())
        h = call(app, "/static/app.js", accept_encoding="gzip")[1]
        self.assertEqual(h.get("Content-Encoding"), "gzip")
        os.unlink(js + ".gz")
        status, h, body = call(app, "/static/app.js", accept_encoding="gzip")
        self.assertNotIn("Content-Encoding", h)
        self.assertEqual(body, b"console.log(1)\n" * 100)

    def test_a_file_created_under_an_earlier_mapping_wins(self):
        os.makedirs(os.path.join(self.root, "override"))
        app = self.app(maps=[("/static/css", os.path.join(self.root, "override")),
                             ("/static", self.pub)])
        self.assertEqual(call(app, "/static/css/site.css")[2], b"body { color: red }\n")
        self.assertEqual(call(app, "/static/css/site.css")[2], b"body { color: red }\n")
        self.write("override/site.css", b"overridden")
        self.assertEqual(call(app, "/static/css/site.css")[2], b"overridden")

    def test_from_env_reads_the_masters_variables(self):
        env = {"EBB_STATIC_MAP": "/static=%s\n/s2=%s" % (self.pub, self.pub),
               "EBB_STATIC_INDEX": "index.html", "EBB_STATIC_GZIP": "1",
               "EBB_STATIC_EXPIRES_TYPE": "text/css=100"}
        app = static.from_env(fallback_app, env)
        self.assertEqual(call(app, "/s2/docs")[2], b"<h1>docs</h1>")
        self.assertEqual(call(app, "/static/css/site.css")[1]["Cache-Control"], "max-age=100")
        self.assertIs(static.from_env(fallback_app, {}), fallback_app)
        with self.assertRaises(ValueError):
            static.from_env(fallback_app, {"EBB_STATIC_MAP": "/no-folder"})


if __name__ == "__main__":
    unittest.main()

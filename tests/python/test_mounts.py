"""Unit tests of mounts.py (several apps under prefixes) and pyopts.py (pyargv, limit-post):
WSGI calls made directly (tests/python_options.rs runs the same through ebb).

    python3 -m unittest discover -s tests/python -p test_mounts.py
"""

import sys
import unittest

from launch import PYDIR

sys.path.insert(0, PYDIR)
from ebb_worker import mounts, pyopts  # noqa: E402


def named(name):
    def app(environ, start_response):
        start_response("200 OK", [])
        return [("%s %s %s" % (name, environ["SCRIPT_NAME"], environ["PATH_INFO"])).encode()]
    return app


def call(app, path, script_name=""):
    status = []
    body = b"".join(app({"PATH_INFO": path, "SCRIPT_NAME": script_name},
                        lambda s, h: status.append(s)))
    return status[0].split()[0] + " " + body.decode()


class Options(object):
    module = None
    wsgi_file = "first.py"
    callable = "application"


class MountsTest(unittest.TestCase):
    def dispatcher(self, flags):
        loaded = {}

        def load(opts):
            target = opts.module or opts.wsgi_file
            loaded[target] = loaded.get(target, 0) + 1
            return named(target)

        env = {"EBB_MOUNTS": "/a\tfirst.py\n/a/b\tpkg.ab:app\n/c/\t/srv/c/wsgi.py",
               "EBB_MOUNT_FLAGS": flags}
        d = mounts.from_env(named("first"), Options(), load, env)
        self.assertEqual(loaded, {"pkg.ab:app": 1, "/srv/c/wsgi.py": 1})
        return d

    def test_manage_script_name_longest_prefix_at_a_boundary(self):
        d = self.dispatcher("manage-script-name")
        cases = [
            ("/a", "200 first /a "),
            ("/a/x", "200 first /a /x"),
            ("/a/b/y", "200 pkg.ab:app /a/b /y"),
            ("/a/bc", "200 first /a /bc"),
            ("/c", "200 /srv/c/wsgi.py /c "),
            ("/other", "200 first  /other"),
        ]
        for path, want in cases:
            self.assertEqual(call(d, path), want, path)

    def test_no_default_app_is_404(self):
        d = self.dispatcher("manage-script-name no-default-app")
        self.assertEqual(call(d, "/other"), "404 Not Found\n")
        self.assertEqual(call(d, "/ab"), "404 Not Found\n")
        self.assertEqual(call(d, "/a/b"), "200 pkg.ab:app /a/b ")

    def test_without_manage_script_name_the_servers_script_name_picks(self):
        d = self.dispatcher("")
        self.assertEqual(call(d, "/a/b/y"), "200 first  /a/b/y")
        self.assertEqual(call(d, "/y", "/a/b"), "200 pkg.ab:app /a/b /y")

    def test_no_mounts_is_the_app(self):
        app = named("x")
        self.assertIs(mounts.from_env(app, Options(), None, {}), app)


class PyoptsTest(unittest.TestCase):
    def test_pyargv(self):
        old = sys.argv
        try:
            pyopts.before_app({"EBB_PYARGV": "-y\n/config.yml"})
            self.assertEqual(sys.argv, ["uwsgi", "-y", "/config.yml"])
        finally:
            sys.argv = old

    def test_limit_post(self):
        app = pyopts.with_limit_post(named("app"), {"EBB_LIMIT_POST": "10"})
        for cl, want in [(None, "200"), ("10", "200"), ("11", "413"), ("junk", "200")]:
            env = {"PATH_INFO": "/", "SCRIPT_NAME": ""}
            if cl is not None:
                env["CONTENT_LENGTH"] = cl
            status = []
            b"".join(app(env, lambda s, h: status.append(s)))
            self.assertEqual(status[0].split()[0], want, cl)


if __name__ == "__main__":
    unittest.main()

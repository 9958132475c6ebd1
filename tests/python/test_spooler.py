"""Unit tests of the spooler's Python side: uwsgi.spool() and uWSGI's spool file format
(src/python/ebb_worker/uwsgi_api.py), one pass of a spooler over a real directory
(ebb_worker/spooler.py), the lock that keeps two processes from running one task, the
uwsgidecorators shim, and how `import uwsgi` finds the shim.  tests/spooler.rs runs the same
under the master with real processes.

    python3 -m unittest tests/python/test_spooler.py -v
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "src", "python")
sys.path.insert(0, SRC)

from ebb_worker import spooler, uwsgi_api  # noqa: E402


def uwsgi_packet(pairs, body=b""):
    """A spool file as uWSGI itself writes it."""
    vars = b"".join(len(k).to_bytes(2, "little") + k + len(v).to_bytes(2, "little") + v
                    for k, v in pairs)
    return bytes([17]) + len(vars).to_bytes(2, "little") + b"\x00" + vars + body


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ebb-spool-test-")
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool)
        self.env = dict(os.environ)
        os.environ["EBB_SPOOLER_DIRS"] = self.spool
        os.environ["EBB_SPOOLER_QUIET"] = "1"
        os.environ.pop("EBB_SPOOLER_EXTERNAL", None)
        os.environ.pop("EBB_SPOOLER_STATE_DIR", None)
        self.calls = []
        uwsgi_api.spooler = None

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.env)
        uwsgi_api.spooler = None
        shutil.rmtree(self.dir)

    def tasks(self, d=None):
        d = d or self.spool
        return sorted(n for n in os.listdir(d) if n.startswith("uwsgi_spoolfile_on_"))

    def one_pass(self, **settings):
        s = spooler.Settings(self.spool)
        for k, v in settings.items():
            setattr(s, k, v)
        sp = spooler.Spooler(s)
        sp.scan()
        return sp


class SpoolFile(Base):
    def test_the_file_is_uwsgis_format(self):
        path = uwsgi_api.spool({b"k": b"v", "name": "caf\u00e9"}, extra=b"x")
        self.assertIsInstance(path, bytes)
        name = os.path.basename(os.fsdecode(path))
        self.assertTrue(name.startswith("uwsgi_spoolfile_on_"), name)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data[0], 17)
        self.assertEqual(data[3], 0)
        size = data[1] | data[2] << 8
        self.assertEqual(len(data), 4 + size)
        self.assertEqual(dict(uwsgi_api.parse_vars(data[4:])),
                         {b"k": b"v", b"name": "caf\u00e9".encode(), b"extra": b"x"})
        # No half-written file is ever visible under a task's name.
        self.assertEqual(os.listdir(self.spool), [name])

    def test_body_priority_and_at(self):
        at = int(time.time()) + 3600
        path = os.fsdecode(uwsgi_api.spool(a="1", body=b"B" * 100000, priority="5", at=str(at)))
        self.assertEqual(os.path.dirname(path), os.path.join(self.spool, "5"))
        self.assertEqual(int(os.stat(path).st_mtime), at)
        with open(path, "rb") as f:
            data = f.read()
        size = data[1] | data[2] << 8
        self.assertEqual(data[4 + size:], b"B" * 100000)
        self.assertNotIn(b"body", dict(uwsgi_api.parse_vars(data[4:4 + size])))

    def test_bad_calls_say_what_is_wrong(self):
        cases = [
            (lambda: uwsgi_api.spool(n=3), TypeError, "str or bytes"),
            (lambda: uwsgi_api.spool(priority="high"), ValueError, "not a number"),
            (lambda: uwsgi_api.spool(spooler="/nowhere"), ValueError, "unable to find spooler"),
            (lambda: uwsgi_api.spool(big="x" * 70000), ValueError, "body="),
            (lambda: uwsgi_api.spool(at="soon"), ValueError, "Unix time"),
        ]
        for call, exc, says in cases:
            with self.assertRaises(exc) as cm:
                call()
            self.assertIn(says, str(cm.exception))
        os.environ["EBB_SPOOLER_DIRS"] = ""
        with self.assertRaises(RuntimeError) as cm:
            uwsgi_api.spool(a="b")
        self.assertIn("spooler = DIR", str(cm.exception))
        self.assertEqual(self.tasks(), [])

    def test_a_named_spooler_and_an_external_one(self):
        other = os.path.join(self.dir, "other")
        os.mkdir(other)
        os.environ["EBB_SPOOLER_EXTERNAL"] = other
        path = uwsgi_api.spool(spooler=other, a="b")
        self.assertEqual(os.path.dirname(os.fsdecode(path)), other)
        self.assertEqual(os.path.dirname(os.fsdecode(uwsgi_api.spool(a="b"))), self.spool)


class OnePass(Base):
    def test_a_task_written_by_uwsgi_runs_and_is_removed(self):
        name = "uwsgi_spoolfile_on_host_1_1_1_1_1"
        with open(os.path.join(self.spool, name), "wb") as f:
            f.write(uwsgi_packet([(b"job", b"42")], body=b"payload"))
        uwsgi_api.spooler = lambda env: self.calls.append(env) or uwsgi_api.SPOOL_OK
        self.one_pass()
        self.assertEqual(len(self.calls), 1)
        env = self.calls[0]
        self.assertEqual(env[b"job"], b"42")
        self.assertEqual(env["body"], b"payload")
        self.assertEqual(env["spooler_task_name"], name.encode())
        self.assertEqual(self.tasks(), [])

    def test_retry_ignore_exception_and_odd_returns_keep_the_task(self):
        for ret in (uwsgi_api.SPOOL_RETRY, uwsgi_api.SPOOL_IGNORE, None, "ok"):
            uwsgi_api.spool(a="b")

            def fn(env, ret=ret):
                self.calls.append(ret)
                if ret is None:
                    raise RuntimeError("boom")
                return ret
            uwsgi_api.spooler = fn
            self.one_pass()
            self.assertEqual(len(self.tasks()), 1, ret)
            for n in self.tasks():
                os.unlink(os.path.join(self.spool, n))
        self.assertEqual(self.calls, [uwsgi_api.SPOOL_RETRY, uwsgi_api.SPOOL_IGNORE, None, "ok"])

    def test_a_locked_task_is_left_to_the_process_that_holds_it(self):
        path = os.fsdecode(uwsgi_api.spool(a="b"))
        # Another process holds the lock (a POSIX lock: this process's own would not count).
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
             "fcntl.lockf(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)\n",
             path], stdout=subprocess.PIPE)
        try:
            self.assertEqual(holder.stdout.readline().strip(), b"locked")
            uwsgi_api.spooler = lambda env: self.calls.append(env) or uwsgi_api.SPOOL_OK
            self.one_pass()
            self.assertEqual(self.calls, [])
            self.assertEqual(len(self.tasks()), 1)
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
        self.one_pass()
        self.assertEqual(len(self.calls), 1)
        self.assertEqual(self.tasks(), [])

    def test_a_future_task_waits_and_a_malformed_one_is_moved_aside(self):
        uwsgi_api.spool(a="later", at=str(int(time.time()) + 3600))
        with open(os.path.join(self.spool, "uwsgi_spoolfile_on_bad"), "wb") as f:
            f.write(b"\x11\xff\x00\x00short")
        uwsgi_api.spooler = lambda env: self.calls.append(env) or uwsgi_api.SPOOL_OK
        sp = self.one_pass()
        self.assertEqual(self.calls, [])
        self.assertGreater(sp.soon, time.time() + 3000)
        self.assertIn("malformed_uwsgi_spoolfile_on_bad", os.listdir(self.spool))

    def test_ordered_runs_priorities_first_by_number(self):
        order = []
        for name, prio in (("x1", None), ("p10", "10"), ("x2", None), ("p2", "2")):
            kw = {"name": name}
            if prio:
                kw["priority"] = prio
            uwsgi_api.spool(**kw)
        uwsgi_api.spooler = lambda env: order.append(env[b"name"]) or uwsgi_api.SPOOL_OK
        self.one_pass(ordered=True)
        self.assertEqual(order, [b"p2", b"p10", b"x1", b"x2"])

    def test_the_state_file_names_the_running_task(self):
        os.environ["EBB_SPOOLER_STATE_DIR"] = self.dir
        path = os.fsdecode(uwsgi_api.spool(a="b"))
        state = os.path.join(self.dir, "spooler-%d.task" % os.getpid())
        seen = []

        def fn(env):
            with open(state) as f:
                seen.append(f.read())
            return uwsgi_api.SPOOL_OK
        uwsgi_api.spooler = fn
        self.one_pass()
        self.assertEqual(seen, [path])
        with open(state) as f:
            self.assertEqual(f.read(), "")


class Decorators(Base):
    def test_spool_with_pickled_arguments(self):
        from ebb_worker import uwsgidecorators_api as deco
        got = []

        @deco.spool(pass_arguments=True)
        def send(to, subject=None):
            got.append((to, subject))

        @deco.spoolraw
        def raw(args):
            got.append(args["k"])
            return uwsgi_api.SPOOL_RETRY

        send.spool("bob", subject={"nested": 1})
        raw(k="v")
        self.one_pass(ordered=True)
        self.assertEqual(sorted(got, key=str), sorted([("bob", {"nested": 1}), b"v"], key=str))
        self.assertEqual(len(self.tasks()), 1, "spoolraw's SPOOL_RETRY keeps its task")
        with open(os.path.join(self.spool, self.tasks()[0]), "rb") as f:
            data = f.read()
        self.assertEqual(dict(uwsgi_api.parse_vars(data[4:]))[b"ud_spool_func"], b"raw")
        self.assertNotIn(b"args", data)


class Import(unittest.TestCase):
    def run_py(self, code, path=()):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([SRC] + list(path)))
        p = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        return p.stdout.decode()

    def test_import_uwsgi_finds_the_shim_after_an_apps_own_module(self):
        out = self.run_py(
            "from ebb_worker import uwsgi_api\nuwsgi_api.install()\nimport uwsgi\n"
            "print(uwsgi is uwsgi_api, uwsgi.SPOOL_OK, hasattr(uwsgi, 'cache_get'))\n"
            "try:\n    uwsgi.mule_msg\nexcept AttributeError as e:\n    print(e)\n"
            "try:\n    from uwsgidecorators import timer\nexcept ImportError as e:\n    print(e)\n")
        lines = out.splitlines()
        self.assertEqual(lines[0], "True -2 False", out)
        self.assertIn("uwsgi.mule_msg is not provided by ebb", lines[1])
        self.assertIn("uwsgidecorators.timer is not provided by ebb", lines[2])
        own = tempfile.mkdtemp(prefix="ebb-own-uwsgi-")
        try:
            with open(os.path.join(own, "uwsgi.py"), "w") as f:
                f.write("MINE = True\n")
            out = self.run_py("from ebb_worker import uwsgi_api\nuwsgi_api.install()\n"
                              "import uwsgi\nprint(getattr(uwsgi, 'MINE', False))\n", [own])
            self.assertEqual(out.strip(), "True")
        finally:
            shutil.rmtree(own)

    def test_without_install_there_is_no_uwsgi_module(self):
        out = self.run_py("try:\n    import uwsgi\nexcept ImportError:\n    print('absent')\n")
        self.assertEqual(out.strip(), "absent")


if __name__ == "__main__":
    unittest.main()

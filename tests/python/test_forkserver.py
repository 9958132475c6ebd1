"""The fork server's pieces that run in one process: what makes a fork unsafe, the rewrite of
/proc/PID/environ, and ebb.after_fork (the whole server: tests/forkserver.rs)."""

import os
import socket
import subprocess
import sys
import textwrap
import threading
import unittest

from launch import PYDIR

sys.path.insert(0, PYDIR)

from ebb_worker import forkserver  # noqa: E402
import ebb  # noqa: E402


class HazardsTest(unittest.TestCase):
    def test_a_thread_is_named(self):
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="pusher", daemon=True)
        t.start()
        try:
            found = forkserver.import_hazards(set())
        finally:
            stop.set()
            t.join()
        self.assertTrue(any("'pusher'" in h for h in found), found)

    def test_a_connected_socket_is_named_and_a_listening_one_is_not(self):
        a, b = socket.socketpair()
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        fa = a.fileno()
        try:
            found = forkserver.import_hazards(set())
        finally:
            a.close()
            b.close()
        self.assertIn("fd %d, a connected Unix socket to an unnamed peer" % fa, found)
        self.assertFalse(any("fd %d," % srv.fileno() in h for h in found), found)
        srv.close()
        self.assertEqual([h for h in forkserver.import_hazards(set()) if "socket" in h], [])

    def test_own_fds_are_left_out(self):
        a, b = socket.socketpair()
        try:
            found = forkserver.import_hazards({a.fileno(), b.fileno()})
        finally:
            a.close()
            b.close()
        self.assertEqual([h for h in found if "socket" in h], [])


class EnvironTest(unittest.TestCase):
    def test_proc_environ_shows_the_new_environment(self):
        code = textwrap.dedent("""
            import os, sys
            sys.path.insert(0, %r)
            from ebb_worker.forkserver import show_environ
            env = {"A": "1", "EBB_WORKER_ID": "7"}
            os.environ.clear()
            os.environ.update(env)
            show_environ(env)
            raw = open("/proc/self/environ", "rb").read()
            print(sorted(e.decode() for e in raw.split(b"\\0") if e))
            print(os.environ.get("EBB_WORKER_ID"), os.getenv("A"))
        """ % PYDIR)
        env = {"PATH": os.environ.get("PATH", ""), "EBB_ENV_ROOM": " " * 256}
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "['A=1', 'EBB_WORKER_ID=7']")
        self.assertEqual(lines[1], "7 1")


class AfterForkTest(unittest.TestCase):
    def setUp(self):
        self.saved = list(ebb._after_fork)
        del ebb._after_fork[:]

    def tearDown(self):
        ebb._after_fork[:] = self.saved

    def test_hooks_run_in_order_and_the_decorator_returns_the_function(self):
        seen = []

        @ebb.after_fork
        def first():
            seen.append(1)

        self.assertTrue(callable(first))
        ebb.after_fork(lambda: seen.append(2))
        ebb._run_after_fork()
        self.assertEqual(seen, [1, 2])

    def test_not_a_function_is_a_clear_error(self):
        with self.assertRaises(TypeError) as cm:
            ebb.after_fork("connect")
        self.assertIn("takes a function", str(cm.exception))


if __name__ == "__main__":
    unittest.main()

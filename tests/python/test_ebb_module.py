"""Tests of the `ebb` module (src/python/ebb), outside the worker and with tracking installed."""

import os
import subprocess
import sys
import threading
import unittest

from launch import PYDIR

sys.path.insert(0, PYDIR)
import ebb  # noqa: E402


class PlainModuleTests(unittest.TestCase):
    """Imported outside ebb (tests, manage.py runserver): plain threads, no reporting."""

    def test_not_in_worker(self):
        self.assertFalse(ebb.in_worker())
        self.assertIsNone(ebb.worker_id())

    def test_background_runs_and_is_listed_while_running(self):
        release = threading.Event()
        done = []

        def work(x, y=0):
            release.wait(5)
            done.append(x + y)

        t = ebb.background(work, 1, y=2, name="my-job")
        self.assertIsInstance(t, threading.Thread)
        self.assertTrue(any(n.startswith("my-job#") for n in ebb.jobs()), ebb.jobs())
        release.set()
        t.join(5)
        self.assertEqual(done, [3])
        self.assertFalse(any(n.startswith("my-job#") for n in ebb.jobs()))

    def test_background_default_name_and_exception_ends_job(self):
        def failing():
            raise ValueError("expected in this test")

        old = threading.excepthook
        threading.excepthook = lambda args: None
        try:
            t = ebb.background(failing)
            t.join(5)
        finally:
            threading.excepthook = old
        self.assertEqual(ebb.jobs(), [])

    def test_job_context_manager(self):
        with ebb.job("rebuild-index") as j:
            self.assertEqual(j.name, "rebuild-index")
            self.assertTrue(any(n.startswith("rebuild-index#") for n in ebb.jobs()))
        self.assertEqual(ebb.jobs(), [])
        with self.assertRaises(KeyError):
            with ebb.job("failing"):
                raise KeyError("x")
        self.assertEqual(ebb.jobs(), [])

    def test_names_are_sanitised(self):
        with ebb.job("a,b\nc"):
            (name,) = ebb.jobs()
        self.assertNotIn(",", name)
        self.assertNotIn("\n", name)


TRACKING_SCRIPT = r"""
import concurrent.futures, threading, time, json, sys
import ebb
ebb._install()
ebb._track_executors = True
changes = []
ebb._reporter = lambda: changes.append(len(ebb._active))
in_request = threading.local()
ebb._in_request = lambda: getattr(in_request, "on", False)
out = {}

# executor work: counted per item (queued + running), never the pool threads
ex = concurrent.futures.ThreadPoolExecutor(max_workers=1)
gate = threading.Event()
def slow(n):
    gate.wait(5)
    return n
in_request.on = True
futs = [ex.submit(slow, i) for i in range(3)]
in_request.on = False
out["executor_jobs_while_queued"] = len(ebb.jobs())
out["names"] = sorted(n.split("#")[0] for n in ebb.jobs())
gate.set()
out["results"] = [f.result(5) for f in futs]
time.sleep(0.05)
out["executor_jobs_after"] = len(ebb.jobs())

# a cancelled work item ends its job
gate.clear()
f1 = ex.submit(slow, 1)
f2 = ex.submit(slow, 2)
out["cancelled"] = f2.cancel()
gate.set()
f1.result(5)
time.sleep(0.05)
out["after_cancel"] = len(ebb.jobs())

# threads: counted only when started during a request; daemon too; library threads never
ev = threading.Event()
threading.Thread(target=ev.wait, args=(5,), daemon=True).start()       # not in a request
out["import_time_thread"] = len(ebb.jobs())
in_request.on = True
t = threading.Thread(target=ev.wait, args=(5,), daemon=True)
t.start()
out["request_thread"] = len(ebb.jobs())
import logging.handlers, queue
ql = logging.handlers.QueueListener(queue.Queue())
ql.start()                                                              # a library thread
out["library_thread"] = len(ebb.jobs())
with ebb.untracked():
    threading.Thread(target=ev.wait, args=(5,)).start()
out["untracked_thread"] = len(ebb.jobs())
in_request.on = False
ev.set()
t.join(5)
ql.stop()
time.sleep(0.05)
out["threads_after"] = len(ebb.jobs())
out["reported"] = len(changes) > 0
print(json.dumps(out))
"""


class TrackingTests(unittest.TestCase):
    def test_executor_and_thread_tracking(self):
        env = dict(os.environ, PYTHONPATH=PYDIR)
        p = subprocess.run([os.environ.get("EBB_TEST_PYTHON") or sys.executable, "-c",
                            TRACKING_SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        import json
        out = json.loads(p.stdout)
        self.assertEqual(out["executor_jobs_while_queued"], 3)
        self.assertEqual(out["names"], ["slow"] * 3)
        self.assertEqual(out["results"], [0, 1, 2])
        self.assertEqual(out["executor_jobs_after"], 0)
        self.assertTrue(out["cancelled"])
        self.assertEqual(out["after_cancel"], 0)
        self.assertEqual(out["import_time_thread"], 0)
        self.assertEqual(out["request_thread"], 1)
        self.assertEqual(out["library_thread"], 1)
        self.assertEqual(out["untracked_thread"], 1)
        self.assertEqual(out["threads_after"], 0)
        self.assertTrue(out["reported"])


if __name__ == "__main__":
    unittest.main()

"""Tests of ebb's Python worker, with real processes: notify messages, the drain (executor and
daemon-thread jobs, in-flight requests), job names, import errors and their hints, process
names, signals, harakiri."""

import json
import os
import signal
import time
import unittest

from harness import APPS, TESTAPP, WorkerTestCase


class LifecycleTests(WorkerTestCase):
    def test_notify_messages(self):
        w = self.start()
        ready = w.wait_ready()
        self.assertEqual(ready.get("X_EBB_REQUESTS"), "0")
        c = self.client()
        for _ in range(5):
            c.request("GET", "/")
        w.wait_message(lambda m: m.get("X_EBB_REQUESTS") == "5" and m.get("X_EBB_INFLIGHT") == "0")
        out = os.path.join(self.tmp, "jobs.txt")
        c.request("GET", "/jobs?s=0.5&file=" + out)
        m = w.wait_message(lambda m: m.get("X_EBB_JOBS") == "2")
        self.assertIn("testapp.send_email#", m["X_EBB_JOB_NAMES"])
        self.assertIn("testapp.daemon_job#", m["X_EBB_JOB_NAMES"])
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "0" and m.get("X_EBB_REQUESTS") == "6")
        # the master is not flooded: far fewer datagrams than requests
        before = len(w.messages)
        for _ in range(300):
            c.request("GET", "/")
        w.wait_message(lambda m: m.get("X_EBB_REQUESTS") == "306")
        self.assertLess(len(w.messages) - before, 150)

    def test_drain_waits_for_executor_and_daemon_thread_jobs(self):
        w = self.start()
        out = os.path.join(self.tmp, "done.txt")
        c = self.client()
        r = c.request("GET", "/jobs?s=1&file=" + out)
        self.assertEqual(r.body, b"started")
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "2")
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        # an idle keep-alive connection is closed after the grace period
        self.assertTrue(c.is_closed(timeout=5))
        code = w.wait(20)
        self.assertEqual(code, 0, w.stderr_text())
        with open(out) as f:
            done = sorted(f.read().split())
        self.assertEqual(done, ["daemon-thread-done", "executor-job-done"])
        self.assertGreater(time.monotonic() - t0, 0.5)
        w.wait_message(lambda m: m.get("X_EBB_JOBS") == "0")
        self.assertIn("drained", w.stderr_text())

    def test_drain_runs_queued_executor_work(self):
        """Work still queued in an executor when the drain starts is run, not dropped."""
        w = self.start()
        out = os.path.join(self.tmp, "queued.txt")
        c = self.client()
        for _ in range(3):      # EXECUTOR has 2 threads: at least 2 items are queued behind
            c.request("GET", "/jobs?s=0.4&file=" + out)
        w.wait_message(lambda m: int(m.get("X_EBB_JOBS", "0")) >= 4)
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(20), 0, w.stderr_text())
        with open(out) as f:
            lines = f.read().split()
        self.assertEqual(lines.count("executor-job-done"), 3)
        self.assertEqual(lines.count("daemon-thread-done"), 3)

    def test_drain_finishes_inflight_request_and_closes_keepalive(self):
        w = self.start()
        busy = self.client()
        busy.send(b"GET /sleep?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        ka = self.client()
        self.assertEqual(ka.request("GET", "/").status, 200)
        w.wait_message(lambda m: m.get("X_EBB_INFLIGHT") == "1")
        w.signal(signal.SIGTERM)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        # the keep-alive connection's next request is answered, with Connection: close
        r = ka.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("connection"), "close")
        r = busy.response()
        self.assertEqual(r.body, b"slept")
        self.assertEqual(r.header("connection"), "close")
        self.assertEqual(w.wait(10), 0)
        # new connections are no longer accepted by this worker
        self.assertEqual(w.proc.returncode, 0)

    def test_ebb_background_and_job_names(self):
        w = self.start()
        out = os.path.join(self.tmp, "bg.txt")
        c = self.client()
        c.request("GET", "/bg?s=0.8&file=" + out)
        m = w.wait_message(lambda m: m.get("X_EBB_JOBS") == "1")
        self.assertTrue(m["X_EBB_JOB_NAMES"].startswith("bg-daemon-job#"), m)
        info = json.loads(c.request("GET", "/info").body)
        self.assertTrue(info["in_worker"])
        self.assertEqual(info["worker_id"], 1)
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(10), 0)
        with open(out) as f:
            self.assertEqual(f.read().split(), ["daemon-thread-done"])

    def test_a_job_is_reported_before_its_request_is_answered(self):
        """The datagram naming a job is sent when the job starts, not on the coalesced report
        (20 ms later): when the answer arrives, the notify socket already holds it."""
        w = self.start()
        c = self.client()
        out = os.path.join(self.tmp, "bg.txt")
        for i in range(10):       # back to back: inside the coalescing period of each other
            self.assertEqual(c.request("GET", "/bg?s=30&file=" + out).status, 200)
            new = w.poll_messages(0)
            self.assertTrue(any(m.get("X_EBB_JOBS") == str(i + 1)
                                and m.get("X_EBB_JOB_NAMES", "").count("bg-daemon-job#") == i + 1
                                for m in new),
                            "request %d answered before its job was reported: %r" % (i, new))

    def test_import_time_threads_are_not_jobs(self):
        w = self.start()
        self.assertEqual(w.wait_ready().get("X_EBB_JOBS"), "0")
        w.signal(signal.SIGTERM)
        self.assertEqual(w.wait(10), 0)     # the import-time helper thread did not block it

    def test_import_error(self):
        w = self.start(args=["--wsgi-file", os.path.join(APPS, "broken.py")], ready=False)
        self.assertEqual(w.wait(15), 4)
        err = w.stderr_text()
        self.assertIn("cannot load the WSGI application", err)
        self.assertIn("No module named 'this_module_does_not_exist'", err)
        self.assertIn("sys.path", err)
        self.assertIn("What to do", err)
        self.assertEqual(err.count("Traceback (most recent call last)"), 1)
        self.assertFalse(any(m.get("READY") for m in w.messages))

    def test_module_not_found_and_missing_callable(self):
        w = self.start(args=["--module", "no_such_pkg.wsgi:application"], ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("No module named 'no_such_pkg'", w.stderr_text())
        w = self.start(args=["--module", "testapp", "--pythonpath", APPS, "--callable", "nope"],
                       ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("has no attribute 'nope'", w.stderr_text())

    def test_a_crash_or_exit_at_import_gets_a_hint_about_the_apps_code(self):
        for name, code, said in [("crash.py", "raise RuntimeError('no DATABASE_URL')\n",
                                  "its own code raised RuntimeError"),
                                 ("quits.py", "import sys\nsys.exit(3)\n",
                                  "its own code called sys.exit(3)")]:
            path = os.path.join(self.tmp, name)
            with open(path, "w") as f:
                f.write(code)
            w = self.start(args=["--wsgi-file", path], ready=False)
            self.assertEqual(w.wait(15), 4)
            err = w.stderr_text()
            self.assertIn(said, err)
            self.assertIn("Traceback (most recent call last)", err)
            self.assertIn(name, err)
            self.assertNotIn("check the module / --wsgi-file", err)
        # a wrong module path keeps the hint about names and paths
        w = self.start(args=["--module", "no_such_pkg.wsgi:application"], ready=False)
        self.assertEqual(w.wait(15), 4)
        self.assertIn("check the module / --wsgi-file", w.stderr_text())

    def test_module_form(self):
        self.start(args=["--module", "testapp:app", "--pythonpath", APPS, "--threads", "1"])
        self.assertEqual(self.client().request("GET", "/").body, b"Hello, World!")

    def test_bad_environment(self):
        w = self.start(args=["--wsgi-file", TESTAPP], env={"LISTEN_FDS": "0"}, ready=False)
        self.assertEqual(w.wait(15), 3)
        w = self.start(args=["--bogus"], ready=False)
        self.assertEqual(w.wait(15), 2)

    @unittest.skipUnless(os.path.exists("/proc/self/comm"), "Linux only")
    def test_process_name_from_ebb_procname(self):
        w = self.start(env={"EBB_PROCNAME": "ebb worker 2 gen 3 mysite.wsgi"})
        with open("/proc/%d/comm" % w.pid) as f:
            self.assertEqual(f.read().rstrip("\n"), "ebb worker 2 ge")   # 15 bytes

    def test_sigquit_exits_at_once(self):
        w = self.start()
        c = self.client()
        c.send(b"GET /sleep?s=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        w.wait_message(lambda m: m.get("X_EBB_INFLIGHT") == "1")
        t0 = time.monotonic()
        w.signal(signal.SIGQUIT)
        w.wait(5)
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_drain_signal_from_env(self):
        w = self.start(env={"EBB_DRAIN_SIGNAL": "SIGUSR1"})
        w.signal(signal.SIGUSR1)
        w.wait_message(lambda m: m.get("STOPPING") == "1")
        self.assertEqual(w.wait(10), 0)

    def test_harakiri(self):
        w = self.start(args=["--wsgi-file", TESTAPP, "--callable", "app", "--threads", "2",
                             "--harakiri", "1"])
        c = self.client()
        c.send(b"GET /sleep?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        m = w.wait_message(lambda m: m.get("X_EBB_STUCK") == "1", timeout=6)
        self.assertIn("harakiri", m.get("STATUS", ""))
        err = w.stderr_text()
        self.assertIn("harakiri", err)
        self.assertIn("time.sleep", err + "sleep")     # the stack is logged
        self.assertIn("testapp.py", err)
        self.assertEqual(c.response().body, b"slept")   # the request still finishes


if __name__ == "__main__":
    unittest.main()

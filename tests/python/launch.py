"""A tiny stand-in for the ebb master, for tests and benchmarks of the Python worker.

It binds the sockets, starts worker processes the way the master does (sockets at fds 3..,
LISTEN_FDS / LISTEN_PID = the worker's own pid / LISTEN_FDNAMES, one NOTIFY_SOCKET per worker,
EBB_WORKER_ID ...) and collects the worker's notify messages.

Library use (tests):  see WorkerProc.
Command line (benchmarks):

    python3 tests/python/launch.py --bind 127.0.0.1:8000 [--uwsgi 127.0.0.1:8001] [--processes 2] \
        -- --wsgi-file tests/python/apps/hello.py --threads 8

SIGINT / SIGTERM drains the workers (sends them SIGTERM) and waits for them.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYDIR = os.path.join(ROOT, "src", "python")
WORKER = os.path.join(PYDIR, "run_worker.py")   # as the master runs it

# Run by the child before exec: move the sockets to fds 3.., set LISTEN_PID to its own pid.
_SHIM = r"""
import fcntl, os, sys
fds = [int(x) for x in sys.argv[1].split(",") if x]
argv = sys.argv[3:]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]   # out of the way of 3..
for fd in fds:
    os.close(fd)
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i, inheritable=True)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(argv[0], argv)
"""


def bind_tcp(host="127.0.0.1", port=0, backlog=1024):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def bind_unix(path, backlog=1024):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(backlog)
    return s


class WorkerProc(object):
    """One worker process with its own notify socket.

    listeners: list of (socket, name) with name "http" or "uwsgi".
    args: worker arguments (e.g. ["--wsgi-file", path, "--threads", "2"]).
    extra_fds: more fds the worker inherits as they are (e.g. an EBB_LOG_FD pipe); keep them
    out of 3..3+len(listeners)-1 and of 100.., where the sockets are moved.
    """

    def __init__(self, args, listeners, env=None, worker_id=1, python=None, cwd=None,
                 notify=True, tmpdir=None, worker=None, extra_fds=()):
        self.tmpdir = tmpdir or tempfile.mkdtemp(prefix="ebbw-")
        self.notify_path = None
        self.notify = None
        if notify:
            self.notify_path = os.path.join(self.tmpdir, "w%d-%d.sock" % (worker_id, id(self)))
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(self.notify_path)
        self.messages = []          # list of dicts, one per datagram
        self.stderr_path = os.path.join(self.tmpdir, "w%d-%d.stderr" % (worker_id, id(self)))
        e = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"):
            e.pop(k, None)
        e.update({
            "LISTEN_FDS": str(len(listeners)),
            "LISTEN_FDNAMES": ":".join(name for _, name in listeners),
            "EBB_WORKER_ID": str(worker_id),
            "EBB_RESPAWN": "1",
            "EBB_MASTER_PID": str(os.getpid()),
            "PYTHONPATH": PYDIR + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else ""),
            "PYTHONUNBUFFERED": "1",
        })
        if self.notify_path:
            e["NOTIFY_SOCKET"] = self.notify_path
        if env:
            e.update(env)
        fds = [s.fileno() for s, _ in listeners]
        py = python or os.environ.get("EBB_TEST_PYTHON") or sys.executable
        argv = [sys.executable, "-c", _SHIM, ",".join(map(str, fds)), "--", py,
                worker or WORKER] + list(args)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, env=e, pass_fds=fds + list(extra_fds), cwd=cwd,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._stderr, stderr=self._stderr,
                                     start_new_session=True)
        self.pid = self.proc.pid

    # ---- notify messages

    def poll_messages(self, timeout=0.0):
        """Read the datagrams available (waiting up to timeout for the first); return new ones."""
        if self.notify is None:
            return []
        new = []
        self.notify.settimeout(timeout if timeout > 0 else 0.0)
        while True:
            try:
                data = self.notify.recv(65536)
            except (BlockingIOError, socket.timeout):
                break
            msg = {}
            for line in data.decode("utf-8", "replace").split("\n"):
                if "=" in line:
                    k, _, v = line.partition("=")
                    msg[k] = v
            self.messages.append(msg)
            new.append(msg)
            self.notify.settimeout(0.0)
        return new

    def wait_message(self, pred, timeout=10.0):
        """Wait until a notify message satisfying pred arrives (also checks old ones)."""
        for m in self.messages:
            if pred(m):
                return m
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no matching notify message within %.1f s; got %r; stderr:\n%s"
                    % (timeout, self.messages[-5:], self.stderr_text()[-3000:]))
            for m in self.poll_messages(min(left, 0.2)):
                if pred(m):
                    return m
            if self.proc.poll() is not None:
                for m in self.poll_messages(0):
                    if pred(m):
                        return m
                raise AssertionError("worker exited (%s) before the expected message; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr_text()[-3000:]))

    def wait_ready(self, timeout=15.0):
        return self.wait_message(lambda m: m.get("READY") == "1", timeout)

    def latest(self, key):
        self.poll_messages(0)
        for m in reversed(self.messages):
            if key in m:
                return m[key]
        return None

    # ---- process

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=15.0):
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        self.kill()
        try:
            self._stderr.close()
        except OSError:
            pass
        if self.notify is not None:
            self.notify.close()
            try:
                os.unlink(self.notify_path)
            except OSError:
                pass


def _parse_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def main(argv):
    import argparse
    if "--" in argv:
        i = argv.index("--")
        mine, worker_args = argv[:i], argv[i + 1:]
    else:
        mine, worker_args = argv, []
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bind", action="append", default=[], help="http HOST:PORT")
    ap.add_argument("--uwsgi", action="append", default=[], help="uwsgi-protocol HOST:PORT")
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--python", default=None)
    a = ap.parse_args(mine)
    listeners = [(bind_tcp(*_parse_addr(b)), "http") for b in a.bind]
    listeners += [(bind_tcp(*_parse_addr(b)), "uwsgi") for b in a.uwsgi]
    if not listeners:
        listeners = [(bind_tcp("127.0.0.1", 8000), "http")]
    for s, name in listeners:
        print("listening on %s (%s)" % (s.getsockname(), name), flush=True)
    workers = [WorkerProc(worker_args, listeners, worker_id=i + 1, python=a.python)
               for i in range(a.processes)]
    stop = []
    signal.signal(signal.SIGINT, lambda *x: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *x: stop.append(1))
    try:
        for w in workers:
            w.wait_ready(30)
        print("%d worker(s) ready" % len(workers), flush=True)
        while not stop and all(w.proc.poll() is None for w in workers):
            for w in workers:
                w.poll_messages(0)
            time.sleep(0.2)
        for w in workers:
            w.signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                pass
            sys.stdout.write(w.stderr_text())
    finally:
        for w in workers:
            w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

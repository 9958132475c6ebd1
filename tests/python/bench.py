"""Throughput of ebb's Python worker against uWSGI and gunicorn (gthread), same app, same
processes x threads, runs alternated, median of N rounds.  Needs `wrk`; uwsgi / gunicorn are
looked up in PATH or given with --uwsgi / --gunicorn (e.g. from a venv under /tmp).

    python3 tests/python/bench.py --rounds 3 --duration 5 \
        --uwsgi /tmp/venv/bin/uwsgi --gunicorn /tmp/venv/bin/gunicorn
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from launch import WorkerProc, bind_tcp, HERE  # noqa: E402

HELLO = os.path.join(HERE, "apps", "hello.py")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if c.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server on port %d did not answer" % port)


def wrk(port, conns, duration, threads=2):
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration,
                          "http://127.0.0.1:%d/" % port], capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out)
    return float(m.group(1)) if m else 0.0, errors.group(0) if errors else ""


class Ebb(object):
    name = "ebb"

    def __init__(self, a, tmp):
        self.a, self.tmp = a, tmp

    def start(self):
        self.sock = bind_tcp("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.workers = [WorkerProc(["--wsgi-file", self.a.app, "--threads", str(self.a.threads)],
                                   [(self.sock, "http")], worker_id=i + 1, tmpdir=self.tmp,
                                   python=self.a.python, cwd=os.path.dirname(self.a.app))
                        for i in range(self.a.processes)]
        for w in self.workers:
            w.wait_ready()
        return self.port

    def stop(self):
        for w in self.workers:
            w.signal(signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(10)
            except subprocess.TimeoutExpired:
                pass
            w.close()
        self.sock.close()


class External(object):
    def __init__(self, name, argv_fn, tmp, cwd):
        self.name, self.argv_fn, self.tmp, self.cwd = name, argv_fn, tmp, cwd

    def start(self):
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, self.name + ".log"), "ab")
        self.proc = subprocess.Popen(self.argv_fn(self.port), stdout=self.log, stderr=self.log,
                                     cwd=self.cwd, start_new_session=True)
        wait_http(self.port)
        return self.port

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--uwsgi", default=shutil.which("uwsgi"))
    ap.add_argument("--gunicorn", default=shutil.which("gunicorn"))
    ap.add_argument("--python", default=None, help="interpreter for ebb's worker")
    ap.add_argument("--app", default=HELLO, help="a .py file defining `application`")
    ap.add_argument("--only", default=None, help="comma list: ebb,uwsgi,gunicorn")
    a = ap.parse_args()
    a.app = os.path.abspath(a.app)
    appdir = os.path.dirname(a.app)
    appmod = os.path.splitext(os.path.basename(a.app))[0]
    if not shutil.which("wrk"):
        sys.exit("wrk is needed (apt-get install -y wrk)")
    tmp = tempfile.mkdtemp(prefix="ebb-bench-")
    servers = [Ebb(a, tmp)]
    if a.uwsgi:
        servers.append(External("uwsgi", lambda port: [
            a.uwsgi, "--http11-socket", "127.0.0.1:%d" % port, "--processes", str(a.processes),
            "--threads", str(a.threads), "--wsgi-file", a.app, "--master", "--disable-logging"],
            tmp, appdir))
    if a.gunicorn:
        servers.append(External("gunicorn", lambda port: [
            a.gunicorn, "-k", "gthread", "-w", str(a.processes), "--threads", str(a.threads),
            "-b", "127.0.0.1:%d" % port, appmod + ":application"], tmp, appdir))
    if a.only:
        keep = a.only.split(",")
        servers = [s for s in servers if s.name in keep]
    results = {s.name: [] for s in servers}
    print("%d processes x %d threads, wrk -t2 -c%d -d%ds, %d rounds (alternated)"
          % (a.processes, a.threads, a.connections, a.duration, a.rounds), flush=True)
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else list(reversed(servers))
        for s in order:
            port = s.start()
            try:
                wrk(port, a.connections, 1)                         # warm-up
                rps, err = wrk(port, a.connections, a.duration)
            finally:
                s.stop()
            results[s.name].append(rps)
            print("  round %d  %-9s %9.0f req/s %s" % (r + 1, s.name, rps, err), flush=True)
    print("median:")
    for name, v in results.items():
        print("  %-9s %9.0f req/s   (%s)" % (name, statistics.median(v),
                                           ", ".join("%.0f" % x for x in v)))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

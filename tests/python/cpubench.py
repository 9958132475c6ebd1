"""CPU time per request (and req/s) of ebb's Python worker against uWSGI, robust to a noisy
machine: utime+stime of the server's processes (from /proc, before/after a fixed-duration wrk
run) divided by the requests wrk completed.  Runs alternated, medians of N rounds.

    python3 tests/python/cpubench.py --rounds 5 --duration 5 --uwsgi /tmp/venv/bin/uwsgi

For ebb the processes are the workers (the stand-in master is this script); for uWSGI the master
and its workers (every process of its process group).
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Ebb, External, HELLO  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rfind(")") + 2:].split()
    # fields[0] is field 3 (state): utime = field 14, stime = 15, pgrp = 5
    return int(fields[2]), int(fields[11]), int(fields[12])


def group_cpu(pgid):
    """(user, system) CPU seconds of every process whose process group is pgid."""
    user = system = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            pg, u, s = _stat(int(name))
        except (OSError, IndexError, ValueError):
            continue
        if pg == pgid:
            user += u
            system += s
    return user / TICK, system / TICK


def wrk(port, conns, duration, threads, headers=()):
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % duration]
    for h in headers:
        argv += ["-H", h]
    out = subprocess.run(argv + ["http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True).stdout
    m = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors:.*|Non-2xx.*", out)
    return (int(m.group(1)) if m else 0, float(rps.group(1)) if rps else 0.0,
            errors.group(0) if errors else "")


class EbbBaseline(Ebb):
    """ebb with another worker script (e.g. a copy of the previous version)."""
    name = "ebb0"

    def start(self):
        from launch import WorkerProc, bind_tcp
        self.sock = bind_tcp("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.workers = [WorkerProc(["--wsgi-file", self.a.app, "--threads", str(self.a.threads)],
                                   [(self.sock, "http")], worker_id=i + 1, tmpdir=self.tmp,
                                   python=self.a.python, cwd=os.path.dirname(self.a.app),
                                   worker=self.a.baseline)
                        for i in range(self.a.processes)]
        for w in self.workers:
            w.wait_ready()
        return self.port


def pgids(server):
    if isinstance(server, Ebb):
        return [w.pid for w in server.workers]     # each worker leads its own session
    return [server.proc.pid]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--uwsgi", default=shutil.which("uwsgi"))
    ap.add_argument("--python", default=None, help="interpreter for ebb's worker")
    ap.add_argument("--app", default=HELLO)
    ap.add_argument("--baseline", default=None,
                    help="the run_worker.py of another copy of src/python to compare with "
                         "(shown as ebb0)")
    ap.add_argument("--only", default=None, help="comma list: ebb,ebb0,uwsgi")
    ap.add_argument("--browser", action="store_true",
                    help="send scripts/bench's ten browser-like headers with every request")
    a = ap.parse_args()
    headers = ()
    if a.browser:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "scripts"))
        from bench_lib.load import BROWSER_HEADERS
        headers = BROWSER_HEADERS
    a.app = os.path.abspath(a.app)
    appdir = os.path.dirname(a.app)
    tmp = tempfile.mkdtemp(prefix="ebb-cpubench-")
    servers = [Ebb(a, tmp)]
    if a.baseline:
        a.baseline = os.path.abspath(a.baseline)
        servers.append(EbbBaseline(a, tmp))
    if a.uwsgi:
        servers.append(External("uwsgi", lambda port: [
            a.uwsgi, "--http11-socket", "127.0.0.1:%d" % port, "--processes", str(a.processes),
            "--threads", str(a.threads), "--wsgi-file", a.app, "--master", "--disable-logging"],
            tmp, appdir))
    if a.only:
        keep = a.only.split(",")
        servers = [s for s in servers if s.name in keep]
    res = {s.name: ([], [], []) for s in servers}
    print("%d processes x %d threads, wrk -t%d -c%d -d%ds%s, %d rounds (alternated)"
          % (a.processes, a.threads, a.wrk_threads, a.connections, a.duration,
             " (browser headers)" if headers else "", a.rounds),
          flush=True)
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else list(reversed(servers))
        for s in order:
            port = s.start()
            try:
                wrk(port, a.connections, 1, a.wrk_threads, headers)   # warm-up
                groups = pgids(s)
                c0 = [group_cpu(g) for g in groups]
                n, rps, err = wrk(port, a.connections, a.duration, a.wrk_threads, headers)
                c1 = [group_cpu(g) for g in groups]
            finally:
                s.stop()
            du = sum(b[0] - a_[0] for a_, b in zip(c0, c1))
            ds = sum(b[1] - a_[1] for a_, b in zip(c0, c1))
            us = (du + ds) / n * 1e6 if n else 0.0
            res[s.name][0].append(us)
            res[s.name][1].append(rps)
            res[s.name][2].append(du / n * 1e6 if n else 0.0)
            print("  round %d  %-6s %6.2f us/req (user %5.2f sys %5.2f)  %8.0f req/s  %s"
                  % (r + 1, s.name, us, du / n * 1e6 if n else 0, ds / n * 1e6 if n else 0,
                     rps, err), flush=True)
    print("median:")
    for name, (us, rps, user) in res.items():
        print("  %-6s %6.2f us/req (user %5.2f)  %8.0f req/s   (%s | %s)"
              % (name, statistics.median(us), statistics.median(user), statistics.median(rps),
                 ", ".join("%.1f" % x for x in us), ", ".join("%.0f" % x for x in rps)))
    if "ebb" in res and "uwsgi" in res:
        e, u = res["ebb"], res["uwsgi"]
        print("ebb/uwsgi: cpu/req %.2f  req/s %.2f"
              % (statistics.median(e[0]) / statistics.median(u[0]),
                 statistics.median(e[1]) / statistics.median(u[1])))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

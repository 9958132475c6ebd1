"""A/B throughput of the Python worker: variants run alternately, hello world, 1 worker.

Each variant is LABEL=PYDIR[,NAME=VALUE...]: a copy of src/python (its run_worker.py is run)
and environment settings for the worker.  LOGPIPE=1 passes EBB_LOG_FD, a pipe read by `cat`
(as the master reads it); DEVNULL=1 passes /dev/null as EBB_LOG_FD.  Prints req/s (wrk) and
the worker's CPU time per request (from /proc, Linux), which a shared machine disturbs less.

    cp -r src/python /tmp/before     # (at the old commit)
    python3 tests/python/abbench.py before=/tmp/before after=src/python
    python3 tests/python/abbench.py --rounds 3 on=src/python,LOGPIPE=1 \\
        off=src/python,LOGPIPE=1,EBB_LOG_REQUESTS=0
"""

import argparse
import fcntl
import os
import re
import statistics
import subprocess
import sys

from launch import HERE, WorkerProc, bind_tcp

HELLO = os.path.join(HERE, "apps", "hello.py")


def _cpu(pid):
    """User + system CPU seconds of a process (Linux), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_one(pydir, env, a):
    """(req/s, CPU us per request or None, errors text) of one wrk run."""
    env = dict(env)
    extra, cat = [], None
    if env.pop("LOGPIPE", None):
        r, w = os.pipe()
        extra.append(fcntl.fcntl(w, fcntl.F_DUPFD, 60))   # clear of the sockets' fds
        os.close(w)
        cat = subprocess.Popen(["cat"], stdin=r, stdout=subprocess.DEVNULL)
        os.close(r)
    if env.pop("DEVNULL", None):
        w = os.open(os.devnull, os.O_WRONLY)
        extra.append(fcntl.fcntl(w, fcntl.F_DUPFD, 60))
        os.close(w)
    if extra:
        env["EBB_LOG_FD"] = str(extra[0])
    sock = bind_tcp()
    worker = WorkerProc(["--wsgi-file", a.app, "--threads", str(a.threads)], [(sock, "http")],
                        env=env, worker=os.path.join(pydir, "run_worker.py"), extra_fds=extra)
    for fd in extra:
        os.close(fd)
    try:
        worker.wait_ready(30)
        c0 = _cpu(worker.pid)
        out = subprocess.run(["wrk", "-t%d" % a.wrk_threads, "-c%d" % a.connections,
                              "-d%ds" % a.duration, "http://127.0.0.1:%d/" % sock.getsockname()[1]],
                             capture_output=True, text=True, timeout=a.duration + 60).stdout
        c1 = _cpu(worker.pid)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        n = int(re.search(r"(\d+) requests in", out).group(1))
        per = (c1 - c0) / n * 1e6 if c0 is not None and c1 is not None and n else None
        errs = re.search(r"Non-2xx.*|Socket errors.*", out)
        return rps, per, errs.group(0) if errs else ""
    finally:
        worker.close()
        sock.close()
        if cat is not None:
            cat.wait(10)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help="LABEL=PYDIR[,NAME=VALUE...]")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="the worker's threads")
    ap.add_argument("--app", default=HELLO)
    a = ap.parse_args(argv)
    variants = []
    for v in a.variants:
        label, _, rest = v.partition("=")
        parts = rest.split(",")
        variants.append((label, parts[0], dict(p.split("=", 1) for p in parts[1:])))
    rps, cpu = {v[0]: [] for v in variants}, {v[0]: [] for v in variants}
    for r in range(a.rounds):
        for label, pydir, env in variants:
            x, per, err = run_one(pydir, env, a)
            rps[label].append(x)
            if per is not None:
                cpu[label].append(per)
            print("round %d %-10s %8.0f req/s  %s us CPU/request %s"
                  % (r + 1, label, x, "%.1f" % per if per is not None else "?", err), flush=True)
    for label, _, _ in variants:
        print("%-10s median %8.0f req/s %s; CPU/request median %s us %s"
              % (label, statistics.median(rps[label]), [round(x) for x in rps[label]],
                 "%.1f" % statistics.median(cpu[label]) if cpu[label] else "?",
                 [round(x, 1) for x in cpu[label]]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

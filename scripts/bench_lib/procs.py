"""Processes the benchmark starts, and their cleanup (even on Ctrl-C or failure); /proc readers."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

_LIVE = {}          # pid -> Popen, every process group this script started and has not reaped
_LOCK = threading.Lock()
VERBOSE = False


def say(msg):
    print(msg, flush=True)


def debug(msg):
    if VERBOSE:
        print("  . " + msg, file=sys.stderr, flush=True)


def start(argv, **kw):
    """Popen in a new session (its own process group), remembered for cleanup."""
    debug("start: " + " ".join(argv))
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    with _LOCK:
        _LIVE[p.pid] = p
    return p


def forget(p):
    with _LOCK:
        _LIVE.pop(p.pid, None)


def children(pid):
    """Direct children of pid (every thread's), from /proc/PID/task/*/children."""
    out = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid):
    seen, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


def kill_tree(p, sig=signal.SIGKILL):
    """Kill a started process, its group and every descendant (workers may have groups of their own)."""
    pids = descendants(p.pid)
    for target in [p.pid] + pids:
        for fn in (os.killpg, os.kill):
            try:
                fn(target, sig)
            except (OSError, ProcessLookupError):
                pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    # Reap the descendants' groups too, in case a worker ignored its dead master.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(alive(x) for x in pids):
        time.sleep(0.05)
    forget(p)


def cleanup_all():
    with _LOCK:
        procs = list(_LIVE.values())
    for p in procs:
        if p.poll() is None or descendants(p.pid):
            debug("cleanup: killing %d (%s)" % (p.pid, p.args[0] if isinstance(p.args, list) else p.args))
        kill_tree(p)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def install_signal_handlers():
    """Ctrl-C, TERM and HUP unwind through the `finally` blocks, which kill what was started."""
    def handler(signum, frame):
        signal.signal(signum, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % signum)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, handler)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def http_get(port, path="/", timeout=2.0):
    """Status code of one GET on a fresh connection, or None."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path).encode())
            head = b""
            while b"\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    break
                head += chunk
            parts = head.split(b" ", 2)
            if len(parts) >= 2 and parts[0].startswith(b"HTTP/1."):
                return int(parts[1])
    except (OSError, ValueError):
        pass
    return None


# --- /proc readers -----------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    """VmRSS (kB) and context switches (voluntary + nonvoluntary) from /proc/PID/status."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "VmRSS":
                out["rss_kb"] = int(v.split()[0])
            elif k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                out[k] = int(v)
    out["ctxt"] = out.get("voluntary_ctxt_switches", 0) + out.get("nonvoluntary_ctxt_switches", 0)
    return out


def proc_cpu_s(pid):
    """utime + stime of the process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_threads_ctxt(pid):
    """Context switches summed over every thread (a Python master may wake in other threads)."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split(":")[1])
        except OSError:
            pass
    return total


def proc_pss_kb(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def tcp_active_opens():
    """Tcp ActiveOpens of the whole machine (/proc/net/snmp): connections opened so far."""
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")])


def proc_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    env = {}
    for item in data.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


class ChildPoller(threading.Thread):
    """Polls a master's children every `interval` s: spawn and exit times of every worker pid."""

    def __init__(self, master_pid, interval=0.1, with_env=None):
        super().__init__(daemon=True)
        self.pid = master_pid
        self.interval = interval
        self.with_env = with_env          # environment key to read from each new child (EBB_CONFIG_GENERATION)
        self.stop_ev = threading.Event()
        self.events = []                  # (time, "spawn"|"exit", pid)
        self.current = set()
        self.env_of = {}                  # pid -> value of with_env
        self.samples = []                 # (time, sorted pids)
        self.lock = threading.Lock()

    def poll_once(self):
        now = time.time()
        kids = set(children(self.pid))
        with self.lock:
            for c in kids - self.current:
                self.events.append((now, "spawn", c))
            if self.with_env:
                # Read again until found: between fork and exec a child still has its parent's
                # environment.
                for c in kids:
                    if self.env_of.get(c) is None:
                        self.env_of[c] = proc_environ(c).get(self.with_env)
            for c in self.current - kids:
                self.events.append((now, "exit", c))
            self.current = kids
            self.samples.append((now, sorted(kids)))

    def run(self):
        while not self.stop_ev.is_set():
            self.poll_once()
            self.stop_ev.wait(self.interval)

    def snapshot(self):
        with self.lock:
            return set(self.current)

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=2)

"""Load generation: wrk (its output parsed, optionally a per-second count), and the /job side client."""

import os
import re
import socket
import subprocess
import tempfile
import threading
import time

from . import procs

# A browser-like request: ten headers (wrk adds Host), cookies included.
BROWSER_HEADERS = [
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8",
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7",
    "Accept-Encoding: gzip, deflate, br, zstd",
    "Referer: http://127.0.0.1/articles/2024/11/how-to-recycle-workers?utm_source=bench",
    "Cookie: sessionid=8f2c1e0b7a9d4c3e8f1a2b3c4d5e6f70; csrftoken=Qm9vdHN0cmFwQ3NyZlRva2VuMTIz"
    "NDU2Nzg5MGFiY2RlZg; _ga=GA1.1.1234567890.1732600000; theme=dark; lang=en",
    "Cache-Control: max-age=0",
    "Upgrade-Insecure-Requests: 1",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-Site: same-origin",
]

# Counts responses per wall-clock second (os.time) in every wrk thread; done() prints the sums.
# Non-2xx/3xx responses are counted under the negative second.
PER_SECOND_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) buckets = {} end
function response(status, headers, body)
  local s = os.time()
  if status >= 400 then s = -s end
  buckets[s] = (buckets[s] or 0) + 1
end
function per_second_done()
  local total = {}
  for _, t in ipairs(threads) do
    local b = t:get("buckets")
    if b then for k, v in pairs(b) do total[k] = (total[k] or 0) + v end end
  end
  for k, v in pairs(total) do io.write(string.format("PERSEC %d %d\n", k, v)) end
end
"""

# Latency percentiles at wrk's full resolution (its text report has no p99.9 and rounds):
# "PCTL <percent> <microseconds>" lines.  Only a done() callback: wrk's per-request path stays
# the same as without a script.
PERCENTILES = (50, 90, 99, 99.9)
PCTL_LUA = r"""
function done(summary, latency, requests)
  if per_second_done then per_second_done() end
  for _, p in ipairs({%s}) do
    io.write(string.format("PCTL %%g %%d\n", p, latency:percentile(p)))
  end
end
""" % ", ".join("%g" % p for p in PERCENTILES)

# HTTP/1.0 requests (with wrk's headers, Host included, minus any Connection header): the server
# must close after each response, so every request takes a new connection, whatever the server.
HTTP10_LUA = r"""
local req
function init(args)
  local h = {"GET " .. wrk.path .. " HTTP/1.0\r\n"}
  for k, v in pairs(wrk.headers) do
    if string.lower(k) ~= "connection" then table.insert(h, k .. ": " .. v .. "\r\n") end
  end
  table.insert(h, "\r\n")
  req = table.concat(h)
end
function request() return req end
"""

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """Numbers from wrk's report: rps, latency percentiles (ms), errors, per-second counts."""
    r = {"rps": None, "requests": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None,
         "p999_ms": None, "connect_errors": 0, "read_errors": 0, "write_errors": 0, "timeouts": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    if m:
        r["requests"] = int(m.group(1))
    for pct, key in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        if m:
            r[key] = _ms(m.group(1))
    for pct, us in re.findall(r"^PCTL ([\d.]+) (\d+)$", out, re.M):
        key = {"50": "p50_ms", "90": "p90_ms", "99": "p99_ms", "99.9": "p999_ms"}.get(pct)
        if key:
            r[key] = int(us) / 1000.0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        (r["connect_errors"], r["read_errors"], r["write_errors"],
         r["timeouts"]) = (int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    r["errors"] = (r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeouts"]
                   + r["non2xx"])
    ok, bad = {}, {}
    for sec, n in re.findall(r"^PERSEC (-?\d+) (\d+)$", out, re.M):
        sec, n = int(sec), int(n)
        (bad if sec < 0 else ok)[abs(sec)] = n
    if ok or bad:
        r["per_second"] = sorted((s, ok.get(s, 0), bad.get(s, 0)) for s in set(ok) | set(bad))
    return r


class Wrk:
    """One wrk run in the background (start now, result later)."""

    def __init__(self, port, duration, args, path="/", headers=(), per_second=False, workdir=None,
                 http10=False):
        self.argv = ["wrk", "-t%d" % args.wrk_threads, "-c%d" % args.connections,
                     "-d%ds" % max(1, round(duration)), "--latency", "--timeout", "10s"]
        for h in headers:
            self.argv += ["-H", h]
        # One script (wrk takes one): the percentiles, plus HTTP/1.0 requests or per-second counts.
        name, text = "pctl", PCTL_LUA
        if http10:
            name, text = name + "-http10", HTTP10_LUA + text
        if per_second:
            name, text = name + "-per-second", PER_SECOND_LUA + text
        lua = os.path.join(workdir or tempfile.gettempdir(),
                           "%s.lua" % name if workdir else "ebb-bench-%d-%s.lua" % (os.getpid(), name))
        if not os.path.exists(lua):
            with open(lua, "w") as f:
                f.write(text)
        self.argv += ["-s", lua]
        self.argv.append("http://127.0.0.1:%d%s" % (port, path))
        self.duration = duration
        self.started = time.time()
        self.opens0 = procs.tcp_active_opens()
        self.p = procs.start(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def result(self):
        try:
            out, _ = self.p.communicate(timeout=self.duration + 60)
        finally:
            procs.kill_tree(self.p)
        r = parse_wrk(out)
        if r["rps"] is None:
            raise RuntimeError("wrk gave no result (exit %s):\n%s" % (self.p.returncode, out[-2000:]))
        r["started"] = self.started
        # TCP connections opened on the whole machine during the run, per request: about 1 when
        # every request used a new connection (other processes' connections only add to it).
        opens = procs.tcp_active_opens() - self.opens0
        r["conns_per_request"] = round(opens / r["requests"], 3) if r["requests"] else None
        return r


def wrk_run(port, duration, args, **kw):
    return Wrk(port, duration, args, **kw).result()


class JobSender(threading.Thread):
    """Sends `GET /job?id=PREFIX-n&ms=MS` at `rate` per second, each on a new connection, and
    optionally `extra` plain `GET /` requests after each (to drive request-count recycling).
    Records which ids were answered 200 and which failed."""

    def __init__(self, port, prefix, rate, ms, count=None, extra=0):
        super().__init__(daemon=True)
        self.port, self.prefix, self.rate, self.ms = port, prefix, rate, ms
        self.count, self.extra = count, extra
        self.stop_ev = threading.Event()
        self.ok, self.failed, self.extra_ok, self.extra_failed = [], [], 0, 0
        self.latencies = []       # seconds, every request (jobs and extra), answered or not

    def _one(self, path):
        t0 = time.monotonic()
        try:
            return self._request(path)
        finally:
            self.latencies.append(time.monotonic() - t0)

    def slowest(self):
        return round(max(self.latencies), 3) if self.latencies else None

    def _request(self, path):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
                s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                           % path).encode())
                data = b""
                while b"\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data.startswith(b"HTTP/1.1 200") or data.startswith(b"HTTP/1.0 200")
        except OSError:
            return False

    def run(self):
        n = 0
        next_t = time.monotonic()
        while not self.stop_ev.is_set() and (self.count is None or n < self.count):
            n += 1
            job_id = "%s-%d" % (self.prefix, n)
            (self.ok if self._one("/job?id=%s&ms=%d" % (job_id, self.ms)) else self.failed).append(job_id)
            for _ in range(self.extra):
                if self._one("/"):
                    self.extra_ok += 1
                else:
                    self.extra_failed += 1
            next_t += 1.0 / self.rate
            self.stop_ev.wait(max(0.0, next_t - time.monotonic()))

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=30)


def read_journal(path):
    """start/done job ids from the app's journal: (starts, dones) as ordered dicts id -> time."""
    starts, dones = {}, {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 4 and parts[0] in ("start", "done"):
                    (starts if parts[0] == "start" else dones)[parts[1]] = float(parts[3])
    return starts, dones

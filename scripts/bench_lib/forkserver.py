"""Scenario 9: Django, memory and replacement speed (what a fork server buys; issue 12).

The Django site of scripts/bench-apps/djsite/ (contrib apps, admin, templates, ORM on SQLite)
under every way each server loads an app, side by side, alternated:

  ebb                  its default (today: a fresh interpreter imports the app in each worker;
                       with a fork server: the app imported once, workers forked)
  ebb --lazy-apps      import in each worker (measured only when `ebb --help` lists the option)
  uwsgi                its default: the app loaded in the master, workers forked
  uwsgi --lazy-apps    the app imported in each worker
  gunicorn --preload   gthread workers forked from a master that imported the app

Per case and repetition:
  a. 4 workers x 2 threads: start to serving (first answer, and every worker ready by the
     server's own log), warm-up (every view, a few hundred times), total PSS (master and every
     descendant, /proc/PID/smaps_rollup), then SIGHUP: time until every process is new.
  b. the same with 8 workers (start, warm-up, PSS).
  c. 1 worker (so no recycle waits for another) with --max-requests small under a paced
     load: replacement latency of each recycle (ebb: its log's `recycle` to the replacement's
     `ready`; uWSGI and gunicorn: the old pid's last answer to the new pid's first answer,
     from the client's records).
  d. scenario 2's ratio on Django: wrk GET / with 2 workers x 4 threads, recycling every 100
     requests vs never.
"""

import http.client
import json
import math
import os
import re
import signal
import subprocess
import threading
import time
import types

from . import procs
from .load import wrk_run
from .procs import say
from .scenario import Scenario, rotate, spread
from .servers import Running, SERVERS

MODULE = "djsite.wsgi:application"
VIEWS = ("/", "/articles/", "/articles/article-7/", "/api/articles.json", "/contact/",
         "/admin/login/")
THREADS = 2                  # threads per worker, parts a-c
RATIO_PROCESSES, RATIO_THREADS = 2, 4
RATIO_MAX_REQUESTS = 100


class Case:
    def __init__(self, label, server, lazy):
        self.label, self.server, self.lazy = label, server, lazy


CASES = (Case("ebb", "ebb", False), Case("ebb --lazy-apps", "ebb", True),
         Case("uwsgi", "uwsgi", False), Case("uwsgi --lazy-apps", "uwsgi", True),
         Case("gunicorn --preload", "gunicorn", False))


def fetch(port, path, timeout=10.0):
    """(status, X-Worker-Pid) of one GET on a new connection; (None, None) on failure. Reads the
    body as long as its Content-Length, since uWSGI's --http11-socket keeps the connection open
    after `Connection: close`."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            c.request("GET", path, headers={"Host": "bench", "Connection": "close"})
            r = c.getresponse()
            r.read()
            pid = r.getheader("X-Worker-Pid")
            return r.status, int(pid) if pid else None
        finally:
            c.close()
    except (OSError, http.client.HTTPException, ValueError):
        return None, None


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    vals = sorted(values)
    k = max(0, min(len(vals) - 1, math.ceil(q / 100.0 * len(vals)) - 1))
    return vals[k]


def tree_pss_kb(pid):
    """PSS of pid and every descendant, summed; and how many processes that was."""
    pids = [pid] + procs.descendants(pid)
    vals = [procs.proc_pss_kb(p) for p in pids]
    return sum(v for v in vals if v), sum(1 for v in vals if v)


class Client(threading.Thread):
    """GETs the views in turn on new connections, at `rate` per second in all (None: as fast
    as it can), recording (wall time, status, pid) of every answer."""

    def __init__(self, port, rate=None, views=VIEWS, count=None):
        super().__init__(daemon=True)
        self.port, self.rate, self.views, self.count = port, rate, views, count
        self.stop_ev = threading.Event()
        self.records = []
        self.n = 0

    def run(self):
        next_t = time.monotonic()
        while not self.stop_ev.is_set() and (self.count is None or self.n < self.count):
            path = self.views[self.n % len(self.views)]
            self.n += 1
            status, pid = fetch(self.port, path)
            self.records.append((time.time(), status, pid))
            if self.rate:
                next_t += 1.0 / self.rate
                self.stop_ev.wait(max(0.0, next_t - time.monotonic()))

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=15)


def hammer(port, total, conc):
    """`total` GETs over every view from `conc` threads; returns (ok, failed, pids seen)."""
    per = max(1, total // conc)
    clients = [Client(port, views=VIEWS[k % len(VIEWS):] + VIEWS[:k % len(VIEWS)], count=per)
               for k in range(conc)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=120)
    recs = [r for c in clients for r in c.records]
    ok = sum(1 for _, s, _ in recs if s and s < 400)
    return ok, len(recs) - ok, {p for _, s, p in recs if p}


class ForkServer(Scenario):
    key = "9"
    title = "Django: memory and replacement speed"

    def __init__(self, *a, **kw):
        Scenario.__init__(self, *a, **kw)
        q = self.args.quick
        self.site = os.path.join(self.ctx.root, "scripts", "bench-apps")
        # Quick (CI's smoke test): 4 workers only, fewer requests, 3 recycles.
        self.worker_counts = (4,) if q else (4, 8)
        self.warm_per_view = 10 if q else 150          # requests per view at warm-up
        self.recycle_max_requests = 20 if q else 30    # one worker: a recycle every 0.4-0.6 s
        self.recycle_rate = 50.0                       # req/s                  (+ its latency)
        self.recycles_wanted = 2 if q else 10
        self.ratio_s = self.plan.django_s
        # Quick: the throughput ratio (two more starts a case) for ebb's cases only, the figure
        # issue 12 sets a goal for; the others' ratio runs the same code.
        self.ratio_for = ("ebb",) if q else ("ebb", "uwsgi", "gunicorn")
        self.skipped = {}
        self.cases = self.pick_cases()
        if q and any(c.server not in self.ratio_for for c in self.cases):
            say("  s9 quick: the recycling/steady ratio for ebb only")
        self.latencies = {}                          # case label -> [ms] over every repetition

    # --- which cases -----------------------------------------------------------------------

    def pick_cases(self):
        names = [s.name for s in self.servers]
        out = []
        ebb_help = ""
        if "ebb" in names:
            try:
                ebb_help = subprocess.run([self.ctx.ebb, "--help"], capture_output=True,
                                          text=True, timeout=30).stdout
            except (OSError, subprocess.SubprocessError) as e:
                ebb_help = ""
                self.skipped["ebb"] = "ebb --help failed: %s" % e
        for c in CASES:
            if c.server not in names:
                continue
            if c.server == "ebb" and c.lazy and "--lazy-apps" not in ebb_help:
                self.skipped[c.label] = ("`ebb --help` lists no --lazy-apps (this ebb imports "
                                         "the app in each worker anyway: that is its default row)")
                continue
            out.append(c)
        for label, why in self.skipped.items():
            say("  s9 skip %s: %s" % (label, why))
        return out

    # --- starting and stopping -------------------------------------------------------------

    def argv(self, case, port, workdir, tag, processes, threads, max_requests):
        addr = "127.0.0.1:%d" % port
        venv = self.ctx.venv
        if case.server == "ebb":
            v = [self.ctx.ebb, "--http-socket", addr, "-p", str(processes), "--threads",
                 str(threads), "--chdir", self.site, "--pythonpath", self.site,
                 "--module", MODULE, "--virtualenv", venv, "--log-format", "json",
                 "--disable-logging"]
            if case.lazy:
                v.append("--lazy-apps")
            if max_requests:
                v += ["--max-requests", str(max_requests)]
        elif case.server == "uwsgi":
            fifo = os.path.join(workdir, "%s-uwsgi.fifo" % tag)
            if os.path.exists(fifo):
                os.unlink(fifo)
            v = [os.path.join(venv, "bin", "uwsgi"), self.ctx.uwsgi_http_opt, addr, "--master",
                 "--processes", str(processes), "--threads", str(threads), "--chdir", self.site,
                 "--pythonpath", self.site, "--module", MODULE, "--need-app",
                 "--disable-logging", "--master-fifo", fifo]
            if self.ctx.uwsgi_http_opt == "--http-socket":
                v.append("--http-keepalive")
            if case.lazy:
                v.append("--lazy-apps")
            if max_requests:
                # uWSGI keeps a worker younger than 10 s (its default) past --max-requests, and
                # sleeps 2 s before a respawn when workers died faster than one per second
                # (its fork-bomb guard): both off, so that it recycles as often as asked.
                v += ["--max-requests", str(max_requests), "--min-worker-lifetime", "1",
                      "--forkbomb-delay", "0"]
        else:
            v = [os.path.join(venv, "bin", "gunicorn"), "-k", "gthread", "-w", str(processes),
                 "--threads", str(threads), "-b", addr, "--chdir", self.site, "--preload",
                 MODULE] + list(self.ctx.gunicorn_extra)
            if max_requests:
                v += ["--max-requests", str(max_requests)]
        return v

    def ready_count(self, case, text, master):
        """Workers ready to serve, by the server's own log."""
        if case.server == "ebb":
            n = 0
            for line in text.splitlines():
                if line.startswith("{") and '"event":"ready"' in line:
                    n += 1
            return n
        if case.server == "uwsgi":
            if case.lazy:
                return sum(1 for m in re.finditer(r"WSGI app \d+ \(mountpoint='[^']*'\) ready "
                                                  r"in .* pid: (\d+)", text)
                           if int(m.group(1)) != master)
            # The app is loaded in the master before any fork: a spawned worker is ready.
            if not re.search(r"WSGI app \d+ \(mountpoint='[^']*'\) ready", text):
                return 0
            return len(re.findall(r"spawned uWSGI worker \d+", text))
        return len(re.findall(r"Booting worker with pid", text))      # after --preload

    def settle(self, run, case, timeout=15.0):
        """Before a stop: uWSGI with --lazy-apps does not stop (its graceful shutdown hangs
        until killed) when told to while a respawned worker is still importing the app, so
        wait until every worker it spawned has loaded it."""
        if not (case.server == "uwsgi" and case.lazy):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = run.log_text()
            spawned = len(re.findall(r"spawned uWSGI worker", text))     # and Respawned
            if self.ready_count(case, text, run.pid) >= spawned:
                return
            time.sleep(0.05)

    def start(self, case, tag, processes, threads=THREADS, max_requests=None):
        """Start; wait until it answers and every worker is ready. Returns (run, timings)."""
        port = procs.free_port()
        slug = case.label.replace(" ", "").replace("--", "-")
        tag = "%s-%s" % (tag, slug)
        log_path = os.path.join(self.workdir, "%s.log" % tag)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env["BENCH_DJSITE_DB"] = os.path.join(self.workdir, "%s.sqlite3" % tag)
        argv = self.argv(case, port, self.workdir, tag, processes, threads, max_requests)
        log = open(log_path, "w")
        t0 = time.monotonic()
        try:
            p = procs.start(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=self.workdir, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        run = Running(SERVERS[case.server](self.ctx), p, port, log_path, None, self.workdir)
        run.tag = tag
        run.argv = argv
        # The first answer is watched by a thread of its own (a GET may wait in the listen
        # queue), the log here, so that neither delays the other's time.
        first = []
        done = threading.Event()

        def probe():
            while not done.is_set():
                if procs.http_get(port, "/pid", timeout=1.0) == 200:
                    first.append(time.monotonic() - t0)
                    return
                done.wait(0.01)
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        ready = None
        deadline = t0 + 120
        try:
            while time.monotonic() < deadline:
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s at start; log %s:\n%s" % (
                        case.label, p.returncode, log_path, run.log_tail()))
                if ready is None and self.ready_count(case, run.log_text(), p.pid) >= processes:
                    ready = time.monotonic() - t0
                if first and ready is not None:
                    break
                time.sleep(0.01)
            else:
                raise RuntimeError("%s: not serving with %d workers ready after 120 s; log %s:\n%s"
                                   % (case.label, processes, log_path, run.log_tail()))
        except BaseException:
            procs.kill_tree(p)
            raise
        finally:
            done.set()
            prober.join(timeout=2)
        return run, {"first_answer_s": round(first[0], 3),
                     "all_ready_s": round(max(first[0], ready), 3)}

    # --- the parts ---------------------------------------------------------------------------

    def memory(self, case, rep, processes, hup):
        run, t = self.start(case, "s9-r%d-mem%d" % (rep + 1, processes), processes)
        try:
            ok, failed, pids = hammer(run.port, self.warm_per_view * len(VIEWS),
                                      conc=2 * processes)
            time.sleep(0.2 if self.args.quick else 0.5)
            pss_kb, nproc = tree_pss_kb(run.pid)
            r = dict(t, case=case.label, server=case.server, rep=rep + 1, part="memory",
                     workers=processes, threads=THREADS, warm_ok=ok, warm_failed=failed,
                     workers_warmed=len(pids), pss_mib=round(pss_kb / 1024.0, 1),
                     processes_measured=nproc, argv=" ".join(run.argv))
            if hup:
                r.update(self.hup(run, case, processes))
            self.settle(run, case)
            r.update(run.stop(timeout=30))
            return r
        finally:
            run.stop(timeout=5)

    def hup(self, run, case, processes):
        """SIGHUP with a light load on: seconds until no process from before it is left and
        `processes` new workers are ready (by the log written since the HUP)."""
        initial = set(procs.descendants(run.pid))
        offset = len(run.log_text())
        client = Client(run.port, rate=20.0)
        client.start()
        t_hup = time.monotonic()
        os.kill(run.pid, signal.SIGHUP)
        replaced = None
        deadline = t_hup + 60
        try:
            while time.monotonic() < deadline:
                now = set(procs.descendants(run.pid))
                if len(now) >= processes and not now & initial and \
                        self.ready_count(case, run.log_text()[offset:], run.pid) >= processes:
                    replaced = time.monotonic() - t_hup
                    break
                time.sleep(0.02)
        finally:
            client.stop()
        failed = sum(1 for _, s, _ in client.records if not s or s >= 500)
        return {"hup_all_new_s": round(replaced, 3) if replaced is not None else None,
                "hup_failed": failed, "hup_requests": len(client.records)}

    def recycle_latency(self, case, rep):
        """One worker (so that one recycle never waits for another's), --max-requests small,
        a paced load; the latency of every replacement."""
        run, _ = self.start(case, "s9-r%d-recycle" % (rep + 1), 1,
                            max_requests=self.recycle_max_requests)
        initial = set(procs.descendants(run.pid))
        client = Client(run.port, rate=self.recycle_rate)
        budget = 10.0 + 4.0 * self.recycles_wanted * self.recycle_max_requests / self.recycle_rate
        t0 = time.monotonic()
        client.start()
        try:
            while time.monotonic() - t0 < budget:
                seen = {p for _, _, p in list(client.records) if p}
                if len(seen - initial) >= self.recycles_wanted:
                    break
                time.sleep(0.1)
            time.sleep(0.3)
        finally:
            client.stop()
        alive = set(procs.descendants(run.pid))
        self.settle(run, case)
        stop = run.stop(timeout=30)
        recs = client.records
        if case.server == "ebb":
            lat, detail = self.ebb_latencies(run, recs)
        else:
            lat, detail = pid_latencies(recs, initial, alive)
        r = dict(case=case.label, server=case.server, rep=rep + 1, part="recycle", workers=1,
                 max_requests=self.recycle_max_requests, rate=self.recycle_rate,
                 requests=len(recs), failed=sum(1 for _, s, _ in recs if not s or s >= 500),
                 recycles=len(lat), latencies_ms=[round(x, 1) for x in lat], **detail)
        r.update(stop)
        return r

    def ebb_latencies(self, run, recs):
        """From each `recycle` event to the `ready` of the next new pid in that slot; also
        spawn -> ready, and recycle -> the new pid's first answer (client side)."""
        events = run.server.events(run)
        first_answer = {}
        for t, s, p in recs:
            if p and s and p not in first_answer:
                first_answer[p] = t
        lat, spawn_ready, to_answer = [], [], []
        for i, (t, ev, f) in enumerate(events):
            if ev != "recycle":
                continue
            slot, old = f.get("worker"), f.get("pid")
            spawned = None
            for t2, ev2, f2 in events[i + 1:]:
                if f2.get("worker") != slot or f2.get("pid") == old:
                    continue
                if ev2 == "spawn" and spawned is None:
                    spawned = t2
                if ev2 == "ready":
                    lat.append((t2 - t) * 1000)
                    if spawned is not None:
                        spawn_ready.append((t2 - spawned) * 1000)
                    if f2.get("pid") in first_answer:
                        to_answer.append((first_answer[f2["pid"]] - t) * 1000)
                    break
        return lat, {"spawn_to_ready_ms": [round(x, 1) for x in spawn_ready],
                     "to_first_answer_ms": [round(x, 1) for x in to_answer],
                     "measured_by": "log: recycle -> ready"}

    def ratio(self, case, rep, mode):
        tag = "s9-r%d-ratio-%s" % (rep + 1, mode)
        run, _ = self.start(case, tag, RATIO_PROCESSES, threads=RATIO_THREADS,
                            max_requests=RATIO_MAX_REQUESTS if mode == "recycle" else None)
        try:
            initial = set(run.workers())
            poller = procs.ChildPoller(run.pid, 0.1)
            poller.start()
            # As scenario 2: half as many connections as processes x threads, 2 wrk threads.
            load = types.SimpleNamespace(connections=RATIO_PROCESSES * RATIO_THREADS // 2,
                                         wrk_threads=2)
            try:
                w = wrk_run(run.port, self.ratio_s, load, path="/")
            finally:
                poller.stop()
            new = {p for _, kind, p in poller.events if kind == "spawn" and p not in initial}
            r = {"case": case.label, "server": case.server, "rep": rep + 1, "part": "ratio",
                 "mode": mode, "rps": w["rps"], "p99_ms": w["p99_ms"], "errors": w["errors"],
                 "new_worker_pids": len(new)}
            self.settle(run, case)
            r.update(run.stop(timeout=30))
            return r
        finally:
            run.stop(timeout=5)

    # --- the run -----------------------------------------------------------------------------

    def run(self):
        for rep in range(self.plan.repeat):
            for case in rotate(list(self.cases), rep):
                self.one_case(case, rep)

    def one_case(self, case, rep):
        for n in self.worker_counts:
            try:
                r = self.memory(case, rep, n, hup=(n == self.worker_counts[0]))
            except Exception as e:
                self.fail(case.label, "memory %d workers" % n, e)
                continue
            self.runs.append(r)
            say("  s9 r%d %-18s %d×%d  PSS %6.1f MiB (%d processes)  first answer %.2f s, all "
                "ready %.2f s  warmed %d/%d workers, %d failed%s" % (
                    rep + 1, case.label, n, THREADS, r["pss_mib"], r["processes_measured"],
                    r["first_answer_s"], r["all_ready_s"], r["workers_warmed"], n,
                    r["warm_failed"],
                    ("  SIGHUP: all new after %s s, %d failed of %d" % (
                        r["hup_all_new_s"], r["hup_failed"], r["hup_requests"]))
                    if "hup_all_new_s" in r else ""))
        try:
            r = self.recycle_latency(case, rep)
            self.runs.append(r)
            lat = r["latencies_ms"]
            say("  s9 r%d %-18s recycle every %d: %d replacements, p50 %s ms, p99 %s ms "
                "(%s)%s  failed %d of %d" % (
                    rep + 1, case.label, r["max_requests"], len(lat),
                    "%.0f" % percentile(lat, 50) if lat else "–",
                    "%.0f" % percentile(lat, 99) if lat else "–", r["measured_by"],
                    ("  spawn→ready p50 %.0f ms" % percentile(r["spawn_to_ready_ms"], 50))
                    if r.get("spawn_to_ready_ms") else "", r["failed"], r["requests"]))
        except Exception as e:
            self.fail(case.label, "recycle latency", e)
        if case.server not in self.ratio_for:
            return
        modes = ("never", "recycle") if rep % 2 == 0 else ("recycle", "never")
        got = {}
        for mode in modes:
            try:
                got[mode] = self.ratio(case, rep, mode)
                self.runs.append(got[mode])
            except Exception as e:
                self.fail(case.label, "ratio %s" % mode, e)
        if len(got) == 2:
            n, c = got["never"], got["recycle"]
            say("  s9 r%d %-18s wrk GET / %d×%d: never %.0f req/s, recycling every %d %.0f req/s "
                "(%d new pids, %d errors): ratio %.2f" % (
                    rep + 1, case.label, RATIO_PROCESSES, RATIO_THREADS, n["rps"],
                    RATIO_MAX_REQUESTS, c["rps"], c["new_worker_pids"], c["errors"],
                    c["rps"] / n["rps"] if n["rps"] else 0))

    # --- results -----------------------------------------------------------------------------

    def summary(self):
        out = []
        for case in self.cases:
            rs = [r for r in self.runs if r["case"] == case.label]
            if not rs:
                continue
            row = {"case": case.label, "server": case.server}
            for n in self.worker_counts:
                m = [r for r in rs if r["part"] == "memory" and r["workers"] == n]
                row["pss_mib_%d" % n] = spread(r["pss_mib"] for r in m)
                row["all_ready_s_%d" % n] = spread(r["all_ready_s"] for r in m)
                row["first_answer_s_%d" % n] = spread(r["first_answer_s"] for r in m)
            h = [r for r in rs if r["part"] == "memory" and "hup_all_new_s" in r]
            row["hup_all_new_s"] = spread(r["hup_all_new_s"] for r in h)
            row["hup_failed"] = sum(r["hup_failed"] for r in h)
            rc = [r for r in rs if r["part"] == "recycle"]
            lat = [x for r in rc for x in r["latencies_ms"]]
            row["recycles"] = len(lat)
            row["replace_p50_ms"] = round(percentile(lat, 50), 1) if lat else None
            row["replace_p99_ms"] = round(percentile(lat, 99), 1) if lat else None
            s2r = [x for r in rc for x in r.get("spawn_to_ready_ms", [])]
            row["spawn_to_ready_p50_ms"] = round(percentile(s2r, 50), 1) if s2r else None
            row["recycle_failed"] = sum(r["failed"] for r in rc)
            row["measured_by"] = rc[0]["measured_by"] if rc else None
            ratios = []
            for rep in range(1, self.plan.repeat + 1):
                a = [r["rps"] for r in rs if r["part"] == "ratio" and r["rep"] == rep
                     and r["mode"] == "recycle"]
                b = [r["rps"] for r in rs if r["part"] == "ratio" and r["rep"] == rep
                     and r["mode"] == "never"]
                if a and b and b[0]:
                    ratios.append(a[0] / b[0])
            row["ratio"] = spread(ratios)
            for mode in ("never", "recycle"):
                m = [r for r in rs if r["part"] == "ratio" and r["mode"] == mode]
                row["rps_" + mode] = spread(r["rps"] for r in m)
                row["errors_" + mode] = sum(r["errors"] for r in m)
            row["new_pids_recycle"] = spread(r["new_worker_pids"] for r in rs
                                             if r["part"] == "ratio" and r["mode"] == "recycle")
            out.append(row)
        return out

    def result(self):
        res = Scenario.result(self)
        res["not_measured"] = dict(self.skipped)
        for c in self.cases:
            if c.server not in self.ratio_for:
                res["not_measured"][c.label + " (ratio)"] = \
                    "quick mode measures the ratio for ebb only"
        res["settings"] = {"views": list(VIEWS), "threads": THREADS,
                           "workers": list(self.worker_counts),
                           "warm_per_view": self.warm_per_view,
                           "recycle_max_requests": self.recycle_max_requests,
                           "recycle_rate": self.recycle_rate,
                           "recycles_wanted": self.recycles_wanted,
                           "ratio": {"processes": RATIO_PROCESSES, "threads": RATIO_THREADS,
                                     "max_requests": RATIO_MAX_REQUESTS, "seconds": self.ratio_s}}
        return res

    def missing(self):
        parts = {(r["case"], r["part"]) for r in self.runs}
        return ["%s %s" % (c.label, part) for c in self.cases
                for part in ("memory", "recycle", "ratio") if (c.label, part) not in parts
                and (part != "ratio" or c.server in self.ratio_for)]


def pid_latencies(recs, initial, alive_at_end):
    """Old pid's last answer -> a new pid's first answer: each new pid (in the order of its
    first answer) paired with the earliest unpaired pid that had stopped answering (and was
    gone at the end) before it."""
    first, last = {}, {}
    for t, s, p in recs:
        if not p or not s:
            continue
        first.setdefault(p, t)
        last[p] = t
    news = sorted((first[p], p) for p in first if p not in initial)
    ended = sorted((last[p], p) for p in last if p not in alive_at_end)
    used, lat = set(), []
    for t_new, p_new in news:
        cands = [(t_end, p) for t_end, p in ended if p not in used and p != p_new
                 and t_end < t_new]
        if not cands:
            continue
        t_end, p_old = cands[0]
        used.add(p_old)
        lat.append((t_new - t_end) * 1000)
    return lat, {"measured_by": "client: old pid's last answer -> new pid's first answer"}


def report_lines(sc):
    """Markdown for results/latest.md."""
    from .report import fmt, table
    L = ["## 9. Django: memory and replacement speed", ""]
    st = sc.get("settings", {})
    L.append("The Django site `scripts/bench-apps/djsite/` (admin, auth, contenttypes, sessions, "
             "messages, staticfiles; templates; ORM on SQLite) under each way a server loads an "
             "app, alternated. PSS = master and every descendant (`/proc/PID/smaps_rollup`), "
             "after %d requests to each of %s with %s threads per worker. *Ready* = start until "
             "every worker is ready by the server's log (ebb `ready` events, uWSGI app-ready or "
             "worker-spawned lines, gunicorn's `Booting worker`). *SIGHUP* = under 20 req/s, "
             "until no process from before it is left and as many new workers are ready. "
             "*Replacement* = one worker, `--max-requests %s` at %s req/s: ebb from "
             "its `recycle` log event to the replacement's `ready`; uWSGI and gunicorn from the "
             "old pid's last answer to the new pid's first. *Ratio* = wrk `GET /` on %d×%d, "
             "recycling every %d requests / never (errors: wrk's, while recycling). uWSGI gets "
             "`--min-worker-lifetime 1 --forkbomb-delay 0` with `--max-requests`, or it would "
             "keep young workers past the limit and sleep 2 s between quick respawns." % (
                 st.get("warm_per_view", 0), ", ".join("`%s`" % v for v in st.get("views", [])),
                 st.get("threads"), st.get("recycle_max_requests"), st.get("recycle_rate"),
                 st.get("ratio", {}).get("processes", 0), st.get("ratio", {}).get("threads", 0),
                 st.get("ratio", {}).get("max_requests", 0)))
    L.append("")
    rows = []
    for r in sc["summary"]:
        rows.append([r["case"], fmt(r.get("pss_mib_4"), 1), fmt(r.get("pss_mib_8"), 1),
                     fmt(r.get("all_ready_s_4"), 2, " s"), fmt(r["hup_all_new_s"], 2, " s"),
                     "%s / %s ms (%d)" % (fmt({"median": r["replace_p50_ms"], "n": 1}, 0),
                                          fmt({"median": r["replace_p99_ms"], "n": 1}, 0),
                                          r["recycles"]) if r["recycles"] else "–",
                     fmt(r["ratio"], 2), "%s / %s" % (fmt(r["rps_never"]), fmt(r["rps_recycle"])),
                     r["errors_recycle"] if r["rps_recycle"] else "–"])
    L.append(table(["", "PSS 4 workers (MiB)", "PSS 8 workers (MiB)", "start to all ready (4)",
                    "SIGHUP until all new", "replacement p50 / p99 (recycles)",
                    "recycling / steady", "req/s steady / recycling", "errors"], rows))
    L.append("")
    L.append("Command lines (4 workers; PORT, paths shortened):")
    L.append("")
    seen = set()
    for r in sc["runs"]:
        if r.get("part") == "memory" and r["case"] not in seen and r.get("argv"):
            seen.add(r["case"])
            argv = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", r["argv"])
            argv = re.sub(r"/\S*/(target|scripts)/", r"\1/", argv)
            argv = re.sub(r"\S*/(s9-[^ ]*\.fifo)", r"\1", argv)
            L.append("- %s: `%s`" % (r["case"], argv))
    L.append("")
    for label, why in sc.get("not_measured", {}).items():
        L.append("Not measured: %s: %s." % (label, why))
        L.append("")
    return L


def _selftest():     # python3 -m bench_lib.forkserver: the pairing on a made-up record
    recs = [(0.0, 200, 1), (0.1, 200, 2), (0.2, 200, 1), (0.5, 200, 3), (0.6, 200, 2),
            (0.9, 200, 4), (1.0, 200, 3)]
    lat, _ = pid_latencies(recs, {1, 2}, {3, 4})
    assert [round(x) for x in lat] == [300, 300], lat
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 99) == 4
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    _selftest()

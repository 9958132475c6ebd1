"""The scenarios (1-6 here, 7-8 in features.py). Each returns a dict of raw runs plus a summary; errors are recorded per
server so that one server failing does not hide the others' numbers."""

import os
import signal
import socket
import subprocess
import time

from . import procs, servers as srvmod
from .load import BROWSER_HEADERS, JobSender, Wrk, read_journal, wrk_run
from .features import AccessLog, StaticFiles
from .forkserver import ForkServer
from .procs import ChildPoller, say
from .scenario import Scenario, rotate, spread


# --- 1 -----------------------------------------------------------------------------------

class Hello(Scenario):
    key = "1"
    title = "Hello world and a 1 ms app"
    # (app, connection, headers).  "sleep1" is GET /sleep?ms=1: the app waits 1 ms (a quick
    # database query; the GIL is free meanwhile).  --quick measures the plain rows only.
    VARIANTS = [("hello", "keep-alive", "plain"), ("hello", "keep-alive", "browser"),
                ("hello", "close", "plain"), ("hello", "close", "browser"),
                ("sleep1", "keep-alive", "plain"), ("sleep1", "close", "plain")]
    PATHS = {"hello": "/", "sleep1": "/sleep?ms=1"}

    def variants(self):
        if self.args.quick:
            return [v for v in self.VARIANTS if v[2] == "plain"]
        return self.VARIANTS

    def headers(self, conn, hdrs):
        h = list(BROWSER_HEADERS) if hdrs == "browser" else []
        if conn == "close":
            h.append("Connection: close")
        return h

    def run(self):
        # A fresh server for every variant, so that one that broke (or slowed) under one kind
        # of load does not spoil the next figure; after each run, a plain GET tells whether it
        # still answers.
        # Servers alternate within each variant (the order rotated every repetition), so that
        # the figures compared side by side are measured minutes, not a whole run, apart.
        for rep in range(self.plan.repeat):
            for app, conn, hdrs in self.variants():
                for srv in rotate(self.servers, rep):
                    tag = "s1-r%d-%s-%s-%s" % (rep + 1, app, conn, hdrs)
                    try:
                        run = srv.start(self.workdir, tag)
                    except Exception as e:
                        self.fail(srv.name, "start", e)
                        continue
                    try:
                        self.one(srv, run, rep, app, conn, hdrs)
                    except Exception as e:
                        self.fail(srv.name, "%s %s/%s" % (app, conn, hdrs), e)
                    finally:
                        run.stop(timeout=30)

    def one(self, srv, run, rep, app, conn, hdrs):
        path = self.PATHS[app]
        if self.plan.warmup > 0:
            wrk_run(run.port, self.plan.warmup, self.args, path=path)
        r = wrk_run(run.port, self.plan.hello_s, self.args, path=path,
                    headers=self.headers(conn, hdrs), workdir=self.workdir)
        r.update(server=srv.name, rep=rep + 1, app=app, conn=conn, headers=hdrs, http10=False)
        if conn == "close" and (r["conns_per_request"] or 0) < 0.9:
            # The server kept the connection open despite `Connection: close` (uWSGI's
            # --http11-socket does, for some of its connections or all), so wrk went on using
            # it: that is (partly) a keep-alive figure.  A server that closes shows about 1.
            # Measure again with HTTP/1.0 requests, which every server closes, so the column
            # means one connection per request.
            say("  s1 r%d %-8s ignored `Connection: close` (%.3f connections per request, "
                "%.0f req/s): measuring again with HTTP/1.0 requests"
                % (rep + 1, srv.name, r["conns_per_request"] or 0, r["rps"]))
            r2 = wrk_run(run.port, self.plan.hello_s, self.args, path=path,
                         headers=self.headers("keep-alive", hdrs), http10=True,
                         workdir=self.workdir)
            r2.update(server=srv.name, rep=rep + 1, app=app, conn=conn, headers=hdrs,
                      http10=True,
                      ignored_close={k: r[k] for k in ("rps", "p50_ms", "p99_ms", "p999_ms",
                                                       "conns_per_request", "errors")})
            r = r2
        # Does it still answer? (A server that stopped accepting shows up here, not in wrk's
        # latency: wrk times requests from when they are sent, not from connect().)
        r["answers_after"] = procs.http_get(run.port, timeout=3.0) == 200
        self.runs.append(r)
        say("  s1 r%d %-8s %-6s %-10s %-7s %8.0f req/s  p50 %6.2f  p99 %6.2f  p99.9 %6.2f ms  "
            "errors %d  conns/req %s%s%s"
            % (rep + 1, srv.name, app, conn, hdrs, r["rps"], r["p50_ms"] or -1,
               r["p99_ms"] or -1, r["p999_ms"] or -1,
               r["errors"], r["conns_per_request"], "  (HTTP/1.0)" if r["http10"] else "",
               "" if r["answers_after"] else "  STOPPED ANSWERING"))
        if not r["answers_after"]:
            self.errors.append({"server": srv.name, "error": "%s/%s: the server no longer "
                                "answered GET / after the run (see %s)" % (
                                    conn, hdrs, os.path.relpath(run.log_path, self.ctx.root))})

    def summary(self):
        out = []
        for srv in self.servers:
            for app, conn, hdrs in self.VARIANTS:
                rs = [r for r in self.runs if r["server"] == srv.name and r["conn"] == conn
                      and r["headers"] == hdrs and r.get("app", "hello") == app]
                if not rs:
                    continue
                out.append({"server": srv.name, "app": app, "conn": conn, "headers": hdrs,
                            "rps": spread(r["rps"] for r in rs),
                            "p50_ms": spread(r["p50_ms"] for r in rs),
                            "p99_ms": spread(r["p99_ms"] for r in rs),
                            "p999_ms": spread(r.get("p999_ms") for r in rs),
                            "errors": sum(r["errors"] for r in rs),
                            "conns_per_request": spread(r["conns_per_request"] for r in rs),
                            "http10_runs": sum(1 for r in rs if r["http10"]),
                            "stopped_answering": sum(1 for r in rs if not r["answers_after"]),
                            "ignored_close_rps": spread(r["ignored_close"]["rps"] for r in rs
                                                        if r.get("ignored_close"))})
        return out

    def missing(self):
        got = {(r["server"], r["app"], r["conn"], r["headers"]) for r in self.runs}
        return ["%s %s %s/%s" % (s.name, a, c, h) for s in self.servers
                for a, c, h in self.variants() if (s.name, a, c, h) not in got]


# --- helpers for the scenarios with jobs ------------------------------------------------

def job_outcome(journal, sender, expected=None):
    starts, dones = read_journal(journal)
    lost = [i for i in starts if i not in dones]
    sent = len(sender.ok) + len(sender.failed)
    return {"jobs_expected": expected, "jobs_sent": sent,
            # The side client sends one job at a time: far fewer than its rate means the server
            # left its new connections waiting (starved by the load's keep-alive connections).
            "side_client_starved": bool(expected and sent < 0.5 * expected),
            "jobs_answered": len(sender.ok),
            "side_slowest_s": sender.slowest(),
            "side_over_1s": sum(1 for x in sender.latencies if x > 1.0),
            "jobs_failed": len(sender.failed), "jobs_started": len(starts),
            "jobs_done": len(dones), "jobs_lost": len(lost), "lost_ids": lost[:50]}


def relative_marks(marks, t0):
    return [(round(t - t0, 3), what) for t, what in marks]


# --- 2 -----------------------------------------------------------------------------------

class Recycle(Scenario):
    key = "2"
    title = "Recycling with background jobs"

    def one(self, srv, rep, mode):
        tag = "s2-r%d-%s" % (rep + 1, mode)
        journal = os.path.join(self.workdir, "%s-%s.journal" % (tag, srv.name))
        run = srv.start(self.workdir, tag, journal=journal,
                        max_requests=self.plan.max_requests if mode == "recycle" else None)
        poller = ChildPoller(run.pid, 0.1)
        sender = None
        try:
            initial = set(run.workers())
            poller.start()
            sender = JobSender(run.port, "%s-%s" % (tag, srv.name), self.plan.job_rate, 2000)
            sender.start()
            r = wrk_run(run.port, self.plan.recycle_s, self.args, per_second=True,
                        workdir=self.workdir)
            sender.stop()
            r.update(run.stop(timeout=120))
        finally:
            if sender:
                sender.stop()
            poller.stop()
            run.stop(timeout=5)
        t0 = r["started"]
        pid_marks = srvmod.pid_marks(poller, initial)
        marks = srv.recycle_marks(run) if srv.name == "ebb" else pid_marks
        r.update(job_outcome(journal, sender, int(self.plan.job_rate * self.plan.recycle_s)))
        r.update(server=srv.name, rep=rep + 1, mode=mode,
                 recycles=(sum(1 for _, w in marks if w == "recycle") if srv.name == "ebb"
                           else len(pid_marks)),
                 new_worker_pids=len(pid_marks),
                 marks=relative_marks(marks, t0),
                 pid_marks=relative_marks(pid_marks, t0))
        if "per_second" in r:
            r["per_second"] = [(s - int(t0), ok, bad) for s, ok, bad in r["per_second"]]
            r["t0_frac"] = round(t0 - int(t0), 3)
        r["failed"] = r["errors"] + r["jobs_failed"]
        return r

    def run(self):
        for rep in range(self.plan.repeat):
            for srv in rotate(self.servers, rep):
                modes = ("never", "recycle") if rep % 2 == 0 else ("recycle", "never")
                for mode in modes:
                    try:
                        r = self.one(srv, rep, mode)
                    except Exception as e:
                        self.fail(srv.name, mode, e)
                        continue
                    self.runs.append(r)
                    say("  s2 r%d %-8s %-7s %8.0f req/s  recycles %3d  failed %d  jobs %d/%d done, "
                        "lost %d  stop %.1fs%s" % (
                            rep + 1, srv.name, mode, r["rps"], r["recycles"], r["failed"],
                            r["jobs_done"], r["jobs_started"], r["jobs_lost"], r["stop_s"],
                            " FORCED" if r["forced"] else "")
                        + ("  SIDE CLIENT STARVED (%d of %d jobs sent)" % (
                            r["jobs_sent"], r["jobs_expected"]) if r["side_client_starved"] else ""))

    def summary(self):
        out = []
        for srv in self.servers:
            row = {"server": srv.name}
            for mode in ("never", "recycle"):
                rs = [r for r in self.runs if r["server"] == srv.name and r["mode"] == mode]
                row[mode] = {"rps": spread(r["rps"] for r in rs),
                             "failed": sum(r["failed"] for r in rs),
                             "jobs_lost": sum(r["jobs_lost"] for r in rs),
                             "jobs_started": sum(r["jobs_started"] for r in rs),
                             "recycles": spread(r["recycles"] for r in rs),
                             "jobs_sent": sum(r["jobs_sent"] for r in rs),
                             "starved_runs": sum(1 for r in rs if r["side_client_starved"]),
                             "side_slowest_s": spread(r["side_slowest_s"] for r in rs),
                             "runs": len(rs)}
            # The ratio per repetition (recycle / never of the same repetition), then its spread.
            ratios = []
            for rep in range(1, self.plan.repeat + 1):
                a = [r["rps"] for r in self.runs if r["server"] == srv.name and r["rep"] == rep
                     and r["mode"] == "recycle"]
                b = [r["rps"] for r in self.runs if r["server"] == srv.name and r["rep"] == rep
                     and r["mode"] == "never"]
                if a and b and b[0]:
                    ratios.append(a[0] / b[0])
            row["ratio"] = spread(ratios)
            out.append(row)
        return out

    def missing(self):
        got = {(r["server"], r["mode"]) for r in self.runs}
        return ["%s %s" % (s.name, m) for s in self.servers for m in ("never", "recycle")
                if (s.name, m) not in got]


# --- 3 -----------------------------------------------------------------------------------

class LongJobs(Scenario):
    key = "3"
    title = "Jobs longer than the grace window"

    def one(self, srv, rep):
        tag = "s3-r%d" % (rep + 1)
        journal = os.path.join(self.workdir, "%s-%s.journal" % (tag, srv.name))
        run = srv.start(self.workdir, tag, journal=journal, max_requests=self.plan.long_max_requests,
                        grace=self.plan.long_grace)
        poller = ChildPoller(run.pid, 0.1)
        try:
            initial = set(run.workers())
            poller.start()
            sender = JobSender(run.port, "%s-%s" % (tag, srv.name), self.plan.long_rate,
                               self.plan.long_job_ms, count=self.plan.long_jobs,
                               extra=self.plan.long_extra)
            t_send = time.monotonic()
            sender.run()            # here, not in a thread: it ends after `count` jobs
            sender.elapsed = time.monotonic() - t_send
            # Let the jobs of the workers that were not recycled finish, and any drain in
            # progress end (grace), so the graceful stop itself kills nothing.
            time.sleep(self.plan.long_job_ms / 1000.0 + self.plan.long_grace + 1.0)
            r = run.stop(timeout=60)
        finally:
            poller.stop()
            run.stop(timeout=5)
        r.update(job_outcome(journal, sender))
        r["window_s"] = round(sender.elapsed, 1)
        text = run.log_text()
        lost = [i for i in read_journal(journal)[0] if i not in read_journal(journal)[1]]
        named, kills = srvmod.grep_loss(text, lost, srv.KILL_PATTERNS)
        r.update(server=srv.name, rep=rep + 1, recycles=len(srvmod.pid_marks(poller, initial)),
                 lost_ids_in_log=len(named), kill_messages=len(kills), kill_sample=kills[:3],
                 logged=bool(named or kills),
                 extra_requests_failed=sender.extra_failed)
        return r

    def run(self):
        for rep in range(self.plan.repeat):
            for srv in rotate(self.servers, rep):
                try:
                    r = self.one(srv, rep)
                except Exception as e:
                    self.fail(srv.name, "run", e)
                    continue
                self.runs.append(r)
                say("  s3 r%d %-8s jobs %d started, %d done, lost %d; recycles %d; slowest "
                    "answer %.2f s; log names %d lost ids, %d kill lines%s" % (
                        rep + 1, srv.name, r["jobs_started"], r["jobs_done"], r["jobs_lost"],
                        r["recycles"], r["side_slowest_s"] or 0, r["lost_ids_in_log"],
                        r["kill_messages"],
                        (": " + r["kill_sample"][0][:120]) if r["kill_sample"] else ""))

    def summary(self):
        out = []
        for srv in self.servers:
            rs = [r for r in self.runs if r["server"] == srv.name]
            if not rs:
                continue
            out.append({"server": srv.name,
                        "jobs_lost": spread(r["jobs_lost"] for r in rs),
                        "jobs_started": spread(r["jobs_started"] for r in rs),
                        "recycles": spread(r["recycles"] for r in rs),
                        "side_slowest_s": spread(r["side_slowest_s"] for r in rs),
                        "runs_with_loss": sum(1 for r in rs if r["jobs_lost"]),
                        "runs_with_loss_logged": sum(1 for r in rs if r["jobs_lost"] and r["logged"]),
                        "lost_ids_named": sum(r["lost_ids_in_log"] for r in rs),
                        "kill_sample": next((r["kill_sample"][0] for r in rs if r["kill_sample"]), ""),
                        "failed": sum(r["jobs_failed"] + r["extra_requests_failed"] for r in rs)})
        return out


# --- 4 -----------------------------------------------------------------------------------

class Hup(Scenario):
    key = "4"
    title = "SIGHUP under load"

    def one(self, srv, rep):
        tag = "s4-r%d" % (rep + 1)
        journal = os.path.join(self.workdir, "%s-%s.journal" % (tag, srv.name))
        run = srv.start(self.workdir, tag, journal=journal)
        poller = ChildPoller(run.pid, 0.05, with_env="EBB_CONFIG_GENERATION" if srv.name == "ebb" else None)
        sender = w = None
        try:
            initial = set(run.workers())
            poller.start()
            sender = JobSender(run.port, "%s-%s" % (tag, srv.name), self.plan.job_rate, 2000)
            sender.start()
            w = Wrk(run.port, self.plan.hup_s, self.args, per_second=True, workdir=self.workdir)
            time.sleep(self.plan.hup_s / 3.0)
            t_hup = time.time()
            run.hup()
            r = w.result()
            # Wait (bounded) until no worker from before the HUP is left.
            deadline = time.time() + 90
            replaced = None
            while time.time() < deadline:
                with poller.lock:
                    samples = [s for s in poller.samples if s[0] >= t_hup]
                for t, pids in samples:
                    if pids and len(pids) >= self.args.processes and not (set(pids) & initial):
                        replaced = t
                        break
                if replaced:
                    break
                time.sleep(0.1)
            sender.stop()
            r.update(run.stop(timeout=120))
        finally:
            if w:
                procs.kill_tree(w.p)
            if sender:
                sender.stop()
            poller.stop()
            run.stop(timeout=5)
        spawns = [t for t, kind, pid in poller.events if kind == "spawn" and pid not in initial]
        r.update(job_outcome(journal, sender, int(self.plan.job_rate * self.plan.hup_s)))
        r.update(server=srv.name, rep=rep + 1,
                 replaced_s=round(replaced - t_hup, 3) if replaced else None,
                 first_new_s=round(min(spawns) - t_hup, 3) if spawns else None,
                 hup_at_s=round(t_hup - r["started"], 3))
        if srv.name == "ebb":
            # Cross-check with EBB_CONFIG_GENERATION: every worker that appeared after the HUP carries a newer
            # epoch than the first ones.
            epochs_old = {poller.env_of.get(p) for p in initial}
            epochs_new = {poller.env_of.get(p) for t, kind, p in poller.events
                          if kind == "spawn" and p not in initial}
            r["epochs_before"], r["epochs_after"] = sorted(map(str, epochs_old)), sorted(map(str, epochs_new))
            events = srv.events(run)
            marks = [(t, ev) for t, ev, _ in events if ev in ("reload", "ready", "drain", "drained")
                     and t >= t_hup]
            r["log_marks"] = relative_marks(marks, t_hup)
            # When the last worker from before the HUP stopped accepting (its `drain` event):
            # from then on only new workers serve; the old ones only finish their jobs.
            drains = [t for t, ev, f in events if ev == "drain" and t >= t_hup
                      and f.get("pid") in initial]
            if drains and len(drains) >= len(initial):
                r["old_stopped_accepting_s"] = round(max(drains) - t_hup, 3)
        if "per_second" in r:
            t0 = r["started"]
            r["per_second"] = [(s - int(t0), ok, bad) for s, ok, bad in r["per_second"]]
        r["failed"] = r["errors"] + r["jobs_failed"]
        return r

    def run(self):
        for rep in range(self.plan.repeat):
            for srv in rotate(self.servers, rep):
                try:
                    r = self.one(srv, rep)
                except Exception as e:
                    self.fail(srv.name, "run", e)
                    continue
                self.runs.append(r)
                say("  s4 r%d %-8s %8.0f req/s  failed %d (wrk %d, jobs %d)  lost jobs %d  "
                    "all workers new after %s s%s" % (
                        rep + 1, srv.name, r["rps"], r["failed"], r["errors"], r["jobs_failed"],
                        r["jobs_lost"], r["replaced_s"],
                        ("  epochs %s -> %s" % (r["epochs_before"], r["epochs_after"]))
                        if "epochs_before" in r else ""))

    def summary(self):
        out = []
        for srv in self.servers:
            rs = [r for r in self.runs if r["server"] == srv.name]
            if not rs:
                continue
            out.append({"server": srv.name, "rps": spread(r["rps"] for r in rs),
                        "failed": spread(r["failed"] for r in rs),
                        "jobs_lost": spread(r["jobs_lost"] for r in rs),
                        "replaced_s": spread(r["replaced_s"] for r in rs),
                        "not_replaced": sum(1 for r in rs if r["replaced_s"] is None),
                        "side_slowest_s": spread(r["side_slowest_s"] for r in rs),
                        "old_stopped_accepting_s": spread(r.get("old_stopped_accepting_s")
                                                          for r in rs),
                        "first_new_s": spread(r["first_new_s"] for r in rs)})
        return out


# --- 5 -----------------------------------------------------------------------------------

class Footprint(Scenario):
    key = "5"
    title = "Master footprint (idle)"

    @staticmethod
    def sample(pid):
        st = procs.proc_status(pid)
        kids = procs.children(pid)
        return {"rss_kb": st["rss_kb"], "ctxt_main": st["ctxt"],
                "ctxt_all": procs.proc_threads_ctxt(pid), "cpu_s": procs.proc_cpu_s(pid),
                "workers": {k: (procs.proc_cpu_s(k), procs.proc_threads_ctxt(k)) for k in kids
                            if procs.alive(k)},
                "workers_pss_kb": sum(procs.proc_pss_kb(k) or 0 for k in kids),
                "t": time.monotonic()}

    def run(self):
        for rep in range(self.plan.repeat):
            started = []
            try:
                for srv in rotate(self.servers, rep):
                    try:
                        started.append((srv, srv.start(self.workdir, "s5-r%d" % (rep + 1))))
                    except Exception as e:
                        self.fail(srv.name, "start", e)
                time.sleep(2)
                before = {}
                for srv, run in started:
                    before[srv.name] = self.sample(run.pid)
                time.sleep(self.plan.idle_s)
                for srv, run in started:
                    try:
                        a, b = before[srv.name], self.sample(run.pid)
                    except Exception as e:
                        self.fail(srv.name, "sample", e)
                        continue
                    window = b["t"] - a["t"]
                    same = set(a["workers"]) & set(b["workers"])
                    r = {"server": srv.name, "rep": rep + 1, "window_s": round(window, 2),
                         "rss_kb": b["rss_kb"],
                         "cpu_ms": round((b["cpu_s"] - a["cpu_s"]) * 1000, 1),
                         "wakeups_per_s": round((b["ctxt_all"] - a["ctxt_all"]) / window, 2),
                         "wakeups_main_per_s": round((b["ctxt_main"] - a["ctxt_main"]) / window, 2),
                         "workers": len(b["workers"]),
                         "workers_pss_kb": b["workers_pss_kb"],
                         "workers_cpu_ms": round(sum(b["workers"][k][0] - a["workers"][k][0]
                                                     for k in same) * 1000, 1),
                         "workers_wakeups_per_s": round(sum(b["workers"][k][1] - a["workers"][k][1]
                                                            for k in same) / window, 2)}
                    self.runs.append(r)
                    say("  s5 r%d %-8s master RSS %6d kB, CPU %6.1f ms, %6.2f wake-ups/s over %.0f s;"
                        " workers: PSS %d kB, CPU %.1f ms, %.2f wake-ups/s" % (
                            rep + 1, srv.name, r["rss_kb"], r["cpu_ms"], r["wakeups_per_s"], window,
                            r["workers_pss_kb"], r["workers_cpu_ms"], r["workers_wakeups_per_s"]))
            finally:
                for srv, run in started:
                    run.stop(timeout=30)

    def summary(self):
        out = []
        for srv in self.servers:
            rs = [r for r in self.runs if r["server"] == srv.name]
            if not rs:
                continue
            out.append({"server": srv.name, "window_s": rs[0]["window_s"],
                        **{k: spread(r[k] for r in rs) for k in (
                            "rss_kb", "cpu_ms", "wakeups_per_s", "wakeups_main_per_s",
                            "workers_pss_kb", "workers_cpu_ms", "workers_wakeups_per_s")}})
        return out


# --- 6 -----------------------------------------------------------------------------------

class Overhead(Scenario):
    key = "6"
    title = "Supervisor overhead (example app)"
    MODES = ("alone", "under ebb")

    def start(self, mode, rep):
        port = procs.free_port()
        log_path = os.path.join(self.workdir, "s6-r%d-%s.log" % (rep + 1, mode.replace(" ", "-")))
        env = dict(os.environ)
        if mode == "alone":
            env["EBB_EXAMPLE_BIND"] = "127.0.0.1:%d" % port
            argv = [self.ctx.ebb, "example-app"]
        else:
            argv = [self.ctx.ebb, "--http-socket", "127.0.0.1:%d" % port, "-p", "1", "--example-app"]
        with open(log_path, "w") as log:
            p = procs.start(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s" % (argv, p.returncode, log_path))
            if procs.http_get(port) == 200:
                return p, port
            time.sleep(0.05)
        procs.kill_tree(p)
        raise RuntimeError("%s did not answer in 20 s; see %s" % (argv, log_path))

    def reps(self):
        # Twice the usual repetitions: the noisiest figure (a ~100k req/s server sharing 2 cores
        # with wrk), and the cheapest (one server).
        return 2 * self.plan.repeat

    def run(self):
        for rep in range(self.reps()):
            for mode in (self.MODES if rep % 2 == 0 else self.MODES[::-1]):
                try:
                    p, port = self.start(mode, rep)
                except Exception as e:
                    self.fail("ebb", mode, e)
                    continue
                try:
                    time.sleep(0.5)
                    self.warmup(port)
                    r = wrk_run(port, self.plan.overhead_s, self.args)
                    r.update(server="ebb", mode=mode, rep=rep + 1)
                    self.runs.append(r)
                    say("  s6 r%d %-9s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  errors %d" % (
                        rep + 1, mode, r["rps"], r["p50_ms"] or -1, r["p99_ms"] or -1, r["errors"]))
                except Exception as e:
                    self.fail("ebb", mode, e)
                finally:
                    try:
                        os.kill(p.pid, signal.SIGTERM)
                        p.wait(timeout=15)
                    except (OSError, subprocess.TimeoutExpired):
                        pass
                    procs.kill_tree(p)

    def summary(self):
        out = []
        for mode in self.MODES:
            rs = [r for r in self.runs if r["mode"] == mode]
            if rs:
                out.append({"mode": mode, "rps": spread(r["rps"] for r in rs),
                            "p50_ms": spread(r["p50_ms"] for r in rs),
                            "p99_ms": spread(r["p99_ms"] for r in rs),
                            "errors": sum(r["errors"] for r in rs)})
        ratios = []
        for rep in range(1, self.reps() + 1):
            a = [r["rps"] for r in self.runs if r["rep"] == rep and r["mode"] == "under ebb"]
            b = [r["rps"] for r in self.runs if r["rep"] == rep and r["mode"] == "alone"]
            if a and b and b[0]:
                ratios.append(a[0] / b[0])
        if ratios:
            out.append({"mode": "ratio (under ebb / alone)", "ratio": spread(ratios)})
        return out

    def missing(self):
        got = {r["mode"] for r in self.runs}
        return [m for m in self.MODES if m not in got]


ALL = {c.key: c for c in (Hello, Recycle, LongJobs, Hup, Footprint, Overhead, AccessLog,
                          StaticFiles)}
# Scenario 9 lives in forkserver.py (Django: memory and replacement speed).
ALL[ForkServer.key] = ForkServer

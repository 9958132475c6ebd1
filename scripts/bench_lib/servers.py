"""The three servers: how each is started with the same app, processes and threads, how it is
stopped gracefully, reloaded, and where its log and its recycle events are."""

import datetime
import json
import os
import re
import signal
import subprocess
import time

from . import procs


class Running:
    """One started server: its master, port, log; stop() waits for the graceful stop."""

    def __init__(self, server, p, port, log_path, journal, workdir):
        self.server, self.p, self.port = server, p, port
        self.pid = p.pid
        self.log_path, self.journal, self.workdir = log_path, journal, workdir
        self.stopped = None

    def wait_ready(self, workers, timeout=60.0, settle=1.0):
        """Until GET / answers 200 and the master has `workers` children; then settle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("%s exited with %s at start; log %s:\n%s" % (
                    self.server.name, self.p.returncode, self.log_path, self.log_tail()))
            if procs.http_get(self.port, timeout=1.0) == 200 and \
                    len(procs.children(self.pid)) >= workers:
                time.sleep(settle)
                return
            time.sleep(0.05)
        raise RuntimeError("%s did not become ready in %.0f s; log %s:\n%s" % (
            self.server.name, timeout, self.log_path, self.log_tail()))

    def workers(self):
        return procs.children(self.pid)

    def hup(self):
        os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout=90.0):
        """Graceful stop; kill everything after `timeout`. Returns exit code, seconds, forced."""
        if self.stopped is not None:
            return self.stopped
        t0 = time.monotonic()
        forced = False
        try:
            if self.p.poll() is None:
                self.server.graceful_stop(self)
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            forced = True
        except OSError:
            pass
        took = time.monotonic() - t0
        # Workers that outlive their master (nothing should) are killed and counted as forced.
        left = procs.descendants(self.pid)
        if left:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(procs.alive(x) for x in left):
                time.sleep(0.05)
            forced = forced or any(procs.alive(x) for x in left)
        procs.kill_tree(self.p)
        self.stopped = {"exit": self.p.returncode, "stop_s": round(took, 3), "forced": forced}
        return self.stopped

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def recycle_marks(self):
        return self.server.recycle_marks(self)


class Server:
    name = "?"

    def __init__(self, ctx):
        self.ctx = ctx          # paths: root, venv, ebb, app
        self.args = ctx.args

    def start(self, workdir, tag, max_requests=None, grace=None, journal=None, env=None,
              extra=()):
        """Start it and wait until it serves; `extra` options are appended to its command line
        (options that ebb and uWSGI spell alike, such as --static-map)."""
        port = procs.free_port()
        log_path = os.path.join(workdir, "%s-%s.log" % (tag, self.name))
        argv = self.argv(port, workdir, tag, max_requests, grace) + list(extra)
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        if journal:
            e["BENCH_JOB_JOURNAL"] = journal
        e.update(env or {})
        log = open(log_path, "w")
        try:
            p = procs.start(argv, stdout=log, stderr=subprocess.STDOUT, env=e, cwd=workdir,
                            stdin=subprocess.DEVNULL)
        finally:
            log.close()
        run = Running(self, p, port, log_path, journal, workdir)
        run.tag = tag
        try:
            run.wait_ready(self.args.processes)
        except BaseException:
            procs.kill_tree(p)
            raise
        return run

    def graceful_stop(self, run):
        os.kill(run.pid, signal.SIGTERM)

    def recycle_marks(self, run):
        return []

    # Kill messages a server prints when its grace runs out (scenario 3).
    KILL_PATTERNS = ()


class Ebb(Server):
    name = "ebb"
    KILL_PATTERNS = (r"LOST WORK",)

    def argv(self, port, workdir, tag, max_requests, grace):
        a = self.args
        v = [self.ctx.ebb, "--http-socket", "127.0.0.1:%d" % port, "-p", str(a.processes),
             "--threads", str(a.threads), "--wsgi-file", self.ctx.app,
             # The same interpreter as uWSGI's and gunicorn's (the bench venv's python).
             "--virtualenv", self.ctx.venv, "--log-format", "json",
             # uWSGI runs with --disable-logging here: compare like with like (scenario 7
             # measures the access log).
             "--disable-logging"]
        if max_requests:
            v += ["--max-requests", str(max_requests)]
        if grace is not None:
            v += ["--drain-timeout", str(grace)]
        return v

    def events(self, run):
        """ebb's JSON log events: (epoch seconds, event, fields)."""
        out = []
        for line in run.log_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            # One flat object per line: ts, level, source, worker, pid, …, msg, event.
            f = rec.get("fields", rec)
            ts = rec.get("ts") or rec.get("timestamp")
            try:
                t = datetime.datetime.strptime(ts.replace("Z", "+0000"),
                                               "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            except (ValueError, AttributeError):
                continue
            out.append((t, f.get("event") or "", f))
        return out

    def recycle_marks(self, run):
        return [(t, ev) for t, ev, _ in self.events(run) if ev in ("recycle", "drained")]


class Uwsgi(Server):
    name = "uwsgi"
    # Not "killed": uWSGI says "worker N killed successfully" after every normal recycle.
    KILL_PATTERNS = (r"NO MERCY", r"taking too much time to die")

    def argv(self, port, workdir, tag, max_requests, grace):
        a = self.args
        fifo = os.path.join(workdir, "%s-uwsgi.fifo" % tag)
        if os.path.exists(fifo):
            os.unlink(fifo)
        v = [os.path.join(self.ctx.venv, "bin", "uwsgi"), self.ctx.uwsgi_http_opt,
             "127.0.0.1:%d" % port, "--processes", str(a.processes), "--threads", str(a.threads),
             "--wsgi-file", self.ctx.app, "--master", "--disable-logging",
             "--need-app", "--master-fifo", fifo]
        if self.ctx.uwsgi_http_opt == "--http-socket":
            v.append("--http-keepalive")
        if max_requests:
            v += ["--max-requests", str(max_requests)]
        if grace is not None:
            v += ["--worker-reload-mercy", str(grace)]
        return v

    def graceful_stop(self, run):
        # uWSGI 2.0: SIGTERM is a brutal reload, SIGINT/SIGQUIT kill at once; the documented
        # graceful shutdown is `q` on the master FIFO.
        fifo = os.path.join(run.workdir, "%s-uwsgi.fifo" % run.tag)
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            try:
                os.write(fd, b"q")
            finally:
                os.close(fd)
        except OSError:
            os.kill(run.pid, signal.SIGINT)


class Gunicorn(Server):
    name = "gunicorn"
    KILL_PATTERNS = (r"WORKER TIMEOUT", r"SIGKILL", r"Perhaps out of memory")

    def argv(self, port, workdir, tag, max_requests, grace):
        a = self.args
        v = [os.path.join(self.ctx.venv, "bin", "gunicorn"), "-k", "gthread",
             "-w", str(a.processes), "--threads", str(a.threads), "-b", "127.0.0.1:%d" % port,
             "--chdir", os.path.dirname(self.ctx.app),
             "%s:application" % os.path.splitext(os.path.basename(self.ctx.app))[0]]
        v += self.ctx.gunicorn_extra
        if max_requests:
            v += ["--max-requests", str(max_requests)]
        if grace is not None:
            v += ["--graceful-timeout", str(grace)]
        return v


SERVERS = {"ebb": Ebb, "uwsgi": Uwsgi, "gunicorn": Gunicorn}


def pid_marks(poller, initial):
    """Recycle moments seen from outside: a new worker pid appears (after the first ones)."""
    return [(t, "new worker") for t, kind, pid in poller.events if kind == "spawn" and pid not in initial]


def grep_loss(text, ids, patterns):
    """Whether a server's log names the lost job ids, or says that it killed something."""
    named = sorted(i for i in ids if re.search(r"\b%s\b" % re.escape(i), text))
    kills = []
    for line in text.splitlines():
        if any(re.search(p, line) for p in patterns):
            if line.startswith("{"):
                try:       # ebb's JSON log: the message is what a person reads
                    rec = json.loads(line)
                    line = rec["msg"] if "msg" in rec else rec["fields"]["message"]
                except (ValueError, KeyError, TypeError):
                    pass
            kills.append(line.strip()[:300])
    return named, kills

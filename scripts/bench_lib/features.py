"""Scenarios of serving features (7: the access log's cost, 8: static files), each ebb against
uWSGI on the same app, processes and threads."""

import os
import signal
import socket
import subprocess
import time

from . import procs
from .procs import say
from .scenario import Scenario, rotate, spread
from .load import wrk_run


# --- 7 -----------------------------------------------------------------------------------

class AccessLog(Scenario):
    """Hello-world throughput with one access line per request written to a file: ebb (the
    example app, or the Python worker with --log-worker wsgi) against uWSGI with its default
    request logging (--logto FILE), same processes and threads; and ebb with the log off."""
    key = "7"
    title = "Access log cost (hello world, access lines to a file)"

    def cases(self):
        out = []
        names = [s.name for s in self.servers]
        if "ebb" in names:
            out += [("ebb", "log on"), ("ebb", "log off")]
        if "uwsgi" in names:
            out.append(("uwsgi", "log on"))
        return out

    def argv(self, server, mode, port, logfile):
        a = self.args
        addr = "127.0.0.1:%d" % port
        if server == "uwsgi":
            v = [os.path.join(self.ctx.venv, "bin", "uwsgi"), self.ctx.uwsgi_http_opt, addr,
                 "--processes", str(a.processes), "--threads", str(a.threads),
                 "--wsgi-file", self.ctx.app, "--master", "--need-app", "--logto", logfile]
            if self.ctx.uwsgi_http_opt == "--http-socket":
                v.append("--http-keepalive")
            return v
        v = [self.ctx.ebb, "--http-socket", addr, "-p", str(a.processes)]
        if a.log_worker == "wsgi":
            v += ["--threads", str(a.threads), "--wsgi-file", self.ctx.app,
                  "--virtualenv", self.ctx.venv]
        else:
            v += ["--example-app"]
        if mode == "log on":
            v += ["--access-logfile", logfile]
        else:
            v += ["--disable-logging"]
        return v

    def start(self, server, mode, rep):
        port = procs.free_port()
        stem = os.path.join(self.workdir, "s7-r%d-%s-%s" % (rep + 1, server, mode.replace(" ", "-")))
        logfile = stem + ".access.log"
        argv = self.argv(server, mode, port, logfile)
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        # The example app's event loops: as many as the Python worker's threads.
        env["EBB_EXAMPLE_THREADS"] = str(self.args.threads)
        with open(stem + ".log", "w") as log:
            p = procs.start(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                            cwd=self.workdir, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise RuntimeError("%s exited with %s; see %s.log" % (argv[0], p.returncode, stem))
            if procs.http_get(port) == 200:
                return p, port, logfile
            time.sleep(0.05)
        procs.kill_tree(p)
        raise RuntimeError("%s did not answer in 60 s; see %s.log" % (argv[0], stem))

    @staticmethod
    def count_lines(path):
        try:
            with open(path, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except OSError:
            return 0

    def stop(self, server, p):
        try:
            if server == "uwsgi":
                os.kill(p.pid, signal.SIGINT)
            else:
                os.kill(p.pid, signal.SIGTERM)
            p.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            pass
        procs.kill_tree(p)

    def run(self):
        cases = self.cases()
        for rep in range(self.plan.repeat):
            for server, mode in rotate(cases, rep):
                try:
                    p, port, logfile = self.start(server, mode, rep)
                except Exception as e:
                    self.fail(server, mode, e)
                    continue
                try:
                    time.sleep(0.5)
                    self.warmup(port)
                    before = self.count_lines(logfile)
                    r = wrk_run(port, self.plan.overhead_s, self.args)
                    self.stop(server, p)
                    lines = self.count_lines(logfile) - before
                    r.update(server=server, mode=mode, rep=rep + 1, worker=self.args.log_worker,
                             log_lines=lines)
                    self.runs.append(r)
                    say("  s7 r%d %-6s %-8s %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  "
                        "errors %d  log lines %d (%.2f per request)" % (
                            rep + 1, server, mode, r["rps"], r["p50_ms"] or -1,
                            r["p99_ms"] or -1, r["errors"], lines,
                            lines / max(1, r.get("requests") or 1)))
                except Exception as e:
                    self.fail(server, mode, e)
                finally:
                    self.stop(server, p)

    def summary(self):
        out = []
        for server, mode in self.cases():
            rs = [r for r in self.runs if r["server"] == server and r["mode"] == mode]
            if rs:
                out.append({"case": "%s, %s" % (server, mode), "rps": spread(r["rps"] for r in rs),
                            "p50_ms": spread(r["p50_ms"] for r in rs),
                            "p99_ms": spread(r["p99_ms"] for r in rs),
                            "log_lines": sum(r["log_lines"] for r in rs),
                            "errors": sum(r["errors"] for r in rs)})
        for (a, b, label) in [(("ebb", "log on"), ("uwsgi", "log on"), "ebb on / uWSGI on"),
                              (("ebb", "log on"), ("ebb", "log off"), "ebb on / ebb off")]:
            ratios = []
            for rep in range(1, self.plan.repeat + 1):
                x = [r["rps"] for r in self.runs if r["rep"] == rep and (r["server"], r["mode"]) == a]
                y = [r["rps"] for r in self.runs if r["rep"] == rep and (r["server"], r["mode"]) == b]
                if x and y and y[0]:
                    ratios.append(x[0] / y[0])
            if ratios:
                out.append({"case": "ratio " + label, "ratio": spread(ratios)})
        return out

    def missing(self):
        got = {(r["server"], r["mode"]) for r in self.runs}
        return ["%s %s" % c for c in self.cases() if c not in got]


# --- 8 -----------------------------------------------------------------------------------

class StaticFiles(Scenario):
    key = "8"
    title = "Static files (static-map)"
    # gunicorn has no static file serving (its docs send static files to nginx or WhiteNoise).
    SERVES = ("ebb", "uwsgi")
    FILES = (("1 KiB", "site.css", 1024), ("1 MiB", "big.bin", 1 << 20))

    def folder(self):
        d = os.path.join(self.workdir, "s8-static")
        os.makedirs(d, exist_ok=True)
        rule = b"body { margin: 0; padding: 0; color: #222; font-family: sans-serif }\n"
        css = (rule * (1024 // len(rule) + 1))[:1023] + b"\n"
        with open(os.path.join(d, "site.css"), "wb") as f:
            f.write(css)
        with open(os.path.join(d, "big.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        return d

    def measured(self):
        return [s for s in self.servers if s.name in self.SERVES]

    @staticmethod
    def fetch(port, path):
        """(status, headers dict, body) of one GET on a fresh connection (the body as long
        as its Content-Length: uWSGI's --http11-socket does not close after `Connection:
        close`)."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            c.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                       % path).encode())
            data = b""
            headers, body, status = None, b"", 0
            while True:
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
                if headers is None and b"\r\n\r\n" in data:
                    head, _, data = data.partition(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")
                    status = int(lines[0].split()[1])
                    headers = {}
                    for line in lines[1:]:
                        k, _, v = line.partition(":")
                        headers[k.strip().lower()] = v.strip()
                if headers is not None and len(data) >= int(headers.get("content-length", -1)):
                    break
            body = data
        return status, headers or {}, body

    def check(self, port, folder, name):
        """The server answers with the file itself (not the app's hello world)."""
        with open(os.path.join(folder, name), "rb") as f:
            want = f.read()
        status, headers, body = self.fetch(port, "/static/" + name)
        if status != 200 or body != want:
            raise RuntimeError("GET /static/%s: status %s, %d bytes (%s), not the file's %d"
                               % (name, status, len(body), headers.get("content-type"),
                                  len(want)))
        return headers.get("content-type")

    def run(self):
        folder = self.folder()
        extra = ["--static-map", "/static=%s" % folder]
        for rep in range(self.plan.repeat):
            for srv in rotate(self.measured(), rep):
                # uWSGI leaves Nagle on by default: a small file's head and body, written
                # apart, then wait for the client's delayed ACK (~40 ms a request). ebb sets
                # TCP_NODELAY itself; uWSGI gets its --tcp-nodelay, so both are at their best.
                more = ["--tcp-nodelay"] if srv.name == "uwsgi" else []
                try:
                    run = srv.start(self.workdir, "s8-r%d" % (rep + 1), extra=extra + more)
                except Exception as e:
                    self.fail(srv.name, "start", e)
                    continue
                try:
                    for label, name, size in (self.FILES if rep % 2 == 0 else self.FILES[::-1]):
                        try:
                            self.one(srv, run, rep, folder, label, name, size)
                        except Exception as e:
                            self.fail(srv.name, label, e)
                finally:
                    run.stop(timeout=30)

    def one(self, srv, run, rep, folder, label, name, size):
        ctype = self.check(run.port, folder, name)
        path = "/static/" + name
        if self.plan.warmup > 0:
            wrk_run(run.port, self.plan.warmup, self.args, path=path)
        r = wrk_run(run.port, self.plan.static_s, self.args, path=path)
        r.update(server=srv.name, rep=rep + 1, file=label, size=size, content_type=ctype,
                 mb_s=round(r["rps"] * size / 1e6, 1))
        self.runs.append(r)
        say("  s8 r%d %-6s %-6s %8.0f req/s  %7.1f MB/s  p50 %6.2f ms  p99 %7.2f ms  errors %d"
            % (rep + 1, srv.name, label, r["rps"], r["mb_s"], r["p50_ms"] or -1,
               r["p99_ms"] or -1, r["errors"]))

    def summary(self):
        out = []
        for label, _, _ in self.FILES:
            for srv in self.measured():
                rs = [r for r in self.runs if r["server"] == srv.name and r["file"] == label]
                if rs:
                    out.append({"file": label, "server": srv.name,
                                "rps": spread(r["rps"] for r in rs),
                                "mb_s": spread(r["mb_s"] for r in rs),
                                "p50_ms": spread(r["p50_ms"] for r in rs),
                                "p99_ms": spread(r["p99_ms"] for r in rs),
                                "errors": sum(r["errors"] for r in rs)})
            ratios = []
            for rep in range(1, self.plan.repeat + 1):
                a = [r["rps"] for r in self.runs
                     if r["rep"] == rep and r["file"] == label and r["server"] == "ebb"]
                b = [r["rps"] for r in self.runs
                     if r["rep"] == rep and r["file"] == label and r["server"] == "uwsgi"]
                if a and b and b[0]:
                    ratios.append(a[0] / b[0])
            if ratios:
                out.append({"file": label, "server": "ratio ebb / uWSGI", "ratio": spread(ratios)})
        return out

    def result(self):
        res = Scenario.result(self)
        res["not_measured"] = {s.name: "serves no static files" for s in self.servers
                               if s.name not in self.SERVES}
        return res

    def missing(self):
        got = {(r["server"], r["file"]) for r in self.runs}
        return ["%s %s" % (s.name, label) for s in self.measured() for label, _, _ in self.FILES
                if (s.name, label) not in got]

"""The cost of one request in the Python worker, counted rather than timed: the request path
(Server._serve_fd: read, parse, the app, the response, the access record) driven in this process
on a loopback connection, hello world with keep-alive, no event loop and no other thread but the
log flusher.  With valgrind the figure is instructions per request, by difference of two runs (N
and 5 N requests: start-up cancels out), the same from run to run within about 1 %, where a
throughput A/B on a shared machine moves by 10-30 %.

    python3 tests/python/reqcost.py                       # this tree, access log on and off
    python3 tests/python/reqcost.py --src /tmp/before/src/python --src src/python
    python3 tests/python/reqcost.py --time                # ns per request instead (noisy)

The access records go to a file (EBB_LOG_FD), as under the master; `--browser` sends ten
browser-like headers instead of wrk's one, `--close` a new connection for each request.
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
APP = os.path.join(ROOT, "scripts", "bench-apps", "app.py")
PLAIN = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
BROWSER = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; "
           b"rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: text/html,application/xhtml+xml,"
           b"application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
           b"Accept-Encoding: gzip, deflate, br\r\nReferer: http://127.0.0.1:8080/start\r\n"
           b"Connection: keep-alive\r\nCookie: session=0123456789abcdef; theme=dark\r\n"
           b"Upgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\n\r\n")


def drive(src, n, log, browser, close, logfile):
    """In this process (a child of main): serve n requests, print ns per request."""
    if not log:
        os.environ["EBB_LOG_REQUESTS"] = "0"
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    os.dup2(ls.fileno(), 3)              # where the worker finds its listener (LISTEN_FDS)
    fd = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.environ.update(EBB_LOG_FD=str(fd), LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    sys.path[:0] = [src, os.path.dirname(APP)]
    from ebb_worker import logs, loop, main, wsgi
    import app
    logs.setup()
    server = loop.Server(app.application, main.listeners_from_env(1), 1, 0, None, 1)
    server.notify_armed = True           # no main thread to report to
    ctx = wsgi._Ctx(server, "reqcost")
    ctx.ident = __import__("threading").get_ident()
    server.ctxs.append(ctx)
    server.ctx_by_ident[ctx.ident] = ctx
    server.leader = ctx
    req = BROWSER if browser else PLAIN
    serve = server._serve_fd
    if close:
        req = req.replace(b"Connection: keep-alive\r\n", b"")[:-2] + b"Connection: close\r\n\r\n"
        addr = ls.getsockname()
        ready = server.ready

        def one():               # a new connection: accepted, served, closed
            c = socket.socket()          # (not create_connection: no getaddrinfo)
            c.connect(addr)
            c.send(req)
            serve(3, ctx)
            serve(ready.popleft(), ctx)
            c.recv(65536)
            c.close()
    else:
        client = socket.create_connection(ls.getsockname())
        send, recv = client.send, client.recv
        send(req)                # first (TCP_DEFER_ACCEPT: accepted once its bytes are there)
        conn = server._accept(3)[0]
        serve(conn, ctx)
        recv(65536)

        def one():
            send(req)
            serve(conn, ctx)
            recv(65536)
    for _ in range(500):
        one()
    t = time.perf_counter()
    for _ in range(n):
        one()
    print("%.0f" % ((time.perf_counter() - t) / n * 1e9))


def run(src, n, log, browser, close, valgrind, logfile):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", src, str(n),
           "log" if log else "nolog", "browser" if browser else "plain",
           "close" if close else "keep", logfile]
    env = dict(os.environ, PYTHONHASHSEED="0")
    if valgrind:
        cmd = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=1800)
    if p.returncode:
        sys.exit("reqcost: the driven worker failed:\n" + p.stderr[-2000:])
    if valgrind:
        m = re.search(r"Collected : (\d+)", p.stderr)
        if not m:
            sys.exit("reqcost: no instruction count in valgrind's output:\n" + p.stderr[-2000:])
        return int(m.group(1))
    return float(p.stdout.split()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        src, n, log, kind, conn, logfile = sys.argv[2:8]
        drive(src, int(n), log == "log", kind == "browser", conn == "close", logfile)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", action="append", help="a copy of src/python (repeatable; "
                    "default: this tree's)")
    ap.add_argument("--requests", type=int, default=1000,
                    help="requests of the short run (the long one serves 5 times as many)")
    ap.add_argument("--time", action="store_true", help="ns per request instead of valgrind")
    ap.add_argument("--browser", action="store_true", help="ten browser-like request headers")
    ap.add_argument("--close", action="store_true",
                    help="a new connection per request (Connection: close; the client's "
                    "connect and close are counted too)")
    ap.add_argument("--log", choices=("on", "off", "both"), default="both")
    args = ap.parse_args()
    srcs = args.src or [os.path.join(ROOT, "src", "python")]
    valgrind = None if args.time else shutil.which("valgrind")
    if not args.time and valgrind is None:
        sys.exit("reqcost: valgrind is not installed (apt-get install valgrind), or use --time")
    logfile = os.path.join(os.environ.get("TMPDIR", "/tmp"), "reqcost-%d.log" % os.getpid())
    modes = {"on": [True], "off": [False], "both": [True, False]}[args.log]
    try:
        for src in srcs:
            for log in modes:
                n = args.requests
                if valgrind:
                    a = run(src, n, log, args.browser, args.close, valgrind, logfile)
                    b = run(src, 5 * n, log, args.browser, args.close, valgrind, logfile)
                    figure = "%d instructions/request" % ((b - a) // (4 * n))
                else:
                    figure = "%.0f ns/request" % run(src, 20 * n, log, args.browser, args.close, None, logfile)
                print("%-40s access log %-3s  %s" % (src, "on" if log else "off", figure))
    finally:
        try:
            os.unlink(logfile)
        except OSError:
            pass


if __name__ == "__main__":
    main()

"""Start-up (sockets from the environment, signals, the app) and the main thread's loop."""

import os
import select
import signal
import socket
import sys
import threading
import traceback

from . import autoreload, logs
from .app import load_app
from .body import _EMPTY
from .logs import log
from .loop import Server, _HANDLED_SIGNALS, _Listener
from .master import Notifier
from .options import parse_args
from .settings import EXIT_ENV, EXIT_IMPORT, SERVER_SOFTWARE, _monotonic
from .wsgi import FileWrapper


def env_error(msg):
    log(msg, "error")
    sys.exit(EXIT_ENV)


def listeners_from_env(threads):
    nfds = os.environ.get("LISTEN_FDS")
    pid = os.environ.get("LISTEN_PID")
    names = os.environ.get("LISTEN_FDNAMES", "")
    for k in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(k, None)
    if not nfds:
        env_error("no listening sockets: LISTEN_FDS is not set.  This program is started by the "
                  "ebb master (ebb --module ... / --wsgi-file ...), which passes the sockets.")
    if pid and pid != str(os.getpid()):
        env_error("LISTEN_PID=%s is not this process (%d): the sockets were meant for another "
                  "process" % (pid, os.getpid()))
    try:
        n = int(nfds)
    except ValueError:
        env_error("LISTEN_FDS=%r is not a number" % nfds)
    if n < 1:
        env_error("LISTEN_FDS=%d: no listening sockets" % n)
    names = names.split(":") if names else []
    out = []
    for i in range(n):
        fd = 3 + i
        name = names[i] if i < len(names) and names[i] else "http"
        try:
            sock = socket.socket(fileno=fd)
        except OSError as e:
            env_error("fd %d (LISTEN_FDS=%d) is not a socket: %s" % (fd, n, e))
        if sock.type != socket.SOCK_STREAM:
            env_error("fd %d is not a stream socket" % fd)
        try:
            if not sock.getsockopt(socket.SOL_SOCKET, getattr(socket, "SO_ACCEPTCONN", 30)):
                env_error("fd %d is not a listening socket" % fd)
        except OSError:
            pass
        os.set_inheritable(fd, False)
        sock.setblocking(False)
        lst = _Listener()
        lst.sock = sock
        lst.fd = fd
        lst.kind = "uwsgi" if name == "uwsgi" else "http"
        lst.name = "%s socket fd %d" % (name, fd)
        lst.family = sock.family
        lst.tcp = sock.family in (socket.AF_INET, getattr(socket, "AF_INET6", -1))
        lst.wildcard = False
        lst.inherits = None
        base = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": _EMPTY,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": threads > 1,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": FileWrapper,
            "wsgi.input_terminated": True,
            "SCRIPT_NAME": os.environ.get("SCRIPT_NAME", "").rstrip("/"),
            "SERVER_SOFTWARE": SERVER_SOFTWARE,
        }
        if lst.tcp:
            addr = sock.getsockname()
            host = addr[0]
            lst.wildcard = host in ("0.0.0.0", "::")
            base["SERVER_NAME"] = host
            base["SERVER_PORT"] = str(addr[1])
        else:
            base["SERVER_NAME"] = "localhost"
            base["SERVER_PORT"] = "80"
        lst.base = base
        out.append(lst)
    return out


def _signal_number(name):
    name = (name or "").strip().upper()
    if not name:
        return signal.SIGTERM
    if name.isdigit():
        return int(name)
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal, name, None)
    if not isinstance(sig, int):
        log("ignoring EBB_DRAIN_SIGNAL=%r (unknown signal); using SIGTERM" % name, "warning")
        return signal.SIGTERM
    return sig


def set_process_name(title):
    """The title the master chose (EBB_PROCNAME), as the process's comm (what ps, top and
    pgrep show; 15 bytes).  No re-exec (CPython finds its virtualenv from argv[0]), so the
    command line stays; harmless where ctypes or prctl is missing."""
    if not title or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_NAME = 15
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(title.encode("utf-8", "replace")[:15]), 0, 0, 0)
    except Exception:
        pass


class Worker(object):
    """A worker that has taken its identity (sockets, notify socket, log, signals) and has yet
    to get its app: imported here (main), or inherited from the fork server (forkserver)."""

    def __init__(self, opts, listeners, notifier, wid, server_box):
        self.opts = opts
        self.listeners = listeners
        self.notifier = notifier
        self.wid = wid
        self.server_box = server_box


def prepare(argv=None):
    """Everything before the app: the process name, options, log, sockets, the notify socket,
    the job registry's patches and the signal handlers.  Reads the environment."""
    set_process_name(os.environ.get("EBB_PROCNAME"))
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    wid = os.environ.get("EBB_WORKER_ID")
    logs._log_prefix = "[ebb worker %s pid %d] " % (wid or "?", os.getpid())
    setup_log()

    listeners = listeners_from_env(opts.threads)
    notify_path = os.environ.pop("NOTIFY_SOCKET", None)
    try:
        notifier = Notifier(notify_path)
    except OSError as e:
        env_error("cannot open a socket for NOTIFY_SOCKET=%s: %s" % (notify_path, e))

    # The shared job registry; patch the executors and Thread.start before the app is imported.
    import ebb
    ebb._in_worker = True
    try:
        ebb._worker_id = int(wid) if wid else None
    except ValueError:
        ebb._worker_id = None
    ebb._install()

    # Signals: a drain signal while the app is still being imported exits at once (nothing is
    # served yet); afterwards it starts the drain.
    server_box = []
    drain_sig = _signal_number(os.environ.get("EBB_DRAIN_SIGNAL"))

    def on_drain(signum, frame):
        if not server_box:
            # Still importing the app: nothing is served yet, nothing to finish.
            log("drain signal during start-up: exiting")
            os._exit(0)
        server_box[0].drain_requested = True

    def on_quit(signum, frame):
        try:
            logs.flush_streams()
            sys.stderr.flush()
        except Exception:
            pass
        os._exit(0)

    for sig in {drain_sig, signal.SIGTERM, signal.SIGINT}:
        signal.signal(sig, on_drain)
        _HANDLED_SIGNALS.add(sig)
    signal.signal(signal.SIGQUIT, on_quit)
    _HANDLED_SIGNALS.add(signal.SIGQUIT)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return Worker(opts, listeners, notifier, wid, server_box)


def setup_log():
    """Records on EBB_LOG_FD when the master passes it, else line-buffered stdout/stderr."""
    if logs.setup():
        logs.install_streams()      # the app's output: records (its lines whole)
    else:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)
            except (AttributeError, ValueError):
                pass


def main(argv=None):
    worker = prepare(argv)
    app = load_app(worker.opts)
    return serve(worker, app)


def serve(worker, app):
    """Start the serving threads, say READY, and run the main thread's loop until drained."""
    import ebb
    opts = worker.opts
    # A forked worker starts with the stop signals blocked (forkserver.fork) until its own
    # handlers are in place (prepare): one that came meanwhile is delivered now, to on_drain,
    # which exits (nothing is served yet). Before the after_fork hooks, so that processes they
    # start do not inherit the mask.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED_SIGNALS)
    try:
        ebb._run_after_fork()
    except BaseException:
        log("an ebb.after_fork hook failed; this worker does not start\n%s"
            % traceback.format_exc().rstrip(), "error")
        logs.flush_streams()
        os._exit(EXIT_IMPORT)
    server = Server(app, worker.listeners, opts.threads, opts.harakiri, worker.notifier,
                    worker.wid)
    # The wake-up descriptor first: a drain signal from now on wakes the main loop, and one
    # that came before the server is known still exits (on_drain). The other order left a
    # window where the drain was recorded but nothing woke the loop to see it (a stop that
    # reached a worker forked a moment before: the worker never drained).
    signal.set_wakeup_fd(server.wake_w, warn_on_full_buffer=False)
    worker.server_box.append(server)
    ebb._reporter = server.poke
    ebb._started = server.job_started
    ebb._in_request = server.in_request
    ebb._track_executors = True
    server.start_threads()
    autoreload.start()
    server.report("READY=1\nSTATUS=serving %s with %d thread(s)"
                  % (opts.module or opts.wsgi_file, opts.threads))
    return run(server)


def run(server):
    """The main thread: signals, reports, timeouts, drain."""
    import ebb
    poll = select.poll()
    poll.register(server.wake_r, select.POLLIN)
    last_report = _monotonic()
    next_sweep = last_report + 1.0
    next_hk = last_report + 1.0
    wd = os.environ.get("WATCHDOG_USEC")
    wd_interval = int(wd) / 2e6 if wd and wd.isdigit() and int(wd) > 0 else 0
    next_wd = last_report + wd_interval
    next_pause = 0.0
    last_waiting_log = 0.0
    hinted = False
    while True:
        now = _monotonic()
        timeout = None
        if server.notify_armed:
            timeout = max(0.0, last_report + 0.02 - now)
        if server.conns or server.draining:
            t = max(0.0, next_sweep - now)
            timeout = t if timeout is None else min(timeout, t)
        if server.harakiri:
            t = max(0.0, next_hk - now)
            timeout = t if timeout is None else min(timeout, t)
        if wd_interval:
            t = max(0.0, next_wd - now)
            timeout = t if timeout is None else min(timeout, t)
        if server.accept_paused:
            if not next_pause:
                next_pause = now + 0.5
            t = max(0.0, next_pause - now)
            timeout = t if timeout is None else min(timeout, t)
        try:
            ready = poll.poll(None if timeout is None else int(timeout * 1000 + 0.999))
        except InterruptedError:
            ready = ()
        if ready:
            try:
                while os.read(server.wake_r, 4096):
                    pass
            except OSError:
                pass
        if server.drain_requested and not server.draining:
            server.begin_drain()
            last_report = _monotonic()
            next_sweep = last_report
        now = _monotonic()
        if now >= next_sweep:
            server.sweep(now)
            next_sweep = now + (0.1 if server.draining else 1.0)
        if server.harakiri and now >= next_hk:
            server.check_harakiri(now)
            next_hk = now + 1.0
        if wd_interval and now >= next_wd:
            server.notifier.send("WATCHDOG=1")
            next_wd = now + wd_interval
        if server.accept_paused and next_pause and now >= next_pause:
            next_pause = 0.0
            if not server.draining:
                server.rearm_listeners()
        if server.notify_armed and now >= last_report + 0.02:
            server.notify_armed = False
            last_report = now
            req, busy, njobs = server.report()
        if server.draining:
            req, busy = server.counts()
            njobs = len(ebb._active)
            if not server.conns and not busy and not njobs:
                break
            if now - last_waiting_log >= 5.0 and now - server.drain_t0 >= 5.0:
                last_waiting_log = now
                if not logs.records():      # under ebb the master logs drain progress
                    _, names = ebb._snapshot(20)
                    log("still draining after %.0f s: %d connection(s), %d request(s), %d job(s)%s"
                        % (now - server.drain_t0, len(server.conns), busy, njobs,
                           (": " + ", ".join(names)) if names else ""), "warning")
                if njobs and not hinted:
                    hinted = True
                    log("hint: a job that never ends keeps this worker alive until the master's "
                        "drain timeout.  If one of these is a helper thread that a library starts "
                        "during a request and that lives forever, start it inside "
                        "`with ebb.untracked():` or add its module to EBB_UNTRACKED_THREADS", "warning")
    req, busy, njobs = server.report("STATUS=drained")
    if not logs.records():      # under ebb the master says it (one event, one line)
        log("drained in %.1f s: %d request(s) served" % (_monotonic() - server.drain_t0, req))
    # Python's exit joins the remaining non-daemon threads (and the executors' idle threads).
    # Say so if some of them (started at import time, so not jobs) keep running.
    main_t = threading.main_thread()
    others = [t for t in threading.enumerate()
              if t is not main_t and not t.daemon and not t.name.startswith("ThreadPoolExecutor")]
    for t in others:
        t.join(0.2)
    others = [t for t in others if t.is_alive()]
    if others:
        log("exit waits for non-daemon thread(s) started outside requests (not jobs): %s"
            % ", ".join(t.name for t in others[:10]), "warning")
    logs.flush_streams()
    return 0

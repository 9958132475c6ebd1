"""The fork server: imports the app once for a configuration generation, then forks workers.

The master starts it as ``python run_worker.py --fork-server APP-ARGS`` (the worker's own
arguments) with the workers' environment, and these descriptors (docs/protocol.md, "The fork
server"):

    1, 2         its stdout and stderr (pipes to the master)
    3 .. 3+n-1   /dev/null, holding the places of the n listening sockets of a worker
    3+n          its log record pipe (EBB_LOG_FD)
    3+n+1        the channel to the master, a SOCK_SEQPACKET socket (EBB_FORK_CHANNEL)

It sets itself up as a worker would (options, log, the job registry's patches), imports the
app, runs ``gc.collect()`` and ``gc.freeze()``, and says ``{"t": "ready"}`` on the channel.  It
never serves, stays single-threaded, and from then on only answers requests:

    master -> {"t": "fork", "id": ID, "env": {...}}  with SCM_RIGHTS: the worker's stdout,
              stderr and record pipe, then its n listening sockets
    server -> {"t": "forked", "id": ID, "pid": PID}  or  {"t": "fork-failed", "id": ID, ...}

Each worker is forked twice (``os.fork()``, so the at-fork hooks run): the intermediate child
exits at once, and the worker is re-parented to the master, a child subreaper, which reaps it
and signals its process group like any worker.  The worker puts the descriptors in place, takes
its environment from the request, waits until its parent is the master, sets its parent-death
signal, and goes on as a worker that has just imported its app (main.serve).

If the import started threads or left connected sockets open, forked workers would lack those
threads and share those connections: the server names them, says ``{"t": "lazy"}`` and exits,
and the master starts this generation's workers the old way (each imports the app), unless
EBB_FORK_ANYWAY=1 (--fork-anyway).  The channel's end (EOF) ends the server."""

import array
import fcntl
import gc
import json
import os
import signal
import socket
import sys
import threading
import time

from . import logs
from .app import load_app
from .logs import log
from .main import _signal_number, env_error, prepare, serve, set_process_name, setup_log
from .options import parse_args
from .settings import EXIT_ENV

MAX_FDS = 64 + 3            # listening sockets (the master's limit) and the three pipes
MAX_REQUEST = 1 << 20       # a request's bytes (its environment)
REPARENT_WAIT = 5.0         # how long a new worker waits to become the master's child


class _BecomeWorker(BaseException):
    """Raised in a freshly forked worker: it unwinds the fork server's frames up to main(),
    which goes on as the worker (no `except Exception` in between can take it)."""

    def __init__(self, req, fds):
        BaseException.__init__(self)
        self.req = req
        self.fds = fds


def main(argv):
    set_process_name(os.environ.get("EBB_PROCNAME"))
    opts = parse_args(argv)
    logs._log_prefix = "[ebb fork server pid %d] " % os.getpid()
    setup_log()
    try:
        chan_fd = int(os.environ.pop("EBB_FORK_CHANNEL"))
        nfds = int(os.environ.pop("EBB_FORK_LISTEN_FDS"))
        chan = socket.socket(fileno=chan_fd)
    except (KeyError, ValueError, OSError) as e:
        env_error("the fork server needs EBB_FORK_CHANNEL and EBB_FORK_LISTEN_FDS (%s): it is "
                  "started by the ebb master, not by hand" % e)
    os.set_inheritable(chan_fd, False)
    fork_anyway = os.environ.pop("EBB_FORK_ANYWAY", "") == "1"
    os.environ.pop("EBB_ENV_ROOM", None)

    def on_stop(signum, frame):
        os._exit(0)

    for sig in _stop_signals():
        signal.signal(sig, on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    # As a worker would, before the import: the app sees ebb.in_worker(), and the job
    # registry's patches are in place in every forked worker.
    import ebb
    ebb._in_worker = True
    ebb._install()
    t0 = time.monotonic()
    app = load_app(opts)            # a failure is logged there, and exits 4
    took = time.monotonic() - t0

    own = {chan_fd, logs._fd} | set(range(3, 3 + nfds))
    hazards = import_hazards(own)
    if hazards and not fork_anyway:
        log("the app left %s after its import: forked workers would %s.  Each worker imports "
            "the app itself instead (as with --lazy-apps); start them in an ebb.after_fork "
            "hook to fork, or give --fork-anyway" % ("; ".join(hazards), _consequence(hazards)),
            "warning")
        _send(chan, {"t": "lazy", "why": "; ".join(hazards)})
        logs.flush_streams()
        os._exit(0)
    if hazards:
        log("the app left %s after its import; forking anyway (--fork-anyway): forked workers "
            "will %s" % ("; ".join(hazards), _consequence(hazards)), "warning")
    gc.collect()
    if hasattr(gc, "freeze"):
        gc.freeze()                 # the collector leaves the imported objects alone: shared
    _send(chan, {"t": "ready", "import_s": round(took, 4)})
    try:
        serve_forks(chan, nfds)
    except _BecomeWorker as b:
        return become_worker(b, argv, app, nfds, chan)
    logs.flush_streams()
    return 0


def _stop_signals():
    """The signals that stop a fork server and drain (or quit) a worker."""
    return {_signal_number(os.environ.get("EBB_DRAIN_SIGNAL")), signal.SIGTERM, signal.SIGINT,
            signal.SIGQUIT}


def _consequence(hazards):
    threads = any(h.startswith("thread") or "thread(s)" in h for h in hazards)
    sockets = any(h.startswith("fd ") for h in hazards)
    parts = []
    if threads:
        parts.append("not have those threads")
    if sockets:
        parts.append("all share those connections")
    return " and ".join(parts)


def import_hazards(own_fds):
    """What makes a fork after the import unsafe, in words: threads other than the main one
    (Python's, and native ones a C extension started), and connected sockets."""
    out = []
    import ebb
    main_t = threading.main_thread()
    py = [t for t in threading.enumerate() if t is not main_t]
    for t in py:
        target = ebb._thread_name(t)
        out.append("thread %r%s" % (t.name, "" if target == t.name else " (%s)" % target))
    try:
        tasks = len(os.listdir("/proc/self/task"))
    except OSError:
        tasks = 1 + len(py)
    native = tasks - 1 - len([t for t in py if not isinstance(t, threading._DummyThread)])
    if native > 0:
        out.append("%d native thread(s) that Python's threading did not start (a C "
                   "extension's)" % native)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = []
    for name in names:
        try:
            fd = int(name)
            if fd in own_fds or fd < 3 or not os.readlink("/proc/self/fd/%d" % fd).startswith(
                    "socket:"):
                continue
            s = socket.socket(fileno=os.dup(fd))
        except (ValueError, OSError):
            continue
        try:
            try:
                peer = s.getpeername()
            except OSError:
                continue            # not connected (a listening or unbound socket)
            fam = {socket.AF_INET: "TCP", socket.AF_UNIX: "Unix"}.get(s.family, "")
            if s.family == getattr(socket, "AF_INET6", None):
                fam = "TCP"
            out.append("fd %d, a connected %s socket to %s" % (
                fd, fam or "network", peer if peer not in ("", b"") else "an unnamed peer"))
        finally:
            s.close()
    return out


def _send(chan, msg):
    chan.send(json.dumps(msg).encode("utf-8"))


def serve_forks(chan, nfds):
    """Answer fork requests until the master closes the channel."""
    space = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
    signal.signal(signal.SIGCHLD, lambda signum, frame: reap_intermediates(chan))
    while True:
        try:
            data, anc, flags, _ = chan.recvmsg(MAX_REQUEST, space)
        except InterruptedError:
            continue
        except OSError as e:
            log("fork server: reading the master's channel failed: %s; exiting" % e, "error")
            return
        fds = []
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(cdata[:len(cdata) - len(cdata) % a.itemsize])
                fds.extend(a)
        if not data and not fds:
            return                  # the master closed the channel: this generation is done
        try:
            req = json.loads(data.decode("utf-8"))
            wid = req["id"]
            if req.get("t") != "fork" or not isinstance(req.get("env"), dict):
                raise ValueError("not a fork request")
        except (ValueError, KeyError, TypeError) as e:
            _close(fds)
            log("fork server: ignoring a bad request (%s)" % e, "error")
            continue
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != 3 + nfds:
            _close(fds)
            _send(chan, {"t": "fork-failed", "id": wid,
                         "error": "the request came with %d descriptors, not %d"
                         % (len(fds), 3 + nfds)})
            continue
        fork(chan, req, fds)


def _close(fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def fork(chan, req, fds):
    """Fork the worker through an intermediate child, which tells the master its pid: the
    answer does not depend on this server living on after the fork."""
    wid = req["id"]
    # The stop signals stay blocked in the worker until it can act on them (main.serve
    # unblocks them once its wake-up descriptor is set): a drain the master sends the moment
    # it learns the pid is then never lost to a handler from before the worker existed.
    # SIGCHLD too, until the intermediate child is in _pending (become_worker unblocks it).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _stop_signals() | {signal.SIGCHLD})
    try:
        pid1 = os.fork()
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _close(fds)
        _send(chan, {"t": "fork-failed", "id": wid, "error": "fork: %s" % e})
        return
    if pid1 == 0:
        # The intermediate child: it answers, and its exit re-parents the worker to the
        # master (a subreaper). Exit status 0: answered; 1: the second fork failed (answered
        # too); anything else: the server answers for it.
        code = 2
        try:
            try:
                pid2 = os.fork()
            except OSError as e:
                _send(chan, {"t": "fork-failed", "id": wid, "error": "fork: %s" % e})
                code = 1
            else:
                if pid2 == 0:
                    raise _BecomeWorker(req, fds)
                _send(chan, {"t": "forked", "id": wid, "pid": pid2})
                code = 0
        except _BecomeWorker:
            raise
        except BaseException:
            pass
        os._exit(code)
    _pending[pid1] = wid
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    _close(fds)
    if os.environ.get("EBB_TEST_FORK_SERVER_DIES_AFTER_FORK") == "1":
        os.kill(os.getpid(), signal.SIGKILL)    # tests: the answer must not need this process
    # The intermediate child is reaped when it exits (SIGCHLD): its exit, tearing down a copy
    # of the app, takes a millisecond or more that the next fork need not wait for.


_pending = {}                       # intermediate child's pid -> the worker id it forks


def reap_intermediates(chan):
    """Reap the intermediate children that exited; answer for those that could not."""
    while _pending:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            _pending.clear()
            return
        if pid == 0:
            return
        wid = _pending.pop(pid, None)
        if wid is not None and os.waitstatus_to_exitcode(status) not in (0, 1):
            _send(chan, {"t": "fork-failed", "id": wid, "error":
                         "the intermediate child ended without answering (wait status %d)"
                         % status})


def become_worker(b, argv, app, nfds, chan):
    """In the forked worker: take the request's descriptors and environment, become the
    master's child, then serve as a worker that has imported `app`."""
    req, fds = b.req, b.fds
    # The fork server's reaper is not the app's: its children are its own business.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _pending.clear()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    env = dict((str(k), str(v)) for k, v in req["env"].items())
    logs._fd = None                 # the fork server's record pipe goes below
    os.setpgid(0, 0)                # its own process group: a kill reaches all it starts

    # The descriptors: sockets at 3.., stdout, stderr, and the record pipe after the sockets.
    n = len(fds) - 3
    srcs = fds[3:] + fds[:3]
    targets = list(range(3, 3 + n)) + [1, 2, 3 + n]
    base = max(srcs + targets + [3 + nfds + 1]) + 1
    tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, base) for fd in srcs]
    _close(srcs)
    chan.detach()                   # closed below with the fork server's other descriptors
    _close([fd for fd in range(3, 3 + nfds + 2) if fd not in targets])
    for fd, target in zip(tmp, targets):
        os.dup2(fd, target)
    _close(tmp)

    env["LISTEN_PID"] = str(os.getpid())
    os.environ.clear()
    os.environ.update(env)
    show_environ(env)

    # The master's child, and only then the parent-death signal (the intermediate child's
    # exit would have fired it).
    try:
        master = int(env.get("EBB_MASTER_PID", ""))
    except ValueError:
        master = 0
    deadline = time.monotonic() + REPARENT_WAIT
    while os.getppid() != master:
        if time.monotonic() > deadline:
            log("a forked worker was not re-parented to the master (pid %s) within %.0f s: its "
                "parent is %d; exiting" % (master, REPARENT_WAIT, os.getppid()), "error")
            os._exit(EXIT_ENV)
        time.sleep(0.0002)
    set_death_signal(_signal_number(env.get("EBB_DRAIN_SIGNAL")))
    if os.getppid() != master:
        os._exit(0)                 # the master died meanwhile
    worker = prepare(argv)
    return serve(worker, app)


def set_death_signal(sig):
    """PR_SET_PDEATHSIG: the master's death asks this worker to drain."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except Exception:
        pass


def show_environ(env):
    """Make /proc/PID/environ (ps e, debuggers, ebb's tests) show the worker's environment,
    not the fork server's: the kernel shows the memory where the initial environment strings
    lie, so write the new ones there (as setproctitle does with argv).  The C environment no
    longer points there (os.environ.clear() and update() replaced it).  The master makes room
    with EBB_ENV_ROOM in the fork server's environment; when the new one does not fit, or the
    memory cannot be written, /proc keeps showing the fork server's."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])
    except (OSError, IndexError, ValueError):
        return
    data = b"".join(k.encode("utf-8", "surrogateescape") + b"=" +
                    v.encode("utf-8", "surrogateescape") + b"\0" for k, v in env.items())
    room = end - start
    if room <= 0 or len(data) > room:
        return
    try:
        fd = os.open("/proc/self/mem", os.O_RDWR)
        try:
            os.pwrite(fd, data.ljust(room, b"\0"), start)
        finally:
            os.close(fd)
    except OSError:
        pass

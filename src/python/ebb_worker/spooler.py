"""A spooler process (uWSGI's spooler): `run_worker.py --spooler DIR APP-ARGS`.

It imports the app (so that `uwsgi.spooler = fn` and uwsgidecorators' @spool functions are
registered), then the spooler-import modules, runs the after_fork hooks, and runs the tasks in DIR
one at a time: each task file is locked (fcntl, as uWSGI locks it) while it runs, so that several
processes on one directory never run a task twice.  SPOOL_OK removes the file; SPOOL_RETRY,
SPOOL_IGNORE, an exception or a crash keep it, and it runs again at a later pass.  A task whose
`at` (its file's modification time) is in the future waits for it.

Wake-ups: inotify tells when a task is renamed into DIR (how uwsgi.spool() writes one), or a
file or priority directory is created there; the directory is also read every spooler-frequency
seconds (retried tasks, files copied in by hand).  Without inotify it reads it at that pace only.

Stop (TERM, INT): the task in progress finishes, then the process exits 0; an idle process exits
at once.  The master kills it after --drain-timeout.  While a task runs, its path is in
EBB_SPOOLER_STATE_DIR/spooler-PID.task: when the process ends with it there, the master names the
task as cut short (it stays on disk).  spooler-harakiri: a task running longer ends the process
(logged, with the task's name); the task stays and the master starts a new process."""

import ctypes
import fcntl
import faulthandler
import os
import re
import select
import signal
import sys
import time
import traceback

from . import logs, options, uwsgi_api
from .logs import log

IN_MOVED_TO = 0x80
IN_CREATE = 0x100
EXIT_HARAKIRI = 9
YOUNG_RECHECK = 0.2          # a task file still being written (by uWSGI's own writer): soon
YOUNG = 5.0                  # an empty task file older than this is malformed, not young

_stop = [False]
_task = [None]               # the task running now (for harakiri's message)


def _env_int(name, default=0):
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


class Settings(object):
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.frequency = max(1, _env_int("EBB_SPOOLER_FREQUENCY", 30))
        self.ordered = os.environ.get("EBB_SPOOLER_ORDERED") == "1"
        self.harakiri = _env_int("EBB_SPOOLER_HARAKIRI")
        self.quiet = os.environ.get("EBB_SPOOLER_QUIET") == "1"
        self.max_tasks = _env_int("EBB_SPOOLER_MAX_TASKS")
        self.chdir = os.environ.get("EBB_SPOOLER_CHDIR") or None
        self.imports = [m for m in os.environ.get("EBB_SPOOLER_IMPORTS", "").split("\n") if m]
        state_dir = os.environ.get("EBB_SPOOLER_STATE_DIR")
        self.state = (os.path.join(state_dir, "spooler-%d.task" % os.getpid())
                      if state_dir else None)


def _natural(name):
    """versionsort's order: numbers by value ("2" before "10")."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name) if p]


class Inotify(object):
    """inotify through libc (ctypes): None of it when unavailable (then the frequency only)."""

    def __init__(self):
        self.fd = None
        self.watched = set()
        try:
            self.libc = ctypes.CDLL(None, use_errno=True)
            fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd >= 0:
            self.fd = fd

    def watch(self, path):
        if self.fd is None or path in self.watched:
            return
        if self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_MOVED_TO | IN_CREATE) >= 0:
            self.watched.add(path)

    def drain(self):
        if self.fd is None:
            return
        try:
            while os.read(self.fd, 65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass


class Spooler(object):
    def __init__(self, settings):
        self.s = settings
        self.tasks = 0
        self.notify = Inotify()
        self.soon = None          # when to look again, earlier than the frequency
        self.kept = {}            # task kept by its last run -> when it may run again

    def say(self, msg, level="info"):
        if level != "info" or not self.s.quiet:
            log("[spooler %s pid: %d] %s" % (self.s.dir, os.getpid(), msg), level)

    def entries(self, d):
        """The tasks of directory `d`, priority subdirectories included, in the order they run."""
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            return []
        if self.s.ordered:
            names.sort(key=_natural)
        out = []
        for name in names:
            path = os.path.join(d, name)
            if name.isdigit() and os.path.isdir(path):
                self.notify.watch(path)
                out.extend(self.entries(path))
            elif name.startswith(uwsgi_api.TASK_PREFIX):
                out.append(path)
        return out

    def scan(self):
        """One pass over the directory: run every task that is due. A task its last run kept
        (SPOOL_RETRY, an exception...) runs again a spooler-frequency later, as in uWSGI,
        whatever wakes the spooler meanwhile."""
        self.notify.watch(self.s.dir)
        paths = self.entries(self.s.dir)
        self.kept = {p: t for p, t in self.kept.items() if p in paths}
        for path in paths:
            if _stop[0]:
                return
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            now = time.time()
            if st.st_mtime > now:
                self.later(st.st_mtime)
                continue
            if self.kept.get(path, now) > now:
                self.later(self.kept[path])
                continue
            if not os.path.isfile(path):
                continue
            self.run(path)
            if self.s.max_tasks and self.tasks >= self.s.max_tasks:
                self.say("maximum number of tasks reached (%d): recycling" % self.s.max_tasks)
                _stop[0] = "recycle"
                return

    def later(self, t):
        if self.soon is None or t < self.soon:
            self.soon = t

    def run(self, path):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return              # another process runs it, or it is being written
            if os.fstat(fd).st_nlink == 0:
                return              # done and removed by another process meanwhile
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            data = b"".join(chunks)
            young = time.time() - os.fstat(fd).st_mtime < YOUNG
            if len(data) < 4 and young:
                self.later(time.time() + YOUNG_RECHECK)     # still being written
                return
            size = data[1] | (data[2] << 8) if len(data) >= 4 else 0
            pairs = uwsgi_api.parse_vars(data[4:4 + size]) if len(data) >= 4 + size else None
            if pairs is None or len(data) < 4:
                bad = os.path.join(os.path.dirname(path), "malformed_" + os.path.basename(path))
                os.rename(path, bad)
                self.say("the task file %s is not a uWSGI spool file: moved to %s"
                         % (path, bad), "error")
                return
            env = dict(pairs)
            body = data[4 + size:]
            if body:
                env["body"] = body
            env["spooler_task_name"] = os.fsencode(os.path.basename(path))
            self.call(path, env)
        finally:
            os.close(fd)            # the lock goes with it

    def call(self, path, env):
        fn = uwsgi_api.spooler
        if fn is None:
            self.say("no spooler function for %s: set uwsgi.spooler = function in the app (or a "
                     "spooler-import module), or use uwsgidecorators' @spool; the task stays"
                     % path, "error")
            return
        self.state(path)
        self.say("managing request %s ..." % os.path.basename(path))
        t0 = time.time()
        cwd = os.getcwd() if self.s.chdir else None
        if self.s.chdir:
            os.chdir(self.s.chdir)
        _task[0] = path
        if self.s.harakiri:
            faulthandler.dump_traceback_later(self.s.harakiri + 2, exit=True, file=2)
            signal.setitimer(signal.ITIMER_REAL, self.s.harakiri)
        try:
            ret = fn(env)
        except Exception:
            ret = None
            self.say("task %s raised an exception: it stays and runs again\n%s"
                     % (path, traceback.format_exc().rstrip()), "error")
        finally:
            if self.s.harakiri:
                signal.setitimer(signal.ITIMER_REAL, 0)
                faulthandler.cancel_dump_traceback_later()
            _task[0] = None
            if cwd:
                os.chdir(cwd)
        self.tasks += 1
        took = time.time() - t0
        self.kept[path] = time.time() + self.s.frequency
        if ret == uwsgi_api.SPOOL_OK and type(ret) is int:
            os.unlink(path)         # before the lock is released: nobody runs it again
            self.say("done with task %s after %.1f seconds" % (os.path.basename(path), took))
        elif ret == uwsgi_api.SPOOL_RETRY and type(ret) is int:
            self.say("task %s: SPOOL_RETRY, it runs again later" % os.path.basename(path))
        elif ret == uwsgi_api.SPOOL_IGNORE and type(ret) is int:
            self.say("task %s: SPOOL_IGNORE, the file stays" % os.path.basename(path))
        elif ret is not None:
            self.say("task %s: the spooler function returned %r, not uwsgi.SPOOL_OK, SPOOL_RETRY "
                     "or SPOOL_IGNORE: it runs again later" % (path, ret), "warning")
        self.state("")

    def state(self, path):
        if self.s.state is None:
            return
        try:
            with open(self.s.state, "w") as f:
                f.write(path)
        except OSError:
            pass

    def wait(self, wake_r):
        timeout = float(self.s.frequency)
        if self.soon is not None:
            timeout = max(0.0, min(timeout, self.soon - time.time()))
            self.soon = None
        fds = [wake_r] + ([self.notify.fd] if self.notify.fd is not None else [])
        try:
            ready, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            ready = []
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
        if self.notify.fd in ready:
            self.notify.drain()


def _on_stop(signum, frame):
    _stop[0] = True


def _on_harakiri(signum, frame):
    log("HARAKIRI: the spooler task %s ran for more than %s s (spooler-harakiri): this spooler "
        "process ends; the task stays on disk and runs again"
        % (_task[0], os.environ.get("EBB_SPOOLER_HARAKIRI")), "error")
    logs.flush_streams()
    os._exit(EXIT_HARAKIRI)


def _import(name):
    import importlib
    if name.endswith(".py"):
        import runpy
        runpy.run_path(name, run_name="spooler_import")
    else:
        importlib.import_module(name)


def main(argv):
    if not argv:
        sys.stderr.write("usage: run_worker.py --spooler DIR APP-ARGS\n")
        return 2
    logs.setup()
    logs._log_prefix = "[ebb spooler pid %d] " % os.getpid()
    logs.install_streams()
    s = Settings(argv[0])
    opts = options.parse_args(argv[1:])
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    signal.set_wakeup_fd(wake_w)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_harakiri)
    uwsgi_api._in_spooler = s.dir
    from .app import load_app
    load_app(opts)                  # a failure is logged there, and exits 4
    for name in s.imports:
        try:
            _import(name)
        except Exception:
            log("spooler-import %s failed\n%s" % (name, traceback.format_exc().rstrip()), "error")
            logs.flush_streams()
            return 4
    import ebb
    ebb._run_after_fork()
    if not os.path.isdir(s.dir):
        log("the spooler directory %s does not exist (or is not a directory)" % s.dir, "error")
        logs.flush_streams()
        return 3
    sp = Spooler(s)
    how = ("inotify and every %d s" % s.frequency if sp.notify.fd is not None
           else "every %d s: inotify is unavailable" % s.frequency)
    log("[spooler %s pid: %d] spooler ready (%s)" % (s.dir, os.getpid(), how))
    while not _stop[0]:
        sp.scan()
        if _stop[0]:
            break
        sp.wait(wake_r)
    logs.flush_streams()
    return 0

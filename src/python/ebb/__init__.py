"""ebb: helpers for WSGI applications served by the ebb process supervisor.

Under ebb's Python worker, background work is counted so that recycling a worker never loses it:
a worker that is told to stop finishes its requests *and* its background jobs before it exits.
Most apps need nothing from this module: work submitted to any
``concurrent.futures.ThreadPoolExecutor`` and threads started while a request is being handled
are counted automatically.  For everything else:

    import ebb

    ebb.background(send_email, user, name="send_email")   # run in a thread, counted
    with ebb.job("rebuild-index"):                         # count this block as a job
        ...
    ebb.in_worker()    # True under ebb's worker
    ebb.worker_id()    # the worker's slot (int) under ebb, else None

    with ebb.untracked():                                  # threads started in here are not jobs
        start_forever_running_helper_thread()

    @ebb.after_fork                                        # run in each worker before it serves
    def reconnect():
        db.close_connections()

ebb imports the app once per configuration in a fork server and forks the workers from it (unless
--lazy-apps): whatever the app opened at import (a database connection, a client's socket, a
thread) is shared by, or missing from, every worker.  Functions given to ``ebb.after_fork`` run
in each worker, in the order given, after it was forked and before it serves (with --lazy-apps,
after each worker imported the app): the place to close inherited connections or start a
client's threads.  An exception there stops that worker's start, as a failed import would.

Outside ebb (tests, ``manage.py runserver``) the same calls work: plain threads, no reporting.
Standard library only, Python >= 3.8.
"""

import itertools
import threading

__all__ = ["background", "job", "untracked", "in_worker", "worker_id", "jobs", "after_fork"]

# ---------------------------------------------------------------------------------------------
# The job registry.  Shared by the app (this module) and the worker, which installs a reporter.

_lock = threading.Lock()
_active = {}                 # token -> "name#n", insertion ordered (oldest first)
_seq = itertools.count(1)
_reporter = None             # set by the worker: called (no arguments) whenever the set changes
_started = None              # set by the worker: called when a job starts (reports it at once)
_in_worker = False
_worker_id = None
_local = threading.local()   # .untracked: depth of ebb.untracked() / executor internals
_in_request = None           # set by the worker: () -> True while this thread handles a request
_track_executors = False     # set by the worker once the app is imported
_installed = False
_after_fork = []             # ebb.after_fork(fn): run by the worker before it serves


def _clean(name):
    name = str(name)
    if "," in name or "\n" in name or "\r" in name:
        name = name.replace(",", ";").replace("\n", " ").replace("\r", " ")
    return name[:200]


def _start(name):
    tok = next(_seq)
    with _lock:
        _active[tok] = "%s#%d" % (_clean(name), tok)
    rep = _started or _reporter
    if rep is not None:
        rep()
    return tok


def _end(tok):
    with _lock:
        _active.pop(tok, None)
    rep = _reporter
    if rep is not None:
        rep()


def _snapshot(newest=20):
    """(count, names of the newest `newest` jobs, oldest first)."""
    with _lock:
        n = len(_active)
        if n <= newest:
            return n, list(_active.values())
        return n, list(_active.values())[-newest:]


def _callable_name(fn):
    seen = 0
    while seen < 5:
        inner = getattr(fn, "func", None)      # functools.partial
        if inner is None or not callable(inner):
            break
        fn = inner
        seen += 1
    qual = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if qual is None:
        cls = type(fn)
        qual = getattr(cls, "__qualname__", cls.__name__)
        mod = getattr(cls, "__module__", None)
    else:
        mod = getattr(fn, "__module__", None)
    if mod and mod not in ("builtins", "__main__"):
        return "%s.%s" % (mod, qual)
    return str(qual)


def _thread_name(t):
    target = getattr(t, "_target", None)
    if target is not None:
        return _callable_name(target)
    cls = type(t)
    if cls is not threading.Thread and cls.__module__ != "threading":
        return "%s.%s" % (cls.__module__, cls.__qualname__)
    return t.name


# Threads that libraries start lazily (often during the first request) and that live forever:
# never jobs, or every drain would wait for its timeout.  Matched on the module of the thread's
# target (or of its Thread subclass).  EBB_UNTRACKED_THREADS=mod1,mod2 adds module prefixes.
_UNTRACKED_MODULES = (
    "concurrent.futures", "multiprocessing", "logging", "sentry_sdk", "raven", "ddtrace",
    "newrelic", "opentelemetry", "elasticapm", "scout_apm", "bugsnag", "honeybadger",
    "datadog", "statsd", "prometheus_client", "grpc", "apscheduler", "opencensus",
)


def _thread_module(t):
    target = getattr(t, "_target", None)
    if target is not None:
        inner = getattr(target, "func", None)          # functools.partial
        if inner is not None and callable(inner):
            target = inner
        mod = getattr(target, "__module__", None)
        if mod is None:
            mod = getattr(type(target), "__module__", None)
        return mod or ""
    return type(t).__module__ or ""


def _is_library_thread(t):
    mod = _thread_module(t)
    for p in _UNTRACKED_MODULES:
        if mod == p or mod.startswith(p + "."):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Public API


def in_worker():
    """True when running inside ebb's Python worker."""
    return _in_worker


def worker_id():
    """The worker's slot number (1..N) under ebb, else None."""
    return _worker_id


def after_fork(fn):
    """Run ``fn()`` in each ebb worker after it was forked from the fork server and before it
    serves (usable as a decorator; returns ``fn``).  Outside ebb it is only remembered: nothing
    calls it, so a module can register its hook unconditionally."""
    if not callable(fn):
        raise TypeError("ebb.after_fork() takes a function, got %s" % type(fn).__name__)
    _after_fork.append(fn)
    return fn


def _run_after_fork():
    """The worker: run the registered hooks (an exception propagates: the start fails)."""
    for fn in list(_after_fork):
        fn()


def jobs():
    """Names of the background jobs in progress in this process (oldest first)."""
    with _lock:
        return list(_active.values())


class _Job(object):
    __slots__ = ("name", "_tok")

    def __init__(self, name):
        self.name = name
        self._tok = None

    def __enter__(self):
        if self._tok is not None:
            raise RuntimeError("ebb.job(%r) is already entered; make one per block" % self.name)
        self._tok = _start(self.name)
        return self

    def __exit__(self, *exc):
        tok, self._tok = self._tok, None
        if tok is not None:
            _end(tok)
        return False


def job(name):
    """``with ebb.job("name"):`` counts the block as a background job: a draining worker waits
    for it before exiting."""
    return _Job(name)


class _Untracked(object):
    __slots__ = ()

    def __enter__(self):
        _local.untracked = getattr(_local, "untracked", 0) + 1
        return self

    def __exit__(self, *exc):
        _local.untracked -= 1
        return False


def untracked():
    """``with ebb.untracked():`` threads started and executor work submitted inside the block are
    not counted as jobs (for helper threads that live forever, e.g. started lazily by a library
    during the first request)."""
    return _Untracked()


def background(fn, *args, name=None, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a new thread, counted as a background job.  Returns the
    started ``threading.Thread``.  An exception in ``fn`` is printed with its traceback (the
    standard ``threading.excepthook``) and ends the job."""
    jname = name or _callable_name(fn)
    tok = _start(jname)

    def run():
        try:
            fn(*args, **kwargs)
        finally:
            _end(tok)

    t = threading.Thread(target=run, name="ebb-job:%s" % _clean(jname)[:60])
    t._ebb_untracked = True       # counted above already
    try:
        _orig_thread_start(t)
    except BaseException:
        _end(tok)
        raise
    return t


# ---------------------------------------------------------------------------------------------
# Automatic tracking (installed by the worker before it imports the app)

_orig_thread_start = threading.Thread.start


def _untracked_now():
    return getattr(_local, "untracked", 0) > 0


def _tracked_thread_start(self):
    check = _in_request
    if (check is None or getattr(self, "_ebb_untracked", False) or _untracked_now()
            or not check() or _is_library_thread(self)):
        return _orig_thread_start(self)
    tok = _start(_thread_name(self))
    run = self.run

    def _ebb_run():
        try:
            run()
        finally:
            _end(tok)

    self.run = _ebb_run
    try:
        return _orig_thread_start(self)
    except BaseException:
        try:
            del self.run
        except AttributeError:
            pass
        _end(tok)
        raise


def _install():
    """Patch ThreadPoolExecutor.submit and Thread.start.  Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    import os
    import concurrent.futures.process as cfp
    import concurrent.futures.thread as cft

    global _UNTRACKED_MODULES
    extra = tuple(m.strip() for m in os.environ.get("EBB_UNTRACKED_THREADS", "").split(",")
                  if m.strip())
    _UNTRACKED_MODULES = _UNTRACKED_MODULES + extra

    for cls in (cft.ThreadPoolExecutor, cfp.ProcessPoolExecutor):
        cls.submit = _counting_submit(cls.submit)
    threading.Thread.start = _tracked_thread_start


def _counting_submit(orig_submit):
    """Wrap Executor.submit: each submitted work item is a job until its future is done
    (queued + running; cancelled items end too).  Never the pool's own threads."""

    def submit(self, fn, /, *args, **kwargs):
        if not _track_executors or _untracked_now():
            return orig_submit(self, fn, *args, **kwargs)
        tok = _start(_callable_name(fn))
        # The executor may start its (long-lived) pool thread inside submit(): never a job.
        _local.untracked = getattr(_local, "untracked", 0) + 1
        try:
            fut = orig_submit(self, fn, *args, **kwargs)
        except BaseException:
            _end(tok)
            raise
        finally:
            _local.untracked -= 1
        fut.add_done_callback(lambda _f, _tok=tok: _end(_tok))
        return fut

    submit.__doc__ = orig_submit.__doc__
    submit.__wrapped__ = orig_submit
    return submit

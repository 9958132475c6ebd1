"""The `uwsgi` module as an app sees it under ebb: the small parts of uWSGI's API that ebb really
provides (the spooler's, worker_id, numproc, masterpid, opt), nothing pretended.  A name of
uWSGI's API that ebb does not provide is absent: reading it raises AttributeError saying so, and
hasattr() is False, as it is for a uWSGI built without that plugin.

`import uwsgi` (and `import uwsgidecorators`) find this module only in ebb's worker and spooler
processes (install(), called before the app is imported), and only when the app has no module
of that name of its own.

Spool files are uWSGI's: a 4-byte uwsgi header (modifier1 17, the size of the vars in little
endian, modifier2 0), the vars (u16 LE length, key, u16 LE length, value, repeated), then the
body.  A task's name starts with `uwsgi_spoolfile_on_`; a priority is a subdirectory named by the
number; `at` is the file's modification time (it does not run before).  A task is written under a
hidden name and renamed into place, so a spooler never sees it half written."""

import itertools
import os
import random
import socket
import sys
import threading
import time

SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0

TASK_PREFIX = "uwsgi_spoolfile_on_"
MAX_VARS = 0xFFFF

# The spooler function: set by the app (uwsgi.spooler = fn) or by uwsgidecorators.
spooler = None

_counter = itertools.count(1)
_lock = threading.Lock()
_in_spooler = None          # the spooler process's directory, in a spooler process


def _lines(name):
    return [v for v in os.environ.get(name, "").split("\n") if v]


def _spooler_dirs():
    """Every spool directory the app may write to: ebb's spoolers, then the external ones."""
    return _lines("EBB_SPOOLER_DIRS") + _lines("EBB_SPOOLER_EXTERNAL")


def _int_env(name, default):
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


numproc = _int_env("EBB_PROCESSES", 1)


def _opt():
    """uWSGI's `uwsgi.opt` holds every option given; ebb's holds the spooler's only (the ones
    uwsgidecorators and spooler code look at), with uWSGI's types: bytes, a list of bytes when
    repeated, True for a flag."""
    o = {}
    for key, env in (("spooler", "EBB_SPOOLER_DIRS"), ("spooler-external", "EBB_SPOOLER_EXTERNAL")):
        dirs = [os.fsencode(d) for d in _lines(env)]
        if dirs:
            o[key] = dirs[0] if len(dirs) == 1 else dirs
    if "spooler" in o or "spooler-external" in o:
        for key, env, default in (("spooler-processes", "EBB_SPOOLER_PROCESSES", "1"),
                                  ("spooler-frequency", "EBB_SPOOLER_FREQUENCY", "30"),
                                  ("spooler-harakiri", "EBB_SPOOLER_HARAKIRI", "0"),
                                  ("spooler-max-tasks", "EBB_SPOOLER_MAX_TASKS", "0")):
            v = os.environ.get(env, default)
            if v != default:
                o[key] = v.encode()
        for key, env in (("spooler-ordered", "EBB_SPOOLER_ORDERED"),
                         ("spooler-quiet", "EBB_SPOOLER_QUIET")):
            if os.environ.get(env) == "1":
                o[key] = True
        if os.environ.get("EBB_SPOOLER_CHDIR"):
            o["spooler-chdir"] = os.fsencode(os.environ["EBB_SPOOLER_CHDIR"])
    return o


opt = _opt()


def worker_id():
    """The worker's number (1..processes); 0 in a spooler process, as in uWSGI."""
    if _in_spooler is not None:
        return 0
    return _int_env("EBB_WORKER_ID", 0)


def masterpid():
    """The ebb master's pid."""
    return _int_env("EBB_MASTER_PID", 0)


def i_am_the_spooler():
    """True in a spooler process."""
    return _in_spooler is not None


def _bytes(v, what):
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    raise TypeError("uwsgi.spool(): %s is a %s; a spool task holds str or bytes only (convert it, "
                    "or queue it with uwsgidecorators' @spool(pass_arguments=True), which "
                    "pickles the arguments)" % (what, type(v).__name__))


def _pack(pairs):
    out = bytearray()
    for k, v in pairs:
        for part in (k, v):
            if len(part) > 0xFFFF:
                raise ValueError("uwsgi.spool(): %r is longer than 65535 bytes: pass big values as "
                                 "body=..." % (k.decode("utf-8", "replace"),))
            out += len(part).to_bytes(2, "little") + part
    if len(out) > MAX_VARS:
        raise ValueError("uwsgi.spool(): the task's keys and values take %d bytes, more than "
                         "uWSGI's 65535: pass big values as body=..." % len(out))
    return bytes(out)


def parse_vars(buf):
    """The (key, value) pairs of a spool file's vars; None when they do not fill `buf` exactly."""
    pairs = []
    pos, end = 0, len(buf)
    while pos < end:
        if pos + 2 > end:
            return None
        kl = int.from_bytes(buf[pos:pos + 2], "little")
        pos += 2
        if pos + kl + 2 > end:
            return None
        k = bytes(buf[pos:pos + kl])
        pos += kl
        vl = int.from_bytes(buf[pos:pos + 2], "little")
        pos += 2
        if pos + vl > end:
            return None
        pairs.append((k, bytes(buf[pos:pos + vl])))
        pos += vl
    return pairs


def _pick_dir(name):
    dirs = _spooler_dirs()
    if not dirs:
        raise RuntimeError("uwsgi.spool(): no spooler is configured: add spooler = DIR to the "
                           "configuration (or spooler-external = DIR)")
    if name is None:
        return dirs[0]
    want = os.fsdecode(name)
    for d in dirs:
        if d == want or os.path.realpath(d) == os.path.realpath(want):
            return d
    raise ValueError("uwsgi.spool(): unable to find spooler %r (the spoolers: %s)"
                     % (want, ", ".join(dirs)))


def spool(*args, **kwargs):
    """Queue a task: uwsgi.spool({b'key': b'value', ...}) or uwsgi.spool(key=value, ...).
    Special keys: spooler (the directory, default the first spooler), priority (a number: the
    task goes to that subdirectory), at (a Unix time: it does not run before), body (bytes of
    any size, given to the spooler function as env['body']).  Returns the task file's path, as
    bytes."""
    if len(args) > 1 or (args and not isinstance(args[0], dict)):
        raise TypeError("uwsgi.spool() takes one dict, or keyword arguments")
    items = dict(args[0]) if args else {}
    items.update(kwargs)
    pairs = []
    body = b""
    target = priority = at = None
    for k, v in items.items():
        kb = _bytes(k, "a key")
        if kb == b"body":
            body = _bytes(v, "body")
            continue
        vb = _bytes(v, "the value of %r" % (k,))
        if kb == b"spooler":
            target = vb
        elif kb == b"priority":
            priority = vb
        elif kb == b"at":
            at = vb
        pairs.append((kb, vb))
    packet = _pack(pairs)
    d = _pick_dir(target)
    if priority is not None and priority:
        if not priority.isdigit():
            raise ValueError("uwsgi.spool(): priority %r is not a number" % (priority,))
        d = os.path.join(d, priority.decode())
        os.makedirs(d, exist_ok=True)
    when = None
    if at is not None:
        try:
            when = int(float(at.decode()))
        except ValueError:
            raise ValueError("uwsgi.spool(): at=%r is not a Unix time" % (at,))
    now = time.time()
    with _lock:
        n = next(_counter)
    name = "%s%s_%d_%d_%d_%d_%d" % (TASK_PREFIX, socket.gethostname(), os.getpid(), n,
                                    random.randint(0, 2 ** 31 - 1), int(now),
                                    int((now % 1) * 1e6))
    final = os.path.join(d, name)
    tmp = os.path.join(d, ".ebb-writing-" + name)
    data = (b"\x11" + len(packet).to_bytes(2, "little") + b"\x00") + packet + body
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if when is not None and when > 0:
            os.utime(fd, (when, when))
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, final)
    if os.environ.get("EBB_SPOOLER_QUIET") != "1":
        from .logs import log
        log("[spooler] written %d bytes to file %s" % (len(data), final))
    return os.fsencode(final)


send_to_spooler = spool


# uWSGI's API that ebb does not provide: said plainly when asked for.
_ABSENT = {
    "cache_get", "cache_set", "cache_update", "cache_del", "cache_exists", "cache_clear",
    "mule_msg", "mule_get_msg", "mule_id", "farm_msg", "farm_get_msg", "in_farm",
    "register_signal", "signal", "signal_registered", "add_timer", "add_rb_timer", "add_cron",
    "add_file_monitor", "lock", "unlock", "register_rpc", "rpc", "sharedarea_read",
    "sharedarea_write", "queue_push", "queue_pull", "reload", "stop", "workers", "mem",
    "set_spooler_frequency", "spooler_jobs", "spooler_pid", "alarm", "log", "connection_fd",
}


def __getattr__(name):
    if name in _ABSENT:
        raise AttributeError(
            "uwsgi.%s is not provided by ebb: its uwsgi module offers spool, spooler, "
            "SPOOL_OK/SPOOL_RETRY/SPOOL_IGNORE, worker_id, numproc, masterpid, opt and "
            "i_am_the_spooler (see README, \"Spoolers and the uwsgi module\")" % name)
    raise AttributeError("module 'uwsgi' has no attribute %r" % name)


class _Loader(object):
    """Gives the existing module for an alias name (`uwsgi` → this module)."""

    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        import importlib
        return importlib.import_module(self.target)

    def exec_module(self, module):
        pass


class _Finder(object):
    """Last on sys.meta_path: an app's own `uwsgi` module (a file named uwsgi.py) comes first."""

    NAMES = {"uwsgi": "ebb_worker.uwsgi_api", "uwsgidecorators": "ebb_worker.uwsgidecorators_api"}

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if path is not None or name not in cls.NAMES:
            return None
        import importlib.util
        return importlib.util.spec_from_loader(name, _Loader(cls.NAMES[name]))


def install():
    """Make `import uwsgi` and `import uwsgidecorators` find ebb's modules (idempotent)."""
    if not any(f is _Finder for f in sys.meta_path):
        sys.meta_path.append(_Finder)

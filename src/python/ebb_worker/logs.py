"""The worker's log: its own messages, the app's output and access records.

Under an ebb master that passes EBB_LOG_FD, every message is one record on that pipe (the
contract: docs/protocol.md, "Log records"): messages and the app's output as JSON objects,
each written with one os.write (under a lock), so records never interleave; access records in
the compact form, gathered and written in batches (see defer_record).  sys.stdout and
sys.stderr are replaced by writers that send the app's output as records (one write() call of
several lines is one record; print() is buffered to the end of the line).  When the write
fails with EPIPE or EBADF the master is gone: records are dropped from then on, and the worker
goes on draining.  Without EBB_LOG_FD (a worker started by hand or by a test) messages are
plain lines on stderr, as before."""

import errno
import os
import select
import sys
import threading
import time
from json.encoder import encode_basestring_ascii as _q

_log_prefix = "[ebb worker ? pid %d] " % os.getpid()

MAX_RECORD = 16384           # bytes of one record, newline included (the master's limit)
_lock = threading.RLock()    # re-entrant: a signal handler may log while its thread writes
_fd = None                   # EBB_LOG_FD, when records go there
_dead = False                # the read end is gone: drop records


def _env_fd():
    v = os.environ.get("EBB_LOG_FD", "")
    if not v:
        return None
    try:
        fd = int(v)
        os.fstat(fd)
    except (ValueError, OSError) as e:
        sys.stderr.write("%signoring EBB_LOG_FD=%r (%s): messages go to stderr\n"
                         % (_log_prefix, v, e))
        return None
    return fd


def setup():
    """Read EBB_LOG_FD (called once at start, before anything is logged in records)."""
    global _fd
    _fd = _env_fd()
    if _fd is not None:
        os.set_inheritable(_fd, False)    # not the app's subprocesses'
    return _fd is not None


def records():
    return _fd is not None


# Access records wait here and leave in batches: one write() carries every record of about
# FLUSH_S seconds.  A write per request (or per turn of the event loop) cost more than
# building the records: the syscall, and above all the master's wake-up to read it.  Batched,
# the master wakes about 1/FLUSH_S times a second per worker, whatever the request rate.  The
# writes are made by a flusher thread (started with the first record, so never in the fork
# server), FLUSH_S after the first record it was told about: when the master is slow to read
# (its pipe is full), that thread waits, not the threads serving requests.  Only when
# QUEUE_MAX bytes are queued does a serving thread write them itself (and wait: the
# backpressure of a slow terminal).  Log records (the worker's messages, the app's output)
# are written at once, after the queued access records (the order is kept).  A worker killed
# with SIGKILL loses at most the queued records.  Queued as str (ASCII), encoded once per batch.
_deferred = []
_deferred_bytes = [0]
QUEUE_MAX = 262144
FLUSH_S = 0.02
_flusher = [None]            # the flusher thread, once started
_flusher_armed = [False]     # it has been told about queued records
_flusher_wake = threading.Event()


def defer_record(line):
    """Queue an access record (a str of ASCII ending in a newline); written within about
    FLUSH_S.  access.record does the same inline (the hot path)."""
    _deferred.append(line)
    _deferred_bytes[0] += len(line)
    if _deferred_bytes[0] >= QUEUE_MAX or not _flusher_armed[0]:
        queued()


def queued():
    """After a record was queued: write the queue when it is over its bound, else make sure
    the flusher will write it."""
    if _dead:
        del _deferred[:]
        _deferred_bytes[0] = 0
    elif _deferred_bytes[0] >= QUEUE_MAX:
        _flush_all()
    elif not _flusher_armed[0]:
        _flusher_armed[0] = True
        if _flusher[0] is None:
            _start_flusher()
        _flusher_wake.set()


def _start_flusher():
    t = threading.Thread(target=_flusher_main, name="ebb-log-flusher", daemon=True)
    _flusher[0] = t
    t.start()


def _flusher_main():
    while True:
        _flusher_wake.wait()
        time.sleep(FLUSH_S)
        # Disarm before taking: a record queued from here on arms (and wakes) it again.
        _flusher_armed[0] = False
        _flusher_wake.clear()
        _flush_all()


def _after_fork():
    # The child has no flusher thread (only the forking thread survives a fork).
    _flusher[0] = None
    _flusher_armed[0] = False
    _flusher_wake.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _take_deferred():
    """The queued records, removed from the queue (under the lock; one that a thread appends
    meanwhile stays queued)."""
    items = _deferred[:]
    del _deferred[:len(items)]
    _deferred_bytes[0] = 0
    return "".join(items).encode("ascii")


def flush_deferred():
    """The event loop's hook, called at its turns (loop.Server._lead): the flusher thread
    writes the queued records, so there is nothing to do here unless the queue is over its
    bound (the flusher is stuck on a full pipe)."""
    if _deferred_bytes[0] >= QUEUE_MAX:
        _flush_all()


def _flush_all():
    if _deferred:
        with _lock:
            _write(_take_deferred())


def write_record(data):
    """Write one record (bytes ending in a newline); never raises.  A full pipe is waited for
    (as a slow terminal would be), at most 10 s at a time when the fd is non-blocking."""
    if _dead:
        return
    with _lock:
        if _deferred:
            data = _take_deferred() + data
        _write(data)


def _write(data):
    """Under the lock."""
    if _dead:
        return
    try:
        n = os.write(_fd, data)
        if n == len(data):
            return
    except BlockingIOError:
        n = 0
    except OSError as e:
        _write_failed(e)
        return
    _write_rest(memoryview(data)[n:])


def _write_failed(e):
    global _dead
    if e.errno in (errno.EPIPE, errno.EBADF):
        _dead = True     # the master is gone: drop records from now on


def _write_rest(view):
    """The rest of a record after a partial write or EAGAIN (under the lock)."""
    while view:
        try:
            n = os.write(_fd, view)
        except BlockingIOError:
            if not select.select([], [_fd], [], 10.0)[1]:
                return                      # the master does not read: drop this one
            continue
        except OSError as e:
            _write_failed(e)
            return
        view = view[n:]


def _clip(text, room):
    """text as a JSON string literal of at most `room` bytes (cut with a note when longer)."""
    q = _q(text)
    if len(q) <= room:
        return q
    n = len(text)
    keep = room // 2
    while True:
        cut = text[:keep]
        q = _q(cut + "... (%d of %d characters shown)" % (keep, n))
        if len(q) <= room or keep == 0:
            return q
        keep = keep * 3 // 4


_LOG_HEAD = {lvl: ('{"t":"log","level":"%s","msg":' % lvl).encode("ascii")
             for lvl in ("debug", "info", "warning", "error")}
_STREAM_TAIL = {None: b"}\n", "stdout": b',"stream":"stdout"}\n',
                "stderr": b',"stream":"stderr"}\n'}


def log_record(msg, level="info", stream=None):
    head = _LOG_HEAD.get(level) or _LOG_HEAD["info"]
    tail = _STREAM_TAIL[stream]
    body = _clip(msg, MAX_RECORD - len(head) - len(tail)).encode("ascii")
    write_record(head + body + tail)


def log(msg, level="info"):
    """A message from the worker itself (a traceback is one message)."""
    if _fd is not None:
        log_record(msg.rstrip("\n"), level)
        return
    text = _log_prefix + msg
    if not text.endswith("\n"):
        text += "\n"
    with _lock:
        try:
            err = sys.stderr
            err.write(text)
            err.flush()
        except Exception:
            pass


class RecordStream(object):
    """sys.stdout / sys.stderr under a master with records: each line of output is a record.
    One write() call with several lines (a logging record with its traceback) is one record;
    text without a final newline waits for the rest of its line (per thread)."""

    def __init__(self, name, orig):
        self.name = "<%s>" % name
        self._stream = name
        self._level = "info" if name == "stdout" else "warning"
        self._orig = orig
        self._local = threading.local()
        self.encoding = "utf-8"
        self.errors = "backslashreplace"
        self.buffer = getattr(orig, "buffer", None)   # bytes written there reach the pipe

    def write(self, s):
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError("write() argument must be str, not %s" % type(s).__name__)
            s = str(s)
        n = len(s)
        loc = self._local
        pend = getattr(loc, "pend", "")
        if pend:
            s = pend + s
        if s.endswith("\n"):
            loc.pend = ""
            log_record(s[:-1], self._level, self._stream)
        else:
            j = s.rfind("\n")
            if j >= 0:
                log_record(s[:j], self._level, self._stream)
                s = s[j + 1:]
            if len(s) > MAX_RECORD:                   # no newline coming: do not hoard it
                log_record(s, self._level, self._stream)
                s = ""
            loc.pend = s
        return n

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        pass      # a partial line waits for its end (or close())

    def close(self):
        pend = getattr(self._local, "pend", "")
        if pend:
            self._local.pend = ""
            log_record(pend, self._level, self._stream)

    def fileno(self):
        return self._orig.fileno()

    def isatty(self):
        return False

    def readable(self):
        return False

    def writable(self):
        return True

    def seekable(self):
        return False

    @property
    def closed(self):
        return False


def install_streams():
    """Replace sys.stdout / sys.stderr by record writers (only with EBB_LOG_FD)."""
    if _fd is None:
        return
    sys.stdout = RecordStream("stdout", sys.__stdout__)
    sys.stderr = RecordStream("stderr", sys.__stderr__)


def flush_streams():
    _flush_all()
    for s in (sys.stdout, sys.stderr):
        if isinstance(s, RecordStream):
            s.close()

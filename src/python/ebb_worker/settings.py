"""Exit codes, limits and timeouts (some read from the environment at import)."""

import os
import socket
import sys
import time

EXIT_USAGE = 2
EXIT_ENV = 3
EXIT_IMPORT = 4

VERSION = "0.1"
SERVER_SOFTWARE = "ebb/" + VERSION


def _env_limit(name, default, unlimited):
    """A size limit from the environment: a non-negative integer, 0 for `unlimited` (as in
    gunicorn's --limit-request-*)."""
    v = os.environ.get(name, "").strip()
    if not v:
        return default
    try:
        n = int(v)
        if n < 0:
            raise ValueError
    except ValueError:
        sys.stderr.write("ebb: ignoring %s=%r (not a non-negative integer)\n" % (name, v))
        return default
    return n or unlimited


# The request head's limits (gunicorn's limit-request-line / -fields / -field_size).
MAX_LINE = _env_limit("EBB_LIMIT_REQUEST_LINE", 8190, 1 << 20)          # longer -> 414
MAX_FIELDS = _env_limit("EBB_LIMIT_REQUEST_FIELDS", 100, 32768)         # more -> 431
MAX_FIELD = _env_limit("EBB_LIMIT_REQUEST_FIELD_SIZE", 8190, 1 << 20)   # one field line: 431
# The whole head (the bytes before its empty line); longer -> 431.  uWSGI's buffer-size
# (EBB_LIMIT_REQUEST_HEAD) when the master sets it, which also bounds a uwsgi packet's
# variables and caps the line and field limits; else room for the limits above, in 4 MiB.
MAX_HEAD = _env_limit("EBB_LIMIT_REQUEST_HEAD", 0, 4 << 20)
if MAX_HEAD:
    MAX_LINE = min(MAX_LINE, MAX_HEAD)
    MAX_FIELD = min(MAX_FIELD, MAX_HEAD)
else:
    MAX_HEAD = max(65536, min(MAX_LINE + 4 + MAX_FIELDS * (MAX_FIELD + 2), 4 << 20))

RECV = 65536
DISCARD_MAX = 65536      # unread body still read after the response, to keep the connection
BIG = 65536              # bodies at least this big are sent without being copied into the head


def _env_float(name, default):
    v = os.environ.get(name)
    if not v:
        return default
    try:
        return float(v)
    except ValueError:
        sys.stderr.write("ebb: ignoring %s=%r (not a number)\n" % (name, v))
        return default


KEEPALIVE_TIMEOUT = _env_float("EBB_KEEPALIVE_TIMEOUT", 5.0)   # idle keep-alive connection
REQUEST_TIMEOUT = _env_float("EBB_REQUEST_TIMEOUT", 30.0)      # head once begun; each read/send
DRAIN_GRACE = _env_float("EBB_DRAIN_GRACE", 1.0)               # idle connections after the drain
LINGER = 2.0                                                   # reading leftovers before a close
# A leader that has been serving one connection this long (the app blocks, or a slow client)
# lets the standby thread take the event loop over (see Server._thread_main).
TAKEOVER = _env_float("EBB_TAKEOVER", 0.002)
# When a measured serve took HAND_OVER_AFTER or longer with the process idle for half of it
# (the app waits on something; see handover.serve_waited: a serve slowed by the OS, the
# hypervisor or the GIL does not count), nobody leads for the next HAND_OVER_FOR seconds
# (every idle thread takes a request at once), extended by a measured serve that still waits
# (handover.keeps_waiting), for up to HAND_OVER_MAX seconds in a row: then the period ends and
# serve_waited, with one thread serving, must see requests wait again.
HAND_OVER_AFTER = 0.0005
# How long a process that holds a connection per thread leaves a new connection to the other
# processes before it takes it itself (see accept.accept_quota).
ACCEPT_DEFER = _env_float("EBB_ACCEPT_DEFER", 0.002)
HAND_OVER_FOR = 0.1
HAND_OVER_MAX = 2.0
# While requests wait and the process holds no more connections than threads, a thread that
# has answered a keep-alive request waits this long on that connection for the next one before
# giving it back to the event loop (see loop.Server._stick).
STICK_FOR = _env_float("EBB_STICK_FOR", 0.002)
# TCP_DEFER_ACCEPT on TCP listeners (as uWSGI does; --no-defer-accept sets 0): the kernel
# reports a new connection once its first bytes have arrived, so the thread that accepts it
# reads the request at once instead of parking the connection for another wake-up.
DEFER_ACCEPT = os.environ.get("EBB_DEFER_ACCEPT", "").strip() != "0"

_monotonic = time.monotonic
_time = time.time
_time_ns = time.time_ns
MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)

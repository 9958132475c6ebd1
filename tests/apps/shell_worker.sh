#!/bin/sh
# shell_worker.sh: run any server under ebb from a shell script (the "wrapper" pattern).
#
#   ebb --http-socket 127.0.0.1:8000 -p 2 -- tests/apps/shell_worker.sh uvicorn --fd 3 app:app
#   ebb --http-socket 127.0.0.1:8000 -- tests/apps/shell_worker.sh python3 tests/apps/plain_python_worker.py
#
# A shell cannot accept connections, so this script does only what a shell is good at: it checks
# the environment ebb gave it, tells ebb READY=1 on NOTIFY_SOCKET, and then `exec`s the real
# server. `exec` matters twice: the server keeps this process's pid, so LISTEN_PID stays right
# (servers that check it would otherwise ignore fds 3..), and ebb's drain signal, which goes to
# that pid only, reaches the server instead of a shell that would not pass it on.
#
# What this cannot do (see docs/protocol.md, "Servers that do not report"):
# * It says READY=1 before the server accepts (or READY_AFTER seconds later). Nothing is lost:
#   connections wait in the shared listening socket's queue. But the worker being replaced starts
#   draining as soon as READY arrives, so for a moment there is one worker fewer accepting.
# * It reports no counters, so ebb cannot recycle by --max-requests, and a drain that times out
#   is killed without ebb knowing what was in flight.
#
# Environment: READY_AFTER=SECS announces readiness SECS seconds after the exec (default 0).

set -eu

notify() {
    # One datagram to $NOTIFY_SOCKET, one KEY=VALUE line per argument. A no-op outside ebb.
    [ -n "${NOTIFY_SOCKET:-}" ] || return 0
    if command -v systemd-notify >/dev/null 2>&1 &&
        systemd-notify --no-block "$@" 2>/dev/null; then
        return 0
    fi
    if command -v socat >/dev/null 2>&1; then
        case $NOTIFY_SOCKET in
        @*) addr="ABSTRACT-SENDTO:${NOTIFY_SOCKET#@}" ;;
        *) addr="UNIX-SENDTO:$NOTIFY_SOCKET" ;;
        esac
        printf '%s\n' "$@" | socat -u - "$addr" && return 0
    fi
    python3 -c '
import os, socket, sys
a = os.environ["NOTIFY_SOCKET"]
a = "\0" + a[1:] if a.startswith("@") else a
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto("\n".join(sys.argv[1:]).encode(), a)
' "$@"
}

if [ $# -eq 0 ]; then
    echo "usage: $0 SERVER [ARGS...]   (a server that serves the sockets at fds 3..)" >&2
    exit 2
fi
if [ -z "${LISTEN_FDS:-}" ]; then
    echo "shell_worker.sh: no LISTEN_FDS: not started by ebb; running $1 anyway" >&2
elif [ "${LISTEN_PID:-}" != "$$" ]; then
    echo "shell_worker.sh: LISTEN_PID=${LISTEN_PID:-} is not our pid $$: the sockets are not ours" >&2
    exit 2
fi

status="STATUS=$1 started by shell_worker.sh (it reports no counters)"
if [ "${READY_AFTER:-0}" = 0 ]; then
    notify READY=1 "$status" || echo "shell_worker.sh: could not send READY=1" >&2
else
    # Later, from a detached process: `( ... & )` leaves no child behind for the server to reap.
    (
        (
            sleep "$READY_AFTER"
            notify READY=1 "$status"
        ) &
    )
fi

# Keep NOTIFY_SOCKET for servers that notify themselves (gunicorn sends READY=1 too: harmless).
exec "$@"

#!/usr/bin/env python3
"""watchdog_worker.py: a worker that keeps ebb's watchdog fed for a while, then goes quiet.

    ebb --http-socket 127.0.0.1:8000 --watchdog 1 -- python3 tests/apps/watchdog_worker.py

It stands for a worker whose main loop has hung while the process lives on: ebb's `--watchdog`
must notice the silence, start a replacement and drain this one. Standard library only.

* It says READY=1, then sends WATCHDOG=1 every WATCHDOG_USEC/2 (systemd's convention), as
  sd_watchdog_enabled() would: only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is our
  pid. Without a watchdog it exits with status 2.
* The first worker of each slot (EBB_RESPAWN=1) stops after PINGS pings (default 3) and
  stays alive, silent. Later generations ping until they are told to drain.
* The drain signal (SIGTERM) makes it exit 0 at once: it serves nothing, so it has nothing to
  finish. It never accepts on the sockets at fds 3.. (connections wait for other workers).
"""

import os
import signal
import socket
import sys
import time


def notify(*lines):
    """One datagram to ebb: KEY=VALUE lines. A no-op outside ebb."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr[0] == "@":
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        try:
            s.sendto("\n".join(lines).encode(), addr)
        except OSError as e:
            print(f"watchdog_worker.py: notify failed: {e}", file=sys.stderr)


def watchdog_interval():
    """Half of WATCHDOG_USEC in seconds, or None when no watchdog is asked for."""
    pid = os.environ.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2 / 1e6 if usec > 0 else None


def drain(signum, frame):
    notify("STOPPING=1")
    sys.exit(0)


interval = watchdog_interval()
if interval is None:
    print("watchdog_worker.py: no WATCHDOG_USEC: run it with ebb --watchdog SECS", file=sys.stderr)
    sys.exit(2)
pings = int(os.environ.get("PINGS", "3")) if os.environ.get("EBB_RESPAWN") == "1" else None

signal.signal(signal.SIGTERM, drain)
notify("READY=1", "STATUS=feeding the watchdog")
sent = 0
while pings is None or sent < pings:
    notify("WATCHDOG=1")
    sent += 1
    time.sleep(interval)
notify(f"STATUS=stopped feeding the watchdog after {sent} pings")
while True:
    signal.pause()

"""The master protocol: the notify socket and the coalesced X_EBB_* reports."""

import errno
import os
import socket
import threading
import time

from .logs import log


class Notifier(object):
    def __init__(self, path):
        self.addr = None
        self.sock = None
        if not path:
            return
        if path.startswith("@"):
            path = "\0" + path[1:]
        self.addr = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.warned = False

    def send(self, msg):
        if self.sock is None:
            return
        try:
            self.sock.sendto(msg.encode("utf-8", "replace"), self.addr)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK) and not self.warned:
                self.warned = True
                log("cannot report to the master on NOTIFY_SOCKET: %s (further errors not logged)"
                    % e, "warning")


class Reporting(object):
    """Server methods: report counts to the master (a mixin of loop.Server)."""

    def poke(self):
        """Counts changed: let the main thread report (coalesced)."""
        if not self.notify_armed:
            self.notify_armed = True
            try:
                os.write(self.wake_w, b"n")
            except OSError:
                pass

    def job_started(self):
        """A job was counted: the master learns it at once (before the request that started
        it is answered, so a kill right after the answer still names it), and the coalesced
        report follows.  Never raises (it runs inside the app's call)."""
        try:
            self.report()
        except Exception:
            pass
        self.poke()

    def counts(self):
        req = 0
        busy = 0
        for c in self.ctxs:
            req += c.requests
            busy += c.busy
        return req, busy

    def report(self, extra=None):
        import ebb
        req, busy = self.counts()
        njobs, names = ebb._snapshot(20)
        lines = []
        if extra:
            lines.append(extra)
        tx = rt = 0
        for c in self.ctxs:
            tx += c.tx
            rt += c.rt_ns
        lines.append("X_EBB_REQUESTS=%d\nX_EBB_INFLIGHT=%d\nX_EBB_JOBS=%d\nX_EBB_TX=%d\n"
                     "X_EBB_RT_US=%d" % (req, busy, njobs, tx, max(0, rt // 1000)))
        msg = "\n".join(lines)
        while names:
            tail = "\nX_EBB_JOB_NAMES=" + ",".join(names)
            if len((msg + tail).encode("utf-8", "replace")) <= 4096:
                msg += tail
                break
            names = names[1:]
        else:
            msg += "\nX_EBB_JOB_NAMES="
        self.notifier.send(msg)
        return req, busy, njobs


def _bound_orphan_drain(server=None):
    """If the master is gone (killed: its PR_SET_PDEATHSIG started this drain), nobody
    enforces the drain timeout: keep it ourselves, and say what is abandoned."""
    try:
        master = int(os.environ.get("EBB_MASTER_PID", ""))
        limit = float(os.environ.get("EBB_DRAIN_TIMEOUT", ""))
    except ValueError:
        return
    if os.getppid() == master or limit < 0:
        return

    def expire():
        import ebb
        njobs, names = ebb._snapshot(20)
        busy = server.counts()[1] if server is not None else 0
        log("the master is gone and the drain timeout (%.1fs) passed; exiting with %d job(s) "
            "unfinished: %s" % (limit, njobs, ", ".join(names) or "-"), "error")
        _journal_lost(busy, njobs, names, limit)
        os._exit(1)

    t = threading.Timer(limit, expire)
    t.daemon = True
    t.start()


def _journal_lost(busy, njobs, names, drained):
    """Append the loss to EBB_LOST_WORK_LOG (the master's journal; it is gone and cannot),
    one JSON line as the Rust SDK's drain bound writes it ("orphan": true)."""
    path = os.environ.get("EBB_LOST_WORK_LOG")
    if not path:
        return
    import json
    try:
        respawn = int(os.environ.get("EBB_RESPAWN", ""))
    except ValueError:
        respawn = None
    try:
        slot = int(os.environ.get("EBB_WORKER_ID", ""))
    except ValueError:
        slot = None
    try:
        generation = int(os.environ.get("EBB_CONFIG_GENERATION", ""))
    except ValueError:
        generation = None
    line = json.dumps({
        "time": time.time(), "worker": slot, "pid": os.getpid(), "respawn": respawn,
        "generation": generation, "reason": "the master is gone and the drain timeout passed",
        "orphan": True, "requests_in_flight": busy, "jobs": njobs, "job_names": names,
        "drained_s": drained,
    }) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
    except OSError as e:
        log("cannot append to the lost-work log %s: %s" % (path, e), "error")

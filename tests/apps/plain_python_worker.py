#!/usr/bin/env python3
"""An ebb worker written with nothing but the Python standard library.

It shows the whole worker protocol (docs/protocol.md) without any ebb library:

* the listening sockets come from LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES (fds 3, 4, ...);
* READY=1 and the X_EBB_REQUESTS / X_EBB_INFLIGHT / X_EBB_JOBS / X_EBB_JOB_NAMES counters go
  to NOTIFY_SOCKET as AF_UNIX datagrams;
* on the drain signal (EBB_DRAIN_SIGNAL, SIGTERM by default; SIGINT too) it closes its
  listening sockets, answers the next request on each keep-alive connection with
  `Connection: close`, closes idle connections after a short grace, lets its background jobs
  finish, and exits 0. SIGQUIT exits at once.

Routes (HTTP/1.0 and 1.1, keep-alive, GET and HEAD):
    GET /           -> "hello from plain python worker pid=<pid>"
    GET /job?ms=N   -> answers at once, then runs an N-ms background job (a thread)
Anything else is 404 (405 for other methods).

Run under ebb:   ebb --http-socket 127.0.0.1:8000 -p 2 -- python3 tests/apps/plain_python_worker.py
Run alone:       python3 tests/apps/plain_python_worker.py   (binds 127.0.0.1:$PORT, default 8000)
"""

import os
import select
import signal
import socket
import sys
import threading
import time

IDLE_GRACE = 1.0  # an idle keep-alive connection is closed this long after the drain starts
KEEPALIVE = 15.0  # an idle keep-alive connection is closed after this long anyway
MAX_HEAD = 16 * 1024  # largest request line + headers accepted
MAX_JOB_MS = 3_600_000
MAX_DATAGRAM = 4096  # ebb drops a longer datagram whole
MAX_JOB_NAMES = 20  # ebb keeps the first 20 names of X_EBB_JOB_NAMES

PID = os.getpid()


def log(msg):
    print(f"plain_python_worker[{PID}]: {msg}", file=sys.stderr, flush=True)


# --- The master's side: NOTIFY_SOCKET -----------------------------------------------------


class Notifier:
    """Sends KEY=VALUE datagrams to NOTIFY_SOCKET (a path, or @name for an abstract socket)."""

    def __init__(self):
        addr = os.environ.pop("NOTIFY_SOCKET", "")  # not for our children
        self.sock = None
        if not addr:
            return
        self.addr = "\0" + addr[1:] if addr.startswith("@") else addr
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # Blocking with a timeout: the master's queue is short (net.unix.max_dgram_qlen, often
        # 10), and READY=1 must not be lost. Counters are absolute, so a dropped one is harmless.
        self.sock.settimeout(1.0)

    def send(self, text):
        if self.sock is None:
            return
        data = text.encode("utf-8")
        assert len(data) <= MAX_DATAGRAM, "ebb would drop this datagram whole"
        try:
            self.sock.sendto(data, self.addr)
        except OSError as e:  # timeout, or the master is gone
            log(f"notify failed: {e}")


class State:
    """Counters shared by all threads, and a reporter thread that sends them."""

    def __init__(self, notifier):
        self.notifier = notifier
        self.cond = threading.Condition()
        self.requests = 0  # requests answered since start
        self.inflight = 0  # requests being handled now
        self.connections = 0  # open client connections
        self.jobs = {}  # job name -> start time, oldest first
        self.job_seq = 0
        self.draining = False  # set by the drain signal
        self.drain_started = None
        self.stopping = False  # set once the listening sockets are closed
        self.dirty = False
        threading.Thread(target=self._reporter, name="reporter", daemon=True).start()

    def changed(self):
        """Call with self.cond held after changing a counter."""
        self.dirty = True
        self.cond.notify_all()

    def snapshot(self):
        """The counters as one datagram (call with self.cond held)."""
        names = list(self.jobs)[::-1][:MAX_JOB_NAMES]  # newest first
        lines = [
            f"X_EBB_REQUESTS={self.requests}",
            f"X_EBB_INFLIGHT={self.inflight}",
            f"X_EBB_JOBS={len(self.jobs)}",
            "X_EBB_JOB_NAMES=" + ",".join(names),
        ]
        if self.stopping:
            lines.insert(0, "STOPPING=1")
        return "\n".join(lines)

    def _reporter(self):
        # One datagram per wake-up with the latest values: a burst of requests costs one send.
        while True:
            with self.cond:
                while not self.dirty:
                    self.cond.wait()
                self.dirty = False
                text = self.snapshot()
            self.notifier.send(text)
            time.sleep(0.01)  # at most ~100 reports a second


# --- HTTP -----------------------------------------------------------------------------------


def response(status, body, keep_alive, http10, head_only=False, extra=""):
    headers = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
    ]
    if not keep_alive:
        headers.append("Connection: close")
    elif http10:
        headers.append("Connection: keep-alive")
    if extra:
        headers.append(extra)
    data = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1")
    return data if head_only else data + body


def parse_head(head):
    """-> (method, target, http10, headers dict) or None when malformed."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        return None
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    return method, target, version == "HTTP/1.0", headers


def route(state, method, target):
    """-> (status, body, job_ms or None)."""
    if method not in ("GET", "HEAD"):
        return "405 Method Not Allowed", b"only GET and HEAD\n", None
    path, _, query = target.partition("?")
    if path == "/":
        return "200 OK", f"hello from plain python worker pid={PID}\n".encode(), None
    if path == "/job":
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        try:
            ms = int(params.get("ms", "1000"))
        except ValueError:
            return "400 Bad Request", b"ms must be a number\n", None
        if not 0 <= ms <= MAX_JOB_MS:
            return "400 Bad Request", b"ms out of range\n", None
        return "200 OK", f"job of {ms} ms started\n".encode(), ms
    return "404 Not Found", b"not found\n", None


def run_job(state, name, ms):
    try:
        time.sleep(ms / 1000)  # the "work"
    finally:
        with state.cond:
            del state.jobs[name]
            state.changed()


def start_job(state, ms):
    """Count the job *before* the request is counted done, so the master (and our own drain)
    never sees a moment with nothing in flight while the job is about to start."""
    with state.cond:
        state.job_seq += 1
        name = f"job-{state.job_seq}"
        state.jobs[name] = time.monotonic()
        state.changed()
    threading.Thread(target=run_job, args=(state, name, ms), name=name).start()


def serve_connection(state, conn):
    conn.settimeout(0.25)  # wake up regularly to notice a drain while idle
    buf = b""
    last = time.monotonic()
    try:
        while True:
            # 1. Wait for a whole request head.
            while b"\r\n\r\n" not in buf:
                if len(buf) > MAX_HEAD:
                    conn.sendall(response("431 Request Header Fields Too Large", b"", False, False))
                    return
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    now = time.monotonic()
                    if not buf and state.draining:
                        if now - max(last, state.drain_started) >= IDLE_GRACE:
                            return  # idle keep-alive connection: close it now
                    if now - last >= KEEPALIVE:
                        return
                    continue
                if not chunk:
                    return  # the client closed
                buf += chunk
                last = time.monotonic()
            head, _, buf = buf.partition(b"\r\n\r\n")
            parsed = parse_head(head)
            if parsed is None:
                conn.sendall(response("400 Bad Request", b"bad request\n", False, False))
                return
            method, target, http10, headers = parsed
            if "transfer-encoding" in headers:
                conn.sendall(response("501 Not Implemented", b"chunked bodies\n", False, http10))
                return
            # 2. Handle it, counted as in flight.
            with state.cond:
                state.inflight += 1
                state.changed()
            answered = False
            try:
                length = int(headers.get("content-length", "0") or 0)
                while len(buf) < length:  # read (and ignore) the body
                    try:
                        chunk = conn.recv(65536)
                    except socket.timeout:
                        if time.monotonic() - last >= KEEPALIVE:
                            return
                        continue
                    if not chunk:
                        return
                    buf += chunk
                    last = time.monotonic()
                buf = buf[length:]
                status, body, job_ms = route(state, method, target)
                connection = headers.get("connection", "").lower()
                wants = connection == "keep-alive" if http10 else connection != "close"
                # Draining: this answer is the last one on this connection.
                keep_alive = wants and not state.draining
                conn.sendall(response(status, body, keep_alive, http10, method == "HEAD"))
                answered = True
                last = time.monotonic()
                if job_ms is not None:
                    start_job(state, job_ms)
            finally:
                with state.cond:
                    state.inflight -= 1
                    state.requests += answered
                    state.changed()
            if not keep_alive:
                return
    except OSError:
        pass  # the client went away
    finally:
        conn.close()
        with state.cond:
            state.connections -= 1
            state.changed()


# --- Sockets and signals --------------------------------------------------------------------


def take_listeners():
    """The listening sockets ebb (or systemd) passed, as Python sockets."""
    n = int(os.environ.get("LISTEN_FDS", "0") or "0")
    if os.environ.get("LISTEN_PID", str(PID)) != str(PID):
        n = 0  # meant for another process (our parent, say)
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    for var in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)  # not for our children
    socks = []
    for i in range(n):
        fd = 3 + i
        name = names[i] if i < len(names) else ""
        if name == "uwsgi":
            # Refuse rather than leave its connections waiting forever in the queue.
            log(f"fd {fd} is a uwsgi-protocol socket (--socket); this worker speaks HTTP only")
            sys.exit(2)
        os.set_inheritable(fd, False)  # keep it out of programs we might start
        socks.append(socket.socket(fileno=fd))  # family and type are read from the fd
    if not socks:  # started by hand: bind our own
        port = int(os.environ.get("PORT", "8000"))
        s = socket.create_server(("127.0.0.1", port))
        log(f"no LISTEN_FDS: listening on 127.0.0.1:{port}")
        socks.append(s)
    for s in socks:
        # The flag is shared with every worker (one open file description): any worker may
        # win the race for a connection, so accept() must never block.
        s.setblocking(False)
    return socks


def signal_by_name(value):
    value = value.strip().upper()
    if value.isdigit():
        return signal.Signals(int(value))
    return getattr(signal, value if value.startswith("SIG") else "SIG" + value)


def main():
    notifier = Notifier()
    state = State(notifier)
    listeners = take_listeners()

    # Signals: the handler only sets a flag; the wake-up fd interrupts select().
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())

    def drain(signum, _frame):
        if not state.draining:
            state.drain_started = time.monotonic()
            state.draining = True  # connection threads read this: answer with Connection: close
            log(f"{signal.Signals(signum).name}: draining")

    drain_signals = {signal.SIGTERM, signal.SIGINT}
    drain_signals.add(signal_by_name(os.environ.get("EBB_DRAIN_SIGNAL", "SIGTERM")))
    for sig in drain_signals:
        signal.signal(sig, drain)
    if signal.SIGQUIT not in drain_signals:
        signal.signal(signal.SIGQUIT, lambda *_: os._exit(128 + signal.SIGQUIT))

    # Ready: sockets taken, handlers installed.
    notifier.send(f"READY=1\nSTATUS=serving on {len(listeners)} socket(s)\n" + state.snapshot())

    while not state.draining:
        try:
            readable, _, _ = select.select([wake_r] + listeners, [], [])
        except InterruptedError:
            continue
        for s in readable:
            if s is wake_r:
                try:
                    wake_r.recv(64)
                except BlockingIOError:
                    pass
                continue
            try:
                conn, _ = s.accept()
            except (BlockingIOError, InterruptedError):
                continue  # a sibling worker took it
            conn.setblocking(True)
            with state.cond:
                state.connections += 1
            threading.Thread(target=serve_connection, args=(state, conn), daemon=True).start()

    # Drain: stop accepting. Only our copy closes; ebb keeps the socket open, and
    # connections queued in the kernel go to the other workers.
    signal.set_wakeup_fd(-1)  # nothing waits in select() any more
    for s in listeners:
        s.close()
    started = time.monotonic()
    with state.cond:
        state.stopping = True  # STOPPING=1 goes with the next report
        state.changed()
    log("listeners closed; finishing requests and jobs")
    with state.cond:
        while state.connections or state.jobs:
            state.cond.wait(0.5)
        state.changed()  # one last report with everything at 0
        text = state.snapshot()
    notifier.send(text)
    log(f"drained in {time.monotonic() - started:.1f}s after {state.requests} requests; exiting 0")
    sys.exit(0)


if __name__ == "__main__":
    main()

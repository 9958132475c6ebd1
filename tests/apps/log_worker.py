#!/usr/bin/env python3
"""A plain ebb worker that logs every way a worker can (tests/logs.rs).

Standard library only. One request per connection (Connection: close), served on fd 3
(LISTEN_FDS). Each request gets an access record on EBB_LOG_FD (docs/protocol.md, "Log
records"), filtered as EBB_LOG_REQUESTS / EBB_LOG_4XX / EBB_LOG_5XX say.

Routes:
    /print?text=T    print(T) to stdout
    /stderr?text=T   T to stderr
    /traceback       a "log" record holding a three-line traceback (one record)
    /binary          bytes that are not UTF-8, and an escape sequence, to stdout
    /long?n=N        one N-byte line to stdout
    /longrecord      a record of 20 KiB (over the master's 16 KiB bound)
    /partial         "no newline at exit" without a newline, then exit 3 after answering
    /flood?s=S       a thread writes lines to stdout as fast as it can for S seconds
    /status?code=C   answer with status C
anything else: 200 "ok".
"""

import json
import os
import signal
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

LOG_FD = int(os.environ.get("EBB_LOG_FD", "-1"))
LOCK = threading.Lock()
REQUESTS = 0


def env_flag(name, default):
    return os.environ.get(name, default) in ("1", "true", "yes", "on")


ALL = env_flag("EBB_LOG_REQUESTS", "1")
C4XX = env_flag("EBB_LOG_4XX", "0")
C5XX = env_flag("EBB_LOG_5XX", "0")


def record(obj):
    """One record, one write(); dropped if the master is gone."""
    if LOG_FD < 0:
        return
    line = (json.dumps(obj) + "\n").encode()
    with LOCK:
        try:
            os.write(LOG_FD, line)
        except OSError:
            pass


def notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if addr:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(msg.encode(), addr)
        finally:
            s.close()


def flood(seconds):
    end = time.monotonic() + seconds
    n = 0
    line = b"flood " + b"y" * 200 + b"\n"
    while time.monotonic() < end:
        try:
            os.write(1, line * 50)
        except OSError:
            return
        n += 50


def handle(conn, addr):
    global REQUESTS
    start = time.time()
    t0 = time.monotonic()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    method, target, proto = lines[0].split(" ")
    headers = {}
    for h in lines[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    url = urlsplit(target)
    q = {k: v[0] for k, v in parse_qs(url.query).items()}
    status, after = 200, None
    path = url.path
    if path == "/print":
        print(q.get("text", "printed"), flush=True)
    elif path == "/stderr":
        print(q.get("text", "to stderr"), file=sys.stderr, flush=True)
    elif path == "/traceback":
        record({
            "t": "log",
            "level": "error",
            "stream": "stderr",
            "msg": 'Traceback (most recent call last):\n  File "app.py", line 1, in view\n'
                   "ValueError: boom\n",
        })
    elif path == "/binary":
        os.write(1, b"bin \xff\xfe \x1b[31mred\x1b[0m end\n")
    elif path == "/long":
        os.write(1, b"x" * int(q.get("n", "40000")) + b"\n")
    elif path == "/longrecord":
        record({"t": "log", "level": "info", "msg": "r" * 20000})
    elif path == "/partial":
        os.write(1, b"no newline at exit")
        after = "exit"
    elif path == "/flood":
        threading.Thread(target=flood, args=(float(q.get("s", "3")),), daemon=True).start()
    elif path == "/status":
        status = int(q.get("code", "200"))
    body = b"ok\n"
    resp = (
        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    conn.sendall(resp + body)
    REQUESTS += 1
    notify(f"X_EBB_REQUESTS={REQUESTS}")
    if ALL or (C4XX and 400 <= status < 500) or (C5XX and 500 <= status < 600):
        record({
            "t": "access", "addr": addr, "user": "", "method": method, "uri": target,
            "proto": proto, "status": status, "size": len(body), "hsize": len(resp),
            "start": start, "us": int((time.monotonic() - t0) * 1e6), "req": REQUESTS,
            "host": headers.get("host", ""), "referer": headers.get("referer", ""),
            "ua": headers.get("user-agent", ""),
        })
    return after


def main():
    sock = socket.socket(fileno=3)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sock.settimeout(0.2)
    notify("READY=1")
    while not stop.is_set():
        try:
            conn, addr = sock.accept()
        except socket.timeout:
            continue
        with conn:
            conn.settimeout(5)
            after = handle(conn, addr[0] if isinstance(addr, tuple) else "")
        if after == "exit":
            sys.exit(3)
    notify("STOPPING=1")


if __name__ == "__main__":
    main()

"""The app of test_loop.py: requests that wait, compute, or block, and how many ran at once.

  GET /sleep?s=S     sleeps S seconds (the GIL is free meanwhile: a database query); with
                     &who=1 the answer is the name of the thread that served it
  GET /spin?ms=MS    computes for MS milliseconds (holds the GIL: a CPU-bound view)
  GET /wait?file=F   blocks until the file F exists (up to 20 s)
  GET /peak          the most requests that were in the app at once, then resets it
  GET /crowded       how many requests came in while two or more others were in, then resets it
  GET /pid           the worker's process id
  GET /              "hello"
"""

import os
import sys
import threading
import time
from urllib.parse import parse_qs

# Threads that want the GIL get it after 0.2 ms (not 5 ms): a serving thread that would take a
# request while another computes can, so running CPU-bound requests side by side shows.
sys.setswitchinterval(0.0002)
_lock = threading.Lock()
_running = [0, 0, 0]   # in the app now, most at once, entries with two or more others in


def _enter():
    with _lock:
        _running[0] += 1
        _running[1] = max(_running[1], _running[0])
        if _running[0] >= 3:
            _running[2] += 1


def _leave():
    with _lock:
        _running[0] -= 1


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/pid":
        body = str(os.getpid()).encode()
    elif path == "/peak":
        with _lock:
            body = str(_running[1]).encode()
            _running[1] = _running[0]
    elif path == "/crowded":
        with _lock:
            body = str(_running[2]).encode()
            _running[2] = 0
    else:
        _enter()
        try:
            if path == "/sleep":
                time.sleep(float(q.get("s", "0.001")))
            elif path == "/spin":
                end = time.perf_counter() + float(q.get("ms", "1")) / 1000.0
                while time.perf_counter() < end:
                    pass
            elif path == "/wait":
                deadline = time.monotonic() + 20
                while not os.path.exists(q["file"]) and time.monotonic() < deadline:
                    time.sleep(0.005)
        finally:
            _leave()
        body = threading.current_thread().name.encode() if "who" in q else b"hello"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

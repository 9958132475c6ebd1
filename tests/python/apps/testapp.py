"""The application the worker tests run (stdlib only)."""
import concurrent.futures
import json
import os
import threading
import time
import wsgiref.validate
from urllib.parse import parse_qs

import ebb

EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=2)

# Started at import time: a helper that lives forever is not a job.
_ticker_stop = threading.Event()
threading.Thread(target=_ticker_stop.wait, name="import-time-helper", daemon=True).start()


def _append(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def send_email(path, seconds):
    time.sleep(seconds)
    _append(path, "executor-job-done")


def daemon_job(path, seconds):
    time.sleep(seconds)
    _append(path, "daemon-thread-done")


# /sleep requests running now, and the most seen at once (GET /peak reads it).
_running = [0, 0]
_running_lock = threading.Lock()


def _qs(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = _qs(environ)
    if path == "/":
        body = b"Hello, World!"
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/env" or path.startswith("/env/"):
        env = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int))}
        env["wsgi.version"] = list(environ["wsgi.version"])
        body = json.dumps(env, sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/echo":
        parts = []
        while True:          # read(size) in a loop: works for Content-Length and chunked bodies
            part = environ["wsgi.input"].read(65536)
            if not part:
                break
            parts.append(part)
        data = b"".join(parts)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    if path == "/echo-lines":
        lines = list(environ["wsgi.input"])
        body = json.dumps([l.decode("latin-1") for l in lines]).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if path == "/noread":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"ignore"]
    if path == "/error":
        raise RuntimeError("boom from the test app")
    if path == "/error-late":
        def gen():
            yield b"partial"
            raise RuntimeError("late boom")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/stream":
        n = int(q.get("n", "3"))

        def gen():
            for i in range(n):
                yield ("chunk%d;" % i).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written;")
        return [b"returned"]
    if path == "/empty":
        start_response("204 No Content", [])
        return []
    if path == "/sleep":
        with _running_lock:
            _running[0] += 1
            _running[1] = max(_running[1], _running[0])
        try:
            time.sleep(float(q.get("s", "1")))
        finally:
            with _running_lock:
                _running[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return [b"slept"]
    if path == "/peak":
        body = str(_running[1]).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/wait":
        # blocks its thread until the test creates the file (up to 20 s)
        deadline = time.monotonic() + 20
        while not os.path.exists(q["file"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "6")])
        return [b"waited"]
    if path == "/jobs":
        out = q["file"]
        secs = float(q.get("s", "1"))
        EXECUTOR.submit(send_email, out, secs)
        threading.Thread(target=daemon_job, args=(out, secs), daemon=True).start()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"started"]
    if path == "/bg":
        out = q["file"]
        ebb.background(daemon_job, out, float(q.get("s", "0.5")), name="bg-daemon-job")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/file":
        f = open(q["path"], "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 8192)
    if path == "/info":
        body = json.dumps({"in_worker": ebb.in_worker(), "worker_id": ebb.worker_id(),
                           "pid": os.getpid(), "jobs": ebb.jobs()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/bad-status":
        start_response("OK", [("Content-Type", "text/plain")])
        return [b"x"]
    if path == "/bad-header":
        start_response("200 OK", [("X-Evil", "a\r\nInjected: yes")])
        return [b"x"]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


application = app
validated = wsgiref.validate.validator(app)

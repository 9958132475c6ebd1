"""The explicit job API: `ebb.background(fn, name=...)` and `with ebb.job(name):`.

GET /report?name=N&s=S     ebb.background(sleep S seconds, name=N); journals start/done N
GET /reindex?name=N&s=S    a thread started inside `ebb.untracked()` (so only the named block
                           counts) runs `with ebb.job(N): sleep S`; journals start/done N
"""

import os
import threading
import time
from urllib.parse import parse_qs

import ebb

JOURNAL = os.environ["WSGI_TEST_JOURNAL"]


def note(line):
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def send_report(name, seconds):
    time.sleep(seconds)
    note("done %s" % name)


def reindex(name, seconds, started):
    with ebb.job(name):
        started.set()
        time.sleep(seconds)
        note("done %s" % name)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    q = parse_qs(environ.get("QUERY_STRING", ""))
    name = q.get("name", ["job"])[0]
    seconds = float(q.get("s", ["1"])[0])
    if path == "/report":
        note("start %s" % name)
        ebb.background(send_report, name, seconds, name=name)
    elif path == "/reindex":
        note("start %s" % name)
        started = threading.Event()
        with ebb.untracked():
            threading.Thread(target=reindex, args=(name, seconds, started), daemon=True).start()
        started.wait(5)    # the job is registered before the response is sent
    body = ("ok %s in_worker=%s worker_id=%s jobs=%s pid=%d\n"
            % (path, ebb.in_worker(), ebb.worker_id(), ",".join(ebb.jobs()), os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

"""The WSGI app that scripts/bench runs under ebb, uWSGI and gunicorn (standard library only).

Routes:
  GET /                      "Hello, world!" (the hello-world and load figures)
  GET /job?id=ID&ms=N        answers at once, after queuing an N-ms background job (default 2000)
                             in a ThreadPoolExecutor; the job appends `done ID` to the journal
                             when it ends, and `start ID` is appended when it is submitted
  GET /sleep?ms=N            "Hello, world!" after sleeping N ms in the request (default 1): an
                             app that waits on a database or a service (the GIL is released)

The journal is the file named by BENCH_JOB_JOURNAL (nothing is written when it is unset).
One line per event, written with O_APPEND in a single write(), so processes share it safely.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

JOURNAL = os.environ.get("BENCH_JOB_JOURNAL", "")
# Jobs sleep (they stand for e-mails, webhooks, reports): enough threads that they never queue
# behind each other at the benchmark's rates (10/s x 2 s spread over the workers).
_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="bench-job")
HELLO = b"Hello, world!\n"


def _journal(line):
    if not JOURNAL:
        return
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, ("%s %d %.3f\n" % (line, os.getpid(), time.time())).encode())
    finally:
        os.close(fd)


def _job(job_id, seconds):
    time.sleep(seconds)
    _journal("done " + job_id)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/sleep":
        q = environ.get("QUERY_STRING", "")
        ms = float(q[3:]) if q.startswith("ms=") else 1.0
        time.sleep(ms / 1000.0)
        body = HELLO
    elif path == "/job":
        q = parse_qs(environ.get("QUERY_STRING", ""))
        job_id = q.get("id", ["anon"])[0]
        ms = int(q.get("ms", ["2000"])[0])
        _journal("start " + job_id)
        _pool.submit(_job, job_id, ms / 1000.0)
        body = b"queued " + job_id.encode() + b"\n"
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

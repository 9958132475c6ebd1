"""The motivating scenario: answer 200 at once, then keep working in the background.

GET /job?id=ID&ms=N&how=executor|thread
    journals `start ID`, answers, then runs an N-ms job that journals `done ID`: on a
    module-level ThreadPoolExecutor (how=executor, the default), or on a daemon thread started
    during the request (how=thread).  No `import ebb`: the app is unchanged from what it would
    be under uWSGI or gunicorn.
GET /    answers with the pid.

The journal file is named by WSGI_TEST_JOURNAL; lines are appended with O_APPEND (one write
per line, so lines from concurrent writers never interleave).
"""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

JOURNAL = os.environ["WSGI_TEST_JOURNAL"]
POOL = ThreadPoolExecutor(max_workers=64, thread_name_prefix="jobs")


def note(line):
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def background_job(job_id, ms):
    time.sleep(ms / 1000.0)
    note("done %s" % job_id)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    q = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/job":
        job_id = q["id"][0]
        ms = int(q.get("ms", ["1000"])[0])
        how = q.get("how", ["executor"])[0]
        note("start %s" % job_id)
        if how == "thread":
            threading.Thread(target=background_job, args=(job_id, ms), daemon=True).start()
        else:
            POOL.submit(background_job, job_id, ms)
        body = "queued %s pid=%d\n" % (job_id, os.getpid())
    else:
        body = "hello pid=%d\n" % os.getpid()
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]

"""A thread started at import time (a metrics flusher that runs forever) is not a job: the
worker must drain promptly on SIGTERM anyway."""

import os
import threading
import time

FLUSHES = [0]


def metrics_flusher():
    while True:
        time.sleep(0.05)
        FLUSHES[0] += 1


threading.Thread(target=metrics_flusher, name="metrics-flusher", daemon=True).start()


def application(environ, start_response):
    body = ("flushes=%d pid=%d threads=%d\n"
            % (FLUSHES[0], os.getpid(), threading.active_count())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

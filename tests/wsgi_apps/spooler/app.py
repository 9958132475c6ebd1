"""A WSGI app that queues uWSGI spooler tasks (tests/spooler.rs).

GET /spool?name=N[&mode=ok|retry|sleep|ignore][&secs=S][&priority=P][&at=T] queues a task and
answers the spool file's path.  The spooler function appends "ran NAME PID" (and "finished NAME
PID" after a sleep) to $SPOOL_OUT/log, one line per run."""

import os
import time
from urllib.parse import parse_qs

import uwsgi

OUT = os.environ["SPOOL_OUT"]


def note(text):
    fd = os.open(os.path.join(OUT, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, ("%s %d\n" % (text, os.getpid())).encode())
    os.close(fd)


def task(env):
    name = env[b"name"].decode()
    mode = env.get(b"mode", b"ok")
    note("ran " + name)
    if mode == b"retry":
        marker = os.path.join(OUT, "retried-" + name)
        if not os.path.exists(marker):
            open(marker, "w").close()
            return uwsgi.SPOOL_RETRY
    if mode == b"ignore":
        return uwsgi.SPOOL_IGNORE
    if mode == b"sleep":
        time.sleep(float(env[b"secs"]))
        note("finished " + name)
    if "body" in env:
        note("body %d" % len(env["body"]))
    return uwsgi.SPOOL_OK


uwsgi.spooler = task


def application(environ, start_response):
    q = dict((k, v[0]) for k, v in parse_qs(environ.get("QUERY_STRING", "")).items())
    if environ["PATH_INFO"] == "/info":
        body = "worker %d numproc %d spooler %r" % (uwsgi.worker_id(), uwsgi.numproc,
                                                    uwsgi.opt.get("spooler"))
    else:
        if "body" in q:
            q["body"] = b"x" * int(q["body"])
        body = uwsgi.spool(q).decode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]

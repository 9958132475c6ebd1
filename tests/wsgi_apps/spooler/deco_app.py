"""uwsgidecorators under ebb (tests/spooler.rs): GET /send?to=X queues send_mail(X, subject=...)
with pickled arguments; GET /raw?name=N queues a @spool function that gets the task's dict."""

import os
from urllib.parse import parse_qs

from uwsgidecorators import postfork, spool

OUT = os.environ["SPOOL_OUT"]
FORKED = []


def note(text):
    fd = os.open(os.path.join(OUT, "log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, ("%s\n" % text).encode())
    os.close(fd)


@postfork
def after():
    FORKED.append(os.getpid())


@spool(pass_arguments=True)
def send_mail(to, subject="none", count=0):
    note("mail to %s subject %s count %d forked %s" % (to, subject, count, FORKED == [os.getpid()]))


@spool
def plain(args):
    note("plain %s" % args["name"].decode())


def application(environ, start_response):
    q = dict((k, v[0]) for k, v in parse_qs(environ.get("QUERY_STRING", "")).items())
    if environ["PATH_INFO"] == "/send":
        name = send_mail.spool(q["to"], subject="hello", count=3)
    else:
        name = plain.spool(name=q["name"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [name]

"""An app for HTTP edge cases, nginx and harakiri tests.

GET  /            "hello pid=<pid>"
*    /echo        the request body back, with method=, length= and the Content-Type header
GET  /boom        raises ValueError (expects a 500 and a traceback in the log)
GET  /stuck?s=N   sleeps N seconds in stuck_in_sleep() (harakiri)
GET  /env         selected environ keys
"""

import os
import time
from urllib.parse import parse_qs


def stuck_in_sleep(seconds):
    time.sleep(seconds)


def respond(start_response, status, body, ctype="text/plain"):
    if isinstance(body, str):
        body = body.encode()
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    q = parse_qs(environ.get("QUERY_STRING", ""))
    if path == "/echo":
        data = environ["wsgi.input"].read()
        head = ("method=%s length=%d ctype=%s pid=%d\n"
                % (environ["REQUEST_METHOD"], len(data), environ.get("CONTENT_TYPE", ""),
                   os.getpid())).encode()
        return respond(start_response, "200 OK", head + data, "application/octet-stream")
    if path == "/boom":
        raise ValueError("kaboom from the edge app")
    if path == "/stuck":
        stuck_in_sleep(float(q.get("s", ["30"])[0]))
        return respond(start_response, "200 OK", "woke up pid=%d\n" % os.getpid())
    if path == "/env":
        keys = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "SERVER_PROTOCOL",
                "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_HOST", "HTTP_X_TEST", "REMOTE_ADDR",
                "wsgi.url_scheme")
        body = "".join("%s=%s\n" % (k, environ.get(k, "")) for k in keys)
        return respond(start_response, "200 OK", body + "pid=%d\n" % os.getpid())
    return respond(start_response, "200 OK", "hello pid=%d\n" % os.getpid())

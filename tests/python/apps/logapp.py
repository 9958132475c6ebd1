"""A test app for the worker's log records: the app's output, errors, statuses, slow requests."""

import logging
import sys
import time
from urllib.parse import parse_qs

print("logapp imported")
log = logging.getLogger("logapp")
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


def app(environ, start_response):
    path = environ["PATH_INFO"]
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path == "/print":
        print("hello", "from", "print")
        sys.stdout.write("part one, ")
        sys.stdout.write("part two\n")
        sys.stderr.write("err line 1\nerr line 2\n")
    elif path == "/logging":
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
    elif path == "/error":
        raise RuntimeError("boom from logapp")
    elif path == "/sleep":
        time.sleep(float(q.get("s", "0.3")))
    elif path == "/status":
        code = q.get("code", "200")
        start_response("%s Whatever" % code, [("Content-Type", "text/plain"),
                                               ("Content-Length", "2")])
        return [b"st"]
    body = b"ok " + path.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Resp", "yes"),
                              ("Content-Length", str(len(body)))])
    return [body]

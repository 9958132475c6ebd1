"""A plain WSGI app (callable `app`) that shows what the configuration gave it: the variables
set with `env =` in an ini file, and its import path.  Used by tests/uwsgi_ini.rs."""

import os
import sys


def app(environ, start_response):
    lines = ["hello pid=%d" % os.getpid()]
    for k in ("APP_ENV", "APP_NAME", "GREETING", "FROM_INI", "FROM_ENV", "FROM_CLI"):
        lines.append("%s=%s" % (k, os.environ.get(k, "")))
    lines.append("path=%s" % ":".join(p for p in sys.path if "flask" in p))
    body = ("\n".join(lines) + "\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


application = app

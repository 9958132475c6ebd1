"""Several apps under URL prefixes (uWSGI's mount, several times, and no-default-app).

EBB_MOUNTS holds PREFIX<TAB>APP per line, the first being the worker's own app (already
imported by the caller); EBB_MOUNT_FLAGS may say manage-script-name and no-default-app.  Each
app is imported once, where the app is (the fork server, or each worker with lazy-apps), in
the one interpreter (uWSGI gives each its own sub-interpreter).

As uWSGI picks the app: with manage-script-name, the longest prefix that PATH_INFO starts
with, at a segment boundary, becomes SCRIPT_NAME and leaves PATH_INFO; without it, the app
whose prefix is the SCRIPT_NAME the web server sent (nginx's uwsgi_param SCRIPT_NAME).  No
match: the first app, or with no-default-app a 404 (uWSGI answers 500)."""

import copy
import os

_NOT_FOUND = b"Not Found\n"


def _is_file(app):
    low = app.lower()
    return low.endswith((".py", ".wsgi")) or "/" in app


def opts_for(opts, app):
    """The worker's options, naming `app` (a module[:callable] or a file) instead."""
    o = copy.copy(opts)
    if _is_file(app):
        o.module, o.wsgi_file = None, app
    else:
        o.module, o.wsgi_file = app, None
    return o


def from_env(first, opts, load, environ=os.environ):
    """`first` alone, or a dispatcher between it and the other mounted apps."""
    spec = environ.get("EBB_MOUNTS")
    if not spec:
        return first
    flags = environ.get("EBB_MOUNT_FLAGS", "").split()
    apps = []
    for i, line in enumerate(l for l in spec.split("\n") if l):
        prefix, _, target = line.partition("\t")
        apps.append((prefix.rstrip("/"), first if i == 0 else load(opts_for(opts, target))))
    return Mounts(apps, "manage-script-name" in flags, "no-default-app" in flags)


class Mounts(object):
    def __init__(self, apps, manage, no_default):
        self.default = None if no_default else apps[0][1]
        self.by_prefix = dict(apps)
        # Longest first: the first match is the longest.
        self.prefixes = sorted(self.by_prefix, key=len, reverse=True)
        self.manage = manage

    def __call__(self, environ, start_response):
        app = None
        if self.manage:
            path = environ.get("PATH_INFO", "")
            for p in self.prefixes:
                if path == p or path.startswith(p + "/") or (not p and path.startswith("/")):
                    app = self.by_prefix[p]
                    environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "").rstrip("/") + p
                    environ["PATH_INFO"] = path[len(p):]
                    break
        else:
            app = self.by_prefix.get(environ.get("SCRIPT_NAME", "").rstrip("/"))
        if app is None:
            app = self.default
        if app is None:
            start_response("404 Not Found", [("Content-Type", "text/plain"),
                                              ("Content-Length", str(len(_NOT_FOUND)))])
            return [_NOT_FOUND]
        return app(environ, start_response)

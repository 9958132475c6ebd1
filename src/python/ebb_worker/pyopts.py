"""uWSGI's Python options the master passes in the environment: pyargv (EBB_PYARGV: the app's
sys.argv), import (EBB_IMPORTS: modules imported before the app) and limit-post
(EBB_LIMIT_POST: a body over the limit is answered 413 before the app is called)."""

import os
import sys
import traceback

from .logs import log


def before_app(environ=os.environ):
    """What must be in place before the app is imported: sys.argv, then the imports."""
    words = environ.get("EBB_PYARGV")
    if words is not None:
        # As uWSGI gives it: "uwsgi", then pyargv split at spaces and tabs (the master
        # sends one word per line).
        sys.argv = ["uwsgi"] + [w for w in words.split("\n") if w]
    for name in environ.get("EBB_IMPORTS", "").split("\n"):
        if name:
            import_one(name)


def import_one(name):
    """Import a module, or run a .py file as a module; a failure is logged and the app is
    loaded all the same, as uWSGI does."""
    import importlib
    import importlib.util
    try:
        if name.endswith(".py") or "/" in name:
            path = os.path.abspath(name)
            stem = os.path.splitext(os.path.basename(path))[0]
            modname = stem if stem.isidentifier() else "ebb_import_%d" % (abs(hash(path)),)
            spec = importlib.util.spec_from_file_location(modname, path)
            if spec is None:
                raise ImportError("not a Python file: %s" % path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        else:
            importlib.import_module(name)
    except Exception:
        log("import %s failed; the app is loaded all the same (as uWSGI does)\n%s"
            % (name, traceback.format_exc().rstrip()), "error")


_TOO_LARGE = b"Request body too large\n"


def with_limit_post(app, environ=os.environ):
    """`app`, answering 413 for a Content-Length over EBB_LIMIT_POST without calling it."""
    v = environ.get("EBB_LIMIT_POST", "").strip()
    if not v:
        return app
    try:
        limit = int(v)
        if limit <= 0:
            raise ValueError
    except ValueError:
        log("ignoring EBB_LIMIT_POST=%r (not a positive integer)" % v, "warning")
        return app

    def limit_post(env, start_response):
        cl = env.get("CONTENT_LENGTH")
        if cl:
            try:
                too_long = int(cl) > limit
            except ValueError:
                too_long = False
            if too_long:
                start_response("413 Request Entity Too Large", [
                    ("Content-Type", "text/plain"),
                    ("Content-Length", str(len(_TOO_LARGE))),
                ])
                return [_TOO_LARGE]
        return app(env, start_response)

    return limit_post

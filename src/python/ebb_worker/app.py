"""Importing the WSGI application."""

import os
import sys
import traceback

from . import autoreload, hooks, logs, mounts, pyopts, routes, static, uwsgi_api
from .logs import log
from .settings import EXIT_IMPORT, EXIT_USAGE


def load_app(opts):
    """Import the application (and the other mounted apps, if any) behind its layers, with
    the pre-app and post-app hooks around the imports; on failure print why and what to do,
    and exit 4."""
    extend_path(opts)       # the imports find the project's modules as the app does
    uwsgi_api.install()     # `import uwsgi` / `import uwsgidecorators` under ebb
    _hooks("pre-app")
    pyopts.before_app()     # pyargv and import: before the app, as in uWSGI
    app = mounts.from_env(import_app(opts), opts, import_app)
    app = with_static(app)
    _hooks("post-app")
    autoreload.report()
    return app


def _hooks(phase):
    failed = hooks.run(phase)
    if failed:
        log("%s. Exit code %d: the app counts as not imported (ebb retries with a back-off; "
            "on a reload the old workers keep serving)." % (failed, EXIT_IMPORT), "error")
        logs.flush_streams()
        sys.exit(EXIT_IMPORT)


def extend_path(opts):
    """--pythonpath, the working directory and the wsgi-file's directory on sys.path (each
    once), after ebb's own entry."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    extra = [os.path.abspath(p) for p in opts.pythonpath] + [os.getcwd()]
    if opts.wsgi_file:
        extra.append(os.path.dirname(os.path.abspath(opts.wsgi_file)))
    pos = 1 if sys.path and sys.path[0] in (here, "") else 0
    for p in extra:
        if p not in sys.path:
            sys.path.insert(pos, p)
            pos += 1


def import_app(opts):
    """Import one WSGI callable (opts: module or wsgi_file, callable, pythonpath); on failure
    print why and what to do, and exit 4."""
    import importlib
    import importlib.util
    cwd = os.getcwd()
    extend_path(opts)
    callable_name = opts.callable or "application"
    if opts.module:
        what = opts.module
        modname, sep, attr = opts.module.partition(":")
        if sep and attr:
            callable_name = attr
        what = "%s:%s" % (modname, callable_name)
    else:
        what = "%s (callable %s)" % (opts.wsgi_file, callable_name)
    stage = "find"          # "find": the module or file; "run": the app's own code; "lookup"
    try:
        if opts.module:
            stage = "run"
            mod = importlib.import_module(modname)
        else:
            path = os.path.abspath(opts.wsgi_file)
            if not os.path.isfile(path):
                raise FileNotFoundError("no such file: %s" % path)
            stem = os.path.splitext(os.path.basename(path))[0]
            modname = stem if stem.isidentifier() and stem not in sys.modules else "ebb_wsgi_file"
            if modname in sys.modules:      # several mounted files (each its wsgi.py)
                modname = "ebb_wsgi_file_%d" % len(sys.modules)
            spec = importlib.util.spec_from_file_location(modname, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[modname] = mod
            stage = "run"
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(modname, None)
                raise
        stage = "lookup"
        obj = mod
        call = callable_name.endswith("()")
        for part in (callable_name[:-2] if call else callable_name).split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                hint = ""
                for guess in ("application", "app", "create_app()", "make_app()"):
                    g = guess[:-2] if guess.endswith("()") else guess
                    if guess != callable_name and hasattr(mod, g):
                        hint = " (it has %r: use --callable %s)" % (g, guess)
                        break
                raise AttributeError("module %r has no attribute %r%s"
                                     % (mod.__name__, callable_name, hint))
        if call:
            stage = "run"
            obj = obj()
            stage = "lookup"
        if not callable(obj):
            raise TypeError("%r in module %r is a %s, not a WSGI callable"
                            % (callable_name, mod.__name__, type(obj).__name__))
        return obj
    except BaseException as e:
        tb = traceback.format_exc().rstrip()
        log(
            "cannot load the WSGI application %s\n%s\n\n"
            "  python:    %s (%s)\n"
            "  cwd:       %s\n"
            "  sys.path:  %s\n"
            "  What to do: %s  Exit code %d: ebb retries with a back-off."
            % (what, tb, sys.executable, sys.version.split()[0], cwd, sys.path,
               _hint(e, stage, modname if opts.module else None), EXIT_IMPORT),
            "error")
        logs.flush_streams()
        if isinstance(e, KeyboardInterrupt):
            os._exit(EXIT_IMPORT)
        sys.exit(EXIT_IMPORT)


def _hint(e, stage, modname):
    """What to do about a failed load: a wrong name or path is not the app's own crash."""
    if isinstance(e, ModuleNotFoundError) and stage == "run" and e.name:
        own = modname is not None and (modname == e.name or modname.startswith(e.name + "."))
        if not own:
            return ("the application imports %r, which this Python cannot find: check that the "
                    "virtualenv (--virtualenv / --python) is the one with the app's dependencies, "
                    "and --pythonpath if it is part of the project." % e.name)
    elif stage == "run":
        if isinstance(e, SystemExit):
            what = "called sys.exit(%r)" % (e.code,)
        else:
            what = "raised %s" % type(e).__name__
        return ("the application was found, but its own code %s while it was imported (see "
                "the traceback above): fix that code or what it reads at import (settings, "
                "environment variables, files, services it connects to)." % what)
    return ("check the module / --wsgi-file and --callable names; that --chdir or "
            "--pythonpath name the directory that contains the package; and that the virtualenv "
            "(--virtualenv / --python) is the one with the app's dependencies.")


def with_static(app):
    """`app` behind its layers: the routing rules (EBB_ROUTES), then the static files
    (EBB_STATIC_*), each only when configured."""
    what = "static files"
    try:
        app = static.from_env(app, os.environ)
        what = "routing"
        app = routes.from_env(app, os.environ, lambda msg: log(msg, "info"))
        return pyopts.with_limit_post(app)
    except ValueError as e:
        # A configuration error, not an import error: said once, plainly (os._exit, as the
        # caller's `except BaseException` would take a SystemExit for a failed import).
        log("%s: %s" % (what, e), "error")
        logs.flush_streams()
        os._exit(EXIT_USAGE)

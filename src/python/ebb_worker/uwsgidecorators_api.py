"""`uwsgidecorators` as an app sees it under ebb: the spooler decorators (spool, spoolforever,
spoolraw, with pass_arguments as uWSGI has them: the arguments are pickled into the task),
postfork (ebb.after_fork) and thread.  The others (mulefunc, rpc, signal, timer, cron, filemon,
lock, harakiri...) need parts of uWSGI ebb does not have: importing one raises ImportError
saying so."""

import pickle
import threading
from functools import partial

from . import uwsgi_api as uwsgi

spooler_functions = {}


def _text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


def manage_spool_request(env):
    """The spooler function uwsgidecorators installs: runs the task's decorated function."""
    vars = dict((_text(k), v) for k, v in env.items())
    name = vars.get("ud_spool_func")
    if name is None:
        raise LookupError("this task has no ud_spool_func key: it was not queued by a "
                          "uwsgidecorators function, and uwsgidecorators replaced uwsgi.spooler")
    name = _text(name)
    f = spooler_functions.get(name)
    if f is None:
        raise LookupError("no @spool function named %r in this spooler process (known: %s): "
                          "import the module that defines it in the app or with spooler-import"
                          % (name, ", ".join(sorted(spooler_functions)) or "none"))
    if "args" in vars:
        args = pickle.loads(vars.pop("args"))
        kwargs = pickle.loads(vars.pop("kwargs", pickle.dumps({})))
        ret = f(*args, **kwargs)
    else:
        ret = f(vars)
    if "ud_spool_ret" in vars:
        return int(_text(vars["ud_spool_ret"]))
    return ret


uwsgi.spooler = manage_spool_request


class _spoolraw(object):
    """A decorated function: calling it (or its .spool) queues a task; the spooler runs it."""

    ret = None

    def __init__(self, f, pass_arguments):
        if not uwsgi._spooler_dirs():
            raise RuntimeError("you have to enable the spooler to use @%s: add spooler = DIR to "
                               "the configuration" % type(self).__name__.lstrip("_"))
        self.f = f
        self.pass_arguments = pass_arguments
        self.__name__ = f.__name__
        self.__doc__ = f.__doc__
        spooler_functions[f.__name__] = f
        f.spool = self.__call__

    def __call__(self, *args, **kwargs):
        arguments = {"ud_spool_func": self.f.__name__}
        if self.ret is not None:
            arguments["ud_spool_ret"] = str(self.ret)
        if not self.pass_arguments:
            if args:
                arguments.update(args[0])
            arguments.update(kwargs)
        else:
            for key in ("spooler", "priority", "at", "body"):
                if key in kwargs:
                    arguments[key] = kwargs.pop(key)
            arguments["args"] = pickle.dumps(args)
            arguments["kwargs"] = pickle.dumps(kwargs)
        return uwsgi.spool(arguments)

    spool = __call__


class _spool(_spoolraw):
    ret = uwsgi.SPOOL_OK


class _spoolforever(_spoolraw):
    ret = uwsgi.SPOOL_RETRY


def _decorate(cls, f, pass_arguments):
    if f is None:
        return partial(cls, pass_arguments=pass_arguments)
    return cls(f, pass_arguments)


def spoolraw(f=None, pass_arguments=False):
    """The function's return value (uwsgi.SPOOL_OK, SPOOL_RETRY or SPOOL_IGNORE) decides."""
    return _decorate(_spoolraw, f, pass_arguments)


def spool(f=None, pass_arguments=False):
    """The task is done once the function returns (an exception: it runs again later)."""
    return _decorate(_spool, f, pass_arguments)


def spoolforever(f=None, pass_arguments=False):
    """The task runs again and again (every spooler-frequency seconds)."""
    return _decorate(_spoolforever, f, pass_arguments)


def postfork(f):
    """Run f in each worker (and spooler process) once it is started: ebb.after_fork."""
    import ebb
    return ebb.after_fork(f)


class thread(object):
    """Calling the function runs it in a daemon thread."""

    def __init__(self, f):
        self.f = f

    def __call__(self, *args):
        t = threading.Thread(target=self.f, args=args)
        t.daemon = True
        t.start()
        return self.f


_ABSENT = {"mulefunc", "mule_msg_dispatcher", "rpc", "signal", "timer", "rbtimer", "cron",
           "filemon", "erlang", "lock", "harakiri", "farm", "farm_loop", "get_free_signal",
           "mulemsg_dispatcher", "lazy"}


def __getattr__(name):
    if name in _ABSENT:
        raise ImportError("uwsgidecorators.%s is not provided by ebb: it needs uWSGI's %s, which "
                          "ebb does not have; ebb's uwsgidecorators offers spool, spoolforever, "
                          "spoolraw, postfork and thread"
                          % (name, "signals" if name in ("signal", "timer", "rbtimer", "cron",
                                                          "filemon") else "mules, rpc or locks"))
    raise AttributeError("module 'uwsgidecorators' has no attribute %r" % name)

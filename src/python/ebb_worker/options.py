"""The worker's command line."""

import sys

from .settings import EXIT_USAGE


USAGE = ("usage: ebb_worker.py (--module pkg.mod[:callable] | --wsgi-file app.py) "
         "[--callable NAME] [--pythonpath DIR]... [--threads N] [--harakiri SECONDS]")


class Options(object):
    module = None
    wsgi_file = None
    callable = None
    pythonpath = ()
    threads = 1
    harakiri = 0


def parse_args(argv):
    opts = Options()
    opts.pythonpath = []
    it = iter(argv)

    def value(flag):
        try:
            return next(it)
        except StopIteration:
            usage("%s needs a value" % flag)

    for arg in it:
        if "=" in arg and arg.startswith("--"):
            flag, _, val = arg.partition("=")
            rest = [val]
        else:
            flag, rest = arg, None
        get = (lambda f=flag, r=rest: r[0]) if rest else (lambda f=flag: value(f))
        if flag == "--module":
            opts.module = get()
        elif flag == "--wsgi-file":
            opts.wsgi_file = get()
        elif flag == "--callable":
            opts.callable = get()
        elif flag == "--pythonpath":
            opts.pythonpath.append(get())
        elif flag in ("--threads", "--harakiri"):
            v = get()
            try:
                n = int(v)
                if n < 0 or (flag == "--threads" and n < 1):
                    raise ValueError
            except ValueError:
                usage("%s needs a %s integer, got %r"
                      % (flag, "positive" if flag == "--threads" else "non-negative", v))
            setattr(opts, flag[2:], n)
        elif flag in ("-h", "--help"):
            sys.stdout.write(USAGE + "\n")
            sys.exit(0)
        else:
            usage("unknown argument %r" % arg)
    if bool(opts.module) == bool(opts.wsgi_file):
        usage("give exactly one of --module and --wsgi-file")
    return opts


def usage(msg):
    sys.stderr.write("ebb worker: %s\n%s\n" % (msg, USAGE))
    sys.exit(EXIT_USAGE)

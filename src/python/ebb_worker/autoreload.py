"""py-autoreload: tell the master which files the imported modules come from.

The process that imports the app (the fork server, or each worker with lazy-apps) writes the
list once the app is imported (report); each worker then writes it again every
EBB_PY_AUTORELOAD seconds when it has imported more modules since (start).  A list is
EBB_AUTORELOAD_DIR/<pid>.list, written to a temporary name and renamed, one
"MTIME_NS<TAB>PATH" line per file; the master watches the files with inotify and reloads when
one changes (src/master/watch.rs)."""

import os
import sys
import threading


def _files():
    out = {}
    for mod in list(sys.modules.values()):
        path = getattr(mod, "__file__", None)
        if not path or not isinstance(path, str):
            continue
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        path = os.path.abspath(path)
        if path in out:
            continue
        try:
            out[path] = os.stat(path).st_mtime_ns
        except OSError:
            continue
    return out


def report(environ=os.environ):
    """Write this process's list; returns how many modules were seen (0 when off)."""
    d = environ.get("EBB_AUTORELOAD_DIR")
    if not d:
        return 0
    n = len(sys.modules)
    lines = ["%d\t%s\n" % (m, p) for p, m in sorted(_files().items()) if "\n" not in p]
    tmp = os.path.join(d, "%d.tmp" % os.getpid())
    try:
        with open(tmp, "w") as f:
            f.writelines(lines)
        os.rename(tmp, os.path.join(d, "%d.list" % os.getpid()))
    except OSError:
        pass                      # the master is gone, or its directory: nothing to tell
    return n


def start(environ=os.environ):
    """In a worker: report again every EBB_PY_AUTORELOAD seconds if more modules came."""
    if not environ.get("EBB_AUTORELOAD_DIR"):
        return
    try:
        every = max(1, int(environ.get("EBB_PY_AUTORELOAD", "1")))
    except ValueError:
        every = 1
    seen = [len(sys.modules)]

    def loop():
        stop = threading.Event()
        while not stop.wait(every):
            if len(sys.modules) != seen[0]:
                seen[0] = report(environ)

    threading.Thread(target=loop, name="ebb-autoreload", daemon=True).start()

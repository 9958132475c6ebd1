"""The worker's own messages."""

import os
import sys
import threading


_log_lock = threading.Lock()
_log_prefix = "[ebb worker ? pid %d] " % os.getpid()


def log(msg):
    text = _log_prefix + msg
    if not text.endswith("\n"):
        text += "\n"
    with _log_lock:
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except Exception:
            pass

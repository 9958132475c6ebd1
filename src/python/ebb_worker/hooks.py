"""uWSGI's pre-app and post-app hooks (hook-pre-app, exec-pre-app, ...): the master gives them
in EBB_HOOK_PRE_APP / EBB_HOOK_POST_APP, one ``ACTION:ARG`` per line, already checked."""

import os
import subprocess

from .logs import log


def run(phase):
    """Run the hooks of `phase` ("pre-app" or "post-app") in order. Returns None, or what
    failed (the caller fails the import with it)."""
    spec = os.environ.get("EBB_HOOK_" + phase.upper().replace("-", "_"), "")
    for line in spec.splitlines():
        action, _, arg = line.partition(":")
        what = "hook-%s %s" % (phase, line)
        try:
            if action == "exec":
                code = subprocess.call(arg, shell=True, stdin=subprocess.DEVNULL)
                if code != 0:
                    return "%s: the command failed (%s)" % (
                        what, "exit status %d" % code if code > 0 else "signal %d" % -code)
            elif action == "mkdir":
                try:
                    os.mkdir(arg)
                except FileExistsError:
                    if not os.path.isdir(arg):
                        raise
            elif action == "unlink":
                os.unlink(arg)
            elif action == "print":
                log(arg)
            else:
                return "%s: unknown action %r" % (what, action)
        except OSError as e:
            return "%s: %s" % (what, e)
        log("%s done" % what, "debug")
    return None

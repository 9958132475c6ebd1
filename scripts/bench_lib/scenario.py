"""What every scenario shares: the base class (runs, errors, warm-up, summary) and the
helpers for medians and server order."""

import statistics
import subprocess
import traceback

from . import procs
from .load import wrk_run
from .procs import say


def spread(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def rotate(items, k):
    """Server order for repetition k: rotated, so that no server always runs first or last."""
    k %= len(items)
    return items[k:] + items[:k]


class Scenario:
    key = "?"
    title = "?"

    def __init__(self, ctx, servers, plan, workdir):
        self.ctx, self.servers, self.plan, self.workdir = ctx, servers, plan, workdir
        self.args = ctx.args
        self.errors = []      # (server, message)
        self.runs = []        # raw records

    def fail(self, server, what, exc):
        msg = "%s: %s" % (what, exc)
        if not isinstance(exc, (RuntimeError, OSError, subprocess.SubprocessError)):
            msg += "\n" + traceback.format_exc()
        say("  ! %s %s" % (server, msg.splitlines()[0]))
        procs.debug(msg)
        self.errors.append({"server": server, "error": msg[:4000]})

    def warmup(self, port):
        if self.plan.warmup > 0:
            wrk_run(port, self.plan.warmup, self.args)

    def result(self):
        return {"title": self.title, "runs": self.runs, "errors": self.errors,
                "summary": self.summary()}

    def missing(self):
        """Servers (or sub-cases) with no successful run: the scenario could not run for them."""
        ok = {r["server"] for r in self.runs if not r.get("error")}
        return [s.name for s in self.servers if s.name not in ok]

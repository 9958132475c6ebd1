"""Harakiri: log the stack of a request that has run too long (checked by the main thread)."""

import sys
import traceback

from .logs import log


class Harakiri(object):
    """Server methods: harakiri (a mixin of loop.Server)."""

    def check_harakiri(self, now):
        frames = None
        for ctx in self.ctxs:
            if not ctx.busy:
                ctx.hk_seen = -1
                continue
            if ctx.hk_seen != ctx.requests:
                ctx.hk_seen = ctx.requests
                ctx.hk_since = now
                continue
            if ctx.hk_reported == ctx.requests or now - ctx.hk_since < self.harakiri:
                continue
            ctx.hk_reported = ctx.requests
            if frames is None:
                frames = sys._current_frames()
            frame = frames.get(ctx.ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(unknown)\n"
            line = ctx.reqline.split("\r\n", 1)[0][:300]
            log("harakiri: request %r has been running for more than %d s (thread %s); its "
                "stack:\n%s" % (line, self.harakiri, ctx.name, stack.rstrip()), "error")
            self.report("X_EBB_STUCK=1\nSTATUS=harakiri: request %s running over %d s"
                        % (line[:200].replace("\n", " "), self.harakiri))

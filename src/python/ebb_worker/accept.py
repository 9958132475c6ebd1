"""Accepting connections: how many a process takes (the policy), and the accept path itself.

The worker processes share each listening socket.  Left to chance, the process whose thread
happens to wake first takes a burst of new keep-alive connections, and keeps them for their
lives: with 16 connections on 2 processes x 8 threads the split was 9/7, 10/6, at times 13/3,
and the process with more connections than threads queued requests that the other would have
run at once (the 1 ms app: 9.0k req/s at 13/3 against 12.6k at 8/8).  uWSGI's threads each hold
the connection they serve, so its split follows its free threads.  Here a process that holds as
many connections as it has threads leaves a new one, for ACCEPT_DEFER, to a process that holds
fewer (see accept_quota); when every process is that full, each takes one after the delay.
Every process's poller reports each new connection (level-triggered on Linux; EPOLLEXCLUSIVE
would tell one process only, which may be the full one)."""

import errno
import os
from threading import get_ident

from .logs import log
from .settings import ACCEPT_DEFER, _monotonic

ACCEPT_LOG_EVERY = 60      # seconds between two "cannot accept" lines of one worker


def accept_quota(held, threads, retry):
    """The policy: how many connections to accept now from a listener that reported some, for a
    process that holds `held` connections (open, idle ones included) and has `threads` serving
    threads; `retry`: this listener was already left alone for ACCEPT_DEFER.  0 means leave
    them to the other processes for ACCEPT_DEFER.

    Below a connection per thread: one.  The thread that accepts it serves it at once; the
    listener, still ready (level-triggered), reports the next one to whichever thread waits in
    a poller then, in this process or another (a batch accepted at once was served one after
    the other by one thread, while the other process, or another thread here, sat idle: hello
    world with a new connection per request, p99 2.2 ms against 1.3 ms one at a time, and a
    quarter fewer accepts that find nothing).  Full: none, so that a process with a free place
    takes them; after the delay (every process is full, or the others were slow to take it),
    one, and the delay again for the next.
    """
    return 1 if held < threads or retry else 0


class Accepting(object):
    """Server methods: accept on the listening sockets (a mixin of loop.Server)."""

    def _init_accepting(self):
        self.accept_paused = False     # out of fds: the main thread re-arms after 0.5 s
        self.accept_failures = 0       # EMFILE & co. since the last time it was logged
        self.accept_logged_at = 0.0
        self.accept_resume_at = 0.0    # when the listeners left to the others report again
        self.accept_deferred = set()   # those listeners
        self.accept_retry = set()      # listeners that were left alone: accept when they report

    def _accept(self, lfd):
        """Accept what the policy allows from a listener that reported; returns the fds of the
        new connections (served next, by the leader)."""
        fresh = []
        with self.listen_lock:
            lst = self.listeners.get(lfd)
            if lst is None:
                return fresh
            n = accept_quota(len(self.conns), self.nthreads, lfd in self.accept_retry)
            poller = self.poller
            if not n:
                poller.unlisten(lfd)
                self.accept_deferred.add(lfd)
                if not self.accept_resume_at:
                    self.accept_resume_at = _monotonic() + ACCEPT_DEFER
                return fresh
            self.accept_retry.discard(lfd)
            paused = False
            try:
                paused = self._accept_batch(lfd, lst, fresh, n)
            finally:
                if paused:
                    poller.unlisten(lfd)
                else:
                    poller.accepted(lfd)
        return fresh

    def resume_accept(self):
        """Called by the leader before it waits while listeners are left to the others: their
        events back once ACCEPT_DEFER is over, or once this process holds fewer connections
        than threads again (connections that close at once, `Connection: close`: a full
        process is full for a moment only).  Returns how long to wait for that (seconds; -1:
        nothing left to resume)."""
        with self.listen_lock:
            at = self.accept_resume_at
            if not at:
                return -1
            left = at - _monotonic()
            if left > 0 and len(self.conns) >= self.nthreads:
                return left
            self.accept_resume_at = 0.0
            for lfd in self.accept_deferred:
                if lfd in self.listeners and not self.accept_paused:
                    self.accept_retry.add(lfd)
                    self.poller.listen(lfd)
            self.accept_deferred.clear()
            return -1

    def _closed_while_deferred(self):
        """A connection closed while the listeners are left to the others (see _close): if
        this process is no longer full, the leader takes new ones again (woken when it waits
        in the poller meanwhile)."""
        if len(self.conns) < self.nthreads:
            ldr = self.leader
            if ldr is None or ldr.ident != get_ident():
                self._wake_loop()

    def _accept_batch(self, lfd, lst, fresh, n):
        """Accept up to `n` connections; True when accepting is paused (out of fds: the main
        thread re-arms the listener later)."""
        acc = lst.sock._accept
        for _ in range(n):
            try:
                fd, addr = acc()
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    if not self.accept_paused:
                        self._accept_failed(e)
                    self.accept_paused = True
                    self.poke()
                    return True
                log("accept failed on %s: %s" % (lst.name, e), "warning")
                break
            try:
                self._new_conn(fd, addr, lst)
            except OSError as e:
                log("cannot set up a new connection: %s" % e, "warning")
                try:
                    os.close(fd)
                except OSError:
                    pass
                continue
            fresh.append(fd)
        return False

    def _accept_failed(self, e, now=None):
        """Out of fds (or memory): said at most once per ACCEPT_LOG_EVERY seconds, with how
        often it happened meanwhile (accept retries every 0.5 s: a line each time would flood
        the log while the condition lasts).  True when it was logged."""
        now = _monotonic() if now is None else now
        self.accept_failures += 1
        if self.accept_logged_at and now - self.accept_logged_at < ACCEPT_LOG_EVERY:
            return False
        more = self.accept_failures - 1
        self.accept_failures = 0
        self.accept_logged_at = now
        log("cannot accept connections: %s; pausing accept for 0.5 s at a time (raise the "
            "open-files limit?)%s" % (e, " (%d more time(s) in the last %d s)"
                                      % (more, ACCEPT_LOG_EVERY) if more else ""), "error")
        return True

    def rearm_listeners(self):
        """After an accept pause (main thread): every listener reports again."""
        with self.listen_lock:
            self.accept_paused = False
            for fd in self.listeners:
                try:
                    self.poller.listen(fd)
                except OSError:
                    pass

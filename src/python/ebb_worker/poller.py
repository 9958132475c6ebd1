"""Pollers: the epoll set (Linux) or kqueue (the BSDs, macOS) the serving threads wait in."""

import select

# The leading thread waits in the set, or every idle thread while requests wait (see
# loop.Server._thread_main): wait(timeout) returns up to 64 events, wait_one(timeout) one
# (each roaming thread serves what it takes, see loop.Server._roam).  Connections are
# edge-triggered (no re-arm syscall per request; see Server._serve_fd for how an edge that
# arrives while a thread holds the connection is not lost).  Listening sockets: listen(fd) /
# unlisten(fd) start and stop their events, accepted(fd) follows each accept batch.  With epoll
# they are level-triggered (a batch needs no re-arm; accept.py says when they are stopped);
# with kqueue one-shot, re-armed after each batch.  mute(fd) and unmute(fd) stop and restart a
# connection's events while a thread waits on it (Server._stick).  Every process's poller
# reports a new connection (not EPOLLEXCLUSIVE: a process that leaves it to the others must not
# be the only one told).  Both waits return [(fd, events)]; timeout in seconds, -1 for none.


class _EpollPoller(object):
    def __init__(self):
        self._ep = select.epoll()
        edge = select.EPOLLIN | select.EPOLLET
        ep = self._ep
        self.register = lambda fd: ep.register(fd, edge)
        self.unregister = ep.unregister
        self.mute = lambda fd: ep.modify(fd, 0)
        self.unmute = lambda fd: ep.modify(fd, edge)   # reports data that arrived meanwhile
        self.wait = lambda timeout=-1: ep.poll(timeout, 64)
        self.wait_one = lambda timeout: ep.poll(timeout, 1)
        self._on = set()                 # listeners registered

    def listen(self, fd):
        if fd not in self._on:
            try:
                self._ep.register(fd, select.EPOLLIN)
            except FileExistsError:
                pass
            self._on.add(fd)

    def unlisten(self, fd):
        if fd in self._on:
            self._on.discard(fd)
            try:
                self._ep.unregister(fd)
            except (OSError, ValueError):
                pass

    def accepted(self, fd):
        pass                             # level-triggered: nothing to re-arm


class _KqueuePoller(object):
    def __init__(self):
        kq = select.kqueue()
        self._kq = kq
        once = select.KQ_EV_ADD | select.KQ_EV_ONESHOT
        edge = select.KQ_EV_ADD | select.KQ_EV_CLEAR
        rd = select.KQ_FILTER_READ
        kev = select.kevent

        def arm(fd):
            kq.control([kev(fd, rd, once)], 0, 0)

        def register(fd):
            kq.control([kev(fd, rd, edge)], 0, 0)

        def unregister(fd):
            try:
                kq.control([kev(fd, rd, select.KQ_EV_DELETE)], 0, 0)
            except OSError:
                pass

        def mute(fd):
            kq.control([kev(fd, rd, select.KQ_EV_DISABLE)], 0, 0)

        def unmute(fd):
            kq.control([kev(fd, rd, select.KQ_EV_ENABLE | select.KQ_EV_CLEAR)], 0, 0)

        def wait(timeout=-1, most=64):
            return [(e.ident, 1) for e in kq.control(None, most, None if timeout < 0 else timeout)]

        self.register = register
        self.listen = arm
        self.unlisten = lambda fd: None      # one-shot: it stays disarmed until listen()
        self.accepted = arm
        self.unregister = unregister
        self.mute = mute
        self.unmute = unmute
        self.wait = wait
        self.wait_one = lambda timeout: wait(timeout, 1)


def make_poller():
    if hasattr(select, "epoll"):
        return _EpollPoller()
    if hasattr(select, "kqueue"):
        return _KqueuePoller()
    raise RuntimeError("this platform has neither epoll nor kqueue")

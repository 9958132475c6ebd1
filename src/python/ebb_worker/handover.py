"""Whether requests wait: the policy that starts, extends and ends a hand-over period (nobody
leads, every idle thread serves what it gets; see loop.Server._thread_main), the rule for a
thread sticking to a keep-alive connection, and the measurement of a serve they judge."""

import resource

from .settings import HAND_OVER_AFTER, HAND_OVER_MAX

# Whether requests wait (the hand-over policy).  A serve that took HAND_OVER_AFTER or longer
# either waited (the app slept, queried a database: the GIL was free, the process idle) or was
# slowed down: the OS preempted the process (a shared machine, the load generator on the same
# cores), the hypervisor took the CPU away from it (steal time), or it waited for the GIL held
# by another serving thread.  Only the first is worth a thread hand-over per request.  The wall
# clock alone cannot tell them apart, which once let a hello-world app under load spend a fifth
# of its time in hand-over mode (a futex and a GIL hand-over per request, p99 x10); so the
# serve after a slow one, and serves late in a hand-over period, are measured with getrusage():
# the process's CPU time and its involuntary context switches, and the serving thread's own
# voluntary ones (about 4 us a call, spent only on those serves).

_getrusage = resource.getrusage
_RUSAGE_SELF = resource.RUSAGE_SELF
# Linux: the calling thread alone.  Elsewhere the thread's own switches are not known and
# every serve counts as one that blocked (the rule without that check).
_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)
# Inside a hand-over period, the share of one CPU the process may use during a measured serve
# that still counts as waiting (keeps_waiting).
BUSY_SHARE = 0.8


def probe():
    """(CPU seconds, involuntary context switches) of the whole process so far, and the
    voluntary context switches and CPU seconds of the calling thread (None where not
    known)."""
    ru = _getrusage(_RUSAGE_SELF)
    if _RUSAGE_THREAD is None:
        return ru.ru_utime + ru.ru_stime, ru.ru_nivcsw, None, None
    th = _getrusage(_RUSAGE_THREAD)
    return ru.ru_utime + ru.ru_stime, ru.ru_nivcsw, th.ru_nvcsw, th.ru_utime + th.ru_stime


def serve_waited(wall, cpu, preempted, blocked):
    """The policy: did a serve that took `wall` seconds, while the whole process used `cpu`
    seconds of CPU, wait?  Yes when it was slow (HAND_OVER_AFTER), the process was idle for
    at least half of it, and the serving thread gave up the CPU itself meanwhile (`blocked`:
    it slept, waited for I/O or for the GIL).  No verdict (False) when one of the process's
    threads was preempted (`preempted`), or when the serving thread never left the CPU: the
    idle time is then the OS's or the hypervisor's (steal time is counted as no one's CPU
    time, and a 1 ms computation stolen from looked here like a 1 ms sleep)."""
    return (blocked and not preempted and wall >= HAND_OVER_AFTER
            and wall - cpu >= wall / 2)


def keeps_waiting(wall, cpu, own_cpu, blocked, slow, served, in_a_row):
    """The policy inside a hand-over period: does a serve that took `wall` seconds, while its
    own thread used `own_cpu` seconds of CPU and the whole process `cpu`, show that requests
    still wait?  Yes when it was slow (HAND_OVER_AFTER), its thread gave up the CPU itself
    (`blocked`) and was off it for at least half of the serve, the process used less than
    BUSY_SHARE of a CPU meanwhile, and at least half of the `served` requests of the period
    so far were `slow`; and never once the periods have gone on for HAND_OVER_MAX seconds in a
    row (`in_a_row`): then serve_waited, with one thread serving, must find requests waiting
    again.

    With the threads serving side by side, serve_waited's tests do not hold for an app that
    waits once the machine is busy: some thread of the process is nearly always preempted
    (97 % of the measured serves of a 1 ms app here, its own thread in half of them) and the
    process busy for half the time (the median), so every period ended after HAND_OVER_FOR
    and the requests queued behind one leading thread until the next began (ten times a
    second in each process).  What still tells a CPU-bound app apart is the process's CPU:
    its threads keep one CPU busy (0.85-1.2 of the serve's time measured here; the 1 ms app:
    0.5, 0.72 at the 90th percentile).  And what tells hello world apart, whose requests
    become slow only by waiting for the GIL or a core (2-10 % of them in a period here,
    enough to find one that passes the other tests in every period), is the share.  Not
    always: once in a period, hello world's requests all become slow, waiting for the GIL
    passed among the threads, and their own slowness kept the period going in one process of
    two here (the process preempted often enough for the CPU test to pass now and then).
    HAND_OVER_MAX ends that; an app that waits loses a few milliseconds of side-by-side
    serving every HAND_OVER_MAX seconds, until serve_waited sees it wait."""
    return (blocked and wall >= HAND_OVER_AFTER and wall - own_cpu >= wall / 2
            and cpu < BUSY_SHARE * wall and 2 * slow >= served and in_a_row < HAND_OVER_MAX)


def may_stick(waiting, conns, threads, leads, idle_http, draining, stick_for):
    """The policy: may a thread that has just answered on a keep-alive connection wait on it
    for the next request (Server._stick)?  Only while requests wait (`waiting`: hand-over mode;
    fast requests are better served by the leader alone), when the process holds no more
    connections than threads (so no other client can be kept waiting for this thread: fair),
    by a thread that does not lead (the loop must go on), for an HTTP connection with nothing
    buffered (`idle_http`), not while draining, and not when `stick_for` (STICK_FOR) is 0."""
    return (stick_for > 0 and waiting and conns <= threads and not leads and idle_http
            and not draining)

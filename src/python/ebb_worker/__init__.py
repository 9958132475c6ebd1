"""ebb's Python WSGI worker (standard library only, Python >= 3.8).

Run by the ebb master as

    python3 ebb_worker.py (--module pkg.mod[:callable] | --wsgi-file app.py) [--callable NAME]
                          [--pythonpath DIR]... [--threads N] [--harakiri SECONDS]

with the listening sockets at fds 3.. (LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES: `http` or `uwsgi`)
and a datagram NOTIFY_SOCKET for READY=1, STOPPING=1 and the X_EBB_* counters.  On the drain
signal (EBB_DRAIN_SIGNAL, default SIGTERM; also SIGTERM and SIGINT) it stops accepting, finishes
its requests, closes its keep-alive connections politely, waits for every background job (work
submitted to any ThreadPoolExecutor, threads started while handling a request, ebb.background /
ebb.job) and exits 0.  SIGQUIT exits at once.

Design: one event loop (epoll, or kqueue) holds every idle connection, so an idle keep-alive
connection never holds a thread.  One of the N serving threads leads: it waits for events and
serves each ready connection itself (read the request, run the app, write the response), so a
fast request is never handed between threads and the GIL is not passed around.  A second thread
stands by; when the leader has been busy with one connection for TAKEOVER seconds (the app
blocks, or a client is slow) the standby takes the loop over.  Once a measured request has been
seen to wait with the process idle (handover.serve_waited: a serve slowed by the OS, the
hypervisor or the GIL does not count), nobody leads for as long as requests keep waiting
(handover.keeps_waiting): every idle thread waits in the poller itself and serves the one event
the kernel gives it, so that requests that wait run side by side on all the threads.  The
main thread only handles signals, timeouts, harakiri and the coalesced reports to the master.

Modules (each imports only those before it in this list): settings, errors, logs, body
(wsgi.input), http1 (the request head, error responses), wsgi (request state, responses),
uwsgi, master (notify socket, reports), harakiri, accept (which process takes a connection),
poller (epoll, kqueue), handover (whether requests wait), loop (event loop, threads,
drain), options, hooks (pre-app and post-app), uwsgi_api (the `uwsgi` module apps import),
uwsgidecorators_api, app (import), main (start-up, the main thread), spooler (a spooler
process: `run_worker.py --spooler`).  Start:
ebb_worker.main.main().

Exit codes: 0 drained (or SIGQUIT), 2 bad command line, 3 bad environment (no listening sockets,
unusable NOTIFY_SOCKET, Python too old), 4 the application could not be imported.
"""

import sys

if sys.version_info < (3, 8):
    sys.stderr.write("ebb: the Python worker needs Python >= 3.8, this is %s (%s)\n"
                     % (sys.version.split()[0], sys.executable))
    sys.exit(3)

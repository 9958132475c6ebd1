"""Applications that produce invalid responses (the worker must answer 500, never emit them)."""

CASES = {
    "/name-crlf": ("200 OK", [("X-A\r\nInjected", "yes")]),
    "/name-colon": ("200 OK", [("X-A: b", "c")]),
    "/name-bytes": ("200 OK", [(b"X-A", "b")]),
    "/value-lf": ("200 OK", [("X-A", "a\nInjected: yes")]),
    "/value-bytes": ("200 OK", [("X-A", b"b")]),
    "/value-int": ("200 OK", [("X-A", 1)]),
    "/status-crlf": ("200 OK\r\nInjected: yes", []),
    "/clen-sign": ("200 OK", [("Content-Length", "+1")]),
    "/clen-underscore": ("200 OK", [("Content-Length", "0_1")]),
    "/clen-negative": ("200 OK", [("Content-Length", "-1")]),
}

SAME = [("Content-Type", "text/plain"), ("X-Same", "1")]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path in CASES:
        status, headers = CASES[path]
        start_response(status, headers)
        return [b"x"]
    if path == "/same":           # one status and header list for every request
        start_response("200 OK", SAME)
        return [b"same"]
    if path == "/same-close":     # the same, and the app asks to close
        start_response("200 OK", SAME + [("Connection", "close")])
        return [b"same"]
    # valid: hop-by-hop headers from the app are dropped, Date from the app is kept
    start_response("200 OK", [("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
                              ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                              ("Content-Length", "2")])
    return [b"ok"]

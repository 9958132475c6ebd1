"""Exceptions shared by the request parser, wsgi.input and the response writer."""


class ClientGone(OSError):
    """The client went away or stopped sending/receiving (raised from wsgi.input and write())."""


class BadRequestBody(ClientGone):
    """The request body's framing is invalid (e.g. a bad chunk size)."""


class _HTTPError(Exception):
    def __init__(self, status, reason=""):
        Exception.__init__(self, status)
        self.status = status
        self.reason = reason

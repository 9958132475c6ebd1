"""wsgi.input: the request body, Content-Length or chunked, read from the socket on demand."""

import socket

from .errors import BadRequestBody, ClientGone
from .settings import DISCARD_MAX, MAX_FIELDS, RECV, REQUEST_TIMEOUT


class _EmptyInput(object):
    """wsgi.input of a request without a body (stateless, shared)."""
    __slots__ = ()

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())

    def close(self):
        pass


_EMPTY = _EmptyInput()
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class _Body(object):
    """wsgi.input for a body not (entirely) received yet: Content-Length or chunked.  It never
    reads past the end of the body; "100 Continue" is sent before the first read from the socket
    when the client asked for it."""

    __slots__ = ("_sock", "_buf", "_left", "_chunked", "_raw", "_state", "_expect", "_ntrail")

    def __init__(self, sock, data, left, chunked, expect):
        self._sock = sock
        self._expect = expect
        self._chunked = chunked
        self._ntrail = 0
        if chunked:
            self._buf = bytearray()
            self._raw = bytearray(data)
            self._left = 0
            self._state = 0        # 0 size line, 1 data, 2 CRLF after data, 3 trailers, 4 done
        else:
            self._buf = bytearray(data)
            self._raw = None
            self._left = left      # bytes of the body still on the socket
            self._state = 4 if left <= 0 else 1
        if data and expect:
            self._expect = False   # the client did not wait for 100 Continue

    # -- socket side

    def _recv(self, n):
        if self._expect:
            self._expect = False
            try:
                self._sock.sendall(_CONTINUE)
            except OSError as e:
                raise ClientGone("cannot send 100 Continue: %s" % e)
        try:
            data = self._sock.recv(n)
        except (BlockingIOError, socket.timeout):
            raise ClientGone("timed out reading the request body (%.0f s)" % REQUEST_TIMEOUT)
        except OSError as e:
            raise ClientGone("error reading the request body: %s" % e)
        if not data:
            raise ClientGone("the client closed the connection before sending the whole body")
        return data

    def _rawline(self):
        """The next line of the chunked framing, without its CRLF; a bare LF or CR is an error
        (RFC 9112 7.1: the framing is not guessed, which is what request smuggling uses)."""
        raw = self._raw
        while True:
            j = raw.find(b"\n")
            if j >= 0:
                if j == 0 or raw[j - 1] != 13:
                    raise BadRequestBody("chunked body: a line ends in a bare LF")
                line = bytes(raw[:j - 1])
                del raw[:j + 1]
                if b"\r" in line:
                    raise BadRequestBody("chunked body: a bare CR in a chunk line")
                return line
            if len(raw) > 8192:
                raise BadRequestBody("chunked body: line too long")
            raw += self._recv(RECV)

    def _next(self, n):
        """The next piece of the body (at most n bytes, n > 0); b"" at its end."""
        if not self._chunked:
            left = self._left
            if left <= 0:
                return b""
            data = self._recv(n if n < left else left)
            self._left = left - len(data)
            if self._left <= 0:
                self._state = 4
            return data
        while True:
            st = self._state
            if st == 1:
                raw = self._raw
                k = self._left if self._left < n else n
                if raw:
                    if k > len(raw):
                        k = len(raw)
                    data = bytes(raw[:k])
                    del raw[:k]
                else:
                    data = self._recv(k)
                self._left -= len(data)
                if self._left == 0:
                    self._state = 2
                return data
            if st == 4:
                return b""
            line = self._rawline()
            if st == 0:
                # chunk-size [ BWS ";" chunk-ext ]: hex digits only, blanks only before a ';'
                size, semi, _ext = line.partition(b";")
                if semi:
                    size = size.rstrip(b" \t")
                if not size or len(size) > 16 or size.strip(b"0123456789abcdefABCDEF"):
                    raise BadRequestBody("chunked body: invalid chunk size %r" % line[:40])
                size = int(size, 16)
                if size == 0:
                    self._state = 3
                else:
                    self._left = size
                    self._state = 1
            elif st == 2:
                if line:
                    raise BadRequestBody("chunked body: missing CRLF after a chunk")
                self._state = 0
            else:   # trailers
                if not line:
                    self._state = 4
                    return b""
                if b":" not in line or line[:1] in (b" ", b"\t"):
                    raise BadRequestBody("chunked body: malformed trailer field %r" % line[:40])
                self._ntrail += 1
                if self._ntrail > MAX_FIELDS:
                    raise BadRequestBody("chunked body: too many trailer fields")

    # -- the file API

    def read(self, size=-1):
        buf = self._buf
        if size is None or size < 0:
            parts = [bytes(buf)]
            buf.clear()
            while True:
                d = self._next(RECV)
                if not d:
                    break
                parts.append(d)
            return b"".join(parts)
        if len(buf) >= size:
            data = bytes(buf[:size])
            del buf[:size]
            return data
        parts = [bytes(buf)]
        have = len(buf)
        buf.clear()
        while have < size:
            d = self._next(size - have)
            if not d:
                break
            parts.append(d)
            have += len(d)
        return b"".join(parts)

    def readline(self, size=-1):
        buf = self._buf
        if size is None or size < 0:
            size = -1
        start = 0
        while True:
            j = buf.find(b"\n", start)
            if j >= 0:
                end = j + 1
                break
            if 0 <= size <= len(buf):
                end = size
                break
            start = len(buf)
            d = self._next(RECV)
            if not d:
                end = len(buf)
                break
            buf += d
        if 0 <= size < end:
            end = size
        line = bytes(buf[:end])
        del buf[:end]
        return line

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self):
        pass

    # -- for the server

    def finished(self):
        return self._state == 4

    def can_keep(self):
        """Can the connection stay open once the response is sent?"""
        if self._state == 4:
            return True
        return (not self._chunked and not self._expect and self._left <= DISCARD_MAX)

    def discard(self):
        """Read what the app left unread (small Content-Length bodies only)."""
        while self._next(RECV):
            pass
        self._buf.clear()

    def leftover(self):
        return bytes(self._raw) if self._raw else b""

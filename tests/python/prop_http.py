"""Property tests of the worker's HTTP/1.1 request-head parser, and a differential test of its
verdicts against h11 (an independent, well-known parser) on generated requests; property tests
of its chunked-body reader (round trip however the bytes arrive, nothing read past the end, the
loose chunk lines of issue 14 refused, any bytes a body or a refusal).

Needs hypothesis and h11, which ebb never needs at run time: they live in the test venv
(scripts/test makes it), and scripts/test runs this file with that venv's Python:

    target/ci-venv/bin/python -m unittest discover -s tests/python -p 'prop_*.py'
"""

import os
import re
import sys
import types
import unittest

import h11
from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "python"))

from ebb_worker.body import _Body  # noqa: E402
from ebb_worker.errors import BadRequestBody, ClientGone, _HTTPError  # noqa: E402
from ebb_worker.http1 import HTTPServing  # noqa: E402
from ebb_worker.settings import MAX_FIELD  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("EBB_PROP_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


class _Parser(HTTPServing):
    script_name = ""


_BASE = {"SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
         "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "1"}


def ours(data):
    """ebb's verdict on a request head (bytes ending in CRLF CRLF): ("accept", environ) or
    ("reject", status)."""
    i = data.find(b"\r\n\r\n")
    assert i >= 0
    conn = types.SimpleNamespace(env=dict(_BASE), unix=False, sock=None)
    try:
        env, _keep, _v11, _body, _rest = _Parser()._parse(conn, data[:i].decode("latin-1"),
                                                          data[i + 4:])
    except _HTTPError as e:
        return "reject", e.status
    return "accept", env


def theirs(data):
    c = h11.Connection(h11.SERVER)
    c.receive_data(data)
    try:
        ev = c.next_event()
    except h11.RemoteProtocolError as e:
        return "reject", str(e)
    if ev is h11.NEED_DATA:
        return "incomplete", None
    return "accept", ev


# ---- generated requests: mostly valid, with the mistakes parsers disagree on

TCHAR = "!#$%&'*+-.^`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7f))
tokens = st.text(TCHAR, min_size=1, max_size=12)
methods = st.one_of(st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS"]),
                    tokens, st.just(""), st.just("G T"))
targets = st.one_of(st.text(VCHAR, max_size=30).map(lambda s: "/" + s),
                    st.sampled_from(["*", "http://h/x?y", "/a b", "", "/\x7f", "/%zz"]))
versions = st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1",
                            "HTTP/1.10", "HTTP/1"])
names = st.one_of(st.sampled_from(["Accept", "X-Tag", "Cookie", "User-Agent", "X_Under",
                                   "Content-Type", "Connection"]), tokens,
                  st.sampled_from(["", "Bad Name", "X-Tag ", " X-Tag", "X\x01"]))
values = st.one_of(st.text(VCHAR + " \t", max_size=20).map(lambda s: s.strip(" \t")),
                   st.sampled_from(["a\x01b", "a\x7fb", " padded ", "\u00e9t\u00e9", "x" * 100]))
extra = st.lists(st.tuples(names, values), max_size=5)
framing = st.sampled_from([
    [], [("Content-Length", "0")], [("Content-Length", "5")],
    [("Content-Length", "5"), ("Content-Length", "5")],
    [("Content-Length", "5"), ("Content-Length", "6")], [("Content-Length", "-1")],
    [("Content-Length", "5x")], [("Content-Length", " 5")],
    [("Transfer-Encoding", "chunked")], [("Transfer-Encoding", "gzip, chunked")],
    [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
])
hosts = st.sampled_from([["h"], ["h"], ["h"], [], ["h", "evil"], ["h:80"]])


@st.composite
def requests(draw):
    method, target, version = draw(methods), draw(targets), draw(versions)
    headers = [("Host", h) for h in draw(hosts)] + draw(framing) + draw(extra)
    headers = draw(st.permutations(headers))
    lines = ["%s %s %s" % (method, target, version)]
    lines += ["%s: %s" % (k, v) for k, v in headers]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return data, method, target, version, headers


def _known_difference(data, version, headers):
    """Where ebb is deliberately not h11 (documented choices, not bugs)."""
    if version == "HTTP/1.1" and not any(k.lower() == "host" for k, _ in headers):
        return "h11 requires Host in HTTP/1.1; ebb serves such a request (as gunicorn does)"
    target = data.split(b" ", 2)[1] if data.count(b" ") >= 2 else b""
    if not target.startswith(b"/") and not target.startswith(b"http://") and target != b"*":
        return "a request target in no RFC 9112 3.2 form: ebb answers 400, h11 takes any"
    if target == b"*" and not data.startswith(b"OPTIONS "):
        return "'*' is the target of OPTIONS only (RFC 9112 3.2.4): ebb answers 400"
    if re.search(b"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", data):
        return "a control character in a field value: ebb answers 400 (RFC 9110 5.5), h11 takes it"
    if b"\r\n " in data or b"\r\n\t" in data:
        return ("obs-fold (a line starting with a blank): ebb answers 400, h11 unfolds "
                "(RFC 9112 5.2 allows both)")
    if version == "HTTP/2.0":
        return "an HTTP/2.0 request line: ebb answers 505, h11 rejects it"
    te = [v for k, v in headers if k.lower() == "transfer-encoding"]
    if te and te[0] != "chunked":
        return "a transfer coding other than chunked: ebb answers 501/400, h11 rejects"
    if te and any(k.lower() == "content-length" for k, _ in headers):
        return ("Transfer-Encoding and Content-Length: ebb answers 400 (RFC 9112 6.1 allows it; "
                "the usual smuggling vector), h11 lets Transfer-Encoding win")
    if b"HTTP/1.0" in data.split(b"\r\n", 1)[0] and te:
        return "Transfer-Encoding in HTTP/1.0: both reject, h11 maybe later"
    return None


class DifferentialTests(unittest.TestCase):
    @SETTINGS
    @given(requests())
    def test_same_verdict_as_h11(self, req):
        data, method, target, version, headers = req
        verdict, env = ours(data)
        theirs_verdict, ev = theirs(data)
        if theirs_verdict == "incomplete":
            return            # h11 waits for a body ebb would read from wsgi.input
        if _known_difference(data, version, headers):
            return
        self.assertEqual(verdict, theirs_verdict,
                         "ebb %s (%r), h11 %s (%r) on %r" % (verdict, env, theirs_verdict, ev,
                                                             data))
        if verdict != "accept":
            return
        self.assertEqual(env["REQUEST_METHOD"], ev.method.decode("latin-1"))
        self.assertEqual(env["RAW_URI"], ev.target.decode("latin-1"))
        seen = {}
        for k, v in ev.headers:
            seen.setdefault(k.decode("latin-1"), []).append(v.decode("latin-1"))
        for name, vals in seen.items():
            if "_" in name:
                continue          # dropped by ebb (ambiguous with '-' in the environ)
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if key == "CONTENT_LENGTH":
                want = str(int(vals[0]))
            else:
                want = ("; " if key == "HTTP_COOKIE" else ", ").join(vals)
            self.assertEqual(env.get(key), want, "%s in %r" % (key, data))


class PropertyTests(unittest.TestCase):
    @SETTINGS
    @given(st.binary(max_size=300))
    def test_any_bytes_give_an_environ_or_an_http_error(self, junk):
        data = junk.replace(b"\r\n\r\n", b"") + b"\r\n\r\n"
        verdict, got = ours(data)
        if verdict == "reject":
            self.assertIn(got, (0, 400, 414, 431, 417, 501, 505))
        else:
            self.assertIsInstance(got["PATH_INFO"], str)
            for k, v in got.items():
                if k.startswith("HTTP_"):
                    self.assertNotIn("\r", v)
                    self.assertNotIn("\n", v)

    @SETTINGS
    @given(requests())
    def test_accepted_heads_have_no_control_characters(self, req):
        verdict, env = ours(req[0])
        if verdict == "accept":
            for k, v in env.items():
                if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                    self.assertFalse(any(ord(c) < 32 and c != "\t" or ord(c) == 127
                                         for c in v), (k, v))

    @SETTINGS
    @given(st.integers(min_value=MAX_FIELD - 20, max_value=MAX_FIELD + 20),
           st.sampled_from(["X-Tag", "Content-Type", "Content-Length", "Cookie"]))
    def test_field_limit_for_every_name(self, size, name):
        line = "%s: %s" % (name, "1" * (size - len(name) - 2))
        verdict, got = ours(("GET / HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n" % line).encode())
        if len(line) > MAX_FIELD:
            self.assertEqual((verdict, got), ("reject", 431))
        else:          # accepted, or rejected for another reason (a 5,000-digit Content-Length)
            self.assertTrue(verdict == "accept" or got == 400, (verdict, got))


# ---- chunked bodies (ebb_worker.body._Body), read through a socket that hands out the bytes
# in pieces of any size, so that every framing line can be cut anywhere

class _PieceSocket(object):
    def __init__(self, data, cuts):
        self.pieces, pos = [], 0
        for n in cuts:              # each at least 1: an empty read is the end of the stream
            if pos >= len(data):
                break
            self.pieces.append(data[pos:pos + n])
            pos += n
        if pos < len(data):
            self.pieces.append(data[pos:])

    def recv(self, n):
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > n:
            self.pieces.insert(0, piece[n:])
            piece = piece[:n]
        return piece

    def sendall(self, data):
        pass

    def remaining(self):
        return b"".join(self.pieces)


def read_chunked(data, cuts, reads, with_head=False):
    """What a WSGI app reading wsgi.input in pieces of `reads` sizes gets, and the body.  With
    `with_head`, the first piece arrived with the request head (the parser hands it over)."""
    sock = _PieceSocket(data, cuts)
    first = sock.recv(len(data) + 1) if with_head else b""
    body = _Body(sock, first, 0, True, False)
    out, i = [], 0
    while True:
        n = reads[i % len(reads)] if reads else -1
        i += 1
        d = body.read(n)
        if not d:
            return b"".join(out), body, sock
        out.append(d)


def chunk_encode(body, sizes, ext, trailers):
    """The chunked encoding of body, and the (start, end) of each size line's hex digits."""
    out, lines, pos, i = b"", [], 0, 0
    while True:
        n = sizes[i % len(sizes)] if sizes else len(body)
        i += 1
        piece = body[pos:pos + n]
        pos += len(piece)
        digits = b"%x" % len(piece)
        lines.append((len(out), len(out) + len(digits)))
        out += digits + ext + b"\r\n"
        if not piece:
            break
        out += piece + b"\r\n"
    out += b"".join(b"%s: %s\r\n" % t for t in trailers) + b"\r\n"
    return out, lines


chunk_bodies = st.binary(max_size=300)
chunk_sizes = st.lists(st.integers(min_value=1, max_value=40), max_size=6)
chunk_exts = st.sampled_from([b"", b"", b";a", b";name=value", b';q="x y"', b" ;a", b"\t;a=1"])
chunk_trailers = st.lists(st.tuples(st.sampled_from([b"X-Sum", b"Expires"]),
                                    st.sampled_from([b"1", b"abc", b""])), max_size=2)
cuts = st.lists(st.integers(min_value=1, max_value=12), max_size=40)
reads = st.lists(st.sampled_from([-1, 1, 2, 3, 7, 100, 65536]), min_size=1, max_size=4)


class ChunkedProperties(unittest.TestCase):
    @SETTINGS
    @given(chunk_bodies, chunk_sizes, chunk_exts, chunk_trailers, cuts, reads,
           st.sampled_from([b"", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"]), st.booleans())
    def test_round_trip_and_nothing_past_the_end(self, body, sizes, ext, trailers, cut, rd,
                                                 after, with_head):
        enc = chunk_encode(body, sizes, ext, trailers)[0]
        got, b, sock = read_chunked(enc + after, cut, rd, with_head)
        self.assertEqual(got, body)
        self.assertTrue(b.finished())
        # The next pipelined request is left where it was: in the buffer or on the socket.
        self.assertEqual(b.leftover() + sock.remaining(), after)

    @SETTINGS
    @given(chunk_bodies, chunk_sizes, chunk_trailers, cuts, reads, st.data())
    def test_a_loose_chunk_line_is_refused(self, body, sizes, trailers, cut, rd, data):
        # The laxities of issue 14 (and the usual smuggling ones), on any size line.
        enc, lines = chunk_encode(body, sizes, b"", trailers)
        start, end = data.draw(st.sampled_from(lines))
        digits = enc[start:end]
        defect = data.draw(st.sampled_from(["space before", "space after", "bare LF", "bare CR",
                                            "0x", "+", "not hex"]))
        bad = {"space before": b" " + digits + b"\r\n", "space after": digits + b" \r\n",
               "bare LF": digits + b"\n", "bare CR": digits + b";a\rb\r\n",
               "0x": b"0x" + digits + b"\r\n", "+": b"+" + digits + b"\r\n",
               "not hex": digits + b"g\r\n"}[defect]
        data_ = enc[:start] + bad + enc[end + 2:]
        with self.assertRaises(BadRequestBody, msg="%s: %r" % (defect, data_)):
            read_chunked(data_, cut, rd)

    @SETTINGS
    @given(st.binary(max_size=200), cuts, reads)
    def test_any_bytes_give_a_body_or_a_refusal(self, junk, cut, rd):
        try:
            got, _, _ = read_chunked(junk, cut, rd)
        except ClientGone:
            return                     # BadRequestBody, or the bytes ended inside the body
        self.assertLessEqual(len(got), len(junk))


if __name__ == "__main__":
    unittest.main()

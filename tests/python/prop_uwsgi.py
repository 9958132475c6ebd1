"""Property tests of the worker's uwsgi-protocol vars parser (ebb_worker.uwsgi.parse_vars),
against an encoder written here from the protocol's description (u16 little-endian key length,
key, u16 little-endian value length, value, repeated); and a differential test: the same
generated packets sent to a real worker and to uWSGI itself (the protocol's reference
implementation), which must agree on accepting each packet and on the variables the app sees.

Needs hypothesis (the test venv; scripts/test runs this file with that venv's Python):

    target/ci-venv/bin/python -m unittest discover -s tests/python -p 'prop_*.py'

The differential test needs a uwsgi binary: $EBB_UWSGI, else target/bench-venv/bin/uwsgi (made
by scripts/bench), else uwsgi on PATH; it is skipped, saying so, when there is none.
"""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "python"))

from ebb_worker.uwsgi import parse_vars  # noqa: E402
from launch import WorkerProc, bind_tcp  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("EBB_PROP_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
keys = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), min_size=1, max_size=40)
pairs = st.lists(st.tuples(keys, latin1), max_size=12)


def encode(items):
    out = b""
    for k, v in items:
        kb, vb = k.encode("latin-1"), v.encode("latin-1")
        out += struct.pack("<H", len(kb)) + kb + struct.pack("<H", len(vb)) + vb
    return out


def boundaries(items):
    """Offsets where a var ends, with the vars complete before each."""
    pos, seen, out = 0, {}, [(0, {})]
    for k, v in items:
        pos += 4 + len(k.encode("latin-1")) + len(v.encode("latin-1"))
        seen = dict(seen)
        seen[k] = v
        out.append((pos, seen))
    return out


class UwsgiVarsProperties(unittest.TestCase):
    @SETTINGS
    @given(pairs, st.binary(max_size=8), st.binary(max_size=8))
    def test_round_trip_within_its_span(self, items, before, after):
        data = before + encode(items) + after
        end = len(before) + len(encode(items))
        self.assertEqual(parse_vars(data, len(before), end), dict(items))

    @SETTINGS
    @given(pairs, st.data())
    def test_a_cut_packet_is_refused_unless_cut_between_vars(self, items, data):
        full = encode(items)
        cut = data.draw(st.integers(min_value=0, max_value=len(full)))
        got = parse_vars(full, 0, cut)
        whole = dict(boundaries(items))
        if cut in whole:
            self.assertEqual(got, whole[cut])
        else:
            self.assertIsNone(got, "a var cut at %d of %d was accepted" % (cut, len(full)))

    @SETTINGS
    @given(pairs, pairs, latin1)
    def test_an_empty_key_is_refused(self, before, after, value):
        data = encode(before + [("", value)] + after)
        self.assertIsNone(parse_vars(data, 0, len(data)))

    @SETTINGS
    @given(st.binary(max_size=200), st.data())
    def test_any_bytes_give_vars_or_none_never_an_exception(self, data, draw):
        start = draw.draw(st.integers(min_value=0, max_value=len(data)))
        end = draw.draw(st.integers(min_value=start, max_value=len(data)))
        got = parse_vars(data, start, end)
        if got is not None:
            # Whatever was accepted re-encodes within the span (duplicate keys keep the last).
            self.assertLessEqual(len(encode(got.items())), end - start)


# ---- the differential test against uWSGI

ROOT = os.path.dirname(os.path.dirname(HERE))
# The environ in a header (hex of its JSON), so that a HEAD request shows it too.
DUMP_APP = """import json
def app(environ, start_response):
    env = json.dumps({k: v for k, v in environ.items() if isinstance(v, str)})
    start_response("200 OK", [("X-Env", env.encode("latin-1").hex()), ("Content-Length", "0")])
    return [b""]
"""


def find_uwsgi():
    for path in (os.environ.get("EBB_UWSGI"), os.path.join(ROOT, "target", "bench-venv", "bin", "uwsgi"),
                 shutil.which("uwsgi")):
        if path and os.access(path, os.X_OK):
            return path
    return None


def exchange(addr, data, timeout=5.0):
    """Send a packet, read to EOF: ("accept", environ) for a 200 with the app's JSON, else
    ("reject", what came back: a status line, or nothing)."""
    s = socket.create_connection(addr, timeout=timeout)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    finally:
        s.close()
    head = out.partition(b"\r\n\r\n")[0].split(b"\r\n")
    # uWSGI starts the status line with SERVER_PROTOCOL as sent, whatever it is
    if head[0].endswith(b" 200 OK"):
        env = [h.split(b":", 1)[1].strip() for h in head if h.lower().startswith(b"x-env:")]
        return "accept", json.loads(bytes.fromhex(env[0].decode()).decode("latin-1"))
    return "reject", head[0]


def packet(items, modifier1=0, size_delta=0, tail=b""):
    body = encode(items) + tail
    size = max(0, min(0xffff, len(body) + size_delta))
    return bytes([modifier1]) + struct.pack("<H", size) + b"\x00" + body


# What a proxy sends, and values of any bytes. No UWSGI_* keys: uWSGI acts on those. No
# CONTENT_LENGTH: a body would be another test, and ebb answers 400 to one that is not a
# number, where uWSGI reads it as 0 (a deliberate difference).
var_names = st.one_of(
    st.sampled_from(["REQUEST_METHOD", "REQUEST_URI", "PATH_INFO", "QUERY_STRING",
                     "SERVER_PROTOCOL", "CONTENT_TYPE", "REMOTE_ADDR", "SERVER_NAME",
                     "SERVER_PORT", "HTTP_HOST", "HTTP_COOKIE", "HTTP_X_TAG", "HTTPS",
                     "DOCUMENT_ROOT", "SCRIPT_NAME"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_", min_size=1, max_size=10).map(lambda k: "HTTP_X" + k),
    st.just(""))
var_values = st.one_of(st.sampled_from(["GET", "POST", "HEAD", "/", "/a%20b", "/\xe9", "HTTP/1.1",
                                        "HTTP/1.0", "a=1&b=2", "on", ""]),
                       latin1)
uwsgi_packets = st.tuples(
    st.lists(st.tuples(var_names, var_values), min_size=0, max_size=10),
    st.sampled_from([0] * 8 + [5, 255]),
    st.sampled_from([0] * 8 + [-1, -3, 1]),
    st.sampled_from([b""] * 8 + [b"\x01", b"\x00\x00"]))


class UwsgiDifferentialTests(unittest.TestCase):
    """A real worker and uWSGI on the same packets: the same verdict, the same variables."""

    @classmethod
    def setUpClass(cls):
        cls.uwsgi_bin = find_uwsgi()
        if not cls.uwsgi_bin:
            raise unittest.SkipTest("no uwsgi binary (set EBB_UWSGI, or run scripts/bench once to "
                                    "make target/bench-venv)")
        cls.tmp = tempfile.mkdtemp(prefix="ebb-uwsgi-diff-")
        app = os.path.join(cls.tmp, "dump.py")
        with open(app, "w") as f:
            f.write(DUMP_APP)
        cls.sock = bind_tcp()
        cls.ours = WorkerProc(["--wsgi-file", app, "--callable", "app"], [(cls.sock, "uwsgi")],
                              tmpdir=cls.tmp)
        probe = bind_tcp()
        port = probe.getsockname()[1]
        probe.close()
        cls.theirs_addr = ("127.0.0.1", port)
        cls.uwsgi_log = open(os.path.join(cls.tmp, "uwsgi.log"), "wb")
        cls.theirs = subprocess.Popen(
            [cls.uwsgi_bin, "--socket", "127.0.0.1:%d" % port, "--wsgi-file", app,
             "--callable", "app", "--processes", "1", "--disable-logging",
             "--buffer-size", "65535"],
            stdin=subprocess.DEVNULL, stdout=cls.uwsgi_log, stderr=cls.uwsgi_log,
            start_new_session=True)
        try:
            cls.ours.wait_ready()
            deadline = time.monotonic() + 30
            while True:
                try:
                    if exchange(cls.theirs_addr, packet([("REQUEST_METHOD", "GET")]))[0] == "accept":
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or cls.theirs.poll() is not None:
                    raise AssertionError("uWSGI did not serve within 30 s")
                time.sleep(0.05)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "theirs", None) is not None:
            try:
                os.killpg(cls.theirs.pid, 9)
            except OSError:
                pass
            cls.theirs.wait()
            cls.uwsgi_log.close()
        if getattr(cls, "ours", None) is not None:
            cls.ours.close()
            cls.sock.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @settings(max_examples=int(os.environ.get("EBB_PROP_EXAMPLES", "400")) // 2, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(uwsgi_packets)
    def test_same_verdict_and_vars_as_uwsgi(self, p):
        items, modifier1, size_delta, tail = p
        data = packet(items, modifier1, size_delta, tail)
        ours, got = exchange(self.ours_addr(), data)
        theirs, want = exchange(self.theirs_addr, data)
        self.assertEqual(ours, theirs, "ebb %s (%r), uWSGI %s (%r) on %r" % (ours, got, theirs, want,
                                                                             data))
        if ours == "accept":
            sent = dict(items)       # a repeated key: the last one counts, in both
            self.assertEqual({k: got.get(k) for k in sent}, {k: want.get(k) for k in sent},
                             repr(data))

    def ours_addr(self):
        return self.sock.getsockname()


if __name__ == "__main__":
    unittest.main()

"""Property tests of the worker's uwsgi-protocol vars parser (ebb_worker.uwsgi.parse_vars),
against an encoder written here from the protocol's description (u16 little-endian key length,
key, u16 little-endian value length, value, repeated).

Needs hypothesis (the test venv; scripts/test runs this file with that venv's Python):

    target/ci-venv/bin/python -m unittest discover -s tests/python -p 'prop_*.py'
"""

import os
import struct
import sys
import unittest

from hypothesis import HealthCheck, given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "src", "python"))

from ebb_worker.uwsgi import parse_vars  # noqa: E402

SETTINGS = settings(max_examples=int(os.environ.get("EBB_PROP_EXAMPLES", "400")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
pairs = st.lists(st.tuples(latin1, latin1), max_size=12)


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
    @given(st.binary(max_size=200), st.data())
    def test_any_bytes_give_vars_or_none_never_an_exception(self, data, draw):
        start = draw.draw(st.integers(min_value=0, max_value=len(data)))
        end = draw.draw(st.integers(min_value=start, max_value=len(data)))
        got = parse_vars(data, start, end)
        if got is not None:
            # Whatever was accepted re-encodes within the span (duplicate keys keep the last).
            self.assertLessEqual(len(encode(got.items())), end - start)


if __name__ == "__main__":
    unittest.main()

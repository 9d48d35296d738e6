import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dfdaemon.core.byterange import ByteRange, content_range, parse_range
from dfdaemon.core.verify import DigestMismatch, VerifiedSlice


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def run(gate, data, sizes):
    out, pos = b"", 0
    for n in sizes:
        out += gate.feed(data[pos : pos + n])
        pos += n
    out += gate.feed(data[pos:])
    return out


@given(st.binary(min_size=1, max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_whole_blob_passes_with_the_last_byte_held_until_verified(data, sizes):
    gate = VerifiedSlice(digest(data))
    sent = run(gate, data, sizes)
    assert sent == data[:-1]
    assert sent + gate.finish() == data


@given(st.binary(min_size=2, max_size=300), st.integers(0, 299), st.data())
def test_a_slice_is_sent_and_the_whole_blob_checked(data, first, draw):
    first = first % len(data)
    last = draw.draw(st.integers(first, len(data) - 1))
    gate = VerifiedSlice(digest(data), first, last)
    assert run(gate, data, [7, 13]) + gate.finish() == data[first : last + 1]


def test_mismatch_never_releases_the_last_byte():
    data = os.urandom(1000)
    gate = VerifiedSlice(digest(data))
    bad = bytearray(data)
    bad[500] ^= 1
    sent = gate.feed(bytes(bad))
    assert len(sent) == len(data) - 1
    with pytest.raises(DigestMismatch):
        gate.finish()


def test_without_digest_everything_flows():
    gate = VerifiedSlice("")
    assert gate.feed(b"abc") == b"abc" and gate.finish() == b""
    assert not gate.checking


def test_ranges():
    assert parse_range("bytes=100-") == ByteRange(100, None)
    assert parse_range("bytes=0-9") == ByteRange(0, 9)
    assert parse_range("bytes=-5") == ByteRange(None, 5)
    assert parse_range("bytes=5-1") is None and parse_range("bytes=0-1,4-5") is None and parse_range("items=1-") is None
    assert ByteRange(100, None).resolve(1000) == (100, 999)
    assert ByteRange(0, 5000).resolve(1000) == (0, 999)
    assert ByteRange(None, 10).resolve(1000) == (990, 999)
    assert ByteRange(1000, None).resolve(1000) is None
    assert content_range(100, 999, 1000) == "bytes 100-999/1000"

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common import pieces
from common.errors import FramingError, RangeError, RangeNotSatisfiable
from common.http_range import resolve_range

MIB = pieces.MIB


@pytest.mark.parametrize(
    "length,size",
    [
        (0, 4 * MIB),
        (-1, 4 * MIB),
        (200 * MIB, 4 * MIB),
        (250 * MIB, 4 * MIB),
        (300 * MIB, 5 * MIB),
        (1024 * MIB, 12 * MIB),
        (1300 * MIB, 15 * MIB),
        (10 * 1024 * MIB, 15 * MIB),
    ],
)
def test_v1_piece_size_table(length, size):
    assert pieces.piece_size(length, pieces.PieceSizePolicy.V1) == size


@pytest.mark.parametrize(
    "length,size",
    [
        (-1, 4 * MIB),
        (0, 4 * MIB),
        (15, 1 * MIB),
        (64 * MIB, 1 * MIB),
        (64 * MIB + 1, 2 * MIB),
        (32 * MIB, 1 * MIB),
        (256 * MIB, 4 * MIB),
        (1024 * MIB, 15 * MIB),
        (100 * 1024 * MIB, 15 * MIB),
    ],
)
def test_adaptive_piece_size_table(length, size):
    assert pieces.piece_size(length) == size


def test_adaptive_gives_about_64_pieces_for_mid_sized_files():
    for length in (128 * MIB, 500 * MIB, 900 * MIB):
        count = pieces.piece_count(length, pieces.piece_size(length))
        assert 60 <= count <= 66


@given(st.binary(max_size=3000), st.sampled_from([MIB, 2 * MIB, 15 * MIB]))
def test_frame_round_trip(payload, size):
    framed = pieces.frame(payload, size)
    assert len(framed) == len(payload) + pieces.META_SIZE
    assert bytes(pieces.unframe(framed, size)) == payload
    assert int.from_bytes(framed[:4], "big") >> 24 == size // MIB


def test_frame_header_is_v1_bitwise_or():
    assert pieces.frame_header(1995, 4 * MIB) == (1995 | (4 * MIB) << 4).to_bytes(4, "big")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:-1] + b"\x00",  # bad trailer
        lambda b: b[:4] + b[5:],  # short payload
        lambda b: b[:3],  # shorter than the frame
        lambda b: pieces.frame(b"abc", 2 * MIB),  # another piece size
    ],
)
def test_unframe_rejects_malformed(mutate):
    with pytest.raises(FramingError):
        pieces.unframe(mutate(pieces.frame(b"hello world", MIB)), MIB)


def test_frame_rejects_oversized_payload():
    with pytest.raises(FramingError):
        pieces.frame(b"x" * (MIB - 4), MIB)


@given(st.integers(min_value=0, max_value=50 * MIB), st.sampled_from([MIB, 4 * MIB, 15 * MIB]))
def test_pieces_tile_the_file(length, size):
    count = pieces.piece_count(length, size)
    payload = pieces.payload_size(size)
    assert (count - 1) * payload < max(length, 1) <= count * payload
    assert pieces.wrapped_length(length, size) == length + 5 * count
    # the wrapped ranges are contiguous and cover the wrapped file
    ranges = [pieces.piece_range(n, size) for n in range(count)]
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))
    assert ranges[-1][1] + 1 >= pieces.wrapped_length(length, size)


def test_piece_range_parse_and_number():
    assert pieces.parse_range("8388608-12582911") == (8388608, 12582911)
    assert pieces.piece_num_of_range(8388608, 12582911) == 2
    assert pieces.parse_piece_range("8388608-12582911", 4 * MIB) == 2
    for bad in ("", "1", "a-b", "5-1", "-1-2", "1-2-3"):
        with pytest.raises(RangeError):
            pieces.parse_range(bad)
    with pytest.raises(RangeError):
        pieces.parse_piece_range("0-99", 4 * MIB)


@pytest.mark.parametrize(
    "header,total,expected",
    [
        ("bytes=0-1999", 5000, (0, 1999)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=0-999999", 100, (0, 99)),
        ("bytes=-500", 100, (0, 99)),
    ],
)
def test_http_range(header, total, expected):
    assert resolve_range(header, total) == expected


@pytest.mark.parametrize("header", ["", "bytes=0-x", "items=0-1", "bytes=5-1", "bytes=0-1,3-4", "bytes=-"])
def test_http_range_malformed(header):
    with pytest.raises(RangeError):
        resolve_range(header, 100)


def test_http_range_unsatisfiable():
    with pytest.raises(RangeNotSatisfiable):
        resolve_range("bytes=100-200", 100)


def test_piece_md5_is_over_the_wrapped_bytes():
    framed = pieces.frame(b"hello Dragonfly", MIB)
    assert hashlib.md5(framed).hexdigest() != hashlib.md5(b"hello Dragonfly").hexdigest()

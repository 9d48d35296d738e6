import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from common.pieces import META_SIZE, MIB, piece_count, unframe, wrapped_length
from supernode.cdn.core.cutting import PieceCutter


def _cut(data: bytes, piece_size: int, chunk_sizes, start_piece=0):
    cutter = PieceCutter(piece_size)
    pieces, pos, i = [], 0, 0
    while pos < len(data):
        n = chunk_sizes[i % len(chunk_sizes)]
        pieces += cutter.feed(data[pos : pos + n])
        pos, i = pos + n, i + 1
    pieces += cutter.finish()
    return cutter, pieces


@settings(max_examples=25, deadline=None)
@given(
    mib=st.integers(1, 3),
    whole=st.integers(0, 3),
    delta=st.integers(-3, 3),
    chunks=st.lists(st.integers(1, 3 * MIB), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_framed_file_tiles_exactly(mib, whole, delta, chunks, seed):
    piece_size = mib * MIB
    length = max(whole * (piece_size - META_SIZE) + delta, 0)
    data = random.Random(seed).randbytes(length)
    cutter, pieces = _cut(data, piece_size, chunks)

    assert [p.num for p in pieces] == list(range(piece_count(length, piece_size)))
    assert cutter.received == length
    assert cutter.wrapped_length == wrapped_length(length, piece_size) == sum(p.wrapped_len for p in pieces)
    assert cutter.real_md5() == hashlib.md5(data).hexdigest()
    # The file as laid out on disk: piece n at n*pieceSize, each full except the last.
    wrapped = b"".join(p.data for p in pieces)
    assert all(p.wrapped_len == piece_size for p in pieces[:-1])
    assert (
        b"".join(bytes(unframe(wrapped[i : i + piece_size], piece_size)) for i in range(0, len(wrapped), piece_size))
        == data
    )
    for p in pieces:
        assert p.md5 == hashlib.md5(p.data).hexdigest()
        assert p.data[-1] == 0x7F
        assert int.from_bytes(p.data[:4], "big") >> 24 == mib


def test_empty_source_is_one_five_byte_piece():
    cutter = PieceCutter(MIB)
    assert cutter.feed(b"") == []
    (piece,) = cutter.finish()
    assert piece.num == 0 and piece.wrapped_len == META_SIZE
    assert piece.data == (MIB << 4).to_bytes(4, "big") + b"\x7f"
    assert cutter.real_md5() == hashlib.md5(b"").hexdigest()
    assert cutter.finish() == []


def test_exact_multiple_has_no_trailing_empty_piece():
    payload = MIB - META_SIZE
    cutter, pieces = _cut(b"x" * (2 * payload), MIB, [100_000])
    assert len(pieces) == 2 and all(p.wrapped_len == MIB for p in pieces)


def test_resume_numbers_from_start_piece_and_keeps_running_md5():
    payload = MIB - META_SIZE
    data = random.Random(1).randbytes(2 * payload + 10)
    prior = hashlib.md5(data[:payload])
    cutter = PieceCutter(MIB, start_piece=1, prior_md5=prior)
    assert cutter.received == payload
    pieces = cutter.feed(data[payload:]) + cutter.finish()
    assert [p.num for p in pieces] == [1, 2]
    assert cutter.real_md5() == hashlib.md5(data).hexdigest()
    assert prior.hexdigest() == hashlib.md5(data[:payload]).hexdigest()  # not consumed

"""The running md5 of the assembled file on its own thread (dfget/downloaders/writer.py PrefixHasher)."""

import hashlib
import os
import random
import threading

from dfget.downloaders.writer import PrefixHasher


class Buffers:
    """Stands in for the piece fetcher's release: records what was handed back, and when."""

    def __init__(self):
        self.back: list[bytes] = []
        self.lock = threading.Lock()

    def release(self, data) -> None:
        with self.lock:
            self.back.append(bytes(data))


def _write_all(tmp_path, pieces, order, hasher=None, release=None):
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    hasher = hasher or PrefixHasher()
    hasher.start(fd)
    try:
        for i in order:
            off, data = pieces[i]
            os.pwrite(fd, data, off)
            hasher.wrote(off, memoryview(data), hasher.epoch, release)
        size = sum(len(d) for _, d in pieces)
        return hasher, hasher.hexdigest(fd, size)
    finally:
        hasher.close()
        os.close(fd)


def _pieces(n=7, size=1000, last=123):
    rng = random.Random(3)
    out, off = [], 0
    for i in range(n):
        data = rng.randbytes(size if i < n - 1 else last)
        out.append((off, data))
        off += len(data)
    return out


ORDERS = ([0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0], [1, 0, 3, 2, 6, 4, 5])


def test_in_order_and_out_of_order_give_the_file_md5(tmp_path):
    pieces = _pieces()
    want = hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    for order in ORDERS:
        hasher, got = _write_all(tmp_path, pieces, order)
        assert got == want, order


def test_handed_over_pieces_are_hashed_from_memory_and_given_back(tmp_path):
    pieces = _pieces()
    want = hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    for order in ORDERS:
        buffers = Buffers()
        hasher, got = _write_all(tmp_path, pieces, order, release=buffers.release)
        assert got == want, order
        assert hasher.read_back == 0, order  # no second pass over the file
        assert sorted(buffers.back) == sorted(d for _, d in pieces), order  # every buffer came back


def test_beyond_the_budget_pieces_are_read_back(tmp_path):
    pieces = _pieces()
    want = hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    buffers = Buffers()
    hasher, got = _write_all(tmp_path, pieces, [6, 5, 4, 3, 2, 1, 0], PrefixHasher(budget=2000), buffers.release)
    assert got == want
    assert 0 < hasher.read_back < sum(len(d) for _, d in pieces)
    assert len(buffers.back) == len(pieces)


def test_a_missing_piece_is_read_back_at_the_end(tmp_path):
    pieces = _pieces()
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    h = PrefixHasher()
    h.start(fd)
    try:
        for off, data in pieces:
            os.pwrite(fd, data, off)
            if off != pieces[2][0]:  # written without telling the hasher
                h.wrote(off, data, h.epoch)
        size = sum(len(d) for _, d in pieces)
        assert h.hexdigest(fd, size) == hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    finally:
        h.close()
        os.close(fd)


def test_a_rewrite_inside_the_prefix_makes_it_give_up(tmp_path):
    pieces = _pieces()
    order = [0, 1, 0, 2, 3, 4, 5, 6]
    buffers = Buffers()
    hasher, got = _write_all(tmp_path, pieces, order, release=buffers.release)
    assert got is None and not hasher.usable
    assert len(buffers.back) == len(order)


def test_writes_of_an_older_epoch_are_ignored(tmp_path):
    h = PrefixHasher()
    stale = h.epoch
    h.reset()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    h.start(fd)
    buffers = Buffers()
    try:
        h.wrote(0, b"x" * 1000, stale, buffers.release)  # an abandoned generation's piece: not hashed
        assert buffers.back == [b"x" * 1000]  # but handed back at once
        assert h.hexdigest(fd, 0) == hashlib.md5(b"").hexdigest()
    finally:
        h.close()
        os.close(fd)


def test_a_file_shorter_than_its_bookings_is_not_vouched_for(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    h = PrefixHasher()
    h.start(fd)
    try:
        os.pwrite(fd, b"a" * 100, 0)
        h.wrote(0, b"a" * 100, h.epoch)
        h.wrote(100, b"b" * 100, h.epoch)  # booked, but never written: the read-back comes up short
        assert h.hexdigest(fd, 200) is None
    finally:
        h.close()
        os.close(fd)

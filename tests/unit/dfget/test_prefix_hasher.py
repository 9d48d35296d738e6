"""The running md5 of the assembled file (dfget/downloaders/writer.py PrefixHasher)."""
import hashlib
import os
import random

from dfget.downloaders.writer import PrefixHasher


def _write_all(tmp_path, pieces, order, hasher=None):
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    hasher = hasher or PrefixHasher()
    try:
        for i in order:
            off, data = pieces[i]
            os.pwrite(fd, data, off)
            hasher.wrote(off, memoryview(data), fd)
        size = sum(len(d) for _, d in pieces)
        return hasher, hasher.hexdigest(fd, size)
    finally:
        os.close(fd)


def _pieces(n=7, size=1000, last=123):
    rng = random.Random(3)
    out, off = [], 0
    for i in range(n):
        data = rng.randbytes(size if i < n - 1 else last)
        out.append((off, data))
        off += len(data)
    return out


def test_in_order_and_out_of_order_give_the_file_md5(tmp_path):
    pieces = _pieces()
    want = hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    for order in ([0, 1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1, 0], [1, 0, 3, 2, 6, 4, 5]):
        hasher, got = _write_all(tmp_path, pieces, order)
        assert got == want, order


def test_a_missing_piece_is_read_back_at_the_end(tmp_path):
    pieces = _pieces()
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        h = PrefixHasher()
        for off, data in pieces:
            os.pwrite(fd, data, off)
            if off != pieces[2][0]:     # written without telling the hasher
                h.wrote(off, data, fd)
        size = sum(len(d) for _, d in pieces)
        assert h.hexdigest(fd, size) == hashlib.md5(b"".join(d for _, d in pieces)).hexdigest()
    finally:
        os.close(fd)


def test_a_rewrite_inside_the_prefix_makes_it_give_up(tmp_path):
    pieces = _pieces()
    order = [0, 1, 0, 2, 3, 4, 5, 6]
    hasher, got = _write_all(tmp_path, pieces, order)
    assert got is None and not hasher.usable


def test_writes_of_an_older_epoch_are_ignored(tmp_path):
    _pieces()
    h = PrefixHasher()
    stale = h.epoch
    h.reset()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        h.wrote(0, b"x" * 1000, fd, stale)      # an abandoned generation's piece: not hashed
        assert h.hashed == 0
    finally:
        os.close(fd)

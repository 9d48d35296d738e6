"""Just enough PNG decoding (8-bit RGB/RGBA, not interlaced: what Chromium writes) for tests to
look at screenshots without an imaging library."""

import struct
import zlib


def decode(data: bytes) -> "tuple[int, int, list[bytes]]":
    """(width, height, rows of RGB bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), prev, channels)
        rows.append(bytes(row) if channels == 3 else bytes(b for i, b in enumerate(row) if i % 4 != 3))
        prev = row
    return width, height, rows


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if kind == 1:
            row[i] = (row[i] + a) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + b) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (a + b) // 2) & 0xFF
        elif kind == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return row


def pixel(rows: "list[bytes]", x: int, y: int) -> "tuple[int, int, int]":
    return tuple(rows[y][3 * x : 3 * x + 3])


def colours_in(rows: "list[bytes]", box: "tuple[int, int, int, int]") -> "dict[tuple, int]":
    """How many pixels of each colour lie in box (x, y, width, height)."""
    x0, y0, w, h = box
    counts: dict[tuple, int] = {}
    for y in range(max(y0, 0), min(y0 + h, len(rows))):
        line = rows[y]
        for x in range(max(x0, 0), min(x0 + w, len(line) // 3)):
            c = tuple(line[3 * x : 3 * x + 3])
            counts[c] = counts.get(c, 0) + 1
    return counts

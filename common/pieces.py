"""Pieces: the size policy, the 5-byte framing, and wrapped ranges (docs/protocol.md#pieces-commonpiecespy).

A framed piece is `header(4, big-endian) + payload + 0x7f` where
header = payloadLen | pieceSize << 4. pieceSize includes the 5 framing bytes and is a whole
number of MiB, so `header >> 24` is pieceSize in MiB and `header & 0xFFFFFF` the payload length.
Piece n occupies wrapped bytes [n*pieceSize, n*pieceSize + pieceSize - 1]; its payload starts at
n*(pieceSize-5) in the raw file.
"""

import math
import struct
from enum import Enum

from common.errors import FramingError, RangeError

MIB = 1024 * 1024
HEAD_SIZE = 4
TAIL = 0x7F
META_SIZE = HEAD_SIZE + 1
MIN_PIECE_SIZE = 1 * MIB
MAX_PIECE_SIZE = 15 * MIB
DEFAULT_PIECE_SIZE = 4 * MIB
ADAPTIVE_TARGET_PIECES = 64
_PAYLOAD_MASK = 0xFFFFFF


class PieceSizePolicy(str, Enum):
    V1 = "v1"
    ADAPTIVE = "adaptive"


def piece_size_v1(length: int) -> int:
    """v1's rule: 4 MiB up to 200 MiB, then (length // 100 MiB + 2) MiB, capped at 15 MiB."""
    if length <= 200 * MIB:
        return DEFAULT_PIECE_SIZE
    return min((length // (100 * MIB) + 2) * MIB, MAX_PIECE_SIZE)


def piece_size_adaptive(length: int) -> int:
    """About 64 pieces per file (docs/decisions.md #12): length/64 rounded up to a MiB, in [1, 15] MiB."""
    if length <= 0:
        return DEFAULT_PIECE_SIZE
    mib = math.ceil(length / ADAPTIVE_TARGET_PIECES / MIB)
    return min(max(mib * MIB, MIN_PIECE_SIZE), MAX_PIECE_SIZE)


def piece_size(length: int, policy: PieceSizePolicy | str = PieceSizePolicy.ADAPTIVE) -> int:
    if PieceSizePolicy(policy) is PieceSizePolicy.V1:
        return piece_size_v1(length)
    return piece_size_adaptive(length)


def validate_piece_size(size: int) -> None:
    if size < MIN_PIECE_SIZE or size > MAX_PIECE_SIZE or size % MIB:
        raise FramingError(f"piece size {size} is not a whole number of MiB in [1, 15] MiB")


def payload_size(size: int) -> int:
    return size - META_SIZE


def piece_count(source_length: int, size: int) -> int:
    """How many pieces a source of `source_length` bytes is cut into (an empty file is 1)."""
    if source_length <= 0:
        return 1
    return math.ceil(source_length / payload_size(size))


def estimated_piece_total(source_length: int, size: int) -> int:
    """pieceTotal before the CDN finishes: the pieces the source will be cut into, 0 when unknown.
    v1 divided by the piece size and forgot the framing bytes of each piece: a 20 MiB file in
    1 MiB pieces was announced as 20 pieces, the CDN cut 21, and a build that never finished (a
    wrong --md5) left the console showing 21/20 (the count is fixed on success only)."""
    return piece_count(source_length, size) if source_length > 0 else 0


def unframed_piece_total(source_length: int, size: int) -> int:
    """Pieces of cdnPattern `source`: plain byte ranges of the source, no framing (v1's rule)."""
    return math.ceil(source_length / size) if source_length > 0 else 0


def wrapped_length(source_length: int, size: int) -> int:
    return max(source_length, 0) + META_SIZE * piece_count(source_length, size)


def frame_header(payload_len: int, size: int) -> bytes:
    return struct.pack(">I", payload_len | (size << 4))


def frame(payload: bytes, size: int) -> bytes:
    if len(payload) > payload_size(size):
        raise FramingError(f"payload of {len(payload)} bytes exceeds piece size {size}")
    return frame_header(len(payload), size) + payload + bytes((TAIL,))


def unframe(data: bytes, size: "int | None" = None) -> memoryview:
    """The payload of one framed piece; raises FramingError for anything malformed."""
    if len(data) < META_SIZE:
        raise FramingError(f"framed piece of {len(data)} bytes is shorter than its {META_SIZE}-byte frame")
    (header,) = struct.unpack_from(">I", data, 0)
    payload_len = header & _PAYLOAD_MASK
    if payload_len != len(data) - META_SIZE:
        raise FramingError(f"header says {payload_len} payload bytes, got {len(data) - META_SIZE}")
    if data[-1] != TAIL:
        raise FramingError(f"piece trailer is {data[-1]:#x}, expected {TAIL:#x}")
    if size is not None:
        if header >> 24 != size >> 20:
            raise FramingError(f"header piece size {(header >> 24)} MiB differs from {size >> 20} MiB")
        if payload_len > payload_size(size):
            raise FramingError(f"payload of {payload_len} bytes exceeds piece size {size}")
    return memoryview(data)[HEAD_SIZE:-1]


def piece_range(num: int, size: int) -> "tuple[int, int]":
    """The wrapped byte range of piece `num` (always the full piece, even for the last)."""
    return num * size, num * size + size - 1


def format_range(start: int, end: int) -> str:
    return f"{start}-{end}"


def parse_range(text: str) -> "tuple[int, int]":
    """`"a-b"` (inclusive, a <= b, both non-negative integers) -> (a, b)."""
    parts = (text or "").split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise RangeError(f"malformed range {text!r}: expected <start>-<end>")
    start, end = int(parts[0]), int(parts[1])
    if end < start:
        raise RangeError(f"malformed range {text!r}: end before start")
    return start, end


def piece_num_of_range(start: int, end: int) -> int:
    return start // (end - start + 1)


def parse_piece_range(text: str, size: int) -> int:
    """The piece number of a full wrapped piece range; anything else is a RangeError."""
    start, end = parse_range(text)
    if end - start + 1 != size or start % size:
        raise RangeError(f"range {text!r} is not a whole piece of size {size}")
    return start // size

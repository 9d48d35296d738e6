"""The flight file: which pieces dfget is still receiving, and how far each has come
(docs/protocol.md#files-on-disk-shared-across-programs, docs/decisions.md #25).

dfget writes a piece into the service file as it arrives (cut-through); the upload server may
stream that piece on to another peer while it is still arriving, and dfdaemon must not hand
docker bytes nobody has checked yet. `<data>/<taskFileName>.flight` tells both how far each
piece has come. It holds one fixed RECORD_SIZE-byte record per piece number, at
`piece_num * RECORD_SIZE`, five little-endian fields:

    attempt  int64   names this fetch of the piece (never reused within one flight file)
    offset   int64   where the piece's payload starts in the service file
    length   int64   payload bytes of the piece; 0 = not in flight (the service file answers)
    written  int64   payload bytes written from `offset` so far; FAILED = the attempt failed
    check    uint32  crc32 of the 32 bytes before it

A record never written (a hole, or past the end of the file) reads as zeros: not in flight. A
piece whose md5 checked out has its record zeroed again: from then on it is an ordinary piece of
the service file. The writer updates a record with one pwrite; the reader reads it with one
pread (common/shell/flight.py; this module is the format alone). Neither is promised to be
atomic between processes, so the crc tells a torn read (half an old record, half a new one) from
a real one, and the reader reads again. The attempt number lets a reader that streams a piece
notice that the attempt it started with failed and another one began writing over the same
bytes: it must cut its stream then, whatever the new attempt's progress (the bytes already sent
came from the failed attempt).
"""

import struct
import zlib
from dataclasses import dataclass

_FIELDS = struct.Struct("<qqqq")
_CHECK = struct.Struct("<I4x")
RECORD_SIZE = _FIELDS.size + _CHECK.size  # 40
FAILED = -1
ZERO = bytes(RECORD_SIZE)  # a record never written, or cleared: not in flight


@dataclass(frozen=True)
class Flight:
    """One piece's record. `length == 0`: not in flight."""

    attempt: int = 0
    offset: int = 0
    length: int = 0
    written: int = 0

    @property
    def open(self) -> bool:
        return self.length > 0 and self.written != FAILED

    @property
    def failed(self) -> bool:
        return self.length > 0 and self.written == FAILED

    def covers(self, offset: int) -> bool:
        """Does the piece's payload hold the service file's byte at `offset`?"""
        return self.length > 0 and self.offset <= offset < self.offset + self.length


IDLE = Flight()


def encode(flight: Flight) -> bytes:
    fields = _FIELDS.pack(flight.attempt, flight.offset, flight.length, flight.written)
    return fields + _CHECK.pack(zlib.crc32(fields))


def decode(data: bytes) -> "Flight | None":
    """The record in `data`; IDLE for zeros or a short read (never written); None if torn."""
    if len(data) < RECORD_SIZE or data == ZERO:
        return IDLE
    fields = data[: _FIELDS.size]
    (check,) = _CHECK.unpack_from(data, _FIELDS.size)
    if zlib.crc32(fields) != check:
        return None
    attempt, offset, length, written = _FIELDS.unpack(fields)
    if length < 0 or offset < 0 or not (written == FAILED or 0 <= written <= length):
        return None
    return Flight(attempt, offset, length, written)


def first_unsettled(flights: "list[Flight]") -> "int | None":
    """The lowest service-file offset held by a piece in flight or failed (unchecked bytes)."""
    starts = [f.offset for f in flights if f.length > 0]
    return min(starts) if starts else None

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
pread. Neither is promised to be atomic between processes, so the crc tells a torn read (half an
old record, half a new one) from a real one, and the reader reads again. The attempt number lets
a reader that streams a piece notice that the attempt it started with failed and another one
began writing over the same bytes: it must cut its stream then, whatever the new attempt's
progress (the bytes already sent came from the failed attempt).
"""

import errno
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass

_FIELDS = struct.Struct("<qqqq")
_CHECK = struct.Struct("<I4x")
RECORD_SIZE = _FIELDS.size + _CHECK.size  # 40
FAILED = -1
TORN_RETRIES = 20  # a torn read is a writer caught mid-pwrite: it is over in microseconds
_ZERO = bytes(RECORD_SIZE)


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
    if len(data) < RECORD_SIZE or data == _ZERO:
        return IDLE
    fields = data[: _FIELDS.size]
    (check,) = _CHECK.unpack_from(data, _FIELDS.size)
    if zlib.crc32(fields) != check:
        return None
    attempt, offset, length, written = _FIELDS.unpack(fields)
    if length < 0 or offset < 0 or not (written == FAILED or 0 <= written <= length):
        return None
    return Flight(attempt, offset, length, written)


class FlightWriter:
    """dfget's side: publishes each piece's progress (one pwrite per update).

    Each piece number is updated by one thread at a time (the worker fetching it); `attempt`
    numbers come from a counter shared by the threads."""

    def __init__(self, path: str):
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o644)
        self._lock = threading.Lock()
        self._attempts = 0
        self._open: dict[int, Flight] = {}  # piece number -> its open record

    def begin(self, piece_num: int, offset: int, length: int) -> int:
        """A new attempt at the piece: `length` payload bytes from `offset`, none written yet."""
        with self._lock:
            self._attempts += 1
            attempt = self._attempts
        self._put(piece_num, Flight(attempt, offset, length, 0))
        return attempt

    def progress(self, piece_num: int, attempt: int, written: int) -> None:
        current = self._open.get(piece_num)
        if current is not None and current.attempt == attempt and written > current.written:
            self._put(piece_num, Flight(attempt, current.offset, current.length, min(written, current.length)))

    def failed(self, piece_num: int, attempt: int) -> None:
        current = self._open.get(piece_num)
        if current is not None and current.attempt == attempt:
            self._put(piece_num, Flight(attempt, current.offset, current.length, FAILED), keep=False)

    def done(self, piece_num: int, attempt: int) -> None:
        """The piece checked out: the service file alone answers for it from now on."""
        current = self._open.get(piece_num)
        if current is not None and current.attempt == attempt:
            self._put(piece_num, IDLE, keep=False)

    def fail_all(self) -> None:
        """Every open attempt failed (the service file is about to be truncated), then forget them."""
        with self._lock:
            flights = list(self._open.items())
        for num, f in flights:
            self.failed(num, f.attempt)
        with self._lock:
            if self._fd >= 0:
                os.ftruncate(self._fd, 0)

    def close(self, remove: bool = True) -> None:
        """Stop publishing; `remove` the file (the service file alone answers from now on).
        Open attempts are marked failed first: a reader that still has the file open cuts."""
        for num, f in list(self._open.items()):
            self.failed(num, f.attempt)
        with self._lock:
            if self._fd < 0:
                return
            os.close(self._fd)
            self._fd = -1
        if remove:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass

    def _put(self, piece_num: int, flight: Flight, keep: bool = True) -> None:
        with self._lock:
            if self._fd < 0:
                return
            if keep:
                self._open[piece_num] = flight
            else:
                self._open.pop(piece_num, None)
            os.pwrite(self._fd, encode(flight) if flight.length else _ZERO, piece_num * RECORD_SIZE)


class FlightReader:
    """The upload server's and dfdaemon's side: one pread per look."""

    def __init__(self, fd: int):
        self.fd = fd

    @classmethod
    def open(cls, path: str) -> "FlightReader | None":
        """The flight file at `path`, or None if there is none (no piece is in flight)."""
        try:
            return cls(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)))
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:  # a symlink: never followed out of the data dir
                return None
            raise

    def read(self, piece_num: int) -> Flight:
        for _ in range(TORN_RETRIES):
            found = decode(os.pread(self.fd, RECORD_SIZE, piece_num * RECORD_SIZE))
            if found is not None:
                return found
            time.sleep(0.0005)
        return Flight(length=1, written=FAILED)  # never settles: treat as failed

    def all(self) -> "list[Flight]":
        """Every record in the file (IDLE ones included), in piece order: one pread, and
        another for each record caught torn."""
        data = os.pread(self.fd, os.fstat(self.fd).st_size, 0)
        out = []
        for num in range(len(data) // RECORD_SIZE):
            found = decode(data[num * RECORD_SIZE : (num + 1) * RECORD_SIZE])
            out.append(found if found is not None else self.read(num))
        return out

    @property
    def removed(self) -> bool:
        """The writer removed the file (its download ended): the service file alone answers."""
        return os.fstat(self.fd).st_nlink == 0

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass


def read_flights(path: str) -> "list[Flight] | None":
    """Every record of the flight file at `path`; None if there is none."""
    reader = FlightReader.open(path)
    if reader is None:
        return None
    try:
        return reader.all()
    finally:
        reader.close()


def first_unsettled(flights: "list[Flight]") -> "int | None":
    """The lowest service-file offset held by a piece in flight or failed (unchecked bytes)."""
    starts = [f.offset for f in flights if f.length > 0]
    return min(starts) if starts else None

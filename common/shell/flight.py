"""Reading and writing the flight file (its format, and why it is so: common/flight.py)."""

import errno
import os
import threading
import time

from common.flight import FAILED, IDLE, RECORD_SIZE, ZERO, Flight, decode, encode

TORN_RETRIES = 20  # a torn read is a writer caught mid-pwrite: it is over in microseconds


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
            os.pwrite(self._fd, encode(flight) if flight.length else ZERO, piece_num * RECORD_SIZE)


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

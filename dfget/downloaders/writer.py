"""Assembling the downloaded pieces into the output file (docs/protocol.md#files-on-disk-shared-across-programs).

p2p pattern: payloads go into `<data>/<taskFileName>.service` (what the upload server serves);
`<data>/<taskFileName>` is a hard link to it. A framed piece goes in as it arrives
(`PieceLanding`, cut-through: docs/decisions.md #25), and `<data>/<taskFileName>.flight`
(common/flight.py) says how far each piece in flight has come, so that the upload server can
stream it on before it is complete; the piece md5 is still checked before the piece counts. If
the data dir and the output dir are on different filesystems (the link probe fails) the payloads
also go into the temp target next to the output ("across write"). cdn pattern: payloads go only into the temp target.

Commit: the md5 (and length, when known) of the assembled file is checked first; only then is
it renamed over the output. The md5 is computed as pieces land, on its own thread
(`PrefixHasher`: a running md5 of the contiguous prefix written so far; a piece that lands ahead
of the prefix is kept in memory until the gap before it fills, within HOLD_BUDGET bytes, and
beyond that read back from the file), so every byte is normally hashed once, from memory, and the
commit only reads what was never hashed. A rename within one filesystem is atomic, so the output
is never half-written and a bad file is never reported as a success (docs/decisions.md #4).
"""

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable

from common.pieces import payload_size
from common.protocol.codes import BackSourceReason
from common.shell.flight import FlightWriter
from dfget.core.prefix import InOrderHash, Stretch
from dfget.errors import P2PFailure, PieceFailure

log = logging.getLogger(__name__)
READ_CHUNK = 1024 * 1024
# Bytes of pieces that landed ahead of the hashed prefix kept in memory for the output md5 (beyond
# it they are read back from the file, most likely from the page cache): two 4 MiB pieces. Kept
# small because dfdaemon runs up to 16 downloads in one process.
HOLD_BUDGET = 8 * 1024 * 1024


def file_md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(READ_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class PrefixHasher:
    """md5 of the contiguous written prefix of a file whose pieces are written in any order, on
    its own thread (docs/architecture.md#one-download).

    `start(fd)` starts the thread with its own duplicate of `fd`. `wrote(offset, data, epoch,
    release)` after each write: with `release` the caller hands `data` over (the thread hashes
    it from memory and calls `release(data)` when done, or at once if it is not kept); without,
    only the place is booked and the bytes are read back from the file. The booking is
    dfget/core/prefix.py: pieces that land ahead of the prefix are kept up to `budget` bytes.
    Writers never wait for an md5, and the piece checks on the fetching threads run alongside
    (hashlib releases the GIL). `hexdigest(fd, size)` waits for the thread to catch up and reads
    back whatever part of [hashed, size) was never hashed; None if it cannot tell (the caller
    then hashes the whole file)."""

    def __init__(self, budget: "int | None" = None):
        self.budget = HOLD_BUDGET if budget is None else budget
        self._cond = threading.Condition()
        self.epoch = 1  # truthy: FileAssembly.write hands it out as its token
        self.read_back = 0  # bytes hashed from the file rather than from memory
        self._closed = False
        self._thread: threading.Thread | None = None
        self._new_generation()

    def _new_generation(self) -> None:
        self._plan = InOrderHash(self.budget)
        self._md5 = hashlib.md5()

    @property
    def usable(self) -> bool:
        return self._plan.usable

    @property
    def hashed(self) -> int:
        return self._plan.hashed

    def start(self, fd: int) -> None:
        """Start the hashing thread; it reads back from its own duplicate of `fd` (closed when
        the thread ends, so `close` never pulls a descriptor from under a read)."""
        own = os.dup(fd)
        self._thread = threading.Thread(target=self._run, args=(own,), name="output-md5", daemon=True)
        self._thread.start()

    def reset(self) -> None:
        with self._cond:
            self.epoch += 1
            freed = self._plan.drop()
            self._new_generation()
        _give_back(freed)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            freed = self._plan.drop()
            self._cond.notify_all()
        _give_back(freed)

    def wrote(
        self, offset: int, data, epoch: "int | None" = None, release: "Callable[[memoryview], None] | None" = None
    ) -> None:
        with self._cond:
            if self._closed or (epoch is not None and epoch != self.epoch):
                freed = [] if release is None else [(data, release)]
            else:
                freed = self._plan.land(offset, len(data), None if release is None else (data, release))
                self._cond.notify_all()
        _give_back(freed)

    def _run(self, fd: int) -> None:
        try:
            while True:
                with self._cond:
                    while (stretch := self._plan.take()) is None:
                        if self._closed:
                            return
                        self._cond.wait()
                    plan, md5 = self._plan, self._md5
                ok = False
                try:
                    ok = self._hash(md5, fd, stretch)
                finally:
                    with self._cond:
                        freed = plan.done(ok)
                        self._cond.notify_all()
                    _give_back(freed)
        finally:
            os.close(fd)

    def _hash(self, md5, fd: int, stretch: Stretch) -> bool:
        try:
            if stretch.payload is not None:
                md5.update(stretch.payload[0])
                return True
            self.read_back += stretch.length
            return _read_into(md5, fd, stretch.offset, stretch.end) >= 0
        except Exception:  # an I/O error, say: the commit then hashes the whole file
            log.exception("the running md5 failed at offset %d", stretch.offset)
            return False

    def hexdigest(self, fd: int, size: int) -> "str | None":
        """The md5 of the file's first `size` bytes, or None if this hasher cannot tell.
        Call it when no write is in flight any more."""
        with self._cond:
            while not self._plan.idle:
                if self._thread is None or not self._thread.is_alive():
                    return None
                self._cond.wait(0.5)
            stretch, freed = self._plan.rest(size)
            usable = self._plan.usable
            if usable and stretch is not None:
                self.read_back += stretch.length
                usable = _read_into(self._md5, fd, stretch.offset, stretch.end) >= 0
            digest = self._md5.hexdigest() if usable else None
        _give_back(freed)
        return digest


def _give_back(freed) -> None:
    for data, release in freed:
        release(data)


def _read_into(md5, fd: int, start: int, end: int) -> int:
    """Hash the file's [start, end); the end reached, or -1 if the file is shorter."""
    while start < end:
        chunk = os.pread(fd, min(READ_CHUNK * 4, end - start), start)
        if not chunk:
            return -1
        md5.update(chunk)
        start += len(chunk)
    return end


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


class FileAssembly:
    def __init__(self, ctx, p2p: bool):
        self.ctx = ctx
        self.p2p = p2p
        self.across = False
        self._fds: list[int] = []
        self._lock = threading.Lock()
        self.hasher = PrefixHasher()
        self.flight: FlightWriter | None = None  # p2p only: pieces in flight, for the upload server

    def open(self) -> None:
        ctx = self.ctx
        if self.p2p:
            self.across = not self._probe_link()
            self._fds.append(os.open(ctx.service_file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
            self.flight = FlightWriter(ctx.flight_file)
            _remove(ctx.client_file)
            try:
                os.link(ctx.service_file, ctx.client_file)
            except OSError as e:
                log.warning("cannot link %s to %s: %s", ctx.client_file, ctx.service_file, e)
        if not self.p2p or self.across:
            self._fds.append(os.open(ctx.temp_target, os.O_RDWR | os.O_CREAT, 0o644))
        self.hasher.start(self._fds[0])

    def _probe_link(self) -> bool:
        """Same filesystem? Try to hard-link the empty temp target into the data dir."""
        ctx = self.ctx
        _remove(ctx.client_file)
        try:
            os.link(ctx.temp_target, ctx.client_file)
        except OSError:
            return False
        _remove(ctx.client_file)
        return True

    def landing(self, piece_num: int, piece_size: int, file_length: int, valid: "Callable[[], bool]"):
        """A PieceLanding for one fetch of a piece, or None when pieces are not written as they
        arrive (cdn pattern: nobody serves the file before it is complete)."""
        if self.flight is None:
            return None
        return PieceLanding(self, self.flight, piece_num, piece_size, file_length, valid)

    def write_through(self, offset: int, data, valid: "Callable[[], bool]") -> bool:
        """Write part of a piece still arriving into the service file; False if `valid()` said
        no (an abandoned generation: nothing is written)."""
        with self._lock:
            if not self._fds:
                raise OSError("the download target is closed")
            if not valid():
                return False
            _pwrite_all(self._fds[0], data, offset)
            return True

    def write(
        self,
        offset: int,
        payload: bytes,
        valid: "Callable[[], bool] | None" = None,
        hash_now: bool = True,
        landed: int = 0,
    ) -> int:
        """Write `payload` at `offset` and feed the running md5; 0 if `valid()` said no.

        `valid` is checked under the lock that `truncate` takes, so a piece of an abandoned
        generation never lands after the file was truncated for the next one. With
        `hash_now=False` the md5 is left to the caller: it passes the returned token (truthy)
        to `hash_written` when it has time (after telling the supernode, say). The first
        `landed` bytes are already in the service file (`write_through`); the temp target of an
        across write still gets them all."""
        # Under the lock: a worker abandoned after a timeout must never write through a closed
        # (and possibly reused) descriptor.
        with self._lock:
            if not self._fds:
                raise OSError("the download target is closed")
            if valid is not None and not valid():
                return 0
            for i, fd in enumerate(self._fds):
                if i == 0 and landed:
                    if landed < len(payload):
                        _pwrite_all(fd, memoryview(payload)[landed:], offset + landed)
                else:
                    _pwrite_all(fd, payload, offset)
            epoch = self.hasher.epoch
        if hash_now:
            self.hash_written(offset, payload, epoch)
        return epoch

    def hash_written(
        self, offset: int, payload, token: int, release: "Callable[[memoryview], None] | None" = None
    ) -> None:
        """Feed a piece `write(..., hash_now=False)` wrote to the running md5. With `release`
        the caller hands `payload` over: it is hashed from memory and given back through
        `release` (which may happen on another thread, and at once); without, its bytes are
        read back from the file."""
        self.hasher.wrote(offset, payload, token, release)

    def truncate(self) -> None:
        if self.flight is not None:
            self.flight.fail_all()  # streams of the old generation's pieces are cut
        with self._lock:
            for fd in self._fds:
                os.ftruncate(fd, 0)
            self.hasher.reset()

    def close(self) -> None:
        self.hasher.close()
        with self._lock:
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds = []
        if self.flight is not None:  # the download ended: the service file alone answers now
            self.flight.close(remove=True)

    def _source(self) -> str:
        ctx = self.ctx
        if not self.p2p or self.across:
            return ctx.temp_target
        if not os.path.exists(ctx.client_file):
            try:
                os.link(ctx.service_file, ctx.client_file)
            except OSError:
                shutil.copyfile(ctx.service_file, ctx.client_file)
        return ctx.client_file

    def commit(self, md5: str, length: int, cancelled: threading.Event) -> None:
        """Check the assembled file, then rename it over the output."""
        for fd in self._fds:
            os.fsync(fd)
        src = self._source()
        size = os.path.getsize(src)
        if length >= 0 and size != length:
            raise P2PFailure(BackSourceReason.MD5_NOT_MATCH, f"assembled file has {size} bytes, expected {length}")
        if md5:
            real = self._fast_md5(size) or file_md5(src)
            if real != md5:
                raise P2PFailure(BackSourceReason.MD5_NOT_MATCH, f"md5 not match, expected:{md5} real:{real}")
        if cancelled.is_set():
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, "download cancelled")
        replace_output(src, self.ctx.output)

    def _fast_md5(self, size: int) -> "str | None":
        with self._lock:
            if not self._fds:
                return None
            return self.hasher.hexdigest(self._fds[0], size)


class LandingAbandoned(PieceFailure):
    """A piece still arriving may not be written any more (its generation was abandoned, or the
    target is closed or failed to take it): the fetch stops. Nothing to report to the supernode."""

    def __init__(self, message: str, write_error: "OSError | None" = None):
        super().__init__(message)
        self.write_error = write_error


class PieceLanding:
    """One fetch of one framed piece, written into the service file as it arrives.

    PieceFetcher calls `start(offset, length)` when it knows where the payload goes and how long
    it is (before the request when the file length tells, again from the answer's length) and
    `chunk(start, data)` for payload bytes in order; the flight record follows each write. The
    caller ends it with `done()` once the piece md5 checked out and the rest was written, or
    `fail()`; whichever comes first settles it. `landed`: payload bytes already in the service file."""

    def __init__(
        self,
        assembly: FileAssembly,
        flight: FlightWriter,
        piece_num: int,
        piece_size: int,
        file_length: int,
        valid: "Callable[[], bool]",
    ):
        self._assembly, self._flight = assembly, flight
        self.piece_num, self._piece_size, self._file_length = piece_num, piece_size, file_length
        self._valid = valid
        self._offset = -1
        self._length = 0
        self._attempt = 0
        self.landed = 0

    def expected_length(self, offset: int) -> int:
        """The payload length the piece at `offset` must have; 0 when the file length is unknown."""
        if self._file_length < 0:
            return 0
        return max(min(payload_size(self._piece_size), self._file_length - offset), 0)

    def start(self, offset: int, length: int) -> bool:
        """The payload is `length` bytes at `offset`: open (or re-open) the flight record. False
        if that cannot be this piece (an answer of the wrong length, which fails its check at the
        end): then nothing is written before the check, and the record stays as it was."""
        if length <= 0 or length > payload_size(self._piece_size):
            return False
        expected = self.expected_length(offset)
        if expected and length != expected:
            return False
        if (offset, length) != (self._offset, self._length) or not self._attempt:
            if self.landed:
                return False  # bytes of another length are in already: no more streaming
            self._offset, self._length = offset, length
            self._attempt = self._flight.begin(self.piece_num, offset, length)
        return True

    def chunk(self, start: int, data) -> None:
        if not self._attempt or start != self.landed or start + len(data) > self._length:
            raise LandingAbandoned(f"piece {self.piece_num}: bytes {start}+{len(data)} out of order")
        try:
            written = self._assembly.write_through(self._offset + start, data, self._valid)
        except OSError as e:
            raise LandingAbandoned(f"write error: {e}", e) from None
        if not written:
            raise LandingAbandoned("the download moved on without this piece")
        self.landed = start + len(data)
        self._flight.progress(self.piece_num, self._attempt, self.landed)

    def landed_at(self, offset: int) -> int:
        """Payload bytes already in the service file for a payload that goes to `offset`."""
        return self.landed if offset == self._offset else 0

    def done(self) -> None:
        if self._attempt:
            self._flight.done(self.piece_num, self._attempt)
            self._attempt = 0  # settled: a later fail() leaves the record alone

    def fail(self) -> None:
        """Mark the attempt failed, if it is still open (after done() or fail(), nothing)."""
        if self._attempt:
            self._flight.failed(self.piece_num, self._attempt)
            self._attempt = 0


def replace_output(src: str, output: str) -> None:
    if os.path.isdir(output):
        raise P2PFailure(BackSourceReason.WRITE_ERROR, f"output {output} is a directory")
    os.replace(src, output)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

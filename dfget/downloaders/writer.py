"""Assembling the downloaded pieces into the output file (docs/protocol.md#files-on-disk-shared-across-programs).

p2p pattern: payloads go into `<data>/<taskFileName>.service` (what the upload server serves);
`<data>/<taskFileName>` is a hard link to it. If the data dir and the output dir are on
different filesystems (the link probe fails) the payloads also go into the temp target next to
the output ("across write"). cdn pattern: payloads go only into the temp target.

Commit: the md5 (and length, when known) of the assembled file is checked first; only then is
it renamed over the output. The md5 is computed as pieces land (`PrefixHasher`: a running md5 of
the contiguous prefix written so far; a piece that lands ahead of the prefix is only remembered
as a range and read back from the file when the gap before it fills), so the commit only reads
what was never hashed. Memory stays bounded: no payload is kept for later. A rename within one filesystem is atomic, so the output is never
half-written and a bad file is never reported as a success (docs/decisions.md #4).
"""
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable

from common.protocol.codes import BackSourceReason
from dfget.errors import P2PFailure

log = logging.getLogger(__name__)
READ_CHUNK = 1024 * 1024


def file_md5(path: str) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(READ_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


class PrefixHasher:
    """md5 of bytes [0, hashed) of a file whose pieces are written in any order.

    `wrote(offset, data, fd, epoch)` after each write. The piece that extends the hashed prefix
    is hashed from memory by the thread that wrote it, outside the lock (one such thread at a
    time: md5 is sequential); a piece that lands while another is being hashed, or ahead of the
    prefix, is only recorded (offset, length), and the hashing thread reads it back from the file
    when the prefix reaches it. Nobody ever waits for somebody else's md5. `hexdigest(fd, size)`
    reads back whatever part of [hashed, size) was never hashed. Anything odd (a rewrite inside
    the hashed prefix, a piece landing twice) marks it unusable: the caller then hashes the whole
    file as before."""

    def __init__(self):
        self._lock = threading.Lock()
        self.epoch = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.epoch += 1
            self._md5 = hashlib.md5()
            self.hashed = 0
            self._ahead: dict[int, int] = {}   # offset -> length, written but not yet hashed
            self._busy = False                    # a thread is extending the prefix
            self.usable = True

    def wrote(self, offset: int, data, fd: int, epoch: "int | None" = None) -> None:
        n = len(data)
        with self._lock:
            if not self.usable or n == 0 or (epoch is not None and epoch != self.epoch):
                return
            if offset < self.hashed or offset in self._ahead:
                self.usable = False   # a rewrite: the prefix hash may not match the file
                return
            if self._busy or offset != self.hashed:
                self._ahead[offset] = n
                return
            self._busy = True
            epoch, md5 = self.epoch, self._md5
        self._extend(md5, epoch, fd, data, offset)

    def _extend(self, md5, epoch: int, fd: int, data, offset: int) -> None:
        """Hash `data` (at the prefix end), then whatever landed next, until there is a gap."""
        length = len(data)
        try:
            while True:
                if data is not None:
                    md5.update(data)
                    end = offset + length
                else:
                    end = self._read_into(md5, fd, offset, offset + length)
                with self._lock:
                    if epoch != self.epoch:
                        return          # truncated meanwhile: the new generation starts over
                    if end < 0:
                        self.usable = False
                        self._busy = False
                        return
                    self.hashed = end
                    length = self._ahead.pop(end, None)
                    if length is None:
                        self._busy = False
                        return
                    data, offset = None, end
        except BaseException:
            with self._lock:
                if epoch == self.epoch:
                    self.usable = False
                    self._busy = False
            raise

    @staticmethod
    def _read_into(md5, fd: int, start: int, end: int) -> int:
        """Hash the file's [start, end); the end reached, or -1 if the file is shorter."""
        while start < end:
            chunk = os.pread(fd, min(READ_CHUNK * 4, end - start), start)
            if not chunk:
                return -1
            md5.update(chunk)
            start += len(chunk)
        return end

    def hexdigest(self, fd: int, size: int) -> "str | None":
        """The md5 of the file's first `size` bytes, or None if this hasher cannot tell.
        Call it when no write is in flight any more."""
        with self._lock:
            if not self.usable or self._busy or self.hashed > size:
                return None
            self._ahead.clear()
            if self._read_into(self._md5, fd, self.hashed, size) < 0:
                self.usable = False
                return None
            self.hashed = size
            return self._md5.hexdigest()


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

    def open(self) -> None:
        ctx = self.ctx
        if self.p2p:
            self.across = not self._probe_link()
            self._fds.append(os.open(ctx.service_file, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644))
            _remove(ctx.client_file)
            try:
                os.link(ctx.service_file, ctx.client_file)
            except OSError as e:
                log.warning("cannot link %s to %s: %s", ctx.client_file, ctx.service_file, e)
        if not self.p2p or self.across:
            self._fds.append(os.open(ctx.temp_target, os.O_RDWR | os.O_CREAT, 0o644))

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

    def write(self, offset: int, payload: bytes, valid: "Callable[[], bool] | None" = None,
              hash_now: bool = True) -> int:
        """Write `payload` at `offset` and feed the running md5; 0 if `valid()` said no.

        `valid` is checked under the lock that `truncate` takes, so a piece of an abandoned
        generation never lands after the file was truncated for the next one. With
        `hash_now=False` the md5 is left to the caller: it passes the returned token (truthy)
        to `hash_written` when it has time (after telling the supernode, say)."""
        # Under the lock: a worker abandoned after a timeout must never write through a closed
        # (and possibly reused) descriptor.
        with self._lock:
            if not self._fds:
                raise OSError("the download target is closed")
            if valid is not None and not valid():
                return 0
            for fd in self._fds:
                _pwrite_all(fd, payload, offset)
            epoch = self.hasher.epoch
        if hash_now:
            self.hash_written(offset, payload, epoch)
        return epoch

    def hash_written(self, offset: int, payload, token: int) -> None:
        """Feed a piece `write(..., hash_now=False)` wrote to the running md5."""
        with self._lock:
            if not self._fds:
                return
            fd = os.dup(self._fds[0])   # the hash may read back after close(): its own descriptor
        try:
            self.hasher.wrote(offset, payload, fd, token)
        finally:
            os.close(fd)

    def truncate(self) -> None:
        with self._lock:
            for fd in self._fds:
                os.ftruncate(fd, 0)
            self.hasher.reset()

    def close(self) -> None:
        with self._lock:
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._fds = []

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
            raise P2PFailure(BackSourceReason.MD5_NOT_MATCH,
                             f"assembled file has {size} bytes, expected {length}")
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


def replace_output(src: str, output: str) -> None:
    if os.path.isdir(output):
        raise P2PFailure(BackSourceReason.WRITE_ERROR, f"output {output} is a directory")
    os.replace(src, output)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

"""Assembling the downloaded pieces into the output file (spec §6.4).

p2p pattern: payloads go into `<data>/<taskFileName>.service` (what the upload server serves);
`<data>/<taskFileName>` is a hard link to it. If the data dir and the output dir are on
different filesystems (the link probe fails) the payloads also go into the temp target next to
the output ("across write"). cdn pattern: payloads go only into the temp target.

Commit: the md5 (and length, when known) of the assembled file is checked first; only then is
it renamed over the output. A rename within one filesystem is atomic, so the output is never
half-written and a bad file is never reported as a success (decisions 4).
"""
import hashlib
import logging
import os
import shutil
import threading

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
        self._fds: "list[int]" = []
        self._lock = threading.Lock()

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

    def write(self, offset: int, payload: bytes) -> None:
        # Under the lock: a worker abandoned after a timeout must never write through a closed
        # (and possibly reused) descriptor.
        with self._lock:
            if not self._fds:
                raise OSError("the download target is closed")
            for fd in self._fds:
                _pwrite_all(fd, payload, offset)

    def truncate(self) -> None:
        with self._lock:
            for fd in self._fds:
                os.ftruncate(fd, 0)

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
            real = file_md5(src)
            if real != md5:
                raise P2PFailure(BackSourceReason.MD5_NOT_MATCH, f"md5 not match, expected:{md5} real:{real}")
        if cancelled.is_set():
            raise P2PFailure(BackSourceReason.DOWNLOAD_ERROR, "download cancelled")
        replace_output(src, self.ctx.output)


def replace_output(src: str, output: str) -> None:
    if os.path.isdir(output):
        raise P2PFailure(BackSourceReason.WRITE_ERROR, f"output {output} is a directory")
    os.replace(src, output)


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass

"""Back-to-source download (docs/architecture.md#one-download): straight from the URL, through the rate limiter.

Any status below 400 is accepted. A connection that fails is reported in one line naming the cause
and host:port (common.source_failures), e.g. a certificate --cacerts would make trusted. The bytes go to
`backsource.<sign>.*` next to the output,
their md5 is checked against --md5 if given, and only then are they renamed over the output.

The download runs in a thread that may be abandoned at the deadline while it is stuck in a read:
`abandon()` then removes its temp files at once (the thread may never get to), and the commit
and the abandonment exclude each other, so that a late thread never renames anything.
"""

import hashlib
import logging
import os
import tempfile
import threading

import requests

from common.dfget_files import back_source_prefix
from common.shell.files import remove_file
from common.source_failures import explain
from dfget.downloaders.writer import replace_output
from dfget.errors import SourceFailure

log = logging.getLogger(__name__)
CHUNK = 256 * 1024
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0


def verify_option(cfg, work_dir: str):
    """requests' `verify`: False with --insecure; the --cacerts bundle (merged if several)."""
    if cfg.insecure:
        return False
    if not cfg.cacerts:
        return True
    if len(cfg.cacerts) == 1:
        return cfg.cacerts[0]
    fd, path = tempfile.mkstemp(prefix="cacerts.", suffix=".pem", dir=work_dir)
    with os.fdopen(fd, "wb") as out:
        for ca in cfg.cacerts:
            with open(ca, "rb") as f:
                out.write(f.read().rstrip(b"\n") + b"\n")
    return path


class SourceDownloader:
    def __init__(
        self, cfg, ctx, limiter, progress, cancelled: threading.Event, session: "requests.Session | None" = None
    ):
        self.cfg = cfg
        self.ctx = ctx
        self.limiter = limiter
        self.progress = progress
        self.cancelled = cancelled
        self.http = session or requests.Session()
        self._lock = threading.Lock()
        self._temp_files: list[str] = []  # ours to remove: the download and a merged CA bundle
        self.committed = False

    def _own(self, path: str) -> None:
        """Remember a temp file; if we were abandoned meanwhile, remove it and stop."""
        with self._lock:
            if self.cancelled.is_set():
                remove_file(path)
                raise SourceFailure("download cancelled")
            self._temp_files.append(path)

    def abandon(self) -> bool:
        """Cancel the download and remove its temp files now; True if it had already committed."""
        with self._lock:
            self.cancelled.set()
            for path in self._temp_files:
                remove_file(path)
            self._temp_files.clear()
            return self.committed

    def run(self) -> int:
        """Download and commit; the number of bytes written."""
        fd, tmp = tempfile.mkstemp(prefix=back_source_prefix(self.ctx.sign), dir=self.ctx.target_dir)
        try:
            self._own(tmp)
        except SourceFailure:
            os.close(fd)
            raise
        os.fchmod(fd, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                written, real = self._copy(out)
            if self.cfg.md5 and real != self.cfg.md5:
                raise SourceFailure(
                    f"md5 not match, expected:{self.cfg.md5} real:{real}: the source's file is not the one --md5 names"
                )
            with self._lock:
                if self.cancelled.is_set():
                    raise SourceFailure("download cancelled")
                replace_output(tmp, self.ctx.output)
                self.committed = True
            return written
        finally:
            remove_file(tmp)

    def _copy(self, out) -> "tuple[int, str]":
        verify = verify_option(self.cfg, self.cfg.work_home)
        if isinstance(verify, str) and verify not in self.cfg.cacerts:
            self._own(verify)
        try:
            headers = {"Accept-Encoding": "identity", **self.cfg.header_map}
            with self.http.get(
                self.cfg.url, headers=headers, stream=True, verify=verify, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
            ) as resp:
                if resp.status_code >= 400:
                    raise SourceFailure(f"failed to download from source, response code:{resp.status_code}")
                length = int(resp.headers.get("Content-Length", "-1") or -1)
                self.progress.start(length)
                h, total = hashlib.md5(), 0
                for chunk in resp.iter_content(CHUNK):
                    if self.cancelled.is_set():
                        raise SourceFailure("download cancelled")
                    self.limiter.take(len(chunk))
                    out.write(chunk)
                    h.update(chunk)
                    total += len(chunk)
                    self.progress.add(len(chunk))
                return total, h.hexdigest()
        except requests.RequestException as e:
            known = explain(e, self.cfg.url)  # one line naming the cause, not urllib3's page
            raise SourceFailure(known.line() if known is not None else f"failed to download from source: {e}") from None
        finally:
            if isinstance(verify, str) and verify not in self.cfg.cacerts:
                remove_file(verify)

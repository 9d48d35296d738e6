"""Back-to-source download (spec §4.5): straight from the URL, through the rate limiter.

Any status below 400 is accepted. The bytes go to `backsource.<sign>.*` next to the output,
their md5 is checked against --md5 if given, and only then are they renamed over the output.
"""
import hashlib
import logging
import os
import tempfile
import threading

import requests

from dfget.core.naming import back_source_prefix
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
    def __init__(self, cfg, ctx, limiter, progress, cancelled: threading.Event,
                 session: "requests.Session | None" = None):
        self.cfg = cfg
        self.ctx = ctx
        self.limiter = limiter
        self.progress = progress
        self.cancelled = cancelled
        self.http = session or requests.Session()

    def run(self) -> int:
        """Download and commit; the number of bytes written."""
        fd, tmp = tempfile.mkstemp(prefix=back_source_prefix(self.ctx.sign), dir=self.ctx.target_dir)
        os.fchmod(fd, 0o644)
        try:
            with os.fdopen(fd, "wb") as out:
                written, real = self._copy(out)
            if self.cfg.md5 and real != self.cfg.md5:
                raise SourceFailure(f"md5 not match, expected:{self.cfg.md5} real:{real}")
            if self.cancelled.is_set():
                raise SourceFailure("download cancelled")
            replace_output(tmp, self.ctx.output)
            return written
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def _copy(self, out) -> "tuple[int, str]":
        verify = verify_option(self.cfg, self.cfg.work_home)
        try:
            headers = {"Accept-Encoding": "identity", **self.cfg.header_map}
            with self.http.get(self.cfg.url, headers=headers, stream=True, verify=verify,
                               timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)) as resp:
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
            raise SourceFailure(f"failed to download from source: {e}") from None
        finally:
            if isinstance(verify, str) and verify not in self.cfg.cacerts:
                os.remove(verify)

"""Fetch one piece from a peer, the supernode CDN or the source, and check it (spec §4.3)."""
import hashlib
import threading

import requests

from common.errors import FramingError
from common.pieces import parse_range, unframe
from common.protocol.codes import ClientErrorType
from common.protocol.messages import PieceTask

from dfget.core.sources import PieceRequest, piece_request
from dfget.core.timing import piece_timeout
from dfget.errors import PieceFailure

CHUNK = 64 * 1024
CONNECT_TIMEOUT = 2.0


class PieceFetcher:
    """`fetch(task, ...)` -> (offset, payload) or PieceFailure (with what to report, if anything)."""

    def __init__(self, session: requests.Session, limiter, version: str, min_rate: int,
                 cancelled: threading.Event, clock):
        self.http = session
        self.limiter = limiter
        self.version = version
        self.min_rate = min_rate
        self.cancelled = cancelled
        self.clock = clock

    def fetch(self, task: PieceTask, cdn_source: str, file_length: int,
              user_headers: "dict[str, str]") -> "tuple[int, bytes]":
        req = piece_request(task, cdn_source, self.version, file_length=file_length, user_headers=user_headers)
        body = self._download(req, piece_timeout(task.piece_size, self.min_rate))
        expected = task.piece_md5.split(":", 1)[0]
        real = hashlib.md5(body).hexdigest() if expected or req.framed else ""
        if expected and real != expected:
            raise PieceFailure(f"piece range:{task.range} md5 not match, expected:{expected} real:{real}",
                               ClientErrorType.FILE_MD5_NOT_MATCH.value, real, expected)
        if not req.framed:
            start, end = parse_range(req.headers["Range"].partition("=")[2])
            if len(body) != end - start + 1:
                raise PieceFailure(f"{req.url}: got {len(body)} bytes for range {start}-{end}")
            return req.offset, body
        try:
            return req.offset, bytes(unframe(body, task.piece_size))
        except FramingError as e:
            raise PieceFailure(f"piece range:{task.range} is corrupt: {e}",
                               ClientErrorType.FILE_MD5_NOT_MATCH.value, real, expected) from None

    def _download(self, req: PieceRequest, timeout: float) -> bytes:
        deadline = self.clock.monotonic() + timeout
        try:
            with self.http.get(req.url, headers=req.headers, stream=True,
                               timeout=(CONNECT_TIMEOUT, timeout)) as resp:
                if resp.status_code == 404:
                    raise PieceFailure(f"{req.url}: not found", ClientErrorType.FILE_NOT_EXIST.value)
                if not 200 <= resp.status_code < 300:
                    raise PieceFailure(f"{req.url}: HTTP {resp.status_code} for {req.headers.get('Range')}")
                buf = bytearray()
                for chunk in resp.iter_content(CHUNK):
                    if self.cancelled.is_set():
                        raise PieceFailure("download cancelled")
                    self.limiter.take(len(chunk))
                    buf += chunk
                    if self.clock.monotonic() > deadline:
                        raise PieceFailure(f"{req.url}: piece timed out after {timeout:.0f}s")
                return bytes(buf)
        except requests.RequestException as e:
            raise PieceFailure(f"{req.url}: {e}") from None

"""One back-source build: stream the source, cut, frame and write pieces, announce each at once.

Theory of operation
  * GET the source (with `Range: bytes=<received>-` and If-Range when resuming). Accept 200 from
    scratch, or 206 whose Content-Range starts exactly where we are AND whose validators and total
    length are the ones recorded for the bytes already cut (a server may ignore If-Range). A 200
    answer to a resume is a clean restart: the data file is truncated and the cut starts over
    from byte 0; so is a 206 of another version (after one retry's pause).
  * Every whole piece is framed, written at n*pieceSize, flushed, and then announced
    (`announce(n, md5, wrapped_len)`), so clients can fetch piece 0 while the rest downloads.
    Each piece is announced exactly once per build; a piece re-cut after a restart must equal the
    one already announced, otherwise the source changed under us and the build fails.
  * A broken stream (transport error, read timeout, short body, slower than sourceMinRate over a
    window of sourceReadTimeout: see core/ratefloor.py) or a 5xx is retried up to
    `retries` times, resuming from the last received byte when the task has no Range of its own.
  * A 4xx from the source, or a connection that cannot succeed (certificate not trusted, port
    closed, unknown host: common.source_failures), fails at once with `source_error=True`; so does
    a user md5 the source's bytes do not have. The error says the cause in one line.
  * Success needs: received == the declared length (when one is known) and, if the user gave an
    md5, md5(raw bytes) == it. Then `.md5` and the finished `.meta` are written.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from common.rate import TokenBucket
from common.source_failures import explain
from common.urls import redact_url
from supernode.cdn.core.contract import CdnJob, CdnResult
from supernode.cdn.core.cutting import CutPiece, PieceCutter
from supernode.cdn.core.freshness import if_range_value, same_version
from supernode.cdn.core.ratefloor import RateFloor
from supernode.cdn.core.records import FileMeta, http_date_to_ms
from supernode.cdn.source import STREAM_ERRORS, SourceClient, SourceStream
from supernode.cdn.store import TaskStore

log = logging.getLogger(__name__)

CANCELLED = "build cancelled (task deleted)"
YIELD_EVERY = 256 << 10  # source bytes between two yields to the gevent loop


def _cooperative_yield() -> "Callable[[], None] | None":
    """Under gevent, a build never blocks on a fast source (a loopback socket is always readable,
    file writes and md5s never yield), so it would hold the worker's only loop for the whole
    build: /peer/task and /download answers waited until the CDN file was complete. Yielding
    every YIELD_EVERY bytes lets them in while the build goes on. None outside gevent."""
    try:
        from gevent.monkey import is_module_patched

        if not is_module_patched("socket"):
            return None
        from gevent import sleep
    except ImportError:
        return None
    return lambda: sleep(0)


class Throttle:
    """The global source rate limit shared by every build; the calling thread sleeps."""

    def __init__(self, rate: int, clock, sleep: Callable[[float], None]):
        self._bucket = TokenBucket(rate, clock)
        self._lock = threading.Lock()
        self._sleep = sleep

    def __call__(self, nbytes: int) -> None:
        with self._lock:
            wait = self._bucket.reserve(nbytes)
        if wait > 0:
            self._sleep(wait)


@dataclass
class BuildPlan:
    meta: FileMeta  # the task's .meta as it stands (finish=False)
    start_piece: int = 0  # resume: pieces [0, start_piece) are on disk already
    prior: "list[tuple[str, int]]" = field(default_factory=list)  # their (md5, wrapped len)
    prior_md5: object = None  # hashlib md5 over their raw payloads


def md5_mismatch(expected: str, real: str) -> str:
    return f"md5 mismatch: the source's bytes have md5 {real}, not the expected {expected.lower()} (--md5)"


class BuildFailed(Exception):
    def __init__(self, message: str, source_error: bool = False):
        super().__init__(message)
        self.source_error = source_error


class Cancelled(Exception):
    pass


class _Retry(Exception):
    def __init__(self, message: str, from_zero: bool = False):
        super().__init__(message)
        self.from_zero = from_zero


class Builder:
    def __init__(
        self,
        job: CdnJob,
        *,
        store: TaskStore,
        source: SourceClient,
        throttle: Callable[[int], None],
        announce: Callable[[int, str, int], None],
        retries: int,
        sleep: Callable[[float], None],
        cancelled: Callable[[], bool] = lambda: False,
        min_rate: int = 0,
        window: float = 60.0,
        monotonic: "Callable[[], float] | None" = None,
    ):
        self.job = job
        self._min_rate, self._window = min_rate, window
        self._now = monotonic or time.monotonic
        self._store, self._source, self._throttle = store, source, throttle
        self._announce, self._retries, self._sleep, self._cancelled = announce, retries, sleep, cancelled
        self.digests: list[tuple[str, int]] = []  # announced pieces, in order
        self.fetched = 0
        self._meta: FileMeta | None = None
        self._yield = _cooperative_yield()
        self._unyielded = 0
        self._pending_prior: list[tuple[str, int]] = []

    def run(self, plan: BuildPlan) -> CdnResult:
        self._meta = plan.meta
        try:
            return self._run(plan)
        except Cancelled:
            return CdnResult(False, source_bytes=self.fetched, error=CANCELLED)
        except BuildFailed as e:
            log.warning(
                "cdn build failed task=%s url=%s error=%s", self.job.task_id, redact_url(self.job.source.url), e
            )
            if not self._cancelled():
                try:
                    self._store.write_meta(self._meta.replace(finish=True, success=False))
                except OSError as err:
                    log.warning("cannot record the failed build task=%s error=%s", self.job.task_id, err)
            return CdnResult(
                False,
                source_bytes=self.fetched,
                error=str(e),
                source_error=e.source_error,
                piece_count=len(self.digests),
            )

    def _run(self, plan: BuildPlan) -> CdnResult:
        job, ps = self.job, self.job.piece_size
        request = job.source
        resumable = not request.headers.has("Range")
        self._pending_prior = list(plan.prior)
        cutter = PieceCutter(ps, plan.start_piece, plan.prior_md5)
        expected, failures = job.source_length, 0
        with self._store.open_for_build(job.task_id, plan.start_piece * ps) as f:
            while True:
                self._check_cancel()
                if cutter.received and not resumable:
                    cutter = self._restart(f)
                start = cutter.received
                if_range = if_range_value(self._meta.etag, self._meta.last_modified) if start else ""
                stream = self._source.open(request, start=start, if_range=if_range)
                try:
                    if self._accept(stream, start, resumable):
                        cutter = self._restart(f)
                    # A task with its own Range gets a 206 whose body is that range, not the resource.
                    declared = stream.total_length if resumable else stream.content_length
                    expected = declared if declared >= 0 else expected
                    self._remember(stream, expected)
                    self._pump(stream, cutter, f)
                    if expected < 0 or cutter.received >= expected:
                        break
                    problem, from_zero = f"stream ended at byte {cutter.received} of {expected}", False
                except _Retry as e:
                    problem, from_zero = str(e), e.from_zero
                except STREAM_ERRORS as e:
                    known = explain(e, job.source.url)
                    problem, from_zero = (
                        f"stream broken at byte {cutter.received}: {known.line() if known else e}",
                        False,
                    )
                finally:
                    stream.close()
                failures += 1
                if failures > self._retries:
                    raise BuildFailed(f"source failed {failures} times; last: {problem}")
                log.info("cdn source retry task=%s attempt=%d reason=%s", job.task_id, failures, problem)
                if from_zero:
                    cutter = self._restart(f)
                self._sleep(min(0.1 * 2 ** (failures - 1), 2.0))
            for piece in cutter.finish():
                self._write(f, piece)
        return self._finish(cutter, expected)

    def _accept(self, stream: SourceStream, start: int, resumable: bool) -> bool:
        """Check the response status; True = it is a whole body, restart the cut from zero."""
        status = stream.status
        if stream.refused:
            raise BuildFailed(stream.error, source_error=True)
        if status == 0:
            known = stream.unreachable
            if known is not None and known.definite:
                raise BuildFailed(known.line(), source_error=True)
            raise _Retry(known.line() if known is not None else stream.error)
        if 400 <= status < 500 and status not in (408, 416, 429):
            raise BuildFailed(f"source answered {status}", source_error=True)
        if start > 0:
            cr = stream.content_range
            if status == 206 and cr and cr[0] == start:
                if not same_version(
                    self._meta,
                    etag=stream.etag,
                    last_modified_ms=http_date_to_ms(stream.last_modified),
                    total_length=cr[2],
                ):
                    raise _Retry(
                        f"resume from byte {start} answered a 206 of another version (ETag {stream.etag!r}, "
                        f"Last-Modified {stream.last_modified!r}, length {cr[2]}): restarting from byte 0",
                        from_zero=True,
                    )
                self._announce_prior()
                return False
            if status == 200:
                log.info("cdn source ignored the resume Range, restarting task=%s", self.job.task_id)
                return True
            raise _Retry(
                f"resume from byte {start} answered {status} {stream.headers.get('Content-Range', '')}",
                from_zero=status in (206, 416),
            )
        if status == 200 or (status == 206 and not resumable):
            return False
        raise _Retry(f"source answered {status}")

    def _announce_prior(self) -> None:
        """Pieces found on disk are announced only once the source confirmed it is unchanged."""
        for num, (md5, length) in enumerate(self._pending_prior):
            self.digests.append((md5, length))
            self._announce(num, md5, length)
        self._pending_prior = []

    def _restart(self, f) -> PieceCutter:
        self._pending_prior = []
        f.truncate(0)
        return PieceCutter(self.job.piece_size)

    def _remember(self, stream: SourceStream, expected: int) -> None:
        lm, etag = http_date_to_ms(stream.last_modified), stream.etag
        meta = self._meta
        if (meta.last_modified, meta.etag, meta.http_file_len) != (lm, etag, expected):
            self._check_cancel()
            self._meta = meta.replace(last_modified=lm, etag=etag, http_file_len=expected)
            self._store.write_meta(self._meta)

    def _pump(self, stream: SourceStream, cutter: PieceCutter, f) -> None:
        paused = 0.0  # time our own rate limit held us: not the source's fault
        floor = RateFloor(self._min_rate, self._window, self._now())
        for chunk in stream.chunks():
            self._check_cancel()
            self.fetched += len(chunk)
            before = self._now()
            self._throttle(len(chunk))
            after = self._now()
            paused += after - before
            for piece in cutter.feed(chunk):
                self._write(f, piece)
            too_slow = floor.feed(len(chunk), after - paused)
            if too_slow:
                raise _Retry(f"{too_slow}, at byte {cutter.received}")
            if self._yield is not None:
                self._unyielded += len(chunk)
                if self._unyielded >= YIELD_EVERY:
                    self._unyielded = 0
                    self._yield()

    def _write(self, f, piece: CutPiece) -> None:
        try:
            f.seek(piece.offset(self.job.piece_size))
            f.write(piece.data)
            f.flush()
        except OSError as e:  # the disk's fault, not the source's: no retry
            raise BuildFailed(f"cannot write piece {piece.num}: {e}") from None
        entry = (piece.md5, piece.wrapped_len)
        if piece.num < len(self.digests):
            if self.digests[piece.num] != entry:
                raise BuildFailed(f"source changed during the build: piece {piece.num} differs from the one served")
            return
        self.digests.append(entry)
        self._announce(piece.num, piece.md5, piece.wrapped_len)

    def _check_cancel(self) -> None:
        if self._cancelled():
            raise Cancelled()

    def _finish(self, cutter: PieceCutter, expected: int) -> CdnResult:
        job, received, real = self.job, cutter.received, cutter.real_md5()
        error = ""
        if cutter.piece_count < len(self.digests):
            error = f"source shrank during the build: {cutter.piece_count} pieces, {len(self.digests)} served"
        elif expected >= 0 and received != expected:
            error = f"received {received} bytes, the source declared {expected}"
        elif job.md5 and job.md5.lower() != real:
            raise BuildFailed(md5_mismatch(job.md5, real), source_error=True)
        if error:
            raise BuildFailed(error)
        self._check_cancel()
        self._store.write_md5s(job.task_id, self.digests, real)
        self._meta = self._meta.replace(
            finish=True, success=True, real_md5=real, file_length=cutter.wrapped_length, http_file_len=received
        )
        self._store.write_meta(self._meta)
        log.info("cdn build done task=%s bytes=%d pieces=%d md5=%s", job.task_id, received, cutter.piece_count, real)
        return CdnResult(
            True,
            real_md5=real,
            source_length=received,
            file_length=cutter.wrapped_length,
            piece_count=cutter.piece_count,
            source_bytes=self.fetched,
        )

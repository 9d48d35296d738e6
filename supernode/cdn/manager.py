"""LocalCdn: the Cdn contract on the local disk (docs/architecture.md#the-cdn-build, docs/decisions.md #4, #6, #7).

start() returns at once; the work runs in `spawn(fn, *args)` (a daemon thread by default; the
supernode passes a gevent spawner). Per task there is at most one build at a time: a start() for a
task whose build is running does NOT start a second source download - its listener joins the
running build, gets every piece announced so far replayed (in the background), then the rest,
then the same on_done. delete() cancels a running build; a start() after that queues a new build behind it.
Callbacks of one build are never concurrent and never run under a lock;
they usually run in the build's thread, so they should be quick.
"""

import hashlib
import logging
import threading
import time
from collections.abc import Callable

from common.errors import FramingError
from common.pieces import unframe, validate_piece_size
from common.source_access import SourceAccess
from supernode import layout
from supernode.cdn.builder import CANCELLED, Builder, BuildPlan, Throttle
from supernode.cdn.core.contract import CdnJob, CdnListener, CdnResult, DiskEntry, ProbeResult
from supernode.cdn.core.freshness import (
    DEFAULT_UNVALIDATED_TTL,
    Action,
    CacheDecision,
    decide,
    revalidation_headers,
    unchanged,
)
from supernode.cdn.core.records import FileMeta
from supernode.cdn.source import SourceClient
from supernode.cdn.store import TaskStore

log = logging.getLogger(__name__)


def _thread_spawn(fn, *args) -> None:
    threading.Thread(target=fn, args=args, daemon=True, name="cdn-build").start()


class _Fanout:
    """The listeners of one running build.

    Every listener gets every announced piece in order, then on_done, each exactly once. Callbacks
    never run under a lock: one drainer at a time delivers whatever is pending, so a late joiner's
    replay and the build's new pieces never interleave wrongly and a slow listener blocks nobody
    else's start().
    """

    def __init__(self, task_id: str, listener: CdnListener):
        self._task = task_id
        self._lock = threading.Lock()
        self._entries = [[listener, 0, False]]  # listener, pieces delivered, on_done delivered
        self.pieces: list[tuple[str, int]] = []
        self.result: CdnResult | None = None
        self.cancelled = False
        self.successor: tuple[CdnJob, _Fanout] | None = None  # queued behind a cancelled build
        self._draining = False

    def add(self, listener: CdnListener) -> bool:
        """Join the build; the caller must then `drain()` (in the background) to replay pieces."""
        with self._lock:
            if self.result is not None:
                return False
            self._entries.append([listener, 0, False])
            return True

    def piece(self, num: int, md5: str, length: int) -> None:
        with self._lock:
            assert num == len(self.pieces), f"piece {num} announced out of order"
            self.pieces.append((md5, length))
        self.drain()

    def finish(self, result: CdnResult) -> None:
        with self._lock:
            self.result = result
        self.drain()

    def drain(self) -> None:
        with self._lock:
            if self._draining:
                return  # the active drainer will deliver what we added
            self._draining = True
        try:
            while True:
                with self._lock:
                    call = self._next_call()
                    if call is None:
                        self._draining = False
                        return
                _call(*call)
        except BaseException:
            with self._lock:
                self._draining = False
            raise

    def _next_call(self):
        for entry in self._entries:
            listener, delivered, done = entry
            if delivered < len(self.pieces):
                entry[1] += 1
                md5, length = self.pieces[delivered]
                return listener.on_piece, self._task, delivered, md5, length
            if self.result is not None and not done:
                entry[2] = True
                return listener.on_done, self._task, self.result
        return None


def _call(fn, *args) -> None:
    try:
        fn(*args)
    except Exception:  # a listener's bug must not kill the build or starve the other listeners
        log.exception("cdn listener failed callback=%s task=%s", getattr(fn, "__name__", fn), args[0])


class LocalCdn:
    def __init__(
        self,
        settings,
        *,
        clock,
        spawn: "Callable | None" = None,
        session_factory: "Callable | None" = None,
        sleep: "Callable[[float], None] | None" = None,
        unvalidated_ttl: float = DEFAULT_UNVALIDATED_TTL,
    ):
        self.settings = settings
        self._clock = clock
        self._spawn = spawn or _thread_spawn
        self._sleep = sleep or time.sleep
        self._ttl = unvalidated_ttl
        self.store = TaskStore(layout.store_root(settings.home_dir, settings.download_server))
        self.source = SourceClient(
            settings.home_dir,
            probe_timeout=settings.source_probe_timeout,
            read_timeout=settings.source_read_timeout,
            session_factory=session_factory,
            allow_list=settings.source_allow,
        )
        rate = settings.max_bandwidth - settings.system_reserved_bandwidth
        if rate <= 0:
            log.warning("maxBandwidth - systemReservedBandwidth <= 0: source downloads are not rate limited")
        self._throttle = Throttle(max(rate, 0), clock, self._sleep)
        self._lock = threading.Lock()
        self._running: dict[str, _Fanout] = {}
        self._digests: dict[str, list[tuple[str, int]]] = {}

    # -- the Cdn contract ------------------------------------------------------------------
    def probe(self, request: SourceAccess) -> ProbeResult:
        return self.source.probe(request)

    def revalidate(self, task_id: str, request: SourceAccess) -> ProbeResult:
        """Registration-time revalidation of a finished task (see supernode.core.registration)."""
        meta = self.store.read_meta(task_id)
        if meta is None or not (meta.finish and meta.success):
            return self.source.probe(request)  # nothing cached to compare: a 2xx means rebuild
        if meta.has_validators:
            status = self.source.revalidate(request, revalidation_headers(meta))
            if status == 304 or not 200 <= status < 300:
                return ProbeResult(status)
        st = self.store.data_stat(task_id)
        age = max(self._clock.time() - st.st_mtime, 0.0) if st else float("inf")
        probe = self.source.probe(request)
        if probe.ok and unchanged(meta, probe, age, self._ttl):
            return ProbeResult(304, length=probe.length, supports_range=probe.supports_range)
        return probe

    def start(self, job: CdnJob, listener: CdnListener) -> None:
        self.store.data_path(job.task_id)  # BadInput for a malformed id, before anything runs
        validate_piece_size(job.piece_size)
        with self._lock:
            current = self._running.get(job.task_id)
            if current is not None and not current.cancelled and current.add(listener):
                log.info("cdn start joins the running build task=%s", job.task_id)
                self._spawn(current.drain)  # replay the pieces announced so far, in the background
                return
            fan = self._running[job.task_id] = _Fanout(job.task_id, listener)
            if current is not None:  # a deleted build still winding down: queue behind it
                current.successor = (job, fan)
                return
        self._spawn(self._run, job, fan)

    def forget(self, task_id: str) -> None:
        with self._lock:
            self._digests.pop(task_id, None)

    def delete(self, task_id: str) -> None:
        with self._lock:
            self._digests.pop(task_id, None)
            fan = self._running.get(task_id)
            if fan is not None:
                # The build stops at its next chunk and removes the files itself when it leaves,
                # so its own writes never race with this removal.
                fan.cancelled = True
                return
        self.store.delete(task_id)

    def check_piece(self, task_id: str, piece_num: int, piece_size: int) -> "tuple[str, str]":
        disk = self.store.piece_md5(task_id, piece_num, piece_size) if self.store.has_data(task_id) else ""
        digests = self._known_digests(task_id)
        recorded = digests[piece_num][0] if digests is not None and 0 <= piece_num < len(digests) else ""
        return disk, recorded

    def has_data(self, task_id: str) -> bool:
        return self.store.has_data(task_id)

    def disk_entries(self) -> "list[DiskEntry]":
        return self.store.disk_entries()

    def free_space(self) -> int:
        return self.store.free_space()

    def path_of(self, task_id: str) -> str:
        """The data file of a task (BadInput for an id that is not 64 lowercase hex digits)."""
        return self.store.data_path(task_id)

    def restricted(self, url: str, patterns, name: str = "preheatAllow"):
        """While inside, every hop of every source request for `url` must match `patterns` too."""
        return self.source.restricted(url, patterns, name)

    def is_building(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._running

    # -- the build thread ------------------------------------------------------------------
    def _run(self, job: CdnJob, fan: _Fanout) -> None:
        try:
            result = self._serve(job, fan)
        except Exception as e:
            log.exception("cdn build crashed task=%s", job.task_id)
            result = CdnResult(False, error=f"cdn internal error: {e}")
        if fan.cancelled:
            result = CdnResult(False, source_bytes=result.source_bytes, error=CANCELLED)
            self.store.delete(job.task_id)  # no other build of this task runs before we leave
        with self._lock:
            if self._running.get(job.task_id) is fan:
                del self._running[job.task_id]
            if result.success and not fan.cancelled:
                self._digests[job.task_id] = list(fan.pieces)
            successor = fan.successor
        fan.finish(result)
        if successor is not None:
            self._spawn(self._run, *successor)

    def _serve(self, job: CdnJob, fan: _Fanout) -> CdnResult:
        if fan.cancelled:
            return CdnResult(False, error=CANCELLED)
        now = self._clock.time()
        meta = self.store.read_meta(job.task_id)
        st = self.store.data_stat(job.task_id)
        decision = decide(
            meta,
            job,
            data_size=st.st_size if st else -1,
            data_age=max(now - st.st_mtime, 0.0) if st else 0.0,
            unvalidated_ttl=self._ttl,
        )
        if decision.action is Action.REVALIDATE:
            status = self.source.revalidate(job.source, revalidation_headers(meta))
            decision = (
                CacheDecision(Action.HIT, "source answered 304 Not Modified")
                if status == 304
                else CacheDecision(Action.FRESH, f"source answered {status} to revalidation")
            )
        log.info("cdn cache decision task=%s action=%s reason=%s", job.task_id, decision.action.value, decision.reason)
        plan = None
        if decision.action is Action.HIT:
            result = self._serve_hit(job, meta, fan, now)
            if result is not None:
                return result
        elif decision.action is Action.RESUME:
            plan = self._resume_plan(job, meta, decision.break_num, now)
        if plan is None:
            self.store.delete(job.task_id)
            fresh = FileMeta(
                job.task_id,
                job.source.url,
                job.piece_size,
                http_file_len=job.source_length,
                biz_id=job.identifier,
                md5=job.md5,
                access_time=int(now * 1000),
            )
            self.store.write_meta(fresh)
            plan = BuildPlan(meta=fresh)
        builder = Builder(
            job,
            store=self.store,
            source=self.source,
            throttle=self._throttle,
            announce=fan.piece,
            retries=self.settings.source_retries,
            sleep=self._sleep,
            cancelled=lambda: fan.cancelled,
            min_rate=self.settings.source_min_rate,
            window=self.settings.source_read_timeout,
            monotonic=self._clock.monotonic,
        )
        return builder.run(plan)

    def _serve_hit(self, job: CdnJob, meta: FileMeta, fan: _Fanout, now: float) -> "CdnResult | None":
        """Announce every stored piece; None when the stored data does not check out."""
        digests = self._known_digests(job.task_id, meta, running=False)
        if digests is None or sum(length for _, length in digests) != meta.file_length:
            log.info("cdn piece md5 list unavailable, re-reading the data task=%s", job.task_id)
            found = _read_pieces(self.store, job.task_id, job.piece_size)
            if found is None or found[1].hexdigest() != meta.real_md5:
                log.warning("cdn cached data is corrupt, rebuilding task=%s", job.task_id)
                return None
            digests = found[0]
            self.store.write_md5s(job.task_id, digests, meta.real_md5)
        self.store.write_meta(meta.touched(int(now * 1000)))
        for num, (md5, length) in enumerate(digests):
            fan.piece(num, md5, length)
        return CdnResult(
            True,
            cache_hit=True,
            real_md5=meta.real_md5,
            source_length=meta.http_file_len,
            file_length=meta.file_length,
            piece_count=len(digests),
        )

    def _resume_plan(self, job: CdnJob, meta: FileMeta, break_num: int, now: float) -> "BuildPlan | None":
        found = _read_pieces(self.store, job.task_id, job.piece_size, limit=break_num)
        if found is None or len(found[0]) != break_num:
            log.info("cdn breakpoint pieces do not check out, building from scratch task=%s", job.task_id)
            return None
        meta = meta.touched(int(now * 1000))
        self.store.write_meta(meta)
        return BuildPlan(meta=meta, start_piece=break_num, prior=found[0], prior_md5=found[1])

    def _known_digests(
        self, task_id: str, meta: "FileMeta | None" = None, running: bool = True
    ) -> "list[tuple[str, int]] | None":
        """Piece digests from memory, else from the running build (if `running`), else from `.md5`."""
        with self._lock:
            digests = self._digests.get(task_id)
            fan = self._running.get(task_id) if running else None
            if digests is None and fan is not None:
                digests = list(fan.pieces)
        if digests is not None:
            return digests
        meta = meta or self.store.read_meta(task_id)
        if meta is None or not (meta.finish and meta.success):
            return None
        return self.store.read_md5s(task_id, meta.real_md5)


def _read_pieces(store: TaskStore, task_id: str, piece_size: int, limit: "int | None" = None):
    """(digests, md5 of the raw payloads) of the framed pieces on disk, or None if any is malformed.

    With `limit`, only the first `limit` pieces are read and each must be a whole piece.
    """
    digests, real = [], hashlib.md5()
    try:
        for num, data in enumerate(store.iter_pieces(task_id, piece_size)):
            if limit is not None and num >= limit:
                break
            if limit is not None and len(data) != piece_size:
                return None
            payload = unframe(data, piece_size)
            real.update(payload)
            digests.append((hashlib.md5(data).hexdigest(), len(data)))
    except (OSError, FramingError):
        return None
    return (digests, real) if digests else None

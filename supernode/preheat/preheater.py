"""The preheat service: owns the PreheatBook (under one lock), runs workers, collects garbage.

A file preheat runs one fetcher call. An image preheat reads the layer list from the registry,
submits one child file preheat per layer (children already running are joined, finished ones are
reused) and is settled when its last child finishes — no polling loop. Expired records are
removed (and their output files deleted) on every API call and by a periodic sweep.
"""

import logging
import os
import threading

import requests

from common import image_names
from common.errors import DragonflyError
from common.protocol.messages import HEADER_DISPLAY_NAME
from supernode.core.allow import shown
from supernode.core.manifests import parse_platforms
from supernode.core.preheat import TYPE_IMAGE, PreheatBook, PreheatRecord, PreheatSpec, PreheatStatus, Submit, allowed
from supernode.errors import NotFound
from supernode.preheat.fetchers import DfgetFetcher, FetchResult, HopRestricted, InProcessFetcher
from supernode.preheat.registry import RegistryClient

log = logging.getLogger(__name__)


def _thread_spawn(fn, *args) -> None:
    threading.Thread(target=fn, args=args, daemon=True, name="preheat").start()


def default_fetcher(settings, service):
    if settings.preheat_dfget_path:
        fetcher = DfgetFetcher(
            settings.preheat_dfget_path,
            home_dir=settings.home_dir,
            api_port=settings.listen_port,
            timeout=settings.preheat_timeout,
            download_server=settings.download_server,
        )
    else:
        fetcher = InProcessFetcher(service, timeout=settings.preheat_timeout)
    restrict = getattr(service.cdn, "restricted", None)  # LocalCdn has it; test doubles may not
    if settings.preheat_allow and restrict is not None:
        return HopRestricted(fetcher, restrict, settings.preheat_allow)
    return fetcher


class Preheater:
    def __init__(
        self, settings, *, fetcher, clock, spawn=None, registry: "RegistryClient | None" = None, remove_file=os.remove
    ):
        self.book = PreheatBook(ttl=settings.preheat_record_ttl, timeout=settings.preheat_timeout)
        self._fetch, self._clock = fetcher, clock
        self._spawn = spawn or _thread_spawn
        self._allow = tuple(settings.preheat_allow)
        self._registry = registry or RegistryClient(allow_list=self._allow)
        self._remove_file = remove_file
        self._lock = threading.RLock()
        self._sweeper: threading.Event | None = None

    # ---- API --------------------------------------------------------------------------------

    def create(self, spec: PreheatSpec) -> "tuple[Submit, str]":
        self.sweep()
        with self._lock:
            kind, rec = self.book.submit(spec, self._clock.time())
        log.info(
            "preheat %s id=%s type=%s url=%s platform=%s", kind.value, rec.id, spec.type, spec.url, spec.platform or "-"
        )
        if kind.starts_worker:
            self._spawn(self._run, rec.id)
        return kind, rec.id

    def get(self, preheat_id: str) -> PreheatRecord:
        self.sweep()
        with self._lock:
            rec = self.book.get(preheat_id, self._clock.time())
        if rec is None:
            raise NotFound(f"{preheat_id} doesn't exists")
        return rec

    def all(self) -> "list[PreheatRecord]":
        self.sweep()
        with self._lock:
            return self.book.all(self._clock.time())

    def delete(self, preheat_id: str) -> None:
        with self._lock:
            gone = self.book.delete(preheat_id, self._clock.time())
        if not gone:
            raise NotFound(f"{preheat_id} doesn't exists")
        self._delete_outputs(gone)

    # ---- garbage collection ------------------------------------------------------------------

    def sweep(self) -> int:
        """Fail timed-out preheats, drop expired records and their output files."""
        now = self._clock.time()
        with self._lock:
            late = self.book.time_out(now)
            for rec in late:
                self._settle_parents_of(rec.id, now)
            gone = self.book.expire(now)
        for rec in late:
            log.warning("preheat timed out id=%s url=%s", rec.id, rec.spec.url)
        self._delete_outputs(gone)
        if gone:
            log.info("preheat gc removed=%s", len(gone))
        return len(gone)

    def start_sweeper(self, interval: float) -> None:
        """A periodic sweep in the background (started after the worker forks, stopped by stop())."""
        with self._lock:
            if self._sweeper is not None:
                return
            self._sweeper = stop = threading.Event()

        def loop():
            while not stop.wait(interval):
                try:
                    self.sweep()
                except Exception:
                    log.exception("preheat sweep failed")

        self._spawn(loop)

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.set()

    def _delete_outputs(self, records) -> None:
        for rec in records:
            for path in rec.outputs:
                try:
                    self._remove_file(path)
                except FileNotFoundError:
                    pass
                except OSError as e:
                    log.warning("preheat output not deleted path=%s error=%r", path, e)

    # ---- workers -------------------------------------------------------------------------------

    def _run(self, preheat_id: str) -> None:
        with self._lock:
            rec = self.book.records.get(preheat_id)
            if rec is None or rec.status is not PreheatStatus.WAITING:
                return
            self.book.move(preheat_id, PreheatStatus.RUNNING, self._clock.time())
        try:
            if rec.spec.type == TYPE_IMAGE:
                self._run_image(rec)
            elif not allowed(rec.spec.url, self._allow):
                self._finish(rec, FetchResult(False, f"url {shown(rec.spec.url)} is not allowed by preheatAllow"))
            else:
                self._finish(rec, self._fetch(rec.spec, rec.id))
        except Exception as e:  # a worker's failure ends in FAILED, never in a dead RUNNING record
            log.exception("preheat worker failed id=%s", preheat_id)
            self._finish(rec, FetchResult(False, f"internal error: {e!r}"))

    def _finish(self, rec: PreheatRecord, result: FetchResult) -> None:
        now = self._clock.time()
        with self._lock:
            rec.outputs.extend(result.outputs)
            if self.book.records.get(rec.id) is not rec or rec.status is not PreheatStatus.RUNNING:
                return  # deleted, or timed out meanwhile
            self.book.move(rec.id, PreheatStatus.SUCCESS if result.ok else PreheatStatus.FAILED, now, result.error)
            self._settle_parents_of(rec.id, now)
        level = logging.INFO if result.ok else logging.WARNING
        log.log(
            level,
            "preheat done id=%s type=%s ok=%s task=%s url=%s error=%s",
            rec.id,
            rec.spec.type,
            result.ok,
            result.task_id or "-",
            rec.spec.url,
            result.error or "-",
        )

    def _settle_parents_of(self, child_id: str, now: float) -> None:
        for parent in [r for r in self.book.records.values() if child_id in r.children]:
            settled = self.book.settle_parent(parent.id, now)
            if settled is not None:
                log.info(
                    "preheat image done id=%s status=%s layers=%s error=%s",
                    settled.id,
                    settled.status.value,
                    len(settled.children),
                    settled.error or "-",
                )

    def _run_image(self, rec: PreheatRecord) -> None:
        try:
            image = self._registry.layers(rec.spec.url, rec.spec.headers, parse_platforms(rec.spec.platform))
        except (DragonflyError, requests.RequestException) as e:
            self._finish(rec, FetchResult(False, f"cannot read the image manifest: {e}"))
            return
        now, start = self._clock.time(), []
        with self._lock:
            if self.book.records.get(rec.id) is not rec or rec.status is not PreheatStatus.RUNNING:
                return
            headers = dict(image.headers)
            name = _image_name(rec.spec.url)
            if name:  # the console shows the layers under the image's name (docs/operations.md#console)
                headers[HEADER_DISPLAY_NAME] = name
            for url in image.blob_urls:
                kind, child = self.book.submit(rec.spec.child(url, headers), now, parent_id=rec.id)
                if child.id not in rec.children:
                    rec.children.append(child.id)
                if kind.starts_worker:
                    start.append(child.id)
            settled = self.book.settle_parent(rec.id, now)  # no layers, or every layer preheated before
        log.info("preheat image id=%s layers=%s new=%s", rec.id, len(image.blob_urls), len(start))
        if settled is not None:
            log.info("preheat image done id=%s status=%s", rec.id, settled.status.value)
        for child_id in start:
            self._spawn(self._run, child_id)


def _image_name(manifest_url: str) -> str:
    """`repo:tag` for a manifest URL naming a tag, `repo` for one naming a digest, else ""."""
    found = image_names.manifest_of(manifest_url)
    return image_names.layer_display_name(*found) if found else ""

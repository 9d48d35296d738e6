"""A fake CDN for service tests: probes answer from a table, builds run when told to."""

import hashlib
import threading

from common import pieces
from supernode.cdn.core.contract import CdnResult, DiskEntry, ProbeResult


class FakeCdn:
    """`probes[url]` (or `probe_fn(request)`) decides probes; `auto` builds synchronously in start()."""

    def __init__(self, content: bytes = b"x" * 3000, *, auto: bool = True, fail: bool = False):
        self.content, self.auto, self.fail = content, auto, fail
        self.probe_fn = None
        self.probes: dict[str, ProbeResult] = {}
        self.probe_calls: list = []
        self.revalidations: dict[str, ProbeResult] = {}
        self.revalidate_calls: list = []
        self.starts: list = []
        self.deleted: list = []
        self.forgotten: list = []
        self.disk: list[DiskEntry] = []
        self.free = 1 << 50
        self.data: set[str] = set()
        self.piece_md5s: dict = {}
        self._lock = threading.Lock()

    # ---- Cdn protocol ----------------------------------------------------------------------
    def probe(self, request):
        with self._lock:
            self.probe_calls.append(request)
        if self.probe_fn is not None:
            return self.probe_fn(request)
        return self.probes.get(request.url, ProbeResult(200, len(self.content), True))

    def revalidate(self, task_id, request):
        """`revalidations[url]` decides; else `probe_fn` says whether the source accepts the request
        (a 2xx becomes 304: the cached copy is current); else 304."""
        with self._lock:
            self.revalidate_calls.append((task_id, request))
        if request.url not in self.revalidations and self.probe_fn is not None:
            said = self.probe_fn(request)
            return ProbeResult(304, said.length, said.supports_range) if 200 <= said.status < 300 else said
        return self.revalidations.get(request.url, ProbeResult(304))

    def start(self, job, listener):
        with self._lock:
            self.starts.append((job, listener))
        if self.auto:
            self.build(len(self.starts) - 1)

    def forget(self, task_id):
        self.forgotten.append(task_id)

    def delete(self, task_id):
        self.deleted.append(task_id)
        self.data.discard(task_id)

    def check_piece(self, task_id, piece_num, piece_size):
        return self.piece_md5s.get((task_id, piece_num), ("", ""))

    def has_data(self, task_id):
        return task_id in self.data

    def disk_entries(self):
        return list(self.disk)

    def free_space(self):
        return self.free

    # ---- driving builds ----------------------------------------------------------------------
    def framed_pieces(self, piece_size: int) -> "list[bytes]":
        size = pieces.payload_size(piece_size)
        chunks = [self.content[i : i + size] for i in range(0, len(self.content), size)] or [b""]
        return [pieces.frame(c, piece_size) for c in chunks]

    def build(self, index: int = -1, upto: "int | None" = None, finish: bool = True) -> None:
        job, listener = self.starts[index]
        framed = self.framed_pieces(job.piece_size)
        for n, data in enumerate(framed[:upto]):
            listener.on_piece(job.task_id, n, hashlib.md5(data).hexdigest(), len(data))
        if not finish:
            return
        self.data.add(job.task_id)
        if self.fail:
            listener.on_done(job.task_id, CdnResult(success=False, error="boom", source_bytes=10))
            return
        listener.on_done(
            job.task_id,
            CdnResult(
                success=True,
                real_md5=hashlib.md5(self.content).hexdigest(),
                source_length=len(self.content),
                file_length=sum(map(len, framed)),
                piece_count=len(framed),
                source_bytes=len(self.content),
            ),
        )

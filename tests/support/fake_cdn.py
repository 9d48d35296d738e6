"""An in-memory CDN that honours supernode/cdn/core/contract.py, for service and API tests."""

import hashlib

from common import pieces
from supernode.cdn.core.contract import CdnResult, ProbeResult


class FakeCdn:
    def __init__(
        self,
        sources: "dict[str, bytes] | None" = None,
        *,
        statuses: "dict[str, int] | None" = None,
        auto_run: bool = True,
    ):
        self.sources = dict(sources or {})
        self.statuses = dict(statuses or {})  # url -> HTTP status the source answers
        self.auto_run = auto_run
        self.started, self.probes, self.pending = [], [], []
        self.files: dict[str, bytes] = {}

    def probe(self, request):
        self.probes.append(request)
        status = self.statuses.get(request.url, 200 if request.url in self.sources else 404)
        length = len(self.sources[request.url]) if status == 200 else -1
        return ProbeResult(status=status, length=length, supports_range=True)

    def revalidate(self, task_id, request):
        return ProbeResult(status=304)

    def start(self, job, listener):
        self.started.append(job)
        if self.auto_run:
            self.run(job, listener)
        else:
            self.pending.append((job, listener))

    def run_pending(self):
        while self.pending:
            self.run(*self.pending.pop(0))

    def run(self, job, listener):
        data = self.sources.get(job.source.url)
        if data is None:
            listener.on_done(job.task_id, CdnResult(success=False, error="source gone", source_error=True))
            return
        payload = pieces.payload_size(job.piece_size)
        count = pieces.piece_count(len(data), job.piece_size)
        framed_all = b""
        for n in range(count):
            framed = pieces.frame(data[n * payload : (n + 1) * payload], job.piece_size)
            framed_all += framed.ljust(job.piece_size, b"\0") if n < count - 1 else framed
            listener.on_piece(job.task_id, n, hashlib.md5(framed).hexdigest(), len(framed))
        self.files[job.task_id] = framed_all
        listener.on_done(
            job.task_id,
            CdnResult(
                success=True,
                real_md5=hashlib.md5(data).hexdigest(),
                source_length=len(data),
                file_length=pieces.wrapped_length(len(data), job.piece_size),
                piece_count=count,
                source_bytes=len(data),
            ),
        )

    def forget(self, task_id):
        pass

    def delete(self, task_id):
        self.files.pop(task_id, None)

    def check_piece(self, task_id, piece_num, piece_size):
        return "", ""

    def has_data(self, task_id):
        return task_id in self.files

    def disk_entries(self):
        return []

    def free_space(self):
        return 1 << 50

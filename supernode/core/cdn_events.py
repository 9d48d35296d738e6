"""What the CDN tells the core (docs/architecture.md#the-cdn-build): a piece is on disk; the build ended.

A piece marks the CDN bitset SUCCESS, records its `md5:len` and wakes held pulls. The end of a
successful build (or cache hit) makes the task SUCCESS with the real md5, the wrapped length
and pieceTotal = the real piece count, and marks every piece available (a cache hit may not
announce pieces one by one). A failed build makes it FAILED (SOURCE_ERROR when the source is at fault) and keeps its
error for the
pull answers;
a SUCCESS task is never downgraded. Events about tasks no longer in memory change nothing.
"""

from common.protocol.codes import CdnStatus, PieceStatus
from supernode.cdn.core.contract import CdnResult
from supernode.core.effects import Count, Metric, Outcome, Wake
from supernode.core.state import SupernodeState


def on_piece(state: SupernodeState, task_id: str, piece: int, md5: str, wrapped_len: int) -> Outcome:
    task, tp = state.tasks.get(task_id), state.progress.tasks.get(task_id)
    if task is None or tp is None or task.cdn_status is not CdnStatus.RUNNING:
        return Outcome()
    tp.cdn.update(piece, PieceStatus.SUCCESS)
    tp.piece_md5[piece] = f"{md5}:{wrapped_len}" if md5 else ""
    return Outcome(None, [Wake(task_id)])


def on_done(state: SupernodeState, task_id: str, result: CdnResult) -> Outcome:
    out = Outcome(None, _metrics(result))
    task, tp = state.tasks.get(task_id), state.progress.tasks.get(task_id)
    if task is None or tp is None or task.cdn_status is CdnStatus.SUCCESS:
        return out
    if result.success:
        task.cdn_status = CdnStatus.SUCCESS
        task.real_md5 = result.real_md5
        task.file_length = result.file_length
        task.piece_total = result.piece_count
        if result.source_length >= 0:
            task.http_file_length = result.source_length
        for n in range(result.piece_count):
            tp.cdn.update(n, PieceStatus.SUCCESS)
    else:
        task.cdn_status = CdnStatus.SOURCE_ERROR if result.source_error else CdnStatus.FAILED
        task.cdn_error = result.error
    out.effects.append(Wake(task_id))
    return out


def _metrics(result: CdnResult) -> list[Count]:
    effects = []
    if result.cache_hit:
        effects.append(Count(Metric.CDN_CACHE_HIT))
    else:
        effects.append(Count(Metric.CDN_DOWNLOAD))
        if not result.success:
            effects.append(Count(Metric.CDN_DOWNLOAD_FAILED))
    if not result.success:
        effects.append(Count(Metric.CDN_TRIGGER_FAILED))
    if result.source_bytes > 0:
        effects.append(Count(Metric.CDN_DOWNLOAD_SIZE, result.source_bytes))
    return effects

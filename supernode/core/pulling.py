"""The pull loop's server side (docs/architecture.md#a-pull-get-peertask, docs/architecture.md#one-download,
docs/architecture.md#scheduling-and-loads): apply a report, then answer.

Theory of operation. `pull` applies the piece outcome a client reports (status 701 with a range)
and then `answer`s; a held long-poll calls `answer` again later without re-applying the report.
An answer is, in this order: 502 unknown task/client; 610 when the CDN build failed because of the
source (unreachable, refused, not the md5 the user gave: no other supernode would do better, the
client goes to the source at once) and 500 when it failed otherwise (the client may migrate), both
naming the cause; 600 when
the CDN succeeded and the client holds every piece (the dfget task becomes SUCCESS, sticky);
else the scheduler's plan: 601 with piece tasks, 601 without data when the client already runs
its limit, 602 when nothing can be fetched now. Status 702 ends a download: SUCCESS with result
501, FAILED otherwise (a SUCCESS is never downgraded).
"""

from dataclasses import dataclass
from typing import Any

from common import pieces
from common.errors import BadInput
from common.protocol import paths
from common.protocol.codes import (
    CdnSource,
    CdnStatus,
    DfgetTaskStatus,
    PieceResult,
    PieceStatus,
    ResultCode,
    TaskStatus,
)
from common.protocol.messages import FinishResult, PieceTask, ResultInfo
from supernode.core import scheduler
from supernode.core.effects import Count, Metric, Outcome, Wake
from supernode.core.model import DfgetTask, Limits, Task, super_cid
from supernode.core.state import SupernodeState

_DOWNLOADING = (DfgetTaskStatus.WAITING, DfgetTaskStatus.RUNNING)
_STATUSES = frozenset(int(s) for s in TaskStatus)
_RESULTS = frozenset(int(r) for r in PieceResult)
_REPORTED = {
    PieceResult.FAIL: PieceStatus.FAILED,
    PieceResult.SUCCESS: PieceStatus.SUCCESS,
    PieceResult.SEMISUC: PieceStatus.SEMISUC,
}


@dataclass(frozen=True)
class PullQuery:
    task_id: str
    src_cid: str
    dst_cid: str = ""
    range: str = ""
    result: int = PieceResult.INVALID
    status: int = TaskStatus.START


def _info(code: ResultCode, msg: str = "", data: Any = None) -> ResultInfo:
    return ResultInfo.of(code, msg or code.default_msg, data)


def pull(state: SupernodeState, limits: Limits, rng: scheduler.Rng, q: PullQuery, now: float) -> Outcome:
    task, dt = state.tasks.get(q.task_id), state.dfget(q.task_id, q.src_cid)
    if task is None or dt is None:
        return Outcome(_info(ResultCode.TARGET_NOT_FOUND, f"unknown task {q.task_id} or client {q.src_cid}"))
    if q.status not in _STATUSES or q.result not in _RESULTS:
        return Outcome(_info(ResultCode.PARAM_ERROR, f"invalid status {q.status} or result {q.result}"))
    task.access_time = now
    if q.status == TaskStatus.FINISH:
        return finish(task, dt, q.result == PieceResult.SUCCESS)
    out = Outcome()
    if q.status == TaskStatus.RUNNING and q.result != PieceResult.INVALID:
        try:
            out.effects.extend(_apply_report(state, task, dt, q, now))
        except BadInput as e:
            return Outcome(_info(ResultCode.PARAM_ERROR, str(e)))
    elif dt.status is DfgetTaskStatus.WAITING:
        dt.status = DfgetTaskStatus.RUNNING
    return answer(state, limits, rng, q.task_id, q.src_cid, now).extend(out.effects)


def finish(task: Task, dt: DfgetTask, success: bool) -> Outcome:
    out = Outcome(_info(ResultCode.PEER_FINISH, data=FinishResult(task.real_md5, task.file_length)))
    if dt.status is not DfgetTaskStatus.SUCCESS:
        dt.status = DfgetTaskStatus.SUCCESS if success else DfgetTaskStatus.FAILED
        if not success:
            out.effects.append(Count(Metric.DFGETTASKS_FAILED, labels=(dt.call_system,)))
    return out


def piece_of(task: Task, text: str) -> int:
    start, end = pieces.parse_range(text)
    return pieces.piece_num_of_range(start, end)


def _apply_report(state: SupernodeState, task: Task, dt: DfgetTask, q: PullQuery, now: float) -> list[Any]:
    piece = piece_of(task, q.range)
    dst = state.dfget(task.id, q.dst_cid) if q.dst_cid else None
    peer = state.peers.get(dt.peer_id)
    _, released = state.progress.record_outcome(
        task.id,
        dt.key,
        dt.peer_id,
        dst.peer_id if dst else "",
        piece,
        _REPORTED[PieceResult(q.result)],
        now,
        src_uploads=peer is not None and peer.uploads,
    )
    return [Wake(task.id)] if released else []


def finished(state: SupernodeState, task: Task, dt: DfgetTask) -> bool:
    if task.cdn_status is not CdnStatus.SUCCESS or task.piece_total == 0:
        return False
    tp, client = state.progress.tasks[task.id], state.progress.clients.get(dt.key)
    if client is None or client.bits.success_count() < task.piece_total:
        return False  # the common pieces cannot be more than the client's
    return client.bits.common_success_count(tp.cdn) == task.piece_total


def answer(state: SupernodeState, limits: Limits, rng: scheduler.Rng, task_id: str, cid: str, now: float) -> Outcome:
    task, dt = state.tasks.get(task_id), state.dfget(task_id, cid)
    if task is None or dt is None or dt.key not in state.progress.clients:
        return Outcome(_info(ResultCode.TARGET_NOT_FOUND, f"unknown task {task_id} or client {cid}"))
    if task.cdn_status is CdnStatus.SOURCE_ERROR:
        return Outcome(
            _info(
                ResultCode.SOURCE_ERROR,
                f"the supernode could not fetch the source: {task.cdn_error or 'no reason given'}",
            )
        )
    if task.cdn_status is CdnStatus.FAILED:
        return Outcome(
            _info(
                ResultCode.SYSTEM_ERROR,
                f"the supernode failed to fetch the source: {task.cdn_error or 'no reason given'}",
            )
        )
    if finished(state, task, dt):
        dt.status = DfgetTaskStatus.SUCCESS
        return Outcome(_info(ResultCode.PEER_FINISH, data=FinishResult(task.real_md5, task.file_length)))
    progress = state.progress
    view = scheduler.View(
        task=progress.tasks[task_id],
        client=progress.clients[dt.key],
        peers=progress.peers,
        black=progress.black.get(dt.peer_id, {}),
        servable=lambda pid: state.servable(pid, task_id),
        src_pid=dt.peer_id,
        super_pid=state.super_pid,
        now=now,
        crowd=_crowd(state, task_id),
        at_limit=progress.at_limit if progress.up_limit == limits.peer_up_limit else None,
    )
    plan = scheduler.plan(view, limits, rng)
    for piece, pid in plan.drops:
        view.task.drop_holder(pid, piece)
    if plan.limited:
        return Outcome(_info(ResultCode.PEER_CONTINUE, "too many pieces running, go on with them"))
    if plan.wait:
        return Outcome(_info(ResultCode.PEER_WAIT), recheck_after=plan.recheck_after, note=plan.held_back)
    # a piece's first streaming fetcher is a new source of it: the clients held waiting for that
    # piece's copy may take it from this one while it arrives (docs/decisions.md #25)
    new_source = view.client.streams and any(a.piece not in view.task.streamers for a in plan.assignments)
    for a in plan.assignments:
        progress.reserve(task_id, view.client, a.piece, a.source, now, client_pid=dt.peer_id, streamed=a.streamed)
    data = [render(state, limits, task, dt, a) for a in plan.assignments]
    effects: list[Any] = [Wake(task_id)] if new_source else []
    streamed = sum(1 for a in plan.assignments if a.streamed)
    if streamed:
        effects.append(Count(Metric.PIECES_STREAMED, streamed))
    return Outcome(_info(ResultCode.PEER_CONTINUE, data=data), effects=effects)


def _crowd(state: SupernodeState, task_id: str) -> int:
    """Clients still downloading the task (finished ones stay registered until GC, and a lone
    newcomer must not be held back for a crowd that left), the supernode's own entry not counted,
    counted up to CROWD_SEEN: the scheduler only asks whether there is a crowd, and counting all
    of them was an O(clients) scan on every pull (a third of the core's time at 1,000 peers)."""
    tasks, seen = state.dfget_tasks, 0
    for key in state.keys_by_task.get(task_id, ()):
        dt = tasks[key]
        if dt.peer_id != state.super_pid and dt.status in _DOWNLOADING:
            seen += 1
            if seen >= scheduler.CROWD_SEEN:
                break
    return seen


def render(state: SupernodeState, limits: Limits, task: Task, client: DfgetTask, a: scheduler.Assignment) -> PieceTask:
    start, end = pieces.piece_range(a.piece, task.piece_size)
    md5 = state.progress.tasks[task.id].piece_md5.get(a.piece, "")
    out = PieceTask(range=pieces.format_range(start, end), piece_num=a.piece, piece_size=task.piece_size, piece_md5=md5)
    if a.source == state.super_pid:
        super_peer = state.peers[state.super_pid]
        out.cid = super_cid(super_peer.ip, task.id)
        out.peer_ip = client.super_node_ip or super_peer.ip
        out.peer_port = limits.download_port
        out.path = task.source.url if task.cdn_source is CdnSource.SOURCE else paths.cdn_piece_path(task.id)
        return out
    peer, source = state.peers[a.source], state.dfget_of_peer(a.source, task.id)
    assert source is not None, "the scheduler picks holders and fetchers only: each has a download of the task"
    out.cid, out.peer_ip, out.peer_port, out.path = source.cid, peer.ip, peer.port, source.path
    return out

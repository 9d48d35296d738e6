"""Reports outside the pull loop: piece persisted, piece error, service down
(docs/protocol.md#supernode-legacy-peer-protocol, docs/architecture.md#background-work).

Decisions 5 in `piece_error`: the peer that failed a piece for a client is never again that
client's source for it; a FILE_NOT_EXIST (the peer's upload server has no file for the task)
drops the peer as a holder of every piece of the task at once; a corrupt piece drops it as a
holder of that piece. Errors about the supernode's own pieces become a RepairPiece effect.
"""

from common.errors import BadInput
from common.protocol.codes import ClientErrorType, PieceStatus, ResultCode
from common.protocol.messages import ResultInfo
from supernode.core.effects import Count, Delivered, Metric, Outcome, PeerRef, RepairPiece, Wake
from supernode.core.model import Peer
from supernode.core.pulling import piece_of
from supernode.core.state import SupernodeState


def piece_success(state: SupernodeState, task_id: str, cid: str, dst_cid: str, piece_range: str, now: float) -> Outcome:
    task, dt = state.tasks.get(task_id), state.dfget(task_id, cid)
    if task is None or dt is None or dt.key not in state.progress.clients:
        return Outcome(missing=f"client {cid} of task {task_id}")
    dst = state.dfget(task_id, dst_cid) if dst_cid else None
    if dst_cid and dst is None:
        return Outcome(missing=f"source client {dst_cid} of task {task_id}")
    piece = piece_of(task, piece_range)
    peer = state.peers.get(dt.peer_id)
    dst_pid = dst.peer_id if dst else ""
    changed, _ = state.progress.record_outcome(
        task_id,
        dt.key,
        dt.peer_id,
        dst_pid,
        piece,
        PieceStatus.SUCCESS,
        now,
        src_uploads=peer is not None and peer.uploads,
    )
    task.access_time = now
    out = Outcome(ResultInfo.of(ResultCode.GET_PIECE_REPORT), [Wake(task_id)])
    if dst is not None:
        from_super = dst_pid == state.super_pid
        nbytes = _piece_bytes(state, task_id, piece, task.piece_size)
        metric = Metric.PIECES_DOWNLOADED_SIZE if from_super else Metric.PIECES_DOWNLOADED_FROM_PEERS_SIZE
        out.effects.append(Count(metric, nbytes))
        source = None if from_super else _ref(state, dst_pid)
        if peer is not None and (from_super or source is not None):
            out.effects.append(Delivered(task_id, nbytes, _ref_of(peer), source))
    return out


def _ref(state: SupernodeState, pid: str) -> "PeerRef | None":
    peer = state.peers.get(pid)
    return _ref_of(peer) if peer is not None else None


def _ref_of(peer: Peer) -> PeerRef:
    return PeerRef(peer.ip, peer.host_name, peer.port)


def _piece_bytes(state: SupernodeState, task_id: str, piece: int, piece_size: int) -> int:
    _, _, length = state.progress.tasks[task_id].piece_md5.get(piece, "").partition(":")
    return int(length) if length.isdigit() else piece_size


def piece_error(
    state: SupernodeState,
    task_id: str,
    piece_range: str,
    src_cid: str,
    dst_pid: str,
    error_type: str,
    expected_md5: str,
) -> Outcome:
    """`dst_pid` is the peer the piece came from (resolve a legacy dstCid first)."""
    task = state.tasks.get(task_id)
    out = Outcome(None, [Count(Metric.PIECE_ERRORS, labels=(error_type or "unknown",))])
    if task is None or not dst_pid:
        return out
    try:
        piece = piece_of(task, piece_range)
    except BadInput:
        return out
    if dst_pid == state.super_pid:
        out.effects.append(RepairPiece(task_id, piece, task.piece_size, error_type, expected_md5))
        return out
    client = state.progress.clients.get(f"{src_cid}@{task_id}")
    if client is not None:
        client.bad_sources.setdefault(piece, set()).add(dst_pid)
    tp = state.progress.tasks[task_id]
    if error_type == ClientErrorType.FILE_NOT_EXIST.value:
        tp.drop_holder(dst_pid)
    elif error_type == ClientErrorType.FILE_MD5_NOT_MATCH.value:
        tp.drop_holder(dst_pid, piece)
    return out


def service_down(state: SupernodeState, task_id: str, cid: str, now: float) -> Outcome:
    dt = state.dfget(task_id, cid)
    peer_state = state.progress.peers.get(dt.peer_id) if dt else None
    if dt is None or peer_state is None:
        return Outcome(missing=f"client {cid} of task {task_id}")
    if not peer_state.down:
        peer_state.service_down_ms = max(int(now * 1000), 1)
    return Outcome(ResultInfo.of(ResultCode.GET_PEER_DOWN))

"""Read-only renderings of the state: /api/v1 records and the console snapshot."""

from datetime import UTC, datetime
from typing import Any

from common import urls
from common.protocol.codes import DfgetTaskStatus
from common.protocol.rest_messages import PeerInfo, TaskInfo
from supernode.core.identity import console_label
from supernode.core.model import Peer, Task, redacted
from supernode.core.state import SupernodeState


def rfc3339_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def peer_info(peer: Peer) -> PeerInfo:
    return PeerInfo(
        id=peer.id,
        ip=peer.ip,
        host_name=peer.host_name,
        port=peer.port,
        version=peer.version,
        created=rfc3339_ms(peer.created),
    )


def task_info(task: Task) -> TaskInfo:
    """A task as the (unauthenticated) API shows it: never its credentials (docs/decisions.md #9): header
    names without values, URLs without userinfo or query values."""
    return TaskInfo(
        id=task.id,
        cdn_status=task.cdn_status.value,
        file_length=task.file_length,
        http_file_length=task.http_file_length,
        piece_size=task.piece_size,
        piece_total=task.piece_total,
        raw_url=urls.redact_url(task.source.url),
        task_url=urls.redact_url(task.task_url),
        md5=task.md5,
        real_md5=task.real_md5,
        identifier=task.identifier,
        headers=redacted(task.source.headers),
    )


def page_of_peers(state: SupernodeState, page_num: int, page_size: int, descending: bool) -> "list[PeerInfo]":
    peers = sorted(state.peers.values(), key=lambda p: (p.created, p.id), reverse=descending)
    if page_size > 0:
        peers = peers[page_num * page_size : (page_num + 1) * page_size]
    return [peer_info(p) for p in peers]


def snapshot(state: SupernodeState) -> dict[str, Any]:
    """What the console shows. Clients appear under a label, never their cid (a cid names a client
    in reports: supernode.core.identity)."""
    progress = state.progress
    tasks = []
    for task in sorted(state.tasks.values(), key=lambda t: t.created):
        clients = {}
        for dt in state.dfgets_of_task(task.id):
            if dt.peer_id == state.super_pid:
                continue
            client = progress.clients.get(dt.key)
            done = client.bits.successes() if client else frozenset()
            clients[console_label(dt.client_key, dt.cid)] = {
                "peer": dt.peer_id,
                "status": dt.status.value,
                "pieces_done": len(done),
                "running": len(client.running) if client else 0,
                "bitmap": "".join("1" if n in done else "0" for n in range(max(task.piece_total, 0))),
            }
        tp = progress.tasks.get(task.id)
        tasks.append(
            {
                "id": task.id,
                "url": urls.redact_url(task.task_url),
                "names": list(task.display_names),
                "status": task.cdn_status.value,
                "source_length": task.http_file_length,
                "file_length": task.file_length,
                "piece_size": task.piece_size,
                "piece_total": task.piece_total,
                "cdn_pieces": tp.cdn.success_count() if tp else 0,
                "super_load": tp.super_load if tp else 0,
                "clients": clients,
            }
        )
    peers = []
    for peer in sorted(state.peers.values(), key=lambda p: p.created):
        ps = progress.peers.get(peer.id)
        peers.append(
            {
                "id": peer.id,
                "ip": peer.ip,
                "port": peer.port,
                "host_name": peer.host_name,
                "supernode": peer.id == state.super_pid,
                "uploads": peer.uploads,
                "load": ps.producer_load if ps else 0,
                "client_errors": ps.client_error_count if ps else 0,
                "service_errors": ps.service_error_count if ps else 0,
                "down": bool(ps and ps.down),
            }
        )
    serves = [{"source": src, "client": dst, "pieces": n} for (src, dst), n in sorted(progress.served.items())]
    return {"tasks": tasks, "peers": peers, "serves": serves, "flows": _flows(state)}


def _flows(state: SupernodeState) -> "list[dict[str, Any]]":
    """Pieces on their way right now, per (source PID, client PID): the live edges of the swarm."""
    running: dict[tuple[str, str], int] = {}
    for key, client in state.progress.clients.items():
        dt = state.dfget_tasks.get(key)
        if dt is None:
            continue
        for source in client.running.values():
            running[(source, dt.peer_id)] = running.get((source, dt.peer_id), 0) + 1
    return [{"source": src, "client": dst, "running": n} for (src, dst), n in sorted(running.items())]


def gauge_counts(state: SupernodeState) -> dict[str, Any]:
    """Counts behind the peers / tasks / dfgettasks gauges."""
    peers: dict[str, int] = {}
    tasks: dict[str, int] = {}
    dfgets: dict[tuple[str, str], int] = {}
    for peer in state.peers.values():
        if peer.id != state.super_pid:
            peers[peer.ip] = peers.get(peer.ip, 0) + 1
    for task in state.tasks.values():
        tasks[task.cdn_status.value] = tasks.get(task.cdn_status.value, 0) + 1
    for dt in state.dfget_tasks.values():
        if dt.peer_id != state.super_pid:
            key = (dt.call_system, dt.status.value)
            dfgets[key] = dfgets.get(key, 0) + 1
    return {"peers": peers, "tasks": tasks, "dfgettasks": dfgets, "statuses": [s.value for s in DfgetTaskStatus]}

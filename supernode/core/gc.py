"""Garbage-collection policy (docs/architecture.md#background-work, docs/decisions.md #6): pure choices over plain
values.

* Tasks: idle (no registration or pull) for taskExpireTime. A task whose CDN build is still
  running is kept: its builder is writing and will report back (a source too slow to finish is
  failed by the builder's rate floor, so "running" cannot last for ever).
* Unreachable URLs (a 404 remembered for failAccessInterval): forgotten once the interval is
  over, whether or not the URL comes back (any client can register fresh 404 URLs).
* Peers (never the supernode): a peer without progress state (created through the API, never
  registered for a download) at once; a peer whose service went down peerGCDelay ago.
* Disk: nothing while free space > youngGCThreshold. Candidates are cache files of tasks not in
  memory (never a task that may be served). At or below fullGCThreshold every candidate goes;
  otherwise the least recently used ceil(n * cleanRatio / 10).
"""

import math
from collections.abc import Iterable, Mapping

from common.protocol.codes import CdnStatus
from supernode.cdn.core.contract import DiskEntry
from supernode.core.model import Limits, Peer, Task
from supernode.core.progress import PeerState


def expired_tasks(tasks: "Iterable[Task]", now: float, limits: Limits) -> "list[str]":
    return sorted(
        t.id for t in tasks if t.cdn_status is not CdnStatus.RUNNING and now - t.access_time >= limits.task_expire_time
    )


def expired_unreachable(unreachable: "Mapping[str, float]", now: float, limits: Limits) -> "list[str]":
    return sorted(t for t, failed_at in unreachable.items() if now - failed_at >= limits.fail_access_interval)


def collectable_peers(
    peers: "Iterable[Peer]", states: "Mapping[str, PeerState]", super_pid: str, now: float, limits: Limits
) -> "list[str]":
    out = []
    for peer in peers:
        if peer.id == super_pid:
            continue
        state = states.get(peer.id)
        if state is None or (state.down and now * 1000 - state.service_down_ms >= limits.peer_gc_delay * 1000):
            out.append(peer.id)
    return sorted(out)


def disk_victims(entries: Iterable[DiskEntry], in_memory: "set[str]", free: int, limits: Limits) -> "list[str]":
    """The task ids whose files to delete."""
    if free > limits.young_gc_threshold:
        return []
    candidates = sorted(
        (e for e in entries if e.task_id not in in_memory), key=lambda e: (e.access_time, -e.size, e.task_id)
    )
    if free <= limits.full_gc_threshold:
        return [e.task_id for e in candidates]
    keep = math.ceil(len(candidates) * limits.clean_ratio / 10)
    return [e.task_id for e in candidates[:keep]]


def stale_super_loads(loads: "Mapping[str, tuple[int, float]]", now: float, limits: Limits) -> "list[str]":
    """Tasks whose supernode load (load, last change) has not moved for superLoadReset."""
    return sorted(t for t, (load, changed) in loads.items() if load > 0 and now - changed >= limits.super_load_reset)

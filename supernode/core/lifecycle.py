"""Removing things: a task (task GC, DELETE /api/v1/tasks), a peer (peer GC), a stale super load.

Removing a task (docs/architecture.md#background-work): every client download of it goes (its peer is marked
service-down,
so peer GC collects it later, its reservations are released), then the task's progress and the
task itself; the CDN forgets the task (files stay for a later cache hit unless `full`). Held
pulls of the task are woken (they then answer 502 and the client migrates).
"""

from collections.abc import Iterable

from supernode.core.effects import DeleteFiles, ForgetCdn, Outcome, Wake
from supernode.core.state import SupernodeState


def remove_task(state: SupernodeState, task_id: str, full: bool, now: float) -> Outcome:
    out = Outcome(None, [DeleteFiles(task_id)] if full else [])
    if task_id not in state.tasks:
        return out
    for dt in state.dfgets_of_task(task_id):
        state.remove_dfget(dt.key, now)
        peer_state = state.progress.peers.get(dt.peer_id)
        if dt.peer_id != state.super_pid and peer_state is not None and not peer_state.down:
            peer_state.service_down_ms = max(int(now * 1000), 1)
    state.keys_by_task.pop(task_id, None)
    state.progress.forget_task(task_id)
    del state.tasks[task_id]
    out.effects[:0] = [ForgetCdn(task_id), Wake(task_id)]
    return out


def remove_peer(state: SupernodeState, pid: str, now: float) -> Outcome:
    """Peer GC: the peer, its downloads, progress, black-list entries and holdings."""
    woken = set()
    for dt in state.dfgets_of_peer(pid):
        state.remove_dfget(dt.key, now)
        woken.add(dt.task_id)
    state.progress.forget_peer(pid)
    state.peers.pop(pid, None)
    return Outcome(None, [Wake(t) for t in sorted(woken)])


def reset_super_loads(state: SupernodeState, task_ids: Iterable[str], now: float) -> Outcome:
    for task_id in task_ids:
        tp = state.progress.tasks.get(task_id)
        if tp is not None:
            tp.set_super_load(0, now)
    return Outcome(None, [Wake(t) for t in task_ids])

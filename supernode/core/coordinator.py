"""The core's front door: one object owning the state, with a clock and an rng injected.

Every command returns an Outcome (answer + effects, or `missing`); queries return values and
change nothing. The shell calls it under one lock and carries out the effects after releasing it.
Reports about a client download name their Caller and are refused (501) unless the download
admits it (supernode.core.identity); `caller=None` is the supernode itself (and core tests).
"""

from collections.abc import Iterable
from typing import Any

from common.clock import Clock
from common.protocol.codes import PieceStatus, ResultCode
from common.protocol.messages import ResultInfo, is_supernode_cid
from common.protocol.rest_messages import PeerInfo, TaskInfo
from supernode.cdn.core.contract import CdnResult, DiskEntry
from supernode.core import cdn_events, gc, lifecycle, pulling, registration, reports, views
from supernode.core.effects import Count, Metric, Outcome
from supernode.core.identity import Caller
from supernode.core.model import Limits, Peer
from supernode.core.pulling import PullQuery
from supernode.core.registration import Admission, Probe, Registrant
from supernode.core.scheduler import Rng
from supernode.core.state import SupernodeState

__all__ = ["Coordinator", "PullQuery", "Registrant", "Probe", "Admission", "Caller"]


class Coordinator:
    def __init__(self, limits: Limits, clock: Clock, rng: Rng) -> None:
        self.limits, self.clock, self.rng = limits, clock, rng
        self.state = SupernodeState()
        self.state.progress.track_up_limit(limits.peer_up_limit)

    def now(self) -> float:
        return self.clock.time()

    # ---- the supernode's own peer -----------------------------------------------------------

    def start(self, host_name: str, advertise_ip: str) -> str:
        state = self.state
        if not state.super_pid:
            pid = state.new_peer_id(host_name, advertise_ip, self.now())
            state.add_peer(
                Peer(
                    id=pid,
                    ip=advertise_ip,
                    host_name=host_name,
                    port=self.limits.download_port,
                    created=self.now(),
                    uploads=False,
                )
            )
            state.super_pid = state.progress.super_pid = pid
        return state.super_pid

    # ---- peer protocol ----------------------------------------------------------------------

    def admit(self, reg: Registrant) -> Admission:
        return registration.admit(self.state, self.limits, reg, self.now())

    def register(self, reg: Registrant, probe: "Probe | None") -> Outcome:
        return registration.register(self.state, self.limits, reg, probe, self.now())

    def pull(self, q: PullQuery, caller: "Caller | None" = None) -> Outcome:
        refused = self._impostor(q.task_id, q.src_cid, caller, "pull")
        return refused or pulling.pull(self.state, self.limits, self.rng, q, self.now())

    def answer(self, task_id: str, cid: str) -> Outcome:
        return pulling.answer(self.state, self.limits, self.rng, task_id, cid, self.now())

    def piece_success(
        self, task_id: str, cid: str, dst_cid: str, piece_range: str, caller: "Caller | None" = None
    ) -> Outcome:
        refused = self._impostor(task_id, cid, caller, "piece_success")
        return refused or reports.piece_success(self.state, task_id, cid, dst_cid, piece_range, self.now())

    def piece_error(
        self,
        task_id: str,
        piece_range: str,
        src_cid: str,
        *,
        dst_cid: str = "",
        dst_pid: str = "",
        error_type: str = "",
        expected_md5: str = "",
        caller: "Caller | None" = None,
    ) -> Outcome:
        """Only a client of the task may report (it may drop a peer as a holder); anyone else's
        report is counted and ignored, as v1 ignores reports about unknown peers."""
        if caller is not None and (
            self.state.dfget(task_id, src_cid) is None or self._impostor(task_id, src_cid, caller, "piece_error")
        ):
            return Outcome(None, [Count(Metric.PIECE_ERRORS, labels=("unauthorized",))])
        if not dst_pid and dst_cid:
            dst_pid = self._pid_of(task_id, dst_cid)
        return reports.piece_error(self.state, task_id, piece_range, src_cid, dst_pid, error_type, expected_md5)

    def _pid_of(self, task_id: str, cid: str) -> str:
        dt = self.state.dfget(task_id, cid)
        if dt is not None:
            return dt.peer_id
        return self.state.super_pid if is_supernode_cid(cid) else ""

    def service_down(self, task_id: str, cid: str, caller: "Caller | None" = None) -> Outcome:
        refused = self._impostor(task_id, cid, caller, "service_down")
        return refused or reports.service_down(self.state, task_id, cid, self.now())

    def _impostor(self, task_id: str, cid: str, caller: "Caller | None", report: str) -> "Outcome | None":
        """The refusal for a caller that is not the client `cid` of the task (counted by `report`,
        one of a fixed few), else None; an admitted caller that used its key makes it mandatory."""
        dt = self.state.dfget(task_id, cid)
        if dt is None:
            return None
        if not dt.admits(caller):
            return Outcome(
                ResultInfo.of(ResultCode.PARAM_ERROR, f"you are not client {cid} of task {task_id}"),
                [Count(Metric.REPORTS_REFUSED, labels=(report,))],
            )
        dt.note(caller)
        return None

    # ---- CDN ----------------------------------------------------------------------------------

    def on_piece(self, task_id: str, piece: int, md5: str, wrapped_len: int) -> Outcome:
        return cdn_events.on_piece(self.state, task_id, piece, md5, wrapped_len)

    def on_done(self, task_id: str, result: CdnResult) -> Outcome:
        return cdn_events.on_done(self.state, task_id, result)

    # ---- management -----------------------------------------------------------------------

    def create_peer(self, ip: str, host_name: str, port: int, version: str) -> str:
        pid = self.state.new_peer_id(host_name, ip, self.now())
        self.state.add_peer(
            Peer(id=pid, ip=ip, host_name=host_name, port=port, version=version, created=self.now(), uploads=port != 0),
            with_progress=False,
        )
        return pid

    def delete_peer(self, pid: str) -> bool:
        """DELETE /api/v1/peers/{id}: only the record (docs/protocol.md#supernode-system-management-and-preheat); the
        scheduler drops it lazily."""
        return self.state.peers.pop(pid, None) is not None

    def remove_task(self, task_id: str, full: bool) -> Outcome:
        return lifecycle.remove_task(self.state, task_id, full, self.now())

    # ---- garbage collection ---------------------------------------------------------------

    def gc_tasks(self) -> Outcome:
        ids = gc.expired_tasks(self.state.tasks.values(), self.now(), self.limits)
        out = Outcome(len(ids))
        for task_id in ids:
            out.extend(lifecycle.remove_task(self.state, task_id, False, self.now()).effects)
        for task_id in gc.expired_unreachable(self.state.unreachable, self.now(), self.limits):
            del self.state.unreachable[task_id]
        if ids:
            out.effects.append(Count(Metric.GC_TASKS, len(ids)))
        return out

    def gc_peers(self) -> Outcome:
        state = self.state
        ids = gc.collectable_peers(state.peers.values(), state.progress.peers, state.super_pid, self.now(), self.limits)
        # peers whose record was deleted through the API keep progress until their downloads end
        ids += sorted(pid for pid in state.progress.peers if pid not in state.peers and pid not in state.keys_by_peer)
        out = Outcome(len(ids))
        for pid in ids:
            out.extend(lifecycle.remove_peer(state, pid, self.now()).effects)
        if ids:
            out.effects.append(Count(Metric.GC_PEERS, len(ids)))
        return out

    def disk_victims(self, entries: Iterable[DiskEntry], free: int) -> "list[str]":
        return gc.disk_victims(entries, set(self.state.tasks), free, self.limits)

    def reset_stale_super_loads(self) -> Outcome:
        loads = {t: (tp.super_load, tp.super_load_changed) for t, tp in self.state.progress.tasks.items()}
        ids = gc.stale_super_loads(loads, self.now(), self.limits)
        return lifecycle.reset_super_loads(self.state, ids, self.now())

    # ---- queries --------------------------------------------------------------------------

    def has_task(self, task_id: str) -> bool:
        return task_id in self.state.tasks

    def servable_to(self, task_id: str, client_ip: "str | None") -> bool:
        """A registered task's CDN file; a credentialed task's only to a host with an admitted client
        (docs/decisions.md #9: the task id is computable from the URL, so knowing it proves nothing)."""
        task = self.state.tasks.get(task_id)
        if task is None:
            return False
        if not task.credentialed or client_ip is None:
            return True
        return any(
            dt.peer_id != self.state.super_pid
            and self.state.peers.get(dt.peer_id) is not None
            and self.state.peers[dt.peer_id].ip == client_ip
            for dt in self.state.dfgets_of_task(task_id)
        )

    def task_info(self, task_id: str) -> TaskInfo | None:
        task = self.state.tasks.get(task_id)
        return views.task_info(task) if task else None

    def task_infos(self) -> list[TaskInfo]:
        return [views.task_info(t) for t in sorted(self.state.tasks.values(), key=lambda t: t.created)]

    def peer_info(self, pid: str) -> PeerInfo | None:
        peer = self.state.peers.get(pid)
        return views.peer_info(peer) if peer else None

    def peer_infos(self, page_num: int, page_size: int, descending: bool) -> list[PeerInfo]:
        return views.page_of_peers(self.state, page_num, page_size, descending)

    def client_ip(self, task_id: str, cid: str) -> str:
        dt = self.state.dfget(task_id, cid)
        peer = self.state.peers.get(dt.peer_id) if dt else None
        return peer.ip if peer else ""

    def piece_status(self, task_id: str, cid: str, piece: int) -> PieceStatus:
        client = self.state.progress.clients.get(f"{cid}@{task_id}")
        return client.bits.status(piece) if client else PieceStatus.WAITING

    def snapshot(self) -> dict[str, Any]:
        return views.snapshot(self.state)

    def gauge_counts(self) -> dict[str, Any]:
        return views.gauge_counts(self.state)

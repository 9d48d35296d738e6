"""The supernode service: owns the core's state, runs its effects, talks to the CDN.

Every core call runs under one re-entrant lock and never blocks; source probes, CDN calls, disk
work and long-poll waits happen outside it. The service is also the CDN's listener.
"""

import logging
import re
import secrets
import socket
import threading

from common import urls
from common.errors import BadInput
from common.protocol.codes import ResultCode
from common.protocol.messages import (
    PieceErrorRequest,
    PieceSuccessRequest,
    PullPieceTaskRequest,
    RegisterRequest,
    ResultInfo,
    ServiceDownRequest,
    TaskMetricsRequest,
)
from common.protocol.rest_messages import (
    ApiPieceErrorRequest,
    PeerCreateRequest,
    PeerCreateResponse,
    PeerInfo,
    TaskInfo,
)
from supernode.cdn.core.contract import CdnResult
from supernode.console.recorder import ConsoleRecorder
from supernode.core import effects as fx
from supernode.core.coordinator import Caller, Coordinator, PullQuery, Registrant
from supernode.core.model import Limits
from supernode.core.registration import registrant_from
from supernode.errors import NotFound
from supernode.shell import source_checks
from supernode.shell.effect_runner import EffectRunner
from supernode.shell.repair import PieceRepair
from supernode.shell.service_metrics import MetricsRecorder
from supernode.shell.waiters import Waiters

log = logging.getLogger(__name__)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def new_client_key() -> str:
    """The secret a registration returns (supernode.core.identity): 192 random bits."""
    return secrets.token_urlsafe(24)


def _thread_spawn(fn, *args) -> None:
    threading.Thread(target=fn, args=args, daemon=True).start()


class SupernodeService:
    def __init__(self, settings, *, cdn, metrics, clock, rng, advertise_ip: str, spawn=None):
        self.settings, self.cdn, self.clock = settings, cdn, clock
        self.advertise_ip = advertise_ip
        self._spawn = spawn or _thread_spawn
        self._lock = threading.RLock()
        self._core = Coordinator(Limits.from_settings(settings), clock, rng)
        self._waiters = Waiters()
        self._metrics = MetricsRecorder(metrics)
        self._probing: dict[str, threading.Event] = {}
        self._closing = threading.Event()
        self._repair = PieceRepair(cdn, self._spawn, lambda task_id: self.delete_task(task_id, full=True))
        self.console = ConsoleRecorder(clock)
        self._execute = EffectRunner(cdn, self, self._waiters, self._metrics, self._repair, self.console).run

    def start(self) -> None:
        with self._lock:
            if self._core.state.super_pid:
                return
            pid = self._core.start(socket.gethostname(), self.advertise_ip)
        log.info("supernode peer registered peer=%s ip=%s port=%s", pid, self.advertise_ip, self.settings.download_port)

    # ---- /peer/registry -----------------------------------------------------------------------

    # `caller` is who sent a /peer/* request (supernode.core.identity); None is the supernode itself.

    def register(self, req: RegisterRequest, super_node_ip: str, caller: "Caller | None" = None) -> ResultInfo:
        self.start()
        try:
            urls.validate_source_url(req.raw_url)
        except BadInput as e:
            return ResultInfo.of(ResultCode.PARAM_ERROR, str(e))
        reg = registrant_from(req, super_node_ip, caller, new_client_key())
        waited = retried = False
        while True:
            with self._lock:
                adm = self._core.admit(reg)
                gate, leader = self._probe_gate(reg.task_id, adm, waited)
            if adm.answer is not None:
                return self._registered(reg, adm.answer)
            if gate is not None and not leader:
                gate.wait(self.settings.source_probe_timeout + 1)
                waited = True
                continue
            try:
                probe = source_checks.check(self.cdn, reg, adm.revalidate) if adm.probe else None
                with self._lock:
                    out = self._core.register(reg, probe)
            finally:
                if leader:
                    with self._lock:
                        self._probing.pop(reg.task_id, None)
                    gate.set()
            if out.answer.code == ResultCode.WAIT_AUTH and not retried:
                retried = True
                continue
            self._execute(out.effects)
            return self._registered(reg, out.answer)

    def _probe_gate(self, task_id: str, adm, waited: bool):
        """One probe at a time for a new task: the others wait for it, then look again."""
        if adm.answer is not None or not adm.probe or adm.own_probe or waited:
            return None, False
        gate = self._probing.get(task_id)
        if gate is not None:
            return gate, False
        gate = self._probing[task_id] = threading.Event()
        return gate, True

    def _registered(self, reg: Registrant, answer: ResultInfo) -> ResultInfo:
        level = logging.INFO if answer.code == ResultCode.SUCCESS else logging.WARNING
        log.log(
            level, "register task=%s cid=%s ip=%s code=%s msg=%s", reg.task_id, reg.cid, reg.ip, answer.code, answer.msg
        )
        return answer

    # ---- /peer/task ---------------------------------------------------------------------------

    def pull(self, req: PullPieceTaskRequest, caller: "Caller | None" = None) -> ResultInfo:
        q = PullQuery(
            task_id=req.task_id,
            src_cid=req.src_cid,
            dst_cid=req.dst_cid,
            range=req.range,
            result=req.result,
            status=req.status,
        )
        wait = min(req.wait, self.settings.long_poll_max)
        started = self.clock.monotonic()
        with self._lock:
            out = self._core.pull(q, caller)
            held = wait > 0 and out.answer.code == ResultCode.PEER_WAIT
            token = self._waiters.token(q.task_id) if held else None
            ip = self._core.client_ip(q.task_id, q.src_cid)
        self._metrics.schedule_duration(ip, self.clock.monotonic() - started)
        self._execute(out.effects)
        _log_answer(q, out.answer, held=token is not None, note=out.note)
        if token is None:
            return out.answer
        return self._hold(q, token, self.clock.monotonic() + wait, out.recheck_after)

    def close(self) -> None:
        """The worker is shutting down: answer every held pull now and hold no new one, so that a
        graceful stop (or restart) does not sit out the long-poll time of every connected client."""
        self._closing.set()
        self._waiters.wake_all()

    def _hold(self, q: PullQuery, token: threading.Event, deadline: float, recheck_after: "float | None") -> ResultInfo:
        """Hold a 602 until the task changes (a wake), a stalled fetch may change the plan
        (`recheck_after`) or the deadline; then answer again. All on the injected clock, which
        does the waiting too: a test moves a fake clock instead of sitting out the hold."""
        while True:
            remaining = deadline - self.clock.monotonic()
            if recheck_after is not None:
                remaining = min(remaining, recheck_after)
            woke = remaining > 0 and not self._closing.is_set() and self.clock.wait(token, remaining)
            with self._lock:
                out = self._core.answer(q.task_id, q.src_cid)
                token = self._waiters.token(q.task_id)
            self._execute(out.effects)
            _log_answer(q, out.answer, held=True, note=out.note)
            if out.answer.code != ResultCode.PEER_WAIT or self._closing.is_set():
                if woke and out.answer.code != ResultCode.PEER_WAIT:
                    self._metrics.count(fx.Count(fx.Metric.LONG_POLL_WAKEUPS))
                return out.answer
            if self.clock.monotonic() >= deadline:
                return out.answer
            recheck_after = out.recheck_after

    # ---- piece reports ------------------------------------------------------------------------

    def piece_success(self, req: PieceSuccessRequest, caller: "Caller | None" = None) -> ResultInfo:
        with self._lock:
            out = self._core.piece_success(req.task_id, req.cid, req.dst_cid, req.piece_range, caller)
        if out.missing:
            raise NotFound(f"unknown {out.missing}")
        self._execute(out.effects)
        log.debug("piece persisted task=%s cid=%s dst=%s range=%s", req.task_id, req.cid, req.dst_cid, req.piece_range)
        return out.answer

    def piece_error(self, req: PieceErrorRequest, caller: "Caller | None" = None) -> None:
        log.warning(
            "piece error task=%s cid=%s dst=%s dstIp=%s range=%s type=%s expected=%s real=%s",
            req.task_id,
            req.src_cid,
            req.dst_cid,
            req.dst_ip,
            req.range,
            req.error_type,
            req.expected_md5,
            req.real_md5,
        )
        with self._lock:
            out = self._core.piece_error(
                req.task_id,
                req.range,
                req.src_cid,
                dst_cid=req.dst_cid,
                error_type=req.error_type,
                expected_md5=req.expected_md5,
                caller=caller,
            )
        self._execute(out.effects)

    def api_piece_error(self, task_id, piece_range, req: ApiPieceErrorRequest, caller: "Caller | None" = None) -> None:
        task_id, piece_range = req.task_id or task_id, req.range or piece_range
        log.warning(
            "piece error task=%s cid=%s dstPid=%s range=%s type=%s",
            task_id,
            req.src_cid,
            req.dst_pid,
            piece_range,
            req.error_type,
        )
        with self._lock:
            out = self._core.piece_error(
                task_id,
                piece_range,
                req.src_cid,
                dst_pid=req.dst_pid,
                error_type=req.error_type,
                expected_md5=req.expected_md5,
                caller=caller,
            )
        self._execute(out.effects)

    def service_down(self, req: ServiceDownRequest, caller: "Caller | None" = None) -> ResultInfo:
        with self._lock:
            out = self._core.service_down(req.task_id, req.cid, caller)
        if out.missing:
            raise NotFound(f"unknown {out.missing}")
        self._execute(out.effects)
        # refusals are counted (reports_refused_total), not logged one by one: a flood must not fill the log
        level = logging.INFO if out.answer.code == ResultCode.GET_PEER_DOWN else logging.DEBUG
        log.log(
            level,
            "service down task=%s cid=%s from=%s code=%s",
            req.task_id,
            req.cid,
            caller.addr if caller else "",
            out.answer.code,
        )
        return out.answer

    def report_metrics(self, req: TaskMetricsRequest) -> None:
        self._metrics.dfget_report(req)
        if req.success and req.back_source_reason not in ("", "0"):
            self.console.back_source(req.ip, req.task_id, req.file_length)

    # ---- CDN listener ---------------------------------------------------------------------------

    def on_piece(self, task_id: str, piece_num: int, piece_md5: str, wrapped_len: int) -> None:
        with self._lock:
            out = self._core.on_piece(task_id, piece_num, piece_md5, wrapped_len)
        self._execute(out.effects)
        log.debug("cdn piece task=%s piece=%d", task_id[:8], piece_num)

    def on_done(self, task_id: str, result: CdnResult) -> None:
        with self._lock:
            out = self._core.on_done(task_id, result)
        level = logging.INFO if result.success else logging.WARNING
        log.log(
            level,
            "cdn done task=%s success=%s cache_hit=%s md5=%s pieces=%s error=%s",
            task_id,
            result.success,
            result.cache_hit,
            result.real_md5,
            result.piece_count,
            result.error,
        )
        self._execute(out.effects)

    # ---- /api/v1 ------------------------------------------------------------------------------

    def create_peer(self, req: PeerCreateRequest) -> PeerCreateResponse:
        if not _HOSTNAME.match(req.host_name):
            raise BadInput(f"invalid hostName {req.host_name!r}", {"hostName": "not an RFC 1123 host name"})
        with self._lock:
            pid = self._core.create_peer(req.ip, req.host_name, req.port, req.version)
        return PeerCreateResponse(id=pid)

    def list_peers(self, page_num: int, page_size: int, descending: bool) -> "list[PeerInfo]":
        if page_num < 0 or page_size < 0:
            raise BadInput(f"invalid page {page_num} / size {page_size}")
        with self._lock:
            return self._core.peer_infos(page_num, page_size, descending)

    def get_peer(self, peer_id) -> PeerInfo:
        with self._lock:
            info = self._core.peer_info(peer_id)
        if info is None:
            raise NotFound(f"peer {peer_id} not found")
        return info

    def delete_peer(self, peer_id) -> None:
        with self._lock:
            found = self._core.delete_peer(peer_id)
        if not found:
            raise NotFound(f"peer {peer_id} not found")

    def get_task(self, task_id) -> TaskInfo:
        with self._lock:
            info = self._core.task_info(task_id)
        if info is None:
            raise NotFound(f"task {task_id} not found")
        return info

    def list_tasks(self) -> "list[TaskInfo]":
        with self._lock:
            return self._core.task_infos()

    def delete_task(self, task_id, full: bool) -> None:
        with self._lock:
            out = self._core.remove_task(task_id, full)
        log.info("task deleted task=%s full=%s", task_id, full)
        self._execute(out.effects)

    def is_servable(self, task_id, client_ip: "str | None" = None) -> bool:
        """May the download port serve this task's file (to `client_ip`, when given)?"""
        with self._lock:
            return self._core.servable_to(task_id, client_ip)

    # ---- garbage collection -------------------------------------------------------------------

    def gc_tasks(self) -> int:
        return self._gc(self._core.gc_tasks, "tasks")

    def gc_peers(self) -> int:
        return self._gc(self._core.gc_peers, "peers")

    def _gc(self, command, what: str) -> int:
        with self._lock:
            out = command()
        self._execute(out.effects)
        if out.answer:
            log.info("gc %s collected=%s", what, out.answer)
        return out.answer

    def gc_disk(self) -> int:
        free, entries = self.cdn.free_space(), self.cdn.disk_entries()
        with self._lock:
            victims = self._core.disk_victims(entries, free)
        evicted = 0
        for task_id in victims:
            with self._lock:
                if self._core.has_task(task_id):
                    continue
            try:
                self.cdn.delete(task_id)
                evicted += 1
            except Exception as e:  # noqa: BLE001 - one undeletable task must not stop the GC round
                log.warning("disk gc failed task=%s error=%r", task_id, e)
        self._metrics.disk_gc(evicted, self.clock.time())
        if evicted:
            log.info("gc disk free=%s evicted=%s", free, evicted)
        return evicted

    def reset_stale_super_loads(self) -> None:
        with self._lock:
            out = self._core.reset_stale_super_loads()
        self._execute(out.effects)

    def snapshot(self) -> dict:
        with self._lock:
            return self._core.snapshot()

    def refresh_gauges(self) -> None:
        """Recount the state gauges (O(peers)): called by /metrics only, never per registration."""
        with self._lock:
            self._metrics.refresh_gauges(self._core)


def _log_answer(q: PullQuery, answer: ResultInfo, held: bool, note: str = "") -> None:
    """One debug line per /peer/task answer: who was told to fetch which piece from whom (how a
    crowd's schedule unfolded, read back from a lab run's log)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    pieces = [f"{t.piece_num}<{t.cid}" for t in answer.data] if isinstance(answer.data, list) else []
    log.debug(
        "pull task=%s cid=%s reported=%s held=%s code=%s pieces=%s%s",
        q.task_id[:8],
        q.src_cid,
        q.range or "-",
        held,
        answer.code,
        ",".join(pieces) or "-",
        f" held_back={note}" if note else "",
    )

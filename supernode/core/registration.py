"""Registration (docs/architecture.md#a-registration-post-peerregistry, docs/decisions.md #3, #7, #9): admit a client to
a task, trigger the CDN once.

Theory of operation. Registration is two core calls around one I/O step the shell does:
`admit` (under the lock) answers at once (607 unreachable, 606 conflict) or says whether the
source must be probed; the shell probes outside the lock; `register` (under the lock again)
re-checks everything (the world may have moved during the probe), creates or reuses the task,
adds the peer and the client download, and — as one check-and-set — moves the CDN from
WAITING/FAILED/SOURCE_ERROR to RUNNING, returning the single StartCdn effect.

A probe is needed for a new task, for a task whose source length is still unknown (and not
built), and for every registrant of a credentialed task: a task whose first registrant sent any
header at all, URL userinfo or filtered query parameters (signatures, tokens) - no guessing which
header names are credentials - or whose anonymous probe answered 401/407. Such a task admits a
client only if the source accepted the client's own URL and headers (docs/decisions.md #9): once the task
is cached, with a conditional request against the cached copy's validators, so that 304 proves
both access and the same content. A 2xx there means this client would get other content: when the
task is due for revalidation the task is retired (below), otherwise only this client is refused
(608: it fetches from the source) - a client whose headers change the content (Accept-Encoding)
must not make the cache flip between variants. An accepted credential is remembered as a
fingerprint (never the value) for `revalidate_interval`, so a crowd with one credential costs the
source one check per interval, not one per client.

Identity (supernode.core.identity): a re-registration of a cid that already has a download of the
task must come from that client (its key, or its address for a v1 client); anyone else gets 501.

Revalidation (v1 reused a task in memory without asking the source again, so a file changed at the
origin was served stale until task GC). A finished CDN task without a user md5 (an md5 pins the
content) is revalidated on registration at most once per `revalidate_interval`: the probe is then
a conditional request against the cached copy's validators (Probe.revalidation). 304 (or, without
validators, an unchanged length) keeps the task; 2xx or 404/410 means the source changed: the old
task is retired in the same core call (its clients get 502 and re-register, the CDN forgets it)
and this registrant creates a fresh task, whose build revalidates the cached file again and
rebuilds it. Clients never mix versions: pieces carry md5s and the whole file's md5 is checked at
the end. Other answers (transport errors, 5xx) keep serving the cached copy until the next interval.
"""

from dataclasses import dataclass, replace
from typing import Any

from common import digest, image_names, pieces, urls
from common.protocol import paths
from common.protocol.codes import CdnSource, CdnStatus, PieceStatus, ResultCode
from common.protocol.messages import HEADER_DISPLAY_NAME, RegisterRequest, RegisterResult, ResultInfo
from common.source_access import SourceAccess
from common.source_failures import Unreachable
from supernode.core import lifecycle, static_download
from supernode.core.effects import Count, Metric, Outcome, StartCdn
from supernode.core.grants import cached, credential, grant, granted
from supernode.core.identity import Caller
from supernode.core.model import PEER_PATTERN_CDN, DfgetTask, Limits, Peer, Task, may_carry_credentials, super_cid
from supernode.core.state import SupernodeState

_RETRIGGER = (CdnStatus.WAITING, CdnStatus.FAILED, CdnStatus.SOURCE_ERROR)


@dataclass(frozen=True)
class Registrant:
    task_id: str
    source: SourceAccess  # rawUrl, headers (less HEADER_DISPLAY_NAME), insecure, rootCAs
    task_url: str
    cid: str
    ip: str
    path: str
    md5: str = ""
    identifier: str = ""
    host_name: str = ""
    port: int = 0
    version: str = ""
    call_system: str = ""
    super_node_ip: str = ""
    dfdaemon: bool = False
    pattern: str = ""
    caller: "Caller | None" = None  # who sent it (None: in-process); see supernode.core.identity
    client_key: str = ""  # the key the shell minted for this registration
    display_name: str = ""  # HEADER_DISPLAY_NAME, cleaned ("" if absent or unusable)
    streams_pieces: bool = False  # its upload server serves pieces still arriving (decisions #25)


@dataclass(frozen=True)
class Probe:
    """What the source said to the registrant's probe. status 0 = transport error (`unreachable`
    says why, when known). A revalidation probe is conditional on the cached copy: 304 = unchanged
    (and access granted)."""

    status: int
    length: int = -1
    supports_range: bool = False
    revalidation: bool = False
    unreachable: "Unreachable | None" = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 or self.unchanged

    @property
    def unchanged(self) -> bool:
        return self.revalidation and self.status == 304

    @property
    def changed(self) -> bool:
        return self.revalidation and (200 <= self.status < 300 or self.not_found)

    @property
    def needs_auth(self) -> bool:
        return self.status in (401, 407)

    @property
    def not_found(self) -> bool:
        return self.status in (404, 410)


@dataclass(frozen=True)
class Admission:
    answer: "ResultInfo | None" = None  # set: registration ends here
    probe: bool = False
    own_probe: bool = False  # credentialed task: this registrant's probe decides, never share
    revalidate: bool = False  # the probe is a conditional request against the cached copy


def admit(state: SupernodeState, limits: Limits, reg: Registrant, now: float) -> Admission:
    refusal = _refusal(state, limits, reg, now)
    if refusal is not None:
        return Admission(answer=refusal)
    task = state.tasks.get(reg.task_id)
    if task is None:
        return Admission(probe=True)
    due = revalidation_due(task, limits, now)
    if task.credentialed:
        if not due and granted(task, credential(reg.source), limits.revalidate_interval, now):
            return Admission()
        return Admission(probe=True, own_probe=True, revalidate=cached(task))
    unknown_length = task.http_file_length < 0 and task.cdn_status is not CdnStatus.SUCCESS
    return Admission(probe=due or unknown_length, revalidate=due)


def revalidation_due(task: Task, limits: Limits, now: float) -> bool:
    """A finished, cached, unpinned task whose source was last checked `revalidate_interval` ago."""
    return cached(task) and now - task.validated_at >= limits.revalidate_interval


def register(state: SupernodeState, limits: Limits, reg: Registrant, probe: "Probe | None", now: float) -> Outcome:
    refusal = _refusal(state, limits, reg, now)
    if refusal is not None:
        return Outcome(refusal)
    task = state.tasks.get(reg.task_id)
    out = Outcome()
    if task is not None and probe is not None and probe.revalidation:
        if probe.changed and task.credentialed and not revalidation_due(task, limits, now):
            return Outcome(
                ResultInfo.of(
                    ResultCode.NEED_AUTH,
                    f"the source answers your request with other content than the cached copy (HTTP {probe.status})",
                )
            )
        if probe.changed:  # retire the old version; this registrant starts the new one
            out.effects.extend(lifecycle.remove_task(state, task.id, False, now).effects)
            out.effects.append(Count(Metric.TASKS_RETIRED))
            task = None
        elif probe.unchanged:
            task.validated_at = now
    if (
        task is not None
        and probe is not None
        and static_download.source_went_private(limits, task, probe.needs_auth, reg.source, reg.task_url)
    ):
        out.effects.extend(lifecycle.remove_task(state, task.id, False, now).effects)
        out.effects.append(Count(Metric.TASKS_RETIRED))
        task = None
    refusal = _probe_refusal(state, limits, reg, task, probe, now)
    if refusal is not None:
        return Outcome(refusal, out.effects)
    if task is None:
        task = _new_task(limits, reg, probe, now)
        if task is None:
            return Outcome(static_download.no_source_task(limits), out.effects)
        state.add_task(task)
        _add_super_client(state, task)
        if task.cdn_source is CdnSource.SOURCE:
            _mark_all_pieces(state, task)
        out.effects.append(Count(Metric.TASKS_REGISTERED))
    elif task.http_file_length < 0 and probe is not None and probe.ok and probe.length >= 0:
        task.http_file_length = probe.length
        task.piece_total = pieces.estimated_piece_total(probe.length, task.piece_size)
    if task.credentialed and probe is not None and probe.ok:  # remembered for the next of its kind
        grant(task, credential(reg.source), now)
    task.access_time = now
    task.add_display_name(reg.display_name)
    _add_client(state, reg, now)
    out.effects.append(Count(Metric.DFGETTASKS_REGISTERED, labels=(reg.call_system,)))
    if reg.port <= 0:  # this host shares no pieces: an operator should see P2P switching itself off
        out.effects.append(Count(Metric.REGISTRATIONS_WITHOUT_UPLOAD))
    out.effects.extend(_trigger_cdn(state, task))
    result = RegisterResult(
        task_id=task.id,
        file_length=task.http_file_length,
        piece_size=task.piece_size,
        cdn_source=task.cdn_source.value,
        client_key=reg.client_key,
    )
    out.answer = ResultInfo.of(ResultCode.SUCCESS, ResultCode.SUCCESS.default_msg, result)
    return out


def _refusal(state: SupernodeState, limits: Limits, reg: Registrant, now: float) -> "ResultInfo | None":
    failed_at = state.unreachable.get(reg.task_id)
    if failed_at is not None:
        if now - failed_at < limits.fail_access_interval:
            return ResultInfo.of(
                ResultCode.URL_NOT_REACHABLE, f"url is not reachable: {urls.redact_url(reg.source.url)}"
            )
        del state.unreachable[reg.task_id]
    task = state.tasks.get(reg.task_id)
    if task is not None and task.conflicts_with(reg.task_url, reg.md5, reg.identifier):
        return ResultInfo.of(ResultCode.TASK_CONFLICT, f"taskId conflict: {reg.task_id}")
    previous = state.dfget(reg.task_id, reg.cid)
    if previous is not None and not previous.admits(reg.caller):
        return ResultInfo.of(ResultCode.PARAM_ERROR, f"cid {reg.cid} is registered for this task by another client")
    return None


def _probe_refusal(
    state: SupernodeState, limits: Limits, reg: Registrant, task: "Task | None", probe: "Probe | None", now: float
) -> "ResultInfo | None":
    if probe is not None and probe.needs_auth:
        if task is not None:
            task.credentialed = True
        return ResultInfo.of(ResultCode.NEED_AUTH, f"authentication required by the source (HTTP {probe.status})")
    if probe is not None and probe.not_found:
        state.unreachable[reg.task_id] = now
        return ResultInfo.of(ResultCode.URL_NOT_REACHABLE, f"url is not reachable: source answered {probe.status}")
    refusal = _unreachable_refusal(task, probe)
    if refusal is not None:
        return refusal
    if task is not None and task.credentialed:
        if probe is None and granted(task, credential(reg.source), limits.revalidate_interval, now):
            return None
        if probe is None:  # the task became credentialed while this registrant was not probing
            return ResultInfo.of(ResultCode.WAIT_AUTH, "source credentials must be checked; register again")
        if not probe.ok:
            return ResultInfo.of(
                ResultCode.NEED_AUTH, f"your credentials were not accepted by the source (HTTP {probe.status})"
            )
    return None


def _unreachable_refusal(task: "Task | None", probe: "Probe | None") -> "ResultInfo | None":
    """A probe that could not connect (docs/errors.md#what-the-supernode-answers). v1 went on and
    let the CDN retry; we do so only when a retry might work (timeout, unexplained error). A
    definite failure is 607 with its cause, not remembered (the next registrant may bring the CA);
    a credentialed task's is 607 too, never 608: the source refused nothing."""
    if probe is None or probe.status != 0:
        return None
    known = probe.unreachable
    if task is not None and task.credentialed:
        why = known.line() if known is not None else "no connection"
        return ResultInfo.of(
            ResultCode.URL_NOT_REACHABLE, f"the supernode cannot reach the source to check your credentials: {why}"
        )
    if known is not None and known.definite and not probe.revalidation:
        return ResultInfo.of(ResultCode.URL_NOT_REACHABLE, f"the supernode cannot reach the source: {known.line()}")
    return None


def _new_task(limits: Limits, reg: Registrant, probe: "Probe | None", now: float) -> "Task | None":
    """None: the task would have to be fetched piece by piece from the source, which cannot be."""
    length = probe.length if probe is not None and probe.ok else -1
    credentialed = may_carry_credentials(reg.source, reg.task_url)
    source_pattern = static_download.fetched_from_source(limits, credentialed)
    if source_pattern and not (probe is not None and length > 0 and probe.supports_range):
        return None
    size = pieces.piece_size(length, limits.piece_size_policy)
    task = Task(
        id=reg.task_id,
        source=reg.source,
        task_url=reg.task_url,
        md5=reg.md5,
        identifier=reg.identifier,
        http_file_length=length,
        piece_size=size,
        piece_total=pieces.estimated_piece_total(length, size),
        credentialed=credentialed,
        created=now,
        access_time=now,
        validated_at=now,
    )
    if source_pattern:
        task.cdn_source = CdnSource.SOURCE
        task.cdn_status = CdnStatus.SUCCESS
        task.piece_total = pieces.unframed_piece_total(length, size)
        task.file_length = length
    return task


def _mark_all_pieces(state: SupernodeState, task: Task) -> None:
    tp = state.progress.tasks[task.id]
    for n in range(task.piece_total):
        tp.cdn.update(n, PieceStatus.SUCCESS)


def task_streams(state: SupernodeState, task_id: str) -> bool:
    """May the task's pieces be forwarded while they arrive? Framed pieces only."""
    task = state.tasks.get(task_id)
    return task is not None and task.cdn_source is not CdnSource.SOURCE


def _add_client(state: SupernodeState, reg: Registrant, now: float) -> None:
    previous = state.dfget(reg.task_id, reg.cid)
    if previous is not None:  # the same client registers again (migration back): start afresh
        state.remove_dfget(previous.key, now)
        old_state = state.progress.peers.get(previous.peer_id)
        if old_state is not None and not state.dfgets_of_peer(previous.peer_id):
            old_state.service_down_ms = old_state.service_down_ms or max(int(now * 1000), 1)
    uploads = reg.port != 0 and reg.pattern != PEER_PATTERN_CDN
    pid = state.new_peer_id(reg.host_name, reg.ip, now)
    state.add_peer(
        Peer(
            id=pid, ip=reg.ip, host_name=reg.host_name, port=reg.port, version=reg.version, created=now, uploads=uploads
        )
    )
    state.add_dfget(
        DfgetTask(
            cid=reg.cid,
            task_id=reg.task_id,
            peer_id=pid,
            path=reg.path,
            call_system=reg.call_system,
            super_node_ip=reg.super_node_ip,
            dfdaemon=reg.dfdaemon,
            created=now,
            client_key=reg.client_key,
            registered_from=reg.caller.addr if reg.caller else "",
            # raw ranges of the source (cdnPattern source) land whole: nothing to forward early
            streams_pieces=uploads and reg.streams_pieces and task_streams(state, reg.task_id),
        )
    )


def _add_super_client(state: SupernodeState, task: Task) -> None:
    """The supernode's own download record of the task: CID cdnnode:<advertiseIP>~<taskId>."""
    if state.dfget_of_peer(state.super_pid, task.id) is None:
        path = task.source.url if task.cdn_source is CdnSource.SOURCE else paths.cdn_piece_path(task.id)
        state.add_dfget(
            DfgetTask(
                cid=super_cid(state.peers[state.super_pid].ip, task.id),
                task_id=task.id,
                peer_id=state.super_pid,
                path=path,
            ),
            with_progress=False,
        )


def registrant_from(
    req: RegisterRequest, super_node_ip: str, caller: "Caller | None" = None, client_key: str = ""
) -> Registrant:
    """A RegisterRequest (common.protocol.messages) as the core sees it, with its task id
    (docs/protocol.md#identifiers)."""
    sent = req.source()
    display_name = sent.headers.value(HEADER_DISPLAY_NAME)
    source = replace(sent, headers=sent.headers.without(HEADER_DISPLAY_NAME))
    task_url = req.task_url or req.raw_url
    return Registrant(
        task_id=digest.task_id(task_url, req.md5, req.identifier, source.headers),
        source=source,
        task_url=task_url,
        cid=req.cid,
        ip=req.ip,
        path=req.path,
        md5=req.md5,
        identifier=req.identifier,
        host_name=req.host_name,
        port=req.port,
        version=req.version,
        call_system=req.call_system,
        super_node_ip=req.super_node_ip or super_node_ip,
        dfdaemon=req.dfdaemon,
        pattern=req.pattern,
        caller=caller,
        client_key=client_key,
        display_name=image_names.clean_display_name(display_name),
        streams_pieces=req.streams_pieces,
    )


def _trigger_cdn(state: SupernodeState, task: Task) -> list[Any]:
    """The one place the CDN is started: WAITING/FAILED/SOURCE_ERROR -> RUNNING."""
    if task.cdn_source is CdnSource.SOURCE or task.cdn_status not in _RETRIGGER:
        return []
    _add_super_client(state, task)
    if task.cdn_status is not CdnStatus.WAITING:  # a rebuild re-announces its pieces
        tp = state.progress.tasks[task.id]
        tp.cdn.reset()
        tp.piece_md5.clear()
    task.cdn_status = CdnStatus.RUNNING
    task.cdn_error = ""
    job = StartCdn(
        task_id=task.id,
        source=task.source,
        piece_size=task.piece_size,
        md5=task.md5,
        identifier=task.identifier,
        source_length=task.http_file_length,
    )
    return [job, Count(Metric.CDN_TRIGGER)]

"""Preheat bookkeeping (docs/protocol.md#supernode-system-management-and-preheat, docs/decisions.md #9, #18): pure
decisions, no I/O.

Theory of operation. A preheat is a record in a `PreheatBook`, keyed by its id (v1's salted
SHA-256 of the filtered URL, the identifier and a Range header; md5 never takes part). An image
preheat is a parent whose children are file preheats, one per layer blob.

States and the only legal moves (anything else raises IllegalTransition):

    WAITING --start--> RUNNING --succeed--> SUCCESS
       |                  '-----fail------> FAILED
       '------fail----------------------------^

`submit` decides what a POST means for an id:
  * no record, or an expired one   -> CREATED  (201, start a worker)
  * WAITING / RUNNING               -> JOINED   (201 with the same id, NO second worker; v1 started one)
  * SUCCESS                         -> EXISTS   (208 "preheat task already exists, id:<id>")
  * FAILED                          -> RETRIED  (201, the record starts over; v1 answered 208 forever)
Finished records expire `ttl` seconds after they finish (v1 kept them forever); running ones fail
after `timeout`. `expire` returns the removed records so the shell can delete their output files.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from common import digest, urls
from common.errors import BadInput
from common.protocol.rest_messages import PreheatCreateRequest, PreheatRecordInfo, PreheatStatusInfo
from common.source_access import Headers
from supernode.core import allow
from supernode.core.manifests import ManifestUrl, parse_platforms
from supernode.core.model import REDACTED, redacted  # noqa: F401 - REDACTED is part of this module's API
from supernode.core.views import rfc3339_ms


class PreheatStatus(str, Enum):
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"


FINISHED = (PreheatStatus.SUCCESS, PreheatStatus.FAILED)
_MOVES = {
    (PreheatStatus.WAITING, PreheatStatus.RUNNING),
    (PreheatStatus.WAITING, PreheatStatus.FAILED),
    (PreheatStatus.RUNNING, PreheatStatus.SUCCESS),
    (PreheatStatus.RUNNING, PreheatStatus.FAILED),
}
TYPE_FILE, TYPE_IMAGE = "file", "image"
ALREADY_EXISTS = "preheat task already exists, id:"


class IllegalTransition(Exception):
    """A programming error: the shell asked for a move the table does not allow."""


class Submit(str, Enum):
    CREATED = "created"
    JOINED = "joined"
    EXISTS = "exists"
    RETRIED = "retried"

    @property
    def starts_worker(self) -> bool:
        return self in (Submit.CREATED, Submit.RETRIED)


@dataclass(frozen=True)
class PreheatSpec:
    type: str
    url: str
    filter: str = ""
    identifier: str = ""
    headers: Headers = field(default_factory=Headers)
    platform: str = ""

    @property
    def task_url(self) -> str:
        """The URL with the filtered query keys removed (the task / preheat identity)."""
        return urls.filter_url(self.url, [f for f in self.filter.split("&") if f])

    @property
    def id(self) -> str:
        ident = self.identifier + (f"\n{self.platform}" if self.platform else "")
        return digest.preheat_id(self.task_url, ident, self.headers)

    def child(self, url: str, headers: "Mapping[str, str]") -> "PreheatSpec":
        return PreheatSpec(type=TYPE_FILE, url=url, headers=Headers(headers))


def parse_request(body: dict[str, Any]) -> PreheatSpec:
    """Validate a POST body (BadInput -> 400). `allow` is checked by `allowed`, separately (403)."""
    req = PreheatCreateRequest.decode(body)
    kind = req.type.strip().lower()
    if kind not in (TYPE_FILE, TYPE_IMAGE):
        raise BadInput(f"type must be 'image' or 'file', got {req.type!r}", {"type": "image | file"})
    if len(req.url) < 3:
        raise BadInput("url must have at least 3 characters", {"url": "too short"})
    urls.validate_source_url(req.url)
    platform = ""
    if kind == TYPE_IMAGE:
        ManifestUrl.parse(req.url)  # BadInput unless <scheme>://<host>/v2/<name>/manifests/<ref>
        platform = ",".join(str(p) for p in parse_platforms(req.platform))
    elif req.platform:
        raise BadInput("platform applies to image preheats only", {"platform": "only for type image"})
    headers = Headers((k.strip(), v.strip()) for k, v in req.headers.items() if k.strip())
    return PreheatSpec(
        type=kind, url=req.url, filter=req.filter, identifier=req.identifier, headers=headers, platform=platform
    )


def allowed(url: str, patterns: Iterable[str]) -> bool:
    """preheatAllow: empty = any URL; else some regex must match the URL as it will be fetched
    (no userinfo: `http://allowed@other/` is a URL of host `other`). See supernode.core.allow."""
    return allow.allowed(url, patterns)


@dataclass
class PreheatRecord:
    spec: PreheatSpec
    id: str
    status: PreheatStatus = PreheatStatus.WAITING
    start: float = 0.0
    finish: float = 0.0
    error: str = ""
    parent_id: str = ""
    children: "list[str]" = field(default_factory=list)
    outputs: "list[str]" = field(default_factory=list)  # files the shell must delete on expiry

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def status_info(self) -> PreheatStatusInfo:
        return PreheatStatusInfo(
            id=self.id,
            status=self.status.value,
            start_time=rfc3339_ms(self.start),
            finish_time=rfc3339_ms(self.finish if self.finished else 0.0),
            error_msg=self.error,
        )

    def record_info(self) -> PreheatRecordInfo:
        shown = redacted(self.spec.headers)
        return PreheatRecordInfo(
            id=self.id,
            url=urls.redact_url(self.spec.url),
            type=self.spec.type,
            filter=self.spec.filter,
            identifier=self.spec.identifier,
            headers=shown,
            parent_id=self.parent_id,
            children=list(self.children),
            status=self.status.value,
            start_time=int(self.start * 1000),
            finish_time=int(self.finish * 1000),
            error_msg=self.error,
        )


def already_exists_message(preheat_id: str) -> str:
    return ALREADY_EXISTS + preheat_id


def aggregate(children: "list[PreheatRecord]") -> "tuple[PreheatStatus, str]":
    """A parent's state from its children: any FAILED -> FAILED, all SUCCESS -> SUCCESS, else RUNNING."""
    for c in children:
        if c.status is PreheatStatus.FAILED:
            return PreheatStatus.FAILED, f"{c.spec.url} {c.error}"
    if all(c.status is PreheatStatus.SUCCESS for c in children):
        return PreheatStatus.SUCCESS, ""
    return PreheatStatus.RUNNING, ""


class PreheatBook:
    """Every preheat record; one writer (the shell holds a lock around each call)."""

    def __init__(self, ttl: float, timeout: float):
        self.ttl, self.timeout = ttl, timeout
        self.records: dict[str, PreheatRecord] = {}

    def get(self, preheat_id: str, now: float) -> "PreheatRecord | None":
        rec = self.records.get(preheat_id)
        return None if rec is None or self._expired(rec, now) else rec

    def all(self, now: float) -> "list[PreheatRecord]":
        return sorted((r for r in self.records.values() if not self._expired(r, now)), key=lambda r: (r.start, r.id))

    def submit(self, spec: PreheatSpec, now: float, parent_id: str = "") -> "tuple[Submit, PreheatRecord]":
        pid = spec.id
        rec = self.get(pid, now)
        if rec is None:
            rec = self.records[pid] = PreheatRecord(spec=spec, id=pid, start=now, parent_id=parent_id)
            return Submit.CREATED, rec
        if rec.status is PreheatStatus.SUCCESS:
            return Submit.EXISTS, rec
        if rec.status is PreheatStatus.FAILED:
            outputs = rec.outputs
            rec = self.records[pid] = PreheatRecord(
                spec=spec, id=pid, start=now, parent_id=rec.parent_id or parent_id, outputs=outputs
            )
            return Submit.RETRIED, rec
        return Submit.JOINED, rec

    def move(self, preheat_id: str, to: PreheatStatus, now: float, error: str = "") -> PreheatRecord:
        rec = self.records[preheat_id]
        if (rec.status, to) not in _MOVES:
            raise IllegalTransition(f"preheat {preheat_id}: {rec.status.value} -> {to.value}")
        rec.status = to
        if to in FINISHED:
            rec.finish, rec.error = now, error
        return rec

    def settle_parent(self, parent_id: str, now: float) -> "PreheatRecord | None":
        """Move a RUNNING parent to its children's aggregate state when that is final."""
        rec = self.records.get(parent_id)
        if rec is None or rec.status is not PreheatStatus.RUNNING:
            return None
        kids = [self.records[c] for c in rec.children if c in self.records]
        if len(kids) != len(rec.children):
            return self.move(parent_id, PreheatStatus.FAILED, now, "a layer preheat was deleted")
        status, error = aggregate(kids)
        return self.move(parent_id, status, now, error) if status in FINISHED else None

    def time_out(self, now: float) -> "list[PreheatRecord]":
        """Fail every unfinished preheat older than the timeout."""
        late = [r for r in self.records.values() if not r.finished and now - r.start >= self.timeout]
        return [self.move(r.id, PreheatStatus.FAILED, now, f"timed out after {self.timeout:g}s") for r in late]

    def expire(self, now: float) -> "list[PreheatRecord]":
        gone = [r for r in self.records.values() if self._expired(r, now) and not self._needed(r, now)]
        for r in gone:
            del self.records[r.id]
        return gone

    def delete(self, preheat_id: str, now: float) -> "list[PreheatRecord]":
        """DELETE: the record and its children no other live parent uses. Work is not stopped."""
        rec = self.get(preheat_id, now)
        if rec is None:
            return []
        del self.records[preheat_id]
        gone = [rec]
        for cid in rec.children:
            child = self.records.get(cid)
            if child is not None and not any(cid in r.children for r in self.records.values()):
                del self.records[cid]
                gone.append(child)
        return gone

    def _expired(self, rec: PreheatRecord, now: float) -> bool:
        return rec.finished and now - rec.finish >= self.ttl

    def _needed(self, rec: PreheatRecord, now: float) -> bool:
        """A finished child a live (unexpired) parent still counts on stays."""
        return any(rec.id in r.children and not self._expired(r, now) for r in self.records.values())

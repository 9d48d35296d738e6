"""What the core asks the shell to do. Every command returns an Outcome: answer + effects."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from common.source_access import SourceAccess


@dataclass(frozen=True)
class StartCdn:
    """Build (or serve from cache) the task's CDN file; exactly one per trigger."""

    task_id: str
    source: SourceAccess
    piece_size: int
    md5: str = ""
    identifier: str = ""
    source_length: int = -1


@dataclass(frozen=True)
class Wake:
    """Something changed for this task: answer the /peer/task calls held for it."""

    task_id: str


@dataclass(frozen=True)
class ForgetCdn:
    task_id: str


@dataclass(frozen=True)
class DeleteFiles:
    task_id: str


@dataclass(frozen=True)
class RepairPiece:
    """A client says the supernode's piece is missing or corrupt: check the disk
    (docs/architecture.md#background-work)."""

    task_id: str
    piece: int
    piece_size: int
    error_type: str
    expected_md5: str = ""


class Metric(Enum):
    """The counters the core may bump; supernode/shell/service_metrics.py maps each to its Prometheus
    counter, and refuses to start if one is left unmapped."""

    TASKS_REGISTERED = "tasks_registered"
    TASKS_RETIRED = "tasks_retired"
    DFGETTASKS_REGISTERED = "dfgettasks_registered"
    DFGETTASKS_FAILED = "dfgettasks_failed"
    REGISTRATIONS_WITHOUT_UPLOAD = "registrations_without_upload"
    CDN_TRIGGER = "cdn_trigger"
    CDN_TRIGGER_FAILED = "cdn_trigger_failed"
    CDN_CACHE_HIT = "cdn_cache_hit"
    CDN_DOWNLOAD = "cdn_download"
    CDN_DOWNLOAD_FAILED = "cdn_download_failed"
    CDN_DOWNLOAD_SIZE = "cdn_download_size"
    PIECES_DOWNLOADED_SIZE = "pieces_downloaded_size"
    PIECES_DOWNLOADED_FROM_PEERS_SIZE = "pieces_downloaded_from_peers_size"
    PIECE_ERRORS = "piece_errors"
    REPORTS_REFUSED = "reports_refused"
    LONG_POLL_WAKEUPS = "long_poll_wakeups"
    PIECES_STREAMED = "pieces_streamed"
    GC_TASKS = "gc_tasks"
    GC_PEERS = "gc_peers"


@dataclass(frozen=True)
class Count:
    """Add `amount` to the counter `metric` (with label values `labels`)."""

    metric: Metric
    amount: float = 1.0
    labels: "tuple[str, ...]" = ()


@dataclass(frozen=True)
class PeerRef:
    """A peer as the console names it (supernode/console/core/identity.py), copied out of the state."""

    ip: str
    host_name: str
    port: int


@dataclass(frozen=True)
class Delivered:
    """`nbytes` of task `task_id` reached `client` from `source` (None: from the supernode): the
    console's history and throughput series (supernode/console/core/ledger.py)."""

    task_id: str
    nbytes: int
    client: PeerRef
    source: "PeerRef | None" = None


@dataclass
class Outcome:
    answer: Any = None
    effects: list[Any] = field(default_factory=list)
    missing: str = ""  # non-empty: the thing asked about does not exist (-> NotFound)
    recheck_after: "float | None" = None  # a 602 that time alone may change: ask again after this (s)
    note: str = ""  # for the debug log only: why a 602 held a fresh piece back

    def extend(self, effects: Iterable[Any]) -> "Outcome":
        self.effects.extend(effects)
        return self

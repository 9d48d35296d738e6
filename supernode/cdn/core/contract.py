"""What the supernode service asks of the CDN, and what the CDN tells it back.

The service (supernode/service.py) depends only on these shapes; supernode/cdn/* implements them.
How to reach a source is common/source_access.py:SourceAccess, the type the registration reads
off the wire and the core keeps on the task: the CDN probes, revalidates and fetches with it as is.
"""

from dataclasses import dataclass
from typing import Protocol

from common.source_access import SourceAccess
from common.source_failures import Unreachable


@dataclass(frozen=True)
class ProbeResult:
    """What a HEAD (or `Range: bytes=0-0` GET) of the source said. status 0 = transport error."""

    status: int
    length: int = -1  # source length in bytes; -1 when unknown
    supports_range: bool = False
    last_modified: str = ""
    etag: str = ""
    error: str = ""
    unreachable: "Unreachable | None" = None  # status 0: why, when the cause is known

    @property
    def needs_auth(self) -> bool:
        return self.status in (401, 407)

    @property
    def not_found(self) -> bool:
        return self.status in (404, 410)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class CdnJob:
    task_id: str
    source: SourceAccess  # what to fetch (the raw URL the client gave) and how
    piece_size: int
    md5: str = ""  # md5 the user expects ("" = no check)
    identifier: str = ""
    source_length: int = -1  # from the probe; -1 unknown


@dataclass(frozen=True)
class CdnResult:
    success: bool
    cache_hit: bool = False
    real_md5: str = ""  # md5 of the raw source bytes
    source_length: int = -1
    file_length: int = 0  # wrapped length on disk
    piece_count: int = 0
    source_bytes: int = 0  # bytes actually fetched from the source by this build
    error: str = ""
    source_error: bool = False  # the source is at fault (4xx, unreachable, md5), not the CDN: asking
    # another supernode would not help (the pull answer is 610)


@dataclass(frozen=True)
class DiskEntry:
    task_id: str
    size: int
    access_time: float  # seconds since the epoch
    interval: float  # seconds between the last two accesses (0 if unknown)


class CdnListener(Protocol):
    def on_piece(self, task_id: str, piece_num: int, piece_md5: str, wrapped_len: int) -> None:
        """Piece `piece_num` is on disk and may be served from now on."""

    def on_done(self, task_id: str, result: CdnResult) -> None:
        """The build ended (success, cache hit or failure). Called exactly once per start()."""


class Cdn(Protocol):
    def probe(self, request: SourceAccess) -> ProbeResult: ...

    def revalidate(self, task_id: str, request: SourceAccess) -> ProbeResult:
        """Is the cached copy of the task still the source's content? 304 = yes; 2xx (with the probe's
        length) or 404/410 = the source changed; anything else = cannot tell."""

    def start(self, job: CdnJob, listener: CdnListener) -> None:
        """Begin (or resume, or serve from cache) a build in the background; returns at once."""

    def forget(self, task_id: str) -> None:
        """Drop in-memory state of a task (task GC); files stay for later cache hits."""

    def delete(self, task_id: str) -> None:
        """Remove the task's data, .meta and .md5 files (full GC, repair)."""

    def check_piece(self, task_id: str, piece_num: int, piece_size: int) -> "tuple[str, str]":
        """(md5 of the framed piece as on disk, md5 recorded for it); "" where unavailable."""

    def has_data(self, task_id: str) -> bool: ...

    def disk_entries(self) -> "list[DiskEntry]": ...

    def free_space(self) -> int: ...
